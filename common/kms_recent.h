/*  kms_recent: a bounded table of per-name entries (a publisher's bookkeeping), found by name in
    constant time (czmq's zhashx). Past its capacity, the entry used longest ago makes room for
    the new one, so that a peer inventing names cannot exhaust memory. kms-trainer keeps one for
    its ingest (sequence and interval per publisher) and one for the samples its gates held back. */
#ifndef KMS_RECENT_H
#define KMS_RECENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kms_recent_t kms_recent_t;

/* A table of at most `capacity` entries of `entry_size` bytes. NULL when out of memory. */
kms_recent_t *kms_recent_new(size_t capacity, size_t entry_size);
void kms_recent_destroy(kms_recent_t **self_p);

/* The entry of `name`, marked as the one used last. A name not in the table gets a zeroed entry
   (*is_new true; may be NULL), in place of the one used longest ago when the table is full
   (*evicted true; may be NULL). NULL only when out of memory. */
void *kms_recent_use(kms_recent_t *self, const char *name, bool *is_new, bool *evicted);

/* The name of an entry that kms_recent_use returned. */
const char *kms_recent_name(const kms_recent_t *self, const void *entry);

/* How many entries; entry i of them (0 <= i < count), in no particular order, for reports. */
size_t kms_recent_count(const kms_recent_t *self);
void *kms_recent_at(const kms_recent_t *self, size_t i);

#endif
