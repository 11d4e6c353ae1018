"""Times Debian's python3-prometheus-client text parser on one page, for scripts/bench.

Prints one line: MBps=<fastest of 5 rounds, 10^6 bytes per second> series=<samples per parse>
MBps_mean=<all rounds> iterations=<n>.
Every family and sample is consumed, as a scraper would; runs for about `seconds`.
"""
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

ROUNDS = 5


def parse_once(text):
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def main(path, seconds=2.0):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    size = len(text.encode("utf-8"))
    series = parse_once(text)
    # As kms-bench does: ROUNDS rounds, the fastest is the parser's speed on a shared machine.
    total_iterations, total_elapsed, best = 0, 0.0, 0.0
    for _ in range(ROUNDS):
        iterations, start = 0, time.perf_counter()
        while True:
            parse_once(text)
            iterations += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / ROUNDS:
                break
        best = max(best, size * iterations / elapsed / 1e6)
        total_iterations += iterations
        total_elapsed += elapsed
    print(f"MBps={best:.2f} series={series} MBps_mean={size * total_iterations / total_elapsed / 1e6:.2f} "
          f"iterations={total_iterations}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 2.0)
