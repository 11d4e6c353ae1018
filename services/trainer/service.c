/*  The online loop: one thread polls the samples socket and the control socket, learns, answers
    and checkpoints. Learning a sample takes microseconds and an answer is built in memory, so
    neither waits for the other; a burst of samples is taken in batches so that a request is
    never queued behind more than S_BATCH of them. */
#include "service.h"

#include "checkpoint.h"
#include "control.h"
#include "ingest.h"

#include "kms_log.h"
#include "kms_num.h"

#include <stdlib.h>
#include <string.h>

#define S_BATCH 256
/* Samples are small (KMS_SAMPLE_MAX_FRAME); a peer that sends more than this is disconnected
   by libzmq before the bytes are buffered. Bigger than a sample so that oversized frames still
   arrive, get counted and logged. */
#define S_MAX_MESSAGE (1 << 20)
#define S_MAX_REQUEST (16 << 20)

static zsock_t *s_samples_socket(kms_curve_t *curve, const char *endpoints)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub)
        return NULL;
    if (kms_curve_apply(curve, sub, endpoints) != 0) {
        zsock_destroy(&sub);
        return NULL;
    }
    zsock_set_maxmsgsize(sub, S_MAX_MESSAGE);
    /* Container samples too: they share the node samples' seq series (see ingest.c). */
    zsock_set_subscribe(sub, KMS_TOPIC_NODE);
    zsock_set_subscribe(sub, KMS_TOPIC_CONTAINER);
    if (zsock_attach(sub, endpoints, false) != 0)
        zsock_destroy(&sub);
    return sub;
}

static zsock_t *s_control_socket(kms_curve_t *curve, const char *endpoints)
{
    zsock_t *rep = zsock_new(ZMQ_REP);
    if (!rep)
        return NULL;
    if (kms_curve_apply(curve, rep, endpoints) != 0) {
        zsock_destroy(&rep);
        return NULL;
    }
    /* Requests are a word and a model name: a 1 MB one still gets its 400, a bigger one only
       gets its sender disconnected instead of filling memory. */
    zsock_set_maxmsgsize(rep, S_MAX_REQUEST);
    if (zsock_attach(rep, endpoints, true) != 0)
        zsock_destroy(&rep);
    return rep;
}

static void s_seed(trainer_t *self, const char *files)
{
    char *list = strdup(files), *save = NULL, quoted[512];
    for (char *path = strtok_r(list, ",", &save); path; path = strtok_r(NULL, ",", &save)) {
        const char *why = NULL;
        json_t *history = NULL;
        kms_model_t *model = trainer_checkpoint_read_zip(path, &history, &why);
        kms_log_quote(path, quoted, sizeof quoted);
        if (!model) {
            kms_error("seed model unusable, ignored", "file=%s reason=\"%s\"", quoted, why);
            continue;
        }
        if (trainer_spec_conflicts(self, kms_model_spec(model))) {
            kms_error("seed model ignored: its features or target differ from the configured model",
                      "file=%s model=%s", quoted, kms_model_spec(model)->name);
            kms_model_destroy(&model);
            json_decref(history);
            continue;
        }
        const char *name = kms_model_spec(model)->name;
        int index = trainer_model_find(self, name);
        kms_model_status_t mine;
        if (index >= 0)
            kms_model_status(trainer_model_at(self, (size_t) index), &mine);
        if (index >= 0 && mine.samples > 0) {
            /* The checkpoint is this trainer's own continuation of whatever it was seeded with. */
            kms_info("seed model ignored: a checkpoint of that model exists", "model=%s file=%s", name, quoted);
            kms_model_destroy(&model);
        } else {
            kms_model_status_t status;
            kms_model_status(model, &status);
            kms_info("seed model loaded", "model=%s samples=%llu file=%s", name,
                     (unsigned long long) status.samples, quoted);
            trainer_model_put(self, model, history, true);
        }
        json_decref(history);
    }
    free(list);
}

