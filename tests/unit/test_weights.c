#include "kms_test_weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static kms_weights_t s_example(void)
{
    kms_weights_t w;
    memset(&w, 0, sizeof w);
    strcpy(w.model_name, "core_model");
    w.bias = 12.5;
    w.numeric_count = 2;
    w.numeric[0] = (kms_weight_numeric_t){"cpu_cycles", 6.3e8, 3.25};
    w.numeric[1] = (kms_weight_numeric_t){"cpu_time", 0.5, 0.1};
    w.category_count = 2;
    w.category[0] = (kms_weight_category_t){"Sandy Bridge", -0.75};
    w.category[1] = (kms_weight_category_t){"unknown", 0.5};
    return w;
}

static const kms_weight_numeric_t *s_numeric(const kms_weights_t *w, const char *name)
{
    for (size_t i = 0; i < w->numeric_count; i++)
        if (strcmp(w->numeric[i].name, name) == 0)
            return &w->numeric[i];
    return NULL;
}

/* The document `text` (which must be JSON) read into *w: kms_weights_from_json's verdict. */
static int s_read(kms_weights_t *w, const char *text)
{
    json_t *doc = kms_test_json(text);
    int rc = kms_weights_from_json(doc, w);
    json_decref(doc);
    return rc;
}

/* Written, dumped as text, read back: every number identical, names as written. */
static void test_round_trip_through_text(void **state)
{
    (void) state;
    kms_weights_t w = s_example(), back;
    w.numeric[0].scale = 0.1 + 0.2; /* needs all 17 digits */
    kms_test_weights_through_text(&w, &back);
    assert_string_equal(back.model_name, "core_model");
    assert_true(back.bias == w.bias);
    assert_int_equal(back.numeric_count, 2);
    for (size_t i = 0; i < w.numeric_count; i++) {
        const kms_weight_numeric_t *n = s_numeric(&back, w.numeric[i].name);
        assert_non_null(n);
        assert_true(n->scale == w.numeric[i].scale);
        assert_true(n->weight == w.numeric[i].weight);
    }
    assert_int_equal(back.category_count, 2);
}

/* jansson writes 17 significant digits by default (JSON_REAL_PRECISION not given), so every
   double reads back bit for bit: extremes, subnormals and negative zero included. */
static void test_every_double_reads_back_exactly(void **state)
{
    (void) state;
    /* clang-format off */
    const double special[] = {0.1, 1.0 / 3, -0.0, 4.9e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                              -1.7976931348623157e308, 123456789012345678.0, 1e-3, 1e12};
    /* clang-format on */
    srand(7);
    for (int round = 0; round < 2000; round++) {
        kms_weights_t w = s_example(), back;
        double v[5];
        for (int k = 0; k < 5; k++)
            v[k] = round < 10 ? special[(round + k) % 10]
                              : (rand() / (double) RAND_MAX - 0.5) * pow(10, rand() % 600 - 300);
        w.bias = v[0], w.numeric[0].weight = v[1], w.numeric[1].weight = v[2], w.category[0].weight = v[3];
        /* A scale whose square is a finite positive variance (both of Kepler's formulas). */
        double scale = fabs(v[4]);
        w.numeric[0].scale = scale > 1e-150 && scale < 1e150 ? scale : 1;
        kms_test_weights_through_text(&w, &back);
        assert_memory_equal(&back.bias, &w.bias, sizeof(double));
        assert_memory_equal(&s_numeric(&back, "cpu_cycles")->weight, &w.numeric[0].weight, sizeof(double));
        assert_memory_equal(&s_numeric(&back, "cpu_cycles")->scale, &w.numeric[0].scale, sizeof(double));
        assert_memory_equal(&s_numeric(&back, "cpu_time")->weight, &w.numeric[1].weight, sizeof(double));
        assert_memory_equal(&back.category[0].weight, &w.category[0].weight, sizeof(double));
    }
}

/* The document's shape is the contract's, key for key: mean 0 and variance = scale^2, so that
   Kepler 0.4's (x - mean) / sqrt(variance) and 0.6's x / scale are the same number. */
static void test_the_document_has_the_contracts_keys_with_variance_scale_squared(void **state)
{
    (void) state;
    kms_weights_t w = s_example();
    json_t *doc = kms_weights_to_json(&w, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "model_name")), "core_model");
    json_t *all = json_object_get(doc, "All_Weights");
    assert_true(json_real_value(json_object_get(all, "Bias_Weight")) == 12.5);
    json_t *arch = json_object_get(json_object_get(json_object_get(all, "Categorical_Variables"), "cpu_architecture"),
                                   "Sandy Bridge");
    assert_true(json_real_value(json_object_get(arch, "weight")) == -0.75);
    json_t *cycles = json_object_get(json_object_get(all, "Numerical_Variables"), "cpu_cycles");
    assert_true(json_real_value(json_object_get(cycles, "mean")) == 0);
    assert_true(json_real_value(json_object_get(cycles, "variance")) == 6.3e8 * 6.3e8);
    assert_true(sqrt(json_real_value(json_object_get(cycles, "variance"))) == 6.3e8);
    assert_true(json_real_value(json_object_get(cycles, "scale")) == 6.3e8);
    assert_true(json_real_value(json_object_get(cycles, "weight")) == 3.25);
    json_decref(doc);
}

