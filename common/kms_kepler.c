/*  kms_kepler: Kepler's families, per era, into snapshots; two snapshots into samples.

    A snapshot keeps, per container, one value per feature source and per target (dynamic and
    idle modes already summed), and for the node one entry per energy series (so that a reset
    or a wrap is seen on the series itself, not hidden in a sum). Containers live in a dense
    array indexed by an open-addressing table keyed by a 64-bit hash of their identity; their
    strings live in one arena. begin() only rewinds lengths, so a steady stream of scrapes of
    the same target allocates nothing. */
#include "kms_kepler.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_num.h"

/* Feature sources. The cpu time and memory ones are alternatives: one is chosen per pair. */
enum {
    F_CYCLES, F_INSTR, F_CACHE,
    F_CPU_BPF, F_CPU_CGROUP, F_CPU_KUBELET,
    F_MEM_CGROUP, F_MEM_KUBELET,
    F_COUNT
};
#define F_GAUGES ((1u << F_MEM_CGROUP) | (1u << F_MEM_KUBELET))

enum { T_PACKAGE, T_CORE, T_UNCORE, T_DRAM, T_PLATFORM, T_OTHER, T_GPU, T_COUNT };
static const char *s_target_names[T_COUNT] = {"package", "core", "uncore", "dram", "platform", "other", "gpu"};

/* The standard Intel RAPL range: a 32-bit counter of 2^-14 J units, which sysfs reports as
   max_energy_range_uj = 262143328850. Kepler 0.10 does not export the range, so this is the
   only one known; a reading that went down from above it is not unwrapped. */
#define S_RAPL_RANGE_J 262143.328850

typedef enum {
    K_CONT_COUNTER,  /* container usage counter -> feature slot */
    K_CONT_GAUGE,    /* container gauge ("_total" memory) -> feature slot */
    K_PROC_COUNTER,  /* 0.10 process cpu time -> its own record */
    K_CONT_ENERGY,   /* container energy counter, modes summed -> target slot */
    K_CONT_ZONE,     /* 0.10 container energy by zone label */
    K_NODE_ENERGY,   /* node energy counter, one entry per series */
    K_NODE_ZONE,     /* 0.10 node raw RAPL reading by zone label (wraps) */
    K_NODE_WATTS,    /* 0.10 node power by zone: the check of an unwrapped reading */
    K_NODE_INFO,     /* cpu_architecture label only */
    K_NODE_STAT,     /* 0.1-0.3 node_energy_stat: numbers in label values */
    K_POD_STAT,      /* 0.1-0.3 pod_energy_stat: numbers in label values */
    K_POD_ENERGY     /* 0.1-0.3 pod_curr_energy_in_*_millijoule */
} s_kind_t;

typedef struct {
    const char *name;
    s_kind_t kind;
    int slot;
    double scale;  /* to seconds, joules or bytes */
    kms_kepler_era_t era;
} s_family_t;

#define COUNTER KMS_KEPLER_ERA_COUNTER
#define RAPL KMS_KEPLER_ERA_RAPL
#define GAUGE KMS_KEPLER_ERA_GAUGE
static const s_family_t s_families[] = {
    /* 0.4 - 0.9 */
    {"kepler_container_cpu_cycles_total", K_CONT_COUNTER, F_CYCLES, 1, COUNTER},
    {"kepler_container_cpu_instructions_total", K_CONT_COUNTER, F_INSTR, 1, COUNTER},
    {"kepler_container_cache_miss_total", K_CONT_COUNTER, F_CACHE, 1, COUNTER},
    {"kepler_container_bpf_cpu_time_us_total", K_CONT_COUNTER, F_CPU_BPF, 1e-6, COUNTER},
    {"kepler_container_bpf_cpu_time_ms_total", K_CONT_COUNTER, F_CPU_BPF, 1e-3, COUNTER},
    {"kepler_container_cpu_cpu_time_us", K_CONT_COUNTER, F_CPU_BPF, 1e-6, COUNTER},  /* 0.4 */
    {"kepler_container_cgroupfs_cpu_usage_us_total", K_CONT_COUNTER, F_CPU_CGROUP, 1e-6, COUNTER},
    /* Kepler keeps the kubelet's cpu usage in milliseconds. */
    {"kepler_container_kubelet_cpu_usage_total", K_CONT_COUNTER, F_CPU_KUBELET, 1e-3, COUNTER},
    {"kepler_container_cgroupfs_memory_usage_bytes_total", K_CONT_GAUGE, F_MEM_CGROUP, 1, COUNTER},
    {"kepler_container_kubelet_memory_bytes_total", K_CONT_GAUGE, F_MEM_KUBELET, 1, COUNTER},
    {"kepler_container_package_joules_total", K_CONT_ENERGY, T_PACKAGE, 1, COUNTER},
    {"kepler_container_core_joules_total", K_CONT_ENERGY, T_CORE, 1, COUNTER},
    {"kepler_container_uncore_joules_total", K_CONT_ENERGY, T_UNCORE, 1, COUNTER},
    {"kepler_container_dram_joules_total", K_CONT_ENERGY, T_DRAM, 1, COUNTER},
    {"kepler_container_platform_joules_total", K_CONT_ENERGY, T_PLATFORM, 1, COUNTER},
    {"kepler_container_other_joules_total", K_CONT_ENERGY, T_OTHER, 1, COUNTER},
    {"kepler_container_other_host_components_joules_total", K_CONT_ENERGY, T_OTHER, 1, COUNTER},
    {"kepler_container_gpu_joules_total", K_CONT_ENERGY, T_GPU, 1, COUNTER},
    {"kepler_node_package_joules_total", K_NODE_ENERGY, T_PACKAGE, 1, COUNTER},
    {"kepler_node_core_joules_total", K_NODE_ENERGY, T_CORE, 1, COUNTER},
    {"kepler_node_uncore_joules_total", K_NODE_ENERGY, T_UNCORE, 1, COUNTER},
    {"kepler_node_dram_joules_total", K_NODE_ENERGY, T_DRAM, 1, COUNTER},
    {"kepler_node_platform_joules_total", K_NODE_ENERGY, T_PLATFORM, 1, COUNTER},
    {"kepler_node_other_joules_total", K_NODE_ENERGY, T_OTHER, 1, COUNTER},
    {"kepler_node_other_host_components_joules_total", K_NODE_ENERGY, T_OTHER, 1, COUNTER},
    {"kepler_node_gpu_joules_total", K_NODE_ENERGY, T_GPU, 1, COUNTER},
    {"kepler_node_info", K_NODE_INFO, 0, 1, KMS_KEPLER_ERA_UNKNOWN},
    {"kepler_node_nodeInfo", K_NODE_INFO, 0, 1, KMS_KEPLER_ERA_UNKNOWN},
    /* 0.10+ */
    {"kepler_node_cpu_joules_total", K_NODE_ZONE, 0, 1, RAPL},
    {"kepler_node_cpu_watts", K_NODE_WATTS, -1, 1, RAPL},
    {"kepler_container_cpu_joules_total", K_CONT_ZONE, 0, 1, RAPL},
    {"kepler_container_cpu_seconds_total", K_CONT_COUNTER, F_CPU_BPF, 1, RAPL},
    {"kepler_process_cpu_seconds_total", K_PROC_COUNTER, F_CPU_BPF, 1, RAPL},
    {"kepler_node_cpu_info", K_NODE_INFO, 0, 1, KMS_KEPLER_ERA_UNKNOWN},
    /* 0.1 - 0.3 (node_energy_stat lingered into 0.4, beside the counters, which win) */
    {"node_energy_stat", K_NODE_STAT, 0, 1, GAUGE},
    {"kepler_node_energy_stat", K_NODE_STAT, 0, 1, GAUGE},
    {"pod_energy_stat", K_POD_STAT, 0, 1, GAUGE},
    {"kepler_pod_energy_stat", K_POD_STAT, 0, 1, GAUGE},
    {"pod_curr_energy_in_pkg_millijoule", K_POD_ENERGY, T_PACKAGE, 1e-3, GAUGE},
    {"pod_curr_energy_in_core_millijoule", K_POD_ENERGY, T_CORE, 1e-3, GAUGE},
    {"pod_curr_energy_in_uncore_millijoule", K_POD_ENERGY, T_UNCORE, 1e-3, GAUGE},
    {"pod_curr_energy_in_dram_millijoule", K_POD_ENERGY, T_DRAM, 1e-3, GAUGE},
    {"pod_curr_energy_in_gpu_millijoule", K_POD_ENERGY, T_GPU, 1e-3, GAUGE},
    {"pod_curr_energy_in_other_millijoule", K_POD_ENERGY, T_OTHER, 1e-3, GAUGE},
};
#undef COUNTER
#undef RAPL
#undef GAUGE
#define S_FAMILY_COUNT (sizeof s_families / sizeof s_families[0])

