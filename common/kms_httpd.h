/*  kms_httpd: a program's own small HTTP server (kepler-sim's pages, kms-scraper's and
    kms-meter's /metrics), on civetweb, and the one way every server of the project (kms-api's
    too) writes an answer.

    Port 0 is any free port: the server logs the port it got as `msg=listening socket=<role>
    port=<port>`, the line kms_log_bound writes for a ZeroMQ bind, so that a test or a person
    starts it without guessing a free port first. A stop takes milliseconds, not the up to 2 s
    that civetweb's own waits for its listening thread. */
#ifndef KMS_HTTPD_H
#define KMS_HTTPD_H

#include <civetweb.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *uri; /* civetweb's: "/metrics" also answers /metrics/..., "/" every path */
    mg_request_handler handler;
} kms_httpd_route_t;

typedef struct kms_httpd_t kms_httpd_t;

/* Serves `address` (NULL, "" or "0.0.0.0": every interface) and `port` from `threads` civetweb
   threads; a client that stalls frees its thread after `timeout_ms`. `routes` ends with an
   all-zero entry, and each handler gets `arg`. Logs the listening line; on failure logs why
   and returns NULL. */
kms_httpd_t *kms_httpd_start(const char *role, const char *address, long port, int threads, int timeout_ms,
                             const kms_httpd_route_t *routes, void *arg);

/* Answers a request in one write: the status line, Content-Type, Content-Length, no-store,
   nosniff, `Connection: keep-alive` or `close`, the extra `headers` (each ending in CRLF; NULL:
   none), then the body, which a HEAD request does not get. Every HTTP answer of the project's
   servers is written here. Returns status. */
int kms_httpd_reply(struct mg_connection *conn, int status, const char *type, const char *headers, bool keep_alive,
                    const void *body, size_t len);

/* Stops the server (its threads have ended when this returns) and sets *self_p to NULL; NULL
   is fine. */
void kms_httpd_stop(kms_httpd_t **self_p);

#endif
