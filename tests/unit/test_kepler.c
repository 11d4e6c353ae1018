/* kms_kepler: each Kepler generation from hand-written page pairs whose expected rates and watts
   were computed by hand (the numbers are in the fixtures' comments), plus the edge cases:
   restarts, churn, RAPL wraps, memory gauges, the Prometheus API shapes, and the real captures
   (tests/fixtures/kepler/README.md). */
#include "kms_test_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_kepler.h"
#include "kms_kepler_diff.h"
#include "kms_kepler_query.h"

#define MAX_SAMPLES 512

typedef struct {
    size_t count;
    kms_sample_t items[MAX_SAMPLES];
} collected_t;

static int s_collect(const kms_sample_t *sample, void *arg)
{
    collected_t *c = arg;
    assert_true(c->count < MAX_SAMPLES);
    c->items[c->count++] = *sample;
    return 0;
}

static int s_count_only(const kms_sample_t *sample, void *arg)
{
    collected_t *c = arg;
    if (c->count == 0)
        c->items[0] = *sample;
    c->count++;
    return 0;
}

/* tests/fixtures/kepler/`name` whole, its length in *len; the caller frees it. */
static char *s_kepler_file(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/kepler/%s", KMS_FIXTURES, name);
    char *text = kms_test_read_file(path, len);
    assert_non_null(text);
    return text;
}

static kms_kepler_snapshot_t *s_fixture(const char *name, double ts)
{
    size_t len;
    char *page = s_kepler_file(name, &len);
    kms_kepler_snapshot_t *snap = kms_kepler_snapshot_new();
    assert_non_null(snap);
    kms_promtext_stats_t stats;
    assert_int_equal(kms_kepler_snapshot_parse(snap, page, len, ts, "fallback-host", &stats), 0);
    assert_int_equal(stats.rejected, 0);
    free(page);
    return snap;
}

static void s_close(double actual, double expected)
{
    double tol = fabs(expected) * 1e-9;
    if (fabs(actual - expected) > (tol > 1e-12 ? tol : 1e-12)) {
        fail_msg("got %.17g, expected %.17g", actual, expected);
    }
}

static double s_get(const kms_values_t *values, const char *name)
{
    double v;
    if (!kms_values_get(values, name, &v))
        fail_msg("%s missing", name);
    return v;
}

/* Each `name=value` of `wanted` (space-separated) is present and within s_close's tolerance. */
static void s_want(const kms_values_t *values, const char *wanted)
{
    char name[64];
    double value;
    for (int used; sscanf(wanted, " %63[^=]=%lf%n", name, &value, &used) == 2; wanted += used) {
        double v = s_get(values, name);
        if (fabs(v - value) > fmax(fabs(value) * 1e-9, 1e-12))
            fail_msg("%s: got %.17g, expected %.17g", name, v, value);
    }
    assert_int_equal(*wanted, '\0'); /* every pair read */
}

static void s_absent(const kms_values_t *values, const char *name)
{
    double v;
    if (kms_values_get(values, name, &v))
        fail_msg("%s present (%g) but should not be", name, v);
}

/* The samples of the interval from `prev` to `cur`, into `got` emptied first: the diff's count. */
static int s_diff(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, collected_t *got,
                  kms_kepler_diff_stats_t *st)
{
    got->count = 0;
    return kms_kepler_diff(prev, cur, s_collect, got, st);
}

static const kms_sample_t *s_find(const collected_t *c, const char *container_id)
{
    for (size_t i = 0; i < c->count; i++)
        if (c->items[i].is_container && strcmp(c->items[i].container_id, container_id) == 0)
            return &c->items[i];
    return NULL;
}

static void test_each_kepler_page_is_told_its_era_and_a_foreign_page_none(void **state)
{
    (void) state;
    struct {
        const char *file;
        kms_kepler_era_t era;
    } cases[] = {{"0.3-a.prom", KMS_KEPLER_ERA_GAUGE},
                 {"0.7-a.prom", KMS_KEPLER_ERA_COUNTER},
                 {"0.9-a.prom", KMS_KEPLER_ERA_COUNTER},
                 {"0.10-a.prom", KMS_KEPLER_ERA_RAPL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kms_kepler_snapshot_t *s = s_fixture(cases[i].file, 1000);
        assert_int_equal(kms_kepler_snapshot_era(s), cases[i].era);
        kms_kepler_snapshot_destroy(&s);
        assert_null(s);
    }
    kms_kepler_snapshot_t *s = kms_kepler_snapshot_new();
    const char *page = "# TYPE go_goroutines gauge\ngo_goroutines 12\n";
    assert_int_equal(kms_kepler_snapshot_parse(s, page, strlen(page), 1, "h", NULL), -1);
    assert_int_equal(kms_kepler_snapshot_era(s), KMS_KEPLER_ERA_UNKNOWN);
    assert_string_equal(kms_kepler_era_name(KMS_KEPLER_ERA_RAPL), "0.10+");
    kms_kepler_snapshot_destroy(&s);
    kms_kepler_snapshot_destroy(&s); /* idempotent */
}

/* 0.7: us cpu time, two packages, both modes, churn (c3 went, c4 came), memory that fell. */
static void test_kepler_07_counters_give_node_and_container_rates_across_churn(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = s_fixture("0.7-a.prom", 1000), *b = s_fixture("0.7-b.prom", 1005);
    assert_string_equal(kms_kepler_snapshot_node(b), "node-a");
    assert_string_equal(kms_kepler_snapshot_arch(b), "Sapphire Rapids");
    assert_int_equal(kms_kepler_snapshot_containers(b), 3);
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, &st), 3);
    assert_null(st.why);
    assert_int_equal(got->count, 3);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.containers_matched, 2);
    assert_int_equal(st.containers_churned, 2);
    assert_int_equal(st.counter_resets, 0);

    const kms_sample_t *n = &got->items[0];
    assert_false(n->is_container);
    assert_string_equal(n->node, "node-a");
    assert_string_equal(n->arch, "Sapphire Rapids");
    s_close(n->ts, 1005);
    s_close(n->dt, 5);
    s_want(&n->features, "cpu_cycles=1.2e8 cpu_instructions=9e7 cache_misses=1.5e5 cpu_time=0.15");
    s_close(s_get(&n->features, "resident_memory"), 4e8); /* cgroupfs, not kubelet (3.8e8) */
    assert_int_equal(n->features.count, 5);
    s_want(&n->targets, "package=60 core=0 dram=2 platform=20 gpu=1 other=0.2");
    s_absent(&n->targets, "uncore");

    const kms_sample_t *c1 = s_find(got, "c1");
    assert_non_null(c1);
    assert_string_equal(c1->pod, "app-1");
    assert_string_equal(c1->namespace_, "default");
    assert_string_equal(c1->container, "app");
    s_want(&c1->features, "cpu_cycles=1e8 cpu_instructions=8e7 cache_misses=1e5 cpu_time=0.1 resident_memory=1.2e8");
    s_want(&c1->targets, "package=2 dram=0.2");
    const kms_sample_t *c2 = s_find(got, "c2");
    assert_non_null(c2);
    s_close(s_get(&c2->features, "resident_memory"), 2.8e8); /* a gauge may go down */
    s_close(s_get(&c2->features, "cpu_time"), 0.05);
    s_close(s_get(&c2->targets, "package"), 4);
    assert_null(s_find(got, "c3"));
    assert_null(s_find(got, "c4"));

    /* A copy diffs exactly like the original. */
    kms_kepler_snapshot_t *copy = kms_kepler_snapshot_new();
    assert_int_equal(kms_kepler_snapshot_copy(copy, a), 0);
    collected_t *again = calloc(1, sizeof *again);
    assert_int_equal(kms_kepler_diff(copy, b, s_collect, again, NULL), 3);
    assert_memory_equal(&again->items[0], &got->items[0], sizeof(kms_sample_t));
    /* Reusing a snapshot for another page leaves nothing of the first behind. */
    kms_kepler_snapshot_t *reuse = s_fixture("0.9-a.prom", 1);
    assert_int_equal(kms_kepler_snapshot_copy(reuse, a), 0);
    assert_int_equal(kms_kepler_diff(reuse, b, s_collect, again, NULL), 3);
    kms_kepler_snapshot_destroy(&reuse);
    kms_kepler_snapshot_destroy(&copy);

    /* Backwards in time, or no time at all: nothing. */
    assert_int_equal(kms_kepler_diff(b, a, s_collect, again, &st), 0);
    assert_non_null(st.why);
    assert_int_equal(kms_kepler_diff(NULL, b, s_collect, again, &st), 0);
    assert_non_null(st.why);
    free(again);
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
}

