/* libFuzzer target for kms_sample_decode: any bytes as a frame from the samples socket (the
   trainer and kms-tail read them from the network). Besides the sanitizers' checks, it asserts
   what subscribers rely on: a refusal says why; an accepted sample holds only finite numbers,
   a positive dt, terminated non-empty names and bounded counts; it encodes again, and what it
   encodes to decodes to the same sample and encodes to the same bytes (the codec is a fixed
   point after one round); its JSON form (kms-tail) is made without trouble. */
#include "kms_sample.h"
#include "kms_sample_json.h"
#include "kms_sample_msgpack.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

static void s_check_values(const kms_values_t *values)
{
    CHECK(values->count <= KMS_SAMPLE_MAX_VALUES);
    for (size_t i = 0; i < values->count; i++) {
        const kms_named_value_t *item = &values->items[i];
        CHECK(memchr(item->name, '\0', KMS_NAME_MAX) != NULL && item->name[0] != '\0');
        CHECK(isfinite(item->value));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(values->items[j].name, item->name) != 0); /* a repeated key replaces */
    }
}

static void s_check_text(const char *text, size_t cap)
{
    CHECK(memchr(text, '\0', cap) != NULL);
}

/* Same sample, field by field: a repeated key in the frame may leave bytes after a NUL, which
   are not part of the sample. Numbers compare bit for bit (-0.0 stays -0.0). */
static void s_check_same(const kms_sample_t *a, const kms_sample_t *b)
{
    CHECK(a->seq == b->seq && a->is_container == b->is_container);
    CHECK(memcmp(&a->ts, &b->ts, sizeof a->ts) == 0 && memcmp(&a->dt, &b->dt, sizeof a->dt) == 0);
    CHECK(strcmp(a->node, b->node) == 0 && strcmp(a->arch, b->arch) == 0);
    CHECK(strcmp(a->container_id, b->container_id) == 0 && strcmp(a->pod, b->pod) == 0);
    CHECK(strcmp(a->namespace_, b->namespace_) == 0 && strcmp(a->container, b->container) == 0);
    const kms_values_t *sa[] = {&a->features, &a->targets}, *sb[] = {&b->features, &b->targets};
    for (size_t k = 0; k < 2; k++) {
        CHECK(sa[k]->count == sb[k]->count);
        for (size_t i = 0; i < sa[k]->count; i++) {
            CHECK(strcmp(sa[k]->items[i].name, sb[k]->items[i].name) == 0);
            CHECK(memcmp(&sa[k]->items[i].value, &sb[k]->items[i].value, sizeof(double)) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kms_sample_t sample, again, third;
    static uint8_t frame[KMS_SAMPLE_MAX_FRAME], frame2[KMS_SAMPLE_MAX_FRAME];
    const char *why = NULL;
    if (kms_sample_decode(data, size, &sample, &why) != 0) {
        CHECK(why != NULL && *why != '\0');
        return 0;
    }
    CHECK(isfinite(sample.ts) && isfinite(sample.dt) && sample.dt > 0);
    s_check_values(&sample.features);
    s_check_values(&sample.targets);
    s_check_text(sample.node, sizeof sample.node);
    s_check_text(sample.arch, sizeof sample.arch);
    s_check_text(sample.container_id, sizeof sample.container_id);
    s_check_text(sample.pod, sizeof sample.pod);
    s_check_text(sample.namespace_, sizeof sample.namespace_);
    s_check_text(sample.container, sizeof sample.container);

    size_t n = kms_sample_encode(&sample, frame, sizeof frame);
    CHECK(n > 0 && n <= KMS_SAMPLE_MAX_FRAME);
    CHECK(kms_sample_decode(frame, n, &again, &why) == 0);
    s_check_same(&sample, &again);
    size_t n2 = kms_sample_encode(&again, frame2, sizeof frame2);
    CHECK(n2 == n && memcmp(frame, frame2, n) == 0);
    CHECK(kms_sample_decode(frame2, n2, &third, NULL) == 0);
    s_check_same(&again, &third);

    char *json = kms_sample_to_json(&sample);
    CHECK(json != NULL);
    free(json);
    return 0;
}
