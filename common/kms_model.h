/*  kms_model: one online linear-regression power model, learning sample by sample.

    The fit is exact least squares: it keeps running means and centred co-moments of the
    features, the one-hot architecture and the target (Welford's update, with optional
    exponential forgetting), and solves the standardized normal equations with a tiny ridge
    after every sample, so after any number of samples its predictions equal a batch (weighted)
    least-squares fit of the same samples with the same ridge, to rounding (~1e-14 relative in
    the tests). Constant features get weight 0; collinear ones share the weight through the ridge.
    The served weights reproduce the model's own prediction through Kepler's formula, bit for bit.

    Fit quality is prequential: each sample is predicted before it is learned, giving R², RMSE
    and MAE overall and over a recent window (scored from the moment the fit is determined: more
    samples than coefficients, i.e. than features plus architectures). A model is ready after spec.min_samples samples
    and a sane fit. Pure: no I/O; state in and out as jansson documents for checkpoints
    (kms_model_state.h).
    A model is not thread-safe: one owner at a time. About 150 ns per learned sample. */
#ifndef KMS_MODEL_H
#define KMS_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms_family.h"
#include "kms_model_state.h" /* kms_model_save, kms_model_load */
#include "kms_sample.h"
#include "kms_weights.h"

#define KMS_MODEL_MAX_ARCH 32       /* architectures one model tells apart at a time */
#define KMS_MODEL_ARCH_EVIDENCE 8   /* samples, from more than one interval, that earn a slot */
#define KMS_MODEL_ARCH_IDLE 1024    /* samples without a sighting after which a slot is reclaimable */
#define KMS_MODEL_ARCH_CANDIDATES 8 /* architectures earning a slot, tracked at once */
#define KMS_MODEL_WINDOW 256        /* samples in the recent prequential window */
#define KMS_MODEL_VALUE_MAX 1e30    /* larger |feature| or watts is garbage: rejected */
#define KMS_MODEL_RIDGE 1e-9        /* default ridge, on the correlation scale */
#define KMS_MODEL_GATE_SIGMAS 10    /* residual gate: robust standard deviations a sample may be out */
#define KMS_MODEL_GATE_FLOOR 0.01   /* ... with the deviation at least this share of the usual watts */
#define KMS_MODEL_GATE_HISTORY 16   /* scored samples (and half as many of the sample's architecture) before it acts */
#define KMS_MODEL_GATE_RECENT 32    /* recent gate decisions in which a drift is recognised */
#define KMS_MODEL_GATE_DRIFT 24     /* ... out of the gate on one side: a drift */
#define KMS_MODEL_DRIFT_RATIO 3     /* window MAE this many times the long-run one: a drift too */
#define KMS_MODEL_MIN_SAMPLES 30    /* default spec.min_samples */

typedef struct {
    char name[KMS_NAME_MAX];
    char target[KMS_NAME_MAX];
    size_t feature_count;
    char features[KMS_SAMPLE_MAX_VALUES][KMS_NAME_MAX];
    double forgetting; /* weight kept per sample, in (0, 1]; 1 = none */
    double ridge;      /* on the standardized scale */
    uint64_t min_samples;
    bool per_cpu; /* learns watts / cpus against features / cpus (cpu_utilization: cpu_time
                            / cpus) from samples that state their node's cpus: hosts of one
                            processor pool whatever their size, and a machine of N cpus draws N
                            times the prediction at its own utilization */
} kms_model_spec_t;

typedef enum {
    KMS_LEARN_OK = 0,
    KMS_LEARN_MISSING, /* the sample lacks a feature or the target: not this model's sample */
    KMS_LEARN_INVALID, /* NaN, Inf or negative watts: rejected */
    KMS_LEARN_PENDING, /* its architecture is still earning a slot: not learned */
    KMS_LEARN_OUTLIER, /* held back by the residual gate: far from what the model predicts */
    KMS_LEARN_DRIFTED  /* held back: out of the gate in a drift, and the model does not forget */
} kms_learn_result_t;

typedef struct {
    uint64_t samples;                /* learned */
    uint64_t missing;                /* skipped for lack of a feature or the target */
    uint64_t invalid;                /* rejected */
    uint64_t pending;                /* not learned: their architecture was still earning a slot */
    uint64_t archs_reclaimed;        /* slots taken back from architectures no longer seen */
    uint64_t outliers;               /* held back by the residual gate (KMS_LEARN_OUTLIER) */
    uint64_t drifted;                /* held back in a drift (KMS_LEARN_DRIFTED) */
    uint64_t drifts;                 /* drifts recognised by the gate */
    bool drift;                      /* now: the gate sees a drift, or window MAE > KMS_MODEL_DRIFT_RATIO x MAE */
    char missing_what[KMS_NAME_MAX]; /* the last name that was missing */
    double r2, rmse, mae, mape;      /* prequential, overall (MAPE: a ratio, over targets > 0) */
    double window_r2, window_rmse, window_mae, window_mape; /* prequential, recent window */
    bool ready;
    char reason[160];        /* why not ready, for people ("12 of 30 samples"); "" when ready */
    double created, updated; /* unix seconds of the first and the last learned sample; 0 before */
} kms_model_status_t;

