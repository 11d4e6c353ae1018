/*  kms-trainer: subscribes to samples, trains the power models online, answers the control
    protocol and checkpoints the models; `train` and `import` do the same work offline. */
#include "trainer_offline.h"
#include "trainer_service.h"
#include "trainer_specs.h"
#include "trainer.h"

#include "kms_config.h"
#include "kms_file.h"
#include "kms_log.h"
#include "kms_signal.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_samples, *s_control, *s_data_dir, *s_models, *s_seed, *s_dataset, *s_max_watts;
static double s_checkpoint_interval, s_history_interval, s_forgetting;
static long s_min_samples;
static kms_curve_config_t s_curve_config;

/* A czmq endpoint: [@|>]transport://address. */
static int s_endpoint(const char *endpoint, char *why, size_t cap)
{
    if (*endpoint == '@' || *endpoint == '>')
        endpoint++;
    const char *sep = strstr(endpoint, "://");
    if (sep && sep != endpoint && sep[3] != '\0')
        return 0;
    snprintf(why, cap, "expected [@|>]transport://address[,...]");
    return -1;
}

static int s_not_empty(const char *text, char *why, size_t cap)
{
    if (*text)
        return 0;
    snprintf(why, cap, "must not be empty");
    return -1;
}

static int s_bounds(const char *text, char *why, size_t cap)
{
    trainer_bounds_t bounds;
    return trainer_bounds_parse(&bounds, text, why, cap);
}

/* clang-format off */
static kms_option_t s_options[] = {
    {"samples", "KMS_SAMPLES_ENDPOINT", KMS_OPT_LIST, ">tcp://127.0.0.1:5555",
     "where samples come from (ZeroMQ SUB, czmq syntax: @ binds, > connects, commas separate; "
     "a bound port * is any free one, logged as listening socket=samples port=)",
     &(kms_opt_text_t){&s_samples, NULL, s_endpoint}, 0, 0},
    {"control", "KMS_TRAINER_ENDPOINT", KMS_OPT_LIST, "@tcp://*:5556",
     "the control socket kms-api asks (ZeroMQ REP; @tcp://127.0.0.1:* binds any free port, "
     "logged as listening socket=control port=)", &(kms_opt_text_t){&s_control, NULL, s_endpoint}, 0, 0},
    {"data-dir", "KMS_DATA_DIR", KMS_OPT_CHECKED, "./data", "where checkpoints live, one <model>.zip per model",
     &(kms_opt_text_t){&s_data_dir, NULL, s_not_empty}, 0, 0},
    {"checkpoint-interval", "KMS_CHECKPOINT_INTERVAL", KMS_OPT_DOUBLE, "30",
     "seconds between checkpoints (and one at SIGTERM)", &s_checkpoint_interval, 0.05, 86400},
    {"min-samples", "KMS_MIN_SAMPLES", KMS_OPT_INT, "30",
     "samples a model needs (with a sane fit) before it serves weights", &s_min_samples, 2, 1e12},
    {"models", "KMS_MODELS", KMS_OPT_STRING, NULL,
     "JSON file of more models: [{\"name\",\"features\":[...],\"target\"}, ...]", &s_models, 0, 0},
    {"forgetting", "KMS_FORGETTING", KMS_OPT_DOUBLE, "1",
     "weight kept per sample, in [0.5, 1]; 1 = never forget, 0.999 = a memory of ~1000 samples",
     &s_forgetting, 0.5, 1},
    {"history-interval", "KMS_HISTORY_INTERVAL", KMS_OPT_DOUBLE, "5",
     "seconds between the fit history points that LIST reports", &s_history_interval, 0.05, 3600},
    {"max-watts", "KMS_MAX_WATTS", KMS_OPT_CHECKED, NULL,
     "physical bounds per target, e.g. core=1500,*=10000 (* = others), replacing the defaults "
     TRAINER_BOUNDS_DEFAULT "; a sample beyond one is held back",
     &(kms_opt_text_t){&s_max_watts, NULL, s_bounds}, 0, 0},
    {"seed-model", "KMS_SEED_MODELS", KMS_OPT_STRING, NULL,
     "model zip(s) to start from, comma separated (a checkpoint of the same model wins)", &s_seed, 0, 0},
    {"dataset", "KMS_DATASET", KMS_OPT_STRING, NULL,
     "train: the CSV or Prometheus query_range JSON file to learn from", &s_dataset, 0, 0},
    KMS_CURVE_OPTIONS(s_curve_config),
    {0},
};
/* clang-format on */

