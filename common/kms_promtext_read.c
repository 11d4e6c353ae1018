#include "kms_promtext_read.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* SSE2 is part of x86-64; elsewhere (or with -DKMS_EXPO_NO_SIMD, which the tests also build)
   the same scans run a byte at a time. */
#if defined(__SSE2__) && !defined(KMS_PROMTEXT_NO_SIMD)
#include <emmintrin.h>
#define KMS_PROMTEXT_SIMD 1
#endif

/* The walk keeps only what outlives one line: where we are, and the family the last # TYPE line
   declared, so that its samples (a histogram's _bucket lines too) carry its type. */
typedef struct {
    kms_slice_t family;
    kms_promtext_type_t family_type;
    kms_promtext_label_t labels[KMS_PROMTEXT_MAX_LABELS];
} parser_t;

/* Byte classes, one table load per byte on the hot path. */
enum { C_NAME = 1, C_NAME_START = 2, C_LABEL = 4, C_LABEL_START = 8 };
#define W (C_NAME | C_NAME_START | C_LABEL | C_LABEL_START) /* letters and '_' */
#define D (C_NAME | C_LABEL)                                /* digits */
#define C (C_NAME | C_NAME_START)                           /* ':' */
static const unsigned char s_class[256] = {
    ['0'] = D, ['1'] = D, ['2'] = D, ['3'] = D, ['4'] = D, ['5'] = D, ['6'] = D, ['7'] = D, ['8'] = D, ['9'] = D,
    [':'] = C, ['A'] = W, ['B'] = W, ['C'] = W, ['D'] = W, ['E'] = W, ['F'] = W, ['G'] = W, ['H'] = W, ['I'] = W,
    ['J'] = W, ['K'] = W, ['L'] = W, ['M'] = W, ['N'] = W, ['O'] = W, ['P'] = W, ['Q'] = W, ['R'] = W, ['S'] = W,
    ['T'] = W, ['U'] = W, ['V'] = W, ['W'] = W, ['X'] = W, ['Y'] = W, ['Z'] = W, ['_'] = W, ['a'] = W, ['b'] = W,
    ['c'] = W, ['d'] = W, ['e'] = W, ['f'] = W, ['g'] = W, ['h'] = W, ['i'] = W, ['j'] = W, ['k'] = W, ['l'] = W,
    ['m'] = W, ['n'] = W, ['o'] = W, ['p'] = W, ['q'] = W, ['r'] = W, ['s'] = W, ['t'] = W, ['u'] = W, ['v'] = W,
    ['w'] = W, ['x'] = W, ['y'] = W, ['z'] = W,
};
#undef W
#undef D
#undef C

static inline bool s_is(char c, unsigned cls)
{
    return s_class[(unsigned char) c] & cls;
}

/* Skips the bytes of class `cls` (C_NAME or C_LABEL): names are scanned 16 bytes at a time,
   letters found by folding case and comparing ranges (bytes >= 0x80 compare as negative and
   never match). */
static inline const char *s_skip_class(const char *p, const char *end, unsigned cls)
{
#ifdef KMS_PROMTEXT_SIMD
    const __m128i before_a = _mm_set1_epi8('a' - 1), after_z = _mm_set1_epi8('z' + 1);
    const __m128i before_0 = _mm_set1_epi8('0' - 1), after_9 = _mm_set1_epi8('9' + 1);
    const __m128i case_bit = _mm_set1_epi8(0x20), underscore = _mm_set1_epi8('_');
    const __m128i colon = cls == C_NAME ? _mm_set1_epi8(':') : underscore;
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) p);
        __m128i lower = _mm_or_si128(v, case_bit);
        __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(lower, before_a), _mm_cmplt_epi8(lower, after_z));
        ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, before_0), _mm_cmplt_epi8(v, after_9)));
        ok = _mm_or_si128(ok, _mm_or_si128(_mm_cmpeq_epi8(v, underscore), _mm_cmpeq_epi8(v, colon)));
        unsigned mask = (unsigned) _mm_movemask_epi8(ok);
        if (mask != 0xffff)
            return p + __builtin_ctz(~mask);
        p += 16;
    }
#endif
    while (p < end && s_is(*p, cls))
        p++;
    return p;
}

/* The first '"', '\\' or non-ASCII byte of a label value, or `end`: one pass finds where the
   value ends, its escapes and the bytes that need a UTF-8 check. */
static inline const char *s_find_special(const char *p, const char *end)
{
#ifdef KMS_PROMTEXT_SIMD
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), v);
        unsigned mask = (unsigned) _mm_movemask_epi8(hit);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && (unsigned char) *p < 0x80)
        p++;
    return p;
}