/* 0.9: ms cpu time, the source label, all-zero cgroupfs memory (kubelet used), escapes, CRLF. */
static void test_kepler_09_ms_cpu_time_kubelet_memory_and_escaped_labels_read(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = s_fixture("0.9-a.prom", 2000), *b = s_fixture("0.9-b.prom", 2002);
    assert_string_equal(kms_kepler_snapshot_arch(b), "unknown");
    collected_t *got = calloc(1, sizeof *got);
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, NULL), 3);
    const kms_sample_t *n = &got->items[0];
    assert_string_equal(n->node, "node-b");
    s_close(n->dt, 2);
    s_want(&n->features, "cpu_time=0.5 resident_memory=2e8");
    s_absent(&n->features, "cpu_cycles");
    s_absent(&n->features, "cache_misses");
    s_want(&n->targets, "package=20 core=8 uncore=0.5");
    const kms_sample_t *x1 = s_find(got, "x1");
    assert_non_null(x1);
    assert_string_equal(x1->pod, "web \"blue\"\\1");
    s_want(&x1->features, "cpu_time=0.2 resident_memory=6e7");
    s_want(&x1->targets, "package=2 core=1");
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
}

/* An exporter restart: every counter went down. No sample, never a negative rate. */
static void test_an_exporter_restart_gives_no_sample_and_the_next_interval_does(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *b = s_fixture("0.9-b.prom", 2002), *r = s_fixture("0.9-restart.prom", 2007);
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(b, r, s_collect, got, &st), 0);
    assert_int_equal(got->count, 0);
    assert_non_null(st.why);
    assert_true(st.counter_resets >= 1);
    /* The interval after the restart is fine again. */
    kms_kepler_snapshot_t *a = s_fixture("0.9-a.prom", 2012);
    assert_int_equal(kms_kepler_diff(r, a, s_collect, got, &st), 3);
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
    kms_kepler_snapshot_destroy(&r);
}

/* Series built by hand, as the Prometheus API path feeds them. */
static void s_add(kms_kepler_snapshot_t *s, const char *name, double value, const char *l1, const char *v1,
                  const char *l2, const char *v2)
{
    kms_promtext_label_t labels[2];
    size_t n = 0;
    if (l1)
        labels[n++] = (kms_promtext_label_t){{l1, strlen(l1)}, {v1, strlen(v1)}, false};
    if (l2)
        labels[n++] = (kms_promtext_label_t){{l2, strlen(l2)}, {v2, strlen(v2)}, false};
    kms_promtext_series_t series = {.name = {name, strlen(name)},
                                    .labels = labels,
                                    .label_count = n,
                                    .value = value,
                                    .family = {name, strlen(name)}};
    kms_kepler_snapshot_add(s, &series);
}

static void s_container_page(kms_kepler_snapshot_t *s, double ts, double cpu1, double cpu2, double pkg)
{
    kms_kepler_snapshot_begin(s, ts, "host-1");
    s_add(s, "kepler_container_bpf_cpu_time_us_total", cpu1, "container_id", "a", NULL, NULL);
    s_add(s, "kepler_container_bpf_cpu_time_us_total", cpu2, "container_id", "b", NULL, NULL);
    s_add(s, "kepler_node_package_joules_total", pkg, "mode", "dynamic", NULL, NULL);
}

/* One container restarted alone (same id, counter down): it gives no sample of its own, and
   adds to the node's features what it counted since its restart (Prometheus' rate() convention);
   the node and the other container are unaffected. */
static void test_a_restarted_container_gives_no_sample_and_adds_to_the_node(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    s_container_page(p, 10, 4e3, 1e3, 100); /* milliseconds */
    s_container_page(c, 12, 5e3, 0.01, 110);
    assert_string_equal(kms_kepler_snapshot_node(c), "host-1"); /* no instance label */
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 2);
    assert_int_equal(st.counter_resets, 1);
    s_close(s_get(&got->items[0].features, "cpu_time"), (1e3 + 0.01) * 1e-3 / 2);
    s_close(s_get(&got->items[0].targets, "package"), 5);
    assert_non_null(s_find(got, "a"));
    assert_null(s_find(got, "b"));
    free(got);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* Bad values are rejected one by one and never reach a sample. */
static void test_bad_values_are_rejected_one_by_one_and_reach_no_sample(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *s = kms_kepler_snapshot_new();
    kms_kepler_snapshot_begin(s, 1, NULL);
    assert_string_equal(kms_kepler_snapshot_node(s), "unknown");
    s_add(s, "kepler_container_cpu_cycles_total", NAN, "container_id", "a", NULL, NULL);
    s_add(s, "kepler_container_cpu_cycles_total", INFINITY, "container_id", "b", NULL, NULL);
    s_add(s, "kepler_container_cpu_cycles_total", -1, "container_id", "c", NULL, NULL);
    s_add(s, "kepler_container_cpu_cycles_total", 5, "job", "x", NULL, NULL); /* no identity */
    s_add(s, "kepler_node_cpu_joules_total", 5, "zone", "mystery", NULL, NULL);
    s_add(s, "go_goroutines", 5, NULL, NULL, NULL, NULL);
    s_add(s, "node_energy_stat", 1, "node_curr_cpu_cycles", "NaN", NULL, NULL);
    const kms_kepler_snapshot_stats_t *st = kms_kepler_snapshot_stats(s);
    assert_int_equal(st->rejected, 5);
    assert_int_equal(st->ignored, 2);
    assert_int_equal(st->used, 0);
    assert_int_equal(kms_kepler_snapshot_containers(s), 0);
    kms_kepler_snapshot_destroy(&s);
}

/* 0.10: the package zone's raw RAPL reading wrapped; a workload went from running to
   terminated (same container); one appeared. */
static void test_kepler_010_raw_rapl_wrap_is_unwrapped_into_node_and_container_watts(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = s_fixture("0.10-a.prom", 3000), *b = s_fixture("0.10-b.prom", 3005);
    assert_string_equal(kms_kepler_snapshot_node(b), "node-c");
    assert_string_equal(kms_kepler_snapshot_arch(b), "unknown");
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, &st), 3);
    assert_int_equal(st.rapl_wraps, 1);
    assert_int_equal(st.counter_resets, 0);
    assert_int_equal(st.containers_churned, 1);
    const kms_sample_t *n = &got->items[0];
    s_want(&n->targets, "package=40 core=30 dram=5");
    s_close(s_get(&n->features, "cpu_time"), 0.6);
    assert_int_equal(n->features.count, 1);
    const kms_sample_t *k1 = s_find(got, "k1"), *k2 = s_find(got, "k2");
    assert_non_null(k1);
    assert_non_null(k2);
    assert_string_equal(k1->pod, "p1");
    s_want(&k1->targets, "package=20 dram=1");
    s_close(s_get(&k1->features, "cpu_time"), 0.5);
    s_want(&k2->targets, "package=2 dram=0.2");
    s_close(s_get(&k2->features, "cpu_time"), 0.1);
    assert_null(s_find(got, "k3"));
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
}

/* One raw package zone reading `joules` at `ts`, without watts gauges. */
static void s_zone(kms_kepler_snapshot_t *s, double ts, double joules)
{
    kms_kepler_snapshot_begin(s, ts, "h");
    s_add(s, "kepler_node_cpu_joules_total", joules, "zone", "package", "node_name", "n");
}

/* A raw reading that went down from above any known range cannot be unwrapped: no sample. */
static void test_a_rapl_fall_beyond_any_known_range_is_no_wrap_and_no_sample(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    s_zone(p, 1, 900000);
    s_zone(c, 2, 10);
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 0);
    assert_non_null(st.why);
    assert_int_equal(got->count, 0);
    /* A zone whose counter wraps at 1000 J, not at the standard range: the power Kepler reports
       (3 W) gives the standard unwrap (52 kW) away, and nothing is made of the interval. */
    s_zone(p, 1, 990);
    s_add(p, "kepler_node_cpu_watts", 3, "zone", "package", "node_name", "n");
    s_zone(c, 6, 5);
    s_add(c, "kepler_node_cpu_watts", 3, "zone", "package", "node_name", "n");
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 0);
    assert_non_null(st.why);
    assert_int_equal(got->count, 0);
    /* Within the known range the same fall is a wrap. */
    s_zone(c, 2, 10);
    s_zone(p, 1, 262143.32885 - 5);
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 1);
    assert_int_equal(st.rapl_wraps, 1);
    s_close(s_get(&got->items[0].targets, "package"), 15);
    free(got);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* A 0.10 page of three raw RAPL zones, with or without Kepler's watts gauges. */
static void s_zones(kms_kepler_snapshot_t *s, double ts, const double joules[3], bool watts)
{
    static const char *zones[3] = {"package", "core", "dram"};
    kms_kepler_snapshot_begin(s, ts, "h");
    for (int z = 0; z < 3; z++) {
        s_add(s, "kepler_node_cpu_joules_total", joules[z], "zone", zones[z], "node_name", "n");
        if (watts)
            s_add(s, "kepler_node_cpu_watts", 40, "zone", zones[z], "node_name", "n");
    }
    s_add(s, "kepler_process_cpu_seconds_total", ts, "pid", "1", NULL, NULL);
}

/* RAPL counting again from 0 (a reboot, an exporter restart) is no wrap, gauges or not: every
   zone fell at once. Before, a page without watts gauges gave ~1 MW per zone. A single zone's
   fall is a wrap only at a power a zone can draw. */
