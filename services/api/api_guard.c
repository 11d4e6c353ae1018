#include "api_guard.h"

#include "kms_log.h"
#include "kms_num.h"
#include "kms_promtext_write.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define S_ADDR_MAX 48 /* mg_request_info.remote_addr */

#define S_WATCH_PERIOD_MS 50 /* how late past its deadline a body may be cut */

typedef struct {
    char addr[S_ADDR_MAX];
    long count; /* 0: free */
} s_client_t;

typedef struct {
    bool used, cut;
    char addr[S_ADDR_MAX];
    int remote_port, server_port;
    double deadline;
} s_watch_t;

struct api_guard_t {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t watchdog;
    bool stopping;
    long per_client, workers;
    s_client_t *clients; /* open addressing, `workers` entries: never more addresses at once */
    s_watch_t *watches;  /* `workers` entries */
    uint64_t refused, cut;
};

static size_t s_hash(const char *addr, long buckets)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *) addr; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t) (h % (uint64_t) buckets);
}

/* The entry for addr, or the free entry where it would go; NULL when the table is full. */
static s_client_t *s_client(api_guard_t *self, const char *addr)
{
    size_t start = s_hash(addr, self->workers);
    s_client_t *free_entry = NULL;
    for (long i = 0; i < self->workers; i++) {
        s_client_t *c = &self->clients[(start + (size_t) i) % (size_t) self->workers];
        if (c->count > 0 && strcmp(c->addr, addr) == 0)
            return c;
        if (c->count == 0 && !free_entry)
            free_entry = c;
    }
    return free_entry;
}

/* The descriptor of our socket from peer to server_port, or -1. civetweb does not expose it;
   this costs two system calls per open descriptor, so it runs only for a body past its deadline. */
static int s_find_socket(const char *addr, int remote_port, int server_port)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir(dir))) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end || end == entry->d_name || fd == dirfd(dir))
            continue;
        struct sockaddr_storage local, remote;
        socklen_t local_len = sizeof local, remote_len = sizeof remote;
        if (getsockname((int) fd, (struct sockaddr *) &local, &local_len) != 0
            || getpeername((int) fd, (struct sockaddr *) &remote, &remote_len) != 0)
            continue;
        bool v4 = remote.ss_family == AF_INET;
        if (!v4 && remote.ss_family != AF_INET6)
            continue;
        const struct sockaddr_in *l4 = (const void *) &local, *r4 = (const void *) &remote;
        const struct sockaddr_in6 *l6 = (const void *) &local, *r6 = (const void *) &remote;
        int lport = ntohs(v4 ? l4->sin_port : l6->sin6_port), rport = ntohs(v4 ? r4->sin_port : r6->sin6_port);
        char text[S_ADDR_MAX] = "";
        inet_ntop(remote.ss_family, v4 ? (const void *) &r4->sin_addr : (const void *) &r6->sin6_addr, text,
                  sizeof text);
        if (lport == server_port && rport == remote_port && strcmp(text, addr) == 0)
            found = (int) fd;
    }
    closedir(dir);
    return found;
}

static void *s_watchdog(void *arg)
{
    api_guard_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stopping) {
        struct timespec until = kms_num_timespec(kms_num_monotonic() + S_WATCH_PERIOD_MS / 1000.0);
        pthread_cond_timedwait(&self->wake, &self->lock, &until);
        double now = kms_num_monotonic();
        for (long i = 0; i < self->workers; i++) {
            s_watch_t *w = &self->watches[i];
            if (!w->used || w->cut || now < w->deadline)
                continue;
            w->cut = true;
            __atomic_add_fetch(&self->cut, 1, __ATOMIC_RELAXED);
            char quoted[64];
            kms_info("request body too slow: connection cut", "client=%s",
                     kms_log_quote(w->addr, quoted, sizeof quoted));
            int fd = s_find_socket(w->addr, w->remote_port, w->server_port);
            if (fd >= 0)
                shutdown(fd, SHUT_RDWR); /* civetweb still owns the descriptor and closes it */
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

api_guard_t *api_guard_new(long per_client, long workers)
{
    assert(per_client > 0 && workers > 0);
    api_guard_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->per_client = per_client;
    self->workers = workers;
    self->clients = calloc((size_t) workers, sizeof *self->clients);
    self->watches = calloc((size_t) workers, sizeof *self->watches);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (!self->clients || !self->watches || pthread_create(&self->watchdog, NULL, s_watchdog, self) != 0) {
        free(self->clients);
        free(self->watches);
        free(self);
        return NULL;
    }
    return self;
}

void api_guard_destroy(api_guard_t **self_p)
{
    assert(self_p);
    api_guard_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->watchdog, NULL);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->clients);
    free(self->watches);
    free(self);
    *self_p = NULL;
}

bool api_guard_admit(api_guard_t *self, const char *remote_addr)
{
    pthread_mutex_lock(&self->lock);
    s_client_t *c = s_client(self, remote_addr);
    bool admitted = c && c->count < self->per_client;
    if (admitted) {
        if (c->count++ == 0)
            snprintf(c->addr, sizeof c->addr, "%s", remote_addr);
    } else {
        __atomic_add_fetch(&self->refused, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&self->lock);
    return admitted;
}

void api_guard_release(api_guard_t *self, const char *remote_addr)
{
    pthread_mutex_lock(&self->lock);
    s_client_t *c = s_client(self, remote_addr);
    if (c && c->count > 0)
        c->count--;
    pthread_mutex_unlock(&self->lock);
}

int api_guard_watch(api_guard_t *self, const char *remote_addr, int remote_port, int server_port, double deadline)
{
    int slot = -1;
    pthread_mutex_lock(&self->lock);
    for (long i = 0; i < self->workers && slot < 0; i++)
        if (!self->watches[i].used) {
            s_watch_t *w = &self->watches[i];
            *w = (s_watch_t){
                .used = true, .remote_port = remote_port, .server_port = server_port, .deadline = deadline};
            snprintf(w->addr, sizeof w->addr, "%s", remote_addr);
            slot = (int) i;
        }
    pthread_mutex_unlock(&self->lock);
    return slot;
}

bool api_guard_unwatch(api_guard_t *self, int slot)
{
    if (slot < 0)
        return false;
    pthread_mutex_lock(&self->lock);
    bool cut = self->watches[slot].cut;
    self->watches[slot].used = false;
    pthread_mutex_unlock(&self->lock);
    return cut;
}

void api_guard_write(const api_guard_t *self, FILE *out)
{
    kms_promtext_write_family(out, "kms_api_connections_cut_total", "counter",
                              "Connections kms-api closed on a client taking more than its share.");
    fprintf(out,
            "kms_api_connections_cut_total{reason=\"per_client\"} %llu\n"
            "kms_api_connections_cut_total{reason=\"slow_body\"} %llu\n",
            (unsigned long long) __atomic_load_n(&self->refused, __ATOMIC_RELAXED),
            (unsigned long long) __atomic_load_n(&self->cut, __ATOMIC_RELAXED));
}
