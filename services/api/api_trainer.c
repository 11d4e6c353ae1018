#include "api_trainer.h"

#include "kms_log.h"
#include "kms_num.h"
#include "kms_proto.h"

#include <czmq.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define API_CACHE_SLOTS 16
#define API_CACHE_KEY 96

typedef struct {
    char key[API_CACHE_KEY];  /* "COMMAND arg"; "" = empty slot */
    double at;                /* monotonic seconds when fetched */
    int status;
    char *body;
    size_t len;
    const void *owner;        /* the client that fetched it last: it refreshes it next */
    bool refreshing;          /* a client is fetching a newer answer */
} s_entry_t;

struct api_backend_t {
    char *endpoint;
    kms_curve_t *curve;
    double cache_ttl;  /* seconds */
    api_stats_t *stats;
    pthread_mutex_t lock;  /* guards entries */
    s_entry_t entries[API_CACHE_SLOTS];
};

struct api_client_t {
    api_backend_t *backend;
    zsock_t *sock;  /* NULL after a failed reopen: the next call tries again */
};

static zsock_t *s_open(kms_curve_t *curve, const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_REQ);
    if (!sock)
        return NULL;
    zsock_set_linger(sock, 0);  /* a request to a dead trainer must not hold up shutdown */
    zsock_set_sndtimeo(sock, 0);
    if (kms_curve_apply(curve, sock, endpoint) != 0 || zsock_attach(sock, endpoint, false) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    return sock;
}

