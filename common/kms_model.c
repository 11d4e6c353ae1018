/*  kms_model: exact online least squares, sample by sample.

    The state is the (weighted) count W, the running means and the centred co-moment matrix C of
    the columns [features..., target, one-hot architectures...]. Each sample updates them with
    Welford's rule, generalised to exponential forgetting f (past weights shrink by f per sample):

        W' = f W + 1,   d = z - mean,   mean' = mean + d / W',   C' = f C + (f W / W') d d^T

    Centred co-moments never subtract two large sums, so features from 1e-3 to 1e12 stay exact
    to rounding. An architecture seen for the first time appends a column whose past values
    were all 0: its mean 0 and co-moments 0 are then exactly right, and no vocabulary is fixed.

    After every sample the fit is solved again (the matrix is tiny): the normal equations
    (Cxx + ridge diag(Cxx)) beta = Cxy, which is `ridge` on the diagonal of the correlation
    matrix, with every column scaled to unit size first, by an LDL^T (Cholesky) factorization.
    Constant columns (an idle node, a single architecture) are left out with weight
    0; a pivot that vanishes (exact collinearity with no ridge) leaves its column out too. The
    prediction is mean_y + sum_j beta_j (z_j - mean_j), the batch least-squares answer. */
#include "kms_model.h"

#include "kms_family.h"
#include "kms_model_private.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pivot below this (on the correlation scale, where the diagonal is 1) means the column is a
   combination of the earlier ones to ~1e-6.5 relative: it is left out rather than amplified. */
#define S_PIVOT_MIN 1e-13
/* The gate's figures are refreshed every this many scored samples (medians cost ~2 us), the
   first time before it acts. */
#define S_GATE_REFRESH KMS_MODEL_GATE_HISTORY

static bool s_name_ok(const char *name)
{
    size_t len = strnlen(name, KMS_NAME_MAX);
    return len > 0 && len < KMS_NAME_MAX;
}

const char *kms_model_spec_check(const kms_model_spec_t *spec)
{
    if (!s_name_ok(spec->name) || !s_name_ok(spec->target))
        return "model and target names must be 1 to 63 characters";
    if (spec->feature_count < 1 || spec->feature_count > KMS_SAMPLE_MAX_VALUES)
        return "a model needs 1 to 32 features";
    for (size_t i = 0; i < spec->feature_count; i++) {
        if (!s_name_ok(spec->features[i]))
            return "feature names must be 1 to 63 characters";
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->features[i], spec->features[j]) == 0)
                return "a feature is listed twice";
    }
    if (!(spec->forgetting > 0 && spec->forgetting <= 1))
        return "forgetting must be in (0, 1]";
    if (!(spec->ridge >= 0 && spec->ridge < 1))
        return "ridge must be in [0, 1)";
    return NULL;
}

/* The default model set: what every Kepler generation's default request can use. 0.7-0.9 send
   no memory metric, so dram and platform have models on counters alone beside the contract's
   dram_model; a node-total request (0.4's *ModelWeight, 0.5.5+'s acpi source) gets
   platform_model. */
/* clang-format off */
static const struct {
    const char *name, *target, *features[4];
    bool per_cpu;
} s_builtins[] = {
    {"core_model", "core", {KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CPU_TIME}, false},
    {"dram_model", "dram", {KMS_F_CACHE_MISSES, KMS_F_RESIDENT_MEMORY}, false},
    {"package_model", "package", {KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CPU_TIME, KMS_F_CACHE_MISSES},
     false},
    {"uncore_model", "uncore", {KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CPU_TIME, KMS_F_CACHE_MISSES},
     false},
    {"dram_counters_model", "dram", {KMS_F_CACHE_MISSES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CPU_TIME}, false},
    {"platform_model", "platform", {KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CPU_TIME, KMS_F_CACHE_MISSES},
     false},
    /* On the node's cpu time alone: Kepler 0.7.12+ evaluates curves of one feature. */
    {"cpu_time_package_model", "package", {KMS_F_CPU_TIME}, false},
    {"cpu_time_core_model", "core", {KMS_F_CPU_TIME}, false},
    {"cpu_time_uncore_model", "uncore", {KMS_F_CPU_TIME}, false},
    {"cpu_time_dram_model", "dram", {KMS_F_CPU_TIME}, false},
    {"cpu_time_platform_model", "platform", {KMS_F_CPU_TIME}, false},
    /* Per logical cpu, on utilization, the one usage figure every VM has (/proc/stat): what
       kms-meter multiplies by a VM's vCPUs. */
    {"vm_package_model", "package", {KMS_F_CPU_UTILIZATION}, true},
    {"vm_core_model", "core", {KMS_F_CPU_UTILIZATION}, true},
    {"vm_uncore_model", "uncore", {KMS_F_CPU_UTILIZATION}, true},
    {"vm_dram_model", "dram", {KMS_F_CPU_UTILIZATION}, true},
    {"vm_platform_model", "platform", {KMS_F_CPU_UTILIZATION}, true},
};
/* clang-format on */

