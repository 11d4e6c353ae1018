#include "kms_modelzip.h"

#include "kms_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>

static json_t *s_features(const kms_model_spec_t *spec)
{
    json_t *list = json_array();
    for (size_t i = 0; i < spec->feature_count; i++)
        json_array_append_new(list, json_string(spec->features[i]));
    return list;
}

/* Where the model's data lies, for people and tests: the documents' means are 0 (kms_weights.h). */
static json_t *s_feature_means(const kms_model_t *model)
{
    const kms_model_spec_t *spec = kms_model_spec(model);
    json_t *means = json_object();
    for (size_t i = 0; i < spec->feature_count; i++)
        json_object_set_new(means, spec->features[i], kms_json_number(kms_model_feature_mean(model, i)));
    return means;
}

static json_t *s_fit(const kms_model_status_t *status)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "r2", kms_json_number(status->r2), "rmse",
                     kms_json_number(status->rmse), "mae", kms_json_number(status->mae), "window_r2",
                     kms_json_number(status->window_r2), "window_rmse", kms_json_number(status->window_rmse),
                     "window_mae", kms_json_number(status->window_mae));
}

json_t *kms_modelzip_weights(const kms_model_t *model)
{
    kms_weights_t weights;
    if (!model || kms_model_weights(model, &weights) != 0)
        return NULL;
    json_t *doc = kms_weights_to_json(&weights, NULL);
    if (!doc)
        return NULL;
    const kms_model_spec_t *spec = kms_model_spec(model);
    kms_model_status_t status;
    kms_model_status(model, &status);
    /* Every document says whether its watts are a node's or one logical cpu's, so that no
       client takes one for the other (kms-meter takes only the second). */
    json_object_update_new(doc, json_pack("{s:s, s:b, s:o, s:o, s:I, s:o}", "target", spec->target, "per_logical_cpu",
                                          spec->per_cpu, "features", s_features(spec), "feature_means",
                                          s_feature_means(model), "samples", (json_int_t) status.samples, "fit",
                                          s_fit(&status)));
    const kms_family_t *family = kms_model_family(model);
    if (family && kms_family_served(family) != KMS_FAMILY_LINEAR)
        json_object_set_new(doc, "families", kms_family_json(family, true));
    return doc;
}

char *kms_modelzip_weights_text(const kms_model_t *model)
{
    json_t *doc = kms_modelzip_weights(model);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    return text;
}

/* metadata.json's document, with `extra`'s keys (kms_modelzip_write). */
static json_t *s_metadata(const kms_model_t *model, const kms_model_status_t *status, const char *version,
                          const json_t *extra)
{
    const kms_model_spec_t *spec = kms_model_spec(model);
    json_t *doc = json_pack("{s:s, s:s, s:o, s:s, s:{s:s, s:s}, s:I, s:I, s:I, s:I, s:b, s:s, s:o, s:o, s:o, s:s}",
                            "format", KMS_MODELZIP_FORMAT, "name", spec->name, "features", s_features(spec), "target",
                            spec->target, "units", "target",
                            spec->per_cpu ? "watts per logical cpu (average over each sample's interval)"
                                          : "watts (average over each sample's interval)",
                            "features",
                            spec->per_cpu ? "per logical cpu: cpu_utilization = cpu_time / cpus, 0 to 1"
                                          : "per-second rates of the usage counters; resident_memory in bytes",
                            "samples", (json_int_t) status->samples, "missing", (json_int_t) status->missing, "invalid",
                            (json_int_t) status->invalid, "min_samples", (json_int_t) spec->min_samples, "ready",
                            status->ready, "reason", status->reason, "fit", s_fit(status), "created",
                            kms_json_positive(status->created), "updated", kms_json_positive(status->updated),
                            "server_version", version ? version : "");
    if (doc && json_is_object(extra))
        json_object_update(doc, (json_t *) extra);
    return doc;
}

/* Adds `text` (taken: libzip frees it) as `name`, stamped with `mtime`. */
static int s_add(zip_t *zip, const char *name, char *text, time_t mtime)
{
    if (!text)
        return -1;
    zip_source_t *src = zip_source_buffer(zip, text, strlen(text), 1);
    if (!src) {
        free(text);
        return -1;
    }
    zip_int64_t index = zip_file_add(zip, name, src, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
        zip_source_free(src);
        return -1;
    }
    return zip_file_set_mtime(zip, (zip_uint64_t) index, mtime, 0);
}

