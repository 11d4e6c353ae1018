/*  kms-meter's own /metrics: what it predicts, with which model, and what went wrong. */
#include "meter_metrics.h"

#include <civetweb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kms_httpd.h"
#include "kms_num.h"
#include "kms_promtext_write.h"

static void s_zone_value(FILE *out, const char *name, const char *zone, double value)
{
    fprintf(out, "%s{zone=", name);
    kms_promtext_write_label(out, zone);
    fputc('}', out);
    kms_promtext_write_value(out, value);
}

static void s_render_zones(FILE *out, const meter_stats_t *stats, double now)
{
    kms_promtext_write_family(out, "kms_meter_watts", "gauge",
                              "Watts predicted for the zone over the last interval, as counted.");
    for (int z = 0; z < METER_ZONES; z++)
        if (stats->zones[z].active)
            s_zone_value(out, "kms_meter_watts", meter_zone_info(z)->zone, stats->zones[z].watts);
    kms_promtext_write_family(out, "kms_meter_energy_joules_total", "counter",
                              "Joules counted into the zone since start.");
    for (int z = 0; z < METER_ZONES; z++)
        if (stats->zones[z].active)
            s_zone_value(out, "kms_meter_energy_joules_total", meter_zone_info(z)->zone, stats->zones[z].joules);
    kms_promtext_write_family(out, "kms_meter_energy_uj", "gauge",
                              "What the zone's energy_uj file says (wraps at max_energy_range_uj).");
    for (int z = 0; z < METER_ZONES; z++)
        if (stats->zones[z].active)
            s_zone_value(out, "kms_meter_energy_uj", meter_zone_info(z)->zone, (double) stats->zones[z].energy_uj);
    kms_promtext_write_family(
        out, "kms_meter_model_info", "gauge",
        "The model in use per zone, the architecture whose weight it applies (match: exact, nearest, "
        "generic) and its family (linear, or the curve the server serves).");
    for (int z = 0; z < METER_ZONES; z++) {
        const meter_zone_stats_t *s = &stats->zones[z];
        if (!s->active || !s->model[0])
            continue;
        fputs("kms_meter_model_info{zone=", out);
        kms_promtext_write_label(out, meter_zone_info(z)->zone);
        fputs(",model=", out);
        kms_promtext_write_label(out, s->model);
        fputs(",arch=", out);
        kms_promtext_write_label(out, s->arch_used);
        fputs(",match=", out);
        kms_promtext_write_label(out, meter_arch_match_name(s->match));
        fputs(",family=", out);
        kms_promtext_write_label(out, kms_family_name(s->family));
        fputs("} 1\n", out);
    }
    kms_promtext_write_family(out, "kms_meter_model_age_seconds", "gauge",
                              "Seconds since kms-api last served (or confirmed) the zone's model.");
    for (int z = 0; z < METER_ZONES; z++)
        if (stats->zones[z].active && stats->zones[z].model[0])
            s_zone_value(out, "kms_meter_model_age_seconds", meter_zone_info(z)->zone,
                         now - stats->zones[z].model_fetched);
    kms_promtext_write_family(out, "kms_meter_model_updates_total", "counter", "Models adopted: answers that changed.");
    for (int z = 0; z < METER_ZONES; z++)
        if (stats->zones[z].active)
            s_zone_value(out, "kms_meter_model_updates_total", meter_zone_info(z)->zone,
                         (double) stats->zones[z].model_updates);
    kms_promtext_write_family(
        out, "kms_meter_watts_clamped_total", "counter",
        "Intervals whose prediction was negative (counted as 0) or absurd (counted as --max-watts).");
    for (int z = 0; z < METER_ZONES; z++) {
        if (!stats->zones[z].active)
            continue;
        const char *zone = meter_zone_info(z)->zone;
        fputs("kms_meter_watts_clamped_total{zone=", out);
        kms_promtext_write_label(out, zone);
        fprintf(out, ",reason=\"negative\"} %llu\n", (unsigned long long) stats->zones[z].clamped_negative);
        fputs("kms_meter_watts_clamped_total{zone=", out);
        kms_promtext_write_label(out, zone);
        fprintf(out, ",reason=\"absurd\"} %llu\n", (unsigned long long) stats->zones[z].clamped_absurd);
    }
}

static void s_counter(FILE *out, const char *name, const char *help, uint64_t value)
{
    kms_promtext_write_family(out, name, "counter", help);
    fprintf(out, "%s %llu\n", name, (unsigned long long) value);
}

