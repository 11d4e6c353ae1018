/*  kms_family: a fixed grid of curves, each an exact two-coefficient least-squares fit on its
    transform of the feature, scored prequentially. See kms_family.h. */
#include "kms_family.h"

#include "kms_json.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A transform beyond this stops its point: its squares must stay finite in the moments. */
#define S_G_MAX 1e150

/* The grid, relative to the scale (u = x / scale is mostly in [0, 1]): logarithms from nearly
   straight (b = 1/4) to bending hard near zero (b = 256); logistics centred across the data's
   lower range, from gentle to steep; exponentials rising or saturating (b < 0, with a < 0). */
/* clang-format off */
static const struct {
    kms_family_kind_t kind;
    double p, q;  /* logarithmic, exponential: b; logistic: x0, k */
} s_grid[] = {
    {KMS_FAMILY_LINEAR, 0, 0},
    {KMS_FAMILY_LOGARITHMIC, 0.25, 0}, {KMS_FAMILY_LOGARITHMIC, 0.5, 0}, {KMS_FAMILY_LOGARITHMIC, 1, 0},
    {KMS_FAMILY_LOGARITHMIC, 2, 0}, {KMS_FAMILY_LOGARITHMIC, 4, 0}, {KMS_FAMILY_LOGARITHMIC, 8, 0},
    {KMS_FAMILY_LOGARITHMIC, 16, 0}, {KMS_FAMILY_LOGARITHMIC, 32, 0}, {KMS_FAMILY_LOGARITHMIC, 64, 0},
    {KMS_FAMILY_LOGARITHMIC, 128, 0}, {KMS_FAMILY_LOGARITHMIC, 256, 0},
    {KMS_FAMILY_LOGISTIC, 0, 2}, {KMS_FAMILY_LOGISTIC, 0, 4}, {KMS_FAMILY_LOGISTIC, 0, 8}, {KMS_FAMILY_LOGISTIC, 0, 16},
    {KMS_FAMILY_LOGISTIC, 0.25, 2}, {KMS_FAMILY_LOGISTIC, 0.25, 4}, {KMS_FAMILY_LOGISTIC, 0.25, 8},
    {KMS_FAMILY_LOGISTIC, 0.25, 16}, {KMS_FAMILY_LOGISTIC, 0.5, 2}, {KMS_FAMILY_LOGISTIC, 0.5, 4},
    {KMS_FAMILY_LOGISTIC, 0.5, 8}, {KMS_FAMILY_LOGISTIC, 0.5, 16}, {KMS_FAMILY_LOGISTIC, 0.75, 2},
    {KMS_FAMILY_LOGISTIC, 0.75, 4}, {KMS_FAMILY_LOGISTIC, 0.75, 8}, {KMS_FAMILY_LOGISTIC, 0.75, 16},
    {KMS_FAMILY_EXPONENTIAL, -4, 0}, {KMS_FAMILY_EXPONENTIAL, -2, 0}, {KMS_FAMILY_EXPONENTIAL, -1, 0},
    {KMS_FAMILY_EXPONENTIAL, -0.5, 0}, {KMS_FAMILY_EXPONENTIAL, -0.25, 0}, {KMS_FAMILY_EXPONENTIAL, 0.25, 0},
    {KMS_FAMILY_EXPONENTIAL, 0.5, 0}, {KMS_FAMILY_EXPONENTIAL, 1, 0}, {KMS_FAMILY_EXPONENTIAL, 2, 0},
};
/* clang-format on */

#define S_POINTS (sizeof s_grid / sizeof s_grid[0])

static const struct {
    const char *name, *trainer;
} s_names[KMS_FAMILY_COUNT] = {
    [KMS_FAMILY_LINEAR] = {"linear", "SGDRegressorTrainer"},
    [KMS_FAMILY_LOGARITHMIC] = {"logarithmic", "LogarithmicRegressionTrainer"},
    [KMS_FAMILY_LOGISTIC] = {"logistic", "LogisticRegressionTrainer"},
    [KMS_FAMILY_EXPONENTIAL] = {"exponential", "ExponentialRegressionTrainer"},
};

typedef struct {
    double w, mean_g, mean_y, c_gg, c_gy; /* weighted count, means, centred co-moments */
    double mse;                           /* recent prequential mean squared error */
    double mse_all;                       /* the same over every scored sample */
    uint64_t scored;
    bool stopped;
} s_point_t;

