#include "kms_config.h"

#include "kms_log.h"
#include "kms_num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *s_type_names[] = {"TEXT", "INT", "NUMBER", "BOOL", "PORT", "PORT|off", "NAME", "LIST", "TEXT"};

static int s_error(const kms_config_t *config, const char *option, const char *text, const char *why)
{
    fprintf(stderr, "%s: invalid value '%s' for %s: %s\n", config->program, text, option, why);
    return KMS_CONFIG_ERROR;
}

static int s_parse_bool(const char *text, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(text, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

/* "a, b or c" (sep ", ") or "a|b|c" (sep "|") into out. */
static const char *s_names(const kms_opt_name_t *names, const char *sep, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const kms_opt_name_t *p = names; p->name && n < cap; p++) {
        const char *before = p == names ? "" : !p[1].name && *sep == ',' ? " or " : sep;
        n += (size_t) snprintf(out + n, cap - n, "%s%s", before, p->name);
    }
    return out;
}

static const kms_opt_name_t *s_name_find(const kms_opt_name_t *names, const char *text)
{
    for (; names && names->name; names++)
        if (strcmp(names->name, text) == 0)
            return names;
    return NULL;
}

typedef struct {
    const kms_opt_text_t *rules;
    char *why;
    size_t cap;
} s_item_check_t;

static int s_item_ok(const char *item, int index, void *arg)
{
    s_item_check_t *c = arg;
    (void) index;
    if (c->rules->names && !s_name_find(c->rules->names, item)) {
        char names[256];
        snprintf(c->why, c->cap, "unknown item '%s': expected %s", item,
                 s_names(c->rules->names, ", ", names, sizeof names));
        return -1;
    }
    return c->rules->check ? c->rules->check(item, c->why, c->cap) : 0;
}

/* Checks and stores the text of an ENUM, LIST or CHECKED option; -1 with why. */
static int s_assign_text(const kms_option_t *opt, const char *text, char *why, size_t cap)
{
    const kms_opt_text_t *rules = opt->value;
    if (opt->type == KMS_OPT_ENUM) {
        const kms_opt_name_t *found = s_name_find(rules->names, text);
        if (!found) {
            char names[256];
            snprintf(why, cap, "expected %s", s_names(rules->names, ", ", names, sizeof names));
            return -1;
        }
        *(int *) rules->value = found->value;
        return 0;
    }
    if (opt->type == KMS_OPT_LIST) {
        snprintf(why, cap, "expected a comma-separated list");
        if (kms_config_split(text, s_item_ok, &(s_item_check_t){rules, why, cap}) <= 0)
            return -1;
    } else if (rules->check && rules->check(text, why, cap) != 0)
        return -1;
    *(const char **) rules->value = text;
    return 0;
}

/* Stores `text` into the option; `source` names where it came from, for the error line. */
static int s_assign(const kms_config_t *config, const kms_option_t *opt, const char *text, const char *source)
{
    double number = 0;
    char why[512];
    switch (opt->type) {
    case KMS_OPT_STRING: *(const char **) opt->value = text; return KMS_CONFIG_OK;
    case KMS_OPT_ENUM:
    case KMS_OPT_LIST:
    case KMS_OPT_CHECKED:
        if (s_assign_text(opt, text, why, sizeof why) != 0)
            return s_error(config, source, text, why);
        return KMS_CONFIG_OK;
    case KMS_OPT_BOOL:
        if (s_parse_bool(text, (bool *) opt->value) != 0)
            return s_error(config, source, text, "expected true or false");
        return KMS_CONFIG_OK;
    case KMS_OPT_INT: {
        long v;
        if (kms_num_parse_long(text, &v) != 0)
            return s_error(config, source, text, "expected a whole number");
        number = (double) v;
        *(long *) opt->value = v;
        break;
    }
    case KMS_OPT_PORT:
    case KMS_OPT_PORT_OFF: {
        long v;
        bool off = opt->type == KMS_OPT_PORT_OFF;
        if (off && strcasecmp(text, "off") == 0)
            v = KMS_PORT_OFF;
        else if (kms_num_parse_long(text, &v) != 0 || v < 0 || v > 65535)
            return s_error(config, source, text,
                           off ? "expected a port (0-65535, 0: any free one) or off"
                               : "expected a port (0-65535, 0: any free one)");
        *(long *) opt->value = v;
        return KMS_CONFIG_OK;
    }
    case KMS_OPT_DOUBLE:
        if (kms_num_parse_double(text, &number) != 0 || !isfinite(number))
            return s_error(config, source, text, "expected a number");
        *(double *) opt->value = number;
        break;
    }
    if ((opt->min != 0 || opt->max != 0) && (number < opt->min || number > opt->max)) {
        snprintf(why, sizeof why, "must be between %g and %g", opt->min, opt->max);
        return s_error(config, source, text, why);
    }
    return KMS_CONFIG_OK;
}

/* The --help text, on stdout. */
static void s_usage(const kms_config_t *config)
{
    printf("Usage: %s %s\n\n%s\n\nOptions (flag, environment variable, default):\n", config->program,
           config->usage ? config->usage : "[OPTIONS]", config->summary);
    for (const kms_option_t *opt = config->options; opt->name; opt++) {
        char names[256];
        printf("  --%s %s\n      %s", opt->name,
               opt->type == KMS_OPT_BOOL ? "[true|false]"
               : opt->type == KMS_OPT_ENUM
                   ? s_names(((const kms_opt_text_t *) opt->value)->names, "|", names, sizeof names)
                   : s_type_names[opt->type],
               opt->help);
        if (opt->env)
            printf(" (env %s)", opt->env);
        if (opt->def)
            printf(" [default: %s]", opt->def);
        printf("\n");
    }
    printf("  --help\n      print this help and exit\n  --version\n      print the version and exit\n"
           "\nLogs go to stderr as logfmt; KMS_LOG_LEVEL=debug|info|warn|error sets the level.\n");
}

int kms_config_exit_status(int rc)
{
    return rc == KMS_CONFIG_EXIT ? 0 : 2;
}

static const kms_option_t *s_find(const kms_config_t *config, const char *name, size_t len)
{
    for (const kms_option_t *opt = config->options; opt->name; opt++)
        if (strlen(opt->name) == len && strncmp(opt->name, name, len) == 0)
            return opt;
    return NULL;
}

static int s_parse_args(const kms_config_t *config, int argc, char **argv, int *positional)
{
    int kept = 1;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (options_done || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (!options_done && strcmp(arg, "--") == 0) {
                options_done = true;
                continue;
            }
            if (!positional) {
                fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", config->program, arg);
                return KMS_CONFIG_ERROR;
            }
            argv[kept++] = arg;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen(name);
        if (!eq && strcmp(name, "help") == 0) {
            s_usage(config);
            return KMS_CONFIG_EXIT;
        }
        if (!eq && strcmp(name, "version") == 0) {
            printf("%s %s\n", config->program, KMS_VERSION);
            return KMS_CONFIG_EXIT;
        }
        const kms_option_t *opt = s_find(config, name, len);
        if (!opt) {
            fprintf(stderr, "%s: unknown option '--%.*s' (see --help)\n", config->program, (int) len, name);
            return KMS_CONFIG_ERROR;
        }
        const char *text = eq ? eq + 1 : NULL;
        if (!text && opt->type == KMS_OPT_BOOL)
            text = "true";
        if (!text) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: option '--%s' needs a value\n", config->program, opt->name);
                return KMS_CONFIG_ERROR;
            }
            text = argv[++i];
        }
        char source[128];
        snprintf(source, sizeof source, "--%s", opt->name);
        int rc = s_assign(config, opt, text, source);
        if (rc != KMS_CONFIG_OK)
            return rc;
    }
    if (positional)
        *positional = kept - 1;
    if (kept < argc)
        argv[kept] = NULL;
    return KMS_CONFIG_OK;
}

