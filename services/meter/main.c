/*  kms-meter: a machine's watts from a served model, written as a powercap (RAPL) tree that
    Kepler 0.10+ reads through --host.sysfs (docs/contract.md). Config, signals, wiring; the
    loop lives in meter.c. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kms_config.h"
#include "kms_log.h"
#include "kms_signal.h"
#include "meter.h"

static const kms_opt_name_t s_shares[] = {{"fair", METER_SHARE_FAIR}, {"active", METER_SHARE_ACTIVE}, {NULL}};

int main(int argc, char **argv)
{
    meter_config_t c = {0};
    long max_energy_uj = 0;
    int share = 0;
    /* clang-format off */
    kms_option_t options[] = {
        {"api", "KMS_API_URL", KMS_OPT_STRING, "http://127.0.0.1:8100",
         "kms-api's base URL (http://host[:port][/path])", &c.api, 0, 0},
        {"out", "KMS_METER_DIR", KMS_OPT_STRING, NULL,
         "the tree's root: kms-meter writes OUT/class/powercap/intel-rapl:*; give Kepler --host.sysfs=OUT (required)",
         &c.out, 0, 0},
        {"interval", "KMS_METER_INTERVAL", KMS_OPT_DOUBLE, "1", "seconds between energy updates (fractions allowed)",
         &c.interval, 0.01, 3600},
        {"refresh", "KMS_METER_REFRESH", KMS_OPT_DOUBLE, "30", "seconds between model requests to kms-api",
         &c.refresh, 0.1, 86400},
        {"timeout", "KMS_METER_TIMEOUT", KMS_OPT_DOUBLE, "2", "seconds a model request may take", &c.timeout, 0.01, 60},
        {"zones", "KMS_METER_ZONES", KMS_OPT_STRING, "package,core,uncore,dram",
         "zones to write, each once kms-api has a model for it (package, core, uncore, dram, psys)", &c.zones, 0, 0},
        {"arch", "KMS_METER_ARCH", KMS_OPT_STRING, NULL,
         "this machine's cpu architecture as the models know it (default: /proc/cpuinfo's model name, as "
         "Kepler 0.10+ reports it)", &c.arch, 0, 0},
        {"cache-dir", "KMS_METER_CACHE_DIR", KMS_OPT_STRING, NULL,
         "where the last good models are kept (default: OUT/kms-meter)", &c.cache_dir, 0, 0},
        {"procfs", "KMS_METER_PROCFS", KMS_OPT_STRING, "/proc", "procfs root (/proc/stat, /proc/cpuinfo)",
         &c.proc, 0, 0},
        {"max-watts", "KMS_METER_MAX_WATTS", KMS_OPT_DOUBLE, "2000",
         "a zone's prediction above this is absurd: counted as this, and a model predicting it is refused",
         &c.max_watts, 1, 1e6},
        {"max-energy-range-uj", "KMS_METER_MAX_ENERGY_RANGE_UJ", KMS_OPT_INT, "262143328850",
         "max_energy_range_uj: energy_uj wraps to 0 there, as RAPL's does", &max_energy_uj, 1000, 9007199254740992.0},
        {"vm-share", "KMS_METER_VM_SHARE", KMS_OPT_ENUM, "fair",
         "fair: the vCPUs' share of the host's idle power plus the dynamic power of their use; active: "
         "Kepler 0.11's attribution on the host, the active share only (no idle) (docs/meter.md)",
         &(kms_opt_text_t){&share, s_shares, NULL}, 0, 0},
        {"perf", "KMS_METER_PERF", KMS_OPT_BOOL, "true",
         "use hardware counters (perf_event_open) where the kernel allows them", &c.perf, 0, 0},
        {"metrics-address", "KMS_METER_METRICS_ADDRESS", KMS_OPT_STRING, NULL,
         "address the /metrics port binds (default: every interface)", &c.metrics_address, 0, 0},
        {"metrics-port", "KMS_METER_METRICS_PORT", KMS_OPT_PORT_OFF, "9103",
         "serve kms-meter's own /metrics here (0: any free one, logged as listening socket=metrics port=)",
         &c.metrics_port, 0, 0},
        {0}};
    /* clang-format on */
    kms_config_t config = {"kms-meter",
                           "Predicts this machine's watts (package, core, uncore, dram) from its cpu time, and "
                           "hardware counters where the kernel allows them, with models served by kms-api, and "
                           "writes them as a powercap (RAPL) tree that Kepler 0.10+ reads with --host.sysfs.",
                           NULL, options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    if (!c.out || !*c.out) {
        fprintf(stderr, "kms-meter: --out (KMS_METER_DIR) is required: the root of the tree Kepler reads\n");
        return 2;
    }
    /* Kepler undoes one wrap between two readings; a range that a few intervals at --max-watts
       can fill would let it miss some (it booked 4.4 J of 93.8 J on a 1 J range). */
    double fill_uj = 10 * c.max_watts * c.interval * 1e6;
    c.max_energy_uj = (double) max_energy_uj;
    if (c.max_energy_uj < fill_uj) {
        fprintf(stderr,
                "kms-meter: invalid value for --max-energy-range-uj: %ld is less than 10 intervals at "
                "--max-watts (%.0f uJ): Kepler could not tell one wrap from several\n",
                max_energy_uj, fill_uj);
        return 2;
    }
    c.share = (meter_share_t) share;
    if (c.cache_dir && !*c.cache_dir)
        c.cache_dir = NULL; /* OUT/kms-meter */

    /* Without SA_RESTART the signal also ends the loop's sleep. */
    kms_signal_init(false);
    rc = meter_run(&c, &kms_signal_stop);
    if (rc == 2)
        return 2; /* bad configuration, said on stderr */
    kms_info("stopped", NULL);
    return rc == 0 ? 0 : 1;
}
