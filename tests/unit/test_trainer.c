/* kms-trainer's insides without sockets or processes: the ingest checks' rules (seq, dt window,
   publisher table bound), the model-spec file, the control protocol's answers, and checkpoints
   on a real temporary folder. */
#include "kms_test.h"

#include "kms_log.h"
#include "kms_modelzip.h"
#include "kms_proto.h"
#include "kms_sample_msgpack.h"
#include "trainer_checkpoint.h"
#include "trainer_control.h"
#include "trainer_ingest.h"
#include "trainer_specs.h"
#include "trainer.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The default model set (kms_model.c); the samples below, with core and dram targets and no
   cpus, train core_model, dram_model, dram_counters_model, cpu_time_core_model and
   cpu_time_dram_model (not the per-cpu vm_* ones). */
#define S_BUILTIN_MODELS 16
#define S_TRAINED_MODELS 5

static void s_sample(kms_sample_t *s, const char *node, uint64_t seq, double dt)
{
    memset(s, 0, sizeof *s);
    snprintf(s->node, sizeof s->node, "%s", node);
    strcpy(s->arch, "x86_64");
    s->seq = seq;
    s->ts = 1.7e9 + (double) seq;
    s->dt = dt;
    double c = 1e9 + 1e7 * (double) (seq % 17), i = 2e9 + 3e7 * (double) (seq % 7), t = 1 + 0.1 * (double) (seq % 5);
    kms_values_set(&s->features, KMS_F_CPU_CYCLES, c);
    kms_values_set(&s->features, KMS_F_CPU_INSTRUCTIONS, i);
    kms_values_set(&s->features, KMS_F_CPU_TIME, t);
    kms_values_set(&s->features, KMS_F_CACHE_MISSES, 1e6 + 1e4 * (double) (seq % 11));
    kms_values_set(&s->features, KMS_F_RESIDENT_MEMORY, 1e9 + 1e7 * (double) (seq % 13));
    kms_values_set(&s->targets, "core", 5 + 2e-9 * c + 1e-9 * i + 1.5 * t);
    kms_values_set(&s->targets, "dram", 2 + 1e-7 * (1e6 + 1e4 * (double) (seq % 11)));
}

/* Sends `s` on `topic` through the gate; its verdict. */
static int s_ingest(trainer_ingest_t *ingest, const char *topic, const kms_sample_t *s)
{
    unsigned char buf[KMS_SAMPLE_MAX_FRAME];
    size_t n = kms_sample_encode(s, buf, sizeof buf);
    assert_true(n > 0);
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, topic);
    zmsg_addmem(msg, buf, n);
    kms_sample_t out;
    int rc = trainer_ingest_message(ingest, msg, &out);
    zmsg_destroy(&msg);
    return rc;
}

/* Each node's clock, as its publisher's: a sample's ts is dt after the node's previous one. */
static double s_clock(const char *node, double dt)
{
    static struct {
        char node[32];
        double ts;
    } clocks[20000];
    static size_t count;
    size_t i = 0;
    while (i < count && strcmp(clocks[i].node, node) != 0)
        i++;
    if (i == count) {
        assert_true(count < sizeof clocks / sizeof clocks[0]);
        snprintf(clocks[count].node, sizeof clocks[count].node, "%s", node);
        clocks[count++].ts = 1.7e9;
    }
    return clocks[i].ts += dt;
}

/* Feeds one node sample (stating `cpus` logical cpus, 0: none) through the gate; its verdict. */
static int s_feed_cpus(trainer_ingest_t *ingest, const char *node, uint64_t seq, double dt, uint32_t cpus)
{
    kms_sample_t s;
    s_sample(&s, node, seq, dt);
    s.cpus = cpus;
    s.ts = s_clock(node, dt);
    return s_ingest(ingest, KMS_TOPIC_NODE, &s);
}

static int s_feed(trainer_ingest_t *ingest, const char *node, uint64_t seq, double dt)
{
    return s_feed_cpus(ingest, node, seq, dt, 0);
}

static trainer_t *s_trainer(uint64_t min_samples)
{
    trainer_specs_t specs;
    char why[256];
    assert_int_equal(trainer_specs_load(&specs, NULL, 1.0, min_samples, why, sizeof why), 0);
    trainer_t *t = trainer_new(&specs, "test");
    assert_non_null(t);
    return t;
}

