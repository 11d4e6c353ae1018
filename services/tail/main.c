/*  kms-tail: subscribes to a scraper's samples and prints each as one JSON object per line on
    stdout (topic included), for people and for scripts (`kms-tail | jq`). Frames that are not
    valid samples are logged on stderr, counted and dropped. */
#include "tail.h"

#include "kms_config.h"
#include "kms_curve.h"
#include "kms_log.h"
#include "kms_signal.h"
#include "kms_sample.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PROGRAM "kms-tail"
#define S_POLL_MS 200
/* Past this size ZeroMQ drops the message (and the connection) before we see it. */
#define S_MAX_MESSAGE (16 * KMS_SAMPLE_MAX_FRAME)

static const char *s_endpoint, *s_topic;
static long s_count;
static kms_curve_config_t s_curve_config;

/* clang-format off */
static kms_option_t s_options[] = {
    {"endpoint", "KMS_SAMPLES_ENDPOINT", KMS_OPT_STRING, ">tcp://127.0.0.1:5555",
     "where the samples are published (czmq syntax: '>' connects, '@' binds, commas separate)",
     &s_endpoint, 0, 0},
    {"topic", "KMS_TAIL_TOPIC", KMS_OPT_STRING, "kepler.",
     "print only topics starting with this (kepler.node, kepler.container)", &s_topic, 0, 0},
    {"count", "KMS_TAIL_COUNT", KMS_OPT_INT, "0", "exit after printing this many samples (0: never)",
     &s_count, 0, 1e15},
    KMS_CURVE_OPTIONS(s_curve_config),
    {0},
};
/* clang-format on */

/* Prints one message's line. Returns -1 when stdout is gone (e.g. `kms-tail | head`). */
static int s_handle(tail_stats_t *stats, zmsg_t *msg)
{
    const char *why = NULL;
    char *line = tail_line(stats, msg, &why);
    if (!line) {
        size_t bytes = zmsg_size(msg) == 2 ? zframe_size(zmsg_last(msg)) : zmsg_content_size(msg);
        char quoted[256];
        if (kms_log_decade(stats->malformed))
            kms_warn("malformed frame dropped", "why=%s bytes=%zu malformed=%llu",
                     kms_log_quote(why, quoted, sizeof quoted), bytes, (unsigned long long) stats->malformed);
        return 0;
    }
    int rc = puts(line) == EOF ? -1 : 0;
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    const kms_config_t config = {
        S_PROGRAM,
        "Prints the samples a kms-scraper publishes, one JSON object per line on stdout, with\n"
        "its topic: kms-tail | jq. Frames that are not valid samples are logged on stderr and\n"
        "skipped. Ends on SIGINT or SIGTERM (exit 0), or after --count samples.",
        NULL, s_options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    /* stdout carries only JSON lines: czmq's own log goes to stderr too */
    zsys_handler_set(NULL);
    kms_signal_init(false);
    zsys_init();
    zsys_set_logstream(stderr);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char quoted[256];
    const char *curve_why = NULL;
    kms_curve_t *curve = kms_curve_new(&s_curve_config, quoted, sizeof quoted, &curve_why);
    if (curve_why) {
        fprintf(stderr, "%s: %s\n", S_PROGRAM, curve_why);
        return 2;
    }
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (sub) {
        zsock_set_maxmsgsize(sub, S_MAX_MESSAGE);
        zsock_set_subscribe(sub, s_topic);
    }
    if (!sub || kms_curve_apply(curve, sub, s_endpoint) != 0 || zsock_attach(sub, s_endpoint, false) != 0) {
        fprintf(stderr, "%s: invalid value '%s' for --endpoint: cannot bind or connect\n", S_PROGRAM, s_endpoint);
        zsock_destroy(&sub);
        kms_curve_destroy(&curve);
        return 2;
    }
    kms_info("subscribed", "endpoint=%s topic=%s", kms_log_quote(s_endpoint, quoted, sizeof quoted), s_topic);
    zpoller_t *poller = zpoller_new(sub, NULL);
    tail_stats_t stats = {0};
    while (!kms_signal_stop && (s_count == 0 || stats.printed < (uint64_t) s_count)) {
        if (!zpoller_wait(poller, S_POLL_MS)) {
            if (zpoller_terminated(poller))
                break;
            continue;
        }
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg)
            continue;
        int handled = s_handle(&stats, msg);
        zmsg_destroy(&msg);
        if (handled != 0) {
            kms_info("stdout closed", "why=%s", kms_log_quote(strerror(errno), (char[256]){0}, 256));
            break;
        }
    }
    kms_info("stopping", "received=%llu printed=%llu malformed=%llu gaps=%llu", (unsigned long long) stats.received,
             (unsigned long long) stats.printed, (unsigned long long) stats.malformed, (unsigned long long) stats.gaps);
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    kms_curve_destroy(&curve);
    return 0;
}
