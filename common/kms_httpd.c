#include "kms_httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kms_log.h"

struct kms_httpd_t {
    struct mg_context *ctx;
    struct sockaddr_in wake; /* where a connection reaches the listener; port 0: nowhere known */
};

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    (void) conn;
    char quoted[512];
    kms_warn("http server", "why=%s", kms_log_quote(message, quoted, sizeof quoted));
    return 1;
}

kms_httpd_t *kms_httpd_start(const char *role, const char *address, long port, int threads, int timeout_ms,
                             const kms_httpd_route_t *routes, void *arg)
{
    kms_httpd_t *self = calloc(1, sizeof *self);
    if (!self) {
        kms_error("out of memory", NULL);
        return NULL;
    }
    bool any = !address || !*address || strcmp(address, "0.0.0.0") == 0;
    char ports[128], nthreads[16], timeout[16];
    snprintf(ports, sizeof ports, "%s%s%ld", any ? "" : address, any ? "" : ":", port);
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    /* One write per answer (tcp_nodelay: two writes plus Nagle cost 40 ms). */
    const char *options[] = {"listening_ports",    ports,   "num_threads", nthreads, "tcp_nodelay", "1",
                             "request_timeout_ms", timeout, NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.log_message = s_log_message;
    mg_init_library(0);
    if (!(self->ctx = mg_start(&callbacks, NULL, options))) {
        mg_exit_library();
        free(self);
        char quoted[160];
        kms_error("cannot listen", "socket=%s address=%s", role, kms_log_quote(ports, quoted, sizeof quoted));
        return NULL;
    }
    for (const kms_httpd_route_t *r = routes; r->uri; r++)
        mg_set_request_handler(self->ctx, r->uri, r->handler, arg);
    struct mg_server_port bound[1];
    int got = mg_get_server_ports(self->ctx, 1, bound) == 1 ? bound[0].port : (int) port;
    self->wake.sin_family = AF_INET;
    if (inet_pton(AF_INET, any ? "127.0.0.1" : address, &self->wake.sin_addr) == 1)
        self->wake.sin_port = htons((uint16_t) got);
    kms_info("listening", "socket=%s port=%d", role, got);
    return self;
}

/*  civetweb's listening thread waits for connections in poll() calls of up to 2 s and only then
    sees that mg_stop() wants it to end. While mg_stop() runs, this thread connects to the port
    now and then, so that the poll returns at once. */
typedef struct {
    atomic_bool done;
    struct sockaddr_in address;
} s_waker_t;

static void *s_wake_listener(void *arg)
{
    s_waker_t *waker = arg;
    while (!atomic_load(&waker->done)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            connect(fd, (struct sockaddr *) &waker->address, sizeof waker->address);
            close(fd);
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return NULL;
}

void kms_httpd_stop(kms_httpd_t **self_p)
{
    kms_httpd_t *self = *self_p;
    if (!self)
        return;
    s_waker_t waker = {.address = self->wake};
    atomic_init(&waker.done, false);
    pthread_t thread;
    bool waking = self->wake.sin_port != 0 && pthread_create(&thread, NULL, s_wake_listener, &waker) == 0;
    mg_stop(self->ctx);
    if (waking) {
        atomic_store(&waker.done, true);
        pthread_join(thread, NULL);
    }
    mg_exit_library();
    free(self);
    *self_p = NULL;
}

int kms_httpd_reply(struct mg_connection *conn, int status, const char *type, const char *headers, bool keep_alive,
                    const void *body, size_t len)
{
    static const char format[] = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                 "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                                 "Connection: %s\r\n%s\r\n";
    /* Content-Length says what a GET gets; a HEAD gets no body. */
    const struct mg_request_info *info = mg_get_request_info(conn);
    size_t sent = info && info->request_method && strcmp(info->request_method, "HEAD") == 0 ? 0 : len;
    const char *reason = mg_get_response_code_text(conn, status);
    const char *connection = keep_alive ? "keep-alive" : "close";
    headers = headers ? headers : "";
    /* A small answer, the common case, from the stack. */
    char stack[4096];
    int n = snprintf(stack, sizeof stack, format, status, reason, type, len, connection, headers);
    if (n < 0)
        return status;
    char *buf = stack;
    if ((size_t) n + sent > sizeof stack) {
        if (!(buf = malloc((size_t) n + sent + 1)))
            return status;
        snprintf(buf, (size_t) n + 1, format, status, reason, type, len, connection, headers);
    }
    if (sent)
        memcpy(buf + n, body, sent);
    mg_write(conn, buf, (size_t) n + sent);
    if (buf != stack)
        free(buf);
    return status;
}