static void test_seq_gaps_and_restarts(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(s_feed(ingest, "a", seq, 5), 0);
    assert_int_equal(s_feed(ingest, "a", 9, 5), 0); /* 6, 7, 8 lost */
    assert_int_equal(stats.seq_gaps, 3);
    assert_int_equal(s_feed(ingest, "a", 1, 5), 0); /* restarted scraper */
    assert_int_equal(stats.publisher_restarts, 1);
    assert_int_equal(stats.seq_gaps, 3);
    assert_int_equal(s_feed(ingest, "a", 2, 5), 0);
    assert_int_equal(s_feed(ingest, "a", 2, 5), 0); /* a repeat is a session too */
    assert_int_equal(stats.publisher_restarts, 2);
    assert_int_equal(s_feed(ingest, "b", UINT64_MAX - 1, 5), 0); /* first sight: no gap */
    assert_int_equal(s_feed(ingest, "b", UINT64_MAX, 5), 0);
    assert_int_equal(s_feed(ingest, "b", 0, 5), 0); /* wrapped: a new session */
    assert_int_equal(stats.seq_gaps, 3);
    assert_int_equal(stats.publishers, 2);
    assert_int_equal(stats.samples_accepted, stats.samples_received);
    trainer_ingest_destroy(&ingest);
    assert_null(ingest);
}

/* A node whose cpu count changes: the sample that straddles two sizes is held back (never a
   model learned per the wrong cpus), the new size holds from the next; another node is its own. */
static void test_a_changed_cpu_count_is_held_back_once(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    assert_int_equal(s_feed_cpus(ingest, "a", 1, 5, 8), 0);
    assert_int_equal(s_feed_cpus(ingest, "a", 2, 5, 8), 0);
    assert_int_equal(s_feed_cpus(ingest, "a", 3, 5, 16), -1);
    assert_int_equal(stats.rejected_values, 1);
    assert_int_equal(s_feed_cpus(ingest, "a", 4, 5, 16), 0);
    assert_int_equal(s_feed_cpus(ingest, "b", 5, 5, 4), 0);
    assert_int_equal(s_feed_cpus(ingest, "a", 6, 5, 0), 0); /* not stated: nothing to compare */
    assert_int_equal(stats.rejected_values, 1);
    trainer_ingest_destroy(&ingest);
}

static void test_target_bounds_parse_with_a_default_and_refuse_bad_forms(void **state)
{
    (void) state;
    trainer_bounds_t b;
    char why[256];
    assert_int_equal(trainer_bounds_parse(&b, NULL, why, sizeof why), 0);
    kms_sample_t s;
    s_sample(&s, "n", 1, 5);
    assert_null(trainer_bounds_exceeded(&b, &s));
    kms_values_set(&s.targets, "core", 4001);
    assert_string_equal(trainer_bounds_exceeded(&b, &s), "core");
    kms_values_set(&s.targets, "core", 10);
    kms_values_set(&s.targets, "fpga", 25000); /* not listed: the "*" bound */
    assert_string_equal(trainer_bounds_exceeded(&b, &s), "fpga");
    assert_int_equal(trainer_bounds_parse(&b, "core=5,*=30000,fpga=26000", why, sizeof why), 0);
    assert_string_equal(trainer_bounds_exceeded(&b, &s), "core"); /* core=10 > 5 */
    const char *bad[] = {"core", "core=", "core=-1", "core=0", "=5", "core=nan", "core=inf", "core=5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(trainer_bounds_parse(&b, bad[i], why, sizeof why), -1);
        assert_non_null(strstr(why, "target=watts"));
    }
}

static double s_weight_difference(trainer_t *a, trainer_t *b, const char *model)
{
    kms_weights_t wa, wb;
    assert_int_equal(kms_model_weights(trainer_model_at(a, (size_t) trainer_model_find(a, model)), &wa), 0);
    assert_int_equal(kms_model_weights(trainer_model_at(b, (size_t) trainer_model_find(b, model)), &wb), 0);
    double worst = fabs(wa.bias - wb.bias) / fabs(wa.bias);
    for (size_t j = 0; j < wa.numeric_count; j++)
        if (wa.numeric[j].weight != 0)
            worst = fmax(worst, fabs(wa.numeric[j].weight - wb.numeric[j].weight) / fabs(wa.numeric[j].weight));
    return worst;
}

