"""scripts/bench's 'targets' section: one kms-scraper fetching NODES Kepler pages every 5 s
(--kepler-url, a comma list), with SLOW targets that take connections and never answer and as
many dead ones that refuse them; and Debian's Prometheus scraping the same live pages at the same
interval, the peer, in the same run.

    /usr/bin/python3 scripts/lib/targets_bench.py BIN_DIR NODES SLOW SECONDS

One kepler-sim --nodes NODES --format 0.10 --containers 10 serves every page (Kepler 0.11-like,
some 60 kB each). A Python subscriber takes the scraper's kepler.node samples with their arrival
times; a cycle is a burst of arrivals (a gap of 2 s or more ends it). Printed, one key=value line
per program: for the scraper, the cycles seen whole, the nodes per cycle (every live one is
the goal), the spread from the first node's sample of a cycle to the last one's (the fetch of
every page, slow and dead ones included, in one cycle), its cpu (percent of one core) and peak
resident memory over SECONDS; for Prometheus, its cpu and peak memory over SECONDS of the same
scrapes, and the targets it saw up.
"""
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse

import msgpack
import zmq

from fleet_bench import INTERVAL, get, logged_port, start, start_prometheus
from procstat import cpu_seconds, peak_rss_kb

GAP = 2.0  # seconds without a sample that end a cycle's burst


def silent_targets(count):
    """`count` URLs that take the connection and never answer (one listening socket that never
    accepts: the kernel completes the handshakes), and `count` that refuse it (a bound socket
    that never listens). The sockets are returned to be kept open."""
    slow = socket.socket()
    slow.bind(("127.0.0.1", 0))
    slow.listen(4 * count)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    urls = [f"http://127.0.0.1:{s.getsockname()[1]}/slow/{i}" for s in (slow, dead) for i in range(count)]
    return urls, [slow, dead]


def cycles(arrivals):
    """Bursts of (time, node) arrivals split at gaps of GAP seconds; the first and last bursts,
    which the measure may have cut, are left out."""
    bursts, current = [], []
    for t, node in arrivals:
        if current and t - current[-1][0] >= GAP:
            bursts.append(current)
            current = []
        current.append((t, node))
    bursts.append(current)
    return bursts[1:-1]


def measure_scraper(bin_dir, urls, seconds, tmp):
    log = open(os.path.join(tmp, "scraper.log"), "w")
    scraper = start([os.path.join(bin_dir, "kms-scraper"), "--kepler-url", ",".join(urls), "--publish",
                     "@tcp://127.0.0.1:*", "--interval", str(INTERVAL), "--stats-interval", "0"], log)
    port = logged_port(log.name)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"kepler.node")
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(f"tcp://127.0.0.1:{port}")
    time.sleep(2 * INTERVAL)  # the first cycle gives no sample (one page is no interval)
    cpu0 = cpu_seconds(scraper.pid)
    arrivals, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sub.poll(100):
            _, body = sub.recv_multipart()
            arrivals.append((time.monotonic(), msgpack.unpackb(body, raw=False)["node"]))
    cpu, rss = cpu_seconds(scraper.pid) - cpu0, peak_rss_kb(scraper.pid)
    sub.close(0)
    ctx.term()
    scraper.terminate()
    scraper.wait()
    whole = cycles(arrivals)
    nodes = [len({n for _, n in c}) for c in whole]
    spreads = [c[-1][0] - c[0][0] for c in whole]
    return (f"program=kms-scraper cycles={len(whole)} nodes_min={min(nodes, default=0)} "
            f"nodes_max={max(nodes, default=0)} spread_median_s={statistics.median(spreads) if spreads else 0:.2f} "
            f"spread_max_s={max(spreads, default=0):.2f} core_percent={100 * cpu / seconds:.1f} peak_rss_kb={rss}")


def measure_prometheus(sim_port, nodes, seconds, tmp):
    prometheus, base = start_prometheus(tmp, sim_port, nodes)
    try:
        time.sleep(2 * INTERVAL)  # started, and a first round of scrapes
        cpu0 = cpu_seconds(prometheus.pid)
        time.sleep(seconds)
        cpu, rss = cpu_seconds(prometheus.pid) - cpu0, peak_rss_kb(prometheus.pid)
        up = json.loads(get(f"{base}/api/v1/query?query=" + urllib.parse.quote("sum(up)")))["data"]["result"]
        return (f"program=prometheus up={int(float(up[0]['value'][1])) if up else 0} "
                f"core_percent={100 * cpu / seconds:.1f} peak_rss_kb={rss}")
    finally:
        prometheus.terminate()
        prometheus.wait()


def main():
    bin_dir, nodes, slow, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    tmp = tempfile.mkdtemp(prefix="kms-targets-")
    sim = None
    try:
        sim_log = os.path.join(tmp, "sim.log")
        sim = start([os.path.join(bin_dir, "kepler-sim"), "--port", "0", "--listen", "127.0.0.1", "--format", "0.10",
                     "--nodes", str(nodes), "--containers", "10"], open(sim_log, "w"))
        sim_port = logged_port(sim_log)
        silent, sockets = silent_targets(slow)
        live = [f"http://127.0.0.1:{sim_port}/node/{i}/metrics" for i in range(nodes)]
        sim_cpu0 = cpu_seconds(sim.pid)
        print(measure_scraper(bin_dir, live + silent, seconds, tmp) + f" live={nodes} slow={slow} dead={slow}",
              flush=True)
        print(f"program=kepler-sim core_percent={100 * (cpu_seconds(sim.pid) - sim_cpu0) / (seconds + 2 * INTERVAL):.1f}",
              flush=True)
        print(measure_prometheus(sim_port, nodes, seconds, tmp) + f" live={nodes}", flush=True)
        for s in sockets:
            s.close()
    finally:
        if sim:
            sim.terminate()
            sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
