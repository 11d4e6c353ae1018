/*  api_otlp: the models' metrics pushed over OTLP/HTTP (JSON). See api_otlp.h. */
#include "api_otlp.h"

#include "api_families.h"

#include <assert.h>
#include <czmq.h>
#include <curl/curl.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kms_config.h"
#include "kms_json.h"
#include "kms_log.h"
#include "kms_num.h"

#ifndef KMS_VERSION
#define KMS_VERSION "0"
#endif

#define S_DEFAULT_INTERVAL_MS 60000
#define S_DEFAULT_TIMEOUT_MS 10000
#define S_MIN_INTERVAL_MS 10 /* below this the thread would only spin */
#define S_BACKOFF_FIRST_MS 1000
#define S_BACKOFF_MAX_MS 60000
#define S_REPLY_KEEP 512 /* bytes of an error answer kept for the log */

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */

static const char *s_env(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

/* The name of the variable to read: the signal-specific one wins over the generic one (which
   may be NULL), as OpenTelemetry specifies; NULL when neither is set. */
static const char *s_env_pick(const char *specific, const char *generic)
{
    return s_env(specific) ? specific : generic && s_env(generic) ? generic : NULL;
}

static const char *s_env_pair(const char *specific, const char *generic)
{
    const char *name = s_env_pick(specific, generic);
    return name ? s_env(name) : NULL;
}

/* Milliseconds from the picked variable, or `def` when unset or malformed (logged). */
static long s_env_ms(const char *specific, const char *generic, long def)
{
    const char *name = s_env_pick(specific, generic);
    long value;
    if (!name)
        return def;
    if (kms_num_parse_long(s_env(name), &value) != 0 || value < S_MIN_INTERVAL_MS) {
        char quoted[128];
        kms_warn("otlp: bad value, using the default", "var=%s value=%s default=%ld", name,
                 kms_log_quote(s_env(name), quoted, sizeof quoted), def);
        return def;
    }
    return value;
}

static int s_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Trims [start, end), percent-decodes it into a new string; NULL when an escape is malformed
   or the result holds a control character (which could split an HTTP header). */
static char *s_decode(const char *start, const char *end)
{
    while (start < end && isspace((unsigned char) *start))
        start++;
    while (end > start && isspace((unsigned char) end[-1]))
        end--;
    char *out = malloc((size_t) (end - start) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const char *p = start; p < end; p++) {
        int c = (unsigned char) *p;
        if (c == '%') {
            int hi = end - p >= 3 ? s_hex(p[1]) : -1;
            int lo = end - p >= 3 ? s_hex(p[2]) : -1;
            c = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
            p += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        }
        out[n++] = (char) c;
    }
    out[n] = '\0';
    return out;
}

typedef struct {
    json_t *pairs;
    const char *what;
} s_pairs_t;

static int s_pair(const char *item, int index, void *arg)
{
    s_pairs_t *to = arg;
    const char *eq = strchr(item, '=');
    char *key = eq ? s_decode(item, eq) : NULL;
    char *value = eq ? s_decode(eq + 1, item + strlen(item)) : NULL;
    if (key && value && *key) {
        json_object_set_new(to->pairs, key, json_string(value));
    } else {
        /* Only the key is logged: a value may be a secret (an API key in a header). */
        char name[64], quoted[80];
        snprintf(name, sizeof name, "%.*s", eq ? (int) (eq - item) : 0, item);
        kms_warn("otlp: malformed pair skipped", "var=%s index=%d key=%s", to->what, index,
                 kms_log_quote(name, quoted, sizeof quoted));
    }
    free(key);
    free(value);
    return 0;
}

json_t *api_otlp_parse_pairs(const char *text, const char *what)
{
    json_t *pairs = json_object();
    if (pairs && text)
        kms_config_split(text, s_pair, &(s_pairs_t){pairs, what});
    return pairs;
}

void api_otlp_config_clear(api_otlp_config_t *config)
{
    assert(config);
    free(config->url);
    free(config->ca_file);
    json_decref(config->headers);
    json_decref(config->resource);
    memset(config, 0, sizeof *config);
}

static int s_names_otlp(const char *item, int index, void *arg)
{
    (void) index, (void) arg;
    return strcasecmp(item, "otlp") == 0 ? -1 : 0; /* found: the split stops */
}

/* Off when the SDK is disabled or the metrics exporter list does not name otlp. */
static bool s_disabled(void)
{
    const char *disabled = s_env("OTEL_SDK_DISABLED");
    if (disabled && strcasecmp(disabled, "true") == 0) {
        kms_info("otlp: disabled by OTEL_SDK_DISABLED", NULL);
        return true;
    }
    const char *exporters = s_env("OTEL_METRICS_EXPORTER");
    if (!exporters)
        return false;
    if (kms_config_split(exporters, s_names_otlp, NULL) < 0)
        return false; /* it named otlp */
    kms_info("otlp: OTEL_METRICS_EXPORTER does not name otlp", "value=%s", exporters);
    return true;
}

/* HTTP header names are tokens (RFC 9110): anything else would make a malformed request. */
static void s_drop_bad_header_names(json_t *headers, const char *var)
{
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(headers, tmp, key, value) {
        if (strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "!#$%&'*+-.^_`|~")
            != strlen(key)) {
            char quoted[80];
            kms_warn("otlp: header name is not a token, skipped", "var=%s key=%s", var,
                     kms_log_quote(key, quoted, sizeof quoted));
            json_object_del(headers, key);
        }
    }
}

