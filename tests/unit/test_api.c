/* kms-api's pure cores (services/api): Kepler's requests, the Prometheus text, the status
   page and the request counters. */
#include "kms_test_json.h"

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
    " \"ready\":true,\"samples\":100,\"fit\":{\"r2\":0.9,\"rmse\":1.0,\"mae\":0.8,\"mape\":0.02,\"window_mape\":0.125},"
    " \"drift\":true,\"held_back\":{\"outlier\":7,\"drift\":3,\"drifts\":1},"
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

static const api_kepler_config_t s_auto = {API_KEPLER_SAMPLE_PERIOD, API_KEPLER_ERA_AUTO, NULL};

static int s_parse_as(const char *body, const api_kepler_config_t *config, api_kepler_request_t *req, char *why)
{
    json_t *doc = kms_test_json(body);
    int rc = api_kepler_parse(doc, config, req, why, 256);
    json_decref(doc);
    return rc;
}

static int s_parse(const char *body, api_kepler_request_t *req, char *why)
{
    return s_parse_as(body, &s_auto, req, why);
}

/* One exchange with the Kepler core: the request, and its answer's status, archive and reason. */
typedef struct {
    api_kepler_request_t req;
    char why[512], archive[KMS_NAME_MAX];
    int status;
} ask_t;

/* Kepler's request `body`, which must parse under `config` (NULL: the default), into ask->req. */
static void s_request(ask_t *ask, const api_kepler_config_t *config, const char *body)
{
    if (s_parse_as(body, config ? config : &s_auto, &ask->req, ask->why) != 0)
        fail_msg("'%s' refused: %s", body, ask->why);
}

/* The same request answered from `models`. */
static json_t *s_ask(ask_t *ask, const json_t *models, const api_kepler_config_t *config, const char *body)
{
    s_request(ask, config, body);
    return api_kepler_answer(models, &ask->req, ask->archive, &ask->status, ask->why, sizeof ask->why);
}

static double s_number_at(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    assert_true(json_is_number(value));
    return json_number_value(value);
}

/* What Kepler computes from a document, both ways: 0.4-0.5.x's
   bias + w[arch] + sum w (x - mean) / sqrt(variance), and 0.6-0.9's bias + w[arch] + sum w x / scale.
   `x` maps the request's names to values in its units; both must agree. */
static double s_kepler_predict(const json_t *doc, const json_t *x, const char *arch)
{
    const json_t *all = json_object_get(doc, "All_Weights");
    double base = s_number_at(all, "Bias_Weight");
    const json_t *cat = json_object_get(
        json_object_get(json_object_get(all, "Categorical_Variables"), "cpu_architecture"), arch);
    if (cat)
        base += s_number_at(cat, "weight");
    double old = base, now = base;
    const char *name;
    const json_t *entry;
    json_object_foreach(json_object_get(all, "Numerical_Variables"), name, entry) {
        double v = s_number_at(x, name);
        old += s_number_at(entry, "weight") * (v - s_number_at(entry, "mean")) / sqrt(s_number_at(entry, "variance"));
        now += s_number_at(entry, "weight") * v / s_number_at(entry, "scale");
    }
    assert_true(fabs(old - now) <= 1e-12 * fmax(1, fabs(now)));
    return now;
}

static void test_kepler_metric_aliases_map_to_canonical_names_and_units(void **state)
{
    (void) state;
    double u;
    assert_string_equal(api_kepler_canonical("cpu_instr", &u), "cpu_instructions");
    assert_true(u == 1);
    assert_string_equal(api_kepler_canonical("cache_miss", &u), "cache_misses");
    assert_string_equal(api_kepler_canonical("bpf_cpu_time_us", &u), "cpu_time");
    assert_true(u == 1000); /* counts milliseconds despite its name (0.5.5-0.7.2) */
    assert_string_equal(api_kepler_canonical("bpf_cpu_time_ms", &u), "cpu_time");
    assert_true(u == 1000);
    assert_string_equal(api_kepler_canonical("cpu_time", &u), "cpu_time");
    assert_true(u == 1000); /* Kepler 0.4-0.5.4's name, in ms */
    assert_string_equal(api_kepler_canonical("bpf_page_cache_hit", &u), "page_cache_hits");
    assert_string_equal(api_kepler_canonical("bpf_net_tx_irq", &u), "irq_net_tx");
    assert_string_equal(api_kepler_canonical("container_memory_working_set_bytes", &u), "resident_memory");
    assert_true(u == 1);
    assert_string_equal(api_kepler_canonical("cgroupfs_memory_usage_bytes", NULL), "resident_memory");
    assert_string_equal(api_kepler_canonical("cpu_cycles", NULL), "cpu_cycles");
    assert_string_equal(api_kepler_canonical("something_else", &u), "something_else");
    assert_true(u == 1);
}

