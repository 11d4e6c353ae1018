/*  kms_kepler_diff: two snapshots of one Kepler target into samples (kms_kepler_diff.h). It reads
    the snapshots' layout (kms_kepler_internal.h) directly: the diff is the store's other half. */
#include "kms_kepler_diff.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kms_kepler_internal.h"

static const char *s_target_names[T_COUNT] = {"package", "core", "uncore", "dram", "platform", "other", "gpu"};

const char *const kms_kepler_spoil_names[KMS_KEPLER_SPOIL_COUNT] = {"duplicate", "nonfinite", "jump", "series_changed"};

/* The standard Intel RAPL range: a 32-bit counter of 2^-14 J units, which sysfs reports as
   max_energy_range_uj = 262143328850. Kepler 0.10 does not export the range, so this is the
   only one known; a reading that went down from above it is not unwrapped. */
#define S_RAPL_RANGE_J 262143.328850

/* A zone's recent power: the highest of its intervals, each interval 1% forgotten; a fall is a
   wrap only at no more than S_WRAP_RECENT_FACTOR times it plus S_WRAP_RECENT_FLOOR_W (room for
   a workload that starts in the very interval of the wrap). */
#define S_RECENT_DECAY 0.99
#define S_WRAP_RECENT_FACTOR 4.0
#define S_WRAP_RECENT_FLOOR_W 10.0

#define S_CPU_SOURCES ((1u << F_CPU_BPF) | (1u << F_CPU_CGROUP) | (1u << F_CPU_KUBELET))

typedef struct {
    const kms_kepler_snapshot_t *prev;
    kms_kepler_snapshot_t *cur;
    double dt;
    int cpu_slot, mem_slot; /* chosen sources, -1 when none */
    uint32_t fmask;         /* a container sample's features: the usage counters both have, and the sources */
    uint32_t fown;          /* node features from the node's own figure: no container spoils them */
    bool procs;             /* 0.10 cpu time from processes, in both snapshots */
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

/* The cpu time and memory sources are alternatives: each gives its sample's one feature. */
static const char *s_feature_names[F_COUNT] = {
    [F_CYCLES] = KMS_F_CPU_CYCLES,          [F_INSTR] = KMS_F_CPU_INSTRUCTIONS,
    [F_CACHE] = KMS_F_CACHE_MISSES,         [F_PAGE_CACHE] = KMS_F_PAGE_CACHE_HITS,
    [F_IRQ_BLOCK] = KMS_F_IRQ_BLOCK,        [F_IRQ_NET_RX] = KMS_F_IRQ_NET_RX,
    [F_IRQ_NET_TX] = KMS_F_IRQ_NET_TX,      [F_CPU_BPF] = KMS_F_CPU_TIME,
    [F_CPU_CGROUP] = KMS_F_CPU_TIME,        [F_CPU_KUBELET] = KMS_F_CPU_TIME,
    [F_MEM_CGROUP] = KMS_F_RESIDENT_MEMORY, [F_MEM_KUBELET] = KMS_F_RESIDENT_MEMORY,
};

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

/* One container's rates over the interval: f of d->fmask, t of the targets both have. Returns
   -1 when its non-zero counters all went down (it restarted: it gives nothing), -2 when some
   went down and others did not (the page is damaged). */
static int s_cont_rates(s_diff_t *d, const s_cont_t *p, const s_cont_t *c, double f[F_COUNT], double t[T_COUNT])
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
    for (int s = 0; s < F_COUNT; s++)
        if (d->fmask & (1u << s))
            f[s] = (counters & (1u << s)) ? (c->f[s] - p->f[s]) / d->dt : 0;
    if (d->procs)
        f[F_CPU_BPF] = s_proc_cpu(d, c->key) / d->dt;
    if (d->mem_slot >= 0)
        f[d->mem_slot] = (c->fmask & (1u << d->mem_slot)) ? c->f[d->mem_slot] : 0;
    for (int s = 0; s < T_COUNT; s++)
        if (targets & (1u << s))
            t[s] = (c->t[s] - p->t[s]) / d->dt;
    return 0;
}