struct kms_family_t {
    double forgetting;
    double scale; /* 0 while warming up */
    uint64_t samples;
    size_t warmup_len;
    double warmup[KMS_FAMILY_WARMUP][2];
    kms_family_kind_t served;
    s_point_t point[S_POINTS];
};

const char *kms_family_name(kms_family_kind_t kind)
{
    return kind >= 0 && kind < KMS_FAMILY_COUNT ? s_names[kind].name : NULL;
}

const char *kms_family_trainer(kms_family_kind_t kind)
{
    return kind >= 0 && kind < KMS_FAMILY_COUNT ? s_names[kind].trainer : NULL;
}

int kms_family_parse(const char *name)
{
    for (int k = 0; name && k < KMS_FAMILY_COUNT; k++)
        if (strcmp(name, s_names[k].name) == 0 || strcmp(name, s_names[k].trainer) == 0)
            return k;
    return -1;
}

/* Kepler's own expressions (math.Log(b*x+1), not log1p), so that the value is the one it books. */
double kms_family_fit_eval(const kms_family_fit_t *fit, double x)
{
    assert(fit);
    double u = x / fit->scale;
    const double *p = fit->params;
    switch (fit->kind) {
    case KMS_FAMILY_LOGARITHMIC: return p[0] * log(p[1] * u + 1) + p[2];
    case KMS_FAMILY_LOGISTIC: return p[0] / (1 + exp(-p[2] * (u - p[1]))) + p[3];
    case KMS_FAMILY_EXPONENTIAL: return p[0] * exp(p[1] * u) + p[2];
    default: return p[0] * u + p[1];
    }
}

/* Linear: slope, intercept; logarithmic and exponential: a, b, c; logistic: a, x0, k, c. */
static size_t s_param_count(int kind)
{
    return kind == KMS_FAMILY_LOGISTIC ? 4 : kind == KMS_FAMILY_LINEAR ? 2 : 3;
}

static double s_transform(size_t i, double u)
{
    switch (s_grid[i].kind) {
    case KMS_FAMILY_LOGARITHMIC: return log1p(s_grid[i].p * u);
    case KMS_FAMILY_LOGISTIC: return 1 / (1 + exp(-s_grid[i].q * (u - s_grid[i].p)));
    case KMS_FAMILY_EXPONENTIAL: return exp(s_grid[i].p * u);
    default: return u;
    }
}

/* The slope on g: 0 while g has not varied beyond what rounding of its mean produces. */
static double s_slope(const s_point_t *pt)
{
    double rounding = 4 * DBL_EPSILON * pt->mean_g;
    if (!(pt->c_gg / pt->w >= DBL_MIN && pt->c_gg > pt->w * rounding * rounding))
        return 0;
    return pt->c_gy / pt->c_gg;
}

static void s_point_learn(kms_family_t *self, s_point_t *pt, size_t i, double u, double y)
{
    double g = s_transform(i, u);
    if (!(fabs(g) <= S_G_MAX)) {
        pt->stopped = true;
        return;
    }
    /* Scored once both coefficients are determined with a sample to spare. */
    if (pt->w > 0 && self->samples >= 3) {
        double slope = s_slope(pt), err = y - (pt->mean_y + slope * (g - pt->mean_g));
        if (!isfinite(err * err)) {
            pt->stopped = true;
            return;
        }
        pt->scored++;
        double n = pt->scored < KMS_FAMILY_RECENT ? (double) pt->scored : KMS_FAMILY_RECENT;
        pt->mse += (err * err - pt->mse) / n;
        pt->mse_all += (err * err - pt->mse_all) / (double) pt->scored;
    }
    double f = self->forgetting, kept = f * pt->w;
    pt->w = kept + 1;
    double dg = g - pt->mean_g, dy = y - pt->mean_y, gain = kept / pt->w;
    pt->mean_g += dg / pt->w;
    pt->mean_y += dy / pt->w;
    pt->c_gg = f * pt->c_gg + gain * dg * dg;
    pt->c_gy = f * pt->c_gy + gain * dg * dy;
    if (!isfinite(pt->c_gg) || !isfinite(pt->c_gy) || !isfinite(pt->mean_y))
        pt->stopped = true;
}

