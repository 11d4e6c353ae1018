/*  api_kepler: POST /model, the request Kepler itself sends to a model server. Pure: JSON in,
    JSON out, no I/O.

    Kepler 0.4-0.6 (pkg/model, LinearRegressor) posts
        {"model_name":"", "metrics":[usage metrics..., "cpu_architecture"], "filter":"",
         "output_type":"AbsModelWeight" | "AbsComponentModelWeight" | "DynModelWeight" | ...}
    and Kepler 0.7-0.9 (regressor.Regressor) posts
        {"metrics":[...], "output_type":"AbsPower" | "DynPower", "source":"intel_rapl" | "acpi",
         "node_type":1, "weight":true, "trainer_name":"...", "filter":"", (machine_spec)}
    expecting {"<component>": {"All_Weights": ...}, ...} whenever "weight" is true.

    Answers, by output type:
      *ComponentModelWeight, or "weight": true  {"core": doc, "dram": doc, ...}: per target, the
                                                best suitable model
      *ModelWeight                              one doc: the best suitable model, preferring
                                                whole-node targets (platform, package)
      *Power, *ComponentPower (no weight)       that model's zip (the caller fetches it)
    A model is suitable when it is ready, every one of its features is among the requested
    metrics (through aliases: Kepler's "cpu_instr" is the canonical "cpu_instructions", ...),
    it passes the filter and its target fits the energy source. "Best" is the lowest MAE, as
    the 2022 server chose.

    Each doc's Numerical_Variables are keyed by the names the request used, since Kepler looks
    each weight up by its own metric name. A Dyn* type asks for dynamic power (total minus
    idle): a linear model's idle power is its prediction at zero usage, so the dynamic model
    keeps the feature weights, drops the architecture terms and sets
    Bias_Weight = sum_i weight_i * mean_i / sqrt(variance_i), which predicts exactly 0 W at zero
    usage. Archives are only served for absolute power. */
#ifndef API_KEPLER_H
#define API_KEPLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kms_sample.h"

#define API_KEPLER_MAX_METRICS 64

typedef enum { API_ANSWER_WEIGHTS, API_ANSWER_COMPONENTS, API_ANSWER_ARCHIVE } api_answer_t;

typedef struct {
    char output_type[64];
    api_answer_t answer;
    bool dynamic;
    char model_name[KMS_NAME_MAX];  /* "" = any */
    char source[64];                /* Kepler's energy source; "" = any */
    size_t metric_count;
    char metrics[API_KEPLER_MAX_METRICS][KMS_NAME_MAX];  /* as the request spelled them */
    /* The filter ("mae:5; r2:0.9"): an upper bound on mae and rmse, a lower bound on r2 and
       samples; NAN when absent. */
    double max_mae, max_rmse, min_r2, min_samples;
} api_kepler_request_t;

/* Canonical feature name of a Kepler metric name (itself when it has no alias). */
const char *api_kepler_canonical(const char *name);

/* Reads the request body. 0, or -1 with a message for the client in `why`. Unknown keys are
   ignored; known keys of the wrong type, unknown output types and bad filters are errors. */
int api_kepler_parse(const json_t *body, api_kepler_request_t *out, char *why, size_t cap);

/* The answer for a weights request (API_ANSWER_WEIGHTS or API_ANSWER_COMPONENTS), a new
   reference; or, for an archive request, NULL with the chosen model's name in `archive_model`.
   `models` is the trainer's LIST "models" array. When nothing suits, NULL with `why` saying
   why, model by model, and archive_model[0] == 0. */
json_t *api_kepler_answer(const json_t *models, const api_kepler_request_t *req,
                          char archive_model[KMS_NAME_MAX], char *why, size_t cap);

#endif
