"""scripts/bench's 'meter' section: what kms-meter costs at a 1 s interval, and what Kepler 0.11
costs on the same machine reading kms-meter's tree at the same interval.

    /usr/bin/python3 scripts/lib/meter_bench.py BIN_DIR SECONDS [KEPLER_BINARY]

kms-meter meters the machine's real /proc/stat with four zones' models served by a small
local HTTP server (the cost of kms-api is not kms-meter's), and refreshes them every 30 s as by
default. Two run side by side: one writing its tree on tmpfs (/dev/shm, as the Kubernetes
manifest's in-memory emptyDir), one on the disk of $TMPDIR (a compose named volume): replacing
a file on ext4 costs several times more than the rest of an interval. CPU is the process's user + system time over SECONDS, after a warm-up: kms-meter's
own process_cpu_seconds_total (getrusage, to the microsecond), Kepler's /proc/<pid>/stat (to
the clock tick, 10 ms); RSS is VmRSS (and VmHWM, the peak) at the end. Kepler, when a binary is given, gets
--host.sysfs at the tree, --monitor.interval=1s and a procfs of the processes this user may
read (Kepler 0.11 stops collecting when one /proc/<pid>/exe is unreadable). Prints one
key=value line per program.
"""
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from procstat import cpu_seconds, free_port


def weights(bias, weight):
    return json.dumps({"All_Weights": {"Bias_Weight": bias, "Numerical_Variables": {
        "cpu_time": {"mean": 0.0, "variance": 1.0, "weight": weight}}}}).encode()


def serve_models():
    docs = {"vm_package_model": weights(20, 10), "vm_core_model": weights(6, 8),
            "vm_uncore_model": weights(3, 0.5), "vm_dram_model": weights(4, 1)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = docs.get(self.path.rsplit("/", 1)[-1])
            self.send_response(200 if body else 404)
            body = body or b'{"error":"unknown model"}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def own_cpu_seconds(metrics_port):
    def read():
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("process_cpu_seconds_total "):
                    return float(line.split()[1])
        raise SystemExit("kms-meter's /metrics has no process_cpu_seconds_total")
    return read


def memory_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def measure(name, proc, seconds, cpu, warmup=3.0):
    time.sleep(warmup)
    if proc.poll() is not None:
        raise SystemExit(f"{name} exited with {proc.returncode}")
    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu(), time.monotonic()
    mem = memory_kb(proc.pid)
    wall = t1 - t0
    return (f"program={name} seconds={wall:.1f} cpu_ms_per_interval={1000 * (c1 - c0) / wall:.3f} "
            f"core_percent={100 * (c1 - c0) / wall:.4f} rss_kb={mem['VmRSS']} peak_rss_kb={mem['VmHWM']}")


def readable_procfs(root):
    """/proc/stat, cpuinfo, meminfo, and every process whose exe this user may read."""
    os.makedirs(root)
    for name in ("stat", "cpuinfo", "meminfo"):
        os.symlink(f"/proc/{name}", os.path.join(root, name))
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        os.symlink(f"/proc/{pid}", os.path.join(root, pid))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    bin_dir, seconds = sys.argv[1], float(sys.argv[2])
    kepler = sys.argv[3] if len(sys.argv) > 3 else ""
    work = tempfile.mkdtemp(prefix="kms-meter-bench-")
    shm = tempfile.mkdtemp(prefix="kms-meter-bench-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None
    procs, names, cpus = [], [], []
    try:
        api = serve_models()
        trees = ([("kms-meter-tmpfs", os.path.join(shm, "tree"))] if shm else []) + [
            ("kms-meter-disk", os.path.join(work, "tree"))]
        for name, out in trees:
            port = free_port()
            procs.append(subprocess.Popen([os.path.join(bin_dir, "kms-meter"), "--api", api, "--out", out,
                                           "--interval", "1", "--metrics-address", "127.0.0.1", "--metrics-port",
                                           str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            names.append(name)
            cpus.append(own_cpu_seconds(port))
        if kepler:
            # Kepler next to them, reading the first tree, measured over the same time.
            time.sleep(1.5)
            procfs = os.path.join(work, "proc")
            readable_procfs(procfs)
            k = subprocess.Popen([kepler, f"--host.sysfs={trees[0][1]}", f"--host.procfs={procfs}",
                                  "--monitor.interval=1s", f"--web.listen-address=127.0.0.1:{free_port()}",
                                  "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(k)
            names.append("kepler")
            cpus.append(lambda: cpu_seconds(k.pid))
        results = {}
        threads = [threading.Thread(target=lambda n=n, p=p, c=c: results.__setitem__(n, measure(n, p, seconds, c)))
                   for n, p, c in zip(names, procs, cpus)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in names:
            print(results[name], flush=True)
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(work, ignore_errors=True)
        if shm:
            shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
