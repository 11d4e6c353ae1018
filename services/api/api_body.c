#include "api_body.h"

#include "kms_json.h"

#include <stdio.h>

int api_body_kepler(const char *body, size_t len, const api_kepler_config_t *config, api_kepler_request_t *req,
                    char *why, size_t cap)
{
    json_error_t error;
    json_t *doc = kms_json_loadb(body, len, 0, KMS_JSON_MAX_DEPTH, &error);
    if (!doc) {
        snprintf(why, cap, "malformed JSON: %s", error.text);
        return -1;
    }
    int rc = api_kepler_parse(doc, config, req, why, cap);
    json_decref(doc);
    return rc == 0 ? 0 : -1;
}
