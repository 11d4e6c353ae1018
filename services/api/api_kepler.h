/*  api_kepler: POST /model, the request Kepler itself sends to a model server. Pure: JSON in,
    JSON out, no I/O. docs/kepler.md has every fact below with the Kepler file it comes from.

    Kepler 0.4-0.5.3 (pkg/model/estimator/local/lr.go) posts
        {"model_name":"", "metrics":[usage metrics..., "cpu_architecture"], "filter":"",
         "output_type":"AbsModelWeight" | "AbsComponentModelWeight" | "DynModelWeight" | ...}
    and Kepler 0.5.4-0.9 posts
        {"metrics":[...], "output_type":"AbsPower" | "DynPower", "source":"intel_rapl" | "acpi",
         "node_type":1, "weight":true, "trainer_name":"...", "filter":"", ("machine_spec":{...})}
    expecting {"<component>": {"All_Weights": ...}, ...} whenever "weight" is true.

    Answers, by output type:
      *ComponentModelWeight, or "weight": true  {"core": doc, "dram": doc, ...}: per target, the
                                                best suitable model; {"platform": doc} for a
                                                platform source (acpi, ...)
      *ModelWeight                              one doc: the platform model (node total power)
      *Power, *ComponentPower (no weight)       that model's zip (the caller fetches it); it holds
                                                the absolute-power model whatever the type: its
                                                dynamic power is its prediction less the
                                                prediction at zero usage
    A one-feature model that serves a curve (kms_family.h) answers with it where Kepler reads
    curves, else with its linear weights: to 0.7.12+ in a component answer whose models all
    serve the same curve family, the family's trainer then named in the answer's top-level
    "model_name" (from which 0.7.12 picks the predictor for every component). 0.7.8-0.7.11
    have the curve predictors too but take the trainer from their own configuration, not from
    the answer: they get linear models. A request that names a curve trainer is refused (400):
    0.7.12 asks once, at start, with the configured (linear) trainer.
    Kepler's curve predictors read the first of the metrics Kepler predicts with, which are the
    ones it posts, in that order: the curve is served only when the first requested metric is
    the model's feature. *_INIT_URL (GET /kepler/init/<source>) gets no curve: no request tells
    which Kepler reads it, and their orders differ (0.7.12 puts bpf_cpu_time_ms first, 0.9.0
    cpu_cycles, whose value a curve of cpu time would then be evaluated on). Between two models,
    one of which serves a curve, the lower
    recent RMSE wins.

    A model is suitable when it is ready, every one of its features is among the requested
    metrics (Kepler's names: "cpu_instr" is the canonical "cpu_instructions", ...), it passes
    the filter and its target is what the request asks for. "Best" is the lowest MAE, as the
    2022 server chose.

    Each doc is in the units of the generation that asked (api_kepler_era_t): keyed by the
    request's own metric names, its scales in those names' units (cpu time in ms, counts per
    sample period for 0.4), and its weights multiplied by what that generation does to the
    predictor's output, so that the watts Kepler finally reports are the model's. A Dyn* type
    asks for dynamic power (total minus idle): the same feature weights with no bias and no
    architecture terms, 0 W at zero usage.

    Kepler 0.7.12+ sends its machine_spec. When the server knows the machines its models learned
    on (config->machines), the spec picks one: its architecture's term is folded into each
    document's bias (the answer is that machine's model whatever cpu_architecture Kepler reads
    for itself), and the component answer carries that machine's spec as "machine_spec", from
    whose cores Kepler scales idle power on a smaller machine (regressor.go updateCoreRatio), and
    "machine_match" {"cpu_architecture", "match": "exact" | "nearest"}. Otherwise
    every architecture learned is served and Kepler applies its own (one it never saw gets the
    average), as before; so it is for a spec that names neither processor nor vendor (the init
    URL's). */
#ifndef API_KEPLER_H
#define API_KEPLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kms_family.h"
#include "kms_sample.h"

#define API_KEPLER_MAX_METRICS 64
#define API_KEPLER_SAMPLE_PERIOD 3.0 /* Kepler's default SAMPLE_PERIOD_SEC, every generation */

typedef enum { API_ANSWER_WEIGHTS, API_ANSWER_COMPONENTS, API_ANSWER_ARCHIVE } api_answer_t;

