#include "api_stats.h"

#include "kms_num.h"
#include "kms_promtext_write.h"

#include <string.h>

/* clang-format off */
static const char *s_route_names[API_ROUTE_COUNT] = {
    "/", "/healthz", "/readyz", "/metrics", "/models", "/models/{model}",
    "/model-weights/{model}", "/model", "/kepler/init/{source}", "other"};
/* clang-format on */

static const char *s_error_names[API_TRAINER_ERROR_COUNT] = {"timeout", "bad_reply", "send", "retry"};

/* Upper bounds in seconds: a local trainer answers in tens of microseconds, a timeout is a
   second, so the buckets span 100 us to 2.5 s. */
static const double s_bounds[API_LATENCY_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

#define s_add(counter, n) __atomic_fetch_add(&(counter), (n), __ATOMIC_RELAXED)
#define s_load(counter) __atomic_load_n(&(counter), __ATOMIC_RELAXED)

void api_stats_init(api_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->started = kms_num_wallclock();
}

void api_stats_request(api_stats_t *stats, api_route_t route, int status)
{
    if (route >= API_ROUTE_COUNT || status < API_STATUS_MIN || status > API_STATUS_MAX)
        return;
    s_add(stats->requests[route][status - API_STATUS_MIN], 1);
}

void api_stats_trainer_latency(api_stats_t *stats, double seconds)
{
    for (int i = 0; i < API_LATENCY_BUCKETS; i++)
        if (seconds <= s_bounds[i]) {
            s_add(stats->latency_buckets[i], 1);
            break;
        }
    s_add(stats->latency_count, 1);
    s_add(stats->latency_sum_ns, (uint64_t) (seconds > 0 ? seconds * 1e9 : 0));
}

void api_stats_trainer_error(api_stats_t *stats, api_trainer_error_t error)
{
    if (error < API_TRAINER_ERROR_COUNT)
        s_add(stats->trainer_errors[error], 1);
}

void api_stats_cache(api_stats_t *stats, int hit)
{
    if (hit)
        s_add(stats->cache_hits, 1);
    else
        s_add(stats->cache_misses, 1);
}

void api_stats_write(const api_stats_t *stats, FILE *out)
{
    char num[40];
    kms_promtext_write_family(out, "kms_api_requests_total", "counter",
                              "HTTP requests answered, by route and status code.");
    for (int r = 0; r < API_ROUTE_COUNT; r++)
        for (int c = 0; c <= API_STATUS_MAX - API_STATUS_MIN; c++) {
            uint64_t n = s_load(stats->requests[r][c]);
            if (n)
                fprintf(out, "kms_api_requests_total{route=\"%s\",code=\"%d\"} %llu\n", s_route_names[r],
                        c + API_STATUS_MIN, (unsigned long long) n);
        }

    kms_promtext_write_family(out, "kms_api_trainer_request_duration_seconds", "histogram",
                              "Round trip of the requests that the trainer answered.");
    uint64_t cumulative = 0;
    for (int i = 0; i < API_LATENCY_BUCKETS; i++) {
        cumulative += s_load(stats->latency_buckets[i]);
        kms_num_format_go(s_bounds[i], num, sizeof num);
        fprintf(out, "kms_api_trainer_request_duration_seconds_bucket{le=\"%s\"} %llu\n", num,
                (unsigned long long) cumulative);
    }
    uint64_t count = s_load(stats->latency_count);
    kms_num_format_go((double) s_load(stats->latency_sum_ns) / 1e9, num, sizeof num);
    fprintf(out,
            "kms_api_trainer_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
            "kms_api_trainer_request_duration_seconds_sum %s\n"
            "kms_api_trainer_request_duration_seconds_count %llu\n",
            (unsigned long long) (count > cumulative ? count : cumulative), num,
            (unsigned long long) (count > cumulative ? count : cumulative));

    kms_promtext_write_family(out, "kms_api_trainer_errors_total", "counter",
                              "Trainer requests that failed (timeout, bad_reply, send) or were asked again (retry).");
    for (int e = 0; e < API_TRAINER_ERROR_COUNT; e++)
        fprintf(out, "kms_api_trainer_errors_total{kind=\"%s\"} %llu\n", s_error_names[e],
                (unsigned long long) s_load(stats->trainer_errors[e]));

    kms_promtext_write_family(out, "kms_api_cache_requests_total", "counter",
                              "Trainer answers looked up in the short-lived cache, by result.");
    fprintf(out,
            "kms_api_cache_requests_total{result=\"hit\"} %llu\n"
            "kms_api_cache_requests_total{result=\"miss\"} %llu\n",
            (unsigned long long) s_load(stats->cache_hits), (unsigned long long) s_load(stats->cache_misses));

    kms_num_format_go(stats->started, num, sizeof num);
    kms_promtext_write_family(out, "kms_api_start_time_seconds", "gauge", "When kms-api started, unix seconds.");
    fprintf(out, "kms_api_start_time_seconds %s\n", num);
    kms_promtext_write_family(out, "kms_api_build_info", "gauge", "kms-api's version.");
    fprintf(out, "kms_api_build_info{version=\"%s\"} 1\n", KMS_VERSION);
}
