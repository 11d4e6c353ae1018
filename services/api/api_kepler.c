#include "api_kepler.h"

#include "kms_num.h"
#include "kms_weights.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Kepler's metric names for the canonical features, across versions: 0.4 used "cpu_instr" and
   "cache_miss", 0.7.1 "bpf_cpu_time_us", 0.7.3+ "bpf_cpu_time_ms"; memory is the kubelet's
   working set or cgroupfs' usage; the 2022 server's node_energy_stat used curr_* labels. */
static const struct {
    const char *alias, *canonical;
} s_aliases[] = {
    {"cpu_instr", KMS_F_CPU_INSTRUCTIONS},
    {"curr_cpu_instr", KMS_F_CPU_INSTRUCTIONS},
    {"curr_cpu_instructions", KMS_F_CPU_INSTRUCTIONS},
    {"curr_cpu_cycles", KMS_F_CPU_CYCLES},
    {"cache_miss", KMS_F_CACHE_MISSES},
    {"curr_cache_miss", KMS_F_CACHE_MISSES},
    {"curr_cache_misses", KMS_F_CACHE_MISSES},
    {"bpf_cpu_time_us", KMS_F_CPU_TIME},
    {"bpf_cpu_time_ms", KMS_F_CPU_TIME},
    {"curr_cpu_time", KMS_F_CPU_TIME},
    {"container_memory_working_set_bytes", KMS_F_RESIDENT_MEMORY},
    {"cgroupfs_memory_usage_bytes", KMS_F_RESIDENT_MEMORY},
    {"curr_resident_memory", KMS_F_RESIDENT_MEMORY},
};

static const struct {
    const char *name;
    api_answer_t answer;
    bool dynamic;
} s_output_types[] = {
    {"AbsPower", API_ANSWER_ARCHIVE, false},
    {"AbsModelWeight", API_ANSWER_WEIGHTS, false},
    {"AbsComponentPower", API_ANSWER_ARCHIVE, false},
    {"AbsComponentModelWeight", API_ANSWER_COMPONENTS, false},
    {"DynPower", API_ANSWER_ARCHIVE, true},
    {"DynModelWeight", API_ANSWER_WEIGHTS, true},
    {"DynComponentPower", API_ANSWER_ARCHIVE, true},
    {"DynComponentModelWeight", API_ANSWER_COMPONENTS, true},
};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *api_kepler_canonical(const char *name)
{
    for (size_t i = 0; i < S_COUNT(s_aliases); i++)
        if (strcmp(name, s_aliases[i].alias) == 0)
            return s_aliases[i].canonical;
    return name;
}

static int s_fail(char *why, size_t cap, const char *fmt, const char *arg)
{
    snprintf(why, cap, fmt, arg);
    return -1;
}

/* An optional string member: absent or null leaves dst empty. */
static int s_string(const json_t *body, const char *key, char *dst, size_t dst_cap, char *why, size_t cap)
{
    const json_t *value = json_object_get(body, key);
    dst[0] = '\0';
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return s_fail(why, cap, "\"%s\" must be a string", key);
    if (json_string_length(value) >= dst_cap)
        return s_fail(why, cap, "\"%s\" is too long", key);
    memcpy(dst, json_string_value(value), json_string_length(value) + 1);
    return 0;
}

static char *s_trim(char *text)
{
    while (isspace((unsigned char) *text))
        text++;
    size_t len = strlen(text);
    while (len && isspace((unsigned char) text[len - 1]))
        text[--len] = '\0';
    return text;
}

/* The 2022 server's filter: "attr:threshold" items separated by ';', items of another shape
   skipped. Attributes this server does not know are ignored. */
