/*  kms_sample: the sample that the scraper publishes and the trainer learns from, and its msgpack
    wire form (CONTRACT.md, "Samples").

    On the wire: two frames, the topic (KMS_TOPIC_NODE or KMS_TOPIC_CONTAINER) and one msgpack
    map with v, seq, ts, dt, node, arch, features, targets, and for container samples
    container_id, pod, namespace, container. Decoding skips keys it does not know and fails
    cleanly (-1) on a truncated, oversized or type-confused frame; everything decoded is copied
    into the kms_sample_t, so the frame may go right after. */
#ifndef KMS_SAMPLE_H
#define KMS_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_SAMPLE_VERSION 1
#define KMS_TOPIC_NODE "kepler.node"
#define KMS_TOPIC_CONTAINER "kepler.container"

#define KMS_SAMPLE_MAX_VALUES 32  /* features, and targets, per sample */
#define KMS_NAME_MAX 64           /* feature, target and architecture names, with the NUL */
#define KMS_ID_MAX 256            /* node and container identity strings, with the NUL */
#define KMS_SAMPLE_MAX_FRAME 65536

/* Canonical feature names. */
#define KMS_F_CPU_CYCLES "cpu_cycles"
#define KMS_F_CPU_INSTRUCTIONS "cpu_instructions"
#define KMS_F_CACHE_MISSES "cache_misses"
#define KMS_F_CPU_TIME "cpu_time"
#define KMS_F_RESIDENT_MEMORY "resident_memory"

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
    double ts;  /* end of the interval, unix seconds */
    double dt;  /* length of the interval, seconds */
    char node[KMS_ID_MAX];
    char arch[KMS_NAME_MAX];
    kms_values_t features;  /* per-second rates (and gauges), canonical names */
    kms_values_t targets;   /* watts per component */
    bool is_container;      /* container identity below is set */
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

/* Encodes into `buf`; returns the byte count, or 0 when `cap` is too small (frames are at most
   KMS_SAMPLE_MAX_FRAME) or when ts, dt or a value is not finite (no decoder would accept the
   frame). No allocation. */
size_t kms_sample_encode(const kms_sample_t *sample, void *buf, size_t cap);

/* Decodes one frame into `out`. Returns 0, or -1 on a frame that is not a valid sample (the
   reason, static text, in *why when why is not NULL; `out` is then empty: no values, ""
   strings, zero numbers). Never allocates per key; bounded work. The rules: exactly one
   msgpack map of at most KMS_SAMPLE_MAX_FRAME bytes; v must be 1; seq an unsigned integer (an
   integral float is taken too); ts, dt and every feature and target value a finite number,
   integer or float (dt > 0); node, arch and the container keys strings that fit their fields;
   at most KMS_SAMPLE_MAX_VALUES features and as many targets; keys it does not know, whatever
   their values, are skipped. Any container key makes it a container sample (is_container);
   the others are then "" when absent. */
int kms_sample_decode(const void *data, size_t len, kms_sample_t *out, const char **why);

/* One JSON object (topic included), as kms-tail prints it. Caller frees with free(). */
char *kms_sample_to_json(const kms_sample_t *sample);

#endif
