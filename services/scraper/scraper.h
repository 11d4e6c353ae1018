/*  scraper: kms-scraper's loop. Fetches every target concurrently once per interval (libcurl
    multi, one reused easy handle per target), turns each answer into samples with kms_kepler
    and publishes them on a czmq PUB socket. A target still in flight when its next cycle comes
    is skipped for that cycle, never waited for. */
#ifndef SCRAPER_H
#define SCRAPER_H

#include "kms_curve.h"
#include <signal.h>
#include <stdbool.h>

typedef struct {
    const char *kepler_urls;         /* comma separated /metrics URLs */
    double resolve_interval;         /* > 0: seconds between lookups of the URLs' host names, each address
                                    its own target (scraper_discovery); 0: a name is one target */
    const char *prometheus_url;      /* a Prometheus server's base URL; replaces kepler_urls when set */
    const char *prometheus_selector; /* replaces kms_kepler_selector()'s default when set (relabelled names) */
    bool prometheus_containers;      /* API mode: ask for containers' series and publish their samples */
    double interval;                 /* seconds between cycles */
    const char *publish;             /* czmq endpoint(s) of the PUB socket */
    long metrics_port;               /* 0: any free port (logged); KMS_PORT_OFF (< 0): no server */
    long max_body_bytes;             /* an answer larger than this (decoded) is dropped */
    double timeout;                  /* seconds a fetch may take in total; 0: the interval */
    double connect_timeout;          /* seconds the connection may take (capped by timeout) */
    double stats_interval;           /* seconds between info log lines of the counters; 0: never */
    long sndhwm;                     /* PUB send high-water mark, in messages */
    kms_curve_t *curve;              /* CURVE on the PUB socket, or NULL (borrowed) */
} scraper_config_t;

typedef struct scraper_t scraper_t;

/* Validates the config (URLs, endpoint) and binds the socket. NULL with one error line logged
   when something is wrong; *bad_config is then true when the config itself was at fault. */
scraper_t *scraper_new(const scraper_config_t *config, bool *bad_config);
void scraper_destroy(scraper_t **self_p);

/* Runs cycles until *stop becomes non-zero (checked at least every 100 ms). 0 / -1. */
int scraper_run(scraper_t *self, volatile sig_atomic_t *stop);

#endif