static void test_kepler_versions_parse_to_their_eras_and_others_are_refused(void **state)
{
    (void) state;
    assert_int_equal(api_kepler_era_parse("auto"), API_KEPLER_ERA_AUTO);
    assert_int_equal(api_kepler_era_parse("0.4"), API_KEPLER_0_4);
    assert_int_equal(api_kepler_era_parse("0.5.3"), API_KEPLER_0_4);
    assert_int_equal(api_kepler_era_parse("0.5.4"), API_KEPLER_0_5_4);
    assert_int_equal(api_kepler_era_parse("v0.6"), API_KEPLER_0_5_4);
    assert_int_equal(api_kepler_era_parse("0.7.2"), API_KEPLER_0_5_4);
    assert_int_equal(api_kepler_era_parse("0.7.3"), API_KEPLER_0_7_3);
    assert_int_equal(api_kepler_era_parse("0.7.11"), API_KEPLER_0_7_3);
    assert_int_equal(api_kepler_era_parse("0.7.12"), API_KEPLER_0_7_12);
    assert_int_equal(api_kepler_era_parse("0.9.0"), API_KEPLER_0_7_12);
    const char *bad[] = {"", "0.3", "0.10", "1.0", "0.7.x", "0.7.12.1", "seven"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_kepler_era_parse(bad[i]), -2);
    assert_string_equal(api_kepler_era_name(API_KEPLER_0_7_3), "0.7.3");
}

static void test_requests_are_read_by_generation_and_malformed_ones_refused(void **state)
{
    (void) state;
    ask_t k;
    s_request(&k, NULL,
              "{\"model_name\":\"\",\"metrics\":[\"cpu_instr\",\"cpu_architecture\"],"
              "\"filter\":\"\",\"output_type\":\"DynComponentModelWeight\"}");
    assert_int_equal(k.req.answer, API_ANSWER_COMPONENTS);
    assert_true(k.req.dynamic);
    assert_int_equal(k.req.era, API_KEPLER_0_4);
    assert_int_equal(k.req.metric_count, 2);
    assert_string_equal(k.req.metrics[0], "cpu_instr");
    assert_true(isnan(k.req.max_mae));
    /* 0.7.12+: AbsPower with weight=true is a component-weights request; extra keys ignored. */
    s_request(&k, NULL,
              "{\"metrics\":[\"bpf_cpu_time_ms\"],\"output_type\":\"AbsPower\",\"source\":\"intel_rapl\","
              "\"node_type\":0,\"weight\":true,\"trainer_name\":\"SGDRegressorTrainer\","
              "\"machine_spec\":{\"cores\":8},\"extra\":1}");
    assert_int_equal(k.req.answer, API_ANSWER_COMPONENTS);
    assert_false(k.req.dynamic);
    assert_int_equal(k.req.era, API_KEPLER_0_7_12);
    assert_string_equal(k.req.source, "intel_rapl");
    /* 0.7.3-0.7.11: bpf_cpu_time_ms without a machine spec; 0.5.4-0.7.2: without either. */
    s_request(&k, NULL,
              "{\"metrics\":[\"bpf_cpu_time_ms\"],\"output_type\":\"AbsPower\",\"weight\":true,"
              "\"node_type\":1}");
    assert_int_equal(k.req.era, API_KEPLER_0_7_3);
    s_request(&k, NULL,
              "{\"metrics\":[\"bpf_cpu_time_us\"],\"output_type\":\"AbsPower\",\"weight\":true,"
              "\"node_type\":1}");
    assert_int_equal(k.req.era, API_KEPLER_0_5_4);
    assert_true(k.req.sample_period == 3);
    /* --kepler-era takes every request for one generation. */
    api_kepler_config_t forced = {5, API_KEPLER_0_7_12, NULL};
    s_request(&k, &forced, "{\"metrics\":[\"bpf_cpu_time_ms\"],\"output_type\":\"AbsPower\",\"weight\":true}");
    assert_int_equal(k.req.era, API_KEPLER_0_7_12);
    assert_true(k.req.sample_period == 5);
    s_request(&k, NULL, "{\"metrics\":[],\"output_type\":\"AbsPower\"}");
    assert_int_equal(k.req.answer, API_ANSWER_ARCHIVE);
    /* The 2022 filter: items of another shape are skipped, unknown attributes ignored. */
    s_request(&k, NULL,
              "{\"metrics\":[],\"output_type\":\"AbsModelWeight\","
              "\"filter\":\" mae : 2.5; r2:0.9;junk;a:b:c;abs_max_corr:0.1;samples:50\"}");
    assert_true(k.req.max_mae == 2.5 && k.req.min_r2 == 0.9 && k.req.min_samples == 50 && isnan(k.req.max_rmse));

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
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"node_type\":\"1\"}", "node_type"},
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"machine_spec\":[]}", "machine_spec"},
        {"{\"metrics\":[],\"output_type\":\"AbsPower\",\"trainer_name\":\"LogisticRegressionTrainer\"}", "linear"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(s_parse(bad[i].body, &k.req, k.why), -1);
        if (!strstr(k.why, bad[i].needle))
            fail_msg("'%s': '%s' lacks '%s'", bad[i].body, k.why, bad[i].needle);
    }
}