/* The family's best running point, or SIZE_MAX. */
static size_t s_best(const kms_family_t *self, kms_family_kind_t kind)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < S_POINTS; i++) {
        const s_point_t *pt = &self->point[i];
        if (s_grid[i].kind != kind || pt->stopped || pt->w == 0)
            continue;
        if (best == SIZE_MAX || (pt->scored > 0 && (self->point[best].scored == 0 || pt->mse < self->point[best].mse)))
            best = i;
    }
    return best;
}

/* Whether point a's errors are below b's by `margin` (of the RMSE), both recently and over
   every scored sample: a recent lead alone can be a stretch of drifting error that one curve
   of the grid happens to follow. */
static bool s_leads(const s_point_t *a, const s_point_t *b, double margin)
{
    double f = (1 - margin) * (1 - margin);
    return a->mse < f * b->mse && a->mse_all < f * b->mse_all;
}

/* Linear is the default and the one a curve must beat: a curve is served only once it and
   linear are both scored on KMS_FAMILY_MIN_SCORED samples and it leads linear by
   KMS_FAMILY_MARGIN; it stays served while it keeps a KMS_FAMILY_HOLD lead over linear (the
   band between the two keeps a near tie from flapping) and linear returns when it loses that,
   or its fit. Another curve takes over from a served one only with KMS_FAMILY_MARGIN over it. */
static void s_choose(kms_family_t *self)
{
    size_t linear = s_best(self, KMS_FAMILY_LINEAR), served = s_best(self, self->served);
    if (served == SIZE_MAX || linear == SIZE_MAX || self->point[linear].scored < KMS_FAMILY_MIN_SCORED) {
        self->served = KMS_FAMILY_LINEAR;
        return;
    }
    if (self->served != KMS_FAMILY_LINEAR && !s_leads(&self->point[served], &self->point[linear], KMS_FAMILY_HOLD)) {
        self->served = KMS_FAMILY_LINEAR;
        served = linear;
    }
    for (int k = KMS_FAMILY_LINEAR + 1; k < KMS_FAMILY_COUNT; k++) {
        size_t b = s_best(self, (kms_family_kind_t) k);
        if (b != SIZE_MAX && b != served && self->point[b].scored >= KMS_FAMILY_MIN_SCORED
            && s_leads(&self->point[b], &self->point[served], KMS_FAMILY_MARGIN)) {
            served = b;
            self->served = (kms_family_kind_t) k;
        }
    }
}

static void s_learn_scaled(kms_family_t *self, double x, double y)
{
    double u = x / self->scale;
    for (size_t i = 0; i < S_POINTS; i++)
        if (!self->point[i].stopped)
            s_point_learn(self, &self->point[i], i, u, y);
    s_choose(self);
}

kms_family_t *kms_family_new(double forgetting)
{
    if (!(forgetting > 0 && forgetting <= 1))
        return NULL;
    kms_family_t *self = calloc(1, sizeof *self);
    if (self)
        self->forgetting = forgetting;
    return self;
}

void kms_family_destroy(kms_family_t **self_p)
{
    assert(self_p);
    free(*self_p);
    *self_p = NULL;
}

/* The warm-up's samples wait until their largest |x| fixes the scale; all zeros fix none, and
   make room for the next ones. */
void kms_family_learn(kms_family_t *self, double x, double y)
{
    assert(self && isfinite(x) && isfinite(y));
    if (self->scale > 0) {
        self->samples++;
        s_learn_scaled(self, x, y);
        return;
    }
    self->warmup[self->warmup_len][0] = x;
    self->warmup[self->warmup_len][1] = y;
    if (++self->warmup_len < KMS_FAMILY_WARMUP)
        return;
    double scale = 0;
    for (size_t k = 0; k < self->warmup_len; k++)
        scale = fmax(scale, fabs(self->warmup[k][0]));
    self->warmup_len = 0;
    if (!(scale >= DBL_MIN))
        return;
    self->scale = scale;
    for (size_t k = 0; k < KMS_FAMILY_WARMUP; k++) {
        self->samples++;
        s_learn_scaled(self, self->warmup[k][0], self->warmup[k][1]);
    }
}

uint64_t kms_family_samples(const kms_family_t *self)
{
    assert(self);
    return self->samples;
}

kms_family_kind_t kms_family_served(const kms_family_t *self)
{
    assert(self);
    return self->served;
}

void kms_family_candidate(const kms_family_t *self, kms_family_kind_t kind, kms_family_candidate_t *out)
{
    assert(self && out && kind >= 0 && kind < KMS_FAMILY_COUNT);
    size_t b = s_best(self, kind);
    out->kind = kind;
    out->scored = b == SIZE_MAX ? 0 : self->point[b].scored;
    out->recent_rmse = out->scored ? sqrt(self->point[b].mse) : NAN;
    out->served = self->served == kind;
}