int kms_model_spec_builtin_at(size_t index, kms_model_spec_t *out)
{
    assert(out);
    if (index >= sizeof s_builtins / sizeof s_builtins[0])
        return -1;
    memset(out, 0, sizeof *out);
    strcpy(out->name, s_builtins[index].name);
    strcpy(out->target, s_builtins[index].target);
    for (size_t i = 0; i < 4 && s_builtins[index].features[i]; i++)
        strcpy(out->features[out->feature_count++], s_builtins[index].features[i]);
    out->per_cpu = s_builtins[index].per_cpu;
    out->forgetting = 1;
    out->ridge = KMS_MODEL_RIDGE;
    out->min_samples = KMS_MODEL_MIN_SAMPLES;
    return 0;
}

int kms_model_spec_builtin(const char *name, kms_model_spec_t *out)
{
    for (size_t b = 0; name && b < sizeof s_builtins / sizeof s_builtins[0]; b++)
        if (strcmp(name, s_builtins[b].name) == 0)
            return kms_model_spec_builtin_at(b, out);
    return -1;
}

kms_model_t *kms_model_new(const kms_model_spec_t *spec)
{
    assert(spec);
    if (kms_model_spec_check(spec))
        return NULL;
    size_t stride = spec->feature_count + 1 + KMS_MODEL_MAX_ARCH;
    kms_model_t *self = calloc(1, sizeof *self + (2 * stride + 2 * stride * stride) * sizeof(double));
    if (!self)
        return NULL;
    self->spec = *spec;
    self->stride = stride;
    self->dim = spec->feature_count + 1;
    self->mean = self->storage;
    self->beta = self->mean + stride;
    self->comoment = self->beta + stride;
    self->chol = self->comoment + stride * stride;
    if (spec->feature_count == 1 && !(self->family = kms_family_new(spec->forgetting)))
        kms_model_destroy(&self);
    return self;
}

void kms_model_destroy(kms_model_t **self_p)
{
    assert(self_p);
    if (*self_p)
        kms_family_destroy(&(*self_p)->family);
    free(*self_p);
    *self_p = NULL;
}

const kms_family_t *kms_model_family(const kms_model_t *self)
{
    assert(self);
    return self->family;
}

const kms_model_spec_t *kms_model_spec(const kms_model_t *self)
{
    assert(self);
    return &self->spec;
}

/* A column takes part in the fit unless it is constant: no variance at all, or a spread below
   what rounding of its mean alone produces (compared squared: the solve runs per sample). */
static bool s_active(const kms_model_t *self, size_t j)
{
    double c = *s_c(self, j, j), rounding = 4 * DBL_EPSILON * self->mean[j];
    return c / self->weight_sum >= DBL_MIN && c > self->weight_sum * rounding * rounding;
}

/* The solve runs per sample, so its scaling avoids square roots and divisions: each column is
   scaled by the power of two nearest 1/sqrt(C_jj), which is exact, and leaves the diagonal in
   [1/4, 2): as well conditioned as the correlation scale, and the same solution. */
static double s_scale(double c)
{
    int e;
    frexp(c, &e);
    return ldexp(1, -e / 2);
}

/* LDL^T of the scaled co-moments plus the ridge (ridge * diagonal: the correlation-scale ridge)
   in self->chol (unit lower triangle below the diagonal, 1/D on it; active columns only, packed),
   then the two triangular solves. LDL^T rather than Cholesky: no square root per pivot, and the
   pivots' reciprocals turn every division into a product. A column whose pivot vanishes
   (relative to its diagonal) gets 1/D = 0, which leaves it out of both solves; beta for inactive
   or vanished columns is 0. */