/* The canonical watts of s_models' core_model at 2 cycles, 3 instructions, 0.75 cpu-seconds,
   arch x86: 20 + 0.5 + 3 * (2 - 2) / 2 - (3 - 1) / 1 + 2 * (0.75 - 0.5) / 0.5. */
#define S_CORE_WATTS (20 + 0.5 + 0 - 2 + 1.0)

static void test_component_answer_in_each_generations_units(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_models);
    ask_t k;
    static const struct {
        const char *body, *cpu_time;
        double per_second, output; /* Kepler's inputs per canonical unit; what it multiplies by */
    } cases[] = {
        /* 0.4: counts over the 3 s period, cpu time in ms, output taken as mJ per period */
        {"{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\",\"cache_miss\",\"container_memory_working_set_bytes\","
         "\"cpu_architecture\"],\"output_type\":\"AbsComponentModelWeight\"}",
         "cpu_time", 3, 1 / 3000.0},
        /* 0.5.4-0.7.2: per second, core booked with the period twice */
        {"{\"metrics\":[\"cpu_cycles\",\"cpu_instructions\",\"bpf_cpu_time_us\",\"cache_miss\"],"
         "\"output_type\":\"AbsPower\",\"source\":\"intel_rapl\",\"weight\":true,\"node_type\":1}",
         "bpf_cpu_time_us", 1, 3},
        /* 0.7.12+: per second, watts as predicted */
        {"{\"metrics\":[\"cpu_cycles\",\"cpu_instructions\",\"bpf_cpu_time_ms\",\"cache_miss\"],"
         "\"output_type\":\"AbsPower\",\"source\":\"intel_rapl\",\"weight\":true,\"machine_spec\":{}}",
         "bpf_cpu_time_ms", 1, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *answer = s_ask(&k, models, NULL, cases[c].body);
        assert_non_null(answer);
        assert_int_equal(k.status, 200);
        assert_null(json_object_get(answer, "platform")); /* components only, never the node total */
        json_t *core = json_object_get(answer, "core");
        assert_non_null(core);
        const char *instr = c == 0 ? "cpu_instr" : "cpu_instructions";
        assert_null(json_object_get(json_object_get(json_object_get(core, "All_Weights"), "Numerical_Variables"),
                                    c == 0 ? "cpu_instructions" : "cpu_time"));
        json_t *x = json_pack("{s:f, s:f, s:f}", "cpu_cycles", 2 * cases[c].per_second, instr, 3 * cases[c].per_second,
                              cases[c].cpu_time, 0.75 * 1000 * cases[c].per_second);
        double watts = s_kepler_predict(core, x, "x86") * cases[c].output;
        if (fabs(watts - S_CORE_WATTS) > 1e-9 * S_CORE_WATTS)
            fail_msg("case %zu: Kepler books %.12g W, the model says %.12g W", c, watts, S_CORE_WATTS);
        json_decref(x);
        json_decref(answer);
    }
    json_decref(models);
}

/* Kepler 0.7.12's machine_spec picks one of the machines the models learned on: exactly by
   processor, else the nearest (vendor, cores, frequency); that machine's architecture term goes
   into the bias, its spec into the answer (Kepler's core ratio). Unknown specs are 400s. */
