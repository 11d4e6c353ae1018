/*  The trainer's model set: one kms_model per spec (plus imported ones), a fit history per model
    for the status page, and the counters that STATS reports. */
#include "trainer.h"

#include "kms_modelzip.h"
#include "kms_json.h"
#include "kms_num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    kms_model_t *model;
    bool dirty;     /* learned since the last checkpoint */
    bool keep_file; /* an unusable checkpoint of its name is still in its place */
    size_t history_count, history_next;
    double history[TRAINER_HISTORY_MAX][3]; /* ts, window_r2, window_rmse; a ring */
} s_entry_t;

struct trainer_t {
    const char *version;
    double started; /* monotonic */
    double forgetting;
    uint64_t min_samples;
    trainer_specs_t specs; /* as configured */
    size_t count;
    s_entry_t entries[TRAINER_MAX_MODELS];
    trainer_stats_t stats;
    trainer_bounds_t bounds;
    trainer_held_t *held;
};

trainer_t *trainer_new(const trainer_specs_t *specs, const char *version)
{
    trainer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->version = version;
    self->started = kms_num_monotonic();
    self->specs = *specs;
    self->forgetting = specs->count ? specs->specs[0].forgetting : 1;
    self->min_samples = specs->count ? specs->specs[0].min_samples : 30;
    char why[128];
    bool ok = (self->held = trainer_held_new()) && trainer_bounds_parse(&self->bounds, NULL, why, sizeof why) == 0;
    for (size_t i = 0; ok && i < specs->count; i++)
        ok = (self->entries[self->count++].model = kms_model_new(&specs->specs[i])) != NULL;
    if (!ok)
        trainer_destroy(&self);
    return self;
}

void trainer_destroy(trainer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    trainer_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        kms_model_destroy(&self->entries[i].model);
    trainer_held_destroy(&self->held);
    free(self);
    *self_p = NULL;
}

trainer_stats_t *trainer_stats(trainer_t *self)
{
    return &self->stats;
}

const char *trainer_version(const trainer_t *self)
{
    return self->version;
}

size_t trainer_model_count(const trainer_t *self)
{
    return self->count;
}

const kms_model_t *trainer_model_at(const trainer_t *self, size_t index)
{
    return index < self->count ? self->entries[index].model : NULL;
}

int trainer_model_find(const trainer_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(kms_model_spec(self->entries[i].model)->name, name) == 0)
            return (int) i;
    return -1;
}

bool trainer_spec_conflicts(const trainer_t *self, const kms_model_spec_t *spec)
{
    const kms_model_spec_t *configured = NULL;
    for (size_t i = 0; !configured && i < self->specs.count; i++)
        if (strcmp(self->specs.specs[i].name, spec->name) == 0)
            configured = &self->specs.specs[i];
    if (!configured)
        return false;
    if (strcmp(configured->target, spec->target) != 0 || configured->feature_count != spec->feature_count
        || configured->per_cpu != spec->per_cpu)
        return true;
    for (size_t i = 0; i < spec->feature_count; i++)
        if (strcmp(configured->features[i], spec->features[i]) != 0)
            return true;
    return false;
}

/* The running trainer's --forgetting and --min-samples win over what a checkpoint or an
   imported zip was made with: the operator changed them on purpose. The model has no setter,
   so the state goes round through its saved form (exact). */
static kms_model_t *s_apply_options(const trainer_t *self, kms_model_t *model)
{
    const kms_model_spec_t *spec = kms_model_spec(model);
    if (spec->forgetting == self->forgetting && spec->min_samples == self->min_samples)
        return model;
    json_t *state = kms_model_save(model);
    json_t *saved_spec = json_object_get(state, "spec");
    kms_model_t *updated = NULL;
    if (json_is_object(saved_spec)) {
        json_object_set_new(saved_spec, "forgetting", json_real(self->forgetting));
        json_object_set_new(saved_spec, "min_samples", json_integer((json_int_t) self->min_samples));
        updated = kms_model_load(state, NULL);
    }
    json_decref(state);
    if (!updated)
        return model; /* keep it as it was rather than lose it */
    kms_model_destroy(&model);
    return updated;
}

