"""Times Debian's python3-prometheus-client text parser on one page, for scripts/bench.

Prints one line: MBps=<10^6 bytes per second> series=<samples per parse> iterations=<n>.
Every family and sample is consumed, as a scraper would; runs for about `seconds`.
"""
import sys
import time

from prometheus_client.parser import text_string_to_metric_families


def parse_once(text):
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def main(path, seconds=2.0):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    size = len(text.encode("utf-8"))
    series = parse_once(text)
    iterations, start = 0, time.perf_counter()
    while True:
        parse_once(text)
        iterations += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and iterations >= 3:
            break
    print(f"MBps={size * iterations / elapsed / 1e6:.2f} series={series} iterations={iterations}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 2.0)
