/*  libcrypto.so, kms-api's private one: no code, only a name. Debian 12's civetweb dlopen()s
    "libcrypto.so", which only libssl-dev installs; this library's SONAME is that name and it
    depends on the real libcrypto.so.3, so civetweb's lookups fall through to OpenSSL's own
    functions (tls_compat_ssl.c is the same for libssl.so). */
typedef int kms_api_tls_crypto_is_a_name_only;