static inline bool s_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static inline const char *s_skip_blanks(const char *p, const char *end)
{
    while (p < end && s_is_blank(*p))
        p++;
    return p;
}

/* Past the character `c`, blanks allowed before it; NULL when something else comes first.
   Pages rarely have blanks between tokens, so the character is looked for first. */
static inline const char *s_expect(const char *p, const char *end, char c)
{
    if (p < end && *p == c)
        return p + 1;
    p = s_skip_blanks(p, end);
    return p < end && *p == c ? p + 1 : NULL;
}

static inline const char *s_token_end(const char *p, const char *end)
{
    while (p < end && !s_is_blank(*p))
        p++;
    return p;
}

bool kms_slice_eq(kms_slice_t slice, const char *text)
{
    size_t len = strlen(text);
    return slice.len == len && memcmp(slice.ptr, text, len) == 0;
}

static bool s_slice_same(kms_slice_t a, kms_slice_t b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Case-insensitive match of a whole token against a lowercase word. */
static bool s_word_eq(const char *p, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != word[i])
            return false;
    return true;
}

/* ---- numbers ------------------------------------------------------------------------------- */

/* Every power of ten up to 1e22 is exactly representable as a double. */
static const double s_pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Clinger's fast path: when the decimal's digits fit in 53 bits and its power of ten is one of
   the exact ones above, one IEEE multiplication or division rounds once, so the result is the
   correctly rounded double, the same bits strtod returns. That covers what exporters print (Go's
   shortest round-trip digits, 17 at most). Anything else (more digits, far exponents) goes to
   strtod on a bounded copy: exact too, only slower. */
static int s_parse_decimal(const char *text, size_t len, double *out)
{
    const char *p = text, *end = text + len;
    bool negative = false;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    uint64_t mantissa = 0;
    int significant = 0, exp10 = 0, digits = 0;
    for (; p < end && (unsigned char) (*p - '0') < 10u; p++, digits++) {
        if (mantissa == 0 && *p == '0')
            continue;
        if (significant++ < 19)
            mantissa = mantissa * 10 + (uint64_t) (*p - '0');
        else
            exp10++;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && (unsigned char) (*p - '0') < 10u; p++, digits++) {
            if (mantissa == 0 && *p == '0') {
                exp10--;
                continue;
            }
            if (significant++ < 19) {
                mantissa = mantissa * 10 + (uint64_t) (*p - '0');
                exp10--;
            }
        }
    }
    if (digits == 0)
        return -1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool exp_negative = false;
        if (p < end && (*p == '+' || *p == '-'))
            exp_negative = *p++ == '-';
        if (p == end)
            return -1;
        int exponent = 0;
        for (; p < end && (unsigned char) (*p - '0') < 10u; p++)
            if (exponent < 100000) /* far beyond any double; strtod below sorts it out */
                exponent = exponent * 10 + (*p - '0');
        exp10 += exp_negative ? -exponent : exponent;
    }
    if (p != end)
        return -1;
    if (mantissa == 0) {
        *out = negative ? -0.0 : 0.0;
        return 0;
    }
    if (significant <= 19 && mantissa <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double) mantissa;
        v = exp10 >= 0 ? v * s_pow10[exp10] : v / s_pow10[-exp10];
        *out = negative ? -v : v;
        return 0;
    }
    /* The slow path: the token is a well-formed decimal, so strtod can read nothing else. */
    char copy[128];
    if (len >= sizeof copy)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    char *stop;
    errno = 0;
    double v = strtod(copy, &stop);
    if (stop != copy + len || (errno == ERANGE && isinf(v)))
        return -1;
    *out = v;
    return 0;
}

int kms_promtext_parse_value(const char *text, size_t len, double *out)
{
    if (s_parse_decimal(text, len, out) == 0)
        return 0;
    const char *p = text;
    bool negative = false;
    if (len > 0 && (*p == '+' || *p == '-')) {
        negative = *p++ == '-';
        len--;
    }
    if (s_word_eq(p, len, "nan")) {
        *out = NAN;
        return 0;
    }
    if (s_word_eq(p, len, "inf") || s_word_eq(p, len, "infinity")) {
        *out = negative ? -INFINITY : INFINITY;
        return 0;
    }
    return -1;
}

