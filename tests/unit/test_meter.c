/*  kms-meter's cores: /proc/stat, the energy counters, the zone models, the tree, the metrics. */
#include "kms_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kms_file.h"
#include "meter_energy.h"
#include "meter_fetch.h"
#include "meter_metrics.h"
#include "meter_model.h"
#include "meter_prior.h"
#include "meter_tree.h"
#include "meter_usage.h"

/* ---------------------------------------------------------------- /proc/stat */

static void test_the_proc_stat_cpu_line_gives_busy_and_total_ticks_in_any_form(void **state)
{
    (void) state;
    meter_cpu_ticks_t t;
    const char *text = "cpu  100 5 50 1000 20 3 2 7 40 0\ncpu0 50 2 25 500 10 1 1 3 20 0\nintr 1 2 3\n";
    assert_int_equal(meter_usage_parse_stat(text, strlen(text), &t), 0);
    assert_int_equal(t.busy, 100 + 5 + 50 + 3 + 2);
    assert_int_equal(t.total, t.busy + 1000 + 20 + 7);
    /* Old kernels have eight fields; the line need not end the text. */
    const char *old = "cpu 1 2 3 4 5 6 7 8";
    assert_int_equal(meter_usage_parse_stat(old, strlen(old), &t), 0);
    assert_int_equal(t.busy, 1 + 2 + 3 + 6 + 7);
    /* The aggregate line is found after others. */
    const char *later = "btime 5\ncpu  1 0 1 0 0 0 0 0\n";
    assert_int_equal(meter_usage_parse_stat(later, strlen(later), &t), 0);
    assert_int_equal(t.busy, 2);
}

