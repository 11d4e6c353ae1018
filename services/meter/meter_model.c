/*  A served model per powercap zone, made ready for this machine. */
#include "meter_model.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

/* Linux's names and numbering on a one-socket server: the package is intel-rapl:0, its
   sub-zones intel-rapl:0:N, the platform (psys) intel-rapl:1. Models with hardware counters
   come first: they see what cpu time cannot. */
static const meter_zone_info_t s_zones[METER_ZONES] = {
    [METER_PACKAGE] = {"package", "intel-rapl:0", "package-0", {"vm_package_model", NULL}},
    [METER_CORE] = {"core", "intel-rapl:0:0", "core", {"core_model", "vm_core_model"}},
    [METER_UNCORE] = {"uncore", "intel-rapl:0:1", "uncore", {"vm_uncore_model", NULL}},
    [METER_DRAM] = {"dram", "intel-rapl:0:2", "dram", {"dram_model", "vm_dram_model"}},
    [METER_PSYS] = {"psys", "intel-rapl:1", "psys", {"vm_platform_model", NULL}},
};

const meter_zone_info_t *meter_zone_info(meter_zone_t zone)
{
    return zone < METER_ZONES ? &s_zones[zone] : NULL;
}

int meter_zone_find(const char *name)
{
    for (int z = 0; z < METER_ZONES; z++)
        if (strcmp(s_zones[z].zone, name) == 0)
            return z;
    return -1;
}

const char *meter_arch_match_name(meter_arch_match_t match)
{
    static const char *const names[] = {"exact", "nearest", "generic"};
    return match <= METER_ARCH_GENERIC ? names[match] : "?";
}

const char *meter_reject_name(meter_reject_t reason)
{
    static const char *const names[] = {"parse", "features", "watts"};
    return reason <= METER_REJECT_WATTS ? names[reason] : "?";
}

/* How many whole words, compared without case, `a` and `b` share from their start. */
static size_t s_common_words(const char *a, const char *b)
{
    size_t words = 0;
    for (size_t i = 0;; i++) {
        bool a_end = a[i] == '\0' || a[i] == ' ', b_end = b[i] == '\0' || b[i] == ' ';
        if (a_end && b_end) {
            if (i > 0 && a[i - 1] != ' ')
                words++;
            if (a[i] == '\0' || b[i] == '\0')
                return words;
        } else if (a_end != b_end || tolower((unsigned char) a[i]) != tolower((unsigned char) b[i])) {
            return words;
        }
    }
}

static void s_choose_arch(meter_model_t *m, const char *arch)
{
    const kms_weights_t *w = &m->weights;
    size_t best = 0, best_words = 0;
    double sum = 0;
    for (size_t i = 0; i < w->category_count; i++) {
        if (strcmp(w->category[i].name, arch) == 0) {
            m->match = METER_ARCH_EXACT;
            m->arch_weight = w->category[i].weight;
            snprintf(m->arch_used, sizeof m->arch_used, "%s", w->category[i].name);
            return;
        }
        size_t words = s_common_words(w->category[i].name, arch);
        if (words > best_words) {
            best_words = words;
            best = i;
        }
        sum += w->category[i].weight;
    }
    if (best_words >= 2) {
        m->match = METER_ARCH_NEAREST;
        m->arch_weight = w->category[best].weight;
        snprintf(m->arch_used, sizeof m->arch_used, "%s", w->category[best].name);
        return;
    }
    m->match = METER_ARCH_GENERIC;
    m->arch_weight = w->category_count ? sum / (double) w->category_count : 0;
    m->arch_used[0] = '\0';
}

double meter_model_predict(const meter_model_t *model, const kms_sample_t *usage)
{
    if (!model->curve)
        return kms_weights_predict(&model->weights, usage);
    double x;
    return kms_values_get(&usage->features, model->weights.numeric[0].name, &x) ? kms_family_fit_eval(&model->fit, x)
                                                                               : NAN;
}

/* Zero usage, and every cpu busy with the other features at a typical level: one standard
   deviation of their training data (the document's scale; its means are 0, kms_weights.h). */
static bool s_watts_sane(const meter_model_t *m, double cpus, double max_watts)
{
    static kms_sample_t probe;  /* large: not on the stack; one thread parses */
    memset(&probe, 0, sizeof probe);
    for (size_t i = 0; i < m->weights.numeric_count; i++)
        kms_values_set(&probe.features, m->weights.numeric[i].name, 0);
    double idle = meter_model_predict(m, &probe);
    for (size_t i = 0; i < m->weights.numeric_count; i++) {
        const kms_weight_numeric_t *n = &m->weights.numeric[i];
        kms_values_set(&probe.features, n->name, strcmp(n->name, KMS_F_CPU_TIME) == 0 ? cpus : n->scale);
    }
    double busy = meter_model_predict(m, &probe);
    return isfinite(idle) && isfinite(busy) && fabs(idle) <= max_watts && fabs(busy) <= max_watts;
}

int meter_model_parse(const char *body, size_t len, const char *arch, const kms_values_t *have, double cpus,
                      double max_watts, meter_model_t *out, meter_reject_t *why)
{
    memset(out, 0, sizeof *out);
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = doc && kms_weights_from_json(doc, &out->weights) == 0 ? 0 : -1;
    double rmse;
    out->curve = rc == 0 && out->weights.numeric_count == 1 &&
                 kms_family_fit_from_json(json_object_get(doc, "families"), -1, &out->fit, &rmse) == 0;
    json_decref(doc);
    if (rc != 0) {
        *why = METER_REJECT_PARSE;
        return -1;
    }
    double unused;
    for (size_t i = 0; i < out->weights.numeric_count; i++)
        if (!kms_values_get(have, out->weights.numeric[i].name, &unused)) {
            *why = METER_REJECT_FEATURES;
            return -1;
        }
    s_choose_arch(out, arch);
    out->weights.bias += out->arch_weight;
    out->weights.category_count = 0;
    if (!isfinite(out->weights.bias) || !s_watts_sane(out, cpus, max_watts)) {
        *why = METER_REJECT_WATTS;
        return -1;
    }
    return 0;
}