static void test_machine_spec_picks_the_machine(void **state)
{
    (void) state;
    json_t *models = kms_test_json(
        "[{\"name\":\"core_model\",\"features\":[\"cpu_cycles\"],\"target\":\"core\",\"ready\":true,\"samples\":100,"
        " \"fit\":{\"r2\":0.9,\"rmse\":1.0,\"mae\":0.8},\"weights\":{\"All_Weights\":{\"Bias_Weight\":20.0,"
        " \"Categorical_Variables\":{\"cpu_architecture\":{\"Sapphire Rapids\":{\"weight\":1.5},"
        "   \"Graviton3\":{\"weight\":-2.0}}},"
        " \"Numerical_Variables\":{\"cpu_cycles\":{\"mean\":0.0,\"variance\":4.0,\"scale\":2.0,\"weight\":3.0}}},"
        " \"model_name\":\"core_model\"}}]");
    json_t *machines = kms_test_json(
        "{\"Sapphire Rapids\":{\"vendor\":\"intel\",\"processor\":\"intel_xeon_platinum_8480+\",\"cores\":224,"
        "  \"chips\":2,\"memory\":1024,\"frequency\":3800,\"threads_per_core\":2},"
        " \"Graviton3\":{\"vendor\":\"arm\",\"processor\":\"neoverse_v1\",\"cores\":64,\"frequency\":2600}}");
    ask_t k;
    assert_int_equal(api_kepler_machines_check(machines, k.why, sizeof k.why), 0);
    api_kepler_config_t config = {API_KEPLER_SAMPLE_PERIOD, API_KEPLER_ERA_AUTO, machines};
    static const struct {
        const char *spec, *arch, *match;
        double watts; /* at cpu_cycles = 4: 20 + 3 * 4 / 2 + the architecture's term */
    } cases[] = {
        {"{\"vendor\":\"intel\",\"processor\":\"intel_xeon_platinum_8480+\",\"cores\":8}", "Sapphire Rapids", "exact",
         27.5},
        {"{\"vendor\":\"intel\",\"processor\":\"intel_xeon_gold_6338\",\"cores\":16,\"frequency\":2000}",
         "Sapphire Rapids", "nearest", 27.5},
        {"{\"vendor\":\"arm\",\"processor\":\"\",\"cores\":48}", "Graviton3", "nearest", 24.0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"metrics\":[\"cpu_cycles\",\"cpu_architecture\"],\"output_type\":\"AbsPower\","
                 "\"source\":\"intel_rapl\",\"weight\":true,\"machine_spec\":%s}",
                 cases[c].spec);
        json_t *answer = s_ask(&k, models, &config, body);
        assert_non_null(answer);
        const json_t *match = json_object_get(answer, "machine_match");
        assert_string_equal(json_string_value(json_object_get(match, "cpu_architecture")), cases[c].arch);
        assert_string_equal(json_string_value(json_object_get(match, "match")), cases[c].match);
        assert_true(json_equal(json_object_get(answer, "machine_spec"), json_object_get(machines, cases[c].arch)));
        json_t *x = json_pack("{s:f}", "cpu_cycles", 4.0);
        /* Whatever architecture Kepler reads for itself, the picked machine's watts. */
        assert_true(fabs(s_kepler_predict(json_object_get(answer, "core"), x, "Sky Lake") - cases[c].watts) < 1e-9);
        assert_true(fabs(s_kepler_predict(json_object_get(answer, "core"), x, cases[c].arch) - cases[c].watts) < 1e-9);
        json_decref(x);
        json_decref(answer);
    }
    /* No machines known: every architecture served, Kepler applies its own. */
    json_t *answer = s_ask(&k, models, NULL,
                           "{\"metrics\":[\"cpu_cycles\",\"cpu_architecture\"],\"output_type\":\"AbsPower\","
                           "\"source\":\"intel_rapl\",\"weight\":true,\"machine_spec\":{\"cores\":8}}");
    assert_non_null(answer);
    assert_null(json_object_get(answer, "machine_spec"));
    json_t *x = json_pack("{s:f}", "cpu_cycles", 4.0);
    assert_true(fabs(s_kepler_predict(json_object_get(answer, "core"), x, "Graviton3") - 24.0) < 1e-9);
    json_decref(x);
    json_decref(answer);
    /* A spec that names no machine (the init URL's) picks none, even with machines known. */
    assert_int_equal(api_kepler_init_request("intel_rapl", &config, &k.req, k.why, sizeof k.why), 0);
    assert_int_equal(k.req.machine[0], '\0');
    s_request(&k, &config,
              "{\"metrics\":[\"cpu_cycles\"],\"output_type\":\"AbsPower\",\"weight\":true,"
              "\"machine_spec\":{\"vendor\":\"\",\"processor\":\"\",\"cores\":0}}");
    assert_int_equal(k.req.machine[0], '\0');
    /* A spec Kepler would never send is the client's error, named. */
    assert_int_equal(s_parse("{\"metrics\":[\"cpu_cycles\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                             "\"machine_spec\":{\"cores\":\"many\"}}",
                             &k.req, k.why),
                     -1);
    assert_non_null(strstr(k.why, "cores"));
    /* And a machine specs file that is not one is refused, with the reason. */
    static const char *bad[] = {"[]", "{}", "{\"x\":{\"cores\":-1}}", "{\"x\":{\"color\":\"red\"}}", "{\"x\":3}"};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        json_t *doc = kms_test_json(bad[b]);
        assert_int_equal(api_kepler_machines_check(doc, k.why, sizeof k.why), -1);
        assert_true(strlen(k.why) > 0);
        json_decref(doc);
    }
    json_decref(machines);
    json_decref(models);
}

static void test_platform_component_with_acpi_source(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_models);
    ask_t k;
    json_t *answer = s_ask(&k, models, NULL,
                           "{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\",\"cache_miss\","
                           "\"cgroupfs_memory_usage_bytes\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                           "\"source\":\"acpi\"}");
    assert_non_null(answer);
    assert_int_equal(json_object_size(answer), 1);
    json_t *platform = json_object_get(answer, "platform");
    assert_non_null(platform);
    /* 0.5.4-0.7.2 book the platform's output as mJ without the x1000: the weights carry it. */
    json_t *x = json_pack("{s:f}", "cpu_time", 750.0);
    assert_true(fabs(s_kepler_predict(platform, x, "x86") / 1000 - (80 + 9 * (0.75 - 0.5) / 0.5)) < 1e-9);
    json_decref(x);
    json_decref(answer);
    /* And a RAPL source gets the components, never the platform. */
    answer = s_ask(&k, models, NULL,
                   "{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\",\"cache_miss\","
                   "\"cgroupfs_memory_usage_bytes\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                   "\"source\":\"intel_rapl\"}");
    assert_null(json_object_get(answer, "platform"));
    assert_non_null(json_object_get(answer, "core"));
    json_decref(answer);
    json_decref(models);
}

