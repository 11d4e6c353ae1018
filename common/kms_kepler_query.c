/*  kms_kepler_query: a Prometheus HTTP API answer, or a query_range dump, walked node by node into
    snapshots (kms_kepler_query.h). */
#include "kms_kepler_query.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms_kepler_internal.h" /* s_grow */
#include "kms_num.h"

typedef struct {
    const char *name; /* metric name, borrowed from the JSON */
    size_t name_len;
    json_t *metric;               /* label object */
    json_t *points;               /* array of [ts, "v"] (a vector's single value is wrapped) */
    json_t *single;               /* the vector's own value, when points is NULL */
    const char *node;             /* its node's key, borrowed from the JSON */
    bool held;                    /* from the held answer: fed at every time of its node */
    size_t cursor;                /* next point to look at */
    kms_promtext_label_t *labels; /* built once per result, when its node is walked */
    size_t nlabels;
} s_result_t;

typedef struct {
    s_result_t *results;
    size_t nresults, cap_results;
    /* The results grouped by node, nodes in the order they first appear, each node's results in
       answer order: node n's are results[order[first[n]]] .. results[order[first[n + 1] - 1]]. */
    size_t *order, *first;
    const char **nodes;
    size_t nnodes;
    kms_kepler_query_stats_t *stats;
} s_walk_t;

static const char *s_node_key(json_t *metric)
{
    static const char *names[] = {"instance", "exported_instance", "node_name"};
    for (int i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(metric, names[i]));
        if (v && *v)
            return v;
    }
    return "";
}

static int s_walk_add(s_walk_t *w, const char *name, json_t *result, bool held)
{
    json_t *metric = json_object_get(result, "metric");
    json_t *values = json_object_get(result, "values");
    json_t *value = json_object_get(result, "value");
    if (!json_is_object(metric) || !(held ? json_is_array(value) : json_is_array(values) || json_is_array(value))) {
        w->stats->rejected++;
        return 0;
    }
    if (!name)
        name = json_string_value(json_object_get(metric, "__name__"));
    if (!name) {
        w->stats->rejected++;
        return 0;
    }
    void *p = w->results;
    if (s_grow(&p, &w->cap_results, w->nresults + 1, sizeof *w->results) != 0)
        return -1;
    w->results = p;
    w->results[w->nresults++] = (s_result_t){.name = name,
                                             .name_len = strlen(name),
                                             .metric = metric,
                                             .points = json_is_array(values) && !held ? values : NULL,
                                             .single = json_is_array(values) && !held ? NULL : value,
                                             .node = s_node_key(metric),
                                             .held = held};
    w->stats->results++;
    return 0;
}

typedef struct {
    const char *key;
    size_t at;  /* a result's index; for a node, its first result's */
    size_t run; /* for a node: where its results start in the sorted list */
} s_keyed_t;

static int s_by_at(const void *a, const void *b)
{
    size_t x = ((const s_keyed_t *) a)->at, y = ((const s_keyed_t *) b)->at;
    return (x > y) - (x < y);
}

static int s_by_key(const void *a, const void *b)
{
    int c = strcmp(((const s_keyed_t *) a)->key, ((const s_keyed_t *) b)->key);
    return c ? c : s_by_at(a, b);
}

/* Groups the results by node (s_walk_t's order, first and nodes) by sorting them on their node
   key: a thousand nodes' answer holds some 70,000 results, and finding each one's node in a
   list of the nodes, then each node's results among all of them, was quadratic. */
static int s_group(s_walk_t *w)
{
    size_t n = w->nresults, size = n ? n : 1;
    s_keyed_t *sorted = malloc(size * sizeof *sorted), *nodes = malloc(size * sizeof *nodes);
    w->order = malloc(size * sizeof *w->order);
    w->first = malloc((n + 1) * sizeof *w->first);
    w->nodes = malloc(size * sizeof *w->nodes);
    int rc = -1;
    if (sorted && nodes && w->order && w->first && w->nodes) {
        for (size_t i = 0; i < n; i++)
            sorted[i] = (s_keyed_t){w->results[i].node, i, 0};
        qsort(sorted, n, sizeof *sorted, s_by_key);
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || strcmp(sorted[i].key, sorted[i - 1].key) != 0)
                nodes[count++] = (s_keyed_t){sorted[i].key, sorted[i].at, i};
        qsort(nodes, count, sizeof *nodes, s_by_at); /* in the order they first appear */
        size_t at = 0;
        for (size_t k = 0; k < count; k++) {
            w->nodes[k] = nodes[k].key;
            w->first[k] = at;
            for (size_t i = nodes[k].run; i < n && strcmp(sorted[i].key, nodes[k].key) == 0; i++)
                w->order[at++] = sorted[i].at;
        }
        w->first[count] = at;
        w->nnodes = count;
        rc = 0;
    }
    free(sorted);
    free(nodes);
    return rc;
}