api_backend_t *api_backend_new(const char *endpoint, double cache_ms, kms_curve_t *curve, api_stats_t *stats)
{
    assert(endpoint && stats);
    zsock_t *probe = s_open(curve, endpoint);
    if (!probe)
        return NULL;
    zsock_destroy(&probe);
    api_backend_t *self = calloc(1, sizeof *self);
    if (!self || !(self->endpoint = strdup(endpoint))) {
        free(self);
        return NULL;
    }
    self->curve = curve;
    self->cache_ttl = cache_ms / 1000.0;
    self->stats = stats;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void api_backend_destroy(api_backend_t **self_p)
{
    assert(self_p);
    api_backend_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < API_CACHE_SLOTS; i++)
        free(self->entries[i].body);
    pthread_mutex_destroy(&self->lock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

api_client_t *api_client_new(api_backend_t *backend)
{
    api_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->backend = backend;
    self->sock = s_open(backend->curve, backend->endpoint);
    if (!self->sock) {
        free(self);
        return NULL;
    }
    return self;
}

void api_client_destroy(api_client_t **self_p)
{
    assert(self_p);
    api_client_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->sock);
    free(self);
    *self_p = NULL;
}

void api_reply_clear(api_reply_t *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

typedef enum { S_HIT, S_FETCH, S_FETCH_CLAIMED } s_lookup_t;

static s_entry_t *s_find(api_backend_t *self, const char *key)
{
    for (int i = 0; i < API_CACHE_SLOTS; i++)
        if (self->entries[i].key[0] && strcmp(self->entries[i].key, key) == 0)
            return &self->entries[i];
    return NULL;
}

/* An answer is fresh for ttl. From ttl to 2 ttl it is still served, while one client fetches
   a newer one: the client that fetched it last, or anyone after 1.5 ttl. So under load one
   thread (mostly the same one) asks the trainer each ttl and every other request is answered
   from memory, and no answer served is older than 2 ttl. Past 2 ttl everyone fetches. */
static s_lookup_t s_cache_get(api_backend_t *self, const void *client, const char *key, api_reply_t *reply)
{
    s_lookup_t result = S_FETCH;
    double now = kms_num_monotonic();
    pthread_mutex_lock(&self->lock);
    s_entry_t *e = s_find(self, key);
    double age = e ? now - e->at : INFINITY;
    if (e && age > self->cache_ttl && age <= 2 * self->cache_ttl && !e->refreshing
        && (e->owner == client || age > 1.5 * self->cache_ttl)) {
        e->refreshing = true;
        result = S_FETCH_CLAIMED;
    } else if (e && age <= 2 * self->cache_ttl && (reply->body = malloc(e->len + 1))) {
        memcpy(reply->body, e->body, e->len + 1);
        reply->len = e->len;
        reply->status = e->status;
        result = S_HIT;
    }
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* Stores a fetched answer in the entry for `key`, or the oldest one; with reply NULL only
   gives up a claim to refresh (the fetch failed). */
static void s_cache_put(api_backend_t *self, const void *client, const char *key, const api_reply_t *reply,
                        double at)
{
    char *copy = reply ? malloc(reply->len + 1) : NULL;
    if (copy)
        memcpy(copy, reply->body, reply->len + 1);
    pthread_mutex_lock(&self->lock);
    s_entry_t *slot = s_find(self, key);
    if (slot && (!copy || slot->at > at)) {
        slot->refreshing = false;  /* failed, or another client stored a newer answer meanwhile */
        free(copy);
        copy = NULL;
    }
    if (copy) {
        if (!slot) {
            slot = &self->entries[0];
            for (int i = 1; i < API_CACHE_SLOTS; i++)
                if (self->entries[i].at < slot->at)
                    slot = &self->entries[i];
        }
        free(slot->body);
        snprintf(slot->key, sizeof slot->key, "%s", key);
        slot->at = at;
        slot->status = reply->status;
        slot->body = copy;
        slot->len = reply->len;
        slot->owner = client;
        slot->refreshing = false;
    }
    pthread_mutex_unlock(&self->lock);
}

/* Reads a two-frame reply: a known status code, then the body. */
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
    if (kms_num_parse_long(text, &status) != 0 ||
        (status != 200 && status != 400 && status != 404 && status != 503))
        return -1;
    reply->body = malloc(zframe_size(body) + 1);
    if (!reply->body)
        return -1;
    memcpy(reply->body, zframe_data(body), zframe_size(body));
    reply->body[zframe_size(body)] = '\0';
    reply->len = zframe_size(body);
    reply->status = (int) status;
    return 0;
}

/* Whether to log a trainer failure now: at most one line a second, so that a trainer that is
   down while thousands of requests a second arrive does not flood the log (the counters in
   /metrics have every one). *suppressed gets how many were skipped since the last line. */
static bool s_log_now(unsigned long *suppressed)
{
    static unsigned long skipped;
    static int64_t last_ms;  /* monotonic */
    int64_t now = (int64_t) (kms_num_monotonic() * 1000), last = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);
    if (now - last < 1000 || !__atomic_compare_exchange_n(&last_ms, &last, now, false, __ATOMIC_RELAXED,
                                                          __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&skipped, 1, __ATOMIC_RELAXED);
        return false;
    }
    *suppressed = __atomic_exchange_n(&skipped, 0, __ATOMIC_RELAXED);
    return true;
}

/* The Lazy Pirate step: a REQ socket whose reply never came cannot send again. */
static void s_reopen(api_client_t *self)
{
    zsock_destroy(&self->sock);
    self->sock = s_open(self->backend->curve, self->backend->endpoint);
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

/* Sends the request and waits until `until`: 1 with the reply in *msg, 0 when none came (the
   socket is then reopened: Lazy Pirate), -1 when the request could not even be queued. */
static int s_attempt(api_client_t *self, const char *command, const char *arg, double until, zmsg_t **msg)
{
    if (!self->sock && !(self->sock = s_open(self->backend->curve, self->backend->endpoint)))
        return -1;
    int rc = arg ? zstr_sendx(self->sock, command, arg, NULL) : zstr_send(self->sock, command);
    if (rc != 0) {
        s_reopen(self);
        return -1;
    }
    if (s_wait(self->sock, until) == 1 && (*msg = zmsg_recv(self->sock)))
        return 1;
    s_reopen(self);
    return 0;
}

/* One request, retried once within the deadline: the first try waits half the time left, and
   when its reply does not come (a request written into a connection the trainer had just
   closed is lost without a trace) a fresh socket asks again. The commands only read, so asking
   twice is harmless; a trainer that is down still gets its 503 by the deadline. */
static int s_exchange(api_client_t *self, const char *command, const char *arg, double deadline,
                      api_reply_t *reply)
{
    api_stats_t *stats = self->backend->stats;
    double start = kms_num_monotonic();
    zmsg_t *msg = NULL;
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc != 1; attempt++) {
        double left = deadline - kms_num_monotonic();
        if (left <= 0)
            break;
        if (attempt == 1)
            api_stats_trainer_error(stats, API_TRAINER_RETRY);
        rc = s_attempt(self, command, arg, attempt == 0 ? deadline - left / 2 : deadline, &msg);
    }
    if (rc != 1) {
        unsigned long suppressed;
        if (s_log_now(&suppressed))
            kms_warn("trainer did not answer", "command=%s waited_ms=%.0f suppressed=%lu", command,
                     (kms_num_monotonic() - start) * 1000, suppressed);
        api_stats_trainer_error(stats, rc < 0 ? API_TRAINER_SEND : API_TRAINER_TIMEOUT);
        return reply->status = API_TRAINER_UNREACHABLE;
    }
    double elapsed = kms_num_monotonic() - start;
    if (s_decode(msg, reply) != 0) {
        unsigned long suppressed;
        if (s_log_now(&suppressed))
            kms_warn("malformed trainer reply", "command=%s frames=%zu suppressed=%lu", command, zmsg_size(msg),
                     suppressed);
        api_stats_trainer_error(stats, API_TRAINER_BAD_REPLY);
        zmsg_destroy(&msg);
        api_reply_clear(reply);
        return reply->status = API_TRAINER_MALFORMED;
    }
    zmsg_destroy(&msg);
    api_stats_trainer_latency(stats, elapsed);
    return reply->status;
}

int api_client_call(api_client_t *self, const char *command, const char *arg, double deadline,
                    api_reply_t *reply)
{
    assert(self && command && reply);
    memset(reply, 0, sizeof *reply);
    api_backend_t *backend = self->backend;
    char key[API_CACHE_KEY];
    int cacheable = backend->cache_ttl > 0 &&
                    (size_t) snprintf(key, sizeof key, "%s %s", command, arg ? arg : "") < sizeof key;
    s_lookup_t lookup = S_FETCH;
    if (cacheable) {
        lookup = s_cache_get(backend, self, key, reply);
        api_stats_cache(backend->stats, lookup == S_HIT);
        if (lookup == S_HIT)
            return reply->status;
    }
    double sent = kms_num_monotonic();
    int status = s_exchange(self, command, arg, deadline, reply);
    /* Stamped with the send time: the answer reflects the trainer's state from then on. */
    if (cacheable && (status > 0 || lookup == S_FETCH_CLAIMED))
        s_cache_put(backend, self, key, status > 0 ? reply : NULL, sent);
    return status;
}

json_t *api_client_list(api_client_t *self, double deadline, int *status)
{
    api_reply_t reply;
    *status = api_client_call(self, KMS_PROTO_LIST, NULL, deadline, &reply);
    json_t *doc = NULL;
    if (*status == 200) {
        doc = json_loadb(reply.body, reply.len, 0, NULL);
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
