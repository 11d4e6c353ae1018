/*  scraper_metrics: kms-scraper's own counters, per target, and their Prometheus text.

    The scrape loop updates them, the civetweb threads behind --metrics-port read them: every
    access goes through the object's mutex. scraper_metrics_render() is pure (text only). */
#ifndef SCRAPER_METRICS_H
#define SCRAPER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "kms_kepler_diff.h"

typedef enum {
    SCRAPER_FAIL_TIMEOUT = 0,
    SCRAPER_FAIL_CONNECT,
    SCRAPER_FAIL_HTTP_STATUS,
    SCRAPER_FAIL_TOO_LARGE,
    SCRAPER_FAIL_TRUNCATED,
    SCRAPER_FAIL_PARSE,
    SCRAPER_FAIL_COUNT
} scraper_failure_t;

extern const char *const scraper_failure_names[SCRAPER_FAIL_COUNT]; /* "timeout", ... */

/* What a lookup of a --kepler-url name came to (scraper_discovery). */
typedef enum {
    SCRAPER_LOOKUP_OK = 0,
    SCRAPER_LOOKUP_FAILED,     /* the resolver failed: the last good targets stay */
    SCRAPER_LOOKUP_EMPTY,      /* no address: the last good targets stay */
    SCRAPER_LOOKUP_OVER_LIMIT, /* more addresses than targets can be: the first ones (sorted) kept */
    SCRAPER_LOOKUP_COUNT
} scraper_lookup_outcome_t;

typedef struct {
    uint64_t scrapes; /* fetches started */
    uint64_t skipped; /* cycles skipped: the previous fetch was in flight */
    uint64_t failures[SCRAPER_FAIL_COUNT];
    uint64_t rejected_lines;           /* malformed exposition lines, or API points */
    uint64_t rejected_series;          /* Kepler series with bad values or identity */
    uint64_t intervals_without_sample; /* good scrapes that gave no node sample */
    uint64_t node_claimed;             /* good pages whose node another target's pages give */
    uint64_t counter_resets;           /* counters seen going down */
    uint64_t rapl_wraps;
    uint64_t spoiled[KMS_KEPLER_SPOIL_COUNT]; /* node targets and features left out, by reason */
    double duration_sum;                      /* seconds, successful and failed fetches */
    uint64_t duration_count;
    double cycle_sum;     /* seconds from request to samples published */
    uint64_t cycle_count; /* good scrapes */
    double last_success;  /* unix seconds, 0 = never */
} scraper_target_stats_t;

typedef struct scraper_metrics_t scraper_metrics_t;

/* Room for `capacity` targets, each slot empty until named. NULL when out of memory. */
scraper_metrics_t *scraper_metrics_new(size_t capacity);
void scraper_metrics_destroy(scraper_metrics_t **self_p);

/* Adds `delta` to target i's counters; its last_success, when not 0, replaces the target's. */
void scraper_metrics_add(scraper_metrics_t *self, size_t i, const scraper_target_stats_t *delta);
void scraper_metrics_add_published(scraper_metrics_t *self, uint64_t node, uint64_t container, uint64_t dropped);
/* Gives slot i to a target named `name` (its URL; copied), with counters at zero; NULL empties
   the slot. What the slot counted before stays in the sums over all targets. 0 / -1. */
int scraper_metrics_name_target(scraper_metrics_t *self, size_t i, const char *name);
void scraper_metrics_add_lookup(scraper_metrics_t *self, scraper_lookup_outcome_t outcome);
/* The sums of every target's counters, those that left included, and the samples published and
   dropped. */
void scraper_metrics_totals(scraper_metrics_t *self, scraper_target_stats_t *all, uint64_t *node, uint64_t *container,
                            uint64_t *dropped);

/* The whole exposition (text format 0.0.4), malloc'd; NULL when out of memory. */
char *scraper_metrics_render(scraper_metrics_t *self);

/* Serves GET /metrics on `port` (every interface; 0: any free one, logged) from civetweb
   threads. 0 / -1. */
int scraper_metrics_serve(scraper_metrics_t *self, long port);

#endif
