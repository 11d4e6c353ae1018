/*  kepler-sim's core: one node, its containers, their usage over time, and the energy that a
    known truth (linear, or curved in cpu time) gives that usage. Pure: the caller passes the
    time; nothing here does I/O.

    THE TRUTH, options.truth = SIM_TRUTH_LINEAR (watts; rates per second, memory in bytes):

        core     = 6    + 6e-10 * cpu_cycles + 4e-10 * cpu_instructions + 1.2 * cpu_time
        uncore   = 3.5
        dram     = 2.5  + 2.5e-8 * cache_misses + 2e-10 * resident_memory
        other    = 18
        package  = core + uncore
        platform = package + dram + other

    cpu_cycles, cpu_instructions and cache_misses are events per second, cpu_time is cpu-seconds
    per second, resident_memory is bytes (a gauge). sim_truth() gives the table, derived
    components included, so that a test applies it without knowing these lines.

    THE CURVED TRUTH, options.truth = SIM_TRUTH_LOG: core saturates in the node's cpu time
    (a machine whose frequency and power drop as more cores are busy, turbo's shape), and
    depends on nothing else; the other components are the linear truth's:

        core     = 4    + 20 * log(1 + cpu_time / 0.5)      (natural log)

    cpu_time is the node's, summed over its containers, in cpu-seconds per second; the term is
    sim_truth_t's log_amplitude * log(1 + cpu_time / SIM_LOG_KNEE). The power is the
    curve of the step's rate, so over an interval within one step the energy is the curve of
    the counters' increment rate; over several steps it is the mean of the steps' curves
    (below the curve of the mean rate by Jensen's gap). A container's share stays Kepler's
    ratio split below, not a curve of its own cpu time. A model that is linear in cpu time
    misses the bend; Kepler's LogarithmicRegressionTrainer form a log(b x + 1) + c is exact.
    A curve can only be told from a line on usage that spans it: with this truth the node's
    load also swings (a node-wide factor on every container's cpu usage, in [0.1, 1], drawn
    afresh every SIM_LOAD_STEPS steps and wandering between), so that within a minute the
    node's cpu time runs from a tenth to the whole of its range. The linear truth's usage is unchanged
    (the factor stays 1 and draws nothing), so its seeds give the same nodes as before.

    HOW TIME WORKS. Usage is constant within a step of SIM_STEP seconds and changes at step
    boundaries (random walks with occasional jumps: per-container cpu usage, IPC, cache-miss
    rate and resident memory, a node-wide clock frequency and a node-wide IPC phase, so that
    cycles, instructions and cpu time do not move together). sim_advance() integrates the counters
    step by step up to the given time:
    counters += rate * elapsed and energy += power * elapsed, so that over ANY interval the
    energy increment is the truth applied to the counter increments (plus bias * interval), to
    the rounding of the printed counters. Memory is a gauge: the truth integrates its value
    over time. It creeps (0.4% per step) and, once in a hundred steps per container, jumps (a
    factor of up to e^0.8 either way), so that its weight can be told from the bias; a reader
    that takes the gauge at the end of an interval errs by weight * jump * (the share of the
    interval before the jump) on the few intervals that hold one.

    NOISE. Each step draws one relative error e ~ N(0, noise), clipped to +-3 noise: the node's
    power in that step is truth * (1 + e), for every component at once. Over an interval of n
    steps the relative error is an average of n draws, never beyond 3 noise.

    HOW KEPLER SPLITS IT. Node energy is kept per package (55% / 45% of core, uncore, dram) and
    per mode: idle = bias * (1 + e), dynamic = the rest (Kepler <= 0.9). Kepler 0.10+ splits each
    zone's energy by the node's usage ratio instead (active = total x busy / cpus, idle = the
    rest: v0.11.4 internal/monitor/node.go:131-141), which the 0.10 format prints. A container gets
    a share of the node's
    dynamic energy in proportion to its instructions (dram: its cache misses) in each step, and
    an equal share of the idle energy, as Kepler's ratio model does. Counters Kepler keeps are
    zeroed by sim_restart() (an exporter restart); the RAPL hardware counter behind Kepler
    0.10's kepler_node_cpu_joules_total is not, and wraps at rapl_max joules.

    A CHANGE OF TRUTH. sim_change_truth() scales the whole truth (the curve's amplitude too) by a factor from the next
    step on (kepler-sim: SIGUSR2 or --truth-change-at), for tests that a model follows a
    genuine step change rather than taking it for a glitch.

    THE CPU TRUTH, options.truth = SIM_TRUTH_CPU: linear in cpu time alone, what a VM can
    know of itself, so that a per-cpu model of it is exact (kms-meter's fair share is checked on
    it): core = 6 + 4 * cpu_time, uncore = 3.5 + 0.5 * cpu_time, dram = 2.5 + 0.5 * cpu_time,
    other = 18. Per logical cpu of a node of N: (core bias)/N + 4 * utilization, and so on.
    THE NODE'S SIZE. options.cpus logical cpus (Kepler 0.10+'s kepler_node_cpu_info, one series
    each); every container's usage scales with cpus / SIM_CPUS, so that a small node is not
    asked for more cpu time than it has.
    THE NODE'S OWN PROCESSES. Besides options.containers containers, the node runs processes
    of its own (a quarter of a cpu at most), shown as Kepler <= 0.9 shows them: a container
    named system_processes (0.10: processes of type regular). They take their share of usage
    and energy like any container, so that the node's features are the sum over every entry.

    CHURN (off unless options.churn > 0). Each step a container ends with probability
    SIM_STEP / churn; a new one, with a new identity and counters from 0, takes its place,
    and the old one's series disappear, as they do in Kepler. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_STEP 1.0       /* seconds of constant usage */