/* Copies the finished archive out of its in-memory source. */
static int s_take_bytes(zip_source_t *src, void **data, size_t *len)
{
    zip_stat_t st;
    if (zip_source_stat(src, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(src) != 0)
        return -1;
    void *bytes = malloc(st.size ? st.size : 1);
    zip_int64_t got = bytes ? zip_source_read(src, bytes, st.size) : -1;
    zip_source_close(src);
    if (got < 0 || (zip_uint64_t) got != st.size) {
        free(bytes);
        return -1;
    }
    *data = bytes;
    *len = (size_t) st.size;
    return 0;
}

int kms_modelzip_write(const kms_model_t *model, const char *version, const json_t *extra, void **data, size_t *len,
                       const char **why)
{
    const char *unused;
    why = why ? why : &unused;
    kms_model_status_t status;
    kms_model_status(model, &status);
    time_t mtime = isfinite(status.updated) && status.updated > 0 ? (time_t) status.updated : 0;

    json_t *state = kms_model_save(model);
    json_t *metadata = s_metadata(model, &status, version, extra);
    char *state_text = state ? json_dumps(state, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    char *metadata_text = metadata ? json_dumps(metadata, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    char *weights_text = kms_modelzip_weights_text(model);
    json_decref(state);
    json_decref(metadata);
    zip_source_t *src = NULL;
    int rc = -1;
    if (!state_text || !metadata_text) {
        *why = "the model state could not be serialized";
        goto done;
    }
    zip_error_t error;
    zip_error_init(&error);
    src = zip_source_buffer_create(NULL, 0, 0, &error);
    zip_t *zip = src ? zip_open_from_source(src, ZIP_TRUNCATE, &error) : NULL;
    zip_error_fini(&error);
    if (!zip) {
        *why = "libzip could not create an archive in memory";
        goto done;
    }
    /* The source must outlive zip_close(), which writes the archive into it. */
    zip_source_keep(src);
    rc = weights_text ? s_add(zip, KMS_MODELZIP_WEIGHTS, weights_text, mtime) : 0;
    rc |= s_add(zip, KMS_MODELZIP_METADATA, metadata_text, mtime);
    rc |= s_add(zip, KMS_MODELZIP_STATE, state_text, mtime);
    state_text = metadata_text = weights_text = NULL; /* libzip's now */
    if (rc != 0 || zip_close(zip) != 0) {
        *why = rc != 0 ? "libzip could not add an entry" : "libzip could not write the archive";
        zip_discard(zip);
        rc = -1;
    } else if ((rc = s_take_bytes(src, data, len)) != 0) {
        *why = "the archive could not be read back from memory";
    }
done:
    free(state_text);
    free(metadata_text);
    free(weights_text);
    zip_source_free(src);
    return rc;
}

/* Reads one entry as a JSON document; NULL when missing, too big, corrupt or not JSON (the
   caller says which entry failed, not how). */
static json_t *s_read_json(zip_t *zip, const char *name)
{
    zip_stat_t st;
    zip_file_t *file = NULL;
    if (zip_stat(zip, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || st.size > KMS_MODELZIP_MAX_ENTRY
        || !(file = zip_fopen(zip, name, 0)))
        return NULL;
    char *text = malloc(st.size + 1);
    zip_int64_t got = text ? zip_fread(file, text, st.size) : -1;
    /* Reading to the end lets libzip check the CRC; one more byte must not exist. */
    char extra;
    zip_int64_t more = got >= 0 ? zip_fread(file, &extra, 1) : -1;
    zip_fclose(file);
    json_t *doc = got >= 0 && (zip_uint64_t) got == st.size && more == 0
                      ? json_loadb(text, (size_t) st.size, JSON_REJECT_DUPLICATES, NULL)
                      : NULL;
    free(text);
    return doc;
}

kms_model_t *kms_modelzip_read(const void *data, size_t len, json_t **metadata, const char **why)
{
    const char *unused;
    why = why ? why : &unused;
    if (metadata)
        *metadata = NULL;
    if (!data || len == 0) {
        *why = "empty file";
        return NULL;
    }
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &error);
    zip_t *zip = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error) : NULL;
    zip_error_fini(&error);
    if (!zip) {
        zip_source_free(src);
        *why = "not a zip archive, or a truncated one";
        return NULL;
    }
    const char *entry_why = NULL;
    json_t *state = s_read_json(zip, KMS_MODELZIP_STATE);
    kms_model_t *model = NULL;
    if (!state)
        *why = "state.json is missing or corrupt";
    else if (!(model = kms_model_load(state, &entry_why)))
        *why = strncmp(entry_why, "poisoned", 8) == 0 ? entry_why : "state.json is not a valid model state";
    json_decref(state);
    if (model && metadata) {
        *metadata = s_read_json(zip, KMS_MODELZIP_METADATA);
        if (!json_is_object(*metadata)) {
            json_decref(*metadata);
            *metadata = json_object();
        }
    }
    zip_discard(zip);
    return model;
}