static void test_a_malformed_proc_stat_cpu_line_is_refused_and_ticks_untouched(void **state)
{
    (void) state;
    meter_cpu_ticks_t t = {7, 7};
    const char *bad[] = {"",
                         "cpu0 1 2 3 4 5 6 7 8\n",
                         "cpu  1 2 3 4 5 6 7\n",
                         "cpu  1 2 3 x 5 6 7 8\n",
                         "cpu  1 2 3 4 5 6 7 8 9 10 11\n",
                         "cpu  -1 2 3 4 5 6 7 8\n",
                         "cpu  99999999999999999999 2 3 4 5 6 7 8\n",
                         "cpu 1 2 3 4 5 6 7 8 junk\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(meter_usage_parse_stat(bad[i], strlen(bad[i]), &t), -1);
    assert_int_equal(t.busy, 7); /* untouched */
}

static void test_cpu_time_is_busy_ticks_over_hz_and_refused_when_time_goes_back(void **state)
{
    (void) state;
    meter_cpu_ticks_t a = {1000, 5000}, b = {1150, 5200};
    double x;
    assert_int_equal(meter_usage_cpu_time(&a, &b, 100, 1.0, &x), 0);
    assert_true(fabs(x - 1.5) < 1e-12);
    assert_int_equal(meter_usage_cpu_time(&b, &a, 100, 1.0, &x), -1); /* went back */
    assert_int_equal(meter_usage_cpu_time(&a, &b, 100, 0, &x), -1);
    assert_int_equal(meter_usage_cpu_time(&a, &b, 100, NAN, &x), -1);
}

static void test_cpus_are_counted_from_the_per_cpu_lines_of_proc_stat(void **state)
{
    (void) state;
    const char *text = "cpu  40 0 20 400 0 0 0 0 0 0\ncpu0 10 0 5 100 0 0 0 0 0 0\ncpu1 10 0 5 100 0 0 0 0 0 0\n"
                       "cpu2 10 0 5 100 0 0 0 0 0 0\ncpu3 10 0 5 100 0 0 0 0 0 0\nintr 1 2 3\nctxt 9\n";
    assert_int_equal(meter_usage_count_cpus(text, strlen(text)), 4);
    const char *none = "cpu  1 2 3 4 5 6 7 8\nintr 1\n";
    assert_int_equal(meter_usage_count_cpus(none, strlen(none)), 0);
}

/* Busy time past the cpus' capacity in one interval (a tick counted early) is carried into the
   next, none lost; past one interval of every cpu it is a broken /proc/stat: dropped. */
static void test_utilization_carries_then_drops(void **state)
{
    (void) state;
    double carry = 0, u;
    assert_true(meter_usage_utilization(0.5, 1, 2, &carry, &u) == 0 && u == 0.25 && carry == 0);
    assert_true(meter_usage_utilization(2.5, 1, 2, &carry, &u) == 0 && u == 1 && carry == 0.5);
    assert_true(meter_usage_utilization(0.5, 1, 2, &carry, &u) == 0 && u == 0.5 && carry == 0);
    /* 62 cpu-seconds in a second on 2 cpus: 2 used, 2 carried, 58 dropped. */
    assert_true(meter_usage_utilization(62, 1, 2, &carry, &u) == 58 && u == 1 && carry == 2);
}

/* ---------------------------------------------------------------- energy */

static void test_counter_is_exact_and_wraps(void **state)
{
    (void) state;
    meter_counter_t c;
    meter_counter_init(&c, 0, 1000000); /* 1 J */
    double counted;
    /* 0.3 W for 1 s, 10 times: 3 J, 3 wraps, the counter at exactly 0 again. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(meter_counter_add(&c, 0.3, 1.0, 1.0, 1000, &counted), METER_WATTS_OK);
    assert_true(c.energy_uj == 0 || c.energy_uj == 999999); /* 3e6 in doubles: to the microjoule */
    assert_true(fabs(c.total_j - 3.0) < 1e-9);
    /* 1 uW for 0.5 s a million times: half a joule, made of fractions of a microjoule. */
    meter_counter_init(&c, 0, 262143328850ull);
    for (int i = 0; i < 1000000; i++)
        meter_counter_add(&c, 1e-6, 0.5, 0.5, 1000, NULL);
    assert_true(c.energy_uj >= 499999 && c.energy_uj <= 500000);
    /* A restart continues from the tree's value, reduced to the range. */
    meter_counter_init(&c, 2500000, 1000000);
    assert_int_equal(c.energy_uj, 500000);
    meter_counter_add(&c, 0.75, 1.0, 1.0, 1000, NULL);
    assert_int_equal(c.energy_uj, 250000);
}

static void test_counter_never_counts_negative_or_absurd_watts(void **state)
{
    (void) state;
    meter_counter_t c;
    meter_counter_init(&c, 100, 1000000000);
    double counted = -1;
    assert_int_equal(meter_counter_add(&c, -5, 1.0, 1.0, 300, &counted), METER_WATTS_NEGATIVE);
    assert_true(counted == 0);
    assert_int_equal(c.energy_uj, 100);
    assert_int_equal(meter_counter_add(&c, 1e9, 1.0, 1.0, 300, &counted), METER_WATTS_ABSURD);
    assert_true(counted == 300);
    assert_int_equal(c.energy_uj, 100 + 300000000);
    assert_int_equal(meter_counter_add(&c, NAN, 1.0, 1.0, 300, &counted), METER_WATTS_ABSURD);
    assert_int_equal(meter_counter_add(&c, INFINITY, 1.0, 1.0, 300, &counted), METER_WATTS_ABSURD);
    assert_true(counted == 300);
    uint64_t before = c.energy_uj;
    assert_int_equal(meter_counter_add(&c, 10, NAN, NAN, 300, NULL), METER_WATTS_OK);
    assert_int_equal(meter_counter_add(&c, 10, -1, -1, 300, NULL), METER_WATTS_OK);
    assert_int_equal(c.energy_uj, before);
    /* A pause of a year at the cap: the counter stays in range. */
    meter_counter_add(&c, 300, 3.15e7, 3.15e7, 300, NULL);
    assert_true(c.energy_uj < c.max_uj);
}

/* A gap in usage: each interval of it is written as a guess at the last known watts, then the
   usage known after it replaces the guesses, and what is owed is written at no more than
   max_watts, so that no read of the counter sees more than max_watts since the last. */
static void test_counter_guesses_a_gap_and_paces_the_catch_up(void **state)
{
    (void) state;
    meter_counter_t c;
    meter_counter_init(&c, 0, 30000000); /* 30 J: 3 s at --max-watts 10 */
    meter_counter_add(&c, 4, 1, 1, 10, NULL);
    /* Five intervals unknown, guessed at 4 W: the counter goes on. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(meter_counter_guess(&c, 4, 1, 10), METER_WATTS_OK);
    assert_true(fabs(c.total_j - 24) < 1e-9);
    /* Known now: 8 W over the six seconds (48 J, 20 J guessed): 28 J owed, 10 J a second at most. */
    double last = c.total_j;
    assert_int_equal(meter_counter_add(&c, 8, 6, 1, 10, NULL), METER_WATTS_OK);
    assert_true(fabs(c.total_j - last - 10) < 1e-9);
    for (int i = 0; i < 9; i++) { /* 2 J a second caught up */
        last = c.total_j;
        meter_counter_add(&c, 8, 1, 1, 10, NULL);
        assert_true(c.total_j - last <= 10 + 1e-9);
    }
    /* 4 + 48 + 9 x 8 = 124 J in all, every joule written by now. */
    assert_true(fabs(c.total_j - 124) < 1e-9 && fabs(c.owed_j) < 1e-9);
    assert_int_equal(c.energy_uj, 124000000 % 30000000);

    /* Guesses above what was known: the counter holds until it is caught up, never goes back. */
    meter_counter_init(&c, 0, 30000000);
    for (int i = 0; i < 3; i++)
        meter_counter_guess(&c, 9, 1, 10);
    uint64_t held = c.energy_uj;
    meter_counter_add(&c, 1, 4, 1, 10, NULL); /* 4 J known for 27 J guessed */
    for (int i = 0; i < 20; i++) {
        meter_counter_add(&c, 1, 1, 1, 10, NULL);
        assert_true(c.energy_uj == held);
    }
    meter_counter_add(&c, 1, 4, 1, 10, NULL); /* 28 J known: 1 J past the guesses */
    assert_true(c.energy_uj > held);

    /* The usage of the guessed intervals is lost: they stand. */
    meter_counter_init(&c, 0, 30000000);
    meter_counter_guess(&c, 5, 1, 10);
    meter_counter_guess(&c, 5, 1, 10);
    meter_counter_keep_guesses(&c);
    meter_counter_add(&c, 5, 1, 1, 10, NULL);
    assert_true(fabs(c.total_j - 15) < 1e-9 && fabs(c.owed_j) < 1e-9);
}

/* ---------------------------------------------------------------- models */

/* A served per-cpu document: one cpu draws 3 + arch + 2 u / 0.5 watts at utilization u. */
static const char *s_doc =
    "{\"All_Weights\":{\"Bias_Weight\":3,"
    "\"Categorical_Variables\":{\"cpu_architecture\":{\"Intel(R) Xeon(R) Gold 6338\":{\"weight\":-0.5},"
    "\"AMD EPYC 7B13\":{\"weight\":1}}},"
    "\"Numerical_Variables\":{\"cpu_utilization\":{\"mean\":0,\"variance\":0.25,\"scale\":0.5,\"weight\":2}}},"
    "\"model_name\":\"vm_package_model\",\"per_logical_cpu\":true}";

/* The per-cpu document of one cpu drawing `bias` + `weight` u, parsed for `cpus` cpus. */
static int s_line(double bias, double weight, double cpus, meter_model_t *m, meter_reject_t *why)
{
    char doc[512];
    snprintf(doc, sizeof doc,
             "{\"All_Weights\":{\"Bias_Weight\":%.17g,\"Numerical_Variables\":{\"cpu_utilization\":{\"mean\":0,"
             "\"variance\":1,\"scale\":1,\"weight\":%.17g}}},\"model_name\":\"vm_package_model\","
             "\"per_logical_cpu\":true}",
             bias, weight);
    return meter_model_parse(doc, strlen(doc), "x", cpus, 1000, m, why);
}

static void test_the_model_is_chosen_by_exact_then_nearest_then_generic_arch(void **state)
{
    (void) state;
    meter_model_t m;
    meter_reject_t why;
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "AMD EPYC 7B13", 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_EXACT);
    assert_string_equal(m.arch_used, "AMD EPYC 7B13");
    assert_true(fabs(meter_model_cpu_watts(&m, 0.5) - (3 + 1 + 2)) < 1e-9);
    /* Same vendor and family, another model number: nearest. */
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "Intel(R) Xeon(R) Gold 6348", 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_NEAREST);
    assert_string_equal(m.arch_used, "Intel(R) Xeon(R) Gold 6338");
    assert_true(fabs(meter_model_cpu_watts(&m, 1) - (3 - 0.5 + 4)) < 1e-9);
    /* One word in common is not near: the mean of all (generic). */
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "Intel(R) Core(TM) i7", 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_GENERIC);
    assert_string_equal(m.arch_used, "");
    assert_true(fabs(meter_model_cpu_watts(&m, 0) - 3.25) < 1e-9);
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "unknown", 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_GENERIC);
}

