/*  The powercap tree Kepler 0.10+ reads: DIR/class/powercap/<zone dir>/{name, energy_uj,
    max_energy_range_uj, enabled}. Kepler (through prometheus/procfs) lists class/powercap and
    takes every entry with a name file, so the sub-zones sit beside the package as they do in
    Linux's class directory. */
#include "meter_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kms_file.h"

struct meter_tree_t {
    int root, powercap;     /* -1 until opened */
    int zones[METER_ZONES]; /* each zone's folder, -1 until made */
};

int meter_tree_open_dir(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int) sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

meter_tree_t *meter_tree_open(const char *root)
{
    meter_tree_t *self = malloc(sizeof *self);
    if (!self)
        return NULL;
    self->powercap = -1;
    for (int z = 0; z < METER_ZONES; z++)
        self->zones[z] = -1;
    self->root = meter_tree_open_dir(root);
    if (self->root < 0) {
        int saved = errno;
        free(self);
        errno = saved;
        return NULL;
    }
    return self;
}

void meter_tree_close(meter_tree_t **self_p)
{
    meter_tree_t *self = *self_p;
    if (!self)
        return;
    for (int z = 0; z < METER_ZONES; z++)
        if (self->zones[z] >= 0)
            close(self->zones[z]);
    if (self->powercap >= 0)
        close(self->powercap);
    close(self->root);
    free(self);
    *self_p = NULL;
}

int meter_tree_root_fd(const meter_tree_t *self)
{
    return self->root;
}

static int s_write_text(int dir, const char *file, const char *text)
{
    return kms_file_replace_at(dir, file, text, strlen(text), false);
}

/* The energy_uj left by a previous run: a restart continues from it, so Kepler never sees the
   counter go back except at a wrap. */
static uint64_t s_read_previous(int dir)
{
    size_t len;
    char *text = kms_file_read_at(dir, "energy_uj", true, 32, &len);
    if (!text)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    bool ok = errno == 0 && end != text && (*end == '\n' || *end == '\0') && text[0] != '-';
    free(text);
    return ok ? v : 0;
}

/* The zone's folder: class/powercap/<dir>, each level made and opened without following links. */
static int s_zone_dir(meter_tree_t *self, meter_zone_t zone)
{
    if (self->zones[zone] >= 0)
        return self->zones[zone];
    if (self->powercap < 0) {
        int class = kms_file_subdir_at(self->root, "class");
        if (class < 0)
            return -1;
        self->powercap = kms_file_subdir_at(class, "powercap");
        int saved = errno;
        close(class);
        errno = saved;
        if (self->powercap < 0)
            return -1;
    }
    return self->zones[zone] = kms_file_subdir_at(self->powercap, meter_zone_info(zone)->dir);
}

int meter_tree_zone_init(meter_tree_t *self, meter_zone_t zone, uint64_t max_uj, uint64_t *previous_uj)
{
    int dir = s_zone_dir(self, zone);
    if (dir < 0)
        return -1;
    *previous_uj = s_read_previous(dir);
    /* The name file last: it makes the folder a zone for Kepler, which then finds the rest. */
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64 "\n", max_uj);
    if (meter_tree_write_energy(self, zone, *previous_uj % max_uj) != 0
        || s_write_text(dir, "max_energy_range_uj", text) != 0 || s_write_text(dir, "enabled", "1\n") != 0)
        return -1;
    snprintf(text, sizeof text, "%s\n", meter_zone_info(zone)->file_name);
    return s_write_text(dir, "name", text);
}

int meter_tree_write_energy(meter_tree_t *self, meter_zone_t zone, uint64_t energy_uj)
{
    if (self->zones[zone] < 0) {
        errno = ENOENT;
        return -1;
    }
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64 "\n", energy_uj);
    return s_write_text(self->zones[zone], "energy_uj", text);
}
