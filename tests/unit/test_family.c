#include "kms_test.h"

#include "kms_family.h"
#include "kms_model.h"

#include <math.h>
#include <string.h>

/* A small deterministic generator (xorshift), uniform in [0, 1). */
static double s_uniform(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (double) (*state >> 11) / 9007199254740992.0;
}

/* Busy cores in [0, 8]: a VM's cpu time. */
static double s_usage(uint64_t *rng)
{
    return 8 * s_uniform(rng);
}

static double s_log_truth(double x)
{
    return 40 + 25 * log(1 + 2 * x);
}

static kms_family_t *s_trained(double (*truth)(double), double noise, size_t n, double xs[], double ys[])
{
    kms_family_t *family = kms_family_new(1);
    assert_non_null(family);
    uint64_t rng = 42;
    for (size_t i = 0; i < n; i++) {
        double x = s_usage(&rng), y = truth(x) * (1 + noise * (s_uniform(&rng) - 0.5));
        if (xs) {
            xs[i] = x;
            ys[i] = y;
        }
        kms_family_learn(family, x, y);
    }
    return family;
}

/* Each family's model is an exact least-squares fit on its transform: equal to the batch fit
   of the same samples at the same grid point, to rounding. */
static void test_fit_is_the_batch_least_squares_fit(void **state)
{
    (void) state;
    enum { N = 3000 };
    static double xs[N], ys[N];
    kms_family_t *family = s_trained(s_log_truth, 0.02, N, xs, ys);
    assert_int_equal(kms_family_samples(family), N);
    for (int k = KMS_FAMILY_LOGARITHMIC; k < KMS_FAMILY_COUNT; k++) {
        kms_family_fit_t fit;
        assert_int_equal(kms_family_fit(family, (kms_family_kind_t) k, &fit), 0);
        /* Batch: two passes, the transform with the fit's own inner parameters. */
        kms_family_fit_t unit = fit;
        unit.params[0] = 1;
        unit.params[unit.param_count - 1] = 0;
        double mg = 0, my = 0, sgg = 0, sgy = 0;
        for (size_t i = 0; i < N; i++) {
            mg += kms_family_fit_eval(&unit, xs[i]) / N;
            my += ys[i] / N;
        }
        for (size_t i = 0; i < N; i++) {
            double g = kms_family_fit_eval(&unit, xs[i]) - mg;
            sgg += g * g;
            sgy += g * (ys[i] - my);
        }
        double slope = sgy / sgg, intercept = my - slope * mg;
        assert_true(fabs(fit.params[0] - slope) <= 1e-9 * fabs(slope));
        assert_true(fabs(fit.params[fit.param_count - 1] - intercept) <= 1e-9 * (fabs(intercept) + fabs(slope)));
    }
    kms_family_destroy(&family);
    assert_null(family);
}

/* On a logarithmic truth the logarithmic family wins by far, and is served; its curve is the
   truth to within the noise. */
static void test_curved_truth_serves_the_curve(void **state)
{
    (void) state;
    kms_family_t *family = s_trained(s_log_truth, 0.02, 5000, NULL, NULL);
    kms_family_candidate_t linear, log;
    kms_family_candidate(family, KMS_FAMILY_LINEAR, &linear);
    kms_family_candidate(family, KMS_FAMILY_LOGARITHMIC, &log);
    assert_true(log.recent_rmse < linear.recent_rmse / 3);
    assert_int_equal(kms_family_served(family), KMS_FAMILY_LOGARITHMIC);
    assert_true(log.served && !linear.served);
    kms_family_fit_t fit;
    assert_int_equal(kms_family_fit(family, KMS_FAMILY_LOGARITHMIC, &fit), 0);
    assert_int_equal(fit.param_count, 3);
    for (double x = 0.25; x <= 8; x += 0.25)
        assert_true(fabs(kms_family_fit_eval(&fit, x) - s_log_truth(x)) < 0.03 * s_log_truth(x));
    kms_family_destroy(&family);
}

static double s_linear_truth(double x)
{
    return 30 + 12 * x;
}

/* On a straight truth no curve beats linear by the margin: linear is served from the first
   sample to the last, never flapping. */
static void test_linear_truth_keeps_linear(void **state)
{
    (void) state;
    kms_family_t *family = kms_family_new(1);
    uint64_t rng = 7;
    for (int i = 0; i < 5000; i++) {
        double x = s_usage(&rng);
        kms_family_learn(family, x, s_linear_truth(x) * (1 + 0.05 * (s_uniform(&rng) - 0.5)));
        assert_int_equal(kms_family_served(family), KMS_FAMILY_LINEAR);
    }
    kms_family_candidate_t c;
    kms_family_candidate(family, KMS_FAMILY_LINEAR, &c);
    assert_true(c.scored > 4000 && c.served && isfinite(c.recent_rmse));
    kms_family_destroy(&family);
}

/* A straight truth seen through one feature, as a VM model sees a node: a drifting quantity
   the feature does not explain (the clock frequency) adds slow, correlated error, so that any
   family can look better for a while. No curve is served, ever. */
