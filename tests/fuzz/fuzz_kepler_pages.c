/* libFuzzer target for kms_kepler's page path: any bytes as two consecutive /metrics pages of
   one Kepler target (split at the first form feed, or in the middle), each parsed into a
   snapshot as kms-scraper does, then diffed into samples.

   Besides the sanitizers' checks, it asserts what the publisher and the models rely on: every
   sample has the pages' interval as dt and finite, non-negative features and targets (a counter
   that went down gives no sample, never a negative rate), encodes into a frame every subscriber
   accepts; an interval without a sample says why; a copy of a snapshot diffs exactly like it;
   reusing snapshots for the next pair leaves nothing of the last one behind. */
#include "fuzz_sample_check.h"
#include "kms_kepler.h"
#include "kms_kepler_diff.h"

typedef struct {
    double dt;
    size_t samples;
    double sum; /* of every value, to compare two runs */
} run_t;

static int s_on_sample(const kms_sample_t *s, void *arg)
{
    run_t *run = arg;
    run->samples++;
    fuzz_check_sample(s);
    CHECK(s->dt == run->dt || s->dt == KMS_KEPLER_GAUGE_PERIOD);
    for (size_t i = 0; i < s->features.count; i++)
        run->sum += s->features.items[i].value;
    for (size_t i = 0; i < s->targets.count; i++)
        run->sum += s->targets.items[i].value;
    return 0;
}

static kms_kepler_snapshot_t *s_prev, *s_cur, *s_copy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_prev) {
        s_prev = kms_kepler_snapshot_new();
        s_cur = kms_kepler_snapshot_new();
        s_copy = kms_kepler_snapshot_new();
        CHECK(s_prev && s_cur && s_copy);
    }
    const char *text = (const char *) data;
    const char *ff = memchr(text, '\f', size);
    size_t first = ff ? (size_t) (ff - text) : size / 2;
    size_t second_at = ff ? first + 1 : first;
    kms_kepler_snapshot_parse(s_prev, text, first, 1000, "fuzz-host", NULL);
    kms_kepler_snapshot_parse(s_cur, text + second_at, size - second_at, 1005, "fuzz-host", NULL);

    run_t run = {5, 0, 0};
    kms_kepler_diff_stats_t stats;
    int made = kms_kepler_diff(s_prev, s_cur, s_on_sample, &run, &stats);
    CHECK(made >= 0 && (size_t) made == run.samples && stats.samples == run.samples);
    CHECK(made > 0 || stats.why != NULL);

    CHECK(kms_kepler_snapshot_copy(s_copy, s_prev) == 0);
    run_t again = {5, 0, 0};
    CHECK(kms_kepler_diff(s_copy, s_cur, s_on_sample, &again, NULL) == made);
    CHECK(again.samples == run.samples && (again.sum == run.sum || (isnan(again.sum) && isnan(run.sum))));
    return 0;
}