typedef struct {
    uint64_t key;
    uint32_t id, pod, ns, name;  /* arena offsets of the identity strings */
    kms_kepler_era_t era;        /* gauge-era pods and counter-era containers never mix */
    bool proc;                   /* a 0.10 process: cpu time only, no sample of its own */
    uint64_t owner;              /* a process's container key, 0 when none */
    uint32_t fmask, tmask;       /* slots that were fed */
    double f[F_COUNT];
    double t[T_COUNT];
} s_cont_t;

typedef struct {
    uint64_t key;     /* the series: name and every label */
    uint64_t labels;  /* its labels alone: a zone's joules and watts share them */
    kms_kepler_era_t era;
    int slot;         /* target slot; -1 for a 0.10 watts gauge, kept to check unwraps */
    bool raw_rapl;
    double value;
} s_nseries_t;

struct kms_kepler_snapshot_t {
    double ts;
    kms_kepler_era_t era;
    int node_rank;  /* how good the node name's source is (exported_instance best) */
    int arch_rank;  /* 0: none, 1: a CPU model name, 2: Kepler's cpu_architecture */
    size_t nprocs;  /* 0.10 process records among conts */
    char node[KMS_ID_MAX];
    char arch[KMS_NAME_MAX];
    s_cont_t *conts;
    size_t nconts, cap_conts;
    int32_t *table;  /* indexes into conts, -1 empty; size a power of two, load <= 1/2 */
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
    kms_kepler_snapshot_stats_t stats;
    const s_family_t *last_family;  /* series of a family come together: skip the lookup */
    char last_name[128];
    size_t last_len;
};

/* ---------------------------------------------------------------- hashing and storage */

/* A word-at-a-time multiplicative hash: container ids are 64 hex digits, hashed for every
   series of every scrape, where a byte-at-a-time hash cost a fifth of the whole conversion. */
static uint64_t s_hash(uint64_t h, const char *p, size_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n)
        memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t) n << 56)) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}
#define S_HASH_SEED 14695981039346656037ull

/* A final mix so that sums of pair hashes (order-free) still spread over the table. */
static uint64_t s_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int s_grow(void **ptr, size_t *cap, size_t need, size_t item)
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

/* Appends a NUL-terminated copy; returns its offset, or UINT32_MAX when out of memory. */
static uint32_t s_arena_put(kms_kepler_snapshot_t *self, const char *text, size_t len)
{
    void *arena = self->arena;
    if (s_grow(&arena, &self->arena_cap, self->arena_len + len + 1, 1) != 0)
        return UINT32_MAX;
    self->arena = arena;
    uint32_t off = (uint32_t) self->arena_len;
    memcpy(self->arena + off, text, len);
    self->arena[off + len] = '\0';
    self->arena_len += len + 1;
    return off;
}

kms_kepler_snapshot_t *kms_kepler_snapshot_new(void)
{
    kms_kepler_snapshot_t *self = calloc(1, sizeof *self);
    if (self)
        kms_kepler_snapshot_begin(self, 0, NULL);
    return self;
}

void kms_kepler_snapshot_destroy(kms_kepler_snapshot_t **self_p)
{
    assert(self_p);
    kms_kepler_snapshot_t *self = *self_p;
    if (!self)
        return;
    free(self->conts);
    free(self->table);
    free(self->arena);
    free(self->nseries);
    free(self);
    *self_p = NULL;
}

void kms_kepler_snapshot_begin(kms_kepler_snapshot_t *self, double ts, const char *host)
{
    assert(self);
    self->ts = ts;
    self->era = KMS_KEPLER_ERA_UNKNOWN;
    self->node_rank = 0;
    self->arch_rank = 0;
    self->nprocs = 0;
    snprintf(self->node, sizeof self->node, "%s", host && *host ? host : "unknown");
    snprintf(self->arch, sizeof self->arch, "unknown");
    self->nconts = 0;
    if (self->table)
        memset(self->table, 0xff, self->table_cap * sizeof *self->table);
    self->arena_len = 0;
    self->nnseries = 0;
    self->nfmask = self->ntmask = 0;
    self->seen_mask = self->nonzero_mask = 0;
    memset(&self->stats, 0, sizeof self->stats);
}

static int s_table_rehash(kms_kepler_snapshot_t *self, size_t cap)
{
    int32_t *table = malloc(cap * sizeof *table);
    if (!table)
        return -1;
    memset(table, 0xff, cap * sizeof *table);
    for (size_t i = 0; i < self->nconts; i++) {
        size_t at = self->conts[i].key & (cap - 1);
        while (table[at] >= 0)
            at = (at + 1) & (cap - 1);
        table[at] = (int32_t) i;
    }
    free(self->table);
    self->table = table;
    self->table_cap = cap;
    return 0;
}

static s_cont_t *s_cont_find(const kms_kepler_snapshot_t *self, uint64_t key)
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

/* ---------------------------------------------------------------- feeding series */

/* Copies a label's value, decoded, into out (NUL-terminated, cut to fit). */
static size_t s_label_value(const kms_expo_label_t *label, char *out, size_t cap)
{
    if (label->escaped) {
        long n = kms_expo_label_unescape(label, out, cap);
        if (n >= 0)
            return (size_t) n;
    }
    size_t n = label->value.len < cap - 1 ? label->value.len : cap - 1;
    memcpy(out, label->value.ptr, n);
    out[n] = '\0';
    return n;
}

/* The labels this module reads, found in one pass over a series' labels. */
typedef struct {
    const kms_expo_label_t *container_id, *pod_name, *pod_id, *container_namespace, *pod_namespace,
        *container_name, *zone, *pid, *comm, *exported_instance, *node_name, *instance,
        *cpu_architecture, *model_name;
} s_labels_t;

static void s_labels_scan(const kms_expo_series_t *series, s_labels_t *out)
{
    static const struct {
        const char *name;
        size_t len;
        size_t at;
    } wanted[] = {
#define W(field) {#field, sizeof #field - 1, offsetof(s_labels_t, field)}
        W(container_id), W(pod_name), W(pod_id), W(container_namespace), W(pod_namespace),
        W(container_name), W(zone), W(pid), W(comm), W(exported_instance), W(node_name), W(instance),
        W(cpu_architecture), W(model_name)
#undef W
    };
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < series->label_count; i++) {
        const kms_expo_label_t *l = &series->labels[i];
        for (size_t k = 0; k < sizeof wanted / sizeof wanted[0]; k++) {
            if (l->name.len == wanted[k].len && memcmp(l->name.ptr, wanted[k].name, wanted[k].len) == 0) {
                memcpy((char *) out + wanted[k].at, &l, sizeof l);
                break;
            }
        }
    }
}