static void s_drain_samples(trainer_t *self, trainer_ingest_t *ingest, zsock_t *sub)
{
    kms_sample_t *sample = malloc(sizeof *sample);
    for (int i = 0; sample && i < S_BATCH && (zsock_events(sub) & ZMQ_POLLIN); i++) {
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg)
            break;
        if (trainer_ingest_message(ingest, msg, sample) == 0)
            trainer_learn(self, sample, kms_num_wallclock());
        zmsg_destroy(&msg);
    }
    free(sample);
}

static void s_answer_requests(trainer_t *self, zsock_t *rep)
{
    while (zsock_events(rep) & ZMQ_POLLIN) {
        zmsg_t *request = zmsg_recv(rep);
        if (!request)
            break;
        zmsg_t *reply = trainer_control_handle(self, &request);
        if (zmsg_send(&reply, rep) != 0)
            zmsg_destroy(&reply);
    }
}

int trainer_service_run(trainer_t *self, const trainer_service_options_t *options)
{
    long loaded = trainer_checkpoint_load(self, options->data_dir);
    if (loaded < 0)
        return 1;
    if (options->seed_models && *options->seed_models)
        s_seed(self, options->seed_models);

    zsock_t *sub = s_samples_socket(options->curve, options->samples_endpoint);
    zsock_t *rep = sub ? s_control_socket(options->curve, options->control_endpoint) : NULL;
    if (!sub || !rep) {
        char quoted[512];
        kms_error("cannot open socket", "endpoint=%s error=%s",
                  kms_log_quote(sub ? options->control_endpoint : options->samples_endpoint, quoted, sizeof quoted),
                  zmq_strerror(zmq_errno()));
        zsock_destroy(&sub);
        return 1;
    }
    trainer_ingest_t *ingest = trainer_ingest_new(trainer_stats(self));
    zpoller_t *poller = zpoller_new(sub, rep, NULL);
    char q_samples[256], q_control[256], q_dir[512];
    kms_info("trainer started", "samples=%s control=%s data_dir=%s models=%zu loaded=%ld checkpoint_interval=%g",
             kms_log_quote(options->samples_endpoint, q_samples, sizeof q_samples),
             kms_log_quote(options->control_endpoint, q_control, sizeof q_control),
             kms_log_quote(options->data_dir, q_dir, sizeof q_dir), trainer_model_count(self), loaded,
             options->checkpoint_interval);

    double next_checkpoint = kms_num_monotonic() + options->checkpoint_interval;
    double next_history = kms_num_monotonic() + options->history_interval;
    while (!zsys_interrupted) {
        double now = kms_num_monotonic();
        double next = next_checkpoint < next_history ? next_checkpoint : next_history;
        int timeout = next > now ? (int) ((next - now) * 1000) + 1 : 0;
        void *which = zpoller_wait(poller, timeout > 1000 ? 1000 : timeout);
        if (!which && zpoller_terminated(poller))
            break;
        /* Both sockets every round: a flood of samples must not starve the requests. */
        s_drain_samples(self, ingest, sub);
        s_answer_requests(self, rep);
        now = kms_num_monotonic();
        if (now >= next_history) {
            trainer_history_tick(self, kms_num_wallclock());
            next_history = now + options->history_interval;
        }
        if (now >= next_checkpoint) {
            trainer_checkpoint_save(self, options->data_dir, false);
            next_checkpoint = kms_num_monotonic() + options->checkpoint_interval;
        }
    }

    int rc = trainer_checkpoint_save(self, options->data_dir, false);
    kms_info("trainer stopping", "final_checkpoint=%s", rc == 0 ? "ok" : "failed");
    zpoller_destroy(&poller);
    trainer_ingest_destroy(&ingest);
    zsock_destroy(&rep);
    zsock_destroy(&sub);
    return rc == 0 ? 0 : 1;
}
