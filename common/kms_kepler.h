/*  kms_kepler: what Kepler exports, turned into samples (pure: no I/O, no clock, no globals).

    A snapshot holds one scrape of one Kepler target: per container and for the node, the
    counters and gauges that matter, already mapped to canonical names. It is fed series by
    series (kms_kepler_snapshot_add), so the same code serves a /metrics page (through kms_expo)
    and a Prometheus HTTP API answer (kms_kepler_prom_walk turns its results into series).
    kms_kepler_diff then turns two snapshots of the same target into one kepler.node sample and
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
                             container (kepler_container_cpu_seconds_total).

    Rates are per second over the real interval between the two snapshots' timestamps. Node
    features are the sum of per-container deltas over the containers present in both (one that
    restarted alone counts what it counted since, as Prometheus' rate() does); node targets are the node's own energy counters, every package and mode summed. When
    every non-zero node counter went down (exporter restart) the interval gives no sample; when
    only some did, the page is damaged (see kms_kepler_diff). A raw RAPL reading that went down
    is unwrapped when its range is known: the standard Intel range, and a power that agrees with
    the zone's kepler_node_cpu_watts when Kepler reports it. Memory "_total" families are gauges
    in all but name: their current value is used, summed over the same containers.

    cpu_time source, in order of preference: eBPF cpu time (kepler_container_bpf_cpu_time_*, the
    container's own tasks), then cgroupfs cpu usage, then kubelet cpu usage (which Kepler keeps
    in milliseconds). resident_memory: cgroupfs memory usage, then the kubelet working set. A
    source counts as present when at least one of its series is non-zero (Kepler exports all-zero
    families for collectors that are switched off). One source is chosen per snapshot pair, so
    that a node's sum never mixes sources. docs/scraper.md has the whole story.

    Ownership: a snapshot owns every string it holds (copied on add); the series handed to add
    are borrowed for the call only. Samples handed to the diff callback live for the call only.
    Nothing here is thread-safe; use one snapshot per thread. */
#ifndef KMS_KEPLER_H
#define KMS_KEPLER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "kms_expo.h"
#include "kms_sample.h"

/* Kepler 0.1-0.3's SAMPLE_PERIOD_SEC default: the interval each per-interval gauge covers. */
#define KMS_KEPLER_GAUGE_PERIOD 3.0

typedef enum {
    KMS_KEPLER_ERA_UNKNOWN = 0,  /* no Kepler family seen (yet) */
    KMS_KEPLER_ERA_GAUGE,        /* 0.1 - 0.3 */
    KMS_KEPLER_ERA_COUNTER,      /* 0.4 - 0.9 */
    KMS_KEPLER_ERA_RAPL          /* 0.10 and later */
} kms_kepler_era_t;

typedef struct kms_kepler_snapshot_t kms_kepler_snapshot_t;

typedef struct {
    size_t used;      /* series that fed a feature, a target or the node's identity */
    size_t ignored;   /* series of families this module does not use */
    size_t rejected;  /* series with a non-finite or negative value, or no container identity */
} kms_kepler_snapshot_stats_t;

/* Creates an empty snapshot. Returns NULL when out of memory. */
kms_kepler_snapshot_t *kms_kepler_snapshot_new(void);
/* Frees the snapshot and sets *self_p to NULL; does nothing when *self_p is NULL. */
void kms_kepler_snapshot_destroy(kms_kepler_snapshot_t **self_p);

/* Empties the snapshot for a new scrape taken at `ts` (unix seconds, end of the scrape) of a
   target whose host is `host` (the node name when the page names none; NULL: "unknown").
   Memory is kept for reuse: steady-state scrapes allocate nothing. */
void kms_kepler_snapshot_begin(kms_kepler_snapshot_t *self, double ts, const char *host);

/* Feeds one series. Returns 0 when used, 1 when ignored (not a family this module reads),
   -1 when rejected (bad value or identity; counted) or out of memory. */
int kms_kepler_snapshot_add(kms_kepler_snapshot_t *self, const kms_expo_series_t *series);

/* begin + kms_expo_parse of a whole page + add of every series. `expo_stats` (may be NULL)
   receives the parser's counts (rejected lines). Returns 0, or -1 when the page holds no Kepler
   family at all (era unknown). */
int kms_kepler_snapshot_parse(kms_kepler_snapshot_t *self, const char *page, size_t len, double ts,
                              const char *host, kms_expo_stats_t *expo_stats);

