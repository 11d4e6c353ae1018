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
    int64_t ms;
    double value;
} s_point_t;

/* A result as the walk keeps it: its own copy of what it says, in one allocation, so that the
   JSON it was read from can go at once (a JSON tree is some eight times the answer's size). */
typedef struct {
    kms_slice_t name;
    kms_promtext_label_t *labels; /* values decoded, as JSON strings are; no __name__ */
    size_t nlabels;
    s_point_t *points; /* the well-formed ones, in answer order (time order) */
    size_t npoints;
    const char *node; /* its node's key */
    bool held;        /* from the held answer: fed at every time of its node */
    size_t cursor;    /* next point to look at */
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

/* Reads [ts, "value"]; -1 when malformed. */
static int s_point(json_t *pair, s_point_t *out)
{
    double ts;
    const char *v;
    size_t len;
    if (json_unpack(pair, "[Fs%!]", &ts, &v, &len) != 0 || !isfinite(ts) || ts < 0 || ts > 1e11)
        return -1;
    out->ms = llround(ts * 1000.0);
    return kms_num_parse_double_n(v, len, &out->value);
}

/* The node key: the scrape target's `instance` (every series of one Kepler exporter carries the
   same one), else `exported_instance`, else `node_name`, else "". */
static const char *s_node_key(const s_result_t *r)
{
    static const char *names[] = {"instance", "exported_instance", "node_name"};
    for (int i = 0; i < 3; i++)
        for (size_t k = 0; k < r->nlabels; k++)
            if (kms_slice_eq(r->labels[k].name, names[i]) && r->labels[k].value.len > 0)
                return r->labels[k].value.ptr;
    return "";
}

/* Copies `text` into *at, NUL-terminated; returns the copy as a slice. */
static kms_slice_t s_put(char **at, const char *text, size_t len)
{
    kms_slice_t s = {*at, len};
    memcpy(*at, text, len);
    (*at)[len] = '\0';
    *at += len + 1;
    return s;
}

/* Keeps one result (an object {"metric":{labels},"values":[[ts,"v"],...]} or "value":[ts,"v"])
   named `name` (NULL: its __name__); a malformed one, or point, is counted and skipped. -1 when
   out of memory. */
static int s_walk_add(s_walk_t *w, const char *name, json_t *result, bool held)
{
    json_t *metric = json_object_get(result, "metric");
    json_t *values = held ? NULL : json_object_get(result, "values");
    json_t *value = json_object_get(result, "value");
    if (!name)
        name = json_string_value(json_object_get(metric, "__name__"));
    if (!json_is_object(metric) || !(json_is_array(values) || json_is_array(value)) || !name) {
        w->stats->rejected++;
        return 0;
    }
    size_t npoints = json_is_array(values) ? json_array_size(values) : 1;
    size_t nlabels = 0, bytes = strlen(name) + 1;
    const char *key;
    json_t *val;
    json_object_foreach(metric, key, val) {
        if (json_is_string(val) && strcmp(key, "__name__") != 0 && nlabels < KMS_PROMTEXT_MAX_LABELS) {
            nlabels++;
            bytes += strlen(key) + json_string_length(val) + 2;
        }
    }
    void *p = w->results;
    if (s_grow(&p, &w->cap_results, w->nresults + 1, sizeof *w->results) != 0)
        return -1;
    w->results = p;
    /* points first, then labels, then the strings: each part aligned for what it holds */
    char *block = malloc(npoints * sizeof(s_point_t) + nlabels * sizeof(kms_promtext_label_t) + bytes);
    if (!block)
        return -1;
    s_result_t *r = &w->results[w->nresults++];
    *r = (s_result_t){.points = (s_point_t *) block, .held = held};
    r->labels = (kms_promtext_label_t *) (block + npoints * sizeof(s_point_t));
    char *text = (char *) (r->labels + nlabels);
    r->name = s_put(&text, name, strlen(name));
    json_object_foreach(metric, key, val) {
        if (json_is_string(val) && strcmp(key, "__name__") != 0 && r->nlabels < nlabels) {
            kms_promtext_label_t *l = &r->labels[r->nlabels++];
            l->name = s_put(&text, key, strlen(key));
            l->value = s_put(&text, json_string_value(val), json_string_length(val));
            l->escaped = false;
        }
    }
    r->node = s_node_key(r);
    for (size_t k = 0; k < npoints; k++) {
        if (s_point(json_is_array(values) ? json_array_get(values, k) : value, &r->points[r->npoints]) == 0) {
            r->npoints++;
            w->stats->points += !held;
        } else {
            w->stats->rejected++;
        }
    }
    w->stats->results++;
    return 0;
}

static int s_walk_list(s_walk_t *w, const char *name, json_t *list, bool held)
{
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        if (s_walk_add(w, name, r, held) != 0)
            return -1;
    }
    return 0;
}

