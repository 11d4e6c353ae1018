#include "kms_test.h"

#include "kms_promtext_read.h"
#include "kms_num.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers: collect what the parser hands out as text ------------------------------------ */

typedef struct {
    char *text;
    size_t len, cap;
    int stop_after; /* > 0: on_series returns 7 at this series */
    size_t calls;
} dump_t;

static void s_append(dump_t *d, const char *data, size_t len)
{
    if (d->len + len + 1 > d->cap) {
        d->cap = (d->len + len + 1) * 2;
        d->text = realloc(d->text, d->cap);
        assert_non_null(d->text);
    }
    memcpy(d->text + d->len, data, len);
    d->len += len;
    d->text[d->len] = '\0';
}

static void s_appendf(dump_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_appendf(dump_t *d, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t) n < sizeof line);
    s_append(d, line, (size_t) n);
}

/* Writes a series as the format would (unescaped, then escaped again: a round trip). */
static int s_on_series(const kms_promtext_series_t *s, void *arg)
{
    dump_t *d = arg;
    d->calls++;
    s_append(d, s->name.ptr, s->name.len);
    for (size_t i = 0; i < s->label_count; i++) {
        static char value[1 << 21];
        long n = kms_promtext_label_unescape(&s->labels[i], value, sizeof value);
        assert_true(n >= 0);
        s_appendf(d, "%s%.*s=\"", i == 0 ? "{" : ",", (int) s->labels[i].name.len, s->labels[i].name.ptr);
        for (long k = 0; k < n; k++) {
            char c = value[k];
            s_append(d,
                     c == '\n'   ? "\\n"
                     : c == '\\' ? "\\\\"
                     : c == '"'  ? "\\\""
                                 : &c,
                     c == '\n' || c == '\\' || c == '"' ? 2 : 1);
        }
        s_append(d, "\"", 1);
    }
    char number[40];
    kms_num_format_go(s->value, number, sizeof number);
    s_appendf(d, "%s %s", s->label_count ? "}" : "", number);
    if (s->has_timestamp)
        s_appendf(d, " %lld", (long long) s->timestamp_ms);
    s_append(d, "\n", 1);
    return d->stop_after > 0 && d->calls == (size_t) d->stop_after ? 7 : 0;
}

static void s_on_reject(size_t line_no, const char *reason, kms_slice_t line, void *arg)
{
    (void) line;
    s_appendf(arg, "reject %zu %s\n", line_no, reason);
}

static const kms_promtext_handler_t s_dumper = {s_on_series, s_on_reject, NULL};

/* The page in a heap block of exactly its size, no NUL after it: AddressSanitizer then reports
   any read past the end (the SIMD scans read 16 bytes at a time). */
static char *s_exact_copy(const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    return copy;
}

/* Parses `text` and returns the dump (series, rejects, then the stats line); caller frees. */
static char *s_parse_dump(const char *text, size_t len)
{
    dump_t d = {0};
    kms_promtext_handler_t h = s_dumper;
    h.arg = &d;
    kms_promtext_stats_t st;
    char *exact = s_exact_copy(text, len);
    assert_int_equal(kms_promtext_parse(exact, len, &h, &st), 0);
    free(exact);
    s_appendf(&d, "stats lines=%zu series=%zu rejected=%zu\n", st.lines, st.series, st.rejected);
    return d.text;
}

static void s_expect(const char *page, const char *expected)
{
    char *got = s_parse_dump(page, strlen(page));
    assert_string_equal(got, expected);
    free(got);
}

/* ---- one test per point of the format ------------------------------------------------------ */

typedef struct {
    kms_promtext_type_t types[16];
    char families[16][48];
    size_t n;
} types_t;

static int s_on_type(const kms_promtext_series_t *s, void *arg)
{
    types_t *t = arg;
    if (t->n < 16) {
        t->types[t->n] = s->type;
        snprintf(t->families[t->n], sizeof t->families[0], "%.*s", (int) s->family.len, s->family.ptr);
        t->n++;
    }
    return 0;
}

static void test_help_type_and_comments(void **state)
{
    (void) state;
    s_expect("# HELP a_total Requests, with \\\\ and \\n escapes.\n# TYPE a_total counter\na_total 1\n"
             "# just a comment\n#\n# TYPE\tb gauge\nb 2\n# HELP c no type\nc 3\n",
             "a_total 1\nb 2\nc 3\nstats lines=9 series=3 rejected=0\n");
    const char *page = "# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\nc 3\n# TYPE d untyped\nd 4\n";
    types_t t = {0};
    kms_promtext_parse(page, strlen(page), &(kms_promtext_handler_t){s_on_type, NULL, &t}, NULL);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.types[0], KMS_PROMTEXT_COUNTER);
    assert_int_equal(t.types[1], KMS_PROMTEXT_GAUGE);
    assert_int_equal(t.types[2], KMS_PROMTEXT_UNTYPED); /* b's TYPE does not carry over to c */
    assert_string_equal(t.families[2], "c");
    assert_int_equal(t.types[3], KMS_PROMTEXT_UNTYPED);
}

