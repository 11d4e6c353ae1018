"""kms-trainer with its --data-dir on a tiny tmpfs that fills up, beyond test_trainer.py's
full-disk test (one fill to the last byte, one failed round, one recovery). Here:

- the disk flaps between full and free while checkpoints are due every 0.1 s: whenever one
  looks, each checkpoint is a whole zip that reads back, its sample count never goes back, and
  no temporary file is left to eat the little space there is;
- SIGTERM while the disk is full: the final checkpoint fails, which the trainer says (one
  error line naming the model and the cause) and its exit status says (1); the previous
  checkpoint is intact, and a new trainer on the same folder resumes from it;
- the file system runs out of inodes rather than bytes (the temporary file cannot even be
  created): same promises.

In each, training goes on while the disk is full (LIST's sample counts grow), and the first
checkpoint after space comes back succeeds. Samples come from a Python publisher (python3-zmq,
python3-msgpack; docs/contract.md "Samples"); questions go through a Python REQ (kms_proto.h).
The tmpfs needs root; without it the tests are skipped.
"""
import json
import os
import random
import subprocess
import threading
import time
import unittest
import zipfile

import msgpack
import zmq

from kmstest import SLOWDOWN, ProcessTestCase, wait_for

MODELS = ("core_model", "dram_model")


def sample(rng, seq):
    """A node sample whose watts follow a linear truth of its usage rates."""
    f = {"cpu_cycles": rng.uniform(1e9, 3e9), "cpu_instructions": rng.uniform(1e9, 4e9),
         "cpu_time": rng.uniform(0.5, 8), "cache_misses": rng.uniform(1e6, 1e7),
         "resident_memory": rng.uniform(1e9, 8e9)}
    targets = {"core": 5 + 2e-9 * f["cpu_cycles"] + 1e-9 * f["cpu_instructions"] + 1.5 * f["cpu_time"],
               "dram": 2 + 1e-7 * f["cache_misses"] + 3e-10 * f["resident_memory"]}
    return {"v": 1, "seq": seq, "ts": 1.7e9 + 5.0 * seq, "dt": 5.0, "node": "disk-node", "arch": "x86_64",
            "features": f, "targets": targets}


class Publisher(threading.Thread):
    """Publishes a sample every 10 ms, as a scraper would, until closed."""

    def __init__(self, ctx):
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.port = int(self.sock.last_endpoint.rsplit(b":", 1)[1])
        self.running = True
        self.paused = False
        self.start()

    def run(self):
        rng, seq = random.Random(7), 0
        while self.running:
            if self.paused:
                time.sleep(0.01)
                continue
            seq += 1
            self.sock.send_multipart([b"kepler.node", msgpack.packb(sample(rng, seq))])
            time.sleep(0.01)

    def close(self):
        self.running = False
        self.join()
        self.sock.close()


def read_checkpoint(path):
    """The sample count in a checkpoint, after checking the zip whole (None: no file)."""
    try:
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None, f"{path}: a member fails its CRC"
            json.loads(z.read("weights.json"))
            return json.loads(z.read("metadata.json"))["samples"]
    except FileNotFoundError:
        return None


def fill(path, chunk=4096):
    """Writes zeros into `path` until the file system refuses; returns the bytes written."""
    written = 0
    with open(path, "ab", buffering=0) as f:
        try:
            while True:
                written += f.write(b"\0" * chunk)
        except OSError:
            pass
    return written


class DiskFullCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.term)
        self.pub = Publisher(self.ctx)
        self.addCleanup(self.pub.close)

    def mount(self, options):
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(self.data)
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "kms-disk-full", self.data],
                               capture_output=True, text=True)
        except FileNotFoundError:
            self.skipTest("no mount command")
        if r.returncode != 0:
            self.skipTest(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
        # Cleanups run after tearDown has stopped the trainer; a lazy unmount cannot fail on a
        # file still open.
        self.addCleanup(subprocess.run, ["umount", "-l", self.data], capture_output=True)

    def start_trainer(self, interval=0.1):
        t = self.start("kms-trainer", "--samples", f">tcp://127.0.0.1:{self.pub.port}", "--control",
                       "@tcp://127.0.0.1:*", "--data-dir", self.data, "--min-samples", "10",
                       "--checkpoint-interval", interval)
        self.control = f"tcp://127.0.0.1:{t.logged_port('control')}"
        wait_for(lambda: self.ask("PING")[0] == "200", what="trainer answers PING")
        return t

    def ask(self, *frames):
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, int(3000 * SLOWDOWN))
        s.connect(self.control)
        try:
            s.send_multipart([f.encode() for f in frames])
            status, body = s.recv_multipart()
        finally:
            s.close()
        return status.decode(), json.loads(body)

    def stats(self):
        status, body = self.ask("STATS")
        self.assertEqual(status, "200")
        return body

    def samples(self):
        status, body = self.ask("LIST")
        self.assertEqual(status, "200")
        return {m["name"]: m["samples"] for m in body["models"]}

    def path(self, model):
        return os.path.join(self.data, f"{model}.zip")

    def checkpoint_bytes(self):
        out = {}
        for m in MODELS:
            with open(self.path(m), "rb") as f:
                out[m] = f.read()
        return out

    def leftovers(self):
        return [n for n in os.listdir(self.data) if n.endswith(".tmp")]

    def wait_checkpointed(self, after=0):
        """Until every model has a checkpoint of more than `after` samples."""
        def ok():
            counts = [read_checkpoint(self.path(m)) for m in MODELS]
            return all(c is not None and c > after for c in counts)
        wait_for(ok, what=f"checkpoints past {after} samples")

    def wait_failed_rounds(self, rounds):
        base = self.stats()["checkpoint_errors"]
        wait_for(lambda: self.stats()["checkpoint_errors"] >= base + rounds * len(MODELS),
                 what=f"{rounds} failed checkpoint rounds")

    def assert_training_goes_on(self):
        before = self.samples()
        wait_for(lambda: all(self.samples()[m] > before[m] + 20 for m in MODELS), what="training goes on")

    def assert_clear_error(self, trainer, cause="No space left on device"):
        errors = [line for line in trainer.output().splitlines()
                  if "level=error" in line and "checkpoint not written" in line]
        self.assertTrue(errors, trainer.output()[-3000:])
        self.assertIn(cause, errors[0])
        self.assertTrue(any("model=core_model" in line for line in errors), errors)
        self.assertIn(f"dir={self.data}", errors[0])


