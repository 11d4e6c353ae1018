/* api_otlp: the OTEL environment, the k=v lists, and LIST document -> OTLP JSON. */
#include "kms_test_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_otlp.h"

#define NOW_NS 1700000000123456789ULL

/* A LIST document as kms_proto.h describes it: one model ready, one not. */
static const char *s_list =
    "{\"models\": ["
    "  {\"name\": \"core_model\", \"features\": [\"cpu_cycles\", \"cpu_instructions\", \"cpu_time\"],"
    "   \"target\": \"core\", \"ready\": true, \"reason\": \"\", \"samples\": 123, \"missing\": 0,"
    "   \"invalid\": 2, \"min_samples\": 30, \"created\": 1699999000.5, \"updated\": 1700000000.0,"
    "   \"fit\": {\"r2\": 0.97, \"rmse\": 1.5, \"mae\": 1.25, \"window_r2\": 0.95,"
    "           \"window_rmse\": 1.75, \"window_mae\": null},"
    "   \"weights\": {\"All_Weights\": {\"Bias_Weight\": 42.5,"
    "       \"Categorical_Variables\": {\"cpu_architecture\": {\"x86_64\": {\"weight\": 0.5},"
    "                                                         \"aarch64\": {\"weight\": -0.5}}},"
    "       \"Numerical_Variables\": {"
    "          \"cpu_cycles\": {\"mean\": 1e9, \"variance\": 4e16, \"weight\": 3.25},"
    "          \"cpu_instructions\": {\"mean\": 2e9, \"variance\": 9e16, \"weight\": 1.5},"
    "          \"cpu_time\": {\"mean\": 1.5, \"variance\": 0.25, \"weight\": 0.75}}},"
    "     \"model_name\": \"core_model\"},"
    "   \"history\": [[1700000000.0, 0.95, 1.75]]},"
    "  {\"name\": \"dram_model\", \"features\": [\"cache_misses\", \"resident_memory\"],"
    "   \"target\": \"dram\", \"ready\": false, \"reason\": \"12 of 30 samples\", \"samples\": 12,"
    "   \"created\": 1699999500, \"fit\": null, \"weights\": null, \"history\": []}],"
    " \"trainer\": {\"uptime\": 100.0, \"samples_received\": 140, \"samples_rejected\": 3,"
    "             \"frames_malformed\": 1, \"seq_gaps\": 0, \"publishers\": 2, \"checkpoints\": 4,"
    "             \"checkpoint_errors\": 0, \"last_checkpoint\": 1699999990.0}}";

static json_t *s_resource(void)
{
    return kms_test_json("{\"service.name\": \"kms-api\", \"deployment.environment\": \"test\"}");
}

static const json_t *s_metrics_of(const json_t *request)
{
    const json_t *rm = json_array_get(json_object_get(request, "resourceMetrics"), 0);
    const json_t *sm = json_array_get(json_object_get(rm, "scopeMetrics"), 0);
    return json_object_get(sm, "metrics");
}

static const json_t *s_metric(const json_t *request, const char *name)
{
    size_t i;
    const json_t *metric;
    json_array_foreach(s_metrics_of(request), i, metric) {
        if (strcmp(json_string_value(json_object_get(metric, "name")), name) == 0)
            return metric;
    }
    return NULL;
}

static const char *s_attr(const json_t *attrs, const char *key)
{
    size_t i;
    const json_t *attr;
    json_array_foreach(attrs, i, attr) {
        if (strcmp(json_string_value(json_object_get(attr, "key")), key) == 0)
            return json_string_value(json_object_get(json_object_get(attr, "value"), "stringValue"));
    }
    return NULL;
}

/* The data point of `metric` whose attributes match the given pairs (NULL-terminated). */
static const json_t *s_point(const json_t *request, const char *metric, const char *kind, const char *k1,
                             const char *v1, const char *k2, const char *v2)
{
    const json_t *m = s_metric(request, metric);
    if (!m)
        return NULL;
    size_t i;
    const json_t *point;
    json_array_foreach(json_object_get(json_object_get(m, kind), "dataPoints"), i, point) {
        const json_t *attrs = json_object_get(point, "attributes");
        const char *a1 = k1 ? s_attr(attrs, k1) : NULL;
        const char *a2 = k2 ? s_attr(attrs, k2) : NULL;
        if ((!k1 || (a1 && strcmp(a1, v1) == 0)) && (!k2 || (a2 && strcmp(a2, v2) == 0)))
            return point;
    }
    return NULL;
}

