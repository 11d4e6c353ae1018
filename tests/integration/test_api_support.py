"""Shared pieces of kms-api's integration tests (no tests here).

FakeTrainer is a stand-in that speaks the trainer's control protocol (common/kms_proto.h) on a
REP socket. It is used for what a real trainer cannot be made to do on demand: never answer,
die in the middle of a request, send a malformed reply. The happy paths run the real pipeline.
"""
import io
import json
import math
import shutil
import socket
import tempfile
import threading
import time
import unittest
import zipfile

import zmq

from kmstest import SLOWDOWN, Pipeline


# ---------------------------------------------------------------------------------------------
# What Kepler does with an answer (docs/kepler.md has each fact with the Kepler file it is read in).

def kepler_predict(doc, usage, arch, formula="0.6"):
    """Kepler's predictor, line for line: bias, plus the architecture's weight, plus for each
    of *its own* metric names weight * (x - mean) / sqrt(variance) (0.4-0.5.x, lr.go) or
    weight * x / scale (0.6-0.9, lr.go / regressor/model_weights.go); a zero weight is skipped
    and a name missing from the document counts as nothing (Go's zero value). `doc` is one
    {"All_Weights": ...} document, `usage` Kepler-named values in Kepler's units."""
    w = doc["All_Weights"]
    power = w["Bias_Weight"]
    power += w["Categorical_Variables"].get("cpu_architecture", {}).get(arch, {}).get("weight", 0.0)
    for name, x in usage.items():
        coeff = w["Numerical_Variables"].get(name)
        if not coeff or coeff["weight"] == 0:
            continue
        if formula == "0.4":
            power += coeff["weight"] * (x - coeff["mean"]) / math.sqrt(coeff["variance"])
        elif coeff["scale"] != 0:
            power += coeff["weight"] * x / coeff["scale"]
    return power


SAMPLE_PERIOD = 3  # Kepler's SAMPLE_PERIOD_SEC default, every generation

# How many of Kepler's units make one canonical unit (cpu time: ms in every generation).
KEPLER_UNITS = {"cpu_time": 1000, "bpf_cpu_time_us": 1000, "bpf_cpu_time_ms": 1000}


def kepler_usage(point, names, era):
    """A canonical usage point (per second, cpu-seconds, bytes) as the Kepler of `era` feeds
    its predictor: its own names and units, counts per sample period before 0.5.4."""
    usage = {}
    for n in names:
        c = canonical(n)
        if c in point:
            per_period = SAMPLE_PERIOD if era == "0.4" and c != "resident_memory" else 1
            usage[n] = point[c] * KEPLER_UNITS.get(n, 1) * per_period
    return usage


def kepler_watts(out, era, component):
    """The watts that Kepler of `era` books from its predictor's output."""
    if era == "0.4":
        return out / (1000 * SAMPLE_PERIOD)  # taken as mJ per sample period
    if era == "0.5.4" and component == "core":
        return out * SAMPLE_PERIOD  # power.Core multiplied by the period twice
    if era in ("0.5.4", "0.7.3") and component == "platform":
        return out / 1000  # booked as mJ without the x1000
    return out


