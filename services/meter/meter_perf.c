/*  Hardware counters through perf_event_open: system-wide, one event per cpu and kind. Most VMs
    have no PMU (no /sys/bus/event_source/devices/cpu) and the call fails with ENOENT; a kernel
    with perf_event_paranoid above 0 refuses system-wide events to a process without
    CAP_PERFMON (EACCES). Either way the meter runs on cpu time alone. */
#include "meter_perf.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { P_CYCLES = 0, P_INSTRUCTIONS, P_CACHE_MISSES, P_KINDS };

struct meter_perf_t {
    long cpus;
    int *fds; /* cpus * P_KINDS */
};

static int s_open(int cpu, uint64_t config)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = config;
    return (int) syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

meter_perf_t *meter_perf_open(char *why, size_t cap)
{
    static const uint64_t configs[P_KINDS] = {PERF_COUNT_HW_CPU_CYCLES, PERF_COUNT_HW_INSTRUCTIONS,
                                              PERF_COUNT_HW_CACHE_MISSES};
    static const char *const names[P_KINDS] = {"cycles", "instructions", "cache-misses"};
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    meter_perf_t *self = calloc(1, sizeof *self);
    int *fds = cpus > 0 ? malloc((size_t) cpus * P_KINDS * sizeof *fds) : NULL;
    if (!self || !fds) {
        free(self);
        free(fds);
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    self->fds = fds;
    for (long i = 0; i < cpus * P_KINDS; i++)
        fds[i] = -1;
    self->cpus = cpus;
    for (long cpu = 0; cpu < cpus; cpu++)
        for (int k = 0; k < P_KINDS; k++) {
            int fd = s_open((int) cpu, configs[k]);
            /* An offline cpu has no counters and does no work: skipped. */
            if (fd < 0 && errno == ENODEV)
                continue;
            if (fd < 0) {
                snprintf(why, cap, "perf_event_open(%s, cpu %ld): %s", names[k], cpu, strerror(errno));
                meter_perf_destroy(&self);
                return NULL;
            }
            fds[cpu * P_KINDS + k] = fd;
        }
    return self;
}

void meter_perf_destroy(meter_perf_t **self_p)
{
    meter_perf_t *self = *self_p;
    if (!self)
        return;
    for (long i = 0; i < self->cpus * P_KINDS; i++)
        if (self->fds[i] >= 0)
            close(self->fds[i]);
    free(self->fds);
    free(self);
    *self_p = NULL;
}

int meter_perf_read(meter_perf_t *self, double totals[3])
{
    double sum[P_KINDS] = {0};
    for (long i = 0; i < self->cpus * P_KINDS; i++) {
        uint64_t v;
        if (self->fds[i] < 0)
            continue;
        if (read(self->fds[i], &v, sizeof v) != (ssize_t) sizeof v)
            return -1;
        sum[i % P_KINDS] += (double) v;
    }
    memcpy(totals, sum, sizeof sum);
    return 0;
}
