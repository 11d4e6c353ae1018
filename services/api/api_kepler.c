#include "api_kepler.h"

#include "kms_num.h"
#include "kms_weights.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Kepler's metric names for the canonical features, with their units: how many of Kepler's
   units make one canonical unit (per second, cpu-seconds, bytes). 0.4-0.5.4 name the cpu time
   "cpu_time" and 0.5.5-0.7.2 "bpf_cpu_time_us", both counting milliseconds (the eBPF program
   sums nanoseconds / 1000000); 0.7.3+ "bpf_cpu_time_ms". Page-cache hits and irqs are the
   rates of Kepler's own counters, in whatever unit it counts them (0.7.12: hits in millions),
   since the scraper publishes those rates as they are. Memory is the kubelet's working set
   or cgroupfs' usage, a level. The curr_* names are the 2022 server's (node_energy_stat
   labels, cpu time in microseconds). */
static const struct {
    const char *name, *canonical;
    double per_canonical;
    bool level; /* a gauge: Kepler feeds its predictor its change, never its level */
} s_names[] = {
    {"cpu_instr", KMS_F_CPU_INSTRUCTIONS, 1, false},
    {"curr_cpu_instr", KMS_F_CPU_INSTRUCTIONS, 1, false},
    {"curr_cpu_instructions", KMS_F_CPU_INSTRUCTIONS, 1, false},
    {"curr_cpu_cycles", KMS_F_CPU_CYCLES, 1, false},
    {"cache_miss", KMS_F_CACHE_MISSES, 1, false},
    {"curr_cache_miss", KMS_F_CACHE_MISSES, 1, false},
    {"curr_cache_misses", KMS_F_CACHE_MISSES, 1, false},
    {KMS_F_CPU_TIME, KMS_F_CPU_TIME, 1000, false},
    {"bpf_cpu_time_us", KMS_F_CPU_TIME, 1000, false},
    {"bpf_cpu_time_ms", KMS_F_CPU_TIME, 1000, false},
    {"curr_cpu_time", KMS_F_CPU_TIME, 1e6, false},
    {"bpf_page_cache_hit", KMS_F_PAGE_CACHE_HITS, 1, false},
    {"bpf_block_irq", KMS_F_IRQ_BLOCK, 1, false},
    {"bpf_net_rx_irq", KMS_F_IRQ_NET_RX, 1, false},
    {"bpf_net_tx_irq", KMS_F_IRQ_NET_TX, 1, false},
    {"container_memory_working_set_bytes", KMS_F_RESIDENT_MEMORY, 1, true},
    {"cgroupfs_memory_usage_bytes", KMS_F_RESIDENT_MEMORY, 1, true},
    {"curr_resident_memory", KMS_F_RESIDENT_MEMORY, 1, true},
    {KMS_F_RESIDENT_MEMORY, KMS_F_RESIDENT_MEMORY, 1, true},
};

static const struct {
    const char *name, *releases;
} s_eras[API_KEPLER_ERAS] = {
    [API_KEPLER_0_4] = {"0.4", "0.4-0.5.3"},
    [API_KEPLER_0_5_4] = {"0.5.4", "0.5.4-0.7.2"},
    [API_KEPLER_0_7_3] = {"0.7.3", "0.7.3-0.7.11"},
    [API_KEPLER_0_7_12] = {"0.7.12", "0.7.12-0.9"},
};

/* clang-format off */
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
/* clang-format on */

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static size_t s_name_index(const char *name)
{
    size_t i = 0;
    while (i < S_COUNT(s_names) && strcmp(name, s_names[i].name) != 0)
        i++;
    return i;
}

const char *api_kepler_canonical(const char *name, double *per_canonical)
{
    size_t i = s_name_index(name);
    if (per_canonical)
        *per_canonical = i < S_COUNT(s_names) ? s_names[i].per_canonical : 1;
    return i < S_COUNT(s_names) ? s_names[i].canonical : name;
}

const char *api_kepler_era_name(api_kepler_era_t era)
{
    return era >= 0 && era < API_KEPLER_ERAS ? s_eras[era].name : "auto";
}

