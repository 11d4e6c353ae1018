/*  api_otlp_loader: runs the OTLP exporter (api_otlp.h) inside kms-api, only when configured.

    The exporter needs libcurl, and libcurl's TLS, LDAP and Kerberos libraries cost 5 MB of
    resident memory the moment they are loaded, a third of kms-api's whole budget. So the
    exporter is built as a shared module, embedded in the kms-api binary itself (one file to
    ship, as before) and loaded (memfd + dlopen) only when OTEL_EXPORTER_OTLP_ENDPOINT or
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set. The module takes kms_log and kms_num from the
    executable, which exports its symbols.

    The exporter asks the trainer through the shared api_backend_t, from its own thread, and its
    counters join /metrics as kms_api_otlp_*_total. */
#ifndef API_OTLP_LOADER_H
#define API_OTLP_LOADER_H

#include "api_http.h"
#include "api_trainer.h"

typedef struct api_otlp_loader_t api_otlp_loader_t;

/* Starts the exporter when the environment configures one; NULL when it is off or could not
   be loaded (logged). `backend` and `server` must outlive it. */
api_otlp_loader_t *api_otlp_loader_start(api_backend_t *backend, long timeout_ms, api_http_t *server);

/* Stops the exporter and unloads the module; idempotent. Call after api_http_stop(): /metrics
   reads the exporter's counters. */
void api_otlp_loader_stop(api_otlp_loader_t **self_p);

#endif
