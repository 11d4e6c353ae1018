/*  trainer_service.h: kms-trainer's online loop (the samples and control sockets, checkpoints). */
#ifndef TRAINER_SERVICE_H
#define TRAINER_SERVICE_H

#include "kms_curve.h"
#include "trainer.h"

typedef struct {
    const char *samples_endpoint;
    const char *control_endpoint;
    const char *data_dir;
    double checkpoint_interval;
    double history_interval;
    const char *seed_models; /* comma-separated zip files, or NULL */
    kms_curve_t *curve;      /* CURVE on both sockets, or NULL (borrowed) */
} trainer_service_options_t;

/* Runs until SIGINT/SIGTERM; returns the process exit status: 0, or 1 when a socket could not
   be opened or the final checkpoint failed. */
int trainer_service_run(trainer_t *self, const trainer_service_options_t *options);

#endif