void kms_model_solve(kms_model_t *self)
{
    enum { MAX = KMS_SAMPLE_MAX_VALUES + KMS_MODEL_MAX_ARCH };
    size_t t = s_target(self), n = 0, col[MAX];
    double scale[MAX], rhs[MAX], u[MAX], *l = self->chol;
    memset(self->beta, 0, self->dim * sizeof(double));
    self->has_fit = self->samples >= 2;
    self->arch_offset = 0;
    for (size_t j = 0; j < self->dim; j++)
        if (j != t && s_active(self, j)) {
            scale[n] = s_scale(*s_c(self, j, j));
            col[n++] = j;
        }
    size_t m = n;
    for (size_t k = 0; k < n; k++) {
        rhs[k] = *s_c(self, col[k], t) * scale[k];
        double diagonal = *s_c(self, col[k], col[k]) * scale[k] * scale[k];
        double pivot = diagonal * (1 + self->spec.ridge);
        for (size_t i = 0; i < k; i++) {
            /* u_i = L_ki D_i, from A_ki minus the earlier columns' share */
            double v = *s_c(self, col[i], col[k]) * scale[i] * scale[k];
            for (size_t q = 0; q < i; q++)
                v -= u[q] * l[i * m + q];
            u[i] = v;
            l[k * m + i] = v * l[i * m + i];
            pivot -= v * l[k * m + i];
        }
        l[k * m + k] = pivot > S_PIVOT_MIN * diagonal ? 1 / pivot : 0;
    }
    for (size_t k = 0; k < n; k++)
        for (size_t q = 0; q < k; q++)
            rhs[k] -= l[k * m + q] * rhs[q];
    for (size_t k = n; k-- > 0;) {
        double v = rhs[k] * l[k * m + k];
        for (size_t q = k + 1; q < n; q++)
            v -= l[q * m + k] * rhs[q];
        rhs[k] = l[k * m + k] > 0 ? v : 0;
        self->beta[col[k]] = rhs[k] * scale[k];
        if (!isfinite(self->beta[col[k]]))
            self->has_fit = false;
    }
    for (size_t a = 0; a < self->arch_count; a++)
        self->arch_offset += self->beta[t + 1 + a] * self->mean[t + 1 + a];
    if (!isfinite(self->arch_offset) || !isfinite(self->mean[t] - self->arch_offset))
        self->has_fit = false;
    /* The served weight, beta sqrt(variance), must be finite too. */
    for (size_t j = 0; j < t; j++)
        if (self->beta[j] != 0 && !isfinite(self->beta[j] * sqrt(*s_c(self, j, j) / self->weight_sum)))
            self->has_fit = false;
}

/* The fit's prediction for a row z (features in z[0..p), the target slot ignored) and the
   architecture column `arch` (SIZE_MAX: not seen, category weight 0). */
static double s_predict_row(const kms_model_t *self, const double *z, size_t arch)
{
    size_t t = s_target(self);
    double y = self->mean[t] - self->arch_offset;
    for (size_t j = 0; j < t; j++)
        y += self->beta[j] * (z[j] - self->mean[j]);
    if (arch != SIZE_MAX)
        y += self->beta[t + 1 + arch];
    return y;
}

size_t kms_model_arch_find(const kms_model_t *self, const char *arch)
{
    if (!arch[0])
        arch = KMS_ARCH_UNKNOWN;
    for (size_t a = 0; a < self->arch_count; a++)
        if (strcmp(self->arch[a], arch) == 0)
            return a;
    return SIZE_MAX;
}

/* kms_values_get, trying the slot where the name was last time first: the learning path's
   name lookups otherwise cost as much as the regression itself. */
static bool s_lookup(const kms_values_t *values, const char *name, uint8_t *hint, double *out)
{
    if (*hint < values->count && strcmp(values->items[*hint].name, name) == 0) {
        *out = values->items[*hint].value;
        return true;
    }
    for (size_t i = 0; i < values->count; i++)
        if (strcmp(values->items[i].name, name) == 0) {
            *hint = (uint8_t) i;
            *out = values->items[i].value;
            return true;
        }
    return false;
}

/* Reads the model's features and target from the sample into z and *y; a per-cpu model takes
   each over the node's cpus, cpu_utilization from cpu_time. Returns the first missing name, or
   NULL. */
