/*  scraper_metrics: counters under one mutex, rendered as Prometheus text on demand. */
#include "scraper_metrics.h"

#include <assert.h>
#include <civetweb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_httpd.h"
#include "kms_promtext_write.h"

typedef struct {
    char *name;
    scraper_target_stats_t stats;
} s_target_t;

struct scraper_metrics_t {
    pthread_mutex_t lock;
    size_t count;
    s_target_t *targets;             /* slots; a slot without a name holds no target */
    scraper_target_stats_t departed; /* the sums of the targets that left */
    uint64_t lookups[SCRAPER_LOOKUP_COUNT];
    uint64_t published_node, published_container, publish_dropped;
    kms_httpd_t *http;
};

const char *const scraper_failure_names[SCRAPER_FAIL_COUNT] = {"timeout",   "connect",   "http_status",
                                                               "too_large", "truncated", "parse"};
static const char *s_lookup_outcomes[SCRAPER_LOOKUP_COUNT] = {"ok", "failed", "empty", "over_limit"};

static void s_add_stats(scraper_target_stats_t *sum, const scraper_target_stats_t *s)
{
    sum->scrapes += s->scrapes;
    sum->skipped += s->skipped;
    for (int c = 0; c < SCRAPER_FAIL_COUNT; c++)
        sum->failures[c] += s->failures[c];
    sum->rejected_lines += s->rejected_lines;
    sum->rejected_series += s->rejected_series;
    sum->intervals_without_sample += s->intervals_without_sample;
    sum->node_claimed += s->node_claimed;
    sum->counter_resets += s->counter_resets;
    sum->rapl_wraps += s->rapl_wraps;
    for (int r = 0; r < KMS_KEPLER_SPOIL_COUNT; r++)
        sum->spoiled[r] += s->spoiled[r];
    sum->duration_sum += s->duration_sum;
    sum->duration_count += s->duration_count;
    sum->cycle_sum += s->cycle_sum;
    sum->cycle_count += s->cycle_count;
    if (s->last_success > sum->last_success)
        sum->last_success = s->last_success;
}

scraper_metrics_t *scraper_metrics_new(size_t capacity)
{
    scraper_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    if (!(self->targets = calloc(capacity ? capacity : 1, sizeof *self->targets))) {
        scraper_metrics_destroy(&self);
        return NULL;
    }
    self->count = capacity;
    return self;
}

