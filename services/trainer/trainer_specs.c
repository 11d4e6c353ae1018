/*  Which models the trainer trains: the built-in ones (kms_model.h), and those of the --models file. */
#include "trainer_specs.h"

#include <stdio.h>
#include <string.h>

bool trainer_specs_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= KMS_NAME_MAX || name[0] == '.')
        return false;
    /* The name is a file name in the data dir: no slashes, no surprises. */
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

static int s_fail(char *why, size_t cap, size_t index, const char *detail)
{
    snprintf(why, cap, "entry %zu: %s", index, detail);
    return -1;
}

/* One {"name", "features", "target"} entry into `spec`. */
static int s_entry(const json_t *entry, size_t index, kms_model_spec_t *spec, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *target = json_string_value(json_object_get(entry, "target"));
    const json_t *features = json_object_get(entry, "features");
    if (!json_is_object(entry) || !name || !target || !json_is_array(features))
        return s_fail(why, cap, index, "needs \"name\", \"features\" (a list) and \"target\"");
    if (!trainer_specs_name_ok(name))
        return s_fail(why, cap, index, "name must be 1-63 of [A-Za-z0-9_.-], not starting with '.'");
    if (strlen(target) == 0 || strlen(target) >= KMS_NAME_MAX)
        return s_fail(why, cap, index, "target must be 1-63 characters");
    size_t count = json_array_size(features);
    if (count == 0 || count > KMS_SAMPLE_MAX_VALUES)
        return s_fail(why, cap, index, "needs 1 to 32 features");
    memset(spec, 0, sizeof *spec);
    /* Everything but the names comes from a built-in spec, so that defaults live in one place. */
    kms_model_spec_builtin("core_model", spec);
    snprintf(spec->name, sizeof spec->name, "%s", name);
    snprintf(spec->target, sizeof spec->target, "%s", target);
    spec->feature_count = count;
    for (size_t i = 0; i < count; i++) {
        const char *feature = json_string_value(json_array_get(features, i));
        if (!feature || strlen(feature) == 0 || strlen(feature) >= KMS_NAME_MAX)
            return s_fail(why, cap, index, "features must be names of 1-63 characters");
        snprintf(spec->features[i], sizeof spec->features[i], "%s", feature);
    }
    const json_t *per_cpu = json_object_get(entry, "per_cpu");
    if (per_cpu && !json_is_boolean(per_cpu))
        return s_fail(why, cap, index, "per_cpu must be true or false");
    spec->per_cpu = json_is_true(per_cpu);
    return 0;
}

/* A file's spec, added or in place of the built-in of its name (a file may redefine a built-in
   model); -1 when the file named that model already, or when full. */
static int s_put(trainer_specs_t *out, const kms_model_spec_t *spec, bool from_file[TRAINER_MAX_MODELS])
{
    size_t i = 0;
    while (i < out->count && strcmp(out->specs[i].name, spec->name) != 0)
        i++;
    if (i < out->count ? from_file[i] : i >= TRAINER_MAX_MODELS)
        return -1;
    if (i == out->count)
        out->count++;
    out->specs[i] = *spec;
    from_file[i] = true;
    return 0;
}

int trainer_specs_load(trainer_specs_t *out, const char *path, double forgetting, uint64_t min_samples, char *why,
                       size_t why_cap)
{
    memset(out, 0, sizeof *out);
    kms_model_spec_t spec;
    while (kms_model_spec_builtin_at(out->count, &out->specs[out->count]) == 0)
        out->count++;
    bool from_file[TRAINER_MAX_MODELS] = {false};
    if (path && *path) {
        json_error_t error;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
        if (!doc) {
            if (error.line > 0)
                snprintf(why, why_cap, "%s (line %d)", error.text, error.line);
            else
                snprintf(why, why_cap, "%s", error.text);
            return -1;
        }
        int rc = 0;
        if (!json_is_array(doc)) {
            snprintf(why, why_cap, "expected a JSON list of {\"name\",\"features\",\"target\"}");
            rc = -1;
        }
        size_t index;
        json_t *entry;
        json_array_foreach(doc, index, entry) {
            if (rc != 0)
                break;
            char detail[256];
            rc = s_entry(entry, index + 1, &spec, detail, sizeof detail);
            if (rc == 0 && s_put(out, &spec, from_file) != 0) {
                snprintf(detail, sizeof detail, "entry %zu: model '%s' is listed twice, or more than %d models",
                         index + 1, spec.name, TRAINER_MAX_MODELS);
                rc = -1;
            }
            if (rc != 0)
                snprintf(why, why_cap, "%s", detail);
        }
        json_decref(doc);
        if (rc != 0)
            return -1;
    }
    for (size_t i = 0; i < out->count; i++) {
        out->specs[i].forgetting = forgetting;
        out->specs[i].min_samples = min_samples;
        kms_model_t *probe = kms_model_new(&out->specs[i]);
        if (!probe) {
            snprintf(why, why_cap, "model '%s' is not valid (a feature listed twice?)", out->specs[i].name);
            return -1;
        }
        kms_model_destroy(&probe);
    }
    return 0;
}
