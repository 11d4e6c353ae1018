"""kms-scraper against local HTTP servers: the rates and watts it publishes, its faults, its
counters, its stop. Every expected number below is the hand-computed delta written in the
fixture pages' comments (tests/fixtures/kepler), or computed here from a real capture."""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import gzip
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest


import kepler_replay
from kmstest import (KEPLER_FIXTURES, SANITIZED, SLOWDOWN, ProcessTestCase, Subscriber, binary, free_port, http,
                     prom_scrape, refused_port, wait_for)

DUMP = os.path.join(KEPLER_FIXTURES, "kepler-0.7.1-prometheus-query_range-idle.json")
PROMETHEUS = "/usr/bin/prometheus"  # Debian's
# The selector kms-scraper asked Prometheus for before it asked for what the models need.
EVERY_KEPLER_SERIES = '{__name__=~"kepler_.+|node_energy_stat|pod_energy_stat|pod_curr_energy_in_.+"}'


def fixture(name):
    with open(os.path.join(KEPLER_FIXTURES, name), "rb") as f:
        return f.read()


class PageServer:
    """A loopback HTTP server whose paths each serve a sequence of pages (the last one stays)
    or misbehave on purpose."""

    def __init__(self):
        self.sequences = {}
        self.hits = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path
                with server.lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    count = server.hits[path]
                try:
                    if path == "/slow":
                        time.sleep(30)
                    elif path == "/500":
                        self._send(500, b"internal error\n")
                    elif path == "/truncated":
                        body = fixture("0.7-a.prom")
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body) + 5000))
                        self.end_headers()
                        self.wfile.write(body)
                        self.wfile.flush()
                        self.close_connection = True
                    elif path in ("/huge", "/huge-chunked"):
                        self.send_response(200)
                        chunk = b"# padding padding padding padding padding padding padding padding\n" * 16384
                        if path == "/huge":
                            self.send_header("Content-Length", str(100 * 1024 * 1024))
                        self.send_header("Connection", "close")
                        self.end_headers()
                        sent = 0
                        while sent < 100 * 1024 * 1024:
                            self.wfile.write(chunk)
                            sent += len(chunk)
                        self.close_connection = True
                    elif path in server.sequences:
                        pages = server.sequences[path]
                        page = pages[min(count, len(pages)) - 1]
                        if path.startswith("/gz"):  # gzip only: a client that cannot take it gets 406
                            if "gzip" in self.headers.get("Accept-Encoding", ""):
                                self._send(200, gzip.compress(page), {"Content-Encoding": "gzip"})
                            else:
                                self._send(406, b"gzip only\n")
                        else:
                            self._send(200, page)
                    else:
                        self._send(404, b"not found\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _send(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # faults on purpose: clients give up on them

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def moving(samples):
    """The samples from the first node sample with some package energy on (the pages' real
    interval, after the unchanged ones served while the SUB socket joined)."""
    for i, s in enumerate(samples):
        if s["topic"] == "kepler.node" and s["targets"].get("package", 0) > 0:
            return samples[i:]
    return []


def close(actual, expected, rel=1e-9):
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-9)


class ScraperTestCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.server = PageServer()
        self.sub = None

    def tearDown(self):
        if self.sub:
            self.sub.close()
        self.server.stop()
        super().tearDown()

    def scraper(self, *args, metrics=False):
        """kms-scraper publishing on any free port; with `metrics`, its own /metrics on any free
        port too, self.mport."""
        extra = ["--metrics-port", "0"] if metrics else []
        # Servers here count a page as served when they answer it: a fetch given up on a loaded
        # machine would lose a page of a sequence, so the tests that do not test timeouts wait.
        if "--timeout" not in args:
            extra += ["--timeout", "10"]
        scraper = self.subscribe(self.start("kms-scraper", "--publish", "@tcp://127.0.0.1:*", *extra, *args))
        if metrics:
            self.mport = scraper.logged_port("metrics")
        return scraper

    def subscribe(self, scraper):
        """self.sub on the port the scraper bound (any free one), connected as soon as it is
        logged: before the first scrape, and the first sample takes two."""
        self.sub = Subscriber(scraper.logged_port("samples"))
        return scraper


