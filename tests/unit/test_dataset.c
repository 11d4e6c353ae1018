#include "kms_test.h"

#include "kms_dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SEEN 64

/* What a parse handed out: copies of the samples and the bad rows' lines and reasons. */
typedef struct {
    size_t samples;
    kms_sample_t seen[S_MAX_SEEN];
    size_t bad;
    size_t bad_lines[S_MAX_SEEN];
    char bad_why[S_MAX_SEEN][160];
    double last_progress;
    size_t stop_after; /* 0: never */
} s_result_t;

static int s_on_sample(const kms_sample_t *sample, void *arg)
{
    s_result_t *r = arg;
    if (r->samples < S_MAX_SEEN)
        r->seen[r->samples] = *sample;
    r->samples++;
    return r->stop_after && r->samples >= r->stop_after;
}

static void s_on_bad_row(size_t line, const char *why, void *arg)
{
    s_result_t *r = arg;
    if (r->bad < S_MAX_SEEN) {
        r->bad_lines[r->bad] = line;
        snprintf(r->bad_why[r->bad], sizeof r->bad_why[r->bad], "%s", why);
    }
    r->bad++;
}

static void s_on_progress(double done, void *arg)
{
    s_result_t *r = arg;
    assert_true(done >= r->last_progress && done <= 1.0);
    r->last_progress = done;
}

static s_result_t *s_parse(const char *text, int expect_rc, kms_dataset_stats_t *stats, const char **why)
{
    s_result_t *r = calloc(1, sizeof *r);
    kms_dataset_visitor_t visitor = {s_on_sample, s_on_bad_row, s_on_progress, r};
    kms_dataset_stats_t local;
    const char *local_why;
    int rc = kms_dataset_parse(text, strlen(text), KMS_DATASET_AUTO, &visitor, stats ? stats : &local,
                               why ? why : &local_why);
    assert_int_equal(rc, expect_rc);
    return r;
}

/* The dataset in tests/fixtures/`path`, which must parse. */
static s_result_t *s_parse_fixture(const char *path, kms_dataset_stats_t *stats)
{
    char file[512];
    snprintf(file, sizeof file, KMS_FIXTURES "/%s", path);
    size_t len = 0;
    char *text = kms_test_read_file(file, &len);
    assert_non_null(text);
    s_result_t *r = s_parse(text, 0, stats, NULL);
    free(text);
    return r;
}

static double s_get(const kms_values_t *values, const char *name)
{
    double v = NAN;
    kms_values_get(values, name, &v);
    return v;
}

static void test_a_csv_with_the_canonical_header_gives_every_row_as_a_sample(void **state)
{
    (void) state;
    kms_dataset_stats_t stats;
    s_result_t *r = s_parse("arch,cpu_cycles,cpu_instructions,cpu_time,cache_misses,resident_memory,core,dram\n"
                            "x86_64,1e9,2e9,1.5,1000,4e9,12.5,3\n"
                            "arm64,2000000000,1,0,0,0,0,0.25\n",
                            0, &stats, NULL);
    assert_int_equal(r->samples, 2);
    assert_int_equal(r->bad, 0);
    assert_int_equal(stats.format, KMS_DATASET_CSV);
    assert_int_equal(stats.rows, 2);
    assert_int_equal(stats.samples, 2);
    const kms_sample_t *s = &r->seen[0];
    assert_string_equal(s->arch, "x86_64");
    assert_string_equal(s->node, "dataset");
    assert_false(s->is_container);
    assert_int_equal(s->features.count, 5);
    assert_int_equal(s->targets.count, 2);
    assert_true(s_get(&s->features, "cpu_cycles") == 1e9);
    assert_true(s_get(&s->features, "cpu_time") == 1.5);
    assert_true(s_get(&s->features, "resident_memory") == 4e9);
    assert_true(s_get(&s->targets, "core") == 12.5);
    assert_true(s_get(&s->targets, "dram") == 3);
    assert_string_equal(r->seen[1].arch, "arm64");
    assert_true(s_get(&r->seen[1].targets, "dram") == 0.25);
    assert_true(r->seen[1].seq > r->seen[0].seq);
    assert_true(r->last_progress == 1.0);
    free(r);
}

