/*  api_body: POST /model's body, bytes from the network, read into Kepler's request.

    The JSON may nest at most KMS_JSON_MAX_DEPTH levels (kms_json.h): a deeper document is
    refused before jansson recurses into it, so parsing, reading and freeing it take a bounded
    stack on a civetweb worker. */
#ifndef API_BODY_H
#define API_BODY_H

#include "api_kepler.h"

#include <stddef.h>

/* 0 with *req filled, or -1 with `why` saying what is wrong (the 400's message). */
int api_body_kepler(const char *body, size_t len, const api_kepler_config_t *config, api_kepler_request_t *req,
                    char *why, size_t cap);

#endif
