#include "kms_test.h"

#include "kms_num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_a_double_parses_only_whole_and_in_range_else_v_is_untouched(void **state)
{
    (void) state;
    double v = 0;
    assert_int_equal(kms_num_parse_double("2.5", &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(kms_num_parse_double("1e-3", &v), 0);
    assert_true(v == 1e-3);
    assert_int_equal(kms_num_parse_double("+Inf", &v), 0);
    assert_true(isinf(v) && v > 0);
    assert_int_equal(kms_num_parse_double("NaN", &v), 0);
    assert_true(isnan(v));
    v = 7;
    const char *bad[] = {"", "2.5x", " ", "1e999", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kms_num_parse_double(bad[i], &v), -1);
    assert_true(v == 7);
    assert_int_equal(kms_num_parse_double_n("12.5trailing", 4, &v), 0);
    assert_true(v == 12.5);
}

static void test_a_long_parses_only_whole_and_in_range(void **state)
{
    (void) state;
    long v = 0;
    assert_int_equal(kms_num_parse_long("8100", &v), 0);
    assert_int_equal(v, 8100);
    assert_int_equal(kms_num_parse_long("-3", &v), 0);
    assert_int_equal(v, -3);
    const char *bad[] = {"12abc", "1.5", "99999999999999999999999", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kms_num_parse_long(bad[i], &v), -1);
}

static void test_format_round_trips(void **state)
{
    (void) state;
    char out[40];
    kms_num_format(0.1, out, sizeof out);
    assert_string_equal(out, "0.1");
    kms_num_format(NAN, out, sizeof out);
    assert_string_equal(out, "NaN");
    kms_num_format(INFINITY, out, sizeof out);
    assert_string_equal(out, "+Inf");
    kms_num_format(-INFINITY, out, sizeof out);
    assert_string_equal(out, "-Inf");
    srand(42);
    for (int i = 0; i < 10000; i++) {
        double v = (rand() / (double) RAND_MAX - 0.5) * pow(10, rand() % 40 - 20);
        kms_num_format(v, out, sizeof out);
        assert_true(strtod(out, NULL) == v);
        kms_num_format_go(v, out, sizeof out);
        assert_true(strtod(out, NULL) == v);
    }
}

/* Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints; the same layout
   appears in the real Kepler captures (e.g. 6.463799742e+09, 3.261699e+06). */
static void test_numbers_are_formatted_as_go_formats_them(void **state)
{
    (void) state;
    /* clang-format off */
    struct { double v; const char *go; } cases[] = {
        {0, "0"}, {1, "1"}, {-1, "-1"}, {123456, "123456"}, {1e6, "1e+06"},
        {3261699, "3.261699e+06"}, {6463799742.0, "6.463799742e+09"}, {44010285464.0, "4.4010285464e+10"},
        {0.5, "0.5"}, {0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"},
        {12.345, "12.345"}, {999999, "999999"}, {1e21, "1e+21"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-0.25, "-0.25"}, {100, "100"}, {INFINITY, "+Inf"}, {NAN, "NaN"},
    };
    /* clang-format on */
    char out[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kms_num_format_go(cases[i].v, out, sizeof out);
        assert_string_equal(out, cases[i].go);
    }
}

static void test_the_monotonic_clock_never_goes_back_and_wallclock_is_recent(void **state)
{
    (void) state;
    double a = kms_num_monotonic(), b = kms_num_monotonic();
    assert_true(b >= a);
    assert_true(kms_num_wallclock() > 1.6e9);
}

/* splitmix64 seeded with 0 starts 0xe220a8397b1dcdaf as in its authors' reference code
   (Vigna, prng.di.unimi.it/splitmix64.c); uniform draws stay in [lo, hi) and average midway. */
static void test_splitmix64_gives_the_reference_sequence_and_uniform_stays_in_range(void **state)
{
    (void) state;
    uint64_t seed = 0;
    assert_true(kms_num_splitmix64(&seed) == 0xe220a8397b1dcdafULL);
    assert_true(kms_num_splitmix64(&seed) == 0x6e789e6aa1b965f4ULL);
    seed = 42;
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = kms_num_uniform(&seed, 2, 5);
        assert_true(u >= 2 && u < 5);
        sum += u;
    }
    assert_true(fabs(sum / 100000 - 3.5) < 0.01);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_double_parses_only_whole_and_in_range_else_v_is_untouched),
        cmocka_unit_test(test_a_long_parses_only_whole_and_in_range),
        cmocka_unit_test(test_format_round_trips),
        cmocka_unit_test(test_numbers_are_formatted_as_go_formats_them),
        cmocka_unit_test(test_the_monotonic_clock_never_goes_back_and_wallclock_is_recent),
        cmocka_unit_test(test_splitmix64_gives_the_reference_sequence_and_uniform_stays_in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
