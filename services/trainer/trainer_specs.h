/*  trainer_specs.h: which models kms-trainer trains (the built-ins and the --models file). */
#ifndef TRAINER_SPECS_H
#define TRAINER_SPECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms_model.h"

#define TRAINER_MAX_MODELS 64

typedef struct {
    size_t count;
    kms_model_spec_t specs[TRAINER_MAX_MODELS];
} trainer_specs_t;

/* The built-in models (core_model, dram_model, the vm_* ones), then the models of the JSON file at `path` (may be
   NULL): [{"name":..., "features":[...], "target":...}, ...]. A file entry with a built-in's
   name replaces it. Every spec gets `forgetting` and `min_samples`. Returns 0, or -1 with a
   one-line reason in `why`. */
int trainer_specs_load(trainer_specs_t *out, const char *path, double forgetting, uint64_t min_samples, char *why,
                       size_t why_cap);

/* Whether `name` can name a model: it becomes a file name in the data dir. */
bool trainer_specs_name_ok(const char *name);

#endif