class TestFlappingDisk(DiskFullCase):
    def test_every_checkpoint_seen_is_whole_and_never_goes_back(self):
        self.mount("size=256k")
        t = self.start_trainer(interval=0.1)
        self.wait_checkpointed(after=10)
        filler = os.path.join(self.data, "filler")
        seen = {m: 0 for m in MODELS}
        stop = time.monotonic() + 6
        full_rounds = 0
        while time.monotonic() < stop:
            fill(filler)
            full_rounds += 1
            for _ in range(3):  # look while it is full...
                for m in MODELS:
                    count = read_checkpoint(self.path(m))
                    self.assertIsNotNone(count, f"{m}: checkpoint gone while the disk was full")
                    self.assertGreaterEqual(count, seen[m], f"{m}: an older checkpoint came back")
                    seen[m] = count
                time.sleep(0.05)
            os.unlink(filler)  # ...and while checkpoints go through again
            time.sleep(0.15)
            for m in MODELS:
                count = read_checkpoint(self.path(m))
                self.assertGreaterEqual(count, seen[m], f"{m}: an older checkpoint came back")
                seen[m] = count
        stats = self.stats()
        print(f"{full_rounds} fills: checkpoints={stats['checkpoints']} errors={stats['checkpoint_errors']}")
        self.assertGreater(stats["checkpoint_errors"], 0, "the disk was never full at a checkpoint")
        self.assert_clear_error(t)
        # Space is back for good: a checkpoint of everything learned so far, no leftovers.
        now = self.samples()
        wait_for(lambda: all((read_checkpoint(self.path(m)) or 0) >= now[m] for m in MODELS),
                 what="a checkpoint of everything learned")
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(t.stop(), 0)


class TestSigtermOnFullDisk(DiskFullCase):
    def test_final_checkpoint_fails_loudly_and_a_restart_resumes_from_the_last_good_one(self):
        self.mount("size=256k")
        t = self.start_trainer(interval=0.2)
        self.wait_checkpointed(after=10)
        fill(os.path.join(self.data, "filler"))
        self.wait_failed_rounds(1)
        kept = self.checkpoint_bytes()  # no write can succeed from here on
        kept_samples = {m: read_checkpoint(self.path(m)) for m in MODELS}
        self.assert_training_goes_on()
        self.assert_clear_error(t)
        self.assertEqual(self.leftovers(), [])

        t.expect_failure = True  # exit status 1 is the point
        self.assertEqual(t.stop(), 1, t.output()[-3000:])
        self.assertIn("final_checkpoint=failed", t.output())
        self.assertEqual(self.checkpoint_bytes(), kept, "the previous checkpoints changed")
        self.assertEqual(self.leftovers(), [])

        # A new trainer on the still full disk resumes from the last good checkpoints: with the
        # publisher paused, it knows exactly what they hold.
        self.pub.paused = True
        t2 = self.start_trainer(interval=0.2)
        self.assertEqual({m: self.samples()[m] for m in MODELS}, kept_samples)
        self.pub.paused = False
        self.assert_training_goes_on()
        self.assertEqual(self.checkpoint_bytes(), kept)
        os.unlink(os.path.join(self.data, "filler"))
        self.wait_checkpointed(after=max(kept_samples.values()) + 20)
        self.assertEqual(t2.stop(), 0)


class TestNoInodesLeft(DiskFullCase):
    def test_no_inode_for_the_temporary_file(self):
        self.mount("size=4m,nr_inodes=16")
        t = self.start_trainer(interval=0.1)
        self.wait_checkpointed(after=10)
        made = []
        while True:  # take every free inode with empty files
            name = os.path.join(self.data, f"inode-{len(made)}")
            try:
                open(name, "wb").close()
            except OSError:
                break
            made.append(name)
        self.assertTrue(made, "no inode was free to begin with")
        self.wait_failed_rounds(2)
        kept = self.checkpoint_bytes()
        self.wait_failed_rounds(2)
        self.assertEqual(self.checkpoint_bytes(), kept)
        self.assert_training_goes_on()
        self.assert_clear_error(t)
        self.assertEqual(self.leftovers(), [])
        # One inode back is enough: the temporary file, renamed over the old checkpoint.
        os.unlink(made.pop())
        learned = self.samples()
        wait_for(lambda: all((read_checkpoint(self.path(m)) or 0) >= learned[m] for m in MODELS),
                 what="checkpoints again")
        self.assertEqual(t.stop(), 0)


if __name__ == "__main__":
    unittest.main()