static int s_parse_filter(char *filter, api_kepler_request_t *out, char *why, size_t cap)
{
    char *save = NULL;
    for (char *item = strtok_r(filter, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(item, ':');
        if (!colon || strchr(colon + 1, ':'))
            continue;
        *colon = '\0';
        char *key = s_trim(item), *text = s_trim(colon + 1);
        double *bound = strcmp(key, "mae") == 0 ? &out->max_mae
                        : strcmp(key, "rmse") == 0 ? &out->max_rmse
                        : strcmp(key, "r2") == 0 ? &out->min_r2
                        : strcmp(key, "samples") == 0 ? &out->min_samples
                                                      : NULL;
        if (!bound)
            continue;
        double value;
        if (kms_num_parse_double(text, &value) != 0 || !isfinite(value))
            return s_fail(why, cap, "\"filter\": the threshold for %s is not a number", key);
        *bound = value;
    }
    return 0;
}

static int s_parse_metrics(const json_t *body, api_kepler_request_t *out, char *why, size_t cap)
{
    const json_t *metrics = json_object_get(body, "metrics");
    if (!json_is_array(metrics))
        return s_fail(why, cap, "%s", "\"metrics\" must be a list of metric names");
    if (json_array_size(metrics) > API_KEPLER_MAX_METRICS)
        return s_fail(why, cap, "%s", "\"metrics\" has too many names");
    size_t i;
    const json_t *name;
    json_array_foreach(metrics, i, name) {
        if (!json_is_string(name))
            return s_fail(why, cap, "%s", "\"metrics\" must be a list of metric names");
        if (json_string_length(name) >= KMS_NAME_MAX)
            return s_fail(why, cap, "%s", "a name in \"metrics\" is too long");
        if (json_string_length(name) == 0)
            continue;
        memcpy(out->metrics[out->metric_count++], json_string_value(name), json_string_length(name) + 1);
    }
    return 0;
}

int api_kepler_parse(const json_t *body, api_kepler_request_t *out, char *why, size_t cap)
{
    assert(out && why && cap);
    memset(out, 0, sizeof *out);
    out->max_mae = out->max_rmse = out->min_r2 = out->min_samples = NAN;
    if (!json_is_object(body))
        return s_fail(why, cap, "%s", "the request must be a JSON object");
    char filter[512];
    if (s_parse_metrics(body, out, why, cap) != 0
        || s_string(body, "output_type", out->output_type, sizeof out->output_type, why, cap) != 0
        || s_string(body, "model_name", out->model_name, sizeof out->model_name, why, cap) != 0
        || s_string(body, "source", out->source, sizeof out->source, why, cap) != 0
        || s_string(body, "filter", filter, sizeof filter, why, cap) != 0
        || s_parse_filter(filter, out, why, cap) != 0)
        return -1;
    size_t t = 0;
    while (t < S_COUNT(s_output_types) && strcmp(out->output_type, s_output_types[t].name) != 0)
        t++;
    if (t == S_COUNT(s_output_types))
        return s_fail(why, cap,
                      "unknown \"output_type\" '%s' (AbsPower, AbsModelWeight, AbsComponentPower, "
                      "AbsComponentModelWeight or the Dyn* equivalents)",
                      out->output_type);
    out->answer = s_output_types[t].answer;
    out->dynamic = s_output_types[t].dynamic;
    const json_t *weight = json_object_get(body, "weight");
    if (weight && !json_is_null(weight) && !json_is_boolean(weight))
        return s_fail(why, cap, "%s", "\"weight\" must be true or false");
    /* Kepler 0.7+ asks for "AbsPower"/"DynPower" with weight=true and reads a component map. */
    if (json_is_true(weight) && out->answer == API_ANSWER_ARCHIVE)
        out->answer = API_ANSWER_COMPONENTS;
    return 0;
}

/* The request's name for a canonical feature, or NULL. */
static const char *s_requested(const api_kepler_request_t *req, const char *feature)
{
    for (size_t i = 0; i < req->metric_count; i++)
        if (strcmp(api_kepler_canonical(req->metrics[i]), feature) == 0)
            return req->metrics[i];
    return NULL;
}

/* Whole-node power comes from ACPI/Redfish/IPMI; the components from RAPL. */
static bool s_source_fits(const char *source, const char *target)
{
    if (!source[0])
        return true;
    bool platform = strstr(source, "acpi") || strstr(source, "redfish") || strstr(source, "ipmi")
                    || strstr(source, "platform");
    return platform == (strcmp(target, "platform") == 0);
}

static double s_fit(const json_t *model, const char *key)
{
    const json_t *value = json_object_get(json_object_get(model, "fit"), key);
    return json_is_number(value) ? json_number_value(value) : NAN;
}

/* Appends "name: reason" to why. */
static void s_reject(char *why, size_t cap, const char *name, const char *fmt, const char *arg)
{
    size_t len = strlen(why);
    if (len + 4 >= cap)
        return;
    len += (size_t) snprintf(why + len, cap - len, "%s%s: ", len ? "; " : "", name);
    if (len < cap)
        snprintf(why + len, cap - len, fmt, arg);
}

static bool s_within(double value, double bound, bool upper)
{
    if (isnan(bound))
        return true;
    return isfinite(value) && (upper ? value <= bound : value >= bound);
}

/* Whether the model can answer this request; when not, the reason goes to why. */
static bool s_suitable(const json_t *model, const api_kepler_request_t *req, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    const char *target = json_string_value(json_object_get(model, "target"));
    const json_t *features = json_object_get(model, "features");
    if (!name || !target || !json_is_array(features))
        return false;
    if (req->model_name[0] && strcmp(req->model_name, name) != 0)
        return false;
    if (!json_is_true(json_object_get(model, "ready")) || !json_is_object(json_object_get(model, "weights"))) {
        const char *reason = json_string_value(json_object_get(model, "reason"));
        s_reject(why, cap, name, "not ready (%s)", reason ? reason : "not trained enough yet");
        return false;
    }
    size_t i;
    const json_t *feature;
    json_array_foreach(features, i, feature) {
        const char *f = json_string_value(feature);
        if (!f || !s_requested(req, f)) {
            s_reject(why, cap, name, "needs %s, which is not among the requested metrics", f ? f : "?");
            return false;
        }
    }
    if (!s_source_fits(req->source, target)) {
        s_reject(why, cap, name, "its target (%s) does not come from the requested source", target);
        return false;
    }
    const json_t *samples = json_object_get(model, "samples");
    if (!s_within(s_fit(model, "mae"), req->max_mae, true) || !s_within(s_fit(model, "rmse"), req->max_rmse, true)
        || !s_within(s_fit(model, "r2"), req->min_r2, false)
        || !s_within(json_is_number(samples) ? json_number_value(samples) : NAN, req->min_samples, false)) {
        s_reject(why, cap, name, "%s", "fails the filter");
        return false;
    }
    return true;
}

/* Whole-node targets first when one model must stand for the node's power. */
static int s_tier(const json_t *model)
{
    const char *target = json_string_value(json_object_get(model, "target"));
    return strcmp(target, "platform") == 0 ? 0 : strcmp(target, "package") == 0 ? 1 : 2;
}

/* Whether `a` beats `b`: a better tier when prefer_node, then the lower MAE (the 2022 server's
   criterion); a model without a fit yet loses to one with. */
static bool s_better(const json_t *a, const json_t *b, bool prefer_node)
{
    if (prefer_node && s_tier(a) != s_tier(b))
        return s_tier(a) < s_tier(b);
    double mae_a = s_fit(a, "mae"), mae_b = s_fit(b, "mae");
    return isfinite(mae_a) && (!isfinite(mae_b) || mae_a < mae_b);
}

/* The model's weights in the request's names, made dynamic when asked. */
static json_t *s_document(const json_t *model, const api_kepler_request_t *req, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    kms_weights_t w;
    const char *names[KMS_SAMPLE_MAX_VALUES] = {0};
    if (kms_weights_from_json(json_object_get(model, "weights"), &w) != 0) {
        s_reject(why, cap, name, "%s", "the trainer's weights are not readable");
        return NULL;
    }
    double dynamic_bias = 0;
    for (size_t i = 0; i < w.numeric_count; i++) {
        names[i] = s_requested(req, w.numeric[i].name);
        if (!names[i]) {
            s_reject(why, cap, name, "needs %s, which is not among the requested metrics", w.numeric[i].name);
            return NULL;
        }
        if (w.numeric[i].variance > 0)
            dynamic_bias += w.numeric[i].weight * w.numeric[i].mean / sqrt(w.numeric[i].variance);
    }
    if (req->dynamic) {
        w.bias = dynamic_bias;
        for (size_t i = 0; i < w.category_count; i++)
            w.category[i].weight = 0;
    }
    json_t *doc = kms_weights_to_json(&w, names);
    if (!doc) {
        s_reject(why, cap, name, "%s", "the trainer's weights are not finite");
        return NULL;
    }
    json_object_set_new(doc, "target", json_incref(json_object_get(model, "target")));
    json_object_set_new(doc, "power", json_string(req->dynamic ? "dynamic" : "absolute"));
    json_object_set_new(doc, "output_type", json_string(req->output_type));
    return doc;
}

static json_t *s_components(const json_t *models, const api_kepler_request_t *req, char *why, size_t cap)
{
    json_t *answer = json_object();
    json_t *best = json_object();  /* target -> model (borrowed references, kept by models) */
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model) {
        if (!json_is_object(model) || !s_suitable(model, req, why, cap))
            continue;
        const char *target = json_string_value(json_object_get(model, "target"));
        const json_t *current = json_object_get(best, target);
        if (!current || s_better(model, current, false))
            json_object_set(best, target, (json_t *) model);
    }
    const char *target;
    json_t *chosen;
    json_object_foreach(best, target, chosen) {
        json_t *doc = s_document(chosen, req, why, cap);
        if (doc)
            json_object_set_new(answer, target, doc);
    }
    json_decref(best);
    if (json_object_size(answer) == 0) {
        json_decref(answer);
        return NULL;
    }
    return answer;
}