/* A publisher mixing 1 % absurd samples into a clean stream, as the issue measured them (3e5 to
   1e6 W: past the physical bound) and within the bounds (10 x the usual: the residual gate):
   the served weights are those of the clean stream alone; what was held back is counted per
   reason and per publisher. */
static size_t s_models_of(const trainer_t *t, const char *target)
{
    size_t n = 0;
    for (size_t i = 0; i < trainer_model_count(t); i++)
        n += strcmp(kms_model_spec(trainer_model_at(t, i))->target, target) == 0
             && !kms_model_spec(trainer_model_at(t, i))->per_cpu;
    return n;
}

static void test_absurd_watts_are_held_back_and_leave_the_models_untouched(void **state)
{
    (void) state;
    trainer_t *clean = s_trainer(30), *mixed = s_trainer(30);
    size_t core_models = s_models_of(mixed, "core"), dram_models = s_models_of(mixed, "dram");
    assert_true(core_models >= 1 && dram_models >= 1);
    kms_sample_t s;
    int absurd = 0;
    for (uint64_t seq = 1; seq <= 3000; seq++) {
        s_sample(&s, "good", seq, 5);
        assert_int_equal(trainer_learn(clean, &s, 1), core_models + dram_models);
        assert_int_equal(trainer_learn(mixed, &s, 1), core_models + dram_models);
        if (seq % 100 == 50) {
            kms_sample_t bad = s;
            snprintf(bad.node, sizeof bad.node, "hostile");
            kms_values_set(&bad.targets, "core", 3e5 + 7e5 * (double) (seq % 7) / 7);
            assert_int_equal(trainer_learn(mixed, &bad, 1), 0);
            kms_values_set(&bad.targets, "core", 10 * (5 + 2e-9 * 1e9));
            assert_int_equal(trainer_learn(mixed, &bad, 1), dram_models); /* its dram watts are fine */
            absurd++;
        }
    }
    assert_true(s_weight_difference(clean, mixed, "core_model") == 0);
    /* dram_model learned the samples with 10 x the core watts (their dram watts are right) */
    const kms_model_t *dram_clean = trainer_model_at(clean, (size_t) trainer_model_find(clean, "dram_model"));
    const kms_model_t *dram_mixed = trainer_model_at(mixed, (size_t) trainer_model_find(mixed, "dram_model"));
    for (uint64_t seq = 0; seq < 11; seq++) {
        double a, b;
        s_sample(&s, "probe", seq, 5);
        assert_int_equal(kms_model_predict(dram_clean, &s, &a), 0);
        assert_int_equal(kms_model_predict(dram_mixed, &s, &b), 0);
        assert_true(fabs(a - b) < 1e-9 * a);
    }
    json_t *stats = trainer_describe_stats(mixed);
    json_t *held = json_object_get(stats, "held_back");
    assert_int_equal(json_integer_value(json_object_get(held, "bounds")), absurd);
    assert_int_equal(json_integer_value(json_object_get(held, "outlier")), absurd * (int) core_models);
    json_t *first = json_array_get(json_object_get(held, "publishers"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "node")), "hostile");
    assert_int_equal(json_integer_value(json_object_get(first, "bounds")), absurd);
    assert_int_equal(json_array_size(json_object_get(held, "publishers")), 1);
    json_decref(stats);
    json_t *model = trainer_describe_model(mixed, (size_t) trainer_model_find(mixed, "core_model"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(model, "held_back"), "outlier")), absurd);
    assert_true(json_is_false(json_object_get(model, "drift")));
    assert_true(json_is_number(json_object_get(json_object_get(model, "fit"), "window_mape")));
    json_decref(model);
    trainer_destroy(&clean);
    trainer_destroy(&mixed);
}

/* A seq that leaps back and forth (a hostile or broken publisher) counts sessions, never 1e18
   gaps; a real loss of thousands of messages still counts as gaps. */
