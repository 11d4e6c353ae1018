/*  kms-meter's insides. Pure cores: the machine's usage from /proc/stat text (usage.c), the
    zone models and their choice (model.c), the energy counters (energy.c), the metrics text
    (metrics.c). Around them: hardware counters through perf_event_open (perf.c), the powercap
    tree on disk (tree.c), kms-api over civetweb's HTTP client (fetch.c), the loop (meter.c).
    main.c only wires them.

    One thread meters; civetweb's threads read the metrics under its lock. */
#ifndef METER_H
#define METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>

#include "kms_family.h"
#include "kms_sample.h"
#include "kms_weights.h"

/* ---- usage.c: what the machine did ---------------------------------------------------------- */

/* Busy cpu time of the whole machine, in clock ticks: user + nice + system + irq + softirq
   (guest time is inside user; idle, iowait and steal are not work done here). */
typedef struct {
    uint64_t busy;
    uint64_t total;
} meter_cpu_ticks_t;

/* Reads the aggregate "cpu " line of /proc/stat's text. 0, or -1 when there is none or it is
   not a line of at least eight unsigned numbers. */
int meter_usage_parse_stat(const char *text, size_t len, meter_cpu_ticks_t *out);

/* The cpu_time feature (cpu-seconds per second) between two readings `dt` seconds apart; -1
   when the counters went back (a different machine, a broken read) or dt is not positive. */
int meter_usage_cpu_time(const meter_cpu_ticks_t *before, const meter_cpu_ticks_t *after, double ticks_per_second,
                         double dt, double *out);

/* ---- perf.c: hardware counters, where the kernel allows them ----------------------------------- */

typedef struct meter_perf_t meter_perf_t;

/* System-wide cycles, instructions and cache misses on every online cpu; NULL when the kernel
   refuses any of them (no PMU in most VMs, perf_event_paranoid, no CAP_PERFMON), with the
   reason in `why`. */
meter_perf_t *meter_perf_open(char *why, size_t cap);
void meter_perf_destroy(meter_perf_t **self_p);
/* The counters' totals since open, summed over cpus: 0, or -1 when a read failed. */
int meter_perf_read(meter_perf_t *self, double *cycles, double *instructions, double *cache_misses);

/* ---- model.c: a model per zone ------------------------------------------------------------- */

typedef enum { METER_PACKAGE = 0, METER_CORE, METER_UNCORE, METER_DRAM, METER_PSYS, METER_ZONES } meter_zone_t;

#define METER_CANDIDATES 2

typedef struct {
    const char *zone;       /* "package": the --zones name and the metrics label */
    const char *dir;        /* "intel-rapl:0": the directory under class/powercap */
    const char *file_name;  /* "package-0": what its name file says, as Linux writes it */
    const char *models[METER_CANDIDATES];  /* served models, best first (NULL ends) */
} meter_zone_info_t;

const meter_zone_info_t *meter_zone_info(meter_zone_t zone);
/* -1 for a name that is not a zone. */
int meter_zone_find(const char *name);

typedef enum { METER_ARCH_EXACT = 0, METER_ARCH_NEAREST, METER_ARCH_GENERIC } meter_arch_match_t;
const char *meter_arch_match_name(meter_arch_match_t match);

/* A served model made ready for one machine: the architecture's weight chosen once and folded
   into the bias (weights.category_count is 0); or, when the server serves a curve for it (the
   document's "families", kms_family.h), that curve on the model's one feature. */
typedef struct {
    kms_weights_t weights;
    bool curve;
    kms_family_fit_t fit;
    char arch_used[KMS_NAME_MAX];  /* the category applied; "" for generic */
    meter_arch_match_t match;
    double arch_weight;
} meter_model_t;

/* What a model may be refused for: counted and logged by the caller. */
typedef enum {
    METER_REJECT_PARSE = 0,  /* not JSON, or not a weights document (a missing or non-finite number) */
    METER_REJECT_FEATURES,   /* needs a feature this machine does not have */
    METER_REJECT_WATTS       /* absurd predictions over the usage range */
} meter_reject_t;
const char *meter_reject_name(meter_reject_t reason);

/* Reads a weights document (`body`, `len` bytes) for a machine of `arch` whose available
   features are `have` (values ignored, names only) and whose cpu count is `cpus`. The
   architecture: its own category (exact), else the category sharing the longest leading run of
   whole words with it, two words at least (nearest: "Intel(R) Xeon(R) Gold 6338" for "Intel(R)
   Xeon(R) Gold 6348"), else the mean of all categories (generic: the average machine it
   learned). Refused unless its prediction at zero usage and at every cpu busy stays finite and
   within [-max_watts, max_watts]. 0, or -1 with the reason in *why. */
int meter_model_parse(const char *body, size_t len, const char *arch, const kms_values_t *have, double cpus,
                      double max_watts, meter_model_t *out, meter_reject_t *why);

/* The model's watts for the features of `usage` (its arch is not looked at); not clamped (the
   energy counter does that). The contract's formula: kms_weights_predict(). */
double meter_model_predict(const meter_model_t *model, const kms_sample_t *usage);

/* ---- energy.c: RAPL-like counters ---------------------------------------------------------- */

typedef struct {
    uint64_t energy_uj;   /* what energy_uj says: always below max_uj */
    double fraction_uj;   /* the part of a microjoule not yet counted */
    uint64_t max_uj;      /* max_energy_range_uj: the counter wraps to 0 there */
    double total_j;       /* joules since this process started: never wraps (metrics) */
} meter_counter_t;

typedef enum { METER_WATTS_OK = 0, METER_WATTS_NEGATIVE, METER_WATTS_ABSURD } meter_watts_check_t;

/* Starts at `energy_uj` (what the tree held: a restart continues the count), reduced modulo
   max_uj. */