static const s_family_t *s_family(kms_kepler_snapshot_t *self, kms_slice_t name)
{
    if (self->last_len == name.len && name.len < sizeof self->last_name &&
        memcmp(self->last_name, name.ptr, name.len) == 0)
        return self->last_family;
    const s_family_t *found = NULL;
    for (size_t i = 0; i < S_FAMILY_COUNT; i++) {
        if (kms_slice_eq(name, s_families[i].name)) {
            found = &s_families[i];
            break;
        }
    }
    if (name.len < sizeof self->last_name) {
        memcpy(self->last_name, name.ptr, name.len);
        self->last_len = name.len;
        self->last_family = found;
    }
    return found;
}

/* Keeps the best-sourced node name seen so far: Kepler's own label survives Prometheus as
   exported_instance, 0.10 calls it node_name, a plain page calls it instance. */
static void s_note_node(kms_kepler_snapshot_t *self, const s_labels_t *labels)
{
    const kms_expo_label_t *by_rank[] = {NULL, labels->instance, labels->node_name, labels->exported_instance};
    for (int rank = 3; rank > self->node_rank; rank--) {
        const kms_expo_label_t *l = by_rank[rank];
        if (l && l->value.len > 0) {
            s_label_value(l, self->node, sizeof self->node);
            self->node_rank = rank;
            return;
        }
    }
}

/* cpu_architecture (0.1-0.9) names the micro-architecture; 0.10 has only the CPU's model_name
   (kepler_node_cpu_info), taken when nothing better is on the page. */
static void s_note_arch(kms_kepler_snapshot_t *self, const s_labels_t *labels)
{
    const kms_expo_label_t *l = labels->cpu_architecture;
    if (l && l->value.len > 0) {
        s_label_value(l, self->arch, sizeof self->arch);
        self->arch_rank = 2;
    } else if (self->arch_rank == 0 && (l = labels->model_name) && l->value.len > 0) {
        s_label_value(l, self->arch, sizeof self->arch);
        self->arch_rank = 1;
    }
}

static int s_zone_slot(const s_labels_t *labels)
{
    const kms_expo_label_t *z = labels->zone;
    if (!z)
        return -1;
    static const struct { const char *zone; int slot; } zones[] = {
        {"package", T_PACKAGE}, {"core", T_CORE}, {"uncore", T_UNCORE}, {"dram", T_DRAM},
        {"psys", T_PLATFORM}, {"platform", T_PLATFORM}};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        if (kms_slice_eq(z->value, zones[i].zone))
            return zones[i].slot;
    return -1;
}

static s_cont_t *s_record_new(kms_kepler_snapshot_t *self, uint64_t key, kms_kepler_era_t era)
{
    void *conts = self->conts;
    if (s_grow(&conts, &self->cap_conts, self->nconts + 1, sizeof *self->conts) != 0)
        return NULL;
    self->conts = conts;
    if ((self->nconts + 1) * 2 > self->table_cap &&
        s_table_rehash(self, self->table_cap ? self->table_cap * 2 : 64) != 0)
        return NULL;
    s_cont_t *c = &self->conts[self->nconts];
    memset(c, 0, sizeof *c);
    c->key = key;
    c->era = era;
    size_t at = key & (self->table_cap - 1);
    while (self->table[at] >= 0)
        at = (at + 1) & (self->table_cap - 1);
    self->table[at] = (int32_t) self->nconts++;
    return c;
}

/* Keys hash label values as the source spells them (escapes included): the same exporter
   spells a container the same way from one scrape to the next. */
static uint64_t s_id_key(kms_kepler_era_t era, kms_slice_t id)
{
    return s_hash(s_hash(S_HASH_SEED, (const char *) &era, sizeof era), id.ptr, id.len);
}

static uint64_t s_put_slice(uint64_t h, const kms_expo_label_t *l)
{
    if (l)
        h = s_hash(h, l->value.ptr, l->value.len);
    return s_hash(h, "", 1);  /* a separator: ("ab","c") and ("a","bc") differ */
}

/* Stores a label's decoded value in the arena; the offset of "" when the label is absent. */
static uint32_t s_arena_label(kms_kepler_snapshot_t *self, const kms_expo_label_t *l)
{
    char text[KMS_ID_MAX];
    size_t n = l ? s_label_value(l, text, sizeof text) : 0;
    return s_arena_put(self, l ? text : "", n);
}

/* The container (or 0.1-0.3 pod) a series belongs to, created on first sight. Identity: the
   container id when Kepler gives one, else namespace, pod and container name. */
static s_cont_t *s_cont_get(kms_kepler_snapshot_t *self, const s_labels_t *labels, kms_kepler_era_t era)
{
    const kms_expo_label_t *id = labels->container_id;
    const kms_expo_label_t *pod = labels->pod_name ? labels->pod_name : labels->pod_id;
    const kms_expo_label_t *ns = labels->container_namespace ? labels->container_namespace : labels->pod_namespace;
    const kms_expo_label_t *name = labels->container_name;
    if (id && id->value.len == 0)
        id = NULL;
    if (!id && !(pod && pod->value.len) && !(name && name->value.len))
        return NULL;

    uint64_t key;
    if (id) {
        key = s_id_key(era, id->value);
    } else {
        key = s_hash(S_HASH_SEED, (const char *) &era, sizeof era);
        key = s_put_slice(s_put_slice(key, ns), pod);
        /* 0.1-0.3's unit is the pod: its energy families carry no container name. */
        if (era != KMS_KEPLER_ERA_GAUGE)
            key = s_put_slice(key, name);
    }
    s_cont_t *c = s_cont_find(self, key);
    if (c)
        return c;
    if (!(c = s_record_new(self, key, era)))
        return NULL;
    c->id = s_arena_label(self, id);
    c->pod = s_arena_label(self, pod);
    c->ns = s_arena_label(self, ns);
    c->name = s_arena_label(self, name);
    if (c->id == UINT32_MAX || c->pod == UINT32_MAX || c->ns == UINT32_MAX || c->name == UINT32_MAX)
        return NULL;
    return c;
}

/* 0.10 keeps cpu time per process (kepler_process_cpu_seconds_total): a process is a record of
   its own, keyed by pid, command and container, that gives no sample but adds its cpu time to
   the node and to its container. */
static s_cont_t *s_proc_get(kms_kepler_snapshot_t *self, const s_labels_t *labels)
{
    const kms_expo_label_t *pid = labels->pid, *cid = labels->container_id;
    if (!pid || pid->value.len == 0)
        return NULL;
    uint64_t key = s_hash(S_HASH_SEED, "process", 8);
    key = s_put_slice(s_put_slice(s_put_slice(key, pid), labels->comm), cid);
    s_cont_t *c = s_cont_find(self, key);
    if (c)
        return c;
    if (!(c = s_record_new(self, key, KMS_KEPLER_ERA_RAPL)))
        return NULL;
    c->proc = true;
    self->nprocs++;
    if (cid && cid->value.len > 0)
        c->owner = s_id_key(KMS_KEPLER_ERA_RAPL, cid->value);
    return c;
}

static int s_add_node_series(kms_kepler_snapshot_t *self, const kms_expo_series_t *series,
                             const s_family_t *fam, int slot, double value)
{
    /* The key covers every label, in any order (a JSON object need not keep Go's order). */
    uint64_t key = s_hash(S_HASH_SEED, series->name.ptr, series->name.len);
    uint64_t sum = 0;
    for (size_t i = 0; i < series->label_count; i++) {
        const kms_expo_label_t *l = &series->labels[i];
        uint64_t h = s_hash(S_HASH_SEED, l->name.ptr, l->name.len);
        h = s_hash(h, "=", 1);
        sum += s_mix(s_hash(h, l->value.ptr, l->value.len));
    }
    key = s_mix(key ^ sum);
    void *ns = self->nseries;
    if (s_grow(&ns, &self->cap_nseries, self->nnseries + 1, sizeof *self->nseries) != 0)
        return -1;
    self->nseries = ns;
    self->nseries[self->nnseries++] = (s_nseries_t){key, s_mix(sum), fam->era, slot, fam->kind == K_NODE_ZONE, value};
    return 0;
}

