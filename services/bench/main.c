/* kms-bench: dispatches to the subcommand named by the first argument. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *usage;
    const char *summary;
    int (*run)(int argc, char **argv);
} command_t;

#define KMS_BENCH_ENTRY(name, usage, summary) {#name, usage, summary, bench_##name##_main},
static const command_t s_commands[] = {KMS_BENCH_COMMANDS(KMS_BENCH_ENTRY)};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

static void s_usage(FILE *out)
{
    fputs("Usage: kms-bench COMMAND [ARGS] [OPTIONS]\n\n"
          "Measures the hot paths of the Kepler Model Server.\n\nCommands:\n",
          out);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %s %s\n      %s\n", s_commands[i].name, s_commands[i].usage, s_commands[i].summary);
    fprintf(out, "\n'kms-bench COMMAND --help' lists a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        s_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kms-bench %s\n", KMS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(argv[1], s_commands[i].name) == 0)
            return s_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kms-bench: unknown command '%s' (see --help)\n", argv[1]);
    return 2;
}
