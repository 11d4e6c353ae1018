/*  kms_family: the curve families Kepler 0.7.8+ can evaluate, learned online and exactly, on
    one feature, and the one to serve chosen by measured error.

    Kepler's curve predictors (pkg/model/estimator/local/regressor/{logarithm,logistic,
    exponential}.go) read CurveFit_Weights and the first numerical feature divided by its
    scale, u = x / scale:
        logarithmic   a log(b u + 1) + c           CurveFit_Weights [a, b, c]
        logistic      A / (1 + exp(-k (u - x0))) + off   [A, x0, k, off]
        exponential   a exp(b u) + c               [a, b, c]
    Each is linear in its outer parameters once the inner ones (b; x0 and k) are fixed, so a
    small fixed grid of the inner ones gives, per grid point, a two-coefficient linear model
    y = alpha g(u) + gamma on the transformed feature g, fitted by exact (weighted) least squares
    with Welford's update, the same arithmetic as kms_model. The linear family (g = u) runs
    beside them, so that all are scored on the same samples.

    The scale is fixed once: the largest |x| of the first KMS_FAMILY_WARMUP samples (which are
    kept and then learned, so nothing is lost); the grid is placed relative to it. Every point
    is prequential: each sample is predicted before it is learned, and the recent mean squared
    error (a running mean over the first KMS_FAMILY_RECENT scored samples, an exponential one
    with that span after) ranks the points; the mean over every scored sample is kept beside
    it. A family's model is its best point. "a leads b by m" means a's RMSE is m below b's both
    recently and over every scored sample (a recent lead alone can be a stretch of drifting,
    unexplained error that one curve of the grid happens to follow). Linear is served until a
    curve leads it by KMS_FAMILY_MARGIN (20 %), both scored on KMS_FAMILY_MIN_SCORED (128)
    samples at least; the curve stays served while it leads linear by KMS_FAMILY_HOLD (10 %)
    and linear is served again as soon as it does not (a curve that only ties is never kept).
    The band between 10 % and 20 % is the hysteresis that keeps a near tie from flapping.
    Another curve replaces a served one only when it leads it by KMS_FAMILY_MARGIN. Pure, no I/O;
    about 40 transcendental functions per sample. */
#ifndef KMS_FAMILY_H
#define KMS_FAMILY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_FAMILY_WARMUP 16      /* samples whose largest |x| fixes the scale */
#define KMS_FAMILY_RECENT 256     /* span of the recent error */
#define KMS_FAMILY_MIN_SCORED 128 /* scored samples (its and linear's) before a curve may be served */
#define KMS_FAMILY_MARGIN 0.2     /* a challenger's recent RMSE must be this much lower */
#define KMS_FAMILY_HOLD 0.1       /* a served curve's lead over linear, below which linear returns */
#define KMS_FAMILY_MAX_PARAMS 4

typedef enum {
    KMS_FAMILY_LINEAR = 0,
    KMS_FAMILY_LOGARITHMIC,
    KMS_FAMILY_LOGISTIC,
    KMS_FAMILY_EXPONENTIAL,
    KMS_FAMILY_COUNT
} kms_family_kind_t;

/* "linear", "logarithmic", "logistic", "exponential"; NULL past the count. */
const char *kms_family_name(kms_family_kind_t kind);
/* The trainer name Kepler maps to the family's predictor (pkg/model/types/types.go):
   "SGDRegressorTrainer", "LogarithmicRegressionTrainer", ... */
const char *kms_family_trainer(kms_family_kind_t kind);
/* The family named (by kms_family_name or kms_family_trainer), or -1. */
int kms_family_parse(const char *name);

/* One fitted curve in Kepler's form: y = f(x / scale; params). For the linear family the
   params are [slope, intercept] (served as an ordinary weights document by kms_model). */
typedef struct {
    kms_family_kind_t kind;
    double scale;
    size_t param_count;
    double params[KMS_FAMILY_MAX_PARAMS];
} kms_family_fit_t;

/* Kepler's formula for the fit at x (in the feature's own units). */
double kms_family_fit_eval(const kms_family_fit_t *fit, double x);

typedef struct {
    kms_family_kind_t kind;
    uint64_t scored;    /* samples its best point predicted before learning them */
    double recent_rmse; /* its best point's recent prequential RMSE; NAN before scored */
    bool served;
} kms_family_candidate_t;

typedef struct kms_family_t kms_family_t;

/* A new family set whose fits forget `forgetting` per sample, in (0, 1] (kms_model's);
   NULL when out of memory or forgetting is out of range. About 2.5 kB. */
kms_family_t *kms_family_new(double forgetting);
void kms_family_destroy(kms_family_t **self_p);

/* Predicts (scores every point), then learns one sample. x and y must be finite (the caller,
   kms_model, has checked them). A grid point whose transform of x is not finite (an
   exponential far beyond its data) stops for good: it can no longer be served. */
void kms_family_learn(kms_family_t *self, double x, double y);

/* Samples learned (warm-up ones included). */
uint64_t kms_family_samples(const kms_family_t *self);
kms_family_kind_t kms_family_served(const kms_family_t *self);
void kms_family_candidate(const kms_family_t *self, kms_family_kind_t kind, kms_family_candidate_t *out);
/* The family's current model (its best point); -1 while it has none (warm-up, or fewer than
   2 samples, or every point stopped). */
int kms_family_fit(const kms_family_t *self, kms_family_kind_t kind, kms_family_fit_t *out);

/* For people and for kms-api (the trainer's LIST): {"served": family, "samples",
   "candidates": [{"family", "trainer", "scored", "recent_rmse" (null before scored), "served",
   "fit": {"scale", "params": [...]} or null}, ...]} in kms_family_kind_t order, fits only
   when `fits` (the model is ready). Caller json_decref()s it; NULL when out of memory. */
json_t *kms_family_json(const kms_family_t *self, bool fits);
/* The fit and recent RMSE of family `kind` from such a document, or of the served curve with
   kind -1; -1 when no curve is served (linear goes out as an ordinary weights document), or
   the fit is missing, not finite or not whole (the document came over the network). */
int kms_family_fit_from_json(const json_t *doc, int kind, kms_family_fit_t *out, double *recent_rmse);

/* The whole state, exact, for the model's checkpoint: {"scale", "served", "samples",
   "warmup":[[x, y], ...], "points":[[W, mean_g, mean_y, c_gg, c_gy, mse, scored, mse_all], ...]}
   (a stopped point has both mse null; a 7-field point, saved before mse_all, loads too). Caller
   json_decref()s it; NULL when out of memory. */
json_t *kms_family_save(const kms_family_t *self);
/* From a saved state; NULL (static reason in *why) when it is not one: types, the grid's size,
   finiteness and consistency are checked. */
kms_family_t *kms_family_load(const json_t *state, double forgetting, const char **why);

#endif
