/*  Models from kms-api: GET /model-weights/<model> through civetweb's HTTP client. Not libcurl:
    libcurl and the TLS, LDAP, Kerberos and SSH libraries it brings would be 8 of kms-meter's
    11 MB resident, on every machine of a fleet, for one small request a refresh. Plain HTTP
    only (kms-api inside the cluster). civetweb bounds the connect at 10 s and the headers at
    --timeout, but not the body; the batch's deadline bounds everything, by cancelling the
    thread (its cleanup handlers close the connection and free the body). */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include "meter_fetch.h"

#include <civetweb.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kms_num.h"

#define S_MAX_BODY (1 << 20) /* a weights document is a few kB */

struct meter_fetch_t {
    char host[256];
    int port;
    char prefix[512]; /* the URL's path, without the trailing slash */
    int timeout_ms;
    /* The batch: written by its thread until it ends, read by the collector after the join. */
    const char *models[METER_FETCH_MAX];
    size_t count, answered;
    meter_fetch_result_t results[METER_FETCH_MAX];
    pthread_t thread;
    bool running, cancelled;
    atomic_bool done;
    double deadline; /* CLOCK_MONOTONIC seconds */
};

/* "http://host[:port][/prefix]"; -1 for anything else. */
static int s_parse_url(meter_fetch_t *self, const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *host = url + 7, *path = strchr(host, '/');
    size_t host_len = path ? (size_t) (path - host) : strlen(host);
    const char *colon = memchr(host, ':', host_len);
    size_t name_len = colon ? (size_t) (colon - host) : host_len;
    if (name_len == 0 || name_len >= sizeof self->host)
        return -1;
    memcpy(self->host, host, name_len);
    self->host[name_len] = '\0';
    self->port = 80;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != host + host_len || port < 1 || port > 65535)
            return -1;
        self->port = (int) port;
    }
    snprintf(self->prefix, sizeof self->prefix, "%s", path ? path : "");
    size_t n = strlen(self->prefix);
    while (n > 0 && self->prefix[n - 1] == '/')
        self->prefix[--n] = '\0';
    return 0;
}

meter_fetch_t *meter_fetch_new(const char *api, double timeout)
{
    meter_fetch_t *self = calloc(1, sizeof *self);
    if (!self || s_parse_url(self, api) != 0) {
        free(self);
        return NULL;
    }
    self->timeout_ms = (int) (timeout * 1000);
    return self;
}

static meter_got_t s_error(meter_fetch_result_t *r, meter_fetch_error_t kind, const char *text)
{
    r->error = kind;
    snprintf(r->why, sizeof r->why, "%s", text);
    return METER_GOT_ERROR;
}

static void s_free_cleanup(void *p)
{
    free(*(char **) p);
}

static void s_close_cleanup(void *conn)
{
    mg_close_connection(conn);
}

/* The body, up to S_MAX_BODY; NULL when longer (too_large) or out of memory. Its state is in
   memory (a struct whose address the cleanup holds), which a cancel's unwinding leaves intact. */
static char *s_read_body(struct mg_connection *conn, size_t *len, bool *too_large)
{
    struct {
        char *buf, *out;
        size_t cap, got;
    } b = {malloc(16384), NULL, 16384, 0};
    pthread_cleanup_push(s_free_cleanup, &b.buf);
    for (int n; b.buf && (n = mg_read(conn, b.buf + b.got, b.cap - b.got - 1)) > 0;) {
        b.got += (size_t) n;
        if (b.got + 1 == b.cap) {
            char *bigger = b.cap < S_MAX_BODY ? realloc(b.buf, b.cap * 2) : NULL;
            if (!bigger) {
                *too_large = b.cap >= S_MAX_BODY;
                break;
            }
            b.buf = bigger;
            b.cap *= 2;
        }
    }
    if (b.buf && !*too_large) {
        b.buf[b.got] = '\0';
        *len = b.got;
        b.out = b.buf;
        b.buf = NULL;
    }
    pthread_cleanup_pop(1);
    return b.out;
}

/* GET /model-weights/<model> into *r. Cancellable but for the connect (civetweb bounds it at
   10 s), so that a cancel never leaves a half-made connection behind. */
