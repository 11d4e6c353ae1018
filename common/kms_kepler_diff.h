/*  kms_kepler_diff: two snapshots of one Kepler target (kms_kepler.h) into samples (pure: no I/O,
    no clock, no globals).

    Rates are per second over the real interval between the two snapshots
    (kms_kepler_snapshot_interval: their monotonic times, else their timestamps). Node
    features are the sum of per-container deltas over the containers present in both (one that
    restarted alone counts what it counted since, as Prometheus' rate() does); node targets are
    the node's own energy counters, every package and mode summed. When every non-zero node
    counter went down (exporter restart) the interval gives no sample; when only some did, the
    page is damaged (see kms_kepler_diff).

    Kepler 0.10's raw RAPL readings wrap. One that went down is unwrapped only when it is a wrap:
    both readings within the standard Intel range, the power it implies no more than
    KMS_KEPLER_ZONE_MAX_WATTS, nor than twice the zone's kepler_node_cpu_watts plus 1 W when
    Kepler reports it, else than four times the zone's recent power plus 10 W once it has one
    (its highest interval of late, forgotten 1% per interval; one in which the zone did not
    move measures nothing), and not every zone fell at once. Every zone falling together (two or more) is an
    exporter restart or a reboot, RAPL counting again from 0: no sample, counted as a reset,
    whether or not the page has watts gauges.

    A node target whose sum this interval cannot give honestly is left out of the node sample
    (stats->spoiled, by reason) instead of being published short or absurd: one of its series
    twice in a page, NaN/Inf/negative in either page, or rising faster than
    KMS_KEPLER_SERIES_MAX_WATTS. So is a node feature when a container's series of it was not a
    number. A node energy series in one page and not in the other (a package's zones lost from a
    page, or back) makes the sums over series incomparable: the interval gives no sample at all,
    counted as spoiled by series_changed per target it touched; when cur lost the series, it is
    a damaged page (stats->damaged), and the next page is diffed against prev. Memory "_total"
    families are gauges in all but name: their current value is used, summed over the same
    containers.

    cpu_time source, in order of preference: eBPF cpu time (kepler_container_bpf_cpu_time_*, the
    container's own tasks), then cgroupfs cpu usage, then kubelet cpu usage (which Kepler keeps
    in milliseconds); for a Kepler 0.10+ node whose page states its usage ratio and its cpus,
    the node's cpu_time is their product (kms_kepler_diff.c: s_node_cpu), its containers' still
    their processes' sums. resident_memory: cgroupfs memory usage, then the kubelet working set. A
    source counts as present when at least one of its series is non-zero (Kepler exports all-zero
    families for collectors that are switched off). One source is chosen per snapshot pair, so
    that a node's sum never mixes sources. docs/scraper.md has the whole story.

    Samples handed to the callback live for the call only. */
#ifndef KMS_KEPLER_DIFF_H
#define KMS_KEPLER_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "kms_kepler.h"
#include "kms_sample.h"

/* Why a node target (or feature) was left out of an interval's node sample, rather than summed
   short of a socket or past a megawatt. */
typedef enum {
    KMS_KEPLER_SPOIL_DUPLICATE,      /* a series of it came twice in one page */
    KMS_KEPLER_SPOIL_NONFINITE,      /* a series of it was NaN, Inf or negative */
    KMS_KEPLER_SPOIL_JUMP,           /* a series of it rose faster than KMS_KEPLER_SERIES_MAX_WATTS */
    KMS_KEPLER_SPOIL_SERIES_CHANGED, /* a series of it in one page only: no node sample at all */
    KMS_KEPLER_SPOIL_COUNT
} kms_kepler_spoil_t;

extern const char *const kms_kepler_spoil_names[KMS_KEPLER_SPOIL_COUNT]; /* "duplicate", ... */

#define KMS_KEPLER_SERIES_MAX_WATTS 20000.0 /* no energy series of one node rises faster */
#define KMS_KEPLER_ZONE_MAX_WATTS 2000.0    /* nor does one RAPL zone: a fall beyond is no wrap */

typedef struct {
    size_t samples;                         /* samples handed to the callback (node and containers) */
    size_t containers_matched;              /* containers in both snapshots, counters intact */
    size_t containers_churned;              /* in only one of the two: they change nothing */
    size_t counter_resets;                  /* counters that went down: their owner gave no sample */
    size_t rapl_wraps;                      /* raw RAPL readings that wrapped and were unwrapped */
    size_t nonfinite;                       /* rates that came out NaN/Inf and were dropped */
    size_t spoiled[KMS_KEPLER_SPOIL_COUNT]; /* node targets and features left out, by reason */
    bool damaged;                           /* some node counters went down and others did not (not a restart
                                   but a damaged page), or a node series of prev is missing from
                                   cur: keep prev as the reference for the next one */
    const char *why;                        /* static text: why there was no node sample; NULL when there was */
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
   `stats` may be NULL; it is overwritten, not accumulated. The one thing written to cur is each
   raw RAPL zone's recent power, the measure by which the next diff (cur as its prev) judges
   whether a fall is a wrap. */
int kms_kepler_diff(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, kms_kepler_sample_fn fn, void *arg,
                    kms_kepler_diff_stats_t *stats);
/* How many damaged snapshots in a row may keep the same prev before cur is taken anyway. */
#define KMS_KEPLER_KEEP_PREV_MAX 3

/* Whether to keep prev as the reference for the next snapshot after one that was `damaged`
   (kms_kepler_diff_stats_t.damaged): yes up to KMS_KEPLER_KEEP_PREV_MAX times in a row, then
   cur is taken anyway, so that a counter that really fell for good does not stop every sample.
   *kept counts the damaged snapshots in a row; 0 to start. */
bool kms_kepler_keep_prev(bool damaged, int *kept);

#endif
