/*  kms_dataset: CSV and Prometheus JSON files -> samples. See kms_dataset.h.

    CSV goes through libcsv, fed one physical line at a time so that every row can be reported
    with the line it started on, and so that a row with broken quoting can be dropped alone: the
    parser is restarted on the next line instead of failing the file. */
#include "kms_dataset.h"

#include "kms_kepler.h"
#include "kms_kepler_diff.h"
#include "kms_kepler_query.h"
#include "kms_num.h"

#include <csv.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reasons that name a column or a line are formatted here: valid until the next call. */
static _Thread_local char s_why[256];

/* ---------------------------------------------------------------------------------------------
   CSV */

typedef enum {
    S_COL_FEATURE,
    S_COL_TARGET,
    S_COL_ARCH,
    S_COL_NODE,
    S_COL_TS,
    S_COL_DT,
    S_COL_SEQ,
    S_COL_CPUS
} s_col_kind_t;

#define S_MAX_COLUMNS (2 * KMS_SAMPLE_MAX_VALUES + 6)

typedef struct {
    s_col_kind_t kind;
    char name[KMS_NAME_MAX];
} s_column_t;

typedef struct {
    const kms_dataset_visitor_t *visitor;
    kms_dataset_stats_t *stats;
    /* header */
    bool have_header;
    bool header_bad;
    size_t column_count;
    s_column_t columns[S_MAX_COLUMNS];
    /* the row being read */
    size_t line;           /* physical line being fed, 1-based */
    size_t row_line;       /* the line the current row started on; 0 before its first field */
    size_t field;          /* fields seen in the current row */
    const char *row_error; /* first problem found in the row, NULL when none */
    kms_sample_t sample;
    bool stopped; /* on_sample asked to stop */
} s_csv_t;

static const char *s_targets[] = {"package", "core", "uncore", "dram", "platform", "other", "gpu"};

