/*  kms_model_state: a model's whole training state as JSON, and back. See kms_model_state.h. */
#include "kms_model_state.h"

#include "kms_json.h"
#include "kms_model_private.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define S_STATE_FORMAT "kms-model-state"
#define S_STATE_VERSION 1

/* ---- checkpoints: the whole state as JSON, every double written with 17 digits ----------- */

static json_t *s_reals(const double *values, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++)
        kms_json_append(&array, kms_json_finite(values[i]));
    return array;
}

static json_t *s_spec_save(const kms_model_spec_t *spec)
{
    json_t *features = json_array();
    for (size_t i = 0; i < spec->feature_count; i++)
        kms_json_append(&features, json_string(spec->features[i]));
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:I, s:b}", "name", spec->name, "target", spec->target, "features",
                     features, "forgetting", kms_json_finite(spec->forgetting), "ridge", kms_json_finite(spec->ridge),
                     "min_samples", (json_int_t) spec->min_samples, "per_cpu", spec->per_cpu);
}

/* The upper triangle of C, row by row, then the prequential window oldest first. */
static json_t *s_matrix_save(const kms_model_t *self)
{
    json_t *array = json_array();
    for (size_t i = 0; i < self->dim; i++)
        for (size_t j = i; j < self->dim; j++)
            kms_json_append(&array, kms_json_finite(*s_c(self, i, j)));
    return array;
}

static json_t *s_window_save(const kms_model_t *self)
{
    size_t start = (self->window_next + KMS_MODEL_WINDOW - self->window_len) % KMS_MODEL_WINDOW;
    json_t *array = json_array();
    for (size_t k = 0; k < self->window_len; k++) {
        size_t i = (start + k) % KMS_MODEL_WINDOW;
        kms_json_append(&array,
                        json_pack("[o, o]", kms_json_finite(self->window_y[i]), kms_json_finite(self->window_err[i])));
    }
    return array;
}

static json_t *s_slots_save(const kms_model_t *self)
{
    json_t *seen = json_array(), *candidates = json_array();
    for (size_t a = 0; a < self->arch_count; a++)
        kms_json_append(&seen, json_integer((json_int_t) self->arch_seen[a]));
    for (size_t k = 0; k < self->candidate_count; k++)
        kms_json_append(&candidates,
                        json_pack("[s, I, o, o, I]", self->candidate[k].name, (json_int_t) self->candidate[k].count,
                                  kms_json_finite(self->candidate[k].first_ts),
                                  kms_json_finite(self->candidate[k].last_ts), (json_int_t) self->candidate[k].seen));
    return json_pack("{s:I, s:o, s:I, s:I, s:o}", "clock", (json_int_t) self->arch_clock, "seen", seen, "pending",
                     (json_int_t) self->pending, "reclaimed", (json_int_t) self->reclaimed, "candidates", candidates);
}

static json_t *s_gate_save(const kms_model_t *self)
{
    size_t start = (self->gate_recent_next + KMS_MODEL_GATE_RECENT - self->gate_recent_len) % KMS_MODEL_GATE_RECENT;
    char recent[KMS_MODEL_GATE_RECENT + 1];
    for (size_t k = 0; k < self->gate_recent_len; k++)
        recent[k] = "-0+"[self->gate_recent[(start + k) % KMS_MODEL_GATE_RECENT] + 1];
    recent[self->gate_recent_len] = '\0';
    return json_pack("{s:o, s:o, s:o, s:s, s:b, s:I, s:I, s:I}", "center", kms_json_finite(self->gate_center), "scale",
                     kms_json_finite(self->gate_scale), "level", kms_json_finite(self->gate_level), "recent", recent,
                     "drift", self->drift, "drifts", (json_int_t) self->drifts, "outliers", (json_int_t) self->outliers,
                     "drifted", (json_int_t) self->drifted);
}

