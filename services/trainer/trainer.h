/*  kms-trainer's insides: the model set (trainer.c), the sample gate (ingest.c), checkpoints
    (checkpoint.c), the control protocol (control.c), the online loop (service.c), the offline
    commands (offline.c) and the model-spec file (specs.c). main.c only wires them.

    One thread does everything: the models are touched by the training loop alone, so nothing
    here locks. */
#ifndef TRAINER_H
#define TRAINER_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms_curve.h"
#include "kms_model.h"
#include "kms_sample.h"

#define TRAINER_MAX_MODELS 64
#define TRAINER_HISTORY_MAX 120   /* fit history points kept per model */

/* ---- specs.c: which models to train ---------------------------------------------------------- */

typedef struct {
    size_t count;
    kms_model_spec_t specs[TRAINER_MAX_MODELS];
} trainer_specs_t;

/* The built-in core_model and dram_model, then the models of the JSON file at `path` (may be
   NULL): [{"name":..., "features":[...], "target":...}, ...]. A file entry with a built-in's
   name replaces it. Every spec gets `forgetting` and `min_samples`. Returns 0, or -1 with a
   one-line reason in `why`. */
int trainer_specs_load(trainer_specs_t *out, const char *path, double forgetting,
                       uint64_t min_samples, char *why, size_t why_cap);

/* Whether `name` can name a model: it becomes a file name in the data dir. */
bool trainer_specs_name_ok(const char *name);

/* ---- trainer.c: the model set, its history and counters -------------------------------------- */

typedef struct {
    uint64_t samples_received;    /* messages on the samples socket */
    uint64_t samples_accepted;    /* handed to the models */
    uint64_t samples_rejected;    /* valid node samples refused: values or interval */
    uint64_t rejected_values;     /* negative numbers, or beyond KMS_MODEL_VALUE_MAX */
    uint64_t rejected_interval;   /* dt far from the publisher's usual one */
    uint64_t container_samples;   /* valid container samples: counted for seq, never learned */
    uint64_t frames_malformed;    /* frame count, topic, size, undecodable, kind vs topic */
    uint64_t seq_gaps;            /* messages missed, summed over publishers */
    uint64_t publisher_restarts;  /* seq went back: a publisher's new session */
    uint64_t publishers;          /* publishers seen (currently tracked) */
    uint64_t checkpoints;         /* model checkpoints written */
    uint64_t checkpoint_errors;   /* failed checkpoint writes */
    double last_checkpoint;       /* unix seconds of the last good one, 0 = never */
    uint64_t requests;            /* control requests answered */
    uint64_t requests_bad;        /* ... with 400 */
} trainer_stats_t;

typedef struct trainer_t trainer_t;

/* A trainer with one fresh model per spec. `version` is borrowed (static text). */
trainer_t *trainer_new(const trainer_specs_t *specs, const char *version);
void trainer_destroy(trainer_t **self_p);

trainer_stats_t *trainer_stats(trainer_t *self);
const char *trainer_version(const trainer_t *self);
double trainer_uptime(const trainer_t *self);

size_t trainer_model_count(const trainer_t *self);
const kms_model_t *trainer_model_at(const trainer_t *self, size_t index);
/* -1 when no model has that name. */
int trainer_model_find(const trainer_t *self, const char *name);
/* The configured spec of that name (built-in or --models), NULL for others. */
const kms_model_spec_t *trainer_spec_configured(const trainer_t *self, const char *name);
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

/* Learns one sample into every model; returns how many models learned it. */
size_t trainer_learn(trainer_t *self, const kms_sample_t *sample, double now);

/* Appends one fit-history point per model. */
void trainer_history_tick(trainer_t *self, double now);

/* Checkpoint bookkeeping: whether model `index` learned since its last checkpoint. */
bool trainer_model_dirty(const trainer_t *self, size_t index);
void trainer_model_saved(trainer_t *self, size_t index);

/* JSON documents of the control protocol (kms_proto.h), new references. */
json_t *trainer_describe_model(const trainer_t *self, size_t index);
json_t *trainer_describe_stats(const trainer_t *self);
json_t *trainer_history_json(const trainer_t *self, size_t index);

/* ---- ingest.c: frames from the samples socket -> accepted samples ---------------------------- */

typedef struct trainer_ingest_t trainer_ingest_t;

trainer_ingest_t *trainer_ingest_new(trainer_stats_t *stats);
void trainer_ingest_destroy(trainer_ingest_t **self_p);

/* Checks one message (its frames) and fills `out` when it is a sample to learn: returns 0, or
   -1 when it is not one (dropped: counted in stats, logged; or a container sample: counted).
   Pure apart from the log. */
int trainer_ingest_message(trainer_ingest_t *self, zmsg_t *msg, kms_sample_t *out);

/* ---- checkpoint.c: models on disk ------------------------------------------------------------ */

/* Loads every checkpoint in `dir` into the trainer (those of configured models must match
   their spec, others are added as they are); corrupt ones are moved aside. Leftover temporary
   files are removed. Returns the number of models loaded (0 when the folder does not exist
   yet), or -1 when the folder exists but cannot be listed: starting fresh would then overwrite
   checkpoints that were never read. */
long trainer_checkpoint_load(trainer_t *self, const char *dir);

/* Writes every dirty model (all when `all`); returns 0, or -1 when one could not be written
   (logged, counted; the previous file is intact and the model stays dirty for a retry). */
int trainer_checkpoint_save(trainer_t *self, const char *dir, bool all);

/* Reads a model zip from a file; NULL with *why (static text) when it cannot be used.
   `history` (may be NULL) receives the fit history in its metadata (new reference or NULL). */
kms_model_t *trainer_checkpoint_read_zip(const char *path, json_t **history, const char **why);


/* Writes `model` as `<dir>/<name>.zip` atomically (temporary file, fsync, rename, fsync of
   the folder). 0, or -1 with errno kept and the error logged. */
int trainer_checkpoint_write(const trainer_t *self, size_t index, const char *dir);

/* ---- control.c: one request -> one reply ----------------------------------------------------- */

/* Answers one control request (kms_proto.h). Takes the request, returns the two-frame reply. */
zmsg_t *trainer_control_handle(trainer_t *self, zmsg_t **request_p);

/* ---- service.c: the online loop -------------------------------------------------------------- */

typedef struct {
    const char *samples_endpoint;
    const char *control_endpoint;
    const char *data_dir;
    double checkpoint_interval;
    double history_interval;
    const char *seed_models;  /* comma-separated zip files, or NULL */
    kms_curve_t *curve;       /* CURVE on both sockets, or NULL (borrowed) */
} trainer_service_options_t;

/* Runs until SIGINT/SIGTERM; returns the process exit status: 0, or 1 when a socket could not
   be opened or the final checkpoint failed. */
int trainer_service_run(trainer_t *self, const trainer_service_options_t *options);

/* ---- offline.c: the train and import commands ------------------------------------------------ */

/* `kms-trainer train --dataset FILE`: returns the process exit status. */
int trainer_offline_train(trainer_t *self, const char *dataset, const char *data_dir);

/* `kms-trainer import FILE...`: each zip becomes the checkpoint of its model in data_dir. */
int trainer_offline_import(trainer_t *self, char **files, int count, const char *data_dir);

#endif
