/*  meter_tree: DIR/class/powercap. The only part that writes the tree Kepler reads. */
#ifndef METER_TREE_H
#define METER_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "meter_model.h"

/* Creates the zone's directory and its constant files (name, max_energy_range_uj, enabled), and
   reads back the energy_uj a previous kms-meter left there (0 when none). 0, or -1 with errno. */
int meter_tree_zone_init(const char *root, meter_zone_t zone, uint64_t max_uj, uint64_t *previous_uj);

/* Replaces the zone's energy_uj atomically (a new file renamed over the old one): a reader
   sees the old number or the new one, never a part. 0, or -1 with errno. */
int meter_tree_write_energy(const char *root, meter_zone_t zone, uint64_t energy_uj);

/* mkdir -p. 0, or -1 with errno. */
int meter_tree_mkdirs(const char *path);

/* Writes `len` bytes to `path` through a temporary file in the same directory and a rename. */
int meter_tree_replace_file(const char *path, const void *data, size_t len);

#endif