/* A one-feature platform model serving a logarithmic curve (its families as the trainer's
   LIST shows them), beside a linear model of four features. */
static const char s_curve_models[] =
    "[{\"name\":\"cpu_time_platform_model\",\"features\":[\"cpu_time\"],\"target\":\"platform\",\"ready\":true,"
    " \"samples\":500,\"fit\":{\"r2\":0.9,\"rmse\":6.0,\"mae\":5.0,\"window_rmse\":6.0},"
    " \"weights\":{\"All_Weights\":{\"Bias_Weight\":50.0,\"Categorical_Variables\":{\"cpu_architecture\":{}},"
    "   \"Numerical_Variables\":{\"cpu_time\":{\"mean\":0,\"variance\":4.0,\"scale\":2.0,\"weight\":10.0}}},"
    "   \"model_name\":\"cpu_time_platform_model\"},"
    " \"families\":{\"served\":\"logarithmic\",\"samples\":500,\"candidates\":["
    "  {\"family\":\"linear\",\"trainer\":\"SGDRegressorTrainer\",\"scored\":480,\"recent_rmse\":6.0,\"served\":false,"
    "   \"fit\":{\"scale\":8.0,\"params\":[40.0,50.0]}},"
    "  {\"family\":\"logarithmic\",\"trainer\":\"LogarithmicRegressionTrainer\",\"scored\":480,\"recent_rmse\":1.0,"
    "   \"served\":true,\"fit\":{\"scale\":8.0,\"params\":[25.0,16.0,40.0]}},"
    "  {\"family\":\"logistic\",\"trainer\":\"LogisticRegressionTrainer\",\"scored\":480,\"recent_rmse\":2.0,"
    "   \"served\":false,\"fit\":{\"scale\":8.0,\"params\":[60.0,0.0,4.0,10.0]}},"
    "  {\"family\":\"exponential\",\"trainer\":\"ExponentialRegressionTrainer\",\"scored\":480,\"recent_rmse\":3.0,"
    "   \"served\":false,\"fit\":{\"scale\":8.0,\"params\":[-60.0,-2.0,100.0]}}]}},"
    " {\"name\":\"platform_model\",\"features\":[\"cpu_cycles\",\"cpu_time\"],\"target\":\"platform\",\"ready\":true,"
    " \"samples\":500,\"fit\":{\"r2\":0.9,\"rmse\":5.0,\"mae\":4.0,\"window_rmse\":5.0},"
    " \"weights\":{\"All_Weights\":{\"Bias_Weight\":50.0,\"Categorical_Variables\":{\"cpu_architecture\":{}},"
    "   \"Numerical_Variables\":{\"cpu_cycles\":{\"mean\":0,\"variance\":1.0,\"scale\":1.0,\"weight\":0.0},"
    "   \"cpu_time\":{\"mean\":0,\"variance\":4.0,\"scale\":2.0,\"weight\":9.0}}},\"model_name\":\"platform_model\"}}]";

/* Kepler's logarithmic predictor on a curve document: a log(b x / scale + 1) + c. */
static double s_kepler_log(const json_t *doc, const char *metric, double x)
{
    const json_t *all = json_object_get(doc, "All_Weights"), *w = json_object_get(all, "CurveFit_Weights");
    assert_int_equal(json_array_size(w), 3);
    double scale = s_number_at(json_object_get(json_object_get(all, "Numerical_Variables"), metric), "scale");
    return json_number_value(json_array_get(w, 0)) * log(json_number_value(json_array_get(w, 1)) * x / scale + 1)
           + json_number_value(json_array_get(w, 2));
}

/* 0.7.12 gets the curve, its trainer named at the top (everything before the last '_'), in its
   units (cpu time in ms); 0.7.3-0.7.11 get linear; a request whose first metric is not the
   curve's feature gets linear; no request may name a curve trainer. */