static void test_rapl_restart_is_not_a_wrap(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    for (int watts = 0; watts < 2; watts++) {
        s_zones(p, 100, (double[]){200000, 150000, 50000}, watts);
        s_zones(c, 105, (double[]){12, 9, 3}, watts);
        assert_int_equal(s_diff(p, c, got, &st), 0);
        assert_int_equal(got->count, 0);
        assert_int_equal(st.rapl_wraps, 0);
        assert_int_equal(st.counter_resets, 3);
        assert_string_equal(st.why, "the node's counters went down (exporter restart)");
        /* One zone wrapping while the others count on: a wrap, unwrapped. */
        s_zones(c, 105, (double[]){40, 150100, 50025}, watts);
        s_zones(p, 100, (double[]){262143.32885 - 160, 150000, 50000}, watts);
        assert_int_equal(s_diff(p, c, got, &st), 1);
        assert_int_equal(st.rapl_wraps, 1);
        s_want(&got->items[0].targets, "package=40 core=20");
    }
    /* A lone zone falling from mid-range: 32 kW if it were a wrap, so it is not. */
    s_zone(p, 1, 100000);
    s_zone(c, 6, 10);
    assert_int_equal(s_diff(p, c, got, &st), 0);
    assert_int_equal(st.rapl_wraps, 0);
    assert_int_equal(st.counter_resets, 1);
    free(got);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* Without watts gauges a fall is judged by the zone's recent power: a zone that drew 40 W can
   wrap at 101 W (a workload starting), not at 241 W (more likely a restart near the top of the
   range). With no history yet only KMS_KEPLER_ZONE_MAX_WATTS bounds it. */
static void test_rapl_wrap_judged_by_recent_power(void **state)
{
    (void) state;
    const double range = 262143.328850;
    kms_kepler_snapshot_t *a = kms_kepler_snapshot_new(), *b = kms_kepler_snapshot_new(),
                          *c = kms_kepler_snapshot_new();
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    struct {
        double before, implied;
        int wraps;
    } cases[] = {{500, 101, 1}, {1200, 241, 0}};
    for (size_t k = 0; k < 2; k++) {
        s_zone(a, 0, range - cases[k].before - 200);
        s_zone(b, 5, range - cases[k].before);
        assert_int_equal(s_diff(a, b, got, &st), 1);
        s_close(s_get(&got->items[0].targets, "package"), 40);
        s_zone(c, 10, 5);
        assert_int_equal(s_diff(b, c, got, &st), cases[k].wraps);
        assert_int_equal(st.rapl_wraps, cases[k].wraps);
        assert_int_equal(st.counter_resets, 1 - cases[k].wraps);
        if (cases[k].wraps)
            s_close(s_get(&got->items[0].targets, "package"), cases[k].implied);
    }
    /* The same 241 W fall with no history: a wrap. */
    s_zone(b, 5, range - 1200);
    s_zone(c, 10, 5);
    assert_int_equal(s_diff(b, c, got, &st), 1);
    assert_int_equal(st.rapl_wraps, 1);
    /* The recent power outlives an interval of idling, forgotten 1% an interval. */
    s_zone(a, 0, range - 1400);
    s_zone(b, 5, range - 1200);
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, &st), 1);
    s_zone(a, 10, range - 1190); /* 2 W */
    assert_int_equal(kms_kepler_diff(b, a, s_collect, got, &st), 1);
    s_zone(c, 15, 5); /* 239 W > 4 * 39.6 W + 10 W */
    assert_int_equal(kms_kepler_diff(a, c, s_collect, got, &st), 0);
    assert_int_equal(st.rapl_wraps, 0);
    /* An unchanged reading (an exporter that had not refreshed) measures nothing, not 0 W. */
    s_zone(a, 0, range - 1000);
    s_zone(b, 5, range - 1000);
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, &st), 1);
    s_zone(c, 10, 5); /* 201 W, no history: a wrap */
    assert_int_equal(s_diff(b, c, got, &st), 1);
    assert_int_equal(st.rapl_wraps, 1);
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
    kms_kepler_snapshot_destroy(&c);
}

/* A counter-era node page (0.7/0.9 names): two packages, their core and package counters, and
   one container's cpu time. `bad` spoils one series: 1 NaN on package 1's package counter, 2 a
   duplicate of package 0's core series, 3 package 0's package counter 10 MJ ahead, 4 a NaN cpu
   time series of a second container. */
static void s_packages(kms_kepler_snapshot_t *s, double ts, double joules, int bad)
{
    kms_kepler_snapshot_begin(s, ts, "host-1");
    s_add(s, "kepler_container_bpf_cpu_time_us_total", ts * 1e3, "container_id", "a", NULL, NULL);
    if (bad == 4)
        s_add(s, "kepler_container_bpf_cpu_time_us_total", NAN, "container_id", "b", NULL, NULL);
    for (int pkg = 0; pkg < 2; pkg++) {
        const char *id = pkg ? "1" : "0";
        double jump = bad == 3 && pkg == 0 ? 1e7 : 0;
        s_add(s, "kepler_node_package_joules_total", bad == 1 && pkg == 1 ? NAN : 2 * joules + jump, "package", id,
              "mode", "dynamic");
        s_add(s, "kepler_node_core_joules_total", joules, "package", id, "mode", "dynamic");
        if (bad == 2 && pkg == 0)
            s_add(s, "kepler_node_core_joules_total", joules + 5e6, "package", id, "mode", "dynamic");
    }
}

/* A sum that would miss a socket or pass a megawatt is left out of the node sample, counted by
   reason; the node's other targets are published as usual. Before: a NaN on one package halved
   the package power, a duplicate series gave ten megawatts, a 10 MJ jump forty. */
static void test_a_spoiled_target_sum_is_left_out_and_the_others_published(void **state)
{
    (void) state;
    static const struct {
        int bad;
        const char *absent;
        kms_kepler_spoil_t reason;
    } cases[] = {{1, "package", KMS_KEPLER_SPOIL_NONFINITE},
                 {2, "core", KMS_KEPLER_SPOIL_DUPLICATE},
                 {3, "package", KMS_KEPLER_SPOIL_JUMP},
                 {4, "cpu_time", KMS_KEPLER_SPOIL_NONFINITE}};
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int in_prev = 0; in_prev < 2; in_prev++) { /* the bad page first or second */
            s_packages(p, 100, 1000, in_prev ? cases[k].bad : 0);
            s_packages(c, 105, 1100, in_prev ? 0 : cases[k].bad);
            if (in_prev && cases[k].bad == 3)
                continue; /* the way back down from a jump is a damaged page, tested elsewhere */
            assert_int_equal(s_diff(p, c, got, &st), 2);
            const kms_sample_t *n = &got->items[0];
            assert_false(n->is_container);
            for (int r = 0; r < KMS_KEPLER_SPOIL_COUNT; r++)
                assert_int_equal(st.spoiled[r], r == (int) cases[k].reason);
            if (strcmp(cases[k].absent, "cpu_time") == 0) {
                s_absent(&n->features, "cpu_time");
                s_close(s_get(&n->targets, "package"), 2 * 2 * 100 / 5.0);
            } else {
                s_absent(&n->targets, cases[k].absent);
                const char *other = strcmp(cases[k].absent, "core") == 0 ? "package" : "core";
                s_close(s_get(&n->targets, other), (strcmp(other, "core") == 0 ? 2 : 4) * 100 / 5.0);
                s_close(s_get(&n->features, "cpu_time"), 1);
            }
        }
    /* The same pages without the fault: every target, none spoiled. */
    s_packages(p, 100, 1000, 0);
    s_packages(c, 105, 1100, 0);
    assert_int_equal(s_diff(p, c, got, &st), 2);
    s_want(&got->items[0].targets, "package=80 core=40");
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_DUPLICATE] + st.spoiled[KMS_KEPLER_SPOIL_NONFINITE]
                         + st.spoiled[KMS_KEPLER_SPOIL_JUMP],
                     0);
    free(got);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* Kepler 0.3's node_energy_stat with one number that is not one, or twice: the node sample
   leaves out what it cannot give (before: the whole node stat was dropped and the node summed
   from its pods, half the package). */
static void test_kepler_03_node_stat_leaves_out_only_what_is_spoiled(void **state)
{
    (void) state;
    size_t len;
    char *page = s_kepler_file("0.3-b.prom", &len);
    const char *core = "node_curr_energy_in_core_joule=\"72\"";
    char *at = strstr(page, core);
    assert_non_null(at);
    char *nan = malloc(2 * len + 8), *twice = malloc(2 * len + 8);
    snprintf(nan, 2 * len + 8, "%.*snode_curr_energy_in_core_joule=\"NaN\"%s", (int) (at - page), page,
             at + strlen(core));
    char *line = strstr(page, "node_energy_stat{"), *end = strchr(line, '\n');
    snprintf(twice, 2 * len + 8, "%s%.*s", page, (int) (end - line + 1), line);
    kms_kepler_snapshot_t *snap = kms_kepler_snapshot_new();
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_snapshot_parse(snap, nan, strlen(nan), 4003, "h", NULL), 0);
    assert_int_equal(kms_kepler_diff(NULL, snap, s_collect, got, &st), 2);
    s_absent(&got->items[0].targets, "core");
    s_close(s_get(&got->items[0].targets, "package"), 30);
    s_close(s_get(&got->items[0].features, "cpu_cycles"), 2e9);
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_NONFINITE], 1);
    got->count = 0;
    assert_int_equal(kms_kepler_snapshot_parse(snap, twice, strlen(twice), 4003, "h", NULL), 0);
    assert_int_equal(kms_kepler_diff(NULL, snap, s_collect, got, &st), 2);
    assert_int_equal(got->items[0].targets.count, 0);
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_DUPLICATE], 6);
    free(got);
    free(page);
    free(nan);
    free(twice);
    kms_kepler_snapshot_destroy(&snap);
}