/* "0.6" is inside the era that starts at 0.5.4: releases are compared part by part. */
static bool s_version(const char *text, long parts[3])
{
    char *end;
    parts[0] = parts[1] = parts[2] = 0;
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char) *text))
            return false;
        parts[i] = strtol(text, &end, 10);
        text = end;
        if (*text == '\0')
            return true;
        if (*text != '.' || i == 2)
            return false;
        text++;
    }
    return false;
}

int api_kepler_era_parse(const char *text)
{
    if (!text || strcmp(text, "auto") == 0)
        return API_KEPLER_ERA_AUTO;
    long v[3], first[3];
    if (*text == 'v')
        text++;
    if (!s_version(text, v) || v[0] != 0 || v[1] < 4 || v[1] > 9)
        return -2;
    int era = API_KEPLER_0_4;
    for (int e = 1; e < API_KEPLER_ERAS; e++) {
        s_version(s_eras[e].name, first);
        if (v[1] > first[1] || (v[1] == first[1] && v[2] >= first[2]))
            era = e;
    }
    return era;
}

__attribute__((format(printf, 3, 4))) static int s_fail(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
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
        double *bound = strcmp(key, "mae") == 0       ? &out->max_mae
                        : strcmp(key, "rmse") == 0    ? &out->max_rmse
                        : strcmp(key, "r2") == 0      ? &out->min_r2
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
        return s_fail(why, cap, "\"metrics\" must be a list of metric names");
    if (json_array_size(metrics) > API_KEPLER_MAX_METRICS)
        return s_fail(why, cap, "\"metrics\" has too many names");
    size_t i;
    const json_t *name;
    json_array_foreach(metrics, i, name) {
        if (!json_is_string(name))
            return s_fail(why, cap, "\"metrics\" must be a list of metric names");
        if (json_string_length(name) >= KMS_NAME_MAX)
            return s_fail(why, cap, "a name in \"metrics\" is too long");
        if (json_string_length(name) == 0)
            continue;
        memcpy(out->metrics[out->metric_count++], json_string_value(name), json_string_length(name) + 1);
    }
    return 0;
}

/* The generation that sent the request, by the fields and names only it uses: *ModelWeight
   types are 0.4-0.5.3's, "machine_spec" is 0.7.12's and later's, bpf_cpu_time_ms 0.7.3's and
   later's (pkg/config/types.go of each release). */
static api_kepler_era_t s_era_of(const json_t *body, const api_kepler_request_t *req)
{
    size_t len = strlen(req->output_type);
    if (len > 11 && strcmp(req->output_type + len - 11, "ModelWeight") == 0)
        return API_KEPLER_0_4;
    if (json_object_get(body, "machine_spec"))
        return API_KEPLER_0_7_12;
    for (size_t i = 0; i < req->metric_count; i++)
        if (strcmp(req->metrics[i], "bpf_cpu_time_ms") == 0)
            return API_KEPLER_0_7_3;
    return API_KEPLER_0_5_4;
}

/* Kepler names the trainer whose models it wants (SGDRegressorTrainer by default, 0.7+); a
   request names a linear one: curves go only to 0.7.12+ unasked, which takes the trainer from
   the answer's model_name (and asks once, at start). */
static bool s_linear_trainer(const char *name)
{
    return !name[0] || strcmp(name, "SGDRegressorTrainer") == 0 || strstr(name, "Linear") || strstr(name, "linear");
}

/* Kepler's MachineSpec (pkg/config/spec.go): its fields and whether each is a string. */
static const struct {
    const char *key;
    bool text;
} s_spec_fields[] = {{"vendor", true},  {"processor", true},  {"cores", false},           {"chips", false},
                     {"memory", false}, {"frequency", false}, {"threads_per_core", false}};

static int s_spec_check(const char *what, const json_t *spec, char *why, size_t cap)
{
    if (!json_is_object(spec))
        return s_fail(why, cap, "%s must be an object (Kepler's machine_spec)", what);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *) spec, key, value) {
        size_t f = 0;
        while (f < S_COUNT(s_spec_fields) && strcmp(s_spec_fields[f].key, key) != 0)
            f++;
        if (f == S_COUNT(s_spec_fields))
            return s_fail(why, cap,
                          "%s: unknown field \"%.64s\" (vendor, processor, cores, chips, memory, "
                          "frequency, threads_per_core)",
                          what, key);
        bool whole = json_is_integer(value) && json_integer_value(value) >= 0;
        if (!json_is_null(value) && !(s_spec_fields[f].text ? json_is_string(value) : whole))
            return s_fail(why, cap, "%s: \"%s\" must be %s", what, key,
                          s_spec_fields[f].text ? "a string" : "a whole number, 0 or more");
    }
    return 0;
}

