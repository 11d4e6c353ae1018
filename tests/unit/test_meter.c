/*  kms-meter's cores: /proc/stat, the energy counters, the zone models, the tree, the metrics. */
#include "kms_test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meter_energy.h"
#include "meter_fetch.h"
#include "meter_metrics.h"
#include "meter_model.h"
#include "meter_tree.h"
#include "meter_usage.h"

/* ---------------------------------------------------------------- /proc/stat */

static void test_stat_line(void **state)
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

static void test_stat_line_refused(void **state)
{
    (void) state;
    meter_cpu_ticks_t t = {7, 7};
    const char *bad[] = {"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu  1 2 3 4 5 6 7\n", "cpu  1 2 3 x 5 6 7 8\n",
                         "cpu  1 2 3 4 5 6 7 8 9 10 11\n", "cpu  -1 2 3 4 5 6 7 8\n",
                         "cpu  99999999999999999999 2 3 4 5 6 7 8\n", "cpu 1 2 3 4 5 6 7 8 junk\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(meter_usage_parse_stat(bad[i], strlen(bad[i]), &t), -1);
    assert_int_equal(t.busy, 7);  /* untouched */
}

static void test_cpu_time(void **state)
{
    (void) state;
    meter_cpu_ticks_t a = {1000, 5000}, b = {1150, 5200};
    double x;
    assert_int_equal(meter_usage_cpu_time(&a, &b, 100, 1.0, &x), 0);
    assert_true(fabs(x - 1.5) < 1e-12);
    assert_int_equal(meter_usage_cpu_time(&b, &a, 100, 1.0, &x), -1);  /* went back */
    assert_int_equal(meter_usage_cpu_time(&a, &b, 100, 0, &x), -1);
    assert_int_equal(meter_usage_cpu_time(&a, &b, 100, NAN, &x), -1);
}

/* ---------------------------------------------------------------- energy */

static void test_counter_is_exact_and_wraps(void **state)
{
    (void) state;
    meter_counter_t c;
    meter_counter_init(&c, 0, 1000000);  /* 1 J */
    double counted;
    /* 0.3 W for 1 s, 10 times: 3 J, 3 wraps, the counter at exactly 0 again. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(meter_counter_add(&c, 0.3, 1.0, 1000, &counted), METER_WATTS_OK);
    assert_true(c.energy_uj == 0 || c.energy_uj == 999999);  /* 3e6 in doubles: to the microjoule */
    assert_true(fabs(c.total_j - 3.0) < 1e-9);
    /* 1 uW for 0.5 s a million times: half a joule, made of fractions of a microjoule. */
    meter_counter_init(&c, 0, 262143328850ull);
    for (int i = 0; i < 1000000; i++)
        meter_counter_add(&c, 1e-6, 0.5, 1000, NULL);
    assert_true(c.energy_uj >= 499999 && c.energy_uj <= 500000);
    /* A restart continues from the tree's value, reduced to the range. */
    meter_counter_init(&c, 2500000, 1000000);
    assert_int_equal(c.energy_uj, 500000);
    meter_counter_add(&c, 0.75, 1.0, 1000, NULL);
    assert_int_equal(c.energy_uj, 250000);
}

static void test_counter_never_counts_negative_or_absurd_watts(void **state)
{
    (void) state;
    meter_counter_t c;
    meter_counter_init(&c, 100, 1000000000);
    double counted = -1;
    assert_int_equal(meter_counter_add(&c, -5, 1.0, 300, &counted), METER_WATTS_NEGATIVE);
    assert_true(counted == 0);
    assert_int_equal(c.energy_uj, 100);
    assert_int_equal(meter_counter_add(&c, 1e9, 1.0, 300, &counted), METER_WATTS_ABSURD);
    assert_true(counted == 300);
    assert_int_equal(c.energy_uj, 100 + 300000000);
    assert_int_equal(meter_counter_add(&c, NAN, 1.0, 300, &counted), METER_WATTS_ABSURD);
    assert_int_equal(meter_counter_add(&c, INFINITY, 1.0, 300, &counted), METER_WATTS_ABSURD);
    assert_true(counted == 300);
    uint64_t before = c.energy_uj;
    assert_int_equal(meter_counter_add(&c, 10, NAN, 300, NULL), METER_WATTS_OK);
    assert_int_equal(meter_counter_add(&c, 10, -1, 300, NULL), METER_WATTS_OK);
    assert_int_equal(c.energy_uj, before);
    /* A pause of a year at the cap: the counter stays in range. */
    meter_counter_add(&c, 300, 3.15e7, 300, NULL);
    assert_true(c.energy_uj < c.max_uj);
}

/* ---------------------------------------------------------------- models */

static const char *s_doc =
    "{\"All_Weights\":{\"Bias_Weight\":30,"
    "\"Categorical_Variables\":{\"cpu_architecture\":{\"Intel(R) Xeon(R) Gold 6338\":{\"weight\":-2},"
    "\"AMD EPYC 7B13\":{\"weight\":4}}},"
    "\"Numerical_Variables\":{\"cpu_time\":{\"mean\":1,\"variance\":0.25,\"weight\":5}}},"
    "\"model_name\":\"vm_package_model\"}";

static void s_have(kms_values_t *have, const char *const *names)
{
    memset(have, 0, sizeof *have);
    for (; *names; names++)
        kms_values_set(have, *names, 0);
}

static double s_watts(const meter_model_t *m, double cpu_time)
{
    static kms_sample_t usage;
    memset(&usage, 0, sizeof usage);
    kms_values_set(&usage.features, KMS_F_CPU_TIME, cpu_time);
    return meter_model_predict(m, &usage);
}

static void test_model_architecture_choice(void **state)
{
    (void) state;
    kms_values_t have;
    s_have(&have, (const char *[]){KMS_F_CPU_TIME, NULL});
    meter_model_t m;
    meter_reject_t why;
    /* The contract's formula: 30 + arch + 5 (x - 1) / 0.5. */
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "AMD EPYC 7B13", &have, 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_EXACT);
    assert_string_equal(m.arch_used, "AMD EPYC 7B13");
    assert_true(fabs(s_watts(&m, 2) - (30 + 4 + 10)) < 1e-9);
    /* Same vendor and family, another model number: nearest. */
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "Intel(R) Xeon(R) Gold 6348", &have, 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_NEAREST);
    assert_string_equal(m.arch_used, "Intel(R) Xeon(R) Gold 6338");
    assert_true(fabs(s_watts(&m, 1) - 28) < 1e-9);
    /* One word in common is not near: the mean of all (generic). */
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "Intel(R) Core(TM) i7", &have, 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_GENERIC);
    assert_string_equal(m.arch_used, "");
    assert_true(fabs(s_watts(&m, 1) - 31) < 1e-9);
    assert_int_equal(meter_model_parse(s_doc, strlen(s_doc), "unknown", &have, 2, 1000, &m, &why), 0);
    assert_int_equal(m.match, METER_ARCH_GENERIC);
}

