/*  kepler-sim: a Kepler stand-in whose energy follows a known truth. See sim.h for the truth,
    page.c for how each Kepler version prints it. This file: options, signals, HTTP. */
#include "sim.h"

#include "kms_config.h"
#include "kms_httpd.h"
#include "kms_log.h"
#include "kms_signal.h"
#include "kms_num.h"

#include <civetweb.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PROGRAM "kepler-sim"
#define S_DUMP_SECONDS 60.0 /* simulated time before --dump prints its page */
#define S_MACHINE_TYPES 4   /* a fleet's nodes come in this many sizes of truth */
#define S_MACHINE_STEP 0.25 /* each type's truth is the first's times 1 + this * type */

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
    "--truth-change (the next SIGUSR2 restores it), from the next second on.\n"
    "\n"
    "--nodes N serves a fleet: node i (0..N-1) at /node/<i>/metrics and /node/<i>/truth, named\n"
    "<node-name>-<i>, seeded seed + i, on machine type i mod 4 (its whole truth times\n"
    "1 + 0.25 (i mod 4)); /metrics and /truth are node 0's. A node moves only when its page\n"
    "is asked for; signals and schedules act on every node.";

/* In the order of the enums, so that s_formats[format].name names a format. */
static const kms_opt_name_t s_formats[] = {
    {"0.3", SIM_FORMAT_03}, {"0.7", SIM_FORMAT_07}, {"0.9", SIM_FORMAT_09}, {"0.10", SIM_FORMAT_010}, {NULL}};
static const kms_opt_name_t s_truths[] = {
    {"linear", SIM_TRUTH_LINEAR}, {"log", SIM_TRUTH_LOG}, {"cpu", SIM_TRUTH_CPU}, {NULL}};

static const char *s_listen, *s_node, *s_arch;
static int s_format, s_truth;
static long s_port, s_containers, s_seed, s_cpus, s_nodes;
static double s_noise, s_restart_every, s_rapl_max, s_churn, s_truth_change, s_truth_change_at, s_step;
static bool s_print_truth, s_dump;

/* clang-format off */
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
     SIM_MAX_CPUS},
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
    {"nodes", "KMS_SIM_NODES", KMS_OPT_INT, "1",
     "simulated nodes, each at /node/<i>/metrics (1: one node, named --node-name)", &s_nodes, 1, 100000},
    {"print-truth", NULL, KMS_OPT_BOOL, "false", "print the truth as JSON and exit", &s_print_truth, 0, 0},
    {"dump", NULL, KMS_OPT_BOOL, "false", "print one page (after 60 simulated seconds) and exit",
     &s_dump, 0, 0},
    {0},
};
/* clang-format on */

/* SIGUSR1 and SIGUSR2 are kepler-sim's own: an exporter restart, a truth change. */
static volatile sig_atomic_t s_restart, s_change;

static void s_on_signal(int sig)
{
    if (sig == SIGUSR1)
        s_restart = 1;
    else
        s_change = 1;
}

/* One simulated node. Each has its own lock, so that scrapes of different nodes run at once,
   and moves only when its page is asked for: a fleet of 1,000 costs nothing until scraped. */
typedef struct {
    pthread_mutex_t lock;
    sim_t *sim;
    double stepped; /* with --step: the simulation's time, moved by the pages */
    double machine; /* the node's own truth factor (its machine type); SIGUSR2 scales from it */
    char name[128];
} s_node_t;

typedef struct {
    size_t count;
    s_node_t *nodes;
} s_server_t;

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

/* A node's /metrics or its /truth. A page reflects the state at the moment of the request, or
   --step seconds after the last. */