static double s_double(const json_t *point)
{
    const json_t *value = json_object_get(point, "asDouble");
    assert_true(json_is_number(value));
    return json_number_value(value);
}

static void test_key_value_pairs_are_unescaped_and_bad_ones_dropped(void **state)
{
    (void) state;
    json_t *pairs = api_otlp_parse_pairs("a=1, b = x%20y ,bad,=e,f=%zz,g=%0d%0aX: y,h=%3D%2c,api-key=k=v,empty=",
                                         "test");
    assert_non_null(pairs);
    assert_string_equal(json_string_value(json_object_get(pairs, "a")), "1");
    assert_string_equal(json_string_value(json_object_get(pairs, "b")), "x y");
    assert_string_equal(json_string_value(json_object_get(pairs, "h")), "=,");
    /* Only the first "=" splits: base64 keys keep their padding. */
    assert_string_equal(json_string_value(json_object_get(pairs, "api-key")), "k=v");
    assert_string_equal(json_string_value(json_object_get(pairs, "empty")), "");
    assert_null(json_object_get(pairs, "bad"));
    assert_null(json_object_get(pairs, "f")); /* malformed escape */
    assert_null(json_object_get(pairs, "g")); /* CR LF would split the HTTP header */
    assert_int_equal(json_object_size(pairs), 5);
    json_decref(pairs);

    pairs = api_otlp_parse_pairs(NULL, "test");
    assert_int_equal(json_object_size(pairs), 0);
    json_decref(pairs);
    pairs = api_otlp_parse_pairs(",,", "test");
    assert_int_equal(json_object_size(pairs), 0);
    json_decref(pairs);
}

/* clang-format off */
static const char *s_vars[] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_PROTOCOL", NULL};
/* clang-format on */

static int s_clear_env(void **state)
{
    (void) state;
    for (const char **v = s_vars; *v; v++)
        unsetenv(*v);
    return 0;
}

/* The configuration read again with `name` set to `value`. */
static int s_config_with(api_otlp_config_t *config, const char *name, const char *value)
{
    setenv(name, value, 1);
    return api_otlp_config_from_env(config);
}

static void test_export_is_off_unless_an_http_endpoint_and_otlp_exporter_are_set(void **state)
{
    (void) state;
    api_otlp_config_t config;
    assert_int_equal(api_otlp_config_from_env(&config), 0);
    assert_null(config.url);
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_ENDPOINT", ""), 0); /* empty is unset */

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    assert_int_equal(s_config_with(&config, "OTEL_SDK_DISABLED", "TRUE"), 0);
    unsetenv("OTEL_SDK_DISABLED");
    assert_int_equal(s_config_with(&config, "OTEL_METRICS_EXPORTER", "none"), 0);
    assert_int_equal(s_config_with(&config, "OTEL_METRICS_EXPORTER", "prometheus"), 0);
    assert_int_equal(s_config_with(&config, "OTEL_METRICS_EXPORTER", "prometheus, otlp"), 1);
    api_otlp_config_clear(&config);
    /* Not an http(s) URL: off, not a request that could never be sent. */
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"), 0);
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317"), 0);
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_ENDPOINT", "HTTPS://collector"), 1);
    api_otlp_config_clear(&config);
    /* A NULL start is the "off" answer, not a crash. */
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    assert_null(api_otlp_start_from_env((api_otlp_fetch_fn) NULL, NULL));
}

static void test_the_endpoint_gets_v1_metrics_unless_the_signals_own_is_set(void **state)
{
    (void) state;
    api_otlp_config_t config;
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io/"), 1);
    assert_string_equal(config.url, "https://api.honeycomb.io/v1/metrics");
    assert_int_equal(config.interval_ms, 60000);
    assert_int_equal(config.timeout_ms, 10000);
    assert_null(config.ca_file);
    assert_int_equal(json_object_size(config.headers), 0);
    api_otlp_config_clear(&config);

    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base"), 1);
    assert_string_equal(config.url, "http://collector:4318/base/v1/metrics");
    api_otlp_config_clear(&config);

    /* The signal's own endpoint is used as is, and wins. */
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://other:9000/custom/path"), 1);
    assert_string_equal(config.url, "http://other:9000/custom/path");
    api_otlp_config_clear(&config);
}

