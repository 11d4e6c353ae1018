/*  kms_weights: the weights document Kepler's estimator reads (CONTRACT.md, "Weights JSON").

    {"All_Weights": {"Bias_Weight": b,
                     "Categorical_Variables": {"cpu_architecture": {"<arch>": {"weight": w}}},
                     "Numerical_Variables": {"<feature>": {"mean": m, "variance": s2, "weight": w}}},
     "model_name": "...", ...metadata}

    Prediction: Bias_Weight + weight[arch] + sum_i weight_i * (x_i - mean_i) / sqrt(variance_i).
    Every number is finite and every variance positive, or the document is not written. */
#ifndef KMS_WEIGHTS_H
#define KMS_WEIGHTS_H

#include <jansson.h>
#include <stddef.h>

#include "kms_sample.h"

#define KMS_WEIGHTS_CATEGORY "cpu_architecture"  /* the one categorical variable */
#define KMS_ARCH_UNKNOWN "unknown"               /* the architecture of a sample that has none */

typedef struct {
    char name[KMS_NAME_MAX];
    double mean, variance, weight;
} kms_weight_numeric_t;

typedef struct {
    char name[KMS_NAME_MAX];  /* cpu architecture */
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

/* Reads a document back (what a Kepler-like client does). 0, or -1 when it is not valid. */
int kms_weights_from_json(const json_t *doc, kms_weights_t *out);

/* The contract's prediction formula applied to a sample's features (arch from the sample).
   Features missing from the sample count as their mean. */
double kms_weights_predict(const kms_weights_t *weights, const kms_sample_t *sample);

#endif
