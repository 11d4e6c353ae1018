/*  kms_kepler: what Kepler exports, one scrape of one target as a snapshot (pure: no I/O, no
    clock, no globals).

    A snapshot holds one scrape of one Kepler target: per container and for the node, the
    counters and gauges that matter, already mapped to canonical names. It is fed series by
    series (kms_kepler_snapshot_add), so the same code serves a /metrics page (through kms_promtext_read)
    and a Prometheus HTTP API answer (kms_kepler_query.h walks its results into series).
    kms_kepler_diff.h then turns two snapshots of the same target into one kepler.node sample and
    one kepler.container sample per container seen in both.

    Kepler generations ("eras"), detected from the families a page holds:

      KMS_KEPLER_ERA_GAUGE   0.1-0.3: per-interval gauges (pod_curr_*, node_energy_stat whose
                             numbers are label values). Each value covers Kepler's own sample
                             period (KMS_KEPLER_GAUGE_PERIOD), so one snapshot makes a sample.
      KMS_KEPLER_ERA_COUNTER 0.4-0.9: kepler_container_*_total, kepler_node_*_joules_total with
                             package and mode (summed); cpu time in us (<= 0.7.2) or ms (>= 0.7.3).
      KMS_KEPLER_ERA_RAPL    0.10+: kepler_node_cpu_joules_total{zone} is the raw RAPL reading
                             (it wraps), workloads carry a state label (ignored: a container
                             that terminates stays the same container), cpu time in seconds
                             per process (kepler_process_cpu_seconds_total, summed by
                             container_id, and over every process for the node) or per
                             container (kepler_container_cpu_seconds_total); the node's own
                             kepler_node_cpu_usage_ratio times its cpus, when the page has
                             both, is the node's cpu time instead (kms_kepler_diff.h).

    Ownership: a snapshot owns every string it holds (copied on add); the series handed to add
    are borrowed for the call only. Nothing here is thread-safe; use one snapshot per thread. */
#ifndef KMS_KEPLER_H
#define KMS_KEPLER_H

#include <stdbool.h>
#include <stddef.h>

#include "kms_promtext_read.h"
#include "kms_sample.h"

/* Kepler 0.1-0.3's SAMPLE_PERIOD_SEC default: the interval each per-interval gauge covers. */
#define KMS_KEPLER_GAUGE_PERIOD 3.0

typedef enum {
    KMS_KEPLER_ERA_UNKNOWN = 0, /* no Kepler family seen (yet) */
    KMS_KEPLER_ERA_GAUGE,       /* 0.1 - 0.3 */
    KMS_KEPLER_ERA_COUNTER,     /* 0.4 - 0.9 */
    KMS_KEPLER_ERA_RAPL         /* 0.10 and later */
} kms_kepler_era_t;

typedef struct kms_kepler_snapshot_t kms_kepler_snapshot_t;

typedef struct {
    size_t used;     /* series that fed a feature, a target or the node's identity */
    size_t ignored;  /* series of families this module does not use */
    size_t rejected; /* series with a non-finite or negative value, or no container identity */
} kms_kepler_snapshot_stats_t;

/* Creates an empty snapshot. Returns NULL when out of memory. */
kms_kepler_snapshot_t *kms_kepler_snapshot_new(void);
/* Frees the snapshot and sets *self_p to NULL; does nothing when *self_p is NULL. */
void kms_kepler_snapshot_destroy(kms_kepler_snapshot_t **self_p);

/* Empties the snapshot for a new scrape taken at `ts` (unix seconds, end of the scrape) of a
   target whose host is `host` (the node name when the page names none; NULL: "unknown").
   Memory is kept for reuse: steady-state scrapes allocate nothing. */
void kms_kepler_snapshot_begin(kms_kepler_snapshot_t *self, double ts, const char *host);

/* The same moment as begin's `ts` on a monotonic clock (CLOCK_MONOTONIC seconds), by which the
   interval to another snapshot is measured: `ts` stays the wall clock's, a sample's end, but a
   wall clock stepped by NTP would stretch an interval or turn it back. begin forgets it. */
void kms_kepler_snapshot_set_monotonic(kms_kepler_snapshot_t *self, double monotonic);

/* Seconds from `prev` to `cur`: their monotonic times' difference when both have one, else
   their ts' (Prometheus' scrape times, a dataset's). */
double kms_kepler_snapshot_interval(const kms_kepler_snapshot_t *prev, const kms_kepler_snapshot_t *cur);

/* Feeds one series. Returns 0 when used, 1 when ignored (not a family this module reads),
   -1 when rejected (bad value or identity; counted) or out of memory. */
int kms_kepler_snapshot_add(kms_kepler_snapshot_t *self, const kms_promtext_series_t *series);

/* begin + kms_promtext_parse of a whole page + add of every series. `text_stats` (may be NULL)
   receives the parser's counts (rejected lines). Returns 0, or -1 when the page holds no Kepler
   family at all (era unknown). */
int kms_kepler_snapshot_parse(kms_kepler_snapshot_t *self, const char *page, size_t len, double ts, const char *host,
                              kms_promtext_stats_t *text_stats);

/* Makes `dst` an exact copy of `src` (reusing dst's memory). Returns 0, -1 when out of memory. */
int kms_kepler_snapshot_copy(kms_kepler_snapshot_t *dst, const kms_kepler_snapshot_t *src);

/* A Prometheus selector, {__name__=~"a|b|..."}, of the families above that a node sample needs
   (every era's node families, and the 0.4-0.9 container usage counters the node's features are
   summed from); with `containers`, also those of container samples (containers' energy, 0.10's
   container and process cpu seconds). Malloc'd; NULL when out of memory. kepler_node_cpu_info is
   not in it: its one series per logical cpu is half of a 0.10+ node's series, and what it says is
   asked for apart, as KMS_KEPLER_CPUS_QUERY. */
char *kms_kepler_selector(bool containers);

/* PromQL for each node's kepler_node_cpu_info series counted, under that name: one series per node
   and model_name, whose value is its cpus (a series of the family stands for as many logical
   cpus as its value; 1 on Kepler's page). Its answer, walked as held results
   (kms_kepler_query_walk), gives each snapshot the cpus and model_name that the range answer
   leaves out. */
#define KMS_KEPLER_CPUS_QUERY \
    "label_replace(count by (instance, exported_instance, node_name, model_name) (kepler_node_cpu_info), " \
    "\"__name__\", \"kepler_node_cpu_info\", \"\", \"\")"

kms_kepler_era_t kms_kepler_snapshot_era(const kms_kepler_snapshot_t *self);
double kms_kepler_snapshot_ts(const kms_kepler_snapshot_t *self);
/* Kepler's instance label, else the host given to begin. Borrowed from the snapshot. */
const char *kms_kepler_snapshot_node(const kms_kepler_snapshot_t *self);
/* kepler_node_info's cpu_architecture (any era's spelling), else 0.10's CPU model_name
   (kepler_node_cpu_info), else "unknown". Borrowed. */
const char *kms_kepler_snapshot_arch(const kms_kepler_snapshot_t *self);
size_t kms_kepler_snapshot_containers(const kms_kepler_snapshot_t *self);
const kms_kepler_snapshot_stats_t *kms_kepler_snapshot_stats(const kms_kepler_snapshot_t *self);

/* "0.1-0.3", "0.4-0.9", "0.10+" or "unknown". */
const char *kms_kepler_era_name(kms_kepler_era_t era);

#endif
