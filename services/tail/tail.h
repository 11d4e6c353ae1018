/*  kms-tail's core: one received message (topic frame, body frame) to one JSON line, with the
    counts a reader of a sample stream keeps. Pure: no I/O. */
#ifndef TAIL_H
#define TAIL_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t received;  /* messages */
    uint64_t printed;   /* samples turned into lines */
    uint64_t malformed; /* messages dropped */
    uint64_t gaps;      /* messages missed, judged by seq (one publisher per stream) */
    uint64_t last_seq;
    bool have_seq;
} tail_stats_t;

/* One message's JSON line (no newline; caller frees), or NULL with the reason (static text) in
   *why when it is not two frames (topic, sample), not a valid sample, or its topic does not
   match its content. */
char *tail_line(tail_stats_t *stats, zmsg_t *msg, const char **why);

#endif
