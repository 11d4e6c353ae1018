/* kms-bench train: the trainer's hot path (decode a sample frame, learn it in the two built-in
   models, and with --families in cpu_time_core_model too, whose one feature carries the curve
   families' grid) on one core, and the resident memory of many models. */
#include "bench.h"

#include "kms_config.h"
#include "kms_family.h"
#include "kms_log.h"
#include "kms_model.h"
#include "kms_num.h"
#include "kms_sample.h"
#include "kms_sample_msgpack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_POOL 4096 /* distinct pre-encoded frames, cycled through */

static uint64_t s_rng = 42;

static double s_uniform(double lo, double hi)
{
    return kms_num_uniform(&s_rng, lo, hi);
}

/* A node sample as the scraper publishes it: a known linear truth with 2 % noise, two
   architectures, the scales a real node has (cycles ~1e10/s, memory ~1e10 bytes). */
static void s_make_sample(uint64_t seq, kms_sample_t *s)
{
    memset(s, 0, sizeof *s);
    s->seq = seq;
    s->ts = 1.7e9 + 5.0 * (double) seq;
    s->dt = 5;
    strcpy(s->node, "bench-node-1");
    bool skylake = seq % 3 == 0;
    strcpy(s->arch, skylake ? "Skylake" : "Broadwell");
    double load = s_uniform(0.02, 1);
    double time = 32 * load, cycles = 2.4e9 * time * s_uniform(0.9, 1.1);
    double instructions = cycles * s_uniform(0.6, 2.2), misses = instructions * s_uniform(1e-3, 1e-2);
    double memory = s_uniform(8e9, 6e10);
    kms_values_set(&s->features, KMS_F_CPU_CYCLES, cycles);
    kms_values_set(&s->features, KMS_F_CPU_INSTRUCTIONS, instructions);
    kms_values_set(&s->features, KMS_F_CPU_TIME, time);
    kms_values_set(&s->features, KMS_F_CACHE_MISSES, misses);
    kms_values_set(&s->features, KMS_F_RESIDENT_MEMORY, memory);
    double core = (skylake ? 12 : 9) + 1.1e-9 * cycles + 0.4e-9 * instructions + 0.8 * time;
    double dram = 3 + 2e-8 * misses + 5e-11 * memory;
    kms_values_set(&s->targets, "core", core * s_uniform(0.98, 1.02));
    kms_values_set(&s->targets, "dram", dram * s_uniform(0.98, 1.02));
    kms_values_set(&s->targets, "package", (core + 15) * s_uniform(0.98, 1.02));
}

/* Learned, or held while its architecture earns a slot (Broadwell's first few): not rejected. */
static bool s_taken(kms_learn_result_t result)
{
    return result == KMS_LEARN_OK || result == KMS_LEARN_PENDING;
}

typedef struct {
    unsigned char *bytes;
    size_t offset[S_POOL + 1];
} pool_t;

static int s_pool_fill(pool_t *pool)
{
    pool->bytes = malloc((size_t) S_POOL * 1024);
    if (!pool->bytes)
        return -1;
    kms_sample_t s;
    pool->offset[0] = 0;
    for (size_t i = 0; i < S_POOL; i++) {
        s_make_sample(i, &s);
        size_t len = kms_sample_encode(&s, pool->bytes + pool->offset[i], 1024);
        if (len == 0)
            return -1;
        pool->offset[i + 1] = pool->offset[i] + len;
    }
    return 0;
}

/* The models a sample is learned in: core_model, dram_model, and cpu_time_core_model (the curve
   families) when `families`. */
static const char *const s_names[] = {"core_model", "dram_model", "cpu_time_core_model"};

static size_t s_model_count(bool families)
{
    return families ? 3 : 2;
}

static void s_print_fit(const char *name, const kms_model_t *model)
{
    kms_model_status_t st;
    kms_model_status(model, &st);
    printf(" %s_samples=%llu %s_window_r2=%.4f", name, (unsigned long long) st.samples, name, st.window_r2);
}

static void s_destroy_models(kms_model_t *models[3])
{
    for (size_t m = 0; m < 3; m++)
        kms_model_destroy(&models[m]);
}

static int s_throughput(long samples, bool families)
{
    pool_t pool = {0};
    kms_model_t *models[3] = {0};
    size_t count = s_model_count(families);
    int rc = s_pool_fill(&pool);
    for (size_t m = 0; m < count; m++) {
        kms_model_spec_t spec;
        kms_model_spec_builtin(s_names[m], &spec);
        if (!(models[m] = kms_model_new(&spec)))
            rc = -1;
    }
    if (rc != 0) {
        kms_error("cannot prepare the benchmark", NULL);
        s_destroy_models(models);
        free(pool.bytes);
        return 1;
    }
    kms_sample_t s;
    long rejected = 0;
    double start = kms_num_monotonic();
    for (long i = 0; i < samples; i++) {
        size_t k = (size_t) i % S_POOL;
        bool taken = kms_sample_decode(pool.bytes + pool.offset[k], pool.offset[k + 1] - pool.offset[k], &s, NULL) == 0;
        for (size_t m = 0; taken && m < count; m++)
            taken = s_taken(kms_model_learn(models[m], &s, s.ts));
        rejected += !taken;
    }
    double elapsed = kms_num_monotonic() - start;
    /* The decoding alone, to tell the two costs apart. */
    start = kms_num_monotonic();
    for (long i = 0; i < samples; i++) {
        size_t k = (size_t) i % S_POOL;
        rejected += kms_sample_decode(pool.bytes + pool.offset[k], pool.offset[k + 1] - pool.offset[k], &s, NULL) != 0;
    }
    double decoding = kms_num_monotonic() - start;
    printf("train samples=%ld models=%zu families=%s seconds=%.3f samples_per_s=%.0f ns_per_sample=%.1f "
           "decode_ns=%.1f frame_bytes=%.1f rejected=%ld",
           samples, count, families ? "on" : "off", elapsed, elapsed > 0 ? (double) samples / elapsed : 0,
           elapsed * 1e9 / (double) samples, decoding * 1e9 / (double) samples, (double) pool.offset[S_POOL] / S_POOL,
           rejected);
    s_print_fit("core", models[0]);
    s_print_fit("dram", models[1]);
    if (families) {
        s_print_fit("cpu_time_core", models[2]);
        printf(" cpu_time_core_family=%s", kms_family_name(kms_family_served(kms_model_family(models[2]))));
    }
    printf("\n");
    s_destroy_models(models);
    free(pool.bytes);
    return rejected == 0 ? 0 : 1;
}