static void test_renames_numeric_features(void **state)
{
    (void) state;
    kms_weights_t w = s_example();
    const char *names[] = {"cpu_instr", NULL}; /* NULL keeps the canonical name */
    json_t *doc = kms_weights_to_json(&w, names);
    assert_non_null(doc);
    json_t *numeric = json_object_get(json_object_get(doc, "All_Weights"), "Numerical_Variables");
    assert_non_null(json_object_get(numeric, "cpu_instr"));
    assert_non_null(json_object_get(numeric, "cpu_time"));
    assert_null(json_object_get(numeric, "cpu_cycles"));
    json_decref(doc);
    const char *clash[] = {"cpu_time", "cpu_time"};
    assert_null(kms_weights_to_json(&w, clash));
}

static void test_refuses_what_kepler_cannot_use(void **state)
{
    (void) state;
    double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        kms_weights_t w = s_example();
        w.bias = bad[i];
        assert_null(kms_weights_to_json(&w, NULL));
        w = s_example();
        w.numeric[1].scale = bad[i];
        assert_null(kms_weights_to_json(&w, NULL));
        w = s_example();
        w.numeric[0].weight = bad[i];
        assert_null(kms_weights_to_json(&w, NULL));
        w = s_example();
        w.category[1].weight = bad[i];
        assert_null(kms_weights_to_json(&w, NULL));
    }
    kms_weights_t w = s_example();
    w.numeric[0].scale = 0;
    assert_null(kms_weights_to_json(&w, NULL));
    w.numeric[0].scale = -1;
    assert_null(kms_weights_to_json(&w, NULL));
    w.numeric[0].scale = 1e200; /* its square, the variance, is not finite */
    assert_null(kms_weights_to_json(&w, NULL));
    w.numeric[0].scale = 1e-200; /* its square is 0 */
    assert_null(kms_weights_to_json(&w, NULL));
    w = s_example();
    strcpy(w.category[1].name, w.category[0].name);
    assert_null(kms_weights_to_json(&w, NULL));
}

/* Documents written by others: integers for reals, no categories, Kepler's 2022 server output. */
static void test_reads_other_writers(void **state)
{
    (void) state;
    kms_weights_t w;
    assert_int_equal(s_read(&w, "{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":"
                                "{\"cpu_cycles\":{\"mean\":0,\"variance\":1,\"weight\":2}}}}"),
                     0);
    assert_true(w.bias == 3);
    assert_int_equal(w.category_count, 0);
    assert_string_equal(w.model_name, "");
    assert_int_equal(s_read(&w, "{\"All_Weights\":{\"Bias_Weight\":1.0,\"Categorical_Variables\":{\"cpu_architecture\":"
                                "{\"Sandy Bridge\":{\"weight\":1.0}}},\"Numerical_Variables\":{\"cpu_cycles\":"
                                "{\"mean\":0,\"variance\":1.0,\"weight\":1.0}}},\"model_name\":\"core_model\"}"),
                     0);
    assert_string_equal(w.category[0].name, "Sandy Bridge");
    assert_string_equal(w.model_name, "core_model");
    /* The 2022 server's form, a mean and a variance: the same model with the mean in the bias. */
    assert_int_equal(s_read(&w, "{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":"
                                "{\"cpu_cycles\":{\"mean\":10,\"variance\":4,\"weight\":2}}}}"),
                     0);
    assert_true(w.bias == 3 - 2 * 10 / 2.0);
    assert_true(w.numeric[0].scale == 2 && w.numeric[0].weight == 2);
    /* Kepler 0.6+'s form, a scale alone. */
    assert_int_equal(s_read(&w, "{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":"
                                "{\"bpf_cpu_time_ms\":{\"scale\":250,\"weight\":7}}}}"),
                     0);
    assert_true(w.bias == 3 && w.numeric[0].scale == 250 && w.numeric[0].weight == 7);
}

