#include "api_otlp_loader.h"

#include "api_embed.h"
#include "api_otlp.h"
#include "kms_log.h"
#include "kms_num.h"

#include <assert.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The module's bytes, placed in the binary at build time (KMS_API_OTLP_MODULE_PATH). They
   stay on disk, untouched, unless the exporter is configured. */
API_EMBED(s_module, KMS_API_OTLP_MODULE_PATH);

struct api_otlp_loader_t {
    api_backend_t *backend;
    long timeout_ms;
    void *module;          /* dlopen handle */
    api_otlp_t *otlp;
    void (*stop)(api_otlp_t **);
    void (*stats)(api_otlp_t *, api_otlp_stats_t *);
};

static json_t *s_fetch(void *arg)
{
    api_otlp_loader_t *self = arg;
    int status;
    return api_backend_list(self->backend, kms_num_monotonic() + self->timeout_ms / 1000.0, &status);
}

static void s_metrics(void *arg, FILE *out)
{
    api_otlp_loader_t *self = arg;
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

api_otlp_loader_t *api_otlp_loader_start(api_backend_t *backend, long timeout_ms, api_http_t *server)
{
    const char *a = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), *b = getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    if (!(a && *a) && !(b && *b)) {
        kms_info("otlp: export off", "hint=\"set OTEL_EXPORTER_OTLP_ENDPOINT to push metrics\"");
        return NULL;
    }
    api_otlp_loader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->backend = backend;
    self->timeout_ms = timeout_ms;
    const char *why = "missing symbols";
    api_otlp_t *(*start)(api_otlp_fetch_fn, void *) = NULL;
    if ((self->module = api_embed_dlopen("kms-api-otlp.so", s_module_start, s_module_end, RTLD_NOW | RTLD_LOCAL, &why))) {
        start = (api_otlp_t * (*) (api_otlp_fetch_fn, void *)) dlsym(self->module, "api_otlp_start_from_env");
        self->stop = (void (*)(api_otlp_t **)) dlsym(self->module, "api_otlp_stop");
        self->stats = (void (*)(api_otlp_t *, api_otlp_stats_t *)) dlsym(self->module, "api_otlp_stats");
    }
    if (!start || !self->stop || !self->stats) {
        char quoted[300];
        kms_warn("otlp: exporter module unusable, export off", "why=%s",
                 kms_log_quote(why ? why : "unknown", quoted, sizeof quoted));
        api_otlp_loader_stop(&self);
        return NULL;
    }
    if (!(self->otlp = start(s_fetch, self))) {
        api_otlp_loader_stop(&self);  /* turned off by OTEL_SDK_DISABLED and such, or failed: logged */
        return NULL;
    }
    api_http_set_metrics_hook(server, s_metrics, self);
    return self;
}

void api_otlp_loader_stop(api_otlp_loader_t **self_p)
{
    assert(self_p);
    api_otlp_loader_t *self = *self_p;
    if (!self)
        return;
    if (self->otlp)
        self->stop(&self->otlp);
    if (self->module)
        dlclose(self->module);
    free(self);
    *self_p = NULL;
}
