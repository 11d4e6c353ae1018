/*  The online loop: one thread polls the samples socket and the control socket, learns, answers
    and checkpoints. Learning a sample takes microseconds and an answer is built in memory, so
    neither waits for the other; a burst of samples is taken in batches so that a request is
    never queued behind more than S_BATCH of them. */
#include "trainer_service.h"

#include "trainer_checkpoint.h"
#include "trainer_control.h"
#include "trainer_ingest.h"

#include "kms_config.h"
#include "kms_log.h"
#include "kms_signal.h"
#include "kms_num.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_BATCH 256
/* What one peer of a bound socket may cost (services/trainer/README.md, "Sockets"). libzmq
   allocates a message whole as soon as its header announces the size, and disconnects a peer
   that announces more than ZMQ_MAXMSGSIZE. Samples are at most KMS_SAMPLE_MAX_FRAME: twice
   that lets oversized frames arrive, be counted and logged. Requests are a word and a model
   name. */
#define S_MAX_MESSAGE (2 * KMS_SAMPLE_MAX_FRAME)
#define S_MAX_REQUEST (64 << 10)
#define S_SAMPLES_HWM 1000 /* samples queued from one publisher while the loop is busy */
#define S_CONTROL_HWM 32   /* requests queued from, and replies to, one client */
/* A connection that has not completed its ZMTP greeting within this is closed: thousands of
   raw TCP connections cost their buffers for 2 s, not for libzmq's default 30 s. */
#define S_HANDSHAKE_MS 2000
/* A peer that vanished without a FIN (a host that died) is found out within 60 + 3 x 10 s. */
#define S_KEEPALIVE_IDLE_S 60
/* libzmq frees a closed connection's memory into its I/O thread's heap, where glibc keeps it
   for good (94 MB after five rounds of 4,000 connections); this often, the free pages go back
   to the kernel (a fraction of a millisecond). */
#define S_TRIM_INTERVAL_S 5.0

/* A socket bound or connected as `endpoints` say, with CURVE when configured, and the limits of
   what one peer may cost. SUB: container samples too, they share the node samples' seq series
   (see trainer_ingest.c). REP: a request under S_MAX_REQUEST that makes no sense gets its 400;
   a bigger one only gets its sender disconnected instead of filling memory. */
static zsock_t *s_socket(int type, kms_curve_t *curve, const char *endpoints)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    if (kms_curve_apply(curve, sock, endpoints) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    bool sub = type == ZMQ_SUB;
    zsock_set_maxmsgsize(sock, sub ? S_MAX_MESSAGE : S_MAX_REQUEST);
    zsock_set_rcvhwm(sock, sub ? S_SAMPLES_HWM : S_CONTROL_HWM);
    zsock_set_sndhwm(sock, sub ? S_SAMPLES_HWM : S_CONTROL_HWM);
    zsock_set_handshake_ivl(sock, S_HANDSHAKE_MS);
    zsock_set_tcp_keepalive(sock, 1);
    zsock_set_tcp_keepalive_idle(sock, S_KEEPALIVE_IDLE_S);
    zsock_set_tcp_keepalive_intvl(sock, 10);
    zsock_set_tcp_keepalive_cnt(sock, 3);
    if (sub) {
        zsock_set_subscribe(sock, KMS_TOPIC_NODE);
        zsock_set_subscribe(sock, KMS_TOPIC_CONTAINER);
    }
    if (zsock_attach(sock, endpoints, !sub) != 0)
        zsock_destroy(&sock);
    return sock;
}

/* One --seed-model file; never fails (an unusable one is logged and ignored). */
static int s_seed(const char *path, int nth, void *arg)
{
    trainer_t *self = arg;
    (void) nth;
    char quoted[512];
    const char *why = NULL;
    json_t *history = NULL;
    kms_model_t *model = trainer_checkpoint_read_zip(path, &history, &why);
    kms_log_quote(path, quoted, sizeof quoted);
    if (!model) {
        kms_error("seed model unusable, ignored", "file=%s why=%s", quoted, kms_log_quote(why, (char[256]){0}, 256));
        return 0;
    }
    if (trainer_spec_conflicts(self, kms_model_spec(model))) {
        kms_error("seed model ignored: its features or target differ from the configured model", "file=%s model=%s",
                  quoted, kms_model_spec(model)->name);
        kms_model_destroy(&model);
        json_decref(history);
        return 0;
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
        kms_info("seed model loaded", "model=%s samples=%llu file=%s", name, (unsigned long long) status.samples,
                 quoted);
        trainer_model_put(self, model, history, true);
    }
    json_decref(history);
    return 0;
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
        kms_config_split(options->seed_models, s_seed, self);

    zsock_t *sub = s_socket(ZMQ_SUB, options->curve, options->samples_endpoint);
    zsock_t *rep = sub ? s_socket(ZMQ_REP, options->curve, options->control_endpoint) : NULL;
    if (!sub || !rep) {
        char quoted[512];
        kms_error("cannot open socket", "endpoint=%s why=%s",
                  kms_log_quote(sub ? options->control_endpoint : options->samples_endpoint, quoted, sizeof quoted),
                  kms_log_quote(zmq_strerror(zmq_errno()), (char[256]){0}, 256));
        zsock_destroy(&sub);
        return 1;
    }
    kms_log_bound("samples", zsock_endpoint(sub));
    kms_log_bound("control", zsock_endpoint(rep));
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
    double next_trim = kms_num_monotonic() + S_TRIM_INTERVAL_S;
    while (!kms_signal_stop) {
        double now = kms_num_monotonic();
        double next = fmin(fmin(next_checkpoint, next_history), next_trim);
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
        if (now >= next_trim) {
            malloc_trim(0);
            next_trim = now + S_TRIM_INTERVAL_S;
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
