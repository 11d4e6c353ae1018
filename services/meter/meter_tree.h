/*  meter_tree: DIR/class/powercap. The only part that writes the tree Kepler reads.

    kms-meter runs as root: nothing under the root is opened through a symlink or as anything but
    a regular file. Each folder is opened relative to its parent without following links (a
    symlinked class/, powercap/ or zone folder is refused), each file is replaced through a new
    temporary file (kms_file_replace_at: a planted symlink or FIFO is removed, never written
    through), and read back without following links or blocking. */
#ifndef METER_TREE_H
#define METER_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "meter_model.h"

typedef struct meter_tree_t meter_tree_t;

/* Opens the tree's root (the --out folder, made with its parents when missing); NULL with
   errno. */
meter_tree_t *meter_tree_open(const char *root);
void meter_tree_close(meter_tree_t **self_p);

/* The root's descriptor (the lock and the default cache folder are taken from it). */
int meter_tree_root_fd(const meter_tree_t *self);

/* Creates the zone's folder and its constant files (name, max_energy_range_uj, enabled), and
   reads back the energy_uj a previous kms-meter left there (0 when none). 0, or -1 with errno. */
int meter_tree_zone_init(meter_tree_t *self, meter_zone_t zone, uint64_t max_uj, uint64_t *previous_uj);

/* Replaces the zone's energy_uj atomically: a reader sees the old number or the new one, never a
   part. 0, or -1 with errno. */
int meter_tree_write_energy(meter_tree_t *self, meter_zone_t zone, uint64_t energy_uj);

/* mkdir -p, then the folder opened: its descriptor, or -1 with errno. */
int meter_tree_open_dir(const char *path);

#endif
