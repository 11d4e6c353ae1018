/*  kms_modelzip: a model as a zip file held in memory, and back (libzip, no file I/O).

    The zip is what `GET /models/<model>` serves, what the trainer's ZIP command answers, what
    `kms-trainer import` reads, and also the trainer's checkpoint format, so that any checkpoint
    can be downloaded, inspected with unzip and imported elsewhere. It holds:

      weights.json   the weights document, byte for byte what the WEIGHTS command answers
                     (kms_modelzip_weights_text); absent while the model has no fit yet
      metadata.json  for people and tools: name, features, target, units, sample counts, fit,
                     created/updated times, server version, and the caller's extra keys
      state.json     kms_model_save(): the exact training state, so that an importer continues
                     where the exporter left off

    Entry times are the model's `updated` time, so one state always gives the same bytes. */
#ifndef KMS_MODELZIP_H
#define KMS_MODELZIP_H

#include <jansson.h>
#include <stddef.h>

#include "kms_model.h"

#define KMS_MODELZIP_WEIGHTS "weights.json"
#define KMS_MODELZIP_METADATA "metadata.json"
#define KMS_MODELZIP_STATE "state.json"
#define KMS_MODELZIP_FORMAT "kms-model/1"
/* Entries larger than this are refused when reading: a zip bomb must not exhaust memory. */
#define KMS_MODELZIP_MAX_ENTRY (16u * 1024 * 1024)

/* The weights document as served: kms_weights_to_json() plus "target", "per_logical_cpu"
   (true for a per-cpu model: watts per logical cpu at cpu_utilization), "features",
   "feature_means" (the data's means: the document's own are 0), "samples" and "fit" keys, and
   "families" (kms_family_json, fits included) when the model serves a curve: the straight line
   stays the document's weights, for every client that reads only those. NULL while the model
   has no fit. New reference. */
json_t *kms_modelzip_weights(const kms_model_t *model);
/* The same, as the exact text served and zipped. Caller frees with free(). */
char *kms_modelzip_weights_text(const kms_model_t *model);

/* Builds the zip; `extra` (borrowed, may be NULL) is an object whose keys metadata.json gets
   too, e.g. the trainer's fit history. 0 with *data (caller frees with free()) and *len, or
   -1 with the reason (static text) in *why. */
int kms_modelzip_write(const kms_model_t *model, const char *version, const json_t *extra, void **data, size_t *len,
                       const char **why);

/* Reads a zip made by kms_modelzip_write: the model from state.json (caller destroys it). When
   `metadata` is not NULL it receives metadata.json's document (caller json_decref()s it; an
   empty object when absent). NULL with the reason (static text) in *why when the bytes are not
   a zip, an entry fails its CRC, state.json is missing or not a valid state. */
kms_model_t *kms_modelzip_read(const void *data, size_t len, json_t **metadata, const char **why);

#endif
