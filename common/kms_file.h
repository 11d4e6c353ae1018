/*  kms_file: a whole file in memory, bounded. For the files the services read at once: model
    checkpoints, datasets, TLS keys, benchmark pages. */
#ifndef KMS_FILE_H
#define KMS_FILE_H

#include <stddef.h>

/* The file's bytes, NUL-terminated for convenience (*len excludes the NUL); NULL with errno
   set, EFBIG when the file is larger than `max`. Caller frees. */
void *kms_file_read(const char *path, size_t max, size_t *len);

#endif
