/* kms-api's pure cores (services/api): Kepler's requests, the Prometheus text, the status
   page and the request counters. */
#include "kms_test.h"

#include "api_families.h"
#include "api_kepler.h"
#include "api_metrics.h"
#include "api_page.h"
#include "api_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A LIST "models" array: core (ready), dram (ready), platform (ready), gpu (not ready). */
static const char s_models[] =
    "[{\"name\":\"core_model\",\"features\":[\"cpu_cycles\",\"cpu_instructions\",\"cpu_time\"],\"target\":\"core\","
    " \"ready\":true,\"samples\":100,\"fit\":{\"r2\":0.9,\"rmse\":1.0,\"mae\":0.8},"
    " \"weights\":{\"All_Weights\":{\"Bias_Weight\":20.0,"
    "   \"Categorical_Variables\":{\"cpu_architecture\":{\"x86\":{\"weight\":0.5}}},"
    "   \"Numerical_Variables\":{\"cpu_cycles\":{\"mean\":2.0,\"variance\":4.0,\"weight\":3.0},"
    "     \"cpu_instructions\":{\"mean\":1.0,\"variance\":1.0,\"weight\":-1.0},"
    "     \"cpu_time\":{\"mean\":0.5,\"variance\":0.25,\"weight\":2.0}}},\"model_name\":\"core_model\"}},"
    " {\"name\":\"dram_model\",\"features\":[\"cache_misses\",\"resident_memory\"],\"target\":\"dram\","
    " \"ready\":true,\"samples\":100,\"fit\":{\"r2\":0.8,\"rmse\":0.3,\"mae\":0.2},"
    " \"weights\":{\"All_Weights\":{\"Bias_Weight\":3.0,"
    "   \"Categorical_Variables\":{\"cpu_architecture\":{\"x86\":{\"weight\":0.0}}},"
    "   \"Numerical_Variables\":{\"cache_misses\":{\"mean\":10.0,\"variance\":100.0,\"weight\":0.7},"
    "     \"resident_memory\":{\"mean\":4.0,\"variance\":16.0,\"weight\":0.3}}},\"model_name\":\"dram_model\"}},"
    " {\"name\":\"node_model\",\"features\":[\"cpu_time\"],\"target\":\"platform\","
    " \"ready\":true,\"samples\":100,\"fit\":{\"r2\":0.7,\"rmse\":5.0,\"mae\":4.0},"
    " \"weights\":{\"All_Weights\":{\"Bias_Weight\":80.0,"
    "   \"Categorical_Variables\":{\"cpu_architecture\":{}},"
    "   \"Numerical_Variables\":{\"cpu_time\":{\"mean\":0.5,\"variance\":0.25,\"weight\":9.0}}},"
    "   \"model_name\":\"node_model\"}},"
    " {\"name\":\"gpu_model\",\"features\":[\"cpu_time\"],\"target\":\"gpu\",\"ready\":false,"
    " \"reason\":\"3 of 30 samples\",\"samples\":3,\"fit\":null,\"weights\":null}]";

static json_t *s_json(const char *text)
{
    json_error_t error;
    json_t *doc = json_loads(text, 0, &error);
    if (!doc)
        fail_msg("bad test JSON: %s at %d", error.text, error.position);
    return doc;
}

static int s_parse(const char *body, api_kepler_request_t *req, char *why)
{
    json_t *doc = s_json(body);
    int rc = api_kepler_parse(doc, req, why, 256);
    json_decref(doc);
    return rc;
}

static double s_weight(const json_t *doc, const char *feature)
{
    const json_t *entry = json_object_get(
        json_object_get(json_object_get(doc, "All_Weights"), "Numerical_Variables"), feature);
    assert_non_null(entry);
    return json_number_value(json_object_get(entry, "weight"));
}

