/*  Models on disk: one checkpoint file per model, `<data-dir>/<model>.zip`, in the very format
    of the ZIP command (kms_modelzip), so that a checkpoint can be inspected with unzip, copied
    to another machine and imported there. One file per model keeps a damaged file's loss to
    one model, and lets a model be dropped or replaced by handling one file.

    A checkpoint never half-exists: the zip is written to `.<model>.zip.tmp`, fsync'd, renamed
    over the old one (atomic within a file system) and the folder is fsync'd so that the rename
    itself survives a power cut. Whatever fails (disk full, read-only folder), the previous file
    is untouched, the error is logged and counted, and the model stays dirty for the next try.

    The data dir is ours alone, and whatever else is put there is never followed: the temporary
    file is created afresh (O_EXCL | O_NOFOLLOW, a symlink planted in its place is removed, not
    written through), checkpoints are read relative to the open folder, never through a
    symlink, and only from regular files opened without blocking (a FIFO would hang the start).

    At start every `*.zip` in the folder is loaded. One that cannot be read as a model (cut
    short, bit rot, not a zip) is renamed `<file>.corrupt-<UTC time>` and its model starts
    fresh: a trainer that refuses to start helps nobody, and the bytes are kept for a post
    mortem. A poisoned one (kms_model_load: it would serve absurd watts) is renamed
    `<file>.poisoned-<UTC time>`. One whose features or target differ from the configured model
    of that name (the model-spec file was changed) is renamed `<file>.stale-<UTC time>` the same
    way. An unusable file that cannot be renamed (a read-only folder) is kept: its model starts
    fresh but is not written until the file has been set aside, so the original bytes are never
    overwritten. */
#include "trainer_checkpoint.h"

#include "kms_file.h"
#include "kms_log.h"
#include "kms_modelzip.h"
#include "kms_num.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_FILE (64u * 1024 * 1024)

static bool s_ends_with(const char *text, const char *suffix)
{
    size_t tl = strlen(text), sl = strlen(suffix);
    return tl >= sl && strcmp(text + tl - sl, suffix) == 0;
}

/* Writes `data` as dir/file through a temporary file; the old file stays whole on any error. */
static int s_write_atomic(const char *dir, const char *file, const void *data, size_t len)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = kms_file_replace_at(dfd, file, data, len, true);
    int saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

/* Renames a file that cannot be used out of the way, keeping its bytes; 0, or -1 (logged). */
static int s_move_aside(const char *dir, const char *file, const char *label, const char *why)
{
    char from[4096], to[4096], stamp[32], quoted[512], reason[256];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(from, sizeof from, "%s/%s", dir, file);
    snprintf(to, sizeof to, "%s/%s.%s-%s", dir, file, label, stamp);
    kms_log_quote(why, reason, sizeof reason);
    if (rename(from, to) == 0) {
        char quoted_to[512];
        kms_error("checkpoint unusable: moved aside, the model starts fresh", "file=%s moved_to=%s why=%s",
                  kms_log_quote(from, quoted, sizeof quoted), kms_log_quote(to, quoted_to, sizeof quoted_to), reason);
        return 0;
    }
    char err[128];
    kms_error("checkpoint unusable and could not be moved aside: kept, and not overwritten until it is",
              "file=%s why=%s unusable=%s", kms_log_quote(from, quoted, sizeof quoted),
              kms_log_quote(strerror(errno), err, sizeof err), reason);
    return -1;
}

int trainer_checkpoint_write(trainer_t *self, size_t index, const char *dir)
{
    const kms_model_t *model = trainer_model_at(self, index);
    const char *name = kms_model_spec(model)->name;
    char file[KMS_NAME_MAX + 8];
    snprintf(file, sizeof file, "%s.zip", name);
    if (trainer_model_keeps_file(self, index)) {
        /* The file it would replace is not this model's: set aside first, or not written. */
        if (s_move_aside(dir, file, "corrupt", "unusable at start, kept until it could be set aside") != 0) {
            errno = EEXIST;
            return -1;
        }
        trainer_model_keep_file(self, index, false);
    }
    json_t *extra = json_pack("{s:o}", "history", trainer_history_json(self, index));
    void *data = NULL;
    size_t len = 0;
    const char *why = NULL;
    int rc = kms_modelzip_write(model, trainer_version(self), extra, &data, &len, &why);
    json_decref(extra);
    char quoted_dir[512];
    kms_log_quote(dir, quoted_dir, sizeof quoted_dir);
    if (rc != 0) {
        kms_error("checkpoint not written: the model could not be zipped", "model=%s why=%s", name,
                  kms_log_quote(why, (char[256]){0}, 256));
        return -1;
    }
    rc = s_write_atomic(dir, file, data, len);
    int saved = errno;
    free(data);
    if (rc != 0) {
        char reason[256];
        kms_error("checkpoint not written; the previous one is intact, retrying next interval",
                  "model=%s dir=%s why=%s", name, quoted_dir, kms_log_quote(strerror(saved), reason, sizeof reason));
        errno = saved;
        return -1;
    }
    kms_debug("checkpoint written", "model=%s dir=%s bytes=%zu", name, quoted_dir, len);
    return 0;
}

