/*  What the machine did: /proc/stat's aggregate cpu line, read without allocating. */
#include "meter_usage.h"

#include <string.h>

/* The fields of "cpu  user nice system idle iowait irq softirq steal [guest guest_nice]". */
enum { F_USER = 0, F_NICE, F_SYSTEM, F_IDLE, F_IOWAIT, F_IRQ, F_SOFTIRQ, F_STEAL, F_MIN = 8, F_MAX = 10 };

/* One unsigned decimal number at *p, moving *p past it; -1 when there is none. */
static int s_number(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    while (q < end && *q == ' ')
        q++;
    if (q == end || *q < '0' || *q > '9')
        return -1;
    uint64_t v = 0;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t) (*q - '0');
    }
    *p = q;
    *out = v;
    return 0;
}

int meter_usage_parse_stat(const char *text, size_t len, meter_cpu_ticks_t *out)
{
    const char *end = text + len;
    /* The aggregate line is the first in every kernel; it is looked for all the same. */
    for (const char *line = text; line && line < end;) {
        const char *eol = memchr(line, '\n', (size_t) (end - line));
        const char *stop = eol ? eol : end;
        if (stop - line > 4 && memcmp(line, "cpu ", 4) == 0) {
            uint64_t f[F_MAX] = {0};
            const char *p = line + 4;
            size_t n = 0;
            while (n < F_MAX && s_number(&p, stop, &f[n]) == 0)
                n++;
            while (p < stop && *p == ' ')
                p++;
            if (n < F_MIN || p != stop)
                return -1;
            out->busy = f[F_USER] + f[F_NICE] + f[F_SYSTEM] + f[F_IRQ] + f[F_SOFTIRQ];
            out->total = out->busy + f[F_IDLE] + f[F_IOWAIT] + f[F_STEAL];
            return 0;
        }
        line = eol ? eol + 1 : NULL;
    }
    return -1;
}

unsigned meter_usage_count_cpus(const char *text, size_t len)
{
    unsigned cpus = 0;
    const char *end = text + len;
    for (const char *line = text; line && line < end;) {
        const char *eol = memchr(line, '\n', (size_t) (end - line));
        if (end - line > 3 && memcmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9')
            cpus++;
        line = eol ? eol + 1 : NULL;
    }
    return cpus;
}

int meter_usage_cpu_time(const meter_cpu_ticks_t *before, const meter_cpu_ticks_t *after, double ticks_per_second,
                         double dt, double *out)
{
    if (!(dt > 0) || !(ticks_per_second > 0) || after->busy < before->busy || after->total < before->total)
        return -1;
    *out = (double) (after->busy - before->busy) / ticks_per_second / dt;
    return 0;
}

double meter_usage_utilization(double busy, double span, double cpus, double *carry, double *utilization)
{
    double capacity = cpus * span, total = busy + *carry;
    double used = total < capacity ? total : capacity;
    double over = total - used;
    *carry = over < capacity ? over : capacity;
    *utilization = capacity > 0 ? used / capacity : 0;
    return over - *carry;
}
