/*  The plausibility gate's bounds and the count of what was held back (trainer_bounds.h). */
#include "trainer_bounds.h"

#include "kms_config.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_recent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PUBLISHERS 64
#define S_REPORTED 16

static const char *const s_reason_names[TRAINER_HELD_REASONS] = {"bounds", "outlier", "drift"};

typedef struct {
    uint64_t held[TRAINER_HELD_REASONS];
} s_publisher_t;

struct trainer_held_t {
    uint64_t total[TRAINER_HELD_REASONS];
    kms_recent_t *publishers; /* the one held back longest ago makes room */
};

typedef struct {
    trainer_bounds_t *out;
    char *why;
    size_t why_cap;
} s_bounds_add_t;

/* One "target=watts" entry into add->out (a kms_config_split item). */
static int s_bound_set(const char *entry, int index, void *arg)
{
    s_bounds_add_t *add = arg;
    trainer_bounds_t *out = add->out;
    (void) index;
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t) (eq - entry) : 0;
    double watts;
    if (!eq || len == 0 || len >= KMS_NAME_MAX || kms_num_parse_double(eq + 1, &watts) != 0 || !(watts > 0)
        || !isfinite(watts)) {
        snprintf(add->why, add->why_cap, "expected target=watts (watts > 0), got '%s'", entry);
        return -1;
    }
    if (len == 1 && entry[0] == '*') {
        out->other_max = watts;
        return 0;
    }
    size_t i = 0;
    while (i < out->count && !(strlen(out->target[i]) == len && strncmp(out->target[i], entry, len) == 0))
        i++;
    if (i == KMS_SAMPLE_MAX_VALUES) {
        snprintf(add->why, add->why_cap, "more than %d targets", KMS_SAMPLE_MAX_VALUES);
        return -1;
    }
    if (i == out->count) {
        memcpy(out->target[i], entry, len);
        out->target[i][len] = '\0';
        out->count++;
    }
    out->max[i] = watts;
    return 0;
}

static int s_bounds_add(trainer_bounds_t *out, const char *text, char *why, size_t why_cap)
{
    if (kms_config_split(text, s_bound_set, &(s_bounds_add_t){out, why, why_cap}) < 0) {
        if (!*why)
            snprintf(why, why_cap, "out of memory");
        return -1;
    }
    return 0;
}

int trainer_bounds_parse(trainer_bounds_t *out, const char *text, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    if (why_cap)
        *why = '\0';
    if (s_bounds_add(out, TRAINER_BOUNDS_DEFAULT, why, why_cap) != 0)
        return -1;
    return text && *text ? s_bounds_add(out, text, why, why_cap) : 0;
}

const char *trainer_bounds_exceeded(const trainer_bounds_t *bounds, const kms_sample_t *sample)
{
    for (size_t t = 0; t < sample->targets.count; t++) {
        const kms_named_value_t *v = &sample->targets.items[t];
        double max = bounds->other_max;
        for (size_t i = 0; i < bounds->count; i++)
            if (strcmp(bounds->target[i], v->name) == 0)
                max = bounds->max[i];
        if (!(v->value <= max))
            return v->name;
    }
    return NULL;
}

trainer_held_t *trainer_held_new(void)
{
    trainer_held_t *self = calloc(1, sizeof *self);
    if (self && !(self->publishers = kms_recent_new(S_PUBLISHERS, sizeof(s_publisher_t))))
        trainer_held_destroy(&self);
    return self;
}

void trainer_held_destroy(trainer_held_t **self_p)
{
    if (self_p && *self_p) {
        kms_recent_destroy(&(*self_p)->publishers);
        free(*self_p);
        *self_p = NULL;
    }
}

void trainer_held_count(trainer_held_t *self, const kms_sample_t *sample, trainer_held_reason_t reason,
                        const char *model, const char *what, double watts)
{
    self->total[reason]++;
    s_publisher_t *p = kms_recent_use(self->publishers, sample->node, NULL, NULL);
    uint64_t n = p ? ++p->held[reason] : self->total[reason];
    if (!kms_log_decade(n))
        return;
    char node[160], name[160], target[160];
    kms_warn("sample held back", "reason=%s node=%s model=%s target=%s watts=%.6g seq=%llu count=%llu",
             s_reason_names[reason], kms_log_quote(sample->node, node, sizeof node),
             model ? kms_log_quote(model, name, sizeof name) : "-", kms_log_quote(what, target, sizeof target), watts,
             (unsigned long long) sample->seq, (unsigned long long) n);
}

static uint64_t s_held(const s_publisher_t *p)
{
    uint64_t sum = 0;
    for (int r = 0; r < TRAINER_HELD_REASONS; r++)
        sum += p->held[r];
    return sum;
}

static int s_by_held(const void *a, const void *b)
{
    uint64_t x = s_held(*(s_publisher_t *const *) a), y = s_held(*(s_publisher_t *const *) b);
    return (x < y) - (x > y);
}

json_t *trainer_held_json(const trainer_held_t *self)
{
    const s_publisher_t *order[S_PUBLISHERS];
    size_t count = kms_recent_count(self->publishers);
    for (size_t i = 0; i < count; i++)
        order[i] = kms_recent_at(self->publishers, i);
    qsort(order, count, sizeof order[0], s_by_held);
    json_t *publishers = json_array(), *doc = json_object();
    for (size_t i = 0; i < count && i < S_REPORTED; i++) {
        json_t *p = json_pack("{s:s}", "node", kms_recent_name(self->publishers, order[i]));
        for (int r = 0; r < TRAINER_HELD_REASONS; r++)
            json_object_set_new(p, s_reason_names[r], json_integer((json_int_t) order[i]->held[r]));
        json_array_append_new(publishers, p);
    }
    for (int r = 0; r < TRAINER_HELD_REASONS; r++)
        json_object_set_new(doc, s_reason_names[r], json_integer((json_int_t) self->total[r]));
    json_object_set_new(doc, "publishers", publishers);
    return doc;
}
