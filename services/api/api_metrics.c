#include "api_metrics.h"

#include "api_families.h"
#include "kms_promtext_write.h"
#include "kms_weights.h"

#include <stdbool.h>
#include <stdlib.h>

/* A number or a boolean, as Prometheus wants it; false when absent or of another type. */
static bool s_number(const json_t *value, double *out)
{
    if (json_is_number(value))
        *out = json_number_value(value);
    else if (json_is_boolean(value))
        *out = json_is_true(value) ? 1 : 0;
    else
        return false;
    return true;
}

/* name{model="m"[,key="value"]} value */
static void s_sample(FILE *out, const char *family, const char *model, const char *key, const char *label, double value)
{
    fprintf(out, "%s{model=", family);
    kms_promtext_write_label(out, model);
    if (key) {
        fprintf(out, ",%s=", key);
        kms_promtext_write_label(out, label);
    }
    fputc('}', out);
    kms_promtext_write_value(out, value);
}

static const char *s_name(const json_t *model)
{
    return json_string_value(json_object_get(model, "name"));
}

/* The family's # HELP and # TYPE lines. */
static void s_family(FILE *out, api_family_id_t id)
{
    const api_family_t *f = &api_families[id];
    kms_promtext_write_family(out, f->prom, f->type == API_COUNTER ? "counter" : "gauge", f->help);
}

/* Families with one value per model, read from a top-level key of MODEL. */
static const api_family_id_t s_scalars[] = {API_F_MODEL_READY,   API_F_MODEL_SAMPLES, API_F_MODEL_MIN_SAMPLES,
                                            API_F_MODEL_CREATED, API_F_MODEL_UPDATED, API_F_MODEL_DRIFT};

/* Fit families: overall and recent-window values of MODEL.fit, label window. */
static const api_family_id_t s_fits[] = {API_F_MODEL_R2, API_F_MODEL_RMSE, API_F_MODEL_MAE, API_F_MODEL_MAPE};

/* A family of counts by reason, read from MODEL[key] (key NULL: the model itself). */
static void s_write_reasons(const json_t *models, FILE *out, api_family_id_t id, const char *key,
                            const char *const *reasons, size_t count)
{
    size_t i;
    const json_t *model;
    double v;
    s_family(out, id);
    json_array_foreach(models, i, model) {
        const json_t *from = key ? json_object_get(model, key) : model;
        for (size_t r = 0; s_name(model) && r < count; r++)
            if (s_number(json_object_get(from, reasons[r]), &v))
                s_sample(out, api_families[id].prom, s_name(model), "reason", reasons[r], v);
    }
}

static void s_write_info(const json_t *models, FILE *out)
{
    s_family(out, API_F_MODEL_INFO);
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model) {
        const char *target = json_string_value(json_object_get(model, "target"));
        const json_t *features = json_object_get(model, "features");
        if (!s_name(model) || !target || !json_is_array(features))
            continue;
        fputs("kms_model_info{model=", out);
        kms_promtext_write_label(out, s_name(model));
        fputs(",target=", out);
        kms_promtext_write_label(out, target);
        char list[KMS_SAMPLE_MAX_VALUES * KMS_NAME_MAX] = "";
        size_t j, len = 0;
        const json_t *feature;
        json_array_foreach(features, j, feature)
            if (json_is_string(feature) && len < sizeof list)
                len += (size_t) snprintf(list + len, sizeof list - len, "%s%s", len ? "," : "",
                                         json_string_value(feature));
        fputs(",features=", out);
        kms_promtext_write_label(out, list);
        fputs("} 1\n", out);
    }
}

static void s_write_scalars(const json_t *models, FILE *out)
{
    size_t i;
    const json_t *model;
    double v;
    for (size_t f = 0; f < sizeof s_scalars / sizeof s_scalars[0]; f++) {
        const api_family_t *family = &api_families[s_scalars[f]];
        s_family(out, s_scalars[f]);
        json_array_foreach(models, i, model)
            if (s_name(model) && s_number(json_object_get(model, family->key), &v))
                s_sample(out, family->prom, s_name(model), NULL, NULL, v);
    }
    static const char *const skipped[] = {"missing", "invalid", "pending"}, *const held[] = {"outlier", "drift"};
    s_write_reasons(models, out, API_F_MODEL_SKIPPED, NULL, skipped, 3);
    s_write_reasons(models, out, API_F_MODEL_HELD, "held_back", held, 2);
    s_family(out, API_F_MODEL_DRIFTS);
    json_array_foreach(models, i, model)
        if (s_name(model) && s_number(json_object_get(json_object_get(model, "held_back"), "drifts"), &v))
            s_sample(out, api_families[API_F_MODEL_DRIFTS].prom, s_name(model), NULL, NULL, v);
    for (size_t f = 0; f < sizeof s_fits / sizeof s_fits[0]; f++) {
        const api_family_t *family = &api_families[s_fits[f]];
        s_family(out, s_fits[f]);
        json_array_foreach(models, i, model) {
            const json_t *fit = json_object_get(model, "fit");
            if (!s_name(model) || !json_is_object(fit))
                continue;
            if (s_number(json_object_get(fit, family->key), &v))
                s_sample(out, family->prom, s_name(model), "window", "all", v);
            if (s_number(json_object_get(fit, family->window_key), &v))
                s_sample(out, family->prom, s_name(model), "window", "recent", v);
        }
    }
}