/* Hands the callback one sample over `dt` of cur's node, or of its container `c` (NULL: the
   node's): the features and targets of the masks. */
static int s_emit(s_diff_t *d, const s_cont_t *c, double dt, const double f[F_COUNT], uint32_t fmask,
                  const double t[T_COUNT], uint32_t tmask)
{
    const kms_kepler_snapshot_t *cur = d->cur;
    kms_sample_t s;
    memset(&s, 0, sizeof s);
    s.ts = cur->ts;
    s.dt = dt;
    snprintf(s.node, sizeof s.node, "%s", cur->node);
    snprintf(s.arch, sizeof s.arch, "%s", cur->arch);
    s.cpus = cur->cpus; /* over KMS_SAMPLE_MAX_CPUS: not encoded, the sample is dropped */
    if (c)
        s_sample_identity(&s, cur, c);
    for (int i = 0; i < F_COUNT; i++)
        if (fmask & (1u << i))
            s_put(&s.features, s_feature_names[i], f[i], d->stats);
    for (int i = 0; i < T_COUNT; i++)
        if (tmask & (1u << i))
            s_put(&s.targets, s_target_names[i], t[i], d->stats);
    d->stats->samples++;
    return d->fn(&s, d->arg) != 0 ? -1 : 0;
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
            if (both[k]->nseries[i].slot < 0 && both[k]->nseries[i].labels == labels
                && both[k]->nseries[i].value > most)
                most = both[k]->nseries[i].value;
    return most;
}

/* A raw reading that went down is unwrapped with the standard range only when both readings
   lie within it and the power it implies is one the zone can draw: no more than twice the
   larger of Kepler's watts gauges for it (plus 1 W) where the page has them, else than the
   zone's recent power allows (S_WRAP_RECENT_*) once it has one, and never beyond
   KMS_KEPLER_ZONE_MAX_WATTS. A zone whose range is not the standard one (another energy unit,
   another vendor) would otherwise give tens of kilowatts, a restart a megawatt. */
static bool s_unwrap_plausible(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c, const s_nseries_t *cs,
                               const s_nseries_t *ps, double dt)
{
    if (ps->value > S_RAPL_RANGE_J || cs->value > S_RAPL_RANGE_J)
        return false;
    double implied = (S_RAPL_RANGE_J - ps->value + cs->value) / dt;
    double watts = s_zone_watts(p, c, cs->labels);
    if (watts >= 0)
        return implied <= KMS_KEPLER_ZONE_MAX_WATTS && implied <= 2 * watts + 1;
    return implied <= KMS_KEPLER_ZONE_MAX_WATTS
           && !(implied > S_WRAP_RECENT_FACTOR * ps->recent_watts + S_WRAP_RECENT_FLOOR_W);
}

/* The zone's recent power as of cur: the larger of this interval's and the previous one's,
   decayed, when the zone counted up at a power a zone can draw. An interval in which it did not
   move measured nothing (an exporter that had not refreshed its readings), nor did a fall: the
   previous one is carried. NAN until one interval was measured. */
static double s_recent_watts(const s_nseries_t *ps, double delta, double dt)
{
    double carried = S_RECENT_DECAY * ps->recent_watts, watts = delta / dt;
    if (!(delta > 0) || !(watts <= KMS_KEPLER_ZONE_MAX_WATTS))
        return ps->recent_watts;
    return isnan(carried) || watts > carried ? watts : carried;
}

/* The previous reading of a node series, NULL when the previous page had none. */
static const s_nseries_t *s_previous(const kms_kepler_snapshot_t *p, const s_nseries_t *cs)
{
    for (size_t j = 0; j < p->nnseries; j++)
        if (p->nseries[j].key == cs->key)
            return &p->nseries[j];
    return NULL;
}