static void test_lone_hash_is_a_comment(void **state)
{
    (void) state;
    /* The spec makes any line starting with '#' a comment; a lone '#' is one, at the end too. */
    s_expect("#\na 1\n#", "a 1\nstats lines=3 series=1 rejected=0\n");
    s_expect("#", "stats lines=1 series=0 rejected=0\n");
}

/* Keeps the first series (its slices point into the page, which the test keeps alive). */
typedef struct {
    size_t count;
    kms_promtext_series_t first;
    kms_promtext_label_t labels[KMS_PROMTEXT_MAX_LABELS];
    char *page; /* the exact-size copy the slices point into */
} capture_t;

static int s_on_capture(const kms_promtext_series_t *s, void *arg)
{
    capture_t *c = arg;
    if (c->count++ == 0) {
        c->first = *s;
        memcpy(c->labels, s->labels, s->label_count * sizeof *s->labels);
        c->first.labels = c->labels;
    }
    return 0;
}

/* Parses from an exact-size copy, kept until the next capture (or the group's teardown). */
static char *s_captured_page;

static void s_capture(const char *page, size_t len, capture_t *c, kms_promtext_stats_t *st)
{
    free(s_captured_page);
    memset(c, 0, sizeof *c);
    c->page = s_captured_page = s_exact_copy(page, len);
    assert_int_equal(kms_promtext_parse(c->page, len, &(kms_promtext_handler_t){s_on_capture, NULL, c}, st), 0);
}

static void test_label_escapes_are_handed_out_raw_and_unescape_exactly(void **state)
{
    (void) state;
    const char *page = "m{a=\"back\\\\slash\",b=\"say \\\"hi\\\"\",c=\"two\\nlines\",d=\"plain\"} 1\n";
    s_expect(page, "m{a=\"back\\\\slash\",b=\"say \\\"hi\\\"\",c=\"two\\nlines\",d=\"plain\"} 1\n"
                   "stats lines=1 series=1 rejected=0\n");
    capture_t c;
    s_capture(page, strlen(page), &c, NULL);
    assert_int_equal(c.first.label_count, 4);
    /* handed out raw: the escapes are still there */
    assert_true(kms_slice_eq(c.labels[0].value, "back\\\\slash"));
    assert_true(c.labels[0].escaped && c.labels[1].escaped && c.labels[2].escaped);
    assert_false(c.labels[3].escaped);
    char out[32];
    assert_int_equal(kms_promtext_label_unescape(&c.labels[0], out, sizeof out), 10);
    assert_string_equal(out, "back\\slash");
    assert_int_equal(kms_promtext_label_unescape(&c.labels[1], out, sizeof out), 8);
    assert_string_equal(out, "say \"hi\"");
    assert_int_equal(kms_promtext_label_unescape(&c.labels[2], out, sizeof out), 9);
    assert_string_equal(out, "two\nlines");
    /* an escaped quote does not end the value; a backslash before the end quote is escaped */
    s_expect("a{b=\"\\\"\"} 1\nc{d=\"x\\\\\"} 2\n",
             "a{b=\"\\\"\"} 1\nc{d=\"x\\\\\"} 2\nstats lines=2 series=2 rejected=0\n");
}

static void test_nan_and_infinities_in_any_case_are_read_as_values(void **state)
{
    (void) state;
    s_expect("a NaN\nb +Inf\nc -Inf\nd Inf\ne nan\nf -inf\ng +Infinity\n",
             "a NaN\nb +Inf\nc -Inf\nd +Inf\ne NaN\nf -Inf\ng +Inf\nstats lines=7 series=7 rejected=0\n");
    capture_t c;
    s_capture("a{x=\"y\"} -Inf\n", 14, &c, NULL);
    assert_true(isinf(c.first.value) && c.first.value < 0);
}

static void test_timestamps_are_optional_and_must_be_int64(void **state)
{
    (void) state;
    s_expect("a 1 1395066363000\nb{x=\"y\"} 2 -5\nc 3\nd 4   \ne 5 9223372036854775807\nf 6 -9223372036854775808\n"
             "g 7 +12\n",
             "a 1 1395066363000\nb{x=\"y\"} 2 -5\nc 3\nd 4\ne 5 9223372036854775807\nf 6 -9223372036854775808\n"
             "g 7 12\nstats lines=7 series=7 rejected=0\n");
    s_expect("a 1 9223372036854775808\nb 1 -9223372036854775809\nc 1 1.5\nd 1 12x\ne 1 -\n",
             "reject 1 invalid timestamp\nreject 2 invalid timestamp\nreject 3 invalid timestamp\n"
             "reject 4 invalid timestamp\nreject 5 invalid timestamp\nstats lines=5 series=0 rejected=5\n");
    capture_t c;
    s_capture("a 1\n", 4, &c, NULL);
    assert_false(c.first.has_timestamp);
}

