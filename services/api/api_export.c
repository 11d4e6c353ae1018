#include "api_export.h"

#include "api_libdir.h"
#include "api_otlp.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_promtext_write.h"

#include <assert.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The exporter and libcurl live in kms-api-otlp.so, in the private library folder: libcurl's
   TLS, LDAP and Kerberos libraries cost 5 MB of resident memory the moment they are loaded, so
   they are loaded only when an export is configured. The module carries its own kms_log. */
#define S_MODULE "kms-api-otlp.so"

struct api_export_t {
    api_trainer_t *trainer;
    long timeout_ms;
    void *module;
    api_otlp_t *otlp;
    api_otlp_t *(*start)(api_otlp_fetch_fn, void *);
    void (*stop)(api_otlp_t **);
    void (*stats)(api_otlp_t *, api_otlp_stats_t *);
};

static json_t *s_fetch(void *arg)
{
    api_export_t *self = arg;
    int status;
    return api_trainer_list(self->trainer, kms_num_monotonic() + self->timeout_ms / 1000.0, &status);
}

static void s_metrics(void *arg, FILE *out)
{
    api_export_t *self = arg;
    api_otlp_stats_t stats;
    self->stats(self->otlp, &stats);
    static const struct {
        const char *name, *help;
    } families[] = {
        {"kms_api_otlp_exports_total", "OTLP metric exports the endpoint accepted."},
        {"kms_api_otlp_failures_total", "OTLP export attempts that failed."},
        {"kms_api_otlp_dropped_total", "OTLP exports dropped after a non-retryable answer."},
    };
    const uint64_t values[] = {stats.exports, stats.failures, stats.dropped};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        kms_promtext_write_family(out, families[i].name, "counter", families[i].help);
        fprintf(out, "%s %llu\n", families[i].name, (unsigned long long) values[i]);
    }
}

api_export_t *api_export_start(api_trainer_t *trainer, long timeout_ms, api_http_t *server)
{
    const char *a = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), *b = getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    if (!(a && *a) && !(b && *b)) {
        kms_info("otlp: export off", "hint=\"set OTEL_EXPORTER_OTLP_ENDPOINT to push metrics\"");
        return NULL;
    }
    api_export_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->trainer = trainer;
    self->timeout_ms = timeout_ms;
    char why[512] = "missing symbols";
    int (*log_init)(const char *) = NULL;
    if ((self->module = api_libdir_open(S_MODULE, RTLD_NOW | RTLD_LOCAL, why, sizeof why))) {
        log_init = (int (*)(const char *)) dlsym(self->module, "kms_log_init");
        /* clang-format off */
        self->start = (api_otlp_t * (*) (api_otlp_fetch_fn, void *)) dlsym(self->module, "api_otlp_start_from_env");
        /* clang-format on */
        self->stop = (void (*)(api_otlp_t **)) dlsym(self->module, "api_otlp_stop");
        self->stats = (void (*)(api_otlp_t *, api_otlp_stats_t *)) dlsym(self->module, "api_otlp_stats");
    }
    if (!log_init || !self->start || !self->stop || !self->stats) {
        kms_warn("otlp: exporter module unusable, export off", "module=%s why=%s", S_MODULE,
                 kms_log_quote(why, (char[600]){0}, 600));
        api_export_stop(&self);
        return NULL;
    }
    log_init("kms-api"); /* the module's kms_log reads the same KMS_LOG_LEVEL, checked by main */
    if (!(self->otlp = self->start(s_fetch, self))) {
        api_export_stop(&self); /* turned off by OTEL_SDK_DISABLED and such, or failed: logged */
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
    if (self->otlp)
        self->stop(&self->otlp);
    if (self->module)
        dlclose(self->module);
    free(self);
    *self_p = NULL;
}
