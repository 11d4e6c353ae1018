#include "kms_json.h"

#include <math.h>
#include <stdio.h>

bool kms_json_too_deep(const char *text, size_t len, int max_depth)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot close the string */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return false;
}

json_t *kms_json_loadb(const char *text, size_t len, size_t flags, int max_depth, json_error_t *error)
{
    if (kms_json_too_deep(text, len, max_depth)) {
        if (error) {
            *error = (json_error_t){.line = -1, .column = -1, .position = -1};
            snprintf(error->text, sizeof error->text, "nested deeper than %d levels", max_depth);
        }
        return NULL;
    }
    return json_loadb(text, len, flags, error);
}

json_t *kms_json_number(double value)
{
    return isfinite(value) ? json_real(value) : json_null();
}

json_t *kms_json_positive(double value)
{
    return isfinite(value) && value > 0 ? json_real(value) : json_null();
}

json_t *kms_json_finite(double value)
{
    return isfinite(value) ? json_real(value) : NULL;
}

bool kms_json_get_real(const json_t *value, double *out)
{
    if (!json_is_number(value) || !isfinite(json_number_value(value)))
        return false;
    *out = json_number_value(value);
    return true;
}

void kms_json_append(json_t **array, json_t *value)
{
    if (json_array_append_new(*array, value) != 0) {
        json_decref(*array);
        *array = NULL;
    }
}