static s_col_kind_t s_column_kind(const char *name)
{
    static const struct {
        const char *name;
        s_col_kind_t kind;
    } meta[] = {{"arch", S_COL_ARCH}, {"cpu_architecture", S_COL_ARCH},
                {"node", S_COL_NODE}, {"instance", S_COL_NODE},
                {"ts", S_COL_TS},     {"dt", S_COL_DT},
                {"seq", S_COL_SEQ},   {"cpus", S_COL_CPUS}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        if (strcmp(name, meta[i].name) == 0)
            return meta[i].kind;
    for (size_t i = 0; i < sizeof s_targets / sizeof s_targets[0]; i++)
        if (strcmp(name, s_targets[i]) == 0)
            return S_COL_TARGET;
    return S_COL_FEATURE;
}

static void s_header_field(s_csv_t *self, const char *text, size_t len)
{
    if (self->header_bad)
        return;
    if (len == 0 || len >= KMS_NAME_MAX || self->column_count >= S_MAX_COLUMNS) {
        snprintf(s_why, sizeof s_why, "line %zu: header column %zu is %s", self->line, self->column_count + 1,
                 len == 0              ? "empty"
                 : len >= KMS_NAME_MAX ? "a name too long"
                                       : "one too many");
        self->header_bad = true;
        return;
    }
    s_column_t *col = &self->columns[self->column_count];
    memcpy(col->name, text, len);
    col->name[len] = '\0';
    for (size_t i = 0; i < self->column_count; i++) {
        if (strcmp(self->columns[i].name, col->name) == 0) {
            snprintf(s_why, sizeof s_why, "line %zu: header names column '%s' twice", self->line, col->name);
            self->header_bad = true;
            return;
        }
    }
    col->kind = s_column_kind(col->name);
    self->column_count++;
}

/* Stores one data cell into the sample; the first problem of a row is kept in row_error. */
static void s_data_field(s_csv_t *self, const char *text, size_t len)
{
    if (self->field >= self->column_count) {
        self->row_error = "more fields than the header has columns";
        return;
    }
    const s_column_t *col = &self->columns[self->field];
    if (len == 0)
        return; /* not measured, or the default arch or node */
    if (col->kind == S_COL_ARCH || col->kind == S_COL_NODE) {
        bool arch = col->kind == S_COL_ARCH;
        snprintf(arch ? self->sample.arch : self->sample.node,
                 arch ? sizeof self->sample.arch : sizeof self->sample.node, "%.*s", (int) len, text);
        return;
    }
    double value;
    if (kms_num_parse_double_n(text, len, &value) != 0) {
        snprintf(s_why, sizeof s_why, "column %s: '%.*s' is not a number", col->name, (int) (len > 40 ? 40 : len),
                 text);
        self->row_error = s_why;
        return;
    }
    if (!isfinite(value) || value < 0) {
        snprintf(s_why, sizeof s_why, "column %s: %s value", col->name, isfinite(value) ? "negative" : "non-finite");
        self->row_error = s_why;
        return;
    }
    switch (col->kind) {
    case S_COL_FEATURE: kms_values_set(&self->sample.features, col->name, value); break;
    case S_COL_TARGET: kms_values_set(&self->sample.targets, col->name, value); break;
    case S_COL_TS: self->sample.ts = value; break;
    case S_COL_DT: self->sample.dt = value; break;
    case S_COL_SEQ: self->sample.seq = value < 1.8e19 ? (uint64_t) value : 0; break;
    case S_COL_CPUS:
        if (value < 1 || value > KMS_SAMPLE_MAX_CPUS || value != floor(value)) {
            self->row_error = "column cpus: not a whole number from 1 to 4096";
            return;
        }
        self->sample.cpus = (uint32_t) value;
        break;
    default: break;
    }
}

static void s_row_reset(s_csv_t *self)
{
    memset(&self->sample, 0, sizeof self->sample);
    strcpy(self->sample.arch, "unknown");
    strcpy(self->sample.node, "dataset");
    self->sample.seq = self->stats->rows + 1;
    self->sample.ts = (double) self->sample.seq; /* a ts column overrides it */
    self->field = 0;
    self->row_line = 0;
    self->row_error = NULL;
}

/* The current row is bad: counted, and reported with the line it started on. */
static void s_bad_row(s_csv_t *self, const char *why)
{
    self->stats->bad_rows++;
    if (self->visitor->on_bad_row)
        self->visitor->on_bad_row(self->row_line ? self->row_line : self->line, why, self->visitor->arg);
}

/* libcsv's field callback. */
static void s_on_field(void *data, size_t len, void *arg)
{
    s_csv_t *self = arg;
    if (self->row_line == 0)
        self->row_line = self->line;
    if (!self->have_header)
        s_header_field(self, data, len);
    else if (!self->row_error)
        s_data_field(self, data, len);
    self->field++;
}

/* libcsv's row callback. */
static void s_on_row(int terminator, void *arg)
{
    (void) terminator;
    s_csv_t *self = arg;
    if (!self->have_header) {
        self->have_header = true;
        if (!self->header_bad && self->column_count == 0) {
            snprintf(s_why, sizeof s_why, "line %zu: the header has no columns", self->line);
            self->header_bad = true;
        }
        s_row_reset(self);
        return;
    }
    if (self->stopped)
        return;
    self->stats->rows++;
    if (!self->row_error && self->field < self->column_count) {
        snprintf(s_why, sizeof s_why, "%zu fields where the header has %zu", self->field, self->column_count);
        self->row_error = s_why;
    }
    if (!self->row_error && self->sample.targets.count == 0)
        self->row_error = "no target (watts) value";
    if (self->row_error)
        s_bad_row(self, self->row_error);
    else if (self->visitor->on_sample(&self->sample, self->visitor->arg) != 0)
        self->stopped = true;
    else
        self->stats->samples++;
    s_row_reset(self);
}

static int s_parse_csv(const char *text, size_t len, const kms_dataset_visitor_t *visitor, kms_dataset_stats_t *stats,
                       const char **why)
{
    const unsigned char options = CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL;
    struct csv_parser parser;
    s_csv_t *self = calloc(1, sizeof *self); /* holds a whole sample: keep it off the stack */
    if (!self || csv_init(&parser, options) != 0) {
        free(self);
        *why = "out of memory";
        return -1;
    }
    self->visitor = visitor;
    self->stats = stats;
    s_row_reset(self);
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark, as spreadsheets write */
    size_t progress_step = len / 100 + 1, next_progress = progress_step;
    while (pos < len && !self->header_bad && !self->stopped) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t chunk = nl ? (size_t) (nl - (text + pos)) + 1 : len - pos;
        self->line++;
        if (csv_parse(&parser, text + pos, chunk, s_on_field, s_on_row, self) != chunk) {
            if (csv_error(&parser) != CSV_EPARSE) {
                *why = "out of memory";
                break;
            }
            if (!self->have_header) {
                snprintf(s_why, sizeof s_why, "line %zu: malformed quoting in the header", self->line);
                self->header_bad = true;
                break;
            }
            /* Broken quoting: drop the row and restart the parser on the next line. */
            stats->rows++;
            s_bad_row(self, "malformed quoting");
            s_row_reset(self);
            csv_free(&parser);
            if (csv_init(&parser, options) != 0) {
                *why = "out of memory";
                break;
            }
        }
        pos += chunk;
        if (visitor->on_progress && pos >= next_progress) {
            visitor->on_progress((double) pos / (double) len, visitor->arg);
            next_progress = pos + progress_step;
        }
    }
    if (pos >= len && !self->header_bad && !self->stopped && csv_fini(&parser, s_on_field, s_on_row, self) != 0) {
        stats->rows++;
        s_bad_row(self, "malformed quoting (unterminated quote)");
    }
    csv_free(&parser);
    if (pos >= len && visitor->on_progress)
        visitor->on_progress(1.0, visitor->arg);
    if (self->header_bad)
        *why = s_why;
    else if (!self->have_header)
        *why = "the file has no header row";
    else if (self->stopped)
        *why = "stopped";
    /* pos < len otherwise: out of memory, *why set above */
    int rc = self->header_bad || !self->have_header || self->stopped || pos < len ? -1 : 0;
    free(self);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
   Prometheus JSON */

typedef struct {
    const kms_dataset_visitor_t *visitor;
    kms_dataset_stats_t *stats;
    uint64_t seq;
    bool stopped;
} s_prom_t;

static int s_prom_sample(const kms_sample_t *sample, void *arg)
{
    s_prom_t *self = arg;
    if (sample->is_container)
        return 0;
    kms_sample_t copy = *sample;
    copy.seq = ++self->seq;
    if (self->visitor->on_sample(&copy, self->visitor->arg) != 0) {
        self->stopped = true;
        return -1;
    }
    self->stats->samples++;
    return 0;
}

static int s_prom_snapshot(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, void *arg)
{
    s_prom_t *self = arg;
    self->stats->rows++;
    kms_kepler_era_t era = kms_kepler_snapshot_era(cur);
    bool usable = era != KMS_KEPLER_ERA_UNKNOWN
                  && (prev ? kms_kepler_snapshot_era(prev) == era : era == KMS_KEPLER_ERA_GAUGE);
    if (!usable) {
        self->stats->skipped++;
        return 0;
    }
    kms_kepler_diff_stats_t diff;
    int made = kms_kepler_diff(prev, cur, s_prom_sample, self, &diff);
    if (made < 0)
        return self->stopped ? -1 : 0;
    if (diff.why)
        self->stats->skipped++;
    return 0;
}

static int s_parse_prometheus(const char *text, size_t len, const kms_dataset_visitor_t *visitor,
                              kms_dataset_stats_t *stats, const char **why)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, 0, &error);
    if (!root) {
        snprintf(s_why, sizeof s_why, "not valid JSON (line %d: %s)", error.line, error.text);
        *why = s_why;
        return -1;
    }
    s_prom_t self = {.visitor = visitor, .stats = stats};
    const char *walk_why = NULL;
    int rc = kms_kepler_query_walk(root, NULL, s_prom_snapshot, &self, NULL, &walk_why);
    if (rc != 0) {
        snprintf(s_why, sizeof s_why, "%s", self.stopped ? "stopped" : walk_why ? walk_why : "not a Prometheus answer");
        *why = s_why;
    }
    json_decref(root);
    if (rc == 0 && visitor->on_progress)
        visitor->on_progress(1.0, visitor->arg);
    return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------------
   Either */

const char *kms_dataset_format_name(kms_dataset_format_t format)
{
    return format == KMS_DATASET_CSV ? "csv" : format == KMS_DATASET_PROMETHEUS ? "prometheus" : "auto";
}

static kms_dataset_format_t s_detect(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')
            continue;
        return text[i] == '{' || text[i] == '[' ? KMS_DATASET_PROMETHEUS : KMS_DATASET_CSV;
    }
    return KMS_DATASET_CSV;
}

int kms_dataset_parse(const char *text, size_t len, kms_dataset_format_t format, const kms_dataset_visitor_t *visitor,
                      kms_dataset_stats_t *stats, const char **why)
{
    kms_dataset_stats_t unused_stats;
    const char *unused_why;
    stats = stats ? stats : &unused_stats;
    why = why ? why : &unused_why;
    memset(stats, 0, sizeof *stats);
    *why = NULL;
    if (format == KMS_DATASET_AUTO)
        format = s_detect(text, len);
    stats->format = format;
    if (format == KMS_DATASET_PROMETHEUS)
        return s_parse_prometheus(text, len, visitor, stats, why);
    return s_parse_csv(text, len, visitor, stats, why);
}
