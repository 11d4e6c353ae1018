/*  meter_model: a model per zone. Pure: a served weights document made ready for this machine,
    and its watts. */
#ifndef METER_MODEL_H
#define METER_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "kms_family.h"
#include "kms_sample.h"
#include "kms_weights.h"

typedef enum { METER_PACKAGE = 0, METER_CORE, METER_UNCORE, METER_DRAM, METER_PSYS, METER_ZONES } meter_zone_t;

#define METER_CANDIDATES 2

typedef struct {
    const char *zone;       /* "package": the --zones name and the metrics label */
    const char *dir;        /* "intel-rapl:0": the directory under class/powercap */
    const char *file_name;  /* "package-0": what its name file says, as Linux writes it */
    const char *models[METER_CANDIDATES];  /* served models, best first (NULL ends) */
} meter_zone_info_t;

const meter_zone_info_t *meter_zone_info(meter_zone_t zone);
/* -1 for a name that is not a zone. */
int meter_zone_find(const char *name);

typedef enum { METER_ARCH_EXACT = 0, METER_ARCH_NEAREST, METER_ARCH_GENERIC } meter_arch_match_t;
const char *meter_arch_match_name(meter_arch_match_t match);

/* A served model made ready for one machine: the architecture's weight chosen once and folded
   into the bias (weights.category_count is 0); or, when the server serves a curve for it (the
   document's "families", kms_family.h), that curve on the model's one feature. */
typedef struct {
    kms_weights_t weights;
    bool curve;
    kms_family_fit_t fit;
    char arch_used[KMS_NAME_MAX];  /* the category applied; "" for generic */
    meter_arch_match_t match;
    double arch_weight;
} meter_model_t;

/* What a model may be refused for: counted and logged by the caller. */
typedef enum {
    METER_REJECT_PARSE = 0,  /* not JSON, or not a weights document (a missing or non-finite number) */
    METER_REJECT_FEATURES,   /* needs a feature this machine does not have */
    METER_REJECT_WATTS       /* absurd predictions over the usage range */
} meter_reject_t;
const char *meter_reject_name(meter_reject_t reason);

/* Reads a weights document (`body`, `len` bytes) for a machine of `arch` whose available
   features are `have` (values ignored, names only) and whose cpu count is `cpus`. The
   architecture: its own category (exact), else the category sharing the longest leading run of
   whole words with it, two words at least (nearest: "Intel(R) Xeon(R) Gold 6338" for "Intel(R)
   Xeon(R) Gold 6348"), else the mean of all categories (generic: the average machine it
   learned). Refused unless its prediction at zero usage and at every cpu busy stays finite and
   within [-max_watts, max_watts]. 0, or -1 with the reason in *why. */
int meter_model_parse(const char *body, size_t len, const char *arch, const kms_values_t *have, double cpus,
                      double max_watts, meter_model_t *out, meter_reject_t *why);

/* The model's watts for the features of `usage` (its arch is not looked at); not clamped (the
   energy counter does that). The contract's formula: kms_weights_predict(). */
double meter_model_predict(const meter_model_t *model, const kms_sample_t *usage);

#endif