void meter_counter_init(meter_counter_t *self, uint64_t energy_uj, uint64_t max_uj);

/* Adds `watts` for `dt` seconds. Negative watts count as 0, more than max_watts (or not finite)
   as max_watts, and say so; dt not finite or negative adds nothing. Returns the check. The
   watts actually counted go to *counted when not NULL. */
meter_watts_check_t meter_counter_add(meter_counter_t *self, double watts, double dt, double max_watts,
                                      double *counted);

/* ---- tree.c: DIR/class/powercap --------------------------------------------------------------- */

/* Creates the zone's directory and its constant files (name, max_energy_range_uj, enabled), and
   reads back the energy_uj a previous kms-meter left there (0 when none). 0, or -1 with errno. */
int meter_tree_zone_init(const char *root, meter_zone_t zone, uint64_t max_uj, uint64_t *previous_uj);

/* Replaces the zone's energy_uj atomically (a new file renamed over the old one): a reader
   sees the old number or the new one, never a part. 0, or -1 with errno. */
int meter_tree_write_energy(const char *root, meter_zone_t zone, uint64_t energy_uj);

/* mkdir -p. 0, or -1 with errno. */
int meter_tree_mkdirs(const char *path);

/* Writes `len` bytes to `path` through a temporary file in the same directory and a rename. */
int meter_tree_replace_file(const char *path, const void *data, size_t len);

/* ---- metrics.c: the meter's own /metrics ------------------------------------------------------ */

typedef struct {
    bool active;               /* the zone is in the tree */
    char model[KMS_NAME_MAX];  /* "" while none */
    char arch_used[KMS_NAME_MAX];
    meter_arch_match_t match;
    kms_family_kind_t family;  /* of the model in use: linear, or the curve the server serves */
    double watts;              /* last counted */
    double joules;             /* since start */
    uint64_t energy_uj;        /* what the tree says */
    double model_fetched;      /* unix seconds the server last gave (or confirmed) the model */
    uint64_t model_updates;    /* models adopted: changed answers */
    uint64_t clamped_negative, clamped_absurd;
} meter_zone_stats_t;

typedef struct {
    meter_zone_stats_t zones[METER_ZONES];
    char arch[KMS_NAME_MAX];
    kms_values_t usage;            /* the last interval's features */
    bool counters;                 /* hardware counters in use */
    uint64_t intervals;
    uint64_t stat_errors;          /* /proc/stat unreadable or not parseable */
    uint64_t perf_errors;
    uint64_t tree_errors;          /* files that could not be written */
    uint64_t fetches;              /* model requests sent */
    uint64_t fetch_errors[4];      /* by meter_fetch_error_t */
    uint64_t models_rejected[3];   /* answers refused, by meter_reject_t */
    uint64_t cache_errors;
    bool server_up;                /* the last fetch got an answer */
    double start_time;
    double cpu_seconds;            /* this process's user + system time (getrusage) */
    double resident_bytes;         /* this process's resident set */
} meter_stats_t;

typedef enum { METER_FETCH_CONNECT = 0, METER_FETCH_HTTP, METER_FETCH_TOO_LARGE, METER_FETCH_TIMEOUT } meter_fetch_error_t;

/* The exposition text (0.0.4) of `stats` at `now`, into `out`. */
void meter_metrics_render(FILE *out, const meter_stats_t *stats, double now);

typedef struct meter_metrics_t meter_metrics_t;

/* Serves GET /metrics on `port` (0: any free one, logged) of `address` from two civetweb
   threads; NULL, logged, when it cannot. */
meter_metrics_t *meter_metrics_serve(const char *address, long port);
void meter_metrics_destroy(meter_metrics_t **self_p);
/* Copies `stats` in for the server to show (under its lock). */
void meter_metrics_publish(meter_metrics_t *self, const meter_stats_t *stats);

/* ---- fetch.c: models from kms-api, and their cache on disk ------------------------------------ */

typedef struct meter_fetch_t meter_fetch_t;

/* `api` is kms-api's base URL (http://host[:port][/path]); `timeout` seconds for an answer.
   NULL when the URL is not of that form. */
meter_fetch_t *meter_fetch_new(const char *api, double timeout);
void meter_fetch_destroy(meter_fetch_t **self_p);

typedef enum { METER_GOT_BODY = 0, METER_GOT_NONE, METER_GOT_ERROR } meter_got_t;

/* GET /model-weights/<model>. BODY: 200 with the body in *body (malloc'd, NUL-terminated; the
   caller frees); NONE: the server answered that it has no such model ready (404, 503); ERROR:
   no usable answer, the kind in *error. */
meter_got_t meter_fetch_model(meter_fetch_t *self, const char *model, char **body, size_t *len,
                              meter_fetch_error_t *error, char *why, size_t cap);

/* ---- meter.c: the loop --------------------------------------------------------------------- */

typedef struct {
    const char *api;
    const char *out;          /* the tree's root: DIR of DIR/class/powercap */
    const char *cache_dir;    /* last good models */
    double interval;
    double refresh;           /* seconds between model requests */
    double timeout;
    const char *zones;        /* comma list of zone names */
    const char *arch;         /* "" or NULL: /proc/cpuinfo's model name */
    const char *proc;         /* procfs root */
    double max_watts;         /* per zone */
    double max_energy_uj;
    bool perf;                /* try hardware counters */
    const char *metrics_address;
    long metrics_port;        /* 0: any free port (logged); KMS_PORT_OFF (< 0): none */
} meter_config_t;

/* Runs until *stop. 0 after a clean stop, -1 when it cannot start (/proc/stat, the metrics port),
   2 for a bad --zones or --api (after one line on stderr). */
int meter_run(const meter_config_t *config, volatile sig_atomic_t *stop);

#endif