static void test_aliases(void **state)
{
    (void) state;
    assert_string_equal(api_kepler_canonical("cpu_instr"), "cpu_instructions");
    assert_string_equal(api_kepler_canonical("cache_miss"), "cache_misses");
    assert_string_equal(api_kepler_canonical("bpf_cpu_time_us"), "cpu_time");
    assert_string_equal(api_kepler_canonical("bpf_cpu_time_ms"), "cpu_time");
    assert_string_equal(api_kepler_canonical("container_memory_working_set_bytes"), "resident_memory");
    assert_string_equal(api_kepler_canonical("cgroupfs_memory_usage_bytes"), "resident_memory");
    assert_string_equal(api_kepler_canonical("cpu_cycles"), "cpu_cycles");
    assert_string_equal(api_kepler_canonical("something_else"), "something_else");
}

static void test_parse_requests(void **state)
{
    (void) state;
    api_kepler_request_t req;
    char why[256];
    assert_int_equal(s_parse("{\"model_name\":\"\",\"metrics\":[\"cpu_instr\",\"cpu_architecture\"],"
                             "\"filter\":\"\",\"output_type\":\"DynComponentModelWeight\"}",
                             &req, why), 0);
    assert_int_equal(req.answer, API_ANSWER_COMPONENTS);
    assert_true(req.dynamic);
    assert_int_equal(req.metric_count, 2);
    assert_string_equal(req.metrics[0], "cpu_instr");
    assert_true(isnan(req.max_mae));
    /* 0.7: AbsPower with weight=true is a component-weights request; extra keys ignored. */
    assert_int_equal(s_parse("{\"metrics\":[],\"output_type\":\"AbsPower\",\"source\":\"intel_rapl\","
                             "\"node_type\":1,\"weight\":true,\"trainer_name\":\"x\",\"machine_spec\":{}}",
                             &req, why), 0);
    assert_int_equal(req.answer, API_ANSWER_COMPONENTS);
    assert_false(req.dynamic);
    assert_string_equal(req.source, "intel_rapl");
    assert_int_equal(s_parse("{\"metrics\":[],\"output_type\":\"AbsPower\"}", &req, why), 0);
    assert_int_equal(req.answer, API_ANSWER_ARCHIVE);
    /* The 2022 filter: items of another shape are skipped, unknown attributes ignored. */
    assert_int_equal(s_parse("{\"metrics\":[],\"output_type\":\"AbsModelWeight\","
                             "\"filter\":\" mae : 2.5; r2:0.9;junk;a:b:c;abs_max_corr:0.1;samples:50\"}",
                             &req, why), 0);
    assert_true(req.max_mae == 2.5 && req.min_r2 == 0.9 && req.min_samples == 50 && isnan(req.max_rmse));

    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"[1]", "JSON object"},
        {"{\"output_type\":\"AbsPower\"}", "metrics"},
        {"{\"metrics\":[1],\"output_type\":\"AbsPower\"}", "metrics"},
        {"{\"metrics\":[]}", "output_type"},
        {"{\"metrics\":[],\"output_type\":\"AbsWatts\"}", "AbsWatts"},
        {"{\"metrics\":[],\"output_type\":7}", "output_type"},
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"weight\":1}", "weight"},
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"filter\":\"mae:x\"}", "filter"},
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"filter\":\"mae:nan\"}", "filter"},
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"model_name\":[]}", "model_name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(s_parse(bad[i].body, &req, why), -1);
        if (!strstr(why, bad[i].needle))
            fail_msg("'%s': '%s' lacks '%s'", bad[i].body, why, bad[i].needle);
    }
}

