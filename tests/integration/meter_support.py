"""What the kms-meter tests share: an offline-trained pipeline (kms-trainer train on a dataset
with a known linear truth, then kms-trainer and kms-api serving it), a procfs whose /proc/stat
the test drives, readers of kms-meter's tree and /metrics, and kms-api stand-ins that stall or
answer what the test scripts."""
import json
import os
import random
import re
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kmstest import SLOWDOWN, Pipeline, binary, contract_predict, prom_scrape

ARCH = "Test CPU Model 9000"
OTHER_ARCH = "Other Vendor Chip"
HOST_CPUS = 8  # the training nodes' logical cpus
VM_CPUS = 2    # the metered machine's, unless a test says otherwise
HZ = os.sysconf("SC_CLK_TCK")
ZONE_DIRS = {"package": "intel-rapl:0", "core": "intel-rapl:0:0", "uncore": "intel-rapl:0:1",
             "dram": "intel-rapl:0:2"}
TARGETS = ("package", "core", "uncore", "dram")


def truth(cpu_time, arch, scale=1.0):
    """Watts per zone of a training node (HOST_CPUS cpus): linear in cpu time, a bump per
    architecture."""
    bump = 6.0 if arch == OTHER_ARCH else 0.0
    return {"package": scale * (20 + bump + 10 * cpu_time), "core": scale * (6 + bump / 2 + 8 * cpu_time),
            "uncore": scale * (3 + 0.5 * cpu_time), "dram": scale * (4 + cpu_time)}


def fair_share(cpu_time, cpus, arch=ARCH, scale=1.0):
    """A machine of `cpus` logical cpus of the training nodes' processor, `cpu_time` of them
    busy: its cpus' share of a node's idle watts plus the dynamic watts of its busy time."""
    idle, busy = truth(0, arch, scale), truth(1, arch, scale)
    return {z: cpus / HOST_CPUS * idle[z] + cpu_time * (busy[z] - idle[z]) for z in TARGETS}


def write_dataset(path, seed, scale=1.0, rows=120):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("arch,cpus,cpu_time," + ",".join(TARGETS) + "\n")
        for _ in range(rows):
            arch = rng.choice([ARCH, OTHER_ARCH])
            x = rng.uniform(0, HOST_CPUS)
            t = truth(x, arch, scale)
            f.write(f"{arch},{HOST_CPUS},{x}," + ",".join(repr(t[z]) for z in TARGETS) + "\n")


def train(data_dir, dataset):
    r = subprocess.run([binary("kms-trainer"), "train", "--dataset", dataset, "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=60 * SLOWDOWN)
    assert r.returncode == 0, r.stderr


def retrain(pipeline, tmp, scale):
    """The pipeline's trainer restarted on models trained afresh on a truth `scale` times the
    first, in a new data dir: fed the step as samples, its own plausibility gate would hold it
    back."""
    pipeline.trainer.stop()
    dataset = os.path.join(tmp, f"x{scale:g}.csv")
    write_dataset(dataset, seed=2, scale=scale)
    pipeline.data_dir = os.path.join(tmp, f"data-x{scale:g}")
    train(pipeline.data_dir, dataset)
    pipeline.start_trainer()


class Stat:
    """A procfs root holding a /proc/stat whose busy ticks the test sets: cpu_time is exactly
    what the test makes it, whatever else the machine does."""

    def __init__(self, root, cpus=VM_CPUS, model_name=ARCH):
        self.root = root
        self.cpus = cpus
        os.makedirs(root, exist_ok=True)
        self.busy = 1000
        self.idle = 100000
        self.write()
        with open(os.path.join(root, "cpuinfo"), "w") as f:
            f.write("".join(f"processor\t: {i}\nmodel name\t: {model_name}\n\n" for i in range(cpus)))
        with open("/proc/meminfo") as src, open(os.path.join(root, "meminfo"), "w") as f:
            f.write(src.read())

    def write(self, text=None):
        path = os.path.join(self.root, "stat")
        with open(path + ".tmp", "w") as f:
            f.write(text if text is not None else f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\n" + "".join(
                f"cpu{i} {self.busy // self.cpus} 0 0 {self.idle // self.cpus} 0 0 0 0 0 0\n" for i in range(self.cpus)))
        os.replace(path + ".tmp", path)

    def add_busy(self, seconds):
        self.busy += int(round(seconds * HZ))
        self.write()


def read_tree(out, zone, name):
    with open(os.path.join(out, "class/powercap", ZONE_DIRS[zone], name)) as f:
        return f.read()


def metrics(port):
    """kms-meter's /metrics as {series: value}."""
    return prom_scrape(port)[0]


def trained_pipeline(case, data_dir):
    """kms-trainer on a data dir trained offline (train()), and kms-api over it, serving."""
    pipeline = Pipeline(case, data_dir=data_dir, sim=None, trainer=("--checkpoint-interval", 3600))
    pipeline.wait_ready(("vm_package_model",), timeout=15)
    return pipeline


def predict(doc, cpu_time, arch, cpus=VM_CPUS):
    """A machine's watts by a per-cpu document (the contract's formula at the utilization,
    times the cpus): what kms-meter counts with --vm-share fair."""
    return cpus * contract_predict(doc, {"cpu_utilization": cpu_time / cpus}, arch)


def series(name, **labels):
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}" if labels else name


def log_has(process, pattern):
    return re.search(pattern, process.output()) is not None


def stalling_api(case):
    """A kms-api that answers every request with its headers and the start of a body, then holds
    the connection for as long as the test runs. Its URL, and the list of connections held."""
    stall = socket.socket()
    stall.bind(("127.0.0.1", 0))
    stall.listen(16)
    held = []
    case.addCleanup(lambda: [c.close() for c in held + [stall]])

    def serve():
        while True:
            try:
                conn, _ = stall.accept()
            except OSError:
                return
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{\"All_Weights\"")
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{stall.getsockname()[1]}", held


class ScriptedApi:
    """An HTTP server that answers GET /model-weights/<model> from a dict the test changes."""

    def __init__(self):
        self.answers = {}
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                status, body = outer.answers.get(self.path.rsplit("/", 1)[-1], (404, b'{"error":"unknown"}'))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def doc(bias, weight=2.0, arch_weight=None, per_cpu=True, feature="cpu_utilization"):
    """A weights document of one logical cpu (bias W idle, + weight W at every cpu busy)."""
    d = {"All_Weights": {"Bias_Weight": bias, "Numerical_Variables": {
        feature: {"mean": 0.0, "variance": 1.0, "weight": weight}}}, "model_name": "vm_package_model",
        "per_logical_cpu": per_cpu}
    if arch_weight is not None:
        d["All_Weights"]["Categorical_Variables"] = {"cpu_architecture": {"Other": {"weight": arch_weight}}}
    return json.dumps(d).encode()
