/* libFuzzer target for kms_weights_from_json: any bytes as a weights document (what a client, or
   kms-api reading a zip, parses). A document it accepts must write back (kms_weights_to_json)
   and read back to the same numbers, bit for bit, and predict without crashing. */
#include "kms_weights.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *) data, size, 0, NULL);
    kms_weights_t w, again;
    if (kms_weights_from_json(doc, &w) != 0) {
        json_decref(doc);
        return 0;
    }
    json_decref(doc);
    CHECK(w.numeric_count <= KMS_SAMPLE_MAX_VALUES && w.category_count <= KMS_SAMPLE_MAX_VALUES);
    json_t *written = kms_weights_to_json(&w, NULL);
    CHECK(written != NULL);
    char *text = json_dumps(written, 0);
    json_decref(written);
    CHECK(text != NULL);
    doc = json_loads(text, 0, NULL);
    free(text);
    CHECK(kms_weights_from_json(doc, &again) == 0);
    json_decref(doc);
    CHECK(memcmp(&w, &again, sizeof w) == 0);

    kms_sample_t sample;
    memset(&sample, 0, sizeof sample);
    for (size_t i = 0; i < w.numeric_count; i++)
        kms_values_set(&sample.features, w.numeric[i].name, w.numeric[i].scale + 1);
    if (w.category_count > 0)
        strcpy(sample.arch, w.category[0].name);
    (void) kms_weights_predict(&w, &sample);
    return 0;
}
