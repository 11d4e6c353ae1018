/*  kms_json: JSON from the network, parsed with a bound on nesting.

    jansson parses (and frees, and serialises) nested arrays and objects by recursion, up to
    2048 levels: about 110 bytes of stack per level, more than a civetweb worker's 100 KB stack
    holds at 900 levels. Every document a client or a peer sends us is first scanned, without
    recursion or allocation, and refused when it nests deeper than the caller allows. */
#ifndef KMS_JSON_H
#define KMS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Deep enough for every document the project exchanges (a LIST reply nests 5 levels). */
#define KMS_JSON_MAX_DEPTH 32

/* True when the text opens more than max_depth arrays or objects at once (outside strings).
   Says nothing else about validity: the parser decides that. */
bool kms_json_too_deep(const char *text, size_t len, int max_depth);

/* json_loadb after the depth scan; a document nested too deep is NULL with error->text saying
   so (error may be NULL). */
json_t *kms_json_loadb(const char *text, size_t len, size_t flags, int max_depth, json_error_t *error);

#endif