json_t *kms_model_save(const kms_model_t *self)
{
    assert(self);
    json_t *archs = json_array();
    for (size_t a = 0; a < self->arch_count; a++)
        kms_json_append(&archs, json_string(self->arch[a]));
    json_t *prequential = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "count", (json_int_t) self->predicted,
                                    "sse", kms_json_finite(self->sse), "sae", kms_json_finite(self->sae), "y_mean",
                                    kms_json_finite(self->y_mean), "y_m2", kms_json_finite(self->y_m2), "window",
                                    s_window_save(self), "sape", kms_json_finite(self->sape), "ape_count",
                                    (json_int_t) self->ape_count);
    /* json_pack() takes every "o" over, even when it fails, and a NULL one makes it fail: a
       state with a non-finite number is not written at all. */
    json_t *state = json_pack("{s:s, s:i, s:o, s:o, s:I, s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                              "format", S_STATE_FORMAT, "version", S_STATE_VERSION, "spec", s_spec_save(&self->spec),
                              "archs", archs, "samples", (json_int_t) self->samples, "missing",
                              (json_int_t) self->missing, "invalid", (json_int_t) self->invalid, "missing_what",
                              self->missing_what, "created", kms_json_finite(self->created), "updated",
                              kms_json_finite(self->updated), "weight_sum", kms_json_finite(self->weight_sum), "mean",
                              s_reals(self->mean, self->dim), "comoment", s_matrix_save(self), "prequential",
                              prequential, "slots", s_slots_save(self), "gate", s_gate_save(self));
    if (state && self->family) {
        json_t *families = kms_family_save(self->family);
        if (!families || json_object_set_new(state, "families", families) != 0) {
            json_decref(state);
            return NULL;
        }
    }
    return state;
}

static bool s_load_count(const json_t *value, uint64_t *out)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return false;
    *out = (uint64_t) json_integer_value(value);
    return true;
}

/* A string that fits a name buffer, without embedded NULs; empty only when `empty_ok`. */
static bool s_load_name(const json_t *value, char *out, bool empty_ok)
{
    const char *text = json_string_value(value);
    if (!text || strlen(text) != json_string_length(value) || strlen(text) >= KMS_NAME_MAX || (!empty_ok && !text[0]))
        return false;
    strcpy(out, text);
    return true;
}

static const char *s_load_spec(const json_t *doc, kms_model_spec_t *spec)
{
    const json_t *features = json_object_get(doc, "features");
    memset(spec, 0, sizeof *spec);
    if (!json_is_object(doc) || !s_load_name(json_object_get(doc, "name"), spec->name, false)
        || !s_load_name(json_object_get(doc, "target"), spec->target, false)
        || !kms_json_get_real(json_object_get(doc, "forgetting"), &spec->forgetting)
        || !kms_json_get_real(json_object_get(doc, "ridge"), &spec->ridge)
        || !s_load_count(json_object_get(doc, "min_samples"), &spec->min_samples) || !json_is_array(features)
        || json_array_size(features) > KMS_SAMPLE_MAX_VALUES)
        return "spec: missing or mistyped field";
    const json_t *per_cpu = json_object_get(doc, "per_cpu"); /* absent in states before it */
    if (per_cpu && !json_is_boolean(per_cpu))
        return "spec: per_cpu is not true or false";
    spec->per_cpu = json_is_true(per_cpu);
    spec->feature_count = json_array_size(features);
    for (size_t i = 0; i < spec->feature_count; i++)
        if (!s_load_name(json_array_get(features, i), spec->features[i], false))
            return "spec: bad feature name";
    return kms_model_spec_check(spec);
}

