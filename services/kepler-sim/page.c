/*  kepler-sim's pages: the simulated state printed as each Kepler version prints it.

    What makes a page look like Kepler's (checked against the real 0.7.1 capture and Kepler's
    source): families sorted by name, each with HELP and TYPE; label names sorted within a
    series and series sorted by their label values, as Go's client_golang does; values printed
    as Go's strconv.FormatFloat(v, 'g', -1, 64); energies in whole millijoules (0.3-0.9) or
    microjoules (0.10) as Kepler keeps them; event counters as whole numbers. */
#include "sim.h"

#include "kms_promtext_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One sample. `labels` holds name, value pairs, already sorted by name, ending with NULL; a
   pair whose value is NULL is left out. */
static void s_series(FILE *o, const char *name, const char *const *labels, double value)
{
    const char *sep = "{";
    fputs(name, o);
    for (size_t i = 0; labels[i]; i += 2) {
        if (labels[i + 1]) {
            fprintf(o, "%s%s=", sep, labels[i]);
            kms_promtext_write_label(o, labels[i + 1]);
            sep = ",";
        }
    }
    if (*sep == ',')
        fputc('}', o);
    kms_promtext_write_value(o, value);
}

static const char *const s_mode_names[SIM_MODES] = {"dynamic", "idle"};

/* Kepler keeps energy as integers: millijoules up to 0.9, microjoules from 0.10. */
static double s_microjoules(double joules)
{
    return floor(joules * 1e6) / 1e6;
}

/* A component's energy in whole millijoules, in one mode or both (-1); comp -1 is the gpu,
   which the simulated node does not have. */
static double s_mj(const double energy[SIM_COMPONENTS][SIM_MODES], int comp, int mode)
{
    if (comp < 0)
        return 0;
    double joules = mode < 0 ? sim_both_modes(energy[comp]) : energy[comp][mode];
    return floor(joules * 1000.0);
}

/* Kepler's total (package + dram + other), summed in whole millijoules. */
static double s_total_mj(const double energy[SIM_COMPONENTS][SIM_MODES], int mode)
{
    return s_mj(energy, SIM_PACKAGE, mode) + s_mj(energy, SIM_DRAM, mode) + s_mj(energy, SIM_OTHER, mode);
}

/* ---------------------------------------------------------------------------------------------
   Kepler 0.7 and 0.9 (0.7.3 and later): the same families, renamed and relabelled */

typedef enum { K_USAGE, K_USER_US, K_ENERGY, K_TOTAL, K_BUILD, K_NODE_ENERGY, K_FREQ, K_NODE_INFO } s_kind_t;

typedef struct {
    const char *name, *help, *type;
    s_kind_t kind;
    int arg;            /* sim_feature_t (usage) or sim_component_t (energy) */
    const char *source; /* the constant source label, or NULL */
    double scale;       /* usage: the counter is floor(counter[arg] * scale) */
} s_family_t;

/* The interrupt and page-cache counters are not part of the truth; they only have to look
   alive (monotonic, proportional to cpu time). User cpu time is all but the system's fifth. */
static double s_usage(const sim_container_t *c, const s_family_t *f)
{
    double seconds = c->counter[SIM_CPU_TIME];
    if (f->kind == K_USER_US)
        return floor(seconds * 1e6) - floor(seconds * 0.2e6);
    return floor(c->counter[f->arg] * f->scale);
}