#define UTILIZATION(weight) "\"cpu_utilization\":{\"mean\":0,\"variance\":1,\"scale\":1,\"weight\":" #weight "}"
#define PER_CPU ",\"per_logical_cpu\":true}"

typedef struct {
    const char *body;
    meter_reject_t why;
} refusal_t;

/* Each document refused (for 2 cpus within 1000 W), for its own reason. */
static void s_expect_refused(const refusal_t *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        meter_model_t m;
        meter_reject_t why = (meter_reject_t) -1;
        assert_int_equal(meter_model_parse(cases[i].body, strlen(cases[i].body), "x", 2, 1000, &m, &why), -1);
        if (why != cases[i].why)
            fail_msg("case %zu refused as %s, not %s", i, meter_reject_name(why), meter_reject_name(cases[i].why));
    }
}

static void test_malformed_featureless_or_absurd_models_are_refused_with_why(void **state)
{
    (void) state;
    /* clang-format off */
    const refusal_t bad[] = {
        {"", METER_REJECT_PARSE},
        {"{\"All_Weights\":", METER_REJECT_PARSE},
        {"<html>503</html>", METER_REJECT_PARSE},
        {"{\"error\":\"not ready\"}", METER_REJECT_PARSE},
        /* A weight missing, a variance of 0, a number that is not one. */
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{\"cpu_utilization\":{\"mean\":0,"
         "\"variance\":1}}}" PER_CPU, METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{\"cpu_utilization\":{\"mean\":0,"
         "\"variance\":0,\"weight\":1}}}" PER_CPU, METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":NaN,\"Numerical_Variables\":{" UTILIZATION(1) "}}" PER_CPU,
         METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":\"3\",\"Numerical_Variables\":{" UTILIZATION(1) "}}" PER_CPU,
         METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":1e400,\"Numerical_Variables\":{" UTILIZATION(1) "}}" PER_CPU,
         METER_REJECT_PARSE},
        /* No feature, or one a VM cannot give. */
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{}}" PER_CPU, METER_REJECT_FEATURES},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{" UTILIZATION(1) ","
         "\"cpu_cycles\":{\"mean\":0,\"variance\":1e18,\"scale\":1e9,\"weight\":2}}}" PER_CPU,
         METER_REJECT_FEATURES},
        /* Finite, but absurd watts for 2 cpus within 1000 W. */
        {"{\"All_Weights\":{\"Bias_Weight\":1e300,\"Numerical_Variables\":{" UTILIZATION(1) "}}" PER_CPU,
         METER_REJECT_WATTS},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{" UTILIZATION(1e6) "}}" PER_CPU,
         METER_REJECT_WATTS},
        {"{\"All_Weights\":{\"Bias_Weight\":-5000,\"Numerical_Variables\":{" UTILIZATION(1) "}}" PER_CPU,
         METER_REJECT_WATTS},
    };
    /* clang-format on */
    s_expect_refused(bad, sizeof bad / sizeof bad[0]);
}

