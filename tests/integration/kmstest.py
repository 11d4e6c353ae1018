"""Shared helpers for integration tests: real processes on free loopback ports.

Every test starts the project's real binaries (from $KMS_BIN_DIR) and talks to them as a user
would. Processes are stopped with SIGTERM at tearDown and their stderr is kept for the report.
"""
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import msgpack
import zmq

BIN_DIR = os.environ.get("KMS_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
SOURCE_DIR = os.environ.get("KMS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
# Kepler pages: hand-written pairs and real captures (tests/fixtures/kepler/README.md).
KEPLER_FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "kepler")
SANITIZED = os.environ.get("KMS_SANITIZE", "OFF") in ("ON", "1", "TRUE", "true")
# Sanitized builds run several times slower: scale waits by this.
SLOWDOWN = 3.0 if SANITIZED else 1.0
# Every trainer's default model set (common/kms_model.c), and the ones that samples with
# core and dram targets train: the cpu_time_* models need only cpu_time (the per-cpu vm_* ones
# need the node's cpus too, which only Kepler 0.10+ states).
BUILTIN_MODELS = {"core_model", "dram_model", "package_model", "uncore_model", "dram_counters_model",
                  "platform_model", "cpu_time_package_model", "cpu_time_core_model", "cpu_time_uncore_model",
                  "cpu_time_dram_model", "cpu_time_platform_model", "vm_package_model", "vm_core_model",
                  "vm_uncore_model", "vm_dram_model", "vm_platform_model"}
CORE_DRAM_MODELS = ["core_model", "cpu_time_core_model", "cpu_time_dram_model", "dram_counters_model", "dram_model"]


def binary(name):
    return os.path.join(BIN_DIR, name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_refusing = []


def refused_port():
    """A port that refuses every connection until the tests end: bound and never listening, so
    no other program can take it, as it could take a port merely found free."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _refusing.append(s)
    return s.getsockname()[1]


def restartable_port():
    """A free port below the kernel's ephemeral range, for a program that a test restarts on
    the port it had. A port the kernel hands out (port 0, `*`) lies in that range, where any
    outgoing connection may take it while its program is down; a peer reconnecting to it
    every 100 ms can even connect to itself (TCP self-connect), and the restart then fails
    with "Address already in use". Below the range only another test's choice can collide:
    random, and checked by a bind."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 16000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError(f"no free port below {low}")


class Subscriber:
    """A Python SUB on a scraper's PUB socket, as a third party would write it."""

    def __init__(self, port, topic=b"kepler."):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.sock.connect(f"tcp://127.0.0.1:{port}")

    def recv(self, timeout):
        """The next sample (its topic under "topic"), or None after `timeout` seconds."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        topic, body = self.sock.recv_multipart()
        sample = msgpack.unpackb(body, raw=False)
        sample["topic"] = topic.decode()
        return sample

    def collect(self, seconds, until=None):
        """Samples received for `seconds` (scaled), or until until(samples) is true."""
        got = []
        deadline = time.monotonic() + seconds * SLOWDOWN
        while time.monotonic() < deadline:
            s = self.recv(0.1)
            if s is not None:
                got.append(s)
                if until and until(got):
                    break
        return got

    def close(self):
        self.sock.close(0)
        self.ctx.term()


def contract_predict(doc, features, arch):
    """docs/contract.md's formula on canonical feature names, as a client that knows only the weights
    document computes it (what the trainer itself predicts). A feature missing from `features`
    contributes nothing (it sits at its mean)."""
    w = doc["All_Weights"]
    power = w["Bias_Weight"] + w.get("Categorical_Variables", {}).get("cpu_architecture", {}).get(arch, {}).get(
        "weight", 0.0)
    for name, v in w["Numerical_Variables"].items():
        power += v["weight"] * (features.get(name, v["mean"]) - v["mean"]) / math.sqrt(v["variance"])
    return power


def truth_predict(truth, component, features):
    """kepler-sim's truth (its GET /truth document) for one component at `features`, the
    curved truth's log term included."""
    c = truth["components"][component]
    watts = c["bias"] + sum(w * features[f] for f, w in c["weights"].items())
    if "log" in c:
        watts += c["log"]["amplitude"] * math.log1p(features[c["log"]["feature"]] / c["log"]["knee"])
    return watts


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout * SLOWDOWN
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the thing polled may not be up yet
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def prom_values(text):
    """Prometheus text exposition as {series: value}, the series as written (name and labels)."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values


def prom_scrape(port, timeout=5.0):
    """GET /metrics on a loopback port: ({series: value}, the body)."""
    status, _, body = http(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
    assert status == 200, status
    return prom_values(body.decode()), body


def http(url, method="GET", body=None, headers=None, timeout=5.0):
    """Returns (status, headers, body bytes); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def http_json(url, **kw):
    status, headers, body = http(url, **kw)
    return status, json.loads(body) if body else None


def logged_port(process, socket=None, timeout=10.0):
    """The port a program started with port 0 (HTTP) or `*` (a ZeroMQ bind) reports in its
    `listening` log line, that of the ZeroMQ socket named when given: no free_port() race
    between a port found free and the program binding it. `process` has name, output() and
    alive()."""
    which = rf"socket={socket} " if socket else ""

    def find():
        m = re.search(rf"msg=listening {which}.*?\bport=(\d+)", process.output())
        if not m and not process.alive():
            raise AssertionError(f"{process.name} exited:\n{process.output()[-2000:]}")
        return int(m.group(1)) if m else None
    return wait_for(find, timeout=timeout, what=f"{process.name} listening")


class Process:
    """A project binary running in the background, stderr captured to a file."""

    def __init__(self, name, args=(), env=None, cwd=None, wrapper=()):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([*wrapper, binary(name), *map(str, args)], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def logged_port(self, socket=None, timeout=10.0):
        return logged_port(self, socket, timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and waits; returns the exit status (kills after timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout * SLOWDOWN)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout}s of {sig!r}")
        return self.proc.returncode

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def stop_all(processes):
    """Stops the processes, last started first, with SIGTERM; returns the problems seen: a
    process that did not stop, exited badly (unless it was expected to) or reported a
    sanitizer error."""
    problems = []
    for p in reversed(processes):
        try:
            rc = p.stop()
        except AssertionError as e:
            problems.append(str(e))
            continue
        out = p.output()
        if rc not in (0, -signal.SIGKILL, None) and not getattr(p, "expect_failure", False):
            problems.append(f"{p.name} exited with {rc}:\n{out[-3000:]}")
        elif "ERROR: AddressSanitizer" in out or "runtime error:" in out or "LeakSanitizer" in out:
            problems.append(f"{p.name} sanitizer report:\n{out[-5000:]}")
    return problems


class ProcessTestCase(unittest.TestCase):
    """Starts processes with self.start(); stops them all (SIGTERM) after each test and fails
    the test when one of them crashed or reported a sanitizer error."""

    def setUp(self):
        self.processes = []
        self.tmp = tempfile.mkdtemp(prefix="kms-test-")
        # tearDown does not run when setUp fails: what a failed setUp started is stopped all the same.
        self.addCleanup(stop_all, self.processes)

    def start(self, name, *args, env=None, cwd=None, wrapper=()):
        """`wrapper`: a command the binary runs under (e.g. `ip netns exec NAME`), which execs it."""
        p = Process(name, args, env=env, cwd=cwd, wrapper=wrapper)
        self.processes.append(p)
        return p

    def tearDown(self):
        problems = stop_all(self.processes)
        if problems:
            self.fail("\n".join(problems))


class Pipeline:
    """The real programs on loopback: kepler-sim -> kms-scraper -> kms-trainer -> kms-api, or
    (sim=None) only kms-trainer on a data dir trained beforehand and kms-api over it. Each
    program the tests restart (scraper, trainer, kms-api) binds a restartable_port() and binds it
    again when restarted; kepler-sim binds port 0. Each next one is started on the port the
    previous one logged: the scraper first, the trainer connecting to it, kms-api to the trainer.

    With `case` (a ProcessTestCase) the programs are the test's; without, the pipeline keeps
    them (it may outlive a test: a test class sharing one) and stop() returns the problems
    found. `env`: more environment per program, {"kms-api": {...}} (KMS_LOG_LEVEL is info
    unless set there: the ports are logged at info)."""

    def __init__(self, case=None, tmp=None, data_dir=None, sim=("--containers", 20, "--seed", 11), interval=0.25,
                 trainer=(), api=(), min_samples=30, env=None):
        self.case = case
        self.processes = []
        self.tmp = tmp or case.tmp
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.interval = interval
        self.min_samples = min_samples
        self.trainer_args = ("--min-samples", min_samples, *trainer)
        self.api_args = tuple(api)
        self.env = env or {}
        self.sim = self.scraper = self.samples_port = None
        if sim is not None:
            self.sim = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1", *sim)
            self.sim_port = self.sim.logged_port()
            self.sim_url = f"http://127.0.0.1:{self.sim_port}"
            self.first_start("samples_port", self.start_scraper, "samples")
        self.first_start("control_port", self.start_trainer, "control")
        self.first_start("api_port", self.start_api)
        self.base = f"http://127.0.0.1:{self.api_port}"
        wait_for(lambda: http(f"{self.base}/healthz")[0] == 200, what="kms-api up")

    def first_start(self, port_name, start, socket=None):
        """Starts a program on a new restartable_port() kept as `port_name`, and on another one
        when it could not bind it: a port is only checked free, so another test running at the
        same time may take it first (seen once in CI: kms-api "Failed to setup server ports")."""
        for attempt in range(3):
            setattr(self, port_name, restartable_port())
            process = start()
            try:
                port = process.logged_port(socket)
            except AssertionError:
                out = process.output()
                taken = "Address already in use" in out or "Failed to setup server ports" in out
                if process.alive() or not taken or attempt == 2:
                    raise
                process.expect_failure = True
                print(f"{process.name}: port {getattr(self, port_name)} was taken; another", file=sys.stderr)
                continue
            assert port == getattr(self, port_name), f"{process.name} logged port {port}"
            return

    def start(self, name, *args):
        env = dict({"KMS_LOG_LEVEL": "info"}, **self.env.get(name, {}))
        if self.case:
            return self.case.start(name, *args, env=env, cwd=self.tmp)
        p = Process(name, args, env=env, cwd=self.tmp)
        self.processes.append(p)
        return p

    def start_scraper(self):
        self.scraper = self.start("kms-scraper", "--kepler-url", f"{self.sim_url}/metrics", "--interval",
                                  self.interval, "--publish", f"@tcp://127.0.0.1:{self.samples_port}")
        return self.scraper

    def start_trainer(self):
        """Without a scraper the samples socket binds a port of its own that nobody publishes on."""
        samples = f">tcp://127.0.0.1:{self.samples_port}" if self.samples_port else "@tcp://127.0.0.1:*"
        self.trainer = self.start("kms-trainer", "--samples", samples, "--control",
                                  f"@tcp://127.0.0.1:{self.control_port}", "--data-dir", self.data_dir,
                                  *self.trainer_args)
        return self.trainer

    def start_api(self):
        self.api = self.start("kms-api", "--port", self.api_port, "--trainer",
                              f">tcp://127.0.0.1:{self.control_port}", *self.api_args)
        return self.api

    def kill_trainer(self):
        """SIGKILL: no goodbye, no final checkpoint."""
        self.trainer.kill9()

    def wait_ready(self, models=("core_model", "dram_model"), timeout=60.0):
        """Until every one of `models` serves weights; a program that died fails at once."""
        def ready():
            for p in (self.sim, self.scraper, self.trainer, self.api):
                if p and not p.alive():
                    raise AssertionError(f"{p.name} died:\n{p.output()[-3000:]}")
            return all(self.weights(m) for m in models)
        try:
            wait_for(ready, timeout=timeout, interval=0.2, what=f"{', '.join(models)} serving weights")
        except AssertionError as e:
            raise AssertionError(f"{e}:\n" + "\n".join(f"--- {p.name}\n{p.output()[-1500:]}"
                                                      for p in (self.trainer, self.api))) from None

    def freeze(self):
        """Stops the scraper: the trainer learns nothing more, so answers stay comparable."""
        rc = self.scraper.stop()
        if rc != 0:
            raise AssertionError(f"kms-scraper exited with {rc}")
        time.sleep(0.25)  # pacing, not a condition: kms-api's cache serves an answer for at most 100 ms

    def truth(self):
        return json.loads(http(f"{self.sim_url}/truth")[2])

    def weights(self, model):
        status, doc = http_json(f"{self.base}/model-weights/{model}")
        return doc if status == 200 else None

    def model(self, name="core_model"):
        status, models = http_json(f"{self.base}/models")
        return {m["name"]: m for m in models}[name] if status == 200 else None

    def samples(self, model="core_model"):
        m = self.model(model)
        return m["samples"] if m else None

    def fresh_features(self, count=40):
        """Usage vectors of what the node does next, read from the scraper's own samples as a
        third-party subscriber would."""
        sub = Subscriber(self.samples_port, b"kepler.node")
        try:
            fresh = []
            while len(fresh) < count:
                sample = sub.recv(5 * SLOWDOWN)
                if sample is None:
                    raise AssertionError(f"no sample from the scraper in {5 * SLOWDOWN} s")
                fresh.append(sample["features"])
            return fresh
        finally:
            sub.close()

    def trainer_stats(self):
        """STATS straight from the trainer's control socket, as any ZeroMQ client would ask."""
        s = zmq.Context.instance().socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, int(2000 * SLOWDOWN))
        s.connect(f"tcp://127.0.0.1:{self.control_port}")
        try:
            s.send(b"STATS")
            code, body = s.recv_multipart()
            if code != b"200":
                raise AssertionError(f"STATS answered {code!r}")
            return json.loads(body)
        finally:
            s.close()

    def stop(self):
        """Stops the pipeline's own programs; returns the problems found (see stop_all)."""
        return stop_all(self.processes)
