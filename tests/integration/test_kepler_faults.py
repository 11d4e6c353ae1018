"""kms-scraper in front of a Kepler that misbehaves the way real ones do, beyond the fixture
faults of test_scraper.py (which covers a target that is always dead, always slow, a 500, a
Content-Length that lies, huge bodies and one fixture restart).

The Kepler here is a small HTTP server in this file that writes Kepler 0.7-style pages from
counters it keeps itself: every counter grows at a known rate from the moment "Kepler" started,
so the true rate of every feature and the true watts of every component are known at any time,
and every sample the scraper publishes is checked against them. The faults are driven by the
test while the scraper runs: a restart (counters back to 0, more than once, and one container's
alone), Kepler gone (connection refused) for 20 s and back, answers slower than the scraper's
timeout (late headers, or a body that trickles), pages cut inside a series line, and one
package's node series missing from every other page.

What a user checks: no published sample is negative or absurd (in every node sample, all rates
the truth times one common factor: see COUNTERS), failures are counted by cause on
--metrics-port, the scraper resumes by itself, and SIGTERM still stops it promptly.
"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import math
import signal
import socket
import threading
import time
import unittest

from kmstest import SLOWDOWN, ProcessTestCase, Subscriber, prom_scrape, wait_for

NODE = "kepler-fault-node"
ARCH = "Ice Lake"
# Per container: cycles/s, instructions/s, cache misses/s, cpu-seconds/s, resident bytes (gauge),
# package joules/s and dram joules/s (dynamic mode).
CONTAINERS = {
    "c1": (2.0e9, 3.0e9, 4.0e6, 0.80, 3.0e8, 9.0, 1.5),
    "c2": (1.0e9, 0.5e9, 1.0e6, 0.25, 1.2e9, 4.0, 0.5),
    "c3": (0.5e9, 0.8e9, 2.0e6, 0.10, 6.0e7, 2.0, 0.25),
}
# Node counters (joules/s) per package, by mode; two packages.
NODE_WATTS = {"package": {"dynamic": 15.0, "idle": 20.0}, "dram": {"dynamic": 2.25, "idle": 3.0},
              "core": {"dynamic": 10.0, "idle": 5.0}, "platform": {"dynamic": 30.0, "idle": 60.0}}
PACKAGES = ("0", "1")
# What every node sample must carry, from the rates above.
TRUE_FEATURES = {
    "cpu_cycles": sum(c[0] for c in CONTAINERS.values()),
    "cpu_instructions": sum(c[1] for c in CONTAINERS.values()),
    "cache_misses": sum(c[2] for c in CONTAINERS.values()),
    "cpu_time": sum(c[3] for c in CONTAINERS.values()),
    "resident_memory": sum(c[4] for c in CONTAINERS.values()),
}
TRUE_TARGETS = {name: len(PACKAGES) * sum(modes.values()) for name, modes in NODE_WATTS.items()
                if name != "platform"}
TRUE_TARGETS["platform"] = sum(NODE_WATTS["platform"].values())
# Every counter of one page advances on the page's own clock, so within one sample every counter
# rate is its truth times one common factor: (page time between the two pages) / dt. That factor
# drifts from 1 with the timing jitter of a loaded machine (the scraper stamps a page at the middle
# of its request; this Python Kepler may write it late), but it is the same for every counter.
# A sample computed across a reset, from a cut number or with a container missing breaks that
# agreement, by orders of magnitude for megawatts; so do negative rates.
COUNTERS = ("cpu_cycles", "cpu_instructions", "cache_misses", "cpu_time")
AGREE = 0.02    # the counters' factors agree within 2 %
ABSURD = 20.0   # and their common factor is at most this (jitter gives 2 or 3 at worst)


def factors(sample, without=None):
    """Each counter's rate over its truth, features and targets; with `without`, the features'
    factors are scaled as if that container's share were missing (it restarted)."""
    out = {}
    for i, name in enumerate(COUNTERS):
        truth = TRUE_FEATURES[name]
        out[name] = sample["features"][name] / truth
        if without:
            out[name + "/without"] = sample["features"][name] / (truth - CONTAINERS[without][i])
    for name, truth in TRUE_TARGETS.items():
        out[name] = sample["targets"][name] / truth
    return out


