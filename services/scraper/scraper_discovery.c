/*  scraper_discovery: a resolver thread for --kepler-url names, and the URL of each address. */
#include "scraper_discovery.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kms_num.h"

struct scraper_discovery_t {
    const char *const *names; /* borrowed */
    size_t count;
    double interval;
    size_t max_addresses;
    zactor_t *actor;
};

/* ---------------------------------------------------------------- pure part */

bool scraper_discovery_is_name(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char bare[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof bare) {
        memcpy(bare, host + 1, len - 2);
        bare[len - 2] = '\0';
        host = bare;
    }
    return inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1;
}

int scraper_discovery_url(const char *url, const char *address, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN + 2];
    snprintf(host, sizeof host, strchr(address, ':') ? "[%s]" : "%s", address);
    CURLU *u = curl_url();
    char *full = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_set(u, CURLUPART_HOST, host, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK && strlen(full) < cap) {
        memcpy(out, full, strlen(full) + 1);
        rc = 0;
    }
    curl_free(full);
    curl_url_cleanup(u);
    return rc;
}

static int s_compare(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* ---------------------------------------------------------------- the resolver thread */

/* Looks names[source] up and sends the answer down the pipe: the source, the status, the
   number of distinct addresses, then the first max_addresses of them, sorted (so that the
   same answer in another order, as round-robin DNS gives, is the same set). */
static void s_lookup(scraper_discovery_t *self, zsock_t *pipe, size_t source)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int status = getaddrinfo(self->names[source], NULL, &hints, &list);
    size_t n = 0, count = 0;
    for (struct addrinfo *a = status == 0 ? list : NULL; a; a = a->ai_next)
        count++;
    char(*found)[INET6_ADDRSTRLEN] = count ? calloc(count, sizeof *found) : NULL;
    if (count && !found)
        status = EAI_MEMORY; /* no room for the answer is no answer: the last targets stay */
    for (struct addrinfo *a = found ? list : NULL; a; a = a->ai_next) {
        const void *raw = a->ai_family == AF_INET    ? (const void *) &((struct sockaddr_in *) a->ai_addr)->sin_addr
                          : a->ai_family == AF_INET6 ? (const void *) &((struct sockaddr_in6 *) a->ai_addr)->sin6_addr
                                                     : NULL;
        if (raw && inet_ntop(a->ai_family, raw, found[n], sizeof found[n]))
            n++;
    }
    if (list)
        freeaddrinfo(list);
    if (n > 0)
        qsort(found, n, sizeof *found, s_compare);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (distinct == 0 || strcmp(found[distinct - 1], found[i]) != 0)
            memmove(found[distinct++], found[i], sizeof *found);
    uint64_t header[3] = {source, (uint64_t) (int64_t) status, distinct};
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, header, sizeof header);
    for (size_t i = 0; i < distinct && i < self->max_addresses; i++)
        zmsg_addmem(msg, found[i], strlen(found[i]) + 1); /* with its NUL: read in place */
    free(found);
    zmsg_send(&msg, pipe);
}

static void s_actor(zsock_t *pipe, void *arg)
{
    scraper_discovery_t *self = arg;
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, NULL);
    double next = 0;
    while (poller) {
        if (kms_num_monotonic() >= next) {
            for (size_t i = 0; i < self->count; i++)
                s_lookup(self, pipe, i);
            next = kms_num_monotonic() + self->interval;
        }
        double wait_ms = (next - kms_num_monotonic()) * 1000;
        if (zpoller_wait(poller, wait_ms < 0 ? 0 : wait_ms > 1000 ? 1000 : (int) wait_ms) == pipe) {
            char *command = zstr_recv(pipe);
            bool stop = !command || streq(command, "$TERM");
            zstr_free(&command);
            if (stop)
                break;
        } else if (zpoller_terminated(poller)) {
            break;
        }
    }
    zpoller_destroy(&poller);
}

scraper_discovery_t *scraper_discovery_new(const char *const *names, size_t count, double interval,
                                           size_t max_addresses)
{
    assert(names && count > 0 && interval > 0 && max_addresses > 0);
    scraper_discovery_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    *self = (scraper_discovery_t){names, count, interval, max_addresses, NULL};
    if (!(self->actor = zactor_new(s_actor, self)))
        scraper_discovery_destroy(&self);
    return self;
}

void scraper_discovery_destroy(scraper_discovery_t **self_p)
{
    assert(self_p);
    scraper_discovery_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy(&self->actor);
    free(self);
    *self_p = NULL;
}

void scraper_discovery_poll(scraper_discovery_t *self, void (*each)(const scraper_lookup_t *lookup, void *arg),
                            void *arg)
{
    zmsg_t *msg;
    while ((zsock_events(zactor_sock(self->actor)) & ZMQ_POLLIN) && (msg = zmsg_recv(self->actor))) {
        zframe_t *head = zmsg_first(msg);
        uint64_t header[3];
        size_t count = zmsg_size(msg) - 1;
        const char **addresses = count ? calloc(count, sizeof *addresses) : NULL;
        if (head && zframe_size(head) == sizeof header && (addresses || count == 0)) {
            memcpy(header, zframe_data(head), sizeof header);
            for (size_t i = 0; i < count; i++)
                addresses[i] = (const char *) zframe_data(zmsg_next(msg));
            scraper_lookup_t lookup = {(size_t) header[0], (int) (int64_t) header[1], (size_t) header[2], addresses,
                                       count};
            each(&lookup, arg);
        }
        free(addresses);
        zmsg_destroy(&msg);
    }
}