static void test_headers_interval_timeout_and_resource_are_read_with_fallbacks(void **state)
{
    (void) state;
    api_otlp_config_t config;
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=secret,x-honeycomb-dataset=kepler", 1);
    setenv("OTEL_METRIC_EXPORT_INTERVAL", "250", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1500", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,k8s.cluster.name=lab%201", 1);
    setenv("OTEL_SERVICE_NAME", "model-server", 1);
    setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/ca.pem", 1);
    assert_int_equal(api_otlp_config_from_env(&config), 1);
    assert_int_equal(config.interval_ms, 250);
    assert_int_equal(config.timeout_ms, 1500);
    assert_string_equal(config.ca_file, "/etc/ssl/ca.pem");
    assert_string_equal(json_string_value(json_object_get(config.headers, "x-honeycomb-team")), "secret");
    assert_int_equal(json_object_size(config.headers), 2);
    assert_string_equal(json_string_value(json_object_get(config.resource, "service.name")), "model-server");
    assert_string_equal(json_string_value(json_object_get(config.resource, "k8s.cluster.name")), "lab 1");
    assert_non_null(json_object_get(config.resource, "service.version"));
    assert_non_null(json_object_get(config.resource, "service.instance.id"));
    api_otlp_config_clear(&config);

    /* A header name that is not an HTTP token would make a malformed request. */
    assert_int_equal(s_config_with(&config, "OTEL_EXPORTER_OTLP_HEADERS", "good-name=1,bad name=2,bad:colon=3,x_ok~=4"),
                     1);
    assert_int_equal(json_object_size(config.headers), 2);
    assert_non_null(json_object_get(config.headers, "good-name"));
    assert_non_null(json_object_get(config.headers, "x_ok~"));
    api_otlp_config_clear(&config);

    /* The signal's own headers replace the generic ones; bad numbers fall back to defaults. */
    setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "authorization=Bearer%20t", 1);
    setenv("OTEL_METRIC_EXPORT_INTERVAL", "5s", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "-1", 1);
    unsetenv("OTEL_SERVICE_NAME");
    assert_int_equal(api_otlp_config_from_env(&config), 1);
    assert_int_equal(json_object_size(config.headers), 1);
    assert_string_equal(json_string_value(json_object_get(config.headers, "authorization")), "Bearer t");
    assert_int_equal(config.interval_ms, 60000);
    assert_int_equal(config.timeout_ms, 10000);
    /* Without OTEL_SERVICE_NAME the attribute list's service.name stands. */
    assert_string_equal(json_string_value(json_object_get(config.resource, "service.name")), "ignored");
    api_otlp_config_clear(&config);
    api_otlp_config_clear(&config); /* idempotent */
}

static void test_every_built_metric_has_a_unit_one_kind_and_points_stamped_now(void **state)
{
    (void) state;
    json_t *list = kms_test_json(s_list), *resource = s_resource();
    json_t *request = api_otlp_build(list, resource, NOW_NS);
    assert_non_null(request);

    const json_t *rms = json_object_get(request, "resourceMetrics");
    assert_int_equal(json_array_size(rms), 1);
    const json_t *rm = json_array_get(rms, 0);
    const json_t *attrs = json_object_get(json_object_get(rm, "resource"), "attributes");
    assert_string_equal(s_attr(attrs, "service.name"), "kms-api");
    assert_string_equal(s_attr(attrs, "deployment.environment"), "test");
    const json_t *sm = json_array_get(json_object_get(rm, "scopeMetrics"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(sm, "scope"), "name")),
                        "kepler-model-server");

    /* Every metric: a name, a unit, exactly one of gauge/sum with points stamped now. */
    size_t i, j;
    const json_t *metric, *point;
    json_array_foreach(s_metrics_of(request), i, metric) {
        assert_non_null(json_string_value(json_object_get(metric, "unit")));
        const json_t *gauge = json_object_get(metric, "gauge"), *sum = json_object_get(metric, "sum");
        assert_true((gauge != NULL) != (sum != NULL));
        if (sum) {
            assert_int_equal(json_integer_value(json_object_get(sum, "aggregationTemporality")), 2);
            assert_true(json_is_true(json_object_get(sum, "isMonotonic")));
        }
        const json_t *points = json_object_get(gauge ? gauge : sum, "dataPoints");
        assert_true(json_array_size(points) > 0);
        json_array_foreach(points, j, point) {
            assert_string_equal(json_string_value(json_object_get(point, "timeUnixNano")), "1700000000123456789");
            assert_true(json_is_array(json_object_get(point, "attributes")));
            assert_true(gauge ? json_is_real(json_object_get(point, "asDouble"))
                              : json_is_string(json_object_get(point, "asInt")));
        }
    }
    json_decref(request);
    json_decref(list);
    json_decref(resource);
}

