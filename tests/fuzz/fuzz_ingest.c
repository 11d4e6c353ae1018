/* libFuzzer target for kms-trainer's way from the samples socket to the models: any bytes as a
   run of well-formed sample messages carrying adversarial numbers (the byte-level decoder has
   its own target, fuzz_sample), each through the ingest checks (trainer_ingest_message) and, when
   accepted, into every model (trainer_learn), exactly as the online loop does.

   Each 76-byte record is one message: a flags byte (topic: node, container, a wrong one or
   none; architecture; node), a seq step (uint16), ts, dt, seven raw doubles (five features,
   the core and dram targets) and a byte that may drop a feature (a sample some models count as
   missing) and names the container. Subnormals, negatives, 1e308, zero or huge dt, repeated
   and jumping seqs all come through; NaN and infinities are refused by the encoder already.

   What must hold, whatever was sent: the gate's counters add up; every accepted sample with a
   target past its physical bound is held back (counted as bounds), none other; no model holds or serves
   a non-finite number (weights, means, variances, bias); a model's saved state loads back and
   saves to the same document; the WEIGHTS answer is 200 with finite weights or 503, never 500. */
#include "fuzz_trainer.h"

#include "trainer_control.h"
#include "trainer_ingest.h"
#include "kms_proto.h"
#include "kms_sample_msgpack.h"
#include "kms_weights.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { RECORD = 1 + 2 + 8 * 2 + 8 * 7 + 1 };

static const char *const s_features[] = {KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CPU_TIME, KMS_F_CACHE_MISSES,
                                         KMS_F_RESIDENT_MEMORY};

static double s_double(const uint8_t *p)
{
    double d;
    memcpy(&d, p, sizeof d);
    return d;
}

/* Builds record `p` into a message; NULL when the encoder refuses it (non-finite numbers). */
static zmsg_t *s_message(const uint8_t *p, uint64_t *seq)
{
    static kms_sample_t s;
    static uint8_t frame[KMS_SAMPLE_MAX_FRAME];
    uint8_t flags = p[0];
    *seq += (uint64_t) p[1] | (uint64_t) p[2] << 8;
    memset(&s, 0, sizeof s);
    s.seq = *seq;
    s.ts = s_double(p + 3);
    s.dt = s_double(p + 11);
    snprintf(s.node, sizeof s.node, "node-%u", (flags >> 6) & 1u);
    snprintf(s.arch, sizeof s.arch, "%s", (flags & 0x20) ? "arm64" : "x86_64");
    const uint8_t *v = p + 19;
    for (size_t i = 0; i < 5; i++)
        kms_values_set(&s.features, s_features[i], s_double(v + 8 * i));
    kms_values_set(&s.targets, "core", s_double(v + 40));
    kms_values_set(&s.targets, "dram", s_double(v + 48));
    uint8_t which = p[RECORD - 1];
    if (which & 0x80) {
        size_t k = which % 5;
        memmove(&s.features.items[k], &s.features.items[k + 1], (4 - k) * sizeof s.features.items[0]);
        s.features.count--;
    }
    bool container = (flags & 3) == 1;
    if (container) {
        s.is_container = true;
        snprintf(s.container_id, sizeof s.container_id, "c%u", which & 7u);
    }
    size_t n = kms_sample_encode(&s, frame, sizeof frame);
    if (n == 0)
        return NULL;
    zmsg_t *msg = zmsg_new();
    const char *topic = (flags & 3) == 2 ? KMS_TOPIC_CONTAINER : kms_sample_topic(&s); /* 2: wrong topic */
    if ((flags & 3) != 3) /* 3: the topic frame is missing */
        zmsg_addstr(msg, topic);
    zmsg_addmem(msg, frame, n);
    return msg;
}