/* 0.10 as released: cpu time per process (with its container id, or none for the host's own
   processes); the node's cpu time is every process's, a container's is its processes'. */
static void s_proc(kms_kepler_snapshot_t *s, const char *pid, const char *cid, double seconds)
{
    kms_promtext_label_t labels[3] = {{{"pid", 3}, {pid, strlen(pid)}, false},
                                      {{"comm", 4}, {"worker", 6}, false},
                                      {{"container_id", 12}, {cid, strlen(cid)}, false}};
    const char *name = "kepler_process_cpu_seconds_total";
    kms_promtext_series_t series = {.name = {name, strlen(name)},
                                    .labels = labels,
                                    .label_count = 3,
                                    .value = seconds,
                                    .family = {name, strlen(name)}};
    assert_int_equal(kms_kepler_snapshot_add(s, &series), 0);
}

static void s_proc_page(kms_kepler_snapshot_t *s, double ts, double p1, double p2, double p3, double p4, double joules)
{
    kms_kepler_snapshot_begin(s, ts, "h");
    s_add(s, "kepler_node_cpu_info", 1, "model_name", "Xeon 8480+", "processor", "0");
    s_add(s, "kepler_node_cpu_joules_total", joules, "zone", "package", "node_name", "n10");
    s_add(s, "kepler_container_cpu_joules_total", joules / 2, "container_id", "ctr", "zone", "package");
    s_proc(s, "10", "ctr", p1);
    s_proc(s, "11", "ctr", p2);
    s_proc(s, "1", "", p3); /* the host's own process */
    if (p4 >= 0)
        s_proc(s, "12", "ctr", p4); /* started during the interval */
}

static void test_node_and_container_cpu_time_sum_their_processes_over_the_interval(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    s_proc_page(p, 100, 1.0, 2.0, 10.0, -1, 1000);
    s_proc_page(c, 104, 1.5, 3.0, 10.5, 7.0, 1100);
    assert_string_equal(kms_kepler_snapshot_arch(c), "Xeon 8480+");
    assert_int_equal(kms_kepler_snapshot_containers(c), 1); /* processes are not containers */
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 2);
    assert_int_equal(st.containers_churned, 0);
    /* node: (0.5 + 1.0 + 0.5) / 4 s; the new process's 7 s are not from this interval */
    s_close(s_get(&got->items[0].features, "cpu_time"), 0.5);
    s_close(s_get(&got->items[0].targets, "package"), 25);
    const kms_sample_t *ctr = s_find(got, "ctr");
    assert_non_null(ctr);
    s_close(s_get(&ctr->features, "cpu_time"), 0.375);
    s_close(s_get(&ctr->targets, "package"), 12.5);
    free(got);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* A Kepler 0.10+ page of a two-package node: each package's package and dram zones (their
   paths tell the packages apart) at `joules` and a quarter of it, package 1's left out when
   `lost`, and one container. */
static void s_two_packages(kms_kepler_snapshot_t *s, double ts, double joules, bool lost)
{
    char page[2048];
    size_t n = 0;
    for (int pkg = 0; pkg < (lost ? 1 : 2); pkg++)
        n += (size_t) snprintf(page + n, sizeof page - n,
                               "kepler_node_cpu_joules_total{node_name=\"n\",path=\"/sys/class/powercap/intel-rapl/"
                               "intel-rapl:%d\",zone=\"package\"} %.17g\n"
                               "kepler_node_cpu_joules_total{node_name=\"n\",path=\"/sys/class/powercap/intel-rapl/"
                               "intel-rapl:%d/intel-rapl:%d:0\",zone=\"dram\"} %.17g\n",
                               pkg, joules, pkg, pkg, joules / 4);
    n += (size_t) snprintf(page + n, sizeof page - n,
                           "kepler_container_cpu_joules_total{container_id=\"k1\",zone=\"package\"} %.17g\n",
                           joules / 2);
    assert_int_equal(kms_kepler_snapshot_parse(s, page, n, ts, "h", NULL), 0);
}

/* Issue #11: package 1's zones missing from every other page. Its interval gives no sample at
   all (before: the node at half its watts, 20 W of package for 40), counted by target as
   series_changed; the next page is diffed against the last whole one, and the interval in which
   the zones come back (from a page that lacked them) gives nothing either. */
static void test_rapl_package_lost_from_a_page(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = kms_kepler_snapshot_new(), *b = kms_kepler_snapshot_new(),
                          *c = kms_kepler_snapshot_new();
    s_two_packages(a, 100, 1000, false);
    s_two_packages(b, 105, 1100, true);
    s_two_packages(c, 110, 1200, false);
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, &st), 0);
    assert_int_equal(got->count, 0);
    assert_non_null(st.why);
    assert_true(st.damaged);
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_SERIES_CHANGED], 2); /* package and dram */
    int kept = 0;
    assert_true(kms_kepler_keep_prev(st.damaged, &kept));
    assert_int_equal(kms_kepler_diff(a, c, s_collect, got, &st), 2);
    s_close(s_get(&got->items[0].targets, "package"), 2 * 200 / 10.0);
    s_close(s_get(&got->items[0].targets, "dram"), 2 * 50 / 10.0);
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_SERIES_CHANGED], 0);
    assert_int_equal(s_diff(b, c, got, &st), 0);
    assert_int_equal(got->count, 0);
    assert_false(st.damaged); /* appeared: c is the reference from now on */
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_SERIES_CHANGED], 2);
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
    kms_kepler_snapshot_destroy(&c);
}

/* A 0.10+ page of a 4-cpu node whose processes are all new (pids churn): one process of the
   container and one of the host, ids from `round`; `ratio` < 0 leaves the usage ratio out,
   `cpus` 0 the cpu info. */
static void s_churn_page(kms_kepler_snapshot_t *s, double ts, int round, double ratio, int cpus, bool nan)
{
    kms_kepler_snapshot_begin(s, ts, "h");
    for (int i = 0; i < cpus; i++)
        s_add(s, "kepler_node_cpu_info", 1, "model_name", "Xeon 8480+", "processor",
              (const char *[]){"0", "1", "2", "3"}[i]);
    if (ratio >= 0)
        s_add(s, "kepler_node_cpu_usage_ratio", ratio, "node_name", "n10", NULL, NULL);
    s_add(s, "kepler_node_cpu_joules_total", ts * 10, "zone", "package", "node_name", "n10");
    s_add(s, "kepler_container_cpu_joules_total", ts * 5, "container_id", "ctr", "zone", "package");
    char pid[16];
    snprintf(pid, sizeof pid, "%d", 100 + 2 * round);
    s_proc(s, pid, "ctr", 3.0);
    snprintf(pid, sizeof pid, "%d", 101 + 2 * round);
    s_proc(s, pid, "", 2.0);
    if (nan)
        s_add(s, "kepler_process_cpu_seconds_total", NAN, "pid", "7", "container_id", "ctr");
}

/* Issue #12: the node's cpu time is Kepler's own figure, kepler_node_cpu_usage_ratio x the
   node's logical cpus, not the sum over processes present in both pages: with pids that churn
   every page that sum is 0 (before: cpu_time 0 on a node busy at 1.5 cpus). The container keeps
   its processes' sum. Without the ratio or the cpus the node falls back to that sum. */