static int s_resource(api_otlp_config_t *out)
{
    out->resource = api_otlp_parse_pairs(s_env("OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES");
    if (!out->resource)
        return -1;
    const char *service = s_env("OTEL_SERVICE_NAME");
    if (service || !json_object_get(out->resource, "service.name"))
        json_object_set_new(out->resource, "service.name", json_string(service ? service : "kms-api"));
    if (!json_object_get(out->resource, "service.version"))
        json_object_set_new(out->resource, "service.version", json_string(KMS_VERSION));
    /* API replicas push the same models: the host (a pod's name) keeps their series apart. */
    char host[256];
    if (!json_object_get(out->resource, "service.instance.id") && gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        json_object_set_new(out->resource, "service.instance.id", json_string(host));
    }
    return 0;
}

int api_otlp_config_from_env(api_otlp_config_t *out)
{
    assert(out);
    memset(out, 0, sizeof *out);
    if (s_disabled())
        return 0;
    const char *endpoint = s_env_pick("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT");
    if (!endpoint)
        return 0;
    const char *url = s_env(endpoint);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        char quoted[256];
        kms_warn("otlp: the endpoint is not an http(s) URL, export off", "var=%s value=%s", endpoint,
                 kms_log_quote(url, quoted, sizeof quoted));
        return 0;
    }
    size_t len = strlen(url);
    bool base = strcmp(endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT") == 0; /* the metrics one is used as is */
    while (base && len > 0 && url[len - 1] == '/')
        len--;
    if (!(out->url = base ? zsys_sprintf("%.*s/v1/metrics", (int) len, url) : strdup(url)))
        return -1;

    const char *headers = s_env_pick("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
    out->headers = api_otlp_parse_pairs(headers ? s_env(headers) : NULL, headers);
    s_drop_bad_header_names(out->headers, headers);
    const char *ca = s_env_pair("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
    out->ca_file = ca ? strdup(ca) : NULL;
    out->interval_ms = s_env_ms("OTEL_METRIC_EXPORT_INTERVAL", NULL, S_DEFAULT_INTERVAL_MS);
    out->timeout_ms = s_env_ms("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT",
                               S_DEFAULT_TIMEOUT_MS);
    if (!out->headers || (ca && !out->ca_file) || s_resource(out) != 0) {
        api_otlp_config_clear(out);
        return -1;
    }
    const char *protocol = s_env_pair("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
    if (protocol && strcmp(protocol, "http/json") != 0)
        kms_warn("otlp: only http/json is spoken, sending JSON", "protocol=%s", protocol);
    const char *compression = s_env_pair("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION");
    if (compression && strcmp(compression, "none") != 0)
        kms_warn("otlp: compression is not supported, sending uncompressed", "compression=%s", compression);
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* LIST document -> ExportMetricsServiceRequest                                                */

/* The families and their OTLP names, units and help: api_families.h, shared with /metrics. */
typedef struct {
    json_t *points[API_F_COUNT]; /* dataPoints arrays, created on first use */
    char now[24];                /* timeUnixNano */
    bool failed;                 /* out of memory somewhere */
} s_builder_t;

/* Seconds since the epoch as nanoseconds; 0 when not a plausible time. */
static uint64_t s_seconds_to_ns(double seconds)
{
    return isfinite(seconds) && seconds > 0 && seconds < 1.8e10 ? (uint64_t) (seconds * 1e9) : 0;
}

static json_t *s_attr(const char *key, const char *value)
{
    return json_pack("{s:s, s:{s:s}}", "key", key, "value", "stringValue", value);
}

/* Attributes from key/value pairs, NULL-terminated. */
static json_t *s_attrs(const char *key, ...)
{
    json_t *attrs = json_array();
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k && attrs; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (json_array_append_new(attrs, s_attr(k, v)) != 0) {
            json_decref(attrs);
            attrs = NULL;
        }
    }
    va_end(ap);
    return attrs;
}

/* Adds a point to metric `id`; takes `attrs`. A value that is not a finite number (or, for a
   sum, not a whole number >= 0) is left out. `start_ns` is for sums (0: unknown). */
static void s_point(s_builder_t *b, api_family_id_t id, json_t *attrs, const json_t *value, uint64_t start_ns)
{
    double v;
    json_t *point;
    if (!attrs || !kms_json_get_real(value, &v))
        goto done;
    if (api_families[id].type == API_COUNTER) {
        if (v < 0 || v > 9.2e18 || v != floor(v))
            goto done;
        char count[24], start[24];
        snprintf(count, sizeof count, "%" PRId64, (int64_t) v);
        point = json_pack("{s:o, s:s, s:s}", "attributes", json_incref(attrs), "timeUnixNano", b->now, "asInt", count);
        if (point && start_ns) {
            snprintf(start, sizeof start, "%" PRIu64, start_ns);
            json_object_set_new(point, "startTimeUnixNano", json_string(start));
        }
    } else
        point = json_pack("{s:o, s:s, s:f}", "attributes", json_incref(attrs), "timeUnixNano", b->now, "asDouble", v);
    if (!b->points[id])
        b->points[id] = json_array();
    if (!point || json_array_append_new(b->points[id], point) != 0)
        b->failed = true;
done:
    json_decref(attrs);
}

static void s_model_weights(s_builder_t *b, const char *model, const json_t *weights)
{
    const json_t *all = json_object_get(weights, "All_Weights");
    if (!json_is_object(all))
        return;
    s_point(b, API_F_MODEL_BIAS, s_attrs("model", model, NULL), json_object_get(all, "Bias_Weight"), 0);

    const char *feature;
    const json_t *numeric;
    json_object_foreach((json_t *) json_object_get(all, "Numerical_Variables"), feature, numeric) {
        s_point(b, API_F_MODEL_WEIGHT, s_attrs("model", model, "feature", feature, NULL),
                json_object_get(numeric, "weight"), 0);
        s_point(b, API_F_MODEL_MEAN, s_attrs("model", model, "feature", feature, NULL),
                json_object_get(numeric, "mean"), 0);
        s_point(b, API_F_MODEL_VARIANCE, s_attrs("model", model, "feature", feature, NULL),
                json_object_get(numeric, "variance"), 0);
    }
    const char *category, *value;
    const json_t *values, *entry;
    json_object_foreach((json_t *) json_object_get(all, "Categorical_Variables"), category, values) {
        json_object_foreach((json_t *) values, value, entry)
            s_point(b, API_F_MODEL_CATEGORY, s_attrs("model", model, "feature", category, "category", value, NULL),
                    json_object_get(entry, "weight"), 0);
    }
}

static void s_model(s_builder_t *b, const json_t *model)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    if (!name)
        return;
    const json_t *ready = json_object_get(model, "ready");
    json_t *flag = json_is_boolean(ready) ? json_real(json_is_true(ready) ? 1.0 : 0.0) : NULL;
    s_point(b, API_F_MODEL_READY, s_attrs("model", name, NULL), flag, 0); /* no point without a flag */
    json_decref(flag);
    double created = 0;
    kms_json_get_real(json_object_get(model, "created"), &created);
    s_point(b, API_F_MODEL_SAMPLES, s_attrs("model", name, NULL), json_object_get(model, "samples"),
            s_seconds_to_ns(created));

    const json_t *fit = json_object_get(model, "fit");
    for (int recent = 0; json_is_object(fit) && recent < 2; recent++)
        for (api_family_id_t f = API_F_MODEL_R2; f <= API_F_MODEL_MAE; f++)
            s_point(b, f, s_attrs("model", name, "window", recent ? "recent" : "all", NULL),
                    json_object_get(fit, recent ? api_families[f].window_key : api_families[f].key), 0);

    s_model_weights(b, name, json_object_get(model, "weights"));
}

static void s_trainer(s_builder_t *b, const json_t *stats, uint64_t now_ns)
{
    if (!json_is_object(stats))
        return;
    /* The counters' start is now minus uptime, rounded to the second: the two clocks are read
       a few milliseconds apart at each export, and a start time that moved would read as a
       counter reset to a backend. */
    double uptime = 0;
    uint64_t start_ns = 0;
    if (kms_json_get_real(json_object_get(stats, "uptime"), &uptime) && uptime >= 0 && uptime * 1e9 < now_ns) {
        uint64_t start_s = (uint64_t) llround((double) now_ns / 1e9 - uptime);
        if (start_s > now_ns / 1000000000ULL)
            start_s = now_ns / 1000000000ULL; /* never after the point's own time */
        start_ns = start_s * 1000000000ULL;
    }
    for (api_family_id_t f = API_F_TRAINER_FIRST; f <= API_F_TRAINER_LAST; f++)
        if (api_families[f].otlp)
            s_point(b, f, json_array(), json_object_get(stats, api_families[f].key), start_ns);
}

static json_t *s_metric(api_family_id_t id, json_t *points)
{
    const api_family_t *def = &api_families[id];
    /* clang-format off */
    json_t *data = def->type == API_COUNTER
        /* 2 = AGGREGATION_TEMPORALITY_CUMULATIVE: OTLP/JSON writes enums as integers. */
        ? json_pack("{s:o, s:i, s:b}", "dataPoints", points, "aggregationTemporality", 2,
                    "isMonotonic", 1)
        : json_pack("{s:o}", "dataPoints", points);
    /* clang-format on */
    return json_pack("{s:s, s:s, s:s, s:o*}", "name", def->otlp, "description", def->help, "unit", def->unit,
                     def->type == API_COUNTER ? "sum" : "gauge", data);
}

static json_t *s_resource_attrs(const json_t *resource)
{
    json_t *attrs = json_array();
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *) resource, key, value) {
        if (json_is_string(value))
            json_array_append_new(attrs, s_attr(key, json_string_value(value)));
    }
    return attrs;
}

json_t *api_otlp_build(const json_t *list, const json_t *resource, uint64_t now_ns)
{
    if (!json_is_object(list))
        return NULL;
    s_builder_t b = {.failed = false};
    snprintf(b.now, sizeof b.now, "%" PRIu64, now_ns);

    size_t i;
    const json_t *model;
    json_array_foreach(json_object_get(list, "models"), i, model)
        s_model(&b, model);
    s_trainer(&b, json_object_get(list, "trainer"), now_ns);

    json_t *metrics = json_array();
    for (api_family_id_t id = 0; id < API_F_COUNT; id++) {
        if (b.points[id] && json_array_append_new(metrics, s_metric(id, b.points[id])) != 0)
            b.failed = true;
    }
    json_t *request = json_pack("{s:[{s:{s:o}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceMetrics", "resource", "attributes",
                                s_resource_attrs(resource), "scopeMetrics", "scope", "name", "kepler-model-server",
                                "version", KMS_VERSION, "metrics", metrics);
    if (b.failed)
        json_decref(request);
    return b.failed ? NULL : request;
}

/* ------------------------------------------------------------------------------------------ */
/* The exporter thread                                                                         */

struct api_otlp_t {
    api_otlp_config_t config;
    api_otlp_fetch_fn fetch;
    void *arg;
    CURL *curl;
    CURLM *multi; /* drives curl, so that api_otlp_stop() can wake a transfer up */
    struct curl_slist *headers;
    zactor_t *actor;
    atomic_bool stopping; /* set by api_otlp_stop() before it wakes the transfer */
    char reply[S_REPLY_KEEP];
    size_t reply_len;
    _Atomic uint64_t exports, failures, dropped, skipped;
    _Atomic uint64_t last_success_ms;
};

static size_t s_on_reply(char *data, size_t size, size_t count, void *arg)
{
    api_otlp_t *self = arg;
    size_t len = size * count;
    size_t keep = sizeof self->reply - 1 - self->reply_len;
    if (keep > len)
        keep = len;
    memcpy(self->reply + self->reply_len, data, keep);
    self->reply_len += keep;
    self->reply[self->reply_len] = '\0';
    return len;
}

/* Runs the prepared transfer until it ends or api_otlp_stop() wakes it (then
   CURLE_ABORTED_BY_CALLBACK): a collector that never answers delays shutdown by nothing. */
static CURLcode s_perform(api_otlp_t *self)
{
    CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
    if (curl_multi_add_handle(self->multi, self->curl) != CURLM_OK)
        return CURLE_FAILED_INIT;
    int running = 1;
    while (running && !atomic_load(&self->stopping)) {
        if (curl_multi_perform(self->multi, &running) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        if (running)
            curl_multi_poll(self->multi, NULL, 0, 1000, NULL);
    }
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(self->multi, &left)))
        if (msg->msg == CURLMSG_DONE)
            rc = msg->data.result;
    curl_multi_remove_handle(self->multi, self->curl);
    return atomic_load(&self->stopping) ? CURLE_ABORTED_BY_CALLBACK : rc;
}