static void s_write_weight_samples(FILE *out, api_family_id_t family, const char *model, const kms_weights_t *w)
{
    if (family == API_F_MODEL_BIAS) {
        s_sample(out, api_families[family].prom, model, NULL, NULL, w->bias);
    } else if (family == API_F_MODEL_CATEGORY) {
        for (size_t n = 0; n < w->category_count; n++) {
            fputs("kms_model_category_weight{model=", out);
            kms_promtext_write_label(out, model);
            fprintf(out, ",feature=\"%s\",category=", KMS_WEIGHTS_CATEGORY);
            kms_promtext_write_label(out, w->category[n].name);
            fputc('}', out);
            kms_promtext_write_value(out, w->category[n].weight);
        }
    } else {
        for (size_t n = 0; n < w->numeric_count; n++) {
            const kms_weight_numeric_t *x = &w->numeric[n];
            /* The served documents' mean is 0 and their variance scale^2 (kms_weights.h). */
            double value = family == API_F_MODEL_WEIGHT ? x->weight
                           : family == API_F_MODEL_MEAN ? 0
                                                        : x->scale * x->scale;
            s_sample(out, api_families[family].prom, model, "feature", x->name, value);
        }
    }
}

static void s_write_weights(const json_t *models, FILE *out)
{
    /* Parsed once per model, then written family by family (a family's samples must be
       together). A document that does not parse is left out. */
    size_t count = json_array_size(models);
    struct {
        kms_weights_t w;
        bool ok;
    } *parsed = calloc(count + 1, sizeof *parsed);
    if (!parsed)
        count = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *model = json_array_get(models, i);
        parsed[i].ok = s_name(model) && kms_weights_from_json(json_object_get(model, "weights"), &parsed[i].w) == 0;
    }
    for (api_family_id_t f = API_F_MODEL_BIAS; f <= API_F_MODEL_VARIANCE; f++) {
        s_family(out, f);
        for (size_t i = 0; i < count; i++)
            if (parsed[i].ok)
                s_write_weight_samples(out, f, s_name(json_array_get(models, i)), &parsed[i].w);
    }
    free(parsed);
}

/* Every candidate family of the one-feature models: its recent error, and which is served. */
static void s_write_model_families(const json_t *models, FILE *out)
{
    for (api_family_id_t id = API_F_MODEL_FAMILY_RMSE; id <= API_F_MODEL_FAMILY_SERVED; id++) {
        s_family(out, id);
        size_t i, k;
        const json_t *model, *candidate;
        json_array_foreach(models, i, model) {
            json_array_foreach(json_object_get(json_object_get(model, "families"), "candidates"), k, candidate) {
                const char *family = json_string_value(json_object_get(candidate, "family"));
                double v;
                if (s_name(model) && family
                    && s_number(json_object_get(candidate, id == API_F_MODEL_FAMILY_RMSE ? "recent_rmse" : "served"),
                                &v))
                    s_sample(out, api_families[id].prom, s_name(model), "family", family, v);
            }
        }
    }
}

static void s_write_trainer(const json_t *stats, FILE *out)
{
    double v;
    for (api_family_id_t f = API_F_TRAINER_FIRST; f <= API_F_TRAINER_LAST; f++)
        if (s_number(json_object_get(stats, api_families[f].key), &v)) {
            s_family(out, f);
            fputs(api_families[f].prom, out);
            kms_promtext_write_value(out, v);
        }
    static const char *const reasons[] = {"bounds", "outlier", "drift"};
    const json_t *held = json_object_get(stats, api_families[API_F_TRAINER_HELD].key);
    if (!json_is_object(held))
        return;
    s_family(out, API_F_TRAINER_HELD);
    for (size_t r = 0; r < sizeof reasons / sizeof reasons[0]; r++)
        if (s_number(json_object_get(held, reasons[r]), &v)) {
            fprintf(out, "%s{reason=\"%s\"}", api_families[API_F_TRAINER_HELD].prom, reasons[r]);
            kms_promtext_write_value(out, v);
        }
}

void api_metrics_write(const json_t *list, FILE *out)
{
    kms_promtext_write_family(out, "kms_api_trainer_up", "gauge",
                              "1 when the trainer answered this scrape in time, else 0.");
    fprintf(out, "kms_api_trainer_up %d\n", list ? 1 : 0);
    if (!list)
        return;
    const json_t *models = json_object_get(list, "models");
    if (json_is_array(models)) {
        s_write_info(models, out);
        s_write_scalars(models, out);
        s_write_weights(models, out);
        s_write_model_families(models, out);
    }
    s_write_trainer(json_object_get(list, "trainer"), out);
}
