/*  scraper_discovery: --kepler-url host names that stand for many Kepler pods, the way a
    Kubernetes headless Service does (one address record per ready pod).

    A resolver thread (a zactor) looks every name up with getaddrinfo, at once and then every
    --resolve-interval, and hands the loop each answer as a sorted list of distinct addresses,
    cut at `max_addresses`. Lookups run on their own thread because a resolver that does not
    answer holds getaddrinfo for its whole timeout (resolv.conf's), and the scrapes must go on.

    The pure part (scraper_discovery_url, scraper_discovery_is_name) does no I/O. */
#ifndef SCRAPER_DISCOVERY_H
#define SCRAPER_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct scraper_discovery_t scraper_discovery_t;

/* One finished lookup of names[source]. `status` is 0 or getaddrinfo's EAI_* code; `found` counts
   the distinct addresses of the answer, of which the first `count` (sorted) are in `addresses`
   (borrowed for the call). */
typedef struct {
    size_t source;
    int status;
    size_t found;
    const char *const *addresses;
    size_t count;
} scraper_lookup_t;

/* Starts the resolver thread on `count` names (borrowed: they outlive it). NULL when out of memory. */
scraper_discovery_t *scraper_discovery_new(const char *const *names, size_t count, double interval,
                                           size_t max_addresses);
/* Stops the thread; a lookup in progress is waited for (at most resolv.conf's timeout). */
void scraper_discovery_destroy(scraper_discovery_t **self_p);

/* Calls `each` for every lookup finished since the last call, without waiting. */
void scraper_discovery_poll(scraper_discovery_t *self, void (*each)(const scraper_lookup_t *lookup, void *arg),
                            void *arg);

/* true when `host` (a URL's host part) is a name to look up, false for an IP address literal
   (IPv6 with or without its brackets). */
bool scraper_discovery_is_name(const char *host);

/* `url` with its host replaced by `address` (an IPv6 one bracketed), written to `out`.
   0 / -1 (not a URL, or `cap` too small). */
int scraper_discovery_url(const char *url, const char *address, char *out, size_t cap);

#endif
