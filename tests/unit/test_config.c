#include "kms_test.h"

#include "kms_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_url;
static double s_interval;
static long s_port, s_metrics_port, s_http_port;
static bool s_verbose;
static int s_mode;
static const char *s_zones, *s_name;

static const kms_opt_name_t s_modes[] = {{"slow", 1}, {"fast", 2}, {"0.10", 10}, {NULL}};
static const kms_opt_name_t s_zone_names[] = {{"package", 0}, {"core", 1}, {"dram", 2}, {NULL}};

static int s_no_slash(const char *text, char *why, size_t cap)
{
    if (!strchr(text, '/'))
        return 0;
    snprintf(why, cap, "no '/' allowed");
    return -1;
}

/* clang-format off */
static kms_option_t s_options[] = {
    {"url", "KMS_TEST_URL", KMS_OPT_STRING, "http://127.0.0.1:9102/metrics", "where to scrape", &s_url, 0, 0},
    {"interval", "KMS_TEST_INTERVAL", KMS_OPT_DOUBLE, "5", "seconds between scrapes", &s_interval, 0.01, 3600},
    {"port", "KMS_TEST_PORT", KMS_OPT_INT, "8100", "HTTP port", &s_port, 1, 65535},
    {"metrics-port", "KMS_TEST_METRICS_PORT", KMS_OPT_PORT_OFF, "off", "own /metrics", &s_metrics_port, 0, 0},
    {"http-port", NULL, KMS_OPT_PORT, "0", "serve here", &s_http_port, 0, 0},
    {"verbose", NULL, KMS_OPT_BOOL, "false", "say more", &s_verbose, 0, 0},
    {"mode", "KMS_TEST_MODE", KMS_OPT_ENUM, "fast", "how", &(kms_opt_text_t){&s_mode, s_modes, NULL}, 0, 0},
    {"zones", NULL, KMS_OPT_LIST, "package, core", "which zones", &(kms_opt_text_t){&s_zones, s_zone_names, NULL},
     0, 0},
    {"name", NULL, KMS_OPT_CHECKED, NULL, "who", &(kms_opt_text_t){&s_name, NULL, s_no_slash}, 0, 0},
    {0},
};
/* clang-format on */
static const kms_config_t s_config = {"kms-test", "A test program.", NULL, s_options};

typedef struct {
    char **args;
    int argc;
    int *positional;
    int rc;
} s_parse_call_t;

static void s_parse_call(void *arg)
{
    s_parse_call_t *call = arg;
    call->rc = kms_config_parse(&s_config, call->argc, call->args, call->positional);
}

/* Parses a NULL-terminated argument list; stdout and stderr go to `err` when not NULL. */
static int s_parse(char **args, int *positional, char *err, size_t cap)
{
    s_parse_call_t call = {args, 0, positional, 0};
    while (args[call.argc])
        call.argc++;
    kms_test_capture(s_parse_call, &call, err, cap);
    return call.rc;
}

static int s_setup(void **state)
{
    (void) state;
    unsetenv("KMS_TEST_URL");
    unsetenv("KMS_TEST_INTERVAL");
    unsetenv("KMS_TEST_PORT");
    unsetenv("KMS_TEST_METRICS_PORT");
    unsetenv("KMS_LOG_LEVEL");
    unsetenv("KMS_TEST_MODE");
    return 0;
}

