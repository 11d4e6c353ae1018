/*  api_guard: what kms-api does about clients that take more than their share, where
    civetweb 1.15 offers nothing (services/api/README.md, "Hostile clients").

    civetweb gives each connection a worker thread for as long as the connection lasts, and
    cuts a client only while it is sending its headers (request_timeout_ms). So:
      - one address may hold at most `per_client` connections that got past their headers;
        the next ones are answered once and closed (civetweb tells no callback a connection's
        address before its first request is in);
      - a request body must arrive within its deadline: a client trickling a body byte by byte
        would otherwise hold its worker for as long as it likes (mg_read waits for the whole
        length, and its timeout restarts at every byte). civetweb does not hand out a
        connection's socket: the watchdog finds it by its addresses, only for a body past its
        deadline, and shuts it down, which wakes the worker; civetweb closes it as usual.

    Thread-safe: every worker calls in; one watchdog thread cuts the bodies past their deadline. */
#ifndef API_GUARD_H
#define API_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct api_guard_t api_guard_t;

/* `per_client` connections per address at most; `workers` = civetweb's num_threads (no more
   connections than that are ever counted or watched at once). NULL when out of memory. */
api_guard_t *api_guard_new(long per_client, long workers);
void api_guard_destroy(api_guard_t **self_p);

/* Counts a connection; false (counted as refused, not as held) when its address already holds
   per_client of them. */
bool api_guard_admit(api_guard_t *self, const char *remote_addr);
void api_guard_release(api_guard_t *self, const char *remote_addr);

/* Watches the connection (as mg_request_info describes it: remote_addr "127.0.0.1" or "::1")
   until api_guard_unwatch: past `deadline` (kms_num_monotonic seconds) its socket is shut
   down, so a read blocked on it returns. -1 when every slot is taken (cannot happen with one
   body per worker). */
int api_guard_watch(api_guard_t *self, const char *remote_addr, int remote_port, int server_port, double deadline);
/* Stops watching; true when the watchdog had cut the connection. */
bool api_guard_unwatch(api_guard_t *self, int slot);

/* Writes kms_api_connections_cut_total{reason="per_client"|"slow_body"} (Prometheus text). */
void api_guard_write(const api_guard_t *self, FILE *out);

#endif
