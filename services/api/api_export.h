/*  api_export: kms-api's OTLP export, the exporter (api_otlp.h) fed from the trainer through
    the shared api_trainer_t, on when OTEL_EXPORTER_OTLP_ENDPOINT or
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set. The exporter is a module of kms-api's private
    library folder (api_libdir.h), kms-api-otlp.so, loaded by path only then. Its counters join
    /metrics as kms_api_otlp_*_total. */
#ifndef API_EXPORT_H
#define API_EXPORT_H

#include "api_http.h"
#include "api_trainer.h"

typedef struct api_export_t api_export_t;

/* Starts the exporter when the environment configures one; NULL when it is off or could not
   start (logged). `trainer` and `server` must outlive it. */
api_export_t *api_export_start(api_trainer_t *trainer, long timeout_ms, api_http_t *server);

/* Stops the exporter; idempotent. Call after api_http_stop(): /metrics reads its counters. */
void api_export_stop(api_export_t **self_p);

#endif
