"""scripts/bench's 'fleet' section: what kms-scraper's --prometheus-url query costs when Debian's
Prometheus holds a fleet of Kepler 0.11-like nodes, with the selector of every Kepler series
(before) and the default one of the families the node samples need (docs/scraper.md).

    /usr/bin/python3 scripts/lib/fleet_bench.py BIN_DIR NODES PROCESSES [SCRAPER_SECONDS [SELECTORS]]

One kepler-sim --nodes NODES --format 0.10 --containers PROCESSES serves every node; Prometheus
scrapes each at /node/<i>/metrics every 5 s (static targets, __metrics_path__ and instance set
per target) until its 60 s window is full. Then the very query the scraper sends,
<selector>[60s] as an instant query on /api/v1/query, is asked three times per selector with
curl: bytes, seconds (the median), series; with the default selector, the query of each node's
cpus that the scraper asks with it too (counted in bytes and seconds). With SCRAPER_SECONDS > 0,
kms-scraper then runs that long at a 5 s interval per selector (its own default, or every Kepler
series with --prometheus-selector), with a kms-trainer learning what it publishes: the cpu
(percent of one core) and peak resident memory of each, and the samples the trainer accepted.
SELECTORS (comma separated, default both: every_kepler_series, node_families) are those the
scraper runs on; at 1,000 nodes the scraper on every series would hold gigabytes. Prints one key=value line per selector.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from procstat import cpu_seconds, free_port, peak_rss_kb
from publishers_bench import stats

INTERVAL = 5       # seconds between Prometheus' scrapes, and the scraper's cycles
WINDOW = 60        # the scraper's range: the larger of 60 s and three intervals
EVERY = '{__name__=~"kepler_.+|node_energy_stat|pod_energy_stat|pod_curr_energy_in_.+"}'
PROMETHEUS = "/usr/bin/prometheus"


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def logged_port(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            for line in f:
                if "msg=listening" in line and " port=" in line:
                    return int(line.rsplit(" port=", 1)[1].split()[0])
        time.sleep(0.05)
    raise SystemExit(f"fleet_bench: no listening line in {path}")


def get(url, timeout=120):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def default_queries(bin_dir):
    """The scraper's own default queries, as it asks them of a stand-in server: its range selector
    (without the [window]) and the query of each node's cpus that goes with it."""
    from http.server import BaseHTTPRequestHandler, HTTPServer
    import threading
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            body = b'{"status":"success","data":{"resultType":"matrix","result":[]}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scraper = subprocess.Popen([os.path.join(bin_dir, "kms-scraper"), "--prometheus-url",
                                f"http://127.0.0.1:{server.server_address[1]}", "--publish", "@tcp://127.0.0.1:*",
                                "--interval", "0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    scraper.terminate()
    scraper.wait()
    server.shutdown()
    queries = [urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["query"][0] for path in seen[:2]]
    ranged = [q for q in queries if q.endswith("s]")]
    cpus = [q for q in queries if not q.endswith("s]")]
    if len(ranged) != 1 or len(cpus) != 1:
        raise SystemExit(f"fleet_bench: expected a range query and a cpus query, the scraper asked {queries}")
    return ranged[0].rsplit("[", 1)[0], cpus[0]


def measure_query(base, query, answer):
    url = f"{base}/api/v1/query?query={urllib.parse.quote(query)}"
    times, size = [], 0
    for _ in range(3):
        out = subprocess.run(["curl", "-sS", "-o", answer, "-w", "%{size_download} %{time_total}",
                              url], capture_output=True, text=True, check=True).stdout.split()
        size, seconds = int(out[0]), float(out[1])
        times.append(seconds)
    with open(answer, "rb") as f:
        result = json.load(f)["data"]["result"]
    os.unlink(answer)
    points = sum(len(r.get("values", [])) for r in result)
    return size, statistics.median(times), len(result), points


