/*  trainer_checkpoint.h: kms-trainer's models on disk, one zip per model in the data dir. */
#ifndef TRAINER_CHECKPOINT_H
#define TRAINER_CHECKPOINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kms_model.h"
#include "trainer.h"

/* Loads every checkpoint in `dir` into the trainer (those of configured models must match
   their spec, others are added as they are); corrupt ones are moved aside. Leftover temporary
   files are removed. Files are read relative to the folder, never through a symlink, and only
   when regular (a FIFO is set aside, not waited on). Returns the number of models loaded (0 when
   the folder does not exist yet), or -1 when the folder exists but cannot be listed: starting
   fresh would then overwrite checkpoints that were never read. */
long trainer_checkpoint_load(trainer_t *self, const char *dir);

/* Writes every dirty model (all when `all`); returns 0, or -1 when one could not be written
   (logged, counted; the previous file is intact and the model stays dirty for a retry). */
int trainer_checkpoint_save(trainer_t *self, const char *dir, bool all);

/* Reads a model zip from a file; NULL with *why (static text) when it cannot be used.
   `history` receives the fit history in its metadata (new reference or NULL). */
kms_model_t *trainer_checkpoint_read_zip(const char *path, json_t **history, const char **why);

/* Writes `model` as `<dir>/<name>.zip` atomically (temporary file, fsync, rename, fsync of
   the folder). A file there that was unusable at start and could not be set aside is set
   aside first, or the model is not written. 0, or -1 with errno kept and the error logged. */
int trainer_checkpoint_write(trainer_t *self, size_t index, const char *dir);

#endif
