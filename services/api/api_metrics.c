#include "api_metrics.h"

#include "kms_num.h"
#include "kms_promtext.h"
#include "kms_weights.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
static void s_sample(FILE *out, const char *family, const char *model, const char *key, const char *label,
                     double value)
{
    fprintf(out, "%s{model=", family);
    kms_promtext_label(out, model);
    if (key) {
        fprintf(out, ",%s=", key);
        kms_promtext_label(out, label);
    }
    fputc('}', out);
    kms_promtext_value(out, value);
}

static const char *s_name(const json_t *model)
{
    return json_string_value(json_object_get(model, "name"));
}

/* Families with one value per model, read from a top-level key of MODEL. */
static const struct {
    const char *family, *type, *key, *help;
} s_scalars[] = {
    {"kms_model_ready", "gauge", "ready", "1 when the model serves weights, 0 while it is not trained enough."},
    {"kms_model_samples_total", "counter", "samples", "Samples the model learned from."},
    {"kms_model_min_samples", "gauge", "min_samples", "Samples a model needs before it serves weights."},
    {"kms_model_created_timestamp_seconds", "gauge", "created", "When the model was created, unix seconds."},
    {"kms_model_last_update_timestamp_seconds", "gauge", "updated", "When the model last learned, unix seconds."},
};

/* Fit families: overall and recent-window values of MODEL.fit, label window. */
static const struct {
    const char *family, *all, *recent, *help;
} s_fits[] = {
    {"kms_model_r2", "r2", "window_r2", "Prequential coefficient of determination (R²) of the model's predictions."},
    {"kms_model_rmse_watts", "rmse", "window_rmse", "Prequential root mean squared error of the predictions."},
    {"kms_model_mae_watts", "mae", "window_mae", "Prequential mean absolute error of the predictions."},
};

static void s_write_info(const json_t *models, FILE *out)
{
    kms_promtext_family(out, "kms_model_info", "gauge", "The model's target and features (always 1).");
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model) {
        const char *target = json_string_value(json_object_get(model, "target"));
        const json_t *features = json_object_get(model, "features");
        if (!s_name(model) || !target || !json_is_array(features))
            continue;
        fputs("kms_model_info{model=", out);
        kms_promtext_label(out, s_name(model));
        fputs(",target=", out);
        kms_promtext_label(out, target);
        char list[KMS_SAMPLE_MAX_VALUES * KMS_NAME_MAX] = "";
        size_t j, len = 0;
        const json_t *feature;
        json_array_foreach(features, j, feature)
            if (json_is_string(feature) && len < sizeof list)
                len += (size_t) snprintf(list + len, sizeof list - len, "%s%s", len ? "," : "",
                                         json_string_value(feature));
        fputs(",features=", out);
        kms_promtext_label(out, list);
        fputs("} 1\n", out);
    }
}

static void s_write_scalars(const json_t *models, FILE *out)
{
    size_t i;
    const json_t *model;
    double v;
    for (size_t f = 0; f < sizeof s_scalars / sizeof s_scalars[0]; f++) {
        kms_promtext_family(out, s_scalars[f].family, s_scalars[f].type, s_scalars[f].help);
        json_array_foreach(models, i, model)
            if (s_name(model) && s_number(json_object_get(model, s_scalars[f].key), &v))
                s_sample(out, s_scalars[f].family, s_name(model), NULL, NULL, v);
    }
    static const char *skipped[] = {"missing", "invalid", "pending"};
    kms_promtext_family(out, "kms_model_samples_skipped_total", "counter",
             "Samples the model did not learn from: missing (lacked a feature or the target), invalid, "
             "pending (their architecture was still earning a slot).");
    json_array_foreach(models, i, model)
        for (size_t r = 0; s_name(model) && r < sizeof skipped / sizeof skipped[0]; r++)
            if (s_number(json_object_get(model, skipped[r]), &v))
                s_sample(out, "kms_model_samples_skipped_total", s_name(model), "reason", skipped[r], v);
    for (size_t f = 0; f < sizeof s_fits / sizeof s_fits[0]; f++) {
        kms_promtext_family(out, s_fits[f].family, "gauge", s_fits[f].help);
        json_array_foreach(models, i, model) {
            const json_t *fit = json_object_get(model, "fit");
            if (!s_name(model) || !json_is_object(fit))
                continue;
            if (s_number(json_object_get(fit, s_fits[f].all), &v))
                s_sample(out, s_fits[f].family, s_name(model), "window", "all", v);
            if (s_number(json_object_get(fit, s_fits[f].recent), &v))
                s_sample(out, s_fits[f].family, s_name(model), "window", "recent", v);
        }
    }
}

enum { S_BIAS, S_WEIGHT, S_CATEGORY, S_MEAN, S_VARIANCE, S_WEIGHT_FAMILIES };