static void test_drifting_linear_truth_never_flaps(void **state)
{
    (void) state;
    kms_family_t *family = kms_family_new(1);
    uint64_t rng = 11;
    double x = 4, drift = 0;
    for (int i = 0; i < 20000; i++) {
        x = fmin(8, fmax(0.5, x + (s_uniform(&rng) - 0.5)));
        if (s_uniform(&rng) < 0.02)
            x = 0.5 + 7.5 * s_uniform(&rng);
        drift = fmin(1, fmax(-1, drift + 0.1 * (s_uniform(&rng) - 0.5)));
        double y = s_linear_truth(x) + 3 * x * drift;
        kms_family_learn(family, x, y * (1 + 0.02 * (s_uniform(&rng) - 0.5)));
        assert_int_equal(kms_family_served(family), KMS_FAMILY_LINEAR);
    }
    kms_family_destroy(&family);
}

/* A served curve that no longer leads linear by KMS_FAMILY_HOLD gives way to linear: here the
   usage narrows to where the bend cannot be seen, so both tie on the noise. */
static void test_lost_lead_goes_back_to_linear(void **state)
{
    (void) state;
    kms_family_t *family = s_trained(s_log_truth, 0.02, 2000, NULL, NULL);
    assert_int_equal(kms_family_served(family), KMS_FAMILY_LOGARITHMIC);
    uint64_t rng = 5;
    int i = 0;
    for (; i < 5000 && kms_family_served(family) != KMS_FAMILY_LINEAR; i++) {
        double x = 7.9 + 0.1 * s_uniform(&rng);
        kms_family_learn(family, x, s_log_truth(x) * (1 + 0.2 * (s_uniform(&rng) - 0.5)));
    }
    assert_int_equal(kms_family_served(family), KMS_FAMILY_LINEAR);
    assert_true(i > 100); /* not at once: the recent error takes its span to tell */
    kms_family_destroy(&family);
}

static char *s_dump(const kms_family_t *family)
{
    json_t *doc = kms_family_save(family);
    assert_non_null(doc);
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(doc);
    return text;
}

/* Saved mid-warm-up and after it, loaded from text, it continues bit for bit. */
static void test_state_round_trips_bit_for_bit(void **state)
{
    (void) state;
    for (size_t n = 5; n <= 500; n += 495) {
        kms_family_t *a = s_trained(s_log_truth, 0.02, n, NULL, NULL);
        char *text = s_dump(a);
        json_t *doc = json_loads(text, 0, NULL);
        const char *why = NULL;
        kms_family_t *b = kms_family_load(doc, 1, &why);
        json_decref(doc);
        free(text);
        assert_non_null(b);
        uint64_t rng = 99;
        for (int i = 0; i < 300; i++) {
            double x = s_usage(&rng), y = s_log_truth(x);
            kms_family_learn(a, x, y);
            kms_family_learn(b, x, y);
        }
        char *ta = s_dump(a), *tb = s_dump(b);
        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
        kms_family_destroy(&a);
        kms_family_destroy(&b);
    }
}

/* A state saved before the score over every sample was kept (7-field points) loads, each
   point's recent score standing in for it, and serves what it served. */
static void test_an_older_state_loads_and_serves_what_it_served(void **state)
{
    (void) state;
    kms_family_t *a = s_trained(s_log_truth, 0.02, 2000, NULL, NULL);
    json_t *doc = kms_family_save(a);
    size_t i;
    json_t *point;
    json_array_foreach(json_object_get(doc, "points"), i, point)
        assert_int_equal(json_array_remove(point, 7), 0);
    const char *why = NULL;
    kms_family_t *b = kms_family_load(doc, 1, &why);
    assert_non_null(b);
    assert_int_equal(kms_family_served(b), KMS_FAMILY_LOGARITHMIC);
    kms_family_learn(b, 4, s_log_truth(4));
    assert_int_equal(kms_family_served(b), KMS_FAMILY_LOGARITHMIC);
    json_array_append_new(json_array_get(json_object_get(doc, "points"), 0), json_null());
    kms_family_t *c = kms_family_load(doc, 1, &why); /* a stopped score beside a running one */
    assert_null(c);
    json_decref(doc);
    kms_family_destroy(&a);
    kms_family_destroy(&b);
}

static void test_bad_states_are_refused(void **state)
{
    (void) state;
    kms_family_t *good = s_trained(s_log_truth, 0.02, 100, NULL, NULL);
    json_t *saved = kms_family_save(good);
    const char *edits[] = {"{\"scale\": -1}",   "{\"served\": \"cubic\"}", "{\"points\": []}",
                           "{\"samples\": -3}", "{\"warmup\": [[1, 2]]}",  "{\"scale\": \"big\"}"};
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        json_t *doc = json_deep_copy(saved), *edit = json_loads(edits[e], 0, NULL);
        json_object_update(doc, edit);
        const char *why = NULL;
        assert_null(kms_family_load(doc, 1, &why));
        assert_non_null(why);
        json_decref(edit);
        json_decref(doc);
    }
    /* A point with a negative variance. */
    json_t *doc = json_deep_copy(saved);
    json_array_set_new(json_array_get(json_object_get(doc, "points"), 3), 3, json_real(-1));
    assert_null(kms_family_load(doc, 1, NULL));
    json_decref(doc);
    assert_null(kms_family_load(json_null(), 1, NULL));
    json_decref(saved);
    kms_family_destroy(&good);
}