#define C_ "counter"
/* clang-format off */
static const s_family_t s_families_07[] = {
    {"kepler_container_bpf_block_irq_total", "Aggregated block irq value obtained from BPF", C_, K_USAGE, SIM_CPU_TIME, NULL, 37},
    /* Kepler 0.7.1 counts milliseconds under this name (kepler.bpf.c: ns / 1000000). */
    {"kepler_container_bpf_cpu_time_us_total", "Aggregated CPU time obtained from BPF", C_, K_USAGE, SIM_CPU_TIME, NULL, 1e3},
    {"kepler_container_bpf_net_rx_irq_total", "Aggregated network rx irq value obtained from BPF", C_, K_USAGE, SIM_CPU_TIME, NULL, 113},
    {"kepler_container_bpf_net_tx_irq_total", "Aggregated network tx irq value obtained from BPF", C_, K_USAGE, SIM_CPU_TIME, NULL, 97},
    {"kepler_container_bpf_page_cache_hit_total", "Aggregated Page Cache Hit obtained from BPF", C_, K_USAGE, SIM_CPU_TIME, NULL, 5100},
    {"kepler_container_cache_miss_total", "Aggregated cache miss value", C_, K_USAGE, SIM_CACHE_MISSES, NULL, 1},
    {"kepler_container_cgroupfs_cpu_usage_us_total", "Aggregated cpu usage obtained from cGroups", C_, K_USAGE, SIM_CPU_TIME, NULL, 1e6},
    {"kepler_container_cgroupfs_memory_usage_bytes_total", "Aggregated memory bytes obtained from cGroups", C_, K_USAGE, SIM_RESIDENT_MEMORY, NULL, 1},
    {"kepler_container_cgroupfs_system_cpu_usage_us_total", "Aggregated system cpu usage obtained from cGroups", C_, K_USAGE, SIM_CPU_TIME, NULL, 0.2e6},
    {"kepler_container_cgroupfs_user_cpu_usage_us_total", "Aggregated user cpu usage obtained from cGroups", C_, K_USER_US, SIM_CPU_TIME, NULL, 0},
    {"kepler_container_core_joules_total", "Aggregated RAPL value in core in joules", C_, K_ENERGY, SIM_CORE, NULL, 0},
    {"kepler_container_cpu_cycles_total", "Aggregated CPU cycle value", C_, K_USAGE, SIM_CPU_CYCLES, NULL, 1},
    {"kepler_container_cpu_instructions_total", "Aggregated CPU instruction value", C_, K_USAGE, SIM_CPU_INSTRUCTIONS, NULL, 1},
    {"kepler_container_dram_joules_total", "Aggregated RAPL value in dram in joules", C_, K_ENERGY, SIM_DRAM, NULL, 0},
    {"kepler_container_joules_total", "Aggregated RAPL Package + Uncore + DRAM + GPU + other host components (platform - package - dram) in joules", C_, K_TOTAL, 0, NULL, 0},
    {"kepler_container_kubelet_cpu_usage_total", "Aggregated cpu usage obtained from kubelet", C_, K_USAGE, SIM_CPU_TIME, NULL, 1},
    {"kepler_container_kubelet_memory_bytes_total", "Aggregated memory bytes obtained from kubelet", C_, K_USAGE, SIM_RESIDENT_MEMORY, NULL, 1},
    {"kepler_container_other_joules_total", "Aggregated value in other host components (platform - package - dram) in joules", C_, K_ENERGY, SIM_OTHER, NULL, 0},
    {"kepler_container_package_joules_total", "Aggregated RAPL value in package (socket) in joules", C_, K_ENERGY, SIM_PACKAGE, NULL, 0},
    {"kepler_container_uncore_joules_total", "Aggregated RAPL value in uncore in joules", C_, K_ENERGY, SIM_UNCORE, NULL, 0},
    {"kepler_exporter_build_info", "A metric with a constant '1' value labeled by version, revision, branch, goversion from which kepler_exporter was built, and the goos and goarch for the build.", "gauge", K_BUILD, 0, NULL, 0},
    {"kepler_node_core_joules_total", "Aggregated RAPL value in core in joules", C_, K_NODE_ENERGY, SIM_CORE, "rapl", 0},
    {"kepler_node_cpu_scaling_frequency_hertz", "Current average cpu frequency in hertz", "gauge", K_FREQ, 0, NULL, 0},
    {"kepler_node_dram_joules_total", "Aggregated RAPL value in dram in joules", C_, K_NODE_ENERGY, SIM_DRAM, "rapl", 0},
    {"kepler_node_info", "Labeled node information", C_, K_NODE_INFO, 0, NULL, 0},
    {"kepler_node_other_joules_total", "Aggregated RAPL value in other components (platform - package - dram) in joules", C_, K_NODE_ENERGY, SIM_OTHER, NULL, 0},
    {"kepler_node_package_joules_total", "Aggregated RAPL value in package (socket) in joules", C_, K_NODE_ENERGY, SIM_PACKAGE, "rapl", 0},
    {"kepler_node_platform_joules_total", "Aggregated RAPL value in platform (entire node) in joules", C_, K_NODE_ENERGY, SIM_PLATFORM, "acpi", 0},
    {"kepler_node_uncore_joules_total", "Aggregated RAPL value in uncore in joules", C_, K_NODE_ENERGY, SIM_UNCORE, "rapl", 0},
};

/* 0.7.3+ builds every description with metricfactory.MetricsPromDesc: help "Aggregated value in
   <name> value from <source>" and a constant source label (kubelet metrics are gone). */