/* POSTs body; returns the HTTP status, or 0 after a transport error. *retry_after_ms is the
   server's Retry-After (0 when none). */
static long s_post(api_otlp_t *self, const char *body, long *retry_after_ms)
{
    CURL *curl = self->curl;
    self->reply_len = 0;
    self->reply[0] = '\0';
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, self->config.url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "kms-api/" KMS_VERSION);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, self->config.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_reply);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, self);
    if (self->config.ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, self->config.ca_file);

    *retry_after_ms = 0;
    CURLcode rc = s_perform(self);
    if (rc != CURLE_OK) {
        if (rc != CURLE_ABORTED_BY_CALLBACK)
            kms_warn("otlp: export failed", "url=%s why=%s", self->config.url,
                     kms_log_quote(curl_easy_strerror(rc), (char[256]){0}, 256));
        return 0;
    }
    long status = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
        *retry_after_ms = retry_after > S_BACKOFF_MAX_MS / 1000 ? S_BACKOFF_MAX_MS : (long) retry_after * 1000;
    return status;
}

/* A 2xx answer may still say that some points were refused (OTLP's partial success):
   {"partialSuccess": {"rejectedDataPoints": "3", "errorMessage": "..."}}. Those are logged;
   sending them again would be refused again. */
static void s_partial_success(const char *reply)
{
    json_t *doc = *reply ? json_loads(reply, 0, NULL) : NULL;
    const json_t *partial = json_object_get(doc, "partialSuccess");
    const json_t *rejected = json_object_get(partial, "rejectedDataPoints");
    /* int64 travels as a JSON string in OTLP/JSON; some servers send a number. */
    long count = json_is_integer(rejected) ? (long) json_integer_value(rejected) : 0;
    if (json_is_string(rejected) && kms_num_parse_long(json_string_value(rejected), &count) != 0)
        count = 0;
    const char *message = json_string_value(json_object_get(partial, "errorMessage"));
    if (count > 0 || (message && *message)) {
        char quoted[S_REPLY_KEEP + 8];
        kms_warn("otlp: the endpoint refused some points", "rejected=%ld message=%s", count,
                 kms_log_quote(message ? message : "", quoted, sizeof quoted));
    }
    json_decref(doc);
}