static void test_rejects_malformed_documents(void **state)
{
    (void) state;
    const char *bad[] = {
        "[]",
        "{}",
        "{\"All_Weights\":[]}",
        "{\"All_Weights\":{\"Numerical_Variables\":{}}}",
        "{\"All_Weights\":{\"Bias_Weight\":\"1\",\"Numerical_Variables\":{}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":[]}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":1}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"mean\":0,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"mean\":0,\"variance\":0,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"mean\":0,\"variance\":-2,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"mean\":null,\"variance\":1,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"\":{\"mean\":0,\"variance\":1,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{},\"Categorical_Variables\":[]}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{},\"Categorical_Variables\":{\"cpu_architecture\":{\"a\":{}}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{},\"Categorical_Variables\":{\"cpu_architecture\":{\"a\":{\"weight\":true}}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{}},\"model_name\":7}",
        /* Two readings that differ: 0.4 would subtract the mean, 0.6 would not; a variance that is
           not the scale squared. */
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"mean\":1,\"variance\":4,\"scale\":2,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"mean\":0,\"variance\":5,\"scale\":2,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"scale\":0,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"scale\":-3,\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"x\":{\"scale\":\"2\",\"weight\":1}}}}",
        "{\"All_Weights\":{\"Bias_Weight\":1e308,\"Numerical_Variables\":{\"x\":{\"mean\":-1e308,\"variance\":1e-300,\"weight\":1e10}}}}",
    };
    kms_weights_t w;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(s_read(&w, bad[i]), -1);
    assert_int_equal(kms_weights_from_json(NULL, &w), -1);
    /* A name longer than the buffer, and more features than a model may have. */
    char text[8192];
    int len = snprintf(text, sizeof text,
                       "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{\"%0100d\":"
                       "{\"mean\":0,\"variance\":1,\"weight\":1}}}}",
                       0);
    assert_true(len > 0 && (size_t) len < sizeof text);
    assert_int_equal(s_read(&w, text), -1);
    /* A model name that fills the buffer is read; one byte more is refused, not cut. */
    for (int n = KMS_NAME_MAX - 1; n <= KMS_NAME_MAX; n++) {
        len = snprintf(text, sizeof text,
                       "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{}},\"model_name\":\"%0*d\"}", n,
                       0);
        assert_true(len > 0 && (size_t) len < sizeof text);
        assert_int_equal(s_read(&w, text), n < KMS_NAME_MAX ? 0 : -1);
    }
    /* A key with a NUL inside would read as a shorter name, and two such keys as one. */
    json_t *entry = json_pack("{s:f,s:f,s:f}", "mean", 0.0, "variance", 1.0, "weight", 1.0);
    json_t *numeric = json_object();
    json_object_setn_new(numeric, "cpu\0x", 5, entry);
    json_t *doc = json_pack("{s:{s:f,s:o}}", "All_Weights", "Bias_Weight", 1.0, "Numerical_Variables", numeric);
    assert_int_equal(kms_weights_from_json(doc, &w), -1);
    json_decref(doc);
    numeric = json_object();
    for (int i = 0; i < KMS_SAMPLE_MAX_VALUES + 1; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        json_object_set_new(numeric, name, json_pack("{s:f,s:f,s:f}", "mean", 0.0, "variance", 1.0, "weight", 1.0));
    }
    doc = json_pack("{s:{s:f,s:o}}", "All_Weights", "Bias_Weight", 1.0, "Numerical_Variables", numeric);
    assert_int_equal(kms_weights_from_json(doc, &w), -1);
    json_decref(doc);
}

/* The contract's formula, by hand: bias + w[arch] + sum w_i x_i / scale_i. */
static void test_predict_is_the_contract_formula(void **state)
{
    (void) state;
    kms_weights_t w = s_example();
    kms_sample_t s;
    memset(&s, 0, sizeof s);
    strcpy(s.arch, "Sandy Bridge");
    kms_values_set(&s.features, "cpu_cycles", 3.1e9);
    kms_values_set(&s.features, "cpu_time", 2.0);
    kms_values_set(&s.features, "cache_misses", 1e6); /* not in the model: ignored */
    double expect = 12.5 - 0.75 + 3.25 * 3.1e9 / 6.3e8 + 0.1 * 2.0 / 0.5;
    assert_true(fabs(kms_weights_predict(&w, &s) - expect) <= 1e-12 * fabs(expect));
    /* An empty architecture is "unknown"; one never seen adds nothing. */
    s.arch[0] = '\0';
    expect += 0.75 + 0.5;
    assert_true(fabs(kms_weights_predict(&w, &s) - expect) <= 1e-12 * fabs(expect));
    strcpy(s.arch, "Zen 4");
    expect -= 0.5;
    assert_true(fabs(kms_weights_predict(&w, &s) - expect) <= 1e-12 * fabs(expect));
    /* A feature the sample lacks counts as 0. */
    memset(&s.features, 0, sizeof s.features);
    kms_values_set(&s.features, "cpu_time", 0.0);
    assert_true(kms_weights_predict(&w, &s) == 12.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_through_text),
        cmocka_unit_test(test_every_double_reads_back_exactly),
        cmocka_unit_test(test_the_document_has_the_contracts_keys_with_variance_scale_squared),
        cmocka_unit_test(test_renames_numeric_features),
        cmocka_unit_test(test_refuses_what_kepler_cannot_use),
        cmocka_unit_test(test_reads_other_writers),
        cmocka_unit_test(test_rejects_malformed_documents),
        cmocka_unit_test(test_predict_is_the_contract_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
