/*  RAPL-like energy counters: microjoules that wrap at max_energy_range_uj. */
#include "meter_energy.h"

#include <assert.h>
#include <math.h>

void meter_counter_init(meter_counter_t *self, uint64_t energy_uj, uint64_t max_uj)
{
    assert(self && max_uj > 0);
    self->max_uj = max_uj;
    self->energy_uj = energy_uj % max_uj;
    self->fraction_uj = 0;
    self->total_j = 0;
}

meter_watts_check_t meter_counter_add(meter_counter_t *self, double watts, double dt, double max_watts,
                                      double *counted)
{
    meter_watts_check_t check = METER_WATTS_OK;
    if (!isfinite(watts) || watts > max_watts) {
        watts = max_watts;
        check = METER_WATTS_ABSURD;
    } else if (watts < 0) {
        watts = 0;
        check = METER_WATTS_NEGATIVE;
    }
    if (counted)
        *counted = watts;
    if (!isfinite(dt) || dt <= 0)
        return check;
    /* Whole microjoules go into the counter, the rest waits for the next interval, so that the
       sum over any number of intervals is exact to a microjoule. */
    double uj = watts * dt * 1e6 + self->fraction_uj;
    double whole = floor(uj);
    self->fraction_uj = uj - whole;
    self->total_j += watts * dt;
    /* One interval adds far less than a wrap (max_watts * dt << max_uj in any sane setup);
       the modulo keeps the counter right even when it does not (max_uj is below 2^53). */
    uint64_t add = (uint64_t) fmod(whole, (double) self->max_uj);
    uint64_t room = self->max_uj - self->energy_uj;
    self->energy_uj = add < room ? self->energy_uj + add : add - room;
    return check;
}