# Kepler 0.4's request: LinearRegressor.getWeightFromServer marshals ModelRequest
# {model_name, metrics (usage metrics + system features), filter, output_type}.
KEPLER_04_METRICS = ["cpu_time", "cpu_cycles", "cpu_instr", "cache_miss",
                     "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                     "block_devices_used", "cpu_architecture"]


def kepler_04_request(output_type):
    return {"model_name": "", "metrics": KEPLER_04_METRICS, "filter": "", "output_type": output_type}


# Kepler 0.7.12's request: regressor.Regressor.getWeightFromServer, with weight=true, its
# default node features (no memory metric) and machine_spec.
KEPLER_07_METRICS = ["bpf_cpu_time_ms", "bpf_page_cache_hit", "bpf_net_tx_irq", "bpf_net_rx_irq",
                     "bpf_block_irq", "cpu_cycles", "cpu_instructions", "cache_miss", "cpu_architecture"]


def kepler_07_request(output_type="AbsPower", source="intel_rapl"):
    return {"metrics": KEPLER_07_METRICS, "output_type": output_type, "source": source,
            "node_type": 0, "weight": True, "trainer_name": "SGDRegressorTrainer", "filter": "",
            "machine_spec": {"vendor": "intel", "processor": "broadwell", "cores": 32, "chips": 2,
                             "memory": 256, "frequency": 2200, "threads_per_core": 2}}


# Kepler's names for the canonical features, as the API must map them.
KEPLER_NAMES = {
    "cpu_instr": "cpu_instructions", "cache_miss": "cache_misses", "bpf_cpu_time_us": "cpu_time",
    "bpf_cpu_time_ms": "cpu_time", "bpf_page_cache_hit": "page_cache_hits", "bpf_block_irq": "irq_block",
    "bpf_net_rx_irq": "irq_net_rx", "bpf_net_tx_irq": "irq_net_tx",
    "container_memory_working_set_bytes": "resident_memory",
    "cgroupfs_memory_usage_bytes": "resident_memory",
}


def canonical(name):
    return KEPLER_NAMES.get(name, name)


# ---------------------------------------------------------------------------------------------
# Documents as the trainer writes them.

def weights_doc(name, bias, numeric, categories):
    return {"All_Weights": {
        "Bias_Weight": bias,
        "Categorical_Variables": {"cpu_architecture": {a: {"weight": w} for a, w in categories.items()}},
        "Numerical_Variables": {f: {"mean": m, "variance": v, "weight": w} for f, (m, v, w) in numeric.items()}},
        "model_name": name}


def model_doc(name, target, numeric, bias=10.0, ready=True, samples=100, min_samples=30,
              categories=None, history=None, mae=0.5):
    now = time.time()
    return {
        "name": name, "features": list(numeric), "target": target, "ready": ready,
        "reason": "" if ready else f"{samples} of {min_samples} samples",
        "samples": samples, "missing": 0, "missing_feature": "", "invalid": 0,
        "min_samples": min_samples, "created": now - 600, "updated": now,
        "fit": {"r2": 0.97, "rmse": 0.8, "mae": mae, "window_r2": 0.95, "window_rmse": 0.9,
                "window_mae": 0.6} if samples >= 2 else None,
        "weights": weights_doc(name, bias, numeric, categories or {"x86_64": 0.25}) if ready else None,
        "history": history if history is not None else
        [[now - 60 * (10 - i), 0.5 + 0.045 * i, 3.0 - 0.2 * i] for i in range(10)],
    }


DEFAULT_MODELS = [
    model_doc("core_model", "core", {"cpu_cycles": (2e9, 4e17, 3.0), "cpu_instructions": (3e9, 9e17, 1.5),
                                     "cpu_time": (2.0, 1.0, 4.0)}, bias=20.0),
    model_doc("dram_model", "dram", {"cache_misses": (1e6, 1e11, 0.7), "resident_memory": (4e9, 1e18, 0.3)},
              bias=3.0),
]

STATS = {"uptime": 12.5, "samples_received": 240, "samples_rejected": 1, "frames_malformed": 0,
         "seq_gaps": 0, "publishers": 1, "checkpoints": 2, "checkpoint_errors": 0,
         "last_checkpoint": time.time()}


def make_zip(model):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("weights.json", json.dumps(model["weights"]))
        z.writestr("metadata.json", json.dumps({k: model[k] for k in ("name", "features", "target", "samples")}))
        z.writestr("state.json", "{}")
    return buf.getvalue()


class FakeTrainer:
    """A REP socket answering kms_proto.h from a list of MODEL documents.

    mode "normal" answers; "silent" receives and never answers (a trainer that hangs);
    "garbage" answers with one frame that is not a status code. `delay`: seconds taken to
    answer each request (a busy trainer)."""

    def __init__(self, models=None, mode="normal", port=None, delay=0.0):
        self.models = models if models is not None else DEFAULT_MODELS
        self.mode = mode
        self.delay = delay
        self.port = port  # None: any free one, known once bound
        self.endpoint = f"tcp://127.0.0.1:{port or '*'}"
        self.requests = []
        self._stop = threading.Event()
        self._ctx = zmq.Context.instance()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise AssertionError("fake trainer did not start")

    def _answer(self, frames):
        command = frames[0].decode(errors="replace")
        arg = frames[1].decode(errors="replace") if len(frames) > 1 else None
        by_name = {m["name"]: m for m in self.models}
        if command == "PING":
            return [b"200", json.dumps({"status": "ok", "version": "fake"}).encode()]
        if command == "LIST":
            return [b"200", json.dumps({"models": self.models, "trainer": STATS}).encode()]
        if command == "STATS":
            return [b"200", json.dumps(STATS).encode()]
        if command in ("WEIGHTS", "ZIP") and arg is not None:
            model = by_name.get(arg)
            if model is None:
                return [b"404", json.dumps({"error": f"unknown model {arg}"}).encode()]
            if not model["ready"]:
                return [b"503", json.dumps({"error": f"{arg} is not trained enough yet",
                                            "samples": model["samples"],
                                            "min_samples": model["min_samples"]}).encode()]
            if command == "WEIGHTS":
                return [b"200", json.dumps(model["weights"]).encode()]
            return [b"200", make_zip(model)]
        return [b"400", json.dumps({"error": "unknown command"}).encode()]

    def _bind(self, kind):
        """Binds, retrying while a socket that just closed on this port still holds it
        (ZeroMQ closes listeners asynchronously)."""
        deadline = time.monotonic() + 5
        while True:
            sock = self._ctx.socket(kind)
            sock.linger = 0
            try:
                sock.bind(self.endpoint)
                self.endpoint = sock.last_endpoint.decode()
                self.port = int(self.endpoint.rsplit(":", 1)[1])
                return sock
            except zmq.ZMQError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _run(self):
        # A silent trainer takes every request and answers none: a ROUTER socket, which unlike
        # REP can receive again without replying.
        sock = self._bind(zmq.ROUTER if self.mode == "silent" else zmq.REP)
        self._ready.set()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(50):
                    continue
                frames = sock.recv_multipart()
                if self.mode == "silent":
                    self.requests.append(frames[2:])  # after the peer identity and the delimiter
                    continue
                self.requests.append(frames)
                if self.mode == "garbage":
                    sock.send_multipart([b"not a status"])
                    continue
                time.sleep(self.delay)
                sock.send_multipart(self._answer(frames))
        finally:
            sock.close()

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def server_ms(process, method, path, status):
    """Durations (ms) that kms-api logged for `method path` answered with `status`."""
    import re
    pattern = re.compile(rf'msg=request method={method} path="?{re.escape(path)}"? status={status} ms=([0-9.]+)')
    return [float(m.group(1)) for m in pattern.finditer(process.output())]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def start_api(case, trainer_endpoint, timeout_ms=300, extra=(), env=None):
    """Starts kms-api on a free port (case is a ProcessTestCase); returns (process, base URL)."""
    proc = case.start("kms-api", "--port", 0, "--trainer", ">" + trainer_endpoint,
                      "--trainer-timeout", timeout_ms, *extra,
                      env=dict({"KMS_LOG_LEVEL": "debug"}, **(env or {})))
    port = proc.logged_port()
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def raw_request(port, data, timeout=5.0):
    """Sends raw bytes; returns the first response (headers and Content-Length body), or what
    came before the server closed or the timeout passed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may refuse before reading all of a huge request: read its answer
        buf = b""
        try:
            while True:
                head, sep, body = buf.partition(b"\r\n\r\n")
                if sep:
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(body) >= length:
                        return head + sep + body[:length]
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return buf


def status_of(raw):
    """The status code of a raw HTTP response, or None when there is none."""
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


# ---------------------------------------------------------------------------------------------
# The real pipeline: kepler-sim -> kms-scraper -> kms-trainer -> kms-api, on loopback.

def real_pipeline(tmp, api=(), truth="linear"):
    """The real pipeline of kms-api's tests (training takes seconds, so a test class shares
    one), kepler-sim on `truth` (--truth). kms-api logs each request (with its duration) at
    debug: the fault tests read it."""
    return Pipeline(tmp=tmp, sim=("--format", "0.7", "--containers", 8, "--noise", 0.01, "--seed", 7, "--truth", truth),
                    interval=0.2,
                    trainer=("--history-interval", 0.5), api=("--trainer-timeout", 2000, *api), min_samples=20,
                    env={"kms-api": {"KMS_LOG_LEVEL": "debug"}})


class SharedPipelineCase(unittest.TestCase):
    """A test class sharing one real pipeline (real_pipeline, kepler-sim on TRUTH), made ready by
    prepare() before the first test; a failing prepare() stops it."""

    TRUTH = "linear"

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kms-api-test-")
        cls.pipeline = real_pipeline(cls.tmp, truth=cls.TRUTH)
        try:
            cls.prepare()
        except BaseException:
            cls.pipeline.stop()
            raise
        cls.base = cls.pipeline.base

    @classmethod
    def tearDownClass(cls):
        problems = cls.pipeline.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))


class FrozenPipelineCase(SharedPipelineCase):
    """Trained until both models are ready and then frozen (scraper stopped), so that every
    answer of the class describes the same models."""

    @classmethod
    def prepare(cls):
        cls.pipeline.wait_ready()
        cls.pipeline.freeze()