static void test_no_flag_no_env_gives_the_defaults(void **state)
{
    (void) state;
    char *args[] = {"kms-test", NULL};
    assert_int_equal(s_parse(args, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_string_equal(s_url, "http://127.0.0.1:9102/metrics");
    assert_true(s_interval == 5);
    assert_int_equal(s_port, 8100);
    assert_false(s_verbose);
}

static void test_flag_beats_env_beats_default(void **state)
{
    (void) state;
    setenv("KMS_TEST_INTERVAL", "0.25", 1);
    setenv("KMS_TEST_PORT", "9000", 1);
    char *args[] = {"kms-test", "--port", "9100", "--verbose", "--url=http://x/metrics", NULL};
    assert_int_equal(s_parse(args, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_true(s_interval == 0.25);
    assert_int_equal(s_port, 9100);
    assert_true(s_verbose);
    assert_string_equal(s_url, "http://x/metrics");
}

static void test_bad_values_name_the_option(void **state)
{
    (void) state;
    char err[512];
    char *a1[] = {"kms-test", "--interval", "fast", NULL};
    assert_int_equal(s_parse(a1, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "--interval"));
    assert_non_null(strstr(err, "fast"));
    assert_non_null(strchr(err, '\n'));
    assert_int_equal(strchr(err, '\n') - err + 1, (long) strlen(err)); /* one line */

    char *a2[] = {"kms-test", "--port", "70000", NULL};
    assert_int_equal(s_parse(a2, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "--port"));

    char *a3[] = {"kms-test", "--port", "80x", NULL};
    assert_int_equal(s_parse(a3, NULL, err, sizeof err), KMS_CONFIG_ERROR);

    setenv("KMS_TEST_INTERVAL", "-1", 1);
    char *a4[] = {"kms-test", NULL};
    assert_int_equal(s_parse(a4, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "KMS_TEST_INTERVAL"));

    unsetenv("KMS_TEST_INTERVAL");
    char *a5[] = {"kms-test", "--no-such", NULL};
    assert_int_equal(s_parse(a5, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "--no-such"));

    char *a6[] = {"kms-test", "--port", NULL};
    assert_int_equal(s_parse(a6, NULL, err, sizeof err), KMS_CONFIG_ERROR);

    char *a7[] = {"kms-test", "--verbose=maybe", NULL};
    assert_int_equal(s_parse(a7, NULL, err, sizeof err), KMS_CONFIG_ERROR);

    setenv("KMS_LOG_LEVEL", "chatty", 1);
    char *a8[] = {"kms-test", NULL};
    assert_int_equal(s_parse(a8, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "KMS_LOG_LEVEL"));
    assert_int_equal(kms_config_exit_status(KMS_CONFIG_ERROR), 2);
}

/* A port option: off (no server), 0 (any free port) or a port, and nothing else. */
static void test_port_is_off_any_or_a_port(void **state)
{
    (void) state;
    char err[512];
    char *a1[] = {"kms-test", NULL};
    assert_int_equal(s_parse(a1, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_metrics_port, KMS_PORT_OFF);
    char *a2[] = {"kms-test", "--metrics-port", "0", NULL};
    assert_int_equal(s_parse(a2, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_metrics_port, 0);
    setenv("KMS_TEST_METRICS_PORT", "9103", 1);
    assert_int_equal(s_parse(a1, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_metrics_port, 9103);
    char *a3[] = {"kms-test", "--metrics-port=OFF", NULL};
    assert_int_equal(s_parse(a3, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_metrics_port, KMS_PORT_OFF);
    const char *bad[] = {"-1", "65536", "none", "", "9103x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *a4[] = {"kms-test", "--metrics-port", (char *) bad[i], NULL};
        assert_int_equal(s_parse(a4, NULL, err, sizeof err), KMS_CONFIG_ERROR);
        assert_non_null(strstr(err, "--metrics-port"));
        assert_non_null(strstr(err, "or off"));
    }
}

static void test_a_port_without_off_refuses_it(void **state)
{
    (void) state;
    char err[512];
    char *a1[] = {"kms-test", "--http-port", "8080", NULL};
    assert_int_equal(s_parse(a1, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_http_port, 8080);
    char *a2[] = {"kms-test", "--http-port", "off", NULL};
    assert_int_equal(s_parse(a2, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "--http-port"));
    assert_null(strstr(err, "or off"));
}

static void test_enum_takes_a_name_and_lists_them_when_wrong(void **state)
{
    (void) state;
    char err[512];
    char *a1[] = {"kms-test", NULL};
    assert_int_equal(s_parse(a1, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_mode, 2);
    char *a2[] = {"kms-test", "--mode=0.10", NULL};
    assert_int_equal(s_parse(a2, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(s_mode, 10);
    char *a3[] = {"kms-test", "--mode", "0.1", NULL};
    assert_int_equal(s_parse(a3, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_string_equal(err, "kms-test: invalid value '0.1' for --mode: expected slow, fast or 0.10\n");
    setenv("KMS_TEST_MODE", "Slow", 1);
    assert_int_equal(s_parse(a1, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "KMS_TEST_MODE"));
    char help[4096];
    char *a4[] = {"kms-test", "--help", NULL};
    unsetenv("KMS_TEST_MODE");
    assert_int_equal(s_parse(a4, NULL, help, sizeof help), KMS_CONFIG_EXIT);
    assert_non_null(strstr(help, "--mode slow|fast|0.10"));
}

static void test_a_list_checks_each_item_and_a_validator_says_why(void **state)
{
    (void) state;
    char err[512];
    char *a1[] = {"kms-test", "--zones", " dram,core ", "--name", "node1", NULL};
    assert_int_equal(s_parse(a1, NULL, NULL, 0), KMS_CONFIG_OK);
    assert_string_equal(s_zones, " dram,core ");
    assert_string_equal(s_name, "node1");
    char *a2[] = {"kms-test", "--zones", "package,gpu", NULL};
    assert_int_equal(s_parse(a2, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_string_equal(err, "kms-test: invalid value 'package,gpu' for --zones: unknown item 'gpu': "
                             "expected package, core or dram\n");
    char *a3[] = {"kms-test", "--zones", " , ", NULL};
    assert_int_equal(s_parse(a3, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_non_null(strstr(err, "--zones"));
    char *a4[] = {"kms-test", "--name", "a/b", NULL};
    assert_int_equal(s_parse(a4, NULL, err, sizeof err), KMS_CONFIG_ERROR);
    assert_string_equal(err, "kms-test: invalid value 'a/b' for --name: no '/' allowed\n");
}

static void test_help_lists_flags_envs_defaults_and_version_exits_0(void **state)
{
    (void) state;
    char out[4096];
    char *a1[] = {"kms-test", "--help", NULL};
    assert_int_equal(s_parse(a1, NULL, out, sizeof out), KMS_CONFIG_EXIT);
    assert_non_null(strstr(out, "--interval"));
    assert_non_null(strstr(out, "KMS_TEST_INTERVAL"));
    assert_non_null(strstr(out, "[default: 5]"));
    char *a2[] = {"kms-test", "--version", NULL};
    assert_int_equal(s_parse(a2, NULL, out, sizeof out), KMS_CONFIG_EXIT);
    assert_non_null(strstr(out, KMS_VERSION));
    assert_int_equal(kms_config_exit_status(KMS_CONFIG_EXIT), 0);
}

static void test_positional_arguments_are_kept_in_order_and_strays_refused(void **state)
{
    (void) state;
    int n = -1;
    char *args[] = {"kms-test", "train", "--port", "81", "data.csv", "--", "--literal", NULL};
    assert_int_equal(s_parse(args, &n, NULL, 0), KMS_CONFIG_OK);
    assert_int_equal(n, 3);
    assert_string_equal(args[1], "train");
    assert_string_equal(args[2], "data.csv");
    assert_string_equal(args[3], "--literal");
    assert_int_equal(s_port, 81);

    char *no[] = {"kms-test", "stray", NULL};
    assert_int_equal(s_parse(no, NULL, NULL, 0), KMS_CONFIG_ERROR);
}

static int s_collect(const char *item, int index, void *arg)
{
    char *out = arg;
    if (strcmp(item, "stop") == 0)
        return -1;
    snprintf(out + strlen(out), 64 - strlen(out), "%d:%s;", index, item);
    return 0;
}

static void test_split_trims_and_skips_empty_items(void **state)
{
    (void) state;
    char out[64] = "";
    assert_int_equal(kms_config_split(" a, b c\t,,c ,", s_collect, out), 3);
    assert_string_equal(out, "0:a;1:b c;2:c;");
    out[0] = '\0';
    assert_int_equal(kms_config_split(NULL, s_collect, out), 0);
    assert_int_equal(kms_config_split(" , ,", s_collect, out), 0);
    assert_string_equal(out, "");
    assert_int_equal(kms_config_split("x,stop,y", s_collect, out), -1);
    assert_string_equal(out, "0:x;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_flag_no_env_gives_the_defaults, s_setup),
        cmocka_unit_test_setup(test_flag_beats_env_beats_default, s_setup),
        cmocka_unit_test_setup(test_bad_values_name_the_option, s_setup),
        cmocka_unit_test_setup(test_port_is_off_any_or_a_port, s_setup),
        cmocka_unit_test_setup(test_a_port_without_off_refuses_it, s_setup),
        cmocka_unit_test_setup(test_enum_takes_a_name_and_lists_them_when_wrong, s_setup),
        cmocka_unit_test_setup(test_a_list_checks_each_item_and_a_validator_says_why, s_setup),
        cmocka_unit_test_setup(test_help_lists_flags_envs_defaults_and_version_exits_0, s_setup),
        cmocka_unit_test_setup(test_positional_arguments_are_kept_in_order_and_strays_refused, s_setup),
        cmocka_unit_test(test_split_trims_and_skips_empty_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