static void test_rapl_node_cpu_time_from_usage_ratio(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    s_churn_page(p, 100, 0, 0.5, 4, false);
    s_churn_page(c, 105, 1, 0.375, 4, false);
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 2);
    assert_int_equal(got->items[0].cpus, 4);
    s_close(s_get(&got->items[0].features, "cpu_time"), 0.375 * 4); /* the current page's ratio */
    s_close(s_get(&got->items[0].targets, "package"), 10);
    const kms_sample_t *ctr = s_find(got, "ctr");
    assert_non_null(ctr);
    s_close(s_get(&ctr->features, "cpu_time"), 0);
    /* A process series that is not a number spoils the sums, not the node's own figure. */
    s_churn_page(c, 105, 1, 0.375, 4, true);
    assert_int_equal(s_diff(p, c, got, &st), 2);
    s_close(s_get(&got->items[0].features, "cpu_time"), 1.5);
    assert_int_equal(st.spoiled[KMS_KEPLER_SPOIL_NONFINITE], 0);
    /* No ratio, no cpus, or a ratio that is not one (above 1): the sum, as before. */
    const struct {
        double ratio;
        int cpus;
    } fallback[] = {{-1, 4}, {0.375, 0}, {1.5, 4}};
    for (size_t k = 0; k < sizeof fallback / sizeof fallback[0]; k++) {
        s_churn_page(c, 105, 1, fallback[k].ratio, fallback[k].cpus, false);
        assert_int_equal(s_diff(p, c, got, &st), 2);
        s_close(s_get(&got->items[0].features, "cpu_time"), 0);
    }
    /* Twice on a page: which one is the node's? The sum. */
    s_churn_page(c, 105, 1, 0.375, 4, false);
    s_add(c, "kepler_node_cpu_usage_ratio", 0.9, "node_name", "n10", "x", "y");
    assert_int_equal(s_diff(p, c, got, &st), 2);
    s_close(s_get(&got->items[0].features, "cpu_time"), 0);
    /* Kepler's active and idle joules give the ratio over the interval itself (here 6 of 10 J
       active: 0.6), which the page's gauge (its last refresh's, 0.375) only samples; a Kepler
       restart (its counters back at 0) falls back to the gauge. */
    s_churn_page(p, 100, 0, 0.5, 4, false);
    s_add(p, "kepler_node_cpu_active_joules_total", 100, "node_name", "n10", "zone", "package");
    s_add(p, "kepler_node_cpu_idle_joules_total", 200, "node_name", "n10", "zone", "package");
    s_churn_page(c, 105, 1, 0.375, 4, false);
    s_add(c, "kepler_node_cpu_active_joules_total", 106, "node_name", "n10", "zone", "package");
    s_add(c, "kepler_node_cpu_idle_joules_total", 204, "node_name", "n10", "zone", "package");
    assert_int_equal(s_diff(p, c, got, &st), 2);
    s_close(s_get(&got->items[0].features, "cpu_time"), 0.6 * 4);
    s_churn_page(c, 105, 1, 0.375, 4, false);
    s_add(c, "kepler_node_cpu_active_joules_total", 1, "node_name", "n10", "zone", "package");
    s_add(c, "kepler_node_cpu_idle_joules_total", 2, "node_name", "n10", "zone", "package");
    assert_int_equal(s_diff(p, c, got, &st), 2);
    s_close(s_get(&got->items[0].features, "cpu_time"), 0.375 * 4);
    free(got);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* Issue #13: the interval is measured on the monotonic clock when both snapshots have its time;
   ts stays the wall clock's. A wall clock stepped back 60 s (NTP) between two pages 5 s apart
   gave no sample at all ("no time elapsed"); now dt is 5 s and the sample ends at the page's
   wall time. Without monotonic times (Prometheus' points, a dataset) dt is the ts' difference. */
static void test_interval_on_the_monotonic_clock(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    s_container_page(p, 1000, 1e3, 2e3, 100);
    kms_kepler_snapshot_set_monotonic(p, 50);
    s_container_page(c, 945, 2e3, 2.5e3, 150);
    kms_kepler_snapshot_set_monotonic(c, 55);
    s_close(kms_kepler_snapshot_interval(p, c), 5);
    assert_int_equal(kms_kepler_diff(p, c, s_collect, got, &st), 3);
    const kms_sample_t *n = &got->items[0];
    s_close(n->dt, 5);
    s_close(n->ts, 945);
    s_close(s_get(&n->targets, "package"), 10);
    s_close(s_get(&n->features, "cpu_time"), 0.3);
    /* A copy keeps its monotonic time; a snapshot begun again forgets it. */
    kms_kepler_snapshot_t *copy = kms_kepler_snapshot_new();
    assert_int_equal(kms_kepler_snapshot_copy(copy, p), 0);
    s_close(kms_kepler_snapshot_interval(copy, c), 5);
    s_container_page(c, 1004, 2e3, 2.5e3, 150);
    s_close(kms_kepler_snapshot_interval(copy, c), 4);
    assert_int_equal(s_diff(copy, c, got, &st), 3);
    s_close(got->items[0].dt, 4);
    free(got);
    kms_kepler_snapshot_destroy(&copy);
    kms_kepler_snapshot_destroy(&p);
    kms_kepler_snapshot_destroy(&c);
}

/* 0.3: every value covers Kepler's 3 s period; a page not updated since gives nothing. */
static void test_kepler_03_gauges_cover_3_s_and_an_unchanged_page_gives_nothing(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = s_fixture("0.3-a.prom", 4000);
    assert_string_equal(kms_kepler_snapshot_node(a), "node-g");
    assert_string_equal(kms_kepler_snapshot_arch(a), "Haswell");
    assert_int_equal(kms_kepler_snapshot_containers(a), 2);
    collected_t *got = calloc(1, sizeof *got);
    assert_int_equal(kms_kepler_diff(NULL, a, s_collect, got, NULL), 3);
    const kms_sample_t *n = &got->items[0];
    s_close(n->dt, 3);
    s_close(n->ts, 4000);
    s_want(&n->features, "cpu_cycles=1e9 cpu_instructions=2e9 cache_misses=1000 cpu_time=0.5 resident_memory=6e8");
    s_want(&n->targets, "package=20 core=15 uncore=0 dram=3 gpu=0 other=1");
    const kms_sample_t *web = NULL;
    for (size_t i = 1; i < got->count; i++)
        if (strcmp(got->items[i].pod, "web-1") == 0)
            web = &got->items[i];
    assert_non_null(web);
    assert_string_equal(web->namespace_, "default");
    assert_string_equal(web->container_id, "default/web-1"); /* 0.3 names no container id */
    s_want(&web->features, "cpu_cycles=5e8 cpu_instructions=1e9 cache_misses=500 cpu_time=0.2 resident_memory=2e8");
    s_want(&web->targets, "package=10 core=8 dram=1");

    kms_kepler_snapshot_t *same = s_fixture("0.3-a.prom", 4001);
    kms_kepler_diff_stats_t st;
    assert_int_equal(s_diff(a, same, got, &st), 0);
    assert_non_null(st.why);
    assert_int_equal(got->count, 0);
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&same);
}

/* The callback can stop the walk. */
static int s_stop(const kms_sample_t *sample, void *arg)
{
    (void) sample;
    (*(int *) arg)++;
    return 1;
}

static void test_the_sample_callback_can_stop_the_diff(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = s_fixture("0.7-a.prom", 1000), *b = s_fixture("0.7-b.prom", 1005);
    int calls = 0;
    assert_int_equal(kms_kepler_diff(a, b, s_stop, &calls, NULL), -1);
    assert_int_equal(calls, 1);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
}

/* Many containers: the table grows, copies keep every one, and each interval's node features
   are the exact sum over the containers present in both scrapes. */
static void s_many(kms_kepler_snapshot_t *s, double ts, int first, int count, double step)
{
    kms_kepler_snapshot_begin(s, ts, "big");
    char id[32];
    for (int i = first; i < first + count; i++) {
        snprintf(id, sizeof id, "ctr-%05d", i);
        s_add(s, "kepler_container_cpu_cycles_total", 1e6 * i + step * i, "container_id", id, NULL, NULL);
        s_add(s, "kepler_container_package_joules_total", 10.0 * i + step, "container_id", id, "mode", "idle");
    }
    s_add(s, "kepler_node_package_joules_total", 1e6 + step * 100, "mode", "idle", NULL, NULL);
}

static void test_3000_containers_are_copied_whole_and_node_sums_exact(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *p = kms_kepler_snapshot_new(), *c = kms_kepler_snapshot_new();
    kms_kepler_snapshot_t *copy = kms_kepler_snapshot_new();
    s_many(p, 0, 0, 3000, 0);   /* containers 0..2999 */
    s_many(c, 2, 500, 3000, 4); /* containers 500..3499: 2500 in both */
    assert_int_equal(kms_kepler_snapshot_containers(c), 3000);
    assert_int_equal(kms_kepler_snapshot_copy(copy, p), 0);
    kms_kepler_snapshot_destroy(&p); /* the copy owns all it holds */
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(copy, c, s_count_only, got, &st), 2501);
    assert_int_equal(st.containers_matched, 2500);
    assert_int_equal(st.containers_churned, 1000);
    /* sum over i = 500..2999 of 4 i / 2 s */
    double expected = 0;
    for (int i = 500; i < 3000; i++)
        expected += 4.0 * i / 2;
    s_close(s_get(&got->items[0].features, "cpu_cycles"), expected);
    s_close(s_get(&got->items[0].targets, "package"), 200);
    free(got);
    kms_kepler_snapshot_destroy(&copy);
    kms_kepler_snapshot_destroy(&c);
}

/* One node counter down and the others up is a damaged page, not a restart: no sample, and
   diffing the next page against the last good one gives the true rate (against the damaged one
   it would give the counter's way back up). Every non-zero counter down is a restart. */
static void s_two_counters(kms_kepler_snapshot_t *s, double ts, double dynamic, double idle, double core)
{
    kms_kepler_snapshot_begin(s, ts, "h");
    s_add(s, "kepler_node_package_joules_total", dynamic, "mode", "dynamic", NULL, NULL);
    s_add(s, "kepler_node_package_joules_total", idle, "mode", "idle", NULL, NULL);
    s_add(s, "kepler_node_core_joules_total", core, "mode", "idle", NULL, NULL); /* no core zone: 0 */
}

