/*  kms_sample: the sample that the scraper publishes and the trainer learns from
    (docs/contract.md, "Samples"), and its named values. Its msgpack wire form is
    kms_sample_msgpack.h, its JSON form (kms-tail's) kms_sample_json.h. */
#ifndef KMS_SAMPLE_H
#define KMS_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_SAMPLE_VERSION 1
#define KMS_TOPIC_NODE "kepler.node"
#define KMS_TOPIC_CONTAINER "kepler.container"

#define KMS_SAMPLE_MAX_VALUES 32 /* features, and targets, per sample */
#define KMS_NAME_MAX 64          /* feature, target and architecture names, with the NUL */
#define KMS_ID_MAX 256           /* node and container identity strings, with the NUL */
#define KMS_SAMPLE_MAX_FRAME 65536
#define KMS_SAMPLE_MAX_CPUS 4096 /* more logical cpus than this on one node is not believed */

/* Canonical feature names. */
#define KMS_F_CPU_CYCLES "cpu_cycles"
#define KMS_F_CPU_INSTRUCTIONS "cpu_instructions"
#define KMS_F_CACHE_MISSES "cache_misses"
#define KMS_F_CPU_TIME "cpu_time"
#define KMS_F_RESIDENT_MEMORY "resident_memory"
#define KMS_F_PAGE_CACHE_HITS "page_cache_hits" /* Kepler 0.7-0.9's bpf_page_cache_hit */
#define KMS_F_IRQ_BLOCK "irq_block"             /* bpf_block_irq */
#define KMS_F_IRQ_NET_RX "irq_net_rx"           /* bpf_net_rx_irq */
#define KMS_F_IRQ_NET_TX "irq_net_tx"           /* bpf_net_tx_irq */
/* A per-cpu model's feature (kms_model.h): cpu_time / cpus, the node's busy share, 0 to 1. */
#define KMS_F_CPU_UTILIZATION "cpu_utilization"

typedef struct {
    char name[KMS_NAME_MAX];
    double value;
} kms_named_value_t;

typedef struct {
    size_t count;
    kms_named_value_t items[KMS_SAMPLE_MAX_VALUES];
} kms_values_t;

typedef struct {
    uint64_t seq;
    double ts; /* end of the interval, unix seconds */
    double dt; /* length of the interval, seconds */
    char node[KMS_ID_MAX];
    char arch[KMS_NAME_MAX];
    uint32_t cpus;         /* the node's logical cpus where the exporter states them; 0: not said */
    kms_values_t features; /* per-second rates (and gauges), canonical names */
    kms_values_t targets;  /* watts per component */
    bool is_container;     /* container identity below is set */
    char container_id[KMS_ID_MAX];
    char pod[KMS_ID_MAX];
    char namespace_[KMS_ID_MAX];
    char container[KMS_ID_MAX];
} kms_sample_t;

/* Looks `name` up; returns true and stores the value when present. */
bool kms_values_get(const kms_values_t *values, const char *name, double *out);
/* Sets or replaces `name`. Returns -1 when full or the name is too long. */
int kms_values_set(kms_values_t *values, const char *name, double value);

/* The topic for this sample. */
const char *kms_sample_topic(const kms_sample_t *sample);

#endif
