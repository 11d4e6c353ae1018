#include "kms_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

kms_log_level_t kms_log_threshold = KMS_LOG_INFO;
static const char *s_program = "kms";
static const char *s_level_names[] = {"debug", "info", "warn", "error"};

int kms_log_init(const char *program)
{
    s_program = program;
    const char *env = getenv("KMS_LOG_LEVEL");
    if (!env || !*env)
        return 0;
    if (strcmp(env, "warning") == 0)
        env = "warn";
    for (int i = 0; i < 4; i++)
        if (strcmp(env, s_level_names[i]) == 0)
            return kms_log_threshold = (kms_log_level_t) i, 0;
    return -1;
}

const char *kms_log_quote(const char *text, char *out, size_t cap)
{
    bool plain = *text != '\0';
    for (const char *p = text; *p && plain; p++)
        plain = *p > ' ' && *p != '"' && *p != '=' && *p != '\\' && *p != 0x7f;
    if (plain) {
        snprintf(out, cap, "%s", text);
        return out;
    }
    size_t n = 0;
    if (cap < 3)
        return cap ? (*out = '\0', out) : out;
    out[n++] = '"';
    for (const char *p = text; *p && n + 3 < cap; p++) {
        char c = *p;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else
            out[n++] = ((unsigned char) c < ' ' || c == 0x7f) ? '?' : c;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void kms_log_write(kms_log_level_t level, const char *msg, const char *fields, ...)
{
    char line[4096];
    char quoted[512];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s prog=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int) (tv.tv_usec / 1000), s_level_names[level], s_program,
                     kms_log_quote(msg, quoted, sizeof quoted));
    if (fields && *fields && n > 0 && (size_t) n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fields);
        int m = vsnprintf(line + n, sizeof line - (size_t) n, fields, ap);
        va_end(ap);
        n = m < 0 ? n - 1 : n + m;
    }
    if (n < 0)
        return;
    if ((size_t) n > sizeof line - 2)
        n = (int) sizeof line - 2;
    line[n++] = '\n';
    /* One write per line, so that lines from threads and processes do not interleave. */
    ssize_t rc = write(STDERR_FILENO, line, (size_t) n);
    (void) rc;
}

bool kms_log_decade(uint64_t count)
{
    if (count == 0)
        return false;
    while (count % 10 == 0)
        count /= 10;
    return count == 1;
}

void kms_log_bound(const char *role, const char *endpoint)
{
    if (!endpoint)
        return;
    const char *colon = strrchr(endpoint, ':');
    char quoted[512];
    kms_log_quote(endpoint, quoted, sizeof quoted);
    if (strncmp(endpoint, "tcp://", 6) == 0 && colon)
        kms_info("listening", "socket=%s endpoint=%s port=%s", role, quoted, colon + 1);
    else
        kms_info("listening", "socket=%s endpoint=%s", role, quoted);
}
