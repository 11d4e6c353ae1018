/*  The powercap tree Kepler 0.10+ reads: DIR/class/powercap/<zone dir>/{name, energy_uj,
    max_energy_range_uj, enabled}. Kepler (through prometheus/procfs) lists class/powercap and
    takes every entry with a name file, so the sub-zones sit beside the package as they do in
    Linux's class directory. */
#include "meter_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int meter_tree_replace_file(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    bool ok = n == (ssize_t) len;
    int saved = ok ? 0 : n < 0 ? errno : EIO;
    if (close(fd) != 0 && ok)
        ok = false, saved = errno;
    if (ok && rename(tmp, path) != 0)
        ok = false, saved = errno;
    if (!ok) {
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

static int s_path(char *out, size_t cap, const char *root, meter_zone_t zone, const char *file)
{
    const meter_zone_info_t *info = meter_zone_info(zone);
    if (snprintf(out, cap, "%s/class/powercap/%s%s%s", root, info->dir, file ? "/" : "", file ? file : "")
        >= (int) cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int meter_tree_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int s_write_text(const char *root, meter_zone_t zone, const char *file, const char *text)
{
    char path[PATH_MAX];
    return s_path(path, sizeof path, root, zone, file) == 0 ? meter_tree_replace_file(path, text, strlen(text)) : -1;
}

/* The energy_uj left by a previous run: a restart continues from it, so Kepler never sees the
   counter go back except at a wrap. */
static uint64_t s_read_previous(const char *root, meter_zone_t zone)
{
    char path[PATH_MAX], text[32];
    if (s_path(path, sizeof path, root, zone, "energy_uj") != 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    return errno == 0 && end != text && (*end == '\n' || *end == '\0') && text[0] != '-' ? v : 0;
}

int meter_tree_zone_init(const char *root, meter_zone_t zone, uint64_t max_uj, uint64_t *previous_uj)
{
    char dir[PATH_MAX], text[32];
    if (s_path(dir, sizeof dir, root, zone, NULL) != 0 || meter_tree_mkdirs(dir) != 0)
        return -1;
    *previous_uj = s_read_previous(root, zone);
    /* The name file last: it makes the directory a zone for Kepler, which then finds the rest. */
    snprintf(text, sizeof text, "%" PRIu64 "\n", max_uj);
    if (meter_tree_write_energy(root, zone, *previous_uj % max_uj) != 0
        || s_write_text(root, zone, "max_energy_range_uj", text) != 0 || s_write_text(root, zone, "enabled", "1\n") != 0)
        return -1;
    snprintf(text, sizeof text, "%s\n", meter_zone_info(zone)->file_name);
    return s_write_text(root, zone, "name", text);
}

int meter_tree_write_energy(const char *root, meter_zone_t zone, uint64_t energy_uj)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64 "\n", energy_uj);
    return s_write_text(root, zone, "energy_uj", text);
}
