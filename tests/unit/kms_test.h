/* What every cmocka unit test includes, in the order cmocka needs. */
#ifndef KMS_TEST_H
#define KMS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The whole file at `path`, NUL-terminated (its length in *len); NULL when it cannot be opened.
   The caller frees it. */
static inline char *kms_test_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(size >= 0);
    char *buf = malloc((size_t) size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) size, f), (size_t) size);
    fclose(f);
    buf[size] = '\0';
    *len = (size_t) size;
    return buf;
}

/* Runs fn(arg) with stdout and stderr sent to a temporary file; what they got goes to `out`
   (NUL-terminated, cut to `cap`) when it is not NULL. */
static inline void kms_test_capture(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stdout);
    int saved_err = dup(STDERR_FILENO), saved_out = dup(STDOUT_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    dup2(fileno(tmp), STDOUT_FILENO);
    fn(arg);
    fflush(stdout);
    dup2(saved_err, STDERR_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved_err);
    close(saved_out);
    if (out && cap) {
        rewind(tmp);
        size_t n = fread(out, 1, cap - 1, tmp);
        out[n] = '\0';
    }
    fclose(tmp);
}

#endif