/* Whether every raw RAPL zone that was counting went down, and there are two or more: RAPL
   counting again from 0 (a reboot, an exporter restart), not wraps, which come one at a time. */
static bool s_rapl_restart(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c)
{
    size_t zones = 0, fell = 0;
    for (size_t i = 0; i < c->nnseries; i++) {
        const s_nseries_t *cs = &c->nseries[i], *ps;
        if (!cs->raw_rapl || cs->slot < 0 || !(ps = s_previous(p, cs)) || !(ps->value > 0))
            continue;
        zones++;
        fell += cs->value < ps->value;
    }
    return zones >= 2 && fell == zones;
}

/* Whether a node series counts in the comparison of the two pages' series. A target already
   left out (a series of it NaN, and so missing from its page, or twice) is not compared. */
static bool s_compared(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c, const s_nseries_t *s)
{
    uint32_t spoiled = p->t_duplicate | c->t_duplicate | p->t_nonfinite | c->t_nonfinite;
    return s->era == c->era && s->slot >= 0 && !(spoiled & (1u << s->slot));
}

/* The node targets with an energy series in one page and not in the other; *lost when one of
   prev's is missing from cur. Each target is a sum over its series (packages, modes, zones):
   with a series gone or new, the two sums do not cover the same hardware, and their difference
   would be the power of part of the node (a package lost from every other page gave half). */
static uint32_t s_series_changed(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c, bool *lost)
{
    uint32_t changed = 0;
    *lost = false;
    for (size_t i = 0; i < c->nnseries; i++)
        if (s_compared(p, c, &c->nseries[i]) && !s_previous(p, &c->nseries[i]))
            changed |= 1u << c->nseries[i].slot;
    for (size_t i = 0; i < p->nnseries; i++)
        if (s_compared(p, c, &p->nseries[i]) && !s_previous(c, &p->nseries[i])) {
            changed |= 1u << p->nseries[i].slot;
            *lost = true;
        }
    return changed;
}

/* Leaves out of the node sample the targets and features this interval cannot give honestly,
   counted once each by their first reason. `p` may be NULL (the gauge era: a page stands alone). */
static void s_spoil(const s_diff_t *d, uint32_t jumps, uint32_t *ntmask, uint32_t *nfmask)
{
    const kms_kepler_snapshot_t *c = d->cur, *p = d->prev && c->era != KMS_KEPLER_ERA_GAUGE ? d->prev : c;
    uint32_t targets[KMS_KEPLER_SPOIL_COUNT] = {p->t_duplicate | c->t_duplicate, p->t_nonfinite | c->t_nonfinite, jumps,
                                                0 /* series_changed: no node sample at all */};
    uint32_t done = 0;
    for (int r = 0; r < KMS_KEPLER_SPOIL_COUNT; r++)
        for (int s = 0; s < T_COUNT; s++)
            if ((targets[r] & ~done) & (1u << s)) {
                d->stats->spoiled[r]++;
                done |= 1u << s;
            }
    *ntmask &= ~done;
    uint32_t features = (p->f_nonfinite | c->f_nonfinite) & *nfmask & ~d->fown;
    d->stats->spoiled[KMS_KEPLER_SPOIL_NONFINITE] += (size_t) __builtin_popcount(features);
    *nfmask &= ~features;
}

/* The node's usage ratio over this very interval, from Kepler 0.10+'s own split of the zones'
   energy: each of its refreshes books active = energy x the usage ratio of that refresh, idle =
   the rest (v0.11.4 internal/monitor/node.go:131-141), so the increase of the active joules over
   that of active + idle is the interval's ratio, each refresh weighed by its energy. NAN when a
   page lacks them or they went back (Kepler restarted: its own counters start again at 0). */