static void s_check_model(const kms_model_t *model)
{
    kms_weights_t w;
    if (kms_model_weights(model, &w) == 0) {
        CHECK(isfinite(w.bias));
        for (size_t i = 0; i < w.numeric_count; i++)
            /* What both of Kepler's formulas need (kms_weights.h): a scale whose square is a
               finite positive variance. */
            CHECK(isfinite(w.numeric[i].weight) && isfinite(w.numeric[i].scale * w.numeric[i].scale)
                  && w.numeric[i].scale * w.numeric[i].scale > 0);
        for (size_t i = 0; i < w.category_count; i++)
            CHECK(isfinite(w.category[i].weight));
    }
    json_t *state = kms_model_save(model);
    CHECK(state != NULL);
    char *text = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    CHECK(text != NULL);
    const char *why = NULL;
    kms_model_t *back = kms_model_load(state, &why);
    if (!back) { /* a checkpoint the trainer would set aside as corrupt at its next start */
        fprintf(stderr, "saved state does not load back (%s): %s\n", why, text);
        __builtin_trap();
    }
    json_t *again = kms_model_save(back);
    char *text2 = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    CHECK(text2 != NULL && strcmp(text, text2) == 0);
    free(text);
    free(text2);
    json_decref(again);
    json_decref(state);
    kms_model_destroy(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static trainer_specs_t specs;
    static bool loaded;
    if (!loaded) {
        kms_log_threshold = KMS_LOG_ERROR;
        char why[256];
        CHECK(trainer_specs_load(&specs, NULL, 1.0, 3, why, sizeof why) == 0);
        loaded = true;
    }
    trainer_t *trainer = trainer_new(&specs, "fuzz");
    CHECK(trainer != NULL);
    trainer_stats_t *stats = trainer_stats(trainer);
    trainer_ingest_t *ingest = trainer_ingest_new(stats);
    CHECK(ingest != NULL);
    uint64_t seq = 0;
    size_t sent = 0, beyond = 0;
    static kms_sample_t accepted;
    trainer_bounds_t bounds;
    char why[128];
    CHECK(trainer_bounds_parse(&bounds, NULL, why, sizeof why) == 0); /* the trainer's defaults */
    for (size_t off = 0; off + RECORD <= size && sent < 256; off += RECORD) {
        zmsg_t *msg = s_message(data + off, &seq);
        if (!msg)
            continue;
        sent++;
        if (trainer_ingest_message(ingest, msg, &accepted) == 0) {
            CHECK(trainer_sample_values_ok(&accepted) && !accepted.is_container);
            const char *over = trainer_bounds_exceeded(&bounds, &accepted);
            beyond += over != NULL;
            size_t learned = trainer_learn(trainer, &accepted, 1.7e9);
            CHECK(!over || learned == 0);
        }
        zmsg_destroy(&msg);
    }
    CHECK(stats->samples_received == sent);
    CHECK(stats->samples_accepted + stats->samples_rejected + stats->container_samples + stats->frames_malformed
          == stats->samples_received);
    json_t *described = trainer_describe_stats(trainer);
    CHECK(json_integer_value(json_object_get(json_object_get(described, "held_back"), "bounds"))
          == (json_int_t) beyond);
    json_decref(described);
    for (size_t i = 0; i < trainer_model_count(trainer); i++)
        s_check_model(trainer_model_at(trainer, i));

    zmsg_t *request = zmsg_new();
    zmsg_addstr(request, KMS_PROTO_WEIGHTS);
    zmsg_addstr(request, "core_model");
    zmsg_t *reply = trainer_control_handle(trainer, &request);
    char *status = zmsg_popstr(reply);
    CHECK(status && (strcmp(status, KMS_PROTO_OK) == 0 || strcmp(status, KMS_PROTO_UNAVAILABLE) == 0));
    if (strcmp(status, KMS_PROTO_OK) == 0) {
        zframe_t *body = zmsg_pop(reply);
        json_t *doc = json_loadb((const char *) zframe_data(body), zframe_size(body), 0, NULL);
        kms_weights_t w;
        CHECK(kms_weights_from_json(doc, &w) == 0 && isfinite(w.bias));
        json_decref(doc);
        zframe_destroy(&body);
    }
    free(status);
    zmsg_destroy(&reply);
    trainer_ingest_destroy(&ingest);
    trainer_destroy(&trainer);
    return 0;
}