static const s_family_t s_families_09[] = {
    {"kepler_container_bpf_block_irq_total", "Aggregated value in bpf_block_irq value from bpf", C_, K_USAGE, SIM_CPU_TIME, "bpf", 37},
    {"kepler_container_bpf_cpu_time_ms_total", "Aggregated value in bpf_cpu_time_ms value from bpf", C_, K_USAGE, SIM_CPU_TIME, "bpf", 1e3},
    {"kepler_container_bpf_net_rx_irq_total", "Aggregated value in bpf_net_rx_irq value from bpf", C_, K_USAGE, SIM_CPU_TIME, "bpf", 113},
    {"kepler_container_bpf_net_tx_irq_total", "Aggregated value in bpf_net_tx_irq value from bpf", C_, K_USAGE, SIM_CPU_TIME, "bpf", 97},
    {"kepler_container_bpf_page_cache_hit_total", "Aggregated value in bpf_page_cache_hit value from bpf", C_, K_USAGE, SIM_CPU_TIME, "bpf", 5100},
    {"kepler_container_cache_miss_total", "Aggregated value in cache_miss value from bpf", C_, K_USAGE, SIM_CACHE_MISSES, "bpf", 1},
    {"kepler_container_cgroupfs_cpu_usage_us_total", "Aggregated value in cgroupfs_cpu_usage_us value from cgroup", C_, K_USAGE, SIM_CPU_TIME, "cgroup", 1e6},
    {"kepler_container_cgroupfs_memory_usage_bytes_total", "Aggregated value in cgroupfs_memory_usage_bytes value from cgroup", C_, K_USAGE, SIM_RESIDENT_MEMORY, "cgroup", 1},
    {"kepler_container_cgroupfs_system_cpu_usage_us_total", "Aggregated value in cgroupfs_system_cpu_usage_us value from cgroup", C_, K_USAGE, SIM_CPU_TIME, "cgroup", 0.2e6},
    {"kepler_container_cgroupfs_user_cpu_usage_us_total", "Aggregated value in cgroupfs_user_cpu_usage_us value from cgroup", C_, K_USER_US, SIM_CPU_TIME, "cgroup", 0},
    {"kepler_container_core_joules_total", "Aggregated value in core value from rapl-sysfs", C_, K_ENERGY, SIM_CORE, "rapl-sysfs", 0},
    {"kepler_container_cpu_cycles_total", "Aggregated value in cpu_cycles value from bpf", C_, K_USAGE, SIM_CPU_CYCLES, "bpf", 1},
    {"kepler_container_cpu_instructions_total", "Aggregated value in cpu_instructions value from bpf", C_, K_USAGE, SIM_CPU_INSTRUCTIONS, "bpf", 1},
    {"kepler_container_dram_joules_total", "Aggregated value in dram value from rapl-sysfs", C_, K_ENERGY, SIM_DRAM, "rapl-sysfs", 0},
    {"kepler_container_joules_total", "Aggregated RAPL Package + Uncore + DRAM + GPU + other host components (platform - package - dram) in joules", C_, K_TOTAL, 0, "rapl-sysfs", 0},
    {"kepler_container_other_joules_total", "Aggregated value in other value from rapl-sysfs", C_, K_ENERGY, SIM_OTHER, "rapl-sysfs", 0},
    {"kepler_container_package_joules_total", "Aggregated value in package value from rapl-sysfs", C_, K_ENERGY, SIM_PACKAGE, "rapl-sysfs", 0},
    {"kepler_container_platform_joules_total", "Aggregated value in platform value from acpi", C_, K_ENERGY, SIM_PLATFORM, "acpi", 0},
    {"kepler_container_task_clock_ms_total", "Aggregated value in task_clock_ms value from bpf", C_, K_USAGE, SIM_CPU_TIME, "bpf", 1e3},
    {"kepler_container_uncore_joules_total", "Aggregated value in uncore value from rapl-sysfs", C_, K_ENERGY, SIM_UNCORE, "rapl-sysfs", 0},
    {"kepler_exporter_build_info", "A metric with a constant '1' value labeled by version, revision, branch, goversion from which kepler_exporter was built, and the goos and goarch for the build.", "gauge", K_BUILD, 0, NULL, 0},
    {"kepler_node_core_joules_total", "Aggregated value in core value from rapl-sysfs", C_, K_NODE_ENERGY, SIM_CORE, "rapl-sysfs", 0},
    {"kepler_node_dram_joules_total", "Aggregated value in dram value from rapl-sysfs", C_, K_NODE_ENERGY, SIM_DRAM, "rapl-sysfs", 0},
    {"kepler_node_info", "Aggregated value in  value from os", C_, K_NODE_INFO, 0, "os", 0},
    {"kepler_node_other_joules_total", "Aggregated value in other value from rapl-sysfs", C_, K_NODE_ENERGY, SIM_OTHER, "rapl-sysfs", 0},
    {"kepler_node_package_joules_total", "Aggregated value in package value from rapl-sysfs", C_, K_NODE_ENERGY, SIM_PACKAGE, "rapl-sysfs", 0},
    {"kepler_node_platform_joules_total", "Aggregated value in platform value from acpi", C_, K_NODE_ENERGY, SIM_PLATFORM, "acpi", 0},
    {"kepler_node_uncore_joules_total", "Aggregated value in uncore value from rapl-sysfs", C_, K_NODE_ENERGY, SIM_UNCORE, "rapl-sysfs", 0},
};
/* clang-format on */
#undef C_

/* The 0.7/0.9 container labels; mode and source when not NULL. */
static void s_container_series(FILE *o, const s_family_t *f, const sim_container_t *c, const char *mode, double value)
{
    /* clang-format off */
    const char *labels[] = {"container_id", c->id, "container_name", c->name, "container_namespace", c->namespace_,
                            "mode", mode, "pod_name", c->pod, "source", f->source, NULL};
    /* clang-format on */
    s_series(o, f->name, labels, value);
}

/* Per package for the RAPL components; 0.7 prints other and platform once per node without a
   package label, 0.9 gives every node family the same labels. */