int kms_family_fit(const kms_family_t *self, kms_family_kind_t kind, kms_family_fit_t *out)
{
    assert(self && out && kind >= 0 && kind < KMS_FAMILY_COUNT);
    size_t b = s_best(self, kind);
    if (b == SIZE_MAX || self->samples < 2)
        return -1;
    const s_point_t *pt = &self->point[b];
    double slope = s_slope(pt), intercept = pt->mean_y - slope * pt->mean_g;
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->scale = self->scale;
    out->param_count = s_param_count(kind);
    /* The slope, the point's p and q, then the intercept last, over those the family lacks. */
    out->params[0] = slope;
    out->params[1] = s_grid[b].p;
    out->params[2] = s_grid[b].q;
    out->params[out->param_count - 1] = intercept;
    return isfinite(slope) && isfinite(intercept) ? 0 : -1;
}

static json_t *s_fit_json(const kms_family_t *self, kms_family_kind_t kind)
{
    kms_family_fit_t fit;
    if (kms_family_fit(self, kind, &fit) != 0)
        return json_null();
    json_t *params = json_array();
    for (size_t p = 0; params && p < fit.param_count; p++)
        json_array_append_new(params, json_real(fit.params[p]));
    return json_pack("{s:f, s:o}", "scale", fit.scale, "params", params);
}

json_t *kms_family_json(const kms_family_t *self, bool fits)
{
    assert(self);
    json_t *candidates = json_array();
    for (int k = 0; candidates && k < KMS_FAMILY_COUNT; k++) {
        kms_family_candidate_t c;
        kms_family_candidate(self, (kms_family_kind_t) k, &c);
        json_array_append_new(candidates,
                              json_pack("{s:s, s:s, s:I, s:o, s:b, s:o}", "family", kms_family_name(c.kind), "trainer",
                                        kms_family_trainer(c.kind), "scored", (json_int_t) c.scored, "recent_rmse",
                                        kms_json_number(c.recent_rmse), "served", c.served, "fit",
                                        fits ? s_fit_json(self, c.kind) : json_null()));
    }
    return json_pack("{s:s, s:I, s:o}", "served", kms_family_name(self->served), "samples", (json_int_t) self->samples,
                     "candidates", candidates);
}

