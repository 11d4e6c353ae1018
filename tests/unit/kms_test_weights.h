/* A weights document through text, as kms-api serves it and Kepler reads it: shared by the
   tests of the weights and of the model that writes them. */
#ifndef KMS_TEST_WEIGHTS_H
#define KMS_TEST_WEIGHTS_H

#include "kms_test_json.h"
#include "kms_weights.h"

/* `w` written as a document, dumped as text and read back into *back. */
static inline void kms_test_weights_through_text(const kms_weights_t *w, kms_weights_t *back)
{
    json_t *doc = kms_weights_to_json(w, NULL);
    assert_non_null(doc);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    doc = kms_test_json(text);
    free(text);
    assert_int_equal(kms_weights_from_json(doc, back), 0);
    json_decref(doc);
}

#endif
