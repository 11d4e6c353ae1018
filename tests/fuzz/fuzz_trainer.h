/* Shared by the fuzz targets that need a trainer in a realistic state: the built-in models,
   core_model and platform_model trained past their minimum (ready, served), the dram models
   never given their target (not ready), so that requests can reach every answer: 200, 404 and 503.
   Made once per process;
   learning is deterministic, so every run starts from the same state. */
#ifndef FUZZ_TRAINER_H
#define FUZZ_TRAINER_H

#include "kms_log.h"
#include "trainer_specs.h"
#include "trainer.h"

#include <stdio.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

static inline trainer_t *s_fuzz_trainer(void)
{
    static trainer_t *trainer;
    if (trainer)
        return trainer;
    kms_log_threshold = KMS_LOG_ERROR; /* 400s are logged at debug; keep the fuzzer's output readable */
    trainer_specs_t specs;
    char why[256];
    CHECK(trainer_specs_load(&specs, NULL, 1.0, 10, why, sizeof why) == 0);
    trainer = trainer_new(&specs, "fuzz");
    CHECK(trainer != NULL);
    for (uint64_t seq = 1; seq <= 60; seq++) {
        kms_sample_t s;
        memset(&s, 0, sizeof s);
        snprintf(s.node, sizeof s.node, "fuzz-node");
        snprintf(s.arch, sizeof s.arch, "%s", seq % 3 ? "x86_64" : "arm64");
        s.seq = seq;
        s.ts = 1.7e9 + 5.0 * (double) seq;
        s.dt = 5;
        double c = 1e9 + 1e7 * (double) (seq % 17), i = 2e9 + 3e7 * (double) (seq % 7);
        double t = 1 + 0.1 * (double) (seq % 5);
        kms_values_set(&s.features, KMS_F_CPU_CYCLES, c);
        kms_values_set(&s.features, KMS_F_CPU_INSTRUCTIONS, i);
        kms_values_set(&s.features, KMS_F_CPU_TIME, t);
        kms_values_set(&s.features, KMS_F_CACHE_MISSES, 1e6 + 1e4 * (double) (seq % 11));
        kms_values_set(&s.features, KMS_F_RESIDENT_MEMORY, 1e9 + 1e7 * (double) (seq % 13));
        kms_values_set(&s.targets, "core", 5 + 2e-9 * c + 1e-9 * i + 1.5 * t);
        kms_values_set(&s.targets, "platform", 40 + 3e-9 * c + 1e-9 * i + 2.5 * t);
        trainer_learn(trainer, &s, s.ts);
        if (seq % 10 == 0)
            trainer_history_tick(trainer, s.ts);
    }
    return trainer;
}

#endif
