#include "kms_test.h"

#include "kms_curve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[256];
static char s_clients[300];

/* Writes dir/name and dir/name_secret; with `admit`, the public half goes to the clients folder too. */
static void s_make_cert(const char *dir, const char *name, bool admit)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    zcert_t *cert = zcert_new();
    assert_int_equal(zcert_save(cert, path), 0);
    if (admit) {
        snprintf(path, sizeof path, "%s/%s", s_clients, name);
        assert_int_equal(zcert_save_public(cert, path), 0);
    }
    zcert_destroy(&cert);
}

static int s_setup(void **state)
{
    (void) state;
    snprintf(s_dir, sizeof s_dir, "/tmp/kms-curve-XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    snprintf(s_clients, sizeof s_clients, "%s/clients", s_dir);
    assert_int_equal(zsys_dir_create("%s", s_clients), 0);
    s_make_cert(s_dir, "server", false);
    s_make_cert(s_dir, "known", true); /* only the known client is admitted */
    s_make_cert(s_dir, "stranger", false);
    return 0;
}

static int s_teardown(void **state)
{
    (void) state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd);
}

static kms_curve_t *s_curve(const char *secret, const char *server, const char *clients)
{
    char secret_path[512], server_path[512], err[256];
    const char *why = NULL;
    snprintf(secret_path, sizeof secret_path, "%s/%s_secret", s_dir, secret);
    snprintf(server_path, sizeof server_path, "%s/%s", s_dir, server ? server : "");
    kms_curve_config_t config = {secret_path, server ? server_path : NULL, clients};
    kms_curve_t *curve = kms_curve_new(&config, err, sizeof err, &why);
    assert_non_null(curve);
    assert_null(why);
    return curve;
}

/* A socket of `type` secured by `curve` (may be NULL) and attached to `endpoints`. */
static zsock_t *s_socket(kms_curve_t *curve, int type, const char *endpoints)
{
    zsock_t *sock = zsock_new(type);
    assert_non_null(sock);
    if (kms_curve_apply(curve, sock, endpoints) != 0 || zsock_attach(sock, endpoints, false) != 0)
        zsock_destroy(&sock);
    return sock;
}

/* Sends from a client PUSH to the server PULL; true when it arrives within the timeout. */
static bool s_delivered(zsock_t *server, kms_curve_t *client_curve, const char *endpoint)
{
    zsock_t *client = s_socket(client_curve, ZMQ_PUSH, endpoint);
    assert_non_null(client);
    zsock_set_sndtimeo(client, 100);
    zsock_set_linger(client, 0);
    zstr_send(client, "hello");
    zsock_set_rcvtimeo(server, 700);
    char *got = zstr_recv(server);
    bool ok = got && strcmp(got, "hello") == 0;
    zstr_free(&got);
    zsock_destroy(&client);
    return ok;
}

static void test_known_client_admitted_stranger_refused(void **state)
{
    (void) state;
    kms_curve_t *server_curve = s_curve("server", NULL, s_clients);
    zsock_t *server = s_socket(server_curve, ZMQ_PULL, "@tcp://127.0.0.1:*");
    assert_non_null(server);
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, ">%s", zsock_endpoint(server));

    kms_curve_t *known = s_curve("known", "server", NULL);
    assert_true(s_delivered(server, known, endpoint));

    kms_curve_t *stranger = s_curve("stranger", "server", NULL);
    assert_false(s_delivered(server, stranger, endpoint));

    /* A plain client without CURVE cannot talk to a CURVE server either. */
    assert_false(s_delivered(server, NULL, endpoint));

    kms_curve_destroy(&known);
    kms_curve_destroy(&stranger);
    zsock_destroy(&server);
    kms_curve_destroy(&server_curve);
    assert_null(server_curve);
}

static void test_no_keys_is_off_and_a_bad_key_or_dir_fails_naming_its_option(void **state)
{
    (void) state;
    char err[256];
    const char *why = "unset";
    kms_curve_config_t off = {NULL, NULL, NULL};
    assert_null(kms_curve_new(&off, err, sizeof err, &why));
    assert_null(why);

    kms_curve_config_t missing = {"/nonexistent/cert_secret", NULL, NULL};
    assert_null(kms_curve_new(&missing, err, sizeof err, &why));
    assert_non_null(why);
    assert_non_null(strstr(why, "--curve-secret-key-file"));

    char public_only[512];
    snprintf(public_only, sizeof public_only, "%s/known", s_clients); /* no known_secret beside it */
    kms_curve_config_t no_secret = {public_only, NULL, NULL};
    assert_null(kms_curve_new(&no_secret, err, sizeof err, &why));
    assert_non_null(why);

    char secret[512];
    snprintf(secret, sizeof secret, "%s/known_secret", s_dir);
    kms_curve_config_t bad_dir = {secret, NULL, "/nonexistent-dir"};
    assert_null(kms_curve_new(&bad_dir, err, sizeof err, &why));
    assert_non_null(strstr(why, "--curve-clients-dir"));

    kms_curve_config_t dangling = {NULL, public_only, NULL};
    assert_null(kms_curve_new(&dangling, err, sizeof err, &why));
    assert_non_null(why);

    /* A connecting socket needs the server's key. */
    kms_curve_t *curve = s_curve("known", NULL, NULL);
    assert_null(s_socket(curve, ZMQ_PUSH, ">tcp://127.0.0.1:1"));
    assert_null(s_socket(curve, ZMQ_PUSH, "@tcp://127.0.0.1:*,>tcp://127.0.0.1:1"));
    kms_curve_destroy(&curve);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_client_admitted_stranger_refused),
        cmocka_unit_test(test_no_keys_is_off_and_a_bad_key_or_dir_fails_naming_its_option),
    };
    int rc = cmocka_run_group_tests(tests, s_setup, s_teardown);
    zsys_shutdown();
    return rc;
}