def measure_scraper(bin_dir, base, extra, seconds, tmp):
    """kms-scraper on the query, and a kms-trainer learning what it publishes, for `seconds`:
    each one's cpu (percent of one core) and peak memory, the node samples published, failures,
    and the node samples the trainer accepted."""
    log = open(os.path.join(tmp, "scraper.log"), "w")
    scraper = start([os.path.join(bin_dir, "kms-scraper"), "--prometheus-url", base,
                     "--publish", "@tcp://127.0.0.1:*", "--interval", str(INTERVAL), "--stats-interval", "0", *extra], log)
    control = f"tcp://127.0.0.1:{free_port()}"
    trainer = start([os.path.join(bin_dir, "kms-trainer"), "--samples", f">tcp://127.0.0.1:{logged_port(log.name)}",
                     "--control", "@" + control, "--data-dir", os.path.join(tmp, "trainer-data")],
                    subprocess.DEVNULL)
    time.sleep(seconds)
    cpu, rss = cpu_seconds(scraper.pid), peak_rss_kb(scraper.pid)
    trainer_cpu, trainer_rss = cpu_seconds(trainer.pid), peak_rss_kb(trainer.pid)
    got = stats(control)
    for p in (scraper, trainer):
        p.terminate()
        p.wait()
    log.close()

    def last(path, what, key):
        with open(path) as f:
            lines = [line for line in f if what in line]
        return lines[-1].split(f" {key}=")[1].split()[0] if lines and f" {key}=" in lines[-1] else "?"
    return (f" scraper_core_percent={100 * cpu / seconds:.1f} scraper_peak_rss_kb={rss}"
            f" scraper_node_samples={last(log.name, 'scrape stats', 'node_samples')}"
            f" scraper_failures={last(log.name, 'scrape stats', 'failures')}"
            f" trainer_core_percent={100 * trainer_cpu / seconds:.1f} trainer_peak_rss_kb={trainer_rss}"
            f" trainer_received={got['samples_received'] - got['container_samples']}"
            f" trainer_accepted={got['samples_accepted']} trainer_rejected_values={got['rejected_values']}"
            f" trainer_rejected_interval={got['rejected_interval']} trainer_rejected_time={got['rejected_time']}"
            f" trainer_seq_gaps={got['seq_gaps']}")


def start_prometheus(tmp, sim_port, nodes):
    """Debian's Prometheus scraping kepler-sim's nodes 0..nodes-1 every INTERVAL: (process, base URL)."""
    targets = [{"targets": [f"127.0.0.1:{sim_port}"],
                "labels": {"__metrics_path__": f"/node/{i}/metrics", "instance": f"kepler-sim-node-{i}"}}
               for i in range(nodes)]
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:  # JSON is YAML
        json.dump({"global": {"scrape_interval": f"{INTERVAL}s", "scrape_timeout": f"{INTERVAL}s"},
                   "scrape_configs": [{"job_name": "kepler", "static_configs": targets}]}, f)
    port = free_port()
    process = start([PROMETHEUS, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                     f"--storage.tsdb.path={os.path.join(tmp, 'tsdb')}"],
                    open(os.path.join(tmp, "prometheus.log"), "w"))
    return process, f"http://127.0.0.1:{port}"


def main():
    bin_dir, nodes, processes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    scraper_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 0
    wanted = sys.argv[5].split(",") if len(sys.argv) > 5 else ["every_kepler_series", "node_families"]
    tmp = tempfile.mkdtemp(prefix="kms-fleet-")
    procs = []
    try:
        sim_log = os.path.join(tmp, "sim.log")
        procs.append(start([os.path.join(bin_dir, "kepler-sim"), "--port", "0", "--listen", "127.0.0.1",
                            "--format", "0.10", "--nodes", str(nodes), "--containers", str(processes)],
                           open(sim_log, "w")))
        sim_port = logged_port(sim_log)
        prometheus, base = start_prometheus(tmp, sim_port, nodes)
        procs.append(prometheus)
        # The window full: every node scraped for WINDOW seconds.
        time.sleep(WINDOW + INTERVAL)
        up = json.loads(get(f"{base}/api/v1/query?query=" + urllib.parse.quote("sum(up)")))["data"]["result"]
        nodes_up = int(float(up[0]["value"][1])) if up else 0
        new, cpus = default_queries(bin_dir)
        # Before: every Kepler series, and container samples published; now: the default, with
        # its query of the nodes' cpus. (4 GiB answers allowed: every Kepler series of 100 such
        # nodes is past the 64 MiB default.)
        for name, selector, extra in (("every_kepler_series", EVERY, ["--prometheus-selector", EVERY,
                                                                       "--prometheus-containers",
                                                                       "--max-body-bytes", "4294967296"]),
                                      ("node_families", new, [])):
            answer = os.path.join(tmp, "answer.json")
            size, seconds, series, points = measure_query(base, f"{selector}[{WINDOW}s]", answer)
            line = f"selector={name} nodes={nodes} nodes_up={nodes_up} processes={processes}"
            if name == "node_families":
                cpus_size, cpus_seconds, cpus_series, _ = measure_query(base, cpus, answer)
                line += f" cpus_query_bytes={cpus_size} cpus_query_seconds={cpus_seconds:.3f} cpus_series={cpus_series}"
                size, seconds = size + cpus_size, seconds + cpus_seconds
            line += f" bytes={size} seconds={seconds:.3f} series={series} points={points}"
            if scraper_seconds > 0 and name in wanted:
                line += measure_scraper(bin_dir, base, extra, scraper_seconds, tmp)
            print(line, flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
