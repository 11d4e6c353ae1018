/*  kms-keygen: makes a CURVE key pair for kms-scraper, kms-trainer and kms-api.

    kms-keygen [--dir DIR] NAME   writes DIR/NAME (public certificate, to hand to peers) and
                                  DIR/NAME_secret (keep it private; mode 0600). */
#include "kms_config.h"
#include "kms_log.h"

#include <czmq.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    static const char *dir;
    static kms_option_t options[] = {
        {"dir", "KMS_KEYGEN_DIR", KMS_OPT_STRING, ".", "folder to write the certificate files into", &dir, 0, 0},
        {0},
    };
    const kms_config_t config = {
        "kms-keygen",
        "Makes a CURVE key pair as czmq certificate files: NAME (public, give it to the peers that must "
        "admit or reach this process) and NAME_secret (private, for KMS_CURVE_SECRET_KEY_FILE).",
        "[--dir DIR] NAME", options};
    int positional = 0;
    int rc = kms_config_parse(&config, argc, argv, &positional);
    if (rc != KMS_CONFIG_OK)
        return kms_config_exit_status(rc);
    if (positional != 1 || strchr(argv[1], '/')) {
        fprintf(stderr, "kms-keygen: expected one NAME without '/' (see --help)\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, argv[1]);
    zcert_t *cert = zcert_new();
    zcert_set_meta(cert, "name", "%s", argv[1]);
    zcert_set_meta(cert, "created-by", "kms-keygen %s", KMS_VERSION);
    mode_t old = umask(077);
    int saved = zcert_save(cert, path);
    umask(old);
    if (saved != 0) {
        kms_error("cannot write certificate", "path=%s", path);
        zcert_destroy(&cert);
        return 1;
    }
    chmod(path, 0644); /* the public half is meant to be shared */
    printf("%s\n%s_secret\n", path, path);
    zcert_destroy(&cert);
    return 0;
}
