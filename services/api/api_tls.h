/*  api_tls: HTTPS for kms-api (--tls-cert / --tls-key), with Debian 12's civetweb 1.15.

    Two things stand between that civetweb and OpenSSL 3, and this module removes both:
    civetweb dlopen()s OpenSSL by the names only libssl-dev installs and looks up a function
    OpenSSL 3 no longer exports (tls_compat_ssl.c says which), so kms-api first loads, by path,
    the two small libraries of its private folder that carry those names (CMakeLists.txt);
    and civetweb reads the key and the certificate from one PEM file, so kms-api hands them to
    OpenSSL itself, from their own files, through civetweb's init_ssl callback. */
#ifndef API_TLS_H
#define API_TLS_H

#include <stddef.h>

typedef struct {
    const char *cert_file; /* PEM certificate (chain); borrowed */
    const char *key_file;  /* its PEM private key; borrowed */
} api_tls_t;

/* Checks the two files and loads the private libraries. 0, or -1 with a one-line reason
   naming the option in `why`. */
int api_tls_prepare(const char *cert_file, const char *key_file, api_tls_t *out, char *why, size_t cap);

/* civetweb's init_ssl callback: puts the certificate chain and the key into `ssl_ctx` (an
   SSL_CTX). 0 (civetweb does the rest of its TLS set-up), or -1 (logged): TLS fails to start. */
int api_tls_init_ssl(const api_tls_t *tls, void *ssl_ctx);

#endif
