/*  scraper: the fetch-convert-publish loop of kms-scraper.

    One thread. Every target owns one easy handle, reused from cycle to cycle so that its
    connection stays open, and a body buffer that grows to the largest answer seen (capped by
    --max-body-bytes, enforced as bytes arrive). At each cycle the idle targets are added to the
    multi handle; the loop then waits on all of them at once in slices of at most 100 ms, so a
    slow target delays nobody and a stop request is seen quickly. */
#include "scraper.h"

#include "kms_config.h"

#include <assert.h>
#include <czmq.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_kepler.h"
#include "kms_kepler_diff.h"
#include "kms_kepler_query.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_sample.h"
#include "kms_sample_msgpack.h"
#include "scraper_discovery.h"
#include "scraper_metrics.h"

/* Targets at most: the URLs given and the addresses their names resolve to, together. */
#define S_MAX_TARGETS 1024
/* A subscriber that vanished without a word (its network cut, or this container back on the
   network under another address) leaves a TCP connection that retransmits for some 15 minutes
   while every sample queues behind it. ZMTP heartbeats find it out: no answer to a PING within
   S_HEARTBEAT_TIMEOUT_MS closes that connection, and a connecting socket connects again (the
   trainer's name resolved afresh); what was lost in the dead connection shows as a seq gap.
   A connection attempt whose SYN goes unanswered (the trainer's network out of reach) would
   wait out the kernel's SYN retries, some two minutes, before the next; it gives up after
   S_HEARTBEAT_TIMEOUT_MS instead. */
#define S_HEARTBEAT_IVL_MS 1000
#define S_HEARTBEAT_TIMEOUT_MS 5000
#define S_MAX_API_NODES 4096

typedef struct {
    char name[KMS_ID_MAX];
    kms_kepler_snapshot_t *prev;
    double last_ts;
    int kept; /* damaged points in a row that left prev as the reference */
} s_api_node_t;

typedef struct {
    struct scraper_t *owner;
    size_t index; /* its slot, here and in scraper_metrics */
    char *url;    /* NULL: a free slot */
    int source;   /* the --kepler-url name it was resolved from, or -1 */
    char host[KMS_ID_MAX];
    CURL *easy;
    bool in_flight;
    double started; /* monotonic */
    char *body;
    size_t len, cap, max;
    bool too_large;
    char error[CURL_ERROR_SIZE];
    kms_kepler_snapshot_t *prev, *cur; /* /metrics pages: the last good scrape and the new one */
    bool have_prev;
    int kept;         /* damaged pages in a row that left prev as the reference */
    int last_outcome; /* -1 ok, else the scraper_failure_t of the last scrape */
    bool skipping;    /* the last cycle found this target still in flight */
    bool claimed;     /* its last page named a node that another target's pages give */
    uint64_t spoiled_intervals[KMS_KEPLER_SPOIL_COUNT]; /* for the log's rate (kms_log_decade) */
} s_target_t;

/* A --kepler-url whose host is a name looked up every --resolve-interval. */
typedef struct {
    char *url;
    char *name;
    int last_outcome;  /* scraper_lookup_outcome_t of the last lookup, or -1 */
    size_t last_found; /* and its count of addresses: a change is logged at info or warn */
} s_source_t;

struct scraper_t {
    scraper_config_t config;
    bool api;            /* --prometheus-url mode: one target, many nodes */
    s_target_t *targets; /* S_MAX_TARGETS slots */
    size_t ntargets;     /* slots in use or used before: [0, ntargets) is walked */
    s_source_t *sources;
    size_t nsources;
    const char **source_names; /* the sources' names in one array, for the resolver thread */
    scraper_discovery_t *discovery;
    zhashx_t *claims; /* node name -> 1 + the slot of the target whose pages give it */
    CURLM *multi;
    struct curl_slist *headers;
    zsock_t *pub;
    void *pub_handle;
    uint64_t seq;
    scraper_metrics_t *metrics;
    s_api_node_t *nodes;
    size_t nnodes;
    char *api_query;      /* "<base>/api/v1/query?query=" and the escaped selector, without the window */
    char *api_cpus_url;   /* KMS_KEPLER_CPUS_QUERY's URL with the default selector, else NULL */
    bool api_asking_cpus; /* the transfer in flight asks for api_cpus_url, the range comes next */
    json_t *api_cpus;     /* its last answer, walked as held results with each range answer */
    double api_answered;  /* monotonic time of the last usable answer; 0: none yet */
    unsigned char frame[KMS_SAMPLE_MAX_FRAME];
    uint64_t published_node, published_container, dropped; /* since the last flush to metrics */
};

/* ---------------------------------------------------------------- set-up */

static size_t s_write(char *data, size_t size, size_t nmemb, void *arg)
{
    s_target_t *t = arg;
    size_t n = size * nmemb;
    if (t->len + n > t->max) {
        t->too_large = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 65536;
        while (cap < t->len + n)
            cap *= 2;
        if (cap > t->max)
            cap = t->max;
        char *body = realloc(t->body, cap);
        if (!body)
            return 0;
        t->body = body;
        t->cap = cap;
    }
    memcpy(t->body + t->len, data, n);
    t->len += n;
    return n;
}

