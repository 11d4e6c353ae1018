/*  A served model per powercap zone, made ready for this machine. */
#include "meter_model.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Linux's names and numbering on a one-socket server: the package is intel-rapl:0, its
   sub-zones intel-rapl:0:N, the platform (psys) intel-rapl:1. Each zone's model is a per-cpu
   one: a node model (core_model...) charges a VM its training host's whole idle power. */
static const meter_zone_info_t s_zones[METER_ZONES] = {
    [METER_PACKAGE] = {"package", "intel-rapl:0", "package-0", "vm_package_model"},
    [METER_CORE] = {"core", "intel-rapl:0:0", "core", "vm_core_model"},
    [METER_UNCORE] = {"uncore", "intel-rapl:0:1", "uncore", "vm_uncore_model"},
    [METER_DRAM] = {"dram", "intel-rapl:0:2", "dram", "vm_dram_model"},
    [METER_PSYS] = {"psys", "intel-rapl:1", "psys", "vm_platform_model"},
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
    static const char *const names[] = {"exact", "nearest", "generic", "prior"};
    return match <= METER_ARCH_PRIOR ? names[match] : "?";
}

const char *meter_reject_name(meter_reject_t reason)
{
    static const char *const names[] = {"parse", "node_model", "features", "watts"};
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

/* The architecture's weight, folded into the bias, and how it was found (out is zeroed). */
static void s_choose_arch(meter_model_t *m, const char *arch)
{
    kms_weights_t *w = &m->weights;
    size_t best = 0, best_words = 0, i = 0;
    double sum = 0;
    for (; i < w->category_count && strcmp(w->category[i].name, arch) != 0; i++) {
        size_t words = s_common_words(w->category[i].name, arch);
        if (words > best_words) {
            best_words = words;
            best = i;
        }
        sum += w->category[i].weight;
    }
    m->match = i < w->category_count ? METER_ARCH_EXACT : best_words >= 2 ? METER_ARCH_NEAREST : METER_ARCH_GENERIC;
    if (m->match == METER_ARCH_GENERIC) {
        w->bias += w->category_count ? sum / (double) w->category_count : 0;
        return;
    }
    best = m->match == METER_ARCH_EXACT ? i : best;
    w->bias += w->category[best].weight;
    snprintf(m->arch_used, sizeof m->arch_used, "%s", w->category[best].name);
}

double meter_model_cpu_watts(const meter_model_t *model, double utilization)
{
    const kms_weights_t *w = &model->weights; /* one feature, the architecture folded in */
    return model->curve ? kms_family_fit_eval(&model->fit, utilization)
                        : w->bias + w->numeric[0].weight * (utilization / w->numeric[0].scale);
}

/* One cpu idle and one cpu busy: finite, not negative, and the machine's `cpus` of them within
   max_watts. */
static bool s_watts_sane(const meter_model_t *m, double cpus, double max_watts)
{
    double idle = meter_model_cpu_watts(m, 0), busy = meter_model_cpu_watts(m, 1);
    return isfinite(idle) && isfinite(busy) && idle >= 0 && busy >= 0 && cpus * idle <= max_watts
           && cpus * busy <= max_watts;
}

/* The one feature a per-cpu model may have: what a VM knows of itself. */
static bool s_features_ok(const kms_weights_t *w)
{
    return w->numeric_count == 1 && strcmp(w->numeric[0].name, KMS_F_CPU_UTILIZATION) == 0;
}

int meter_model_parse(const char *body, size_t len, const char *arch, double cpus, double max_watts, meter_model_t *out,
                      meter_reject_t *why)
{
    memset(out, 0, sizeof *out);
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = doc && kms_weights_from_json(doc, &out->weights) == 0 ? 0 : -1;
    bool per_cpu = json_is_true(json_object_get(doc, "per_logical_cpu"));
    double rmse;
    out->curve = rc == 0 && out->weights.numeric_count == 1
                 && kms_family_fit_from_json(json_object_get(doc, "families"), -1, &out->fit, &rmse) == 0;
    json_decref(doc);
    if (rc != 0 || !per_cpu || !s_features_ok(&out->weights)) {
        *why = rc != 0 ? METER_REJECT_PARSE : !per_cpu ? METER_REJECT_NODE : METER_REJECT_FEATURES;
        return -1;
    }
    s_choose_arch(out, arch);
    out->weights.category_count = 0;
    if (!isfinite(out->weights.bias) || !s_watts_sane(out, cpus, max_watts)) {
        *why = METER_REJECT_WATTS;
        return -1;
    }
    return 0;
}

int meter_model_from_prior(const meter_prior_t *prior, double cpus, double max_watts, meter_model_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->weights.model_name, sizeof out->weights.model_name, "prior");
    out->weights.bias = prior->min_watts;
    out->weights.numeric_count = 1;
    out->weights.numeric[0] = (kms_weight_numeric_t){KMS_F_CPU_UTILIZATION, 1, prior->max_watts - prior->min_watts};
    snprintf(out->arch_used, sizeof out->arch_used, "%s", prior->arch);
    out->match = METER_ARCH_PRIOR;
    return s_watts_sane(out, cpus, max_watts) ? 0 : -1;
}

double meter_model_machine_watts(const meter_model_t *model, double utilization, double cpus, meter_share_t share)
{
    double per_cpu = meter_model_cpu_watts(model, utilization);
    return share == METER_SHARE_ACTIVE ? cpus * utilization * per_cpu : cpus * per_cpu;
}