static void test_one_counter_down_is_a_damaged_page_and_all_down_a_restart(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *good = kms_kepler_snapshot_new(), *cut = kms_kepler_snapshot_new();
    kms_kepler_snapshot_t *next = kms_kepler_snapshot_new();
    s_two_counters(good, 10, 1000000, 5000, 0);
    s_two_counters(cut, 15, 1, 5050, 0); /* "1000050" lost its end */
    s_two_counters(next, 20, 1000100, 5100, 0);
    collected_t *got = calloc(1, sizeof *got);
    kms_kepler_diff_stats_t st;
    assert_int_equal(kms_kepler_diff(good, cut, s_collect, got, &st), 0);
    assert_true(st.damaged);
    assert_non_null(st.why);
    assert_int_equal(got->count, 0);
    assert_int_equal(kms_kepler_diff(good, next, s_collect, got, &st), 1);
    s_close(s_get(&got->items[0].targets, "package"), 20); /* (100 + 100) J / 10 s */
    s_close(s_get(&got->items[0].targets, "core"), 0);

    /* A container's cycles cut short while its cpu time and energy went on: damaged too. */
    kms_kepler_snapshot_t *a = kms_kepler_snapshot_new(), *b = kms_kepler_snapshot_new();
    kms_kepler_snapshot_begin(a, 1, "h");
    kms_kepler_snapshot_begin(b, 2, "h");
    s_add(a, "kepler_container_cpu_cycles_total", 5e9, "container_id", "x", NULL, NULL);
    s_add(b, "kepler_container_cpu_cycles_total", 5, "container_id", "x", NULL, NULL);
    s_add(a, "kepler_container_bpf_cpu_time_us_total", 1e3, "container_id", "x", NULL, NULL);
    s_add(b, "kepler_container_bpf_cpu_time_us_total", 2e3, "container_id", "x", NULL, NULL);
    s_add(a, "kepler_node_package_joules_total", 10, "mode", "idle", NULL, NULL);
    s_add(b, "kepler_node_package_joules_total", 20, "mode", "idle", NULL, NULL);
    assert_int_equal(kms_kepler_diff(a, b, s_collect, got, &st), 0);
    assert_true(st.damaged);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);

    /* A restart: both non-zero counters down, the zero one unchanged. */
    s_two_counters(cut, 15, 3, 2, 0);
    assert_int_equal(kms_kepler_diff(good, cut, s_collect, got, &st), 0);
    assert_false(st.damaged);
    assert_int_equal(st.counter_resets, 2);
    free(got);
    kms_kepler_snapshot_destroy(&good);
    kms_kepler_snapshot_destroy(&cut);
    kms_kepler_snapshot_destroy(&next);
}

/* Pages damaged byte by byte (a fixed pseudo-random sequence) never crash the conversion and
   never give a rate that is negative or not finite. */
static int s_check_finite(const kms_sample_t *sample, void *arg)
{
    (void) arg;
    for (size_t k = 0; k < sample->features.count; k++)
        assert_true(isfinite(sample->features.items[k].value) && sample->features.items[k].value >= 0);
    for (size_t k = 0; k < sample->targets.count; k++)
        assert_true(isfinite(sample->targets.items[k].value) && sample->targets.items[k].value >= 0);
    return 0;
}

static void test_randomly_damaged_pages_never_give_a_negative_or_nonfinite_rate(void **state)
{
    (void) state;
    static const char *pairs[][2] = {{"0.7-a.prom", "0.7-b.prom"},
                                     {"0.9-a.prom", "0.9-b.prom"},
                                     {"0.10-a.prom", "0.10-b.prom"},
                                     {"0.3-a.prom", "0.3-b.prom"}};
    static const char noise[] = "0123456789.eE+-,{}\"\\\n =#_aNIf";
    uint64_t rng = 88172645463325252ull;
    kms_kepler_snapshot_t *a = kms_kepler_snapshot_new(), *b = kms_kepler_snapshot_new();
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        size_t alen, blen;
        char *pa = s_kepler_file(pairs[p][0], &alen), *pb = s_kepler_file(pairs[p][1], &blen);
        for (int round = 0; round < 300; round++) {
            char *da = malloc(alen), *db = malloc(blen);
            memcpy(da, pa, alen);
            memcpy(db, pb, blen);
            for (int k = 0; k < 1 + round % 8; k++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                char *page = (rng & 1) ? da : db;
                size_t len = (rng & 1) ? alen : blen;
                page[(rng >> 8) % len] = noise[(rng >> 40) % (sizeof noise - 1)];
            }
            kms_kepler_snapshot_parse(a, da, alen, 100, "h", NULL);
            kms_kepler_snapshot_parse(b, db, blen, 105, "h", NULL);
            kms_kepler_diff(a, b, s_check_finite, NULL, NULL);
            free(da);
            free(db);
        }
        free(pa);
        free(pb);
    }
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
}

/* ---------------------------------------------------------------- Prometheus API */

typedef struct {
    collected_t samples;
    size_t snapshots, with_prev;
    char nodes[8][64];
    size_t nnodes;
} walked_t;

static int s_on_snapshot(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, void *arg)
{
    walked_t *w = arg;
    w->snapshots++;
    if (w->nnodes < 8)
        snprintf(w->nodes[w->nnodes++], 64, "%s", kms_kepler_snapshot_node(cur));
    if (prev) {
        w->with_prev++;
        kms_kepler_diff(prev, cur, s_collect, &w->samples, NULL);
    }
    return 0;
}

static void s_same_values(const kms_values_t *a, const kms_values_t *b)
{
    assert_int_equal(a->count, b->count);
    for (size_t k = 0; k < a->count; k++) {
        assert_string_equal(a->items[k].name, b->items[k].name);
        assert_true(a->items[k].value == b->items[k].value);
    }
}

/* Parses `text` (a Prometheus API answer) and walks it with fn, loaded whole and as text one
   result at a time: both walks must succeed and give the same samples and counts. */
static walked_t *s_walk(const char *text, kms_kepler_snapshot_fn fn, kms_kepler_query_stats_t *st)
{
    json_t *root = kms_test_json(text);
    walked_t *w = calloc(1, sizeof *w), *by_text = calloc(1, sizeof *by_text);
    assert_non_null(w);
    assert_non_null(by_text);
    const char *why = NULL;
    kms_kepler_query_stats_t tree_stats, text_stats;
    assert_int_equal(kms_kepler_query_walk(root, NULL, fn, w, &tree_stats, &why), 0);
    assert_int_equal(kms_kepler_query_walk_text(text, strlen(text), NULL, fn, by_text, &text_stats, &why), 0);
    assert_memory_equal(&tree_stats, &text_stats, sizeof tree_stats);
    assert_int_equal(w->snapshots, by_text->snapshots);
    assert_int_equal(w->samples.count, by_text->samples.count);
    for (size_t i = 0; i < w->samples.count; i++) {
        const kms_sample_t *a = &w->samples.items[i], *b = &by_text->samples.items[i];
        assert_string_equal(a->node, b->node);
        assert_true(a->ts == b->ts && a->dt == b->dt && a->cpus == b->cpus);
        s_same_values(&a->targets, &b->targets);
        s_same_values(&a->features, &b->features);
    }
    if (st)
        *st = tree_stats;
    json_decref(root);
    free(by_text);
    return w;
}

static void test_a_prometheus_vector_gives_a_snapshot_per_exporter_and_skips_bad(void **state)
{
    (void) state;
    const char *text =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"10.0.0.1:9102\","
        "\"exported_instance\":\"worker-1\",\"mode\":\"idle\",\"package\":\"0\"},\"value\":[1700000000.5,\"12.5\"]},"
        "{\"metric\":{\"__name__\":\"kepler_node_info\",\"instance\":\"10.0.0.1:9102\",\"cpu_architecture\":\"Icelake\"},"
        "\"value\":[1700000000.5,\"1\"]},"
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"10.0.0.2:9102\","
        "\"exported_instance\":\"worker-2\",\"mode\":\"idle\",\"package\":\"0\"},\"value\":[1700000000.5,\"7\"]},"
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\"},\"value\":[\"bad\"]}"
        "]}}";
    kms_kepler_query_stats_t st;
    walked_t *w = s_walk(text, s_on_snapshot, &st);
    assert_int_equal(st.nodes, 3);     /* two exporters and one series without any instance */
    assert_int_equal(w->snapshots, 2); /* the third node's only point is malformed */
    assert_int_equal(w->with_prev, 0);
    assert_string_equal(w->nodes[0], "worker-1");
    assert_string_equal(w->nodes[1], "worker-2");
    assert_true(st.rejected >= 1);
    free(w);
}