static void test_one_trailing_comma_in_labels_is_allowed_and_an_empty_one_not(void **state)
{
    (void) state;
    s_expect("a{x=\"1\",} 1\nb{x=\"1\", y=\"2\" , } 2\nc{,} 3\nd{x=\"1\",,} 4\n",
             "a{x=\"1\"} 1\nb{x=\"1\",y=\"2\"} 2\nreject 3 invalid label name\nreject 4 invalid label name\n"
             "stats lines=4 series=2 rejected=2\n");
}

static void test_empty_braces_are_a_series_without_labels(void **state)
{
    (void) state;
    s_expect("a{} 1\nb { } 2\nc{}3\n", "a 1\nb 2\nc 3\nstats lines=3 series=3 rejected=0\n");
    capture_t c;
    s_capture("a{} 1\n", 6, &c, NULL);
    assert_int_equal(c.first.label_count, 0);
    assert_true(kms_slice_eq(c.first.name, "a"));
}

static void test_crlf_line_ends_parse_like_lf(void **state)
{
    (void) state;
    s_expect("# TYPE a gauge\r\na{x=\"1\"} 1 5\r\n\r\nb 2\r\nc 3\r",
             "a{x=\"1\"} 1 5\nb 2\nc 3\nstats lines=5 series=3 rejected=0\n");
    capture_t c;
    s_capture("a{x=\"1\"} 1\r\n", 13, &c, NULL);
    assert_true(kms_slice_eq(c.labels[0].value, "1"));
    assert_int_equal(c.first.type, KMS_PROMTEXT_UNTYPED);
}

static void test_blank_lines_are_counted_and_skipped(void **state)
{
    (void) state;
    s_expect("\n\n  \n\t\na 1\n\n", "a 1\nstats lines=6 series=1 rejected=0\n");
    s_expect("", "stats lines=0 series=0 rejected=0\n");
    s_expect("\n", "stats lines=1 series=0 rejected=0\n");
}

static void test_histograms_and_summaries_pass_through(void **state)
{
    (void) state;
    const char *page = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n"
                       "h_other 9\n# TYPE s summary\ns{quantile=\"0.5\"} 4\ns_sum 8\ns_count 2\ns_bucket 1\n";
    s_expect(page, "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\nh_other 9\n"
                   "s{quantile=\"0.5\"} 4\ns_sum 8\ns_count 2\ns_bucket 1\nstats lines=11 series=9 rejected=0\n");
    types_t t = {0};
    kms_promtext_parse(page, strlen(page), &(kms_promtext_handler_t){s_on_type, NULL, &t}, NULL);
    assert_int_equal(t.n, 9);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t.types[i], KMS_PROMTEXT_HISTOGRAM);
        assert_string_equal(t.families[i], "h");
    }
    assert_int_equal(t.types[4], KMS_PROMTEXT_UNTYPED); /* not one of the histogram's suffixes */
    assert_string_equal(t.families[4], "h_other");
    for (int i = 5; i < 8; i++) {
        assert_int_equal(t.types[i], KMS_PROMTEXT_SUMMARY);
        assert_string_equal(t.families[i], "s");
    }
    assert_int_equal(t.types[8], KMS_PROMTEXT_UNTYPED); /* summaries have no buckets */
}

static void test_duplicate_series_pass_through(void **state)
{
    (void) state;
    s_expect("a{x=\"1\"} 1\na{x=\"1\"} 2\nb 3\nb 3\n",
             "a{x=\"1\"} 1\na{x=\"1\"} 2\nb 3\nb 3\nstats lines=4 series=4 rejected=0\n");
}

static void test_metric_and_label_names_are_validated_by_character(void **state)
{
    (void) state;
    s_expect("a:b_c9 1\n_x 2\n:x 3\nA{_l=\"\",L9=\"v\"} 4\n",
             "a:b_c9 1\n_x 2\n:x 3\nA{_l=\"\",L9=\"v\"} 4\nstats lines=4 series=4 rejected=0\n");
    s_expect("9a 1\na-b 1\na{9l=\"\"} 1\na{l:x=\"\"} 1\na{l-x=\"\"} 1\na\xc3\xa9 1\n{} 1\n",
             "reject 1 invalid metric name\nreject 2 invalid character in metric name\nreject 3 invalid label name\n"
             "reject 4 expected '=' after label name\nreject 5 expected '=' after label name\n"
             "reject 6 invalid character in metric name\nreject 7 invalid metric name\n"
             "stats lines=7 series=0 rejected=7\n");
}

static void test_value_not_a_number_rejects_line(void **state)
{
    (void) state;
    s_expect("a 12abc\nb x\nc 1.2.3\nd --1\ne 1e\nf .\ng 0x1p3\nh nan(1)\ni 1_0\nj infinit\nk 1e999\nok 1\n",
             "reject 1 invalid value\nreject 2 invalid value\nreject 3 invalid value\nreject 4 invalid value\n"
             "reject 5 invalid value\nreject 6 invalid value\nreject 7 invalid value\nreject 8 invalid value\n"
             "reject 9 invalid value\nreject 10 invalid value\nreject 11 invalid value\nok 1\n"
             "stats lines=12 series=1 rejected=11\n");
    /* valid spellings of ordinary numbers */
    s_expect("a .5\nb 1.\nc -0\nd +3\ne 1E3\nf 1e-3\ng 007\nh 1e-400\n",
             "a 0.5\nb 1\nc -0\nd 3\ne 1000\nf 0.001\ng 7\nh 0\nstats lines=8 series=8 rejected=0\n");
}