#define SIM_PERIOD_STEPS 3 /* Kepler 0.3's SAMPLE_PERIOD_SEC, in steps */
#define SIM_PACKAGES 2
#define SIM_CPUS 32 /* logical cpus of the node unless options.cpus says otherwise */
#define SIM_MAX_CPUS 256
#define SIM_RAPL_MAX 262143.328850 /* joules: the usual max_energy_range_uj / 1e6 */
#define SIM_LOG_KNEE 0.5           /* cpu-seconds per second: the curved truth's knee */
#define SIM_LOAD_STEPS 5           /* the curved truth's load takes a new level this often */

typedef enum { SIM_TRUTH_LINEAR = 0, SIM_TRUTH_LOG, SIM_TRUTH_CPU } sim_truth_kind_t;

typedef enum {
    SIM_CPU_CYCLES,
    SIM_CPU_INSTRUCTIONS,
    SIM_CACHE_MISSES,
    SIM_CPU_TIME,
    SIM_RESIDENT_MEMORY,
    SIM_FEATURES
} sim_feature_t;

typedef enum { SIM_CORE, SIM_UNCORE, SIM_PACKAGE, SIM_DRAM, SIM_OTHER, SIM_PLATFORM, SIM_COMPONENTS } sim_component_t;

enum { SIM_DYNAMIC = 0, SIM_IDLE = 1, SIM_MODES = 2 };

typedef enum { SIM_FORMAT_03, SIM_FORMAT_07, SIM_FORMAT_09, SIM_FORMAT_010 } sim_format_t;

typedef struct {
    double bias;                 /* watts */
    double weight[SIM_FEATURES]; /* watts per unit of rate (per byte for memory) */
    double log_amplitude;        /* watts: + log_amplitude * log(1 + cpu_time / SIM_LOG_KNEE) */
} sim_truth_t;

typedef struct {
    size_t containers;
    uint64_t seed;
    double noise;           /* relative, >= 0 */
    double rapl_max;        /* joules at which the 0.10 RAPL counter wraps */
    double churn;           /* mean container lifetime, seconds; 0: containers never go */
    const char *node;       /* Kepler's instance / node_name */
    const char *arch;       /* cpu_architecture */
    sim_truth_kind_t truth; /* 0: linear */
    size_t cpus;            /* logical cpus (0: SIM_CPUS); the containers' usage scales with them */
} sim_options_t;