/* Makes `dst` an exact copy of `src` (reusing dst's memory). Returns 0, -1 when out of memory. */
int kms_kepler_snapshot_copy(kms_kepler_snapshot_t *dst, const kms_kepler_snapshot_t *src);

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

typedef struct {
    size_t samples;             /* samples handed to the callback (node and containers) */
    size_t containers_matched;  /* containers in both snapshots, counters intact */
    size_t containers_churned;  /* in only one of the two: they change nothing */
    size_t counter_resets;      /* counters that went down: their owner gave no sample */
    size_t rapl_wraps;          /* raw RAPL readings that wrapped and were unwrapped */
    size_t nonfinite;           /* rates that came out NaN/Inf and were dropped */
    bool damaged;               /* some node counters went down and others did not: not a restart
                                   but a damaged page; keep prev as the reference for the next one */
    const char *why;            /* static text: why there was no node sample; NULL when there was */
} kms_kepler_diff_stats_t;

/* Called once per sample; return 0 to go on, non-zero to stop (kms_kepler_diff returns -1).
   The sample's seq is 0: the publisher numbers its messages. */
typedef int (*kms_kepler_sample_fn)(const kms_sample_t *sample, void *arg);

/* Turns the interval prev -> cur into samples: the node sample first, then one per container.
   Both must be of the same era and node, cur later than prev. In the gauge era prev may be NULL
   (each snapshot covers its own period) and is used only to skip a page Kepler has not updated.
   An exporter restart takes every non-zero node counter down; when only some went down, cur is
   a damaged page (stats->damaged): no sample, and the caller should diff the next snapshot
   against prev, not against cur, lest the counters' way back up be taken for megawatts.
   Returns the number of samples made, 0 with stats->why set when the interval gives none
   (first scrape, restart, era change, no time elapsed...), -1 when the callback stopped it.
   `stats` may be NULL; it is overwritten, not accumulated. */
int kms_kepler_diff(const kms_kepler_snapshot_t *prev, const kms_kepler_snapshot_t *cur,
                    kms_kepler_sample_fn fn, void *arg, kms_kepler_diff_stats_t *stats);

/* A Prometheus HTTP API answer, or a query_range dump:
     {"status":"success","data":{"resultType":"vector"|"matrix","result":[...]}}
     {"<metric name>": [{"metric":{labels}, "values":[[ts,"v"],...]}, ...], ...}
   Results are split by node: the scrape target's `instance` label when present (every series
   of one Kepler exporter carries the same one), else `exported_instance`, else `node_name`.
   For each node in turn, its snapshots are built in time order (one per distinct timestamp)
   and handed to `fn` with the previous one of the same node (NULL for the first), so that the
   callback can call kms_kepler_diff(prev, cur, ...) directly. Both are borrowed for the call;
   copy `cur` (kms_kepler_snapshot_copy) to keep it. Return 0 to go on, KMS_KEPLER_KEEP_PREV to go
   on with `prev` still the previous one for the next snapshot (kms_kepler_diff found cur
   damaged), anything else to stop. */
#define KMS_KEPLER_KEEP_PREV 2
/* How many damaged snapshots in a row may keep the same prev before cur is taken anyway. */
#define KMS_KEPLER_KEEP_PREV_MAX 3

/* Whether to keep prev as the reference for the next snapshot after one that was `damaged`
   (kms_kepler_diff_stats_t.damaged): yes up to KMS_KEPLER_KEEP_PREV_MAX times in a row, then
   cur is taken anyway, so that a counter that really fell for good does not stop every sample.
   *kept counts the damaged snapshots in a row; 0 to start. */
bool kms_kepler_keep_prev(bool damaged, int *kept);
typedef int (*kms_kepler_snapshot_fn)(const kms_kepler_snapshot_t *prev,
                                      const kms_kepler_snapshot_t *cur, void *arg);

typedef struct {
    size_t results;     /* result entries read */
    size_t points;      /* [ts, "value"] pairs read */
    size_t rejected;    /* malformed results or points, skipped */
    size_t nodes;       /* distinct nodes */
    size_t snapshots;   /* snapshots handed to fn */
} kms_kepler_prom_stats_t;

/* Returns 0, or -1 when the answer is not one of the shapes above, is a Prometheus error
   (*why then points at its "error" message, borrowed from root), or fn stopped the walk or
   memory ran out. *why (when why is not NULL) is set on -1, to static text or to root's. */
int kms_kepler_prom_walk(const json_t *root, kms_kepler_snapshot_fn fn, void *arg,
                         kms_kepler_prom_stats_t *stats, const char **why);

#endif
