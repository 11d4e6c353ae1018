/*  kms-scraper's discovery: which hosts are names, each address's URL, the resolver thread. */
#include "kms_test.h"

#include <string.h>

#include "kms_num.h"
#include "scraper_discovery.h"

static void test_only_names_are_looked_up_not_address_literals(void **state)
{
    (void) state;
    assert_true(scraper_discovery_is_name("kepler.kepler-system.svc"));
    assert_true(scraper_discovery_is_name("localhost"));
    assert_true(scraper_discovery_is_name("10.0.0")); /* not a full dotted quad: a name to the resolver */
    assert_false(scraper_discovery_is_name("10.0.0.7"));
    assert_false(scraper_discovery_is_name("[fd00::7]"));
    assert_false(scraper_discovery_is_name("fd00::7"));
}

static void test_each_address_takes_the_host_place_in_the_url(void **state)
{
    (void) state;
    char url[256];
    assert_int_equal(
        scraper_discovery_url("http://kepler.kepler-system.svc:9102/metrics?x=1", "10.1.2.3", url, sizeof url), 0);
    assert_string_equal(url, "http://10.1.2.3:9102/metrics?x=1");
    assert_int_equal(scraper_discovery_url("https://kepler/metrics", "fd00::7", url, sizeof url), 0);
    assert_string_equal(url, "https://[fd00::7]/metrics");
    assert_int_equal(scraper_discovery_url("http://kepler:9102/metrics", "10.1.2.3", url, 20), -1); /* too small */
    assert_int_equal(scraper_discovery_url("not a url", "10.1.2.3", url, sizeof url), -1);
}

typedef struct {
    int calls;
    int status;
    size_t found;
    char first[64];
} s_seen_t;

static void s_note(const scraper_lookup_t *lookup, void *arg)
{
    s_seen_t *seen = arg;
    seen->calls++;
    seen->status = lookup->status;
    seen->found = lookup->found;
    snprintf(seen->first, sizeof seen->first, "%s", lookup->count ? lookup->addresses[0] : "");
}

static void test_the_resolver_thread_answers_at_once_and_again_each_interval(void **state)
{
    (void) state;
    const char *names[] = {"192.0.2.10"}; /* a literal: getaddrinfo answers without a network */
    scraper_discovery_t *d = scraper_discovery_new(names, 1, 0.05, 16);
    assert_non_null(d);
    s_seen_t seen = {0};
    double deadline = kms_num_monotonic() + 5;
    while (seen.calls < 3 && kms_num_monotonic() < deadline) {
        scraper_discovery_poll(d, s_note, &seen); /* never waits */
        usleep(10000);
    }
    assert_true(seen.calls >= 3);
    assert_int_equal(seen.status, 0);
    assert_int_equal(seen.found, 1);
    assert_string_equal(seen.first, "192.0.2.10");
    scraper_discovery_destroy(&d);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_names_are_looked_up_not_address_literals),
        cmocka_unit_test(test_each_address_takes_the_host_place_in_the_url),
        cmocka_unit_test(test_the_resolver_thread_answers_at_once_and_again_each_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