static void test_a_last_line_without_newline_parses_and_stays_in_its_buffer(void **state)
{
    (void) state;
    s_expect("a 1\nb{x=\"y\"} 2", "a 1\nb{x=\"y\"} 2\nstats lines=2 series=2 rejected=0\n");
    s_expect("c 3 42", "c 3 42\nstats lines=1 series=1 rejected=0\n");
    /* the value must not run past the buffer: "12" of "123" */
    capture_t c;
    s_capture("a 123", 4, &c, NULL);
    assert_true(c.first.value == 12);
}

/* Shapes that crashed or hung other parsers: each is rejected, and the next line still parses. */
static void test_known_crash_shapes_rejected(void **state)
{
    (void) state;
    /* clang-format off */
    const char *shapes[] = {
        "o{=\"foo\"} 0", "{}", "{A}0", "a{b=\"unterminated", "a{b=\"x} 1", "a{b=\"x\\\"} 1", "a{b=\"x\\",
        "a{b=\"\\", "a{", "a{b", "a{b=", "a{b=\"c\"", "a{b=\"c\",", "a{b=\"c\"} ", "a{b=\"c\"}", "}", "\"", "=", "\\",
        "a\x01 1", "a{b=\"c\"} 1 2 3", "a 1 2\x00",
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        size_t n = strlen(shapes[i]) + (i == sizeof shapes / sizeof shapes[0] - 1); /* last one keeps its NUL */
        for (int at_end = 0; at_end < 2; at_end++) {
            char page[128];
            size_t len;
            if (at_end) {
                memcpy(page, "ok 1\n", 5);
                memcpy(page + 5, shapes[i], n);
                len = 5 + n;
            } else {
                memcpy(page, shapes[i], n);
                memcpy(page + n, "\nok 1\n", 6);
                len = n + 6;
            }
            capture_t c;
            kms_promtext_stats_t st;
            s_capture(page, len, &c, &st);
            if (st.rejected != 1 || st.series != 1)
                fail_msg("shape %zu '%s' (at end: %d): rejected=%zu series=%zu", i, shapes[i], at_end, st.rejected,
                         st.series);
            assert_true(kms_slice_eq(c.first.name, "ok"));
        }
    }
}

static void test_a_line_over_the_bound_is_rejected_and_the_next_parses(void **state)
{
    (void) state;
    size_t big = KMS_PROMTEXT_MAX_LINE;
    char *page = malloc(big + 64);
    assert_non_null(page);
    size_t n = 0;
    memcpy(page, "a{x=\"", 5), n = 5;
    memset(page + n, 'v', big), n += big;
    memcpy(page + n, "\"} 1\nb 2\n", 9), n += 9;
    char *got = s_parse_dump(page, n);
    assert_string_equal(got, "reject 1 line too long\nb 2\nstats lines=2 series=1 rejected=1\n");
    free(got);
    /* the same without a newline anywhere */
    memset(page, 'a', big + 1);
    memcpy(page + big + 1, " 1", 2);
    got = s_parse_dump(page, big + 3);
    assert_string_equal(got, "reject 1 line too long\nstats lines=1 series=0 rejected=1\n");
    free(got);
    free(page);
}

/* A one-megabyte label value fits under the line bound and is handed out whole; one mebibyte
   makes the line too long and is rejected. Escapes inside it are checked all the way. */