class TestRates(ScraperTestCase):
    def test_07_rates_and_watts_over_the_real_interval(self):
        # Unchanged pages first (zero rates) while the SUB socket joins, then the interval a -> b.
        self.server.sequences["/metrics"] = [fixture("0.7-a.prom")] * 3 + [fixture("0.7-b.prom")]
        self.scraper("--kepler-url", self.server.url("/metrics"), "--interval", "0.3")
        samples = self.sub.collect(10, until=lambda got: len(moving(got)) >= 3)
        samples = moving(samples)
        self.assertGreaterEqual(len(samples), 3, samples)
        node, c1 = samples[0], next(s for s in samples if s.get("container_id") == "c1")
        self.assertEqual(node["topic"], "kepler.node")
        for key in ("v", "seq", "ts", "dt", "node", "arch", "features", "targets"):
            self.assertIn(key, node)
        self.assertEqual(node["v"], 1)
        self.assertEqual(node["node"], "node-a")
        self.assertEqual(node["arch"], "Sapphire Rapids")
        dt = node["dt"]
        self.assertGreater(dt, 0.1)
        self.assertLess(dt, 10.0 * SLOWDOWN)
        self.assertLess(abs(node["ts"] - time.time()), 10 * SLOWDOWN)
        # Rates times the real interval give back the deltas written in 0.7-b.prom.
        expected_features = {"cpu_cycles": 6e8, "cpu_instructions": 4.5e8, "cache_misses": 7.5e5,
                             "cpu_time": 0.75}
        for name, delta in expected_features.items():
            self.assertTrue(close(node["features"][name] * dt, delta), (name, node["features"][name], dt))
        self.assertTrue(close(node["features"]["resident_memory"], 4e8))
        expected_joules = {"package": 300, "core": 0, "dram": 10, "platform": 100, "gpu": 5, "other": 1}
        self.assertEqual(set(node["targets"]), set(expected_joules))
        for name, joules in expected_joules.items():
            self.assertTrue(close(node["targets"][name] * dt, joules), (name, node["targets"][name], dt))
        self.assertEqual(c1["topic"], "kepler.container")
        self.assertEqual((c1["pod"], c1["namespace"], c1["container"]), ("app-1", "default", "app"))
        self.assertTrue(close(c1["features"]["cpu_cycles"] * c1["dt"], 5e8))
        self.assertTrue(close(c1["targets"]["package"] * c1["dt"], 10))
        self.assertFalse(any(s.get("container_id") in ("c3", "c4") for s in samples[:3]))
        seqs = [s["seq"] for s in samples]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))

    def test_gzip_encoded_pages_give_the_same_rates(self):
        self.server.sequences["/gz"] = [fixture("0.7-a.prom")] * 3 + [fixture("0.7-b.prom")]
        self.scraper("--kepler-url", self.server.url("/gz"), "--interval", "0.3")
        samples = moving(self.sub.collect(10, until=lambda got: len(moving(got)) >= 1))
        self.assertTrue(samples, "no sample from the gzip-encoded pages")
        self.assertTrue(close(samples[0]["targets"]["package"] * samples[0]["dt"], 300))

    def test_every_option_is_read_from_the_environment_and_flags_win(self):
        # Every option is also an environment variable; the flag wins over it.
        self.server.sequences["/env"] = [fixture("0.7-a.prom")] * 3 + [fixture("0.7-b.prom")]
        p = self.subscribe(self.start("kms-scraper", "--interval", "0.3", env={
            "KMS_KEPLER_URL": self.server.url("/env"), "KMS_SAMPLES_ENDPOINT": "@tcp://127.0.0.1:*",
            "KMS_SCRAPE_INTERVAL": "60", "KMS_SCRAPER_METRICS_PORT": "0",
            "KMS_SCRAPER_STATS_INTERVAL": "0.5"}))
        mport = p.logged_port("metrics")
        samples = moving(self.sub.collect(10, until=lambda got: len(moving(got)) >= 1))
        self.assertTrue(samples, "no sample with the environment's configuration")
        self.assertTrue(close(samples[0]["targets"]["package"] * samples[0]["dt"], 300))
        wait_for(lambda: "scrape stats" in p.output(), what="periodic stats line")
        status, _, body = http(f"http://127.0.0.1:{mport}/elsewhere")
        self.assertEqual(status, 404)

    def test_restart_gives_no_sample_and_no_negative_rate(self):
        self.server.sequences["/metrics"] = [fixture("0.9-a.prom")] * 3 + [
            fixture("0.9-b.prom"), fixture("0.9-restart.prom"), fixture("0.9-a.prom")]
        self.scraper("--kepler-url", self.server.url("/metrics"), "--interval", "0.3", metrics=True)
        samples = self.sub.collect(10, until=lambda got: sum(s["topic"] == "kepler.node" for s in moving(got)) >= 3)
        nodes = [s for s in moving(samples) if s["topic"] == "kepler.node"]
        self.assertGreaterEqual(len(nodes), 2)
        # a->b: 1.0 cpu-s, 40 J of package; restart->a: up again by (1000-3+3000-5) ms.
        self.assertTrue(close(nodes[0]["features"]["cpu_time"] * nodes[0]["dt"], 1.0))
        self.assertTrue(close(nodes[0]["targets"]["package"] * nodes[0]["dt"], 40))
        self.assertTrue(close(nodes[1]["features"]["cpu_time"] * nodes[1]["dt"], 3.992))
        for s in samples:
            for v in list(s["features"].values()) + list(s["targets"].values()):
                self.assertTrue(math.isfinite(v) and v >= 0, s)
        values, _ = prom_scrape(self.mport)
        target = self.server.url("/metrics")
        self.assertGreaterEqual(values[f'kms_scraper_resets_total{{target="{target}"}}'], 1)
        self.assertGreaterEqual(values[f'kms_scraper_intervals_without_sample_total{{target="{target}"}}'], 2)

    def test_010_pages_unwrap_rapl_and_03_pages_count_keplers_3_s_period(self):
        # The pages are 5 s apart in Kepler's time but served 0.3 s apart: their watts gauges
        # (which vouch for a RAPL unwrap) would not match, so they are left out here.
        def no_watts(name):
            return b"".join(line for line in fixture(name).splitlines(True) if b"_watts" not in line)

        self.server.sequences["/a"] = [no_watts("0.10-a.prom")] * 3 + [no_watts("0.10-b.prom")]
        # 0.3-b comes after a few unchanged pages (which give nothing), when the SUB is surely connected.
        self.server.sequences["/g"] = [fixture("0.3-a.prom")] * 4 + [fixture("0.3-b.prom")]
        self.scraper("--kepler-url", f'{self.server.url("/a")}, {self.server.url("/g")}', "--interval", "0.3")
        samples = self.sub.collect(10, until=lambda got: {s["node"] for s in moving(got)
                                                          if s["topic"] == "kepler.node"} >= {"node-c", "node-g"})
        samples += self.sub.collect(0.5)
        # node-c's own first moving sample: node-g's may come first or after it.
        rapl = moving([s for s in samples if s["node"] == "node-c"])[0]
        self.assertTrue(close(rapl["targets"]["package"] * rapl["dt"], 200))  # across the RAPL wrap
        self.assertTrue(close(rapl["targets"]["core"] * rapl["dt"], 150))
        self.assertTrue(close(rapl["features"]["cpu_time"] * rapl["dt"], 3.0))
        gauge = [s for s in samples if s["node"] == "node-g" and s["topic"] == "kepler.node"]
        # 0.3-a once at most (the SUB may not have joined yet), the unchanged pages never, then 0.3-b.
        self.assertIn(len(gauge), (1, 2), gauge)
        gauge = gauge[-1:]
        self.assertEqual(gauge[0]["arch"], "Haswell")
        self.assertEqual(gauge[0]["dt"], 3.0)  # Kepler 0.3's own period, not the scrape interval
        self.assertTrue(close(gauge[0]["targets"]["package"], 30))
        self.assertTrue(close(gauge[0]["targets"]["other"], 2))
        self.assertTrue(close(gauge[0]["features"]["cpu_cycles"], 2e9))
        self.assertTrue(close(gauge[0]["features"]["cpu_time"], 0.8))
        self.assertTrue(close(gauge[0]["features"]["resident_memory"], 6.5e8))
        web = [s for s in samples if s["node"] == "node-g" and s.get("pod") == "web-1"][-1]
        self.assertTrue(close(web["targets"]["package"], 15))
        self.assertTrue(close(web["features"]["cpu_time"], 0.4))


