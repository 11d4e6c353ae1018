/*  api_http: kms-api's HTTP server (civetweb) and its routes (docs/contract.md, "HTTP routes").

      GET  /                        status page (api_page)
      GET  /healthz                 200 while the process serves
      GET  /readyz                  200 when the trainer answers PING in time, else 503
      GET  /metrics                 Prometheus text (api_metrics + api_stats)
      GET  /models                  JSON list of the models with their status
      GET  /models/<model>          the model's zip (attachment)
      GET  /model-weights/<model>   the model's weights JSON; "/model-weights/" = core_model
      POST /model                   Kepler's model request (api_kepler)
      GET  /kepler/init/<source>    what Kepler 0.7+'s NODE_COMPONENTS_INIT_URL (intel_rapl) or
                                    NODE_TOTAL_INIT_URL (acpi) loads: the component map of its
                                    default request; ?kepler=<release> for another generation

    Other methods get 405, other paths 404, request bodies anywhere but POST /model 413, and
    a POST /model body over API_HTTP_MAX_BODY 413. Errors are JSON {"error": "..."}. No file is
    ever served (civetweb runs without a document root). Each response is written with one
    write (headers and body in one buffer), so keep-alive clients never wait on Nagle.

    A request's trainer calls (through the shared api_trainer_t) share one deadline, so no
    route takes longer than --trainer-timeout waiting for the trainer. */
#ifndef API_HTTP_H
#define API_HTTP_H

#include <stdio.h>

#include "api_kepler.h"
#include "api_stats.h"
#include "api_tls.h"
#include "api_trainer.h"

#define API_HTTP_MAX_BODY 65536

typedef struct {
    long port;
    const char *listen; /* IPv4 address to listen on ("0.0.0.0": every interface) */
    long threads;
    long per_client;            /* connections one client address may hold */
    long timeout_ms;            /* per request, for the trainer */
    long request_timeout_ms;    /* for a client to send its request */
    const char *trainer;        /* endpoint, for messages */
    const char *acl;            /* civetweb access_control_list ("-0.0.0.0/0,+10.0.0.0/8"), or NULL */
    const api_tls_t *tls;       /* serve HTTPS only; NULL: plain HTTP (borrowed) */
    api_kepler_config_t kepler; /* how Kepler's requests are answered */
} api_http_config_t;

/* Writes extra families into /metrics (the OTLP exporter's counters, say). */
typedef void(api_http_metrics_fn)(void *arg, FILE *out);

typedef struct api_http_t api_http_t;

/* Starts listening on config->listen:config->port. `trainer` and `stats` are borrowed and
   must outlive the server. NULL on error (logged: port in use, ...). */
api_http_t *api_http_start(const api_http_config_t *config, api_trainer_t *trainer, api_stats_t *stats);

/* The port the server listens on: config->port, or the one the system chose for port 0. */
int api_http_port(const api_http_t *self);

/* Registers the /metrics extension; call before traffic, or accept a racy first scrape. */
void api_http_set_metrics_hook(api_http_t *self, api_http_metrics_fn *fn, void *arg);

/* --acl's validator (kms_opt_check_fn): 0 when `acl` is a civetweb access list, comma-separated
   [+|-]IPv4[/bits] entries, else -1 with what is expected in `why`. */
int api_http_acl_check(const char *acl, char *why, size_t cap);

/* Stops accepting, waits for the workers to finish and frees; idempotent. */
void api_http_stop(api_http_t **self_p);

#endif