/* One export; returns the delay until the next one (the interval, or a backoff). */
static long s_export(api_otlp_t *self, long *backoff_ms)
{
    long interval = self->config.interval_ms;
    json_t *list = self->fetch(self->arg);
    if (!list) {
        atomic_fetch_add(&self->skipped, 1);
        kms_debug("otlp: trainer unreachable, export skipped", NULL);
        return interval;
    }
    json_t *request = api_otlp_build(list, self->config.resource, (uint64_t) (kms_num_wallclock() * 1e9));
    json_decref(list);
    char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request);
    if (!body) {
        kms_error("otlp: could not build the request", NULL);
        return interval;
    }
    long retry_after_ms;
    long status = s_post(self, body, &retry_after_ms);
    free(body);
    if (status >= 200 && status < 300) {
        atomic_fetch_add(&self->exports, 1);
        atomic_store(&self->last_success_ms, (uint64_t) (kms_num_wallclock() * 1e3));
        if (*backoff_ms)
            kms_info("otlp: exports resumed", "url=%s", self->config.url);
        s_partial_success(self->reply);
        *backoff_ms = 0;
        return interval;
    }
    if (atomic_load(&self->stopping))
        return 0; /* aborted: the loop reads $TERM next */
    atomic_fetch_add(&self->failures, 1);
    bool retry = status == 0 || status == 408 || status == 429 || status >= 500;
    if (status) {
        char quoted[S_REPLY_KEEP + 8];
        kms_warn(retry ? "otlp: export refused, will retry" : "otlp: export refused, dropped",
                 "url=%s status=%ld reply=%s", self->config.url, status,
                 kms_log_quote(self->reply, quoted, sizeof quoted));
    }
    if (!retry) {
        atomic_fetch_add(&self->dropped, 1);
        *backoff_ms = 0;
        return interval;
    }
    long first = interval < S_BACKOFF_FIRST_MS ? interval : S_BACKOFF_FIRST_MS;
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : first;
    if (*backoff_ms > S_BACKOFF_MAX_MS)
        *backoff_ms = S_BACKOFF_MAX_MS;
    return retry_after_ms > *backoff_ms ? retry_after_ms : *backoff_ms;
}