static void s_node_energy(FILE *o, const sim_t *sim, const s_family_t *f, bool all_labels)
{
    int comp = f->arg;
    bool per_package = comp != SIM_OTHER && comp != SIM_PLATFORM;
    for (int m = 0; m < SIM_MODES; m++) {
        int packages = per_package ? SIM_PACKAGES : 1;
        for (int p = 0; p < packages; p++) {
            const sim_energy_t *e = per_package ? &sim->package[p] : &sim->node;
            char package[12];
            snprintf(package, sizeof package, "%d", p);
            /* clang-format off */
            const char *labels[] = {"instance", sim->options.node, "mode", s_mode_names[m],
                                    "package", per_package || all_labels ? package : NULL, "source", f->source, NULL};
            /* clang-format on */
            s_series(o, f->name, labels, s_mj(e->energy, comp, m) / 1000);
        }
    }
}

/* The node's logical cpus, their numbers as label values, sorted by `cmp` as Go sorts label
   values: as strings ("0", "1", "10", "11", ...). Two threads per core, 16 threads per socket:
   processor p is thread p % 2 of core (p % 16) / 2 of socket p / 16 (the default 32: two
   sockets of 8 cores). */
typedef struct {
    char core_id[12], physical_id[12], processor[12];
    int number;
} s_cpu_t;

static int s_cpus(const sim_t *sim, s_cpu_t cpus[SIM_MAX_CPUS], int (*cmp)(const void *, const void *))
{
    int count = (int) sim->options.cpus;
    for (int p = 0; p < count; p++) {
        snprintf(cpus[p].core_id, sizeof cpus[p].core_id, "%d", (p % 16) / 2);
        snprintf(cpus[p].physical_id, sizeof cpus[p].physical_id, "%d", p / 16);
        snprintf(cpus[p].processor, sizeof cpus[p].processor, "%d", p);
        cpus[p].number = p;
    }
    qsort(cpus, (size_t) count, sizeof cpus[0], cmp);
    return count;
}

static int s_cmp_processor(const void *a, const void *b)
{
    return strcmp(((const s_cpu_t *) a)->processor, ((const s_cpu_t *) b)->processor);
}

/* In kHz, as scaling_cur_freq holds it; each cpu a little off the node's clock. */
static void s_cpu_frequencies(FILE *o, const sim_t *sim, const char *name)
{
    s_cpu_t cpus[SIM_MAX_CPUS];
    int count = s_cpus(sim, cpus, s_cmp_processor);
    for (int i = 0; i < count; i++) {
        double khz = floor(sim->freq / 1000.0 * (0.97 + 0.002 * (cpus[i].number % 16)));
        const char *labels[] = {"cpu", cpus[i].processor, "instance", sim->options.node, NULL};
        s_series(o, name, labels, khz);
    }
}