/* 0.1-0.3: the numbers are label values (curr_cpu_cycles="123"; node_curr_... in 0.3). */
static int s_add_stat(kms_kepler_snapshot_t *self, const kms_expo_series_t *series, const s_labels_t *labels,
                      bool node)
{
    static const struct { const char *name; bool target; int slot; double scale; } keys[] = {
        {"curr_cpu_cycles", false, F_CYCLES, 1},
        {"curr_cpu_instr", false, F_INSTR, 1},
        {"curr_cpu_instructions", false, F_INSTR, 1},
        {"curr_cache_miss", false, F_CACHE, 1},
        {"curr_cache_misses", false, F_CACHE, 1},
        {"curr_cpu_time", false, F_CPU_BPF, 1e-6},
        {"curr_resident_memory", false, F_MEM_CGROUP, 1},
        {"curr_container_memory_working_set_bytes", false, F_MEM_KUBELET, 1},
        {"curr_energy_in_pkg_joule", true, T_PACKAGE, 1},
        {"curr_energy_in_core_joule", true, T_CORE, 1},
        {"curr_energy_in_uncore_joule", true, T_UNCORE, 1},
        {"curr_energy_in_dram_joule", true, T_DRAM, 1},
        {"curr_energy_in_gpu_joule", true, T_GPU, 1},
        {"curr_energy_in_other_joule", true, T_OTHER, 1},
    };
    uint32_t fmask = 0, tmask = 0;
    double f[F_COUNT] = {0}, t[T_COUNT] = {0};
    for (size_t i = 0; i < series->label_count; i++) {
        const kms_expo_label_t *l = &series->labels[i];
        kms_slice_t name = l->name;
        if (name.len > 5 && memcmp(name.ptr, "node_", 5) == 0) {
            name.ptr += 5;
            name.len -= 5;
        }
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (!kms_slice_eq(name, keys[k].name))
                continue;
            double v;
            if (kms_num_parse_double_n(l->value.ptr, l->value.len, &v) != 0 || !isfinite(v) || v < 0)
                return -1;
            if (keys[k].target) {
                t[keys[k].slot] = v * keys[k].scale;
                tmask |= 1u << keys[k].slot;
            } else {
                f[keys[k].slot] = v * keys[k].scale;
                fmask |= 1u << keys[k].slot;
            }
            break;
        }
    }
    if (node) {
        memcpy(self->nf, f, sizeof f);
        memcpy(self->nt, t, sizeof t);
        self->nfmask = fmask;
        self->ntmask = tmask;
        s_note_node(self, labels);
        return 0;
    }
    s_cont_t *c = s_cont_get(self, labels, KMS_KEPLER_ERA_GAUGE);
    if (!c)
        return -1;
    for (int s = 0; s < F_COUNT; s++)
        if (fmask & (1u << s))
            c->f[s] = f[s];
    c->fmask |= fmask;
    return 0;
}

int kms_kepler_snapshot_add(kms_kepler_snapshot_t *self, const kms_expo_series_t *series)
{
    assert(self);
    assert(series);
    const s_family_t *fam = s_family(self, series->name);
    if (!fam) {
        self->stats.ignored++;
        return 1;
    }
    double value = series->value;
    if (fam->kind != K_NODE_STAT && fam->kind != K_POD_STAT && fam->kind != K_NODE_INFO &&
        (!isfinite(value) || value < 0)) {
        self->stats.rejected++;
        return -1;
    }
    if (fam->era > self->era)
        self->era = fam->era;
    value *= fam->scale;
    s_labels_t labels;
    s_labels_scan(series, &labels);

    int rc = 0;
    s_cont_t *c;
    switch (fam->kind) {
    case K_NODE_INFO:
        s_note_arch(self, &labels);
        break;
    case K_NODE_STAT:
        s_note_arch(self, &labels);
        rc = s_add_stat(self, series, &labels, true);
        break;
    case K_POD_STAT:
        rc = s_add_stat(self, series, &labels, false);
        break;
    case K_NODE_ENERGY:
    case K_NODE_ZONE:
    case K_NODE_WATTS: {
        int slot = fam->kind != K_NODE_ENERGY ? s_zone_slot(&labels) : fam->slot;
        if (slot < 0) {
            self->stats.ignored++;
            return 1;
        }
        s_note_node(self, &labels);
        rc = s_add_node_series(self, series, fam, fam->kind == K_NODE_WATTS ? -1 : slot, value);
        break;
    }
    case K_CONT_COUNTER:
    case K_CONT_GAUGE:
    case K_PROC_COUNTER:
        c = fam->kind == K_PROC_COUNTER ? s_proc_get(self, &labels) : s_cont_get(self, &labels, fam->era);
        if (!c) {
            rc = -1;
            break;
        }
        c->f[fam->slot] += value;
        c->fmask |= 1u << fam->slot;
        self->seen_mask |= 1u << fam->slot;
        if (value != 0)
            self->nonzero_mask |= 1u << fam->slot;
        if (fam->era == KMS_KEPLER_ERA_RAPL)
            s_note_node(self, &labels);
        break;
    case K_CONT_ENERGY:
    case K_CONT_ZONE:
    case K_POD_ENERGY: {
        int slot = fam->kind == K_CONT_ZONE ? s_zone_slot(&labels) : fam->slot;
        if (slot < 0) {
            self->stats.ignored++;
            return 1;
        }
        if (!(c = s_cont_get(self, &labels, fam->era))) {
            rc = -1;
            break;
        }
        c->t[slot] += value;  /* dynamic + idle */
        c->tmask |= 1u << slot;
        break;
    }
    }
    if (rc != 0) {
        self->stats.rejected++;
        return -1;
    }
    self->stats.used++;
    return 0;
}

static int s_on_series(const kms_expo_series_t *series, void *arg)
{
    kms_kepler_snapshot_add(arg, series);
    return 0;
}

int kms_kepler_snapshot_parse(kms_kepler_snapshot_t *self, const char *page, size_t len, double ts,
                              const char *host, kms_expo_stats_t *expo_stats)
{
    assert(self);
    kms_kepler_snapshot_begin(self, ts, host);
    kms_expo_handler_t handler = {s_on_series, NULL, self};
    kms_expo_parse(page, len, &handler, expo_stats);
    return self->era == KMS_KEPLER_ERA_UNKNOWN ? -1 : 0;
}

int kms_kepler_snapshot_copy(kms_kepler_snapshot_t *dst, const kms_kepler_snapshot_t *src)
{
    assert(dst && src);
    if (dst == src)
        return 0;
    void *p;
    p = dst->conts;
    if (s_grow(&p, &dst->cap_conts, src->nconts, sizeof *src->conts) != 0)
        return -1;
    dst->conts = p;
    p = dst->arena;
    if (s_grow(&p, &dst->arena_cap, src->arena_len, 1) != 0)
        return -1;
    dst->arena = p;
    p = dst->nseries;
    if (s_grow(&p, &dst->cap_nseries, src->nnseries, sizeof *src->nseries) != 0)
        return -1;
    dst->nseries = p;
    if (dst->table_cap != src->table_cap) {
        int32_t *table = malloc(src->table_cap * sizeof *table);
        if (!table && src->table_cap)
            return -1;
        free(dst->table);
        dst->table = table;
        dst->table_cap = src->table_cap;
    }
    if (src->table_cap)
        memcpy(dst->table, src->table, src->table_cap * sizeof *src->table);
    if (src->nconts)
        memcpy(dst->conts, src->conts, src->nconts * sizeof *src->conts);
    if (src->arena_len)
        memcpy(dst->arena, src->arena, src->arena_len);
    if (src->nnseries)
        memcpy(dst->nseries, src->nseries, src->nnseries * sizeof *src->nseries);
    dst->nconts = src->nconts;
    dst->arena_len = src->arena_len;
    dst->nnseries = src->nnseries;
    dst->ts = src->ts;
    dst->era = src->era;
    dst->node_rank = src->node_rank;
    dst->arch_rank = src->arch_rank;
    dst->nprocs = src->nprocs;
    memcpy(dst->node, src->node, sizeof dst->node);
    memcpy(dst->arch, src->arch, sizeof dst->arch);
    dst->nfmask = src->nfmask;
    dst->ntmask = src->ntmask;
    memcpy(dst->nf, src->nf, sizeof dst->nf);
    memcpy(dst->nt, src->nt, sizeof dst->nt);
    dst->seen_mask = src->seen_mask;
    dst->nonzero_mask = src->nonzero_mask;
    dst->stats = src->stats;
    dst->last_family = NULL;
    dst->last_len = 0;
    return 0;
}

