/*  trainer_ingest.h: kms-trainer's ingest checks, frames from the samples socket -> accepted samples. */
#ifndef TRAINER_INGEST_H
#define TRAINER_INGEST_H

#include <czmq.h>

#include "kms_sample.h"
#include "trainer.h"

typedef struct trainer_ingest_t trainer_ingest_t;

trainer_ingest_t *trainer_ingest_new(trainer_stats_t *stats);
void trainer_ingest_destroy(trainer_ingest_t **self_p);

/* Checks one message (its frames) and fills `out` when it is a sample to learn: returns 0, or
   -1 when it is not one (dropped: counted in stats, logged; or a container sample: counted).
   Pure apart from the log and a read of the wall clock (a sample from the future is refused). */
int trainer_ingest_message(trainer_ingest_t *self, zmsg_t *msg, kms_sample_t *out);

#endif