static void test_built_points_carry_the_lists_values_and_leave_out_the_absent(void **state)
{
    (void) state;
    json_t *list = kms_test_json(s_list), *resource = s_resource();
    json_t *r = api_otlp_build(list, resource, NOW_NS);
    assert_non_null(r);

    assert_true(s_double(s_point(r, "kms_model_weight", "gauge", "model", "core_model", "feature", "cpu_cycles"))
                == 3.25);
    assert_true(
        s_double(s_point(r, "kms_model_feature_mean", "gauge", "model", "core_model", "feature", "cpu_instructions"))
        == 2e9);
    assert_true(
        s_double(s_point(r, "kms_model_feature_variance", "gauge", "model", "core_model", "feature", "cpu_time"))
        == 0.25);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(s_metric(r, "kms_model_weight"), "gauge"), "dataPoints")), 3);
    assert_true(s_double(s_point(r, "kms_model_bias", "gauge", "model", "core_model", NULL, NULL)) == 42.5);
    /* Labelled as the API's /metrics labels them: the category's name is the "feature". */
    const json_t *category = s_point(r, "kms_model_category_weight", "gauge", "model", "core_model", "category",
                                     "aarch64");
    assert_true(s_double(category) == -0.5);
    assert_string_equal(s_attr(json_object_get(category, "attributes"), "feature"), "cpu_architecture");
    assert_true(s_double(s_point(r, "kms_model_r2", "gauge", "model", "core_model", "window", "all")) == 0.97);
    assert_true(s_double(s_point(r, "kms_model_r2", "gauge", "model", "core_model", "window", "recent")) == 0.95);
    assert_true(s_double(s_point(r, "kms_model_rmse", "gauge", "model", "core_model", "window", "all")) == 1.5);
    assert_true(s_double(s_point(r, "kms_model_rmse", "gauge", "model", "core_model", "window", "recent")) == 1.75);
    assert_true(s_double(s_point(r, "kms_model_mae", "gauge", "model", "core_model", "window", "all")) == 1.25);
    assert_string_equal(json_string_value(json_object_get(s_metric(r, "kms_model_rmse"), "unit")), "W");
    assert_true(s_double(s_point(r, "kms_model_ready", "gauge", "model", "core_model", NULL, NULL)) == 1.0);
    assert_true(s_double(s_point(r, "kms_model_ready", "gauge", "model", "dram_model", NULL, NULL)) == 0.0);

    const json_t *samples = s_point(r, "kms_model_samples", "sum", "model", "core_model", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(samples, "asInt")), "123");
    assert_string_equal(json_string_value(json_object_get(samples, "startTimeUnixNano")), "1699999000500000000");
    samples = s_point(r, "kms_model_samples", "sum", "model", "dram_model", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(samples, "asInt")), "12");

    /* A model without a fit or weights has no such points; a null in a fit is left out. */
    assert_null(s_point(r, "kms_model_r2", "gauge", "model", "dram_model", NULL, NULL));
    assert_null(s_point(r, "kms_model_bias", "gauge", "model", "dram_model", NULL, NULL));
    assert_null(s_point(r, "kms_model_mae", "gauge", "model", "core_model", "window", "recent"));

    const json_t *received = s_point(r, "kms_trainer_samples_received", "sum", NULL, NULL, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(received, "asInt")), "140");
    /* The trainer's counters started `uptime` seconds before now (to the second: stable). */
    assert_string_equal(json_string_value(json_object_get(received, "startTimeUnixNano")), "1699999900000000000");
    assert_int_equal(json_array_size(json_object_get(received, "attributes")), 0);
    assert_true(s_double(s_point(r, "kms_trainer_publishers", "gauge", NULL, NULL, NULL, NULL)) == 2.0);
    json_decref(r);
    json_decref(list);
    json_decref(resource);
}