/* A node model charges a VM its training host's whole idle power: refused, however it is said. */
static void test_node_model_is_refused(void **state)
{
    (void) state;
    /* clang-format off */
    const refusal_t node[] = {
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{" UTILIZATION(1) "}},"
         "\"per_logical_cpu\":false}", METER_REJECT_NODE},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{" UTILIZATION(1) "}}}", METER_REJECT_NODE},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{\"cpu_time\":{\"mean\":0,\"variance\":1,"
         "\"scale\":1,\"weight\":1}}}" PER_CPU, METER_REJECT_FEATURES},
    };
    /* clang-format on */
    s_expect_refused(node, sizeof node / sizeof node[0]);
}

/* A line that dips below zero when idle (a node's intercept read per cpu) is never counted. */
static void test_negative_idle_watts_refused(void **state)
{
    (void) state;
    meter_model_t m;
    meter_reject_t why;
    assert_int_equal(s_line(-490, 500, 2, &m, &why), -1);
    assert_int_equal(why, METER_REJECT_WATTS);
}

/* A document whose model serves a curve (its "families", as kms-api serves it): the meter
   evaluates the curve in utilization, Kepler's form a log(b u / scale + 1) + c; absurd curves
   are refused like absurd lines; "linear" served, or no families, is the line. */