static const char *s_load_header(kms_model_t *self, const json_t *doc)
{
    const json_t *archs = json_object_get(doc, "archs");
    if (!s_load_count(json_object_get(doc, "samples"), &self->samples)
        || !s_load_count(json_object_get(doc, "missing"), &self->missing)
        || !s_load_count(json_object_get(doc, "invalid"), &self->invalid)
        || !s_load_name(json_object_get(doc, "missing_what"), self->missing_what, true)
        || !kms_json_get_real(json_object_get(doc, "created"), &self->created)
        || !kms_json_get_real(json_object_get(doc, "updated"), &self->updated)
        || !kms_json_get_real(json_object_get(doc, "weight_sum"), &self->weight_sum))
        return "missing or mistyped counter";
    if (self->samples == 0 ? self->weight_sum != 0
                           : !(self->weight_sum >= 1 && self->weight_sum <= (double) self->samples))
        return "weight_sum does not match samples";
    if (!json_is_array(archs) || json_array_size(archs) > KMS_MODEL_MAX_ARCH || json_array_size(archs) > self->samples)
        return "archs: not an array of at most 32 names";
    for (size_t a = 0; a < json_array_size(archs); a++) {
        if (!s_load_name(json_array_get(archs, a), self->arch[a], false)
            || kms_model_arch_find(self, self->arch[a]) != SIZE_MAX)
            return "archs: bad or repeated name";
        self->arch_count++;
    }
    self->dim = self->spec.feature_count + 1 + self->arch_count;
    return NULL;
}

/* Means, then co-moments: finite, variances not negative, and every covariance within what
   Cauchy-Schwarz allows (rounding aside), which a corrupted matrix rarely is. Underflow is
   rounding too: deviations under ~1e-154 square to 0 while their products with large ones do
   not, so a variance may lack up to (samples x DBL_MIN): the 1e-145 slack covers 1e16 samples. */
static const char *s_load_moments(kms_model_t *self, const json_t *mean, const json_t *comoment)
{
    size_t t = s_target(self);
    if (!json_is_array(mean) || json_array_size(mean) != self->dim || !json_is_array(comoment)
        || json_array_size(comoment) != self->dim * (self->dim + 1) / 2)
        return "moments: wrong dimensions";
    for (size_t i = 0; i < self->dim; i++)
        if (!kms_json_get_real(json_array_get(mean, i), &self->mean[i])
            || (i > t && !(self->mean[i] >= -1e-9 && self->mean[i] <= 1 + 1e-9)))
            return "moments: bad mean";
    size_t k = 0;
    for (size_t i = 0; i < self->dim; i++)
        for (size_t j = i; j < self->dim; j++)
            if (!kms_json_get_real(json_array_get(comoment, k++), s_c(self, i, j)))
                return "moments: bad co-moment";
    for (size_t i = 0; i < self->dim; i++)
        for (size_t j = i; j < self->dim; j++) {
            double cii = *s_c(self, i, i), cjj = *s_c(self, j, j);
            if (cii < 0
                || fabs(*s_c(self, i, j))
                       > (1 + 1e-6) * sqrt(cii) * sqrt(cjj) + 1e-145 * (sqrt(cii) + sqrt(cjj)) + DBL_MIN)
                return "moments: not a co-moment matrix";
        }
    return NULL;
}

static const char *s_load_prequential(kms_model_t *self, const json_t *doc)
{
    const json_t *window = json_object_get(doc, "window");
    if (!json_is_object(doc) || !s_load_count(json_object_get(doc, "count"), &self->predicted)
        || !kms_json_get_real(json_object_get(doc, "sse"), &self->sse)
        || !kms_json_get_real(json_object_get(doc, "sae"), &self->sae)
        || !kms_json_get_real(json_object_get(doc, "y_mean"), &self->y_mean)
        || !kms_json_get_real(json_object_get(doc, "y_m2"), &self->y_m2) || !json_is_array(window))
        return "prequential: missing or mistyped field";
    if (self->predicted > self->samples || self->sse < 0 || self->sae < 0 || self->y_m2 < 0
        || json_array_size(window) != (self->predicted < KMS_MODEL_WINDOW ? self->predicted : KMS_MODEL_WINDOW))
        return "prequential: inconsistent counts";
    /* Each entry exactly two numbers ("F": jansson holds no NaN or Inf, so they are finite). */
    for (size_t k = 0; k < json_array_size(window); k++)
        if (json_unpack(json_array_get(window, k), "[FF!]", &self->window_y[k], &self->window_err[k]) != 0)
            return "prequential: bad window entry";
    self->window_len = json_array_size(window);
    self->window_next = self->window_len % KMS_MODEL_WINDOW;
    const json_t *sape = json_object_get(doc, "sape"), *ape_count = json_object_get(doc, "ape_count");
    if ((sape || ape_count)
        && (!kms_json_get_real(sape, &self->sape) || !s_load_count(ape_count, &self->ape_count) || self->sape < 0
            || self->ape_count > self->predicted))
        return "prequential: bad percentage error sum";
    return NULL;
}

