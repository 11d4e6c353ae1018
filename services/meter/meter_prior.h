/*  meter_prior: what a VM draws before any RAPL host of its processor was learned. Pure.

    Cloud Carbon Footprint's coefficients (meter_prior_table.c: the repository, commit and lines
    of every number): per processor micro-architecture, the watts of one hardware thread (one
    vCPU) at active idle and at full load, from SPECpower results. A vCPU at utilization u then
    draws min + u (max - min), the coefficient method's own formula. */
#ifndef METER_PRIOR_H
#define METER_PRIOR_H

#include <stddef.h>

typedef struct {
    const char *arch;            /* "Cascade Lake" */
    const char *vendor;          /* "Intel" or "AMD" */
    double min_watts, max_watts; /* per vCPU: active idle, 100 % load */
} meter_prior_arch_t;

typedef struct {
    const char *fragment; /* a model number as /proc/cpuinfo writes it, "(R)" and "(TM)" removed */
    unsigned char arch;   /* index into meter_prior_archs */
} meter_prior_name_t;

extern const meter_prior_arch_t meter_prior_archs[];
extern const size_t meter_prior_arch_count;
extern const meter_prior_name_t meter_prior_names[];
extern const size_t meter_prior_name_count;

typedef enum {
    METER_PRIOR_EXACT = 0, /* the processor's micro-architecture */
    METER_PRIOR_VENDOR,    /* not in the table: the mean of its vendor's micro-architectures */
    METER_PRIOR_ALL        /* not even the vendor is known: the mean of every row */
} meter_prior_match_t;

typedef struct {
    char arch[64]; /* the micro-architecture, or "Intel average", "AMD average", "average" */
    meter_prior_match_t match;
    double min_watts, max_watts;
} meter_prior_t;

/* The prior of a processor named `model_name` (/proc/cpuinfo's "model name"): the
   micro-architecture of the longest table fragment found in it at word boundaries, else an
   average, as `match` says. */
void meter_prior_find(const char *model_name, meter_prior_t *out);
const char *meter_prior_match_name(meter_prior_match_t match);

#endif