static int s_page(struct mg_connection *conn, s_node_t *node, bool truth)
{
    if (!s_method_ok(conn))
        return 405;
    char *body = NULL;
    size_t len = 0;
    pthread_mutex_lock(&node->lock);
    if (truth) {
        body = sim_truth_json(node->sim);
        len = body ? strlen(body) : 0;
    } else {
        sim_advance(node->sim, s_step > 0 ? (node->stepped += s_step) : kms_num_monotonic());
        if (sim_render(node->sim, (sim_format_t) s_format, &body, &len) != 0)
            kms_error("render failed", "why=\"out of memory\" node=%s", node->name);
    }
    pthread_mutex_unlock(&node->lock);
    if (!body)
        return s_error(conn, 500, NULL, "out of memory\n");
    const char *type = truth ? "application/json" : "text/plain; version=0.0.4; charset=utf-8";
    int status = kms_httpd_reply(conn, 200, type, NULL, false, body, len);
    free(body);
    return status;
}

static int s_on_metrics(struct mg_connection *conn, void *data)
{
    return s_page(conn, &((s_server_t *) data)->nodes[0], false);
}

static int s_on_truth(struct mg_connection *conn, void *data)
{
    return s_page(conn, &((s_server_t *) data)->nodes[0], true);
}

/* /node/<i>/metrics and /node/<i>/truth, i a plain decimal below --nodes; anything else 404. */
static int s_on_node(struct mg_connection *conn, void *data)
{
    s_server_t *server = data;
    static const char prefix[] = "/node/";
    const char *uri = mg_get_request_info(conn)->local_uri;
    if (strncmp(uri, prefix, sizeof prefix - 1) != 0 || uri[sizeof prefix - 1] < '0' || uri[sizeof prefix - 1] > '9')
        return s_error(conn, 404, NULL, "not found\n");
    char *end;
    errno = 0;
    unsigned long i = strtoul(uri + sizeof prefix - 1, &end, 10);
    if (errno != 0 || i >= server->count)
        return s_error(conn, 404, NULL, "not found\n");
    bool truth = strcmp(end, "/truth") == 0;
    if (truth || strcmp(end, "/metrics") == 0)
        return s_page(conn, &server->nodes[i], truth);
    return s_error(conn, 404, NULL, "not found\n");
}

/* Kepler answers / with a small page that links to /metrics. */
static int s_on_root(struct mg_connection *conn, void *data)
{
    (void) data;
    if (strcmp(mg_get_request_info(conn)->local_uri, "/") != 0)
        return s_error(conn, 404, NULL, "not found\n");
    if (!s_method_ok(conn))
        return 405;
    static const char page[] = "<html>\n<head><title>Energy Stats Exporter</title></head>\n<body>\n"
                               "<h1>Energy Stats Exporter (kepler-sim)</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n"
                               "<p><a href=\"/truth\">Truth</a></p>\n</body>\n</html>\n";
    return kms_httpd_reply(conn, 200, "text/html; charset=utf-8", NULL, false, page, sizeof page - 1);
}

/* SIGUSR1 / --restart-every (`restart`) and SIGUSR2 / --truth-change-at reach every node at the
   same moment. A truth change toggles each node between its machine's truth and that times
   --truth-change. */
static void s_all_nodes(s_server_t *server, double now, bool restart)
{
    for (size_t i = 0; i < server->count; i++) {
        s_node_t *node = &server->nodes[i];
        pthread_mutex_lock(&node->lock);
        sim_advance(node->sim, now);
        if (restart)
            sim_restart(node->sim);
        else
            sim_change_truth(node->sim,
                             node->sim->truth_factor == node->machine ? node->machine * s_truth_change : node->machine);
        pthread_mutex_unlock(&node->lock);
    }
}