static void s_actor(zsock_t *pipe, void *arg)
{
    api_otlp_t *self = arg;
    /* A peer that closes the connection must not kill the API with SIGPIPE (NOSIGNAL is set,
       so curl does not guard against it itself). */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, NULL);

    zpoller_t *poller = zpoller_new(pipe, NULL);
    zsock_signal(pipe, 0);
    long backoff_ms = 0;
    int64_t due = zclock_mono() + self->config.interval_ms;
    while (poller) {
        /* Once stopping, nothing more is fetched or sent: only $TERM is awaited. */
        bool stopping = atomic_load(&self->stopping);
        int64_t wait = due - zclock_mono();
        int timeout = stopping ? -1 : wait < 0 ? 0 : wait > INT32_MAX ? INT32_MAX : (int) wait;
        void *which = zpoller_wait(poller, timeout);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || streq(command, "$TERM");
            zstr_free(&command);
            if (term)
                break;
        } else if (zpoller_terminated(poller))
            break;
        else if (!atomic_load(&self->stopping) && zclock_mono() >= due) {
            long delay = s_export(self, &backoff_ms);
            int64_t now = zclock_mono();
            /* Keep the cadence while on time; after a slow export or a backoff start afresh. */
            due = backoff_ms == 0 && due + delay > now ? due + delay : now + delay;
        }
    }
    zpoller_destroy(&poller);
}

