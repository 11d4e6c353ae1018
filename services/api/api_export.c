#include "api_export.h"

#include "api_otlp.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_promtext.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_export_t {
    api_backend_t *backend;
    long timeout_ms;
    api_otlp_t *otlp;
};

static json_t *s_fetch(void *arg)
{
    api_export_t *self = arg;
    int status;
    return api_backend_list(self->backend, kms_num_monotonic() + self->timeout_ms / 1000.0, &status);
}

static void s_metrics(void *arg, FILE *out)
{
    api_export_t *self = arg;
    api_otlp_stats_t stats;
    api_otlp_stats(self->otlp, &stats);
    static const struct {
        const char *name, *help;
    } families[] = {
        {"kms_api_otlp_exports_total", "OTLP metric exports the endpoint accepted."},
        {"kms_api_otlp_failures_total", "OTLP export attempts that failed."},
        {"kms_api_otlp_dropped_total", "OTLP exports dropped after a non-retryable answer."},
    };
    const uint64_t values[] = {stats.exports, stats.failures, stats.dropped};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        kms_promtext_family(out, families[i].name, "counter", families[i].help);
        fprintf(out, "%s %llu\n", families[i].name, (unsigned long long) values[i]);
    }
}

api_export_t *api_export_start(api_backend_t *backend, long timeout_ms, api_http_t *server)
{
    const char *a = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), *b = getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    if (!(a && *a) && !(b && *b)) {
        kms_info("otlp: export off", "hint=\"set OTEL_EXPORTER_OTLP_ENDPOINT to push metrics\"");
        return NULL;
    }
    api_export_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->backend = backend;
    self->timeout_ms = timeout_ms;
    if (!(self->otlp = api_otlp_start_from_env(s_fetch, self))) {
        api_export_stop(&self);  /* turned off by OTEL_SDK_DISABLED and such, or failed: logged */
        return NULL;
    }
    api_http_set_metrics_hook(server, s_metrics, self);
    return self;
}

void api_export_stop(api_export_t **self_p)
{
    assert(self_p);
    api_export_t *self = *self_p;
    if (!self)
        return;
    api_otlp_stop(&self->otlp);
    free(self);
    *self_p = NULL;
}
