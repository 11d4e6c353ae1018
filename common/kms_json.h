/*  kms_json: JSON helpers: documents from the network parsed with a bound on nesting, and
    numbers written and read back finite.

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

/* JSON has no NaN nor infinities, and json_real() answers NULL for them. Each writer below
   returns a new reference, the caller's to free. */

/* A finite value as a real, anything else as null: an unknown figure is not zero. */
json_t *kms_json_number(double value);

/* A finite value above 0 as a real, anything else as null: a time not known yet. */
json_t *kms_json_positive(double value);

/* A finite value as a real, anything else as NULL: json_pack() fails on a NULL "o" (and
   json_array_append_new() refuses it), so a checkpoint holding a non-finite number is not
   written at all rather than written with a hole that would not load. */
json_t *kms_json_finite(double value);

/* Appends `value` (taken over, may be NULL) to *array; when that fails the whole array goes and
   *array is NULL, which makes the json_pack() that takes it fail too. */
void kms_json_append(json_t **array, json_t *value);

/* True, with *out set, when value is a finite number; false, *out untouched, otherwise
   (NULL, null, not a number). value is borrowed. */
bool kms_json_get_real(const json_t *value, double *out);

#endif