/* The gate's figures and recent decisions. A state saved before the gate: figures from its
   window, no recent decision. */
static const char *s_load_gate(kms_model_t *self, const json_t *doc)
{
    if (!doc) {
        if (self->window_len > 0)
            kms_model_gate_refresh(self);
        return NULL;
    }
    const char *recent = json_string_value(json_object_get(doc, "recent"));
    const json_t *drift = json_object_get(doc, "drift");
    if (!json_is_object(doc) || !kms_json_get_real(json_object_get(doc, "center"), &self->gate_center)
        || !kms_json_get_real(json_object_get(doc, "scale"), &self->gate_scale)
        || !kms_json_get_real(json_object_get(doc, "level"), &self->gate_level) || !json_is_boolean(drift)
        || !s_load_count(json_object_get(doc, "drifts"), &self->drifts)
        || !s_load_count(json_object_get(doc, "outliers"), &self->outliers)
        || !s_load_count(json_object_get(doc, "drifted"), &self->drifted) || !recent
        || strlen(recent) > KMS_MODEL_GATE_RECENT || self->gate_scale < 0)
        return "gate: missing or mistyped field";
    self->drift = json_is_true(drift);
    for (size_t k = 0; recent[k]; k++) {
        const char *at = strchr("-0+", recent[k]);
        if (!at)
            return "gate: bad recent decision";
        self->gate_recent[k] = (int8_t) (at - "-0+" - 1);
    }
    self->gate_recent_len = strlen(recent);
    /* The hysteresis s_gate keeps: a drift holds while a quarter are out, starts at 24 on a side. */
    int above, below;
    kms_model_gate_outs(self, &above, &below);
    if (self->drift ? above + below < KMS_MODEL_GATE_RECENT / 4
                    : above >= KMS_MODEL_GATE_DRIFT || below >= KMS_MODEL_GATE_DRIFT)
        return "gate: drift does not match the recent decisions";
    self->gate_recent_next = self->gate_recent_len % KMS_MODEL_GATE_RECENT;
    return NULL;
}

/* A state can be consistent and still poisoned (written by hand, or by a version with a bug):
   what it would serve must be finite and, at the mean of what it learned, not negative. */
static const char *s_poisoned(const kms_model_t *self)
{
    if (self->samples >= 2 && !self->has_fit)
        return "poisoned: its weights are not finite";
    kms_weights_t w;
    if (kms_model_weights(self, &w) != 0)
        return NULL;
    double at_mean = w.bias; /* the prediction at zero usage (kms_weights.h), then each feature at its mean */
    for (size_t j = 0; j < w.numeric_count; j++)
        at_mean += w.numeric[j].weight * (self->mean[j] / w.numeric[j].scale);
    for (size_t a = 0; a < w.category_count; a++)
        at_mean += w.category[a].weight * self->mean[s_target(self) + 1 + a];
    if (!isfinite(at_mean))
        return "poisoned: it predicts non-finite watts at the mean of its samples";
    if (at_mean < -1e-9 * (1 + fabs(self->mean[s_target(self)])))
        return "poisoned: it predicts negative watts at the mean of its samples";
    return NULL;
}

/* The slots' clock and candidates. A state saved before they existed starts them afresh:
   every slot seen now, no candidate. */
