/*  kms_sample_json: a sample as one JSON object. See kms_sample_json.h. */
#include "kms_sample_json.h"

#include "kms_json.h"
#include "kms_num.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

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

/* jansson prints every real with one precision (17 by default: 0.1 becomes
   0.10000000000000001). The largest precision any value of this sample needs still reads back
   exactly and keeps the lines readable (a value that reads back at some precision also does at
   any larger one). */
static int s_sample_precision(const kms_sample_t *sample)
{
    int precision = kms_num_digits(sample->dt, kms_num_digits(sample->ts, 1));
    const kms_values_t *sets[] = {&sample->features, &sample->targets};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->count; i++)
            precision = kms_num_digits(sets[k]->items[i].value, precision);
    return precision;
}

char *kms_sample_to_json(const kms_sample_t *sample)
{
    assert(sample);
    bool c = sample->is_container;
    /* json_int_t is signed; sequence numbers past 2^63 do not happen in practice. o*: left out
       when NULL (cpus when not said, the identity of a node sample). */
    /* clang-format off */
    json_t *obj = json_pack("{s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:o*, s:o, s:o, s:o*, s:o*, s:o*, s:o*}",
                            "topic", kms_sample_topic(sample), "v", KMS_SAMPLE_VERSION,
                            "seq", (json_int_t) (sample->seq & INT64_MAX),
                            "ts", kms_json_number(sample->ts), "dt", kms_json_number(sample->dt),
                            "node", s_json_string(sample->node), "arch", s_json_string(sample->arch),
                            "cpus", sample->cpus > 0 ? json_integer(sample->cpus) : NULL,
                            "features", s_json_values(&sample->features),
                            "targets", s_json_values(&sample->targets),
                            "container_id", c ? s_json_string(sample->container_id) : NULL,
                            "pod", c ? s_json_string(sample->pod) : NULL,
                            "namespace", c ? s_json_string(sample->namespace_) : NULL,
                            "container", c ? s_json_string(sample->container) : NULL);
    /* clang-format on */
    if (!obj)
        return NULL;
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(s_sample_precision(sample)));
    json_decref(obj);
    return text;
}
