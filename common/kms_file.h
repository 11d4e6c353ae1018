/*  kms_file: a whole file in memory, bounded. For the files the services read at once: model
    checkpoints, datasets, TLS keys, benchmark pages.

    Only regular files are read, and opening never blocks: a FIFO or a device put where a file
    was expected is refused (EINVAL) instead of hanging the reader. */
#ifndef KMS_FILE_H
#define KMS_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* The file's bytes, NUL-terminated for convenience (*len excludes the NUL); NULL with errno
   set, EFBIG when the file is larger than `max`, EINVAL when it is not a regular file. Caller
   frees. */
void *kms_file_read(const char *path, size_t max, size_t *len);

/* The same for `name` in the folder open as `dirfd` (or AT_FDCWD); with `nofollow` a symlink
   is refused too (ELOOP), wherever it points. */
void *kms_file_read_at(int dirfd, const char *name, bool nofollow, size_t max, size_t *len);

/* Replaces `name` in the folder open as `dirfd` with `len` bytes of `data`, atomically: written
   to ".<name>.tmp" beside it (whatever has that name, a crash's leftover or a planted symlink or
   FIFO, is removed first, never opened), then renamed over `name` (a symlink there is replaced,
   never followed). `durable`: the file and the folder are fsync'ed, so that a power cut leaves
   the old bytes or the new, not an empty file. 0, or -1 with errno (the old file untouched). */
int kms_file_replace_at(int dirfd, const char *name, const void *data, size_t len, bool durable);

/* Opens (and makes when missing) the folder `name` in the folder open as `dirfd` without
   following a symlink: a symlink there is refused (ENOTDIR or ELOOP). The descriptor, or -1. */
int kms_file_subdir_at(int dirfd, const char *name);

/* Locks the folder `dir` itself (flock on it: no file is left in it) for as long as the returned
   descriptor stays open, the process's life (the kernel releases it at any exit). -1 with errno
   EWOULDBLOCK when another process holds it, another errno when `dir` cannot be opened. */
int kms_file_lock_dir(const char *dir);

#endif
