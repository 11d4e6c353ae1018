#include "kms_num.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int kms_num_parse_double(const char *text, double *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    /* ERANGE on underflow still gives a usable (denormal or zero) value; only overflow fails. */
    if (end == text || *end != '\0' || (errno == ERANGE && isinf(v)))
        return -1;
    *out = v;
    return 0;
}

int kms_num_parse_double_n(const char *text, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return kms_num_parse_double(buf, out);
}

int kms_num_parse_long(const char *text, long *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

static size_t s_format_nonfinite(double value, char *out, size_t cap)
{
    const char *text = isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
    return (size_t) snprintf(out, cap, "%s", text);
}

int kms_num_digits(double value, int least)
{
    char text[32];
    for (int precision = least; precision < 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            return precision;
    }
    return 17;
}

size_t kms_num_format(double value, char *out, size_t cap)
{
    if (!isfinite(value))
        return s_format_nonfinite(value, out, cap);
    return (size_t) snprintf(out, cap, "%.*g", kms_num_digits(value, 1), value);
}

size_t kms_num_format_go(double value, char *out, size_t cap)
{
    if (!isfinite(value))
        return s_format_nonfinite(value, out, cap);
    if (value == 0)
        return (size_t) snprintf(out, cap, "%s", signbit(value) ? "-0" : "0");
    /* Find the shortest round-trip digits in %e form, then lay them out as Go's 'g' does:
       exponent notation when the decimal exponent is below -4 or at least 6. */
    char sci[40];
    snprintf(sci, sizeof sci, "%.*e", kms_num_digits(value, 1) - 1, value);
    char *e = strchr(sci, 'e');
    int exponent = (int) strtol(e + 1, NULL, 10); /* our own %e output: always valid */
    if (exponent < -4 || exponent >= 6)           /* %e's mantissa, Go's two-digit exponent at least */
        return (size_t) snprintf(out, cap, "%.*se%c%02d", (int) (e - sci), sci, exponent < 0 ? '-' : '+',
                                 abs(exponent));
    char digits[24];
    size_t nd = 0;
    bool negative = sci[0] == '-';
    for (const char *p = sci + negative; p < e; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    /* Plain notation: the point after `exponent + 1` digits, zeros filling either side. */
    const char *sign = negative ? "-" : "";
    if (exponent < 0)
        return (size_t) snprintf(out, cap, "%s0.%.*s%s", sign, -exponent - 1, "000", digits);
    int whole = (int) nd < exponent + 1 ? (int) nd : exponent + 1;
    return (size_t) snprintf(out, cap, "%s%.*s%.*s%s%s", sign, whole, digits, exponent + 1 - whole, "00000",
                             digits[whole] ? "." : "", digits + whole);
}

double kms_num_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

double kms_num_wallclock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

struct timespec kms_num_timespec(double seconds)
{
    return (struct timespec){(time_t) seconds, (long) ((seconds - floor(seconds)) * 1e9)};
}

void kms_num_sleep_until(double deadline)
{
    struct timespec t = kms_num_timespec(deadline);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
}

uint64_t kms_num_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double kms_num_uniform(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * ((double) (kms_num_splitmix64(state) >> 11) * 0x1.0p-53);
}
