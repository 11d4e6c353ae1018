/*  kms_kepler_query: a Prometheus HTTP API answer, or a query_range dump, walked node by node into
    snapshots (kms_kepler.h), in time order, for kms_kepler_diff (pure: no I/O). */
#ifndef KMS_KEPLER_QUERY_H
#define KMS_KEPLER_QUERY_H

#include <stddef.h>

#include <jansson.h>

#include "kms_kepler.h"
#include "kms_kepler_diff.h"

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
   damaged), anything else to stop.
   `held` (NULL for none) is a second answer of the first shape, whose results hold at every time:
   each is added to every snapshot of its node, with its value (KMS_KEPLER_CPUS_QUERY's answer).
   A node it alone names has no snapshot. */
#define KMS_KEPLER_KEEP_PREV 2
typedef int (*kms_kepler_snapshot_fn)(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, void *arg);

typedef struct {
    size_t results;   /* result entries read */
    size_t points;    /* [ts, "value"] pairs read */
    size_t rejected;  /* malformed results or points, skipped */
    size_t nodes;     /* distinct nodes */
    size_t snapshots; /* snapshots handed to fn */
} kms_kepler_query_stats_t;

/* Returns 0, or -1 when an answer is not one of the shapes above, is a Prometheus error
   (*why then points at its "error" message, borrowed from root), or fn stopped the walk or
   memory ran out. *why (when why is not NULL) is set on -1, to static text or to root's. */
int kms_kepler_query_walk(const json_t *root, const json_t *held, kms_kepler_snapshot_fn fn, void *arg,
                          kms_kepler_query_stats_t *stats, const char **why);

/* The same walk of an answer given as `len` bytes of text. A Prometheus answer that opens as
   Prometheus writes it ({"status":"success","data":{"resultType":...,"result":[, spaces aside)
   is read one result at a time, each kept in a compact copy, so that the answer is never a whole
   JSON tree (some eight times its size: 90 MB for the 11 MB answer of 1,000 Kepler 0.11 nodes);
   any other text is loaded whole. *why is "not JSON" for text that is not, and always static
   text (a Prometheus error answer's message is not kept). */
int kms_kepler_query_walk_text(const char *text, size_t len, const json_t *held, kms_kepler_snapshot_fn fn, void *arg,
                               kms_kepler_query_stats_t *stats, const char **why);

#endif
