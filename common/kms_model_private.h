/*  kms_model_private: the layout of a model, shared by the two files of the model module,
    kms_model.c (the regression) and kms_model_state.c (its state as JSON, and back). No one
    else includes it: to everyone else a model is opaque (kms_model.h). */
#ifndef KMS_MODEL_PRIVATE_H
#define KMS_MODEL_PRIVATE_H

#include "kms_model.h"

struct kms_model_t {
    kms_model_spec_t spec;
    size_t stride; /* row length of the matrices: features + target + KMS_MODEL_MAX_ARCH */
    size_t dim;    /* columns in use: features, target, then the architectures seen */
    size_t arch_count;
    char arch[KMS_MODEL_MAX_ARCH][KMS_NAME_MAX];

    /* Slots are earned and reclaimed on a clock of valid samples (learned or pending). */
    uint64_t arch_clock, arch_seen[KMS_MODEL_MAX_ARCH];
    uint64_t pending, reclaimed;
    size_t candidate_count;
    struct {
        char name[KMS_NAME_MAX];
        uint64_t count, seen;
        double first_ts, last_ts;
    } candidate[KMS_MODEL_ARCH_CANDIDATES];

    uint64_t samples, missing, invalid;
    char missing_what[KMS_NAME_MAX];
    double created, updated;
    double weight_sum; /* W */

    /* Prequential fit: each sample predicted before it is learned. */
    uint64_t predicted;
    double sse, sae;     /* sums of squared and absolute errors */
    double y_mean, y_m2; /* Welford over the targets of predicted samples */
    size_t window_len, window_next;
    double window_y[KMS_MODEL_WINDOW], window_err[KMS_MODEL_WINDOW];
    double sape; /* sum of |error| / y over the scored samples with y > 0 */
    uint64_t ape_count;

    /* The residual gate: the window's median error, robust deviation and median watts, as of
       the last refresh; its recent decisions (-1, 0, +1: out below, in, out above). */
    double gate_center, gate_scale, gate_level;
    int8_t gate_recent[KMS_MODEL_GATE_RECENT];
    size_t gate_recent_len, gate_recent_next;
    bool drift;
    uint64_t drifts, outliers, drifted;

    /* Where each feature (and, last, the target) sat in the previous sample: a publisher
       writes its keys in the same order every time, so one comparison usually finds it. */
    uint8_t hint[KMS_SAMPLE_MAX_VALUES + 1];

    /* The current fit, solved after every change of the moments. */
    bool has_fit;
    double arch_offset; /* sum_a beta_a mean_a, so that bias = mean_y - arch_offset */

    /* A one-feature model also fits the curve families on the samples it learns (kms_family.h). */
    kms_family_t *family;

    /* One allocation: mean[stride], beta[stride], comoment[stride^2] (upper triangle used),
       chol[stride^2] (scratch for the solve, packed to the active columns). */
    double *mean, *beta, *comoment, *chol;
    double storage[];
};

/* The target's column, after the features. */
static inline size_t s_target(const kms_model_t *self)
{
    return self->spec.feature_count;
}

static inline double *s_c(const kms_model_t *self, size_t i, size_t j)
{
    return i <= j ? &self->comoment[i * self->stride + j] : &self->comoment[j * self->stride + i];
}

/* The regression's own steps that a state loaded from JSON goes through too (kms_model.c). */
const char *kms_model_spec_check(const kms_model_spec_t *spec);        /* NULL when valid, else why */
size_t kms_model_arch_find(const kms_model_t *self, const char *arch); /* SIZE_MAX: not a slot */
void kms_model_gate_refresh(kms_model_t *self);
void kms_model_gate_outs(const kms_model_t *self, int *above, int *below);
void kms_model_solve(kms_model_t *self);

#endif
