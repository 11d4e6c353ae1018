#include "kms_test.h"

#include "kms_promtext_read.h"
#include "kms_promtext_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs the three writers into a string. */
static char *s_write(const char *label, double value)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    kms_promtext_write_family(out, "kms_test_total", "counter", "Things counted.");
    fputs("kms_test_total{who=", out);
    kms_promtext_write_label(out, label);
    fputc('}', out);
    kms_promtext_write_value(out, value);
    fclose(out);
    return text;
}

static void test_help_type_escaped_labels_and_special_values_are_written(void **state)
{
    (void) state;
    char *text = s_write("a\"b\\c\nd", 1234567);
    assert_string_equal(text, "# HELP kms_test_total Things counted.\n# TYPE kms_test_total counter\n"
                              "kms_test_total{who=\"a\\\"b\\\\c\\nd\"} 1.234567e+06\n");
    free(text);
    text = s_write("", NAN);
    assert_non_null(strstr(text, "{who=\"\"} NaN\n"));
    free(text);
    text = s_write("x", -INFINITY);
    assert_non_null(strstr(text, "} -Inf\n"));
    free(text);
}

typedef struct {
    char label[64];
    double value;
    size_t series;
} s_seen_t;

static int s_on_series(const kms_promtext_series_t *series, void *arg)
{
    s_seen_t *seen = arg;
    seen->series++;
    seen->value = series->value;
    assert_int_equal(series->label_count, 1);
    assert_true(kms_promtext_label_unescape(&series->labels[0], seen->label, sizeof seen->label) >= 0);
    return 0;
}

/* What is written reads back through the project's parser: label and value exactly. */
static void test_round_trip_through_the_parser(void **state)
{
    (void) state;
    const char *labels[] = {"plain", "quote \" backslash \\ newline \n end", "", "ünïcode"};
    const double values[] = {0, 0.1, 1e-300, 6.463799742e+09, 123456789012345678.0, INFINITY};
    for (size_t l = 0; l < sizeof labels / sizeof *labels; l++)
        for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
            char *text = s_write(labels[l], values[v]);
            s_seen_t seen = {0};
            kms_promtext_stats_t stats;
            kms_promtext_handler_t handler = {s_on_series, NULL, &seen};
            assert_int_equal(kms_promtext_parse(text, strlen(text), &handler, &stats), 0);
            assert_int_equal(stats.rejected, 0);
            assert_int_equal(seen.series, 1);
            assert_string_equal(seen.label, labels[l]);
            assert_true(seen.value == values[v]);
            free(text);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_type_escaped_labels_and_special_values_are_written),
        cmocka_unit_test(test_round_trip_through_the_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
