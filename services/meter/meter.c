/*  The loop: every interval, usage in, watts out, energy into the tree; every refresh, the
    models from kms-api (the cached ones while it is away). */
#include "meter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kms_config.h"
#include "kms_file.h"
#include "kms_log.h"
#include "kms_num.h"
#include "meter_energy.h"
#include "meter_fetch.h"
#include "meter_metrics.h"
#include "meter_model.h"
#include "meter_perf.h"
#include "meter_prior.h"
#include "meter_tree.h"
#include "meter_usage.h"

typedef struct {
    const meter_config_t *config;
    meter_stats_t stats;
    bool wanted[METER_ZONES];
    meter_model_t models[METER_ZONES];
    char *bodies[METER_ZONES]; /* the answer each model came from: an equal one changes nothing */
    size_t body_lens[METER_ZONES];
    meter_counter_t counters[METER_ZONES];
    double busy_carry;   /* busy cpu-seconds beyond an interval's capacity, for the next */
    double ticks_time;   /* CLOCK_MONOTONIC seconds of the last good /proc/stat reading */
    double written_time; /* ... and of the last write of the tree's counters */
    double ticks_per_second;
    meter_model_t prior_model; /* stats.prior as a package model */
    bool has_prior;            /* false when the prior is absurd for this machine (--max-watts) */
    char stat_path[PATH_MAX];
    bool asked; /* the server was asked once: its state is known */
    meter_cpu_ticks_t ticks;
    double counts[3]; /* hardware counters at the last interval */
    meter_perf_t *perf;
    meter_fetch_t *fetch;
    meter_metrics_t *metrics;
    meter_tree_t *tree; /* --out */
    int cache;          /* the model cache's folder; -1 when it cannot be opened */
} s_meter_t;

typedef struct {
    bool *wanted;
    char bad[64]; /* the first name that is not a zone */
} s_zones_t;

/* One --zones name into wanted[] (a kms_config_split item). */
static int s_zone_add(const char *name, int index, void *arg)
{
    s_zones_t *zones = arg;
    (void) index;
    int z = meter_zone_find(name);
    if (z < 0) {
        snprintf(zones->bad, sizeof zones->bad, "%s", name);
        return -1;
    }
    zones->wanted[z] = true;
    return 0;
}

/* Up to `cap` bytes of a procfs file (which has no size to ask for). Never through a symlink,
   never blocking, only a regular file: a FIFO put at --procfs/stat blocked the meter and
   swallowed its first SIGTERM. The bytes read, or -1. */
static ssize_t s_read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    ssize_t len = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -1;
    for (ssize_t n; len >= 0 && (size_t) len < cap && (n = read(fd, buf + len, cap - (size_t) len)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        len = n < 0 ? -1 : len + n;
    }
    if (fd >= 0)
        close(fd);
    return len;
}

/* The cpu as Kepler 0.10+ names it (kepler_node_cpu_info's model_name, /proc/cpuinfo's
   "model name"): the architecture key the trainer learned from such nodes. */
static void s_detect_arch(const char *proc, char *out, size_t cap)
{
    char path[PATH_MAX], text[16384];
    snprintf(path, sizeof path, "%s/cpuinfo", proc);
    snprintf(out, cap, "%s", KMS_ARCH_UNKNOWN);
    /* The first cpu's block holds the name. */
    ssize_t n = s_read_proc(path, text, sizeof text - 1);
    if (n <= 0)
        return;
    text[n] = '\0';
    char *line = strstr(text, "\nmodel name");
    char *colon = line ? strchr(line + 1, ':') : NULL;
    char *eol = colon ? strchr(colon, '\n') : NULL;
    if (!colon || !eol)
        return;
    colon++;
    while (*colon == ' ' || *colon == '\t')
        colon++;
    while (eol > colon && (eol[-1] == ' ' || eol[-1] == '\t'))
        eol--;
    if (eol > colon)
        snprintf(out, cap, "%.*s", (int) (eol - colon), colon);
}

static int s_read_ticks(s_meter_t *m, meter_cpu_ticks_t *out)
{
    /* The aggregate line comes first: the first 4 kB hold it whatever the cpu count. Opened
       afresh each time (a few microseconds), so that a --procfs whose stat file is replaced
       is read anew. */
    char buf[4096];
    ssize_t n = s_read_proc(m->stat_path, buf, sizeof buf);
    return n > 0 && meter_usage_parse_stat(buf, (size_t) n, out) == 0 ? 0 : -1;
}