/* Reads [ts, "value"]; -1 when malformed. */
static int s_point(json_t *pair, int64_t *ms, double *value)
{
    json_t *t = json_array_get(pair, 0), *v = json_array_get(pair, 1);
    if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_number(t) || !json_is_string(v))
        return -1;
    double ts = json_number_value(t);
    if (!isfinite(ts) || ts < 0 || ts > 1e11)
        return -1;
    *ms = llround(ts * 1000.0);
    return kms_num_parse_double_n(json_string_value(v), json_string_length(v), value);
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}
static void s_walk_feed(s_result_t *r, int64_t ms, kms_kepler_snapshot_t *snap)
{
    json_t *pair = NULL;
    int64_t at = 0;
    double value = 0;
    if (r->points) {
        size_t n = json_array_size(r->points);
        while (r->cursor < n) {
            json_t *p = json_array_get(r->points, r->cursor);
            if (s_point(p, &at, &value) != 0) {
                r->cursor++;
                continue;
            }
            if (at < ms) {
                r->cursor++;
                continue;
            }
            if (at == ms) {
                pair = p;
                r->cursor++;
            }
            break;
        }
    } else if (s_point(r->single, &at, &value) == 0 && (at == ms || r->held)) {
        pair = r->single;
    }
    if (!pair)
        return;
    kms_promtext_series_t series = {.name = {r->name, r->name_len},
                                    .labels = r->labels,
                                    .label_count = r->nlabels,
                                    .value = value,
                                    .has_timestamp = true,
                                    .timestamp_ms = ms,
                                    .type = KMS_PROMTEXT_UNTYPED,
                                    .family = {r->name, r->name_len}};
    kms_kepler_snapshot_add(snap, &series);
}

static int s_walk_points(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg, kms_kepler_snapshot_t **snaps,
                         const char **why);

/* The labels of a result as the series fed to the snapshot carry them (values decoded, as
   JSON strings are), into `out`; returns how many. */
static size_t s_result_labels(const s_result_t *r, kms_promtext_label_t *out)
{
    size_t count = 0;
    const char *key;
    json_t *val;
    json_object_foreach(r->metric, key, val) {
        if (!json_is_string(val) || strcmp(key, "__name__") == 0)
            continue;
        if (count == KMS_PROMTEXT_MAX_LABELS)
            break;
        out[count++] = (kms_promtext_label_t){
            {key, strlen(key)}, {json_string_value(val), json_string_length(val)}, false};
    }
    return count;
}

static int s_walk_node(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg, kms_kepler_snapshot_t **snaps,
                       const char **why)
{
    /* Each result's labels, built once for all its points. */
    size_t nlabels = 0;
    for (size_t k = w->first[node]; k < w->first[node + 1]; k++)
        nlabels += json_object_size(w->results[w->order[k]].metric);
    kms_promtext_label_t *labels = malloc((nlabels ? nlabels : 1) * sizeof *labels);
    if (!labels) {
        *why = "out of memory";
        return -1;
    }
    for (size_t k = w->first[node], at = 0; k < w->first[node + 1]; k++) {
        s_result_t *r = &w->results[w->order[k]];
        r->labels = labels + at;
        r->nlabels = s_result_labels(r, r->labels);
        at += r->nlabels;
    }
    int rc = s_walk_points(w, node, fn, arg, snaps, why);
    free(labels);
    return rc;
}