/* What a confused or hostile trainer could answer: left out, never invented, never a crash. */
static void test_a_hostile_list_is_left_out_never_invented_or_crashed_on(void **state)
{
    (void) state;
    json_t *resource = s_resource();
    assert_null(api_otlp_build(NULL, resource, NOW_NS));
    json_t *array = json_array();
    assert_null(api_otlp_build(array, resource, NOW_NS));
    json_decref(array);

    json_t *empty = json_object();
    json_t *r = api_otlp_build(empty, NULL, NOW_NS);
    assert_non_null(r);
    assert_int_equal(json_array_size(s_metrics_of(r)), 0);
    json_decref(r);
    json_decref(empty);

    json_t *list = kms_test_json(
        "{\"models\": ["
        "  {\"features\": [], \"samples\": 5, \"ready\": true},"
        "  {\"name\": 7, \"samples\": 5},"
        "  {\"name\": \"m1\", \"ready\": \"yes\", \"samples\": -4, \"created\": \"today\","
        "   \"fit\": {\"r2\": \"0.9\", \"rmse\": [], \"mae\": 1e308},"
        "   \"weights\": {\"All_Weights\": {\"Bias_Weight\": null, \"Numerical_Variables\": []}}},"
        "  {\"name\": \"m2\", \"samples\": 2.5, \"fit\": [1], \"weights\": {\"All_Weights\": 3}},"
        "  {\"name\": \"m3\", \"samples\": 7,"
        "   \"weights\": {\"All_Weights\": {\"Numerical_Variables\": {\"f\": 1, \"g\": {\"weight\": true}},"
        "     \"Categorical_Variables\": {\"cpu_architecture\": 5, \"x\": {\"y\": []}}}}},"
        "  \"not a model\", null],"
        " \"trainer\": {\"uptime\": 1e30, \"samples_received\": -1, \"publishers\": \"2\"}}");
    r = api_otlp_build(list, resource, NOW_NS);
    assert_non_null(r);
    /* Only m1's mae and m3's 7 samples (without a start time) survive. */
    assert_int_equal(json_array_size(s_metrics_of(r)), 3);
    assert_non_null(s_point(r, "kms_model_mae", "gauge", "model", "m1", NULL, NULL));
    const json_t *samples = s_point(r, "kms_model_samples", "sum", "model", "m3", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(samples, "asInt")), "7");
    assert_null(json_object_get(samples, "startTimeUnixNano"));
    assert_non_null(s_point(r, "kms_trainer_uptime", "gauge", NULL, NULL, NULL, NULL));
    json_decref(r);
    json_decref(list);
    json_decref(resource);
}

static void test_extreme_times_print_whole_and_give_no_impossible_start_time(void **state)
{
    (void) state;
    json_t *list = kms_test_json("{\"trainer\": {\"uptime\": 5, \"checkpoints\": 1}}");
    json_t *r = api_otlp_build(list, NULL, UINT64_MAX);
    const json_t *point = s_point(r, "kms_trainer_checkpoints", "sum", NULL, NULL, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(point, "timeUnixNano")), "18446744073709551615");
    json_decref(r);
    /* A fresh trainer's start is not rounded past the point's own time. */
    json_t *fresh = kms_test_json("{\"trainer\": {\"uptime\": 0.2, \"checkpoints\": 0}}");
    r = api_otlp_build(fresh, NULL, 1700000000900000000ULL);
    point = s_point(r, "kms_trainer_checkpoints", "sum", NULL, NULL, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(point, "startTimeUnixNano")), "1700000000000000000");
    json_decref(r);
    json_decref(fresh);
    /* An uptime longer than the clock is no start time at all. */
    r = api_otlp_build(list, NULL, 1000);
    point = s_point(r, "kms_trainer_checkpoints", "sum", NULL, NULL, NULL, NULL);
    assert_null(json_object_get(point, "startTimeUnixNano"));
    json_decref(r);
    json_decref(list);
}

