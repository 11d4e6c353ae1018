"""kms-trainer against hostile peers and a hostile data dir (docs/reliability.md, "Hostile
clients"): thousands of idle connections on its bound sockets, oversized requests, symlinks and
FIFOs planted among its checkpoints, a checkpoint that cannot be set aside, samples from the
future."""
import glob
import os
import socket
import stat
import time
import zipfile

import zmq

import test_trainer
from kmstest import SANITIZED, SLOWDOWN, ProcessTestCase, wait_for
from test_trainer import TrainerTestCase, ask, make_sample


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class IdleConnections(ProcessTestCase):
    RAW = 3000
    DEALERS = 1000
    ROUNDS = 3

    def test_thousands_of_idle_connections_cost_a_bounded_amount_and_are_released(self):
        trainer = self.start("kms-trainer", "--samples", "@tcp://127.0.0.1:*",
                             "--control", "@tcp://127.0.0.1:*", "--data-dir", os.path.join(self.tmp, "d"))
        samples, control = trainer.logged_port("samples"), trainer.logged_port("control")
        endpoint = f"tcp://127.0.0.1:{control}"
        wait_for(lambda: ask(endpoint, "PING", timeout=0.5)[0] == "200", what="trainer answers PING")
        pid = trainer.proc.pid
        start_rss, start_fds = rss_mb(pid), open_fds(pid)
        ctx = zmq.Context()
        ctx.max_sockets = self.DEALERS + 100
        self.addCleanup(ctx.term)
        for round_ in range(self.ROUNDS):
            raws = []
            for i in range(self.RAW):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", samples if i % 2 else control))
                except BlockingIOError:
                    pass
                raws.append(s)
            dealers = []
            for _ in range(self.DEALERS):
                d = ctx.socket(zmq.DEALER)
                d.linger = 0
                d.connect(endpoint)
                dealers.append(d)
            try:
                # Served meanwhile; the raw connections, which never greet, are closed by the
                # trainer within its 2 s handshake interval while the peers stay.
                # (The one I/O thread accepts 4,000 connections first: about a second on 2 cores.)
                start = time.monotonic()
                self.assertEqual(ask(endpoint, "PING", timeout=3 * SLOWDOWN)[0], "200")
                self.assertLess(time.monotonic() - start, 2.0 * SLOWDOWN)
                wait_for(lambda: open_fds(pid) < start_fds + self.DEALERS + 50, timeout=6,
                         what="the raw connections closed by the trainer")
                held = rss_mb(pid)
                # About 36 kB per ZeroMQ peer (services/trainer/README.md, "Sockets"). ASan's
                # redzones and its quarantine of freed memory make resident figures meaningless
                # in a sanitized build: there only the connections are checked.
                if not SANITIZED:
                    self.assertLess(held - start_rss, self.DEALERS * 60 / 1024, f"round {round_}: {held:.1f} MB held")
            finally:
                for s in raws:
                    s.close()
                for d in dealers:
                    d.close()
            wait_for(lambda: open_fds(pid) <= start_fds + 2, timeout=10, what="every connection released")
            # The memory goes back too (glibc kept it for good: 11 -> 94.5 MB over five rounds).
            if not SANITIZED:
                wait_for(lambda: rss_mb(pid) < start_rss + 4, timeout=15,
                         what=f"round {round_}: resident memory back near {start_rss:.1f} MB")
        self.assertEqual(ask(endpoint, "PING")[0], "200")

    def test_oversized_requests_disconnect_their_sender(self):
        trainer = self.start("kms-trainer", "--samples", "@tcp://127.0.0.1:*",
                             "--control", "@tcp://127.0.0.1:*", "--data-dir", os.path.join(self.tmp, "d"))
        endpoint = f"tcp://127.0.0.1:{trainer.logged_port('control')}"
        wait_for(lambda: ask(endpoint, "PING", timeout=0.5)[0] == "200", what="trainer answers PING")
        self.assertEqual(ask(endpoint, "X" * 60_000)[0], "400")  # under the cap: a request, refused
        ctx = zmq.Context.instance()
        peers = []
        for _ in range(20):  # each announces 16 MB: 320 MB had the trainer buffered them
            d = ctx.socket(zmq.DEALER)
            d.linger = 0
            d.connect(endpoint)
            d.send_multipart([b"", b"X" * (16 << 20)], copy=False)
            peers.append(d)
        try:
            time.sleep(1)  # the 20 announcements arrive; nothing tells that they have been refused
            self.assertEqual(ask(endpoint, "PING")[0], "200")
            if not SANITIZED:
                self.assertLess(rss_mb(trainer.proc.pid), 40)
            for d in peers:
                self.assertEqual(d.poll(100), 0)  # never answered
        finally:
            for d in peers:
                d.close()


