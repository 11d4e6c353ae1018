#include "api_tls.h"

#include "api_libdir.h"
#include "kms_file.h"
#include "kms_log.h"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_PEM (1 << 20)

static int s_fail(char *why, size_t cap, const char *value, const char *option, const char *reason)
{
    snprintf(why, cap, "invalid value '%s' for %s: %s", value ? value : "", option, reason);
    return -1;
}

/* Loads libcrypto.so and libssl.so from the private folder. RTLD_GLOBAL: civetweb's own
   dlopen() of those names then finds them already loaded. */
static int s_load_private_libraries(char *why, size_t cap)
{
    static const char *names[] = {"libcrypto.so", "libssl.so"};
    char reason[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!api_libdir_open(names[i], RTLD_NOW | RTLD_GLOBAL, reason, sizeof reason)) {
            snprintf(why, cap, "TLS: %s", reason);
            return -1;
        }
    return 0;
}

/* Whether `path` holds a PEM block whose BEGIN line contains `marker`. */
static int s_pem_ok(const char *path, const char *marker)
{
    size_t len = 0;
    char *text = kms_file_read(path, S_MAX_PEM, &len);
    int ok = text && strstr(text, marker) != NULL;
    if (text)
        explicit_bzero(text, len);
    free(text);
    return ok;
}

int api_tls_prepare(const char *cert_file, const char *key_file, api_tls_t *out, char *why, size_t cap)
{
    if (!cert_file || !*cert_file)
        return s_fail(why, cap, cert_file, "--tls-cert", "TLS needs both --tls-cert and --tls-key");
    if (!key_file || !*key_file)
        return s_fail(why, cap, key_file, "--tls-key", "TLS needs both --tls-cert and --tls-key");
    if (!s_pem_ok(key_file, "PRIVATE KEY-----"))
        return s_fail(why, cap, key_file, "--tls-key", "not a readable PEM private key");
    if (!s_pem_ok(cert_file, "-----BEGIN CERTIFICATE-----"))
        return s_fail(why, cap, cert_file, "--tls-cert", "not a readable PEM certificate");
    if (s_load_private_libraries(why, cap) != 0)
        return -1;
    out->cert_file = cert_file;
    out->key_file = key_file;
    return 0;
}

int api_tls_init_ssl(const api_tls_t *tls, void *ssl_ctx)
{
    SSL_CTX *ctx = ssl_ctx;
    if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) == 1
        && SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) == 1
        && SSL_CTX_check_private_key(ctx) == 1)
        return 0;
    char reason[256], quoted[300];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    char cert[300];
    kms_error("TLS: cannot use the certificate and key", "cert=%s why=%s",
              kms_log_quote(tls->cert_file, cert, sizeof cert), kms_log_quote(reason, quoted, sizeof quoted));
    return -1;
}
