/*  kms_config: one table per program declares every option.

    Each option is a long flag and, usually, an environment variable; the flag wins over the
    variable, the variable over the default. The same table prints --help. Numbers are parsed
    strictly and checked against their bounds; a bad value prints one line naming the option.

        static const char *url; static double interval;
        static kms_option_t options[] = {
            {"kepler-url", "KMS_KEPLER_URL", KMS_OPT_STRING, "http://127.0.0.1:9102/metrics",
             "Kepler /metrics URL(s), comma separated", &url},
            {"interval", "KMS_SCRAPE_INTERVAL", KMS_OPT_DOUBLE, "5", "seconds between scrapes",
             &interval, 0.01, 86400},
            {0}};
        int rc = kms_config_parse(&(kms_config_t){"kms-scraper", "pulls Kepler...", NULL, options},
                                  argc, argv, NULL);
        if (rc != KMS_CONFIG_OK) return kms_config_exit_status(rc);

    Strings are borrowed from argv, the environment or the table: they live as long as the
    process. kms_config_parse also initialises kms_log (KMS_LOG_LEVEL is checked like an option). */
#ifndef KMS_CONFIG_H
#define KMS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* KMS_OPT_PORT is a server's TCP port: 1-65535, or 0 for any free one (the program logs the port
   it got). KMS_OPT_PORT_OFF also takes "off" for no server at all, stored as KMS_PORT_OFF. Their
   bounds are fixed. KMS_OPT_ENUM, KMS_OPT_LIST and KMS_OPT_CHECKED point `value` at a
   kms_opt_text_t: ENUM takes one of its names and stores the name's value; LIST is a comma list
   (kms_config_split) of at least one item, kept as the text; CHECKED is one text. */
typedef enum {
    KMS_OPT_STRING,
    KMS_OPT_INT,
    KMS_OPT_DOUBLE,
    KMS_OPT_BOOL,
    KMS_OPT_PORT,
    KMS_OPT_PORT_OFF,
    KMS_OPT_ENUM,
    KMS_OPT_LIST,
    KMS_OPT_CHECKED
} kms_opt_type_t;

#define KMS_PORT_OFF (-1L)

/* An allowed name and its value; a table of them ends with {NULL}. */
typedef struct {
    const char *name;
    int value;
} kms_opt_name_t;

/* A validator of a text (of each item, for a list), run after the type's own checks: 0, or -1
   with why it is refused (printed after "invalid value '<text>' for <option>: "). */
typedef int (*kms_opt_check_fn)(const char *text, char *why, size_t cap);

typedef struct {
    void *value;                 /* int * (ENUM) | const char ** (LIST, CHECKED) */
    const kms_opt_name_t *names; /* ENUM: the names; LIST: each item one of them (NULL: any) */
    kms_opt_check_fn check;      /* NULL or a validator */
} kms_opt_text_t;

typedef struct {
    const char *name; /* long flag without the dashes */
    const char *env;  /* environment variable, or NULL */
    kms_opt_type_t type;
    const char *def; /* default, as text; NULL: unset (strings stay NULL, numbers 0) */
    const char *help;
    void *value;     /* const char ** | long * (INT, PORT*) | double * | bool * | kms_opt_text_t * */
    double min, max; /* inclusive bounds for numbers; none when both are 0 */
} kms_option_t;

typedef struct {
    const char *program;
    const char *summary;   /* one paragraph for --help */
    const char *usage;     /* after the program name; NULL: "[OPTIONS]" */
    kms_option_t *options; /* ends with an all-zero entry */
} kms_config_t;

enum { KMS_CONFIG_OK = 0, KMS_CONFIG_EXIT = 1, KMS_CONFIG_ERROR = 2 };

/* Parses defaults, environment and argv, in that order. Arguments that are not options are
   moved, in order, to argv[1..n] and n is stored in *positional (when not NULL; otherwise any
   positional argument is an error). Returns KMS_CONFIG_OK, KMS_CONFIG_EXIT after --help or
   --version, or KMS_CONFIG_ERROR after printing one line to stderr. */
int kms_config_parse(const kms_config_t *config, int argc, char **argv, int *positional);

/* The process exit status for a non-OK result: 0 after --help/--version, 2 for bad config. */
int kms_config_exit_status(int rc);

/* The one comma-list parser: calls `each` on every item of `list` in order, with the blanks
   (spaces, tabs) around it trimmed and empty items skipped, so "a, b,,c " gives a, b, c; `index`
   counts the items given so far. The item is NUL-terminated and lives until `each` returns.
   Stops at the first non-zero return of `each`. Returns the number of items (0 for an empty or
   NULL list), or -1 when `each` failed or memory ran out. */
typedef int (*kms_config_item_fn)(const char *item, int index, void *arg);
int kms_config_split(const char *list, kms_config_item_fn each, void *arg);

#endif