int trainer_checkpoint_save(trainer_t *self, const char *dir, bool all)
{
    trainer_stats_t *stats = trainer_stats(self);
    int rc = 0;
    size_t written = 0;
    double started = kms_num_monotonic();
    for (size_t i = 0; i < trainer_model_count(self); i++) {
        if (!all && !trainer_model_dirty(self, i))
            continue;
        if (trainer_checkpoint_write(self, i, dir) != 0) {
            stats->checkpoint_errors++;
            rc = -1;
            continue;
        }
        trainer_model_saved(self, i);
        stats->checkpoints++;
        stats->last_checkpoint = kms_num_wallclock();
        written++;
    }
    if (written > 0)
        kms_debug("checkpoint round", "models=%zu ms=%.2f", written, (kms_num_monotonic() - started) * 1000);
    return rc;
}

/* A model zip read from `name` in the folder `dirfd`. */
static kms_model_t *s_read_zip(int dirfd, const char *name, bool nofollow, json_t **history, const char **why)
{
    *history = NULL;
    size_t len = 0;
    void *data = kms_file_read_at(dirfd, name, nofollow, S_MAX_FILE, &len);
    if (!data) {
        *why = errno == ELOOP    ? "a symlink (never followed in the data dir)"
               : errno == EINVAL ? "not a regular file"
                                 : strerror(errno);
        return NULL;
    }
    json_t *metadata = NULL;
    kms_model_t *model = kms_modelzip_read(data, len, &metadata, why);
    free(data);
    if (model && !trainer_specs_name_ok(kms_model_spec(model)->name)) {
        *why = "the model's name cannot be a file name";
        kms_model_destroy(&model);
    }
    json_t *h = json_object_get(metadata, "history");
    if (model && json_is_array(h))
        *history = json_incref(h);
    json_decref(metadata);
    return model;
}

kms_model_t *trainer_checkpoint_read_zip(const char *path, json_t **history, const char **why)
{
    return s_read_zip(AT_FDCWD, path, false, history, why);
}

/* An unusable file (`<model>.zip`) of a configured model that could not be set aside blocks
   its writes. */
static void s_keep_unusable(trainer_t *self, const char *file)
{
    char name[KMS_NAME_MAX + 8];
    snprintf(name, sizeof name, "%.*s", (int) strlen(file) - 4, file);
    int index = trainer_model_find(self, name);
    if (index >= 0)
        trainer_model_keep_file(self, (size_t) index, true);
}

/* Loads dir/file (dirfd: the folder, open); returns 1 when a model was loaded. */
static int s_load_one(trainer_t *self, const char *dir, int dirfd, const char *file)
{
    char path[4096], quoted[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    const char *why = NULL;
    json_t *history = NULL;
    kms_model_t *model = s_read_zip(dirfd, file, true, &history, &why);
    if (!model) {
        /* A poisoned model (kms_model_load) would serve absurd watts: told apart from bit rot. */
        bool poisoned = why && strncmp(why, "poisoned", 8) == 0;
        if (s_move_aside(dir, file, poisoned ? "poisoned" : "corrupt", why ? why : "unreadable") != 0)
            s_keep_unusable(self, file);
        return 0;
    }
    const kms_model_spec_t *spec = kms_model_spec(model);
    char expected[KMS_NAME_MAX + 8];
    snprintf(expected, sizeof expected, "%s.zip", spec->name);
    int loaded = 0;
    if (strcmp(expected, file) != 0) {
        kms_warn("checkpoint ignored: its file name is not its model's name", "file=%s model=%s",
                 kms_log_quote(path, quoted, sizeof quoted), spec->name);
    } else if (trainer_spec_conflicts(self, spec)) {
        if (s_move_aside(dir, file, "stale", "features or target differ from the configured model") != 0)
            s_keep_unusable(self, file);
    } else {
        kms_model_status_t status;
        kms_model_status(model, &status);
        kms_info("checkpoint loaded", "model=%s samples=%llu file=%s", spec->name, (unsigned long long) status.samples,
                 kms_log_quote(path, quoted, sizeof quoted));
        loaded = trainer_model_put(self, model, history, false) == 0;
        model = NULL;
    }
    kms_model_destroy(&model);
    json_decref(history);
    return loaded;
}

long trainer_checkpoint_load(trainer_t *self, const char *dir)
{
    char quoted[512];
    kms_log_quote(dir, quoted, sizeof quoted);
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT) {
        kms_info("no data dir yet: starting fresh", "dir=%s", quoted);
        return 0;
    }
    if (!d) {
        char err[128];
        kms_error("data dir cannot be listed: its checkpoints would be overwritten unread", "dir=%s why=%s", quoted,
                  kms_log_quote(strerror(errno), err, sizeof err));
        return -1;
    }
    long loaded = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        const char *name = entry->d_name;
        if (name[0] == '.' && s_ends_with(name, ".zip.tmp")) {
            /* A write that a crash cut short; the real checkpoint beside it is whole. */
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (unlink(path) == 0)
                kms_info("removed an unfinished checkpoint write", "file=%s",
                         kms_log_quote(path, quoted, sizeof quoted));
        } else if (name[0] != '.' && s_ends_with(name, ".zip")) {
            loaded += s_load_one(self, dir, dirfd(d), name);
        }
    }
    closedir(d);
    return loaded;
}