static void test_a_prometheus_matrix_gives_rates_between_its_points(void **state)
{
    (void) state;
    /* Two points 15 s apart; package +300 J, one container +1.5 cpu-s: 20 W and 0.1. */
    const char *text =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"n1\",\"mode\":\"dynamic\"},"
        "\"values\":[[100,\"1000\"],[115,\"1100\"]]},"
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"n1\",\"mode\":\"idle\"},"
        "\"values\":[[100,\"5000\"],[115,\"5200\"]]},"
        "{\"metric\":{\"__name__\":\"kepler_container_bpf_cpu_time_ms_total\",\"instance\":\"n1\",\"container_id\":\"q\"},"
        "\"values\":[[100,\"1000\"],[115,\"2500\"]]}"
        "]}}";
    walked_t *w = s_walk(text, s_on_snapshot, NULL);
    assert_int_equal(w->snapshots, 2);
    assert_int_equal(w->samples.count, 2);
    const kms_sample_t *n = &w->samples.items[0];
    assert_string_equal(n->node, "n1");
    s_close(n->dt, 15);
    s_close(s_get(&n->targets, "package"), 20);
    s_close(s_get(&n->features, "cpu_time"), 0.1);
    free(w);
}

/* The walk keeps prev when the callback says the new snapshot was damaged. */
static int s_keep_damaged(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, void *arg)
{
    walked_t *w = arg;
    w->snapshots++;
    if (!prev)
        return 0;
    kms_kepler_diff_stats_t st;
    kms_kepler_diff(prev, cur, s_collect, &w->samples, &st);
    return st.damaged ? KMS_KEPLER_KEEP_PREV : 0;
}

static void test_the_prometheus_walk_keeps_prev_past_a_damaged_point(void **state)
{
    (void) state;
    /* The point at 110 has its dynamic counter cut: 100 -> 130 is diffed against 100. */
    const char *text =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"n\",\"mode\":\"dynamic\"},"
        "\"values\":[[100,\"1000000\"],[110,\"1\"],[130,\"1000300\"]]},"
        "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"n\",\"mode\":\"idle\"},"
        "\"values\":[[100,\"5000\"],[110,\"5100\"],[130,\"5300\"]]}"
        "]}}";
    walked_t *w = s_walk(text, s_keep_damaged, NULL);
    assert_int_equal(w->snapshots, 3);
    assert_int_equal(w->samples.count, 1);
    s_close(w->samples.items[0].dt, 30);
    s_close(s_get(&w->samples.items[0].targets, "package"), 20); /* (300 + 300) J / 30 s */
    free(w);
}

static void test_a_prometheus_error_or_unknown_answer_fails_the_walk(void **state)
{
    (void) state;
    walked_t *w = calloc(1, sizeof *w);
    const char *why = NULL;
    json_t *root = json_loads("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error at char 3\"}",
                              0, NULL);
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, NULL, &why), -1);
    assert_string_equal(why, "parse error at char 3");
    json_decref(root);
    /* An empty message says nothing: the walk's own reason stands. */
    root = json_loads("{\"status\":\"error\",\"error\":\"\"}", 0, NULL);
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, NULL, &why), -1);
    assert_string_equal(why, "Prometheus answered with an error");
    json_decref(root);
    root = json_loads("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"2\"]}}", 0, NULL);
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, NULL, &why), -1);
    assert_non_null(why);
    json_decref(root);
    root = json_loads("{\"kepler_node_info\": 3}", 0, NULL);
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, NULL, &why), -1);
    json_decref(root);
    root = json_loads("[1,2]", 0, NULL);
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, NULL, &why), -1);
    json_decref(root);
    assert_int_equal(w->snapshots, 0);
    free(w);
}

/* The text walk reads Prometheus' own layout one result at a time, whatever its spaces; any
   other layout is loaded whole, to the same snapshots; text that is not JSON fails the walk. */
static void test_an_answer_walked_as_text_gives_what_it_says(void **state)
{
    (void) state;
    const char *texts[] = {
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[%s]}}",
        " { \"status\" : \"success\" ,\n \"data\": {\"resultType\": \"matrix\", \"result\": [ %s ] } , \"warnings\":[]}",
        "{\"data\":{\"result\":[%s],\"resultType\":\"matrix\"},\"status\":\"success\"}", /* loaded whole */
    };
    const char *results = "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"n1\"},"
                          "\"values\":[[100,\"1000\"],[115,\"1300\"],[\"bad\"]]}, 7 ,"
                          "{\"metric\":{\"__name__\":\"kepler_node_package_joules_total\",\"instance\":\"n2\"},"
                          "\"values\":[[100,\"10\"],[105,\"20\"]]}";
    char text[1024];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        snprintf(text, sizeof text, texts[i], results);
        kms_kepler_query_stats_t st;
        walked_t *w = s_walk(text, s_on_snapshot, &st);
        assert_int_equal(st.nodes, 2);
        assert_int_equal(st.rejected, 2); /* the bad point and the 7 */
        assert_int_equal(w->samples.count, 2);
        s_close(s_get(&w->samples.items[0].targets, "package"), 20);
        s_close(s_get(&w->samples.items[1].targets, "package"), 2);
        free(w);
    }
    /* Cut short, or not closed as a Prometheus answer is: nothing is walked. */
    const char *broken[] = {
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[]} ",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]]",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]",
        "<html>",
        "",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        walked_t *w = calloc(1, sizeof *w);
        const char *why = NULL;
        assert_int_equal(kms_kepler_query_walk_text(broken[i], strlen(broken[i]), NULL, s_on_snapshot, w, NULL, &why),
                         -1);
        assert_string_equal(why, "not JSON");
        assert_int_equal(w->snapshots, 0);
        free(w);
    }
}

/* ---------------------------------------------------------------- the real captures */

static void test_real_kepler_pages_parse_with_every_container_and_none_rejected(void **state)
{
    (void) state;
    size_t len;
    char *page = s_kepler_file("kepler-0.7.1-metrics-derived.txt", &len);
    kms_kepler_snapshot_t *s = kms_kepler_snapshot_new();
    assert_int_equal(kms_kepler_snapshot_parse(s, page, len, 1, "h", NULL), 0);
    assert_int_equal(kms_kepler_snapshot_era(s), KMS_KEPLER_ERA_COUNTER);
    assert_string_equal(kms_kepler_snapshot_node(s), "kind-fms-control-plane");
    assert_string_equal(kms_kepler_snapshot_arch(s), "Broadwell");
    assert_int_equal(kms_kepler_snapshot_containers(s), 51);
    assert_int_equal(kms_kepler_snapshot_stats(s)->rejected, 0);
    free(page);

    page = s_kepler_file("kepler-0.4.x-dev-2023-02-metrics-derived.txt", &len);
    assert_int_equal(kms_kepler_snapshot_parse(s, page, len, 1, "h", NULL), 0);
    assert_int_equal(kms_kepler_snapshot_era(s), KMS_KEPLER_ERA_COUNTER);
    assert_string_equal(kms_kepler_snapshot_node(s), "kepler-exporter-s7tmt");
    assert_string_equal(kms_kepler_snapshot_arch(s), "unknown");
    assert_int_equal(kms_kepler_snapshot_containers(s), 17);
    /* The same page 3 s later: 18 samples of nothing, each container with a key of its own. */
    kms_kepler_snapshot_t *later = kms_kepler_snapshot_new();
    assert_int_equal(kms_kepler_snapshot_parse(later, page, len, 4, "h", NULL), 0);
    collected_t *got = calloc(1, sizeof *got);
    assert_int_equal(kms_kepler_diff(s, later, s_collect, got, NULL), 18);
    assert_non_null(s_find(got, "monitoring/prometheus-k8s-0/config-reloader"));
    for (size_t i = 0; i < got->count; i++)
        for (size_t k = 0; k < got->items[i].targets.count; k++)
            assert_true(got->items[i].targets.items[k].value == 0);
    free(got);
    kms_kepler_snapshot_destroy(&later);
    free(page);
    kms_kepler_snapshot_destroy(&s);
}

/* KMS_KEPLER_CPUS_QUERY's answer, walked as held results: each node's count of
   kepler_node_cpu_info series (and its model_name) joins every snapshot of that node, as its
   series would have; a node it alone names has no snapshot; a matrix or a count that is not a
   whole number of cpus is rejected. */
