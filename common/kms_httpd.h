/*  kms_httpd: a program's own small HTTP server (kms-scraper's and kms-meter's /metrics), on
    civetweb. One handler answers every path.

    Port 0 is any free port: the server logs the port it got as `msg=listening socket=<role>
    port=<port>`, the line kms_log_bound writes for a ZeroMQ bind, so a test or a person starts
    it without guessing a free port first. */
#ifndef KMS_HTTPD_H
#define KMS_HTTPD_H

#include <civetweb.h>

/* Serves `address` (NULL or "": every interface) and `port` from `threads` civetweb threads,
   each request answered by handler(conn, arg). Logs the listening line; on failure logs why and
   returns NULL. Stop it with kms_httpd_stop. */
struct mg_context *kms_httpd_start(const char *role, const char *address, long port, int threads,
                                   mg_request_handler handler, void *arg);

/* Stops the server (waits for its threads) and sets *ctx_p to NULL; NULL is fine. */
void kms_httpd_stop(struct mg_context **ctx_p);

#endif
