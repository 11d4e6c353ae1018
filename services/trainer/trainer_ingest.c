/*  The ingest checks between the samples socket and the models.

    The trainer subscribes to both topics. Node samples (kepler.node) are what the models learn.
    Container samples (kepler.container) are never learned: the models are node models, and a
    container's watts are Kepler's share of the node's, not a measurement. They are received
    only because they carry the same per-publisher seq as node samples: a subscriber that saw
    only node samples would take every container sample in between for a lost message.

    Everything that arrives is counted; what a model may not learn is dropped:
    - malformed: not two frames, another topic, a body over KMS_SAMPLE_MAX_FRAME, a body that
      kms_sample_decode refuses (truncated, type-confused, NaN/Inf, dt <= 0...), or a sample
      whose kind (node or container) is not its topic's.
    - rejected: a negative number (or one beyond KMS_MODEL_VALUE_MAX), an interval length (dt)
      far from the publisher's usual one, or a logical cpu count (cpus) other than the one the
      publisher's previous node sample stated (the one after is learned again).

    Publishers are told apart by node name: the messages about one node, its node sample and its
    container samples, carry one rising series. Per publisher:
    - seq: +1 per message. A jump forward by k counts k-1 gaps (messages lost on the way: a slow
      subscriber, a dropped connection). A seq that does not move forward (back to a small
      number, typically) is a new session of the publisher, a restarted scraper, and is counted
      as a restart, not as 2^64 gaps. So is a leap forward by more than S_SEQ_LEAP_MAX: no
      subscriber misses that many messages of one publisher and stays connected (the socket's
      queue holds a thousand), while a publisher that lost its counter, or lies, can send any
      number. A seq moving back and forth thus counts sessions, never 1e18 gaps, and what one
      message adds to seq_gaps is bounded.
    - A scraper may also number all its messages, about every node it scrapes, with one counter
      (kms-scraper does): then a node's series skips the numbers of the other nodes' messages.
      So a message whose seq follows the previous message's, whichever node that was about, is
      in sequence, and a jump is never counted as more than the distance from the previous
      message's seq. The count is then exact when one scraper feeds the socket, whatever its
      numbering; with one scraper per node it never exceeds what was lost, but a loss can go
      unseen when another scraper's message happens to carry the very next number. Without a
      publisher identity in the wire format, that is the best a subscriber can do.
    - time (node samples, s_time_implausible): a ts more than S_CLOCK_SKEW_S ahead of our own
      clock, a dt under S_DT_MIN, or a dt longer than S_DT_HIGH times the time since the
      publisher's previous node sample (by its own ts) is rejected, from the first sample on.
    - dt (node samples): compared with the median of the publisher's last S_DT_WINDOW
      intervals, once it has S_DT_WARMUP of them; outside [S_DT_LOW, S_DT_HIGH] times the
      median it is rejected. A scrape that was skipped doubles dt honestly, which stays inside;
      a clock jump or a mislabelled interval does not. An accepted dt enters the window, and so
      does a rejected one that agrees with the time since the publisher's previous sample: a
      publisher whose interval was reconfigured (its ts spacing changes with its dt) is
      accepted again after half a window, one that keeps lying about dt never poisons the
      median. A new session starts a new window.
    The table is bounded (kms_recent): past S_MAX_PUBLISHERS the one heard from longest ago is
    forgotten, so a publisher inventing node names cannot exhaust memory; that is counted and
    logged (its next sample is a new session, its seq and dt checks start afresh). */
#include "trainer_ingest.h"

#include "kms_log.h"
#include "kms_num.h"
#include "kms_recent.h"
#include "kms_sample_msgpack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_DT_WINDOW 15
#define S_DT_WARMUP 3
#define S_DT_LOW 0.5
#define S_DT_HIGH 3.0
#define S_DT_MIN 1e-3          /* seconds: shorter than any scrape */
#define S_CLOCK_SKEW_S 60.0    /* how far ahead of our clock a publisher's may run */
#define S_MAX_PUBLISHERS 16384 /* a fleet of 10,000 nodes, each its own publisher (a DaemonSet) */
#define S_SEQ_LEAP_MAX 100000

typedef struct {
    uint64_t last_seq;
    size_t dt_count, dt_next;
    double dts[S_DT_WINDOW];
    double last_ts; /* of its previous node sample in this session; 0: none yet */
    uint32_t cpus;  /* the logical cpus its last node sample stated; 0: none */
} s_publisher_t;