int api_kepler_machines_check(const json_t *machines, char *why, size_t cap)
{
    if (!json_is_object(machines) || json_object_size(machines) == 0)
        return s_fail(why, cap, "the machine specs must be a non-empty object: {\"<cpu_architecture>\": {spec}, ...}");
    const char *arch;
    const json_t *spec;
    json_object_foreach((json_t *) machines, arch, spec) {
        char what[96];
        snprintf(what, sizeof what, "machine \"%.64s\"", arch);
        if (strlen(arch) == 0 || strlen(arch) >= KMS_NAME_MAX)
            return s_fail(why, cap, "a machine's cpu_architecture must be 1 to %d characters", KMS_NAME_MAX - 1);
        if (s_spec_check(what, spec, why, cap) != 0)
            return -1;
    }
    return 0;
}

static const char *s_spec_text(const json_t *spec, const char *key)
{
    const char *text = json_string_value(json_object_get(spec, key));
    return text ? text : "";
}

static double s_spec_number(const json_t *spec, const char *key)
{
    const json_t *value = json_object_get(spec, key);
    return json_is_integer(value) ? (double) json_integer_value(value) : 0;
}

/* How far two positive quantities are, as a ratio; 0 when either is unknown (0). */
static double s_log_distance(double a, double b)
{
    return a > 0 && b > 0 ? fabs(log(a / b)) : 0;
}

/* The known machine the request's spec names (same processor), else the nearest: the same
   vendor first, then the closest core count and frequency (as ratios). A spec that names
   neither processor nor vendor (the init URL's, which has no requester) picks none. */
static void s_pick_machine(const json_t *machines, const json_t *spec, api_kepler_request_t *out)
{
    const char *processor = s_spec_text(spec, "processor"), *vendor = s_spec_text(spec, "vendor");
    if (!processor[0] && !vendor[0])
        return;
    double best = INFINITY;
    const char *arch;
    const json_t *known;
    json_object_foreach((json_t *) machines, arch, known) {
        bool exact = processor[0] && strcmp(processor, s_spec_text(known, "processor")) == 0;
        double other_vendor = strcmp(vendor, s_spec_text(known, "vendor")) != 0 ? 100 : 0;
        double distance = exact ? -1
                                : other_vendor
                                      + s_log_distance(s_spec_number(spec, "cores"), s_spec_number(known, "cores"))
                                      + s_log_distance(s_spec_number(spec, "frequency"),
                                                       s_spec_number(known, "frequency"));
        if (distance < best) {
            best = distance;
            snprintf(out->machine, sizeof out->machine, "%s", arch);
            out->machine_spec = known;
            out->machine_exact = exact;
        }
    }
}

int api_kepler_parse(const json_t *body, const api_kepler_config_t *config, api_kepler_request_t *out, char *why,
                     size_t cap)
{
    assert(config && out && why && cap);
    memset(out, 0, sizeof *out);
    out->max_mae = out->max_rmse = out->min_r2 = out->min_samples = NAN;
    out->sample_period = config->sample_period;
    if (!json_is_object(body))
        return s_fail(why, cap, "the request must be a JSON object");
    char filter[512];
    if (s_parse_metrics(body, out, why, cap) != 0
        || s_string(body, "output_type", out->output_type, sizeof out->output_type, why, cap) != 0
        || s_string(body, "model_name", out->model_name, sizeof out->model_name, why, cap) != 0
        || s_string(body, "source", out->source, sizeof out->source, why, cap) != 0
        || s_string(body, "trainer_name", out->trainer_name, sizeof out->trainer_name, why, cap) != 0
        || s_string(body, "filter", filter, sizeof filter, why, cap) != 0 || s_parse_filter(filter, out, why, cap) != 0)
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
        return s_fail(why, cap, "\"weight\" must be true or false");
    const json_t *node_type = json_object_get(body, "node_type");
    if (node_type && !json_is_null(node_type) && !json_is_integer(node_type))
        return s_fail(why, cap, "\"node_type\" must be an integer");
    const json_t *spec = json_object_get(body, "machine_spec");
    if (spec && !json_is_null(spec) && s_spec_check("\"machine_spec\"", spec, why, cap) != 0)
        return -1;
    if (json_is_object(spec) && config->machines)
        s_pick_machine(config->machines, spec, out);
    if (!s_linear_trainer(out->trainer_name))
        return s_fail(why, cap,
                      "a request may name a linear trainer only (SGDRegressorTrainer's format), not %s; "
                      "curves go to Kepler 0.7.12+ unasked, named in the answer's model_name",
                      out->trainer_name);
    /* Kepler 0.5.4+ asks for "AbsPower"/"DynPower" with weight=true and reads a component map. */
    if (json_is_true(weight) && out->answer == API_ANSWER_ARCHIVE)
        out->answer = API_ANSWER_COMPONENTS;
    out->era = config->era >= 0 && config->era < API_KEPLER_ERAS ? (api_kepler_era_t) config->era : s_era_of(body, out);
    out->curves = true;
    return 0;
}

