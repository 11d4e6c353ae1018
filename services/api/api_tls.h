/*  api_tls: HTTPS for kms-api (--tls-cert / --tls-key), with Debian 12's civetweb 1.15.

    Two things stand between that civetweb and OpenSSL 3, and this module removes both: civetweb
    looks up a function OpenSSL 3 no longer exports (tls_compat.c says which; the fix is a tiny
    library embedded in kms-api and loaded first), and it reads the key and the certificate
    from one PEM file, so the two files are joined in a memory file, never on disk. */
#ifndef API_TLS_H
#define API_TLS_H

#include <stddef.h>

typedef struct {
    int fd;             /* the joined PEM's memory file; -1 when TLS is off */
    char pem_path[32];  /* its path, for civetweb's ssl_certificate */
} api_tls_t;

/* Prepares TLS from the two files. 0, or -1 with a one-line reason naming the option in `why`. */
int api_tls_prepare(const char *cert_file, const char *key_file, api_tls_t *out, char *why, size_t cap);

/* Closes the memory file once civetweb has read it; idempotent. */
void api_tls_release(api_tls_t *tls);

#endif