def go_float(v):
    """Floats as Kepler (Go's strconv 'g', shortest) prints them: 1e+09, 123.456."""
    text = repr(float(v))
    if "e" in text:
        mantissa, exp = text.split("e")
        mantissa = mantissa[:-2] if mantissa.endswith(".0") else mantissa
        return f"{mantissa}e{'+' if int(exp) >= 0 else '-'}{abs(int(exp)):02d}"
    if float(v) >= 1e21:
        return f"{float(v):e}"
    return text[:-2] if text.endswith(".0") else text


class Kepler:
    """A Kepler 0.7 exporter whose counters the test controls. Modes, set by the test:
    ok, slow (headers after `delay` s), trickle (headers at once, then one byte every 0.2 s),
    cut (the whole answer, Content-Length honest, ends inside the last series line),
    close (Content-Length of the whole page, the connection closed inside a series line),
    chunked-cut (chunked encoding, the connection closed inside a chunk),
    lose (every other page lacks package 1's node series)."""

    def __init__(self, port=None):
        self.port = port or 0  # 0: any free one at the first up(), kept through restarts
        self.lock = threading.Lock()
        self.started = time.time()
        self.container_started = {c: self.started for c in CONTAINERS}
        self.mode = "ok"
        self.delay = 10.0
        self.served = {}  # mode -> answers begun
        self.connections = set()
        self.httpd = None
        self.up()

    def restart(self, container=None):
        """Counters back to 0: Kepler's (all of them), or one container's (it restarted)."""
        with self.lock:
            now = time.time()
            if container:
                self.container_started[container] = now
            else:
                self.started = now
                self.container_started = {c: now for c in CONTAINERS}

    def page(self, lose=False):
        with self.lock:
            now = time.time()
            up = now - self.started
            ups = {c: now - t for c, t in self.container_started.items()}
        lines = []

        def family(name, kind, series):
            lines.append(f"# HELP {name} {name.replace('_', ' ')}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in series:
                text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                lines.append(f"{name}{{{text}}} {go_float(value)}")

        def cl(cid):
            return {"container_id": cid, "container_name": "app-" + cid, "container_namespace": "default",
                    "pod_name": "pod-" + cid}

        family("kepler_container_bpf_cpu_time_us_total", "counter",  # milliseconds, as Kepler 0.7.1 counts
               [(cl(c), r[3] * 1e3 * ups[c]) for c, r in CONTAINERS.items()])
        family("kepler_container_cache_miss_total", "counter", [(cl(c), r[2] * ups[c]) for c, r in CONTAINERS.items()])
        family("kepler_container_cgroupfs_memory_usage_bytes_total", "counter",
               [(cl(c), r[4]) for c, r in CONTAINERS.items()])
        family("kepler_container_cpu_cycles_total", "counter", [(cl(c), r[0] * ups[c]) for c, r in CONTAINERS.items()])
        family("kepler_container_cpu_instructions_total", "counter",
               [(cl(c), r[1] * ups[c]) for c, r in CONTAINERS.items()])
        family("kepler_container_dram_joules_total", "counter",
               [(dict(cl(c), mode="dynamic"), r[6] * ups[c]) for c, r in CONTAINERS.items()])
        family("kepler_container_package_joules_total", "counter",
               [(dict(cl(c), mode="dynamic"), r[5] * ups[c]) for c, r in CONTAINERS.items()])
        for comp in ("core", "dram", "package"):
            family(f"kepler_node_{comp}_joules_total", "counter",
                   [({"instance": NODE, "mode": mode, "package": p, "source": "rapl"}, watts * up)
                    for p in PACKAGES if not (lose and p == "1") for mode, watts in NODE_WATTS[comp].items()])
        family("kepler_node_info", "counter", [({"cpu_architecture": ARCH}, 1)])
        # Platform last: a cut page loses the end of a node energy counter's line.
        family("kepler_node_platform_joules_total", "counter",
               [({"instance": NODE, "mode": mode, "source": "acpi"}, 1e6 + watts * up)
                for mode, watts in NODE_WATTS["platform"].items()])
        return ("\n".join(lines) + "\n").encode()

    def up(self):
        kepler = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with kepler.lock:
                    kepler.connections.add(self.connection)

            def finish(self):
                with kepler.lock:
                    kepler.connections.discard(self.connection)
                super().finish()

            def do_GET(self):
                with kepler.lock:
                    mode = kepler.mode
                    kepler.served[mode] = kepler.served.get(mode, 0) + 1
                try:
                    self.answer(mode, kepler.count(mode))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = mode not in ("ok", "lose")

            def head(self, length=None, chunked=False):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                if length is not None:
                    self.send_header("Content-Length", str(length))
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def answer(self, mode, served):
                if mode == "slow":
                    time.sleep(kepler.delay)
                page = kepler.page(lose=mode == "lose" and served % 2 == 1)
                # Inside the value of the last series line, a few digits in: the rest of the
                # line, its newline and nothing else is lost.
                cut = page.rstrip(b"\n").rfind(b" ") + 3
                if mode in ("ok", "slow", "lose"):
                    self.head(len(page))
                    self.wfile.write(page)
                elif mode == "trickle":
                    self.head(len(page))
                    for i in range(50):
                        self.wfile.write(page[i:i + 1])
                        self.wfile.flush()
                        time.sleep(0.2)
                elif mode == "cut":
                    self.head(cut)
                    self.wfile.write(page[:cut])
                elif mode == "close":
                    self.head(len(page))
                    self.wfile.write(page[:cut])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif mode == "chunked-cut":
                    self.head(chunked=True)
                    self.wfile.write(b"%x\r\n%s" % (len(page), page[:cut]))
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def down(self):
        """Gone: the listening socket is closed and kept-alive connections are cut, so that
        every new request is refused."""
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode

    def count(self, mode):
        with self.lock:
            return self.served.get(mode, 0)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/metrics"


class Collector(threading.Thread):
    """Every sample the scraper publishes, collected in the background (when it arrived under
    "received")."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sub = Subscriber(port)
        self.lock = threading.Lock()
        self.samples = []
        self.running = True
        self.start()

    def run(self):
        while self.running:
            sample = self.sub.recv(0.05)
            if sample is not None:
                sample["received"] = time.time()
                with self.lock:
                    self.samples.append(sample)

    def nodes(self, since=0.0):
        with self.lock:
            return [s for s in self.samples if s["topic"] == "kepler.node" and s["received"] >= since]

    def all(self):
        with self.lock:
            return list(self.samples)

    def close(self):
        self.running = False
        self.join()
        self.sub.close()


class KeplerFaultCase(ProcessTestCase):
    interval = 0.3

    def setUp(self):
        super().setUp()
        self.kepler = Kepler()
        self.sub = None

    def tearDown(self):
        if self.sub:
            self.sub.close()
        self.kepler.down()
        super().tearDown()

    def start_scraper(self, *args):
        if "--timeout" not in args:  # a slow answer from this Python Kepler on a loaded machine is no fault
            args = ("--timeout", "2") + args
        self.scraper = self.start("kms-scraper", "--kepler-url", self.kepler.url, "--interval", self.interval,
                                  "--publish", "@tcp://127.0.0.1:*", "--metrics-port", 0, *args)
        # Connected long before the first sample, which takes two scrapes.
        self.sub = Collector(self.scraper.logged_port("samples"))
        self.metrics_port = self.scraper.logged_port("metrics")
        return self.scraper

    def counter(self, name, **labels):
        labels = dict({"target": self.kepler.url}, **labels)
        key = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
        return prom_scrape(self.metrics_port)[0].get(key, 0.0)

    def wait_nodes(self, count, since, what):
        return wait_for(lambda: len(self.sub.nodes(since)) >= count, timeout=15, what=what)

    def assert_sane(self, without=None):
        """Every sample published so far: finite, non-negative; in every node sample, all counter
        rates the truth times one common factor (see COUNTERS), at most ABSURD, and the gauge as
        it is. With `without`, a feature may lack that container's share (it restarted)."""
        samples = self.sub.all()
        self.assertTrue(samples, "nothing published")
        for s in samples:
            for v in list(s["features"].values()) + list(s["targets"].values()):
                self.assertTrue(math.isfinite(v) and v >= 0, s)
            self.assertGreater(s["dt"], 0, s)
            if s["topic"] != "kepler.node":
                continue
            self.assertEqual((s["node"], s["arch"]), (NODE, ARCH))
            f = factors(s, without)
            common = f["package"]
            self.assertLessEqual(common, ABSURD, s)
            for name in list(COUNTERS) + list(TRUE_TARGETS):
                ok = abs(f[name] - common) <= AGREE * common
                if without and name in COUNTERS:  # between "all of it" and "all but that container"
                    least = f[name] / f[name + "/without"]  # (truth - its share) / truth
                    ok = ok or common * least * (1 - AGREE) <= f[name] <= common * (1 + AGREE)
                self.assertTrue(ok, (name, f, s))
            memory = s["features"]["resident_memory"]
            self.assertLessEqual(abs(memory - TRUE_FEATURES["resident_memory"]), 1e-6 * memory + 1, s)
        return samples


class TestRestarts(KeplerFaultCase):
    def assert_seq_contiguous(self, samples):
        seqs = [s["seq"] for s in samples]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "a gap in seq: lost messages")

    def test_repeated_kepler_restarts_never_give_a_bad_sample(self):
        self.start_scraper()
        self.wait_nodes(3, 0, "first samples")
        for _ in range(3):
            time.sleep(3 * self.interval)  # a few good intervals, then Kepler restarts
            self.kepler.restart()
            mark = time.time()
            self.wait_nodes(3, mark, "samples again after a Kepler restart")
        samples = self.assert_sane()
        self.assertGreaterEqual(self.counter("kms_scraper_resets_total"), 3)
        self.assertGreaterEqual(self.counter("kms_scraper_intervals_without_sample_total"), 3)
        self.assert_seq_contiguous(samples)

    # A container that restarted alone (its counters went down, the node's did not) stays in the
    # node's features: what it counted since its restart (Prometheus' convention), its gauges as
    # they are. Its own interval across the restart is not published.
    def test_a_container_restart_keeps_the_node_sample_sane(self):
        self.start_scraper()
        self.wait_nodes(3, 0, "first samples")
        self.kepler.restart("c2")  # its counters go down, the node's do not
        mark = time.time()
        self.wait_nodes(4, mark, "samples after a container restart")
        samples = self.assert_sane(without="c2")
        # c2's interval across its own restart is not published; its later ones are, and right:
        # its cycles and its package energy over the same interval keep the truth's ratio.
        c2 = [s for s in samples if s.get("container_id") == "c2" and s["received"] >= mark]
        self.assertTrue(c2, "no c2 sample after its restart")
        for s in c2:
            cycles = s["features"]["cpu_cycles"] / CONTAINERS["c2"][0]
            package = s["targets"]["package"] / CONTAINERS["c2"][5]
            self.assertLessEqual(abs(cycles - package), AGREE * package, s)
        self.assert_seq_contiguous(samples)