static void test_curve_answers_where_kepler_reads_them(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_curve_models);
    ask_t k;
    double truth = 25 * log(16 * 3.0 / 8 + 1) + 40; /* the curve at 3 busy cores */
    json_t *answer = s_ask(&k, models, NULL,
                           "{\"metrics\":[\"bpf_cpu_time_ms\",\"cpu_cycles\",\"cpu_architecture\"],"
                           "\"output_type\":\"AbsPower\",\"weight\":true,\"source\":\"acpi\",\"machine_spec\":{}}");
    assert_non_null(answer);
    assert_string_equal(json_string_value(json_object_get(answer, "model_name")),
                        "LogarithmicRegressionTrainer_cpu-time-platform-model");
    json_t *platform = json_object_get(answer, "platform");
    assert_string_equal(json_string_value(json_object_get(platform, "family")), "logarithmic");
    assert_true(fabs(s_kepler_log(platform, "bpf_cpu_time_ms", 3000) - truth) < 1e-9);
    json_decref(answer);

    /* Dynamic power: 0 W at zero usage. */
    answer = s_ask(&k, models, NULL,
                   "{\"metrics\":[\"bpf_cpu_time_ms\"],\"output_type\":\"DynPower\",\"weight\":true,"
                   "\"source\":\"acpi\",\"machine_spec\":{}}");
    platform = json_object_get(answer, "platform");
    assert_true(fabs(s_kepler_log(platform, "bpf_cpu_time_ms", 0)) < 1e-12);
    assert_true(fabs(s_kepler_log(platform, "bpf_cpu_time_ms", 3000) - (truth - 40)) < 1e-9);
    json_decref(answer);

    /* The curve's feature is not the first metric: Kepler would read cycles; linear, no top name. */
    answer = s_ask(&k, models, NULL,
                   "{\"metrics\":[\"cpu_cycles\",\"bpf_cpu_time_ms\"],\"output_type\":\"AbsPower\","
                   "\"weight\":true,\"source\":\"acpi\",\"machine_spec\":{}}");
    assert_null(json_object_get(answer, "model_name"));
    assert_null(
        json_object_get(json_object_get(json_object_get(answer, "platform"), "All_Weights"), "CurveFit_Weights"));
    json_decref(answer);

    /* 0.7.3-0.7.11 with the default trainer: linear. */
    answer = s_ask(&k, models, NULL,
                   "{\"metrics\":[\"bpf_cpu_time_ms\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                   "\"source\":\"acpi\",\"trainer_name\":\"SGDRegressorTrainer\"}");
    assert_null(
        json_object_get(json_object_get(json_object_get(answer, "platform"), "All_Weights"), "CurveFit_Weights"));
    json_decref(answer);

    /* *_INIT_URL: which Kepler reads it (and so its metric order) is unknown: linear. */
    assert_int_equal(api_kepler_init_request("acpi", &s_auto, &k.req, k.why, sizeof k.why), 0);
    answer = api_kepler_answer(models, &k.req, k.archive, &k.status, k.why, sizeof k.why);
    assert_non_null(json_object_get(answer, "platform"));
    assert_null(json_object_get(answer, "model_name"));
    assert_null(
        json_object_get(json_object_get(json_object_get(answer, "platform"), "All_Weights"), "CurveFit_Weights"));
    json_decref(answer);

    /* A curve trainer asked by name: refused, whatever the generation. */
    assert_int_equal(
        s_parse("{\"metrics\":[\"bpf_cpu_time_ms\"],\"output_type\":\"AbsPower\",\"weight\":true,"
                "\"source\":\"acpi\",\"machine_spec\":{},\"trainer_name\":\"LogarithmicRegressionTrainer\"}",
                &k.req, k.why),
        -1);
    json_decref(models);
}

static void test_dynamic_weights_predict_zero_at_idle(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_models);
    ask_t k;
    json_t *answer = s_ask(&k, models, NULL,
                           "{\"metrics\":[\"cpu_cycles\",\"cpu_instructions\",\"bpf_cpu_time_ms\"],"
                           "\"output_type\":\"DynPower\",\"weight\":true,\"machine_spec\":{}}");
    json_t *doc = json_object_get(answer, "core");
    assert_non_null(doc);
    const json_t *all = json_object_get(doc, "All_Weights");
    assert_true(json_number_value(json_object_get(all, "Bias_Weight")) == 0.0);
    const json_t *arch = json_object_get(
        json_object_get(json_object_get(all, "Categorical_Variables"), "cpu_architecture"), "x86");
    assert_true(json_number_value(json_object_get(arch, "weight")) == 0.0);
    assert_string_equal(json_string_value(json_object_get(doc, "power")), "dynamic");
    /* The dynamic power is the absolute model's prediction less its prediction at zero usage. */
    json_t *x = json_pack("{s:f, s:f, s:f}", "cpu_cycles", 2.0, "cpu_instructions", 3.0, "bpf_cpu_time_ms", 750.0);
    double at_zero = 20 + 0.5 - 3.0 * 2 / 2 + 1.0 * 1 / 1 - 2.0 * 0.5 / 0.5;
    assert_true(fabs(s_kepler_predict(doc, x, "x86") - (S_CORE_WATTS - at_zero)) < 1e-9);
    json_decref(x);
    json_decref(answer);
    json_decref(models);
}