void meter_metrics_render(FILE *out, const meter_stats_t *stats, double now)
{
    kms_promtext_write_family(out, "kms_meter_build_info", "gauge", "kms-meter's version.");
    fputs("kms_meter_build_info{version=\"" KMS_VERSION "\"} 1\n", out);
    kms_promtext_write_family(out, "kms_meter_start_time_seconds", "gauge", "Unix time kms-meter started.");
    fputs("kms_meter_start_time_seconds", out);
    kms_promtext_write_value(out, stats->start_time);
    kms_promtext_write_family(out, "kms_meter_machine_info", "gauge",
                              "This machine: its cpu architecture, and whether hardware counters are in use.");
    fputs("kms_meter_machine_info{arch=", out);
    kms_promtext_write_label(out, stats->arch);
    fprintf(out, ",counters=\"%s\",cpus=\"%g\",share=\"%s\"} 1\n", stats->counters ? "true" : "false", stats->cpus,
            stats->share == METER_SHARE_ACTIVE ? "active" : "fair");
    kms_promtext_write_family(
        out, "kms_meter_utilization", "gauge",
        "The last interval's busy share of this machine's cpus, 0 to 1: what the per-cpu models read.");
    fputs("kms_meter_utilization", out);
    kms_promtext_write_value(out, stats->utilization);
    kms_promtext_write_family(
        out, "kms_meter_prior_info", "gauge",
        "The coefficient prior of this processor (Cloud Carbon Footprint): its micro-architecture, how it "
        "was found, and one vCPU's watts idle and at full load.");
    fputs("kms_meter_prior_info{arch=", out);
    kms_promtext_write_label(out, stats->prior.arch);
    fprintf(out, ",match=\"%s\",min_watts=\"%.17g\",max_watts=\"%.17g\"} 1\n",
            meter_prior_match_name(stats->prior.match), stats->prior.min_watts, stats->prior.max_watts);
    kms_promtext_write_family(
        out, "kms_meter_usage", "gauge",
        "The last interval's features (canonical names: cpu_time in cpu-seconds per second, counters per second).");
    for (size_t i = 0; i < stats->usage.count; i++) {
        fputs("kms_meter_usage{feature=", out);
        kms_promtext_write_label(out, stats->usage.items[i].name);
        fputc('}', out);
        kms_promtext_write_value(out, stats->usage.items[i].value);
    }
    s_render_zones(out, stats, now);
    s_counter(out, "kms_meter_intervals_total", "Intervals metered.", stats->intervals);
    s_counter(out, "kms_meter_stat_errors_total",
              "Intervals whose /proc/stat could not be read or parsed (nothing counted).", stats->stat_errors);
    s_counter(out, "kms_meter_perf_errors_total", "Hardware counter reads that failed.", stats->perf_errors);
    s_counter(out, "kms_meter_usage_clamped_total",
              "Intervals whose /proc/stat claimed more busy time than the cpus have (counted as every cpu busy).",
              stats->usage_clamped);
    s_counter(out, "kms_meter_tree_errors_total", "Powercap files that could not be written.", stats->tree_errors);
    s_counter(out, "kms_meter_cache_errors_total", "Model cache files that could not be written.", stats->cache_errors);
    s_counter(out, "kms_meter_model_requests_total", "Requests sent to kms-api.", stats->fetches);
    kms_promtext_write_family(out, "kms_meter_server_errors_total", "counter",
                              "Requests to kms-api without a usable answer, by kind.");
    static const char *const kinds[] = {"connect", "http", "too_large", "timeout"};
    for (int k = 0; k < 4; k++)
        fprintf(out, "kms_meter_server_errors_total{kind=\"%s\"} %llu\n", kinds[k],
                (unsigned long long) stats->fetch_errors[k]);
    kms_promtext_write_family(out, "kms_meter_models_rejected_total", "counter",
                              "Answers refused, the last good model kept (parse, node_model, features, watts).");
    for (int r = 0; r <= METER_REJECT_WATTS; r++)
        fprintf(out, "kms_meter_models_rejected_total{reason=\"%s\"} %llu\n", meter_reject_name(r),
                (unsigned long long) stats->models_rejected[r]);
    kms_promtext_write_family(out, "kms_meter_server_up", "gauge", "1 when kms-api answered the last request.");
    fprintf(out, "kms_meter_server_up %d\n", stats->server_up ? 1 : 0);
    kms_promtext_write_family(out, "process_cpu_seconds_total", "counter",
                              "User and system cpu time spent, in seconds.");
    fputs("process_cpu_seconds_total", out);
    kms_promtext_write_value(out, stats->cpu_seconds);
    kms_promtext_write_family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    fputs("process_resident_memory_bytes", out);
    kms_promtext_write_value(out, stats->resident_bytes);
}

/* What this process costs: getrusage's times are the scheduler's, to the microsecond. */
static void s_own_cost(meter_stats_t *stats)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        stats->cpu_seconds = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec * 1e-6
                             + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec * 1e-6;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    if (f && fscanf(f, "%lu %lu", &size, &resident) == 2)
        stats->resident_bytes = (double) resident * (double) sysconf(_SC_PAGESIZE);
    if (f)
        fclose(f);
}

/* ---------------------------------------------------------------- serving */

struct meter_metrics_t {
    pthread_mutex_t lock;
    meter_stats_t stats;
    kms_httpd_t *http;
};

static int s_handle(struct mg_connection *conn, void *arg)
{
    meter_metrics_t *self = arg;
    const struct mg_request_info *info = mg_get_request_info(conn);
    if (strcmp(info->local_uri, "/metrics") != 0)
        return kms_httpd_reply(conn, 404, "text/plain", NULL, false, "not found\n", 10);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return kms_httpd_reply(conn, 500, "text/plain", NULL, false, "out of memory\n", 14);
    double now = kms_num_wallclock();
    pthread_mutex_lock(&self->lock);
    s_own_cost(&self->stats);
    meter_metrics_render(out, &self->stats, now);
    pthread_mutex_unlock(&self->lock);
    int status = fclose(out) == 0
                     ? kms_httpd_reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, false, text, len)
                     : kms_httpd_reply(conn, 500, "text/plain", NULL, false, "out of memory\n", 14);
    free(text);
    return status;
}

meter_metrics_t *meter_metrics_serve(const char *address, long port)
{
    meter_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    static const kms_httpd_route_t routes[] = {{"/", s_handle}, {0}};
    if (!(self->http = kms_httpd_start("metrics", address, port, 2, 5000, routes, self)))
        meter_metrics_destroy(&self);
    return self;
}

void meter_metrics_destroy(meter_metrics_t **self_p)
{
    meter_metrics_t *self = *self_p;
    if (!self)
        return;
    kms_httpd_stop(&self->http);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void meter_metrics_publish(meter_metrics_t *self, const meter_stats_t *stats)
{
    pthread_mutex_lock(&self->lock);
    self->stats = *stats;
    pthread_mutex_unlock(&self->lock);
}