int kms_family_fit_from_json(const json_t *doc, int kind, kms_family_fit_t *out, double *recent_rmse)
{
    assert(out && recent_rmse);
    if (kind < 0 && (kind = kms_family_parse(json_string_value(json_object_get(doc, "served")))) == KMS_FAMILY_LINEAR)
        return -1;
    const json_t *candidates = json_object_get(doc, "candidates"), *candidate = NULL, *c;
    size_t i;
    json_array_foreach(candidates, i, c)
        if (kind >= 0 && kms_family_parse(json_string_value(json_object_get(c, "family"))) == kind)
            candidate = c;
    const json_t *fit = json_object_get(candidate, "fit"), *params = json_object_get(fit, "params");
    const json_t *scale = json_object_get(fit, "scale"), *rmse = json_object_get(candidate, "recent_rmse");
    size_t count = s_param_count(kind);
    if (!candidate || !json_is_number(scale) || !(json_number_value(scale) > 0) || !isfinite(json_number_value(scale))
        || !json_is_array(params) || json_array_size(params) != count || !json_is_number(rmse))
        return -1;
    memset(out, 0, sizeof *out);
    out->kind = (kms_family_kind_t) kind;
    out->scale = json_number_value(scale);
    out->param_count = count;
    for (size_t p = 0; p < count; p++)
        if (!kms_json_get_real(json_array_get(params, p), &out->params[p]))
            return -1;
    *recent_rmse = json_number_value(rmse);
    return isfinite(*recent_rmse) && *recent_rmse >= 0 ? 0 : -1;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

json_t *kms_family_save(const kms_family_t *self)
{
    assert(self);
    json_t *warmup = json_array(), *points = json_array();
    for (size_t k = 0; warmup && k < self->warmup_len; k++)
        kms_json_append(&warmup,
                        json_pack("[o, o]", kms_json_finite(self->warmup[k][0]), kms_json_finite(self->warmup[k][1])));
    for (size_t i = 0; points && i < S_POINTS; i++) {
        const s_point_t *pt = &self->point[i];
        json_t *mse = pt->stopped ? json_null() : kms_json_finite(pt->mse);
        json_t *mse_all = pt->stopped ? json_null() : kms_json_finite(pt->mse_all);
        kms_json_append(&points,
                        json_pack("[o, o, o, o, o, o, I, o]", kms_json_finite(pt->w), kms_json_finite(pt->mean_g),
                                  kms_json_finite(pt->mean_y), kms_json_finite(pt->c_gg), kms_json_finite(pt->c_gy),
                                  mse, (json_int_t) pt->scored, mse_all));
    }
    return json_pack("{s:o, s:s, s:I, s:o, s:o}", "scale", json_real(self->scale), "served",
                     kms_family_name(self->served), "samples", (json_int_t) self->samples, "warmup", warmup, "points",
                     points);
}

/* A point saved before the score over every sample was kept (7 fields) takes its recent one. */
static const char *s_load_point(s_point_t *pt, const json_t *doc, uint64_t samples)
{
    const json_t *scored = json_array_get(doc, 6), *mse = json_array_get(doc, 5);
    const json_t *mse_all = json_array_size(doc) == 8 ? json_array_get(doc, 7) : mse;
    if (!json_is_array(doc) || json_array_size(doc) < 7 || json_array_size(doc) > 8
        || json_is_null(mse) != json_is_null(mse_all) || !kms_json_get_real(json_array_get(doc, 0), &pt->w)
        || !kms_json_get_real(json_array_get(doc, 1), &pt->mean_g)
        || !kms_json_get_real(json_array_get(doc, 2), &pt->mean_y)
        || !kms_json_get_real(json_array_get(doc, 3), &pt->c_gg)
        || !kms_json_get_real(json_array_get(doc, 4), &pt->c_gy) || !json_is_integer(scored)
        || json_integer_value(scored) < 0
        || (!json_is_null(mse) && (!kms_json_get_real(mse, &pt->mse) || !kms_json_get_real(mse_all, &pt->mse_all))))
        return "families: bad point";
    pt->stopped = json_is_null(mse);
    pt->scored = (uint64_t) json_integer_value(scored);
    if (pt->w < 0 || pt->w > (double) samples || pt->c_gg < 0 || pt->mse < 0 || pt->mse_all < 0 || pt->scored > samples
        || !isfinite(s_slope(pt)))
        return "families: inconsistent point";
    return NULL;
}

kms_family_t *kms_family_load(const json_t *state, double forgetting, const char **why)
{
    const char *reason = NULL;
    kms_family_t *self = kms_family_new(forgetting);
    const json_t *warmup = json_object_get(state, "warmup"), *points = json_object_get(state, "points");
    const json_t *samples = json_object_get(state, "samples");
    int served = kms_family_parse(json_string_value(json_object_get(state, "served")));
    if (!self)
        reason = "out of memory";
    else if (!json_is_object(state) || !kms_json_get_real(json_object_get(state, "scale"), &self->scale) || served < 0
             || !json_is_integer(samples) || json_integer_value(samples) < 0 || !json_is_array(warmup)
             || !json_is_array(points))
        reason = "families: missing or mistyped field";
    else if (json_array_size(points) != S_POINTS)
        reason = "families: not this grid";
    else if (self->scale < 0 || (self->scale > 0 && json_array_size(warmup) > 0)
             || json_array_size(warmup) >= KMS_FAMILY_WARMUP || (self->scale == 0 && json_integer_value(samples) != 0))
        reason = "families: inconsistent warm-up";
    if (!reason) {
        self->served = (kms_family_kind_t) served;
        self->samples = (uint64_t) json_integer_value(samples);
        self->warmup_len = json_array_size(warmup);
        /* Each sample exactly two numbers ("F": jansson holds no NaN or Inf). */
        for (size_t k = 0; !reason && k < self->warmup_len; k++)
            if (json_unpack(json_array_get(warmup, k), "[FF!]", &self->warmup[k][0], &self->warmup[k][1]) != 0)
                reason = "families: bad warm-up sample";
        for (size_t i = 0; !reason && i < S_POINTS; i++)
            reason = s_load_point(&self->point[i], json_array_get(points, i), self->samples);
    }
    if (reason) {
        kms_family_destroy(&self);
        if (why)
            *why = reason;
    }
    return self;
}
