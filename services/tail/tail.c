/*  kms-tail's core. See tail.h. */
#include "tail.h"

#include "kms_sample.h"
#include "kms_sample_json.h"
#include "kms_sample_msgpack.h"

#include <string.h>

void tail_count_malformed(tail_stats_t *stats)
{
    stats->received++;
    stats->malformed++;
}

/* A seq that did not follow the last one by 1: the messages in between were lost (or the
   publisher restarted and began again, which counts as no gap). */
static void s_count_gap(tail_stats_t *stats, uint64_t seq)
{
    if (stats->have_seq && seq > stats->last_seq + 1)
        stats->gaps += seq - stats->last_seq - 1;
    stats->last_seq = seq;
    stats->have_seq = true;
}

char *tail_line(tail_stats_t *stats, const void *topic, size_t topic_len, const void *body, size_t body_len,
                const char **why)
{
    stats->received++;
    kms_sample_t sample;
    if (kms_sample_decode(body, body_len, &sample, why) != 0)
        goto malformed;
    const char *expected = kms_sample_topic(&sample);
    if (topic_len != strlen(expected) || memcmp(topic, expected, topic_len) != 0) {
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