/* At start, /proc/stat read whole once (a line per cpu: 4096 cpus are ~300 kB): the first ticks
   into m->ticks, and the logical cpus it lists into m->stats.cpus. -1 when it cannot be read or parsed. */
static int s_read_stat_at_start(s_meter_t *m)
{
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    ssize_t len = text ? s_read_proc(m->stat_path, text, cap) : -1;
    int rc = len > 0 && meter_usage_parse_stat(text, (size_t) len, &m->ticks) == 0 ? 0 : -1;
    m->stats.cpus = rc == 0 ? (double) meter_usage_count_cpus(text, (size_t) len) : 0;
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- models */

/* The zone's model from now on, and the answer it came from (taken over; NULL for the prior). */
static void s_install(s_meter_t *m, meter_zone_t z, const char *model_name, const meter_model_t *model, char *body,
                      size_t len, double fetched)
{
    meter_zone_stats_t *s = &m->stats.zones[z];
    m->models[z] = *model;
    free(m->bodies[z]);
    m->bodies[z] = body;
    m->body_lens[z] = len;
    snprintf(s->model, sizeof s->model, "%s", model_name);
    snprintf(s->arch_used, sizeof s->arch_used, "%s", model->arch_used);
    s->match = model->match;
    s->family = model->curve ? model->fit.kind : KMS_FAMILY_LINEAR;
    s->model_fetched = fetched;
    s->model_updates++;
}

/* Takes `body` over; one from the server is cached as "<model>.json". */
static void s_adopt(s_meter_t *m, meter_zone_t z, const char *model_name, const meter_model_t *model, char *body,
                    size_t len, double fetched, bool from_cache)
{
    meter_zone_stats_t *s = &m->stats.zones[z];
    bool changed_model = strcmp(s->model, model_name) != 0;
    s_install(m, z, model_name, model, body, len, fetched);
    char arch[160];
    if (changed_model || from_cache)
        kms_log_at(model->match == METER_ARCH_EXACT ? KMS_LOG_INFO : KMS_LOG_WARN, "model in use",
                   "zone=%s model=%s source=%s arch_match=%s arch_used=%s family=%s", meter_zone_info(z)->zone,
                   model_name, from_cache ? "cache" : "server", meter_arch_match_name(model->match),
                   kms_log_quote(model->arch_used[0] ? model->arch_used : "mean of all", arch, sizeof arch),
                   kms_family_name(s->family));
    else
        kms_debug("model updated", "zone=%s model=%s", meter_zone_info(z)->zone, model_name);
    if (from_cache)
        return;
    char name[KMS_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s.json", model_name);
    if (m->cache < 0 || kms_file_replace_at(m->cache, name, body, len, false) != 0) {
        m->stats.cache_errors++;
        char why[256];
        kms_warn("cannot cache the model", "file=%s why=%s", name,
                 kms_log_quote(strerror(m->cache < 0 ? EBADF : errno), why, sizeof why));
    }
}

/* The package zone counts with the coefficient prior until a model knows this processor (a
   model that knows only others, `generic`, is the average of other machines: the prior of
   this one's micro-architecture is the better guess). */
static bool s_prior_wins(const s_meter_t *m, meter_zone_t z, const meter_model_t *model)
{
    return z == METER_PACKAGE && model->match == METER_ARCH_GENERIC && m->stats.prior.match == METER_PRIOR_EXACT;
}

/* The package zone counts with the prior when it has no model yet, or one that knows only
   other processors while the prior knows this one. */
static void s_use_prior(s_meter_t *m)
{
    const meter_zone_stats_t *s = &m->stats.zones[METER_PACKAGE];
    if (!m->has_prior || !m->wanted[METER_PACKAGE] || s->match == METER_ARCH_PRIOR
        || (s->model[0] && !s_prior_wins(m, METER_PACKAGE, &m->models[METER_PACKAGE])))
        return;
    s_install(m, METER_PACKAGE, "prior", &m->prior_model, NULL, 0, kms_num_wallclock());
    char arch[96];
    kms_log_at(m->stats.prior.match == METER_PRIOR_EXACT ? KMS_LOG_INFO : KMS_LOG_WARN, "model in use",
               "zone=package model=prior source=prior arch_match=%s arch_used=%s min_watts_per_cpu=%.17g "
               "max_watts_per_cpu=%.17g",
               meter_prior_match_name(m->stats.prior.match), kms_log_quote(m->stats.prior.arch, arch, sizeof arch),
               m->stats.prior.min_watts, m->stats.prior.max_watts);
}

static void s_load_cache(s_meter_t *m)
{
    for (int z = 0; z < METER_ZONES; z++) {
        if (!m->wanted[z])
            continue;
        const char *name = meter_zone_info(z)->model;
        char file[KMS_NAME_MAX + 8];
        snprintf(file, sizeof file, "%s.json", name);
        size_t len;
        char *body = m->cache >= 0 ? kms_file_read_at(m->cache, file, true, 1 << 20, &len) : NULL;
        struct stat st;
        meter_model_t model;
        meter_reject_t why = METER_REJECT_PARSE; /* also for a file gone between its read and stat */
        bool usable = body && fstatat(m->cache, file, &st, AT_SYMLINK_NOFOLLOW) == 0
                      && meter_model_parse(body, len, m->stats.arch, m->stats.cpus, m->config->max_watts, &model, &why)
                             == 0;
        if (body && !usable)
            kms_warn("cached model not usable", "file=%s why=%s", file, meter_reject_name(why));
        if (usable && !s_prior_wins(m, z, &model))
            s_adopt(m, z, name, &model, body, len, (double) st.st_mtim.tv_sec, true);
        else
            free(body);
    }
}

/* The zone's answer from kms-api (meter_fetch.h); its body is taken over when adopted. */
static void s_take_answer(s_meter_t *m, meter_zone_t z, meter_fetch_result_t *r, double now)
{
    meter_zone_stats_t *s = &m->stats.zones[z];
    const char *name = meter_zone_info(z)->model;
    char quoted[300];
    if (r->got == METER_GOT_ERROR) {
        m->stats.fetch_errors[r->error]++;
        if (m->stats.server_up || !m->asked)
            kms_warn("kms-api not answering: metering on with the models in hand", "url=%s why=%s", m->config->api,
                     kms_log_quote(r->why, quoted, sizeof quoted));
        m->stats.server_up = false;
        m->asked = true;
        return;
    }
    if (!m->stats.server_up)
        kms_info("kms-api answers", "url=%s", m->config->api);
    m->stats.server_up = true;
    m->asked = true;
    if (r->got == METER_GOT_NONE) {
        kms_debug("model not available", "model=%s why=%s", name, kms_log_quote(r->why, quoted, sizeof quoted));
        return;
    }
    if (strcmp(s->model, name) == 0 && r->len == m->body_lens[z] && memcmp(r->body, m->bodies[z], r->len) == 0) {
        s->model_fetched = now; /* the same answer: confirmed */
        return;
    }
    meter_model_t model;
    meter_reject_t reject;
    if (meter_model_parse(r->body, r->len, m->stats.arch, m->stats.cpus, m->config->max_watts, &model, &reject) != 0) {
        m->stats.models_rejected[reject]++;
        kms_warn("model refused", "model=%s why=%s kept=%s", name, meter_reject_name(reject),
                 s->model[0] ? s->model : "none");
        return;
    }
    if (s_prior_wins(m, z, &model)) {
        kms_debug("model knows other processors only: the prior stays", "model=%s", name);
        return;
    }
    s_adopt(m, z, name, &model, r->body, r->len, now, false);
    r->body = NULL;
}

/* Asks for every wanted zone's model, on the fetcher's thread; false while a batch is under way. */
static bool s_ask(s_meter_t *m)
{
    const char *models[METER_ZONES];
    size_t count = 0;
    for (int z = 0; z < METER_ZONES; z++)
        if (m->wanted[z])
            models[count++] = meter_zone_info(z)->model;
    if (!meter_fetch_begin(m->fetch, models, count))
        return false;
    m->stats.fetches += count;
    return true;
}

/* The answers of the last batch, once it is over: true when there were. */
static bool s_collect(s_meter_t *m)
{
    meter_fetch_result_t results[METER_ZONES];
    if (!meter_fetch_collect(m->fetch, results))
        return false;
    double now = kms_num_wallclock();
    size_t i = 0;
    for (int z = 0; z < METER_ZONES; z++)
        if (m->wanted[z])
            s_take_answer(m, z, &results[i++], now);
    for (size_t j = 0; j < i; j++)
        free(results[j].body);
    return true;
}

/* ---------------------------------------------------------------- metering */

/* A zone enters the tree with its first model and stays: Kepler lists the zones once. */
static void s_enter_tree(s_meter_t *m)
{
    for (int z = 0; z < METER_ZONES; z++) {
        meter_zone_stats_t *s = &m->stats.zones[z];
        if (s->active || !s->model[0])
            continue;
        uint64_t previous = 0;
        uint64_t max_uj = (uint64_t) m->config->max_energy_uj;
        if (meter_tree_zone_init(m->tree, z, max_uj, &previous) != 0) {
            m->stats.tree_errors++;
            char why[256];
            kms_error("cannot write the zone", "zone=%s root=%s why=%s", meter_zone_info(z)->zone, m->config->out,
                      kms_log_quote(strerror(errno), why, sizeof why));
            continue;
        }
        meter_counter_init(&m->counters[z], previous, max_uj);
        s->active = true;
        s->energy_uj = m->counters[z].energy_uj;
        kms_info("zone in the tree", "zone=%s dir=%s energy_uj=%llu max_energy_range_uj=%llu", meter_zone_info(z)->zone,
                 meter_zone_info(z)->dir, (unsigned long long) s->energy_uj, (unsigned long long) max_uj);
    }
}

typedef enum {
    S_USAGE_KNOWN,   /* this interval's usage, and a gap's before it */
    S_USAGE_PENDING, /* not read now: guessed, replaced by the next good reading */
    S_USAGE_LOST     /* the counters went back: the usage since the last good reading is lost */
} s_usage_t;

/* This interval's features into m->usage, and the seconds they cover into *span: since the last
   good reading of /proc/stat, so that an interval whose reading failed is counted with the next
   good one, at the usage the two readings show. */
static s_usage_t s_usage(s_meter_t *m, double now, double *span)
{
    meter_cpu_ticks_t ticks;
    double cpu_time;
    *span = now - m->ticks_time;
    if (s_read_ticks(m, &ticks) != 0
        || meter_usage_cpu_time(&m->ticks, &ticks, m->ticks_per_second, *span, &cpu_time) != 0) {
        m->stats.stat_errors++;
        if (kms_log_decade(m->stats.stat_errors))
            kms_warn("cannot read cpu time: the last usage guessed until the next good reading", "errors=%llu",
                     (unsigned long long) m->stats.stat_errors);
        if (s_read_ticks(m, &ticks) != 0)
            return S_USAGE_PENDING;
        /* Counters that went back (another machine's file, a broken read): the count starts again
           from here. */
        m->ticks = ticks;
        m->ticks_time = now;
        return S_USAGE_LOST;
    }
    m->ticks = ticks;
    m->ticks_time = now;
    kms_values_set(&m->stats.usage, KMS_F_CPU_TIME, cpu_time);
    double dropped = meter_usage_utilization(cpu_time * *span, *span, m->stats.cpus, &m->busy_carry,
                                             &m->stats.utilization);
    if (dropped > 0) {
        m->stats.usage_clamped++;
        if (kms_log_decade(m->stats.usage_clamped))
            kms_warn("more busy time than the cpus have: counted as every cpu busy", "cpu_time=%g cpus=%g count=%llu",
                     cpu_time, m->stats.cpus, (unsigned long long) m->stats.usage_clamped);
    }
    double counts[3];
    if (m->perf && meter_perf_read(m->perf, counts) == 0) {
        static const char *const names[3] = {KMS_F_CPU_CYCLES, KMS_F_CPU_INSTRUCTIONS, KMS_F_CACHE_MISSES};
        for (int i = 0; i < 3; i++) {
            kms_values_set(&m->stats.usage, names[i], fmax(0, counts[i] - m->counts[i]) / *span);
            m->counts[i] = counts[i];
        }
    } else if (m->perf) {
        m->stats.perf_errors++;
    }
    return S_USAGE_KNOWN;
}

/* Every zone's counter forward to `now`: the watts at the usage of the last `span` seconds when
   it is known, else a guess at the last known usage, replaced when it is (the tree never stalls,
   and what it adds up to is what was known). */
static void s_count(s_meter_t *m, s_usage_t usage, double span, double now)
{
    double elapsed = now - m->written_time;
    m->written_time = now;
    for (int z = 0; z < METER_ZONES; z++) {
        meter_zone_stats_t *s = &m->stats.zones[z];
        if (!s->active)
            continue;
        double watts = meter_model_machine_watts(&m->models[z], m->stats.utilization, m->stats.cpus, m->config->share);
        meter_counter_t *counter = &m->counters[z];
        meter_watts_check_t check;
        if (usage == S_USAGE_KNOWN) {
            check = meter_counter_add(counter, watts, span, elapsed, m->config->max_watts, &s->watts);
        } else {
            check = meter_counter_guess(counter, watts, elapsed, m->config->max_watts);
            if (usage == S_USAGE_LOST)
                meter_counter_keep_guesses(counter);
        }
        uint64_t *clamps = check == METER_WATTS_NEGATIVE ? &s->clamped_negative
                           : check == METER_WATTS_ABSURD ? &s->clamped_absurd
                                                         : NULL;
        if (clamps && kms_log_decade(++*clamps))
            kms_warn("watts out of range: clamped", "zone=%s model=%s watts=%g counted=%g count=%llu",
                     meter_zone_info(z)->zone, s->model, watts, s->watts, (unsigned long long) *clamps);
        s->joules = counter->total_j;
        s->energy_uj = counter->energy_uj;
        if (meter_tree_write_energy(m->tree, z, s->energy_uj) != 0) {
            m->stats.tree_errors++;
            char why[256];
            if (kms_log_decade(m->stats.tree_errors))
                kms_error("cannot write energy_uj", "zone=%s why=%s errors=%llu", meter_zone_info(z)->zone,
                          kms_log_quote(strerror(errno), why, sizeof why), (unsigned long long) m->stats.tree_errors);
        }
    }
}

/* ---------------------------------------------------------------- run */

static int s_setup(s_meter_t *m, const meter_config_t *config)
{
    m->config = config;
    m->stats.start_time = kms_num_wallclock();
    m->ticks_per_second = (double) sysconf(_SC_CLK_TCK);
    if (config->arch && *config->arch)
        snprintf(m->stats.arch, sizeof m->stats.arch, "%s", config->arch);
    else
        s_detect_arch(config->proc, m->stats.arch, sizeof m->stats.arch);
    snprintf(m->stat_path, sizeof m->stat_path, "%s/stat", config->proc);
    if (s_read_stat_at_start(m) != 0) {
        kms_error("cannot read cpu time", "path=%s", m->stat_path);
        return -1;
    }
    m->ticks_time = m->written_time = kms_num_monotonic();
    if (m->stats.cpus == 0) {
        kms_error("no cpu listed: nothing to meter (every model is per logical cpu)", "path=%s", m->stat_path);
        return -1;
    }
    meter_prior_find(m->stats.arch, &m->stats.prior);
    m->has_prior = meter_model_from_prior(&m->stats.prior, m->stats.cpus, config->max_watts, &m->prior_model) == 0;
    char why[256] = "off (--no-perf)";
    if (config->perf && (m->perf = meter_perf_open(why, sizeof why)))
        meter_perf_read(m->perf, m->counts);
    m->stats.counters = m->perf != NULL;
    m->stats.share = config->share;
    char arch[160], prior[96], reason[300];
    kms_info("machine", "arch=%s cpus=%g share=%s prior=%s prior_match=%s counters=%s%s%s",
             kms_log_quote(m->stats.arch, arch, sizeof arch), m->stats.cpus,
             config->share == METER_SHARE_ACTIVE ? "active" : "fair",
             kms_log_quote(m->stats.prior.arch, prior, sizeof prior), meter_prior_match_name(m->stats.prior.match),
             m->perf ? "yes" : "no", m->perf ? "" : " why=", m->perf ? "" : kms_log_quote(why, reason, sizeof reason));
    /* The default cache is OUT/kms-meter, opened from the tree's root without following links. */
    m->cache = config->cache_dir ? meter_tree_open_dir(config->cache_dir)
                                 : kms_file_subdir_at(meter_tree_root_fd(m->tree), "kms-meter");
    if (m->cache < 0)
        kms_warn("cannot open the model cache", "path=%s why=%s",
                 config->cache_dir ? config->cache_dir : "OUT/kms-meter",
                 kms_log_quote(strerror(errno), reason, sizeof reason));
    if (config->metrics_port >= 0 && !(m->metrics = meter_metrics_serve(config->metrics_address, config->metrics_port)))
        return -1;
    return 0;
}

static void s_teardown(s_meter_t *m)
{
    meter_metrics_destroy(&m->metrics);
    meter_fetch_destroy(&m->fetch);
    meter_perf_destroy(&m->perf);
    meter_tree_close(&m->tree);
    if (m->cache >= 0)
        close(m->cache);
    for (int z = 0; z < METER_ZONES; z++)
        free(m->bodies[z]);
}

int meter_run(const meter_config_t *config, volatile sig_atomic_t *stop)
{
    static s_meter_t m; /* large (the models): not on the stack */
    memset(&m, 0, sizeof m);
    s_zones_t zones = {m.wanted, "(empty)"};
    if (kms_config_split(config->zones, s_zone_add, &zones) <= 0) {
        fprintf(stderr, "kms-meter: --zones: unknown zone '%s' (package, core, uncore, dram, psys)\n", zones.bad);
        return 2;
    }
    m.fetch = meter_fetch_new(config->api, config->timeout);
    if (!m.fetch) {
        fprintf(stderr, "kms-meter: invalid value '%s' for --api: expected http://host[:port][/path]\n", config->api);
        return 2;
    }
    /* One kms-meter per tree: two would step energy_uj back and forth, which Kepler books as
       wraps (3.4 MJ in 30 s for a 12.6 W zone). The lock is held until exit. */
    m.cache = -1;
    bool locked_out = false;
    if (!(m.tree = meter_tree_open(config->out)))
        fprintf(stderr, "kms-meter: cannot open --out %s: %s\n", config->out, strerror(errno));
    else if ((locked_out = kms_file_lock_dir(config->out) < 0 && errno == EWOULDBLOCK))
        fprintf(stderr, "kms-meter: another kms-meter writes the tree %s: one kms-meter per tree\n", config->out);
    if (!m.tree || locked_out) {
        s_teardown(&m);
        return 2;
    }
    char quoted[3][512];
    kms_info("metering", "api=%s out=%s interval=%g refresh=%g zones=%s cache=%s",
             kms_log_quote(config->api, quoted[0], sizeof quoted[0]),
             kms_log_quote(config->out, quoted[1], sizeof quoted[1]), config->interval, config->refresh, config->zones,
             kms_log_quote(config->cache_dir ? config->cache_dir : "OUT/kms-meter", quoted[2], sizeof quoted[2]));
    int rc = s_setup(&m, config);
    if (rc == 0) {
        /* The tree from the cache or the prior at once; kms-api's answers when they come. */
        s_load_cache(&m);
        s_use_prior(&m);
        s_enter_tree(&m);
        s_ask(&m);
        if (m.metrics)
            meter_metrics_publish(m.metrics, &m.stats);
        double start = kms_num_monotonic(), next_refresh = start + config->refresh;
        double next = start + config->interval;
        while (!*stop) {
            kms_num_sleep_until(next);
            if (*stop)
                break;
            double now = kms_num_monotonic();
            if (now < next)
                continue; /* woken early by a signal that does not stop us */
            /* A late wake-up (a pause, a suspended VM) starts a fresh schedule, not a burst. */
            next = now - next > config->interval ? now + config->interval : next + config->interval;
            /* kms-api's answers first: the interval is counted, and shown, with the models in use. */
            if (s_collect(&m)) {
                s_use_prior(&m);
                s_enter_tree(&m);
            }
            m.stats.intervals++;
            double span;
            s_usage_t usage = s_usage(&m, now, &span);
            s_count(&m, usage, span, now);
            if (now >= next_refresh && s_ask(&m))
                next_refresh = now + config->refresh;
            if (m.metrics)
                meter_metrics_publish(m.metrics, &m.stats);
        }
    }
    s_teardown(&m);
    return rc;
}
