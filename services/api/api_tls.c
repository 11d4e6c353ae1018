#include "api_tls.h"

#include "api_embed.h"
#include "kms_file.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

API_EMBED(s_compat, KMS_API_TLS_COMPAT_PATH);

#define S_MAX_PEM (1 << 20)

static int s_fail(char *why, size_t cap, const char *value, const char *option, const char *reason)
{
    snprintf(why, cap, "invalid value '%s' for %s: %s", value ? value : "", option, reason);
    return -1;
}

/* Loads the compatibility library and writes key + certificate into one memory file. */
static int s_install(const char *key, size_t key_len, const char *cert, size_t cert_len, api_tls_t *out,
                     const char **reason)
{
    /* RTLD_GLOBAL and SONAME libssl.so: civetweb's own dlopen("libssl.so") then finds it. */
    if (!api_embed_dlopen("libkms-tls-compat.so", s_compat_start, s_compat_end, RTLD_NOW | RTLD_GLOBAL, reason))
        return -1;
    char *pem = malloc(key_len + cert_len + 1);
    if (!pem) {
        *reason = "out of memory";
        return -1;
    }
    memcpy(pem, key, key_len);
    pem[key_len] = '\n';
    memcpy(pem + key_len + 1, cert, cert_len);
    out->fd = api_embed_memfd("kms-api-tls.pem", pem, key_len + cert_len + 1, out->pem_path, sizeof out->pem_path,
                              reason);
    explicit_bzero(pem, key_len + 1);
    free(pem);
    return out->fd < 0 ? -1 : 0;
}

int api_tls_prepare(const char *cert_file, const char *key_file, api_tls_t *out, char *why, size_t cap)
{
    out->fd = -1;
    if (!cert_file || !*cert_file)
        return s_fail(why, cap, cert_file, "--tls-cert", "TLS needs both --tls-cert and --tls-key");
    if (!key_file || !*key_file)
        return s_fail(why, cap, key_file, "--tls-key", "TLS needs both --tls-cert and --tls-key");
    size_t key_len = 0, cert_len = 0;
    char *key = kms_file_read(key_file, S_MAX_PEM, &key_len), *cert = kms_file_read(cert_file, S_MAX_PEM, &cert_len);
    const char *reason = NULL;
    int rc = -1;
    if (!key || !strstr(key, "PRIVATE KEY-----"))
        s_fail(why, cap, key_file, "--tls-key", "not a readable PEM private key");
    else if (!cert || !strstr(cert, "-----BEGIN CERTIFICATE-----"))
        s_fail(why, cap, cert_file, "--tls-cert", "not a readable PEM certificate");
    else if (s_install(key, key_len, cert, cert_len, out, &reason) != 0)
        s_fail(why, cap, cert_file, "--tls-cert", reason);
    else
        rc = 0;
    if (key)
        explicit_bzero(key, key_len);
    free(key);
    free(cert);
    return rc;
}

void api_tls_release(api_tls_t *tls)
{
    if (tls->fd >= 0)
        close(tls->fd);
    tls->fd = -1;
}
