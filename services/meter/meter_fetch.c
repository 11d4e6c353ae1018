/*  Models from kms-api: GET /model-weights/<model> through civetweb's HTTP client. Not libcurl:
    libcurl and the TLS, LDAP, Kerberos and SSH libraries it brings would be 8 of kms-meter's
    11 MB resident, on every machine of a fleet, for one small request a refresh. Plain HTTP
    only (kms-api inside the cluster); civetweb bounds the connect at 10 s, the answer at
    --timeout. */
#include "meter_fetch.h"

#include <civetweb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_BODY (1 << 20)  /* a weights document is a few kB */

struct meter_fetch_t {
    char host[256];
    int port;
    char prefix[512];  /* the URL's path, without the trailing slash */
    int timeout_ms;
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

void meter_fetch_destroy(meter_fetch_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

static meter_got_t s_error(meter_fetch_error_t kind, meter_fetch_error_t *error, char *why, size_t cap,
                           const char *text)
{
    *error = kind;
    snprintf(why, cap, "%s", text);
    return METER_GOT_ERROR;
}

/* The body, up to S_MAX_BODY; -1 when longer or cut short. */
static char *s_read_body(struct mg_connection *conn, size_t *len, bool *too_large)
{
    size_t cap = 16384, got = 0;
    char *buf = malloc(cap);
    for (int n; buf && (n = mg_read(conn, buf + got, cap - got - 1)) > 0;) {
        got += (size_t) n;
        if (got + 1 == cap) {
            char *bigger = cap < S_MAX_BODY ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                *too_large = cap >= S_MAX_BODY;
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf) {
        buf[got] = '\0';
        *len = got;
    }
    return buf;
}

meter_got_t meter_fetch_model(meter_fetch_t *self, const char *model, char **body, size_t *len,
                              meter_fetch_error_t *error, char *why, size_t cap)
{
    char ebuf[256] = "";
    struct mg_connection *conn = mg_connect_client(self->host, self->port, 0, ebuf, sizeof ebuf);
    if (!conn)
        return s_error(METER_FETCH_CONNECT, error, why, cap, ebuf[0] ? ebuf : "cannot connect");
    mg_printf(conn, "GET %s/model-weights/%s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", self->prefix,
              model, self->host, self->port);
    meter_got_t got;
    if (mg_get_response(conn, ebuf, sizeof ebuf, self->timeout_ms) < 0) {
        got = s_error(METER_FETCH_TIMEOUT, error, why, cap, ebuf[0] ? ebuf : "no answer in time");
    } else {
        int status = mg_get_response_info(conn)->status_code;
        snprintf(why, cap, "HTTP %d", status);
        bool too_large = false;
        if (status == 404 || status == 503) {
            got = METER_GOT_NONE;
        } else if (status != 200) {
            *error = METER_FETCH_HTTP;  /* why says the status */
            got = METER_GOT_ERROR;
        } else if (!(*body = s_read_body(conn, len, &too_large))) {
            got = s_error(too_large ? METER_FETCH_TOO_LARGE : METER_FETCH_HTTP, error, why, cap,
                          too_large ? "answer over 1 MiB" : "out of memory");
        } else {
            got = METER_GOT_BODY;
        }
    }
    mg_close_connection(conn);
    return got;
}
