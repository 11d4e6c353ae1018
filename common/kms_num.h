/*  kms_num: numbers to and from text, with every check.

    Parsing is strict: the whole string must be a number, errno is checked, and the C locale is
    assumed (the project never calls setlocale). Formatting never lets glibc's "nan"/"inf"
    through: Prometheus and JSON writers decide themselves what a non-finite value becomes. */
#ifndef KMS_NUM_H
#define KMS_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Whole-string parses; 0 on success, -1 (output untouched) otherwise. kms_num_parse_double
   accepts what strtod does, including "NaN", "+Inf" and "-Inf"; callers that need a finite
   value check isfinite() themselves. */
int kms_num_parse_double(const char *text, double *out);
int kms_num_parse_long(const char *text, long *out);
int kms_num_parse_double_n(const char *text, size_t len, double *out);

/* The fewest significant digits, `least` or more (17 at most), with which value reads back as
   the same double from "%.*g". */
int kms_num_digits(double value, int least);

/* Shortest text that reads back as the same double ("%.17g" at most). Non-finite values are
   written as Prometheus spells them: NaN, +Inf, -Inf. Returns the length. cap >= 32. */
size_t kms_num_format(double value, char *out, size_t cap);

/* The same digits laid out as Go's strconv.FormatFloat(v, 'g', -1, 64), which is how Kepler and
   every Go Prometheus exporter print sample values: 123456, 1.234567e+06, 0.0001, 1e-05. */
size_t kms_num_format_go(double value, char *out, size_t cap);

/* Monotonic and wall clocks in seconds. */
double kms_num_monotonic(void);
double kms_num_wallclock(void);

/* A time in seconds (kms_num_monotonic()'s, for a pthread condition on CLOCK_MONOTONIC) as a
   timespec. */
struct timespec kms_num_timespec(double seconds);

/* Sleeps until `deadline`, a kms_num_monotonic() time; a signal ends it early. */
void kms_num_sleep_until(double deadline);

/* Seeded pseudo-random numbers, the same sequence on every machine: splitmix64 (Steele, Lea
   and Flood, OOPSLA 2014) advances *state and returns its next number; kms_num_uniform is
   uniform in [lo, hi) from that number's 53 high bits. */
uint64_t kms_num_splitmix64(uint64_t *state);
double kms_num_uniform(uint64_t *state, double lo, double hi);

#endif