static int s_serve(s_server_t *server)
{
    static const kms_httpd_route_t routes[] = {
        {"/metrics", s_on_metrics}, {"/truth", s_on_truth}, {"/node", s_on_node}, {"/", s_on_root}, {0}};
    kms_httpd_t *http = kms_httpd_start("metrics", s_listen, s_port, 4, 10000, routes, server);
    if (!http)
        return 1;
    kms_info("serving", "format=%s truth=%s nodes=%zu containers=%ld seed=%ld noise=%g", s_formats[s_format].name,
             s_truths[s_truth].name, server->count, s_containers, s_seed, s_noise);

    double started = kms_num_monotonic(), last_restart = started;
    bool changed_on_schedule = false;
    while (!kms_signal_stop) {
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        double now = kms_num_monotonic();
        bool scheduled = s_restart_every > 0 && now - last_restart >= s_restart_every;
        if (s_restart || scheduled) {
            s_restart = 0;
            last_restart = now;
            s_all_nodes(server, now, true);
            kms_info("exporter restart simulated", "reason=%s", scheduled ? "schedule" : "SIGUSR1");
        }
        bool change_due = s_truth_change_at > 0 && !changed_on_schedule && now - started >= s_truth_change_at;
        if (s_change || change_due) {
            s_change = 0;
            changed_on_schedule |= change_due;
            s_all_nodes(server, now, false);
            kms_info("truth changed", "reason=%s factor=%g", change_due ? "schedule" : "SIGUSR2",
                     server->nodes[0].sim->truth_factor);
        }
    }
    kms_info("stopping", NULL);
    kms_httpd_stop(&http);
    return 0;
}

/* Node i of a fleet: its own name, seed and machine type; a single node is the one the
   options describe. */
static int s_node_init(s_node_t *node, size_t i, size_t count, double now)
{
    if (count == 1)
        snprintf(node->name, sizeof node->name, "%s", s_node);
    else
        snprintf(node->name, sizeof node->name, "%s-%zu", s_node, i);
    sim_options_t options = {
        (size_t) s_containers,      (uint64_t) s_seed + i, s_noise, s_rapl_max, s_churn, node->name, s_arch,
        (sim_truth_kind_t) s_truth, (size_t) s_cpus};
    node->stepped = now;
    node->machine = 1 + S_MACHINE_STEP * (double) (i % S_MACHINE_TYPES);
    node->sim = sim_new(&options, now);
    if (!node->sim)
        return -1;
    if (node->machine != 1) {
        sim_change_truth(node->sim, node->machine);
        node->sim->truth_changes = 0; /* the machine it is, not a change of regime */
    }
    pthread_mutex_init(&node->lock, NULL);
    return 0;
}

static void s_nodes_destroy(s_server_t *server)
{
    for (size_t i = 0; server->nodes && i < server->count; i++) {
        if (server->nodes[i].sim)
            pthread_mutex_destroy(&server->nodes[i].lock);
        sim_destroy(&server->nodes[i].sim);
    }
    free(server->nodes);
    server->nodes = NULL;
}

int main(int argc, char **argv)
{
    const kms_config_t config = {S_PROGRAM, s_summary, NULL, s_options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    bool offline = s_print_truth || s_dump;
    s_server_t server = {.count = offline ? 1 : (size_t) s_nodes};
    double now = offline ? 0.0 : kms_num_monotonic();
    server.nodes = calloc(server.count, sizeof *server.nodes);
    for (size_t i = 0; server.nodes && i < server.count; i++)
        if (s_node_init(&server.nodes[i], i, server.count, now) != 0)
            break;
    if (!server.nodes || !server.nodes[server.count - 1].sim) {
        kms_error("out of memory", "nodes=%zu", server.count);
        s_nodes_destroy(&server);
        return 1;
    }
    sim_t *first = server.nodes[0].sim;
    int status = 0;
    if (s_print_truth) {
        char *json = sim_truth_json(first);
        status = json && printf("%s\n", json) > 0 ? 0 : 1;
        free(json);
    } else if (s_dump) {
        char *page;
        size_t len;
        sim_advance(first, S_DUMP_SECONDS);
        status = sim_render(first, (sim_format_t) s_format, &page, &len) != 0 || fwrite(page, 1, len, stdout) != len;
        free(page);
    } else {
        kms_signal_init(false);
        kms_signal_handle(SIGUSR1, s_on_signal);
        kms_signal_handle(SIGUSR2, s_on_signal);
        status = s_serve(&server);
    }
    s_nodes_destroy(&server);
    return status;
}
