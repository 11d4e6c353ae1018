#include "kms_curve.h"

#include "kms_log.h"

#include <stdio.h>
#include <sys/stat.h>

struct kms_curve_t {
    zcert_t *cert;       /* ours */
    char *server_public; /* Z85 text, for connecting sockets; NULL when not configured */
    char *clients_dir;   /* NULL: any client with a valid key pair */
    zactor_t *auth;      /* zauth, started with the first binding socket (one per process) */
};

static kms_curve_t *s_fail(kms_curve_t **self_p, char *err, size_t errcap, const char **why, const char *option,
                           const char *path, const char *reason)
{
    snprintf(err, errcap, "invalid value '%s' for %s: %s", path, option, reason);
    *why = err;
    kms_curve_destroy(self_p);
    return NULL;
}

kms_curve_t *kms_curve_new(const kms_curve_config_t *config, char *err, size_t errcap, const char **why)
{
    *why = NULL;
    if (!config->secret_key_file || !*config->secret_key_file) {
        if ((config->server_key_file && *config->server_key_file) || (config->clients_dir && *config->clients_dir))
            *why = "KMS_CURVE_SERVER_KEY_FILE and KMS_CURVE_CLIENTS_DIR need KMS_CURVE_SECRET_KEY_FILE";
        return NULL;
    }
    kms_curve_t *self = zmalloc(sizeof *self);
    if (!zsys_has_curve())
        return s_fail(&self, err, errcap, why, "--curve-secret-key-file", config->secret_key_file,
                      "this libzmq has no CURVE support");
    self->cert = zcert_load(config->secret_key_file);
    /* A public-only certificate loads too, with an all-zero secret key. */
    static const byte s_no_secret[32] = {0};
    if (!self->cert || memcmp(zcert_secret_key(self->cert), s_no_secret, 32) == 0)
        return s_fail(&self, err, errcap, why, "--curve-secret-key-file", config->secret_key_file,
                      "not a readable certificate with a secret key");
    if (config->server_key_file && *config->server_key_file) {
        zcert_t *server = zcert_load(config->server_key_file);
        if (!server)
            return s_fail(&self, err, errcap, why, "--curve-server-key-file", config->server_key_file,
                          "not a readable certificate");
        self->server_public = strdup(zcert_public_txt(server));
        zcert_destroy(&server);
    }
    struct stat st;
    const char *clients = config->clients_dir && *config->clients_dir ? config->clients_dir : NULL;
    if (clients && (stat(clients, &st) != 0 || !S_ISDIR(st.st_mode)))
        return s_fail(&self, err, errcap, why, "--curve-clients-dir", clients, "not a folder");
    self->clients_dir = clients ? strdup(clients) : NULL;
    kms_info("curve on", "clients=%s server_key=%s", clients ? clients : "any", self->server_public ? "set" : "unset");
    return self;
}

void kms_curve_destroy(kms_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kms_curve_t *self = *self_p;
    zactor_destroy(&self->auth);
    zcert_destroy(&self->cert);
    free(self->server_public);
    free(self->clients_dir);
    free(self);
    *self_p = NULL;
}

/* 1 when every endpoint binds, 0 when every one connects, -1 when they are mixed or empty.
   Split as zsock_attach splits (at each comma, nothing trimmed or skipped), not with
   kms_config_split: the count must be of the endpoints czmq will attach. */
static int s_binds(const char *endpoints)
{
    int binds = 0, connects = 0;
    const char *p = endpoints;
    while (p && *p) {
        if (*p == '@')
            binds++;
        else
            connects++; /* czmq treats '>' and bare endpoints of most socket types as connect */
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return binds && !connects ? 1 : connects && !binds ? 0 : -1;
}

int kms_curve_apply(kms_curve_t *self, zsock_t *sock, const char *endpoints)
{
    if (!self)
        return 0;
    int binds = s_binds(endpoints);
    if (binds < 0) {
        kms_error("bad endpoints for curve", "endpoints=%s why=\"mixes binding and connecting, or is empty\"",
                  endpoints);
        return -1;
    }
    if (!binds && !self->server_public) {
        kms_error("curve needs the server's key", "endpoints=%s option=KMS_CURVE_SERVER_KEY_FILE", endpoints);
        return -1;
    }
    zcert_apply(self->cert, sock);
    if (binds) {
        if (!self->auth) {
            self->auth = zactor_new(zauth, NULL);
            /* CURVE_ALLOW_ANY admits any client with a valid key pair: encryption, no client list. */
            zstr_sendx(self->auth, "CURVE", self->clients_dir ? self->clients_dir : CURVE_ALLOW_ANY, NULL);
            zsock_wait(self->auth);
        }
        zsock_set_curve_server(sock, 1);
        zsock_set_zap_domain(sock, "kms");
    } else
        zsock_set_curve_serverkey(sock, self->server_public);
    return 0;
}