static void test_seq_leaps_are_sessions(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    assert_int_equal(s_feed(ingest, "a", 1, 5), 0);
    for (uint64_t k = 0; k < 1000; k++) {
        assert_int_equal(s_feed(ingest, "a", 1000000000000000000ULL + k, 5), 0);
        assert_int_equal(s_feed(ingest, "a", 2 + k, 5), 0);
    }
    assert_int_equal(stats.seq_gaps, 0);
    assert_int_equal(stats.publisher_restarts, 2000);
    assert_int_equal(s_feed(ingest, "a", 1001 + 50000, 5), 0); /* 50,000 lost: within reach */
    assert_int_equal(stats.seq_gaps, 50000 - 1);
    assert_int_equal(s_feed(ingest, "a", 1001 + 50000 + 1000000, 5), 0); /* a leap: a session */
    assert_int_equal(stats.seq_gaps, 50000 - 1);
    assert_int_equal(stats.publisher_restarts, 2001);
    trainer_ingest_destroy(&ingest);
}

/* kms-scraper numbers every message with one counter, whatever node it is about: with two
   nodes and their containers, no gap is seen, and a lost message counts once. */
static void test_one_counter_for_several_nodes(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    kms_sample_t s;
    uint64_t seq = 1;
    for (int round = 0; round < 5; round++) {
        for (int n = 0; n < 2; n++) {
            const char *node = n ? "b" : "a";
            assert_int_equal(s_feed(ingest, node, seq++, 5), 0);
            for (int c = 0; c < 3 + n; c++) { /* containers of that node */
                s_sample(&s, node, seq++, 5);
                s.is_container = true;
                strcpy(s.container_id, "c");
                if (!(round == 3 && n == 1 && c == 1)) /* one lost on the way */
                    assert_int_equal(s_ingest(ingest, KMS_TOPIC_CONTAINER, &s), -1);
            }
        }
    }
    assert_int_equal(stats.seq_gaps, 1);
    assert_int_equal(stats.publisher_restarts, 0);
    assert_int_equal(stats.samples_accepted, 10);
    trainer_ingest_destroy(&ingest);
}

/* The dt window: 3 to warm up, then [0.5, 3] x the median of the last 15; a reconfigured
   interval is accepted again once it is the majority of the window (8 of 15). */
static void test_an_interval_outside_the_median_window_is_refused_until_majority(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    uint64_t seq = 1;
    assert_int_equal(s_feed(ingest, "n", seq++, 5), 0);
    assert_int_equal(s_feed(ingest, "n", seq++, 60), 0); /* still warming up */
    assert_int_equal(s_feed(ingest, "n", seq++, 5), 0);
    for (int i = 0; i < 15; i++)
        assert_int_equal(s_feed(ingest, "n", seq++, 5), 0);
    assert_int_equal(s_feed(ingest, "n", seq++, 2.4), -1); /* under half */
    assert_int_equal(s_feed(ingest, "n", seq++, 2.6), 0);
    assert_int_equal(s_feed(ingest, "n", seq++, 15), 0); /* a skipped scrape or two */
    assert_int_equal(s_feed(ingest, "n", seq++, 15.5), -1);
    assert_int_equal(stats.rejected_interval, 2);
    /* A restart starts the window over (warm-up again); then the interval is reconfigured. */
    seq = 1;
    assert_int_equal(s_feed(ingest, "n", seq++, 1), 0);
    for (int i = 0; i < 15; i++)
        assert_int_equal(s_feed(ingest, "n", seq++, 5), 0);
    int rejected = 0;
    while (s_feed(ingest, "n", seq++, 40) != 0)
        rejected++;
    assert_int_equal(rejected, 8);
    assert_int_equal(stats.publisher_restarts, 1);
    trainer_ingest_destroy(&ingest);
}

