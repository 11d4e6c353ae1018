/*  meter_fetch: models from kms-api, over civetweb's HTTP client (meter.c keeps the cache).

    The requests run on a thread of their own, so that metering never waits for the network: a
    server that sends its headers and then stalls the body froze metering when it ran on the
    meter's thread. A batch has a deadline (its count x the timeout, connects included); past
    it the thread is cancelled, its connection closed, and the unanswered models count as
    timeouts. */
#ifndef METER_FETCH_H
#define METER_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#define METER_FETCH_MAX 8 /* models in one batch */

typedef struct meter_fetch_t meter_fetch_t;

typedef enum {
    METER_FETCH_CONNECT = 0,
    METER_FETCH_HTTP,
    METER_FETCH_TOO_LARGE,
    METER_FETCH_TIMEOUT
} meter_fetch_error_t;
typedef enum { METER_GOT_BODY = 0, METER_GOT_NONE, METER_GOT_ERROR } meter_got_t;

/* One model's answer. BODY: 200, the body in `body` (malloc'd, NUL-terminated; the collector
   frees it); NONE: the server has no such model ready (404, 503); ERROR: no usable answer, the
   kind in `error`, in words in `why`. */
typedef struct {
    meter_got_t got;
    char *body;
    size_t len;
    meter_fetch_error_t error;
    char why[256];
} meter_fetch_result_t;

/* `api` is kms-api's base URL (http://host[:port][/path]); `timeout` seconds for one whole
   answer. NULL when the URL is not of that form. */
meter_fetch_t *meter_fetch_new(const char *api, double timeout);
/* Cancels a batch under way; returns within half a second (a thread stuck in a connect is left
   to the process's exit). */
void meter_fetch_destroy(meter_fetch_t **self_p);

/* Starts asking for the `count` models named (at most METER_FETCH_MAX; the names must outlive
   the batch) unless a batch is under way: false then. */
bool meter_fetch_begin(meter_fetch_t *self, const char *const *models, size_t count);

/* true once per batch, when it is over: its answers in results[0..count), in the order asked.
   A batch past its deadline is cancelled here and reported over as soon as its thread ended. */
bool meter_fetch_collect(meter_fetch_t *self, meter_fetch_result_t *results);

#endif