static double s_split_ratio(const kms_kepler_snapshot_t *p, const kms_kepler_snapshot_t *c)
{
    if (!p->nsplit[0] || !p->nsplit[1] || p->nsplit[0] != c->nsplit[0] || p->nsplit[1] != c->nsplit[1])
        return NAN;
    double active = c->split[0] - p->split[0], idle = c->split[1] - p->split[1];
    return active >= 0 && idle >= 0 && active + idle > 0 ? active / (active + idle) : NAN;
}

/* Kepler 0.10+'s own figure of the node's cpu time: its usage ratio (active / total jiffies of
   /proc/stat, active = total - idle - iowait: Kepler v0.11.4
   internal/resource/procfs_reader.go:104-141) times the node's logical cpus (the snapshot's
   cpus), in cpu-seconds per second. The ratio over the interval comes from the active and idle
   joules (s_split_ratio); without them, the current page's kepler_node_cpu_usage_ratio
   (internal/exporter/prometheus/collector/power_collector.go:137-140, 309-313), Kepler's figure
   over its own last refresh only. Either is the node's whole, where the sum over processes
   misses every process that started or ended within the interval (on a node whose pids churn,
   nearly all of it). Containers keep their processes' sums. Without a ratio or the cpus, the
   node keeps the sum too. */
static void s_node_cpu(s_diff_t *d, double nf[F_COUNT], uint32_t *nfmask)
{
    const kms_kepler_snapshot_t *c = d->cur;
    double ratio = s_split_ratio(d->prev, c);
    if (isnan(ratio))
        ratio = c->usage;
    if (c->era != KMS_KEPLER_ERA_RAPL || isnan(ratio) || c->cpus == 0)
        return;
    nf[F_CPU_BPF] = ratio * c->cpus;
    *nfmask = (*nfmask & ~S_CPU_SOURCES) | 1u << F_CPU_BPF;
    d->fown = 1u << F_CPU_BPF;
}

/* The node's targets over the interval, and what their counters did. */
typedef struct {
    double watts[T_COUNT];
    uint32_t mask;   /* targets measured */
    uint32_t jumps;  /* targets beyond KMS_KEPLER_SERIES_MAX_WATTS */
    size_t down, up; /* series that went down; series that went on from above 0 */
} s_node_targets_t;

/* Each energy series against itself in the previous scrape, RAPL wraps unwrapped. */
static void s_node_targets(s_diff_t *d, s_node_targets_t *out)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    memset(out, 0, sizeof *out);
    bool rapl_restart = s_rapl_restart(p, c);
    for (size_t i = 0; i < c->nnseries; i++) {
        const s_nseries_t *cs = &c->nseries[i];
        if (cs->era != c->era || cs->slot < 0)
            continue;
        const s_nseries_t *ps = s_previous(p, cs);
        if (!ps)
            continue; /* a series that just appeared (a new GPU...): s_series_changed */
        double delta = cs->value - ps->value;
        if (delta < 0 && cs->raw_rapl && !rapl_restart && s_unwrap_plausible(p, c, cs, ps, d->dt)) {
            delta = S_RAPL_RANGE_J - ps->value + cs->value;
            d->stats->rapl_wraps++;
        }
        if (cs->raw_rapl)
            d->cur->nseries[i].recent_watts = s_recent_watts(ps, delta, d->dt);
        if (delta < 0)
            out->down++;
        else if (ps->value > 0)
            out->up++; /* a counter at 0 (no such zone here) says nothing about a restart */
        if (delta / d->dt > KMS_KEPLER_SERIES_MAX_WATTS)
            out->jumps |= 1u << cs->slot;
        out->watts[cs->slot] += delta / d->dt;
        out->mask |= 1u << cs->slot;
    }
}

/* Whether the node's sums are comparable: no energy counter went down (the exporter restarted,
   or the page is damaged) and every series is in both pages. If not, says why in the stats. */
