/* libFuzzer target for kms_kepler_query_walk(_text): any bytes as a Prometheus HTTP API answer (what
   kms-scraper --prometheus-url reads from the network, and kms-trainer train --dataset from a
   file), parsed by jansson as the scraper does, walked node by node, and every consecutive pair
   of snapshots turned into samples by kms_kepler_diff, as the scraper does.

   Besides the sanitizers' checks, it asserts what the publisher and the models rely on: every
   sample has a positive finite dt, finite non-negative features and targets (a counter that
   went down gives no sample, never a negative rate: docs/contract.md), bounded counts and terminated
   names; snapshots of one node come in time order; an interval without a sample says why; a
   refused answer says why; a damaged page gives no sample and walks on with the same prev
   (KMS_KEPLER_KEEP_PREV); the walk's counts agree with what the callback saw. */
#include "fuzz_sample_check.h"
#include "kms_kepler.h"
#include "kms_kepler_diff.h"
#include "kms_kepler_query.h"

#include <jansson.h>

typedef struct {
    size_t snapshots;
    size_t samples;
    int kept; /* damaged snapshots in a row that kept prev */
} run_t;

static int s_on_sample(const kms_sample_t *s, void *arg)
{
    run_t *run = arg;
    run->samples++;
    fuzz_check_sample(s);
    return 0;
}

static int s_on_snapshot(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, void *arg)
{
    run_t *run = arg;
    run->snapshots++;
    CHECK(cur != NULL);
    double ts = kms_kepler_snapshot_ts(cur);
    CHECK(isfinite(ts));
    CHECK(kms_kepler_snapshot_node(cur) != NULL && kms_kepler_snapshot_arch(cur) != NULL);
    if (prev)
        CHECK(kms_kepler_snapshot_ts(prev) < ts);
    if (!prev && kms_kepler_snapshot_era(cur) != KMS_KEPLER_ERA_GAUGE)
        return 0;
    kms_kepler_diff_stats_t stats;
    size_t before = run->samples;
    int made = kms_kepler_diff(prev, cur, s_on_sample, run, &stats);
    CHECK(made >= 0);
    CHECK((size_t) made == run->samples - before && stats.samples == (size_t) made);
    CHECK(made > 0 || stats.why != NULL);
    CHECK(!stats.damaged || made == 0);
    /* As the scraper does: a damaged snapshot is skipped, the next one is diffed against prev,
       a few times in a row at most. */
    return kms_kepler_keep_prev(stats.damaged, &run->kept) ? KMS_KEPLER_KEEP_PREV : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As text, as the scraper walks a range answer (one result at a time when it opens as
       Prometheus writes it); then, when it is JSON, loaded whole, as train --dataset does. (The
       two may differ on JSON that repeats a key: jansson keeps the last, the text walk reads
       the first results.) */
    run_t by_text = {0, 0, 0};
    kms_kepler_query_stats_t text_stats;
    memset(&text_stats, 0xa5, sizeof text_stats);
    const char *why = NULL;
    int text_rc = kms_kepler_query_walk_text((const char *) data, size, NULL, s_on_snapshot, &by_text, &text_stats,
                                             &why);
    CHECK(text_rc == 0 || (text_rc == -1 && why != NULL && *why != '\0'));
    if (text_rc == 0)
        CHECK(text_stats.snapshots == by_text.snapshots);
    json_t *root = json_loadb((const char *) data, size, 0, NULL);
    if (!root)
        return 0;
    run_t run = {0, 0, 0};
    kms_kepler_query_stats_t stats;
    memset(&stats, 0xa5, sizeof stats);
    int rc = kms_kepler_query_walk(root, NULL, s_on_snapshot, &run, &stats, &why);
    CHECK(rc == 0 || (rc == -1 && why != NULL && *why != '\0'));
    if (rc == 0)
        CHECK(stats.snapshots == run.snapshots);
    json_decref(root);
    return 0;
}
