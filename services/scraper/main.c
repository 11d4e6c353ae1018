/*  kms-scraper: pulls Kepler's metrics and publishes samples (docs/contract.md). Config,
    signals, wiring; the loop lives in scraper.c, the conversion in common/kms_kepler*.c. */
#include <curl/curl.h>
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kms_config.h"
#include "kms_log.h"
#include "kms_signal.h"
#include "scraper.h"

int main(int argc, char **argv)
{
    scraper_config_t c = {0};
    kms_curve_config_t curve_config = {0};
    /* clang-format off */
    kms_option_t options[] = {
        {"kepler-url", "KMS_KEPLER_URL", KMS_OPT_STRING, "http://127.0.0.1:9102/metrics",
         "Kepler /metrics URL(s), comma separated: one per node", &c.kepler_urls, 0, 0},
        {"resolve-interval", "KMS_RESOLVE_INTERVAL", KMS_OPT_DOUBLE, "0",
         "look up the host name of each --kepler-url every this many seconds and scrape every address it "
         "resolves to as its own target, as the pods behind a Kubernetes headless Service (0: off, a name is "
         "one target)", &c.resolve_interval, 0, 86400},
        {"prometheus-url", "KMS_PROMETHEUS_URL", KMS_OPT_STRING, NULL,
         "query this Prometheus server's HTTP API for Kepler's metrics instead (e.g. http://prometheus:9090)",
         &c.prometheus_url, 0, 0},
        {"prometheus-selector", "KMS_PROMETHEUS_SELECTOR", KMS_OPT_STRING, NULL,
         "the series selector asked of Prometheus, replacing the default one of the families the node samples "
         "need and its separate count of each node's kepler_node_cpu_info (docs/scraper.md): for relabelled "
         "names", &c.prometheus_selector, 0, 0},
        {"prometheus-containers", "KMS_PROMETHEUS_CONTAINERS", KMS_OPT_BOOL, "false",
         "also ask Prometheus for the containers' series and publish kepler.container samples (many times "
         "the bytes: every container's energy, and on 0.10+ every process's cpu seconds)",
         &c.prometheus_containers, 0, 0},
        {"interval", "KMS_SCRAPE_INTERVAL", KMS_OPT_DOUBLE, "5", "seconds between scrapes (fractions allowed)",
         &c.interval, 0.01, 86400},
        {"publish", "KMS_SAMPLES_ENDPOINT", KMS_OPT_STRING, "@tcp://*:5555",
         "where samples are published (czmq syntax: @ binds, > connects; a bound port * is any free one, "
         "logged as listening socket=samples port=)", &c.publish, 0, 0},
        {"metrics-port", "KMS_SCRAPER_METRICS_PORT", KMS_OPT_PORT_OFF, "off",
         "serve the scraper's own counters as Prometheus text on this port (0: any free one, logged as "
         "listening socket=metrics port=)", &c.metrics_port, 0, 0},
        {"max-body-bytes", "KMS_SCRAPER_MAX_BODY_BYTES", KMS_OPT_INT, "67108864",
         "answers larger than this (decoded) are dropped whole", &c.max_body_bytes, 1024, 4294967296.0},
        {"timeout", "KMS_SCRAPER_TIMEOUT", KMS_OPT_DOUBLE, "0",
         "seconds a scrape may take, connection included (0: the interval)", &c.timeout, 0, 3600},
        {"connect-timeout", "KMS_SCRAPER_CONNECT_TIMEOUT", KMS_OPT_DOUBLE, "3",
         "seconds the connection to a target may take (at most --timeout)", &c.connect_timeout, 0.001, 3600},
        {"stats-interval", "KMS_SCRAPER_STATS_INTERVAL", KMS_OPT_DOUBLE, "60",
         "seconds between log lines of the scraper's counters (0: only at exit)", &c.stats_interval, 0, 86400},
        {"sndhwm", "KMS_SCRAPER_SNDHWM", KMS_OPT_INT, "10000",
         "messages queued per subscriber before the PUB socket drops", &c.sndhwm, 1, 10000000},
        KMS_CURVE_OPTIONS(curve_config),
        {0}};
    /* clang-format on */
    kms_config_t config = {"kms-scraper",
                           "Pulls Kepler's metrics (every generation, 0.1 to 0.10+) from its /metrics pages or "
                           "from Prometheus, turns counters into per-second rates and watts, and publishes "
                           "kepler.node and kepler.container samples on a ZeroMQ PUB socket.",
                           NULL, options};
    int rc = kms_config_parse(&config, argc, argv, NULL);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);

    /* The loop checks the stop flag every 100 ms. */
    zsys_handler_set(NULL);
    kms_signal_init(false);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        kms_error("libcurl initialisation failed", NULL);
        return 1;
    }
    zsys_init();

    char why[512];
    const char *curve_why = NULL;
    c.curve = kms_curve_new(&curve_config, why, sizeof why, &curve_why);
    bool bad_config = curve_why != NULL;
    scraper_t *scraper = bad_config ? NULL : scraper_new(&c, &bad_config);
    if (!scraper) {
        if (curve_why)
            fprintf(stderr, "kms-scraper: %s\n", curve_why);
        else if (!bad_config)
            kms_error("cannot start", NULL);
        kms_curve_destroy(&c.curve);
        zsys_shutdown();
        curl_global_cleanup();
        return bad_config ? 2 : 1;
    }
    char urls[1024];
    kms_info("scraping", "source=%s interval=%g publish=%s",
             kms_log_quote(c.prometheus_url && *c.prometheus_url ? c.prometheus_url : c.kepler_urls, urls, sizeof urls),
             c.interval, c.publish);
    rc = scraper_run(scraper, &kms_signal_stop);
    kms_info("stopping", NULL);
    scraper_destroy(&scraper);
    kms_curve_destroy(&c.curve);
    zsys_shutdown();
    curl_global_cleanup();
    kms_info("stopped", NULL);
    return rc == 0 ? 0 : 1;
}