/* Figures that cannot be known yet (no prediction checked, targets all equal) are NaN.

   Ready means: at least spec.min_samples samples learned, and a sane fit, that is
   - a fit exists (2 samples or more) and every weight, mean and variance is finite, and
   - at least one sample was scored (predicted before it was learned, from a determined fit),
     so the window RMSE is finite.
   R² is not required to be finite: a node whose power never changes is fitted exactly, yet its
   R² is 0/0. */

typedef struct kms_model_t kms_model_t;

/* The built-in specs, the default model set (docs/contract.md): "core_model" and "dram_model", the
   models every Kepler generation's default request needs (package, uncore, dram on counters
   alone, platform), the cpu_time_* models on cpu time alone (Kepler 0.7.12+ may be served their
   curves), and the per-cpu vm_* models on cpu_utilization that kms-meter serves to machines
   without RAPL. Returns -1 for other names. */
int kms_model_spec_builtin(const char *name, kms_model_spec_t *out);
int kms_model_spec_builtin_at(size_t index, kms_model_spec_t *out); /* -1 past the last */

/* A new, empty model, or NULL when the spec is not valid (names empty or too long, 0 or more than
   KMS_SAMPLE_MAX_VALUES features, a feature twice, forgetting outside (0, 1], ridge outside
   [0, 1)). One allocation of about 9 kB + 16 (features + 33)^2 bytes (28 kB for core_model). */
kms_model_t *kms_model_new(const kms_model_spec_t *spec);
void kms_model_destroy(kms_model_t **self_p);

const kms_model_spec_t *kms_model_spec(const kms_model_t *self);

/* Predicts (prequential stats), then learns. `now` stamps `updated` (and `created`, the first
   time). MISSING records the absent name in status.missing_what. INVALID: a feature or the
   target not finite or beyond KMS_MODEL_VALUE_MAX, or negative watts. An empty architecture
   is KMS_ARCH_UNKNOWN.

   Architectures earn their one-hot column by evidence, so that made-up names cannot squat
   them: a model's first architecture is taken on sight; any other is a candidate (PENDING, not
   learned) until KMS_MODEL_ARCH_EVIDENCE of its samples arrived with more than one distinct
   ts, the last of which is learned. It then takes a free slot or, when all are taken, the one
   seen longest ago if that one has gone KMS_MODEL_ARCH_IDLE valid samples without a sighting
   (its column is dropped: its past samples stay in the fit as samples of no architecture);
   otherwise it stays PENDING. At most KMS_MODEL_ARCH_CANDIDATES candidates are tracked; a new
   one replaces the one seen longest ago.

   The residual gate keeps glitches out: once KMS_MODEL_GATE_HISTORY samples were scored (and
   as many of the sample's architecture learned), a sample whose prequential error lies more
   than KMS_MODEL_GATE_SIGMAS robust standard deviations (1.4826 x the median absolute
   deviation of the recent window's errors, refreshed every 16 samples, at least
   KMS_MODEL_GATE_FLOOR x the window's median watts) from the window's median error is not
   learned (OUTLIER). Glitches are scattered; a real change of regime is not: when
   KMS_MODEL_GATE_DRIFT of the last KMS_MODEL_GATE_RECENT samples were out on the same side, it
   is a drift (status.drift, status.drifts). A forgetting model then learns every sample until
   fewer than a quarter of the recent ones are out, and so follows the new regime; a model
   that does not forget keeps holding them back (DRIFTED) and reports the drift. */
kms_learn_result_t kms_model_learn(kms_model_t *self, const kms_sample_t *sample, double now);

/* The current fit's prediction; -1 when the sample lacks a feature (or it is not finite) or there
   is no fit yet. An architecture never learned gets category weight 0. Computed from
   kms_model_weights() with kms_weights_predict(), so a client applying Kepler's formula to the
   served document gets this very double. */
int kms_model_predict(const kms_model_t *self, const kms_sample_t *sample, double *watts);

/* A one-feature model's curve families (kms_family.h), fitted on the very samples it learns,
   the one to serve chosen by their recent error; NULL for a model of several features, for
   which linear is the family. Borrowed: valid while the model lives. */
const kms_family_t *kms_model_family(const kms_model_t *self);

/* The (weighted) mean of feature j over the samples learned: where the model's data lies. */
double kms_model_feature_mean(const kms_model_t *self, size_t j);

/* The fit in the contract's form (kms_weights.h); -1 while no fit exists (fewer than 2 samples). */
int kms_model_weights(const kms_model_t *self, kms_weights_t *out);

void kms_model_status(const kms_model_t *self, kms_model_status_t *out);

#endif