static bool s_node_comparable(s_diff_t *d, const s_node_targets_t *nt)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    kms_kepler_diff_stats_t *st = d->stats;
    if (nt->down > 0) {
        st->counter_resets += nt->down;
        st->damaged = nt->up > 0 && c->era != KMS_KEPLER_ERA_RAPL;
        st->why = st->damaged ? "some node counters went down, others went on: a damaged page"
                              : "the node's counters went down (exporter restart)";
        return false;
    }
    bool lost;
    uint32_t changed = s_series_changed(p, c, &lost);
    if (changed) {
        st->spoiled[KMS_KEPLER_SPOIL_SERIES_CHANGED] += (size_t) __builtin_popcount(changed);
        st->damaged = lost; /* back with the series, the next page matches prev */
        st->why = "a node energy series is in one page only: the node's sums are not comparable";
        return false;
    }
    return true;
}

/* The source of cpu time and of memory, and a container sample's features: the usage counters
   both pages have, the cpu time (the processes' when they have it) and the memory. */
static void s_choose_sources(s_diff_t *d)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    d->procs = p->nprocs > 0 && c->nprocs > 0;
    d->cpu_slot = s_pick(p, c, F_CPU_BPF, F_CPU_KUBELET);
    if (d->cpu_slot < 0 && (p->seen_mask & c->seen_mask & (1u << F_CPU_BPF)))
        d->cpu_slot = F_CPU_BPF; /* all sources zero: an idle node, still a measurement */
    d->mem_slot = s_pick(c, c, F_MEM_CGROUP, F_MEM_KUBELET);
    if (d->mem_slot < 0 && (c->seen_mask & (1u << F_MEM_KUBELET)))
        d->mem_slot = F_MEM_KUBELET;
    d->fmask = (p->seen_mask & c->seen_mask & F_PLAIN) | (d->mem_slot >= 0 ? 1u << d->mem_slot : 0)
               | (d->procs           ? 1u << F_CPU_BPF
                  : d->cpu_slot >= 0 ? 1u << d->cpu_slot
                                     : 0);
}

/* The node's features: the sums over the containers present, and intact, in both scrapes.
   False (why in the stats) when a container's counters show the page is damaged. */
static bool s_node_features(s_diff_t *d, double nf[F_COUNT], uint32_t *nfmask)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    kms_kepler_diff_stats_t *st = d->stats;
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
        int rc = s_cont_rates(d, pc, cc, f, t);
        if (rc == -2 && c->era != KMS_KEPLER_ERA_RAPL) {
            /* One counter of a container fell while the others went on: the page is damaged,
               and taking it as the reference would make the counter's way back up a spike. */
            st->counter_resets++;
            st->damaged = true;
            st->why = "a container's counter went down while its others went on: a damaged page";
            return false;
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
            rc = s_cont_rates(d, &zero, cc, f, t);
        } else if (rc == 0) {
            st->containers_matched++;
        }
        if (rc != 0)
            continue;
        for (int s = 0; s < F_COUNT; s++)
            nf[s] += f[s] * !!(d->fmask & (1u << s));
    }
    if (d->procs) /* the node's cpu time is every process's, in a container or not */
        nf[F_CPU_BPF] = s_proc_cpu(d, 0) / d->dt;
    st->containers_churned += kms_kepler_snapshot_containers(p) - matched; /* p's era is c's */
    /* Features the exporter provides count even when no container matched (they sum to 0). */
    *nfmask |= d->fmask | (d->cpu_slot >= 0 ? 1u << d->cpu_slot : 0);
    s_node_cpu(d, nf, nfmask);
    return true;
}

/* A sample of each container present, and intact, in both scrapes. */
static int s_container_samples(s_diff_t *d)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    for (size_t i = 0; i < c->nconts; i++) {
        const s_cont_t *cc = &c->conts[i];
        const s_cont_t *pc = cc->era == c->era && !cc->proc ? s_cont_find(p, cc->key) : NULL;
        double f[F_COUNT], t[T_COUNT];
        if (!pc || s_cont_rates(d, pc, cc, f, t) != 0)
            continue;
        if (s_emit(d, cc, d->dt, f, d->fmask, t, pc->tmask & cc->tmask) != 0)
            return -1;
    }
    return 0;
}

