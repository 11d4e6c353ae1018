/*  kms_promtext_read: the Prometheus text exposition format 0.0.4, parsed in place.

    The parser walks a buffer once and hands each sample line to a callback as slices of the
    buffer: nothing is allocated and nothing is copied. Label values are handed out raw (escapes
    still in place); kms_promtext_label_unescape() decodes one when the caller needs it. A malformed
    line is rejected (counted, reported to on_reject) and parsing goes on with the next line.

    Accepted: # HELP / # TYPE / other comments, label escapes \\ \" \n, NaN, +Inf, -Inf, optional
    millisecond timestamps, a trailing comma in the label set, empty {}, CRLF line ends, blank
    lines, histogram and summary series (passed through like any other series), duplicate series
    (passed through: the caller decides), blanks and tabs between tokens, a last line without its
    newline. A lone '#' is a comment, as the format says of any line that starts with one.
    Bounded: a line longer than KMS_PROMTEXT_MAX_LINE or with more than KMS_PROMTEXT_MAX_LABELS labels is
    rejected.

    Rejected lines: metric names outside [a-zA-Z_:][a-zA-Z0-9_:]*, label names outside
    [a-zA-Z_][a-zA-Z0-9_]*, a label name twice in one series, escapes other than the three, label
    values that are not UTF-8, a value that is not a number (or overflows a double, or is longer
    than 127 characters), a timestamp that is not a 64-bit integer, anything after it, and # HELP
    or # TYPE lines with a bad name or an unknown type.

    Not thread-bound: any number of threads may parse at once (no state outside the call). */
#ifndef KMS_PROMTEXT_READ_H
#define KMS_PROMTEXT_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_PROMTEXT_MAX_LABELS 64
#define KMS_PROMTEXT_MAX_LINE (1u << 20)

typedef enum {
    KMS_PROMTEXT_UNTYPED = 0,
    KMS_PROMTEXT_COUNTER,
    KMS_PROMTEXT_GAUGE,
    KMS_PROMTEXT_HISTOGRAM,
    KMS_PROMTEXT_SUMMARY
} kms_promtext_type_t;

typedef struct {
    const char *ptr;
    size_t len;
} kms_slice_t;

typedef struct {
    kms_slice_t name;
    kms_slice_t value; /* raw, between the quotes; escapes not decoded */
    bool escaped;      /* value holds at least one backslash */
} kms_promtext_label_t;

typedef struct {
    kms_slice_t name;
    const kms_promtext_label_t *labels; /* in page order; valid only during the callback */
    size_t label_count;
    double value;
    bool has_timestamp;
    int64_t timestamp_ms;
    kms_promtext_type_t type; /* from the # TYPE line of this family, UNTYPED when none */
    /* The family the series belongs to: the name of the # TYPE line when the series is that
       family's (a histogram's name_bucket/_sum/_count, a summary's name_sum/_count), else the
       series' own name. */
    kms_slice_t family;
} kms_promtext_series_t;

typedef struct {
    /* Return 0 to go on, non-zero to stop parsing (kms_promtext_parse then returns that value). */
    int (*on_series)(const kms_promtext_series_t *series, void *arg);
    /* Optional: a rejected line, with its 1-based number and why. */
    void (*on_reject)(size_t line_no, const char *reason, kms_slice_t line, void *arg);
    void *arg;
} kms_promtext_handler_t;

typedef struct {
    size_t lines;    /* every line, blank and comment lines included */
    size_t series;   /* sample lines handed to on_series */
    size_t rejected; /* malformed lines skipped */
} kms_promtext_stats_t;

/* Parses `len` bytes (need not be NUL-terminated). Returns 0, or what on_series returned when
   it stopped the walk. `stats` may be NULL. */
int kms_promtext_parse(const char *buf, size_t len, const kms_promtext_handler_t *handler, kms_promtext_stats_t *stats);

/* Parses one sample value token as the format spells it: a decimal number ([+-], digits, '.',
   exponent), or NaN, Inf, +Inf, -Inf (case-insensitive, "Infinity" too). Exact: the result is
   the double nearest to the decimal, bit for bit what strtod gives. 0, or -1 when the token is
   not a number or overflows a double. */
int kms_promtext_parse_value(const char *text, size_t len, double *out);

/* Decodes a label value into `out` (NUL-terminated). Returns its length, or -1 when it does not
   fit in `cap` bytes. */
long kms_promtext_label_unescape(const kms_promtext_label_t *label, char *out, size_t cap);

/* The label called `name` in `series`, or NULL. */
const kms_promtext_label_t *kms_promtext_label_find(const kms_promtext_series_t *series, const char *name);

/* True when the slice equals the NUL-terminated string. */
bool kms_slice_eq(kms_slice_t slice, const char *text);

#endif