/* Kepler's generations, as their requests tell them apart, by what they do with a document. */
typedef enum {
    API_KEPLER_0_4,    /* 0.4-0.5.3: *ModelWeight types; inputs are counts per sample period,
                           the output is booked as mJ per period */
    API_KEPLER_0_5_4,  /* 0.5.4-0.7.2: "weight": true, no bpf_cpu_time_ms; per second; core
                           booked with the period twice, platform without the mW factor */
    API_KEPLER_0_7_3,  /* 0.7.3-0.7.11: bpf_cpu_time_ms, no machine_spec; platform booked
                           without the mW factor (fixed in 0.7.11: run it with --kepler-era 0.7.12) */
    API_KEPLER_0_7_12, /* 0.7.12-0.9: machine_spec in the request; watts = output */
    API_KEPLER_ERAS,
    API_KEPLER_ERA_AUTO = -1 /* told from each request */
} api_kepler_era_t;

typedef struct {
    double sample_period; /* the requesting Keplers' SAMPLE_PERIOD_SEC */
    int era;              /* API_KEPLER_ERA_AUTO, or the generation every request is taken for */
    /* The machines the models learned on, per cpu_architecture: {"<architecture>": Kepler's
       MachineSpec ({"vendor", "processor", "cores", "chips", "memory", "frequency",
       "threads_per_core"}), ...} (kms-api --machine-specs, checked by api_kepler_machines_check);
       NULL when none are known. */
    const json_t *machines;
} api_kepler_config_t;

/* 0, or -1 with the reason in `why` when `machines` is not such an object. */
int api_kepler_machines_check(const json_t *machines, char *why, size_t cap);

/* The era named "0.4", "0.5.4", "0.7.3", "0.7.12" (or any release inside one: "0.6", "0.9"),
   or "auto"; -2 when the text names none. */
int api_kepler_era_parse(const char *text);
const char *api_kepler_era_name(api_kepler_era_t era);

typedef struct {
    char output_type[64];
    api_answer_t answer;
    bool dynamic;
    api_kepler_era_t era;
    double sample_period;
    char model_name[KMS_NAME_MAX]; /* "" = any */
    char source[64];               /* Kepler's energy source; "" = any */
    char trainer_name[KMS_NAME_MAX];
    size_t metric_count;
    char metrics[API_KEPLER_MAX_METRICS][KMS_NAME_MAX]; /* as the request spelled them */
    bool curves; /* the metrics are in the order Kepler predicts with (a posted request) */
    /* The filter ("mae:5; r2:0.9"): an upper bound on mae and rmse, a lower bound on r2 and
       samples; NAN when absent. */
    double max_mae, max_rmse, min_r2, min_samples;
    /* The known machine the request's machine_spec picked (config->machines): its architecture,
       its spec (borrowed from the config), whether it matched exactly (same processor) or is
       the nearest (vendor, then cores and frequency); machine[0] == 0 when none was picked. */
    char machine[KMS_NAME_MAX];
    const json_t *machine_spec;
    bool machine_exact;
} api_kepler_request_t;

/* Canonical feature name of a Kepler metric name (itself when it has no alias), and how many
   of Kepler's units make one canonical unit (1000 for a cpu time in ms). */
const char *api_kepler_canonical(const char *name, double *per_canonical);

/* Reads the request body. 0, or -1 with a message for the client in `why`. Unknown keys are
   ignored; known keys of the wrong type, unknown output types, bad filters and a trainer other
   than a linear one are errors. */
int api_kepler_parse(const json_t *body, const api_kepler_config_t *config, api_kepler_request_t *out, char *why,
                     size_t cap);

/* The request a Kepler 0.7.12+ of the given era would post for `source` (intel_rapl or acpi)
   with its default metrics: what *_INIT_URL serves (GET /kepler/init/<source>). */
int api_kepler_init_request(const char *source, const api_kepler_config_t *config, api_kepler_request_t *out, char *why,
                            size_t cap);

/* The answer for a weights request (API_ANSWER_WEIGHTS or API_ANSWER_COMPONENTS), a new
   reference; or, for an archive request, NULL with the chosen model's name in `archive_model`;
   *status 200 in both cases. `models` is the trainer's LIST "models" array. When nothing
   suits, NULL with `why` saying why, model by model, archive_model[0] == 0 and *status 503
   when a model that would suit is still learning, else 404 (Kepler falls back on either). */
json_t *api_kepler_answer(const json_t *models, const api_kepler_request_t *req, char archive_model[KMS_NAME_MAX],
                          int *status, char *why, size_t cap);

#endif