static void s_fetch(meter_fetch_t *self, const char *model, meter_fetch_result_t *r)
{
    char ebuf[256] = "";
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    struct mg_connection *conn = mg_connect_client(self->host, self->port, 0, ebuf, sizeof ebuf);
    pthread_setcancelstate(state, NULL);
    if (!conn) {
        r->got = s_error(r, METER_FETCH_CONNECT, ebuf[0] ? ebuf : "cannot connect");
        return;
    }
    pthread_cleanup_push(s_close_cleanup, conn);
    mg_printf(conn, "GET %s/model-weights/%s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", self->prefix, model,
              self->host, self->port);
    if (mg_get_response(conn, ebuf, sizeof ebuf, self->timeout_ms) < 0) {
        r->got = s_error(r, METER_FETCH_TIMEOUT, ebuf[0] ? ebuf : "no answer in time");
    } else {
        int status = mg_get_response_info(conn)->status_code;
        snprintf(r->why, sizeof r->why, "HTTP %d", status);
        bool too_large = false;
        if (status == 404 || status == 503) {
            r->got = METER_GOT_NONE;
        } else if (status != 200) {
            r->error = METER_FETCH_HTTP; /* why says the status */
            r->got = METER_GOT_ERROR;
        } else if (!(r->body = s_read_body(conn, &r->len, &too_large))) {
            r->got = s_error(r, too_large ? METER_FETCH_TOO_LARGE : METER_FETCH_HTTP,
                             too_large ? "answer over 1 MiB" : "out of memory");
        } else {
            r->got = METER_GOT_BODY;
        }
    }
    pthread_cleanup_pop(1);
}

static void *s_batch(void *arg)
{
    meter_fetch_t *self = arg;
    for (size_t i = 0; i < self->count; i++) {
        s_fetch(self, self->models[i], &self->results[i]);
        self->answered = i + 1;
    }
    atomic_store(&self->done, true);
    return NULL;
}

bool meter_fetch_begin(meter_fetch_t *self, const char *const *models, size_t count)
{
    if (self->running || count == 0 || count > METER_FETCH_MAX)
        return false;
    memset(self->results, 0, sizeof self->results);
    memcpy(self->models, models, count * sizeof *models);
    self->count = count;
    self->answered = 0;
    self->cancelled = false;
    atomic_store(&self->done, false);
    self->deadline = kms_num_monotonic() + (double) count * self->timeout_ms / 1000.0;
    self->running = pthread_create(&self->thread, NULL, s_batch, self) == 0;
    if (!self->running) {
        for (size_t i = 0; i < count; i++)
            self->results[i].got = s_error(&self->results[i], METER_FETCH_CONNECT, strerror(errno));
        self->answered = count;
        atomic_store(&self->done, true); /* collected at once, as failures */
    }
    return true;
}

bool meter_fetch_collect(meter_fetch_t *self, meter_fetch_result_t *results)
{
    if (!self->running && !atomic_load(&self->done))
        return false;
    if (self->running) {
        if (!atomic_load(&self->done) && !self->cancelled && kms_num_monotonic() > self->deadline) {
            pthread_cancel(self->thread);
            self->cancelled = true;
        }
        if (!atomic_load(&self->done) && !self->cancelled)
            return false;
        if (pthread_tryjoin_np(self->thread, NULL) != 0)
            return false; /* cancelled, still in a connect: the next interval will see */
        self->running = false;
    }
    for (size_t i = self->answered; i < self->count; i++) {
        free(self->results[i].body);
        self->results[i] = (meter_fetch_result_t){.got = METER_GOT_ERROR, .error = METER_FETCH_TIMEOUT};
        snprintf(self->results[i].why, sizeof self->results[i].why, "no whole answer within %g s",
                 self->timeout_ms / 1000.0);
    }
    memcpy(results, self->results, self->count * sizeof *results);
    memset(self->results, 0, sizeof self->results);
    atomic_store(&self->done, false);
    return true;
}

void meter_fetch_destroy(meter_fetch_t **self_p)
{
    meter_fetch_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->running) {
        pthread_cancel(self->thread);
        bool joined = false;
        for (int i = 0; i < 50 && !(joined = pthread_tryjoin_np(self->thread, NULL) == 0); i++)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        if (!joined) {
            pthread_detach(self->thread); /* in a connect: it ends with the process; self stays its */
            return;
        }
    }
    for (size_t i = 0; i < self->count; i++)
        free(self->results[i].body);
    free(self);
}
