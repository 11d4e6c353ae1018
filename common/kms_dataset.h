/*  kms_dataset: offline training data turned into samples (pure: parses a buffer, no I/O).

    Two formats, told apart by their first non-blank byte ('{' or '[' is JSON):

    CSV (RFC 4180, parsed by libcsv; quoted fields, CRLF and blank lines allowed). The first row
    is a header of canonical names:
        arch (alias cpu_architecture)   the sample's architecture; "unknown" when absent or empty
        node (alias instance)           the node name; "dataset" when absent
        ts, dt, seq                     optional: interval end (unix s), length (s), number;
                                        without ts, a row's ts is its number: its own interval
        cpus                            optional: the node's logical cpus (1 to 4096), which the
                                        per-cpu models need
        package core uncore dram platform other gpu    targets: watts, >= 0
        any other name                  a feature: per-second rate or gauge, >= 0
    e.g. `arch,cpu_cycles,cpu_instructions,cpu_time,cache_misses,resident_memory,core,dram`.
    An empty cell means "not measured": that feature or target is absent from the sample (and
    the models that need it skip the sample). A row is bad, reported with its line number and
    skipped when it has the wrong number of fields, a cell that is not a number, a NaN or
    infinite value, a negative value, broken quoting, or no target value at all. A header with
    an empty, duplicate or over-long name, or too many columns, rejects the whole file.

    Prometheus JSON: a query_range dump ({"<metric>":[{"metric":{...},"values":[[ts,"v"]...]}]})
    or an HTTP API answer ({"status":"success","data":{...}}) of Kepler metrics, turned into
    kepler.node samples by kms_kepler, the code the scraper runs: snapshots per node and
    timestamp, and the rates between consecutive ones. Container samples are not made into
    training data (the models are node models). */
#ifndef KMS_DATASET_H
#define KMS_DATASET_H

#include <stddef.h>

#include "kms_sample.h"

typedef enum { KMS_DATASET_AUTO = 0, KMS_DATASET_CSV, KMS_DATASET_PROMETHEUS } kms_dataset_format_t;

typedef struct {
    /* Called once per sample, which lives for the call only; return non-zero to stop. */
    int (*on_sample)(const kms_sample_t *sample, void *arg);
    /* Called once per bad row (may be NULL): its 1-based line (0 when unknown) and why. */
    void (*on_bad_row)(size_t line, const char *why, void *arg);
    /* Called now and then with the share of the input done, in [0, 1] (may be NULL). */
    void (*on_progress)(double done, void *arg);
    void *arg;
} kms_dataset_visitor_t;

typedef struct {
    kms_dataset_format_t format; /* what was parsed */
    size_t rows;                 /* CSV data rows, or Prometheus snapshots */
    size_t samples;              /* samples handed to on_sample */
    size_t bad_rows;             /* rows reported to on_bad_row */
    size_t skipped;              /* intervals that gave no node sample (first point, counter reset...) */
} kms_dataset_stats_t;

/* Parses `len` bytes of `text` (need not be NUL-terminated). Returns 0 when the input was read
   to its end (bad rows do not fail it), -1 when it cannot be used at all (bad header, not JSON,
   not a Prometheus dump, out of memory) or on_sample stopped it, with the reason in *why
   (static text, or borrowed until the next call). `stats` may be NULL. */
int kms_dataset_parse(const char *text, size_t len, kms_dataset_format_t format, const kms_dataset_visitor_t *visitor,
                      kms_dataset_stats_t *stats, const char **why);

/* "csv", "prometheus" or "auto". */
const char *kms_dataset_format_name(kms_dataset_format_t format);

#endif