int api_kepler_init_request(const char *source, const api_kepler_config_t *config, api_kepler_request_t *out, char *why,
                            size_t cap)
{
    /* Kepler 0.7.12's default node features (pkg/config/types.go, pkg/bpf: the software and
       hardware counters its eBPF program reads) and its system feature. */
    json_t *body = json_pack("{s:[s,s,s,s,s,s,s,s,s], s:s, s:s, s:b, s:{}}", "metrics", "bpf_cpu_time_ms",
                             "bpf_page_cache_hit", "bpf_net_tx_irq", "bpf_net_rx_irq", "bpf_block_irq", "cpu_cycles",
                             "cpu_instructions", "cache_miss", "cpu_architecture", "output_type", "AbsPower", "source",
                             source, "weight", 1, "machine_spec");
    int rc = body ? api_kepler_parse(body, config, out, why, cap) : s_fail(why, cap, "out of memory");
    json_decref(body);
    out->curves = false; /* the order above is 0.7.12's, not every reader's (api_kepler.h) */
    return rc;
}

/* The request's name for a canonical feature, or NULL. A memory metric never counts: every
   generation feeds its predictor the memory's change over the sample period (0.5.x:
   cgroup_stats_linux.go's SetAggrStat) or nothing, never the level a model learned from. */
static const char *s_requested(const api_kepler_request_t *req, const char *feature)
{
    for (size_t i = 0; i < req->metric_count; i++) {
        size_t n = s_name_index(req->metrics[i]);
        if (strcmp(api_kepler_canonical(req->metrics[i], NULL), feature) == 0
            && !(n < S_COUNT(s_names) && s_names[n].level))
            return req->metrics[i];
    }
    return NULL;
}

/* Whole-node power comes from ACPI/Redfish/IPMI; the components from RAPL. */
static bool s_platform_source(const char *source)
{
    return strstr(source, "acpi") || strstr(source, "redfish") || strstr(source, "ipmi") || strstr(source, "platform");
}

/* The targets a request can be answered with: node total power (platform) for a one-document
   type or a platform source, RAPL's components otherwise. A node-total request never gets a
   component model: 0.4 would book a dram model as the node's power. */