class TestNothingAbsurd(ScraperTestCase):
    """Pages that once made the scraper publish megawatts or a socket short."""

    def test_010_restart_without_watts_gauges_is_no_wrap(self):
        def no_watts(page):
            return b"".join(line for line in page.splitlines(True) if b"_watts" not in line)

        b = fixture("0.10-b.prom")
        # Every zone counting again from a few joules: RAPL restarted, it did not wrap three times.
        restarted = b.replace(b'zone="package"} 56.67115', b'zone="package"} 2.5').replace(
            b'zone="core"} 1150', b'zone="core"} 1.5').replace(b'zone="dram"} 525', b'zone="dram"} 0.5')
        self.assertNotEqual(restarted, b)
        self.server.sequences["/metrics"] = [no_watts(b)] * 3 + [no_watts(restarted)] * 2
        self.scraper("--kepler-url", self.server.url("/metrics"), "--interval", "0.3", metrics=True)
        target = self.server.url("/metrics")
        resets = f'kms_scraper_resets_total{{target="{target}"}}'
        samples = self.sub.collect(10, until=lambda got: prom_scrape(self.mport)[0].get(resets, 0) >= 3)
        self.assertGreaterEqual(prom_scrape(self.mport)[0][resets], 3)  # the three zones fell together
        self.assertEqual(prom_scrape(self.mport)[0][f'kms_scraper_rapl_wraps_total{{target="{target}"}}'], 0)
        for s in samples + self.sub.collect(0.5):
            for v in s["targets"].values():
                self.assertLess(v, 1000, s)  # before: ~1,048,000 W taken for RAPL wraps

    def test_07_nan_and_duplicate_series_spoil_their_target(self):
        a, b = fixture("0.7-a.prom"), fixture("0.7-b.prom")
        line = b'kepler_node_package_joules_total{instance="node-a",mode="dynamic",package="1",source="rapl"} 260'
        nan = b.replace(line, line.replace(b"} 260", b"} NaN"))
        core = b'kepler_node_core_joules_total{instance="node-a",mode="idle",package="0",source="rapl"} 0\n'
        duplicate = a.replace(core, core + core.replace(b"} 0", b"} 9e6"))
        self.assertNotEqual(nan, b)
        self.assertNotEqual(duplicate, a)
        self.server.sequences["/metrics"] = [a] * 3 + [nan, duplicate, b]
        self.scraper("--kepler-url", self.server.url("/metrics"), "--interval", "0.3", metrics=True)
        target = self.server.url("/metrics")
        key = 'kms_scraper_spoiled_total{{target="{}",reason="{}"}}'
        samples = self.sub.collect(10, until=lambda got: prom_scrape(self.mport)[0].get(key.format(target, "duplicate"), 0) >= 1
                                   and prom_scrape(self.mport)[0].get(key.format(target, "nonfinite"), 0) >= 1)
        self.assertGreaterEqual(prom_scrape(self.mport)[0][key.format(target, "duplicate")], 1)
        self.assertGreaterEqual(prom_scrape(self.mport)[0][key.format(target, "nonfinite")], 1)
        nodes = [s for s in samples if s["topic"] == "kepler.node" and s["targets"]]
        self.assertTrue(any("package" not in s["targets"] for s in nodes), nodes)  # not half of it
        for s in samples + self.sub.collect(0.5):
            for v in s["targets"].values():
                self.assertTrue(math.isfinite(v) and 0 <= v < 1e5, s)  # before: 10,008,763 W
        self.assertEqual(prom_scrape(self.mport)[0][key.format(target, "jump")], 0)

    def test_08_a_target_spoiled_every_interval_is_counted_each_time_and_logged_on_decades(self):
        a = fixture("0.7-a.prom")
        core = b'kepler_node_core_joules_total{instance="node-a",mode="idle",package="0",source="rapl"} 0\n'
        self.assertIn(core, a)
        self.server.sequences["/metrics"] = [a] + [a.replace(core, core + core)] * 1000
        p = self.scraper("--kepler-url", self.server.url("/metrics"), "--interval", "0.05", metrics=True)
        key = f'kms_scraper_spoiled_total{{target="{self.server.url("/metrics")}",reason="duplicate"}}'
        self.sub.collect(30, until=lambda got: prom_scrape(self.mport)[0].get(key, 0) >= 25)
        spoiled = prom_scrape(self.mport)[0][key]
        self.assertGreaterEqual(spoiled, 25)
        lines = [l for l in p.output().splitlines() if "cannot give" in l and "reason=duplicate" in l]
        # Before: one warning per interval. Now the 1st, the 10th, (the 100th) of them.
        self.assertGreaterEqual(len(lines), 2, lines)
        self.assertLessEqual(len(lines), 3, lines)
        self.assertIn("intervals=10 ", lines[1] + " ")