class TestKeplerGone(KeplerFaultCase):
    def test_20_s_of_refused_connections_give_no_sample_and_resume_by_itself(self):
        self.start_scraper()
        self.wait_nodes(2, 0, "first samples")
        self.kepler.down()
        gone = time.time()
        wait_for(lambda: self.counter("kms_scraper_scrape_failures_total", cause="connect") >= 3,
                 what="connect failures counted")
        others = {c: self.counter("kms_scraper_scrape_failures_total", cause=c)
                  for c in ("timeout", "http_status", "truncated", "parse", "too_large")}
        before = len(self.sub.nodes())
        time.sleep(max(0.0, 20 - (time.time() - gone)))
        # Not a sample while it was gone (one in flight when it went may still arrive).
        self.assertLessEqual(len(self.sub.nodes()) - before, 1)
        failures = self.counter("kms_scraper_scrape_failures_total", cause="connect")
        self.assertGreaterEqual(failures, 20 / self.interval / 2 / SLOWDOWN, "a failure per cycle")
        for cause, count in others.items():  # refused connections are counted as such, only
            self.assertEqual(self.counter("kms_scraper_scrape_failures_total", cause=cause), count, cause)
        # Back, the same Kepler (counters went on): scraping resumes by itself.
        self.kepler.up()
        back = time.time()
        self.wait_nodes(3, back, "samples after Kepler came back")
        self.assert_sane()
        self.assertGreater(self.counter("kms_scraper_last_success_timestamp_seconds"), back - 1)
        # The outage was reported once, not at every cycle; and its end too.
        log = self.scraper.output()
        self.assertEqual(log.count("cause=connect"), 1, log)


