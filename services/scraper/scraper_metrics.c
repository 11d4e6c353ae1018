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

static const char *s_causes[SCRAPER_FAIL_COUNT] = {"timeout",   "connect",   "http_status",
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

void scraper_metrics_update(scraper_metrics_t *self, size_t i,
                            void (*update)(scraper_target_stats_t *stats, const void *arg), const void *arg)
{
    assert(i < self->count);
    pthread_mutex_lock(&self->lock);
    update(&self->targets[i].stats, arg);
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

void scraper_metrics_get(scraper_metrics_t *self, size_t i, scraper_target_stats_t *out)
{
    pthread_mutex_lock(&self->lock);
    if (i != SIZE_MAX) {
        *out = self->targets[i].stats;
    } else {
        *out = self->departed;
        for (size_t k = 0; k < self->count; k++)
            s_add_stats(out, &self->targets[k].stats);
    }
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

void scraper_metrics_get_published(scraper_metrics_t *self, uint64_t *node, uint64_t *container, uint64_t *dropped)
{
    pthread_mutex_lock(&self->lock);
    *node = self->published_node;
    *container = self->published_container;
    *dropped = self->publish_dropped;
    pthread_mutex_unlock(&self->lock);
}

/* ---------------------------------------------------------------- rendering */

typedef struct {
    FILE *out;
    const scraper_metrics_t *m;
} s_render_t;

/* <name><suffix>{target="..."} <value> */
static void s_target_line(FILE *out, const char *name, const char *suffix, const char *target, double value)
{
    fprintf(out, "%s%s{target=", name, suffix);
    kms_promtext_write_label(out, target);
    fputc('}', out);
    kms_promtext_write_value(out, value);
}

/* One counter or gauge family with one series per target, its value picked by `field`. */
static void s_per_target(const s_render_t *r, const char *name, const char *type, const char *help,
                         double (*field)(const scraper_target_stats_t *s))
{
    kms_promtext_write_family(r->out, name, type, help);
    for (size_t i = 0; i < r->m->count; i++)
        if (r->m->targets[i].name)
            s_target_line(r->out, name, "", r->m->targets[i].name, field(&r->m->targets[i].stats));
}

/* clang-format off */
static double s_f_scrapes(const scraper_target_stats_t *s) { return (double) s->scrapes; }
static double s_f_skipped(const scraper_target_stats_t *s) { return (double) s->skipped; }
static double s_f_lines(const scraper_target_stats_t *s) { return (double) s->rejected_lines; }
static double s_f_series(const scraper_target_stats_t *s) { return (double) s->rejected_series; }
static double s_f_nosample(const scraper_target_stats_t *s) { return (double) s->intervals_without_sample; }
static double s_f_claimed(const scraper_target_stats_t *s) { return (double) s->node_claimed; }
static double s_f_resets(const scraper_target_stats_t *s) { return (double) s->counter_resets; }
static double s_f_wraps(const scraper_target_stats_t *s) { return (double) s->rapl_wraps; }
static double s_f_last(const scraper_target_stats_t *s) { return s->last_success; }
/* clang-format on */

/* A summary without quantiles: its _sum and _count per target, read at the given offsets. */
static void s_summary(const s_render_t *r, const char *name, const char *help, size_t sum_at, size_t count_at)
{
    kms_promtext_write_family(r->out, name, "summary", help);
    for (size_t i = 0; i < r->m->count; i++) {
        if (!r->m->targets[i].name)
            continue;
        const char *stats = (const char *) &r->m->targets[i].stats;
        double sum;
        uint64_t count;
        memcpy(&sum, stats + sum_at, sizeof sum);
        memcpy(&count, stats + count_at, sizeof count);
        s_target_line(r->out, name, "_sum", r->m->targets[i].name, sum);
        s_target_line(r->out, name, "_count", r->m->targets[i].name, (double) count);
    }
}

char *scraper_metrics_render(scraper_metrics_t *self)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    pthread_mutex_lock(&self->lock);
    s_render_t r = {out, self};
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
    s_per_target(&r, "kms_scraper_scrapes_total", "counter", "Fetches of the target started.", s_f_scrapes);
    s_per_target(&r, "kms_scraper_scrapes_skipped_total", "counter",
                 "Cycles in which the target was not fetched because its previous fetch was still in flight.",
                 s_f_skipped);
    kms_promtext_write_family(out, "kms_scraper_scrape_failures_total", "counter", "Fetches that failed, by cause.");
    for (size_t i = 0; i < self->count; i++) {
        for (int c = 0; c < SCRAPER_FAIL_COUNT && self->targets[i].name; c++) {
            fputs("kms_scraper_scrape_failures_total{target=", out);
            kms_promtext_write_label(out, self->targets[i].name);
            fprintf(out, ",cause=\"%s\"}", s_causes[c]);
            kms_promtext_write_value(out, (double) self->targets[i].stats.failures[c]);
        }
    }
    s_per_target(&r, "kms_scraper_rejected_lines_total", "counter",
                 "Malformed exposition lines (or Prometheus API points) skipped.", s_f_lines);
    s_per_target(&r, "kms_scraper_rejected_series_total", "counter",
                 "Kepler series skipped for a bad value or a missing identity.", s_f_series);
    s_per_target(&r, "kms_scraper_intervals_without_sample_total", "counter",
                 "Good scrapes that gave no node sample (first scrape, restart, page not updated).", s_f_nosample);
    s_per_target(&r, "kms_scraper_node_claimed_total", "counter",
                 "Good pages that gave no sample: their node is named by another target's pages, which came first.",
                 s_f_claimed);
    s_per_target(&r, "kms_scraper_resets_total", "counter",
                 "Counters seen going down (exporter or container restarts).", s_f_resets);
    s_per_target(&r, "kms_scraper_rapl_wraps_total", "counter", "Raw RAPL readings unwrapped.", s_f_wraps);
    kms_promtext_write_family(
        out, "kms_scraper_spoiled_total", "counter",
        "Node targets and features left out of an interval's sample rather than published short or "
        "absurd, by reason: duplicate series, nonfinite (NaN, Inf, negative) series, jump (faster "
        "than any hardware).");
    for (size_t i = 0; i < self->count; i++)
        for (int k = 0; k < KMS_KEPLER_SPOIL_COUNT && self->targets[i].name; k++) {
            fputs("kms_scraper_spoiled_total{target=", out);
            kms_promtext_write_label(out, self->targets[i].name);
            fprintf(out, ",reason=\"%s\"}", kms_kepler_spoil_names[k]);
            kms_promtext_write_value(out, (double) self->targets[i].stats.spoiled[k]);
        }
    s_per_target(&r, "kms_scraper_last_success_timestamp_seconds", "gauge",
                 "Unix time of the target's last good scrape (0: never).", s_f_last);
    s_summary(&r, "kms_scraper_scrape_duration_seconds", "Time from request to full answer, every fetch.",
              offsetof(scraper_target_stats_t, duration_sum), offsetof(scraper_target_stats_t, duration_count));
    s_summary(&r, "kms_scraper_cycle_duration_seconds",
              "Time from request to the last sample published (fetch, parse, convert, encode, send), good scrapes.",
              offsetof(scraper_target_stats_t, cycle_sum), offsetof(scraper_target_stats_t, cycle_count));
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
