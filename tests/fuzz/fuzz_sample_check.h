/* Shared by the fuzz targets that turn Kepler data into samples (kepler_pages, prom_walk): what
   the publisher and the models rely on of every sample kms_kepler_diff makes. */
#ifndef FUZZ_SAMPLE_CHECK_H
#define FUZZ_SAMPLE_CHECK_H

#include "kms_sample.h"
#include "kms_sample_msgpack.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

static inline void fuzz_check_values(const kms_values_t *values)
{
    CHECK(values->count <= KMS_SAMPLE_MAX_VALUES);
    for (size_t i = 0; i < values->count; i++) {
        CHECK(memchr(values->items[i].name, '\0', KMS_NAME_MAX) != NULL);
        CHECK(isfinite(values->items[i].value) && values->items[i].value >= 0);
    }
}

/* A finite time and a positive interval; bounded value sets with terminated names and finite,
   non-negative values (a counter that went down gives no sample, never a negative rate:
   docs/contract.md); terminated node and arch; no seq yet (the publisher numbers them); and a frame
   that every subscriber accepts. */
static inline void fuzz_check_sample(const kms_sample_t *s)
{
    CHECK(isfinite(s->ts) && isfinite(s->dt) && s->dt > 0);
    fuzz_check_values(&s->features);
    fuzz_check_values(&s->targets);
    CHECK(memchr(s->node, '\0', sizeof s->node) && memchr(s->arch, '\0', sizeof s->arch));
    CHECK(s->seq == 0);
    static uint8_t frame[KMS_SAMPLE_MAX_FRAME];
    static kms_sample_t decoded;
    size_t n = kms_sample_encode(s, frame, sizeof frame);
    CHECK(n > 0);
    CHECK(kms_sample_decode(frame, n, &decoded, NULL) == 0);
}

#endif
