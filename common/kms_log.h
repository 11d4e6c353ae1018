/*  kms_log: one logfmt line per event on stderr.

    ts=2026-11-26T20:01:02.345Z level=info prog=kms-scraper msg="scrape done" target=node1 ms=3.2

    The level comes from KMS_LOG_LEVEL (debug, info, warn, error; default info). The macros test
    the level before they evaluate their arguments, so a debug line costs nothing when off.
    Fields are a printf format of key=value pairs, NULL for an event without fields; quote
    values with kms_log_quote() (errors go under the one key why=, always quoted). Thread-safe:
    each line is written with one call. */
#ifndef KMS_LOG_H
#define KMS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { KMS_LOG_DEBUG = 0, KMS_LOG_INFO, KMS_LOG_WARN, KMS_LOG_ERROR } kms_log_level_t;

extern kms_log_level_t kms_log_threshold;

/* Sets the program name and reads KMS_LOG_LEVEL. Returns -1 (and keeps info) when the variable
   holds an unknown level, so that main can report it as bad configuration. */
int kms_log_init(const char *program);

void kms_log_write(kms_log_level_t level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes `text` as a logfmt value into `out` (quoted and escaped when needed, truncated to fit)
   and returns `out`, for use as a %s argument. */
const char *kms_log_quote(const char *text, char *out, size_t cap);

/* True for the 1st, 10th, 100th, ... occurrence of an event: a fault that repeats every
   interval is logged a handful of times, not every time (its counter keeps the exact count). */
bool kms_log_decade(uint64_t count);

/* Logs `msg=listening socket=<role> endpoint=<endpoint> port=<port>` (port only for tcp://) for
   the endpoint a ZeroMQ bind got (czmq's zsock_endpoint: a `*` port resolved), so that whoever
   starts a program on any free port reads the one it took. NULL (a socket that only connects)
   logs nothing. */
void kms_log_bound(const char *role, const char *endpoint);

#define kms_log_at(level, msg, ...) \
    do { \
        if ((level) >= kms_log_threshold) \
            kms_log_write((level), (msg), __VA_ARGS__); \
    } while (0)
#define kms_debug(msg, ...) kms_log_at(KMS_LOG_DEBUG, msg, __VA_ARGS__)
#define kms_info(msg, ...) kms_log_at(KMS_LOG_INFO, msg, __VA_ARGS__)
#define kms_warn(msg, ...) kms_log_at(KMS_LOG_WARN, msg, __VA_ARGS__)
#define kms_error(msg, ...) kms_log_at(KMS_LOG_ERROR, msg, __VA_ARGS__)

#endif