static const char *s_gather(kms_model_t *self, const kms_sample_t *sample, double *z, double *y)
{
    size_t t = s_target(self);
    double cpus = self->spec.per_cpu ? (double) sample->cpus : 1;
    if (cpus == 0)
        return "cpus";
    for (size_t j = 0; j < t; j++) {
        const char *name = self->spec.features[j];
        if (self->spec.per_cpu && strcmp(name, KMS_F_CPU_UTILIZATION) == 0)
            name = KMS_F_CPU_TIME;
        if (!s_lookup(&sample->features, name, &self->hint[j], &z[j]))
            return self->spec.features[j];
        z[j] /= cpus;
    }
    if (!s_lookup(&sample->targets, self->spec.target, &self->hint[t], y))
        return self->spec.target;
    *y /= cpus;
    return NULL;
}

static bool s_valid(const kms_model_t *self, const double *z, double y)
{
    for (size_t j = 0; j < self->spec.feature_count; j++)
        if (!(fabs(z[j]) <= KMS_MODEL_VALUE_MAX)) /* false for NaN too */
            return false;
    return y >= 0 && y <= KMS_MODEL_VALUE_MAX;
}

/* The k-th smallest of v[0..n) (v is reordered): Hoare's selection, O(n). */
static double s_select(double *v, size_t n, size_t k)
{
    long lo = 0, hi = (long) n - 1, target = (long) k;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double tmp = v[i];
                v[i++] = v[j];
                v[j--] = tmp;
            }
        }
        if (target <= j)
            hi = j;
        else if (target >= i)
            lo = i;
        else
            break;
    }
    return v[target];
}

/* The gate's figures from the prequential window: median error, 1.4826 x the median absolute
   deviation from it (the standard deviation, were the errors normal), median watts. */
void kms_model_gate_refresh(kms_model_t *self)
{
    double v[KMS_MODEL_WINDOW];
    size_t n = self->window_len;
    memcpy(v, self->window_err, n * sizeof v[0]);
    self->gate_center = s_select(v, n, n / 2);
    for (size_t i = 0; i < n; i++)
        v[i] = fabs(self->window_err[i] - self->gate_center);
    self->gate_scale = 1.4826 * s_select(v, n, n / 2);
    memcpy(v, self->window_y, n * sizeof v[0]);
    self->gate_level = s_select(v, n, n / 2);
}

/* How many of the recent gate decisions were out above and below. */
void kms_model_gate_outs(const kms_model_t *self, int *above, int *below)
{
    *above = *below = 0;
    for (size_t i = 0; i < self->gate_recent_len; i++) {
        *above += self->gate_recent[i] > 0;
        *below += self->gate_recent[i] < 0;
    }
}

/* Whether a sample whose prequential error is `err` may be learned (KMS_LEARN_OK), and the
   drift bookkeeping; see kms_model_learn in the header. */
static kms_learn_result_t s_gate(kms_model_t *self, double err, size_t arch)
{
    size_t t = s_target(self);
    if (self->predicted < KMS_MODEL_GATE_HISTORY
        || self->mean[t + 1 + arch] * self->weight_sum < KMS_MODEL_GATE_HISTORY / 2)
        return KMS_LEARN_OK;
    double limit = KMS_MODEL_GATE_SIGMAS * fmax(self->gate_scale, KMS_MODEL_GATE_FLOOR * self->gate_level);
    double off = err - self->gate_center;
    int8_t out = off > limit ? 1 : off < -limit ? -1 : 0;
    self->gate_recent[self->gate_recent_next] = out;
    self->gate_recent_next = (self->gate_recent_next + 1) % KMS_MODEL_GATE_RECENT;
    if (self->gate_recent_len < KMS_MODEL_GATE_RECENT)
        self->gate_recent_len++;
    int above, below;
    kms_model_gate_outs(self, &above, &below);
    if (!self->drift && (above >= KMS_MODEL_GATE_DRIFT || below >= KMS_MODEL_GATE_DRIFT)) {
        self->drift = true;
        self->drifts++;
    } else if (self->drift && above + below < KMS_MODEL_GATE_RECENT / 4) {
        self->drift = false;
    }
    if (out == 0 || (self->drift && self->spec.forgetting < 1))
        return KMS_LEARN_OK;
    if (self->drift) {
        self->drifted++;
        return KMS_LEARN_DRIFTED;
    }
    self->outliers++;
    return KMS_LEARN_OUTLIER;
}