static void s_render_07_09(FILE *o, const sim_t *sim, sim_format_t format)
{
    bool v09 = format == SIM_FORMAT_09;
    const s_family_t *families = v09 ? s_families_09 : s_families_07;
    size_t count = v09 ? sizeof s_families_09 / sizeof s_families_09[0]
                       : sizeof s_families_07 / sizeof s_families_07[0];
    for (size_t i = 0; i < count; i++) {
        const s_family_t *f = &families[i];
        kms_promtext_write_family(o, f->name, f->type, f->help);
        switch (f->kind) {
        case K_USAGE:
        case K_USER_US:
            for (size_t k = 0; k < sim->count; k++)
                s_container_series(o, f, &sim->containers[k], NULL, s_usage(&sim->containers[k], f));
            break;
        case K_ENERGY:
        case K_TOTAL:
            for (size_t k = 0; k < sim->count; k++) {
                const sim_energy_t *e = &sim->containers[k].energy;
                for (int m = 0; m < SIM_MODES; m++) {
                    /* Kepler sums whole millijoules, then divides */
                    double mj = f->kind == K_ENERGY ? s_mj(e->energy, f->arg, m) : s_total_mj(e->energy, m);
                    s_container_series(o, f, &sim->containers[k], s_mode_names[m], mj / 1000);
                }
            }
            break;
        case K_BUILD: {
            /* clang-format off */
            const char *labels[] = {"branch", "", "goarch", "amd64", "goos", "linux",
                                    "goversion", v09 ? "go1.21.6" : "go1.18.10", "revision",
                                    "kepler-sim", "tags", "kepler_sim", "version",
                                    v09 ? "0.7.10" : "0.7.1", NULL};
            /* clang-format on */
            s_series(o, f->name, labels, 1);
            break;
        }
        case K_NODE_ENERGY: s_node_energy(o, sim, f, v09); break;
        case K_FREQ: s_cpu_frequencies(o, sim, f->name); break;
        case K_NODE_INFO: {
            /* clang-format off */
            const char *labels[] = {"components_power_source", v09 ? "rapl-sysfs" : NULL,
                                    "cpu_architecture", sim->options.arch,
                                    "platform_power_source", v09 ? "acpi" : NULL, "source", f->source, NULL};
            /* clang-format on */
            s_series(o, f->name, labels, 1);
            break;
        }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
   Kepler 0.10: RAPL zones per node, cpu joules and watts per workload, no hardware counters */

static const struct {
    const char *zone, *path;
    int package; /* -1: the platform (psys) zone */
    int comp;
} s_zones[] = {
    /* in path order, as the series are sorted */
    {"package", "/sys/class/powercap/intel-rapl:0", 0, SIM_PACKAGE},
    {"core", "/sys/class/powercap/intel-rapl:0:0", 0, SIM_CORE},
    {"uncore", "/sys/class/powercap/intel-rapl:0:1", 0, SIM_UNCORE},
    {"dram", "/sys/class/powercap/intel-rapl:0:2", 0, SIM_DRAM},
    {"package", "/sys/class/powercap/intel-rapl:1", 1, SIM_PACKAGE},
    {"core", "/sys/class/powercap/intel-rapl:1:0", 1, SIM_CORE},
    {"uncore", "/sys/class/powercap/intel-rapl:1:1", 1, SIM_UNCORE},
    {"dram", "/sys/class/powercap/intel-rapl:1:2", 1, SIM_DRAM},
    {"psys", "/sys/class/powercap/intel-rapl:2", -1, SIM_PLATFORM},
};
#define S_ZONES (sizeof s_zones / sizeof s_zones[0])

/* A workload's zones, in zone-name order. */
static const struct {
    const char *zone;
    int comp;
} s_workload_zones[] = {
    {"core", SIM_CORE}, {"dram", SIM_DRAM}, {"package", SIM_PACKAGE}, {"psys", SIM_PLATFORM}, {"uncore", SIM_UNCORE}};

typedef enum { N_TOTAL, N_ACTIVE, N_IDLE } s_node_part_t;

/* kepler_node_cpu[_active|_idle]_{joules_total,watts}: a series per RAPL zone. */
static void s_zone_family(FILE *o, const sim_t *sim, s_node_part_t part, bool watts)
{
    static const char *const infix[] = {"", "_active", "_idle"}, *const state[] = {"", "in active state ",
                                                                                   "in idle state "};
    char name[64], help[96];
    snprintf(name, sizeof name, "kepler_node_cpu%s_%s", infix[part], watts ? "watts" : "joules_total");
    snprintf(help, sizeof help, "%s consumption of cpu %sat node level in %s", watts ? "Power" : "Energy", state[part],
             watts ? "watts" : "joules");
    kms_promtext_write_family(o, name, watts ? "gauge" : "counter", help);
    for (size_t z = 0; z < S_ZONES; z++) {
        int p = s_zones[z].package, comp = s_zones[z].comp;
        const sim_energy_t *e = p >= 0 ? &sim->package[p] : &sim->node;
        /* Kepler 0.10+'s split: active = total x the node's usage ratio, idle = the rest. */
        double total = sim_both_modes(watts ? e->power[comp] : e->energy[comp]);
        double active = watts ? total * sim->usage_ratio : e->active[comp];
        double value = part == N_ACTIVE ? active : part == N_IDLE ? total - active : total;
        if (!watts && part == N_TOTAL) /* the hardware counter itself: never reset, wraps */
            value = fmod(p >= 0 ? sim->rapl[p][comp] : sim->rapl_platform, sim->options.rapl_max);
        if (!watts)
            value = s_microjoules(value);
        const char *labels[] = {"node_name", sim->options.node, "path", s_zones[z].path, "zone", s_zones[z].zone, NULL};
        s_series(o, name, labels, value);
    }
}

static int s_cmp_cpu_info(const void *a, const void *b)
{
    const s_cpu_t *x = a, *y = b;
    int c = strcmp(x->core_id, y->core_id);
    if (!c)
        c = strcmp(x->physical_id, y->physical_id);
    return c ? c : strcmp(x->processor, y->processor);
}

static void s_cpu_info(FILE *o, const sim_t *sim)
{
    s_cpu_t cpus[SIM_MAX_CPUS];
    int count = s_cpus(sim, cpus, s_cmp_cpu_info);
    const char *name = "kepler_node_cpu_info";
    kms_promtext_write_family(o, name, "gauge", "CPU information from procfs");
    for (int p = 0; p < count; p++) {
        const char *labels[] = {"core_id",     cpus[p].core_id,     "model_name", sim->options.arch,
                                "physical_id", cpus[p].physical_id, "processor",  cpus[p].processor,
                                "vendor_id",   "GenuineIntel",      NULL};
        s_series(o, name, labels, 1);
    }
}

static int s_cmp_pod_id(const void *a, const void *b)
{
    return strcmp((*(const sim_container_t *const *) a)->pod_id, (*(const sim_container_t *const *) b)->pod_id);
}

/* Kepler's comm: the first 15 bytes of the command. */
static void s_comm(const sim_container_t *c, char out[16])
{
    snprintf(out, 16, "%.15s", c->system ? "kworker" : c->name);
}

static int s_cmp_comm(const void *a, const void *b)
{
    const sim_container_t *x = *(const sim_container_t *const *) a;
    const sim_container_t *y = *(const sim_container_t *const *) b;
    char cx[16], cy[16];
    s_comm(x, cx);
    s_comm(y, cy);
    int c = strcmp(cx, cy);
    return c ? c : strcmp(x->id, y->id);
}

/* kepler_{container,pod}_cpu_{joules_total,watts}, the containers (or their pods, one each) in
   `order`: 0.10 attributes only active energy to workloads, and shows the node's own processes
   as processes only. */
static void s_workload_families(FILE *o, const sim_t *sim, const sim_container_t **order, bool pod)
{
    const char *level = pod ? "pod" : "container";
    char name[64], help[96];
    for (int watts = 0; watts < 2; watts++) {
        snprintf(name, sizeof name, "kepler_%s_cpu_%s", level, watts ? "watts" : "joules_total");
        snprintf(help, sizeof help, "%s consumption of cpu at %s level in %s", watts ? "Power" : "Energy", level,
                 watts ? "watts" : "joules");
        kms_promtext_write_family(o, name, watts ? "gauge" : "counter", help);
        for (size_t k = 0; k < sim->count; k++) {
            const sim_container_t *c = order[k];
            if (c->system)
                continue;
            for (size_t z = 0; z < 5; z++) {
                int comp = s_workload_zones[z].comp;
                double value = watts ? c->energy.power[comp][SIM_DYNAMIC]
                                     : s_microjoules(c->energy.energy[comp][SIM_DYNAMIC]);
                const char *zone = s_workload_zones[z].zone, *node = sim->options.node;
                /* clang-format off */
                const char *by_container[] = {"container_id", c->id, "container_name", c->name, "node_name", node,
                                              "pod_id", c->pod_id, "runtime", "containerd", "state", "running",
                                              "zone", zone, NULL};
                const char *by_pod[] = {"node_name", node, "pod_id", c->pod_id, "pod_name", c->pod,
                                        "pod_namespace", c->namespace_, "state", "running", "zone", zone, NULL};
                /* clang-format on */
                s_series(o, name, pod ? by_pod : by_container, value);
            }
        }
    }
}

static int s_render_010(FILE *o, const sim_t *sim)
{
    const sim_container_t **order = malloc(sim->count * sizeof *order);
    if (!order)
        return -1;
    const char *node = sim->options.node;
    kms_promtext_write_family(o, "kepler_build_info", "gauge",
                              "A metric with a constant '1' value labeled with version information");
    const char *build[] = {"arch",     "amd64",      "branch",  "",        "goversion", "go1.24.2",
                           "revision", "kepler-sim", "version", "v0.10.0", NULL};
    s_series(o, "kepler_build_info", build, 1);
    for (size_t k = 0; k < sim->count; k++)
        order[k] = &sim->containers[k];
    s_workload_families(o, sim, order, false);
    for (s_node_part_t part = N_ACTIVE; part <= N_IDLE; part++) {
        s_zone_family(o, sim, part, false);
        s_zone_family(o, sim, part, true);
    }
    s_cpu_info(o, sim);
    s_zone_family(o, sim, N_TOTAL, false);
    kms_promtext_write_family(o, "kepler_node_cpu_usage_ratio", "gauge",
                              "CPU usage ratio of a node (value between 0.0 and 1.0)");
    const char *node_labels[] = {"node_name", node, NULL};
    s_series(o, "kepler_node_cpu_usage_ratio", node_labels, sim->usage_ratio);
    s_zone_family(o, sim, N_TOTAL, true);
    qsort(order, sim->count, sizeof *order, s_cmp_pod_id);
    s_workload_families(o, sim, order, true);

    qsort(order, sim->count, sizeof *order, s_cmp_comm);
    const char *name = "kepler_process_cpu_seconds_total";
    kms_promtext_write_family(o, name, "counter", "Total user and system time of cpu at process level in seconds");
    for (size_t k = 0; k < sim->count; k++) {
        const sim_container_t *c = order[k];
        char comm[16], exe[80], pid[16];
        s_comm(c, comm);
        snprintf(exe, sizeof exe, "%s%s", c->system ? "" : "/usr/bin/", c->system ? "" : c->name);
        snprintf(pid, sizeof pid, "%d", c->pid);
        /* clang-format off */
        const char *labels[] = {"comm", comm, "container_id", c->system ? "" : c->id, "exe", exe,
                                "node_name", node, "pid", pid, "type",
                                c->system ? "regular" : "container", "vm_id", "", NULL};
        /* clang-format on */
        s_series(o, name, labels, floor(c->counter[SIM_CPU_TIME] * 1e6) / 1e6);
    }
    free(order);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
   Kepler 0.3: per-period gauges (the last complete SIM_PERIOD_STEPS), numbers in labels */

/* The 0.3 energy keys in sorted order, and what each one sums. */
static const struct {
    const char *key;
    int comp; /* -1: gpu, which the simulated node does not have */
} s_keys_03[] = {{"core", SIM_CORE},   {"dram", SIM_DRAM},   {"gpu", -1},
                 {"other", SIM_OTHER}, {"pkg", SIM_PACKAGE}, {"uncore", SIM_UNCORE}};
#define S_KEYS_03 (sizeof s_keys_03 / sizeof s_keys_03[0])

static int s_cmp_command(const void *a, const void *b)
{
    const sim_container_t *x = *(const sim_container_t *const *) a;
    const sim_container_t *y = *(const sim_container_t *const *) b;
    int c = strncmp(x->name, y->name, 10);
    return c ? c : strcmp(x->pod, y->pod);
}

static void s_uint_text(char *out, size_t cap, double value)
{
    snprintf(out, cap, "%.0f", floor(value));
}

static void s_node_stat_03(FILE *o, const sim_t *sim)
{
    double sum[SIM_FEATURES] = {0};
    for (size_t k = 0; k < sim->count; k++)
        for (int f = 0; f < SIM_FEATURES; f++)
            sum[f] += floor(f == SIM_CPU_TIME ? sim->containers[k].last[f] * 1e3 /* ms, as Kepler 0.3 */
                                              : sim->containers[k].last[f]);
    /* in the labels' order, as s_pod_stat_03's */
    const double values[] = {sum[SIM_CACHE_MISSES], sum[SIM_CPU_TIME] / 1e3,   sum[SIM_RESIDENT_MEMORY],
                             sum[SIM_CPU_CYCLES],   sum[SIM_CPU_INSTRUCTIONS], sum[SIM_CPU_TIME]};
    char text[6][32];
    for (size_t i = 0; i < 6; i++)
        s_uint_text(text[i], sizeof text[i], values[i]);
    char energy[S_KEYS_03][32];
    for (size_t j = 0; j < S_KEYS_03; j++) /* Go's %f */
        snprintf(energy[j], sizeof energy[j], "%f", s_mj(sim->node.last, s_keys_03[j].comp, -1) / 1000);
    /* clang-format off */
    const char *labels[] = {
        "cpu_architecture", sim->options.arch, "node_block_devices_used", "0",
        "node_curr_bytes_read", "0", "node_curr_bytes_writes", "0", "node_curr_cache_miss", text[0],
        "node_curr_container_cpu_usage_seconds_total", text[1],
        "node_curr_container_memory_working_set_bytes", text[2], "node_curr_cpu_cycles", text[3],
        "node_curr_cpu_instr", text[4], "node_curr_cpu_time", text[5],
        "node_curr_energy_in_core_joule", energy[0], "node_curr_energy_in_dram_joule", energy[1],
        "node_curr_energy_in_gpu_joule", energy[2], "node_curr_energy_in_other_joule", energy[3],
        "node_curr_energy_in_pkg_joule", energy[4], "node_curr_energy_in_uncore_joule", energy[5],
        "node_name", sim->options.node, NULL};
    /* clang-format on */
    kms_promtext_write_family(o, "node_energy_stat", "gauge", "Node energy consumption latest stats");
    s_series(o, "node_energy_stat", labels, s_mj(sim->node.last, SIM_PLATFORM, -1) / 1000);
}

static void s_pod_stat_03(FILE *o, const sim_container_t *c)
{
    /* as the labels below sort: cache misses, cpu seconds, memory, cycles, instructions, cpu
       milliseconds (v0.3 perf_event.c:108); the last period's, then the totals */
    static const int features[] = {SIM_CACHE_MISSES, SIM_CPU_TIME,         SIM_RESIDENT_MEMORY,
                                   SIM_CPU_CYCLES,   SIM_CPU_INSTRUCTIONS, SIM_CPU_TIME};
    char text[12][32], command[11];
    for (size_t i = 0; i < 12; i++)
        s_uint_text(text[i], 32, (i < 6 ? c->last : c->counter)[features[i % 6]] * (i % 6 == 5 ? 1e3 : 1));
    snprintf(command, sizeof command, "%.10s", c->name);
    /* clang-format off */
    const char *labels[] = {
        "block_devices_used", "0", "command", command, "curr_bytes_read", "0",
        "curr_bytes_writes", "0", "curr_cache_miss", text[0],
        "curr_container_cpu_usage_seconds_total", text[1],
        "curr_container_memory_working_set_bytes", text[2], "curr_cpu_cycles", text[3],
        "curr_cpu_instr", text[4], "curr_cpu_time", text[5], "pod_name", c->pod,
        "pod_namespace", c->namespace_, "total_bytes_read", "0", "total_bytes_writes", "0",
        "total_cache_miss", text[6], "total_container_cpu_usage_seconds_total", text[7],
        "total_container_memory_working_set_bytes", text[8], "total_cpu_cycles", text[9],
        "total_cpu_instr", text[10], "total_cpu_time", text[11], NULL};
    /* clang-format on */
    s_series(o, "pod_energy_stat", labels, s_total_mj(c->energy.last, -1));
}

typedef enum { P_CURR, P_TOTAL } s_pod_when_t;

/* pod_{curr,total}_{dynamic_energy,energy_in_<key>,energy}_millijoule, in name order. */
static void s_pod_energy_03(FILE *o, const sim_container_t *const *order, size_t count, s_pod_when_t when)
{
    const char *prefix = when == P_CURR ? "pod_curr_" : "pod_total_";
    const char *word = when == P_CURR ? "current" : "total";
    const char *type = when == P_CURR ? "gauge" : "counter";
    char name[80], help[128], command[11];
    /* -1: dynamic; 0..S_KEYS_03-1: a key; S_KEYS_03: all */
    for (int which = -1; which <= (int) S_KEYS_03; which++) {
        const char *key = which >= 0 && which < (int) S_KEYS_03 ? s_keys_03[which].key : NULL;
        snprintf(name, sizeof name, "%s%senergy%s%s_millijoule", prefix, which < 0 ? "dynamic_" : "", key ? "_in_" : "",
                 key ? key : "");
        snprintf(help, sizeof help, "pod_ %s %senergy consumption%s%s (millijoule)", word, which < 0 ? "dynamic " : "",
                 key ? " in " : "", key ? key : "");
        kms_promtext_write_family(o, name, type, help);
        for (size_t k = 0; k < count; k++) {
            const sim_container_t *c = order[k];
            const double(*energy)[SIM_MODES] = when == P_CURR ? c->energy.last : c->energy.energy;
            double value = which < 0 ? s_total_mj(energy, SIM_DYNAMIC)
                           : key     ? s_mj(energy, s_keys_03[which].comp, -1)
                                     : s_total_mj(energy, -1);
            snprintf(command, sizeof command, "%.10s", c->name);
            const char *labels[] = {"command", command, "pod_name", c->pod, "pod_namespace", c->namespace_, NULL};
            s_series(o, name, labels, value);
        }
    }
}

static int s_render_03(FILE *o, const sim_t *sim)
{
    const sim_container_t **order = malloc(sim->count * sizeof *order);
    if (!order)
        return -1;
    for (size_t k = 0; k < sim->count; k++)
        order[k] = &sim->containers[k];
    qsort(order, sim->count, sizeof *order, s_cmp_command);

    kms_promtext_write_family(o, "node_cpu_scaling_frequency_hertz", "gauge",
                              "Current scaled cpu thread frequency in hertz.");
    s_cpu_frequencies(o, sim, "node_cpu_scaling_frequency_hertz");
    const char *instance[] = {"instance", sim->options.node, NULL};
    char name[64], help[96];
    for (size_t j = 0; j < S_KEYS_03; j++) {
        snprintf(name, sizeof name, "node_curr_energy_in_%s_joule", s_keys_03[j].key);
        snprintf(help, sizeof help, "node_ current energy consumption in %s (joule)", s_keys_03[j].key);
        kms_promtext_write_family(o, name, "gauge", help);
        s_series(o, name, instance, s_mj(sim->node.last, s_keys_03[j].comp, -1) / 1000);
    }
    kms_promtext_write_family(o, "node_curr_energy_joule", "gauge", "node_ current energy consumption (joule)");
    s_series(o, "node_curr_energy_joule", instance, s_total_mj(sim->node.last, -1) / 1000);
    s_node_stat_03(o, sim);
    kms_promtext_write_family(o, "node_package_energy_millijoule", "gauge",
                              "Current package energy by RAPL in joules.");
    for (int p = 0; p < SIM_PACKAGES; p++) {
        char core[32], dram[32], uncore[32], pkg_id[12];
        const sim_energy_t *e = &sim->package[p];
        s_uint_text(core, sizeof core, s_mj(e->last, SIM_CORE, -1));
        s_uint_text(dram, sizeof dram, s_mj(e->last, SIM_DRAM, -1));
        s_uint_text(uncore, sizeof uncore, s_mj(e->last, SIM_UNCORE, -1));
        snprintf(pkg_id, sizeof pkg_id, "%d", p);
        const char *labels[] = {"core",   core,   "dram",   dram,   "instance", sim->options.node,
                                "pkg_id", pkg_id, "uncore", uncore, NULL};
        s_series(o, "node_package_energy_millijoule", labels, s_mj(e->last, SIM_PACKAGE, -1));
    }
    s_pod_energy_03(o, order, sim->count, P_CURR);
    kms_promtext_write_family(o, "pod_energy_stat", "gauge", "Pod energy consumption status");
    for (size_t k = 0; k < sim->count; k++)
        s_pod_stat_03(o, order[k]);
    s_pod_energy_03(o, order, sim->count, P_TOTAL);
    free(order);
    return 0;
}

int sim_render(const sim_t *self, sim_format_t format, char **page, size_t *len)
{
    *page = NULL;
    FILE *o = open_memstream(page, len);
    if (!o)
        return -1;
    int rc = 0;
    switch (format) {
    case SIM_FORMAT_03: rc = s_render_03(o, self); break;
    case SIM_FORMAT_07:
    case SIM_FORMAT_09: s_render_07_09(o, self, format); break;
    case SIM_FORMAT_010: rc = s_render_010(o, self); break;
    }
    if (fclose(o) != 0 || rc != 0) {
        free(*page);
        *page = NULL;
        return -1;
    }
    return 0;
}