kms_kepler_era_t kms_kepler_snapshot_era(const kms_kepler_snapshot_t *self)
{
    return self->era;
}

double kms_kepler_snapshot_ts(const kms_kepler_snapshot_t *self)
{
    return self->ts;
}

const char *kms_kepler_snapshot_node(const kms_kepler_snapshot_t *self)
{
    return self->node;
}

const char *kms_kepler_snapshot_arch(const kms_kepler_snapshot_t *self)
{
    return self->arch;
}

size_t kms_kepler_snapshot_containers(const kms_kepler_snapshot_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nconts; i++)
        n += self->conts[i].era == self->era && !self->conts[i].proc;
    return n;
}

const kms_kepler_snapshot_stats_t *kms_kepler_snapshot_stats(const kms_kepler_snapshot_t *self)
{
    return &self->stats;
}

const char *kms_kepler_era_name(kms_kepler_era_t era)
{
    switch (era) {
    case KMS_KEPLER_ERA_GAUGE: return "0.1-0.3";
    case KMS_KEPLER_ERA_COUNTER: return "0.4-0.9";
    case KMS_KEPLER_ERA_RAPL: return "0.10+";
    default: return "unknown";
    }
}

/* ---------------------------------------------------------------- the diff */

typedef struct {
    const kms_kepler_snapshot_t *prev, *cur;
    double dt;
    int cpu_slot, mem_slot;  /* chosen sources, -1 when none */
    uint32_t fmask;          /* usage counters (cycles, instructions, misses) seen in both */
    bool procs;              /* 0.10 cpu time from processes, in both snapshots */
    kms_kepler_sample_fn fn;
    void *arg;
    kms_kepler_diff_stats_t *stats;
} s_diff_t;

static void s_put(kms_values_t *values, const char *name, double v, kms_kepler_diff_stats_t *stats)
{
    if (!isfinite(v)) {
        stats->nonfinite++;
        return;
    }
    kms_values_set(values, name, v);
}

static const char *s_feature_name(int slot)
{
    switch (slot) {
    case F_CYCLES: return KMS_F_CPU_CYCLES;
    case F_INSTR: return KMS_F_CPU_INSTRUCTIONS;
    case F_CACHE: return KMS_F_CACHE_MISSES;
    case F_CPU_BPF: case F_CPU_CGROUP: case F_CPU_KUBELET: return KMS_F_CPU_TIME;
    default: return KMS_F_RESIDENT_MEMORY;
    }
}

static void s_sample_init(kms_sample_t *s, const kms_kepler_snapshot_t *cur, double dt)
{
    memset(s, 0, sizeof *s);
    s->ts = cur->ts;
    s->dt = dt;
    snprintf(s->node, sizeof s->node, "%s", cur->node);
    snprintf(s->arch, sizeof s->arch, "%s", cur->arch);
}

/* Kepler 0.1-0.4 name no container id: the sample then carries namespace/pod[/container], so
   that subscribers still have one key per container. */
static void s_sample_identity(kms_sample_t *s, const kms_kepler_snapshot_t *snap, const s_cont_t *c)
{
    s->is_container = true;
    const char *id = snap->arena + c->id, *ns = snap->arena + c->ns, *pod = snap->arena + c->pod;
    const char *name = snap->arena + c->name;
    if (*id)
        snprintf(s->container_id, sizeof s->container_id, "%s", id);
    else if (c->era == KMS_KEPLER_ERA_GAUGE || !*name)
        snprintf(s->container_id, sizeof s->container_id, "%s/%s", ns, pod);
    else
        snprintf(s->container_id, sizeof s->container_id, "%s/%s/%s", ns, pod, name);
    snprintf(s->pod, sizeof s->pod, "%s", snap->arena + c->pod);
    snprintf(s->namespace_, sizeof s->namespace_, "%s", snap->arena + c->ns);
    snprintf(s->container, sizeof s->container, "%s", snap->arena + c->name);
}

/* The cpu seconds over the interval of the processes of container `owner` (0: of every
   process), counting those present and intact in both snapshots. */
static double s_proc_cpu(const s_diff_t *d, uint64_t owner)
{
    double sum = 0;
    for (size_t i = 0; i < d->cur->nconts; i++) {
        const s_cont_t *c = &d->cur->conts[i];
        if (!c->proc || (owner && c->owner != owner))
            continue;
        const s_cont_t *p = s_cont_find(d->prev, c->key);
        if (p && c->f[F_CPU_BPF] >= p->f[F_CPU_BPF])
            sum += c->f[F_CPU_BPF] - p->f[F_CPU_BPF];
    }
    return sum;
}

/* One container's rates over the interval into `out`. Returns -1 when its non-zero counters all
   went down (it restarted: it gives nothing), -2 when some went down and others did not (the
   page is damaged). */
static int s_cont_rates(s_diff_t *d, const s_cont_t *p, const s_cont_t *c, double f[F_COUNT],
                        uint32_t *fmask, double t[T_COUNT], uint32_t *tmask)
{
    uint32_t counters = (p->fmask & c->fmask) & ~F_GAUGES;
    uint32_t targets = p->tmask & c->tmask;
    size_t down = 0, up = 0;
    for (int s = 0; s < F_COUNT; s++) {
        if (counters & (1u << s)) {
            down += c->f[s] < p->f[s];
            up += c->f[s] >= p->f[s] && p->f[s] > 0;
        }
    }
    for (int s = 0; s < T_COUNT; s++) {
        if (targets & (1u << s)) {
            down += c->t[s] < p->t[s];
            up += c->t[s] >= p->t[s] && p->t[s] > 0;
        }
    }
    if (down > 0)
        return up > 0 ? -2 : -1;
    *fmask = *tmask = 0;
    for (int s = F_CYCLES; s <= F_CACHE; s++) {
        if (d->fmask & (1u << s)) {
            f[s] = (counters & (1u << s)) ? (c->f[s] - p->f[s]) / d->dt : 0;
            *fmask |= 1u << s;
        }
    }
    if (d->procs) {
        f[F_CPU_BPF] = s_proc_cpu(d, c->key) / d->dt;
        *fmask |= 1u << F_CPU_BPF;
    } else if (d->cpu_slot >= 0) {
        int s = d->cpu_slot;
        f[s] = (counters & (1u << s)) ? (c->f[s] - p->f[s]) / d->dt : 0;
        *fmask |= 1u << s;
    }
    if (d->mem_slot >= 0) {
        f[d->mem_slot] = (c->fmask & (1u << d->mem_slot)) ? c->f[d->mem_slot] : 0;
        *fmask |= 1u << d->mem_slot;
    }
    for (int s = 0; s < T_COUNT; s++) {
        if (targets & (1u << s)) {
            t[s] = (c->t[s] - p->t[s]) / d->dt;
            *tmask |= 1u << s;
        }
    }
    return 0;
}