static void test_model_refused(void **state)
{
    (void) state;
    kms_values_t cpu_only, counters;
    s_have(&cpu_only, (const char *[]){KMS_F_CPU_TIME, NULL});
    s_have(&counters, (const char *[]){KMS_F_CPU_TIME, KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, NULL});
    meter_model_t m;
    meter_reject_t why;
    const char *core = "{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{"
                       "\"cpu_cycles\":{\"mean\":0,\"variance\":1e18,\"weight\":2},"
                       "\"cpu_time\":{\"mean\":0,\"variance\":1,\"weight\":1}}},\"model_name\":\"core_model\"}";
    assert_int_equal(meter_model_parse(core, strlen(core), "x", &cpu_only, 2, 1000, &m, &why), -1);
    assert_int_equal(why, METER_REJECT_FEATURES);  /* a VM without counters */
    assert_int_equal(meter_model_parse(core, strlen(core), "x", &counters, 2, 1000, &m, &why), 0);
    const struct {
        const char *body;
        meter_reject_t why;
    } bad[] = {
        {"", METER_REJECT_PARSE},
        {"{\"All_Weights\":", METER_REJECT_PARSE},
        {"<html>503</html>", METER_REJECT_PARSE},
        {"{\"error\":\"not ready\"}", METER_REJECT_PARSE},
        /* A weight missing, a variance of 0, a number that is not one. */
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{\"cpu_time\":{\"mean\":0,\"variance\":1}}}}",
         METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{\"cpu_time\":{\"mean\":0,\"variance\":0,"
         "\"weight\":1}}}}", METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":NaN,\"Numerical_Variables\":{}}}", METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":\"3\",\"Numerical_Variables\":{}}}", METER_REJECT_PARSE},
        {"{\"All_Weights\":{\"Bias_Weight\":1e400,\"Numerical_Variables\":{}}}", METER_REJECT_PARSE},
        /* Finite, but absurd watts over 0..2 busy cpus. */
        {"{\"All_Weights\":{\"Bias_Weight\":1e300,\"Numerical_Variables\":{}}}", METER_REJECT_WATTS},
        {"{\"All_Weights\":{\"Bias_Weight\":3,\"Numerical_Variables\":{\"cpu_time\":{\"mean\":0,\"variance\":1,"
         "\"weight\":1e6}}}}", METER_REJECT_WATTS},
        {"{\"All_Weights\":{\"Bias_Weight\":-5000,\"Numerical_Variables\":{}}}", METER_REJECT_WATTS},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = (meter_reject_t) -1;
        assert_int_equal(meter_model_parse(bad[i].body, strlen(bad[i].body), "x", &cpu_only, 2, 1000, &m, &why), -1);
        assert_int_equal(why, bad[i].why);
    }
}

/* A document whose model serves a curve (its "families", as kms-api serves it): the meter
   predicts with the curve, Kepler's form a log(b x / scale + 1) + c; absurd curves are refused
   like absurd lines; "linear" served, or no families, is the line. */
static void test_model_curve(void **state)
{
    (void) state;
    kms_values_t have;
    s_have(&have, (const char *[]){KMS_F_CPU_TIME, NULL});
    meter_model_t m;
    meter_reject_t why;
    char doc[1024];
    const char *line = "{\"All_Weights\":{\"Bias_Weight\":10,\"Numerical_Variables\":{\"cpu_time\":{\"mean\":0,"
                       "\"variance\":4,\"scale\":2,\"weight\":5}}},\"model_name\":\"vm_core_model\"";
    const char *families = ",\"families\":{\"served\":\"%s\",\"samples\":500,\"candidates\":["
                           "{\"family\":\"linear\",\"recent_rmse\":3.0,\"fit\":{\"scale\":2,\"params\":[5,10]}},"
                           "{\"family\":\"logarithmic\",\"recent_rmse\":0.5,\"fit\":{\"scale\":2,\"params\":[%g,1.5,4]}}]}}";
    char tail[512];
    snprintf(tail, sizeof tail, families, "logarithmic", 20.0);
    snprintf(doc, sizeof doc, "%s%s", line, tail);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", &have, 2, 1000, &m, &why), 0);
    assert_true(m.curve && m.fit.kind == KMS_FAMILY_LOGARITHMIC);
    assert_true(fabs(s_watts(&m, 1) - (20 * log(1.5 * 0.5 + 1) + 4)) < 1e-9);
    assert_true(fabs(s_watts(&m, 0) - 4) < 1e-9);
    snprintf(tail, sizeof tail, families, "logarithmic", 1e9);
    snprintf(doc, sizeof doc, "%s%s", line, tail);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", &have, 2, 1000, &m, &why), -1);
    assert_int_equal(why, METER_REJECT_WATTS);
    snprintf(tail, sizeof tail, families, "linear", 20.0);
    snprintf(doc, sizeof doc, "%s%s", line, tail);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", &have, 2, 1000, &m, &why), 0);
    assert_false(m.curve);
    assert_true(fabs(s_watts(&m, 1) - (10 + 5 * 1 / 2.0)) < 1e-9);
    snprintf(doc, sizeof doc, "%s}", line);
    assert_int_equal(meter_model_parse(doc, strlen(doc), "x", &have, 2, 1000, &m, &why), 0);
    assert_false(m.curve);
}

static void test_zones(void **state)
{
    (void) state;
    assert_int_equal(meter_zone_find("package"), METER_PACKAGE);
    assert_int_equal(meter_zone_find("psys"), METER_PSYS);
    assert_int_equal(meter_zone_find("gpu"), -1);
    assert_string_equal(meter_zone_info(METER_PACKAGE)->dir, "intel-rapl:0");
    assert_string_equal(meter_zone_info(METER_PACKAGE)->file_name, "package-0");
    assert_string_equal(meter_zone_info(METER_CORE)->dir, "intel-rapl:0:0");
    assert_string_equal(meter_zone_info(METER_CORE)->models[1], "vm_core_model");
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
    uint64_t previous = 7;
    assert_int_equal(meter_tree_zone_init(root, METER_PACKAGE, 1000000, &previous), 0);
    assert_int_equal(previous, 0);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "name"), "package-0\n");
    assert_string_equal(s_slurp(root, "intel-rapl:0", "max_energy_range_uj"), "1000000\n");
    assert_string_equal(s_slurp(root, "intel-rapl:0", "energy_uj"), "0\n");
    assert_int_equal(meter_tree_zone_init(root, METER_DRAM, 1000000, &previous), 0);
    assert_string_equal(s_slurp(root, "intel-rapl:0:2", "name"), "dram\n");
    assert_int_equal(meter_tree_write_energy(root, METER_PACKAGE, 123456), 0);
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
    /* A new kms-meter continues from what the tree says (reduced to a smaller range). */
    assert_int_equal(meter_tree_zone_init(root, METER_PACKAGE, 100000, &previous), 0);
    assert_int_equal(previous, 123456);
    assert_string_equal(s_slurp(root, "intel-rapl:0", "energy_uj"), "23456\n");
    /* A damaged energy_uj starts at 0, never at garbage. */
    snprintf(dir, sizeof dir, "%s/class/powercap/intel-rapl:0/energy_uj", root);
    assert_int_equal(meter_tree_replace_file(dir, "-5\n", 3), 0);
    assert_int_equal(meter_tree_zone_init(root, METER_PACKAGE, 100000, &previous), 0);
    assert_int_equal(previous, 0);
    /* An unwritable root fails with errno, and nothing crashes. */
    assert_int_equal(meter_tree_write_energy("/proc/kms-no-such-dir", METER_PACKAGE, 1), -1);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* ---------------------------------------------------------------- metrics */

static void test_metrics_text(void **state)
{
    (void) state;
    static meter_stats_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.arch, sizeof s.arch, "Intel(R) \"Xeon\"");
    s.start_time = 1.7e9;
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
    assert_non_null(strstr(text, "kms_meter_machine_info{arch=\"Intel(R) \\\"Xeon\\\"\",counters=\"false\"} 1\n"));
    assert_non_null(strstr(text, "kms_meter_server_errors_total{kind=\"connect\"} 3\n"));
    assert_non_null(strstr(text, "kms_meter_models_rejected_total{reason=\"watts\"} 2\n"));
    assert_null(strstr(text, "zone=\"core\""));  /* not in the tree: not shown */
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
        cmocka_unit_test(test_stat_line),
        cmocka_unit_test(test_stat_line_refused),
        cmocka_unit_test(test_cpu_time),
        cmocka_unit_test(test_counter_is_exact_and_wraps),
        cmocka_unit_test(test_counter_never_counts_negative_or_absurd_watts),
        cmocka_unit_test(test_model_architecture_choice),
        cmocka_unit_test(test_model_refused),
        cmocka_unit_test(test_model_curve),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_tree_layout_and_restart),
        cmocka_unit_test(test_metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
