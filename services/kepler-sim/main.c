/*  kepler-sim: a Kepler stand-in whose energy follows a known truth. See sim.h for the truth,
    page.c for how each Kepler version prints it. This file: options, signals, HTTP. */
#include "sim.h"

#include "kms_config.h"
#include "kms_httpd.h"
#include "kms_log.h"
#include "kms_signal.h"
#include "kms_num.h"

#include <civetweb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PROGRAM "kepler-sim"
#define S_DUMP_SECONDS 60.0  /* simulated time before --dump prints its page */

static const char *s_summary =
    "Serves Kepler-format /metrics (as Kepler 0.3, 0.7, 0.9 or 0.10 prints them) for one node\n"
    "whose containers' usage changes every second and whose energy follows a known truth\n"
    "(linear, or curved in cpu time) plus relative noise, so that a model trained on it can\n"
    "be checked.\n"
    "\n"
    "The truth (--truth linear), in watts; rates per second (cycles, instructions, cache\n"
    "misses: events/s; cpu_time: cpu-seconds/s), resident_memory in bytes:\n"
    "  core     = 6   + 6e-10 cpu_cycles + 4e-10 cpu_instructions + 1.2 cpu_time\n"
    "  uncore   = 3.5\n"
    "  dram     = 2.5 + 2.5e-8 cache_misses + 2e-10 resident_memory\n"
    "  other    = 18\n"
    "  package  = core + uncore;  platform = package + dram + other\n"
    "--truth log bends core (and so package and platform) in the node's cpu time, saturating,\n"
    "the rest as above:\n"
    "  core     = 4   + 20 ln(1 + cpu_time / 0.5)\n"
    "Each second the node's power is truth * (1 + e), e ~ N(0, noise) clipped to 3 noise.\n"
    "Counters advance to the time of each scrape, so the energy over any interval is the\n"
    "truth of the counters' increments. --print-truth prints it as JSON; GET /truth too.\n"
    "SIGUSR1 (or --restart-every) simulates an exporter restart: counters go back to 0.\n"
    "SIGUSR2 (or --truth-change-at) changes the truth: every weight and bias times\n"
    "--truth-change (the next SIGUSR2 restores it), from the next second on.";

/* In the order of the enums, so that s_formats[format].name names a format. */
static const kms_opt_name_t s_formats[] = {
    {"0.3", KMS_SIM_FORMAT_03}, {"0.7", KMS_SIM_FORMAT_07}, {"0.9", KMS_SIM_FORMAT_09}, {"0.10", KMS_SIM_FORMAT_010},
    {NULL}};
static const kms_opt_name_t s_truths[] = {
    {"linear", KMS_SIM_TRUTH_LINEAR}, {"log", KMS_SIM_TRUTH_LOG}, {"cpu", KMS_SIM_TRUTH_CPU}, {NULL}};

static const char *s_listen, *s_node, *s_arch;
static int s_format, s_truth;
static long s_port, s_containers, s_seed, s_cpus;
static double s_noise, s_restart_every, s_rapl_max, s_churn, s_truth_change, s_truth_change_at, s_step;
static bool s_print_truth, s_dump;

