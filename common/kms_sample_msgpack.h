/*  kms_sample_msgpack: the msgpack wire form of a sample (kms_sample.h; docs/contract.md).

    On the wire: two frames, the topic (KMS_TOPIC_NODE or KMS_TOPIC_CONTAINER) and one msgpack
    map with v, seq, ts, dt, node, arch, features, targets, and for container samples
    container_id, pod, namespace, container. Decoding skips keys it does not know and fails
    cleanly (-1) on a truncated, oversized or type-confused frame; everything decoded is copied
    into the kms_sample_t, so the frame may go right after. */
#ifndef KMS_SAMPLE_MSGPACK_H
#define KMS_SAMPLE_MSGPACK_H

#include <stddef.h>

#include "kms_sample.h"

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

#endif
