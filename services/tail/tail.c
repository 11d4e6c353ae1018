/*  kms-tail's core. See tail.h. */
#include "tail.h"

#include "kms_sample_json.h"
#include "kms_sample_msgpack.h"

/* A seq that did not follow the last one by 1: the messages in between were lost (or the
   publisher restarted and began again, which counts as no gap). */
static void s_count_gap(tail_stats_t *stats, uint64_t seq)
{
    if (stats->have_seq && seq > stats->last_seq + 1)
        stats->gaps += seq - stats->last_seq - 1;
    stats->last_seq = seq;
    stats->have_seq = true;
}

char *tail_line(tail_stats_t *stats, zmsg_t *msg, const char **why)
{
    stats->received++;
    kms_sample_t sample;
    if (zmsg_size(msg) != 2) {
        *why = "expected two frames (topic, sample)";
        goto malformed;
    }
    zframe_t *topic = zmsg_first(msg), *body = zmsg_next(msg);
    if (kms_sample_decode(zframe_data(body), zframe_size(body), &sample, why) != 0)
        goto malformed;
    if (!zframe_streq(topic, kms_sample_topic(&sample))) {
        *why = "topic does not match the sample (container keys decide kepler.container)";
        goto malformed;
    }
    char *line = kms_sample_to_json(&sample);
    if (!line) {
        *why = "out of memory";
        goto malformed;
    }
    s_count_gap(stats, sample.seq);
    stats->printed++;
    return line;
malformed:
    stats->malformed++;
    return NULL;
}