static void s_fill(kms_sample_t *s, const double f[F_COUNT], uint32_t fmask, const double t[T_COUNT],
                   uint32_t tmask, kms_kepler_diff_stats_t *stats)
{
    for (int i = 0; i < F_COUNT; i++)
        if (fmask & (1u << i))
            s_put(&s->features, s_feature_name(i), f[i], stats);
    for (int i = 0; i < T_COUNT; i++)
        if (tmask & (1u << i))
            s_put(&s->targets, s_target_names[i], t[i], stats);
}

static int s_emit(s_diff_t *d, const kms_sample_t *s)
{
    d->stats->samples++;
    return d->fn(s, d->arg) != 0 ? -1 : 0;
}

/* The first source of `first..last` present (some series non-zero) in both snapshots. */
static int s_pick(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c, int first, int last)
{
    for (int s = first; s <= last; s++)
        if ((p->nonzero_mask & c->nonzero_mask) & (1u << s))
            return s;
    return -1;
}

/* The largest power Kepler reported for this zone in either scrape; -1 when it reported none. */
static double s_zone_watts(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c, uint64_t labels)
{
    double most = -1;
    const kms_kepler_snapshot_t *both[2] = {p, c};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < both[k]->nnseries; i++)
            if (both[k]->nseries[i].slot < 0 && both[k]->nseries[i].labels == labels &&
                both[k]->nseries[i].value > most)
                most = both[k]->nseries[i].value;
    return most;
}

/* A raw reading that went down is unwrapped with the standard range only when both readings
   lie within it and, where Kepler also reports the zone's watts, the power it implies is no more
   than twice the larger of them (plus 1 W): a zone whose range is not the standard one (another
   energy unit, another vendor) would otherwise give a power of tens of kilowatts. */
static bool s_unwrap_plausible(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c,
                               const s_nseries_t *cs, const s_nseries_t *ps, double dt)
{
    if (ps->value > S_RAPL_RANGE_J || cs->value > S_RAPL_RANGE_J)
        return false;
    double watts = s_zone_watts(p, c, cs->labels);
    return watts < 0 || (S_RAPL_RANGE_J - ps->value + cs->value) / dt <= 2 * watts + 1;
}

static int s_diff_counters(s_diff_t *d)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    kms_kepler_diff_stats_t *st = d->stats;
    double nt[T_COUNT] = {0};
    uint32_t ntmask = 0;

    /* Node targets: each energy series against itself in the previous scrape. */
    size_t down = 0, up = 0;
    for (size_t i = 0; i < c->nnseries; i++) {
        const s_nseries_t *cs = &c->nseries[i];
        if (cs->era != c->era || cs->slot < 0)
            continue;
        const s_nseries_t *ps = NULL;
        for (size_t j = 0; j < p->nnseries && !ps; j++)
            if (p->nseries[j].key == cs->key)
                ps = &p->nseries[j];
        if (!ps)
            continue;  /* a series that just appeared (a new GPU...) starts next interval */
        double delta = cs->value - ps->value;
        if (delta < 0 && cs->raw_rapl && s_unwrap_plausible(p, c, cs, ps, d->dt)) {
            delta = S_RAPL_RANGE_J - ps->value + cs->value;
            st->rapl_wraps++;
        }
        if (delta < 0)
            down++;
        else if (ps->value > 0)
            up++;  /* a counter at 0 (no such zone here) says nothing about a restart */
        nt[cs->slot] += delta / d->dt;
        ntmask |= 1u << cs->slot;
    }
    if (down > 0) {
        st->counter_resets += down;
        st->damaged = up > 0 && c->era != KMS_KEPLER_ERA_RAPL;
        st->why = st->damaged ? "some node counters went down, others went on: a damaged page"
                              : "the node's counters went down (exporter restart)";
        return 0;
    }

    d->fmask = p->seen_mask & c->seen_mask & ((1u << F_CYCLES) | (1u << F_INSTR) | (1u << F_CACHE));
    d->procs = p->nprocs > 0 && c->nprocs > 0;
    d->cpu_slot = s_pick(p, c, F_CPU_BPF, F_CPU_KUBELET);
    if (d->cpu_slot < 0 && (p->seen_mask & c->seen_mask & (1u << F_CPU_BPF)))
        d->cpu_slot = F_CPU_BPF;  /* all sources zero: an idle node, still a measurement */
    d->mem_slot = s_pick(c, c, F_MEM_CGROUP, F_MEM_KUBELET);
    if (d->mem_slot < 0 && (c->seen_mask & (1u << F_MEM_KUBELET)))
        d->mem_slot = F_MEM_KUBELET;

    /* Node features: the containers present, and intact, in both scrapes. */
    double nf[F_COUNT] = {0};
    uint32_t nfmask = 0;
    size_t matched = 0;
    for (size_t i = 0; i < c->nconts; i++) {
        const s_cont_t *cc = &c->conts[i];
        if (cc->era != c->era || cc->proc)
            continue;
        const s_cont_t *pc = s_cont_find(p, cc->key);
        if (!pc) {
            st->containers_churned++;
            continue;
        }
        matched++;
        double f[F_COUNT], t[T_COUNT];
        uint32_t fm, tm;
        int rc = s_cont_rates(d, pc, cc, f, &fm, t, &tm);
        if (rc == -2 && c->era != KMS_KEPLER_ERA_RAPL) {
            /* One counter of a container fell while the others went on: the page is damaged,
               and taking it as the reference would make the counter's way back up a spike. */
            st->counter_resets++;
            st->damaged = true;
            st->why = "a container's counter went down while its others went on: a damaged page";
            return 0;
        }
        if (rc == -1) {
            /* It restarted alone (the node's counters went on): as Prometheus' rate() does, its
               increase is what it counted since, its gauges are what they are. It still uses
               its share of the node's energy, so it stays in the node's features, but gives no
               sample of its own for this interval. */
            st->counter_resets++;
            s_cont_t zero = *pc;
            memset(zero.f, 0, sizeof zero.f);
            memset(zero.t, 0, sizeof zero.t);
            rc = s_cont_rates(d, &zero, cc, f, &fm, t, &tm);
        } else if (rc == 0) {
            st->containers_matched++;
        }
        if (rc != 0)
            continue;
        for (int s = 0; s < F_COUNT; s++)
            nf[s] += f[s] * !!(fm & (1u << s));
        nfmask |= fm;
    }
    size_t pconts = 0;
    for (size_t i = 0; i < p->nconts; i++)
        pconts += p->conts[i].era == c->era && !p->conts[i].proc;
    if (d->procs)  /* the node's cpu time is every process's, in a container or not */
        nf[F_CPU_BPF] = s_proc_cpu(d, 0) / d->dt;
    st->containers_churned += pconts - matched;
    /* Features the exporter provides count even when no container matched (they sum to 0). */
    for (int s = F_CYCLES; s <= F_CACHE; s++)
        if (d->fmask & (1u << s))
            nfmask |= 1u << s;
    if (d->cpu_slot >= 0)
        nfmask |= 1u << d->cpu_slot;
    if (d->procs)
        nfmask |= 1u << F_CPU_BPF;
    if (d->mem_slot >= 0)
        nfmask |= 1u << d->mem_slot;

    kms_sample_t sample;
    s_sample_init(&sample, c, d->dt);
    s_fill(&sample, nf, nfmask, nt, ntmask, st);
    if (s_emit(d, &sample) != 0)
        return -1;

    for (size_t i = 0; i < c->nconts; i++) {
        const s_cont_t *cc = &c->conts[i];
        const s_cont_t *pc = cc->era == c->era && !cc->proc ? s_cont_find(p, cc->key) : NULL;
        double f[F_COUNT], t[T_COUNT];
        uint32_t fm, tm;
        if (!pc || s_cont_rates(d, pc, cc, f, &fm, t, &tm) != 0)
            continue;
        s_sample_init(&sample, c, d->dt);
        s_sample_identity(&sample, c, cc);
        s_fill(&sample, f, fm, t, tm, st);
        if (s_emit(d, &sample) != 0)
            return -1;
    }
    return (int) st->samples;
}

