/*  trainer_bounds.h: kms-trainer's plausibility gate, between the ingest and the models.

    Physical bounds per target: watts that no node draws (a counter read across a restart as a
    wrap, a mis-scaled unit) are held back before any model sees them. The residual gate is the
    model's own (kms_model.h: it knows the prediction); what either held back is counted here per
    reason and per publisher, and logged with rate limiting. */
#ifndef TRAINER_BOUNDS_H
#define TRAINER_BOUNDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kms_sample.h"

typedef enum {
    TRAINER_HELD_BOUNDS,  /* a target beyond its physical bound */
    TRAINER_HELD_OUTLIER, /* a model's residual gate: far from its prediction */
    TRAINER_HELD_DRIFT,   /* out of the gate in a drift, in a model that does not forget */
    TRAINER_HELD_REASONS
} trainer_held_reason_t;

#define TRAINER_BOUNDS_DEFAULT \
    "core=4000,uncore=2000,package=5000,dram=2000,gpu=10000,other=20000,platform=20000,*=20000"

typedef struct {
    size_t count;
    char target[KMS_SAMPLE_MAX_VALUES][KMS_NAME_MAX];
    double max[KMS_SAMPLE_MAX_VALUES]; /* watts */
    double other_max;                  /* the bound of targets not listed ("*") */
} trainer_bounds_t;

/* The defaults (TRAINER_BOUNDS_DEFAULT: generous for the largest nodes, 8 sockets or 8
   GPUs), then `text` (may be NULL or empty): "target=watts,..." whose entries replace them,
   "*" for every other target. Returns 0, or -1 with a one-line reason in `why`. */
int trainer_bounds_parse(trainer_bounds_t *out, const char *text, char *why, size_t why_cap);

/* The first target of the sample beyond its bound, or NULL when all are within. */
const char *trainer_bounds_exceeded(const trainer_bounds_t *bounds, const kms_sample_t *sample);

/* What the gates held back: totals per reason, and per publisher (node) for the 64 heard from
   most recently. */
typedef struct trainer_held_t trainer_held_t;

trainer_held_t *trainer_held_new(void);
void trainer_held_destroy(trainer_held_t **self_p);

/* Counts one held-back sample and logs it: a publisher's 1st, 10th, 100th... of each reason.
   `model` names the model that held it (NULL for the bounds); `what` and `watts` the target. */
void trainer_held_count(trainer_held_t *self, const kms_sample_t *sample, trainer_held_reason_t reason,
                        const char *model, const char *what, double watts);

/* {"bounds": n, "outlier": n, "drift": n, "publishers": [{"node", "bounds", "outlier", "drift"},
   ...]} (the publishers that had most held back first, at most 16). New reference. */
json_t *trainer_held_json(const trainer_held_t *self);

#endif
