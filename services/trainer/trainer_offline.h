/*  trainer_offline.h: kms-trainer's offline commands, train and import. */
#ifndef TRAINER_OFFLINE_H
#define TRAINER_OFFLINE_H

#include "trainer.h"

/* `kms-trainer train --dataset FILE`: returns the process exit status. */
int trainer_offline_train(trainer_t *self, const char *dataset, const char *data_dir);

/* `kms-trainer import FILE...`: each zip becomes the checkpoint of its model in data_dir. */
int trainer_offline_import(trainer_t *self, char **files, int count, const char *data_dir);

#endif