/* 0.1-0.3: every value already covers Kepler's own period; no previous scrape is needed. */
static int s_diff_gauges(s_diff_t *d)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    kms_kepler_diff_stats_t *st = d->stats;
    double period = KMS_KEPLER_GAUGE_PERIOD;
    if (p && p->era == c->era && p->nfmask == c->nfmask && p->ntmask == c->ntmask &&
        memcmp(p->nf, c->nf, sizeof c->nf) == 0 && memcmp(p->nt, c->nt, sizeof c->nt) == 0 &&
        (c->nfmask | c->ntmask)) {
        st->why = "Kepler has not updated its page since the previous scrape";
        return 0;
    }
    double nf[F_COUNT] = {0}, nt[T_COUNT] = {0};
    uint32_t nfmask = 0, ntmask = 0;
    bool node_stat = (c->nfmask | c->ntmask) != 0;
    if (node_stat) {
        nfmask = c->nfmask;
        ntmask = c->ntmask;
        memcpy(nt, c->nt, sizeof nt);
        memcpy(nf, c->nf, sizeof nf);
    }
    for (size_t i = 0; i < c->nconts && !node_stat; i++) {
        const s_cont_t *cc = &c->conts[i];
        if (cc->era != KMS_KEPLER_ERA_GAUGE)
            continue;
        for (int s = 0; s < F_COUNT; s++)
            nf[s] += cc->f[s];
        for (int s = 0; s < T_COUNT; s++)
            nt[s] += cc->t[s];
        nfmask |= cc->fmask;
        ntmask |= cc->tmask;
    }
    /* Per-interval amounts into per-second rates; memory is a level, kept as is. */
    for (int s = 0; s < F_COUNT; s++)
        if (!(F_GAUGES & (1u << s)))
            nf[s] /= period;
    for (int s = 0; s < T_COUNT; s++)
        nt[s] /= period;
    if (nfmask & (1u << F_MEM_CGROUP))
        nfmask &= ~(1u << F_MEM_KUBELET);

    kms_sample_t sample;
    s_sample_init(&sample, c, period);
    s_fill(&sample, nf, nfmask, nt, ntmask, st);
    if (s_emit(d, &sample) != 0)
        return -1;
    for (size_t i = 0; i < c->nconts; i++) {
        const s_cont_t *cc = &c->conts[i];
        if (cc->era != KMS_KEPLER_ERA_GAUGE)
            continue;
        double f[F_COUNT], t[T_COUNT];
        uint32_t fm = cc->fmask;
        for (int s = 0; s < F_COUNT; s++)
            f[s] = (F_GAUGES & (1u << s)) ? cc->f[s] : cc->f[s] / period;
        for (int s = 0; s < T_COUNT; s++)
            t[s] = cc->t[s] / period;
        if (fm & (1u << F_MEM_CGROUP))
            fm &= ~(1u << F_MEM_KUBELET);
        s_sample_init(&sample, c, period);
        s_sample_identity(&sample, c, cc);
        s_fill(&sample, f, fm, t, cc->tmask, st);
        st->containers_matched++;
        if (s_emit(d, &sample) != 0)
            return -1;
    }
    return (int) st->samples;
}

int kms_kepler_diff(const kms_kepler_snapshot_t *prev, const kms_kepler_snapshot_t *cur,
                    kms_kepler_sample_fn fn, void *arg, kms_kepler_diff_stats_t *stats)
{
    assert(cur && fn);
    kms_kepler_diff_stats_t local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    s_diff_t d = {.prev = prev, .cur = cur, .cpu_slot = -1, .mem_slot = -1, .fn = fn, .arg = arg, .stats = stats};
    if (cur->era == KMS_KEPLER_ERA_UNKNOWN) {
        stats->why = "no Kepler metrics in the scrape";
        return 0;
    }
    if (cur->era == KMS_KEPLER_ERA_GAUGE)
        return s_diff_gauges(&d);
    if (!prev) {
        stats->why = "first scrape: counters need a previous one";
        return 0;
    }
    if (prev->era != cur->era) {
        stats->why = "Kepler's generation changed between scrapes";
        return 0;
    }
    if (strcmp(prev->node, cur->node) != 0) {
        stats->why = "the node changed between scrapes";
        return 0;
    }
    d.dt = cur->ts - prev->ts;
    if (!(d.dt > 0) || !isfinite(d.dt)) {
        stats->why = "no time elapsed between the scrapes";
        return 0;
    }
    return s_diff_counters(&d);
}

/* ---------------------------------------------------------------- Prometheus HTTP API */

typedef struct {
    const char *name;     /* metric name, borrowed from the JSON */
    size_t name_len;
    json_t *metric;       /* label object */
    json_t *points;       /* array of [ts, "v"] (a vector's single value is wrapped) */
    json_t *single;       /* the vector's own value, when points is NULL */
    size_t node;          /* index into the node keys */
    size_t cursor;        /* next point to look at */
    kms_expo_label_t *labels;  /* built once per result, when its node is walked */
    size_t nlabels;
} s_result_t;

typedef struct {
    s_result_t *results;
    size_t nresults, cap_results;
    const char **nodes;
    size_t nnodes, cap_nodes;
    kms_kepler_prom_stats_t *stats;
} s_walk_t;

static const char *s_node_key(json_t *metric)
{
    static const char *names[] = {"instance", "exported_instance", "node_name"};
    for (int i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(metric, names[i]));
        if (v && *v)
            return v;
    }
    return "";
}

static int s_walk_add(s_walk_t *w, const char *name, json_t *result)
{
    json_t *metric = json_object_get(result, "metric");
    json_t *values = json_object_get(result, "values");
    json_t *value = json_object_get(result, "value");
    if (!json_is_object(metric) || !(json_is_array(values) || json_is_array(value))) {
        w->stats->rejected++;
        return 0;
    }
    if (!name)
        name = json_string_value(json_object_get(metric, "__name__"));
    if (!name) {
        w->stats->rejected++;
        return 0;
    }
    const char *node = s_node_key(metric);
    size_t n = 0;
    while (n < w->nnodes && strcmp(w->nodes[n], node) != 0)
        n++;
    if (n == w->nnodes) {
        void *p = w->nodes;
        if (s_grow(&p, &w->cap_nodes, w->nnodes + 1, sizeof *w->nodes) != 0)
            return -1;
        w->nodes = p;
        w->nodes[w->nnodes++] = node;
    }
    void *p = w->results;
    if (s_grow(&p, &w->cap_results, w->nresults + 1, sizeof *w->results) != 0)
        return -1;
    w->results = p;
    w->results[w->nresults++] = (s_result_t){.name = name, .name_len = strlen(name), .metric = metric,
                                             .points = json_is_array(values) ? values : NULL,
                                             .single = json_is_array(values) ? NULL : value, .node = n};
    w->stats->results++;
    return 0;
}

/* Reads [ts, "value"]; -1 when malformed. */
static int s_point(json_t *pair, int64_t *ms, double *value)
{
    json_t *t = json_array_get(pair, 0), *v = json_array_get(pair, 1);
    if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_number(t) || !json_is_string(v))
        return -1;
    double ts = json_number_value(t);
    if (!isfinite(ts) || ts < 0 || ts > 1e11)
        return -1;
    *ms = llround(ts * 1000.0);
    return kms_num_parse_double_n(json_string_value(v), json_string_length(v), value);
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

