/*  The control protocol (kms_proto.h): one request in, one two-frame reply out, always. A
    request that is not exactly right gets a 400 that says why, never silence: the REP socket
    must answer every request or the client's REQ socket is stuck for good. */
#include "trainer_control.h"

#include "kms_log.h"
#include "kms_modelzip.h"
#include "kms_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A command is a short word; a model name fits KMS_NAME_MAX. Anything longer is refused
   before it is even looked at. */
#define S_MAX_COMMAND 16

typedef struct {
    const char *name;
    bool takes_model;
} s_command_t;

static const s_command_t s_commands[] = {
    {KMS_PROTO_PING, false},   {KMS_PROTO_LIST, false}, {KMS_PROTO_STATS, false},
    {KMS_PROTO_WEIGHTS, true}, {KMS_PROTO_ZIP, true},
};

static zmsg_t *s_reply(const char *status, const void *body, size_t len)
{
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, status);
    zmsg_addmem(reply, body, len);
    return reply;
}

/* Takes `doc`. */
static zmsg_t *s_reply_json(const char *status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    if (!text)
        return s_reply("500", "{\"error\":\"out of memory\"}", 25);
    zmsg_t *reply = s_reply(status, text, strlen(text));
    free(text);
    return reply;
}

static zmsg_t *s_error(trainer_t *self, const char *status, const char *message)
{
    if (strcmp(status, KMS_PROTO_BAD_REQUEST) == 0) {
        trainer_stats(self)->requests_bad++;
        kms_debug("bad control request", "why=%s", kms_log_quote(message, (char[256]){0}, 256));
    }
    return s_reply_json(status, json_pack("{s:s}", "error", message));
}

/* Printable ASCII only: the text is echoed in JSON and logs. */
static bool s_printable(const zframe_t *frame)
{
    const unsigned char *p = zframe_data((zframe_t *) frame);
    size_t len = zframe_size((zframe_t *) frame);
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return len > 0;
}

/* WEIGHTS and ZIP: the model must exist (404) and be ready (503 with the counts). */
static zmsg_t *s_model_reply(trainer_t *self, const char *command, const char *name)
{
    int index = trainer_model_find(self, name);
    if (index < 0) {
        char message[KMS_NAME_MAX + 32];
        snprintf(message, sizeof message, "unknown model '%s'", name);
        return s_error(self, KMS_PROTO_NOT_FOUND, message);
    }
    const kms_model_t *model = trainer_model_at(self, (size_t) index);
    kms_model_status_t status;
    kms_model_status(model, &status);
    if (!status.ready) {
        char message[256];
        snprintf(message, sizeof message, "model '%s' is not ready: %s", name, status.reason);
        return s_reply_json(KMS_PROTO_UNAVAILABLE,
                            json_pack("{s:s, s:I, s:I}", "error", message, "samples", (json_int_t) status.samples,
                                      "min_samples", (json_int_t) kms_model_spec(model)->min_samples));
    }
    if (strcmp(command, KMS_PROTO_WEIGHTS) == 0) {
        char *text = kms_modelzip_weights_text(model);
        if (!text)
            return s_error(self, KMS_PROTO_UNAVAILABLE, "the model has no finite weights");
        zmsg_t *reply = s_reply(KMS_PROTO_OK, text, strlen(text));
        free(text);
        return reply;
    }
    json_t *extra = json_pack("{s:o}", "history", trainer_history_json(self, (size_t) index));
    void *zip = NULL;
    size_t len = 0;
    const char *why = NULL;
    int rc = kms_modelzip_write(model, trainer_version(self), extra, &zip, &len, &why);
    json_decref(extra);
    if (rc != 0) {
        kms_error("model zip failed", "model=%s why=%s", name, kms_log_quote(why, (char[256]){0}, 256));
        return s_reply_json("500", json_pack("{s:s}", "error", why));
    }
    zmsg_t *reply = s_reply(KMS_PROTO_OK, zip, len);
    free(zip);
    return reply;
}

static zmsg_t *s_list(trainer_t *self)
{
    json_t *models = json_array();
    for (size_t i = 0; i < trainer_model_count(self); i++)
        json_array_append_new(models, trainer_describe_model(self, i));
    return s_reply_json(KMS_PROTO_OK,
                        json_pack("{s:o, s:o}", "models", models, "trainer", trainer_describe_stats(self)));
}

static zmsg_t *s_answer(trainer_t *self, zmsg_t *request)
{
    size_t frames = zmsg_size(request);
    if (frames < 1 || frames > 2)
        return s_error(self, KMS_PROTO_BAD_REQUEST, "a request is one or two frames: command [model]");
    zframe_t *command_frame = zmsg_first(request);
    zframe_t *arg_frame = zmsg_next(request);
    if (zframe_size(command_frame) > S_MAX_COMMAND || (arg_frame && zframe_size(arg_frame) >= KMS_NAME_MAX))
        return s_error(self, KMS_PROTO_BAD_REQUEST, "oversized request frame");
    if (!s_printable(command_frame) || (arg_frame && !s_printable(arg_frame)))
        return s_error(self, KMS_PROTO_BAD_REQUEST, "request frames must be printable text");
    /* Printable: no NUL in the text, which is copied whole (the sizes were checked). */
    char command[S_MAX_COMMAND + 1], arg[KMS_NAME_MAX] = "";
    snprintf(command, sizeof command, "%.*s", (int) zframe_size(command_frame),
             (const char *) zframe_data(command_frame));
    if (arg_frame)
        snprintf(arg, sizeof arg, "%.*s", (int) zframe_size(arg_frame), (const char *) zframe_data(arg_frame));
    const s_command_t *found = NULL;
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(command, s_commands[i].name) == 0)
            found = &s_commands[i];
    char message[128];
    if (!found) {
        snprintf(message, sizeof message, "unknown command '%s'", command);
        return s_error(self, KMS_PROTO_BAD_REQUEST, message);
    }
    if (found->takes_model != (arg_frame != NULL)) {
        snprintf(message, sizeof message, found->takes_model ? "%s needs a model name" : "%s takes no argument",
                 command);
        return s_error(self, KMS_PROTO_BAD_REQUEST, message);
    }
    if (found->takes_model)
        return s_model_reply(self, command, arg);
    if (strcmp(command, KMS_PROTO_PING) == 0)
        return s_reply_json(KMS_PROTO_OK, json_pack("{s:s, s:s}", "status", "ok", "version", trainer_version(self)));
    if (strcmp(command, KMS_PROTO_STATS) == 0)
        return s_reply_json(KMS_PROTO_OK, trainer_describe_stats(self));
    return s_list(self);
}

zmsg_t *trainer_control_handle(trainer_t *self, zmsg_t **request_p)
{
    trainer_stats(self)->requests++;
    zmsg_t *reply = s_answer(self, *request_p);
    zmsg_destroy(request_p);
    return reply;
}
