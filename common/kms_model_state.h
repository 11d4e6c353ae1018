/*  kms_model_state: a model's whole training state as a JSON document, and back, for
    checkpoints and model zips. Part of the model module: kms_model.h includes it. */
#ifndef KMS_MODEL_STATE_H
#define KMS_MODEL_STATE_H

#include <jansson.h>

typedef struct kms_model_t kms_model_t;

/* The whole training state, exact (doubles round-trip), for checkpoints and model zips: a model
   loaded from it continues bit for bit as if it had never stopped. Caller json_decref()s it;
   NULL only when out of memory. The document: {"format":"kms-model-state", "version":1,
   "spec":{name, target, features, forgetting, ridge, min_samples}, "archs":[...], "samples",
   "missing", "invalid", "missing_what", "created", "updated", "weight_sum", "mean":[...],
   "slots":{"clock", "seen":[per arch], "pending", "reclaimed", "candidates":[[name, count,
   first_ts, last_ts, seen], ...]}, "gate":{"center", "scale", "level", "recent":"-0+...",
   "drift", "drifts", "outliers", "drifted"} (both optional: states saved before them start
   them afresh; so do "sape" and "ape_count" in "prequential"),
   "comoment":[upper triangle, row by row], "prequential":{count, sse, sae, y_mean, y_m2,
   "window":[[y, error], ...]}, "families":{...} (one-feature models: kms_family_save; optional,
   a state without them starts them afresh)}; columns are the features, the target, then the
   archs. */
json_t *kms_model_save(const kms_model_t *self);
/* A model from a saved state; NULL (static reason in *why) when the document is not a valid state:
   every field's type, the dimensions, finiteness and the counts' consistency are checked; and
   when it is poisoned (reason "poisoned: ..."): a fit that should exist is not finite, or the
   served weights predict non-finite or negative watts at the mean of the learned samples. */
kms_model_t *kms_model_load(const json_t *state, const char **why);

#endif
