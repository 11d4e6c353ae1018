/*  kms-tail's core: one received message (topic frame, body frame) to one JSON line, with the
    counts a reader of a sample stream keeps. Pure: no I/O. */
#ifndef TAIL_H
#define TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t received;  /* messages */
    uint64_t printed;   /* samples turned into lines */
    uint64_t malformed; /* messages dropped */
    uint64_t gaps;      /* messages missed, judged by seq (one publisher per stream) */
    uint64_t last_seq;
    bool have_seq;
} tail_stats_t;

/* Returns the JSON line (no newline; caller frees), or NULL with the reason (static text) in
   *why when the message is not a valid sample or its topic does not match its content. */
char *tail_line(tail_stats_t *stats, const void *topic, size_t topic_len, const void *body, size_t body_len,
                const char **why);

/* Counts a message that never reached tail_line (wrong number of frames). */
void tail_count_malformed(tail_stats_t *stats);

#endif