static void s_prequential(kms_model_t *self, double y, double predicted)
{
    double err = y - predicted;
    /* A wild extrapolation (a feature far outside anything seen, times a steep weight) could
       overflow; it would make the figures, and so the saved state, non-finite for good. */
    if (!isfinite(err * err))
        return;
    self->predicted++;
    self->sse += err * err;
    self->sae += fabs(err);
    double d = y - self->y_mean;
    self->y_mean += d / (double) self->predicted;
    self->y_m2 += d * (y - self->y_mean);
    self->window_y[self->window_next] = y;
    self->window_err[self->window_next] = err;
    self->window_next = (self->window_next + 1) % KMS_MODEL_WINDOW;
    if (self->window_len < KMS_MODEL_WINDOW)
        self->window_len++;
    /* A target of a few picowatts makes a ratio that would overflow the sum: not counted. */
    double ape = y > 0 ? fabs(err) / y : NAN;
    if (isfinite(self->sape + ape)) {
        self->sape += ape;
        self->ape_count++;
    }
    if (self->predicted % S_GATE_REFRESH == 0)
        kms_model_gate_refresh(self);
}

static void s_welford(kms_model_t *self, const double *z)
{
    double f = self->spec.forgetting, d[KMS_SAMPLE_MAX_VALUES + 1 + KMS_MODEL_MAX_ARCH];
    double kept = f * self->weight_sum;
    self->weight_sum = kept + 1;
    double gain = kept / self->weight_sum, step = 1 / self->weight_sum;
    for (size_t i = 0; i < self->dim; i++) {
        d[i] = z[i] - self->mean[i];
        self->mean[i] += d[i] * step;
    }
    for (size_t i = 0; i < self->dim; i++) {
        double *row = &self->comoment[i * self->stride];
        double gd = gain * d[i];
        if (f < 1)
            for (size_t j = i; j < self->dim; j++)
                row[j] = f * row[j] + gd * d[j];
        else
            for (size_t j = i; j < self->dim; j++)
                row[j] += gd * d[j];
    }
}

/* Drops architecture column `a` (means, co-moments, names), keeping the order of the others.
   In row-major order every entry moves to a place at or before its own, so it is done in place. */
static void s_arch_drop(kms_model_t *self, size_t a)
{
    size_t c = s_target(self) + 1 + a;
    for (size_t i = 0; i + 1 < self->dim; i++) {
        size_t oi = i < c ? i : i + 1;
        self->mean[i] = self->mean[oi];
        for (size_t j = i; j + 1 < self->dim; j++)
            self->comoment[i * self->stride + j] = self->comoment[oi * self->stride + (j < c ? j : j + 1)];
    }
    memmove(self->arch[a], self->arch[a + 1], (self->arch_count - a - 1) * sizeof self->arch[0]);
    memmove(&self->arch_seen[a], &self->arch_seen[a + 1], (self->arch_count - a - 1) * sizeof self->arch_seen[0]);
    self->arch_count--;
    self->dim--;
    self->reclaimed++;
    kms_model_solve(self);
}

/* A free slot, or the one seen longest ago once it has gone KMS_MODEL_ARCH_IDLE samples
   unseen (reclaimed); false when every slot is in use. */
static bool s_arch_slot(kms_model_t *self)
{
    if (self->arch_count < KMS_MODEL_MAX_ARCH)
        return true;
    size_t oldest = 0;
    for (size_t a = 1; a < self->arch_count; a++)
        if (self->arch_seen[a] < self->arch_seen[oldest])
            oldest = a;
    if (self->arch_clock - self->arch_seen[oldest] < KMS_MODEL_ARCH_IDLE)
        return false;
    s_arch_drop(self, oldest);
    return true;
}

/* One more sample of an architecture without a slot: its candidate's evidence grows (a new
   candidate replaces the one seen longest ago). Returns whether it has now earned a slot and
   got one; the candidate is then forgotten. */