static const kms_config_t s_config = {
    "kms-trainer",
    "Learns linear power models (sixteen built in: node models such as core_model and dram_model, and the "
    "per-logical-cpu vm_* models kms-meter uses; more with --models) from the samples that kms-scraper "
    "publishes, answers kms-api's requests, and checkpoints every model to --data-dir (one trainer per data "
    "dir).\n\n"
    "Commands:\n"
    "  (none)                   run the online trainer until SIGTERM/SIGINT\n"
    "  train --dataset FILE     learn from a CSV or Prometheus JSON file, print each model's fit, save\n"
    "  import FILE...           make model zips (from GET /models/<model>) the data dir's checkpoints",
    "[train --dataset FILE | import FILE...] [OPTIONS]",
    s_options,
};

static int s_bad(const char *option, const char *value, const char *why)
{
    fprintf(stderr, "kms-trainer: invalid value '%s' for %s: %s\n", value ? value : "", option, why);
    return 2;
}

int main(int argc, char **argv)
{
    int positional = 0;
    int rc = kms_config_parse(&s_config, argc, argv, &positional);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    const char *command = positional > 0 ? argv[1] : NULL;
    bool train = command && strcmp(command, "train") == 0;
    bool import = command && strcmp(command, "import") == 0;
    if (command && !train && !import) {
        fprintf(stderr, "kms-trainer: unknown command '%s' (see --help)\n", command);
        return 2;
    }
    if (train && positional != 1) {
        fprintf(stderr, "kms-trainer: unexpected argument '%s' (train takes --dataset FILE)\n", argv[2]);
        return 2;
    }
    if (train && (!s_dataset || !*s_dataset))
        return s_bad("--dataset", s_dataset, "train needs a dataset file");
    if (!train && s_dataset)
        return s_bad("--dataset", s_dataset, "only the train command reads a dataset");
    if (import && positional < 2) {
        fprintf(stderr, "kms-trainer: import needs at least one model zip (see --help)\n");
        return 2;
    }

    char why[512];
    const char *curve_why = NULL;
    /* Stopped by the flag (kms_signal.h), checked at least every second by the loop. */
    zsys_handler_set(NULL);
    kms_signal_init(false);
    kms_curve_t *curve = command ? NULL : kms_curve_new(&s_curve_config, why, sizeof why, &curve_why);
    if (curve_why) {
        fprintf(stderr, "kms-trainer: %s\n", curve_why);
        return 2;
    }
    trainer_bounds_t bounds;
    trainer_bounds_parse(&bounds, s_max_watts, why, sizeof why); /* checked by s_bounds */
    trainer_specs_t *specs = malloc(sizeof *specs);
    if (!specs || trainer_specs_load(specs, s_models, s_forgetting, (uint64_t) s_min_samples, why, sizeof why) != 0) {
        const char *reason = specs ? why : "out of memory";
        free(specs);
        kms_curve_destroy(&curve);
        return s_bad("--models", s_models, reason);
    }
    trainer_t *trainer = trainer_new(specs, KMS_VERSION);
    free(specs);
    if (!trainer) {
        kms_error("out of memory", NULL);
        kms_curve_destroy(&curve);
        return 1;
    }
    trainer_set_bounds(trainer, &bounds);
    /* One trainer per data dir: two would overwrite each other's checkpoints (the last writer
       wins, the other's samples lost). The lock is held until exit. */
    bool made = mkdir(s_data_dir, 0755) == 0 || errno == EEXIST; /* not: the checkpoints will say why */
    if (made && kms_file_lock_dir(s_data_dir) < 0 && errno == EWOULDBLOCK) {
        fprintf(stderr, "kms-trainer: another kms-trainer uses the data dir %s: one trainer per data dir\n",
                s_data_dir);
        trainer_destroy(&trainer);
        kms_curve_destroy(&curve);
        return 2;
    }
    /* A full disk or a file size limit must fail a write, not kill the process. */
    kms_signal_handle(SIGXFSZ, SIG_IGN);
    if (train)
        rc = trainer_offline_train(trainer, s_dataset, s_data_dir);
    else if (import)
        rc = trainer_offline_import(trainer, argv + 2, positional - 1, s_data_dir);
    else
        rc = trainer_service_run(trainer, &(trainer_service_options_t){
                                              .samples_endpoint = s_samples,
                                              .control_endpoint = s_control,
                                              .data_dir = s_data_dir,
                                              .checkpoint_interval = s_checkpoint_interval,
                                              .history_interval = s_history_interval,
                                              .seed_models = s_seed,
                                              .curve = curve,
                                          });
    trainer_destroy(&trainer);
    kms_curve_destroy(&curve);
    return rc;
}