/* The host part of an http(s) URL, through libcurl's own parser. -1 when not such a URL. */
static int s_url_host(const char *url, char *host, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)
        && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && *h) {
        snprintf(host, cap, "%s", h);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}

/* A target in its slot, named by `url` in the metrics too; `host` names its node when its pages
   give none. */
static int s_target_init(scraper_t *self, s_target_t *t, const char *url, const char *host)
{
    t->owner = self;
    snprintf(t->host, sizeof t->host, "%s", host);
    t->index = (size_t) (t - self->targets);
    t->source = -1;
    t->max = (size_t) self->config.max_body_bytes;
    t->last_outcome = -1;
    if (!(t->url = strdup(url)) || !(t->easy = curl_easy_init()) || !(t->prev = kms_kepler_snapshot_new())
        || !(t->cur = kms_kepler_snapshot_new()))
        return -1;
    double timeout = self->config.timeout > 0 ? self->config.timeout : self->config.interval;
    long timeout_ms = lround(timeout * 1000);
    long connect_ms = lround(fmin(timeout, self->config.connect_timeout) * 1000);
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding libcurl decodes */
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 1);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) t->max);
    curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "kms-scraper/" KMS_VERSION);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, self->headers);
    return scraper_metrics_name_target(self->metrics, t->index, url);
}

