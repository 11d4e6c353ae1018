/*  meter_usage: what the machine did, from /proc/stat's text. Pure. */
#ifndef METER_USAGE_H
#define METER_USAGE_H

#include <stddef.h>
#include <stdint.h>

/* Busy cpu time of the whole machine, in clock ticks: user + nice + system + irq + softirq
   (guest time is inside user; idle, iowait and steal are not work done here). */
typedef struct {
    uint64_t busy;
    uint64_t total;
} meter_cpu_ticks_t;

/* Reads the aggregate "cpu " line of /proc/stat's text. 0, or -1 when there is none or it is
   not a line of at least eight unsigned numbers. */
int meter_usage_parse_stat(const char *text, size_t len, meter_cpu_ticks_t *out);

/* The machine's logical cpus: the "cpuN" lines of /proc/stat's text (the online ones, the
   count Kepler's procfs reader sees too). 0 when there are none. */
unsigned meter_usage_count_cpus(const char *text, size_t len);

/* The cpu_time feature (cpu-seconds per second) between two readings `dt` seconds apart; -1
   when the counters went back (a different machine, a broken read) or dt is not positive. */
int meter_usage_cpu_time(const meter_cpu_ticks_t *before, const meter_cpu_ticks_t *after, double ticks_per_second,
                         double dt, double *out);

/* `busy` cpu-seconds over `span` seconds on `cpus` logical cpus as a utilization in [0, 1].
   Busy time beyond what the cpus could give in the span (a tick counted early, a reading taken
   late) is carried into the next interval through *carry, up to one span of every cpu busy;
   more than that is no work but a broken /proc/stat: dropped, and returned (cpu-seconds; 0 when
   nothing was). */
double meter_usage_utilization(double busy, double span, double cpus, double *carry, double *utilization);

#endif