bool kms_kepler_keep_prev(bool damaged, int *kept)
{
    if (damaged && (*kept)++ < KMS_KEPLER_KEEP_PREV_MAX)
        return true;
    *kept = 0;
    return false;
}

/* Feeds the point of result r at time ms (if it has one) into the snapshot. */
static void s_walk_feed(s_result_t *r, int64_t ms, kms_kepler_snapshot_t *snap)
{
    json_t *pair = NULL;
    int64_t at = 0;
    double value = 0;
    if (r->points) {
        size_t n = json_array_size(r->points);
        while (r->cursor < n) {
            json_t *p = json_array_get(r->points, r->cursor);
            if (s_point(p, &at, &value) != 0) {
                r->cursor++;
                continue;
            }
            if (at < ms) {
                r->cursor++;
                continue;
            }
            if (at == ms) {
                pair = p;
                r->cursor++;
            }
            break;
        }
    } else if (s_point(r->single, &at, &value) == 0 && at == ms) {
        pair = r->single;
    }
    if (!pair)
        return;
    kms_expo_series_t series = {.name = {r->name, r->name_len}, .labels = r->labels, .label_count = r->nlabels,
                                .value = value, .has_timestamp = true, .timestamp_ms = ms,
                                .type = KMS_EXPO_UNTYPED, .family = {r->name, r->name_len}};
    kms_kepler_snapshot_add(snap, &series);
}

static int s_walk_points(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg,
                         kms_kepler_snapshot_t **snaps, const char **why);

/* The labels of a result as the series fed to the snapshot carry them (values decoded, as
   JSON strings are), into `out`; returns how many. */
static size_t s_result_labels(const s_result_t *r, kms_expo_label_t *out)
{
    size_t count = 0;
    const char *key;
    json_t *val;
    json_object_foreach(r->metric, key, val) {
        if (!json_is_string(val) || strcmp(key, "__name__") == 0)
            continue;
        if (count == KMS_EXPO_MAX_LABELS)
            break;
        out[count++] = (kms_expo_label_t){{key, strlen(key)}, {json_string_value(val), json_string_length(val)}, false};
    }
    return count;
}

static int s_walk_node(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg,
                       kms_kepler_snapshot_t **snaps, const char **why)
{
    /* Each result's labels, built once for all its points. */
    size_t nlabels = 0;
    for (size_t i = 0; i < w->nresults; i++)
        if (w->results[i].node == node)
            nlabels += json_object_size(w->results[i].metric);
    kms_expo_label_t *labels = malloc((nlabels ? nlabels : 1) * sizeof *labels);
    if (!labels) {
        *why = "out of memory";
        return -1;
    }
    for (size_t i = 0, at = 0; i < w->nresults; i++) {
        s_result_t *r = &w->results[i];
        if (r->node != node)
            continue;
        r->labels = labels + at;
        r->nlabels = s_result_labels(r, r->labels);
        at += r->nlabels;
    }
    int rc = s_walk_points(w, node, fn, arg, snaps, why);
    free(labels);
    return rc;
}

static int s_walk_points(s_walk_t *w, size_t node, kms_kepler_snapshot_fn fn, void *arg,
                         kms_kepler_snapshot_t **snaps, const char **why)
{
    size_t npoints = 0;
    for (size_t i = 0; i < w->nresults; i++)
        if (w->results[i].node == node)
            npoints += w->results[i].points ? json_array_size(w->results[i].points) : 1;
    int64_t *times = malloc((npoints ? npoints : 1) * sizeof *times);
    if (!times) {
        *why = "out of memory";
        return -1;
    }
    size_t nt = 0;
    for (size_t i = 0; i < w->nresults; i++) {
        s_result_t *r = &w->results[i];
        if (r->node != node)
            continue;
        size_t n = r->points ? json_array_size(r->points) : 1;
        for (size_t k = 0; k < n; k++) {
            double v;
            int64_t ms;
            if (s_point(r->points ? json_array_get(r->points, k) : r->single, &ms, &v) == 0) {
                times[nt++] = ms;
                w->stats->points++;
            } else {
                w->stats->rejected++;
            }
        }
    }
    qsort(times, nt, sizeof *times, s_cmp_i64);
    int rc = 0, kept = 0;
    bool have_prev = false;
    for (size_t k = 0; k < nt && rc == 0; k++) {
        if (k > 0 && times[k] == times[k - 1])
            continue;
        kms_kepler_snapshot_t *cur = snaps[1];
        kms_kepler_snapshot_begin(cur, (double) times[k] / 1000.0, w->nodes[node]);
        for (size_t i = 0; i < w->nresults; i++)
            if (w->results[i].node == node)
                s_walk_feed(&w->results[i], times[k], cur);
        w->stats->snapshots++;
        int verdict = fn(have_prev ? snaps[0] : NULL, cur, arg);
        if (kms_kepler_keep_prev(verdict == KMS_KEPLER_KEEP_PREV && have_prev, &kept))
            continue;
        if (verdict != 0 && verdict != KMS_KEPLER_KEEP_PREV) {
            *why = "stopped by the caller";
            rc = -1;
        }
        snaps[1] = snaps[0];
        snaps[0] = cur;
        have_prev = true;
    }
    free(times);
    return rc;
}

int kms_kepler_prom_walk(const json_t *root, kms_kepler_snapshot_fn fn, void *arg,
                         kms_kepler_prom_stats_t *stats, const char **why)
{
    assert(fn);
    kms_kepler_prom_stats_t local;
    const char *local_why;
    if (!stats)
        stats = &local;
    if (!why)
        why = &local_why;
    memset(stats, 0, sizeof *stats);
    *why = NULL;
    if (!json_is_object(root)) {
        *why = "not a JSON object";
        return -1;
    }
    json_t *obj = (json_t *) root;  /* jansson's getters take non-const; nothing is modified */
    s_walk_t w = {0};
    w.stats = stats;
    int rc = 0;
    json_t *status = json_object_get(obj, "status");
    if (status) {
        if (!json_is_string(status) || strcmp(json_string_value(status), "success") != 0) {
            const char *msg = json_string_value(json_object_get(obj, "error"));
            *why = msg ? msg : "Prometheus answered with an error";
            return -1;
        }
        json_t *data = json_object_get(obj, "data");
        const char *type = json_string_value(json_object_get(data, "resultType"));
        json_t *result = json_object_get(data, "result");
        if (!type || (strcmp(type, "vector") != 0 && strcmp(type, "matrix") != 0) || !json_is_array(result)) {
            *why = "Prometheus answer is neither a vector nor a matrix";
            return -1;
        }
        size_t i;
        json_t *r;
        json_array_foreach(result, i, r) {
            if (s_walk_add(&w, NULL, r) != 0) {
                rc = -1;
                break;
            }
        }
    } else {
        const char *name;
        json_t *list;
        json_object_foreach(obj, name, list) {
            if (!json_is_array(list)) {
                *why = "not a Prometheus answer nor a query_range dump";
                rc = -1;
                break;
            }
            size_t i;
            json_t *r;
            json_array_foreach(list, i, r) {
                if (s_walk_add(&w, name, r) != 0) {
                    rc = -1;
                    break;
                }
            }
            if (rc != 0)
                break;
        }
    }
    if (rc != 0 && !*why)
        *why = "out of memory";
    stats->nodes = w.nnodes;
    kms_kepler_snapshot_t *snaps[2] = {kms_kepler_snapshot_new(), kms_kepler_snapshot_new()};
    if (rc == 0 && (!snaps[0] || !snaps[1])) {
        *why = "out of memory";
        rc = -1;
    }
    for (size_t n = 0; n < w.nnodes && rc == 0; n++)
        rc = s_walk_node(&w, n, fn, arg, snaps, why);
    kms_kepler_snapshot_destroy(&snaps[0]);
    kms_kepler_snapshot_destroy(&snaps[1]);
    free(w.results);
    free(w.nodes);
    return rc;
}