/* One more fit-history point into the entry's ring, over the oldest once it is full. */
static void s_history_push(s_entry_t *entry, const double point[3])
{
    memcpy(entry->history[entry->history_next], point, sizeof entry->history[0]);
    entry->history_next = (entry->history_next + 1) % TRAINER_HISTORY_MAX;
    if (entry->history_count < TRAINER_HISTORY_MAX)
        entry->history_count++;
}

static void s_history_restore(s_entry_t *entry, const json_t *history)
{
    size_t index,
        skip = json_array_size(history) > TRAINER_HISTORY_MAX ? json_array_size(history) - TRAINER_HISTORY_MAX : 0;
    json_t *point;
    json_array_foreach(history, index, point) {
        if (index < skip || json_array_size(point) != 3 || !json_is_number(json_array_get(point, 0)))
            continue;
        double values[3];
        for (size_t k = 0; k < 3; k++) {
            const json_t *v = json_array_get(point, k);
            values[k] = json_is_number(v) ? json_number_value(v) : NAN;
        }
        s_history_push(entry, values);
    }
}

int trainer_model_put(trainer_t *self, kms_model_t *model, const json_t *history, bool dirty)
{
    model = s_apply_options(self, model);
    int index = trainer_model_find(self, kms_model_spec(model)->name);
    if (index < 0) {
        if (self->count >= TRAINER_MAX_MODELS) {
            kms_model_destroy(&model);
            return -1;
        }
        index = (int) self->count++;
    }
    s_entry_t *entry = &self->entries[index];
    kms_model_destroy(&entry->model);
    memset(entry, 0, sizeof *entry);
    entry->model = model;
    entry->dirty = dirty;
    if (json_is_array(history))
        s_history_restore(entry, history);
    return 0;
}

bool trainer_sample_values_ok(const kms_sample_t *sample)
{
    const kms_values_t *sets[] = {&sample->features, &sample->targets};
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < sets[s]->count; i++) {
            double v = sets[s]->items[i].value;
            if (!isfinite(v) || v < 0 || v > KMS_MODEL_VALUE_MAX)
                return false;
        }
    return isfinite(sample->ts);
}

void trainer_set_bounds(trainer_t *self, const trainer_bounds_t *bounds)
{
    self->bounds = *bounds;
}

size_t trainer_learn(trainer_t *self, const kms_sample_t *sample, double now)
{
    const char *beyond = trainer_bounds_exceeded(&self->bounds, sample);
    if (beyond) {
        double watts = 0;
        kms_values_get(&sample->targets, beyond, &watts);
        trainer_held_count(self->held, sample, TRAINER_HELD_BOUNDS, NULL, beyond, watts);
        return 0;
    }
    size_t learned = 0;
    for (size_t i = 0; i < self->count; i++) {
        kms_learn_result_t result = kms_model_learn(self->entries[i].model, sample, now);
        if (result == KMS_LEARN_OK) {
            self->entries[i].dirty = true;
            learned++;
        } else if (result == KMS_LEARN_OUTLIER || result == KMS_LEARN_DRIFTED) {
            const kms_model_spec_t *spec = kms_model_spec(self->entries[i].model);
            double watts = 0;
            kms_values_get(&sample->targets, spec->target, &watts);
            trainer_held_count(self->held, sample,
                               result == KMS_LEARN_OUTLIER ? TRAINER_HELD_OUTLIER : TRAINER_HELD_DRIFT, spec->name,
                               spec->target, watts);
            self->entries[i].dirty = true; /* the gate's state moved */
        }
    }
    return learned;
}

void trainer_history_tick(trainer_t *self, double now)
{
    for (size_t i = 0; i < self->count; i++) {
        kms_model_status_t status;
        kms_model_status(self->entries[i].model, &status);
        if (status.samples > 0) /* else nothing to draw yet */
            s_history_push(&self->entries[i], (double[3]){now, status.window_r2, status.window_rmse});
    }
}

void trainer_model_keep_file(trainer_t *self, size_t index, bool keep)
{
    if (index < self->count)
        self->entries[index].keep_file = keep;
}

bool trainer_model_keeps_file(const trainer_t *self, size_t index)
{
    return index < self->count && self->entries[index].keep_file;
}

bool trainer_model_dirty(const trainer_t *self, size_t index)
{
    return index < self->count && self->entries[index].dirty;
}

void trainer_model_saved(trainer_t *self, size_t index)
{
    if (index < self->count)
        self->entries[index].dirty = false;
}

