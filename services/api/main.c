/*  kms-api: the REST API over the trainer (docs/contract.md, "HTTP routes"). Config, signals, wiring;
    the routes live in api_http.c. */
#include "api_export.h"
#include "api_http.h"
#include "api_tls.h"
#include "api_trainer.h"
#include "kms_config.h"
#include "kms_file.h"
#include "kms_log.h"
#include "kms_signal.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_MACHINE_SPECS (1 << 20)  /* a few hundred bytes per architecture */

/* The --machine-specs file, checked; NULL (said on stderr) when it is not one. Read through
   kms_file_read: a FIFO or a device is refused at once, where opening it to read blocked the
   start with nothing said. */
static json_t *s_load_machines(const char *path)
{
    json_error_t error;
    char why[512];
    size_t len;
    char *text = kms_file_read(path, S_MAX_MACHINE_SPECS, &len);
    if (!text) {
        fprintf(stderr, "kms-api: --machine-specs %s: %s\n", path,
                errno == EINVAL ? "not a regular file" : errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
        return NULL;
    }
    json_t *machines = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    free(text);
    if (!machines)
        fprintf(stderr, "kms-api: --machine-specs %s: line %d: %s\n", path, error.line, error.text);
    else if (api_kepler_machines_check(machines, why, sizeof why) != 0) {
        fprintf(stderr, "kms-api: --machine-specs %s: %s\n", path, why);
        json_decref(machines);
        machines = NULL;
    }
    return machines;
}

int main(int argc, char **argv)
{
    const char *address = NULL, *trainer = NULL, *acl = NULL, *tls_cert = NULL, *tls_key = NULL,
               *kepler_era = NULL, *machine_specs = NULL;
    kms_curve_config_t curve_config = {0};
    long port, timeout_ms, threads, per_client, request_timeout_ms;
    double cache_ms, kepler_period;
    kms_option_t options[] = {
        {"port", "KMS_HTTP_PORT", KMS_OPT_INT, "8100", "HTTP port (0: any free one, logged as listening port=)", &port, 0, 65535},
        {"listen", "KMS_HTTP_LISTEN", KMS_OPT_STRING, "0.0.0.0",
         "IPv4 address to listen on (0.0.0.0: every interface; 127.0.0.1: this machine only)", &address, 0, 0},
        {"trainer", "KMS_TRAINER_ENDPOINT", KMS_OPT_STRING, ">tcp://127.0.0.1:5556",
         "the trainer's control endpoint (czmq syntax)", &trainer, 0, 0},
        {"trainer-timeout", "KMS_TRAINER_TIMEOUT_MS", KMS_OPT_INT, "1000",
         "milliseconds a request waits for the trainer before answering 503", &timeout_ms, 1, 60000},
        {"threads", "KMS_HTTP_THREADS", KMS_OPT_INT, "320",
         "HTTP worker threads; each serves one connection at a time, slow clients included", &threads, 1, 4096},
        {"max-connections-per-client", "KMS_HTTP_MAX_PER_CLIENT", KMS_OPT_INT, "64",
         "connections one client address may keep open; past that each is answered once, then closed", &per_client, 1,
         4096},
        {"request-timeout", "KMS_HTTP_REQUEST_TIMEOUT_MS", KMS_OPT_INT, "5000",
         "milliseconds a client has to send its request headers, and as many for its body", &request_timeout_ms, 100,
         600000},
        {"cache-ms", "KMS_API_CACHE_MS", KMS_OPT_DOUBLE, "50",
         "milliseconds a trainer answer counts as fresh; it is served for at most twice that (0 = no cache)",
         &cache_ms, 0, 50},
        {"acl", "KMS_HTTP_ACL", KMS_OPT_STRING, NULL,
         "who may connect, in civetweb's syntax: -0.0.0.0/0,+10.0.0.0/8 admits 10.x only (default: anyone)", &acl,
         0, 0},
        {"tls-cert", "KMS_TLS_CERT", KMS_OPT_STRING, NULL, "PEM certificate (chain): serve HTTPS only", &tls_cert,
         0, 0},
        {"tls-key", "KMS_TLS_KEY", KMS_OPT_STRING, NULL, "PEM private key of --tls-cert", &tls_key, 0, 0},
        {"kepler-sample-period", "KMS_KEPLER_SAMPLE_PERIOD", KMS_OPT_DOUBLE, "3",
         "the requesting Keplers' SAMPLE_PERIOD_SEC (0.4-0.7.2 answers depend on it)", &kepler_period, 1, 3600},
        {"kepler-era", "KMS_KEPLER_ERA", KMS_OPT_STRING, "auto",
         "take every POST /model for this Kepler release (0.4, 0.6, 0.7.11, ...) instead of telling it from the "
         "request",
         &kepler_era, 0, 0},
        {"machine-specs", "KMS_MACHINE_SPECS", KMS_OPT_STRING, NULL,
         "JSON file of the machines the models learned on, {\"<cpu_architecture>\": Kepler's machine_spec, ...}: "
         "Kepler 0.7.12+'s own spec then picks one (docs/kepler.md)",
         &machine_specs, 0, 0},
        KMS_CURVE_OPTIONS(curve_config),
        {0}};
    kms_config_t config = {"kms-api",
                           "Serves the trainer's power models over HTTP: weights JSON for Kepler, zips, "
                           "Prometheus metrics and a status page.",
                           NULL, options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    struct in_addr parsed;
    if (inet_pton(AF_INET, address, &parsed) != 1) {
        fprintf(stderr, "kms-api: invalid value '%s' for --listen: expected an IPv4 address\n", address);
        return 2;
    }
    if (acl && !api_http_acl_valid(acl)) {
        fprintf(stderr, "kms-api: invalid value '%s' for --acl: expected [+|-]IPv4[/bits],...\n", acl);
        return 2;
    }
    int era = api_kepler_era_parse(kepler_era);
    if (era == -2) {
        fprintf(stderr, "kms-api: invalid value '%s' for --kepler-era: expected auto or a release 0.4 to 0.9\n",
                kepler_era);
        return 2;
    }
    char why[512];
    api_tls_t tls = {NULL, NULL};
    if ((tls_cert || tls_key) && api_tls_prepare(tls_cert, tls_key, &tls, why, sizeof why) != 0) {
        fprintf(stderr, "kms-api: %s\n", why);
        return 2;
    }
    json_t *machines = machine_specs ? s_load_machines(machine_specs) : NULL;
    if (machine_specs && !machines)
        return 2;

    /* glibc gives each busy thread its own heap, up to 8 per core: with 64 workers resident
       memory would creep up for as long as workers keep getting their first requests. */
    mallopt(M_ARENA_MAX, 2);
    /* Blocked in every thread (civetweb's and ZeroMQ's inherit the mask), taken by main alone. */
    zsys_handler_set(NULL);
    kms_signal_init(true);
    zsys_init();

    const char *curve_why = NULL;
    kms_curve_t *curve = kms_curve_new(&curve_config, why, sizeof why, &curve_why);
    if (curve_why) {
        fprintf(stderr, "kms-api: %s\n", curve_why);
        json_decref(machines);
        return 2;
    }
    api_stats_t stats;
    api_stats_init(&stats);
    api_backend_t *backend = api_backend_new(trainer, cache_ms, curve, &stats);
    if (!backend) {
        fprintf(stderr, "kms-api: invalid value '%s' for --trainer: not a usable ZeroMQ endpoint\n", trainer);
        kms_curve_destroy(&curve);
        json_decref(machines);
        return 2;
    }
    api_http_config_t http = {port, address, threads, per_client, timeout_ms, request_timeout_ms, trainer, acl,
                              tls.cert_file ? &tls : NULL, {kepler_period, era, machines}};
    api_http_t *server = api_http_start(&http, backend, &stats);
    if (!server) {
        api_backend_destroy(&backend);
        kms_curve_destroy(&curve);
        json_decref(machines);
        return 1;
    }
    kms_info("listening",
             "address=%s port=%d tls=%s acl=%s trainer=%s threads=%ld trainer_timeout_ms=%ld cache_ms=%g", address,
             api_http_port(server),
             http.tls ? "on" : "off", acl ? "on" : "off", trainer, threads, timeout_ms, cache_ms);
    api_export_t *otlp = api_export_start(backend, timeout_ms, server);

    int sig = kms_signal_wait();
    kms_info("stopping", "signal=%d", sig);

    api_http_stop(&server);  /* first: /metrics may be reading the exporter's counters */
    api_export_stop(&otlp);
    api_backend_destroy(&backend);
    kms_curve_destroy(&curve);
    json_decref(machines);
    zsys_shutdown();
    kms_info("stopped", NULL);
    return 0;
}