/* Adds the results of one answer, loaded whole (either shape), to the walk; -1 with *why set. */
static int s_walk_answer(s_walk_t *w, json_t *obj, bool held, const char **why)
{
    if (!json_is_object(obj)) {
        *why = "not a JSON object";
        return -1;
    }
    json_t *status = json_object_get(obj, "status");
    if (status) {
        if (!json_is_string(status) || strcmp(json_string_value(status), "success") != 0) {
            *why = "Prometheus answered with an error"; /* its message: kms_kepler_query_walk */
            return -1;
        }
        const char *type;
        json_t *result;
        if (json_unpack(obj, "{s:{s:s, s:o}}", "data", "resultType", &type, "result", &result) != 0
            || (strcmp(type, "vector") != 0 && strcmp(type, "matrix") != 0) || !json_is_array(result)) {
            *why = "Prometheus answer is neither a vector nor a matrix";
            return -1;
        }
        return s_walk_list(w, NULL, result, held);
    }
    const char *name;
    json_t *list;
    json_object_foreach(obj, name, list) {
        if (!json_is_array(list)) {
            *why = "not a Prometheus answer nor a query_range dump";
            return -1;
        }
        if (s_walk_list(w, name, list, held) != 0)
            return -1;
    }
    return 0;
}

static size_t s_skip_space(const char *text, size_t len, size_t at)
{
    while (at < len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r'))
        at++;
    return at;
}

/* Where the results of a successful answer begin, just past `"result":[`, when the text opens as
   Prometheus writes it (v2 web/api/v1: status, then data's resultType and result, in that order),
   whatever the spaces between; 0 otherwise (the answer is then loaded whole). */
static size_t s_results_start(const char *text, size_t len)
{
    static const char *tokens[] = {"{", "\"status\"", ":", "\"success\"", ",", "\"data\"", ":", "{", "\"resultType\"",
                                   ":", NULL,         ",", "\"result\"",  ":", "["};
    size_t at = 0;
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        at = s_skip_space(text, len, at);
        const char *token = tokens[i];
        if (!token) /* the result type */
            token = len - at > 8 && memcmp(text + at, "\"matrix\"", 8) == 0 ? "\"matrix\"" : "\"vector\"";
        size_t n = strlen(token);
        if (len - at < n || memcmp(text + at, token, n) != 0)
            return 0;
        at += n;
    }
    return at;
}

/* Adds the results of an answer in text, one result loaded at a time when it opens as
   Prometheus writes it, else loaded whole; -1 with *why set. */
