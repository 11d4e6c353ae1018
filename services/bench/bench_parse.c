/* kms-bench parse: the exposition parser's throughput on one page, as the scraper runs it. */
#include "bench.h"

#include "kms_config.h"
#include "kms_file.h"
#include "kms_promtext_read.h"
#include "kms_log.h"
#include "kms_num.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROUNDS = 5 };

/* What a consumer would at least do: look at every value. The sum keeps the compiler from
   dropping the work. */
typedef struct {
    size_t series;
    double sum;
} tally_t;

static int s_on_series(const kms_promtext_series_t *series, void *arg)
{
    tally_t *t = arg;
    t->series++;
    t->sum += series->value;
    return 0;
}

static double s_time_parses(const char *page, size_t len, long iterations, tally_t *tally)
{
    kms_promtext_handler_t handler = {s_on_series, NULL, tally};
    double start = kms_num_monotonic();
    for (long i = 0; i < iterations; i++)
        kms_promtext_parse(page, len, &handler, NULL);
    return kms_num_monotonic() - start;
}

/* Enough iterations for about `seconds`, from a doubling warm-up. */
static long s_calibrate(const char *page, size_t len, double seconds)
{
    tally_t tally = {0};
    for (long n = 1;; n *= 2) {
        double elapsed = s_time_parses(page, len, n, &tally);
        if (elapsed >= seconds / 10 || n >= (1L << 30))
            return elapsed > 0 ? (long) (n * seconds / elapsed) + 1 : n;
    }
}

int bench_parse_main(int argc, char **argv)
{
    static long iterations;
    static double seconds;
    /* clang-format off */
    static kms_option_t options[] = {
        {"iterations", "KMS_BENCH_ITERATIONS", KMS_OPT_INT, "0", "parses to time; 0: as many as fit in --seconds",
         &iterations, 0, 1e9},
        {"seconds", "KMS_BENCH_SECONDS", KMS_OPT_DOUBLE, "1", "target duration when --iterations is 0", &seconds,
         0.01, 600},
        {0}};
    /* clang-format on */
    static const kms_config_t config = {
        "kms-bench",
        "Reads FILE once, parses it with the exposition parser N times in 5 rounds, and prints one line:\n"
        "parse file=... bytes=... iterations=... seconds=... MBps=<fastest round, 10^6 bytes/s> series=<per parse>\n"
        "MBps_mean=<all rounds> rejected=... ns_per_series=...",
        "parse FILE [OPTIONS]", options};
    int positional = 0;
    int rc = kms_config_parse(&config, argc, argv, &positional);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    if (positional != 1) {
        fprintf(stderr, "kms-bench parse: expected one FILE (see --help)\n");
        return 2;
    }
    const char *path = argv[1];
    size_t len;
    char *page = kms_file_read(path, SIZE_MAX, &len);
    if (!page) {
        char quoted[512];
        kms_error("cannot read file", "path=%s why=%s", kms_log_quote(path, quoted, sizeof quoted),
                  kms_log_quote(strerror(errno), (char[256]){0}, 256));
        return 1;
    }
    tally_t tally = {0};
    kms_promtext_stats_t stats;
    kms_promtext_parse(page, len, &(kms_promtext_handler_t){s_on_series, NULL, &tally}, &stats);
    if (stats.rejected > 0)
        kms_warn("page has rejected lines", "rejected=%zu lines=%zu", stats.rejected, stats.lines);
    if (iterations == 0)
        iterations = s_calibrate(page, len, seconds);
    /* The machine is shared: time ROUNDS rounds and report the fastest, which is the parser's
       own speed (the mean, which includes what other processes took, is printed too). */
    long rounds = iterations < ROUNDS ? iterations : ROUNDS, done = 0;
    double elapsed = 0, best = 0;
    for (long r = 0; r < rounds; r++) {
        long n = (iterations - done) / (rounds - r);
        double t = s_time_parses(page, len, n, &tally);
        double rate = t > 0 ? (double) len * (double) n / t / 1e6 : 0;
        if (rate > best)
            best = rate;
        elapsed += t;
        done += n;
    }
    double mean = elapsed > 0 ? (double) len * (double) iterations / elapsed / 1e6 : 0;
    printf("parse file=%s bytes=%zu iterations=%ld seconds=%.3f MBps=%.1f series=%zu MBps_mean=%.1f rejected=%zu "
           "ns_per_series=%.1f\n",
           path, len, iterations, elapsed, best, stats.series, mean, stats.rejected,
           stats.series && best > 0 ? (double) len / best * 1e3 / (double) stats.series : 0.0);
    free(page);
    return tally.series > 0 || stats.series == 0 ? 0 : 1;
}
