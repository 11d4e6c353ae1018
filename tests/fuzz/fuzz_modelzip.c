/* libFuzzer target for kms_modelzip_read: any bytes as a model zip (what `kms-trainer import`
   and a checkpoint load read from disk). It must refuse or return a model that works: one that
   answers status, weights and a new zip, and that reads back from that zip unchanged. */
#include "kms_modelzip.h"

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
    json_t *metadata = NULL;
    const char *why = NULL;
    kms_model_t *model = kms_modelzip_read(data, size, &metadata, &why);
    if (!model) {
        CHECK(why && *why && metadata == NULL);
        return 0;
    }
    CHECK(json_is_object(metadata));
    kms_model_status_t status;
    kms_model_status(model, &status);
    free(kms_modelzip_weights_text(model));
    void *zip = NULL;
    size_t len = 0;
    CHECK(kms_modelzip_write(model, "fuzz", metadata, &zip, &len, &why) == 0);
    kms_model_t *again = kms_modelzip_read(zip, len, NULL, &why);
    CHECK(again != NULL);
    kms_model_status_t again_status;
    kms_model_status(again, &again_status);
    CHECK(again_status.samples == status.samples);
    kms_model_destroy(&again);
    free(zip);
    json_decref(metadata);
    kms_model_destroy(&model);
    return 0;
}
