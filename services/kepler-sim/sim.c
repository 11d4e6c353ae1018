/*  kepler-sim's core. See sim.h for the truth and how time, noise and the split work. */
#include "sim.h"

#include "kms_num.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Canonical names (docs/contract.md), indexed by the enums of sim.h. */
static const char *const s_feature_names[SIM_FEATURES] = {"cpu_cycles", "cpu_instructions", "cache_misses", "cpu_time",
                                                          "resident_memory"};
static const char *const s_component_names[SIM_COMPONENTS] = {"core", "uncore", "package", "dram", "other", "platform"};

/* Each package's share of the node's core, uncore and dram. */
static const double s_package_share[SIM_PACKAGES] = {0.55, 0.45};

static void s_truth_add(sim_truth_t *sum, const sim_truth_t *part)
{
    sum->bias += part->bias;
    sum->log_amplitude += part->log_amplitude;
    for (int f = 0; f < SIM_FEATURES; f++)
        sum->weight[f] += part->weight[f];
}

/* The base components times `factor`, then the derived ones. */
static void s_truth_scaled(sim_truth_kind_t kind, sim_truth_t truth[SIM_COMPONENTS], double factor)
{
    memset(truth, 0, sizeof(sim_truth_t) * SIM_COMPONENTS);
    if (kind == SIM_TRUTH_LOG) {
        truth[SIM_CORE].bias = 4.0;
        truth[SIM_CORE].log_amplitude = 20.0;
    } else if (kind == SIM_TRUTH_CPU) {
        truth[SIM_CORE].bias = 6.0;
        truth[SIM_CORE].weight[SIM_CPU_TIME] = 4.0;
        truth[SIM_UNCORE].weight[SIM_CPU_TIME] = 0.5;
    } else {
        truth[SIM_CORE].bias = 6.0;
        truth[SIM_CORE].weight[SIM_CPU_CYCLES] = 6e-10;
        truth[SIM_CORE].weight[SIM_CPU_INSTRUCTIONS] = 4e-10;
        truth[SIM_CORE].weight[SIM_CPU_TIME] = 1.2;
    }
    truth[SIM_UNCORE].bias = 3.5;
    truth[SIM_DRAM].bias = 2.5;
    if (kind == SIM_TRUTH_CPU) {
        truth[SIM_DRAM].weight[SIM_CPU_TIME] = 0.5;
    } else {
        truth[SIM_DRAM].weight[SIM_CACHE_MISSES] = 2.5e-8;
        truth[SIM_DRAM].weight[SIM_RESIDENT_MEMORY] = 2e-10;
    }
    truth[SIM_OTHER].bias = 18.0;
    for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
        truth[comp].bias *= factor;
        truth[comp].log_amplitude *= factor;
        for (int f = 0; f < SIM_FEATURES; f++)
            truth[comp].weight[f] *= factor;
    }
    /* derived: package = core + uncore; platform = package + dram + other */
    s_truth_add(&truth[SIM_PACKAGE], &truth[SIM_CORE]);
    s_truth_add(&truth[SIM_PACKAGE], &truth[SIM_UNCORE]);
    s_truth_add(&truth[SIM_PLATFORM], &truth[SIM_PACKAGE]);
    s_truth_add(&truth[SIM_PLATFORM], &truth[SIM_DRAM]);
    s_truth_add(&truth[SIM_PLATFORM], &truth[SIM_OTHER]);
}

void sim_truth(sim_truth_kind_t kind, sim_truth_t truth[SIM_COMPONENTS])
{
    s_truth_scaled(kind, truth, 1);
}

double sim_truth_watts(const sim_truth_t *truth, const double rate[SIM_FEATURES])
{
    double watts = truth->bias;
    for (int f = 0; f < SIM_FEATURES; f++)
        watts += truth->weight[f] * rate[f];
    if (truth->log_amplitude != 0)
        watts += truth->log_amplitude * log1p(rate[SIM_CPU_TIME] / SIM_LOG_KNEE);
    return watts;
}

/* ---------------------------------------------------------------------------------------------
   Randomness: splitmix64, so that a seed gives the same node on every machine. */

static uint64_t s_next(sim_t *self)
{
    return kms_num_splitmix64(&self->rng);
}

