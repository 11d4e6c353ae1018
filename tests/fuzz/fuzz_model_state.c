/* libFuzzer target for kms_model_load: any bytes as a saved model state (a checkpoint read from a
   disk that may hold anything). It must refuse, or return a model that works: it answers status
   and weights, its weights document is writable, it learns a sample, and its state saves and
   loads back to the same text. */
#include "kms_model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

static char *s_dump(const kms_model_t *model)
{
    json_t *state = kms_model_save(model);
    CHECK(state != NULL);
    char *text = json_dumps(state, JSON_SORT_KEYS);
    json_decref(state);
    CHECK(text != NULL);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *) data, size, 0, NULL);
    const char *why = NULL;
    kms_model_t *model = kms_model_load(doc, &why);
    json_decref(doc);
    if (!model) {
        CHECK(why && *why);
        return 0;
    }
    kms_model_status_t status;
    kms_model_status(model, &status);
    kms_weights_t weights;
    if (kms_model_weights(model, &weights) == 0) {
        json_t *served = kms_weights_to_json(&weights, NULL);
        CHECK(served != NULL);
        json_decref(served);
    }

    /* A sample with every feature and the target, on the first architecture the model knows. */
    const kms_model_spec_t *spec = kms_model_spec(model);
    kms_sample_t sample;
    memset(&sample, 0, sizeof sample);
    for (size_t j = 0; j < spec->feature_count; j++)
        kms_values_set(&sample.features, spec->features[j], (double) j + 0.5);
    kms_values_set(&sample.targets, spec->target, 42);
    double watts;
    (void) kms_model_predict(model, &sample, &watts);
    CHECK(kms_model_learn(model, &sample, 1) != KMS_LEARN_MISSING);

    char *text = s_dump(model);
    doc = json_loads(text, 0, NULL);
    kms_model_t *again = kms_model_load(doc, &why);
    json_decref(doc);
    CHECK(again != NULL);
    char *again_text = s_dump(again);
    CHECK(strcmp(text, again_text) == 0);
    free(text);
    free(again_text);
    kms_model_destroy(&again);
    kms_model_destroy(&model);
    return 0;
}
