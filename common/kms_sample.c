/*  kms_sample: the sample and its named values. See kms_sample.h. */
#include "kms_sample.h"

#include <string.h>

/* Where `name` is, or values->count when it is not there. */
static size_t s_index(const kms_values_t *values, const char *name)
{
    size_t i = 0;
    while (i < values->count && strcmp(values->items[i].name, name) != 0)
        i++;
    return i;
}

bool kms_values_get(const kms_values_t *values, const char *name, double *out)
{
    size_t i = s_index(values, name);
    if (i < values->count && out)
        *out = values->items[i].value;
    return i < values->count;
}

int kms_values_set(kms_values_t *values, const char *name, double value)
{
    size_t len = strlen(name);
    if (len == 0 || len >= KMS_NAME_MAX)
        return -1;
    size_t i = s_index(values, name);
    if (i == values->count) {
        if (i >= KMS_SAMPLE_MAX_VALUES)
            return -1;
        memcpy(values->items[values->count++].name, name, len + 1);
    }
    values->items[i].value = value;
    return 0;
}

const char *kms_sample_topic(const kms_sample_t *sample)
{
    return sample->is_container ? KMS_TOPIC_CONTAINER : KMS_TOPIC_NODE;
}
