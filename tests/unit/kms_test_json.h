/* JSON in the tests that read or write it (jansson). */
#ifndef KMS_TEST_JSON_H
#define KMS_TEST_JSON_H

#include "kms_test.h"

#include <jansson.h>

/* The document `text`, which must parse: a failure says where it does not. */
static inline json_t *kms_test_json(const char *text)
{
    json_error_t error;
    json_t *doc = json_loads(text, 0, &error);
    if (!doc)
        fail_msg("not JSON: %s at %d", error.text, error.position);
    return doc;
}

#endif
