"""Shared helpers for integration tests: real processes on free loopback ports.

Every test starts the project's real binaries (from $KMS_BIN_DIR) and talks to them as a user
would. Processes are stopped with SIGTERM at tearDown and their stderr is kept for the report.
"""
import json
import math
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import msgpack
import zmq

BIN_DIR = os.environ.get("KMS_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
SOURCE_DIR = os.environ.get("KMS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
SHARED_SAMPLES = os.environ.get("KMS_SHARED_SAMPLES", os.path.join(SOURCE_DIR, "../shared/kepler-samples"))
SANITIZED = os.environ.get("KMS_SANITIZE", "OFF") in ("ON", "1", "TRUE", "true")
# Sanitized builds run several times slower: scale waits by this.
SLOWDOWN = 3.0 if SANITIZED else 1.0
# Every trainer's default model set (common/kms_model.c), and the ones that samples with
# core and dram targets train: the vm_* models need only cpu_time.
BUILTIN_MODELS = {"core_model", "dram_model", "package_model", "uncore_model", "dram_counters_model",
                  "platform_model", "vm_package_model", "vm_core_model", "vm_uncore_model", "vm_dram_model",
                  "vm_platform_model"}
CORE_DRAM_MODELS = ["core_model", "dram_counters_model", "dram_model", "vm_core_model", "vm_dram_model"]


def binary(name):
    return os.path.join(BIN_DIR, name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Subscriber:
    """A Python SUB on a scraper's PUB socket, as a third party would write it."""

    def __init__(self, port):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"kepler.")
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
    """CONTRACT.md's formula on canonical feature names, as a client that knows only the weights
    document computes it (what the trainer itself predicts). A feature missing from `features`
    contributes nothing (it sits at its mean)."""
    w = doc["All_Weights"]
    power = w["Bias_Weight"] + w["Categorical_Variables"]["cpu_architecture"].get(arch, {}).get("weight", 0.0)
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


class Process:
    """A project binary running in the background, stderr captured to a file."""

    def __init__(self, name, args=(), env=None, cwd=None):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([binary(name), *map(str, args)], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def logged_port(self, timeout=10.0):
        """The port a program started with port 0 reports in its `listening` log line: no
        free_port() race between a port found free and the program binding it."""
        def find():
            m = re.search(r"msg=listening .*?\bport=(\d+)", self.output())
            if not m and not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output()[-2000:]}")
            return int(m.group(1)) if m else None
        return wait_for(find, timeout=timeout, what=f"{self.name} listening")

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

    def start(self, name, *args, env=None, cwd=None):
        p = Process(name, args, env=env, cwd=cwd)
        self.processes.append(p)
        return p

    def tearDown(self):
        problems = stop_all(self.processes)
        if problems:
            self.fail("\n".join(problems))
