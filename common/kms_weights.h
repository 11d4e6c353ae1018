/*  kms_weights: the weights document Kepler's estimator reads (docs/contract.md).

    {"All_Weights": {"Bias_Weight": b,
                     "Categorical_Variables": {"cpu_architecture": {"<arch>": {"weight": w}}},
                     "Numerical_Variables": {"<feature>": {"mean": 0, "variance": s*s, "scale": s,
                                                           "weight": w}}},
     "model_name": "...", ...metadata}

    Two generations of Kepler read it: 0.4-0.5.x compute
        Bias_Weight + weight[arch] + sum_i weight_i * (x_i - mean_i) / sqrt(variance_i)
    and 0.6-0.9 compute
        Bias_Weight + weight[arch] + sum_i weight_i * x_i / scale_i.
    With mean 0 and variance = scale^2 (whose square root is scale again, bit for bit) both give
    the same watts, so a document is one model whichever Kepler reads it: Bias_Weight is the
    prediction at zero usage. Every number is finite and every scale positive, or the document
    is not written. */
#ifndef KMS_WEIGHTS_H
#define KMS_WEIGHTS_H

#include <jansson.h>
#include <stddef.h>

#include "kms_sample.h"

#define KMS_WEIGHTS_CATEGORY "cpu_architecture" /* the one categorical variable */
#define KMS_ARCH_UNKNOWN "unknown"              /* the architecture of a sample that has none */

typedef struct {
    char name[KMS_NAME_MAX];
    double scale, weight; /* the feature adds weight * x / scale */
} kms_weight_numeric_t;

typedef struct {
    char name[KMS_NAME_MAX]; /* cpu architecture */
    double weight;
} kms_weight_category_t;

typedef struct {
    char model_name[KMS_NAME_MAX];
    double bias;
    size_t numeric_count;
    kms_weight_numeric_t numeric[KMS_SAMPLE_MAX_VALUES];
    size_t category_count;
    kms_weight_category_t category[KMS_SAMPLE_MAX_VALUES];
} kms_weights_t;

/* The document as a new jansson object (caller json_decref()s it), or NULL when a number is not
   finite or a variance is not positive. `names`, when not NULL, renames numeric features in the
   output: names[i] replaces numeric[i].name (Kepler's own metric names, say). */
json_t *kms_weights_to_json(const kms_weights_t *weights, const char *const *names);

/* Reads a document back (what a Kepler-like client does). 0, or -1 when it is not valid. A
   document of the 2022 server's form (mean and variance, no scale) is read as the same model in
   this form (its means folded into the bias); one whose two readings differ (a scale beside a
   nonzero mean, or a variance that is not scale^2) is not valid. */
int kms_weights_from_json(const json_t *doc, kms_weights_t *out);

/* The contract's prediction formula applied to a sample's features (arch from the sample).
   Features missing from the sample count as 0. */
double kms_weights_predict(const kms_weights_t *weights, const kms_sample_t *sample);

#endif
