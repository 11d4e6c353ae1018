/*  A bounded recency table: names to entries through zhashx, the oldest found by a scan only when
    a new name meets a full table. */
#include "kms_recent.h"

#include <czmq.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct kms_recent_t {
    size_t capacity, entry_size, count;
    char *entries;  /* capacity x entry_size */
    char **names;   /* the name of each entry */
    uint64_t *used; /* when each entry was used last (a count of uses) */
    uint64_t uses;
    zhashx_t *index; /* name -> entry number + 1, keyed by names[] itself (no copy) */
};

kms_recent_t *kms_recent_new(size_t capacity, size_t entry_size)
{
    kms_recent_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = capacity;
    self->entry_size = entry_size;
    self->entries = calloc(capacity, entry_size);
    self->names = calloc(capacity, sizeof *self->names);
    self->used = calloc(capacity, sizeof *self->used);
    self->index = zhashx_new();
    if (!self->entries || !self->names || !self->used || !self->index) {
        kms_recent_destroy(&self);
        return NULL;
    }
    zhashx_set_key_duplicator(self->index, NULL);
    zhashx_set_key_destructor(self->index, NULL);
    return self;
}

void kms_recent_destroy(kms_recent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kms_recent_t *self = *self_p;
    zhashx_destroy(&self->index); /* before the names it is keyed by */
    for (size_t i = 0; self->names && i < self->count; i++)
        free(self->names[i]);
    free(self->entries);
    free(self->names);
    free(self->used);
    free(self);
    *self_p = NULL;
}

static size_t s_oldest(const kms_recent_t *self)
{
    size_t oldest = 0;
    for (size_t i = 1; i < self->count; i++)
        if (self->used[i] < self->used[oldest])
            oldest = i;
    return oldest;
}

void *kms_recent_use(kms_recent_t *self, const char *name, bool *is_new, bool *evicted)
{
    uintptr_t found = (uintptr_t) zhashx_lookup(self->index, name);
    bool full = !found && self->count == self->capacity;
    if (is_new)
        *is_new = !found;
    if (evicted)
        *evicted = full;
    size_t i;
    if (found) {
        i = found - 1;
    } else {
        char *copy = strdup(name);
        if (!copy)
            return NULL;
        if (full) {
            i = s_oldest(self);
            zhashx_delete(self->index, self->names[i]);
            free(self->names[i]);
        } else {
            i = self->count++;
        }
        self->names[i] = copy;
        memset(self->entries + i * self->entry_size, 0, self->entry_size);
        zhashx_insert(self->index, copy, (void *) (uintptr_t) (i + 1));
    }
    self->used[i] = ++self->uses;
    return self->entries + i * self->entry_size;
}

const char *kms_recent_name(const kms_recent_t *self, const void *entry)
{
    return self->names[(size_t) ((const char *) entry - self->entries) / self->entry_size];
}

size_t kms_recent_count(const kms_recent_t *self)
{
    return self->count;
}

void *kms_recent_at(const kms_recent_t *self, size_t i)
{
    return i < self->count ? self->entries + i * self->entry_size : NULL;
}
