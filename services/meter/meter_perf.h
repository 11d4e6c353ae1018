/*  meter_perf: hardware counters through perf_event_open, where the kernel allows them. */
#ifndef METER_PERF_H
#define METER_PERF_H

#include <stddef.h>

typedef struct meter_perf_t meter_perf_t;

/* System-wide cycles, instructions and cache misses on every online cpu; NULL when the kernel
   refuses any of them (no PMU in most VMs, perf_event_paranoid, no CAP_PERFMON), with the
   reason in `why`. */
meter_perf_t *meter_perf_open(char *why, size_t cap);
void meter_perf_destroy(meter_perf_t **self_p);
/* The counters' totals since open, summed over cpus (cycles, instructions, cache misses): 0, or
   -1 when a read failed. */
int meter_perf_read(meter_perf_t *self, double totals[3]);

#endif
