/*  trainer_control.h: kms-trainer's control protocol (kms_proto.h), one request -> one reply. */
#ifndef TRAINER_CONTROL_H
#define TRAINER_CONTROL_H

#include <czmq.h>

#include "trainer.h"

/* Answers one control request (kms_proto.h). Takes the request, returns the two-frame reply. */
zmsg_t *trainer_control_handle(trainer_t *self, zmsg_t **request_p);

#endif
