/*  kms_kepler: Kepler's families, per era, into snapshots.

    A snapshot keeps, per container, one value per feature source and per target (dynamic and
    idle modes already summed), and for the node one entry per energy series (so that a reset
    or a wrap is seen on the series itself, not hidden in a sum). Containers live in a dense
    array indexed by an open-addressing table keyed by a 64-bit hash of their identity; their
    strings live in one arena. begin() only rewinds lengths, so a steady stream of scrapes of
    the same target allocates nothing. The layout is in kms_kepler_internal.h, which the diff
    (kms_kepler_diff.c) reads too. */
#include "kms_kepler.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_kepler_internal.h"
#include "kms_num.h"

#define COUNTER KMS_KEPLER_ERA_COUNTER
#define RAPL KMS_KEPLER_ERA_RAPL
#define GAUGE KMS_KEPLER_ERA_GAUGE
static const s_family_t s_families[] = {
    /* 0.4 - 0.9 */
    {"kepler_container_cpu_cycles_total", K_CONT_COUNTER, F_CYCLES, 1, COUNTER},
    {"kepler_container_cpu_instructions_total", K_CONT_COUNTER, F_INSTR, 1, COUNTER},
    {"kepler_container_cache_miss_total", K_CONT_COUNTER, F_CACHE, 1, COUNTER},
    {"kepler_container_bpf_page_cache_hit_total", K_CONT_COUNTER, F_PAGE_CACHE, 1, COUNTER},
    {"kepler_container_bpf_block_irq_total", K_CONT_COUNTER, F_IRQ_BLOCK, 1, COUNTER},
    {"kepler_container_bpf_net_rx_irq_total", K_CONT_COUNTER, F_IRQ_NET_RX, 1, COUNTER},
    {"kepler_container_bpf_net_tx_irq_total", K_CONT_COUNTER, F_IRQ_NET_TX, 1, COUNTER},
    /* Milliseconds despite the name, up to 0.7.2 as in 0.4's cpu_cpu_time_us: the eBPF
       program sums (cur_ts - prev_ts) / 1000000 (v0.7.1 bpfassets/libbpf/src/kepler.bpf.c:65). */
    {"kepler_container_bpf_cpu_time_us_total", K_CONT_COUNTER, F_CPU_BPF, 1e-3, COUNTER},
    {"kepler_container_bpf_cpu_time_ms_total", K_CONT_COUNTER, F_CPU_BPF, 1e-3, COUNTER},
    {"kepler_container_cpu_cpu_time_us", K_CONT_COUNTER, F_CPU_BPF, 1e-3, COUNTER}, /* 0.4 */
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
    {"kepler_node_cpu_info", K_NODE_CPU, 0, 1, KMS_KEPLER_ERA_UNKNOWN},
    {"kepler_node_cpu_usage_ratio", K_NODE_USAGE, 0, 1, RAPL},
    {"kepler_node_cpu_active_joules_total", K_NODE_SPLIT, 0, 1, RAPL},
    {"kepler_node_cpu_idle_joules_total", K_NODE_SPLIT, 1, 1, RAPL},
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

/* Container energy, and 0.10's per-container and per-process series: container samples only. */
static bool s_container_only(const s_family_t *f)
{
    return f->kind == K_CONT_ENERGY || f->kind == K_CONT_ZONE || f->kind == K_PROC_COUNTER
           || (f->kind == K_CONT_COUNTER && f->era == KMS_KEPLER_ERA_RAPL);
}

char *kms_kepler_selector(bool containers)
{
    size_t cap = sizeof "{__name__=~\"\"}";
    for (size_t i = 0; i < S_FAMILY_COUNT; i++)
        cap += strlen(s_families[i].name) + 1;
    char *out = malloc(cap), *end = out;
    if (!out)
        return NULL;
    end += sprintf(end, "{__name__=~\"");
    for (size_t i = 0; i < S_FAMILY_COUNT; i++)
        if ((containers || !s_container_only(&s_families[i])) && s_families[i].kind != K_NODE_CPU)
            end += sprintf(end, "%s%s", end[-1] == '"' ? "" : "|", s_families[i].name);
    strcpy(end, "\"}");
    return out;
}

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

/* `self`'s buffers become those of `owner`, which keeps none. */
static void s_take_buffers(kms_kepler_snapshot_t *self, const kms_kepler_snapshot_t *owner)
{
    self->conts = owner->conts;
    self->cap_conts = owner->cap_conts;
    self->table = owner->table;
    self->table_cap = owner->table_cap;
    self->arena = owner->arena;
    self->arena_cap = owner->arena_cap;
    self->nseries = owner->nseries;
    self->cap_nseries = owner->cap_nseries;
}

void kms_kepler_snapshot_begin(kms_kepler_snapshot_t *self, double ts, const char *host)
{
    assert(self);
    kms_kepler_snapshot_t old = *self; /* all starts again but the buffers, which are reused */
    *self = (kms_kepler_snapshot_t){.ts = ts, .monotonic = NAN, .usage = NAN};
    s_take_buffers(self, &old);
    snprintf(self->node, sizeof self->node, "%s", host && *host ? host : "unknown");
    snprintf(self->arch, sizeof self->arch, "unknown");
    if (self->table)
        memset(self->table, 0xff, self->table_cap * sizeof *self->table);
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

/* ---------------------------------------------------------------- feeding series */

/* Copies a label's value, decoded, into out (NUL-terminated, cut to fit). */
static size_t s_label_value(const kms_promtext_label_t *label, char *out, size_t cap)
{
    if (label->escaped) {
        long n = kms_promtext_label_unescape(label, out, cap);
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
    const kms_promtext_label_t *container_id, *pod_name, *pod_id, *container_namespace, *pod_namespace, *container_name,
        *zone, *pid, *comm, *exported_instance, *node_name, *instance, *cpu_architecture, *model_name;
} s_labels_t;

static void s_labels_scan(const kms_promtext_series_t *series, s_labels_t *out)
{
    /* clang-format off */
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
    /* clang-format on */
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < series->label_count; i++) {
        const kms_promtext_label_t *l = &series->labels[i];
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
    if (self->last_len == name.len && name.len < sizeof self->last_name
        && memcmp(self->last_name, name.ptr, name.len) == 0)
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
    const kms_promtext_label_t *by_rank[] = {NULL, labels->instance, labels->node_name, labels->exported_instance};
    for (int rank = 3; rank > self->node_rank; rank--) {
        const kms_promtext_label_t *l = by_rank[rank];
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
    const kms_promtext_label_t *l = labels->cpu_architecture;
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
    const kms_promtext_label_t *z = labels->zone;
    if (!z)
        return -1;
    static const struct {
        const char *zone;
        int slot;
    } zones[] = {{"package", T_PACKAGE}, {"core", T_CORE},     {"uncore", T_UNCORE},
                 {"dram", T_DRAM},       {"psys", T_PLATFORM}, {"platform", T_PLATFORM}};
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
    if ((self->nconts + 1) * 2 > self->table_cap
        && s_table_rehash(self, self->table_cap ? self->table_cap * 2 : 64) != 0)
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

static uint64_t s_put_slice(uint64_t h, const kms_promtext_label_t *l)
{
    if (l)
        h = s_hash(h, l->value.ptr, l->value.len);
    return s_hash(h, "", 1); /* a separator: ("ab","c") and ("a","bc") differ */
}

/* Stores a label's decoded value in the arena; the offset of "" when the label is absent. */
static uint32_t s_arena_label(kms_kepler_snapshot_t *self, const kms_promtext_label_t *l)
{
    char text[KMS_ID_MAX];
    size_t n = l ? s_label_value(l, text, sizeof text) : 0;
    return s_arena_put(self, l ? text : "", n);
}

/* The container (or 0.1-0.3 pod) a series belongs to, created on first sight. Identity: the
   container id when Kepler gives one, else namespace, pod and container name. */
static s_cont_t *s_cont_get(kms_kepler_snapshot_t *self, const s_labels_t *labels, kms_kepler_era_t era)
{
    const kms_promtext_label_t *id = labels->container_id;
    const kms_promtext_label_t *pod = labels->pod_name ? labels->pod_name : labels->pod_id;
    const kms_promtext_label_t *ns = labels->container_namespace ? labels->container_namespace : labels->pod_namespace;
    const kms_promtext_label_t *name = labels->container_name;
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
    const kms_promtext_label_t *pid = labels->pid, *cid = labels->container_id;
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

static int s_add_node_series(kms_kepler_snapshot_t *self, const kms_promtext_series_t *series, const s_family_t *fam,
                             int slot, double value)
{
    /* The key covers every label, in any order (a JSON object need not keep Go's order). */
    uint64_t key = s_hash(S_HASH_SEED, series->name.ptr, series->name.len);
    uint64_t sum = 0;
    for (size_t i = 0; i < series->label_count; i++) {
        const kms_promtext_label_t *l = &series->labels[i];
        uint64_t h = s_hash(S_HASH_SEED, l->name.ptr, l->name.len);
        h = s_hash(h, "=", 1);
        sum += s_mix(s_hash(h, l->value.ptr, l->value.len));
    }
    key = s_mix(key ^ sum);
    for (size_t i = 0; i < self->nnseries; i++)
        if (self->nseries[i].key == key) {
            /* The same series twice: which value is the counter's? Neither is summed. */
            if (slot >= 0)
                self->t_duplicate |= 1u << slot;
            return 1;
        }
    void *ns = self->nseries;
    if (s_grow(&ns, &self->cap_nseries, self->nnseries + 1, sizeof *self->nseries) != 0)
        return -1;
    self->nseries = ns;
    self->nseries[self->nnseries++] = (s_nseries_t){key,   s_mix(sum), fam->era, slot, fam->kind == K_NODE_ZONE,
                                                    value, NAN};
    return 0;
}

/* 0.1-0.3: the numbers are label values (curr_cpu_cycles="123"; node_curr_... in 0.3). */
static int s_add_stat(kms_kepler_snapshot_t *self, const kms_promtext_series_t *series, const s_labels_t *labels,
                      bool node)
{
    static const struct {
        const char *name;
        bool target;
        int slot;
        double scale;
    } keys[] = {
        {"curr_cpu_cycles", false, F_CYCLES, 1},
        {"curr_cpu_instr", false, F_INSTR, 1},
        {"curr_cpu_instructions", false, F_INSTR, 1},
        {"curr_cache_miss", false, F_CACHE, 1},
        {"curr_cache_misses", false, F_CACHE, 1},
        /* Milliseconds: the eBPF program's (now - then) / 1000000 ns, "milisecond" (v0.3
           bpfassets/perf_event/perf_event.c:108, summed at :167 and :181). */
        {"curr_cpu_time", false, F_CPU_BPF, 1e-3},
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
    int bad = 0; /* numbers lost: the series counts as rejected, the others are used */
    for (size_t i = 0; i < series->label_count; i++) {
        const kms_promtext_label_t *l = &series->labels[i];
        kms_slice_t name = l->name;
        if (name.len > 5 && memcmp(name.ptr, "node_", 5) == 0) {
            name.ptr += 5;
            name.len -= 5;
        }
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (!kms_slice_eq(name, keys[k].name))
                continue;
            double v;
            uint32_t bit = 1u << keys[k].slot;
            if (kms_num_parse_double_n(l->value.ptr, l->value.len, &v) != 0 || !isfinite(v) || v < 0) {
                /* That number alone is lost; the node's sum of it would be short: spoiled. */
                *(keys[k].target ? &self->t_nonfinite : &self->f_nonfinite) |= bit;
                bad = 1;
            } else {
                (keys[k].target ? t : f)[keys[k].slot] = v * keys[k].scale;
                *(keys[k].target ? &tmask : &fmask) |= bit;
            }
            break;
        }
    }
    if (node) {
        if (self->nfmask | self->ntmask) { /* node_energy_stat twice: which one is the node? */
            self->t_duplicate |= self->ntmask | tmask;
            self->f_nonfinite |= self->nfmask | fmask;
        }
        memcpy(self->nf, f, sizeof f);
        memcpy(self->nt, t, sizeof t);
        self->nfmask = fmask;
        self->ntmask = tmask;
        s_note_node(self, labels);
        return bad;
    }
    s_cont_t *c = s_cont_get(self, labels, KMS_KEPLER_ERA_GAUGE);
    if (!c)
        return -1;
    for (int s = 0; s < F_COUNT; s++)
        if (fmask & (1u << s))
            c->f[s] = f[s];
    c->fmask |= fmask;
    return bad;
}

/* A series whose value cannot be used: the sums it belongs to would silently miss it (a socket
   of the node's watts, a container of the node's cycles), so they are marked for the diff. */
static void s_note_unusable(kms_kepler_snapshot_t *self, const s_labels_t *labels, const s_family_t *fam)
{
    if (fam->kind == K_NODE_ENERGY || fam->kind == K_NODE_ZONE) {
        int slot = fam->kind == K_NODE_ZONE ? s_zone_slot(labels) : fam->slot;
        if (slot >= 0)
            self->t_nonfinite |= 1u << slot;
    } else if (fam->kind == K_CONT_COUNTER || fam->kind == K_CONT_GAUGE || fam->kind == K_PROC_COUNTER) {
        self->f_nonfinite |= 1u << fam->slot;
    } else if (fam->kind == K_POD_ENERGY) { /* 0.1-0.3 without node_energy_stat: the node is its pods */
        self->t_nonfinite |= 1u << fam->slot;
    }
}

int kms_kepler_snapshot_add(kms_kepler_snapshot_t *self, const kms_promtext_series_t *series)
{
    assert(self);
    assert(series);
    const s_family_t *fam = s_family(self, series->name);
    if (!fam)
        goto ignored;
    double value = series->value;
    s_labels_t labels;
    s_labels_scan(series, &labels);
    if (fam->kind != K_NODE_STAT && fam->kind != K_POD_STAT && fam->kind != K_NODE_INFO && fam->kind != K_NODE_CPU
        && (!isfinite(value) || value < 0)) {
        s_note_unusable(self, &labels, fam);
        goto rejected;
    }
    if (fam->era > self->era)
        self->era = fam->era;
    value *= fam->scale;

    int rc = 0;
    s_cont_t *c;
    switch (fam->kind) {
    case K_NODE_INFO: s_note_arch(self, &labels); break;
    case K_NODE_CPU: /* one series per logical cpu, of value 1 (v0.11.4 collector/cpuinfo.go:77-87), or their count */
        if (!(isfinite(value) && value >= 1 && value == floor(value)))
            goto rejected;
        s_note_arch(self, &labels);
        self->cpus = (uint32_t) fmin(self->cpus + value, KMS_SAMPLE_MAX_CPUS + 1);
        break;
    case K_NODE_USAGE: /* active / total jiffies of /proc/stat: above 1 it is not one */
        if (value > 1)
            goto rejected;
        self->usage = ++self->nusage == 1 ? value : NAN; /* twice: which one is the node's? */
        s_note_node(self, &labels);
        break;
    case K_NODE_SPLIT:
        self->split[fam->slot] += value;
        self->nsplit[fam->slot]++;
        break;
    case K_NODE_STAT:
        s_note_arch(self, &labels);
        rc = s_add_stat(self, series, &labels, true);
        break;
    case K_POD_STAT: rc = s_add_stat(self, series, &labels, false); break;
    case K_NODE_ENERGY:
    case K_NODE_ZONE:
    case K_NODE_WATTS: {
        int slot = fam->kind != K_NODE_ENERGY ? s_zone_slot(&labels) : fam->slot;
        if (slot < 0)
            goto ignored;
        s_note_node(self, &labels);
        rc = s_add_node_series(self, series, fam, fam->kind == K_NODE_WATTS ? -1 : slot, value);
        break;
    }
    case K_CONT_COUNTER:
    case K_CONT_GAUGE:
    case K_PROC_COUNTER:
        c = fam->kind == K_PROC_COUNTER ? s_proc_get(self, &labels) : s_cont_get(self, &labels, fam->era);
        if (!c)
            goto rejected;
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
        if (slot < 0)
            goto ignored;
        if (!(c = s_cont_get(self, &labels, fam->era)))
            goto rejected;
        c->t[slot] += value; /* dynamic + idle */
        c->tmask |= 1u << slot;
        break;
    }
    }
    if (rc != 0)
        goto rejected;
    self->stats.used++;
    return 0;
rejected:
    self->stats.rejected++;
    return -1;
ignored:
    self->stats.ignored++;
    return 1;
}

static int s_on_series(const kms_promtext_series_t *series, void *arg)
{
    kms_kepler_snapshot_add(arg, series);
    return 0;
}

int kms_kepler_snapshot_parse(kms_kepler_snapshot_t *self, const char *page, size_t len, double ts, const char *host,
                              kms_promtext_stats_t *text_stats)
{
    assert(self);
    kms_kepler_snapshot_begin(self, ts, host);
    kms_promtext_handler_t handler = {s_on_series, NULL, self};
    kms_promtext_parse(page, len, &handler, text_stats);
    return self->era == KMS_KEPLER_ERA_UNKNOWN ? -1 : 0;
}

int kms_kepler_snapshot_copy(kms_kepler_snapshot_t *dst, const kms_kepler_snapshot_t *src)
{
    assert(dst && src);
    if (dst == src)
        return 0;
    void *conts = dst->conts, *arena = dst->arena, *nseries = dst->nseries;
    bool grown = s_grow(&conts, &dst->cap_conts, src->nconts, sizeof *src->conts) == 0
                 && s_grow(&arena, &dst->arena_cap, src->arena_len, 1) == 0
                 && s_grow(&nseries, &dst->cap_nseries, src->nnseries, sizeof *src->nseries) == 0;
    dst->conts = conts;
    dst->arena = arena;
    dst->nseries = nseries;
    if (!grown)
        return -1;
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
    /* Every other field as src's; dst keeps its own buffers, which now hold copies of src's. */
    kms_kepler_snapshot_t own = *dst;
    *dst = *src;
    s_take_buffers(dst, &own);
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

void kms_kepler_snapshot_set_monotonic(kms_kepler_snapshot_t *self, double monotonic)
{
    self->monotonic = monotonic;
}

double kms_kepler_snapshot_interval(const kms_kepler_snapshot_t *prev, const kms_kepler_snapshot_t *cur)
{
    if (isfinite(prev->monotonic) && isfinite(cur->monotonic))
        return cur->monotonic - prev->monotonic;
    return cur->ts - prev->ts;
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
    static const char *names[] = {"unknown", "0.1-0.3", "0.4-0.9", "0.10+"};
    return era >= KMS_KEPLER_ERA_UNKNOWN && era <= KMS_KEPLER_ERA_RAPL ? names[era] : "unknown";
}
