/* libFuzzer target for kms-trainer's control-request decoder (trainer_control_handle, through
   services/trainer/trainer_control.h): any bytes as a request, split into frames at '\n' (the empty
   input is a message without frames), answered by a trainer with one ready model (core_model)
   and one that is not (dram_model).

   The REP socket must answer every request with exactly two frames, or the client is stuck for
   good. Besides that and the sanitizers' checks, the status is checked against the protocol of
   common/kms_proto.h, computed here independently: 200 for a well-formed PING/LIST/STATS, and
   for WEIGHTS/ZIP of core_model; 503 for dram_model; 404 for any other printable name; 400 for
   everything else. Bodies: JSON objects with "error" for errors, a weights document for
   WEIGHTS, a zip that reads back into the same model for ZIP. */
#include "fuzz_trainer.h"

#include "trainer_control.h"
#include "kms_modelzip.h"
#include "kms_proto.h"
#include "kms_weights.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool s_printable(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return len > 0;
}

static bool s_is(const uint8_t *p, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(p, word, len) == 0;
}

/* The status the protocol calls for, from the frames alone. */
static const char *s_expected(const uint8_t *const *frames, const size_t *lens, size_t count)
{
    if (count < 1 || count > 2)
        return KMS_PROTO_BAD_REQUEST;
    if (lens[0] > 16 || (count == 2 && lens[1] >= KMS_NAME_MAX))
        return KMS_PROTO_BAD_REQUEST;
    if (!s_printable(frames[0], lens[0]) || (count == 2 && !s_printable(frames[1], lens[1])))
        return KMS_PROTO_BAD_REQUEST;
    bool plain = s_is(frames[0], lens[0], KMS_PROTO_PING) || s_is(frames[0], lens[0], KMS_PROTO_LIST)
                 || s_is(frames[0], lens[0], KMS_PROTO_STATS);
    bool model = s_is(frames[0], lens[0], KMS_PROTO_WEIGHTS) || s_is(frames[0], lens[0], KMS_PROTO_ZIP);
    if (plain)
        return count == 1 ? KMS_PROTO_OK : KMS_PROTO_BAD_REQUEST;
    if (!model || count != 2)
        return KMS_PROTO_BAD_REQUEST;
    /* A model of the trainer's set (fuzz_trainer.h): served once ready, 503 before; else 404. */
    char name[KMS_NAME_MAX];
    memcpy(name, frames[1], lens[1]);
    name[lens[1]] = '\0';
    const trainer_t *trainer = s_fuzz_trainer();
    int index = trainer_model_find(trainer, name);
    if (index < 0)
        return KMS_PROTO_NOT_FOUND;
    kms_model_status_t status;
    kms_model_status(trainer_model_at(trainer, (size_t) index), &status);
    return status.ready ? KMS_PROTO_OK : KMS_PROTO_UNAVAILABLE;
}

static void s_check_body(const uint8_t *command, size_t command_len, const uint8_t *frames_name, size_t frames_name_len,
                         const char *status, zframe_t *body)
{
    const char *data = (const char *) zframe_data(body);
    size_t len = zframe_size(body);
    bool ok = strcmp(status, KMS_PROTO_OK) == 0;
    if (ok && s_is(command, command_len, KMS_PROTO_ZIP)) {
        const char *why = NULL;
        json_t *metadata = NULL;
        kms_model_t *model = kms_modelzip_read(data, len, &metadata, &why);
        CHECK(model != NULL);
        CHECK(s_is(frames_name, frames_name_len, kms_model_spec(model)->name));
        kms_model_destroy(&model);
        json_decref(metadata);
        return;
    }
    json_t *doc = json_loadb(data, len, 0, NULL);
    CHECK(json_is_object(doc));
    if (!ok) {
        CHECK(json_is_string(json_object_get(doc, "error")));
    } else if (s_is(command, command_len, KMS_PROTO_WEIGHTS)) {
        kms_weights_t weights;
        CHECK(kms_weights_from_json(doc, &weights) == 0);
    } else if (s_is(command, command_len, KMS_PROTO_LIST)) {
        CHECK(json_array_size(json_object_get(doc, "models")) == trainer_model_count(s_fuzz_trainer()));
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_FRAMES = 8 };
    trainer_t *trainer = s_fuzz_trainer();
    const uint8_t *frames[MAX_FRAMES];
    size_t lens[MAX_FRAMES], count = 0;
    zmsg_t *request = zmsg_new();
    CHECK(request != NULL);
    for (size_t start = 0; size > 0 && start <= size;) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t) (nl - data) : size;
        if (count < MAX_FRAMES) {
            frames[count] = data + start;
            lens[count] = end - start;
        }
        count++;
        CHECK(zmsg_addmem(request, data + start, end - start) == 0);
        start = end + 1;
    }
    const char *expected = s_expected(frames, lens, count);

    uint64_t before = trainer_stats(trainer)->requests;
    zmsg_t *reply = trainer_control_handle(trainer, &request);
    CHECK(request == NULL);
    CHECK(trainer_stats(trainer)->requests == before + 1);
    CHECK(reply != NULL && zmsg_size(reply) == 2);
    char *status = zmsg_popstr(reply);
    CHECK(status != NULL && strcmp(status, expected) == 0);
    zframe_t *body = zmsg_pop(reply);
    s_check_body(count ? frames[0] : NULL, count ? lens[0] : 0, count > 1 ? frames[1] : NULL, count > 1 ? lens[1] : 0,
                 status, body);
    zframe_destroy(&body);
    free(status);
    zmsg_destroy(&reply);
    return 0;
}