/* Usage far beyond what fixed the scale: the exponentials that overflow stop, nothing becomes
   NaN, and a fit is still served. */
static void test_wild_usage_stops_overflowing_points_only(void **state)
{
    (void) state;
    kms_family_t *family = s_trained(s_linear_truth, 0.02, 200, NULL, NULL);
    kms_family_learn(family, 1e6, s_linear_truth(1e6));
    for (int k = 0; k < KMS_FAMILY_COUNT; k++) {
        kms_family_fit_t fit;
        if (kms_family_fit(family, (kms_family_kind_t) k, &fit) == 0)
            for (size_t p = 0; p < fit.param_count; p++)
                assert_true(isfinite(fit.params[p]));
    }
    kms_family_fit_t fit;
    assert_int_equal(kms_family_fit(family, KMS_FAMILY_LINEAR, &fit), 0);
    assert_true(isfinite(kms_family_fit_eval(&fit, 4)));
    json_t *doc = kms_family_save(family);
    assert_non_null(doc); /* a stopped point saves too */
    kms_family_t *back = kms_family_load(doc, 1, NULL);
    assert_non_null(back);
    json_decref(doc);
    kms_family_destroy(&back);
    kms_family_destroy(&family);
}

static void test_families_map_to_keplers_trainer_names_and_back(void **state)
{
    (void) state;
    assert_string_equal(kms_family_trainer(KMS_FAMILY_LOGARITHMIC), "LogarithmicRegressionTrainer");
    assert_string_equal(kms_family_trainer(KMS_FAMILY_LOGISTIC), "LogisticRegressionTrainer");
    assert_string_equal(kms_family_trainer(KMS_FAMILY_EXPONENTIAL), "ExponentialRegressionTrainer");
    assert_string_equal(kms_family_trainer(KMS_FAMILY_LINEAR), "SGDRegressorTrainer");
    assert_int_equal(kms_family_parse("logistic"), KMS_FAMILY_LOGISTIC);
    assert_int_equal(kms_family_parse("ExponentialRegressionTrainer"), KMS_FAMILY_EXPONENTIAL);
    assert_int_equal(kms_family_parse("cubic"), -1);
    assert_null(kms_family_name(KMS_FAMILY_COUNT));
}

/* A one-feature model carries its families in its checkpoint; a checkpoint saved before them
   loads, its families starting afresh; a model of several features has none. */
static void test_model_checkpoint_carries_families(void **state)
{
    (void) state;
    kms_model_spec_t spec;
    assert_int_equal(kms_model_spec_builtin("cpu_time_platform_model", &spec), 0);
    kms_model_t *model = kms_model_new(&spec);
    uint64_t rng = 3;
    for (int i = 0; i < 2000; i++) {
        kms_sample_t s;
        memset(&s, 0, sizeof s);
        s.ts = i;
        double x = s_usage(&rng);
        kms_values_set(&s.features, KMS_F_CPU_TIME, x);
        kms_values_set(&s.targets, "platform", s_log_truth(x));
        assert_int_equal(kms_model_learn(model, &s, i), KMS_LEARN_OK);
    }
    assert_int_equal(kms_family_served(kms_model_family(model)), KMS_FAMILY_LOGARITHMIC);
    json_t *saved = kms_model_save(model);
    assert_non_null(json_object_get(saved, "families"));
    kms_model_t *back = kms_model_load(saved, NULL);
    assert_non_null(back);
    assert_int_equal(kms_family_served(kms_model_family(back)), KMS_FAMILY_LOGARITHMIC);
    kms_model_destroy(&back);
    json_object_del(saved, "families");
    back = kms_model_load(saved, NULL);
    assert_non_null(back);
    assert_int_equal(kms_family_samples(kms_model_family(back)), 0);
    assert_int_equal(kms_family_served(kms_model_family(back)), KMS_FAMILY_LINEAR);
    kms_model_destroy(&back);
    json_decref(saved);
    kms_model_destroy(&model);

    assert_int_equal(kms_model_spec_builtin("platform_model", &spec), 0);
    model = kms_model_new(&spec);
    assert_null(kms_model_family(model));
    kms_model_destroy(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_is_the_batch_least_squares_fit),
        cmocka_unit_test(test_curved_truth_serves_the_curve),
        cmocka_unit_test(test_linear_truth_keeps_linear),
        cmocka_unit_test(test_drifting_linear_truth_never_flaps),
        cmocka_unit_test(test_lost_lead_goes_back_to_linear),
        cmocka_unit_test(test_state_round_trips_bit_for_bit),
        cmocka_unit_test(test_an_older_state_loads_and_serves_what_it_served),
        cmocka_unit_test(test_bad_states_are_refused),
        cmocka_unit_test(test_wild_usage_stops_overflowing_points_only),
        cmocka_unit_test(test_families_map_to_keplers_trainer_names_and_back),
        cmocka_unit_test(test_model_checkpoint_carries_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