class HostileDataDir(TrainerTestCase):
    """Files planted in the data dir by someone else who can write there."""

    def checkpointed(self, trainer, n=25, start_seq=1):
        self.sync(trainer)
        self.publish(trainer, n, start_seq=start_seq)

    def test_a_symlink_planted_as_the_temporary_file_is_not_written_through(self):
        outside = os.path.join(self.tmp, "outside")
        with open(outside, "w") as f:
            f.write("not yours")
        os.makedirs(self.data)
        t = self.start_trainer("--checkpoint-interval", "0.3")
        os.symlink(outside, os.path.join(self.data, ".core_model.zip.tmp"))
        self.checkpointed(t)
        core = os.path.join(self.data, "core_model.zip")
        wait_for(lambda: os.path.isfile(core) and not os.path.islink(core), what="a real checkpoint")
        self.assertEqual(t.stop(), 0)
        with open(outside) as f:
            self.assertEqual(f.read(), "not yours")
        self.assertFalse(os.path.islink(core))
        with zipfile.ZipFile(core) as z:
            self.assertIsNone(z.testzip())
        self.assertEqual(self.models(self.start_trainer())["core_model"]["samples"], 25)

    def test_a_symlinked_checkpoint_is_set_aside_not_followed(self):
        t = self.start_trainer()
        self.checkpointed(t)
        self.assertEqual(t.stop(), 0)
        core = os.path.join(self.data, "core_model.zip")
        elsewhere = os.path.join(self.tmp, "elsewhere.zip")
        os.rename(core, elsewhere)
        os.symlink(elsewhere, core)
        t2 = self.start_trainer()
        self.assertIn("a symlink", t2.output())
        self.assertEqual(self.models(t2)["core_model"]["samples"], 0)
        aside = glob.glob(core + ".corrupt-*")
        self.assertEqual(len(aside), 1)
        self.assertTrue(os.path.islink(aside[0]))  # the link itself moved, its target untouched
        self.assertTrue(zipfile.is_zipfile(elsewhere))

    def test_a_fifo_named_like_a_checkpoint_does_not_hang_the_start(self):
        os.makedirs(self.data)
        fifo = os.path.join(self.data, "core_model.zip")
        os.mkfifo(fifo)
        start = time.monotonic()
        t = self.start_trainer()  # answers PING: the start did not hang
        self.assertLess(time.monotonic() - start, 5 * SLOWDOWN)
        self.assertIn("not a regular file", t.output())
        aside = glob.glob(fifo + ".corrupt-*")
        self.assertEqual(len(aside), 1)
        self.assertTrue(stat.S_ISFIFO(os.lstat(aside[0]).st_mode))
        self.checkpointed(t)
        self.assertEqual(t.stop(), 0)
        self.assertTrue(zipfile.is_zipfile(fifo))

    def test_a_checkpoint_that_cannot_be_set_aside_is_never_overwritten(self):
        os.makedirs(self.data)
        core = os.path.join(self.data, "core_model.zip")
        with open(core, "wb") as f:
            f.write(b"PK\x03\x04 the only copy of something")
        undo = test_trainer.TestCheckpoints.make_unwritable(self, self.data)
        if undo is None:
            self.skipTest("cannot make a folder unwritable here")
        self.addCleanup(undo)
        t = self.start_trainer("--checkpoint-interval", "0.3")
        self.assertIn("kept, and not overwritten", t.output())
        self.checkpointed(t)
        errors = self.stats(t)["checkpoint_errors"]
        wait_for(lambda: self.stats(t)["checkpoint_errors"] > errors, what="a checkpoint refused")
        undo()
        # Writable again: the original is set aside, the fresh model written beside it.
        wait_for(lambda: glob.glob(core + ".corrupt-*"), what="the unusable checkpoint set aside")
        wait_for(lambda: zipfile.is_zipfile(core), what="the fresh model written")
        with open(glob.glob(core + ".corrupt-*")[0], "rb") as f:
            self.assertEqual(f.read(), b"PK\x03\x04 the only copy of something")
        self.assertEqual(t.stop(), 0)


class Timestamps(TrainerTestCase):
    """Samples whose time no publisher measured: held back and counted (rejected_time,
    rejected_interval), from a publisher's first sample on, whatever came before."""

    def send(self, trainer, samples):
        before = self.stats(trainer)
        for sample in samples:
            self.pub.send(sample)
        after = self.received(trainer, len(samples), before)
        return {k: after[k] - before[k] for k in ("samples_accepted", "rejected_time", "rejected_interval")}

    def sample(self, seq, node="node-1", dt=5.0, ts=None):
        s = make_sample(self.rng, seq, node=node, dt=5.0)
        s["dt"] = dt
        if ts is not None:
            s["ts"] = ts
        return s

    def test_samples_from_the_future_or_with_impossible_intervals_are_held_back(self):
        t = self.start_trainer()
        self.sync(t)
        year_3000 = 32503680000.0
        # A new publisher's very first sample, before any interval of its own is known.
        self.assertEqual(self.send(t, [self.sample(1, node="fresh", ts=year_3000)]),
                         {"samples_accepted": 0, "rejected_time": 1, "rejected_interval": 0})
        self.assertEqual(self.send(t, [self.sample(1, node="fresh2", dt=1e-9)]),
                         {"samples_accepted": 0, "rejected_time": 1, "rejected_interval": 0})
        self.publish(t, 10)
        now = time.time()
        counts = self.send(t, [self.sample(11, ts=year_3000), self.sample(12, ts=now + 600),
                               self.sample(13, dt=1e-9), self.sample(14, dt=3600.0)])
        self.assertEqual(counts, {"samples_accepted": 0, "rejected_time": 4, "rejected_interval": 0})
        # A clock a little ahead of ours is fine.
        self.assertEqual(self.send(t, [self.sample(15, ts=now + 5)])["samples_accepted"], 1)

    def test_a_publisher_lying_about_its_interval_never_gets_it_accepted(self):
        t = self.start_trainer()
        self.sync(t)
        self.publish(t, 10)
        # Every 5 s by its own clock, it claims 0.01 s intervals: once 8 such had filled half of
        # the median's window they were accepted.
        counts = self.send(t, [self.sample(seq, dt=0.01) for seq in range(11, 41)])
        self.assertEqual(counts, {"samples_accepted": 0, "rejected_time": 0, "rejected_interval": 30})
        # An interval honestly reconfigured (the spacing of ts changes with dt) is learned again.
        last = 1.7e9 + 40 * 5.0
        counts = self.send(t, [self.sample(seq, dt=1.0, ts=last + (seq - 40)) for seq in range(41, 61)])
        self.assertGreaterEqual(counts["samples_accepted"], 10)
        self.assertEqual(counts["rejected_time"], 0)