static int s_walk_points(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg, kms_kepler_snapshot_t **snaps,
                         const char **why)
{
    size_t npoints = 0;
    for (size_t k = w->first[node]; k < w->first[node + 1]; k++) {
        const s_result_t *r = &w->results[w->order[k]];
        npoints += r->points ? json_array_size(r->points) : 1;
    }
    int64_t *times = malloc((npoints ? npoints : 1) * sizeof *times);
    if (!times) {
        *why = "out of memory";
        return -1;
    }
    size_t nt = 0;
    for (size_t j = w->first[node]; j < w->first[node + 1]; j++) {
        s_result_t *r = &w->results[w->order[j]];
        size_t n = r->held ? 0 : r->points ? json_array_size(r->points) : 1;
        for (size_t k = 0; k < n; k++) {
            double v;
            int64_t ms;
            if (s_point(r->points ? json_array_get(r->points, k) : r->single, &ms, &v) == 0) {
                times[nt++] = ms;
                w->stats->points++;
            } else {
                w->stats->rejected++;
            }
        }
    }
    qsort(times, nt, sizeof *times, s_cmp_i64);
    int rc = 0, kept = 0;
    bool have_prev = false;
    for (size_t k = 0; k < nt && rc == 0; k++) {
        if (k > 0 && times[k] == times[k - 1])
            continue;
        kms_kepler_snapshot_t *cur = snaps[1];
        kms_kepler_snapshot_begin(cur, (double) times[k] / 1000.0, w->nodes[node]);
        for (size_t j = w->first[node]; j < w->first[node + 1]; j++)
            s_walk_feed(&w->results[w->order[j]], times[k], cur);
        w->stats->snapshots++;
        int verdict = fn(have_prev ? snaps[0] : NULL, cur, arg);
        if (kms_kepler_keep_prev(verdict == KMS_KEPLER_KEEP_PREV && have_prev, &kept))
            continue;
        if (verdict != 0 && verdict != KMS_KEPLER_KEEP_PREV) {
            *why = "stopped by the caller";
            rc = -1;
        }
        snaps[1] = snaps[0];
        snaps[0] = cur;
        have_prev = true;
    }
    free(times);
    return rc;
}

/* Adds the results of one answer (either shape) to the walk; -1 with *why set. */
static int s_walk_answer(s_walk_t *w, json_t *obj, bool held, const char **why)
{
    if (!json_is_object(obj)) {
        *why = "not a JSON object";
        return -1;
    }
    json_t *status = json_object_get(obj, "status");
    if (status) {
        if (!json_is_string(status) || strcmp(json_string_value(status), "success") != 0) {
            const char *msg = json_string_value(json_object_get(obj, "error"));
            *why = msg ? msg : "Prometheus answered with an error";
            return -1;
        }
        json_t *data = json_object_get(obj, "data");
        const char *type = json_string_value(json_object_get(data, "resultType"));
        json_t *result = json_object_get(data, "result");
        if (!type || (strcmp(type, "vector") != 0 && strcmp(type, "matrix") != 0) || !json_is_array(result)) {
            *why = "Prometheus answer is neither a vector nor a matrix";
            return -1;
        }
        size_t i;
        json_t *r;
        json_array_foreach(result, i, r) {
            if (s_walk_add(w, NULL, r, held) != 0)
                return -1;
        }
        return 0;
    }
    const char *name;
    json_t *list;
    json_object_foreach(obj, name, list) {
        if (!json_is_array(list)) {
            *why = "not a Prometheus answer nor a query_range dump";
            return -1;
        }
        size_t i;
        json_t *r;
        json_array_foreach(list, i, r) {
            if (s_walk_add(w, name, r, held) != 0)
                return -1;
        }
    }
    return 0;
}

int kms_kepler_query_walk(const json_t *root, const json_t *held, kms_kepler_snapshot_fn fn, void *arg,
                          kms_kepler_query_stats_t *stats, const char **why)
{
    assert(fn);
    kms_kepler_query_stats_t local;
    const char *local_why;
    if (!stats)
        stats = &local;
    if (!why)
        why = &local_why;
    memset(stats, 0, sizeof *stats);
    *why = NULL;
    s_walk_t w = {0};
    w.stats = stats;
    /* jansson's getters take non-const; nothing is modified */
    int rc = s_walk_answer(&w, (json_t *) root, false, why);
    if (rc == 0 && held)
        rc = s_walk_answer(&w, (json_t *) held, true, why);
    if (rc == 0)
        rc = s_group(&w);
    if (rc != 0 && !*why)
        *why = "out of memory";
    stats->nodes = w.nnodes;
    kms_kepler_snapshot_t *snaps[2] = {kms_kepler_snapshot_new(), kms_kepler_snapshot_new()};
    if (rc == 0 && (!snaps[0] || !snaps[1])) {
        *why = "out of memory";
        rc = -1;
    }
    for (size_t n = 0; n < w.nnodes && rc == 0; n++)
        rc = s_walk_node(&w, n, fn, arg, snaps, why);
    kms_kepler_snapshot_destroy(&snaps[0]);
    kms_kepler_snapshot_destroy(&snaps[1]);
    free(w.results);
    free(w.order);
    free(w.first);
    free(w.nodes);
    return rc;
}