static bool s_target_fits(const api_kepler_request_t *req, const char *target)
{
    bool components = req->answer == API_ANSWER_COMPONENTS || strstr(req->output_type, "Component");
    if (!components || s_platform_source(req->source))
        return strcmp(target, "platform") == 0;
    static const char *const rapl[] = {"package", "core", "uncore", "dram"};
    for (size_t i = 0; i < S_COUNT(rapl); i++)
        if (strcmp(target, rapl[i]) == 0)
            return true;
    return false;
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

/* The curve this model answers the request with (its kind), or -1 for its linear weights:
   see the header. */
static int s_curve(const json_t *model, const api_kepler_request_t *req, kms_family_fit_t *fit, double *rmse)
{
    if (!req->curves || req->answer != API_ANSWER_COMPONENTS || req->era != API_KEPLER_0_7_12 || req->metric_count == 0)
        return -1;
    const json_t *features = json_object_get(model, "features");
    const char *feature = json_string_value(json_array_get(features, 0));
    if (json_array_size(features) != 1 || !feature || s_requested(req, feature) != req->metrics[0])
        return -1;
    if (kms_family_fit_from_json(json_object_get(model, "families"), -1, fit, rmse) != 0)
        return -1;
    return (int) fit->kind;
}

/* Whether the model can answer this request; when not, the reason goes to why, and *pending
   is set when it will once trained enough. */
static bool s_suitable(const json_t *model, const api_kepler_request_t *req, bool *pending, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    const char *target = json_string_value(json_object_get(model, "target"));
    const json_t *features = json_object_get(model, "features");
    if (!name || !target || !json_is_array(features))
        return false;
    if (req->model_name[0] && strcmp(req->model_name, name) != 0)
        return false;
    if (!s_target_fits(req, target)) {
        s_reject(why, cap, name, "its target (%s) is not what the request asks for", target);
        return false;
    }
    size_t i;
    const json_t *feature;
    json_array_foreach(features, i, feature) {
        const char *f = json_string_value(feature);
        if (!f || !s_requested(req, f)) {
            s_reject(why, cap, name,
                     f && strcmp(f, KMS_F_RESIDENT_MEMORY) == 0
                         ? "needs %s, whose level no Kepler generation hands its predictor"
                         : "needs %s, which is not among the requested metrics",
                     f ? f : "?");
            return false;
        }
    }
    if (!json_is_true(json_object_get(model, "ready")) || !json_is_object(json_object_get(model, "weights"))) {
        const char *reason = json_string_value(json_object_get(model, "reason"));
        s_reject(why, cap, name, "not ready (%s)", reason ? reason : "not trained enough yet");
        *pending = true;
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

/* Whether `a` beats `b`: the lower MAE (the 2022 server's criterion); the lower recent RMSE
   when either answers with a curve; a model without a fit yet loses to one with. */
static bool s_better(const json_t *a, const json_t *b, const api_kepler_request_t *req)
{
    kms_family_fit_t fit;
    double ea, eb;
    bool curve_a = s_curve(a, req, &fit, &ea) >= 0, curve_b = s_curve(b, req, &fit, &eb) >= 0;
    if (curve_a || curve_b) {
        ea = curve_a ? ea : s_fit(a, "window_rmse");
        eb = curve_b ? eb : s_fit(b, "window_rmse");
    } else {
        ea = s_fit(a, "mae");
        eb = s_fit(b, "mae");
    }
    return isfinite(ea) && (!isfinite(eb) || ea < eb);
}

/* What the generation multiplies the predictor's output by before it books watts, so that
   the document is multiplied by the inverse:
     0.4-0.5.3    pkg/model/estimator/local/lr.go's output is taken as mJ over a sample period
                  (watts = output / (1000 * period));
     0.5.4-0.7.2  pkg/model/node_component_energy.go multiplies power.Core by the period twice
                  (watts = output * period), node_platform_energy.go books the platform's
                  output as mJ with no x1000 (watts = output / 1000);
     0.7.3-0.7.11 node_platform_energy.go: uint64(output) * period as mJ (watts = output / 1000);
     0.7.12-0.9   utils.GetComponentPower / GetPlatformPower: x1000 to mW, x period to mJ. */
static double s_output_factor(const api_kepler_request_t *req, const char *target)
{
    bool platform = strcmp(target, "platform") == 0;
    switch (req->era) {
    case API_KEPLER_0_4: return 1000 * req->sample_period;
    case API_KEPLER_0_5_4: return platform ? 1000 : strcmp(target, "core") == 0 ? 1 / req->sample_period : 1;
    case API_KEPLER_0_7_3: return platform ? 1000 : 1;
    default: return 1;
    }
}

/* How many of the request's units make one canonical unit of feature `name` (a counter: levels
   are never served, s_requested): the name's unit, and for 0.4-0.5.3 the sample period, since
   those feed counts per period, not per second. */
static double s_input_factor(const api_kepler_request_t *req, const char *name)
{
    double unit;
    api_kepler_canonical(name, &unit);
    return req->era == API_KEPLER_0_4 ? unit * req->sample_period : unit;
}

/* The fields every answered document carries besides its weights. */
static void s_describe(json_t *doc, const char *target, const api_kepler_request_t *req)
{
    json_object_update_new(doc, json_pack("{s:s, s:s, s:s, s:s}", "target", target, "power",
                                          req->dynamic ? "dynamic" : "absolute", "output_type", req->output_type,
                                          "kepler", s_eras[req->era].releases));
}

/* Kepler reads everything before a model name's last '_' as the trainer: "<trainer>_<name>"
   with the name's own underscores made dashes. */
static void s_trainer_model_name(char out[KMS_NAME_MAX], kms_family_kind_t family, const char *name)
{
    snprintf(out, KMS_NAME_MAX, "%s_%s", kms_family_trainer(family), name);
    for (char *p = out + strlen(kms_family_trainer(family)) + 1; *p; p++)
        if (*p == '_')
            *p = '-';
}

/* A curve in Kepler's form, in the request's units, made dynamic when asked: the scale in the
   first metric's units, the outer parameters times the output factor, less the value at zero
   usage for dynamic power. The first metric's scale is all the predictor reads. */
static json_t *s_curve_document(const json_t *model, kms_family_fit_t fit, const api_kepler_request_t *req)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    const char *target = json_string_value(json_object_get(model, "target"));
    double c = s_output_factor(req, target);
    fit.scale *= s_input_factor(req, req->metrics[0]);
    fit.params[0] *= c;
    fit.params[fit.param_count - 1] *= c;
    if (req->dynamic)
        fit.params[fit.param_count - 1] -= kms_family_fit_eval(&fit, 0);
    char model_name[KMS_NAME_MAX];
    s_trainer_model_name(model_name, fit.kind, name);
    json_t *params = json_array();
    for (size_t p = 0; p < fit.param_count; p++)
        json_array_append_new(params, json_real(fit.params[p]));
    json_t *doc = json_pack("{s:{s:{s:{}}, s:{s:{s:f, s:f, s:f, s:f}}, s:o}, s:s, s:s}", "All_Weights",
                            "Categorical_Variables", KMS_WEIGHTS_CATEGORY, "Numerical_Variables", req->metrics[0],
                            "mean", 0.0, "variance", fit.scale * fit.scale, "scale", fit.scale, "weight", 0.0,
                            "CurveFit_Weights", params, "model_name", model_name, "family", kms_family_name(fit.kind));
    if (doc)
        s_describe(doc, target, req);
    return doc;
}

/* The picked machine's architecture term in the bias, and no other: the document is that
   machine's model whatever architecture the requesting Kepler reads for itself. An
   architecture the model never learned has term 0 (the bias is the average of those learned). */
static void s_fold_machine(kms_weights_t *w, const char *arch)
{
    for (size_t i = 0; i < w->category_count; i++)
        if (strcmp(w->category[i].name, arch) == 0)
            w->bias += w->category[i].weight;
    w->category_count = 1;
    snprintf(w->category[0].name, sizeof w->category[0].name, "%s", arch);
    w->category[0].weight = 0;
}

/* The model's weights in the request's names and units, made dynamic when asked: with x in
   the request's units (x = u * canonical) and c the generation's output factor,
   c * (bias + w * x / (u * scale)) is c times the model's watts. */
static json_t *s_document(const json_t *model, const api_kepler_request_t *req, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    const char *target = json_string_value(json_object_get(model, "target"));
    kms_weights_t w;
    const char *names[KMS_SAMPLE_MAX_VALUES] = {0};
    if (kms_weights_from_json(json_object_get(model, "weights"), &w) != 0) {
        s_reject(why, cap, name, "%s", "the trainer's weights are not readable");
        return NULL;
    }
    double c = s_output_factor(req, target);
    for (size_t i = 0; i < w.numeric_count; i++) {
        names[i] = s_requested(req, w.numeric[i].name);
        if (!names[i]) {
            s_reject(why, cap, name, "needs %s, which is not among the requested metrics", w.numeric[i].name);
            return NULL;
        }
        w.numeric[i].scale *= s_input_factor(req, names[i]);
        w.numeric[i].weight *= c;
    }
    w.bias = req->dynamic ? 0 : w.bias * c;
    for (size_t i = 0; i < w.category_count; i++)
        w.category[i].weight = req->dynamic ? 0 : w.category[i].weight * c;
    if (req->machine[0])
        s_fold_machine(&w, req->machine);
    json_t *doc = kms_weights_to_json(&w, names);
    if (!doc) {
        s_reject(why, cap, name, "%s", "the trainer's weights are not finite");
        return NULL;
    }
    s_describe(doc, target, req);
    return doc;
}

static json_t *s_components(const json_t *models, const api_kepler_request_t *req, bool *pending, char *why, size_t cap)
{
    json_t *answer = json_object();
    json_t *best = json_object(); /* target -> model (borrowed references, kept by models) */
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model) {
        if (!s_suitable(model, req, pending, why, cap))
            continue;
        const char *target = json_string_value(json_object_get(model, "target"));
        const json_t *current = json_object_get(best, target);
        if (!current || s_better(model, current, req))
            json_object_set(best, target, (json_t *) model);
    }
    /* One trainer for the whole answer (0.7.12 reads it from the top): curves only when every
       chosen model answers with the same family. */
    const char *target;
    json_t *chosen;
    int family = -2;
    kms_family_fit_t fit;
    double rmse;
    const char *first = NULL;
    json_object_foreach(best, target, chosen) {
        int f = s_curve(chosen, req, &fit, &rmse);
        family = family == -2 || family == f ? f : -1;
        first = first ? first : json_string_value(json_object_get(chosen, "name"));
    }
    json_object_foreach(best, target, chosen) {
        json_t *doc = family >= 0 && s_curve(chosen, req, &fit, &rmse) >= 0 ? s_curve_document(chosen, fit, req)
                                                                            : s_document(chosen, req, why, cap);
        if (doc)
            json_object_set_new(answer, target, doc);
        /* 0.4-0.5.4 look the package up as "pkg" (pkg/collector/metric/node_metric.go). */
        if (doc && strcmp(target, "package") == 0 && req->era <= API_KEPLER_0_5_4)
            json_object_set(answer, "pkg", doc);
    }
    json_decref(best);
    if (json_object_size(answer) == 0) {
        json_decref(answer);
        return NULL;
    }
    if (first && family >= 0) {
        char model_name[KMS_NAME_MAX];
        s_trainer_model_name(model_name, (kms_family_kind_t) family, first);
        json_object_set_new(answer, "model_name", json_string(model_name));
    }
    if (req->machine[0]) {
        json_object_set_new(answer, "machine_spec", json_deep_copy(req->machine_spec));
        json_object_set_new(answer, "machine_match",
                            json_pack("{s:s, s:s}", "cpu_architecture", req->machine, "match",
                                      req->machine_exact ? "exact" : "nearest"));
    }
    return answer;
}

static const json_t *s_best(const json_t *models, const api_kepler_request_t *req, bool *pending, char *why, size_t cap)
{
    const json_t *best = NULL;
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model) {
        if (s_suitable(model, req, pending, why, cap) && (!best || s_better(model, best, req)))
            best = model;
    }
    return best;
}

