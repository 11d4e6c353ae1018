"""scripts/run as a user runs it: the pipeline on loopback only, every port movable, a taken
port named in one line, the URLs printed, KEPLER_URL used instead of kepler-sim, and Ctrl-C
(SIGINT to the terminal's process group) stopping every process it started.

scripts/run is given the binaries under test (KMS_BIN_DIR: no install, no build)."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import kmstest
from kmstest import BIN_DIR, SOURCE_DIR, ProcessTestCase, free_port, wait_for

RUN = os.path.join(SOURCE_DIR, "scripts", "run")
PROGRAMS = {"kepler-sim", "kms-trainer", "kms-scraper", "kms-api"}


def descendants(pid):
    """Every process below pid, by /proc's parent links."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def program_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def listening(pids):
    """(address, port) of every TCP socket in LISTEN that one of pids holds, from /proc/net."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:
                    continue
                hex_addr, hex_port = local.split(":")
                raw = bytes.fromhex(hex_addr)
                # /proc/net prints each 32-bit word in host (little-endian) order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if table == "tcp" else socket.AF_INET6
                found.add((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


class RunScript:
    """scripts/run in its own session (as in a terminal), its stderr kept."""

    def __init__(self, tmp, env):
        self.log = tempfile.NamedTemporaryFile(prefix="run-", suffix=".log", delete=False, dir=tmp)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KMS_", "OTEL_", "KEPLER"))}
        # A shorter wait for a trained model; nothing else differs from a user's run.
        clean.update({"KMS_BIN_DIR": BIN_DIR, "KMS_DATA_DIR": os.path.join(tmp, "data"),
                      "KMS_SCRAPE_INTERVAL": "0.5", "KMS_MIN_SAMPLES": "10"})
        clean.update(env)
        self.proc = subprocess.Popen([RUN], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=clean, start_new_session=True)

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def ctrl_c(self):
        os.killpg(self.proc.pid, signal.SIGINT)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class TestRun(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.ports = {name: free_port() for name in ("KMS_SIM_PORT", "KMS_SAMPLES_PORT", "KMS_CONTROL_PORT",
                                                      "KMS_HTTP_PORT")}
        self.runs = []

    def tearDown(self):
        for r in self.runs:
            r.stop()
        super().tearDown()

    def run_script(self, **env):
        r = RunScript(self.tmp, {k: str(v) for k, v in {**self.ports, **env}.items()})
        self.runs.append(r)
        return r

    def wait_up(self, r):
        base = f"http://127.0.0.1:{self.ports['KMS_HTTP_PORT']}"
        wait_for(lambda: r.proc.poll() is None and kmstest.http(f"{base}/readyz")[0] == 200, timeout=30,
                 what=f"scripts/run's API ready (output: {r.output()})")
        return base

    def test_loopback_only_on_the_ports_given_and_ctrl_c_stops_everything(self):
        r = self.run_script()
        base = self.wait_up(r)
        wait_for(lambda: kmstest.http(f"{base}/model-weights/core_model")[0] == 200, timeout=90, interval=0.5,
                 what="core_model trained through scripts/run")
        started = {pid: program_name(pid) for pid in descendants(r.proc.pid)}
        self.assertEqual(PROGRAMS, {n for n in started.values() if n in PROGRAMS}, started)
        # Nothing it started listens beyond loopback, and on exactly the ports it was given.
        sockets = listening(started)
        self.assertEqual({port for _, port in sockets}, set(self.ports.values()), sockets)
        for address, port in sockets:
            self.assertIn(address, ("127.0.0.1", "::1"), f"port {port} listens on {address}")
        # The URLs it prints are the ones that answer.
        out = r.output()
        for path in ("/", "/model-weights/core_model", "/models", "/metrics"):
            self.assertIn(f"http://127.0.0.1:{self.ports['KMS_HTTP_PORT']}{path}\n", out)
            self.assertEqual(kmstest.http(f"{base}{path}")[0], 200, path)
        self.assertIn(f"http://127.0.0.1:{self.ports['KMS_SIM_PORT']}/metrics", out)

        r.ctrl_c()
        r.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(program_name(p) for p in started):
            time.sleep(0.1)
        self.assertEqual([p for p in started if program_name(p)], [], "processes left after Ctrl-C")
        self.assertIn("run: stopping", r.output())
        # The trainer stopped cleanly: its last checkpoint is there.
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "data", "core_model.zip")))

    def test_kepler_url_replaces_the_simulator(self):
        sim = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1", "--node-name", "outside-node")
        url = f"http://127.0.0.1:{sim.logged_port()}/metrics"
        r = self.run_script(KEPLER_URL=url)
        base = self.wait_up(r)
        wait_for(lambda: kmstest.http(f"{base}/model-weights/core_model")[0] == 200, timeout=90, interval=0.5,
                 what="core_model trained from KEPLER_URL")
        names = [program_name(p) for p in descendants(r.proc.pid)]
        self.assertNotIn("kepler-sim", names, "scripts/run started its own kepler-sim beside KEPLER_URL")
        self.assertIn(f"source        {url}\n", r.output())
        r.ctrl_c()
        r.proc.wait(timeout=30)

    def test_a_taken_port_is_named_in_one_line(self):
        for name in self.ports:
            with self.subTest(port=name), socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                port = taken.getsockname()[1]
                r = self.run_script(**{name: port})
                self.assertEqual(r.proc.wait(timeout=30), 1)
                lines = r.output().strip().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertIn(f"port {port}", lines[0])
                self.assertIn(name, lines[0])

    def test_ports_that_collide_are_refused(self):
        r = self.run_script(KMS_HTTP_PORT=self.ports["KMS_CONTROL_PORT"])
        self.assertEqual(r.proc.wait(timeout=30), 2)
        self.assertIn("KMS_HTTP_PORT and KMS_CONTROL_PORT", r.output())


if __name__ == "__main__":
    unittest.main()