class TestFaults(ScraperTestCase):
    def test_faulty_targets_are_counted_and_never_delay_the_good_one(self):
        self.server.sequences["/good"] = [fixture("0.7-a.prom"), fixture("0.7-b.prom")]
        paths = ["/good", "/slow", "/500", "/truncated", "/huge", "/huge-chunked", "/missing"]
        urls = ",".join(self.server.url(p) for p in paths)
        interval = 0.5
        self.scraper("--kepler-url", urls, "--interval", str(interval), "--timeout", "1.2",
                     "--max-body-bytes", str(8 * 1024 * 1024), metrics=True)
        window = 4.0
        samples = self.sub.collect(window)
        nodes = [s for s in samples if s["topic"] == "kepler.node"]
        # The good target is scraped every interval: one node sample per interval after the first.
        # (Bounds for a loaded machine: on an idle one every interval gives its sample.)
        self.assertGreaterEqual(len(nodes), int(window * SLOWDOWN / interval * 0.4), len(nodes))
        gaps = [b["ts"] - a["ts"] for a, b in zip(nodes, nodes[1:])]
        self.assertLess(max(gaps), interval * 3 * SLOWDOWN, gaps)
        self.assertEqual({s["node"] for s in samples}, {"node-a"})
        values, text = prom_scrape(self.mport)

        def failures(path, cause):
            return values[f'kms_scraper_scrape_failures_total{{target="{self.server.url(path)}",cause="{cause}"}}']

        self.assertGreaterEqual(failures("/slow", "timeout"), 1)
        self.assertGreaterEqual(failures("/500", "http_status"), 1)
        self.assertGreaterEqual(failures("/missing", "http_status"), 1)
        self.assertGreaterEqual(failures("/truncated", "truncated"), 1)
        self.assertGreaterEqual(failures("/huge", "too_large"), 1)
        self.assertGreaterEqual(failures("/huge-chunked", "too_large"), 1)
        for cause in ("timeout", "connect", "http_status", "too_large", "truncated", "parse"):
            self.assertEqual(failures("/good", cause), 0, cause)
        self.assertGreaterEqual(values[f'kms_scraper_scrapes_skipped_total{{target="{self.server.url("/slow")}"}}'], 1)
        self.assertGreaterEqual(values['kms_scraper_samples_published_total{topic="kepler.node"}'], len(nodes))
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_dead_and_garbage_targets_are_counted_and_logged_once(self):
        self.server.sequences["/garbage"] = [b"<html>not metrics</html>\n"]
        dead = f"http://127.0.0.1:{refused_port()}/metrics"
        p = self.scraper("--kepler-url", f'{dead},{self.server.url("/garbage")}', "--interval", "0.2",
                         metrics=True)

        def counted():
            values, _ = prom_scrape(self.mport)
            return (values[f'kms_scraper_scrape_failures_total{{target="{dead}",cause="connect"}}'] >= 2 and
                    values[f'kms_scraper_scrape_failures_total{{target="{self.server.url("/garbage")}",'
                           f'cause="parse"}}'] >= 2)

        wait_for(counted, what="connect and parse failures counted")
        # Each failing target is reported once, not at every cycle: the counters carry the rest.
        self.assertEqual(p.output().count("cause=connect"), 1, p.output())
        self.assertEqual(p.output().count("cause=parse"), 1, p.output())

    def test_a_hanging_connect_times_out_at_connect_timeout_not_timeout(self):
        # A listener that never accepts, its queue full: connections to it hang in the handshake.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(listener.getsockname())
            fillers.append(f)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
        try:
            self.scraper("--kepler-url", url, "--interval", "1", "--timeout", "5", "--connect-timeout", "0.3",
                         metrics=True)
            key = f'kms_scraper_scrape_failures_total{{target="{url}",cause="timeout"}}'
            wait_for(lambda: prom_scrape(self.mport)[0][key] >= 2, what="connect timeouts counted")
            values, _ = prom_scrape(self.mport)
            mean = (values[f'kms_scraper_scrape_duration_seconds_sum{{target="{url}"}}'] /
                    values[f'kms_scraper_scrape_duration_seconds_count{{target="{url}"}}'])
            self.assertLess(mean, 1.0 * SLOWDOWN)  # the connect timeout, not the 5 s total one
            self.assertGreater(mean, 0.25)
        finally:
            for f in fillers:
                f.close()
            listener.close()

    def test_sigterm_abandons_a_slow_scrape(self):
        self.server.sequences["/good"] = [fixture("0.7-a.prom")]
        p = self.scraper("--kepler-url", f'{self.server.url("/slow")},{self.server.url("/good")}',
                         "--interval", "0.2", "--timeout", "60")
        wait_for(lambda: self.server.hits.get("/slow", 0) >= 1, what="slow request started")
        time.sleep(0.3)  # pacing: SIGTERM comes inside the slow request, not as it starts
        started = time.monotonic()
        self.assertEqual(p.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 1.0 * SLOWDOWN)
        self.assertIn("stopped", p.output())


