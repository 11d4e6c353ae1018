/*  kms-meter's loop: it reads the machine's usage (meter_usage.h, meter_perf.h), turns it into
    watts with the zone models (meter_model.h), counts them into RAPL-like counters
    (meter_energy.h) that it writes as a powercap tree (meter_tree.h), refreshes the models from
    kms-api (meter_fetch.h) and shows what it does on its own /metrics (meter_metrics.h). The
    cores (usage, model, energy, the metrics text) are pure; main.c only wires options to this.

    One thread meters; civetweb's threads read the metrics under its lock. */
#ifndef METER_H
#define METER_H

#include <signal.h>
#include <stdbool.h>

#include "meter_model.h"

typedef struct {
    const char *api;
    const char *out;       /* the tree's root: DIR of DIR/class/powercap */
    const char *cache_dir; /* last good models */
    double interval;
    double refresh; /* seconds between model requests */
    double timeout;
    const char *zones;   /* comma list of zone names */
    const char *arch;    /* "" or NULL: /proc/cpuinfo's model name */
    const char *proc;    /* procfs root */
    double max_watts;    /* per zone */
    meter_share_t share; /* how the VM is charged (meter_model.h) */
    double max_energy_uj;
    bool perf; /* try hardware counters */
    const char *metrics_address;
    long metrics_port; /* 0: any free port (logged); KMS_PORT_OFF (< 0): none */
} meter_config_t;

/* Runs until *stop. 0 after a clean stop, -1 when it cannot start (/proc/stat, the metrics port),
   2 for a bad --zones or --api (after one line on stderr). */
int meter_run(const meter_config_t *config, volatile sig_atomic_t *stop);

#endif