static int s_walk_text(s_walk_t *w, const char *text, size_t len, const char **why)
{
    json_error_t err;
    size_t at = s_results_start(text, len);
    if (at == 0) {
        json_t *root = json_loadb(text, len, 0, &err);
        if (!root)
            goto not_json;
        int rc = s_walk_answer(w, root, false, why);
        json_decref(root);
        return rc;
    }
    at = s_skip_space(text, len, at);
    bool more = at == len || text[at] != ']';
    at += !more;
    while (more) {
        json_t *r = json_loadb(text + at, len - at, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);
        if (!r)
            goto not_json;
        at += (size_t) err.position;
        int rc = s_walk_add(w, NULL, r, false);
        json_decref(r);
        if (rc != 0)
            return -1;
        at = s_skip_space(text, len, at);
        if (at == len || (text[at] != ',' && text[at] != ']'))
            goto not_json;
        more = text[at++] == ',';
    }
    at = s_skip_space(text, len, at);
    if (at < len && text[at] == '}') /* the end of "data" */
        return 0;
not_json:
    *why = "not JSON";
    return -1;
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
   key: a thousand nodes' answer holds some 40,000 results, and finding each one's node in a
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

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

/* Adds the result's point at `ms` (a held result's one point at any time) to the snapshot. */
static void s_walk_feed(s_result_t *r, int64_t ms, kms_kepler_snapshot_t *snap)
{
    const s_point_t *point = NULL;
    if (r->held)
        point = r->npoints ? &r->points[0] : NULL;
    else {
        while (r->cursor < r->npoints && r->points[r->cursor].ms < ms)
            r->cursor++;
        if (r->cursor < r->npoints && r->points[r->cursor].ms == ms)
            point = &r->points[r->cursor++];
    }
    if (!point)
        return;
    kms_promtext_series_t series = {.name = r->name,
                                    .labels = r->labels,
                                    .label_count = r->nlabels,
                                    .value = point->value,
                                    .has_timestamp = true,
                                    .timestamp_ms = ms,
                                    .type = KMS_PROMTEXT_UNTYPED,
                                    .family = r->name};
    kms_kepler_snapshot_add(snap, &series);
}

static int s_walk_node(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg, kms_kepler_snapshot_t **snaps,
                       const char **why)
{
    size_t npoints = 0;
    for (size_t k = w->first[node]; k < w->first[node + 1]; k++) {
        const s_result_t *r = &w->results[w->order[k]];
        npoints += r->held ? 0 : r->npoints;
    }
    int64_t *times = malloc((npoints ? npoints : 1) * sizeof *times);
    if (!times) {
        *why = "out of memory";
        return -1;
    }
    size_t nt = 0;
    for (size_t j = w->first[node]; j < w->first[node + 1]; j++) {
        const s_result_t *r = &w->results[w->order[j]];
        for (size_t k = 0; !r->held && k < r->npoints; k++)
            times[nt++] = r->points[k].ms;
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

/* The walk proper, once the results are in (rc 0), then the walk's memory freed. */
static int s_walk_run(s_walk_t *w, int rc, kms_kepler_snapshot_fn fn, void *arg, const char **why)
{
    if (rc == 0)
        rc = s_group(w);
    if (rc != 0 && !*why)
        *why = "out of memory";
    w->stats->nodes = w->nnodes;
    kms_kepler_snapshot_t *snaps[2] = {kms_kepler_snapshot_new(), kms_kepler_snapshot_new()};
    if (rc == 0 && (!snaps[0] || !snaps[1])) {
        *why = "out of memory";
        rc = -1;
    }
    for (size_t n = 0; n < w->nnodes && rc == 0; n++)
        rc = s_walk_node(w, n, fn, arg, snaps, why);
    kms_kepler_snapshot_destroy(&snaps[0]);
    kms_kepler_snapshot_destroy(&snaps[1]);
    for (size_t i = 0; i < w->nresults; i++)
        free(w->results[i].points); /* the result's one allocation */
    free(w->results);
    free(w->order);
    free(w->first);
    free(w->nodes);
    return rc;
}

/* Either walk: of `text` when it is not NULL, else of `root`; then of `held`. */
static int s_walk(const json_t *root, const char *text, size_t len, const json_t *held, kms_kepler_snapshot_fn fn,
                  void *arg, kms_kepler_query_stats_t *stats, const char **why)
{
    kms_kepler_query_stats_t local_stats;
    const char *local_why;
    why = why ? why : &local_why;
    *why = NULL;
    s_walk_t w = {.stats = stats ? stats : &local_stats};
    memset(w.stats, 0, sizeof *w.stats);
    /* jansson's getters take non-const; nothing is modified */
    int rc = text ? s_walk_text(&w, text, len, why) : s_walk_answer(&w, (json_t *) root, false, why);
    const char *message = json_string_value(json_object_get((json_t *) root, "error"));
    if (rc != 0 && message && *message) /* a Prometheus error answer's own word, borrowed from root */
        *why = message;
    if (rc == 0 && held)
        rc = s_walk_answer(&w, (json_t *) held, true, why);
    return s_walk_run(&w, rc, fn, arg, why);
}

int kms_kepler_query_walk(const json_t *root, const json_t *held, kms_kepler_snapshot_fn fn, void *arg,
                          kms_kepler_query_stats_t *stats, const char **why)
{
    assert(fn);
    return s_walk(root, NULL, 0, held, fn, arg, stats, why);
}

int kms_kepler_query_walk_text(const char *text, size_t len, const json_t *held, kms_kepler_snapshot_fn fn, void *arg,
                               kms_kepler_query_stats_t *stats, const char **why)
{
    assert(text && fn);
    return s_walk(NULL, text, len, held, fn, arg, stats, why);
}