static double s_uniform(sim_t *self)
{
    return kms_num_uniform(&self->rng, 0, 1);
}

static double s_gauss(sim_t *self)
{
    double u1 = s_uniform(self), u2 = s_uniform(self);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

static double s_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---------------------------------------------------------------------------------------------
   The node's containers */

static const char *const s_workloads[] = {"nginx",   "redis",          "postgres",      "prometheus", "coredns",
                                          "etcd",    "kube-apiserver", "envoy",         "kafka",      "elasticsearch",
                                          "mysql",   "memcached",      "node-exporter", "grafana",    "rabbitmq",
                                          "mongodb", "haproxy",        "fluent-bit",    "jaeger",     "minio"};
static const char *const s_namespaces[] = {"default", "kube-system", "monitoring", "data", "web"};

static void s_hex(sim_t *self, char *out, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < digits; i++)
        out[i] = hex[s_next(self) & 15];
    out[digits] = '\0';
}

static void s_container_init(sim_t *self, sim_container_t *c, size_t index)
{
    memset(c, 0, sizeof *c);
    size_t n_workloads = sizeof s_workloads / sizeof s_workloads[0];
    const char *workload = s_workloads[index % n_workloads];
    char suffix[24] = "";
    if (index >= n_workloads)
        snprintf(suffix, sizeof suffix, "-%zu", index / n_workloads);
    s_hex(self, c->id, 64);
    snprintf(c->name, sizeof c->name, "%s%s", workload, suffix);
    char pod_hash[11], pod_tail[6];
    s_hex(self, pod_hash, 10);
    s_hex(self, pod_tail, 5);
    snprintf(c->pod, sizeof c->pod, "%s-%s-%s", c->name, pod_hash, pod_tail);
    snprintf(c->namespace_, sizeof c->namespace_, "%s",
             s_namespaces[s_next(self) % (sizeof s_namespaces / sizeof s_namespaces[0])]);
    char u[33];
    s_hex(self, u, 32);
    snprintf(c->pod_id, sizeof c->pod_id, "%.8s-%.4s-%.4s-%.4s-%.12s", u, u + 8, u + 12, u + 16, u + 20);
    c->pid = 1000 + 17 * (int) index;
    static const double maxima[] = {0.25, 0.5, 1.0, 2.0, 3.0};
    c->usage_max = maxima[s_next(self) % 5] * (double) self->options.cpus / SIM_CPUS;
    c->usage = c->usage_max * (0.05 + 0.9 * s_uniform(self));
    c->ipc = 0.4 + 2.2 * s_uniform(self);
    c->miss_rate = 1e-3 + 6e-3 * s_uniform(self);
    c->freq_factor = 0.9 + 0.2 * s_uniform(self);
    c->memory = exp(log(64e6) + (log(3e9) - log(64e6)) * s_uniform(self));
}

/* Kepler <= 0.9 gives the processes outside containers this identity. */
static void s_system_init(sim_t *self, sim_container_t *c)
{
    s_container_init(self, c, 0);
    c->system = true;
    strcpy(c->id, "system_processes");
    strcpy(c->name, "system_processes");
    strcpy(c->pod, "system_processes");
    strcpy(c->namespace_, "system");
    c->pod_id[0] = '\0';
    c->pid = 1;
    c->usage_max = 0.25 * (double) self->options.cpus / SIM_CPUS;
    c->usage = c->usage_max / 2;
}

static int s_by_id(const void *a, const void *b)
{
    return strcmp(((const sim_container_t *) a)->id, ((const sim_container_t *) b)->id);
}

/* ---------------------------------------------------------------------------------------------
   Steps */

