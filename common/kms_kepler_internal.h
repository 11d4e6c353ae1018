/*  kms_kepler_internal: the snapshot's layout, shared by the snapshot store (kms_kepler.c) and
    the diff (kms_kepler_diff.c), and the growth helper the Prometheus walker uses too. Not a
    public header: other modules go through kms_kepler.h, kms_kepler_diff.h, kms_kepler_query.h. */
#ifndef KMS_KEPLER_INTERNAL_H
#define KMS_KEPLER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kms_kepler.h"

/* Feature sources. The cpu time and memory ones are alternatives: one is chosen per pair. */
enum {
    F_CYCLES,
    F_INSTR,
    F_CACHE,
    F_PAGE_CACHE,
    F_IRQ_BLOCK,
    F_IRQ_NET_RX,
    F_IRQ_NET_TX,
    F_CPU_BPF,
    F_CPU_CGROUP,
    F_CPU_KUBELET,
    F_MEM_CGROUP,
    F_MEM_KUBELET,
    F_COUNT
};
#define F_GAUGES ((1u << F_MEM_CGROUP) | (1u << F_MEM_KUBELET))
#define F_PLAIN ((1u << (F_IRQ_NET_TX + 1)) - 1) /* F_CYCLES (0) .. F_IRQ_NET_TX: one source each */

enum { T_PACKAGE, T_CORE, T_UNCORE, T_DRAM, T_PLATFORM, T_OTHER, T_GPU, T_COUNT };

typedef enum {
    K_CONT_COUNTER, /* container usage counter -> feature slot */
    K_CONT_GAUGE,   /* container gauge ("_total" memory) -> feature slot */
    K_PROC_COUNTER, /* 0.10 process cpu time -> its own record */
    K_CONT_ENERGY,  /* container energy counter, modes summed -> target slot */
    K_CONT_ZONE,    /* 0.10 container energy by zone label */
    K_NODE_ENERGY,  /* node energy counter, one entry per series */
    K_NODE_ZONE,    /* 0.10 node raw RAPL reading by zone label (wraps) */
    K_NODE_WATTS,   /* 0.10 node power by zone: the check of an unwrapped reading */
    K_NODE_INFO,    /* cpu_architecture label only */
    K_NODE_CPU,     /* 0.10 kepler_node_cpu_info: one series per logical cpu, its model_name */
    K_NODE_USAGE,   /* 0.10 kepler_node_cpu_usage_ratio: the node's busy share of its cpus */
    K_NODE_SPLIT,   /* 0.10 kepler_node_cpu_{active,idle}_joules_total: slot 0 active, 1 idle */
    K_NODE_STAT,    /* 0.1-0.3 node_energy_stat: numbers in label values */
    K_POD_STAT,     /* 0.1-0.3 pod_energy_stat: numbers in label values */
    K_POD_ENERGY    /* 0.1-0.3 pod_curr_energy_in_*_millijoule */
} s_kind_t;

typedef struct {
    const char *name;
    s_kind_t kind;
    int slot;
    double scale; /* to seconds, joules or bytes */
    kms_kepler_era_t era;
} s_family_t;

typedef struct {
    uint64_t key;
    uint32_t id, pod, ns, name; /* arena offsets of the identity strings */
    kms_kepler_era_t era;       /* gauge-era pods and counter-era containers never mix */
    bool proc;                  /* a 0.10 process: cpu time only, no sample of its own */
    uint64_t owner;             /* a process's container key, 0 when none */
    uint32_t fmask, tmask;      /* slots that were fed */
    double f[F_COUNT];
    double t[T_COUNT];
} s_cont_t;

typedef struct {
    uint64_t key;    /* the series: name and every label */
    uint64_t labels; /* its labels alone: a zone's joules and watts share them */
    kms_kepler_era_t era;
    int slot; /* target slot; -1 for a 0.10 watts gauge, kept to check unwraps */
    bool raw_rapl;
    double value;
    double recent_watts; /* a raw RAPL zone's highest power of late, decaying; NAN until known:
                             kms_kepler_diff records it in cur and judges the next fall by it */
} s_nseries_t;

struct kms_kepler_snapshot_t {
    double ts;
    double monotonic; /* NAN unless set: kms_kepler_snapshot_interval */
    kms_kepler_era_t era;
    int node_rank;      /* how good the node name's source is (exported_instance best) */
    int arch_rank;      /* 0: none, 1: a CPU model name, 2: Kepler's cpu_architecture */
    size_t nprocs;      /* 0.10 process records among conts */
    uint32_t cpus;      /* 0.10 kepler_node_cpu_info series: the node's logical cpus; 0 unknown */
    double usage;       /* 0.10 kepler_node_cpu_usage_ratio; NAN when absent or not one series */
    size_t nusage;      /* its series on the page */
    double split[2];    /* 0.10 active and idle joules, summed over zones (Kepler's own counters) */
    uint32_t nsplit[2]; /* their series on the page */
    char node[KMS_ID_MAX];
    char arch[KMS_NAME_MAX];
    s_cont_t *conts;
    size_t nconts, cap_conts;
    int32_t *table; /* indexes into conts, -1 empty; size a power of two, load <= 1/2 */
    size_t table_cap;
    char *arena;
    size_t arena_len, arena_cap;
    s_nseries_t *nseries;
    size_t nnseries, cap_nseries;
    /* 0.1-0.3 node_energy_stat, per interval */
    uint32_t nfmask, ntmask;
    double nf[F_COUNT], nt[T_COUNT];
    /* counter/0.10 era: feature slots seen, and seen non-zero, over all containers */
    uint32_t seen_mask, nonzero_mask;
    /* Node targets whose sum this page cannot give: a series twice, or one whose value is NaN,
       Inf or negative; features a container's bad series leaves short. The diff spoils them. */
    uint32_t t_duplicate, t_nonfinite, f_nonfinite;
    kms_kepler_snapshot_stats_t stats;
    const s_family_t *last_family; /* series of a family come together: skip the lookup */
    char last_name[128];
    size_t last_len;
};

/* Grows *ptr to hold `need` items of `item` bytes (capacity doubling); 0, or -1 out of memory. */
static inline int s_grow(void **ptr, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*ptr, ncap * item);
    if (!p)
        return -1;
    *ptr = p;
    *cap = ncap;
    return 0;
}

/* The container (or 0.10 process) record of that key, NULL when the snapshot has none. */
static inline s_cont_t *s_cont_find(const kms_kepler_snapshot_t *self, uint64_t key)
{
    if (!self->table_cap)
        return NULL;
    size_t at = key & (self->table_cap - 1);
    while (self->table[at] >= 0) {
        s_cont_t *c = &self->conts[self->table[at]];
        if (c->key == key)
            return c;
        at = (at + 1) & (self->table_cap - 1);
    }
    return NULL;
}

#endif