struct trainer_ingest_t {
    trainer_stats_t *stats;
    bool have_previous;
    uint64_t previous_seq;         /* of the previous valid message, whichever its node */
    uint64_t gap_events, sessions; /* for log rate limiting */
    kms_recent_t *publishers;
};

trainer_ingest_t *trainer_ingest_new(trainer_stats_t *stats)
{
    trainer_ingest_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->stats = stats;
    if (!(self->publishers = kms_recent_new(S_MAX_PUBLISHERS, sizeof(s_publisher_t))))
        trainer_ingest_destroy(&self);
    return self;
}

void trainer_ingest_destroy(trainer_ingest_t **self_p)
{
    if (self_p && *self_p) {
        kms_recent_destroy(&(*self_p)->publishers);
        free(*self_p);
        *self_p = NULL;
    }
}

static int s_malformed(trainer_ingest_t *self, const char *why)
{
    uint64_t n = ++self->stats->frames_malformed;
    if (kms_log_decade(n)) {
        char quoted[160];
        kms_warn("malformed sample message dropped", "why=%s count=%llu", kms_log_quote(why, quoted, sizeof quoted),
                 (unsigned long long) n);
    }
    return -1;
}

static int s_rejected(trainer_ingest_t *self, uint64_t *kind, const kms_sample_t *sample, const char *why)
{
    (*kind)++;
    uint64_t n = ++self->stats->samples_rejected;
    if (kms_log_decade(n)) {
        char node[160];
        kms_warn("sample rejected", "why=%s node=%s seq=%llu count=%llu", kms_log_quote(why, (char[256]){0}, 256),
                 kms_log_quote(sample->node, node, sizeof node), (unsigned long long) sample->seq,
                 (unsigned long long) n);
    }
    return -1;
}

static s_publisher_t *s_publisher(trainer_ingest_t *self, const char *node, bool *is_new)
{
    bool evicted;
    s_publisher_t *p = kms_recent_use(self->publishers, node, is_new, &evicted);
    if (evicted && kms_log_decade(++self->stats->publishers_forgotten))
        kms_warn("more publishers than the table holds: the one heard from longest ago is forgotten",
                 "capacity=%d count=%llu", S_MAX_PUBLISHERS, (unsigned long long) self->stats->publishers_forgotten);
    self->stats->publishers = kms_recent_count(self->publishers);
    return p;
}

static void s_track_seq(trainer_ingest_t *self, s_publisher_t *p, bool is_new, uint64_t seq)
{
    char node[160];
    kms_log_quote(kms_recent_name(self->publishers, p), node, sizeof node);
    if (is_new) {
        if (kms_log_decade(++self->sessions))
            kms_info("new publisher", "node=%s seq=%llu", node, (unsigned long long) seq);
    } else if (seq <= p->last_seq || seq - p->last_seq > S_SEQ_LEAP_MAX) {
        self->stats->publisher_restarts++;
        p->dt_count = p->dt_next = 0;
        p->last_ts = 0;
        if (kms_log_decade(self->stats->publisher_restarts))
            kms_info(seq <= p->last_seq ? "publisher restarted (seq went back)" : "publisher restarted (seq leapt)",
                     "node=%s seq=%llu previous=%llu", node, (unsigned long long) seq,
                     (unsigned long long) p->last_seq);
    } else if (seq - p->last_seq > 1 && !(self->have_previous && seq == self->previous_seq + 1)) {
        uint64_t missed = seq - p->last_seq - 1;
        if (self->have_previous && seq > self->previous_seq && seq - self->previous_seq - 1 < missed)
            missed = seq - self->previous_seq - 1;
        self->stats->seq_gaps += missed;
        if (kms_log_decade(++self->gap_events))
            kms_warn("samples lost on the way", "node=%s missed=%llu seq=%llu", node, (unsigned long long) missed,
                     (unsigned long long) seq);
    }
    p->last_seq = seq;
    self->previous_seq = seq;
    self->have_previous = true;
}

