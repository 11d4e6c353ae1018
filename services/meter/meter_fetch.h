/*  meter_fetch: models from kms-api, over civetweb's HTTP client (meter.c keeps the cache). */
#ifndef METER_FETCH_H
#define METER_FETCH_H

#include <stddef.h>

typedef struct meter_fetch_t meter_fetch_t;

typedef enum { METER_FETCH_CONNECT = 0, METER_FETCH_HTTP, METER_FETCH_TOO_LARGE, METER_FETCH_TIMEOUT } meter_fetch_error_t;

/* `api` is kms-api's base URL (http://host[:port][/path]); `timeout` seconds for an answer.
   NULL when the URL is not of that form. */
meter_fetch_t *meter_fetch_new(const char *api, double timeout);
void meter_fetch_destroy(meter_fetch_t **self_p);

typedef enum { METER_GOT_BODY = 0, METER_GOT_NONE, METER_GOT_ERROR } meter_got_t;

/* GET /model-weights/<model>. BODY: 200 with the body in *body (malloc'd, NUL-terminated; the
   caller frees); NONE: the server answered that it has no such model ready (404, 503); ERROR:
   no usable answer, the kind in *error. */
meter_got_t meter_fetch_model(meter_fetch_t *self, const char *model, char **body, size_t *len,
                              meter_fetch_error_t *error, char *why, size_t cap);

#endif
