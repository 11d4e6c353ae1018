/*  api_stats: kms-api's own counters (requests by route and status, trainer round trips).

    Every worker thread updates the same api_stats_t with relaxed atomic adds: no lock on the
    request path. Readers (GET /metrics) see each counter consistent on its own, which is all
    Prometheus asks of a scrape. */
#ifndef API_STATS_H
#define API_STATS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    API_ROUTE_INDEX = 0, /* GET / */
    API_ROUTE_HEALTHZ,
    API_ROUTE_READYZ,
    API_ROUTE_METRICS,
    API_ROUTE_MODELS,      /* GET /models */
    API_ROUTE_ZIP,         /* GET /models/<model> */
    API_ROUTE_WEIGHTS,     /* GET /model-weights/<model> */
    API_ROUTE_KEPLER,      /* POST /model */
    API_ROUTE_KEPLER_INIT, /* GET /kepler/init/<source>: what Kepler's *_INIT_URL loads */
    API_ROUTE_OTHER,       /* anything else: 404, 405 */
    API_ROUTE_COUNT
} api_route_t;

typedef enum {
    API_TRAINER_TIMEOUT = 0, /* no reply within the deadline: the socket was reopened */
    API_TRAINER_BAD_REPLY,   /* a reply that does not follow kms_proto.h */
    API_TRAINER_SEND,        /* the request could not even be queued */
    API_TRAINER_RETRY,       /* a first try went unanswered; asked again on a fresh socket */
    API_TRAINER_ERROR_COUNT
} api_trainer_error_t;

#define API_STATUS_MIN 100
#define API_STATUS_MAX 599
#define API_LATENCY_BUCKETS 14

typedef struct {
    uint64_t requests[API_ROUTE_COUNT][API_STATUS_MAX - API_STATUS_MIN + 1];
    uint64_t latency_buckets[API_LATENCY_BUCKETS]; /* cumulative on output only */
    uint64_t latency_count;
    uint64_t latency_sum_ns;
    uint64_t trainer_errors[API_TRAINER_ERROR_COUNT];
    uint64_t cache_hits, cache_misses;
    double started; /* unix seconds */
} api_stats_t;

void api_stats_init(api_stats_t *stats);
void api_stats_request(api_stats_t *stats, api_route_t route, int status);
/* A completed trainer round trip of `seconds`. */
void api_stats_trainer_latency(api_stats_t *stats, double seconds);
void api_stats_trainer_error(api_stats_t *stats, api_trainer_error_t error);
void api_stats_cache(api_stats_t *stats, int hit);

/* Writes the API's own families (kms_api_*) as Prometheus text 0.0.4: HELP, TYPE, samples. */
void api_stats_write(const api_stats_t *stats, FILE *out);

#endif
