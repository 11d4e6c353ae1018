/*  kms-bench: measures the hot paths, one subcommand each.

    A subcommand is a file bench_<name>.c with `int bench_<name>_main(int argc, char **argv)`,
    where argv[0] is the subcommand's name and the options follow. To add one, add a line to
    KMS_BENCH_COMMANDS below and its file to CMakeLists.txt. Results go to stdout as one line of
    key=value pairs, so that scripts/bench can pick numbers out with grep. */
#ifndef KMS_BENCH_H
#define KMS_BENCH_H

/*  X(name, usage, summary) */
/* clang-format off */
#define KMS_BENCH_COMMANDS(X) \
    X(parse, "FILE [--iterations N]", "parses a Prometheus text page N times; prints MBps= and series=") \
    X(train, "[--samples N] [--models M]", \
      "decodes and learns samples in the built-in models; prints samples_per_s= (or the memory of M models)") \
    X(publish, "[--nodes N] [--rounds R] [--interval S]", \
      "publishes node samples as N nodes into a kms-trainer; prints samples_per_s=")
/* clang-format on */

#define KMS_BENCH_DECLARE(name, usage, summary) int bench_##name##_main(int argc, char **argv);
KMS_BENCH_COMMANDS(KMS_BENCH_DECLARE)

#endif
