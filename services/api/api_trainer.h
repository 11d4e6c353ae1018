/*  api_trainer: kms-api's side of the trainer's control protocol (kms_proto.h).

    An api_trainer_t is shared by every thread: the endpoint, the statistics, a small cache of
    recent answers and a pool of ZeroMQ REQ sockets. A request that must ask the trainer takes
    an idle socket (the one used last: a stack), or opens one when none is idle, and gives it
    back afterwards. REQ sockets are not thread-safe: one exchange at a time per socket, no
    queueing behind a slow request. The stack keeps the talking to the fewest sockets: a
    ZeroMQ connection that has carried messages holds about 35 kB of queues at each end, so one
    socket per worker thread (64) would make both processes grow for as long as new workers
    got their first fetch.

    Every request has a deadline. A try that gets no reply closes its socket and opens a fresh
    one (ZeroMQ's "Lazy Pirate" pattern): a REQ socket that lost a reply is stuck waiting for it
    forever, so reopening is the only way to make the next request work. The first try waits
    half the time left and a second one, on the fresh socket, the rest: a request lost in a
    connection the trainer had just closed (a restart) is then answered all the same.

    The cache: an answer of the trainer is fresh for `cache_ms` (at most 50 ms). Then the first
    request to find it stale fetches a newer one, the only fetch of that key at a time (single
    flight): up to 2 cache_ms the other requests are still served the old answer, past that
    they wait for the fetch (until their own deadline). Under load (tens of thousands of GET
    /model-weights a second) one request per command per cache_ms reaches the trainer, which
    learns on the same thread that answers, and a slow trainer is never asked the same thing
    by every worker at once. Cached bodies are shared, not copied: a hit allocates nothing.
    The price: an answer may reflect the trainer's state of up to 2 cache_ms (100 ms) before,
    far less than the scrape interval (seconds) at which the models change. Unreachable-
    trainer results are never cached. */
#ifndef API_TRAINER_H
#define API_TRAINER_H

#include <jansson.h>
#include <stddef.h>

#include "api_stats.h"
#include "kms_curve.h"

typedef struct api_trainer_t api_trainer_t;

/* The outcome of one request. status: the trainer's code (200, 400, 404, 503), or
   API_TRAINER_UNREACHABLE (no reply in time), or API_TRAINER_MALFORMED (a reply that does not
   follow the protocol). body: NUL-terminated (body[len] == 0), NULL when there is none; it
   lives in `shared` (possibly shared with the cache) until api_reply_clear. */
typedef struct api_body_t api_body_t;
typedef struct {
    int status;
    const char *body;
    size_t len;
    api_body_t *shared;
} api_reply_t;

#define API_TRAINER_UNREACHABLE 0
#define API_TRAINER_MALFORMED (-1)

/* `endpoint` in czmq syntax (">tcp://host:port"); copied. NULL when it cannot be used (a
   socket is opened and closed to check it). `curve` (CURVE for every socket, or NULL) and
   `stats` are borrowed and must outlive it. */
api_trainer_t *api_trainer_new(const char *endpoint, double cache_ms, kms_curve_t *curve, api_stats_t *stats);
void api_trainer_destroy(api_trainer_t **self_p);

/* Sends `command` (with `arg` as a second frame when not NULL) and waits for the answer until
   `deadline` (kms_num_monotonic() seconds). Recent answers are served from the cache (see
   above). Any thread. Always fills *reply (free with api_reply_clear); returns reply->status. */
int api_trainer_call(api_trainer_t *self, const char *command, const char *arg, double deadline, api_reply_t *reply);

/* LIST, parsed: a new reference, or NULL with *status set to why (the reply's status when it
   was not 200, API_TRAINER_MALFORMED when its body is not a JSON object). */
json_t *api_trainer_list(api_trainer_t *self, double deadline, int *status);

void api_reply_clear(api_reply_t *reply);

#endif