static bool s_arch_earn(kms_model_t *self, const char *arch, double ts)
{
    size_t k = 0;
    while (k < self->candidate_count && strcmp(self->candidate[k].name, arch) != 0)
        k++;
    if (k == self->candidate_count) {
        if (self->candidate_count < KMS_MODEL_ARCH_CANDIDATES)
            self->candidate_count++;
        else
            for (size_t i = k = 0; i < self->candidate_count; i++)
                if (self->candidate[i].seen < self->candidate[k].seen)
                    k = i;
        memset(&self->candidate[k], 0, sizeof self->candidate[k]);
        strcpy(self->candidate[k].name, arch);
        self->candidate[k].first_ts = self->candidate[k].last_ts = ts;
    }
    self->candidate[k].count++;
    self->candidate[k].seen = self->arch_clock;
    self->candidate[k].first_ts = fmin(self->candidate[k].first_ts, ts);
    self->candidate[k].last_ts = fmax(self->candidate[k].last_ts, ts);
    if (self->candidate[k].count < KMS_MODEL_ARCH_EVIDENCE || self->candidate[k].first_ts == self->candidate[k].last_ts
        || !s_arch_slot(self))
        return false;
    self->candidate[k] = self->candidate[--self->candidate_count];
    return true;
}

/* The column of the sample's architecture: found, or newly given (a new column is all zeros so
   far: mean 0 and co-moments 0 are exact); SIZE_MAX while it is still earning one. */
static size_t s_arch_column(kms_model_t *self, const kms_sample_t *sample)
{
    const char *arch = sample->arch[0] ? sample->arch : KMS_ARCH_UNKNOWN;
    size_t a = kms_model_arch_find(self, arch);
    if (a == SIZE_MAX) {
        if (self->arch_count > 0 && !s_arch_earn(self, arch, isfinite(sample->ts) ? sample->ts : 0))
            return SIZE_MAX;
        a = self->arch_count++;
        strcpy(self->arch[a], arch);
        size_t c = self->dim++; /* a reclaimed column may have left numbers there */
        self->mean[c] = self->beta[c] = 0;
        for (size_t i = 0; i <= c; i++)
            self->comoment[i * self->stride + c] = 0;
    }
    self->arch_seen[a] = self->arch_clock;
    return a;
}

kms_learn_result_t kms_model_learn(kms_model_t *self, const kms_sample_t *sample, double now)
{
    assert(self && sample);
    double z[KMS_SAMPLE_MAX_VALUES + 1 + KMS_MODEL_MAX_ARCH], y;
    size_t t = s_target(self);
    const char *missing = s_gather(self, sample, z, &y);
    if (missing) {
        self->missing++;
        strcpy(self->missing_what, missing);
        return KMS_LEARN_MISSING;
    }
    if (!s_valid(self, z, y)) {
        self->invalid++;
        return KMS_LEARN_INVALID;
    }
    self->arch_clock++;
    size_t arch = s_arch_column(self, sample);
    if (arch == SIZE_MAX) {
        self->pending++;
        return KMS_LEARN_PENDING;
    }
    /* Scored once the fit is determined, with more samples than coefficients (the features,
       and the architectures but one, plus the intercept: dim - 1); before that, predictions
       are the ridge's guesses, and a few wild ones would weigh on the overall figures forever. */
    if (self->has_fit && self->samples >= self->dim) {
        double predicted = s_predict_row(self, z, arch);
        kms_learn_result_t gate = s_gate(self, y - predicted, arch);
        if (gate != KMS_LEARN_OK)
            return gate;
        s_prequential(self, y, predicted);
    }
    z[t] = y;
    for (size_t a = 0; a < self->arch_count; a++)
        z[t + 1 + a] = a == arch ? 1 : 0;
    s_welford(self, z);
    if (self->family)
        kms_family_learn(self->family, z[0], y);
    self->samples++;
    if (self->created == 0)
        self->created = now;
    self->updated = now;
    kms_model_solve(self);
    return KMS_LEARN_OK;
}

/* Through the served weights and Kepler's formula, operation for operation, so that a client
   holding the document computes the very same double. (Learning uses the equivalent
   mean_y + sum beta (x - mean), cheaper per sample; the two differ by rounding alone.) */
int kms_model_predict(const kms_model_t *self, const kms_sample_t *sample, double *watts)
{
    assert(self && sample && watts);
    kms_weights_t weights;
    if (kms_model_weights(self, &weights) != 0)
        return -1;
    for (size_t j = 0; j < self->spec.feature_count; j++) {
        double x;
        if (!kms_values_get(&sample->features, self->spec.features[j], &x) || !isfinite(x))
            return -1;
    }
    *watts = kms_weights_predict(&weights, sample);
    return 0;
}