static int s_parse_timestamp(const char *p, const char *end, int64_t *out)
{
    bool negative = false;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    if (p == end)
        return -1;
    uint64_t v = 0, limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    for (; p < end; p++) {
        unsigned d = (unsigned char) (*p - '0');
        if (d >= 10u || v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = negative ? (int64_t) (0 - v) : (int64_t) v;
    return 0;
}

/* ---- label values -------------------------------------------------------------------------- */

/* Label values must be UTF-8 (downstream, JSON writers refuse anything else). The length of
   the well-formed sequence at p (2 to 4 bytes), or 0: no overlong forms, no surrogates,
   nothing above U+10FFFF. */
static size_t s_utf8_sequence(const char *text, const char *end)
{
    const unsigned char *p = (const unsigned char *) text;
    unsigned char c = p[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || (size_t) (end - text) < n)
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90)
        || (c == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* Finds the closing quote of a label value that starts at *pp, checking its escapes and its
   UTF-8 on the way; each byte is looked at once, however many backslashes there are. */
static const char *s_scan_label_value(const char **pp, const char *end, bool *escaped)
{
    const char *p = *pp;
    *escaped = false;
    for (;;) {
        p = s_find_special(p, end);
        if (p == end)
            return "unterminated label value";
        if (*p == '"') {
            *pp = p;
            return NULL;
        }
        if (*p == '\\') {
            *escaped = true;
            if (end - p < 2)
                return "unterminated label value";
            if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                return "invalid escape in label value";
            p += 2;
            continue;
        }
        size_t n = s_utf8_sequence(p, end);
        if (n == 0)
            return "label value is not UTF-8";
        p += n;
    }
}

static const char *s_parse_labels(parser_t *self, const char **pp, const char *end, size_t *count)
{
    const char *p = *pp + 1; /* past '{' */
    size_t n = 0;
    for (;;) {
        p = s_skip_blanks(p, end);
        if (p == end)
            return "unterminated label set";
        if (*p == '}')
            break;
        if (n == KMS_PROMTEXT_MAX_LABELS)
            return "too many labels";
        kms_promtext_label_t *label = &self->labels[n];
        const char *name = p;
        if (!s_is(*p, C_LABEL_START))
            return "invalid label name";
        p = s_skip_class(p + 1, end, C_LABEL);
        label->name = (kms_slice_t){name, (size_t) (p - name)};
        if (!(p = s_expect(p, end, '=')))
            return "expected '=' after label name";
        if (!(p = s_expect(p, end, '"')))
            return "expected '\"' to open label value";
        const char *value = p;
        const char *reason = s_scan_label_value(&p, end, &label->escaped);
        if (reason)
            return reason;
        label->value = (kms_slice_t){value, (size_t) (p - value)};
        for (size_t i = 0; i < n; i++)
            if (s_slice_same(self->labels[i].name, label->name))
                return "duplicate label name";
        n++;
        p++; /* past the closing quote */
        p = s_skip_blanks(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}')
            break;
        return "expected ',' or '}' after label value";
    }
    *pp = p + 1;
    *count = n;
    return NULL;
}

/* ---- lines --------------------------------------------------------------------------------- */

/* A histogram's or summary's samples carry suffixes after the family name. */
static void s_assign_family(const parser_t *self, kms_promtext_series_t *series)
{
    series->type = KMS_PROMTEXT_UNTYPED;
    series->family = series->name;
    kms_slice_t name = series->name, family = self->family;
    if (family.len == 0 || name.len < family.len || memcmp(name.ptr, family.ptr, family.len) != 0)
        return;
    kms_slice_t suffix = {name.ptr + family.len, name.len - family.len};
    bool member = suffix.len == 0;
    if (self->family_type == KMS_PROMTEXT_HISTOGRAM)
        member |= kms_slice_eq(suffix, "_bucket") || kms_slice_eq(suffix, "_sum") || kms_slice_eq(suffix, "_count");
    if (self->family_type == KMS_PROMTEXT_SUMMARY)
        member |= kms_slice_eq(suffix, "_sum") || kms_slice_eq(suffix, "_count");
    if (member) {
        series->type = self->family_type;
        series->family = family;
    }
}

static const char *s_parse_series(parser_t *self, const char *p, const char *end, kms_promtext_series_t *series)
{
    const char *name = p;
    if (!s_is(*p, C_NAME_START))
        return "invalid metric name";
    p = s_skip_class(p + 1, end, C_NAME);
    series->name = (kms_slice_t){name, (size_t) (p - name)};
    const char *after_name = p;
    p = s_skip_blanks(p, end);
    series->labels = self->labels;
    series->label_count = 0;
    if (p < end && *p == '{') {
        const char *reason = s_parse_labels(self, &p, end, &series->label_count);
        if (reason)
            return reason;
        p = s_skip_blanks(p, end);
    } else if (p == after_name && p < end) {
        return "invalid character in metric name";
    }
    if (p == end)
        return "missing value";
    const char *value = p;
    p = s_token_end(p, end);
    if (kms_promtext_parse_value(value, (size_t) (p - value), &series->value) != 0)
        return "invalid value";
    p = s_skip_blanks(p, end);
    series->has_timestamp = p < end;
    series->timestamp_ms = 0;
    if (series->has_timestamp) {
        const char *ts = p;
        p = s_token_end(p, end);
        if (s_parse_timestamp(ts, p, &series->timestamp_ms) != 0)
            return "invalid timestamp";
        if (s_skip_blanks(p, end) != end)
            return "unexpected text after timestamp";
    }
    s_assign_family(self, series);
    return NULL;
}

/* # HELP and # TYPE must name a valid metric; any other comment is ignored, a lone '#' too. */
static const char *s_parse_comment(parser_t *self, const char *p, const char *end)
{
    p = s_skip_blanks(p + 1, end);
    const char *keyword = p;
    p = s_token_end(p, end);
    bool help = p - keyword == 4 && memcmp(keyword, "HELP", 4) == 0;
    bool type = p - keyword == 4 && memcmp(keyword, "TYPE", 4) == 0;
    if (!help && !type)
        return NULL;
    const char *name = p = s_skip_blanks(p, end);
    if (p == end || !s_is(*p, C_NAME_START))
        return "invalid metric name in comment";
    p = s_skip_class(p + 1, end, C_NAME);
    if (p < end && !s_is_blank(*p))
        return "invalid metric name in comment";
    if (help)
        return NULL;
    kms_slice_t family = {name, (size_t) (p - name)};
    const char *word = p = s_skip_blanks(p, end);
    p = s_token_end(p, end);
    if (s_skip_blanks(p, end) != end)
        return "unexpected text after type";
    static const struct {
        const char *word;
        kms_promtext_type_t type;
    } types[] = {
        {"counter", KMS_PROMTEXT_COUNTER}, {"gauge", KMS_PROMTEXT_GAUGE},     {"histogram", KMS_PROMTEXT_HISTOGRAM},
        {"summary", KMS_PROMTEXT_SUMMARY}, {"untyped", KMS_PROMTEXT_UNTYPED},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (kms_slice_eq((kms_slice_t){word, (size_t) (p - word)}, types[i].word)) {
            self->family = family;
            self->family_type = types[i].type;
            return NULL;
        }
    }
    return "unknown metric type";
}

int kms_promtext_parse(const char *buf, size_t len, const kms_promtext_handler_t *handler, kms_promtext_stats_t *stats)
{
    assert(handler && handler->on_series);
    assert(buf || len == 0);
    kms_promtext_stats_t local;
    if (!stats)
        stats = &local;
    *stats = (kms_promtext_stats_t){0};
    parser_t self = {0};
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t) (end - p));
        const char *line_end = newline ? newline : end;
        const char *next = newline ? newline + 1 : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        stats->lines++;
        const char *reason = NULL;
        const char *q = s_skip_blanks(p, line_end);
        if ((size_t) (line_end - p) > KMS_PROMTEXT_MAX_LINE) {
            reason = "line too long";
        } else if (q == line_end) {
            /* blank line */
        } else if (*q == '#') {
            reason = s_parse_comment(&self, q, line_end);
        } else {
            kms_promtext_series_t series;
            reason = s_parse_series(&self, q, line_end, &series);
            if (!reason) {
                stats->series++;
                int rc = handler->on_series(&series, handler->arg);
                if (rc != 0)
                    return rc;
            }
        }
        if (reason) {
            stats->rejected++;
            if (handler->on_reject)
                handler->on_reject(stats->lines, reason, (kms_slice_t){p, (size_t) (line_end - p)}, handler->arg);
        }
        p = next;
    }
    return 0;
}

long kms_promtext_label_unescape(const kms_promtext_label_t *label, char *out, size_t cap)
{
    const char *p = label->value.ptr, *end = p + label->value.len;
    size_t n = 0;
    while (p < end) {
        char c = *p++;
        if (c == '\\' && p < end) {
            c = *p++;
            if (c == 'n')
                c = '\n';
            else if (c != '\\' && c != '"') {
                /* not one of the format's escapes (the parser never hands one out): keep it */
                if (n + 1 >= cap)
                    return -1;
                out[n++] = '\\';
            }
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return (long) n;
}

const kms_promtext_label_t *kms_promtext_label_find(const kms_promtext_series_t *series, const char *name)
{
    for (size_t i = 0; i < series->label_count; i++)
        if (kms_slice_eq(series->labels[i].name, name))
            return &series->labels[i];
    return NULL;
}