static void test_a_served_curve_family_is_used_and_a_linear_one_is_not_a_curve(void **state)
{
    (void) state;
    meter_model_t m;
    meter_reject_t why;
    char doc[1024];
    /* clang-format off */
    const char *line = "{\"All_Weights\":{\"Bias_Weight\":1,\"Numerical_Variables\":{" UTILIZATION(4) "}},"
                       "\"model_name\":\"vm_core_model\",\"per_logical_cpu\":true";
    const char *families = ",\"families\":{\"served\":\"%s\",\"samples\":500,\"candidates\":["
                           "{\"family\":\"linear\",\"recent_rmse\":3.0,\"fit\":{\"scale\":1,\"params\":[4,1]}},"
                           "{\"family\":\"logarithmic\",\"recent_rmse\":0.5,\"fit\":{\"scale\":1,\"params\":[%g,1.5,0.5]}}]}}";
    /* clang-format on */
    char tail[512];
    snprintf(tail, sizeof tail, families, "logarithmic", 3.0);
    snprintf(doc, sizeof doc, "%s%s", line, tail);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", 2, 1000, &m, &why), 0);
    assert_true(m.curve && m.fit.kind == KMS_FAMILY_LOGARITHMIC);
    assert_true(fabs(meter_model_cpu_watts(&m, 1) - (3 * log(1.5 + 1) + 0.5)) < 1e-9);
    assert_true(fabs(meter_model_cpu_watts(&m, 0.5) - (3 * log(1.5 * 0.5 + 1) + 0.5)) < 1e-9);
    assert_true(fabs(meter_model_cpu_watts(&m, 0) - 0.5) < 1e-9);
    snprintf(tail, sizeof tail, families, "logarithmic", 1e9);
    snprintf(doc, sizeof doc, "%s%s", line, tail);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", 2, 1000, &m, &why), -1);
    assert_int_equal(why, METER_REJECT_WATTS);
    snprintf(tail, sizeof tail, families, "linear", 3.0);
    snprintf(doc, sizeof doc, "%s%s", line, tail);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", 2, 1000, &m, &why), 0);
    assert_false(m.curve);
    assert_true(fabs(meter_model_cpu_watts(&m, 1) - 5) < 1e-9);
    snprintf(doc, sizeof doc, "%s}", line);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", 2, 1000, &m, &why), 0);
    assert_false(m.curve);
}

/* One cpu: 1.25 W idle and 4 W per busy cpu-second. A 2-vCPU VM at half load is charged its
   vCPUs' idle and its use (fair), or its busy cpu-seconds alone (Kepler's active share). */
static void test_vm_watts_scale_with_its_vcpus(void **state)
{
    (void) state;
    meter_model_t m;
    meter_reject_t why;
    assert_int_equal(s_line(1.25, 4, 8, &m, &why), 0);
    assert_true(fabs(meter_model_machine_watts(&m, 0.5, 2, METER_SHARE_FAIR) - 2 * (1.25 + 4 * 0.5)) < 1e-12);
    assert_true(fabs(meter_model_machine_watts(&m, 0.5, 2, METER_SHARE_ACTIVE) - 2 * 0.5 * (1.25 + 4 * 0.5)) < 1e-12);
}

/* The VMs that fill a host add up to the host: 2, 2 and 4 vCPUs on 8 cpus. */
static void test_fair_shares_add_up_to_the_host(void **state)
{
    (void) state;
    meter_model_t m;
    meter_reject_t why;
    assert_int_equal(s_line(1.25, 4, 8, &m, &why), 0);
    const double vcpus[3] = {2, 2, 4}, u[3] = {0.1, 0.7, 0.35};
    double sum = 0, busy = 0;
    for (int i = 0; i < 3; i++) {
        sum += meter_model_machine_watts(&m, u[i], vcpus[i], METER_SHARE_FAIR);
        busy += vcpus[i] * u[i];
    }
    assert_true(fabs(sum - (8 * 1.25 + 4 * busy)) < 1e-12);
    assert_true(fabs(sum - meter_model_machine_watts(&m, busy / 8, 8, METER_SHARE_FAIR)) < 1e-12);
}

