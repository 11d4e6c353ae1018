/*  libssl.so, kms-api's private one: lets Debian 12's civetweb 1.15 serve TLS with OpenSSL 3.

    civetweb loads OpenSSL at run time and looks its functions up by name in "libssl.so".
    OpenSSL 3 turned SSL_get_peer_certificate into a macro for SSL_get1_peer_certificate, so
    the lookup finds nothing and civetweb calls a NULL pointer on the first TLS connection
    (civetweb issue #1334). kms-api loads this library, by path from its private library folder,
    before civetweb starts: its SONAME is "libssl.so", so civetweb's dlopen("libssl.so") gets it,
    and every other lookup falls through to the real libssl.so.3 it depends on. */

typedef struct ssl_st SSL;
typedef struct x509_st X509;

X509 *SSL_get1_peer_certificate(const SSL *ssl);
X509 *SSL_get_peer_certificate(const SSL *ssl);

X509 *SSL_get_peer_certificate(const SSL *ssl)
{
    return SSL_get1_peer_certificate(ssl);
}
