#include "api_trainer.h"

#include "kms_json.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_proto.h"

#include <czmq.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_CACHE_SLOTS 16
#define API_CACHE_KEY 96
#define API_POOL_MAX 8 /* idle sockets kept; more concurrent fetches open (and close) their own */

/* An answer's body, shared by the cache and every reply served from it: a cache hit takes a
   reference instead of copying the body, so serving from the cache allocates nothing. */
struct api_body_t {
    int refs;    /* atomic */
    char text[]; /* NUL-terminated */
};

static api_body_t *s_body_new(const void *data, size_t len)
{
    api_body_t *self = malloc(sizeof *self + len + 1);
    if (self) {
        self->refs = 1;
        memcpy(self->text, data, len);
        self->text[len] = '\0';
    }
    return self;
}

static api_body_t *s_body_ref(api_body_t *self)
{
    __atomic_fetch_add(&self->refs, 1, __ATOMIC_RELAXED);
    return self;
}

static void s_body_unref(api_body_t *self)
{
    if (self && __atomic_sub_fetch(&self->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(self);
}

typedef struct {
    char key[API_CACHE_KEY]; /* "COMMAND arg"; "" = empty slot */
    double at;               /* monotonic seconds when fetched */
    int status;
    api_body_t *body;
    size_t len;
    bool refreshing; /* a request is fetching a newer answer: the only one */
} s_entry_t;

struct api_trainer_t {
    char *endpoint;
    kms_curve_t *curve;
    double cache_ttl; /* seconds */
    api_stats_t *stats;
    pthread_mutex_t lock;     /* guards entries and idle */
    pthread_cond_t refreshed; /* an entry's fetch ended */
    s_entry_t entries[API_CACHE_SLOTS];
    zsock_t *idle[API_POOL_MAX]; /* a stack: the socket used last is taken first */
    size_t idle_count;
};

static zsock_t *s_open(kms_curve_t *curve, const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_REQ);
    if (!sock)
        return NULL;
    zsock_set_linger(sock, 0); /* a request to a dead trainer must not hold up shutdown */
    zsock_set_sndtimeo(sock, 0);
    if (kms_curve_apply(curve, sock, endpoint) != 0 || zsock_attach(sock, endpoint, false) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    return sock;
}

api_trainer_t *api_trainer_new(const char *endpoint, double cache_ms, kms_curve_t *curve, api_stats_t *stats)
{
    assert(endpoint && stats);
    zsock_t *first = s_open(curve, endpoint); /* proves the endpoint usable, then serves */
    if (!first)
        return NULL;
    api_trainer_t *self = calloc(1, sizeof *self);
    if (!self || !(self->endpoint = strdup(endpoint))) {
        zsock_destroy(&first);
        free(self);
        return NULL;
    }
    self->curve = curve;
    self->cache_ttl = cache_ms / 1000.0;
    self->stats = stats;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines are kms_num_monotonic() */
    pthread_cond_init(&self->refreshed, &attr);
    pthread_condattr_destroy(&attr);
    self->idle[self->idle_count++] = first;
    return self;
}

void api_trainer_destroy(api_trainer_t **self_p)
{
    assert(self_p);
    api_trainer_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < API_CACHE_SLOTS; i++)
        s_body_unref(self->entries[i].body);
    while (self->idle_count)
        zsock_destroy(&self->idle[--self->idle_count]);
    pthread_cond_destroy(&self->refreshed);
    pthread_mutex_destroy(&self->lock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

/* A socket for one exchange: the one used last when one is idle (moving a ZeroMQ socket
   between threads is allowed behind the full fence the mutex gives), else a new one. */
static zsock_t *s_take(api_trainer_t *self)
{
    zsock_t *sock = NULL;
    pthread_mutex_lock(&self->lock);
    if (self->idle_count)
        sock = self->idle[--self->idle_count];
    pthread_mutex_unlock(&self->lock);
    return sock ? sock : s_open(self->curve, self->endpoint);
}

/* Back on top of the stack; closed when API_POOL_MAX are idle already. */
static void s_give(api_trainer_t *self, zsock_t *sock)
{
    if (!sock)
        return;
    pthread_mutex_lock(&self->lock);
    if (self->idle_count < API_POOL_MAX) {
        self->idle[self->idle_count++] = sock;
        sock = NULL;
    }
    pthread_mutex_unlock(&self->lock);
    zsock_destroy(&sock);
}

void api_reply_clear(api_reply_t *reply)
{
    s_body_unref(reply->shared);
    memset(reply, 0, sizeof *reply);
}

typedef enum { S_HIT, S_FETCH, S_FETCH_CLAIMED, S_GAVE_UP } s_lookup_t;

static s_entry_t *s_find(api_trainer_t *self, const char *key)
{
    for (int i = 0; i < API_CACHE_SLOTS; i++)
        if (self->entries[i].key[0] && strcmp(self->entries[i].key, key) == 0)
            return &self->entries[i];
    return NULL;
}

/* An entry for a key not cached yet, already claimed for fetching: an empty slot, else the
   oldest one nobody is fetching. NULL when every slot is being fetched. */
static s_entry_t *s_claim_new(api_trainer_t *self, const char *key)
{
    s_entry_t *slot = NULL;
    for (int i = 0; i < API_CACHE_SLOTS; i++)
        if (!self->entries[i].refreshing && (!slot || self->entries[i].at < slot->at))
            slot = &self->entries[i];
    if (slot) {
        s_body_unref(slot->body);
        *slot = (s_entry_t){.at = -INFINITY, .refreshing = true};
        snprintf(slot->key, sizeof slot->key, "%s", key);
    }
    return slot;
}

/* Waits for a fetch to end, until `deadline`; false when it has passed. */
static bool s_wait_refreshed(api_trainer_t *self, double deadline)
{
    if (deadline <= kms_num_monotonic())
        return false;
    struct timespec until = kms_num_timespec(deadline);
    return pthread_cond_timedwait(&self->refreshed, &self->lock, &until) != ETIMEDOUT;
}

/* The cache's rule (api_trainer.h): while one request fetches a stale key, the others are
   served the old answer if it is at most 2 ttl older than their arrival, else wait for the
   fetch and take its answer if that one is. S_GAVE_UP: the deadline passed waiting; S_FETCH:
   every slot is being fetched, fetch uncached. */
static s_lookup_t s_cache_get(api_trainer_t *self, const char *key, double deadline, api_reply_t *reply)
{
    double arrived = kms_num_monotonic(), oldest = arrived - 2 * self->cache_ttl;
    bool waited = false;
    s_lookup_t result;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        s_entry_t *e = s_find(self, key);
        if (!e) {
            result = s_claim_new(self, key) ? S_FETCH_CLAIMED : S_FETCH;
            break;
        }
        bool fresh = kms_num_monotonic() - e->at <= self->cache_ttl;
        if (e->body && (fresh || ((e->refreshing || waited) && e->at >= oldest))) {
            reply->shared = s_body_ref(e->body);
            reply->body = e->body->text;
            reply->len = e->len;
            reply->status = e->status;
            result = S_HIT;
            break;
        }
        if (!e->refreshing) {
            e->refreshing = true;
            result = S_FETCH_CLAIMED;
            break;
        }
        if (!s_wait_refreshed(self, deadline)) {
            result = S_GAVE_UP;
            break;
        }
        waited = true;
    }
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* Ends the claimed fetch of `key`: stores the answer (reply NULL: it failed, the old one
   stays) and wakes the requests waiting for it. */
static void s_cache_put(api_trainer_t *self, const char *key, const api_reply_t *reply, double at)
{
    pthread_mutex_lock(&self->lock);
    s_entry_t *slot = s_find(self, key); /* a claimed entry is never evicted */
    if (reply) {
        s_body_unref(slot->body);
        slot->body = s_body_ref(reply->shared);
        slot->len = reply->len;
        slot->status = reply->status;
        slot->at = at;
    }
    slot->refreshing = false;
    pthread_cond_broadcast(&self->refreshed);
    pthread_mutex_unlock(&self->lock);
}

/* Reads a two-frame reply: a known status code, then the body; -1 leaves reply as it was. */
static int s_decode(zmsg_t *msg, api_reply_t *reply)
{
    if (zmsg_size(msg) != 2)
        return -1;
    zframe_t *code = zmsg_first(msg);
    zframe_t *body = zmsg_next(msg);
    char text[8];
    long status;
    if (zframe_size(code) == 0 || zframe_size(code) >= sizeof text)
        return -1;
    memcpy(text, zframe_data(code), zframe_size(code));
    text[zframe_size(code)] = '\0';
    if (kms_num_parse_long(text, &status) != 0 || (status != 200 && status != 400 && status != 404 && status != 503))
        return -1;
    if (!(reply->shared = s_body_new(zframe_data(body), zframe_size(body))))
        return -1;
    reply->body = reply->shared->text;
    reply->len = zframe_size(body);
    reply->status = (int) status;
    return 0;
}

/* Counts a trainer failure of one kind and tells whether to log it (kms_log_decade): a trainer
   that is down while thousands of requests a second arrive does not flood the log (the counters
   in /metrics have every one). Returns the count to log, 0 for none. */
static uint64_t s_log_due(uint64_t *failures)
{
    uint64_t n = __atomic_add_fetch(failures, 1, __ATOMIC_RELAXED);
    return kms_log_decade(n) ? n : 0;
}

/* Waits for the reply until the deadline; 1 readable, 0 timed out, -1 error. */
static int s_wait(zsock_t *sock, double deadline)
{
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    for (;;) {
        double left = deadline - kms_num_monotonic();
        if (left <= 0)
            return 0;
        int rc = zmq_poll(&item, 1, (long) (left * 1000) + 1);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Sends the request on *sock and waits until `until`: 1 with the reply in *msg, 0 when none
   came (the socket is then reopened: Lazy Pirate), -1 when the request could not even be
   queued. *sock may be NULL (a reopen failed): a new one is tried. */
static int s_attempt(api_trainer_t *self, zsock_t **sock, const char *command, const char *arg, double until,
                     zmsg_t **msg)
{
    if (!*sock && !(*sock = s_open(self->curve, self->endpoint)))
        return -1;
    bool sent = (arg ? zstr_sendx(*sock, command, arg, NULL) : zstr_send(*sock, command)) == 0;
    if (sent && s_wait(*sock, until) == 1 && (*msg = zmsg_recv(*sock)))
        return 1;
    /* The Lazy Pirate step: a REQ socket whose reply never came cannot send again. */
    zsock_destroy(sock);
    *sock = s_open(self->curve, self->endpoint);
    return sent ? 0 : -1;
}

/* One request, retried once within the deadline: the first try waits half the time left, and
   when its reply does not come (a request written into a connection the trainer had just
   closed is lost without a trace) a fresh socket asks again. The commands only read, so asking
   twice is harmless; a trainer that is down still gets its 503 by the deadline. */
static int s_exchange(api_trainer_t *self, const char *command, const char *arg, double deadline, api_reply_t *reply)
{
    api_stats_t *stats = self->stats;
    zsock_t *sock = s_take(self);
    double start = kms_num_monotonic();
    zmsg_t *msg = NULL;
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc != 1; attempt++) {
        double left = deadline - kms_num_monotonic();
        if (left <= 0)
            break;
        if (attempt == 1)
            api_stats_trainer_error(stats, API_TRAINER_RETRY);
        rc = s_attempt(self, &sock, command, arg, attempt == 0 ? deadline - left / 2 : deadline, &msg);
    }
    s_give(self, sock);
    if (rc != 1) {
        static uint64_t unanswered;
        uint64_t n = s_log_due(&unanswered);
        if (n)
            kms_warn("trainer did not answer", "command=%s waited_ms=%.0f count=%llu", command,
                     (kms_num_monotonic() - start) * 1000, (unsigned long long) n);
        api_stats_trainer_error(stats, rc < 0 ? API_TRAINER_SEND : API_TRAINER_TIMEOUT);
        return reply->status = API_TRAINER_UNREACHABLE;
    }
    double elapsed = kms_num_monotonic() - start;
    if (s_decode(msg, reply) != 0) {
        static uint64_t malformed;
        uint64_t n = s_log_due(&malformed);
        if (n)
            kms_warn("malformed trainer reply", "command=%s frames=%zu count=%llu", command, zmsg_size(msg),
                     (unsigned long long) n);
        api_stats_trainer_error(stats, API_TRAINER_BAD_REPLY);
        zmsg_destroy(&msg);
        return reply->status = API_TRAINER_MALFORMED; /* s_decode filled nothing */
    }
    zmsg_destroy(&msg);
    api_stats_trainer_latency(stats, elapsed);
    return reply->status;
}

int api_trainer_call(api_trainer_t *self, const char *command, const char *arg, double deadline, api_reply_t *reply)
{
    assert(self && command && reply);
    memset(reply, 0, sizeof *reply);
    char key[API_CACHE_KEY];
    int cacheable = self->cache_ttl > 0
                    && (size_t) snprintf(key, sizeof key, "%s %s", command, arg ? arg : "") < sizeof key;
    s_lookup_t lookup = S_FETCH;
    if (cacheable) {
        lookup = s_cache_get(self, key, deadline, reply);
        api_stats_cache(self->stats, lookup == S_HIT);
        if (lookup == S_HIT)
            return reply->status;
        if (lookup == S_GAVE_UP) /* the request that fetches it counts and logs the failure */
            return reply->status = API_TRAINER_UNREACHABLE;
    }
    double sent = kms_num_monotonic();
    int status = s_exchange(self, command, arg, deadline, reply);
    /* Stamped with the send time: the answer reflects the trainer's state from then on. */
    if (lookup == S_FETCH_CLAIMED)
        s_cache_put(self, key, status > 0 ? reply : NULL, sent);
    return status;
}

json_t *api_trainer_list(api_trainer_t *self, double deadline, int *status)
{
    api_reply_t reply;
    *status = api_trainer_call(self, KMS_PROTO_LIST, NULL, deadline, &reply);
    json_t *doc = NULL;
    if (*status == 200) {
        doc = kms_json_loadb(reply.body, reply.len, 0, KMS_JSON_MAX_DEPTH, NULL);
        if (!json_is_object(doc)) {
            kms_warn("trainer LIST is not a JSON object", "bytes=%zu", reply.len);
            json_decref(doc);
            doc = NULL;
            *status = API_TRAINER_MALFORMED;
        }
    }
    api_reply_clear(&reply);
    return doc;
}
