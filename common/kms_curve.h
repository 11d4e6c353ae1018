/*  kms_curve: optional ZeroMQ CURVE security for the sample and control sockets.

    Off unless KMS_CURVE_SECRET_KEY_FILE is set. Then every socket passed through
    kms_curve_apply() is encrypted and authenticated, and the role follows the endpoint:
    - a socket that binds (@...) is the CURVE server: it presents this process's certificate and,
      through czmq's zauth, admits only clients whose public certificates are in
      KMS_CURVE_CLIENTS_DIR (any client holding a valid key pair when the folder is not set);
    - a socket that connects (>...) is a CURVE client: it presents this process's certificate and
      talks only to the server whose public certificate is KMS_CURVE_SERVER_KEY_FILE.
    So with the trainer binding its sample socket, an unknown publisher cannot feed it; with it
    binding its control socket, an unknown client cannot read it. Certificates are czmq zcert
    files, as `kms-keygen NAME` writes them (NAME public, NAME_secret secret). */
#ifndef KMS_CURVE_H
#define KMS_CURVE_H

#include <czmq.h>

#include "kms_config.h"

typedef struct {
    const char *secret_key_file;
    const char *server_key_file;
    const char *clients_dir;
} kms_curve_config_t;

/* The three options, to put in a program's option table. */
/* clang-format off */
#define KMS_CURVE_OPTIONS(cfg)                                                                         \
    {"curve-secret-key-file", "KMS_CURVE_SECRET_KEY_FILE", KMS_OPT_STRING, NULL,                       \
     "this process's CURVE certificate (secret file from kms-keygen); turns CURVE on",                 \
     &(cfg).secret_key_file, 0, 0},                                                                   \
    {"curve-server-key-file", "KMS_CURVE_SERVER_KEY_FILE", KMS_OPT_STRING, NULL,                       \
     "public certificate of the server that connecting sockets talk to", &(cfg).server_key_file, 0, 0}, \
    {"curve-clients-dir", "KMS_CURVE_CLIENTS_DIR", KMS_OPT_STRING, NULL,                               \
     "folder of public certificates of the clients that binding sockets admit", &(cfg).clients_dir, 0, 0}
/* clang-format on */

typedef struct kms_curve_t kms_curve_t;

/* NULL with *why NULL when CURVE is off; NULL with a one-line reason naming the option in *why
   (static text or `err`) when the configuration is bad; else the security context, which must
   outlive every socket made with it. */
kms_curve_t *kms_curve_new(const kms_curve_config_t *config, char *err, size_t errcap, const char **why);
void kms_curve_destroy(kms_curve_t **self_p);

/* Secures `sock` for `endpoints` (czmq syntax: @ binds, > connects) before the caller attaches
   it; all endpoints of one socket must either bind or connect. With `self` NULL (CURVE off) it
   does nothing. 0, or -1 (logged) when the endpoints are mixed or a connecting socket has no
   server key. */
int kms_curve_apply(kms_curve_t *self, zsock_t *sock, const char *endpoints);

#endif
