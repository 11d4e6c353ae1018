/*  meter_metrics: the meter's own /metrics. The text is pure; the server runs on civetweb's
    threads and reads a copy under its lock. */
#ifndef METER_METRICS_H
#define METER_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kms_family.h"
#include "kms_sample.h"
#include "meter_model.h"

typedef struct {
    bool active;              /* the zone is in the tree */
    char model[KMS_NAME_MAX]; /* "" while none */
    char arch_used[KMS_NAME_MAX];
    meter_arch_match_t match;
    kms_family_kind_t family; /* of the model in use: linear, or the curve the server serves */
    double watts;             /* last counted */
    double joules;            /* since start */
    uint64_t energy_uj;       /* what the tree says */
    double model_fetched;     /* unix seconds the server last gave (or confirmed) the model */
    uint64_t model_updates;   /* models adopted: changed answers */
    uint64_t clamped_negative, clamped_absurd;
} meter_zone_stats_t;

typedef struct {
    meter_zone_stats_t zones[METER_ZONES];
    char arch[KMS_NAME_MAX];
    kms_values_t usage; /* the last interval's features */
    bool counters;      /* hardware counters in use */
    uint64_t intervals;
    uint64_t stat_errors; /* /proc/stat unreadable or not parseable */
    uint64_t perf_errors;
    uint64_t tree_errors;                             /* files that could not be written */
    uint64_t fetches;                                 /* model requests sent */
    uint64_t fetch_errors[4];                         /* by meter_fetch_error_t (meter_fetch.h) */
    uint64_t models_rejected[METER_REJECT_WATTS + 1]; /* answers refused, by meter_reject_t */
    double cpus;                                      /* this machine's logical cpus (vCPUs) */
    double utilization;                               /* the last interval's cpu_time / cpus */
    meter_share_t share;
    meter_prior_t prior;    /* this processor's coefficient prior */
    uint64_t usage_clamped; /* intervals whose busy time exceeded the cpus */
    uint64_t cache_errors;
    bool server_up; /* the last fetch got an answer */
    double start_time;
    double cpu_seconds;    /* this process's user + system time (getrusage) */
    double resident_bytes; /* this process's resident set */
} meter_stats_t;

/* The exposition text (0.0.4) of `stats` at `now`, into `out`. */
void meter_metrics_render(FILE *out, const meter_stats_t *stats, double now);

typedef struct meter_metrics_t meter_metrics_t;

/* Serves GET /metrics on `port` (0: any free one, logged) of `address` from two civetweb
   threads; NULL, logged, when it cannot. */
meter_metrics_t *meter_metrics_serve(const char *address, long port);
void meter_metrics_destroy(meter_metrics_t **self_p);
/* Copies `stats` in for the server to show (under its lock). */
void meter_metrics_publish(meter_metrics_t *self, const meter_stats_t *stats);

#endif