/* The random walks move once per step; jumps model workloads starting and stopping. */
static void s_walk(sim_t *self)
{
    self->freq = s_uniform(self) < 0.02 ? 1.2e9 + 2.4e9 * s_uniform(self) : self->freq * exp(0.03 * s_gauss(self));
    self->freq = s_clamp(self->freq, 1.2e9, 3.6e9);
    /* node-wide phases (memory-bound, compute-bound) move every container's IPC together, so
       that instructions do not simply follow cycles */
    self->phase = s_uniform(self) < 0.03 ? 0.5 + s_uniform(self)
                                         : s_clamp(self->phase * exp(0.05 * s_gauss(self)), 0.5, 1.5);
    /* the curved truth's load swings: a new level every SIM_LOAD_STEPS steps */
    if (self->options.truth == SIM_TRUTH_LOG)
        self->load = self->steps % SIM_LOAD_STEPS == 0 ? 0.1 + 0.9 * s_uniform(self)
                                                       : s_clamp(self->load * exp(0.05 * s_gauss(self)), 0.1, 1.0);
    for (size_t i = 0; i < self->count; i++) {
        sim_container_t *c = &self->containers[i];
        double lo = 0.02 * c->usage_max;
        if (s_uniform(self) < 0.03)
            c->usage = lo + (c->usage_max - lo) * s_uniform(self);
        else
            c->usage = s_clamp(c->usage + 0.08 * c->usage_max * s_gauss(self), lo, c->usage_max);
        /* a program's phases: its IPC wanders, and changes at once when its phase does */
        c->ipc = s_uniform(self) < 0.03 ? 0.3 + 2.7 * s_uniform(self)
                                        : s_clamp(c->ipc * exp(0.08 * s_gauss(self)), 0.3, 3.0);
        c->miss_rate = s_clamp(c->miss_rate * exp(0.1 * s_gauss(self)), 3e-4, 1.5e-2);
        /* memory creeps, and now and then a container allocates or frees a lot at once */
        double creep = s_uniform(self) < 0.01 ? 1.6 * (s_uniform(self) - 0.5) : 0.004 * s_gauss(self);
        c->memory = s_clamp(c->memory * exp(creep), 32e6, 4e9);
    }
    if (self->options.churn > 0) {
        bool replaced = false;
        for (size_t i = 0; i < self->count; i++) {
            if (s_uniform(self) < SIM_STEP / self->options.churn && !self->containers[i].system) {
                s_container_init(self, &self->containers[i], self->options.containers + self->replaced++);
                replaced = true;
            }
        }
        if (replaced)
            qsort(self->containers, self->count, sizeof *self->containers, s_by_id);
    }
    double e = self->options.noise * s_gauss(self); /* drawn even without noise: same usage */
    self->error = s_clamp(e, -3 * self->options.noise, 3 * self->options.noise);
}

/* Rates and powers for the step that starts now. */
static void s_step_power(sim_t *self)
{
    double total[SIM_FEATURES] = {0};
    for (size_t i = 0; i < self->count; i++) {
        sim_container_t *c = &self->containers[i];
        c->rate[SIM_CPU_TIME] = c->usage * self->load;
        c->rate[SIM_CPU_CYCLES] = c->rate[SIM_CPU_TIME] * self->freq * c->freq_factor;
        c->rate[SIM_CPU_INSTRUCTIONS] = c->rate[SIM_CPU_CYCLES] * c->ipc * self->phase;
        c->rate[SIM_CACHE_MISSES] = c->rate[SIM_CPU_INSTRUCTIONS] * c->miss_rate;
        c->rate[SIM_RESIDENT_MEMORY] = c->memory;
        for (int f = 0; f < SIM_FEATURES; f++)
            total[f] += c->rate[f];
    }
    self->usage_ratio = fmin(total[SIM_CPU_TIME] / (double) self->options.cpus, 1.0);
    double k = 1.0 + self->error;
    sim_energy_t *node = &self->node;
    for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
        const sim_truth_t *t = &self->truth[comp];
        double watts = sim_truth_watts(t, total);
        node->power[comp][SIM_IDLE] = t->bias * k;
        node->power[comp][SIM_DYNAMIC] = (watts - t->bias) * k;
    }
    for (int p = 0; p < SIM_PACKAGES; p++) {
        memset(self->package[p].power, 0, sizeof self->package[p].power);
        const int split[] = {SIM_CORE, SIM_UNCORE, SIM_PACKAGE, SIM_DRAM};
        for (size_t j = 0; j < 4; j++)
            for (int m = 0; m < SIM_MODES; m++)
                self->package[p].power[split[j]][m] = node->power[split[j]][m] * s_package_share[p];
    }
    /* Kepler's ratio model: dynamic energy by instructions (dram: cache misses), idle evenly */
    for (size_t i = 0; i < self->count; i++) {
        sim_container_t *c = &self->containers[i];
        double by_instr = total[SIM_CPU_INSTRUCTIONS] > 0 ? c->rate[SIM_CPU_INSTRUCTIONS] / total[SIM_CPU_INSTRUCTIONS]
                                                          : 1.0 / (double) self->count;
        double by_miss = total[SIM_CACHE_MISSES] > 0 ? c->rate[SIM_CACHE_MISSES] / total[SIM_CACHE_MISSES]
                                                     : 1.0 / (double) self->count;
        for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
            double share = comp == SIM_DRAM ? by_miss : by_instr;
            c->energy.power[comp][SIM_DYNAMIC] = node->power[comp][SIM_DYNAMIC] * share;
            c->energy.power[comp][SIM_IDLE] = node->power[comp][SIM_IDLE] / (double) self->count;
        }
    }
}