static int s_compare(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* Seconds since the publisher's previous node sample by its own clock, 0 when unknown. */
static double s_elapsed(const s_publisher_t *p, double ts)
{
    return p->last_ts > 0 && ts > p->last_ts ? ts - p->last_ts : 0;
}

/* Why the sample's time cannot be what its publisher measured, or NULL: a ts from the future
   beyond a clock skew, an interval no scrape has, or one longer than the time that passed
   since the publisher's previous sample. Holds from a publisher's very first samples, before
   its usual interval is known. `now`: our wall clock. */
static const char *s_time_implausible(const s_publisher_t *p, const kms_sample_t *s, double now)
{
    if (s->ts > now + S_CLOCK_SKEW_S)
        return "timestamp in the future";
    if (s->dt < S_DT_MIN)
        return "interval (dt) shorter than any scrape";
    double elapsed = s_elapsed(p, s->ts);
    if (elapsed > 0 && s->dt > S_DT_HIGH * elapsed)
        return "interval (dt) longer than the time since the publisher's previous sample";
    return NULL;
}

/* Whether dt fits the publisher's usual interval. It is recorded when it does, or when it
   agrees with the time since the previous sample (a reconfigured interval, not a lie). */
static bool s_dt_usual(s_publisher_t *p, double dt, double elapsed)
{
    bool ok = true;
    if (p->dt_count >= S_DT_WARMUP) {
        double sorted[S_DT_WINDOW];
        memcpy(sorted, p->dts, p->dt_count * sizeof(double));
        qsort(sorted, p->dt_count, sizeof(double), s_compare);
        double median = p->dt_count % 2 ? sorted[p->dt_count / 2]
                                        : (sorted[p->dt_count / 2 - 1] + sorted[p->dt_count / 2]) / 2;
        ok = dt >= S_DT_LOW * median && dt <= S_DT_HIGH * median;
    }
    if (!ok && !(elapsed > 0 && dt >= S_DT_LOW * elapsed && dt <= S_DT_HIGH * elapsed))
        return false;
    p->dts[p->dt_next] = dt;
    p->dt_next = (p->dt_next + 1) % S_DT_WINDOW;
    if (p->dt_count < S_DT_WINDOW)
        p->dt_count++;
    return ok;
}

int trainer_ingest_message(trainer_ingest_t *self, zmsg_t *msg, kms_sample_t *out)
{
    self->stats->samples_received++;
    if (zmsg_size(msg) != 2)
        return s_malformed(self, "expected two frames: topic, msgpack map");
    zframe_t *topic = zmsg_first(msg);
    zframe_t *body = zmsg_next(msg);
    bool container_topic = zframe_streq(topic, KMS_TOPIC_CONTAINER);
    if (!container_topic && !zframe_streq(topic, KMS_TOPIC_NODE))
        return s_malformed(self, "unknown topic");
    if (zframe_size(body) > KMS_SAMPLE_MAX_FRAME)
        return s_malformed(self, "oversized frame");
    const char *why = NULL;
    if (kms_sample_decode(zframe_data(body), zframe_size(body), out, &why) != 0)
        return s_malformed(self, why ? why : "not a sample");
    if (out->is_container != container_topic)
        return s_malformed(self, "the sample's kind (node or container) is not its topic's");

    bool is_new;
    s_publisher_t *p = s_publisher(self, out->node, &is_new);
    if (!p) {
        kms_error("out of memory", "node=%s", kms_log_quote(out->node, (char[160]){0}, 160));
        return -1;
    }
    s_track_seq(self, p, is_new, out->seq);
    if (container_topic) {
        self->stats->container_samples++;
        return -1; /* counted for seq, never learned */
    }
    if (!trainer_sample_values_ok(out))
        return s_rejected(self, &self->stats->rejected_values, out, "negative or out-of-range value");
    if (!(isfinite(out->dt) && out->dt > 0))
        return s_rejected(self, &self->stats->rejected_interval, out, "interval (dt) not positive");
    const char *implausible = s_time_implausible(p, out, kms_num_wallclock());
    double elapsed = s_elapsed(p, out->ts);
    if (!implausible && out->ts > p->last_ts)
        p->last_ts = out->ts;
    if (implausible)
        return s_rejected(self, &self->stats->rejected_time, out, implausible);
    if (!s_dt_usual(p, out->dt, elapsed))
        return s_rejected(self, &self->stats->rejected_interval, out, "interval (dt) far from the publisher's usual");
    /* A node whose size changes (cpus taken offline, a resized VM) straddles two sizes in that
       interval: held back, and the new size holds from the next. */
    uint32_t cpus_before = p->cpus;
    p->cpus = out->cpus;
    if (out->cpus > 0 && cpus_before > 0 && out->cpus != cpus_before)
        return s_rejected(self, &self->stats->rejected_values, out, "logical cpu count changed (cpus)");
    self->stats->samples_accepted++;
    return 0;
}
