/*  kms_sample: the sample and its named values. See kms_sample.h. */
#include "kms_sample.h"

#include <string.h>

bool kms_values_get(const kms_values_t *values, const char *name, double *out)
{
    for (size_t i = 0; i < values->count; i++) {
        if (strcmp(values->items[i].name, name) == 0) {
            if (out)
                *out = values->items[i].value;
            return true;
        }
    }
    return false;
}

int kms_values_set(kms_values_t *values, const char *name, double value)
{
    size_t len = strlen(name);
    if (len == 0 || len >= KMS_NAME_MAX)
        return -1;
    for (size_t i = 0; i < values->count; i++) {
        if (strcmp(values->items[i].name, name) == 0) {
            values->items[i].value = value;
            return 0;
        }
    }
    if (values->count >= KMS_SAMPLE_MAX_VALUES)
        return -1;
    kms_named_value_t *item = &values->items[values->count++];
    memcpy(item->name, name, len + 1);
    item->value = value;
    return 0;
}

const char *kms_sample_topic(const kms_sample_t *sample)
{
    return sample->is_container ? KMS_TOPIC_CONTAINER : KMS_TOPIC_NODE;
}