static void test_what_the_gate_drops(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    kms_sample_t s, out;
    s_sample(&s, "n", 1, 5);
    /* a container sample on its topic: counted for seq, not learned, not an error */
    kms_sample_t c = s;
    c.is_container = true;
    strcpy(c.container_id, "abc");
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_CONTAINER, &c), -1);
    assert_int_equal(stats.container_samples, 1);
    /* the same on the node topic, and a node sample on the container topic: malformed */
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_NODE, &c), -1);
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_CONTAINER, &s), -1);
    /* one frame; three frames; another topic; garbage */
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, KMS_TOPIC_NODE);
    assert_int_equal(trainer_ingest_message(ingest, msg, &out), -1);
    zmsg_addstr(msg, "x");
    zmsg_addstr(msg, "y");
    assert_int_equal(trainer_ingest_message(ingest, msg, &out), -1);
    zmsg_destroy(&msg);
    assert_int_equal(s_ingest(ingest, "kepler.nodes", &s), -1);
    msg = zmsg_new();
    zmsg_addstr(msg, KMS_TOPIC_NODE);
    zmsg_addstr(msg, "\x81\xa1v\xc1");
    assert_int_equal(trainer_ingest_message(ingest, msg, &out), -1);
    zmsg_destroy(&msg);
    assert_int_equal(stats.frames_malformed, 6);
    /* negative watts, and a value beyond KMS_MODEL_VALUE_MAX: rejected */
    kms_values_set(&s.targets, "core", -1);
    s.seq = 2;
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_NODE, &s), -1);
    s_sample(&s, "n", 3, 5);
    kms_values_set(&s.features, KMS_F_CPU_CYCLES, 1e31);
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_NODE, &s), -1);
    assert_int_equal(stats.rejected_values, 2);
    assert_int_equal(stats.samples_rejected, 2);
    assert_int_equal(stats.samples_accepted, 0);
    assert_int_equal(stats.samples_received, 9);
    assert_int_equal(stats.seq_gaps, 0);
    trainer_ingest_destroy(&ingest);
}

/* A publisher inventing node names cannot grow the table without bound. */
static void test_publisher_table_is_bounded(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    char node[32];
    for (int i = 0; i < 16400; i++) {
        snprintf(node, sizeof node, "node-%d", i);
        assert_int_equal(s_feed(ingest, node, 1, 5), 0);
    }
    assert_int_equal(stats.publishers, 16384);
    assert_int_equal(stats.publishers_forgotten, 16400 - 16384);
    /* node-0 was heard from longest ago: forgotten, so it is new again (no restart, no gap) */
    assert_int_equal(s_feed(ingest, "node-0", 1, 5), 0);
    assert_int_equal(stats.publishers_forgotten, 16400 - 16384 + 1);
    assert_int_equal(s_feed(ingest, "node-16399", 2, 5), 0);
    assert_int_equal(stats.publisher_restarts, 0);
    assert_int_equal(stats.seq_gaps, 0);
    trainer_ingest_destroy(&ingest);
}

/* Times no publisher measured are held back from the first sample on, and a publisher that
   keeps lying about its interval never moves the window to its lie. */
static void test_implausible_times_are_held_back_and_never_move_the_window(void **state)
{
    (void) state;
    trainer_stats_t stats = {0};
    trainer_ingest_t *ingest = trainer_ingest_new(&stats);
    kms_sample_t s;
    s_sample(&s, "t", 1, 5);
    s.ts = 32503680000.0; /* the year 3000, on a publisher's first sample */
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_NODE, &s), -1);
    assert_int_equal(s_feed(ingest, "u", 1, 1e-9), -1); /* no scrape is that short */
    assert_int_equal(stats.rejected_time, 2);
    uint64_t seq = 1;
    for (int i = 0; i < 5; i++)
        assert_int_equal(s_feed(ingest, "v", seq++, 5), 0);
    s_sample(&s, "v", seq++, 3600); /* an hour, 5 s after the previous sample */
    s.ts = s_clock("v", 5);
    assert_int_equal(s_ingest(ingest, KMS_TOPIC_NODE, &s), -1);
    assert_int_equal(stats.rejected_time, 3);
    for (int i = 0; i < 30; i++) { /* 0.05 s claimed, every 5 s */
        s_sample(&s, "v", seq++, 0.05);
        s.ts = s_clock("v", 5);
        assert_int_equal(s_ingest(ingest, KMS_TOPIC_NODE, &s), -1);
    }
    assert_int_equal(stats.rejected_interval, 30);
    assert_int_equal(stats.samples_accepted, 5);
    trainer_ingest_destroy(&ingest);
}

