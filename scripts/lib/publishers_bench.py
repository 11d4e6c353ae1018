"""scripts/bench's 'publishers' section: one kms-trainer under a fleet's publishers (issue 26), as
a DaemonSet puts them: every node its own publisher, its own node name and seq.

    /usr/bin/python3 scripts/lib/publishers_bench.py BIN_DIR NODES ROUNDS INTERVAL

`kms-bench publish` sends ROUNDS node samples for each of NODES node names, one round every
INTERVAL seconds, into a kms-trainer subscribed to it; then the trainer's own STATS (asked on its
control socket as kms-api does) say what it kept: received, accepted, seq gaps, publisher
restarts, publishers tracked and forgotten. The trainer's cpu is its user + system time over the
run (/proc/<pid>/stat, to the clock tick), its memory VmHWM, the peak resident. Prints one
key=value line.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import zmq

from procstat import cpu_seconds, free_port, peak_rss_kb


def stats(control):
    with zmq.Context() as ctx, ctx.socket(zmq.REQ) as s:
        s.setsockopt(zmq.RCVTIMEO, 10000)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(control)
        s.send(b"STATS")
        code, body = s.recv_multipart()
        assert code == b"200", code
        return json.loads(body)


def main():
    bin_dir, nodes, rounds, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    data = tempfile.mkdtemp(prefix="kms-publishers-")
    samples, control = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    trainer = subprocess.Popen([os.path.join(bin_dir, "kms-trainer"), "--samples", ">" + samples, "--control",
                                "@" + control, "--data-dir", data, "--checkpoint-interval", "3600"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # the control socket answers: the trainer is up
            try:
                stats(control)
                break
            except zmq.error.Again:
                if time.monotonic() > deadline:
                    raise
        before = cpu_seconds(trainer.pid)
        published = subprocess.run([os.path.join(bin_dir, "kms-bench"), "publish", "--endpoint", "@" + samples,
                                    "--nodes", str(nodes), "--rounds", str(rounds), "--interval", interval],
                                   capture_output=True, text=True, check=True).stdout.split()
        sent = dict(p.split("=", 1) for p in published if "=" in p)
        deadline = time.monotonic() + 30
        while (s := stats(control))["samples_received"] < int(sent["published"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        cpu = cpu_seconds(trainer.pid) - before
        print(f"nodes={nodes} published={sent['published']} seconds={sent['seconds']} "
              f"samples_per_s={sent['samples_per_s']} received={s['samples_received']} "
              f"accepted={s['samples_accepted']} seq_gaps={s['seq_gaps']} restarts={s['publisher_restarts']} "
              f"publishers={s['publishers']} forgotten={s['publishers_forgotten']} trainer_cpu_s={cpu:.2f} "
              f"trainer_core_percent={100 * cpu / float(sent['seconds']):.2f} trainer_hwm_kb={peak_rss_kb(trainer.pid)}")
    finally:
        trainer.terminate()
        trainer.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