int kms_config_parse(const kms_config_t *config, int argc, char **argv, int *positional)
{
    if (kms_log_init(config->program) != 0)
        return s_error(config, "KMS_LOG_LEVEL", getenv("KMS_LOG_LEVEL"), "expected debug, info, warn or error");
    for (const kms_option_t *opt = config->options; opt->name; opt++) {
        const char *env = opt->env ? getenv(opt->env) : NULL;
        int rc = opt->def ? s_assign(config, opt, opt->def, opt->name) : KMS_CONFIG_OK;
        if (rc == KMS_CONFIG_OK && env && *env)
            rc = s_assign(config, opt, env, opt->env);
        if (rc != KMS_CONFIG_OK)
            return rc;
    }
    return s_parse_args(config, argc, argv, positional);
}

int kms_config_split(const char *list, kms_config_item_fn each, void *arg)
{
    char *copy = strdup(list ? list : "");
    if (!copy)
        return -1;
    int count = 0;
    char *save = NULL;
    /* strtok_r skips empty items between commas; an item of blanks alone is skipped below */
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        item += strspn(item, " \t");
        size_t len = strlen(item);
        while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            item[--len] = '\0';
        if (len > 0 && each(item, count++, arg) != 0) {
            count = -1;
            break;
        }
    }
    free(copy);
    return count;
}
