/*  otlp-driver: runs kms-api's OTLP exporter alone, for test_otlp.py.

    otlp-driver LIST.json

    Configured by the same OTEL_* environment as kms-api. Each export reads LIST.json afresh as
    the trainer's LIST document (a missing or unreadable file plays an unreachable trainer).
    Runs until SIGTERM or SIGINT, then prints the exporter's counters as one JSON line on
    stdout. Exit status: 0, 3 when the environment turns the exporter off, 1 on error. */
#include <czmq.h>
#include <jansson.h>
#include <stdio.h>

#include "api_otlp.h"
#include "kms_log.h"

static json_t *s_fetch(void *arg)
{
    return json_load_file((const char *) arg, 0, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: otlp-driver LIST.json\n");
        return 1;
    }
    kms_log_init("otlp-driver");
    zsys_init(); /* czmq's SIGINT/SIGTERM handler sets zsys_interrupted */
    api_otlp_t *otlp = api_otlp_start_from_env(s_fetch, argv[1]);
    if (!otlp)
        return 3;
    while (!zsys_interrupted)
        zclock_sleep(20);

    api_otlp_stats_t stats;
    api_otlp_stats(otlp, &stats);
    double started = zclock_mono() / 1e3;
    api_otlp_stop(&otlp);
    printf("{\"exports\":%llu,\"failures\":%llu,\"dropped\":%llu,\"skipped\":%llu,"
           "\"last_success\":%.3f,\"stop_seconds\":%.3f}\n",
           (unsigned long long) stats.exports, (unsigned long long) stats.failures, (unsigned long long) stats.dropped,
           (unsigned long long) stats.skipped, stats.last_success, zclock_mono() / 1e3 - started);
    return 0;
}
