/* kms-bench publish: one process publishing node samples as many nodes, each its own publisher
   (its own node name and seq, as a DaemonSet's scrapers are), into a kms-trainer: the fleet's
   load on one trainer (issue 26). Samples carry the wall clock and the interval, so that the
   trainer's plausibility checks see what real scrapers send. */
#include "bench.h"

#include "kms_config.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_sample.h"
#include "kms_sample_msgpack.h"
#include "kms_signal.h"

#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Node i's sample of round r: a linear truth in cpu time that differs per node, as a fleet's
   machines do. */
static void s_make_sample(long node, long round, double interval, kms_sample_t *s)
{
    memset(s, 0, sizeof *s);
    s->seq = (uint64_t) round + 1;
    s->ts = kms_num_wallclock();
    s->dt = interval;
    snprintf(s->node, sizeof s->node, "fleet-node-%ld", node);
    snprintf(s->arch, sizeof s->arch, "%s", node % 2 ? "Sapphire Rapids" : "Zen 4");
    double busy = 4 + 28 * fabs(sin(0.37 * (double) round + (double) node));
    kms_values_set(&s->features, KMS_F_CPU_TIME, busy);
    kms_values_set(&s->targets, "package", 60 + 5 * (double) (node % 4) + 3.2 * busy);
}

int bench_publish_main(int argc, char **argv)
{
    static const char *endpoint;
    static long nodes, rounds;
    static double interval, settle;
    /* clang-format off */
    static kms_option_t options[] = {
        {"endpoint", "KMS_BENCH_ENDPOINT", KMS_OPT_STRING, "@tcp://127.0.0.1:5555",
         "where to publish (czmq syntax: @ binds, > connects)", &endpoint, 0, 0},
        {"nodes", "KMS_BENCH_NODES", KMS_OPT_INT, "1000", "publishers: node names, each its own seq", &nodes, 1,
         1000000},
        {"rounds", "KMS_BENCH_ROUNDS", KMS_OPT_INT, "10", "samples per node", &rounds, 1, 1000000},
        {"interval", "KMS_BENCH_INTERVAL", KMS_OPT_DOUBLE, "1", "seconds between a node's samples (its dt)",
         &interval, 0.001, 3600},
        {"settle", "KMS_BENCH_SETTLE", KMS_OPT_DOUBLE, "1",
         "seconds to wait after binding, so that the subscriber is connected before the first round", &settle, 0,
         60},
        {0}};
    /* clang-format on */
    static const kms_config_t config = {
        "kms-bench",
        "Publishes --rounds node samples for each of --nodes node names, one round every --interval\n"
        "seconds, on a ZeroMQ PUB socket (a kms-trainer subscribes); prints: publish nodes=N\n"
        "published=<n> seconds=<s> samples_per_s=<n> late_rounds=<n> (rounds that took longer than\n"
        "--interval to send).",
        "publish [OPTIONS]", options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    kms_signal_init(false);
    zsock_t *pub = zsock_new(ZMQ_PUB);
    if (!pub || (zsock_set_sndhwm(pub, 0), zsock_attach(pub, endpoint, true)) != 0) {
        kms_error("cannot open the PUB socket", "endpoint=%s", endpoint);
        zsock_destroy(&pub);
        return 1;
    }
    kms_log_bound("samples", zsock_endpoint(pub));
    kms_num_sleep_until(kms_num_monotonic() + settle);
    static uint8_t buf[KMS_SAMPLE_MAX_FRAME];
    uint64_t published = 0, late = 0;
    double start = kms_num_monotonic();
    for (long r = 0; r < rounds && !kms_signal_stop; r++) {
        double due = start + (double) r * interval;
        kms_num_sleep_until(due);
        for (long n = 0; n < nodes; n++) {
            kms_sample_t sample;
            s_make_sample(n, r, interval, &sample);
            size_t len = kms_sample_encode(&sample, buf, sizeof buf);
            if (len > 0 && zsock_send(pub, "sb", KMS_TOPIC_NODE, buf, len) == 0)
                published++;
        }
        late += kms_num_monotonic() > due + interval;
    }
    double seconds = kms_num_monotonic() - start;
    printf("publish nodes=%ld published=%llu seconds=%.3f samples_per_s=%.0f late_rounds=%llu\n", nodes,
           (unsigned long long) published, seconds, (double) published / seconds, (unsigned long long) late);
    zsock_set_linger(pub, 5000); /* what is queued goes out before the socket closes */
    zsock_destroy(&pub);
    return 0;
}
