/*  trainer.h: kms-trainer's model set (trainer.c), its fit history and counters. Each of the
    other modules has its header: the model-spec file (trainer_specs.h), the ingest checks (trainer_ingest.h),
    checkpoints (trainer_checkpoint.h), the control protocol (trainer_control.h), the online loop (trainer_service.h)
    and the offline commands (trainer_offline.h). main.c only wires them.

    One thread does everything: the models are touched by the training loop alone, so nothing
    here locks. */
#ifndef TRAINER_H
#define TRAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trainer_bounds.h"
#include "kms_model.h"
#include "kms_sample.h"
#include "trainer_specs.h"

#define TRAINER_HISTORY_MAX 120 /* fit history points kept per model */

typedef struct {
    uint64_t samples_received;   /* messages on the samples socket */
    uint64_t samples_accepted;   /* handed to the models */
    uint64_t samples_rejected;   /* valid node samples refused: values, time or interval */
    uint64_t rejected_values;    /* negative numbers, or beyond KMS_MODEL_VALUE_MAX */
    uint64_t rejected_interval;  /* dt far from the publisher's usual one */
    uint64_t rejected_time;      /* ts from the future, dt shorter than a scrape or than the time since the previous */
    uint64_t container_samples;  /* valid container samples: counted for seq, never learned */
    uint64_t frames_malformed;   /* frame count, topic, size, undecodable, kind vs topic */
    uint64_t seq_gaps;           /* messages missed, summed over publishers */
    uint64_t publisher_restarts; /* seq went back: a publisher's new session */
    uint64_t publishers;         /* publishers seen (currently tracked) */
    uint64_t publishers_forgotten; /* ... forgotten to make room for new ones (trainer_ingest.c) */
    uint64_t checkpoints;          /* model checkpoints written */
    uint64_t checkpoint_errors;    /* failed checkpoint writes */
    double last_checkpoint;        /* unix seconds of the last good one, 0 = never */
    uint64_t requests;             /* control requests answered */
    uint64_t requests_bad;         /* ... with 400 */
} trainer_stats_t;

typedef struct trainer_t trainer_t;

/* A trainer with one fresh model per spec. `version` is borrowed (static text). */
trainer_t *trainer_new(const trainer_specs_t *specs, const char *version);
void trainer_destroy(trainer_t **self_p);

trainer_stats_t *trainer_stats(trainer_t *self);
const char *trainer_version(const trainer_t *self);

size_t trainer_model_count(const trainer_t *self);
const kms_model_t *trainer_model_at(const trainer_t *self, size_t index);
/* -1 when no model has that name. */
int trainer_model_find(const trainer_t *self, const char *name);
/* Whether `spec` has the name of a configured model but other features or another target: a
   checkpoint or zip of a model definition that no longer holds here. */
bool trainer_spec_conflicts(const trainer_t *self, const kms_model_spec_t *spec);

/* Replaces (or adds) the model of the same name, taking ownership; the configured forgetting
   and min_samples are applied. `history` (borrowed, may be NULL) restores the fit history.
   `dirty` marks it for the next checkpoint. Returns 0, -1 when full (the model is destroyed). */
int trainer_model_put(trainer_t *self, kms_model_t *model, const json_t *history, bool dirty);

/* Whether the sample's numbers may reach a model: every feature and target finite and >= 0,
   ts finite. */
bool trainer_sample_values_ok(const kms_sample_t *sample);

/* The plausibility gate's physical bounds (trainer_bounds.h); the defaults until set. */
void trainer_set_bounds(trainer_t *self, const trainer_bounds_t *bounds);

/* Learns one sample into every model; returns how many models learned it. A target beyond its
   bound holds the sample back from all of them, a model's residual gate from that model
   (counted per reason and publisher in STATS' held_back, logged with rate limiting). */
size_t trainer_learn(trainer_t *self, const kms_sample_t *sample, double now);

/* Appends one fit-history point per model. */
void trainer_history_tick(trainer_t *self, double now);

/* Checkpoint bookkeeping: whether model `index` learned since its last checkpoint. */
bool trainer_model_dirty(const trainer_t *self, size_t index);
void trainer_model_saved(trainer_t *self, size_t index);
/* The model's checkpoint file is not this model's and could not be set aside (trainer_checkpoint.h):
   it must be before the model is written over it. */
void trainer_model_keep_file(trainer_t *self, size_t index, bool keep);
bool trainer_model_keeps_file(const trainer_t *self, size_t index);

/* JSON documents of the control protocol (kms_proto.h), new references. */
json_t *trainer_describe_model(const trainer_t *self, size_t index);
json_t *trainer_describe_stats(const trainer_t *self);
json_t *trainer_history_json(const trainer_t *self, size_t index);

#endif