static int s_diff_counters(s_diff_t *d)
{
    s_node_targets_t nt;
    double nf[F_COUNT] = {0};
    uint32_t nfmask = 0;
    s_node_targets(d, &nt);
    if (!s_node_comparable(d, &nt))
        return 0;
    s_choose_sources(d);
    if (!s_node_features(d, nf, &nfmask))
        return 0;
    uint32_t ntmask = nt.mask; /* less what this interval cannot give honestly */
    s_spoil(d, nt.jumps, &ntmask, &nfmask);
    if (s_emit(d, NULL, d->dt, nf, nfmask, nt.watts, ntmask) != 0 || s_container_samples(d) != 0)
        return -1;
    return (int) d->stats->samples;
}

/* 0.1-0.3's amounts per Kepler's period into per-second rates (memory is a level, kept as is);
   cgroup memory, when there, over the kubelet's. */
static void s_per_second(double f[F_COUNT], uint32_t *fmask, double t[T_COUNT])
{
    for (int s = 0; s < F_COUNT; s++)
        if (!(F_GAUGES & (1u << s)))
            f[s] /= KMS_KEPLER_GAUGE_PERIOD;
    for (int s = 0; s < T_COUNT; s++)
        t[s] /= KMS_KEPLER_GAUGE_PERIOD;
    if (*fmask & (1u << F_MEM_CGROUP))
        *fmask &= ~(1u << F_MEM_KUBELET);
}

/* 0.1-0.3: every value already covers Kepler's own period; no previous scrape is needed. */
static int s_diff_gauges(s_diff_t *d)
{
    const kms_kepler_snapshot_t *p = d->prev, *c = d->cur;
    kms_kepler_diff_stats_t *st = d->stats;
    if (p && p->era == c->era && p->nfmask == c->nfmask && p->ntmask == c->ntmask
        && memcmp(p->nf, c->nf, sizeof c->nf) == 0 && memcmp(p->nt, c->nt, sizeof c->nt) == 0
        && (c->nfmask | c->ntmask)) {
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
    s_per_second(nf, &nfmask, nt);
    s_spoil(d, 0, &ntmask, &nfmask);
    if (s_emit(d, NULL, KMS_KEPLER_GAUGE_PERIOD, nf, nfmask, nt, ntmask) != 0)
        return -1;
    for (size_t i = 0; i < c->nconts; i++) {
        const s_cont_t *cc = &c->conts[i];
        if (cc->era != KMS_KEPLER_ERA_GAUGE)
            continue;
        double f[F_COUNT], t[T_COUNT];
        uint32_t fm = cc->fmask;
        memcpy(f, cc->f, sizeof f);
        memcpy(t, cc->t, sizeof t);
        s_per_second(f, &fm, t);
        st->containers_matched++;
        if (s_emit(d, cc, KMS_KEPLER_GAUGE_PERIOD, f, fm, t, cc->tmask) != 0)
            return -1;
    }
    return (int) st->samples;
}

int kms_kepler_diff(const kms_kepler_snapshot_t *prev, kms_kepler_snapshot_t *cur, kms_kepler_sample_fn fn, void *arg,
                    kms_kepler_diff_stats_t *stats)
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
    d.dt = kms_kepler_snapshot_interval(prev, cur);
    if (!(d.dt > 0) || !isfinite(d.dt)) {
        stats->why = "no time elapsed between the scrapes";
        return 0;
    }
    return s_diff_counters(&d);
}

bool kms_kepler_keep_prev(bool damaged, int *kept)
{
    if (damaged && (*kept)++ < KMS_KEPLER_KEEP_PREV_MAX)
        return true;
    *kept = 0;
    return false;
}