/* ---------------------------------------------------------------- the coefficient prior */

static const meter_prior_arch_t *s_prior_row(const char *arch)
{
    for (size_t i = 0; i < meter_prior_arch_count; i++)
        if (strcmp(meter_prior_archs[i].arch, arch) == 0)
            return &meter_prior_archs[i];
    fail_msg("no row %s", arch);
    return NULL;
}

static void test_prior_finds_the_microarchitecture(void **state)
{
    (void) state;
    meter_prior_t p;
    meter_prior_find("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", &p);
    assert_string_equal(p.arch, "Cascade Lake");
    assert_int_equal(p.match, METER_PRIOR_EXACT);
    assert_true(p.min_watts == s_prior_row("Cascade Lake")->min_watts);
    assert_true(p.max_watts == s_prior_row("Cascade Lake")->max_watts);
    meter_prior_find("AMD EPYC 7R13 Processor", &p);
    assert_string_equal(p.arch, "EPYC 3rd Gen");
    assert_int_equal(p.match, METER_PRIOR_EXACT);
    /* The longest fragment wins: "E5-2680 v2" (Ivy Bridge) over "E5-2680" (Sandy Bridge). */
    meter_prior_find("Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz", &p);
    assert_string_equal(p.arch, "Ivy Bridge");
}

static void test_prior_falls_back_to_averages(void **state)
{
    (void) state;
    meter_prior_t p;
    meter_prior_find("AMD Opteron(tm) Processor 6134", &p);
    assert_int_equal(p.match, METER_PRIOR_VENDOR);
    assert_string_equal(p.arch, "AMD average");
    double min = 0;
    size_t amd = 0;
    for (size_t i = 0; i < meter_prior_arch_count; i++)
        if (strcmp(meter_prior_archs[i].vendor, "AMD") == 0)
            min += meter_prior_archs[i].min_watts, amd++;
    assert_true(amd > 0);
    assert_true(fabs(p.min_watts - min / (double) amd) < 1e-12);
    meter_prior_find("Some Chip", &p);
    assert_int_equal(p.match, METER_PRIOR_ALL);
}

/* The prior as a model: one cpu draws min idle and max at full load. */
static void test_prior_model_spans_min_to_max(void **state)
{
    (void) state;
    meter_prior_t p;
    meter_prior_find("Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz", &p);
    meter_model_t m;
    assert_int_equal(meter_model_from_prior(&p, 8, 1000, &m), 0);
    assert_int_equal(m.match, METER_ARCH_PRIOR);
    assert_true(fabs(meter_model_cpu_watts(&m, 0) - p.min_watts) < 1e-12);
    assert_true(fabs(meter_model_cpu_watts(&m, 1) - p.max_watts) < 1e-12);
}

static void test_rapl_zones_are_found_by_name_with_their_dirs_and_models(void **state)
{
    (void) state;
    assert_int_equal(meter_zone_find("package"), METER_PACKAGE);
    assert_int_equal(meter_zone_find("psys"), METER_PSYS);
    assert_int_equal(meter_zone_find("gpu"), -1);
    assert_string_equal(meter_zone_info(METER_PACKAGE)->dir, "intel-rapl:0");
    assert_string_equal(meter_zone_info(METER_PACKAGE)->file_name, "package-0");
    assert_string_equal(meter_zone_info(METER_CORE)->dir, "intel-rapl:0:0");
    assert_string_equal(meter_zone_info(METER_CORE)->model, "vm_core_model");
}

/* ---------------------------------------------------------------- tree */

static char *s_slurp(const char *root, const char *zone_dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/class/powercap/%s/%s", root, zone_dir, file);
    static char text[256];
    size_t len;
    char *whole = kms_test_read_file(path, &len);
    if (!whole)
        return NULL;
    snprintf(text, sizeof text, "%s", whole);
    free(whole);
    return text;
}