static void test_held_cpu_counts_give_each_node_its_cpus(void **state)
{
    (void) state;
    const char *range =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
        "{\"metric\":{\"__name__\":\"kepler_node_cpu_joules_total\",\"instance\":\"n1\",\"zone\":\"package\"},"
        "\"values\":[[100,\"1000\"],[105,\"1100\"],[110,\"1200\"]]},"
        "{\"metric\":{\"__name__\":\"kepler_node_cpu_usage_ratio\",\"instance\":\"n1\"},"
        "\"values\":[[100,\"0.5\"],[105,\"0.25\"],[110,\"0.25\"]]}]}}";
    const char *held =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
        "{\"metric\":{\"__name__\":\"kepler_node_cpu_info\",\"instance\":\"n1\",\"model_name\":\"Xeon 8480+\"},"
        "\"value\":[111,\"6\"]},"
        "{\"metric\":{\"__name__\":\"kepler_node_cpu_info\",\"instance\":\"ghost\"},\"value\":[111,\"4\"]},"
        "{\"metric\":{\"__name__\":\"kepler_node_cpu_info\",\"instance\":\"n1\"},\"values\":[[111,\"9\"]]},"
        "{\"metric\":{\"__name__\":\"kepler_node_cpu_info\",\"instance\":\"n1\"},\"value\":[111,\"2.5\"]}]}}";
    json_t *root = kms_test_json(range), *counts = kms_test_json(held);
    walked_t *w = calloc(1, sizeof *w);
    kms_kepler_query_stats_t st;
    const char *why = NULL;
    assert_int_equal(kms_kepler_query_walk(root, counts, s_on_snapshot, w, &st, &why), 0);
    assert_int_equal(w->snapshots, 3); /* n1's three times; none for ghost */
    assert_string_equal(w->nodes[0], "n1");
    assert_int_equal(st.rejected, 1); /* the matrix */
    assert_int_equal(w->samples.count, 2);
    for (size_t i = 0; i < w->samples.count; i++) {
        const kms_sample_t *s = &w->samples.items[i];
        assert_int_equal(s->cpus, 6); /* 2.5 cpus are no count: rejected by the snapshot */
        assert_string_equal(s->arch, "Xeon 8480+");
        s_close(s_get(&s->features, "cpu_time"), 0.25 * 6);
        s_close(s_get(&s->targets, "package"), 20);
    }
    /* Without the held answer the range alone states no cpus: the samples carry none. */
    w->samples.count = 0;
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, &st, &why), 0);
    assert_int_equal(w->samples.count, 2);
    assert_int_equal(w->samples.items[0].cpus, 0);
    json_decref(root);
    json_decref(counts);
    free(w);
}

/* The verbatim query_range dump: one node, 7 points, 6 intervals. The first interval's package
   watts (132.6032666666666) were computed from the JSON with Python, independently. */
static void test_a_real_query_range_dump_gives_the_rates_computed_independently(void **state)
{
    (void) state;
    size_t len;
    char *text = s_kepler_file("kepler-0.7.1-prometheus-query_range-idle.json", &len);
    json_t *root = json_loadb(text, len, 0, NULL);
    free(text);
    assert_non_null(root);
    walked_t *w = calloc(1, sizeof *w);
    kms_kepler_query_stats_t st;
    assert_int_equal(kms_kepler_query_walk(root, NULL, s_on_snapshot, w, &st, NULL), 0);
    assert_int_equal(st.nodes, 1);
    assert_int_equal(w->snapshots, 7);
    assert_int_equal(st.rejected, 0);
    const kms_sample_t *first = NULL;
    size_t nodes = 0;
    for (size_t i = 0; i < w->samples.count; i++) {
        const kms_sample_t *s = &w->samples.items[i];
        if (s->is_container)
            continue;
        if (!first)
            first = s;
        nodes++;
        assert_string_equal(s->node, "kind-fms-control-plane");
        assert_string_equal(s->arch, "Broadwell");
        for (size_t k = 0; k < s->targets.count; k++)
            assert_true(isfinite(s->targets.items[k].value) && s->targets.items[k].value >= 0);
        for (size_t k = 0; k < s->features.count; k++)
            assert_true(isfinite(s->features.items[k].value) && s->features.items[k].value >= 0);
    }
    assert_int_equal(nodes, 6);
    assert_non_null(first);
    s_close(first->dt, 15);
    s_want(&first->targets, "package=132.6032666666666 dram=55.939333333333344 platform=114.6");
    json_decref(root);
    free(w);
}

/* Kepler v0.11.4's own page (tests/fixtures/kepler/README.md): one kepler_node_cpu_info series
   per logical cpu makes the node's size, and its model_name the architecture. The same page
   taken twice 5 s apart makes the node sample (nothing moved, so its rates are 0). */
static void test_kepler_011_node_sample_states_its_cpus(void **state)
{
    (void) state;
    kms_kepler_snapshot_t *a = s_fixture("kepler-0.11.4-metrics-synthetic-host.txt", 5000);
    kms_kepler_snapshot_t *b = s_fixture("kepler-0.11.4-metrics-synthetic-host.txt", 5005);
    assert_int_equal(kms_kepler_snapshot_era(b), KMS_KEPLER_ERA_RAPL);
    collected_t *got = calloc(1, sizeof *got);
    assert_true(kms_kepler_diff(a, b, s_collect, got, NULL) >= 1);
    const kms_sample_t *node = &got->items[0];
    assert_false(node->is_container);
    assert_int_equal(node->cpus, 8);
    assert_string_equal(node->arch, "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz");
    /* Its cpu time is Kepler's own: kepler_node_cpu_usage_ratio x 8 cpus. */
    s_close(s_get(&node->features, "cpu_time"), 0.28483353884093693 * 8);
    free(got);
    kms_kepler_snapshot_destroy(&a);
    kms_kepler_snapshot_destroy(&b);
}

/* The Prometheus selector names every family a node sample reads and, unless containers are
   asked for, none of those only container samples read. */
static void test_the_selector_asks_for_what_the_samples_read(void **state)
{
    (void) state;
    char *nodes = kms_kepler_selector(false), *all = kms_kepler_selector(true);
    assert_non_null(nodes);
    assert_non_null(all);
    assert_int_equal(strncmp(nodes, "{__name__=~\"", 12), 0);
    assert_string_equal(nodes + strlen(nodes) - 2, "\"}");
    const char *node_families[] = {"|kepler_node_cpu_active_joules_total|",
                                   "|kepler_node_cpu_usage_ratio|",
                                   "|kepler_node_package_joules_total|",
                                   "kepler_container_cpu_cycles_total|",
                                   "|node_energy_stat|",
                                   "|pod_curr_energy_in_pkg_millijoule|"};
    for (size_t i = 0; i < sizeof node_families / sizeof node_families[0]; i++) {
        assert_non_null(strstr(nodes, node_families[i]));
        assert_non_null(strstr(all, node_families[i]));
    }
    const char *container_only[] = {"kepler_container_package_joules_total", "kepler_container_cpu_joules_total",
                                    "kepler_container_cpu_seconds_total", "kepler_process_cpu_seconds_total"};
    for (size_t i = 0; i < sizeof container_only / sizeof container_only[0]; i++) {
        assert_null(strstr(nodes, container_only[i]));
        assert_non_null(strstr(all, container_only[i]));
    }
    free(nodes);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_kepler_page_is_told_its_era_and_a_foreign_page_none),
        cmocka_unit_test(test_kepler_07_counters_give_node_and_container_rates_across_churn),
        cmocka_unit_test(test_kepler_09_ms_cpu_time_kubelet_memory_and_escaped_labels_read),
        cmocka_unit_test(test_an_exporter_restart_gives_no_sample_and_the_next_interval_does),
        cmocka_unit_test(test_a_restarted_container_gives_no_sample_and_adds_to_the_node),
        cmocka_unit_test(test_bad_values_are_rejected_one_by_one_and_reach_no_sample),
        cmocka_unit_test(test_kepler_010_raw_rapl_wrap_is_unwrapped_into_node_and_container_watts),
        cmocka_unit_test(test_rapl_wrap_judged_by_recent_power),
        cmocka_unit_test(test_a_rapl_fall_beyond_any_known_range_is_no_wrap_and_no_sample),
        cmocka_unit_test(test_rapl_restart_is_not_a_wrap),
        cmocka_unit_test(test_a_spoiled_target_sum_is_left_out_and_the_others_published),
        cmocka_unit_test(test_node_and_container_cpu_time_sum_their_processes_over_the_interval),
        cmocka_unit_test(test_rapl_package_lost_from_a_page),
        cmocka_unit_test(test_rapl_node_cpu_time_from_usage_ratio),
        cmocka_unit_test(test_interval_on_the_monotonic_clock),
        cmocka_unit_test(test_kepler_03_gauges_cover_3_s_and_an_unchanged_page_gives_nothing),
        cmocka_unit_test(test_kepler_03_node_stat_leaves_out_only_what_is_spoiled),
        cmocka_unit_test(test_the_sample_callback_can_stop_the_diff),
        cmocka_unit_test(test_randomly_damaged_pages_never_give_a_negative_or_nonfinite_rate),
        cmocka_unit_test(test_one_counter_down_is_a_damaged_page_and_all_down_a_restart),
        cmocka_unit_test(test_3000_containers_are_copied_whole_and_node_sums_exact),
        cmocka_unit_test(test_a_prometheus_vector_gives_a_snapshot_per_exporter_and_skips_bad),
        cmocka_unit_test(test_a_prometheus_matrix_gives_rates_between_its_points),
        cmocka_unit_test(test_a_prometheus_error_or_unknown_answer_fails_the_walk),
        cmocka_unit_test(test_the_prometheus_walk_keeps_prev_past_a_damaged_point),
        cmocka_unit_test(test_real_kepler_pages_parse_with_every_container_and_none_rejected),
        cmocka_unit_test(test_held_cpu_counts_give_each_node_its_cpus),
        cmocka_unit_test(test_an_answer_walked_as_text_gives_what_it_says),
        cmocka_unit_test(test_a_real_query_range_dump_gives_the_rates_computed_independently),
        cmocka_unit_test(test_kepler_011_node_sample_states_its_cpus),
        cmocka_unit_test(test_the_selector_asks_for_what_the_samples_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
