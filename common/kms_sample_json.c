/*  kms_sample_json: a sample as one JSON object. See kms_sample_json.h. */
#include "kms_sample_json.h"

#include "kms_json.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_string refuses invalid UTF-8 (msgpack does not check it): such text becomes null. */
static json_t *s_json_string(const char *text)
{
    json_t *s = json_string(text);
    return s ? s : json_null();
}

static json_t *s_json_values(const kms_values_t *values)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < values->count; i++)
        json_object_set_new(obj, values->items[i].name, kms_json_number(values->items[i].value));
    return obj;
}

/* The fewest significant digits that read back as the same double. */
static int s_digits(double value)
{
    char text[32];
    for (int precision = 1; precision < 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            return precision;
    }
    return 17;
}

/* jansson prints every real with one precision (17 by default: 0.1 becomes
   0.10000000000000001). The largest precision any value of this sample needs still reads back
   exactly and keeps the lines readable. */
static int s_sample_precision(const kms_sample_t *sample)
{
    int precision = s_digits(sample->ts);
    int d = s_digits(sample->dt);
    precision = d > precision ? d : precision;
    const kms_values_t *sets[] = {&sample->features, &sample->targets};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sets[k]->count; i++) {
            d = s_digits(sets[k]->items[i].value);
            precision = d > precision ? d : precision;
        }
    }
    return precision;
}

char *kms_sample_to_json(const kms_sample_t *sample)
{
    assert(sample);
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    json_object_set_new(obj, "topic", json_string(kms_sample_topic(sample)));
    json_object_set_new(obj, "v", json_integer(KMS_SAMPLE_VERSION));
    /* json_int_t is signed; sequence numbers past 2^63 do not happen in practice */
    json_object_set_new(obj, "seq", json_integer((json_int_t) (sample->seq & INT64_MAX)));
    json_object_set_new(obj, "ts", kms_json_number(sample->ts));
    json_object_set_new(obj, "dt", kms_json_number(sample->dt));
    json_object_set_new(obj, "node", s_json_string(sample->node));
    json_object_set_new(obj, "arch", s_json_string(sample->arch));
    if (sample->cpus > 0)
        json_object_set_new(obj, "cpus", json_integer(sample->cpus));
    json_object_set_new(obj, "features", s_json_values(&sample->features));
    json_object_set_new(obj, "targets", s_json_values(&sample->targets));
    if (sample->is_container) {
        json_object_set_new(obj, "container_id", s_json_string(sample->container_id));
        json_object_set_new(obj, "pod", s_json_string(sample->pod));
        json_object_set_new(obj, "namespace", s_json_string(sample->namespace_));
        json_object_set_new(obj, "container", s_json_string(sample->container));
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(s_sample_precision(sample)));
    json_decref(obj);
    return text;
}
