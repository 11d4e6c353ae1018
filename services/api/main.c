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

#define S_MAX_MACHINE_SPECS (1 << 20) /* a few hundred bytes per architecture */

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
                errno == EINVAL  ? "not a regular file"
                : errno == EFBIG ? "larger than 1 MiB"
                                 : strerror(errno));
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

static int s_ipv4(const char *text, char *why, size_t cap)
{
    struct in_addr parsed;
    if (inet_pton(AF_INET, text, &parsed) == 1)
        return 0;
    snprintf(why, cap, "expected an IPv4 address");
    return -1;
}

static int s_era(const char *text, char *why, size_t cap)
{
    if (api_kepler_era_parse(text) != -2)
        return 0;
    snprintf(why, cap, "expected auto or a release 0.4 to 0.9");
    return -1;
}

/* Serves until SIGTERM/SIGINT: 0, 1 when the server cannot start (logged), 2 for a bad --trainer
   or CURVE configuration (said on stderr). */
static int s_serve(api_http_config_t *http, const kms_curve_config_t *curve_config, double cache_ms)
{
    char why[512];
    const char *curve_why = NULL;
    kms_curve_t *curve = kms_curve_new(curve_config, why, sizeof why, &curve_why);
    if (curve_why) {
        fprintf(stderr, "kms-api: %s\n", curve_why);
        return 2;
    }
    api_stats_t stats;
    api_stats_init(&stats);
    api_trainer_t *trainer = api_trainer_new(http->trainer, cache_ms, curve, &stats);
    if (!trainer) {
        fprintf(stderr, "kms-api: invalid value '%s' for --trainer: not a usable ZeroMQ endpoint\n", http->trainer);
        kms_curve_destroy(&curve);
        return 2;
    }
    api_http_t *server = api_http_start(http, trainer, &stats);
    int status = server ? 0 : 1;
    if (server) {
        kms_info("listening",
                 "address=%s port=%d tls=%s acl=%s trainer=%s threads=%ld trainer_timeout_ms=%ld cache_ms=%g",
                 http->listen, api_http_port(server), http->tls ? "on" : "off", http->acl ? "on" : "off", http->trainer,
                 http->threads, http->timeout_ms, cache_ms);
        api_export_t *otlp = api_export_start(trainer, http->timeout_ms, server);
        kms_info("stopping", "signal=%d", kms_signal_wait());
        api_http_stop(&server); /* first: /metrics may be reading the exporter's counters */
        api_export_stop(&otlp);
    }
    api_trainer_destroy(&trainer);
    kms_curve_destroy(&curve);
    return status;
}