json_t *trainer_history_json(const trainer_t *self, size_t index)
{
    const s_entry_t *entry = &self->entries[index];
    json_t *list = json_array();
    size_t first = (entry->history_next + TRAINER_HISTORY_MAX - entry->history_count) % TRAINER_HISTORY_MAX;
    for (size_t k = 0; k < entry->history_count; k++) {
        const double *p = entry->history[(first + k) % TRAINER_HISTORY_MAX];
        json_array_append_new(
            list, json_pack("[o, o, o]", kms_json_number(p[0]), kms_json_number(p[1]), kms_json_number(p[2])));
    }
    return list;
}

json_t *trainer_describe_model(const trainer_t *self, size_t index)
{
    const kms_model_t *model = self->entries[index].model;
    const kms_model_spec_t *spec = kms_model_spec(model);
    kms_model_status_t st;
    kms_model_status(model, &st);
    json_t *features = json_array();
    for (size_t i = 0; i < spec->feature_count; i++)
        json_array_append_new(features, json_string(spec->features[i]));
    json_t *fit = json_null();
    if (isfinite(st.rmse) || isfinite(st.window_rmse))
        fit = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "r2", kms_json_number(st.r2), "rmse",
                        kms_json_number(st.rmse), "mae", kms_json_number(st.mae), "mape", kms_json_number(st.mape),
                        "window_r2", kms_json_number(st.window_r2), "window_rmse", kms_json_number(st.window_rmse),
                        "window_mae", kms_json_number(st.window_mae), "window_mape", kms_json_number(st.window_mape));
    json_t *weights = st.ready ? kms_modelzip_weights(model) : NULL;
    json_t *held = json_pack("{s:I, s:I, s:I}", "outlier", (json_int_t) st.outliers, "drift", (json_int_t) st.drifted,
                             "drifts", (json_int_t) st.drifts);
    const kms_family_t *family = kms_model_family(model);
    json_t *families = family ? kms_family_json(family, st.ready) : json_null();
    return json_pack(
        "{s:s, s:o, s:s, s:b, s:s, s:I, s:I, s:o, s:I, s:I, s:I, s:o, s:b, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "name",
        spec->name, "features", features, "target", spec->target, "ready", st.ready, "reason", st.reason, "samples",
        (json_int_t) st.samples, "missing", (json_int_t) st.missing, "missing_feature",
        st.missing_what[0] ? json_string(st.missing_what) : json_null(), "invalid", (json_int_t) st.invalid, "pending",
        (json_int_t) st.pending, "archs_reclaimed", (json_int_t) st.archs_reclaimed, "held_back", held, "drift",
        st.drift, "min_samples", (json_int_t) spec->min_samples, "created", kms_json_positive(st.created), "updated",
        kms_json_positive(st.updated), "fit", fit, "weights", weights ? weights : json_null(), "families", families,
        "history", trainer_history_json(self, index));
}

json_t *trainer_describe_stats(const trainer_t *self)
{
    const trainer_stats_t *s = &self->stats;
    return json_pack(
        "{s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o,"
        " s:I, s:I, s:I, s:s, s:o}",
        "uptime", kms_num_monotonic() - self->started, "samples_received", (json_int_t) s->samples_received,
        "samples_accepted", (json_int_t) s->samples_accepted, "samples_rejected", (json_int_t) s->samples_rejected,
        "rejected_values", (json_int_t) s->rejected_values, "rejected_interval", (json_int_t) s->rejected_interval,
        "rejected_time", (json_int_t) s->rejected_time, "container_samples", (json_int_t) s->container_samples,
        "frames_malformed", (json_int_t) s->frames_malformed, "seq_gaps", (json_int_t) s->seq_gaps,
        "publisher_restarts", (json_int_t) s->publisher_restarts, "publishers", (json_int_t) s->publishers,
        "publishers_forgotten", (json_int_t) s->publishers_forgotten, "checkpoints", (json_int_t) s->checkpoints,
        "last_checkpoint", kms_json_positive(s->last_checkpoint), "checkpoint_errors",
        (json_int_t) s->checkpoint_errors, "requests", (json_int_t) s->requests, "requests_bad",
        (json_int_t) s->requests_bad, "version", self->version, "held_back", trainer_held_json(self->held));
}