static void test_one_megabyte_label_value(void **state)
{
    (void) state;
    size_t mb = 1000 * 1000;
    char *page = malloc((1u << 20) + 64);
    assert_non_null(page);
    memcpy(page, "a{x=\"", 5);
    for (size_t i = 0; i < mb; i++)
        page[5 + i] = i % 1000 == 998 ? '\\' : i % 1000 == 999 ? 'n' : 'v';
    memcpy(page + 5 + mb, "\"} 1\nb 2\n", 9);
    capture_t c;
    kms_promtext_stats_t st;
    s_capture(page, 5 + mb + 9, &c, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(c.labels[0].value.len, mb);
    assert_true(c.labels[0].escaped);
    char *out = malloc(mb + 1);
    assert_non_null(out);
    assert_int_equal(kms_promtext_label_unescape(&c.labels[0], out, mb + 1), (long) (mb - 1000));
    assert_true(out[998] == '\n' && out[999] == 'v');
    assert_int_equal(kms_promtext_label_unescape(&c.labels[0], out, mb - 1000), -1);
    free(out);

    size_t mib = 1u << 20;
    memset(page + 5, 'v', mib);
    memcpy(page + 5 + mib, "\"} 1\nb 2\n", 9);
    s_capture(page, 5 + mib + 9, &c, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.rejected, 1);
    assert_true(kms_slice_eq(c.first.name, "b"));

    /* a long run of backslashes stays linear and is checked pair by pair */
    memcpy(page, "a{x=\"", 5);
    memset(page + 5, '\\', mb);
    memcpy(page + 5 + mb, "\"} 1\n", 5);
    s_capture(page, 5 + mb + 5, &c, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(c.labels[0].value.len, mb);
    page[5 + mb - 1] = 'q'; /* odd number of backslashes before 'q': "\q" is no escape */
    s_capture(page, 5 + mb + 5, &c, &st);
    assert_int_equal(st.rejected, 1);
    free(page);
}

static void test_labels_beyond_the_bound_or_duplicated_reject_the_line(void **state)
{
    (void) state;
    char page[4096];
    for (int count = KMS_PROMTEXT_MAX_LABELS; count <= KMS_PROMTEXT_MAX_LABELS + 1; count++) {
        size_t n = (size_t) snprintf(page, sizeof page, "m{");
        for (int i = 0; i < count; i++)
            n += (size_t) snprintf(page + n, sizeof page - n, "l%d=\"%d\",", i, i);
        n += (size_t) snprintf(page + n, sizeof page - n, "} 1\nok 2\n");
        capture_t c;
        kms_promtext_stats_t st;
        s_capture(page, n, &c, &st);
        if (count == KMS_PROMTEXT_MAX_LABELS) {
            assert_int_equal(st.rejected, 0);
            assert_int_equal(c.first.label_count, KMS_PROMTEXT_MAX_LABELS);
            assert_true(kms_slice_eq(c.labels[KMS_PROMTEXT_MAX_LABELS - 1].value, "63"));
        } else {
            assert_int_equal(st.rejected, 1);
            assert_true(kms_slice_eq(c.first.name, "ok"));
        }
    }
    s_expect("m{a=\"1\",b=\"2\",a=\"3\"} 1\n", "reject 1 duplicate label name\nstats lines=1 series=0 rejected=1\n");
}

static void test_label_values_must_be_utf8(void **state)
{
    (void) state;
    s_expect("a{x=\"caf\xc3\xa9 \xe6\xb8\xa9 \xf0\x9f\x94\xa5\"} 1\n",
             "a{x=\"caf\xc3\xa9 \xe6\xb8\xa9 \xf0\x9f\x94\xa5\"} 1\nstats lines=1 series=1 rejected=0\n");
    const char *bad[] = {"\xff",         "abcdefgh\xc3", "\xc3(",
                         "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xc0\xaf",     "\xe2\x82",     "0123456789abcdef\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char page[64];
        int n = snprintf(page, sizeof page, "a{x=\"%s\"} 1\n", bad[i]);
        char *got = s_parse_dump(page, (size_t) n);
        assert_string_equal(got, "reject 1 label value is not UTF-8\nstats lines=1 series=0 rejected=1\n");
        free(got);
    }
}

static void test_rejects_counted_and_reported(void **state)
{
    (void) state;
    size_t len, expected_len;
    char *page = kms_test_read_file(KMS_FIXTURES "/expo/rejected.prom", &len);
    char *expected = kms_test_read_file(KMS_FIXTURES "/expo/rejected.expected", &expected_len);
    assert_non_null(page);
    assert_non_null(expected);
    char *got = s_parse_dump(page, len);
    assert_string_equal(got, expected);
    free(got);
    free(page);
    free(expected);
    /* without on_reject the count is still kept */
    kms_promtext_stats_t st;
    kms_promtext_parse("x\ny 1\n", 6, &(kms_promtext_handler_t){s_on_capture, NULL, &(capture_t){0}}, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.series, 1);
}

static void test_stop_on_nonzero_callback(void **state)
{
    (void) state;
    dump_t d = {.stop_after = 2};
    kms_promtext_handler_t h = {s_on_series, NULL, &d};
    kms_promtext_stats_t st;
    assert_int_equal(kms_promtext_parse("a 1\nb 2\nc 3\nd 4\n", 16, &h, &st), 7);
    assert_int_equal(d.calls, 2);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.lines, 2);
    assert_string_equal(d.text, "a 1\nb 2\n");
    free(d.text);
    /* a NULL stats pointer is fine */
    d = (dump_t){.stop_after = 1};
    assert_int_equal(kms_promtext_parse("a 1\nb 2\n", 8, &h, NULL), 7);
    free(d.text);
}

static void test_label_unescape_and_find(void **state)
{
    (void) state;
    const char *raw = "a\\\\b\\\"c\\nd";
    kms_promtext_label_t label = {{"x", 1}, {raw, strlen(raw)}, true};
    char out[16];
    assert_int_equal(kms_promtext_label_unescape(&label, out, 8), 7);
    assert_string_equal(out, "a\\b\"c\nd");
    assert_int_equal(kms_promtext_label_unescape(&label, out, 7), -1); /* no room for the NUL */
    assert_int_equal(kms_promtext_label_unescape(&label, out, 0), -1);
    kms_promtext_label_t plain = {{"y", 1}, {"hello", 5}, false};
    assert_int_equal(kms_promtext_label_unescape(&plain, out, 6), 5);
    assert_string_equal(out, "hello");
    assert_int_equal(kms_promtext_label_unescape(&plain, out, 5), -1);
    kms_promtext_label_t empty = {{"z", 1}, {"", 0}, false};
    assert_int_equal(kms_promtext_label_unescape(&empty, out, 1), 0);
    assert_string_equal(out, "");

    kms_promtext_label_t labels[] = {label, plain, empty};
    kms_promtext_series_t s = {.name = {"m", 1}, .labels = labels, .label_count = 3};
    assert_ptr_equal(kms_promtext_label_find(&s, "y"), &labels[1]);
    assert_ptr_equal(kms_promtext_label_find(&s, "z"), &labels[2]);
    assert_null(kms_promtext_label_find(&s, "w"));
    assert_null(kms_promtext_label_find(&s, ""));
    assert_true(kms_slice_eq((kms_slice_t){"abc", 3}, "abc"));
    assert_false(kms_slice_eq((kms_slice_t){"abc", 2}, "abc"));
    assert_false(kms_slice_eq((kms_slice_t){"abc", 3}, "abd"));
}

/* The fast path must give strtod's bits for every shape of decimal, including those that fall
   back (more than 19 digits, exponents beyond 10^22, subnormals, overflow). */
static void s_check_exact(const char *token)
{
    char *end;
    double want = strtod(token, &end), got = 0;
    int rc = kms_promtext_parse_value(token, strlen(token), &got);
    if (isinf(want)) { /* overflow: rejected */
        if (rc != -1)
            fail_msg("'%s' overflows but was accepted", token);
        return;
    }
    if (rc != 0 || memcmp(&got, &want, sizeof got) != 0)
        fail_msg("'%s': got %a (rc %d), strtod says %a", token, got, rc, want);
}

static void test_values_exact_like_strtod(void **state)
{
    (void) state;
    /* clang-format off */
    const char *fixed[] = {"0", "-0", "0.0", "1", "9007199254740992", "9007199254740993", "18446744073709551615",
                           "18446744073709551616", "1e22", "1e23", "9e22", "0.1", "0.3", "1.7976931348623157e308",
                           "2.2250738585072014e-308", "4.9e-324", "2e-324", "1e-400", "123456789012345678901234567890",
                           "0.000000000000000000000000000001", "3.14159265358979323846264338327950288", "1e308", "1.5e308",
                           "6.463799742e+09", "4.4010285464e+10", "3.261699e+06", "00000000000000000000001.5", "1e0000022"};
    /* clang-format on */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        s_check_exact(fixed[i]);
    srand(7);
    char token[96];
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = ((uint64_t) rand() << 42) ^ ((uint64_t) rand() << 21) ^ (uint64_t) rand();
        double v;
        memcpy(&v, &bits, sizeof v);
        switch (i % 4) {
        case 0: /* any double, as Go and the shortest printers write it */
            if (!isfinite(v))
                continue;
            kms_num_format_go(v, token, sizeof token);
            break;
        case 1: /* 17 significant digits, the longest round-trip form */
            if (!isfinite(v))
                continue;
            snprintf(token, sizeof token, "%.17g", v);
            break;
        case 2: { /* random digits with a random point and exponent */
            int digits = 1 + rand() % 24, point = rand() % (digits + 1), n = 0;
            if (rand() % 2)
                token[n++] = '-';
            for (int d = 0; d < digits; d++) {
                if (d == point)
                    token[n++] = '.';
                token[n++] = (char) ('0' + rand() % 10);
            }
            snprintf(token + n, sizeof token - (size_t) n, "e%d", rand() % 80 - 40);
            break;
        }
        default: /* exporter-shaped: counters and short fractions */
            snprintf(token, sizeof token, "%u.%0*u", (unsigned) rand() % 100000000, 1 + rand() % 6,
                     (unsigned) rand() % 1000);
            break;
        }
        s_check_exact(token);
    }
}