int main(int argc, char **argv)
{
    api_http_config_t http = {0};
    const char *tls_cert = NULL, *tls_key = NULL, *kepler_era = NULL, *machine_specs = NULL;
    kms_curve_config_t curve_config = {0};
    double cache_ms;
    /* clang-format off */
    kms_option_t options[] = {
        {"port", "KMS_HTTP_PORT", KMS_OPT_PORT, "8100", "HTTP port (0: any free one, logged as listening port=)",
         &http.port, 0, 0},
        {"listen", "KMS_HTTP_LISTEN", KMS_OPT_CHECKED, "0.0.0.0",
         "IPv4 address to listen on (0.0.0.0: every interface; 127.0.0.1: this machine only)",
         &(kms_opt_text_t){&http.listen, NULL, s_ipv4}, 0, 0},
        {"trainer", "KMS_TRAINER_ENDPOINT", KMS_OPT_STRING, ">tcp://127.0.0.1:5556",
         "the trainer's control endpoint (czmq syntax)", &http.trainer, 0, 0},
        {"trainer-timeout", "KMS_TRAINER_TIMEOUT_MS", KMS_OPT_INT, "1000",
         "milliseconds a request waits for the trainer before answering 503", &http.timeout_ms, 1, 60000},
        {"threads", "KMS_HTTP_THREADS", KMS_OPT_INT, "320",
         "HTTP worker threads; each serves one connection at a time, slow clients included", &http.threads, 1,
         4096},
        {"max-connections-per-client", "KMS_HTTP_MAX_PER_CLIENT", KMS_OPT_INT, "64",
         "connections one client address may keep open; past that each is answered once, then closed",
         &http.per_client, 1, 4096},
        {"request-timeout", "KMS_HTTP_REQUEST_TIMEOUT_MS", KMS_OPT_INT, "5000",
         "milliseconds a client has to send its request headers, and as many for its body",
         &http.request_timeout_ms, 100, 600000},
        {"cache-ms", "KMS_API_CACHE_MS", KMS_OPT_DOUBLE, "50",
         "milliseconds a trainer answer counts as fresh; it is served for at most twice that (0 = no cache)",
         &cache_ms, 0, 50},
        {"acl", "KMS_HTTP_ACL", KMS_OPT_CHECKED, NULL,
         "who may connect, in civetweb's syntax: -0.0.0.0/0,+10.0.0.0/8 admits 10.x only (default: anyone)",
         &(kms_opt_text_t){&http.acl, NULL, api_http_acl_check}, 0, 0},
        {"tls-cert", "KMS_TLS_CERT", KMS_OPT_STRING, NULL, "PEM certificate (chain): serve HTTPS only", &tls_cert,
         0, 0},
        {"tls-key", "KMS_TLS_KEY", KMS_OPT_STRING, NULL, "PEM private key of --tls-cert", &tls_key, 0, 0},
        {"kepler-sample-period", "KMS_KEPLER_SAMPLE_PERIOD", KMS_OPT_DOUBLE, "3",
         "the requesting Keplers' SAMPLE_PERIOD_SEC (0.4-0.7.2 answers depend on it)", &http.kepler.sample_period,
         1, 3600},
        {"kepler-era", "KMS_KEPLER_ERA", KMS_OPT_CHECKED, "auto",
         "take every POST /model for this Kepler release (0.4, 0.6, 0.7.11, ...) instead of telling it from the "
         "request",
         &(kms_opt_text_t){&kepler_era, NULL, s_era}, 0, 0},
        {"machine-specs", "KMS_MACHINE_SPECS", KMS_OPT_STRING, NULL,
         "JSON file of the machines the models learned on, {\"<cpu_architecture>\": Kepler's machine_spec, ...}: "
         "Kepler 0.7.12+'s own spec then picks one (docs/kepler.md)",
         &machine_specs, 0, 0},
        KMS_CURVE_OPTIONS(curve_config),
        {0}};
    /* clang-format on */
    kms_config_t config = {"kms-api",
                           "Serves the trainer's power models over HTTP: weights JSON for Kepler, zips, "
                           "Prometheus metrics and a status page.",
                           NULL, options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    char why[512];
    api_tls_t tls = {NULL, NULL};
    if ((tls_cert || tls_key) && api_tls_prepare(tls_cert, tls_key, &tls, why, sizeof why) != 0) {
        fprintf(stderr, "kms-api: %s\n", why);
        return 2;
    }
    http.tls = tls.cert_file ? &tls : NULL;
    http.kepler.era = api_kepler_era_parse(kepler_era);
    json_t *machines = machine_specs ? s_load_machines(machine_specs) : NULL;
    if (machine_specs && !machines)
        return 2;
    http.kepler.machines = machines;

    /* glibc gives each busy thread its own heap, up to 8 per core: with 64 workers resident
       memory would creep up for as long as workers keep getting their first requests. */
    mallopt(M_ARENA_MAX, 2);
    /* Blocked in every thread (civetweb's and ZeroMQ's inherit the mask), taken by main alone. */
    zsys_handler_set(NULL);
    kms_signal_init(true);
    zsys_init();
    rc = s_serve(&http, &curve_config, cache_ms);
    json_decref(machines);
    zsys_shutdown();
    if (rc == 0)
        kms_info("stopped", NULL);
    return rc;
}