static void test_single_and_archive_choices(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_models);
    ask_t k;
    /* Node total power is the platform model's alone, even when a component model fits better. */
    json_t *doc = s_ask(&k, models, NULL,
                        "{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\",\"cache_miss\","
                        "\"container_memory_working_set_bytes\"],\"output_type\":\"AbsModelWeight\"}");
    assert_string_equal(json_string_value(json_object_get(doc, "model_name")), "node_model");
    json_decref(doc);
    /* With cpu_cycles alone no model fits: 404 (Kepler falls back), and the reason model by model. */
    assert_null(s_ask(&k, models, NULL, "{\"metrics\":[\"cpu_cycles\"],\"output_type\":\"AbsComponentModelWeight\"}"));
    assert_int_equal(k.status, 404);
    assert_non_null(strstr(k.why, "core_model: needs cpu_instructions"));
    assert_non_null(strstr(k.why, "node_model: its target (platform) is not what the request asks for"));
    assert_string_equal(k.archive, "");
    /* A model that would suit but is still learning: 503, so that Kepler asks again. */
    s_request(&k, NULL,
              "{\"metrics\":[\"cpu_time\"],\"output_type\":\"AbsPower\",\"weight\":true,"
              "\"model_name\":\"gpu_model\"}");
    json_t *pending = kms_test_json("[{\"name\":\"p\",\"features\":[\"cpu_time\"],\"target\":\"core\",\"ready\":false,"
                                    "\"reason\":\"3 of 30 samples\",\"samples\":3,\"fit\":null,\"weights\":null}]");
    k.req.model_name[0] = '\0';
    assert_null(api_kepler_answer(pending, &k.req, k.archive, &k.status, k.why, sizeof k.why));
    assert_int_equal(k.status, 503);
    assert_non_null(strstr(k.why, "p: not ready (3 of 30 samples)"));
    json_decref(pending);
    /* A *Power request names the model whose zip is the answer. */
    assert_null(s_ask(&k, models, NULL,
                      "{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\"],"
                      "\"output_type\":\"AbsComponentPower\"}"));
    assert_int_equal(k.status, 200);
    assert_string_equal(k.archive, "core_model");
    /* No generation hands its predictor the memory level: a model on it is never served. */
    assert_null(s_ask(&k, models, NULL,
                      "{\"metrics\":[\"cache_miss\",\"cgroupfs_memory_usage_bytes\"],"
                      "\"output_type\":\"AbsComponentModelWeight\"}"));
    assert_int_equal(k.status, 404);
    assert_non_null(strstr(k.why, "dram_model: needs resident_memory, whose level no Kepler generation"));
    /* The filter applies: core's MAE of 0.8 fails "mae:0.5". */
    assert_null(s_ask(&k, models, NULL,
                      "{\"metrics\":[\"cpu_cycles\",\"cpu_instr\",\"cpu_time\"],\"model_name\":\"core_model\","
                      "\"output_type\":\"AbsComponentModelWeight\",\"filter\":\"mae:0.5\"}"));
    assert_non_null(strstr(k.why, "filter"));
    /* A dynamic archive is the absolute model's zip (docs/contract.md: *Power gets the zip). */
    assert_null(s_ask(&k, models, NULL, "{\"metrics\":[\"cpu_time\"],\"output_type\":\"DynPower\"}"));
    assert_string_equal(k.archive, "node_model");
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

static void test_metrics_show_fits_once_per_family_and_trainer_down_if_silent(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_models);
    json_t *list = json_pack("{s:O,s:{s:f,s:i,s:{s:i,s:i,s:i}}}", "models", models, "trainer", "uptime", 12.5,
                             "samples_received", 240, "held_back", "bounds", 5, "outlier", 7, "drift", 3);
    char *text = NULL;
    s_render_metrics(list, &text);
    assert_non_null(strstr(text, "kms_api_trainer_up 1\n"));
    assert_non_null(strstr(text, "kms_model_weight{model=\"core_model\",feature=\"cpu_instructions\"} -1\n"));
    /* The served documents' form: mean 0, variance the scale squared. */
    assert_non_null(strstr(text, "kms_model_feature_variance{model=\"dram_model\",feature=\"cache_misses\"} 100\n"));
    assert_non_null(strstr(text, "kms_model_feature_mean{model=\"dram_model\",feature=\"cache_misses\"} 0\n"));
    assert_non_null(strstr(text, "kms_model_category_weight{model=\"core_model\",feature=\"cpu_architecture\","
                                 "category=\"x86\"} 0.5\n"));
    assert_non_null(strstr(text, "kms_model_ready{model=\"gpu_model\"} 0\n"));
    /* 80 at the mean usage (0.5 cpu-seconds) is 71 at zero usage. */
    assert_non_null(strstr(text, "kms_model_bias_watts{model=\"node_model\"} 71\n"));
    assert_non_null(strstr(text, "kms_model_r2{model=\"core_model\",window=\"all\"} 0.9\n"));
    assert_non_null(strstr(text, "kms_trainer_samples_received_total 240\n"));
    assert_non_null(strstr(text, "kms_model_mape_ratio{model=\"core_model\",window=\"recent\"} 0.125\n"));
    assert_non_null(strstr(text, "kms_model_drift{model=\"core_model\"} 1\n"));
    assert_non_null(strstr(text, "kms_model_samples_held_back_total{model=\"core_model\",reason=\"outlier\"} 7\n"));
    assert_non_null(strstr(text, "kms_model_drifts_total{model=\"core_model\"} 1\n"));
    assert_non_null(strstr(text, "kms_trainer_samples_held_back_total{reason=\"bounds\"} 5\n"));
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