class TestConfig(ProcessTestCase):
    def run_scraper(self, *args):
        return subprocess.run([binary("kms-scraper"), *args], capture_output=True, text=True,
                              timeout=20 * SLOWDOWN)

    def test_help_names_every_option_and_a_bad_value_exits_2_in_one_line(self):
        r = self.run_scraper("--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--kepler-url", "--prometheus-url", "--prometheus-selector", "--prometheus-containers",
                       "--interval", "--publish", "--metrics-port", "--max-body-bytes", "--timeout"):
            self.assertIn(option, r.stdout)
        self.assertEqual(self.run_scraper("--version").returncode, 0)
        publish = ["--publish", "@tcp://127.0.0.1:*"]
        for args, option in ((["--kepler-url", "ftp://x/metrics", *publish], "kepler-url"),
                             (["--kepler-url", " , ", *publish], "kepler-url"),
                             (["--interval", "0", *publish], "interval"),
                             (["--interval", "abc", *publish], "interval"),
                             (["--prometheus-url", "not a url", *publish], "prometheus-url"),
                             (["--publish", "@nonsense://x"], "publish")):
            r = self.run_scraper(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(option, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class TestRealCapture(ScraperTestCase):
    """The 0.7.1 capture, replayed page by page, and as a Prometheus API answer."""

    def setUp(self):
        super().setUp()
        self.dump = kepler_replay.load_dump(DUMP)
        self.steps = kepler_replay.steps(self.dump)
        # The first API answers are empty (Prometheus has not scraped yet): by the time the capture
        # comes, the SUB socket has joined.
        # and the first page is served a few times over (zero rates) for the same reason.
        self.replay = kepler_replay.ReplayServer(self.dump, 0, empty_answers=3, hold_first=3).start()
        self.replay_port = self.replay.httpd.server_address[1]

    def tearDown(self):
        self.replay.stop()
        super().tearDown()

    def node_delta(self, family, k):
        """The node's joules between steps k-1 and k, summed over its series."""
        total = 0.0
        for r in self.dump[family]:
            v = dict(r["values"])
            total += float(v[self.steps[k]]) - float(v[self.steps[k - 1]])
        return total

    def container_delta(self, family, k):
        """The sum of per-container deltas over the containers present at both steps."""
        total = 0.0
        for r in self.dump[family]:
            v = dict(r["values"])
            if self.steps[k] in v and self.steps[k - 1] in v:
                total += float(v[self.steps[k]]) - float(v[self.steps[k - 1]])
        return total

    def test_a_replayed_capture_gives_its_own_rates_step_by_step(self):
        self.scraper("--kepler-url", f"http://127.0.0.1:{self.replay_port}/metrics", "--interval", "0.3")
        n = len(self.steps) - 1
        # n intervals, and the (unchanged) one after, so that the n-th's containers are all in.
        samples = self.sub.collect(15, until=lambda got: sum(s["topic"] == "kepler.node" for s in moving(got)) > n)
        samples = moving(samples)
        nodes = [s for s in samples if s["topic"] == "kepler.node"]
        self.assertGreaterEqual(len(nodes), n)
        for k, node in enumerate(nodes[:n], start=1):
            self.assertEqual(node["node"], "kind-fms-control-plane")
            self.assertEqual(node["arch"], "Broadwell")
            dt = node["dt"]
            self.assertTrue(close(node["targets"]["package"] * dt,
                                  self.node_delta("kepler_node_package_joules_total", k), 1e-7), k)
            self.assertTrue(close(node["targets"]["dram"] * dt,
                                  self.node_delta("kepler_node_dram_joules_total", k), 1e-7), k)
            self.assertTrue(close(node["features"]["cpu_cycles"] * dt,
                                  self.container_delta("kepler_container_cpu_cycles_total", k), 1e-7), k)
            self.assertTrue(close(node["features"]["cpu_time"] * dt,
                                  self.container_delta("kepler_container_bpf_cpu_time_us_total", k) * 1e-3, 1e-7), k)
        # After each node sample, one sample per container present at both steps.
        groups, k = {}, 0
        for s in samples:
            if s["topic"] == "kepler.node":
                k += 1
            elif k <= n:
                groups.setdefault(k, []).append(s["container_id"])
        for k in range(1, n + 1):
            ids = [{dict(r["metric"])["container_id"] for r in self.dump["kepler_container_cpu_cycles_total"]
                    if step in dict(r["values"])} for step in (self.steps[k - 1], self.steps[k])]
            self.assertEqual(sorted(groups.get(k, [])), sorted(ids[0] & ids[1]), k)

    def test_prometheus_api_mode_gives_the_captures_rates_at_its_timestamps(self):
        self.replay.answer()  # rendered before the scraper asks
        self.scraper("--prometheus-url", f"http://127.0.0.1:{self.replay_port}/", "--interval", "0.3",
                     metrics=True)
        n = len(self.steps) - 1
        samples = self.sub.collect(10, until=lambda got: sum(s["topic"] == "kepler.node" for s in got) >= n)
        nodes = [s for s in samples if s["topic"] == "kepler.node"]
        self.assertEqual(len(nodes), n)
        # Prometheus' own timestamps: 15 s, 15 s, 21 s... and the rates of the capture itself.
        for k, node in enumerate(nodes, start=1):
            self.assertEqual(node["dt"], self.steps[k] - self.steps[k - 1])
            self.assertEqual(node["ts"], self.steps[k])
            self.assertTrue(close(node["targets"]["package"] * node["dt"],
                                  self.node_delta("kepler_node_package_joules_total", k)))
        self.assertTrue(close(nodes[0]["targets"]["package"], 132.6032666666666))
        # Later answers hold the same points: nothing is published twice.
        more = self.sub.collect(1.0)
        self.assertEqual([s for s in more if s["topic"] == "kepler.node"], [])
        self.assertGreaterEqual(len(self.replay.queries), 2)
        self.assertIn("/api/v1/query?query=", self.replay.queries[0])
        # Each query reaches back only to the last answer (less two intervals and 5 s): at 0.3 s,
        # 6 or 7 s, a tenth of a minute's points to send; the first one, to no answer, 6 s.
        windows = [int(w) for q in self.replay.queries for w in re.findall(r"%5B([0-9]+)s%5D", q)]
        self.assertEqual(len(windows), len(self.replay.queries), self.replay.queries[:2])
        self.assertEqual(windows[0], 6)
        self.assertLessEqual(max(windows), 8, windows)
        # Each range is asked for after the nodes' cpus (kepler_node_cpu_info counted apart).
        self.assertGreaterEqual(len(self.replay.cpus_queries), len(self.replay.queries))

    def test_prometheus_api_mode_diffs_each_node_on_its_own(self):
        # The capture twice over, the second copy as another node: each node diffed on its own.
        other = json.loads(json.dumps(self.dump).replace('"kind-fms-control-plane"', '"other-node"'))
        self.replay.dump = {name: self.dump[name] + other[name] for name in self.dump}
        self.replay.answer()  # rendered before the scraper asks
        self.scraper("--prometheus-url", f"http://127.0.0.1:{self.replay_port}", "--interval", "0.3",
                     "--prometheus-containers")
        n = len(self.steps) - 1
        samples = self.sub.collect(20, until=lambda got: sum(s["topic"] == "kepler.node" for s in got) >= 2 * n)
        nodes = [s for s in samples if s["topic"] == "kepler.node"]
        self.assertEqual(sorted(s["node"] for s in nodes), ["kind-fms-control-plane"] * n + ["other-node"] * n)
        for name in ("kind-fms-control-plane", "other-node"):
            first = next(s for s in nodes if s["node"] == name)
            self.assertTrue(close(first["targets"]["package"], 132.6032666666666), name)
            containers = [s for s in samples if s["topic"] == "kepler.container" and s["node"] == name]
            self.assertGreater(len(containers), 0, name)

    def test_prometheus_api_mode_publishes_node_samples_only_unless_asked_for_containers(self):
        self.replay.answer()
        self.scraper("--prometheus-url", f"http://127.0.0.1:{self.replay_port}", "--interval", "0.3")
        n = len(self.steps) - 1
        samples = self.sub.collect(10, until=lambda got: sum(s["topic"] == "kepler.node" for s in got) >= n)
        self.assertEqual({s["topic"] for s in samples}, {"kepler.node"})

    def test_prometheus_answer_of_a_gigabyte_is_cut_and_the_next_ones_read(self):
        # Two answers of a gigabyte, then the capture: each cut at --max-body-bytes (64 MiB by
        # default), counted, nothing published from them; then every rate of the capture.
        self.replay.huge_answers = 2
        self.replay.answer()
        p = self.scraper("--prometheus-url", f"http://127.0.0.1:{self.replay_port}", "--interval", "0.3",
                         metrics=True)
        n = len(self.steps) - 1
        samples = self.sub.collect(60, until=lambda got: sum(s["topic"] == "kepler.node" for s in got) >= n)
        nodes = [s for s in samples if s["topic"] == "kepler.node"]
        self.assertEqual([s["ts"] for s in nodes], self.steps[1:])
        for k, node in enumerate(nodes, start=1):
            self.assertTrue(close(node["targets"]["package"] * node["dt"],
                                  self.node_delta("kepler_node_package_joules_total", k)))
        values, _ = prom_scrape(self.mport)
        key = f'kms_scraper_scrape_failures_total{{target="http://127.0.0.1:{self.replay_port}",cause="too_large"}}'
        self.assertEqual(values[key], 2)
        self.assertIn("body larger than --max-body-bytes", p.output())
        if not SANITIZED:  # AddressSanitizer's quarantine keeps the body's freed buffers resident
            with open(f"/proc/{p.proc.pid}/status") as f:
                peak_kb = int(next(line for line in f if line.startswith("VmHWM:")).split()[1])
            self.assertLess(peak_kb, 128 * 1024, "a 64 MiB body, and little else")

    def test_prometheus_error_is_logged_with_its_message(self):
        self.replay.error = True
        p = self.scraper("--prometheus-url", f"http://127.0.0.1:{self.replay_port}", "--interval", "0.2",
                         metrics=True)
        wait_for(lambda: "replay refuses" in p.output(), what="Prometheus error logged")
        values, _ = prom_scrape(self.mport)
        key = f'kms_scraper_scrape_failures_total{{target="http://127.0.0.1:{self.replay_port}",cause="http_status"}}'
        self.assertGreaterEqual(values[key], 1)



class TestKeplerSim(ScraperTestCase):
    """The scraper's rates against kepler-sim's known truth (no noise). Each component's energy
    over an interval is bias * (true interval) + sum of weight * counter increment, and the
    scraper divides both by the interval it measured. So for every component whose features the
    sample carries, (watts - sum of weight * rate) / bias must be one and the same ratio, the true
    interval over the measured one: the rates and watts must agree with each other exactly,
    whatever the machine's load does to the timing, and the ratio must be near 1."""

    def check_format(self, fmt, intervals=3):
        port = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1", "--format", fmt, "--noise", "0",
                          "--containers", "12", "--seed", "7").logged_port()
        wait_for(lambda: http(f"http://127.0.0.1:{port}/metrics")[0] == 200, what="kepler-sim up")
        truth = json.loads(http(f"http://127.0.0.1:{port}/truth")[2])["components"]
        self.scraper("--kepler-url", f"http://127.0.0.1:{port}/metrics", "--interval", "0.5")
        samples = self.sub.collect(15, until=lambda got: sum(s["topic"] == "kepler.node" for s in got) >= intervals)
        nodes = [s for s in samples if s["topic"] == "kepler.node"]
        self.assertGreaterEqual(len(nodes), intervals, fmt)
        checked = 0
        for node in nodes:
            self.assertEqual(node["node"], "kepler-sim-node")
            self.assertEqual(node["arch"], "Sapphire Rapids")
            ratios = {}
            for component, law in truth.items():
                if component not in node["targets"] or not set(law["weights"]) <= set(node["features"]):
                    continue
                # Rates scale with the measured interval, a gauge (resident_memory) does not: it
                # joins the bias on the side that the interval's error multiplies.
                rates = sum(w * node["features"][f] for f, w in law["weights"].items() if f != "resident_memory")
                levels = law["bias"] + law["weights"].get("resident_memory", 0) * node["features"].get("resident_memory", 0)
                ratios[component] = (node["targets"][component] - rates) / levels
            self.assertTrue(ratios, (fmt, node))
            first = next(iter(ratios.values()))
            # The ratio itself is the timing's error: near 1 on an idle machine, anything on a
            # starved one; what must hold is that every component agrees on it.
            self.assertTrue(0.2 < first < 5.0, (fmt, ratios, node))
            for component, ratio in ratios.items():
                # resident_memory is a gauge: read at the end of the interval, while the energy
                # follows it all along (kepler-sim moves it now and then), so a component that
                # weighs it agrees only roughly.
                gauge = "resident_memory" in truth[component]["weights"]
                self.assertTrue(close(ratio, first, 0.15 if gauge else 3e-3), (fmt, component, ratios, node))
            checked += len(ratios)
        return checked, nodes

    def test_07_rates_and_watts_agree_with_kepler_sims_truth(self):
        checked, nodes = self.check_format("0.7")
        self.assertEqual(set(nodes[0]["features"]),
                         {"cpu_cycles", "cpu_instructions", "cache_misses", "cpu_time", "resident_memory",
                          "page_cache_hits", "irq_block", "irq_net_rx", "irq_net_tx"})
        self.assertGreaterEqual(checked, 3 * 5)

    def test_09_rates_and_watts_agree_with_kepler_sims_truth(self):
        checked, _ = self.check_format("0.9")
        self.assertGreaterEqual(checked, 3 * 5)

    def test_010_rates_and_watts_agree_with_kepler_sims_truth(self):
        checked, nodes = self.check_format("0.10")
        self.assertIn("cpu_time", nodes[0]["features"])
        self.assertGreaterEqual(checked, 3)

    def test_03_rates_and_watts_agree_with_kepler_sims_truth_every_3_s(self):
        checked, nodes = self.check_format("0.3", intervals=2)  # Kepler 0.3's pages change every 3 s
        self.assertTrue(all(n["dt"] == 3.0 for n in nodes))
        self.assertGreaterEqual(checked, 2 * 4)


@unittest.skipUnless(os.access(PROMETHEUS, os.X_OK), "needs Debian's prometheus")
class TestRealPrometheus(ScraperTestCase):
    """Debian's Prometheus scraping a kepler-sim fleet: the default selector (the families the
    node samples need) gives the very node samples that asking for every Kepler series gave, and
    with --prometheus-containers the very container samples too."""

    NODES = 2

    def start_prometheus(self, sim_port):
        targets = [{"targets": [f"127.0.0.1:{sim_port}"],
                    "labels": {"__metrics_path__": f"/node/{i}/metrics", "instance": f"kepler-sim-node-{i}"}}
                   for i in range(self.NODES)]
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:  # JSON is YAML
            json.dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                       "scrape_configs": [{"job_name": "kepler", "static_configs": targets}]}, f)
        port = free_port()
        log = open(os.path.join(self.tmp, "prometheus.log"), "wb")
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                                 f"--storage.tsdb.path={os.path.join(self.tmp, 'tsdb')}"],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)

        def stop():
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
        self.addCleanup(stop)
        return f"http://127.0.0.1:{port}"

    def points(self, url, family):
        """Per node, how many points Prometheus holds of `family` in the last minute."""
        status, _, body = http(f"{url}/api/v1/query?query=count_over_time({family}[60s])")
        if status != 200:
            return {}
        result = json.loads(body)["data"]["result"]
        return {r["metric"]["instance"]: int(r["value"][1]) for r in result}

    def check_fleet(self, fmt, family, containers):
        sim = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1", "--format", fmt, "--noise", "0",
                         "--nodes", self.NODES, "--containers", containers)
        url = self.start_prometheus(sim.logged_port())
        wait_for(lambda: len(self.points(url, family)) == self.NODES and min(self.points(url, family).values()) >= 2,
                 timeout=30, what="Prometheus holding 2 scrapes of every node")
        # Three scrapers at once read the same points, each at its own pace: a point's sample
        # (its node, Prometheus' timestamp, its container) must be the same in all that have it.
        runs = {"lean": (), "every": ("--prometheus-selector", EVERY_KEPLER_SERIES, "--prometheus-containers"),
                "lean_containers": ("--prometheus-containers",)}
        subs = {}
        for name, args in runs.items():
            scraper = self.start("kms-scraper", "--publish", "@tcp://127.0.0.1:*", "--prometheus-url", url,
                                 "--interval", "0.5", "--timeout", "10", *args)
            subs[name] = Subscriber(scraper.logged_port("samples"))
            self.addCleanup(subs[name].close)
        time.sleep(4 * SLOWDOWN)
        got = {name: sub.collect(1.0) for name, sub in subs.items()}

        def by_key(samples, topic):
            return {(s["node"], s["ts"], s.get("container_id")): (s["features"], s["targets"])
                    for s in samples if s["topic"] == topic}

        def common(a, b):
            keys = a.keys() & b.keys()
            return {k: a[k] for k in keys}, {k: b[k] for k in keys}
        lean, every = by_key(got["lean"], "kepler.node"), by_key(got["every"], "kepler.node")
        self.assertEqual({node for node, _, _ in lean}, {f"kepler-sim-node-{i}" for i in range(self.NODES)}, fmt)
        a, b = common(lean, every)
        self.assertGreaterEqual(len(a), 2 * self.NODES, fmt)
        self.assertEqual(a, b, fmt)
        self.assertTrue(all(f and t for f, t in a.values()), fmt)
        self.assertEqual(by_key(got["lean"], "kepler.container"), {}, fmt)
        a, b = common(by_key(got["lean_containers"], "kepler.container"), by_key(got["every"], "kepler.container"))
        self.assertGreaterEqual(len(a), 2 * self.NODES * containers, fmt)
        self.assertEqual(a, b, fmt)

    def test_lean_query_gives_the_same_samples_of_a_kepler_010_fleet(self):
        self.check_fleet("0.10", "kepler_node_cpu_usage_ratio", 4)

    def test_lean_query_gives_the_same_samples_of_a_kepler_07_fleet(self):
        # 0.4-0.9: the node's features are its containers' usage counters, asked for in any case
        self.check_fleet("0.7", "kepler_node_core_joules_total", 4)


if __name__ == "__main__":
    unittest.main()