/* VmRSS and VmHWM from /proc/self/status, in kB. */
static int s_memory(long *rss_kb, long *hwm_kb)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *rss_kb = *hwm_kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    if (f)
        fclose(f);
    return *rss_kb >= 0 && *hwm_kb >= 0 ? 0 : -1;
}

/* `count` models (core and dram alternately, and cpu_time_core as every third with `families`),
   each trained on enough samples to touch all of its state, then the process's resident
   memory. */
static int s_footprint(long count, bool families)
{
    pool_t pool = {0};
    long rss0, hwm0, rss = -1, hwm = -1;
    kms_model_t **models = calloc((size_t) count, sizeof *models);
    int rc = models && s_pool_fill(&pool) == 0 && s_memory(&rss0, &hwm0) == 0 ? 0 : 1;
    kms_sample_t s;
    for (long m = 0; rc == 0 && m < count; m++) {
        kms_model_spec_t spec;
        const char *name = s_names[(size_t) m % s_model_count(families)];
        kms_model_spec_builtin(name, &spec);
        snprintf(spec.name, sizeof spec.name, "%.40s_%ld", name, m);
        if (!(models[m] = kms_model_new(&spec)))
            rc = 1;
        for (size_t i = 0; rc == 0 && i < 300; i++) {
            kms_sample_decode(pool.bytes + pool.offset[i], pool.offset[i + 1] - pool.offset[i], &s, NULL);
            kms_model_learn(models[m], &s, s.ts);
        }
    }
    if (rc == 0 && s_memory(&rss, &hwm) == 0)
        printf(
            "train models=%ld families=%s rss_kb=%ld hwm_kb=%ld baseline_rss_kb=%ld models_kb=%ld kb_per_model=%.1f\n",
            count, families ? "on" : "off", rss, hwm, rss0, rss - rss0, (double) (rss - rss0) / (double) count);
    else
        kms_error("cannot measure the models' memory", "models=%ld", count);
    for (long m = 0; models && m < count; m++)
        kms_model_destroy(&models[m]);
    free(models);
    free(pool.bytes);
    return rc == 0 && rss >= 0 ? 0 : 1;
}

/* The first `count` frames of the same data, concatenated (msgpack maps delimit themselves),
   for the scikit-learn comparison in scripts/bench. */
static int s_export(const char *path, long count)
{
    FILE *f = fopen(path, "wb");
    unsigned char buf[KMS_SAMPLE_MAX_FRAME];
    kms_sample_t s;
    for (long i = 0; f && i < count; i++) {
        s_make_sample((uint64_t) i, &s);
        size_t len = kms_sample_encode(&s, buf, sizeof buf);
        if (len == 0 || fwrite(buf, 1, len, f) != len)
            break;
    }
    if (!f || ferror(f) | fclose(f)) {
        char quoted[512];
        kms_error("cannot write the samples", "path=%s", kms_log_quote(path, quoted, sizeof quoted));
        return 1;
    }
    printf("train exported=%ld path=%s\n", count, path);
    return 0;
}

int bench_train_main(int argc, char **argv)
{
    static long samples, models;
    static const char *export_path;
    static bool families;
    /* clang-format off */
    static kms_option_t options[] = {
        {"samples", "KMS_BENCH_SAMPLES", KMS_OPT_INT, "2000000", "samples to decode and learn", &samples, 1, 1e10},
        {"models", "KMS_BENCH_MODELS", KMS_OPT_INT, "0",
         "instead: create this many models and print their resident memory", &models, 0, 100000},
        {"families", "KMS_BENCH_FAMILIES", KMS_OPT_BOOL, "false",
         "learn each sample in cpu_time_core_model too (cpu time alone: the curve families' grid); with "
         "--models, every third model is one", &families, 0, 0},
        {"export", "KMS_BENCH_EXPORT", KMS_OPT_STRING, NULL,
         "instead: write the first --samples frames to this file, concatenated", &export_path, 0, 0},
        {0}};
    /* clang-format on */
    static const kms_config_t config = {
        "kms-bench",
        "Decodes pre-encoded sample frames and learns each in core_model and dram_model (with\n"
        "--families in cpu_time_core_model too, whose one feature carries the curve families), on one core;\n"
        "prints: train samples=... samples_per_s=<n> ... With --models M: the resident memory (VmRSS,\n"
        "VmHWM) of M trained models: train models=M rss_kb=... hwm_kb=... With --export FILE: the\n"
        "same samples as frames, for a comparison with another learner.",
        "train [OPTIONS]", options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    if (export_path)
        return s_export(export_path, samples);
    return models > 0 ? s_footprint(models, families) : s_throughput(samples, families);
}