static void test_component_answer_uses_the_requests_names(void **state)
{
    (void) state;
    json_t *models = s_json(s_models);
    api_kepler_request_t req;
    char why[512], archive[KMS_NAME_MAX];
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"bpf_cpu_time_us\",\"cache_miss\","
                             "\"container_memory_working_set_bytes\",\"cpu_architecture\"],"
                             "\"output_type\":\"AbsComponentModelWeight\"}", &req, why), 0);
    json_t *answer = api_kepler_answer(models, &req, archive, why, sizeof why);
    assert_non_null(answer);
    /* core, dram, and without a source also node_model's "platform"; never gpu (not ready). */
    assert_int_equal(json_object_size(answer), 3);
    assert_non_null(json_object_get(answer, "platform"));
    json_t *core = json_object_get(answer, "core");
    assert_true(s_weight(core, "cpu_instr") == -1.0);
    assert_true(s_weight(core, "bpf_cpu_time_us") == 2.0);
    assert_null(json_object_get(json_object_get(json_object_get(core, "All_Weights"), "Numerical_Variables"),
                                "cpu_time"));
    assert_true(s_weight(json_object_get(answer, "dram"), "container_memory_working_set_bytes") == 0.3);
    json_decref(answer);
    json_decref(models);
}

static void test_platform_component_with_acpi_source(void **state)
{
    (void) state;
    json_t *models = s_json(s_models);
    api_kepler_request_t req;
    char why[512], archive[KMS_NAME_MAX];
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\",\"cache_miss\","
                             "\"cgroupfs_memory_usage_bytes\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                             "\"source\":\"acpi\"}", &req, why), 0);
    json_t *answer = api_kepler_answer(models, &req, archive, why, sizeof why);
    assert_non_null(answer);
    assert_int_equal(json_object_size(answer), 1);
    assert_non_null(json_object_get(answer, "platform"));
    json_decref(answer);
    /* And a RAPL source gets the components, never the platform. */
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\",\"cache_miss\","
                             "\"cgroupfs_memory_usage_bytes\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                             "\"source\":\"intel_rapl\"}", &req, why), 0);
    answer = api_kepler_answer(models, &req, archive, why, sizeof why);
    assert_null(json_object_get(answer, "platform"));
    assert_non_null(json_object_get(answer, "core"));
    json_decref(answer);
    json_decref(models);
}

static void test_dynamic_weights_predict_zero_at_idle(void **state)
{
    (void) state;
    json_t *models = s_json(s_models);
    api_kepler_request_t req;
    char why[512], archive[KMS_NAME_MAX];
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\",\"cpu_instructions\",\"cpu_time\"],"
                             "\"model_name\":\"core_model\",\"output_type\":\"DynModelWeight\"}", &req, why), 0);
    json_t *doc = api_kepler_answer(models, &req, archive, why, sizeof why);
    assert_non_null(doc);
    const json_t *all = json_object_get(doc, "All_Weights");
    /* bias = 3*2/2 + (-1)*1/1 + 2*0.5/0.5 = 4; at zero usage: 4 + 3*(0-2)/2 - (0-1) + 2*(0-0.5)/0.5 = 0 */
    assert_true(fabs(json_number_value(json_object_get(all, "Bias_Weight")) - 4.0) < 1e-12);
    const json_t *arch = json_object_get(json_object_get(json_object_get(all, "Categorical_Variables"),
                                                         "cpu_architecture"), "x86");
    assert_true(json_number_value(json_object_get(arch, "weight")) == 0.0);
    assert_string_equal(json_string_value(json_object_get(doc, "power")), "dynamic");
    json_decref(doc);
    json_decref(models);
}

