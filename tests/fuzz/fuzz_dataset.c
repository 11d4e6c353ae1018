/* libFuzzer target for kms_dataset: any bytes as a dataset file (CSV or Prometheus JSON, told
   apart as the trainer does). Besides the sanitizers' checks, it asserts what the trainer relies
   on: every sample handed out has finite, non-negative values and at least one target (CSV), bad
   rows carry a line inside the input, and the counts add up. */
#include "kms_dataset.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

typedef struct {
    size_t lines; /* newlines in the input, +1 */
    size_t samples, bad;
    double progress;
} run_t;

static int s_on_sample(const kms_sample_t *s, void *arg)
{
    run_t *run = arg;
    run->samples++;
    const kms_values_t *sets[] = {&s->features, &s->targets};
    for (size_t k = 0; k < 2; k++) {
        CHECK(sets[k]->count <= KMS_SAMPLE_MAX_VALUES);
        for (size_t i = 0; i < sets[k]->count; i++) {
            CHECK(isfinite(sets[k]->items[i].value));
            CHECK(memchr(sets[k]->items[i].name, '\0', KMS_NAME_MAX) != NULL);
        }
    }
    CHECK(memchr(s->arch, '\0', sizeof s->arch) && memchr(s->node, '\0', sizeof s->node));
    CHECK(!s->is_container);
    return 0;
}

static void s_on_bad_row(size_t line, const char *why, void *arg)
{
    run_t *run = arg;
    run->bad++;
    CHECK(why && *why);
    CHECK(line <= run->lines);
}

static void s_on_progress(double done, void *arg)
{
    run_t *run = arg;
    CHECK(done >= run->progress && done <= 1.0);
    run->progress = done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_t run = {.lines = 1};
    for (size_t i = 0; i < size; i++)
        run.lines += data[i] == '\n';
    kms_dataset_visitor_t visitor = {s_on_sample, s_on_bad_row, s_on_progress, &run};
    kms_dataset_stats_t stats;
    const char *why = NULL;
    int rc = kms_dataset_parse((const char *) data, size, KMS_DATASET_AUTO, &visitor, &stats, &why);
    CHECK(rc == 0 || (why && *why));
    CHECK(stats.samples == run.samples && stats.bad_rows == run.bad);
    if (stats.format == KMS_DATASET_CSV && rc == 0)
        CHECK(stats.samples + stats.bad_rows == stats.rows);
    return 0;
}
