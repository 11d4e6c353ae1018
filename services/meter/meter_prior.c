/*  The coefficient prior: a processor's name to its micro-architecture's watts per vCPU. */
#include "meter_prior.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char *meter_prior_match_name(meter_prior_match_t match)
{
    static const char *const names[] = {"exact", "vendor_average", "average"};
    return match <= METER_PRIOR_ALL ? names[match] : "?";
}

/* `name` without "(R)" and "(TM)", as the table's fragments are written. */
static void s_plain(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < cap;) {
        if (strncmp(p, "(R)", 3) == 0 || strncmp(p, "(r)", 3) == 0) {
            p += 3;
        } else if (strncmp(p, "(TM)", 4) == 0 || strncmp(p, "(tm)", 4) == 0) {
            p += 4;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

/* Whether `fragment` occurs in `text` with no letter or digit just before or after it. */
static bool s_has_word(const char *text, const char *fragment)
{
    size_t len = strlen(fragment);
    for (const char *p = strstr(text, fragment); p; p = strstr(p + 1, fragment)) {
        bool start = p == text || !isalnum((unsigned char) p[-1]);
        bool end = !isalnum((unsigned char) p[len]);
        if (start && end)
            return true;
    }
    return false;
}

static void s_average(const char *vendor, meter_prior_t *out)
{
    double min = 0, max = 0;
    size_t count = 0;
    for (size_t i = 0; i < meter_prior_arch_count; i++)
        if (!vendor || strcmp(meter_prior_archs[i].vendor, vendor) == 0) {
            min += meter_prior_archs[i].min_watts;
            max += meter_prior_archs[i].max_watts;
            count++;
        }
    out->match = vendor ? METER_PRIOR_VENDOR : METER_PRIOR_ALL;
    out->min_watts = min / (double) count;
    out->max_watts = max / (double) count;
    snprintf(out->arch, sizeof out->arch, "%s%saverage", vendor ? vendor : "", vendor ? " " : "");
}

void meter_prior_find(const char *model_name, meter_prior_t *out)
{
    char plain[256];
    s_plain(model_name ? model_name : "", plain, sizeof plain);
    size_t best = SIZE_MAX, best_len = 0;
    for (size_t i = 0; i < meter_prior_name_count; i++) {
        size_t len = strlen(meter_prior_names[i].fragment);
        if (len > best_len && s_has_word(plain, meter_prior_names[i].fragment)) {
            best = i;
            best_len = len;
        }
    }
    if (best != SIZE_MAX) {
        const meter_prior_arch_t *a = &meter_prior_archs[meter_prior_names[best].arch];
        snprintf(out->arch, sizeof out->arch, "%s", a->arch);
        out->match = METER_PRIOR_EXACT;
        out->min_watts = a->min_watts;
        out->max_watts = a->max_watts;
        return;
    }
    bool intel = strstr(plain, "Intel") || strstr(plain, "Xeon");
    bool amd = strstr(plain, "AMD") || strstr(plain, "EPYC");
    s_average(intel ? "Intel" : amd ? "AMD" : NULL, out);
}
