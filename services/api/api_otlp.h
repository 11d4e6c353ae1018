/*  api_otlp: kms-api pushes the models' metrics itself over OTLP/HTTP, JSON encoding.

    Off unless an endpoint is configured. Configuration is OpenTelemetry's standard environment:

      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT  full URL, used as is (wins over the next one)
      OTEL_EXPORTER_OTLP_ENDPOINT          base URL; "/v1/metrics" is appended
      OTEL_EXPORTER_OTLP_METRICS_HEADERS   k=v,k2=v2 (percent-decoded); wins over the next one
      OTEL_EXPORTER_OTLP_HEADERS           k=v,k2=v2 (percent-decoded), e.g. x-honeycomb-team=KEY
      OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT per-request timeout, ms (default 10000)
      OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE  CA bundle for https (default: the system's)
      OTEL_METRIC_EXPORT_INTERVAL          ms between exports (default 60000)
      OTEL_SERVICE_NAME                    resource service.name (default "kms-api")
      OTEL_RESOURCE_ATTRIBUTES             k=v,k2=v2 (percent-decoded) resource attributes
      OTEL_SDK_DISABLED=true, OTEL_METRICS_EXPORTER=none   turn the exporter off

    As OpenTelemetry asks, a malformed value is logged and its default used: telemetry never
    stops the API from starting. OTEL_EXPORTER_OTLP_PROTOCOL other than http/json is logged
    and JSON sent anyway (every OTLP/HTTP receiver accepts it).

    The exporter runs on its own thread (a zactor). Each interval it calls fetch() for the
    trainer's LIST document (kms_proto.h), turns it into an ExportMetricsServiceRequest and
    POSTs it. A failed export (transport error, 429, 5xx) is tried again, with fresh data, after
    a backoff that starts at min(1 s, interval) and doubles up to 60 s (or the server's
    Retry-After); other 4xx answers are dropped (the request itself is bad). Nothing the
    endpoint does can block an HTTP handler: the thread shares nothing with them.

    Metrics, named and labelled as kms-api's own /metrics, so that a backend's OTLP-to-Prometheus
    translation (unit W -> _watts, s -> _seconds, cumulative sums -> _total) gives the very series
    a Prometheus scrape of the API gives. Gauges unless noted; attributes in braces:
      kms_model_ready {model}, kms_model_samples {model} (cumulative sum, since "created"),
      kms_model_r2, kms_model_rmse [W], kms_model_mae [W] {model, window="all"|"recent"},
      kms_model_bias [W] {model}, kms_model_weight, kms_model_feature_mean,
      kms_model_feature_variance {model, feature}, kms_model_category_weight {model,
      feature="cpu_architecture", category=<architecture>},
      kms_trainer_uptime [s], kms_trainer_publishers, and the cumulative sums
      kms_trainer_samples_received, _samples_rejected, _frames_malformed, _seq_gaps,
      _checkpoints, _checkpoint_errors (no attributes). */
#ifndef API_OTLP_H
#define API_OTLP_H

#include <jansson.h>
#include <stdint.h>

typedef struct api_otlp_t api_otlp_t;

/* Returns the trainer's LIST document (a new reference the exporter json_decref()s), or NULL
   when the trainer is unreachable (that export is skipped). Always called from the exporter's
   own thread, never concurrently with itself, last before api_otlp_stop() returns: a ZeroMQ
   socket that fetch() creates on its first call may live in `arg` and be destroyed by the
   caller after api_otlp_stop(). It should time out like any trainer request (--trainer-timeout). */
typedef json_t *(*api_otlp_fetch_fn)(void *arg);

typedef struct {
    char *url;        /* where requests are POSTed */
    json_t *headers;  /* object: header name -> string value */
    json_t *resource; /* object: attribute -> string value; has service.name */
    long interval_ms;
    long timeout_ms;
    char *ca_file; /* NULL: the system's CA bundle */
} api_otlp_config_t;

/* Reads the environment into *out (owned by *out: api_otlp_config_clear() frees it).
   Returns 1 when an exporter is configured, 0 when it is off (out cleared), -1 when out of
   memory. */
int api_otlp_config_from_env(api_otlp_config_t *out);
void api_otlp_config_clear(api_otlp_config_t *config);

/* Parses OTEL's "k=v,k2=v2" list (keys and values trimmed, values percent-decoded) into a new
   object of strings. Pairs without "=" or with an empty key are skipped (logged). Never NULL
   except out of memory; an empty or NULL text gives {}. */
json_t *api_otlp_parse_pairs(const char *text, const char *what);

/* The OTLP JSON request (new reference) for a LIST document: one resourceMetrics with
   `resource`'s attributes, one scopeMetrics, the metrics above stamped `now_ns`. Pure. Fields
   missing, mistyped or not finite in `list` are left out, never invented; NULL only when
   `list` is not an object or out of memory. */
json_t *api_otlp_build(const json_t *list, const json_t *resource, uint64_t now_ns);

/* Starts the exporter thread with a copy of `config`; NULL on error (logged). */
api_otlp_t *api_otlp_start(const api_otlp_config_t *config, api_otlp_fetch_fn fetch, void *arg);
/* api_otlp_config_from_env + api_otlp_start; NULL when not configured (logged once at info)
   or on error (logged). */
api_otlp_t *api_otlp_start_from_env(api_otlp_fetch_fn fetch, void *arg);
/* Stops the thread and frees; idempotent, NULLs the pointer. An export in flight is aborted at
   once; a fetch() in progress is waited for (it times out by itself). */
void api_otlp_stop(api_otlp_t **self_p);

typedef struct {
    uint64_t exports;    /* requests the endpoint accepted (2xx) */
    uint64_t failures;   /* attempts that failed (transport error or non-2xx) */
    uint64_t dropped;    /* failed with a non-retryable status */
    uint64_t skipped;    /* intervals without data (fetch returned NULL) */
    double last_success; /* unix seconds, 0 = never */
} api_otlp_stats_t;

/* Counters for the API's own /metrics; safe from any thread. */
void api_otlp_stats(api_otlp_t *self, api_otlp_stats_t *out);

#endif
