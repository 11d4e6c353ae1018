/*  kms_sample_json: a sample as one JSON object, as kms-tail prints it. */
#ifndef KMS_SAMPLE_JSON_H
#define KMS_SAMPLE_JSON_H

#include "kms_sample.h"

/* One JSON object (topic included), as kms-tail prints it. Caller frees with free(). */
char *kms_sample_to_json(const kms_sample_t *sample);

#endif
