/*  kms_weights: Kepler's weights document, written and read through jansson. */
#include "kms_weights.h"

#include "kms_json.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* A scale whose square is a finite positive variance, so that both of Kepler's formulas hold. */
static bool s_numeric_ok(const kms_weight_numeric_t *n)
{
    return isfinite(n->weight) && n->scale > 0 && isfinite(n->scale * n->scale) && n->scale * n->scale > 0;
}

/* Adds `value` (taken over, may be NULL) under `key` of *object; when the key is empty or taken
   (two features renamed alike would silently lose one) or the value is NULL, the whole object
   goes and *object is NULL, which makes the json_pack() that takes it fail. */
static void s_add(json_t **object, const char *key, json_t *value)
{
    bool refused = !value || !*key || json_object_get(*object, key);
    if (refused)
        json_decref(value);
    if (refused || json_object_set_new(*object, key, value) != 0) {
        json_decref(*object);
        *object = NULL;
    }
}

/* Every number is checked here: jansson 2.14's json_real() lets infinities through. */
static json_t *s_numeric_json(const kms_weights_t *weights, const char *const *names)
{
    json_t *numeric = json_object();
    for (size_t i = 0; numeric && i < weights->numeric_count; i++) {
        const kms_weight_numeric_t *n = &weights->numeric[i];
        s_add(&numeric, names && names[i] ? names[i] : n->name,
              s_numeric_ok(n) ? json_pack("{s:f, s:f, s:f, s:f}", "mean", 0.0, "variance", n->scale * n->scale, "scale",
                                          n->scale, "weight", n->weight)
                              : NULL);
    }
    return numeric;
}

static json_t *s_category_json(const kms_weights_t *weights)
{
    json_t *archs = json_object();
    for (size_t i = 0; archs && i < weights->category_count; i++) {
        const kms_weight_category_t *c = &weights->category[i];
        s_add(&archs, c->name, isfinite(c->weight) ? json_pack("{s:f}", "weight", c->weight) : NULL);
    }
    return archs;
}

json_t *kms_weights_to_json(const kms_weights_t *weights, const char *const *names)
{
    assert(weights);
    if (!isfinite(weights->bias) || weights->numeric_count > KMS_SAMPLE_MAX_VALUES
        || weights->category_count > KMS_SAMPLE_MAX_VALUES)
        return NULL;
    /* json_pack() takes every "o" over, even when it fails, and fails on a NULL one. */
    return json_pack("{s:{s:f, s:{s:o}, s:o}, s:s}", "All_Weights", "Bias_Weight", weights->bias,
                     "Categorical_Variables", KMS_WEIGHTS_CATEGORY, s_category_json(weights), "Numerical_Variables",
                     s_numeric_json(weights, names), "model_name", weights->model_name);
}

/* A finite JSON number (integers too: other writers print 0 for 0.0). */
/* A JSON key as a name: not empty, fits, and no NUL inside (which would make two keys one). */
static int s_copy_name(char *dst, const char *key, size_t key_len)
{
    if (key_len == 0 || key_len >= KMS_NAME_MAX || strlen(key) != key_len)
        return -1;
    memcpy(dst, key, key_len + 1);
    return 0;
}

/* One numeric entry in either form: {"scale", "weight"} (mean and variance, when given, must say
   the same), or the 2022 server's {"mean", "variance", "weight"}, whose mean is returned in
   `mean` to be folded into the bias. */
static int s_read_entry(const json_t *entry, kms_weight_numeric_t *n, double *mean)
{
    const json_t *scale = json_object_get(entry, "scale"), *variance = json_object_get(entry, "variance");
    const json_t *mean_value = json_object_get(entry, "mean");
    double v = 0;
    *mean = 0;
    if (!json_is_object(entry) || !kms_json_get_real(json_object_get(entry, "weight"), &n->weight)
        || (mean_value && !kms_json_get_real(mean_value, mean)) || (variance && !kms_json_get_real(variance, &v)))
        return -1;
    if (scale) {
        if (!kms_json_get_real(scale, &n->scale) || *mean != 0 || (variance && v != n->scale * n->scale))
            return -1;
    } else {
        if (!variance || !(v > 0))
            return -1;
        n->scale = sqrt(v);
    }
    return s_numeric_ok(n) ? 0 : -1;
}

static int s_read_numeric(const json_t *numeric, kms_weights_t *out)
{
    if (!json_is_object(numeric) || json_object_size(numeric) > KMS_SAMPLE_MAX_VALUES)
        return -1;
    const char *name;
    size_t name_len;
    const json_t *entry;
    json_object_keylen_foreach((json_t *) numeric, name, name_len, entry) {
        kms_weight_numeric_t *n = &out->numeric[out->numeric_count];
        double mean;
        if (s_copy_name(n->name, name, name_len) != 0 || s_read_entry(entry, n, &mean) != 0)
            return -1;
        out->bias -= n->weight * (mean / n->scale);
        out->numeric_count++;
    }
    return 0;
}

static int s_read_categorical(const json_t *categorical, kms_weights_t *out)
{
    if (categorical && !json_is_object(categorical))
        return -1;
    const json_t *archs = json_object_get(categorical, KMS_WEIGHTS_CATEGORY);
    if (!archs)
        return 0; /* a model without categories */
    if (!json_is_object(archs) || json_object_size(archs) > KMS_SAMPLE_MAX_VALUES)
        return -1;
    const char *name;
    size_t name_len;
    const json_t *entry;
    json_object_keylen_foreach((json_t *) archs, name, name_len, entry) {
        kms_weight_category_t *c = &out->category[out->category_count];
        if (!json_is_object(entry) || s_copy_name(c->name, name, name_len) != 0
            || !kms_json_get_real(json_object_get(entry, "weight"), &c->weight))
            return -1;
        out->category_count++;
    }
    return 0;
}

int kms_weights_from_json(const json_t *doc, kms_weights_t *out)
{
    assert(out);
    memset(out, 0, sizeof *out);
    const json_t *all = json_object_get(doc, "All_Weights");
    const json_t *model_name = json_object_get(doc, "model_name");
    const char *name = model_name ? json_string_value(model_name) : "";
    if (!json_is_object(all) || !name || strlen(name) >= KMS_NAME_MAX
        || !kms_json_get_real(json_object_get(all, "Bias_Weight"), &out->bias)
        || s_read_numeric(json_object_get(all, "Numerical_Variables"), out) != 0
        || s_read_categorical(json_object_get(all, "Categorical_Variables"), out) != 0
        || !isfinite(out->bias) /* means folded in */) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    strcpy(out->model_name, name);
    return 0;
}

double kms_weights_predict(const kms_weights_t *weights, const kms_sample_t *sample)
{
    assert(weights && sample);
    double watts = weights->bias;
    const char *arch = sample->arch[0] ? sample->arch : KMS_ARCH_UNKNOWN;
    for (size_t i = 0; i < weights->category_count; i++)
        if (strcmp(weights->category[i].name, arch) == 0) {
            watts += weights->category[i].weight;
            break;
        }
    /* In Kepler's own order (regressor/linear.go and model_weights.go): normalize, then weigh,
       and skip weight 0, so that a client's rounding is ours. */
    for (size_t i = 0; i < weights->numeric_count; i++) {
        const kms_weight_numeric_t *n = &weights->numeric[i];
        double x;
        if (n->weight != 0 && kms_values_get(&sample->features, n->name, &x))
            watts += n->weight * (x / n->scale);
    }
    return watts;
}