static void s_target_fini(scraper_t *self, s_target_t *t)
{
    if (t->easy) {
        if (t->in_flight)
            curl_multi_remove_handle(self->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    kms_kepler_snapshot_destroy(&t->prev);
    kms_kepler_snapshot_destroy(&t->cur);
    free(t->body);
    free(t->url);
    memset(t, 0, sizeof *t);
}

/* A free slot for a new target, or NULL when all S_MAX_TARGETS are taken. */
static s_target_t *s_free_slot(scraper_t *self)
{
    for (size_t i = 0; i < self->ntargets; i++)
        if (!self->targets[i].url)
            return &self->targets[i];
    return self->ntargets < S_MAX_TARGETS ? &self->targets[self->ntargets++] : NULL;
}

/* One URL of --kepler-url into a target; with --resolve-interval, a URL whose host is a name
   into a source, whose targets come with its lookups. -1 (reported) on a URL that is not http(s). */
static int s_target_add(const char *url, int index, void *arg)
{
    scraper_t *self = arg;
    (void) index;
    char host[KMS_ID_MAX];
    if (s_url_host(url, host, sizeof host) != 0) {
        fprintf(stderr, "kms-scraper: invalid value '%s' for --kepler-url: not an http(s) URL\n", url);
        return -1;
    }
    if (self->config.resolve_interval > 0 && scraper_discovery_is_name(host)) {
        s_source_t *grown = realloc(self->sources, (self->nsources + 1) * sizeof *grown);
        if (!grown)
            return -1;
        self->sources = grown;
        s_source_t *src = &self->sources[self->nsources++];
        *src = (s_source_t){strdup(url), strdup(host), -1, 0};
        return src->url && src->name ? 0 : -1;
    }
    s_target_t *t = s_free_slot(self);
    if (!t) {
        fprintf(stderr, "kms-scraper: invalid value for --kepler-url: more than %d URLs\n", S_MAX_TARGETS);
        return -1;
    }
    return s_target_init(self, t, url, host);
}

/* Splits the comma list into targets; -1 (reported) on a bad list. */
static int s_targets_from_list(scraper_t *self, const char *list)
{
    int n = kms_config_split(list, s_target_add, self);
    if (n == 0)
        fprintf(stderr, "kms-scraper: invalid value '%s' for --kepler-url: no URL\n", list);
    if (n <= 0)
        return -1;
    if (self->nsources == 0)
        return 0;
    const char **names = self->source_names = calloc(self->nsources, sizeof *names);
    for (size_t i = 0; names && i < self->nsources; i++)
        names[i] = self->sources[i].name;
    if (names)
        self->discovery = scraper_discovery_new(names, self->nsources, self->config.resolve_interval, S_MAX_TARGETS);
    return self->discovery ? 0 : -1;
}

/* ---------------------------------------------------------------- discovery */

static int s_compare_address(const void *key, const void *item)
{
    return strcmp(key, *(const char *const *) item);
}

/* A target for `address` of source `source`; false when every slot is taken. */
static bool s_target_join(scraper_t *self, int source, const char *address)
{
    char url[2048], quoted[512];
    s_target_t *t = s_free_slot(self);
    if (!t)
        return false;
    kms_log_quote(self->sources[source].name, quoted, sizeof quoted);
    if (scraper_discovery_url(self->sources[source].url, address, url, sizeof url) != 0
        || s_target_init(self, t, url, address) != 0) {
        kms_error("cannot add a target", "name=%s address=%s", quoted, address);
        s_target_fini(self, t);
        return true;
    }
    t->source = source;
    kms_info("target joined", "name=%s target=%s", quoted, url);
    return true;
}

static void s_target_leave(scraper_t *self, s_target_t *t)
{
    char url[512], quoted[512];
    kms_info("target left", "name=%s target=%s", kms_log_quote(self->sources[t->source].name, quoted, sizeof quoted),
             kms_log_quote(t->url, url, sizeof url));
    scraper_metrics_name_target(self->metrics, t->index, NULL);
    s_target_fini(self, t);
}

/* The targets of `source` become its lookup's addresses: an address that left the answer leaves
   (a pod no longer ready leaves its headless Service's records), a new one joins. Returns how
   many addresses found no free slot (the URLs given and other names hold the rest), or -1 when
   out of memory, which leaves the targets as they were. */
static long s_follow(scraper_t *self, const scraper_lookup_t *lookup)
{
    bool *kept = calloc(lookup->count, sizeof *kept); /* the addresses that already are targets */
    if (!kept)
        return -1;
    for (size_t i = 0; i < self->ntargets; i++) {
        s_target_t *t = &self->targets[i];
        if (!t->url || t->source != (int) lookup->source)
            continue;
        const char *const *at = bsearch(t->host, lookup->addresses, lookup->count, sizeof *lookup->addresses,
                                        s_compare_address);
        if (at)
            kept[at - lookup->addresses] = true;
        else
            s_target_leave(self, t);
    }
    long no_room = 0;
    for (size_t i = 0; i < lookup->count; i++)
        if (!kept[i] && !s_target_join(self, (int) lookup->source, lookup->addresses[i]))
            no_room++;
    free(kept);
    return no_room;
}

/* A finished lookup of a --kepler-url name: its addresses become its targets (s_follow). A
   failed or empty lookup keeps the last good targets: a resolver outage must not stop the
   scrapes, and the targets that are really gone only fail theirs, which publishes nothing. One
   log line a lookup, at debug while nothing changes. */
static void s_on_lookup(const scraper_lookup_t *lookup, void *arg)
{
    scraper_t *self = arg;
    s_source_t *src = &self->sources[lookup->source];
    char quoted[512];
    kms_log_quote(src->name, quoted, sizeof quoted);
    long no_room = lookup->status == 0 && lookup->count > 0 ? s_follow(self, lookup) : 0;
    if (no_room < 0) {
        kms_error("out of memory, the last targets stay", "name=%s", quoted);
        return;
    }
    size_t kept = lookup->count - (size_t) no_room;
    int outcome = lookup->status != 0    ? SCRAPER_LOOKUP_FAILED
                  : lookup->count == 0   ? SCRAPER_LOOKUP_EMPTY
                  : lookup->found > kept ? SCRAPER_LOOKUP_OVER_LIMIT
                                         : SCRAPER_LOOKUP_OK;
    scraper_metrics_add_lookup(self->metrics, outcome);
    bool same = src->last_outcome == outcome && src->last_found == lookup->found;
    kms_log_level_t level = same ? KMS_LOG_DEBUG : outcome ? KMS_LOG_WARN : KMS_LOG_INFO;
    src->last_outcome = outcome;
    src->last_found = lookup->found;
    if (outcome == SCRAPER_LOOKUP_FAILED || outcome == SCRAPER_LOOKUP_EMPTY)
        kms_log_at(level, "lookup gave no address, the last targets stay", "name=%s why=\"%s\"", quoted,
                   lookup->status ? gai_strerror(lookup->status) : "no address");
    else if (outcome == SCRAPER_LOOKUP_OVER_LIMIT)
        kms_log_at(level, "name resolves to more addresses than there can be targets, the first ones kept",
                   "name=%s addresses=%zu kept=%zu limit=%d", quoted, lookup->found, kept, S_MAX_TARGETS);
    else
        kms_log_at(level, "name resolved", "name=%s addresses=%zu", quoted, lookup->count);
}

/* Each query reaches back to the last usable answer (the first one to nothing), plus two
   intervals and 5 s for the scrapes Prometheus had not finished then; at most a minute (or 3
   intervals) after failed answers. Points already seen are skipped (s_on_api_snapshot), and a
   node with one point in an answer is diffed when its next point comes. With 1,000 nodes at a
   5 s interval that is 3 or 4 points per series instead of 12: that much fewer bytes to send,
   parse and walk. (A first query of a whole minute gave every node's first sample one answer
   sooner, but was four times the size of the others and set the scraper's peak memory.) */
static long s_api_window(const scraper_t *self)
{
    double full = ceil(fmax(60.0, 3 * self->config.interval));
    double since = self->api_answered > 0 ? kms_num_monotonic() - self->api_answered : 0;
    return lround(fmin(full, ceil(since + 2 * self->config.interval + 5)));
}

/* Each cycle asks for the nodes' cpus first (with the default selector), then for the range
   reaching back s_api_window seconds: sets the target's URL for the one asked now (curl keeps
   its own copy). */
static int s_api_ask(scraper_t *self, s_target_t *t, bool cpus)
{
    self->api_asking_cpus = cpus;
    if (cpus)
        return curl_easy_setopt(t->easy, CURLOPT_URL, self->api_cpus_url) == CURLE_OK ? 0 : -1;
    char *url = zsys_sprintf("%s%%5B%lds%%5D", self->api_query, s_api_window(self)); /* [<window>s], escaped */
    CURLcode rc = url ? curl_easy_setopt(t->easy, CURLOPT_URL, url) : CURLE_OUT_OF_MEMORY;
    zstr_free(&url);
    return rc == CURLE_OK ? 0 : -1;
}

static int s_api_target(scraper_t *self, const char *base)
{
    char host[KMS_ID_MAX];
    if (s_url_host(base, host, sizeof host) != 0) {
        fprintf(stderr, "kms-scraper: invalid value '%s' for --prometheus-url: not an http(s) URL\n", base);
        return -1;
    }
    /* A range selector as an instant query: the raw samples with the times Prometheus scraped
       them, so that rates use Kepler's real intervals and not our query times. */
    /* What the Prometheus API mode asks for: the families the samples need, from kms_kepler's own
       table (docs/scraper.md), unless --prometheus-selector names them for relabelled series. */
    const char *given = self->config.prometheus_selector;
    char *own = given && *given ? NULL : kms_kepler_selector(self->config.prometheus_containers);
    const char *selector = given && *given ? given : own;
    char *escaped = selector ? curl_easy_escape(NULL, selector, 0) : NULL;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char *cpus = own ? curl_easy_escape(NULL, KMS_KEPLER_CPUS_QUERY, 0) : NULL;
    int rc = -1;
    if (escaped && (!own || cpus)) {
        self->api_query = zsys_sprintf("%.*s/api/v1/query?query=%s", (int) blen, base, escaped);
        self->api_cpus_url = cpus ? zsys_sprintf("%.*s/api/v1/query?query=%s", (int) blen, base, cpus) : NULL;
    }
    if (self->api_query && (!cpus || self->api_cpus_url)) {
        char quoted[2048];
        kms_info("Prometheus query", "selector=%s window=%ld containers=%s cpus_query=%s",
                 kms_log_quote(selector, quoted, sizeof quoted), s_api_window(self),
                 self->config.prometheus_containers ? "true" : "false", cpus ? "true" : "false");
        /* The metrics name the target by the URL the user gave; the query is set per cycle. */
        rc = s_target_init(self, s_free_slot(self), base, host);
    }
    curl_free(escaped);
    curl_free(cpus);
    free(own);
    return rc;
}

scraper_t *scraper_new(const scraper_config_t *config, bool *bad_config)
{
    assert(config && bad_config);
    *bad_config = false;
    scraper_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->api = config->prometheus_url && *config->prometheus_url;
    self->targets = calloc(S_MAX_TARGETS, sizeof *self->targets);
    self->metrics = scraper_metrics_new(S_MAX_TARGETS);
    self->claims = zhashx_new();
    self->multi = curl_multi_init();
    self->headers = curl_slist_append(NULL, self->api ? "Accept: application/json"
                                                      : "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1");
    if (!self->targets || !self->metrics || !self->claims || !self->multi || !self->headers)
        goto fail;
    if ((self->api ? s_api_target(self, config->prometheus_url) : s_targets_from_list(self, config->kepler_urls)) != 0)
        goto bad;
    if (!(self->pub = zsock_new(ZMQ_PUB)))
        goto fail;
    /* Nobody listening, or a slow subscriber: PUB drops at the high-water mark, never blocks. */
    zsock_set_sndhwm(self->pub, (int) config->sndhwm);
    zsock_set_linger(self->pub, 0);
    zsock_set_heartbeat_ivl(self->pub, S_HEARTBEAT_IVL_MS);
    zsock_set_heartbeat_timeout(self->pub, S_HEARTBEAT_TIMEOUT_MS);
    zsock_set_connect_timeout(self->pub, S_HEARTBEAT_TIMEOUT_MS);
    if (kms_curve_apply(config->curve, self->pub, config->publish) != 0
        || zsock_attach(self->pub, config->publish, true) != 0) {
        fprintf(stderr, "kms-scraper: invalid value '%s' for --publish: cannot bind or connect\n", config->publish);
        goto bad;
    }
    kms_log_bound("samples", zsock_endpoint(self->pub));
    self->pub_handle = zsock_resolve(self->pub);
    if (config->metrics_port >= 0 && scraper_metrics_serve(self->metrics, config->metrics_port) != 0) {
        fprintf(stderr, "kms-scraper: invalid value '%ld' for --metrics-port: cannot listen\n", config->metrics_port);
        goto bad;
    }
    return self;
bad:
    *bad_config = true;
fail:
    scraper_destroy(&self);
    return NULL;
}

void scraper_destroy(scraper_t **self_p)
{
    assert(self_p);
    scraper_t *self = *self_p;
    if (!self)
        return;
    scraper_discovery_destroy(&self->discovery);
    free(self->source_names);
    for (size_t i = 0; i < self->nsources; i++) {
        free(self->sources[i].url);
        free(self->sources[i].name);
    }
    free(self->sources);
    for (size_t i = 0; self->targets && i < self->ntargets; i++)
        s_target_fini(self, &self->targets[i]);
    free(self->targets);
    zhashx_destroy(&self->claims);
    for (size_t i = 0; i < self->nnodes; i++)
        kms_kepler_snapshot_destroy(&self->nodes[i].prev);
    free(self->nodes);
    free(self->api_query);
    free(self->api_cpus_url);
    json_decref(self->api_cpus);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    curl_slist_free_all(self->headers);
    zsock_destroy(&self->pub);
    scraper_metrics_destroy(&self->metrics);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- publishing */

/* One frame; a signal landing mid-send (SIGTERM) must not leave a topic without its body. */
static int s_send(void *socket, const void *data, size_t len, int flags)
{
    int rc;
    do
        rc = zmq_send(socket, data, len, flags | ZMQ_DONTWAIT);
    while (rc < 0 && zmq_errno() == EINTR);
    return rc;
}

static int s_publish(const kms_sample_t *sample, void *arg)
{
    scraper_t *self = arg;
    kms_sample_t numbered = *sample;
    numbered.seq = self->seq + 1;
    size_t n = kms_sample_encode(&numbered, self->frame, sizeof self->frame);
    const char *topic = kms_sample_topic(&numbered);
    /* PUB never refuses for lack of room (it drops at the high-water mark): a failure here is a
       closing context, after which nothing more is sent. */
    if (n == 0 || s_send(self->pub_handle, topic, strlen(topic), ZMQ_SNDMORE) < 0
        || s_send(self->pub_handle, self->frame, n, 0) < 0) {
        self->dropped++;
        return 0;
    }
    self->seq++;
    if (numbered.is_container)
        self->published_container++;
    else
        self->published_node++;
    return 0;
}

/* Without --prometheus-containers the API mode publishes node samples only: what containers
   an answer still holds (the usage counters 0.4-0.9 nodes are summed from, or a selector of the
   user's) would give samples without energy, or samples nobody asked for. */
static int s_publish_node(const kms_sample_t *sample, void *arg)
{
    return sample->is_container ? 0 : s_publish(sample, arg);
}

/* ---------------------------------------------------------------- results */

/* A target that keeps failing the same way is reported once (warn), then at debug level until
   its outcome changes: the periodic stats line and --metrics-port keep counting. */
static kms_log_level_t s_level(const s_target_t *t, int outcome)
{
    return t->last_outcome == outcome ? KMS_LOG_DEBUG : KMS_LOG_WARN;
}

/* What one scrape adds to its target's counters (scraper_metrics_add) is gathered in `o`. */
static void s_note_diff(s_target_t *t, const kms_kepler_diff_stats_t *ds, scraper_target_stats_t *o, const char *node)
{
    o->counter_resets += ds->counter_resets;
    o->rapl_wraps += ds->rapl_wraps;
    for (int r = 0; r < KMS_KEPLER_SPOIL_COUNT; r++)
        if (ds->spoiled[r]) {
            o->spoiled[r] += ds->spoiled[r];
            if (!kms_log_decade(++t->spoiled_intervals[r]))
                continue;
            char url[512];
            kms_warn(ds->why ? "no node sample: the pages cannot give the node's sums"
                             : "node sample published without a target or feature this page cannot give",
                     "target=%s reason=%s count=%zu intervals=%llu", kms_log_quote(t->url, url, sizeof url),
                     kms_kepler_spoil_names[r], ds->spoiled[r], (unsigned long long) t->spoiled_intervals[r]);
        }
    if (!ds->why)
        return;
    o->intervals_without_sample++;
    char url[512], why[256], quoted_node[KMS_ID_MAX + 8];
    kms_log_quote(t->url, url, sizeof url);
    kms_log_quote(ds->why, why, sizeof why);
    kms_log_quote(node, quoted_node, sizeof quoted_node);
    if (ds->counter_resets)
        kms_warn("no sample for this interval", "target=%s node=%s why=%s", url, quoted_node, why);
    else
        kms_debug("no sample for this interval", "target=%s node=%s why=%s", url, quoted_node, why);
}

/* When the target read the counters on its page: just before the answer's first byte, which a
   loaded exporter sends only once it has got round to our request. Counted back from `now` (the
   transfer just ended) by curl's own times, so that a pause of this process between queueing
   the request and curl starting it does not shift the page's time. `now` is the wall clock's
   for the samples' ts, the monotonic clock's for the intervals (a stepped wall clock would
   stretch or reverse them). */
static double s_page_time(const s_target_t *t, double now)
{
    curl_off_t first_byte_us = 0, total_us = 0;
    if (curl_easy_getinfo(t->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte_us) != CURLE_OK
        || curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total_us) != CURLE_OK || first_byte_us <= 0
        || total_us < first_byte_us)
        return now;
    return now - (double) (total_us - first_byte_us) / 1e6;
}

/* The new page becomes the one the next is diffed against. */
static void s_keep_page(s_target_t *t)
{
    kms_kepler_snapshot_t *swap = t->prev;
    t->prev = t->cur;
    t->cur = swap;
    t->have_prev = true;
}

/* Two targets whose pages name one node (two Keplers given one node name, or one Kepler
   reached at two addresses) would publish that node's samples twice, interleaved, and the
   trainer tells publishers apart by node name. The first target to give a name keeps it while
   its pages still give it; another one's pages are counted, logged and publish nothing. The
   table forgets everything past twice the targets' bound (names invented by pages) and is
   rebuilt by the next pages. */
static bool s_claim_node(scraper_t *self, s_target_t *t)
{
    const char *node = kms_kepler_snapshot_node(t->cur);
    uintptr_t owner = (uintptr_t) zhashx_lookup(self->claims, node);
    if (owner && owner - 1 != t->index) {
        const s_target_t *o = &self->targets[owner - 1];
        if (o->url && o->have_prev && o->last_outcome < 0 && strcmp(kms_kepler_snapshot_node(o->prev), node) == 0) {
            char url[512], other[512], quoted[KMS_ID_MAX + 8];
            kms_log_at(t->claimed ? KMS_LOG_DEBUG : KMS_LOG_WARN, "node named by another target's pages too, no sample",
                       "target=%s node=%s other=%s", kms_log_quote(t->url, url, sizeof url),
                       kms_log_quote(node, quoted, sizeof quoted), kms_log_quote(o->url, other, sizeof other));
            return false;
        }
    }
    if (owner != t->index + 1) {
        if (zhashx_size(self->claims) >= 2 * S_MAX_TARGETS)
            zhashx_purge(self->claims);
        zhashx_update(self->claims, node, (void *) (uintptr_t) (t->index + 1));
    }
    return true;
}

static int s_process_page(s_target_t *t, scraper_target_stats_t *o)
{
    scraper_t *self = t->owner;
    /* The format ends every line, the last one too, with a newline: a page without it lost its
       end (an exporter that died mid-write), and its last number may be cut ("1.0e+06" -> "1."). */
    if (t->len > 0 && t->body[t->len - 1] != '\n')
        return -2;
    kms_promtext_stats_t es = {0};
    double ts = s_page_time(t, kms_num_wallclock());
    int rc = kms_kepler_snapshot_parse(t->cur, t->body, t->len, ts, t->host, &es);
    kms_kepler_snapshot_set_monotonic(t->cur, s_page_time(t, kms_num_monotonic()));
    o->rejected_lines += es.rejected;
    o->rejected_series += kms_kepler_snapshot_stats(t->cur)->rejected;
    if (rc != 0)
        return -1;
    /* Two pages are at least an interval apart (a target in flight skips a cycle); when they
       seem much closer, this process was starved and their times are not to be trusted: a short
       wrong dt would turn a few joules into kilowatts. The page is dropped, prev stays. */
    if (t->have_prev && kms_kepler_snapshot_era(t->cur) != KMS_KEPLER_ERA_GAUGE
        && kms_kepler_snapshot_interval(t->prev, t->cur) < 0.5 * self->config.interval) {
        char url[512];
        kms_debug("page too close to the previous one, dropped", "target=%s dt=%.4f",
                  kms_log_quote(t->url, url, sizeof url), kms_kepler_snapshot_interval(t->prev, t->cur));
        o->intervals_without_sample++;
    } else if ((t->claimed = !s_claim_node(self, t))) {
        o->node_claimed = 1; /* its page stays the reference, for when the name is its own again */
        s_keep_page(t);
    } else {
        kms_kepler_diff_stats_t ds;
        kms_kepler_diff(t->have_prev ? t->prev : NULL, t->cur, s_publish, self, &ds);
        s_note_diff(t, &ds, o, kms_kepler_snapshot_node(t->cur));
        /* Kept, the next page is diffed against the last good one. Counters that went down make
           a failed scrape; a page that lost a node series is counted and logged as spoiled above
           (one lost every other page would otherwise log a failure and a recovery at every
           interval). */
        bool keep = kms_kepler_keep_prev(ds.damaged, &t->kept);
        if (keep && !ds.spoiled[KMS_KEPLER_SPOIL_SERIES_CHANGED])
            return -3;
        if (!keep)
            s_keep_page(t);
    }
    o->last_success = ts;
    return 0;
}

typedef struct {
    s_target_t *target;
    scraper_target_stats_t *outcome;
} s_api_ctx_t;

static s_api_node_t *s_api_node(scraper_t *self, const char *name)
{
    for (size_t i = 0; i < self->nnodes; i++)
        if (strcmp(self->nodes[i].name, name) == 0)
            return &self->nodes[i];
    if (self->nnodes == S_MAX_API_NODES)
        return NULL;
    if (!self->nodes && !(self->nodes = calloc(S_MAX_API_NODES, sizeof *self->nodes)))
        return NULL;
    s_api_node_t *n = &self->nodes[self->nnodes];
    if (!(n->prev = kms_kepler_snapshot_new()))
        return NULL;
    snprintf(n->name, sizeof n->name, "%s", name);
    self->nnodes++;
    return n;
}

/* Each node's snapshots come in time order; those already seen in an earlier answer (the
   window overlaps) are skipped, the others diffed against that node's last one. */
static int s_on_api_snapshot(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, void *arg)
{
    (void) prev;
    s_api_ctx_t *ctx = arg;
    scraper_t *self = ctx->target->owner;
    s_api_node_t *node = s_api_node(self, kms_kepler_snapshot_node(cur));
    if (!node || kms_kepler_snapshot_ts(cur) <= node->last_ts)
        return 0;
    ctx->outcome->rejected_series += kms_kepler_snapshot_stats(cur)->rejected;
    kms_kepler_diff_stats_t ds;
    kms_kepler_sample_fn publish = self->config.prometheus_containers ? s_publish : s_publish_node;
    kms_kepler_diff(node->last_ts > 0 ? node->prev : NULL, cur, publish, self, &ds);
    s_note_diff(ctx->target, &ds, ctx->outcome, node->name);
    node->last_ts = kms_kepler_snapshot_ts(cur);
    if (kms_kepler_keep_prev(ds.damaged, &node->kept))
        return 0; /* the next point is diffed against the last good one */
    return kms_kepler_snapshot_copy(node->prev, cur) != 0 ? -1 : 0;
}

/* The answer as JSON: 0, -1 when it is not JSON, -2 when its status is not 200 (logged). */
static int s_api_answer(s_target_t *t, long status, json_t **root)
{
    json_error_t err;
    *root = json_loadb(t->body, t->len, 0, &err);
    char url[512], why[512];
    kms_log_quote(t->url, url, sizeof url);
    if (!*root) {
        kms_log_at(s_level(t, SCRAPER_FAIL_PARSE), "Prometheus answer is not JSON", "target=%s status=%ld why=%s", url,
                   status, kms_log_quote(err.text, why, sizeof why));
        return -1;
    }
    if (status != 200) {
        const char *msg = json_string_value(json_object_get(*root, "error"));
        kms_log_at(s_level(t, SCRAPER_FAIL_HTTP_STATUS), "Prometheus error", "target=%s status=%ld why=%s", url, status,
                   kms_log_quote(msg ? msg : "(none)", why, sizeof why));
        return -2;
    }
    return 0;
}

/* The cpus answer, kept for the range answer that comes next; the range asked for. 0, or as
   s_api_answer. */
static int s_process_api_cpus(s_target_t *t, long status)
{
    scraper_t *self = t->owner;
    json_t *root;
    int rc = s_api_answer(t, status, &root);
    if (rc == 0) {
        json_decref(self->api_cpus);
        self->api_cpus = json_incref(root);
        t->len = 0;
        t->error[0] = '\0';
        if (s_api_ask(self, t, false) != 0 || curl_multi_add_handle(self->multi, t->easy) != CURLM_OK)
            rc = -1;
        else
            t->in_flight = true;
    }
    json_decref(root);
    return rc;
}

/* A range answer, walked as text (one result at a time: kms_kepler_query_walk_text) with the
   cpus answer held; an answer of another status is loaded whole for its error. 0, -1 when
   unusable, -2 for a status that is not 200. */
static int s_process_api(s_target_t *t, scraper_target_stats_t *o, long status)
{
    if (status != 200) {
        json_t *root;
        int rc = s_api_answer(t, status, &root);
        json_decref(root);
        return rc;
    }
    char url[512], why[512];
    kms_log_quote(t->url, url, sizeof url);
    s_api_ctx_t ctx = {t, o};
    kms_kepler_query_stats_t ps;
    const char *walk_why = NULL;
    int rc = kms_kepler_query_walk_text(t->body, t->len, t->owner->api_cpus, s_on_api_snapshot, &ctx, &ps, &walk_why);
    o->rejected_lines += ps.rejected;
    if (rc != 0)
        kms_log_at(s_level(t, SCRAPER_FAIL_PARSE), "unusable Prometheus answer", "target=%s why=%s", url,
                   kms_log_quote(walk_why ? walk_why : "?", why, sizeof why));
    else {
        o->last_success = kms_num_wallclock();
        t->owner->api_answered = t->started; /* what it holds was in Prometheus by then */
    }
    return rc;
}

static int s_classify(CURLcode code, bool too_large)
{
    if (too_large || code == CURLE_FILESIZE_EXCEEDED)
        return SCRAPER_FAIL_TOO_LARGE;
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return SCRAPER_FAIL_TIMEOUT;
    case CURLE_PARTIAL_FILE: return SCRAPER_FAIL_TRUNCATED;
    case CURLE_BAD_CONTENT_ENCODING: return SCRAPER_FAIL_PARSE;
    default: return SCRAPER_FAIL_CONNECT;
    }
}

static void s_finish(scraper_t *self, s_target_t *t, CURLcode code)
{
    t->in_flight = false;
    scraper_target_stats_t o = {0};
    int failure = -1;
    double duration = kms_num_monotonic() - t->started;
    long status = 0;
    int rc;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    char url[512], detail[CURL_ERROR_SIZE + 16];
    kms_log_quote(t->url, url, sizeof url);
    if (code != CURLE_OK) {
        failure = s_classify(code, t->too_large);
        kms_log_at(s_level(t, failure), "scrape failed", "target=%s cause=%s why=%s ms=%.1f", url,
                   scraper_failure_names[failure],
                   kms_log_quote(t->too_large ? "body larger than --max-body-bytes"
                                              : (t->error[0] ? t->error : curl_easy_strerror(code)),
                                 detail, sizeof detail),
                   duration * 1000);
    } else if (self->api) {
        bool cpus = self->api_asking_cpus; /* s_process_api_cpus turns it off as it asks for the range */
        rc = cpus ? s_process_api_cpus(t, status) : s_process_api(t, &o, status);
        if (cpus && rc == 0)
            return; /* the range is asked for next: the cycle goes on */
        if (rc == -2)
            failure = SCRAPER_FAIL_HTTP_STATUS;
        else if (rc != 0)
            failure = SCRAPER_FAIL_PARSE;
    } else if (status != 200) {
        failure = SCRAPER_FAIL_HTTP_STATUS;
        kms_log_at(s_level(t, failure), "scrape failed", "target=%s cause=http_status status=%ld ms=%.1f", url, status,
                   duration * 1000);
    } else if ((rc = s_process_page(t, &o)) != 0) {
        failure = rc == -2 ? SCRAPER_FAIL_TRUNCATED : SCRAPER_FAIL_PARSE;
        kms_log_at(s_level(t, failure), "scrape failed", "target=%s cause=%s why=%s bytes=%zu", url,
                   scraper_failure_names[failure],
                   rc == -2   ? "\"the page's last line has no end\""
                   : rc == -3 ? "\"some node counters went down, others went on: a damaged page\""
                              : "\"no Kepler metrics in the page\"",
                   t->len);
    } else {
        kms_debug("scraped", "target=%s ms=%.2f bytes=%zu", url, duration * 1000, t->len);
    }
    if (failure < 0 && t->last_outcome >= 0)
        kms_info("target recovered", "target=%s after=%s", url, scraper_failure_names[t->last_outcome]);
    t->last_outcome = failure;
    o.duration_sum = duration;
    o.duration_count = 1;
    if (failure >= 0) {
        o.failures[failure] = 1;
    } else {
        o.cycle_sum = kms_num_monotonic() - t->started; /* request to the last sample published */
        o.cycle_count = 1;
    }
    scraper_metrics_add(self->metrics, t->index, &o);
    scraper_metrics_add_published(self->metrics, self->published_node, self->published_container, self->dropped);
    self->published_node = self->published_container = self->dropped = 0;
}

/* ---------------------------------------------------------------- the loop */

static void s_start_cycle(scraper_t *self)
{
    for (size_t i = 0; i < self->ntargets; i++) {
        s_target_t *t = &self->targets[i];
        if (!t->url)
            continue;
        if (t->in_flight) {
            char url[512];
            kms_log_at(t->skipping ? KMS_LOG_DEBUG : KMS_LOG_WARN, "target still in flight, skipped this cycle",
                       "target=%s", kms_log_quote(t->url, url, sizeof url));
            t->skipping = true;
            scraper_metrics_add(self->metrics, i, &(scraper_target_stats_t){.skipped = 1});
            continue;
        }
        t->skipping = false;
        t->len = 0;
        t->too_large = false;
        t->error[0] = '\0';
        t->started = kms_num_monotonic();
        if (self->api && s_api_ask(self, t, self->api_cpus_url != NULL) != 0)
            continue;
        if (curl_multi_add_handle(self->multi, t->easy) != CURLM_OK)
            continue;
        t->in_flight = true;
        scraper_metrics_add(self->metrics, i, &(scraper_target_stats_t){.scrapes = 1});
    }
}

static void s_log_stats(scraper_t *self)
{
    scraper_target_stats_t all;
    uint64_t node, container, dropped, failures = 0;
    scraper_metrics_totals(self->metrics, &all, &node, &container, &dropped);
    char causes[256]; /* "timeout=1 connect=0 ... parse=0 " */
    size_t len = 0;
    for (int c = 0; c < SCRAPER_FAIL_COUNT; c++) {
        failures += all.failures[c];
        len += (size_t) snprintf(causes + len, sizeof causes - len, "%s=%llu ", scraper_failure_names[c],
                                 (unsigned long long) all.failures[c]);
    }
    kms_info("scrape stats",
             "scrapes=%llu failures=%llu %sskipped=%llu rejected_lines=%llu node_samples=%llu "
             "container_samples=%llu dropped=%llu mean_ms=%.2f",
             (unsigned long long) all.scrapes, (unsigned long long) failures, causes, (unsigned long long) all.skipped,
             (unsigned long long) all.rejected_lines, (unsigned long long) node, (unsigned long long) container,
             (unsigned long long) dropped,
             all.duration_count ? all.duration_sum / (double) all.duration_count * 1000 : 0.0);
}

int scraper_run(scraper_t *self, volatile sig_atomic_t *stop)
{
    assert(self && stop);
    double next = kms_num_monotonic();
    double next_stats = next + self->config.stats_interval;
    while (!*stop) {
        if (self->discovery)
            scraper_discovery_poll(self->discovery, s_on_lookup, self);
        double now = kms_num_monotonic();
        if (now >= next) {
            s_start_cycle(self);
            next += self->config.interval;
            if (next <= now) /* fell behind (a stopped clock, a long pause): no burst to catch up */
                next = now + self->config.interval;
        }
        if (self->config.stats_interval > 0 && now >= next_stats) {
            s_log_stats(self);
            next_stats = now + self->config.stats_interval;
        }
        double wait = (next - kms_num_monotonic()) * 1000;
        int wait_ms = wait < 0 ? 0 : wait > 100 ? 100 : (int) wait;
        int running = 0;
        if (curl_multi_poll(self->multi, NULL, 0, wait_ms, NULL) != CURLM_OK
            || curl_multi_perform(self->multi, &running) != CURLM_OK) {
            kms_error("libcurl multi failed", NULL);
            return -1;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(self->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            s_target_t *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
            CURLcode code = msg->data.result;
            curl_multi_remove_handle(self->multi, msg->easy_handle);
            if (t)
                s_finish(self, t, code);
        }
    }
    s_log_stats(self);
    return 0;
}