static struct curl_slist *s_headers(const json_t *headers)
{
    struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *) headers, key, value) {
        /* "Name;" is how curl sends a header with an empty value ("Name:" would remove it). */
        const char *text = json_string_value(value);
        char *line = zsys_sprintf("%s%s%s", key, *text ? ": " : ";", text);
        struct curl_slist *longer = list && line ? curl_slist_append(list, line) : NULL;
        free(line);
        if (!longer) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = longer;
    }
    return list;
}

api_otlp_t *api_otlp_start(const api_otlp_config_t *config, api_otlp_fetch_fn fetch, void *arg)
{
    assert(config && config->url && fetch);
    /* Not thread-safe in every libcurl build: called here, on the caller's thread, before the
       exporter's thread exists. Reference-counted, paired in api_otlp_stop(). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kms_error("otlp: libcurl did not initialise", NULL);
        return NULL;
    }
    api_otlp_t *self = calloc(1, sizeof *self);
    if (!self) {
        curl_global_cleanup();
        return NULL;
    }
    self->fetch = fetch;
    self->arg = arg;
    self->config.url = strdup(config->url);
    self->config.ca_file = config->ca_file ? strdup(config->ca_file) : NULL;
    self->config.headers = config->headers ? json_deep_copy(config->headers) : json_object();
    self->config.resource = config->resource ? json_deep_copy(config->resource) : json_object();
    self->config.interval_ms = config->interval_ms >= S_MIN_INTERVAL_MS ? config->interval_ms : S_DEFAULT_INTERVAL_MS;
    self->config.timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : S_DEFAULT_TIMEOUT_MS;
    self->headers = s_headers(self->config.headers);
    self->curl = curl_easy_init();
    self->multi = curl_multi_init();
    if (!self->config.url || !self->config.headers || !self->config.resource || !self->headers || !self->curl
        || !self->multi || (config->ca_file && !self->config.ca_file) || !(self->actor = zactor_new(s_actor, self))) {
        kms_error("otlp: exporter did not start", NULL);
        api_otlp_stop(&self);
        return NULL;
    }
    const char *service = json_string_value(json_object_get(self->config.resource, "service.name"));
    kms_info("otlp: exporting metrics", "url=%s interval_ms=%ld headers=%zu service=%s", self->config.url,
             self->config.interval_ms, json_object_size(self->config.headers), service ? service : "");
    return self;
}

api_otlp_t *api_otlp_start_from_env(api_otlp_fetch_fn fetch, void *arg)
{
    api_otlp_config_t config;
    int rc = api_otlp_config_from_env(&config);
    if (rc == 0)
        kms_info("otlp: export off", "hint=\"set OTEL_EXPORTER_OTLP_ENDPOINT to push metrics\"");
    else if (rc < 0)
        kms_error("otlp: configuration failed", NULL);
    api_otlp_t *self = rc > 0 ? api_otlp_start(&config, fetch, arg) : NULL;
    api_otlp_config_clear(&config); /* cleared already unless rc > 0: harmless */
    return self;
}

void api_otlp_stop(api_otlp_t **self_p)
{
    assert(self_p);
    api_otlp_t *self = *self_p;
    if (!self)
        return;
    atomic_store(&self->stopping, true);
    if (self->multi)
        curl_multi_wakeup(self->multi); /* thread-safe: ends a transfer's wait at once */
    zactor_destroy(&self->actor);
    curl_multi_cleanup(self->multi);
    curl_easy_cleanup(self->curl);
    curl_slist_free_all(self->headers);
    api_otlp_config_clear(&self->config);
    free(self);
    curl_global_cleanup();
    *self_p = NULL;
}

void api_otlp_stats(api_otlp_t *self, api_otlp_stats_t *out)
{
    assert(self && out);
    out->exports = atomic_load(&self->exports);
    out->failures = atomic_load(&self->failures);
    out->dropped = atomic_load(&self->dropped);
    out->skipped = atomic_load(&self->skipped);
    out->last_success = (double) atomic_load(&self->last_success_ms) / 1e3;
}