/* ---- against an independent reference: Debian's python3-prometheus-client -------------------- */

typedef struct {
    json_t *series;
    size_t index;
    size_t families;
    kms_slice_t last_family;
    const char *file;
} reference_t;

static json_t *s_reference(const char *path)
{
    char command[1024];
    snprintf(command, sizeof command, "/usr/bin/python3 %s/expo/reference.py '%s'", KMS_FIXTURES, path);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    json_error_t error;
    json_t *root = json_loadf(p, 0, &error);
    int status = pclose(p);
    if (!root || status != 0)
        fail_msg("reference.py failed on %s (status %d): %s", path, status, error.text);
    return root;
}

static int s_on_compare(const kms_promtext_series_t *s, void *arg)
{
    reference_t *r = arg;
    json_t *want = json_array_get(r->series, r->index);
    if (!want)
        fail_msg("%s: more series than the reference (%zu)", r->file, json_array_size(r->series));
    const char *name = json_string_value(json_array_get(want, 0));
    if (!kms_slice_eq(s->name, name))
        fail_msg("%s #%zu: name %.*s, reference %s", r->file, r->index, (int) s->name.len, s->name.ptr, name);
    json_t *labels = json_array_get(want, 1);
    assert_int_equal(s->label_count, json_array_size(labels));
    for (size_t i = 0; i < s->label_count; i++) {
        json_t *pair = json_array_get(labels, i);
        static char value[1 << 16];
        long n = kms_promtext_label_unescape(&s->labels[i], value, sizeof value);
        assert_true(n >= 0);
        assert_true(kms_slice_eq(s->labels[i].name, json_string_value(json_array_get(pair, 0))));
        if ((size_t) n != json_string_length(json_array_get(pair, 1))
            || strcmp(value, json_string_value(json_array_get(pair, 1))) != 0)
            fail_msg("%s #%zu: label %zu is '%s', reference '%s'", r->file, r->index, i, value,
                     json_string_value(json_array_get(pair, 1)));
    }
    double expected = strtod(json_string_value(json_array_get(want, 2)), NULL);
    if (!(isnan(expected) && isnan(s->value)) && memcmp(&expected, &s->value, sizeof expected) != 0)
        fail_msg("%s #%zu: value %a, reference %a", r->file, r->index, s->value, expected);
    json_t *ts = json_array_get(want, 3);
    assert_int_equal(s->has_timestamp, !json_is_null(ts));
    if (s->has_timestamp)
        assert_int_equal(s->timestamp_ms, json_integer_value(ts));
    static const char *types[] = {"unknown", "counter", "gauge", "histogram", "summary"};
    assert_string_equal(types[s->type], json_string_value(json_array_get(want, 4)));
    if (r->families == 0 || s->family.len != r->last_family.len
        || memcmp(s->family.ptr, r->last_family.ptr, s->family.len) != 0)
        r->families++;
    r->last_family = s->family;
    r->index++;
    return 0;
}

