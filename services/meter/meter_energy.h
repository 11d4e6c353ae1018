/*  meter_energy: RAPL-like counters. Pure: joules into an energy_uj that wraps as RAPL's does,
    and never advances faster than --max-watts, the pace its range was checked against. */
#ifndef METER_ENERGY_H
#define METER_ENERGY_H

#include <stdint.h>

typedef struct {
    uint64_t energy_uj; /* what energy_uj says: always below max_uj */
    double fraction_uj; /* the part of a microjoule not yet counted */
    uint64_t max_uj;    /* max_energy_range_uj: the counter wraps to 0 there */
    double total_j;     /* joules written since this process started: never wraps (metrics) */
    double owed_j;      /* joules known, less those written: paced out; below 0 when guesses ran ahead */
    double guessed_j;   /* joules guessed since the last known usage: written as if known */
} meter_counter_t;

typedef enum { METER_WATTS_OK = 0, METER_WATTS_NEGATIVE, METER_WATTS_ABSURD } meter_watts_check_t;

/* Starts at `energy_uj` (what the tree held: a restart continues the count), reduced modulo
   max_uj. */
void meter_counter_init(meter_counter_t *self, uint64_t energy_uj, uint64_t max_uj);

/* The energy of `dt` seconds at `watts`, known now, `elapsed` seconds after the last write (dt is
   longer after a gap in usage). Negative watts count as 0, more than max_watts (or not finite) as
   max_watts, and say so; dt not finite or negative adds nothing. The guesses written since the
   last known usage are taken back from it. What is owed is written at no more than max_watts over
   `elapsed`, the rest in the following writes, so that a reader such as Kepler, which undoes one
   wrap per read, misses none. Returns the check; the watts counted go to *counted when not NULL. */
meter_watts_check_t meter_counter_add(meter_counter_t *self, double watts, double dt, double elapsed, double max_watts,
                                      double *counted);

/* An interval whose usage is not known yet: writes `watts` (checked as above) for `elapsed`
   seconds now, a guess that the next meter_counter_add replaces with what was known. */
meter_watts_check_t meter_counter_guess(meter_counter_t *self, double watts, double elapsed, double max_watts);

/* The usage of the guessed intervals will never be known (the counters restarted): the guesses
   stand as the count. */
void meter_counter_keep_guesses(meter_counter_t *self);

#endif