static void s_write_weight_samples(FILE *out, int family, const char *model, const kms_weights_t *w)
{
    static const char *names[S_WEIGHT_FAMILIES] = {"kms_model_bias_watts", "kms_model_weight",
                                                   "kms_model_category_weight", "kms_model_feature_mean",
                                                   "kms_model_feature_variance"};
    if (family == S_BIAS) {
        s_sample(out, names[family], model, NULL, NULL, w->bias);
    } else if (family == S_CATEGORY) {
        for (size_t n = 0; n < w->category_count; n++) {
            fputs("kms_model_category_weight{model=", out);
            kms_promtext_label(out, model);
            fprintf(out, ",feature=\"%s\",category=", KMS_WEIGHTS_CATEGORY);
            kms_promtext_label(out, w->category[n].name);
            fputc('}', out);
            kms_promtext_value(out, w->category[n].weight);
        }
    } else {
        for (size_t n = 0; n < w->numeric_count; n++) {
            const kms_weight_numeric_t *x = &w->numeric[n];
            double value = family == S_WEIGHT ? x->weight : family == S_MEAN ? x->mean : x->variance;
            s_sample(out, names[family], model, "feature", x->name, value);
        }
    }
}

static void s_write_weights(const json_t *models, FILE *out)
{
    static const struct {
        const char *family, *help;
    } families[S_WEIGHT_FAMILIES] = {
        {"kms_model_bias_watts", "The model's Bias_Weight."},
        {"kms_model_weight", "Watts per standard deviation of the feature (Numerical_Variables weight)."},
        {"kms_model_category_weight", "Watts added for a category, such as the cpu architecture."},
        {"kms_model_feature_mean", "Mean of the feature that the model standardizes with."},
        {"kms_model_feature_variance", "Variance of the feature that the model standardizes with."},
    };
    /* Parsed once per model, then written family by family (a family's samples must be
       together). A document that does not parse is left out. */
    size_t count = json_array_size(models);
    kms_weights_t *parsed = calloc(count + 1, sizeof *parsed);
    bool *ok = calloc(count + 1, sizeof *ok);
    if (!parsed || !ok)
        count = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *model = json_array_get(models, i);
        ok[i] = s_name(model) && kms_weights_from_json(json_object_get(model, "weights"), &parsed[i]) == 0;
    }
    for (int f = 0; f < S_WEIGHT_FAMILIES; f++) {
        kms_promtext_family(out, families[f].family, "gauge", families[f].help);
        for (size_t i = 0; i < count; i++)
            if (ok[i])
                s_write_weight_samples(out, f, s_name(json_array_get(models, i)), &parsed[i]);
    }
    free(parsed);
    free(ok);
}

static void s_write_trainer(const json_t *stats, FILE *out)
{
    static const struct {
        const char *family, *type, *key, *help;
    } families[] = {
        {"kms_trainer_uptime_seconds", "gauge", "uptime", "Seconds since the trainer started."},
        {"kms_trainer_samples_received_total", "counter", "samples_received", "Samples the trainer received."},
        {"kms_trainer_samples_rejected_total", "counter", "samples_rejected", "Samples the trainer rejected."},
        {"kms_trainer_frames_malformed_total", "counter", "frames_malformed", "Frames that were not valid samples."},
        {"kms_trainer_seq_gaps_total", "counter", "seq_gaps", "Samples lost between publisher and trainer."},
        {"kms_trainer_publishers", "gauge", "publishers", "Publishers the trainer has heard from."},
        {"kms_trainer_checkpoints_total", "counter", "checkpoints", "Checkpoints the trainer wrote."},
        {"kms_trainer_checkpoint_errors_total", "counter", "checkpoint_errors", "Checkpoints that failed."},
        {"kms_trainer_last_checkpoint_timestamp_seconds", "gauge", "last_checkpoint",
         "When the trainer last wrote a checkpoint, unix seconds."},
    };
    double v;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        if (s_number(json_object_get(stats, families[f].key), &v)) {
            kms_promtext_family(out, families[f].family, families[f].type, families[f].help);
            fputs(families[f].family, out);
            kms_promtext_value(out, v);
        }
}

void api_metrics_write(const json_t *list, FILE *out)
{
    kms_promtext_family(out, "kms_api_trainer_up", "gauge", "1 when the trainer answered this scrape in time, else 0.");
    fprintf(out, "kms_api_trainer_up %d\n", list ? 1 : 0);
    if (!list)
        return;
    const json_t *models = json_object_get(list, "models");
    if (json_is_array(models)) {
        s_write_info(models, out);
        s_write_scalars(models, out);
        s_write_weights(models, out);
    }
    s_write_trainer(json_object_get(list, "trainer"), out);
}