static void test_tree_layout_and_restart(void **state)
{
    (void) state;
    char root[] = "/tmp/kms-test-meter-XXXXXX";
    assert_non_null(mkdtemp(root));
    meter_tree_t *tree = meter_tree_open(root);
    assert_non_null(tree);
    uint64_t previous = 7;
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 1000000, &previous), 0);
    assert_int_equal(previous, 0);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "name"), "package-0\n");
    assert_string_equal(s_slurp(root, "intel-rapl:0", "max_energy_range_uj"), "1000000\n");
    assert_string_equal(s_slurp(root, "intel-rapl:0", "energy_uj"), "0\n");
    assert_int_equal(meter_tree_zone_init(tree, METER_DRAM, 1000000, &previous), 0);
    assert_string_equal(s_slurp(root, "intel-rapl:0:2", "name"), "dram\n");
    assert_int_equal(meter_tree_write_energy(tree, METER_PACKAGE, 123456), 0);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "energy_uj"), "123456\n");
    /* No temporary file is left beside the replaced one. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/class/powercap/intel-rapl:0", root);
    DIR *d = opendir(dir);
    size_t files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            assert_null(strstr(e->d_name, "tmp"));
            files++;
        }
    closedir(d);
    assert_int_equal(files, 4);
    meter_tree_close(&tree);
    /* A new kms-meter continues from what the tree says (reduced to a smaller range). */
    tree = meter_tree_open(root);
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 100000, &previous), 0);
    assert_int_equal(previous, 123456);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "energy_uj"), "23456\n");
    /* A damaged energy_uj starts at 0, never at garbage. */
    int zone = open(dir, O_RDONLY | O_DIRECTORY);
    assert_int_equal(kms_file_replace_at(zone, "energy_uj", "-5\n", 3, false), 0);
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 100000, &previous), 0);
    assert_int_equal(previous, 0);
    meter_tree_close(&tree);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    close(zone);
    /* An unwritable root fails with errno, and nothing crashes. */
    assert_null(meter_tree_open("/proc/kms-no-such-dir"));
}

/* kms-meter runs as root: a symlink or a FIFO planted in its tree is never written through,
   never blocks it, and no folder of the tree is made through a symlink. */
static void test_tree_refuses_planted_links_and_fifos(void **state)
{
    (void) state;
    char root[] = "/tmp/kms-test-meter-XXXXXX", outside[] = "/tmp/kms-test-outside-XXXXXX";
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(outside));
    char decoy[1100], path[1100];
    snprintf(decoy, sizeof decoy, "%s/passwd", outside);
    FILE *f = fopen(decoy, "w");
    fputs("root:x:0:0\n", f);
    fclose(f);
    meter_tree_t *tree = meter_tree_open(root);
    uint64_t previous;
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 1000000, &previous), 0);
    /* A symlink at the temporary file's name, and at the file itself: replaced, not followed. */
    snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0/.energy_uj.tmp", root);
    assert_int_equal(symlink(decoy, path), 0);
    assert_int_equal(meter_tree_write_energy(tree, METER_PACKAGE, 42), 0);
    snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0/name", root);
    unlink(path);
    assert_int_equal(symlink(decoy, path), 0);
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 1000000, &previous), 0);
    size_t len;
    char *text = kms_test_read_file(decoy, &len);
    assert_string_equal(text, "root:x:0:0\n");
    free(text);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "name"), "package-0\n");
    /* A FIFO at energy_uj: read back without blocking (as 0), then replaced. */
    snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0/energy_uj", root);
    unlink(path);
    assert_int_equal(mkfifo(path, 0644), 0);
    meter_tree_close(&tree);
    tree = meter_tree_open(root);
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 1000000, &previous), 0);
    assert_int_equal(previous, 0);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "energy_uj"), "0\n");
    /* A zone folder that is a symlink: refused, nothing made outside. */
    snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0:0", root);
    assert_int_equal(symlink(outside, path), 0);
    assert_int_equal(meter_tree_zone_init(tree, METER_CORE, 1000000, &previous), -1);
    snprintf(path, sizeof path, "%s/name", outside);
    assert_int_equal(access(path, F_OK), -1);
    meter_tree_close(&tree);
    /* class/ itself a symlink: no zone at all. */
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/class' && ln -s '%s' '%s/class'", root, outside, root);
    assert_int_equal(system(cmd), 0);
    tree = meter_tree_open(root);
    assert_int_equal(meter_tree_zone_init(tree, METER_PACKAGE, 1000000, &previous), -1);
    meter_tree_close(&tree);
    snprintf(path, sizeof path, "%s/powercap", outside);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, outside);
    assert_int_equal(system(cmd), 0);
}

/* ---------------------------------------------------------------- metrics */