void scraper_metrics_destroy(scraper_metrics_t **self_p)
{
    assert(self_p);
    scraper_metrics_t *self = *self_p;
    if (!self)
        return;
    kms_httpd_stop(&self->http);
    for (size_t i = 0; self->targets && i < self->count; i++)
        free(self->targets[i].name);
    free(self->targets);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void scraper_metrics_add(scraper_metrics_t *self, size_t i, const scraper_target_stats_t *delta)
{
    assert(i < self->count);
    pthread_mutex_lock(&self->lock);
    scraper_target_stats_t *st = &self->targets[i].stats;
    double last = delta->last_success > 0 ? delta->last_success : st->last_success;
    s_add_stats(st, delta);
    st->last_success = last; /* the latest good scrape's, even when the wall clock went back */
    pthread_mutex_unlock(&self->lock);
}

void scraper_metrics_add_published(scraper_metrics_t *self, uint64_t node, uint64_t container, uint64_t dropped)
{
    pthread_mutex_lock(&self->lock);
    self->published_node += node;
    self->published_container += container;
    self->publish_dropped += dropped;
    pthread_mutex_unlock(&self->lock);
}

void scraper_metrics_totals(scraper_metrics_t *self, scraper_target_stats_t *all, uint64_t *node, uint64_t *container,
                            uint64_t *dropped)
{
    pthread_mutex_lock(&self->lock);
    *all = self->departed;
    for (size_t k = 0; k < self->count; k++)
        s_add_stats(all, &self->targets[k].stats);
    *node = self->published_node;
    *container = self->published_container;
    *dropped = self->publish_dropped;
    pthread_mutex_unlock(&self->lock);
}

int scraper_metrics_name_target(scraper_metrics_t *self, size_t i, const char *name)
{
    assert(i < self->count);
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy)
        return -1;
    pthread_mutex_lock(&self->lock);
    s_target_t *t = &self->targets[i];
    s_add_stats(&self->departed, &t->stats);
    memset(&t->stats, 0, sizeof t->stats);
    free(t->name);
    t->name = copy;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void scraper_metrics_add_lookup(scraper_metrics_t *self, scraper_lookup_outcome_t outcome)
{
    pthread_mutex_lock(&self->lock);
    self->lookups[outcome]++;
    pthread_mutex_unlock(&self->lock);
}

/* ---------------------------------------------------------------- rendering */

/* The families with a series per target, in the order rendered. `at` is the counter's offset in
   scraper_target_stats_t (a double for the gauge and a summary's _sum, whose _count is at
   `count_at`); with `label`, a series per name of `names`, counters in an array at `at`. */
typedef struct {
    const char *name, *type, *help;
    size_t at, count_at;
    const char *label;
    const char *const *names;
    int count;
} s_family_t;

static const s_family_t s_families[] = {
/* clang-format off */
#define S_AT(field) offsetof(scraper_target_stats_t, field)
#define S_COUNTER(name, help, field) {name, "counter", help, S_AT(field), 0, NULL, NULL, 0}
#define S_BY(name, help, field, label, names, count) {name, "counter", help, S_AT(field), 0, label, names, count}
#define S_SUMMARY(name, help, sum, count) {name, "summary", help, S_AT(sum), S_AT(count), NULL, NULL, 0}
    /* clang-format on */
    S_COUNTER("kms_scraper_scrapes_total", "Fetches of the target started.", scrapes),
    S_COUNTER("kms_scraper_scrapes_skipped_total",
              "Cycles in which the target was not fetched because its previous fetch was still in flight.", skipped),
    S_BY("kms_scraper_scrape_failures_total", "Fetches that failed, by cause.", failures, "cause",
         scraper_failure_names, SCRAPER_FAIL_COUNT),
    S_COUNTER("kms_scraper_rejected_lines_total", "Malformed exposition lines (or Prometheus API points) skipped.",
              rejected_lines),
    S_COUNTER("kms_scraper_rejected_series_total", "Kepler series skipped for a bad value or a missing identity.",
              rejected_series),
    S_COUNTER("kms_scraper_intervals_without_sample_total",
              "Good scrapes that gave no node sample (first scrape, restart, page not updated).",
              intervals_without_sample),
    S_COUNTER("kms_scraper_node_claimed_total",
              "Good pages that gave no sample: their node is named by another target's pages, which came first.",
              node_claimed),
    S_COUNTER("kms_scraper_resets_total", "Counters seen going down (exporter or container restarts).", counter_resets),
    S_COUNTER("kms_scraper_rapl_wraps_total", "Raw RAPL readings unwrapped.", rapl_wraps),
    S_BY("kms_scraper_spoiled_total",
         "Node targets and features left out of an interval's sample rather than published short or absurd, by "
         "reason: duplicate series, nonfinite (NaN, Inf, negative) series, jump (faster than any hardware).",
         spoiled, "reason", kms_kepler_spoil_names, KMS_KEPLER_SPOIL_COUNT),
    {"kms_scraper_last_success_timestamp_seconds", "gauge", "Unix time of the target's last good scrape (0: never).",
     S_AT(last_success), 0, NULL, NULL, 0},
    S_SUMMARY("kms_scraper_scrape_duration_seconds", "Time from request to full answer, every fetch.", duration_sum,
              duration_count),
    S_SUMMARY("kms_scraper_cycle_duration_seconds",
              "Time from request to the last sample published (fetch, parse, convert, encode, send), good scrapes.",
              cycle_sum, cycle_count),
#undef S_AT
#undef S_COUNTER
#undef S_BY
#undef S_SUMMARY
};

/* The uint64_t counter, or with `real` the double, at offset `at` of a target's stats. */
static double s_field(const scraper_target_stats_t *stats, size_t at, bool real)
{
    double d;
    uint64_t u;
    memcpy(real ? (void *) &d : (void *) &u, (const char *) stats + at, sizeof u); /* a double's size too */
    return real ? d : (double) u;
}

/* <name><suffix>{target="..."[,<label>="<value>"]} <value> */
static void s_target_line(FILE *out, const char *name, const char *suffix, const char *target, const char *label,
                          const char *label_value, double value)
{
    fprintf(out, "%s%s{target=", name, suffix);
    kms_promtext_write_label(out, target);
    if (label)
        fprintf(out, ",%s=\"%s\"", label, label_value);
    fputc('}', out);
    kms_promtext_write_value(out, value);
}

char *scraper_metrics_render(scraper_metrics_t *self)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    pthread_mutex_lock(&self->lock);
    size_t named = 0;
    for (size_t i = 0; i < self->count; i++)
        named += self->targets[i].name != NULL;
    kms_promtext_write_family(out, "kms_scraper_targets", "gauge",
                              "Targets scraped: the URLs given, and the addresses their names resolve to.");
    fprintf(out, "kms_scraper_targets %zu\n", named);
    kms_promtext_write_family(out, "kms_scraper_lookups_total", "counter",
                              "Lookups of --kepler-url names (--resolve-interval), by outcome: failed and empty ones "
                              "keep the last good targets; over_limit ones were cut to the targets' bound.");
    for (int k = 0; k < SCRAPER_LOOKUP_COUNT; k++)
        fprintf(out, "kms_scraper_lookups_total{outcome=\"%s\"} %llu\n", s_lookup_outcomes[k],
                (unsigned long long) self->lookups[k]);
    for (const s_family_t *fam = s_families; fam < s_families + sizeof s_families / sizeof *fam; fam++) {
        bool gauge = strcmp(fam->type, "gauge") == 0;
        kms_promtext_write_family(out, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < self->count; i++) {
            const char *target = self->targets[i].name;
            const scraper_target_stats_t *st = &self->targets[i].stats;
            if (!target)
                continue;
            if (fam->count_at) { /* a summary */
                s_target_line(out, fam->name, "_sum", target, NULL, NULL, s_field(st, fam->at, true));
                s_target_line(out, fam->name, "_count", target, NULL, NULL, s_field(st, fam->count_at, false));
            } else if (!fam->label) {
                s_target_line(out, fam->name, "", target, NULL, NULL, s_field(st, fam->at, gauge));
            }
            for (int k = 0; k < fam->count; k++)
                s_target_line(out, fam->name, "", target, fam->label, fam->names[k],
                              s_field(st, fam->at + (size_t) k * sizeof(uint64_t), false));
        }
    }
    kms_promtext_write_family(out, "kms_scraper_samples_published_total", "counter",
                              "Samples sent on the PUB socket, by topic.");
    fprintf(out, "kms_scraper_samples_published_total{topic=\"kepler.node\"} %llu\n",
            (unsigned long long) self->published_node);
    fprintf(out, "kms_scraper_samples_published_total{topic=\"kepler.container\"} %llu\n",
            (unsigned long long) self->published_container);
    kms_promtext_write_family(out, "kms_scraper_samples_dropped_total", "counter",
                              "Samples not sent: too large to encode, or the PUB socket refused them.");
    fprintf(out, "kms_scraper_samples_dropped_total %llu\n", (unsigned long long) self->publish_dropped);
    pthread_mutex_unlock(&self->lock);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---------------------------------------------------------------- serving */

static int s_handle(struct mg_connection *conn, void *arg)
{
    scraper_metrics_t *self = arg;
    const struct mg_request_info *info = mg_get_request_info(conn);
    if (strcmp(info->local_uri, "/metrics") != 0)
        return kms_httpd_reply(conn, 404, "text/plain", NULL, false, "not found\n", 10);
    char *text = scraper_metrics_render(self);
    if (!text)
        return kms_httpd_reply(conn, 500, "text/plain", NULL, false, "out of memory\n", 14);
    int status = kms_httpd_reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, false, text,
                                 strlen(text));
    free(text);
    return status;
}

int scraper_metrics_serve(scraper_metrics_t *self, long port)
{
    static const kms_httpd_route_t routes[] = {{"/", s_handle}, {0}};
    self->http = kms_httpd_start("metrics", NULL, port, 2, 5000, routes, self);
    return self->http ? 0 : -1;
}