class TestSlowKepler(KeplerFaultCase):
    def test_late_headers_and_a_trickling_body_time_out_without_stalling(self):
        self.start_scraper("--timeout", "1")
        self.wait_nodes(2, 0, "first samples")
        for mode in ("slow", "trickle"):
            self.kepler.set_mode(mode)
            wait_for(lambda: self.counter("kms_scraper_scrape_failures_total", cause="timeout") >= 2
                     and self.kepler.count(mode) >= 2, timeout=20, what=f"{mode} answers timed out")
            mark = time.time()
            time.sleep(1.5)
            # Nothing from an answer that came too late (a sample in flight at the switch aside).
            self.assertLessEqual(len(self.sub.nodes(mark)), 0, mode)
            self.kepler.set_mode("ok")
            self.wait_nodes(2, time.time(), f"samples again after {mode}")
            timeouts = self.counter("kms_scraper_scrape_failures_total", cause="timeout")
        self.assertGreaterEqual(timeouts, 4)
        self.assert_sane()
        # Slow again: SIGTERM while a request hangs. The scraper lets go at once, and so does its
        # --metrics-port server (civetweb's listener is woken, not waited for: kms_httpd).
        self.kepler.set_mode("slow")
        wait_for(lambda: self.kepler.count("slow") >= 3, timeout=30, what="a request hanging")
        time.sleep(0.2)  # pacing: SIGTERM comes inside the hanging request, not as it starts
        started = time.monotonic()
        self.assertEqual(self.scraper.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 1.0 * SLOWDOWN)