static void s_energy_add(sim_energy_t *e, double dt, double usage_ratio)
{
    for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
        for (int m = 0; m < SIM_MODES; m++) {
            e->energy[comp][m] += e->power[comp][m] * dt;
            e->period[comp][m] += e->power[comp][m] * dt;
        }
        e->active[comp] += sim_both_modes(e->power[comp]) * usage_ratio * dt;
    }
}

static void s_energy_close_period(sim_energy_t *e)
{
    memcpy(e->last, e->period, sizeof e->last);
    memset(e->period, 0, sizeof e->period);
}

static void s_integrate(sim_t *self, double dt)
{
    for (size_t i = 0; i < self->count; i++) {
        sim_container_t *c = &self->containers[i];
        for (int f = 0; f < SIM_FEATURES; f++) {
            if (f == SIM_RESIDENT_MEMORY) {
                c->counter[f] = c->period[f] = c->rate[f];
            } else {
                c->counter[f] += c->rate[f] * dt;
                c->period[f] += c->rate[f] * dt;
            }
        }
        s_energy_add(&c->energy, dt, self->usage_ratio);
    }
    s_energy_add(&self->node, dt, self->usage_ratio);
    for (int p = 0; p < SIM_PACKAGES; p++) {
        s_energy_add(&self->package[p], dt, self->usage_ratio);
        for (int comp = 0; comp < SIM_COMPONENTS; comp++)
            self->rapl[p][comp] += sim_both_modes(self->package[p].power[comp]) * dt;
    }
    self->rapl_platform += sim_both_modes(self->node.power[SIM_PLATFORM]) * dt;
}

static void s_close_period(sim_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        sim_container_t *c = &self->containers[i];
        memcpy(c->last, c->period, sizeof c->last);
        for (int f = 0; f < SIM_FEATURES; f++)
            if (f != SIM_RESIDENT_MEMORY)
                c->period[f] = 0;
        s_energy_close_period(&c->energy);
    }
    s_energy_close_period(&self->node);
    for (int p = 0; p < SIM_PACKAGES; p++)
        s_energy_close_period(&self->package[p]);
}

sim_t *sim_new(const sim_options_t *options, double now)
{
    assert(options && options->containers > 0);
    sim_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->containers = calloc(options->containers + 1, sizeof *self->containers);
    if (!self->containers) {
        free(self);
        return NULL;
    }
    self->options = *options;
    if (self->options.cpus == 0 || self->options.cpus > SIM_MAX_CPUS)
        self->options.cpus = SIM_CPUS;
    self->count = options->containers + 1;
    self->rng = options->seed;
    sim_truth(options->truth, self->truth);
    self->truth_factor = 1;
    for (size_t i = 0; i < options->containers; i++)
        s_container_init(self, &self->containers[i], i);
    s_system_init(self, &self->containers[options->containers]);
    qsort(self->containers, self->count, sizeof *self->containers, s_by_id);
    /* real RAPL counters start anywhere in their range */
    for (int p = 0; p < SIM_PACKAGES; p++)
        for (int comp = 0; comp < SIM_COMPONENTS; comp++)
            self->rapl[p][comp] = options->rapl_max * s_uniform(self);
    self->rapl_platform = options->rapl_max * s_uniform(self);
    self->freq = 1.2e9 + 2.4e9 * s_uniform(self);
    self->phase = 1.0;
    self->load = 1.0;
    self->now = now;
    self->step_end = now + SIM_STEP;
    s_walk(self);
    s_step_power(self);
    return self;
}

