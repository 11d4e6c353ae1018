/*  meter_energy: RAPL-like counters. Pure: joules into an energy_uj that wraps as RAPL's does. */
#ifndef METER_ENERGY_H
#define METER_ENERGY_H

#include <stdint.h>

typedef struct {
    uint64_t energy_uj;   /* what energy_uj says: always below max_uj */
    double fraction_uj;   /* the part of a microjoule not yet counted */
    uint64_t max_uj;      /* max_energy_range_uj: the counter wraps to 0 there */
    double total_j;       /* joules since this process started: never wraps (metrics) */
} meter_counter_t;

typedef enum { METER_WATTS_OK = 0, METER_WATTS_NEGATIVE, METER_WATTS_ABSURD } meter_watts_check_t;

/* Starts at `energy_uj` (what the tree held: a restart continues the count), reduced modulo
   max_uj. */
void meter_counter_init(meter_counter_t *self, uint64_t energy_uj, uint64_t max_uj);

/* Adds `watts` for `dt` seconds. Negative watts count as 0, more than max_watts (or not finite)
   as max_watts, and say so; dt not finite or negative adds nothing. Returns the check. The
   watts actually counted go to *counted when not NULL. */
meter_watts_check_t meter_counter_add(meter_counter_t *self, double watts, double dt, double max_watts,
                                      double *counted);

#endif
