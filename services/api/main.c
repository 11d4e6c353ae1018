/*  kms-api: the REST API over the trainer (CONTRACT.md, "HTTP API"). Config, signals, wiring;
    the routes live in api_http.c. */
#include "api_http.h"
#include "api_trainer.h"
#include "kms_config.h"
#include "kms_log.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>

#ifdef KMS_API_OTLP_MODULE
#include "api_otlp.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

/* The exporter's own trainer socket: it runs on its own thread, and REQ sockets are not
   shared between threads. Made on the first fetch, destroyed after the exporter stops. */
typedef struct {
    api_backend_t *backend;
    api_client_t *client;
    long timeout_ms;
    void *module;  /* dlopen handle */
    api_otlp_t *otlp;
    void (*stop)(api_otlp_t **);
    void (*stats)(api_otlp_t *, api_otlp_stats_t *);
} s_otlp_t;

static json_t *s_otlp_fetch(void *arg)
{
    s_otlp_t *self = arg;
    if (!self->client && !(self->client = api_client_new(self->backend)))
        return NULL;
    int status;
    return api_client_list(self->client, zclock_mono() / 1000.0 + self->timeout_ms / 1000.0, &status);
}

static void s_otlp_metrics(void *arg, FILE *out)
{
    s_otlp_t *self = arg;
    api_otlp_stats_t stats;
    self->stats(self->otlp, &stats);
    fprintf(out,
            "# HELP kms_api_otlp_exports_total OTLP metric exports the endpoint accepted.\n"
            "# TYPE kms_api_otlp_exports_total counter\nkms_api_otlp_exports_total %llu\n"
            "# HELP kms_api_otlp_failures_total OTLP export attempts that failed.\n"
            "# TYPE kms_api_otlp_failures_total counter\nkms_api_otlp_failures_total %llu\n"
            "# HELP kms_api_otlp_dropped_total OTLP exports dropped after a non-retryable answer.\n"
            "# TYPE kms_api_otlp_dropped_total counter\nkms_api_otlp_dropped_total %llu\n",
            (unsigned long long) stats.exports, (unsigned long long) stats.failures,
            (unsigned long long) stats.dropped);
}

/* Loads the exporter module from beside the executable and starts it, when the environment
   names an OTLP endpoint; without one the module (and libcurl) is never loaded. */
static void s_otlp_start(s_otlp_t *self)
{
    const char *a = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), *b = getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    if (!(a && *a) && !(b && *b)) {
        kms_info("otlp: export off", "hint=%s", "\"set OTEL_EXPORTER_OTLP_ENDPOINT to push metrics\"");
        return;
    }
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    char *slash = n > 0 ? (path[n] = '\0', strrchr(path, '/')) : NULL;
    if (!slash || (size_t) (slash - path) + sizeof "/" KMS_API_OTLP_MODULE > sizeof path) {
        kms_warn("otlp: cannot find the exporter module", "");
        return;
    }
    strcpy(slash + 1, KMS_API_OTLP_MODULE);
    self->module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    api_otlp_t *(*start)(api_otlp_fetch_fn, void *) = self->module ? dlsym(self->module, "api_otlp_start_from_env") : NULL;
    self->stop = self->module ? dlsym(self->module, "api_otlp_stop") : NULL;
    self->stats = self->module ? dlsym(self->module, "api_otlp_stats") : NULL;
    if (!start || !self->stop || !self->stats) {
        const char *why = dlerror();
        char quoted[300];
        kms_warn("otlp: exporter module unusable, export off", "path=%s why=%s", path,
                 kms_log_quote(why ? why : "missing symbols", quoted, sizeof quoted));
        return;
    }
    self->otlp = start(s_otlp_fetch, self);
}

static void s_otlp_finish(s_otlp_t *self)
{
    if (self->otlp)
        self->stop(&self->otlp);
    api_client_destroy(&self->client);
    if (self->module)
        dlclose(self->module);
}
#endif

int main(int argc, char **argv)
{
    const char *trainer;
    long port, timeout_ms, threads, request_timeout_ms;
    double cache_ms;
    kms_option_t options[] = {
        {"port", "KMS_HTTP_PORT", KMS_OPT_INT, "8100", "HTTP port, on every interface", &port, 1, 65535},
        {"trainer", "KMS_TRAINER_ENDPOINT", KMS_OPT_STRING, ">tcp://127.0.0.1:5556",
         "the trainer's control endpoint (czmq syntax)", &trainer, 0, 0},
        {"trainer-timeout", "KMS_TRAINER_TIMEOUT_MS", KMS_OPT_INT, "1000",
         "milliseconds a request waits for the trainer before answering 503", &timeout_ms, 1, 60000},
        {"threads", "KMS_HTTP_THREADS", KMS_OPT_INT, "64",
         "HTTP worker threads; each serves one keep-alive connection at a time", &threads, 1, 1024},
        {"request-timeout", "KMS_HTTP_REQUEST_TIMEOUT_MS", KMS_OPT_INT, "5000",
         "milliseconds a client has to send its request", &request_timeout_ms, 100, 600000},
        {"cache-ms", "KMS_API_CACHE_MS", KMS_OPT_DOUBLE, "50",
         "milliseconds a trainer answer counts as fresh; it is served for at most twice that (0 = no cache)",
         &cache_ms, 0, 50},
        {0}};
    kms_config_t config = {"kms-api",
                           "Serves the trainer's power models over HTTP: weights JSON for Kepler, zips, "
                           "Prometheus metrics and a status page.",
                           NULL, options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);

    /* SIGTERM and SIGINT are blocked in every thread (civetweb's and ZeroMQ's inherit the mask)
       and taken synchronously below: no handler runs in the middle of a request. */
    zsys_handler_set(NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    zsys_init();

    api_stats_t stats;
    api_stats_init(&stats);
    api_backend_t *backend = api_backend_new(trainer, cache_ms, &stats);
    if (!backend) {
        fprintf(stderr, "kms-api: invalid value '%s' for --trainer: not a usable ZeroMQ endpoint\n", trainer);
        return 2;
    }
    api_http_config_t http = {port, threads, timeout_ms, request_timeout_ms, trainer};
    api_http_t *server = api_http_start(&http, backend, &stats);
    if (!server) {
        api_backend_destroy(&backend);
        return 1;
    }
    kms_info("listening", "port=%ld trainer=%s threads=%ld trainer_timeout_ms=%ld cache_ms=%g", port, trainer,
             threads, timeout_ms, cache_ms);
#ifdef KMS_API_OTLP_MODULE
    s_otlp_t otlp = {backend, NULL, timeout_ms, NULL, NULL, NULL, NULL};
    s_otlp_start(&otlp);
    if (otlp.otlp)
        api_http_set_metrics_hook(server, s_otlp_metrics, &otlp);
#endif

    int sig = 0;
    sigwait(&stop, &sig);
    kms_info("stopping", "signal=%d", sig);

    api_http_stop(&server);  /* first: /metrics may be reading the exporter's counters */
#ifdef KMS_API_OTLP_MODULE
    s_otlp_finish(&otlp);
#endif
    api_backend_destroy(&backend);
    zsys_shutdown();
    kms_info("stopped", "");
    return 0;
}