/* Kepler's formula is bias + w[arch] + sum_j w_j x_j / scale_j (kms_weights.h); with
   scale_j = sqrt(variance_j), w_j = beta_j scale_j and bias = mean_y - arch_offset -
   sum_j beta_j mean_j it is the prediction above. A constant feature is written with scale 1
   and weight 0, since Kepler divides. */
int kms_model_weights(const kms_model_t *self, kms_weights_t *out)
{
    assert(self && out);
    if (!self->has_fit)
        return -1;
    memset(out, 0, sizeof *out);
    strcpy(out->model_name, self->spec.name);
    size_t t = s_target(self);
    out->bias = self->mean[t] - self->arch_offset;
    out->numeric_count = t;
    for (size_t j = 0; j < t; j++) {
        kms_weight_numeric_t *n = &out->numeric[j];
        strcpy(n->name, self->spec.features[j]);
        n->scale = 1;
        if (self->beta[j] != 0 && s_active(self, j)) {
            n->scale = sqrt(*s_c(self, j, j) / self->weight_sum);
            n->weight = self->beta[j] * n->scale;
            out->bias -= self->beta[j] * self->mean[j];
        }
    }
    out->category_count = self->arch_count;
    for (size_t a = 0; a < self->arch_count; a++) {
        strcpy(out->category[a].name, self->arch[a]);
        out->category[a].weight = self->beta[t + 1 + a];
    }
    return isfinite(out->bias) ? 0 : -1;
}

double kms_model_feature_mean(const kms_model_t *self, size_t j)
{
    assert(self && j < self->spec.feature_count);
    return self->mean[j];
}

static double s_ratio(double num, double den)
{
    return den > 0 ? num / den : NAN;
}

/* Window figures, summed oldest first so that they do not depend on where the ring starts. */
static void s_window(const kms_model_t *self, kms_model_status_t *out)
{
    size_t n = self->window_len;
    size_t start = (self->window_next + KMS_MODEL_WINDOW - n) % KMS_MODEL_WINDOW;
    double y_sum = 0, sse = 0, sae = 0, sst = 0, sape = 0, positive = 0;
    for (size_t k = 0; k < n; k++)
        y_sum += self->window_y[(start + k) % KMS_MODEL_WINDOW];
    double y_mean = s_ratio(y_sum, (double) n);
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % KMS_MODEL_WINDOW;
        double e = self->window_err[i], d = self->window_y[i] - y_mean;
        double ape = self->window_y[i] > 0 ? fabs(e) / self->window_y[i] : NAN;
        sse += e * e;
        sae += fabs(e);
        sst += d * d;
        if (isfinite(sape + ape)) {
            sape += ape;
            positive++;
        }
    }
    out->window_rmse = sqrt(s_ratio(sse, (double) n));
    out->window_mae = s_ratio(sae, (double) n);
    out->window_r2 = 1 - s_ratio(sse, sst);
    out->window_mape = s_ratio(sape, positive);
}

void kms_model_status(const kms_model_t *self, kms_model_status_t *out)
{
    assert(self && out);
    memset(out, 0, sizeof *out);
    out->samples = self->samples;
    out->missing = self->missing;
    out->invalid = self->invalid;
    out->pending = self->pending;
    out->archs_reclaimed = self->reclaimed;
    strcpy(out->missing_what, self->missing_what);
    out->created = self->created;
    out->updated = self->updated;
    double n = (double) self->predicted;
    out->rmse = sqrt(s_ratio(self->sse, n));
    out->mae = s_ratio(self->sae, n);
    out->r2 = 1 - s_ratio(self->sse, self->y_m2);
    out->mape = s_ratio(self->sape, (double) self->ape_count);
    s_window(self, out);
    out->outliers = self->outliers;
    out->drifted = self->drifted;
    out->drifts = self->drifts;
    out->drift = self->drift
                 || (self->window_len == KMS_MODEL_WINDOW && out->window_mae > KMS_MODEL_DRIFT_RATIO * out->mae);
    uint64_t need = self->spec.min_samples;
    if (self->samples < need)
        snprintf(out->reason, sizeof out->reason, "%llu of %llu samples", (unsigned long long) self->samples,
                 (unsigned long long) need);
    else if (!self->has_fit)
        snprintf(out->reason, sizeof out->reason, "no finite fit yet (%llu samples)",
                 (unsigned long long) self->samples);
    else if (!isfinite(out->window_rmse))
        snprintf(out->reason, sizeof out->reason, "no prediction checked yet");
    else
        out->ready = true;
}