/* Energy that Kepler keeps for a node, a package or a container. */
typedef struct {
    double energy[SIM_COMPONENTS][SIM_MODES]; /* joules since the exporter started */
    double active[SIM_COMPONENTS];            /* Kepler 0.10+'s active joules: each step's total x usage ratio */
    double power[SIM_COMPONENTS][SIM_MODES];  /* watts in the current step */
    double period[SIM_COMPONENTS][SIM_MODES]; /* joules in the open 0.3 period */
    double last[SIM_COMPONENTS][SIM_MODES];   /* joules in the last complete period */
} sim_energy_t;

typedef struct {
    char id[65];         /* container_id: 64 hex digits */
    char name[48];       /* container_name */
    char pod[80];        /* pod_name */
    char namespace_[32]; /* container_namespace */
    char pod_id[37];     /* a UUID */
    int pid;
    bool system; /* Kepler <= 0.9's system_processes entry: the node's own processes */
    double usage_max, usage, ipc, miss_rate, freq_factor, memory; /* the random walks */
    double rate[SIM_FEATURES];                                    /* in the current step; [MEMORY] = bytes */
    double counter[SIM_FEATURES];                                 /* since the exporter started; [MEMORY] = gauge */
    double period[SIM_FEATURES];                                  /* in the open 0.3 period */
    double last[SIM_FEATURES];                                    /* in the last complete period */
    sim_energy_t energy;
} sim_container_t;

typedef struct {
    sim_options_t options;
    sim_truth_t truth[SIM_COMPONENTS];
    double now;      /* time of the state, seconds (the caller's clock) */
    double step_end; /* when the current step ends */
    uint64_t steps;  /* steps completed */
    uint64_t rng;
    double freq;        /* node clock, Hz */
    double phase;       /* node-wide factor on every container's IPC */
    double load;        /* node-wide factor on every container's cpu usage (1 but for --truth log) */
    double usage_ratio; /* the step's busy cpu time / cpus, at most 1 (Kepler 0.10+'s usage ratio) */
    double error;       /* this step's relative noise */
    uint64_t restarts;
    double truth_factor; /* the truth is the one above times this (1 until it changes) */
    uint64_t truth_changes;
    uint64_t replaced;           /* containers that went, each replaced by a new one */
    size_t count;                /* options.containers + the system_processes entry */
    sim_container_t *containers; /* sorted by id, as Kepler's output is: system last */
    sim_energy_t node;
    sim_energy_t package[SIM_PACKAGES];
    double rapl[SIM_PACKAGES][SIM_COMPONENTS]; /* hardware counters, joules, unwrapped */
    double rapl_platform;
} sim_t;

/* Joules (or watts) in both modes. */
static inline double sim_both_modes(const double modes[SIM_MODES])
{
    return modes[SIM_DYNAMIC] + modes[SIM_IDLE];
}

/* The truth of `kind`, derived components (package, platform) included. */
void sim_truth(sim_truth_kind_t kind, sim_truth_t truth[SIM_COMPONENTS]);
/* One component's watts at the node's rates (memory in bytes). */
double sim_truth_watts(const sim_truth_t *truth, const double rate[SIM_FEATURES]);

/* A node whose state starts at time `now`. Returns NULL when out of memory. */
sim_t *sim_new(const sim_options_t *options, double now);
void sim_destroy(sim_t **self_p);

/* Moves the state to `now` (earlier times are ignored). */
void sim_advance(sim_t *self, double now);

/* A genuine change of regime (another machine, a new power cap): every weight and bias of the
   truth becomes the one above times `factor` (derived components follow; 1 restores it), from
   the next step on. Call sim_advance() to the moment first. */
void sim_change_truth(sim_t *self, double factor);

/* An exporter restart: every counter Kepler keeps goes back to 0. */
void sim_restart(sim_t *self);

/* The truth as JSON (components, units, options). Caller frees. */
char *sim_truth_json(const sim_t *self);

/* The exposition page of `format`: Kepler's families, label order and float formatting, as
   *len bytes in *page, NUL-terminated (caller frees). Returns 0, or -1 and *page NULL when out
   of memory. */
int sim_render(const sim_t *self, sim_format_t format, char **page, size_t *len);

#endif