static void test_meta_columns_and_aliases(void **state)
{
    (void) state;
    s_result_t *r = s_parse("cpu_architecture,instance,ts,dt,seq,cpu_cycles,package,platform\n"
                            "s390x,node-7,1700000000.5,5,42,10,100,150\n",
                            0, NULL, NULL);
    assert_int_equal(r->samples, 1);
    const kms_sample_t *s = &r->seen[0];
    assert_string_equal(s->arch, "s390x");
    assert_string_equal(s->node, "node-7");
    assert_true(s->ts == 1700000000.5);
    assert_true(s->dt == 5);
    assert_int_equal(s->seq, 42);
    assert_int_equal(s->features.count, 1);
    assert_true(s_get(&s->targets, "package") == 100);
    assert_true(s_get(&s->targets, "platform") == 150);
    free(r);
}

static void test_quoted_fields_crlf_bom_and_blank_lines(void **state)
{
    (void) state;
    s_result_t *r = s_parse("\xEF\xBB\xBF\"arch\",\"cpu_cycles\",core\r\n"
                            "\r\n"
                            "\"x86,64 \"\"special\"\"\",\"7\",1\r\n"
                            "\n"
                            "  plain  , 8 ,2", /* no final newline; spaces around unquoted fields */
                            0, NULL, NULL);
    assert_int_equal(r->bad, 0);
    assert_int_equal(r->samples, 2);
    assert_string_equal(r->seen[0].arch, "x86,64 \"special\"");
    assert_true(s_get(&r->seen[0].features, "cpu_cycles") == 7);
    assert_string_equal(r->seen[1].arch, "plain");
    assert_true(s_get(&r->seen[1].features, "cpu_cycles") == 8);
    assert_true(s_get(&r->seen[1].targets, "core") == 2);
    free(r);
}

static void test_empty_cells_are_not_measured(void **state)
{
    (void) state;
    s_result_t *r = s_parse("arch,cpu_cycles,cache_misses,core,dram\n"
                            ",1,,5,\n",
                            0, NULL, NULL);
    assert_int_equal(r->samples, 1);
    const kms_sample_t *s = &r->seen[0];
    assert_string_equal(s->arch, "unknown");
    assert_int_equal(s->features.count, 1);
    assert_false(kms_values_get(&s->features, "cache_misses", NULL));
    assert_int_equal(s->targets.count, 1);
    assert_false(kms_values_get(&s->targets, "dram", NULL));
    free(r);
}