static int s_specs_from(const char *text, trainer_specs_t *specs, char *why, size_t cap)
{
    char path[] = "/tmp/kms-test-specs-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    int rc = trainer_specs_load(specs, path, 0.99, 7, why, cap);
    unlink(path);
    return rc;
}

static void test_a_spec_file_redefines_built_in_models_and_bad_specs_are_refused(void **state)
{
    (void) state;
    trainer_specs_t specs;
    char why[256];
    assert_int_equal(s_specs_from("[{\"name\":\"package_model\",\"features\":[\"cpu_cycles\",\"cpu_time\"],"
                                  "\"target\":\"package\"},"
                                  "{\"name\":\"core_model\",\"features\":[\"cpu_time\"],\"target\":\"core\"}]",
                                  &specs, why, sizeof why),
                     0);
    assert_int_equal(specs.count, S_BUILTIN_MODELS); /* both redefine built-in models */
    assert_string_equal(specs.specs[0].name, "core_model");
    assert_int_equal(specs.specs[0].feature_count, 1); /* redefined */
    assert_string_equal(specs.specs[2].name, "package_model");
    assert_string_equal(specs.specs[2].target, "package");
    for (size_t i = 0; i < specs.count; i++) {
        assert_true(specs.specs[i].forgetting == 0.99);
        assert_int_equal(specs.specs[i].min_samples, 7);
    }
    const char *bad[] = {
        "{\"name\":\"x\"}",
        "[{\"name\":\"x\",\"features\":[\"a\"]}]",
        "[{\"name\":\"../x\",\"features\":[\"a\"],\"target\":\"core\"}]",
        "[{\"name\":\".hidden\",\"features\":[\"a\"],\"target\":\"core\"}]",
        "[{\"name\":\"x\",\"features\":[],\"target\":\"core\"}]",
        "[{\"name\":\"x\",\"features\":[\"a\",\"a\"],\"target\":\"core\"}]",
        "[{\"name\":\"x\",\"features\":[1],\"target\":\"core\"}]",
        "[{\"name\":\"x\",\"features\":[\"a\"],\"target\":\"core\"},{\"name\":\"x\",\"features\":[\"b\"],\"target\":\"core\"}]",
        "[{\"name\":\"core_model\",\"features\":[\"a\"],\"target\":\"core\"},{\"name\":\"core_model\",\"features\":[\"b\"],\"target\":\"core\"}]",
        "[{\"name\":\"x\",\"features\":[\"a\"],\"target\":\"core\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(s_specs_from(bad[i], &specs, why, sizeof why), -1);
        assert_true(strlen(why) > 0);
    }
    assert_true(trainer_specs_name_ok("platform_model-2.v1"));
    assert_false(trainer_specs_name_ok("a/b"));
    assert_false(trainer_specs_name_ok(""));
}

/* Sends `frames` (NULL-terminated) to the control handler, whose reply must have the status
   `want`; returns the body (NUL-terminated; the caller frees it), its length in *len. */
static char *s_vask(trainer_t *t, const char *want, size_t *len, va_list frames)
{
    zmsg_t *request = zmsg_new();
    for (const char *f = va_arg(frames, const char *); f; f = va_arg(frames, const char *))
        zmsg_addstr(request, f);
    zmsg_t *reply = trainer_control_handle(t, &request);
    assert_null(request);
    assert_int_equal(zmsg_size(reply), 2);
    char *status = zmsg_popstr(reply);
    assert_string_equal(status, want);
    free(status);
    zframe_t *frame = zmsg_pop(reply);
    *len = zframe_size(frame);
    char *body = malloc(*len + 1);
    memcpy(body, zframe_data(frame), *len);
    body[*len] = '\0';
    zframe_destroy(&frame);
    zmsg_destroy(&reply);
    return body;
}

static char *s_ask(trainer_t *t, const char *want, size_t *len, ...)
{
    va_list frames;
    va_start(frames, len);
    char *body = s_vask(t, want, len, frames);
    va_end(frames);
    return body;
}