/* Parses the file and compares every series with the reference; returns the families seen
   (the reference's count is stored in *reference_families). */
static size_t s_compare_with_reference(const char *path, size_t expected_series, size_t *reference_families)
{
    size_t len;
    char *page = kms_test_read_file(path, &len);
    assert_non_null(page);
    json_t *root = s_reference(path);
    reference_t r = {json_object_get(root, "series"), 0, 0, {NULL, 0}, path};
    kms_promtext_stats_t st;
    assert_int_equal(kms_promtext_parse(page, len, &(kms_promtext_handler_t){s_on_compare, NULL, &r}, &st), 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(r.index, json_array_size(r.series));
    assert_int_equal(st.series, expected_series);
    *reference_families = (size_t) json_integer_value(json_object_get(root, "families"));
    json_decref(root);
    free(page);
    return r.families;
}

static void test_valid_fixture_matches_reference(void **state)
{
    (void) state;
    size_t families;
    /* 14 here, 15 for the reference, which starts a new family at a duplicate series */
    assert_int_equal(s_compare_with_reference(KMS_FIXTURES "/expo/valid.prom", 33, &families), 14);
    assert_int_equal(families, 15);
}

/* The same page with CRLF line ends, or without its last newline, parses to the same series. */
static void test_valid_fixture_line_end_variants(void **state)
{
    (void) state;
    size_t len;
    char *page = kms_test_read_file(KMS_FIXTURES "/expo/valid.prom", &len);
    assert_non_null(page);
    char *want = s_parse_dump(page, len);
    char *crlf = malloc(len * 2);
    assert_non_null(crlf);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (page[i] == '\n')
            crlf[n++] = '\r';
        crlf[n++] = page[i];
    }
    char *got = s_parse_dump(crlf, n);
    assert_string_equal(got, want);
    free(got);
    got = s_parse_dump(crlf, n - 2);
    assert_string_equal(got, want);
    free(got);
    got = s_parse_dump(page, len - 1);
    assert_string_equal(got, want);
    free(got);
    free(crlf);
    free(want);
    free(page);
}

static void test_kepler_captures_match_reference(void **state)
{
    (void) state;
    const char *v071 = KMS_FIXTURES "/kepler/kepler-0.7.1-metrics-derived.txt";
    const char *v04 = KMS_FIXTURES "/kepler/kepler-0.4.x-dev-2023-02-metrics-derived.txt";
    size_t families;
    assert_int_equal(s_compare_with_reference(v071, 1516, &families), 31);
    assert_int_equal(families, 31);
    assert_int_equal(s_compare_with_reference(v04, 560, &families), 25);
    assert_int_equal(families, 25);
}

/* Names and values of every length around the 16-byte steps of the SIMD scans, with each kind
   of special byte at each position: the scans must stop exactly where the byte loop does. */