static void test_single_and_archive_choices(void **state)
{
    (void) state;
    json_t *models = s_json(s_models);
    api_kepler_request_t req;
    char why[512], archive[KMS_NAME_MAX];
    /* A whole-node model is preferred for one total-power model, even with a larger MAE. */
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\"],"
                             "\"output_type\":\"AbsModelWeight\"}", &req, why), 0);
    json_t *doc = api_kepler_answer(models, &req, archive, why, sizeof why);
    assert_string_equal(json_string_value(json_object_get(doc, "model_name")), "node_model");
    json_decref(doc);
    /* With cpu_cycles alone no model fits: no answer, and the reason model by model. */
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\"],\"output_type\":\"AbsModelWeight\"}", &req, why), 0);
    assert_null(api_kepler_answer(models, &req, archive, why, sizeof why));
    assert_non_null(strstr(why, "core_model: needs cpu_instructions"));
    assert_non_null(strstr(why, "gpu_model: not ready (3 of 30 samples)"));
    assert_string_equal(archive, "");
    /* A *Power request names the model whose zip is the answer. */
    assert_int_equal(s_parse("{\"metrics\":[\"cache_miss\",\"cgroupfs_memory_usage_bytes\"],"
                             "\"output_type\":\"AbsComponentPower\"}", &req, why), 0);
    assert_null(api_kepler_answer(models, &req, archive, why, sizeof why));
    assert_string_equal(archive, "dram_model");
    /* The filter applies: core's MAE of 0.8 fails "mae:0.5". */
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\"],\"model_name\":\"core_model\","
                             "\"output_type\":\"AbsModelWeight\",\"filter\":\"mae:0.5\"}", &req, why), 0);
    assert_null(api_kepler_answer(models, &req, archive, why, sizeof why));
    assert_non_null(strstr(why, "filter"));
    /* Dynamic archives do not exist. */
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_time\"],\"output_type\":\"DynPower\"}", &req, why), 0);
    assert_null(api_kepler_answer(models, &req, archive, why, sizeof why));
    assert_non_null(strstr(why, "absolute"));
    json_decref(models);
}

/* Where `needle` starts in `text`, or -1. */
static long s_offset(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    return at ? (long) (at - text) : -1;
}

/* Renders into *text through a memory stream; the caller frees *text. */
static void s_render_metrics(const json_t *list, char **text)
{
    size_t len = 0;
    FILE *out = open_memstream(text, &len);
    assert_non_null(out);
    api_metrics_write(list, out);
    fclose(out);
}

static void test_metrics_text(void **state)
{
    (void) state;
    json_t *models = s_json(s_models);
    json_t *list = json_pack("{s:O,s:{s:f,s:i}}", "models", models, "trainer", "uptime", 12.5,
                             "samples_received", 240);
    char *text = NULL;
    s_render_metrics(list, &text);
    assert_non_null(strstr(text, "kms_api_trainer_up 1\n"));
    assert_non_null(strstr(text, "kms_model_weight{model=\"core_model\",feature=\"cpu_instructions\"} -1\n"));
    assert_non_null(strstr(text, "kms_model_feature_variance{model=\"dram_model\",feature=\"cache_misses\"} 100\n"));
    assert_non_null(strstr(text, "kms_model_category_weight{model=\"core_model\",feature=\"cpu_architecture\","
                                 "category=\"x86\"} 0.5\n"));
    assert_non_null(strstr(text, "kms_model_ready{model=\"gpu_model\"} 0\n"));
    assert_non_null(strstr(text, "kms_model_bias_watts{model=\"node_model\"} 80\n"));
    assert_non_null(strstr(text, "kms_model_r2{model=\"core_model\",window=\"all\"} 0.9\n"));
    assert_non_null(strstr(text, "kms_trainer_samples_received_total 240\n"));
    /* gpu_model has no fit and no weights: nothing is invented for it. */
    assert_null(strstr(text, "kms_model_r2{model=\"gpu_model\""));
    assert_null(strstr(text, "kms_model_bias_watts{model=\"gpu_model\""));
    /* Each family's HELP and TYPE come once, before its samples. */
    long type = s_offset(text, "# TYPE kms_model_weight gauge\n");
    assert_true(type >= 0 && s_offset(text, "kms_model_weight{") > type);
    assert_int_equal(s_offset(text + type + 1, "# TYPE kms_model_weight gauge\n"), -1);
    free(text);
    json_decref(list);
    json_decref(models);

    s_render_metrics(NULL, &text);
    assert_string_equal(text, "# HELP kms_api_trainer_up 1 when the trainer answered this scrape in time, else 0.\n"
                              "# TYPE kms_api_trainer_up gauge\nkms_api_trainer_up 0\n");
    free(text);
}