void sim_destroy(sim_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        free((*self_p)->containers);
        free(*self_p);
        *self_p = NULL;
    }
}

void sim_advance(sim_t *self, double now)
{
    while (self->now < now) {
        double end = now < self->step_end ? now : self->step_end;
        s_integrate(self, end - self->now);
        self->now = end;
        if (end >= self->step_end) {
            self->steps++;
            self->step_end += SIM_STEP;
            if (self->steps % SIM_PERIOD_STEPS == 0)
                s_close_period(self);
            s_walk(self);
            s_step_power(self);
        }
    }
}

static void s_energy_reset(sim_energy_t *e)
{
    memset(e->energy, 0, sizeof e->energy);
    memset(e->period, 0, sizeof e->period);
    memset(e->last, 0, sizeof e->last);
}

void sim_change_truth(sim_t *self, double factor)
{
    s_truth_scaled(self->options.truth, self->truth, factor);
    self->truth_factor = factor;
    self->truth_changes++;
}

void sim_restart(sim_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        sim_container_t *c = &self->containers[i];
        for (int f = 0; f < SIM_FEATURES; f++)
            if (f != SIM_RESIDENT_MEMORY)
                c->counter[f] = c->period[f] = c->last[f] = 0;
        s_energy_reset(&c->energy);
    }
    s_energy_reset(&self->node);
    for (int p = 0; p < SIM_PACKAGES; p++)
        s_energy_reset(&self->package[p]);
    self->restarts++;
}

char *sim_truth_json(const sim_t *self)
{
    json_t *components = json_object();
    for (int comp = 0; comp < SIM_COMPONENTS; comp++) {
        json_t *weights = json_object();
        for (int f = 0; f < SIM_FEATURES; f++)
            if (self->truth[comp].weight[f] != 0)
                json_object_set_new(weights, s_feature_names[f], json_real(self->truth[comp].weight[f]));
        json_t *component = json_pack("{s:f, s:o}", "bias", self->truth[comp].bias, "weights", weights);
        if (self->truth[comp].log_amplitude != 0)
            json_object_set_new(component, "log",
                                json_pack("{s:s, s:f, s:f}", "feature", s_feature_names[SIM_CPU_TIME], "amplitude",
                                          self->truth[comp].log_amplitude, "knee", SIM_LOG_KNEE));
        json_object_set_new(components, s_component_names[comp], component);
    }
    bool curved = self->options.truth == SIM_TRUTH_LOG;
    json_t *units = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "power", "W", "bias", "W", "cpu_cycles",
                              "W per (cycle/s)", "cpu_instructions", "W per (instruction/s)", "cache_misses",
                              "W per (miss/s)", "cpu_time", "W per (cpu-second/s)", "resident_memory", "W per byte");
    json_t *root = json_pack(
        "{s:s, s:o, s:o, s:s, s:f, s:I, s:I, s:s, s:s, s:f, s:i, s:f, s:f, s:i, s:f, s:f, s:I}", "truth",
        curved                                 ? "log"
        : self->options.truth == SIM_TRUTH_CPU ? "cpu"
                                               : "linear",
        "components", components, "units", units, "prediction",
        curved ? "watts = bias + sum(weight[f] * rate[f]) + log.amplitude * ln(1 + rate[log.feature] / log.knee),"
                 " rates per second (the node's), memory in bytes"
               : "watts = bias + sum(weight[f] * rate[f]), rates per second, memory in bytes",
        "noise", self->options.noise, "seed", (json_int_t) self->options.seed, "containers",
        (json_int_t) self->options.containers, "node", self->options.node, "arch", self->options.arch, "step_seconds",
        SIM_STEP, "period_steps", SIM_PERIOD_STEPS, "rapl_max_joules", self->options.rapl_max, "package_share_0",
        s_package_share[0], "packages", SIM_PACKAGES, "churn_seconds", self->options.churn, "truth_factor",
        self->truth_factor, "truth_changes", (json_int_t) self->truth_changes);
    if (!root)
        return NULL;
    /* 15 digits: the weights are short decimals (4e-10, not 4.0000000000000001e-10) */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(root);
    return text;
}