static kms_option_t s_options[] = {
    {"port", "KMS_SIM_PORT", KMS_OPT_PORT, "9102", "HTTP port of /metrics (0: any free one, logged as listening port=)",
     &s_port, 0, 0},
    {"listen", "KMS_SIM_LISTEN", KMS_OPT_STRING, "0.0.0.0", "address to listen on", &s_listen, 0, 0},
    {"format", "KMS_SIM_FORMAT", KMS_OPT_ENUM, "0.7",
     "Kepler version to imitate: 0.3, 0.7 (0.7.1), 0.9 (0.7.3+ naming) or 0.10",
     &(kms_opt_text_t){&s_format, s_formats, NULL}, 0, 0},
    {"truth", "KMS_SIM_TRUTH", KMS_OPT_ENUM, "linear",
     "the truth the energy follows: linear, log (core saturates in cpu time) or cpu (linear in cpu time alone)",
     &(kms_opt_text_t){&s_truth, s_truths, NULL}, 0, 0},
    {"cpus", "KMS_SIM_CPUS", KMS_OPT_INT, "32",
     "the node's logical cpus (0.10: kepler_node_cpu_info series); usage scales with them", &s_cpus, 1,
     KMS_SIM_MAX_CPUS},
    {"containers", "KMS_SIM_CONTAINERS", KMS_OPT_INT, "20", "containers on the node (besides its own processes)",
     &s_containers, 1, 5000},
    {"seed", "KMS_SIM_SEED", KMS_OPT_INT, "1", "random seed: one seed, one node and one usage history",
     &s_seed, 0, 9.2e18},
    {"noise", "KMS_SIM_NOISE", KMS_OPT_DOUBLE, "0.02",
     "relative noise on the node's power (standard deviation per second)", &s_noise, 0, 0.3},
    {"node-name", "KMS_SIM_NODE_NAME", KMS_OPT_STRING, "kepler-sim-node",
     "the node's name (Kepler's instance / node_name label)", &s_node, 0, 0},
    {"arch", "KMS_SIM_ARCH", KMS_OPT_STRING, "Sapphire Rapids",
     "cpu architecture (kepler_node_info's cpu_architecture; 0.10: model_name)", &s_arch, 0, 0},
    {"restart-every", "KMS_SIM_RESTART_EVERY", KMS_OPT_DOUBLE, "0",
     "simulate an exporter restart every this many seconds (0: never)", &s_restart_every, 0, 1e9},
    {"rapl-max", "KMS_SIM_RAPL_MAX", KMS_OPT_DOUBLE, "262143.32885",
     "joules at which the RAPL counter of format 0.10 wraps", &s_rapl_max, 0.001, 1e12},
    {"churn", "KMS_SIM_CHURN", KMS_OPT_DOUBLE, "0",
     "mean container lifetime in seconds: containers end and new ones start (0: never)",
     &s_churn, 0, 1e9},
    {"truth-change", "KMS_SIM_TRUTH_CHANGE", KMS_OPT_DOUBLE, "1.5",
     "factor on every weight and bias of the truth when it changes", &s_truth_change, 0.01, 100},
    {"truth-change-at", "KMS_SIM_TRUTH_CHANGE_AT", KMS_OPT_DOUBLE, "0",
     "change the truth once, this many seconds after the start (0: only on SIGUSR2)",
     &s_truth_change_at, 0, 1e9},
    {"step", "KMS_SIM_STEP", KMS_OPT_DOUBLE, "0",
     "each /metrics page advances the simulation by this many seconds, whatever the time that passed "
     "(0: the time that passed); a test drives the simulation with it",
     &s_step, 0, 1e6},
    {"print-truth", NULL, KMS_OPT_BOOL, "false", "print the truth as JSON and exit", &s_print_truth, 0, 0},
    {"dump", NULL, KMS_OPT_BOOL, "false", "print one page (after 60 simulated seconds) and exit",
     &s_dump, 0, 0},
    {0},
};

/* SIGUSR1 and SIGUSR2 are kepler-sim's own: an exporter restart, a truth change. */
static volatile sig_atomic_t s_restart, s_change;

static void s_on_signal(int sig)
{
    if (sig == SIGUSR1)
        s_restart = 1;
    else
        s_change = 1;
}

typedef struct {
    pthread_mutex_t lock;
    kms_sim_t *sim;
    kms_sim_format_t format;
    double stepped;  /* with --step: the simulation's time, moved by the pages */
} s_server_t;

/* A page reflects the state at the moment of the request, or --step seconds after the last. */
static int s_render_now(s_server_t *server, char **buf, size_t *len)
{
    size_t cap = 0;
    *buf = NULL;
    *len = 0;
    pthread_mutex_lock(&server->lock);
    kms_sim_advance(server->sim, s_step > 0 ? (server->stepped += s_step) : kms_num_monotonic());
    int rc = kms_sim_render(server->sim, server->format, buf, len, &cap);
    pthread_mutex_unlock(&server->lock);
    return rc;
}

static int s_reply(struct mg_connection *conn, const char *type, const char *body, size_t len)
{
    return kms_httpd_reply(conn, 200, type, NULL, false, body, len);
}

static int s_error(struct mg_connection *conn, int status, const char *headers, const char *text)
{
    return kms_httpd_reply(conn, status, "text/plain", headers, false, text, strlen(text));
}

static bool s_method_ok(struct mg_connection *conn)
{
    const char *method = mg_get_request_info(conn)->request_method;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return true;
    s_error(conn, 405, "Allow: GET, HEAD\r\n", "method not allowed\n");
    return false;
}

static int s_on_metrics(struct mg_connection *conn, void *data)
{
    if (!s_method_ok(conn))
        return 405;
    char *page;
    size_t len;
    if (s_render_now(data, &page, &len) != 0) {
        free(page);
        kms_error("render failed", "why=\"out of memory\"");
        return s_error(conn, 500, NULL, "out of memory\n");
    }
    int status = s_reply(conn, "text/plain; version=0.0.4; charset=utf-8", page, len);
    free(page);
    return status;
}

