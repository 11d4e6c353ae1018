/* libFuzzer target for kms_promtext_read: any bytes as a page. Besides the sanitizers' checks, it asserts
   what callers rely on: every handed-out slice lies inside the page, names are valid, every
   label value unescapes into at most its raw length, the counts add up. The first bytes are
   also a value token, checked against strtod (differential: same acceptance, same bits). */
#include "kms_promtext_read.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

typedef struct {
    const char *page;
    size_t len;
    size_t series, rejected;
} run_t;

static bool s_inside(const run_t *run, kms_slice_t s)
{
    return s.ptr >= run->page && s.len <= run->len && (size_t) (s.ptr - run->page) <= run->len - s.len;
}

static int s_on_series(const kms_promtext_series_t *s, void *arg)
{
    static char out[KMS_PROMTEXT_MAX_LINE + 1];
    run_t *run = arg;
    run->series++;
    CHECK(s->name.len > 0 && s_inside(run, s->name) && s_inside(run, s->family));
    CHECK(s->label_count <= KMS_PROMTEXT_MAX_LABELS);
    CHECK(s->type >= KMS_PROMTEXT_UNTYPED && s->type <= KMS_PROMTEXT_SUMMARY);
    for (size_t i = 0; i < s->label_count; i++) {
        const kms_promtext_label_t *label = &s->labels[i];
        CHECK(label->name.len > 0 && s_inside(run, label->name) && s_inside(run, label->value));
        CHECK(kms_promtext_label_find(s, "") == NULL);
        long n = kms_promtext_label_unescape(label, out, sizeof out);
        CHECK(n >= 0 && (size_t) n <= label->value.len && out[n] == '\0');
        CHECK(label->escaped || (size_t) n == label->value.len);
        for (size_t j = 0; j < i; j++) /* duplicate names are rejected */
            CHECK(!(label->name.len == s->labels[j].name.len
                    && memcmp(label->name.ptr, s->labels[j].name.ptr, label->name.len) == 0));
    }
    return 0;
}

static void s_on_reject(size_t line_no, const char *reason, kms_slice_t line, void *arg)
{
    run_t *run = arg;
    run->rejected++;
    CHECK(line_no > 0 && reason && *reason && s_inside(run, line));
}

/* kms_promtext_parse_value must agree with strtod: what it accepts, strtod reads whole to the same
   bits; a plain decimal that strtod reads whole to a finite value, it accepts. */
static void s_check_value(const uint8_t *data, size_t size)
{
    char token[160];
    size_t len = size < sizeof token - 1 ? size : sizeof token - 1;
    memcpy(token, data, len);
    token[len] = '\0';
    if (strlen(token) != len)
        return;
    double got;
    int rc = kms_promtext_parse_value(token, len, &got);
    char *end;
    errno = 0;
    double want = strtod(token, &end);
    bool whole = len > 0 && end == token + len;
    if (rc == 0) {
        CHECK(whole);
        CHECK(isnan(got) ? isnan(want) : memcmp(&got, &want, sizeof got) == 0);
    } else if (whole && isfinite(want) && strspn(token, "0123456789+-.eE") == len && len < 128) {
        CHECK(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_t run = {(const char *) data, size, 0, 0};
    kms_promtext_stats_t st;
    kms_promtext_handler_t handler = {s_on_series, s_on_reject, &run};
    CHECK(kms_promtext_parse(run.page, size, &handler, &st) == 0);
    CHECK(st.series == run.series && st.rejected == run.rejected);
    CHECK(st.series + st.rejected <= st.lines);
    size_t newlines = 0;
    for (size_t i = 0; i < size; i++)
        newlines += data[i] == '\n';
    CHECK(st.lines == newlines + (size > 0 && data[size - 1] != '\n'));
    s_check_value(data, size);
    return 0;
}