static void test_status_page_escapes_names_and_says_when_the_trainer_is_silent(void **state)
{
    (void) state;
    json_t *models = kms_test_json(s_models);
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
    assert_non_null(strstr(text, "<td>MAPE</td><td>0.02</td><td>0.125</td>"));
    assert_non_null(strstr(text, "DRIFT: the recent error is far from the long-run one"));
    assert_non_null(strstr(text, "held back: 7 outliers, 3 in a drift"));
    free(text);
    json_decref(list);
    json_decref(models);

    out = open_memstream(&text, &len);
    api_page_write(NULL, ">tcp://trainer:5556", 1.8e9, out);
    fclose(out);
    assert_non_null(strstr(text, "&gt;tcp://trainer:5556</code> is not answering"));
    free(text);
}

/* Every candidate family's recent error on /metrics and the status page, the served one marked,
   and their curves drawn. */
static void test_families_on_metrics_and_page(void **state)
{
    (void) state;
    json_t *list = json_pack("{s:o,s:{}}", "models", kms_test_json(s_curve_models), "trainer");
    char *text = NULL;
    s_render_metrics(list, &text);
    assert_non_null(strstr(text, "# TYPE kms_model_family_rmse_watts gauge\n"));
    assert_non_null(
        strstr(text, "kms_model_family_rmse_watts{model=\"cpu_time_platform_model\",family=\"linear\"} 6\n"));
    assert_non_null(
        strstr(text, "kms_model_family_rmse_watts{model=\"cpu_time_platform_model\",family=\"logarithmic\"} 1\n"));
    assert_non_null(
        strstr(text, "kms_model_family_served{model=\"cpu_time_platform_model\",family=\"logarithmic\"} 1\n"));
    assert_non_null(strstr(text, "kms_model_family_served{model=\"cpu_time_platform_model\",family=\"logistic\"} 0\n"));
    assert_null(strstr(text, "kms_model_family_served{model=\"platform_model\""));
    free(text);
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    api_page_write(list, ">tcp://127.0.0.1:5556", 1.8e9, out);
    fclose(out);
    assert_non_null(
        strstr(text, "<tr class=\"served\"><td><b>logarithmic</b></td><td>1</td><td>480</td><td>SERVED</td></tr>"));
    assert_non_null(strstr(text, "<td>exponential</td><td>3</td>"));
    assert_non_null(strstr(text, "<svg class=\"chart families\" data-model=\"cpu_time_platform_model\""));
    assert_non_null(
        strstr(text, "<polyline class=\"logarithmic\" fill=\"none\" stroke=\"var(--r2)\" stroke-width=\"2\"  points="));
    assert_non_null(strstr(
        text, "<polyline class=\"linear\" fill=\"none\" stroke=\"#6b7280\" stroke-width=\"2\" stroke-dasharray"));
    assert_null(strstr(text, "chart families\" data-model=\"platform_model\"")); /* several features: linear only */
    free(text);
    json_decref(list);
}

static void test_request_stats_count_codes_and_bucket_trainer_latency(void **state)
{
    (void) state;
    static api_stats_t stats;
    api_stats_init(&stats);
    api_stats_request(&stats, API_ROUTE_WEIGHTS, 200);
    api_stats_request(&stats, API_ROUTE_WEIGHTS, 200);
    api_stats_request(&stats, API_ROUTE_OTHER, 404);
    api_stats_request(&stats, API_ROUTE_OTHER, 99); /* not a status: ignored */
    api_stats_trainer_latency(&stats, 0.0002);
    api_stats_trainer_latency(&stats, 7.0); /* beyond the last bucket */
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
                 strcmp(family->unit, "W") == 0   ? "_watts"
                 : strcmp(family->unit, "s") == 0 ? "_seconds"
                                                  : "",
                 family->type == API_COUNTER ? "_total" : "");
        assert_string_equal(family->prom, expected);
    }
    assert_int_equal(exported, 19);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kepler_metric_aliases_map_to_canonical_names_and_units),
        cmocka_unit_test(test_families_translate_between_otlp_and_prometheus),
        cmocka_unit_test(test_requests_are_read_by_generation_and_malformed_ones_refused),
        cmocka_unit_test(test_kepler_versions_parse_to_their_eras_and_others_are_refused),
        cmocka_unit_test(test_component_answer_in_each_generations_units),
        cmocka_unit_test(test_machine_spec_picks_the_machine),
        cmocka_unit_test(test_platform_component_with_acpi_source),
        cmocka_unit_test(test_curve_answers_where_kepler_reads_them),
        cmocka_unit_test(test_dynamic_weights_predict_zero_at_idle),
        cmocka_unit_test(test_single_and_archive_choices),
        cmocka_unit_test(test_metrics_show_fits_once_per_family_and_trainer_down_if_silent),
        cmocka_unit_test(test_status_page_escapes_names_and_says_when_the_trainer_is_silent),
        cmocka_unit_test(test_families_on_metrics_and_page),
        cmocka_unit_test(test_request_stats_count_codes_and_bucket_trainer_latency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
