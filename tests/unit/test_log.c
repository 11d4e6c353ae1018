#include "kms_test.h"

#include "kms_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_evaluated;

/* What fn wrote with KMS_LOG_LEVEL at `level`, counting the evaluations from 0. */
static char *s_capture_at(const char *level, void (*fn)(void *))
{
    static char text[8192];
    setenv("KMS_LOG_LEVEL", level, 1);
    assert_int_equal(kms_log_init("kms-test"), 0);
    s_evaluated = 0;
    kms_test_capture(fn, NULL, text, sizeof text);
    return text;
}

static int s_count_evaluation(void)
{
    return ++s_evaluated;
}

static void s_write_lines(void *unused)
{
    (void) unused;
    kms_info("scrape done", "target=%s ms=%.1f", "node1", 3.25);
    kms_debug("hidden", "n=%d", s_count_evaluation());
    kms_warn("two words", NULL);
}

static void test_a_line_is_logfmt_and_hidden_levels_cost_nothing(void **state)
{
    (void) state;
    char *text = s_capture_at("info", s_write_lines);
    assert_non_null(strstr(text, " level=info prog=kms-test msg=\"scrape done\" target=node1 ms=3.2\n"));
    assert_non_null(strstr(text, "level=warn prog=kms-test msg=\"two words\"\n"));
    assert_null(strstr(text, "hidden"));
    assert_int_equal(s_evaluated, 0); /* arguments below the level are not evaluated */
    assert_memory_equal(text, "ts=", 3);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(text[26], 'Z');
}

static void s_write_bound(void *unused)
{
    (void) unused;
    kms_log_bound("control", "tcp://127.0.0.1:49153");
    kms_log_bound("samples", "ipc:///tmp/samples");
    kms_log_bound("connected", NULL);
}

static void test_bound_endpoint_names_its_port(void **state)
{
    (void) state;
    char *text = s_capture_at("info", s_write_bound);
    assert_non_null(strstr(text, " msg=listening socket=control endpoint=tcp://127.0.0.1:49153 port=49153\n"));
    assert_non_null(strstr(text, " msg=listening socket=samples endpoint=ipc:///tmp/samples\n"));
    assert_null(strstr(text, "connected"));
}

static void test_debug_level_shows_debug(void **state)
{
    (void) state;
    char *text = s_capture_at("debug", s_write_lines);
    assert_non_null(strstr(text, "level=debug prog=kms-test msg=hidden n=1\n"));
    assert_int_equal(s_evaluated, 1);
}

static void test_bad_level_is_reported(void **state)
{
    (void) state;
    setenv("KMS_LOG_LEVEL", "loud", 1);
    assert_int_equal(kms_log_init("kms-test"), -1);
    unsetenv("KMS_LOG_LEVEL");
    kms_log_threshold = KMS_LOG_INFO;
}

static void test_quote_escapes_what_logfmt_needs_and_fits_its_buffer(void **state)
{
    (void) state;
    char out[64];
    assert_string_equal(kms_log_quote("plain", out, sizeof out), "plain");
    assert_string_equal(kms_log_quote("a b", out, sizeof out), "\"a b\"");
    assert_string_equal(kms_log_quote("say \"hi\"\n", out, sizeof out), "\"say \\\"hi\\\"\\n\"");
    assert_string_equal(kms_log_quote("", out, sizeof out), "\"\"");
    assert_string_equal(kms_log_quote("k=v", out, sizeof out), "\"k=v\"");
    char small[6];
    kms_log_quote("a long value with spaces", small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

static void test_decade_logs_on_1_10_100_and_never_on_0(void **state)
{
    (void) state;
    uint64_t logged = 0, last = 0;
    for (uint64_t n = 0; n <= 100000; n++)
        if (kms_log_decade(n)) {
            logged++;
            last = n;
        }
    assert_int_equal(logged, 6); /* 1, 10, 100, 1000, 10000, 100000 */
    assert_int_equal(last, 100000);
    assert_false(kms_log_decade(0));
    assert_false(kms_log_decade(20));
    assert_true(kms_log_decade(UINT64_C(10000000000000000000)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_line_is_logfmt_and_hidden_levels_cost_nothing),
        cmocka_unit_test(test_debug_level_shows_debug),
        cmocka_unit_test(test_bound_endpoint_names_its_port),
        cmocka_unit_test(test_bad_level_is_reported),
        cmocka_unit_test(test_quote_escapes_what_logfmt_needs_and_fits_its_buffer),
        cmocka_unit_test(test_decade_logs_on_1_10_100_and_never_on_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
