/* libFuzzer target for kms-api's POST /model body handling, through services/api/api_kepler.h:
   any bytes as the body, parsed by jansson as kms-api does (json_loadb), read by
   api_kepler_parse, then answered by api_kepler_answer from the LIST "models" array of a real
   trainer (fuzz_trainer.h: the models its targets train are ready, the others not).

   Besides the sanitizers' checks, it asserts what kms-api relies on to answer 200, 400 or 503:
   a refused body says why; a read request is bounded and terminated; an archive answer names
   the one ready model or says why not; a weights answer is a document Kepler's side reads back
   (kms_weights_from_json), one per component for a component answer, keyed by the request's
   own metric names, with finite numbers only (it must serialise); a dynamic answer has no
   architecture terms and predicts 0 W at zero usage. The server knows two machines
   (--machine-specs): a request whose machine_spec picked one gets an answer naming it, with its
   spec, and documents with that architecture's term alone, folded into the bias. */
#include "fuzz_trainer.h"

#include "api_kepler.h"
#include "kms_weights.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static json_t *s_models(void)
{
    static json_t *models;
    if (!models) {
        trainer_t *trainer = s_fuzz_trainer();
        models = json_array();
        for (size_t i = 0; i < trainer_model_count(trainer); i++)
            json_array_append_new(models, trainer_describe_model(trainer, i));
    }
    return models;
}

/* Whether `name` is a ready model of the LIST: the only kind an archive answer may name. */
static bool s_ready(const json_t *models, const char *name)
{
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model) {
        const char *listed = json_string_value(json_object_get(model, "name"));
        if (listed && strcmp(listed, name) == 0)
            return json_is_true(json_object_get(model, "ready"));
    }
    return false;
}

static const json_t *s_machines(void)
{
    static json_t *machines;
    if (!machines) {
        machines = json_pack("{s:{s:s, s:s, s:i, s:i}, s:{s:s, s:s, s:i}}", "Sapphire Rapids", "vendor", "intel",
                             "processor", "intel_xeon_platinum_8480+", "cores", 224, "frequency", 3800, "Zen4",
                             "vendor", "amd", "processor", "amd_epyc_9654", "cores", 384);
        char why[256];
        CHECK(machines && api_kepler_machines_check(machines, why, sizeof why) == 0);
    }
    return machines;
}

static bool s_requested(const api_kepler_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->metric_count; i++)
        if (strcmp(req->metrics[i], name) == 0)
            return true;
    return false;
}

static void s_check_doc(const api_kepler_request_t *req, json_t *doc)
{
    kms_weights_t w;
    CHECK(kms_weights_from_json(doc, &w) == 0);
    CHECK(isfinite(w.bias));
    for (size_t i = 0; i < w.numeric_count; i++) {
        CHECK(s_requested(req, w.numeric[i].name));
        CHECK(isfinite(w.numeric[i].weight) && w.numeric[i].scale > 0);
    }
    if (req->machine[0])
        CHECK(w.category_count == 1 && w.category[0].weight == 0 && strcmp(w.category[0].name, req->machine) == 0);
    if (!req->dynamic)
        return;
    /* Dynamic power: the architecture terms are gone (weight 0) and zero usage predicts 0 W. */
    static kms_sample_t idle;
    memset(&idle, 0, sizeof idle);
    for (size_t i = 0; i < w.numeric_count; i++)
        kms_values_set(&idle.features, w.numeric[i].name, 0);
    for (size_t i = 0; i < w.category_count; i++)
        CHECK(w.category[i].weight == 0);
    if (w.category_count > 0)
        memcpy(idle.arch, w.category[0].name, sizeof idle.arch);
    CHECK(kms_weights_predict(&w, &idle) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *models = s_models();
    json_t *body = json_loadb((const char *) data, size, 0, NULL);
    if (!body)
        return 0;
    api_kepler_request_t req;
    char why[512] = "";
    const api_kepler_config_t config = {API_KEPLER_SAMPLE_PERIOD, API_KEPLER_ERA_AUTO, s_machines()};
    int rc = api_kepler_parse(body, &config, &req, why, sizeof why);
    json_decref(body);
    if (rc != 0) {
        CHECK(rc == -1 && why[0] != '\0' && memchr(why, '\0', sizeof why));
        return 0;
    }
    CHECK(req.metric_count <= API_KEPLER_MAX_METRICS);
    for (size_t i = 0; i < req.metric_count; i++)
        CHECK(memchr(req.metrics[i], '\0', KMS_NAME_MAX) != NULL);
    CHECK(memchr(req.model_name, '\0', sizeof req.model_name) && memchr(req.source, '\0', sizeof req.source));
    CHECK(memchr(req.output_type, '\0', sizeof req.output_type) != NULL);

    char archive[KMS_NAME_MAX];
    memset(archive, 0x5a, sizeof archive);
    why[0] = '\0';
    int status;
    json_t *answer = api_kepler_answer(models, &req, archive, &status, why, sizeof why);
    if (req.answer == API_ANSWER_ARCHIVE) {
        CHECK(answer == NULL);
        CHECK((s_ready(models, archive) && status == 200)
              || (archive[0] == '\0' && why[0] != '\0' && (status == 404 || status == 503)));
        return 0;
    }
    if (!answer) {
        CHECK(why[0] != '\0' && memchr(why, '\0', sizeof why) && (status == 404 || status == 503));
        return 0;
    }
    char *text = json_dumps(answer, JSON_COMPACT);
    CHECK(text != NULL);
    free(text);
    if (req.answer == API_ANSWER_WEIGHTS) {
        s_check_doc(&req, answer);
    } else {
        CHECK(json_object_size(answer) > 0);
        if (req.machine[0]) {
            const json_t *match = json_object_get(answer, "machine_match");
            CHECK(json_equal(json_object_get(answer, "machine_spec"), json_object_get(s_machines(), req.machine)));
            CHECK(strcmp(json_string_value(json_object_get(match, "cpu_architecture")), req.machine) == 0);
        }
        const char *component;
        json_t *doc;
        json_object_foreach(answer, component, doc)
            if (strcmp(component, "model_name") != 0 && strcmp(component, "machine_spec") != 0
                && strcmp(component, "machine_match") != 0)
                s_check_doc(&req, doc);
    }
    json_decref(answer);
    return 0;
}