static const json_t *s_best(const json_t *models, const api_kepler_request_t *req, char *why, size_t cap)
{
    const json_t *best = NULL;
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model)
        if (json_is_object(model) && s_suitable(model, req, why, cap)
            && (!best || s_better(model, best, true)))
            best = model;
    return best;
}

json_t *api_kepler_answer(const json_t *models, const api_kepler_request_t *req,
                          char archive_model[KMS_NAME_MAX], char *why, size_t cap)
{
    assert(req && archive_model && why && cap);
    archive_model[0] = '\0';
    why[0] = '\0';
    if (!json_is_array(models) || json_array_size(models) == 0) {
        snprintf(why, cap, "the trainer has no models");
        return NULL;
    }
    json_t *answer = NULL;
    if (req->answer == API_ANSWER_COMPONENTS) {
        answer = s_components(models, req, why, cap);
    } else if (req->answer == API_ANSWER_ARCHIVE && req->dynamic) {
        snprintf(why, cap, "archives hold absolute-power models only: ask for %s with \"weight\": true, "
                           "or for DynComponentModelWeight", req->output_type);
        return NULL;
    } else {
        const json_t *best = s_best(models, req, why, cap);
        if (best && req->answer == API_ANSWER_ARCHIVE)
            snprintf(archive_model, KMS_NAME_MAX, "%s", json_string_value(json_object_get(best, "name")));
        else if (best)
            answer = s_document(best, req, why, cap);
    }
    if ((answer || archive_model[0]))
        why[0] = '\0';
    else if (!why[0] && req->model_name[0])
        snprintf(why, cap, "no model is named '%s'", req->model_name);
    else if (!why[0])
        snprintf(why, cap, "no model suits the request");
    return answer;
}