/* Every point of a request is well formed: a time, attributes, exactly one finite value. */
static void s_check_request(const json_t *request)
{
    size_t i, j;
    const json_t *metric, *point;
    assert_non_null(request);
    json_array_foreach(s_metrics_of(request), i, metric) {
        const json_t *data = json_object_get(metric, "gauge");
        if (!data)
            data = json_object_get(metric, "sum");
        assert_non_null(data);
        assert_true(json_array_size(json_object_get(data, "dataPoints")) > 0);
        json_array_foreach(json_object_get(data, "dataPoints"), j, point) {
            assert_non_null(json_string_value(json_object_get(point, "timeUnixNano")));
            assert_true(json_is_array(json_object_get(point, "attributes")));
            const json_t *d = json_object_get(point, "asDouble");
            const char *n = json_string_value(json_object_get(point, "asInt"));
            assert_true((d != NULL) != (n != NULL));
            if (d)
                assert_true(json_is_number(d) && isfinite(json_number_value(d)));
            else
                assert_true(strspn(n, "0123456789") == strlen(n) && *n);
        }
    }
}

/* Replaces, one at a time, every value anywhere in the LIST document by each of a set of
   wrong ones; the request built from each must still be well formed. */
static void s_mutate(json_t *root, json_t *node, int *variants)
{
    static const char *wrong[] = {
        "null", "\"x\"", "-1", "1e308", "-1e308", "[]", "{}", "true", "1.8446744073709552e19", "9.3e18", "2.5"};
    if (json_is_object(node)) {
        const char *key;
        json_t *child;
        void *tmp;
        json_object_foreach_safe(node, tmp, key, child) {
            json_t *saved = json_incref(child);
            for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
                json_object_set_new(node, key, json_loads(wrong[w], JSON_DECODE_ANY, NULL));
                json_t *r = api_otlp_build(root, NULL, NOW_NS);
                s_check_request(r);
                json_decref(r);
                (*variants)++;
            }
            json_object_set(node, key, saved);
            s_mutate(root, saved, variants);
            json_decref(saved);
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *child;
        json_array_foreach(node, i, child)
            s_mutate(root, child, variants);
    }
}

static void test_a_request_stays_well_formed_whatever_value_is_mutated(void **state)
{
    (void) state;
    json_t *list = kms_test_json(s_list);
    int variants = 0;
    s_mutate(list, list, &variants);
    assert_true(variants > 500);
    json_decref(list);
}

static json_t *s_no_trainer(void *arg)
{
    (*(int *) arg)++;
    return NULL;
}

/* The thread's life: a config without headers or resource, a trainer that never answers,
   counters that say so, and a stop that is idempotent (ASan checks that nothing leaks). */
static void test_the_exporter_skips_a_silent_trainer_and_stops_idempotently(void **state)
{
    (void) state;
    int calls = 0;
    api_otlp_config_t config = {.url = "http://127.0.0.1:1/v1/metrics", .interval_ms = 10};
    api_otlp_t *otlp = api_otlp_start(&config, s_no_trainer, &calls);
    assert_non_null(otlp);
    for (int i = 0; i < 200 && calls < 3; i++)
        usleep(10000);
    api_otlp_stats_t stats;
    api_otlp_stats(otlp, &stats);
    assert_true(stats.skipped >= 3);
    assert_int_equal(stats.exports + stats.failures + stats.dropped, 0);
    assert_true(stats.last_success == 0);
    api_otlp_stop(&otlp);
    assert_null(otlp);
    api_otlp_stop(&otlp);
    assert_true(calls >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_value_pairs_are_unescaped_and_bad_ones_dropped),
        cmocka_unit_test_setup_teardown(test_export_is_off_unless_an_http_endpoint_and_otlp_exporter_are_set,
                                        s_clear_env, s_clear_env),
        cmocka_unit_test_setup_teardown(test_the_endpoint_gets_v1_metrics_unless_the_signals_own_is_set, s_clear_env,
                                        s_clear_env),
        cmocka_unit_test_setup_teardown(test_headers_interval_timeout_and_resource_are_read_with_fallbacks, s_clear_env,
                                        s_clear_env),
        cmocka_unit_test(test_every_built_metric_has_a_unit_one_kind_and_points_stamped_now),
        cmocka_unit_test(test_built_points_carry_the_lists_values_and_leave_out_the_absent),
        cmocka_unit_test(test_a_hostile_list_is_left_out_never_invented_or_crashed_on),
        cmocka_unit_test(test_extreme_times_print_whole_and_give_no_impossible_start_time),
        cmocka_unit_test(test_a_request_stays_well_formed_whatever_value_is_mutated),
        cmocka_unit_test(test_the_exporter_skips_a_silent_trainer_and_stops_idempotently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