class TestLostPackage(KeplerFaultCase):
    # Issue #11: package 1's node series missing from every other page. Before, every interval
    # was published with the package, core and dram watts of package 0 alone, about half.
    # Now no sample spans a page that lacks them: a page that lost them is skipped (counted as
    # series_changed, logged on decades, no failed scrape) and the next whole page is diffed
    # against the last whole one.
    def test_a_package_missing_from_every_other_page_never_halves_the_node(self):
        self.start_scraper()
        self.wait_nodes(2, 0, "first samples")
        self.kepler.set_mode("lose")
        self.wait_nodes(10, time.time(), "samples while package 1 comes and goes")
        self.assert_sane()
        self.assertGreaterEqual(self.counter("kms_scraper_spoiled_total", reason="series_changed"), 10)
        self.assertEqual(self.counter("kms_scraper_scrape_failures_total", cause="parse"), 0)
        lines = [l for l in self.scraper.output().splitlines() if "reason=series_changed" in l]
        self.assertTrue(1 <= len(lines) <= 3, lines)  # the 1st and the 10th skipped interval


class TestCutPages(KeplerFaultCase):
    def check_cut(self, mode, cause):
        self.start_scraper()
        self.wait_nodes(2, 0, "first samples")
        for round_ in range(3):  # a cut page now and then, between good ones
            self.kepler.set_mode(mode)
            wait_for(lambda: self.kepler.count(mode) >= round_ + 1, what=f"{mode} page served")
            self.kepler.set_mode("ok")
            self.wait_nodes(3, time.time(), f"samples after a {mode} page")
        self.assert_sane()
        if cause:
            self.assertGreaterEqual(self.counter("kms_scraper_scrape_failures_total", cause=cause), 3)
        return self.scraper.output()

    # A page whose last line lost its end ("... 1.0000541e+06" cut to "... 1.") has no final
    # newline: kms-scraper counts it as cause="truncated" and drops it whole.
    def test_a_whole_body_cut_inside_its_last_line_is_dropped_as_truncated(self):
        # The body is whole as far as HTTP goes, but the page's last line has lost its end.
        self.check_cut("cut", "truncated")

    def test_a_connection_closed_inside_a_line_is_dropped_as_truncated(self):
        self.check_cut("close", "truncated")

    def test_a_chunked_answer_closed_inside_a_chunk_is_dropped_as_truncated(self):
        self.check_cut("chunked-cut", "truncated")


if __name__ == "__main__":
    unittest.main()
