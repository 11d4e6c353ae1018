#include "kms_httpd.h"

#include <stdio.h>

#include "kms_log.h"

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    (void) conn;
    char quoted[512];
    kms_warn("http server", "why=%s", kms_log_quote(message, quoted, sizeof quoted));
    return 1;
}

struct mg_context *kms_httpd_start(const char *role, const char *address, long port, int threads,
                                   mg_request_handler handler, void *arg)
{
    char ports[128], nthreads[16];
    if (address && *address)
        snprintf(ports, sizeof ports, "%s:%ld", address, port);
    else
        snprintf(ports, sizeof ports, "%ld", port);
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    /* One write per answer (tcp_nodelay), and a slow client cannot hold a thread for long. */
    const char *options[] = {"listening_ports", ports, "num_threads", nthreads, "tcp_nodelay", "1",
                             "request_timeout_ms", "5000", NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.log_message = s_log_message;
    mg_init_library(0);
    struct mg_context *ctx = mg_start(&callbacks, NULL, options);
    if (!ctx) {
        mg_exit_library();
        char quoted[160];
        kms_error("cannot listen", "socket=%s address=%s", role, kms_log_quote(ports, quoted, sizeof quoted));
        return NULL;
    }
    mg_set_request_handler(ctx, "/", handler, arg);
    struct mg_server_port bound[1];
    int got = mg_get_server_ports(ctx, 1, bound) == 1 ? bound[0].port : (int) port;
    kms_info("listening", "socket=%s port=%d", role, got);
    return ctx;
}

void kms_httpd_stop(struct mg_context **ctx_p)
{
    if (!*ctx_p)
        return;
    mg_stop(*ctx_p);
    mg_exit_library();
    *ctx_p = NULL;
}
