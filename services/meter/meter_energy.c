/*  RAPL-like energy counters: microjoules that wrap at max_energy_range_uj. */
#include "meter_energy.h"

#include <assert.h>
#include <math.h>

void meter_counter_init(meter_counter_t *self, uint64_t energy_uj, uint64_t max_uj)
{
    assert(self && max_uj > 0);
    *self = (meter_counter_t){.max_uj = max_uj, .energy_uj = energy_uj % max_uj};
}

static meter_watts_check_t s_check(double *watts, double max_watts)
{
    if (!isfinite(*watts) || *watts > max_watts) {
        *watts = max_watts;
        return METER_WATTS_ABSURD;
    }
    if (*watts < 0) {
        *watts = 0;
        return METER_WATTS_NEGATIVE;
    }
    return METER_WATTS_OK;
}

/* Writes `due` joules (what is owed, the guesses counted as known), at most max_watts over
   `elapsed`. Whole microjoules go into the counter, the rest waits for the next write, so that the
   sum over any number of writes is exact to a microjoule. */
static void s_write(meter_counter_t *self, double due, double elapsed, double max_watts)
{
    if (!(isfinite(elapsed) && elapsed > 0))
        return;
    double joules = fmin(due, max_watts * elapsed);
    if (!(joules > 0))
        return;
    self->owed_j -= joules;
    self->total_j += joules;
    double uj = joules * 1e6 + self->fraction_uj;
    double whole = floor(uj);
    self->fraction_uj = uj - whole;
    /* One write adds less than a wrap when the range was checked; the modulo keeps the counter
       right even when it does not (max_uj is below 2^53). */
    uint64_t add = (uint64_t) fmod(whole, (double) self->max_uj);
    uint64_t room = self->max_uj - self->energy_uj;
    self->energy_uj = add < room ? self->energy_uj + add : add - room;
}

meter_watts_check_t meter_counter_add(meter_counter_t *self, double watts, double dt, double elapsed, double max_watts,
                                      double *counted)
{
    meter_watts_check_t check = s_check(&watts, max_watts);
    if (counted)
        *counted = watts;
    if (!(isfinite(dt) && dt > 0))
        return check;
    /* Known now: the usage of the guessed intervals too, which replaces the guesses. */
    self->owed_j += watts * dt;
    self->guessed_j = 0;
    s_write(self, self->owed_j, elapsed, max_watts);
    return check;
}

meter_watts_check_t meter_counter_guess(meter_counter_t *self, double watts, double elapsed, double max_watts)
{
    meter_watts_check_t check = s_check(&watts, max_watts);
    if (!(isfinite(elapsed) && elapsed > 0))
        return check;
    self->guessed_j += watts * elapsed;
    s_write(self, self->owed_j + self->guessed_j, elapsed, max_watts);
    return check;
}

void meter_counter_keep_guesses(meter_counter_t *self)
{
    self->owed_j += self->guessed_j;
    self->guessed_j = 0;
}