json_t *api_kepler_answer(const json_t *models, const api_kepler_request_t *req, char archive_model[KMS_NAME_MAX],
                          int *status, char *why, size_t cap)
{
    assert(req && archive_model && status && why && cap);
    archive_model[0] = '\0';
    why[0] = '\0';
    *status = 404;
    if (!json_is_array(models) || json_array_size(models) == 0) {
        snprintf(why, cap, "the trainer has no models");
        return NULL;
    }
    json_t *answer = NULL;
    bool pending = false;
    if (req->answer == API_ANSWER_COMPONENTS) {
        answer = s_components(models, req, &pending, why, cap);
    } else {
        const json_t *best = s_best(models, req, &pending, why, cap);
        if (best && req->answer == API_ANSWER_ARCHIVE)
            snprintf(archive_model, KMS_NAME_MAX, "%s", json_string_value(json_object_get(best, "name")));
        else if (best)
            answer = s_document(best, req, why, cap);
    }
    if (answer || archive_model[0]) {
        why[0] = '\0';
        *status = 200;
        return answer;
    }
    *status = pending ? 503 : 404;
    if (!why[0] && req->model_name[0])
        snprintf(why, cap, "no model is named '%s'", req->model_name);
    else if (!why[0])
        snprintf(why, cap, "no model suits the request");
    return NULL;
}
