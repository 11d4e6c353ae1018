/*  meter_model: a model per zone. Pure: a served weights document made ready for this machine,
    and its watts. */
#ifndef METER_MODEL_H
#define METER_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "kms_family.h"
#include "kms_weights.h"
#include "meter_prior.h"

typedef enum { METER_PACKAGE = 0, METER_CORE, METER_UNCORE, METER_DRAM, METER_PSYS, METER_ZONES } meter_zone_t;

typedef struct {
    const char *zone;      /* "package": the --zones name and the metrics label */
    const char *dir;       /* "intel-rapl:0": the directory under class/powercap */
    const char *file_name; /* "package-0": what its name file says, as Linux writes it */
    const char *model;     /* the served per-cpu model */
} meter_zone_info_t;

const meter_zone_info_t *meter_zone_info(meter_zone_t zone);
/* -1 for a name that is not a zone. */
int meter_zone_find(const char *name);

/* How the model knows this machine's processor: its own, a near one, the mean of all it
   learned, or not at all (the coefficient prior, meter_prior.h). */
typedef enum { METER_ARCH_EXACT = 0, METER_ARCH_NEAREST, METER_ARCH_GENERIC, METER_ARCH_PRIOR } meter_arch_match_t;
const char *meter_arch_match_name(meter_arch_match_t match);

/* A served per-cpu model (watts of one logical cpu at cpu_utilization) made ready for one
   machine: the architecture's weight chosen once and folded into the bias
   (weights.category_count is 0); or, when the server serves a curve for it (the document's
   "families", kms_family.h), that curve on the model's one feature. */
typedef struct {
    kms_weights_t weights;
    bool curve;
    kms_family_fit_t fit;
    char arch_used[KMS_NAME_MAX]; /* the category applied; "" for generic */
    meter_arch_match_t match;
} meter_model_t;

/* What a model may be refused for: counted and logged by the caller. */
typedef enum {
    METER_REJECT_PARSE = 0, /* not JSON, or not a weights document (a missing or non-finite number) */
    METER_REJECT_NODE,      /* a node model, not one per logical cpu ("per_logical_cpu") */
    METER_REJECT_FEATURES,  /* a feature other than cpu_utilization */
    METER_REJECT_WATTS      /* negative or absurd watts for this machine */
} meter_reject_t;
const char *meter_reject_name(meter_reject_t reason);

/* Reads a per-cpu weights document (`body`, `len` bytes) for a machine of `cpus` logical cpus
   named `arch`. The architecture: its own category (exact), else the category sharing the
   longest leading run of whole words with it, two words at least (nearest: "Intel(R) Xeon(R)
   Gold 6338" for "Intel(R) Xeon(R) Gold 6348"), else the mean of all categories (generic: the
   average machine it learned). Refused unless it says per_logical_cpu, its one feature is
   cpu_utilization, and one cpu's watts idle and busy are finite, not negative, and `cpus` times
   them within max_watts. 0, or -1 with the reason in *why. */
int meter_model_parse(const char *body, size_t len, const char *arch, double cpus, double max_watts, meter_model_t *out,
                      meter_reject_t *why);

/* The prior as a model: one cpu draws min + u (max - min). -1 when absurd for `cpus`. */
int meter_model_from_prior(const meter_prior_t *prior, double cpus, double max_watts, meter_model_t *out);

/* One logical cpu's watts at `utilization` (0 to 1); not clamped (the energy counter does that). */
double meter_model_cpu_watts(const meter_model_t *model, double utilization);

/* How a VM is charged (docs/meter.md):
   FAIR    cpus x one cpu's watts at the VM's utilization: its vCPUs' share of the host's idle
           power, and the dynamic power of its use. The VMs that fill a host add up to the host.
   ACTIVE  Kepler 0.11's attribution on the host (internal/monitor/vm.go: the VM's cpu-time
           share of the node's active power, active = total x usage ratio, node.go): busy
           cpu-seconds x one cpu's watts, the utilization standing in for the host's. No idle. */
typedef enum { METER_SHARE_FAIR = 0, METER_SHARE_ACTIVE } meter_share_t;

/* The machine's watts: `cpus` logical cpus at `utilization`, charged as `share` says. */
double meter_model_machine_watts(const meter_model_t *model, double utilization, double cpus, meter_share_t share);

#endif