static void test_simd_scans_stop_where_the_byte_loop_does_at_every_length(void **state)
{
    (void) state;
    char page[256], name[64], label[64], value[64];
    for (size_t len = 1; len <= 40; len++) {
        memset(name, 'n', len), name[len] = '\0';
        if (len > 1) /* a name may not start with a digit */
            name[len - 1] = len % 3 == 0 ? ':' : len % 3 == 1 ? '9' : 'Z';
        memset(label, 'l', len), label[len] = '\0';
        label[len - 1] = len % 2 ? '_' : '7';
        memset(value, 'v', len), value[len] = '\0';
        for (int at_end = 0; at_end < 2; at_end++) {
            int n = snprintf(page, sizeof page, "%s{%s=\"%s\"} %zu%s", name, label, value, len, at_end ? "" : "\n");
            capture_t c;
            kms_promtext_stats_t st;
            s_capture(page, (size_t) n, &c, &st);
            assert_int_equal(st.series, 1);
            assert_int_equal(c.first.name.len, len);
            assert_int_equal(c.labels[0].name.len, len);
            assert_int_equal(c.labels[0].value.len, len);
            assert_true(c.first.value == (double) len);
            /* a name alone, ending the page */
            n = snprintf(page, sizeof page, "%s %zu", name, len);
            s_capture(page, (size_t) n, &c, &st);
            assert_int_equal(c.first.name.len, len);
        }
    }
    /* clang-format off */
    static const struct { const char *insert; const char *reason; } specials[] = {
        {"\\n", NULL}, {"\\\\", NULL}, {"\\\"", NULL}, {"\xc3\xa9", NULL}, {"\xe2\x82\xac", NULL},
        {"\xf0\x9f\x94\xa5", NULL}, {"\xff", "label value is not UTF-8"}, {"\xc3", "label value is not UTF-8"},
        {"\\t", "invalid escape in label value"}, {"\"", "expected ',' or '}' after label value"},
    };
    /* clang-format on */
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        for (size_t pos = 0; pos <= 34; pos++) {
            memset(value, 'v', 34);
            size_t ins = strlen(specials[k].insert);
            memcpy(value + pos, specials[k].insert, ins);
            value[34 + ins] = '\0';
            memset(value + pos + ins, 'w', 34 - pos);
            int n = snprintf(page, sizeof page, "m{a=\"%s\"} 1\n", value);
            char *got = s_parse_dump(page, (size_t) n);
            if (specials[k].reason) {
                char want[128];
                snprintf(want, sizeof want, "reject 1 %s\nstats lines=1 series=0 rejected=1\n", specials[k].reason);
                if (strcmp(got, want) != 0)
                    fail_msg("special %zu at %zu: %s", k, pos, got);
            } else if (strstr(got, "series=1 rejected=0") == NULL) {
                fail_msg("special %zu at %zu: %s", k, pos, got);
            }
            free(got);
        }
    }
    /* a byte that ends a name, at each position: the name stops right there */
    for (size_t pos = 1; pos <= 34; pos++) {
        memset(name, 'n', 40);
        name[pos] = '-';
        name[40] = '\0';
        char *got = s_parse_dump(name, 40);
        assert_string_equal(got, "reject 1 invalid character in metric name\nstats lines=1 series=0 rejected=1\n");
        free(got);
        int n = snprintf(page, sizeof page, "m{%.*s-x=\"v\"} 1", (int) pos, name);
        got = s_parse_dump(page, (size_t) n);
        assert_string_equal(got, "reject 1 expected '=' after label name\nstats lines=1 series=0 rejected=1\n");
        free(got);
    }
}

static int s_teardown(void **state)
{
    (void) state;
    free(s_captured_page);
    s_captured_page = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_type_and_comments),
        cmocka_unit_test(test_lone_hash_is_a_comment),
        cmocka_unit_test(test_label_escapes_are_handed_out_raw_and_unescape_exactly),
        cmocka_unit_test(test_nan_and_infinities_in_any_case_are_read_as_values),
        cmocka_unit_test(test_timestamps_are_optional_and_must_be_int64),
        cmocka_unit_test(test_one_trailing_comma_in_labels_is_allowed_and_an_empty_one_not),
        cmocka_unit_test(test_empty_braces_are_a_series_without_labels),
        cmocka_unit_test(test_crlf_line_ends_parse_like_lf),
        cmocka_unit_test(test_blank_lines_are_counted_and_skipped),
        cmocka_unit_test(test_histograms_and_summaries_pass_through),
        cmocka_unit_test(test_duplicate_series_pass_through),
        cmocka_unit_test(test_metric_and_label_names_are_validated_by_character),
        cmocka_unit_test(test_value_not_a_number_rejects_line),
        cmocka_unit_test(test_a_last_line_without_newline_parses_and_stays_in_its_buffer),
        cmocka_unit_test(test_known_crash_shapes_rejected),
        cmocka_unit_test(test_a_line_over_the_bound_is_rejected_and_the_next_parses),
        cmocka_unit_test(test_one_megabyte_label_value),
        cmocka_unit_test(test_labels_beyond_the_bound_or_duplicated_reject_the_line),
        cmocka_unit_test(test_label_values_must_be_utf8),
        cmocka_unit_test(test_rejects_counted_and_reported),
        cmocka_unit_test(test_stop_on_nonzero_callback),
        cmocka_unit_test(test_label_unescape_and_find),
        cmocka_unit_test(test_values_exact_like_strtod),
        cmocka_unit_test(test_valid_fixture_matches_reference),
        cmocka_unit_test(test_valid_fixture_line_end_variants),
        cmocka_unit_test(test_kepler_captures_match_reference),
        cmocka_unit_test(test_simd_scans_stop_where_the_byte_loop_does_at_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
