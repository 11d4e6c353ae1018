"""Every service under valgrind's memcheck, on a short real run of the whole pipeline.

kepler-sim serves pages, kms-scraper scrapes it and publishes, kms-tail prints the samples,
kms-trainer learns until its models are ready and checkpoints, and kms-api answers every route
(weights, zips, the model list, Prometheus metrics, the status page, Kepler's POST /model, and
the 400/404/405 cases). Then each process gets SIGTERM (the trainer first, so that kms-api
answers 503 for a while), and each must exit with status 0 and a clean memcheck report: no invalid read or write, no use of uninitialised memory, nothing
definitely or indirectly lost. The offline commands (kms-trainer train, import) get the same.
tests/valgrind.supp holds the few suppressions for third-party libraries' noise.

Sanitized builds are skipped (ASan's shadow memory and valgrind do not mix), as are machines
without valgrind.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from kmstest import SOURCE_DIR, binary, http, logged_port, wait_for

VALGRIND = shutil.which("valgrind")
SUPPRESSIONS = os.path.join(SOURCE_DIR, "tests", "valgrind.supp")
# memcheck runs programs 20-50x slower, and a machine shared with other builds slows it again:
# every wait below is in valgrind time, generous, and ends as soon as its condition holds (the
# whole file takes ~25 s on an idle 2-core machine).
STARTUP = 150.0
STOP = 60.0


class ValgrindProcess:
    """A project binary under memcheck; the program's stderr and valgrind's report apart."""

    def __init__(self, name, args, workdir):
        self.name = name
        self.log = os.path.join(workdir, f"{name}.log")
        self.report = os.path.join(workdir, f"{name}.valgrind")
        command = [VALGRIND, "--tool=memcheck", "--leak-check=full",
                   "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
                   "--error-exitcode=99", "--num-callers=30",
                   f"--suppressions={SUPPRESSIONS}", f"--log-file={self.report}",
                   binary(name), *map(str, args)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def wait(self, timeout=STOP):
        """The exit status of a command that ends by itself (None when it had to be killed)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        """SIGTERM, then the exit status (None when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        return self.texts()[0]

    def texts(self):
        def read(path):
            try:
                with open(path, "rb") as f:
                    return f.read().decode(errors="replace")
            except FileNotFoundError:
                return ""
        return read(self.log), read(self.report)


@unittest.skipIf(VALGRIND is None, "valgrind is not installed (scripts/install-deps installs it)")
class TestServicesUnderValgrind(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kms-valgrind-")
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, name, *args):
        p = ValgrindProcess(name, args, self.tmp)
        self.procs.append(p)
        return p

    def logged_port(self, p, socket=None):
        return logged_port(p, socket, timeout=STARTUP)

    def assert_clean(self, p, status):
        log, report = p.texts()
        where = f"{p.name}: exit status {status}\n--- valgrind ---\n{report[-6000:]}\n--- stderr ---\n{log[-2000:]}"
        self.assertEqual(status, 0, where)
        self.assertIn("ERROR SUMMARY: 0 errors", report, where)
        for bad in ("Invalid read", "Invalid write", "Invalid free", "uninitialised", "Mismatched free",
                    "are definitely lost", "are indirectly lost", "Syscall param"):
            self.assertNotIn(bad, report, where)
        leak = re.search(r"definitely lost: ([\d,]+) bytes", report)
        if leak:  # absent when every block was freed ("All heap blocks were freed")
            self.assertEqual(leak.group(1), "0", where)
        self.assertNotIn("level=error", log, where)

    def test_pipeline_routes_and_sigterm_are_memcheck_clean(self):
        data_dir = os.path.join(self.tmp, "data")
        # Each program on a port of its own choosing, the next one started on the port it logged.
        sim = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1", "--containers", 4, "--seed", 3)
        sim_port = self.logged_port(sim)
        scraper = self.start("kms-scraper", "--kepler-url", f"http://127.0.0.1:{sim_port}/metrics",
                             "--interval", 0.3, "--timeout", 5, "--publish", "@tcp://127.0.0.1:*",
                             "--metrics-port", 0, "--stats-interval", 2)
        samples_port = self.logged_port(scraper, "samples")
        scraper_metrics = self.logged_port(scraper, "metrics")
        trainer = self.start("kms-trainer", "--samples", f">tcp://127.0.0.1:{samples_port}",
                             "--control", "@tcp://127.0.0.1:*", "--data-dir", data_dir,
                             "--checkpoint-interval", 2, "--min-samples", 8, "--history-interval", 1)
        control_port = self.logged_port(trainer, "control")
        api = self.start("kms-api", "--port", 0, "--trainer", f">tcp://127.0.0.1:{control_port}",
                         "--trainer-timeout", 5000, "--threads", 4)
        base = f"http://127.0.0.1:{self.logged_port(api)}"
        tail = None
        if os.path.exists(binary("kms-tail")):
            tail = self.start("kms-tail", "--endpoint", f">tcp://127.0.0.1:{samples_port}")

        try:
            wait_for(lambda: http(f"{base}/healthz")[0] == 200, timeout=STARTUP, interval=0.5, what="kms-api up")
            # The first model ready means samples flowed from kepler-sim through the scraper.
            wait_for(lambda: http(f"{base}/model-weights/core_model", timeout=30)[0] == 200,
                     timeout=STARTUP, interval=0.5, what="core_model ready")
        except AssertionError as e:
            logs = "\n".join(f"--- {p.name} (exit {p.proc.poll()}) ---\n{p.texts()[0][-1500:]}" for p in self.procs)
            raise AssertionError(f"{e}\n{logs}") from None

        def get(path, expect, method="GET", body=None, headers=None):
            status, hdrs, payload = http(base + path, method=method, body=body, headers=headers, timeout=60)
            self.assertEqual(status, expect, f"{method} {path}: {payload[:300]!r}")
            return hdrs, payload

        doc = json.loads(get("/model-weights/core_model", 200)[1])
        self.assertIn("All_Weights", doc)
        get("/model-weights/", 200)
        hdrs, payload = get("/models/core_model", 200)
        self.assertTrue(payload.startswith(b"PK"), "a zip")
        self.assertEqual(hdrs.get("Content-Type"), "application/zip")
        models = json.loads(get("/models", 200)[1])
        self.assertLessEqual({"core_model", "dram_model"}, {m["name"] for m in models})
        self.assertIn(b"# TYPE", get("/metrics", 200)[1])
        self.assertIn(b"core_model", get("/", 200)[1])
        get("/readyz", 200)
        kepler = {"metrics": ["cpu_cycles", "cpu_instr", "bpf_cpu_time_us", "cache_miss",
                              "container_memory_working_set_bytes", "cpu_architecture"],
                  "output_type": "AbsComponentModelWeight", "model_name": "", "filter": ""}
        answer = json.loads(get("/model", 200, "POST", json.dumps(kepler).encode(),
                                {"Content-Type": "application/json"})[1])
        self.assertIn("core", answer)
        kepler["output_type"] = "AbsPower"
        kepler["weight"] = False
        self.assertTrue(get("/model", 200, "POST", json.dumps(kepler).encode())[1].startswith(b"PK"))
        get("/model", 400, "POST", b'{"metrics": [1, 2], "output_type": "AbsPower"}')
        get("/model", 400, "POST", b'{"metrics": [')
        get("/model-weights/no_such_model", 404)
        get("/models/no_such_model", 404)
        get("/no/such/route", 404)
        get("/models", 405, "DELETE")
        status, _, page = http(f"http://127.0.0.1:{scraper_metrics}/metrics", timeout=60)
        self.assertEqual(status, 200)
        self.assertIn(b"kms_scraper", page)
        # A checkpoint was written while running (the trainer's file path).
        wait_for(lambda: os.path.exists(os.path.join(data_dir, "core_model.zip")), timeout=STARTUP,
                 interval=0.5, what="a checkpoint")

        # Keep the pipeline going for a while: many scrapes, samples, checkpoints and cache
        # refreshes, so that steady-state paths run under memcheck too, not only start-up.
        def core_samples():
            status, _, payload = http(f"{base}/models", timeout=60)
            return status == 200 and {m["name"]: m for m in json.loads(payload)}["core_model"]["samples"] >= 30
        wait_for(core_samples, timeout=STARTUP, interval=0.5, what="30 samples learned")

        if tail:
            wait_for(lambda: '"topic":"kepler.node"' in tail.texts()[0].replace(" ", ""), timeout=STARTUP,
                     interval=0.5, what="kms-tail printing samples")

        def stop(p):
            started = time.monotonic()
            status = p.stop()
            print(f"{p.name}: exit {status} {time.monotonic() - started:.1f}s after SIGTERM under valgrind")
            self.assert_clean(p, status)

        # The trainer goes first: kms-api's timeout path (a REQ socket that got no answer is
        # thrown away and made anew) runs under memcheck too.
        stop(trainer)
        get("/model-weights/core_model", 503)
        get("/readyz", 503)
        # Then the rest in pipeline order, as Ctrl-C in scripts/run does.
        for p in ([tail] if tail else []) + [api, scraper, sim]:
            stop(p)

    def test_offline_train_and_import_are_memcheck_clean(self):
        dataset = os.path.join(SOURCE_DIR, "tests", "fixtures", "datasets", "kepler-0.7-query_range.json")
        data_dir, other = os.path.join(self.tmp, "data"), os.path.join(self.tmp, "other")
        train = self.start("kms-trainer", "train", "--dataset", dataset, "--data-dir", data_dir, "--min-samples", 2)
        status = train.wait()
        self.assert_clean(train, status)
        self.assertIn("core_model", train.texts()[0])
        zips = sorted(os.path.join(data_dir, n) for n in os.listdir(data_dir) if n.endswith(".zip"))
        self.assertTrue(zips, "train wrote no checkpoint")
        imported = self.start("kms-trainer", "import", *zips, "--data-dir", other)
        self.assert_clean(imported, imported.wait())
        self.assertEqual(sorted(os.listdir(other)), sorted(os.path.basename(z) for z in zips))


if __name__ == "__main__":
    unittest.main()