static const char *s_load_slots(kms_model_t *self, const json_t *doc)
{
    if (!doc) {
        self->arch_clock = self->samples;
        for (size_t a = 0; a < self->arch_count; a++)
            self->arch_seen[a] = self->arch_clock;
        return NULL;
    }
    const json_t *seen = json_object_get(doc, "seen"), *candidates = json_object_get(doc, "candidates");
    if (!json_is_object(doc) || !s_load_count(json_object_get(doc, "clock"), &self->arch_clock)
        || !s_load_count(json_object_get(doc, "pending"), &self->pending)
        || !s_load_count(json_object_get(doc, "reclaimed"), &self->reclaimed) || !json_is_array(seen)
        || json_array_size(seen) != self->arch_count || !json_is_array(candidates)
        || json_array_size(candidates) > KMS_MODEL_ARCH_CANDIDATES)
        return "slots: missing or mistyped field";
    if (self->arch_clock < self->samples || self->pending > self->arch_clock)
        return "slots: clock behind the counts";
    for (size_t a = 0; a < self->arch_count; a++)
        if (!s_load_count(json_array_get(seen, a), &self->arch_seen[a]) || self->arch_seen[a] > self->arch_clock)
            return "slots: bad sighting";
    for (size_t k = 0; k < json_array_size(candidates); k++) {
        const json_t *c = json_array_get(candidates, k);
        if (!json_is_array(c) || json_array_size(c) != 5
            || !s_load_name(json_array_get(c, 0), self->candidate[k].name, false)
            || !s_load_count(json_array_get(c, 1), &self->candidate[k].count)
            || !kms_json_get_real(json_array_get(c, 2), &self->candidate[k].first_ts)
            || !kms_json_get_real(json_array_get(c, 3), &self->candidate[k].last_ts)
            || !s_load_count(json_array_get(c, 4), &self->candidate[k].seen))
            return "slots: bad candidate";
        if (self->candidate[k].count == 0 || self->candidate[k].seen > self->arch_clock
            || !(self->candidate[k].first_ts <= self->candidate[k].last_ts)
            || kms_model_arch_find(self, self->candidate[k].name) != SIZE_MAX)
            return "slots: inconsistent candidate";
        for (size_t i = 0; i < k; i++)
            if (strcmp(self->candidate[i].name, self->candidate[k].name) == 0)
                return "slots: repeated candidate";
        self->candidate_count++;
    }
    return NULL;
}

/* A one-feature model's curve families; a state saved before them starts them afresh. */
static const char *s_load_families(kms_model_t *self, const json_t *doc)
{
    if (!doc)
        return NULL;
    if (!self->family)
        return "families: only a one-feature model has them";
    const char *why = NULL;
    kms_family_t *family = kms_family_load(doc, self->spec.forgetting, &why);
    if (!family)
        return why;
    if (kms_family_samples(family) > self->samples) {
        kms_family_destroy(&family);
        return "families: more samples than the model";
    }
    kms_family_destroy(&self->family);
    self->family = family;
    return NULL;
}

kms_model_t *kms_model_load(const json_t *state, const char **why)
{
    kms_model_spec_t spec;
    kms_model_t *self = NULL;
    const char *reason = NULL;
    json_int_t version = json_integer_value(json_object_get(state, "version"));
    const char *format = json_string_value(json_object_get(state, "format"));
    if (!json_is_object(state) || !format || strcmp(format, S_STATE_FORMAT) != 0)
        reason = "not a model state document";
    else if (version != S_STATE_VERSION)
        reason = "unsupported state version";
    else if (!(reason = s_load_spec(json_object_get(state, "spec"), &spec)) && !(self = kms_model_new(&spec)))
        reason = "out of memory";
    if (!reason)
        reason = s_load_header(self, state);
    if (!reason)
        reason = s_load_moments(self, json_object_get(state, "mean"), json_object_get(state, "comoment"));
    if (!reason)
        reason = s_load_prequential(self, json_object_get(state, "prequential"));
    if (!reason)
        reason = s_load_slots(self, json_object_get(state, "slots"));
    if (!reason)
        reason = s_load_gate(self, json_object_get(state, "gate"));
    if (!reason)
        reason = s_load_families(self, json_object_get(state, "families"));
    if (!reason) {
        kms_model_solve(self);
        reason = s_poisoned(self);
    }
    if (reason) {
        kms_model_destroy(&self);
        if (why)
            *why = reason;
        return NULL;
    }
    return self;
}