static void test_page(void **state)
{
    (void) state;
    json_t *models = s_json(s_models);
    /* A model name that tries to be markup is written as text. */
    json_object_set_new(json_array_get(models, 3), "name", json_string("<script>x</script>"));
    json_t *list = json_pack("{s:O,s:{}}", "models", models, "trainer");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    api_page_write(list, ">tcp://127.0.0.1:5556", 1.8e9, out);
    fclose(out);
    assert_non_null(strstr(text, "<!DOCTYPE html>"));
    assert_non_null(strstr(text, "id=\"model-core_model\""));
    assert_non_null(strstr(text, "<svg class=\"chart weights\" data-model=\"dram_model\""));
    assert_non_null(strstr(text, "<svg class=\"chart history\" data-model=\"core_model\""));
    assert_non_null(strstr(text, "&lt;script&gt;"));
    assert_null(strstr(text, "<script>"));
    assert_non_null(strstr(text, "NOT READY"));
    assert_non_null(strstr(text, "3 of 30 samples"));
    free(text);
    json_decref(list);
    json_decref(models);

    out = open_memstream(&text, &len);
    api_page_write(NULL, ">tcp://trainer:5556", 1.8e9, out);
    fclose(out);
    assert_non_null(strstr(text, "&gt;tcp://trainer:5556</code> is not answering"));
    free(text);
}

static void test_stats(void **state)
{
    (void) state;
    static api_stats_t stats;
    api_stats_init(&stats);
    api_stats_request(&stats, API_ROUTE_WEIGHTS, 200);
    api_stats_request(&stats, API_ROUTE_WEIGHTS, 200);
    api_stats_request(&stats, API_ROUTE_OTHER, 404);
    api_stats_request(&stats, API_ROUTE_OTHER, 99);   /* not a status: ignored */
    api_stats_trainer_latency(&stats, 0.0002);
    api_stats_trainer_latency(&stats, 7.0);           /* beyond the last bucket */
    api_stats_trainer_error(&stats, API_TRAINER_TIMEOUT);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    api_stats_write(&stats, out);
    fclose(out);
    assert_non_null(strstr(text, "kms_api_requests_total{route=\"/model-weights/{model}\",code=\"200\"} 2\n"));
    assert_non_null(strstr(text, "kms_api_requests_total{route=\"other\",code=\"404\"} 1\n"));
    assert_non_null(strstr(text, "kms_api_trainer_request_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
    assert_non_null(strstr(text, "kms_api_trainer_request_duration_seconds_bucket{le=\"2.5\"} 1\n"));
    assert_non_null(strstr(text, "kms_api_trainer_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "kms_api_trainer_request_duration_seconds_count 2\n"));
    assert_non_null(strstr(text, "kms_api_trainer_errors_total{kind=\"timeout\"} 1\n"));
    free(text);
}

/* Every family exported over OTLP too translates back to its Prometheus name (unit W ->
   _watts, s -> _seconds, a cumulative sum -> _total), as a backend's translation does. */
static void test_families_translate_between_otlp_and_prometheus(void **state)
{
    (void) state;
    size_t exported = 0;
    for (int f = 0; f < API_F_COUNT; f++) {
        const api_family_t *family = &api_families[f];
        assert_non_null(family->prom);
        assert_non_null(family->help);
        assert_true(strncmp(family->prom, "kms_", 4) == 0);
        if (!family->otlp)
            continue;
        exported++;
        char expected[128];
        snprintf(expected, sizeof expected, "%s%s%s", family->otlp,
                 strcmp(family->unit, "W") == 0 ? "_watts" : strcmp(family->unit, "s") == 0 ? "_seconds" : "",
                 family->type == API_COUNTER ? "_total" : "");
        assert_string_equal(family->prom, expected);
    }
    assert_int_equal(exported, 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_families_translate_between_otlp_and_prometheus),
        cmocka_unit_test(test_parse_requests),
        cmocka_unit_test(test_component_answer_uses_the_requests_names),
        cmocka_unit_test(test_platform_component_with_acpi_source),
        cmocka_unit_test(test_dynamic_weights_predict_zero_at_idle),
        cmocka_unit_test(test_single_and_archive_choices),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