static void test_metrics_show_watts_models_and_errors_in_a_form_promtool_accepts(void **state)
{
    (void) state;
    static meter_stats_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.arch, sizeof s.arch, "Intel(R) \"Xeon\"");
    s.start_time = 1.7e9;
    s.cpus = 4;
    s.share = METER_SHARE_ACTIVE;
    s.utilization = 0.25;
    meter_prior_find("Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz", &s.prior);
    s.zones[METER_PACKAGE].active = true;
    snprintf(s.zones[METER_PACKAGE].model, KMS_NAME_MAX, "vm_package_model");
    s.zones[METER_PACKAGE].match = METER_ARCH_GENERIC;
    s.zones[METER_PACKAGE].watts = 41.5;
    s.zones[METER_PACKAGE].model_fetched = 1.7e9 + 10;
    s.fetch_errors[METER_FETCH_CONNECT] = 3;
    s.models_rejected[METER_REJECT_WATTS] = 2;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    meter_metrics_render(out, &s, 1.7e9 + 70);
    fclose(out);
    assert_non_null(strstr(text, "kms_meter_watts{zone=\"package\"} 41.5\n"));
    assert_non_null(strstr(text, "kms_meter_model_info{zone=\"package\",model=\"vm_package_model\",arch=\"\","
                                 "match=\"generic\",family=\"linear\"} 1\n"));
    assert_non_null(strstr(text, "kms_meter_model_age_seconds{zone=\"package\"} 60\n"));
    assert_non_null(strstr(text, "kms_meter_machine_info{arch=\"Intel(R) \\\"Xeon\\\"\",counters=\"false\",cpus=\"4\","
                                 "share=\"active\"} 1\n"));
    assert_non_null(strstr(text, "kms_meter_utilization 0.25\n"));
    assert_non_null(strstr(text, "kms_meter_prior_info{arch=\"Skylake\",match=\"exact\","));
    assert_non_null(strstr(text, "kms_meter_server_errors_total{kind=\"connect\"} 3\n"));
    assert_non_null(strstr(text, "kms_meter_models_rejected_total{reason=\"watts\"} 2\n"));
    assert_null(strstr(text, "zone=\"core\"")); /* not in the tree: not shown */
    /* The format is what Prometheus' own checker accepts. */
    FILE *check = popen("promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(check);
    fwrite(text, 1, len, check);
    assert_int_equal(pclose(check), 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_proc_stat_cpu_line_gives_busy_and_total_ticks_in_any_form),
        cmocka_unit_test(test_a_malformed_proc_stat_cpu_line_is_refused_and_ticks_untouched),
        cmocka_unit_test(test_cpu_time_is_busy_ticks_over_hz_and_refused_when_time_goes_back),
        cmocka_unit_test(test_cpus_are_counted_from_the_per_cpu_lines_of_proc_stat),
        cmocka_unit_test(test_utilization_carries_then_drops),
        cmocka_unit_test(test_counter_is_exact_and_wraps),
        cmocka_unit_test(test_counter_never_counts_negative_or_absurd_watts),
        cmocka_unit_test(test_counter_guesses_a_gap_and_paces_the_catch_up),
        cmocka_unit_test(test_the_model_is_chosen_by_exact_then_nearest_then_generic_arch),
        cmocka_unit_test(test_malformed_featureless_or_absurd_models_are_refused_with_why),
        cmocka_unit_test(test_a_served_curve_family_is_used_and_a_linear_one_is_not_a_curve),
        cmocka_unit_test(test_node_model_is_refused),
        cmocka_unit_test(test_negative_idle_watts_refused),
        cmocka_unit_test(test_vm_watts_scale_with_its_vcpus),
        cmocka_unit_test(test_fair_shares_add_up_to_the_host),
        cmocka_unit_test(test_prior_finds_the_microarchitecture),
        cmocka_unit_test(test_prior_falls_back_to_averages),
        cmocka_unit_test(test_prior_model_spans_min_to_max),
        cmocka_unit_test(test_rapl_zones_are_found_by_name_with_their_dirs_and_models),
        cmocka_unit_test(test_tree_layout_and_restart),
        cmocka_unit_test(test_tree_refuses_planted_links_and_fifos),
        cmocka_unit_test(test_metrics_show_watts_models_and_errors_in_a_form_promtool_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