/* Each bad row is reported with its own line and skipped; good rows around it still count. */
static void test_bad_rows_are_reported_with_line_numbers(void **state)
{
    (void) state;
    kms_dataset_stats_t stats;
    s_result_t *r = s_parse("arch,cpu_cycles,core\n" /* 1 */
                            "x86_64,1,1\n"           /* 2 ok */
                            "x86_64,2\n"             /* 3 missing column */
                            "x86_64,3,3,3\n"         /* 4 extra column */
                            "x86_64,abc,4\n"         /* 5 not a number */
                            "x86_64,1.2.3,5\n"       /* 6 not a number */
                            "x86_64,12x,6\n"         /* 7 trailing garbage */
                            "x86_64,NaN,7\n"         /* 8 NaN */
                            "x86_64,1,+Inf\n"        /* 9 Inf */
                            "x86_64,-Inf,9\n"        /* 10 -Inf */
                            "x86_64,1,-0.5\n"        /* 11 negative watts */
                            "x86_64,-1,1\n"          /* 12 negative rate */
                            "x86_64,1,\n"            /* 13 no target at all */
                            "\n"                     /* 14 blank: not a row */
                            "x86_64,14,14\n",        /* 15 ok */
                            0, &stats, NULL);
    assert_int_equal(r->samples, 2);
    assert_true(s_get(&r->seen[1].features, "cpu_cycles") == 14);
    static const size_t lines[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    assert_int_equal(r->bad, sizeof lines / sizeof lines[0]);
    assert_int_equal(stats.bad_rows, r->bad);
    for (size_t i = 0; i < r->bad; i++)
        assert_int_equal(r->bad_lines[i], lines[i]);
    assert_non_null(strstr(r->bad_why[0], "fields"));
    assert_non_null(strstr(r->bad_why[1], "more fields"));
    assert_non_null(strstr(r->bad_why[2], "cpu_cycles"));
    assert_non_null(strstr(r->bad_why[2], "abc"));
    assert_non_null(strstr(r->bad_why[5], "non-finite"));
    assert_non_null(strstr(r->bad_why[8], "negative"));
    assert_non_null(strstr(r->bad_why[10], "target"));
    free(r);
}

/* A row with broken quoting is dropped alone: the parser picks up again on the next line. */
static void test_broken_quoting_drops_one_row(void **state)
{
    (void) state;
    s_result_t *r = s_parse("arch,cpu_cycles,core\n"
                            "x86_64,1,1\n"
                            "x86_64,\"2\"x,2\n"
                            "x86_64,3,3\n",
                            0, NULL, NULL);
    assert_int_equal(r->samples, 2);
    assert_int_equal(r->bad, 1);
    assert_int_equal(r->bad_lines[0], 3);
    assert_true(s_get(&r->seen[1].features, "cpu_cycles") == 3);
    free(r);

    /* An opening quote that never closes eats the rest of the file: one bad row, reported. */
    r = s_parse("arch,cpu_cycles,core\nx86_64,1,1\nx86_64,\"2,2\nx86_64,3,3\n", 0, NULL, NULL);
    assert_int_equal(r->samples, 1);
    assert_int_equal(r->bad, 1);
    assert_int_equal(r->bad_lines[0], 3);
    free(r);
}

static void test_bad_headers_reject_the_file(void **state)
{
    (void) state;
    const char *why = NULL;
    const char *cases[] = {
        "",                                  /* no header */
        "\n\n",                              /* only blank lines */
        "arch,cpu_cycles,cpu_cycles,core\n", /* duplicate */
        "arch,,core\nx,1,1\n",               /* empty name */
        "arch,\"core\nx,1\n",                /* broken quoting in the header */
        "arch,a_feature_name_that_is_far_too_long_to_be_a_feature_name_at_all_really,core\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why = NULL;
        s_result_t *r = s_parse(cases[i], -1, NULL, &why);
        assert_non_null(why);
        assert_int_equal(r->samples, 0);
        free(r);
    }
    s_result_t *r = s_parse("arch,cpu_cycles,cpu_cycles,core\n", -1, NULL, &why);
    assert_non_null(strstr(why, "cpu_cycles"));
    free(r);
}

static void test_callback_can_stop(void **state)
{
    (void) state;
    s_result_t *r = calloc(1, sizeof *r);
    r->stop_after = 2;
    kms_dataset_visitor_t visitor = {s_on_sample, NULL, NULL, r};
    const char *text = "cpu_cycles,core\n1,1\n2,2\n3,3\n4,4\n";
    assert_int_equal(kms_dataset_parse(text, strlen(text), KMS_DATASET_CSV, &visitor, NULL, NULL), -1);
    assert_int_equal(r->samples, 2);
    free(r);
}

/* A query_range dump of one Kepler 0.7 node, two containers, four points 15 s apart; every
   counter grows at a constant rate (see the numbers below), so each interval's sample is known. */
static void test_prometheus_query_range_fixture(void **state)
{
    (void) state;
    kms_dataset_stats_t stats;
    s_result_t *r = s_parse_fixture("datasets/kepler-0.7-query_range.json", &stats);
    assert_int_equal(stats.format, KMS_DATASET_PROMETHEUS);
    assert_int_equal(r->samples, 3); /* four points, three intervals */
    for (size_t i = 0; i < 3; i++) {
        const kms_sample_t *s = &r->seen[i];
        assert_false(s->is_container);
        assert_string_equal(s->arch, "x86_64");
        assert_true(fabs(s->dt - 15) < 1e-9);
        assert_true(fabs(s->ts - (1700000015.0 + 15 * i)) < 1e-6);
        /* Containers: 1e9 + 0.5e9 cycles/s, 2e9 + 1e9 instructions/s, 1e6 + 0.5e6 misses/s,
           1 + 0.5 cpu-s/s; memory 1e9 + 0.5e9 bytes. Node: core 10 + 5 W, dram 2 + 1 W. */
        assert_true(fabs(s_get(&s->features, "cpu_cycles") - 1.5e9) < 1);
        assert_true(fabs(s_get(&s->features, "cpu_instructions") - 3e9) < 1);
        assert_true(fabs(s_get(&s->features, "cache_misses") - 1.5e6) < 1e-3);
        assert_true(fabs(s_get(&s->features, "cpu_time") - 1.5) < 1e-9);
        assert_true(fabs(s_get(&s->features, "resident_memory") - 1.5e9) < 1);
        assert_true(fabs(s_get(&s->targets, "core") - 15) < 1e-9);
        assert_true(fabs(s_get(&s->targets, "dram") - 3) < 1e-9);
        assert_true(fabs(s_get(&s->targets, "package") - 30) < 1e-9);
    }
    assert_string_equal(r->seen[0].node, r->seen[2].node);
    assert_true(r->seen[1].seq == r->seen[0].seq + 1);
    free(r);
}

static void test_broken_json_or_a_prometheus_error_answer_is_refused_with_why(void **state)
{
    (void) state;
    const char *why = NULL;
    s_result_t *r = s_parse("{\"kepler_node_core_joules_total\": [", -1, NULL, &why);
    assert_non_null(strstr(why, "JSON"));
    free(r);
    r = s_parse("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error\"}", -1, NULL, &why);
    assert_non_null(why);
    free(r);
    r = s_parse("[1, 2, 3]", -1, NULL, &why);
    assert_non_null(why);
    free(r);
}

/* The real capture (Kepler 0.7.1, one node, 7 points; tests/fixtures/kepler/README.md): it gives
   node samples with the node's cpu architecture. */
static void test_real_query_range_capture(void **state)
{
    (void) state;
    kms_dataset_stats_t stats;
    s_result_t *r = s_parse_fixture("kepler/kepler-0.7.1-prometheus-query_range-idle.json", &stats);
    assert_true(r->samples >= 1);
    for (size_t i = 0; i < r->samples && i < S_MAX_SEEN; i++) {
        const kms_sample_t *s = &r->seen[i];
        assert_false(s->is_container);
        assert_true(s->dt > 0);
        for (size_t k = 0; k < s->targets.count; k++)
            assert_true(isfinite(s->targets.items[k].value) && s->targets.items[k].value >= 0);
        assert_true(kms_values_get(&s->targets, "package", NULL));
    }
    printf("real capture: %zu node samples from %zu snapshots (%zu skipped)\n", r->samples, stats.rows, stats.skipped);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_csv_with_the_canonical_header_gives_every_row_as_a_sample),
        cmocka_unit_test(test_meta_columns_and_aliases),
        cmocka_unit_test(test_quoted_fields_crlf_bom_and_blank_lines),
        cmocka_unit_test(test_empty_cells_are_not_measured),
        cmocka_unit_test(test_bad_rows_are_reported_with_line_numbers),
        cmocka_unit_test(test_broken_quoting_drops_one_row),
        cmocka_unit_test(test_bad_headers_reject_the_file),
        cmocka_unit_test(test_callback_can_stop),
        cmocka_unit_test(test_prometheus_query_range_fixture),
        cmocka_unit_test(test_broken_json_or_a_prometheus_error_answer_is_refused_with_why),
        cmocka_unit_test(test_real_query_range_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