/* An error reply of status `want`: its body is a JSON object naming the error. */
static void s_expect(trainer_t *t, const char *want, ...)
{
    va_list frames;
    va_start(frames, want);
    size_t len;
    char *body = s_vask(t, want, &len, frames);
    va_end(frames);
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(json_object_get(doc, "error"));
    json_decref(doc);
    free(body);
}

static void test_control_requests_get_bad_not_found_unavailable_or_the_model(void **state)
{
    (void) state;
    trainer_t *t = s_trainer(20);
    kms_sample_t s;
    for (uint64_t i = 1; i <= 10; i++) {
        s_sample(&s, "n", i, 5);
        trainer_learn(t, &s, 1.7e9);
    }
    s_expect(t, KMS_PROTO_BAD_REQUEST, "NOPE", NULL);
    s_expect(t, KMS_PROTO_BAD_REQUEST, "PING", "x", NULL);
    s_expect(t, KMS_PROTO_BAD_REQUEST, "WEIGHTS", NULL);
    s_expect(t, KMS_PROTO_BAD_REQUEST, "ZIP", "core_model", "more", NULL);
    s_expect(t, KMS_PROTO_NOT_FOUND, "WEIGHTS", "nope", NULL);
    s_expect(t, KMS_PROTO_UNAVAILABLE, "ZIP", "core_model", NULL);
    assert_int_equal(trainer_stats(t)->requests_bad, 4);

    size_t len;
    char *body = s_ask(t, KMS_PROTO_UNAVAILABLE, &len, "WEIGHTS", "dram_model", NULL);
    json_t *doc = json_loads(body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "samples")), 10);
    assert_int_equal(json_integer_value(json_object_get(doc, "min_samples")), 20);
    json_decref(doc);
    free(body);

    for (uint64_t i = 11; i <= 40; i++) {
        s_sample(&s, "n", i, 5);
        trainer_learn(t, &s, 1.7e9);
    }
    body = s_ask(t, KMS_PROTO_OK, &len, "WEIGHTS", "core_model", NULL);
    char *served = kms_modelzip_weights_text(trainer_model_at(t, (size_t) trainer_model_find(t, "core_model")));
    assert_string_equal(body, served);
    free(served);
    free(body);

    body = s_ask(t, KMS_PROTO_OK, &len, "ZIP", "core_model", NULL);
    kms_model_t *copy = kms_modelzip_read(body, len, NULL, NULL);
    assert_non_null(copy);
    kms_model_destroy(&copy);
    free(body);

    body = s_ask(t, KMS_PROTO_OK, &len, "LIST", NULL);
    doc = json_loads(body, 0, NULL);
    json_t *models = json_object_get(doc, "models");
    assert_int_equal(json_array_size(models), S_BUILTIN_MODELS);
    json_t *core = json_array_get(models, 0);
    assert_string_equal(json_string_value(json_object_get(core, "name")), "core_model");
    assert_true(json_is_true(json_object_get(core, "ready")));
    assert_true(json_is_object(json_object_get(core, "weights")));
    assert_true(json_is_array(json_object_get(core, "history")));
    assert_true(json_is_object(json_object_get(doc, "trainer")));
    json_decref(doc);
    free(body);
    trainer_destroy(&t);
    assert_null(t);
}