static int s_on_truth(struct mg_connection *conn, void *data)
{
    if (!s_method_ok(conn))
        return 405;
    s_server_t *server = data;
    pthread_mutex_lock(&server->lock);
    char *json = kms_sim_truth_json(server->sim);
    pthread_mutex_unlock(&server->lock);
    if (!json) {
        return s_error(conn, 500, NULL, "out of memory\n");
    }
    int status = s_reply(conn, "application/json", json, strlen(json));
    free(json);
    return status;
}

/* Kepler answers / with a small page that links to /metrics. */
static int s_on_root(struct mg_connection *conn, void *data)
{
    (void) data;
    if (strcmp(mg_get_request_info(conn)->local_uri, "/") != 0) {
        return s_error(conn, 404, NULL, "not found\n");
    }
    if (!s_method_ok(conn))
        return 405;
    static const char page[] =
        "<html>\n<head><title>Energy Stats Exporter</title></head>\n<body>\n"
        "<h1>Energy Stats Exporter (kepler-sim)</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n"
        "<p><a href=\"/truth\">Truth</a></p>\n</body>\n</html>\n";
    return s_reply(conn, "text/html; charset=utf-8", page, sizeof page - 1);
}

static int s_serve(s_server_t *server)
{
    static const kms_httpd_route_t routes[] = {
        {"/metrics", s_on_metrics}, {"/truth", s_on_truth}, {"/", s_on_root}, {0}};
    kms_httpd_t *http = kms_httpd_start("metrics", s_listen, s_port, 4, 10000, routes, server);
    if (!http)
        return 1;
    kms_info("serving", "format=%s truth=%s containers=%ld seed=%ld noise=%g", s_formats[s_format].name,
             s_truths[s_truth].name, s_containers, s_seed, s_noise);

    double started = kms_num_monotonic(), last_restart = started;
    bool changed_on_schedule = false;
    while (!kms_signal_stop) {
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        double now = kms_num_monotonic();
        bool scheduled = s_restart_every > 0 && now - last_restart >= s_restart_every;
        if (s_restart || scheduled) {
            s_restart = 0;
            last_restart = now;
            pthread_mutex_lock(&server->lock);
            kms_sim_advance(server->sim, now);
            kms_sim_restart(server->sim);
            pthread_mutex_unlock(&server->lock);
            kms_info("exporter restart simulated", "reason=%s", scheduled ? "schedule" : "SIGUSR1");
        }
        bool change_due = s_truth_change_at > 0 && !changed_on_schedule && now - started >= s_truth_change_at;
        if (s_change || change_due) {
            s_change = 0;
            changed_on_schedule |= change_due;
            pthread_mutex_lock(&server->lock);
            kms_sim_advance(server->sim, now);
            double factor = server->sim->truth_factor == 1 ? s_truth_change : 1;
            kms_sim_change_truth(server->sim, factor);
            pthread_mutex_unlock(&server->lock);
            kms_info("truth changed", "reason=%s factor=%g", change_due ? "schedule" : "SIGUSR2", factor);
        }
    }
    kms_info("stopping", NULL);
    kms_httpd_stop(&http);
    return 0;
}

int main(int argc, char **argv)
{
    const kms_config_t config = {S_PROGRAM, s_summary, NULL, s_options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    kms_sim_format_t format = (kms_sim_format_t) s_format;
    kms_sim_options_t options = {(size_t) s_containers, (uint64_t) s_seed, s_noise, s_rapl_max,
                                 s_churn, s_node, s_arch, (kms_sim_truth_kind_t) s_truth, (size_t) s_cpus};
    bool offline = s_print_truth || s_dump;
    s_server_t server = {.format = format};
    server.stepped = offline ? 0.0 : kms_num_monotonic();
    server.sim = kms_sim_new(&options, server.stepped);
    if (!server.sim) {
        kms_error("out of memory", NULL);
        return 1;
    }
    int status = 0;
    if (s_print_truth) {
        char *json = kms_sim_truth_json(server.sim);
        status = json && printf("%s\n", json) > 0 ? 0 : 1;
        free(json);
    } else if (s_dump) {
        char *page = NULL;
        size_t len = 0, cap = 0;
        kms_sim_advance(server.sim, S_DUMP_SECONDS);
        status = kms_sim_render(server.sim, format, &page, &len, &cap) == 0
                         && fwrite(page, 1, len, stdout) == len ? 0 : 1;
        free(page);
    } else {
        kms_signal_init(false);
        kms_signal_handle(SIGUSR1, s_on_signal);
        kms_signal_handle(SIGUSR2, s_on_signal);
        pthread_mutex_init(&server.lock, NULL);
        status = s_serve(&server);
        pthread_mutex_destroy(&server.lock);
    }
    kms_sim_destroy(&server.sim);
    return status;
}