static size_t s_count_files(const char *dir, const char *containing)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, containing) != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_checkpoints_round_trip_and_survive_damage(void **state)
{
    (void) state;
    char dir[] = "/tmp/kms-test-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    trainer_t *t = s_trainer(20);
    kms_sample_t s;
    for (uint64_t i = 1; i <= 30; i++) {
        s_sample(&s, "n", i, 5);
        trainer_learn(t, &s, 1.7e9 + (double) i);
    }
    trainer_history_tick(t, 1.7e9 + 31);
    assert_true(trainer_model_dirty(t, 0));
    assert_int_equal(trainer_checkpoint_save(t, dir, false), 0);
    assert_false(trainer_model_dirty(t, 0));
    assert_int_equal(trainer_stats(t)->checkpoints, S_TRAINED_MODELS);
    assert_int_equal(trainer_checkpoint_save(t, dir, false), 0); /* nothing new: nothing written */
    assert_int_equal(trainer_stats(t)->checkpoints, S_TRAINED_MODELS);

    /* A leftover of a crashed write is removed; the models come back exactly. */
    char path[512];
    snprintf(path, sizeof path, "%s/.core_model.zip.tmp", dir);
    FILE *f = fopen(path, "w");
    fputs("half a zip", f);
    fclose(f);
    trainer_t *back = s_trainer(20);
    assert_int_equal(trainer_checkpoint_load(back, dir), S_TRAINED_MODELS);
    assert_int_equal(s_count_files(dir, ".tmp"), 0);
    for (size_t i = 0; i < 2; i++) {
        char *a = kms_modelzip_weights_text(trainer_model_at(t, i));
        char *b = kms_modelzip_weights_text(trainer_model_at(back, i));
        assert_string_equal(a, b);
        free(a);
        free(b);
        json_t *ha = trainer_history_json(t, i), *hb = trainer_history_json(back, i);
        assert_true(json_equal(ha, hb));
        assert_int_equal(json_array_size(hb), 1);
        json_decref(ha);
        json_decref(hb);
    }
    trainer_destroy(&back);

    /* A damaged file is moved aside and its model starts fresh; the others load. */
    snprintf(path, sizeof path, "%s/core_model.zip", dir);
    struct stat st_file;
    assert_int_equal(stat(path, &st_file), 0);
    assert_int_equal(truncate(path, st_file.st_size / 2), 0); /* a write cut short */
    back = s_trainer(20);
    assert_int_equal(trainer_checkpoint_load(back, dir), S_TRAINED_MODELS - 1);
    assert_int_equal(s_count_files(dir, "core_model.zip.corrupt-"), 1);
    kms_model_status_t st;
    kms_model_status(trainer_model_at(back, (size_t) trainer_model_find(back, "core_model")), &st);
    assert_int_equal(st.samples, 0);
    kms_model_status(trainer_model_at(back, (size_t) trainer_model_find(back, "dram_model")), &st);
    assert_int_equal(st.samples, 30);
    trainer_destroy(&back);

    /* A data dir that exists but cannot be listed is refused (its files would be overwritten
       unread); one that does not exist yet is a fresh start. */
    char file_path[512];
    snprintf(file_path, sizeof file_path, "%s/dram_model.zip", dir);
    back = s_trainer(20);
    assert_int_equal(trainer_checkpoint_load(back, file_path), -1);
    assert_int_equal(trainer_checkpoint_load(back, "/tmp/kms-test-no-such-dir/x"), 0);
    trainer_destroy(&back);

    /* An unwritable place: the error is counted and the model stays dirty for the next try. */
    s_sample(&s, "n", 31, 5);
    trainer_learn(t, &s, 1.7e9 + 31);
    assert_int_equal(trainer_checkpoint_save(t, "/proc/kms-no-such-dir", false), -1);
    assert_int_equal(trainer_stats(t)->checkpoint_errors, S_TRAINED_MODELS);
    assert_true(trainer_model_dirty(t, 0));
    trainer_destroy(&t);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    kms_log_threshold = KMS_LOG_ERROR + 1; /* the rules under test log; the test need not */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_gaps_and_restarts),
        cmocka_unit_test(test_a_changed_cpu_count_is_held_back_once),
        cmocka_unit_test(test_seq_leaps_are_sessions),
        cmocka_unit_test(test_target_bounds_parse_with_a_default_and_refuse_bad_forms),
        cmocka_unit_test(test_absurd_watts_are_held_back_and_leave_the_models_untouched),
        cmocka_unit_test(test_one_counter_for_several_nodes),
        cmocka_unit_test(test_an_interval_outside_the_median_window_is_refused_until_majority),
        cmocka_unit_test(test_what_the_gate_drops),
        cmocka_unit_test(test_publisher_table_is_bounded),
        cmocka_unit_test(test_implausible_times_are_held_back_and_never_move_the_window),
        cmocka_unit_test(test_a_spec_file_redefines_built_in_models_and_bad_specs_are_refused),
        cmocka_unit_test(test_control_requests_get_bad_not_found_unavailable_or_the_model),
        cmocka_unit_test(test_checkpoints_round_trip_and_survive_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
