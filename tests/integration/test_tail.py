"""kms-tail against a third-party publisher (Debian's python3-zmq and python3-msgpack): it prints
exactly the valid samples, with every key, honours --topic, and survives garbage."""
import json
import os
import random
import signal
import subprocess
import time
import unittest

import msgpack
import zmq

from kmstest import SLOWDOWN, ProcessTestCase, binary, wait_for


def node_sample(seq, node="node-a", **extra):
    sample = {"v": 1, "seq": seq, "ts": 1764187200.25 + seq, "dt": 5.0, "node": node,
              "arch": "Sapphire Rapids",
              "features": {"cpu_cycles": 2.5e9 + seq, "cpu_instructions": 3.75e9,
                           "cache_misses": 1.25e7, "cpu_time": 1.5, "resident_memory": 8.5e9},
              "targets": {"core": 31.5 + seq / 8, "dram": 4.25, "package": 35.75,
                          "platform": 80.0625}}
    sample.update(extra)
    return sample


def container_sample(seq, **extra):
    sample = node_sample(seq, container_id="0123456789abcdef" * 4, pod="nginx-7d9c-x2k4p",
                         namespace="web", container="nginx")
    sample.update(extra)
    return sample


GARBAGE = [
    [b"kepler.node", os.urandom(40)],                                    # random bytes
    [b"kepler.node", msgpack.packb(node_sample(1))[:-3]],                # truncated
    [b"kepler.node", msgpack.packb(node_sample(1, v=2))],                # unknown version
    [b"kepler.node", msgpack.packb({"v": 1, "seq": 1})],                 # missing keys
    [b"kepler.node", msgpack.packb(node_sample(1, ts="yesterday"))],     # type-confused
    [b"kepler.node", msgpack.packb(node_sample(1, features={"cpu_time": float("nan")}))],
    [b"kepler.node", b"\xdf\xff\xff\xff\xff"],                           # a map of 4G pairs
    [b"kepler.node", b""],                                               # empty body
    [b"kepler.node"],                                                    # one frame
    [b"kepler.node", msgpack.packb(node_sample(1)), b"extra"],           # three frames
    [b"kepler.container", msgpack.packb(node_sample(1))],                # topic/content mismatch
    [b"kepler.node", b"x" * 100000],                                     # over the frame limit
]


class TailTestCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind("tcp://127.0.0.1:*")
        self.port = int(self.pub.last_endpoint.rsplit(b":", 1)[1])

    def tearDown(self):
        self.pub.close()
        self.ctx.term()
        super().tearDown()

    def start_tail(self, *args):
        return self.start("kms-tail", "--endpoint", f">tcp://127.0.0.1:{self.port}", *args)

    def publish(self, topic, sample):
        self.pub.send_multipart([topic.encode(), msgpack.packb(sample)])

    @staticmethod
    def lines(proc):
        """The JSON objects kms-tail printed (its stdout lines; logfmt lines are its stderr)."""
        return [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]

    def connect(self, proc, topic="kepler.node"):
        """PUB/SUB drops what is sent before the subscription arrives: publish a marker sample
        until kms-tail prints it."""
        marker = node_sample(0, node="marker") if topic == "kepler.node" else container_sample(0, node="marker")
        def seen():
            self.publish(topic, marker)
            return any(s["node"] == "marker" for s in self.lines(proc))
        wait_for(seen, timeout=10, interval=0.05, what="kms-tail subscribed")

    def without_marker(self, lines):
        return [s for s in lines if s["node"] != "marker"]


class TestTail(TailTestCase):
    def test_prints_exactly_the_valid_samples_with_every_key(self):
        proc = self.start_tail()
        self.connect(proc)
        sent = []
        rng = random.Random(5)
        for seq in range(1, 9):
            topic, sample = (("kepler.container", container_sample(seq)) if seq % 3 == 0
                             else ("kepler.node", node_sample(seq)))
            self.publish(topic, sample)
            sent.append((topic, sample))
            for frames in rng.sample(GARBAGE, 3):
                self.pub.send_multipart(frames)
        for frames in GARBAGE:
            self.pub.send_multipart(frames)
        self.publish("kepler.node", node_sample(99, node="last"))
        wait_for(lambda: any(s["node"] == "last" for s in self.lines(proc)), what="last sample")
        printed = [s for s in self.without_marker(self.lines(proc)) if s["node"] != "last"]
        self.assertEqual(len(printed), len(sent))
        for (topic, sample), line in zip(sent, printed):
            expected = dict(sample, topic=topic)
            self.assertEqual(line, expected)  # every key, every value, exactly
        self.assertTrue(proc.alive())
        self.assertIn("malformed frame dropped", proc.output())

    def test_topic_prints_only_that_topics_samples(self):
        proc = self.start_tail("--topic", "kepler.container")
        self.connect(proc, topic="kepler.container")
        for seq in range(1, 7):
            self.publish("kepler.node", node_sample(seq))
            self.publish("kepler.container", container_sample(seq))
        self.publish("kepler.container", container_sample(50, node="last"))
        wait_for(lambda: any(s["node"] == "last" for s in self.lines(proc)), what="last sample")
        printed = self.without_marker(self.lines(proc))
        self.assertEqual([s["topic"] for s in printed], ["kepler.container"] * 7)
        self.assertEqual([s["seq"] for s in printed], [1, 2, 3, 4, 5, 6, 50])

    def test_garbage_flood_does_not_kill_it(self):
        proc = self.start_tail()
        self.connect(proc)
        rng = random.Random(9)
        for _ in range(2000):
            body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
            self.pub.send_multipart([b"kepler.node", body])
        def after_seen():  # a full queue may drop some frames: send until one arrives
            self.publish("kepler.node", node_sample(7, node="after"))
            return any(s["node"] == "after" for s in self.lines(proc))
        wait_for(after_seen, interval=0.1, what="sample after garbage")
        self.assertTrue(proc.alive())
        # logged, but not once per frame
        logged = sum("malformed frame dropped" in line for line in proc.output().splitlines())
        self.assertLess(logged, 100)

    def test_sequence_gaps_are_counted(self):
        proc = self.start_tail()
        self.connect(proc)  # markers carry seq 0
        for seq in (1, 2, 5, 6, 10):
            self.publish("kepler.node", node_sample(seq, node="gappy"))
        wait_for(lambda: sum(s["node"] == "gappy" for s in self.lines(proc)) == 5, what="five samples")
        self.assertEqual(proc.stop(signal.SIGTERM), 0)
        self.assertRegex(proc.output(), r"msg=stopping .*printed=\d+ malformed=0 gaps=5")

    def test_count_exits_after_n_samples(self):
        proc = self.start_tail("--count", "3")
        self.connect(proc)  # the marker is the first
        self.publish("kepler.node", node_sample(1))
        self.publish("kepler.node", node_sample(2))
        wait_for(lambda: not proc.alive(), what="kms-tail exit after --count")
        self.assertEqual(proc.proc.returncode, 0)
        self.assertEqual(len(self.lines(proc)), 3)

    def test_signals_exit_zero_quickly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            proc = self.start_tail()
            self.connect(proc)
            started = time.monotonic()
            self.assertEqual(proc.stop(sig), 0)
            self.assertLess(time.monotonic() - started, 1.5 * SLOWDOWN)
            self.assertIn("stopping", proc.output())


class TestCommandLine(unittest.TestCase):
    def run_tail(self, *args):
        return subprocess.run([binary("kms-tail"), *args], capture_output=True, text=True,
                              timeout=20 * SLOWDOWN)

    def test_help_names_every_option_and_a_bad_one_exits_2_printing_nothing(self):
        r = self.run_tail("--help")
        self.assertEqual(r.returncode, 0)
        for text in ("--endpoint", "KMS_SAMPLES_ENDPOINT", "--topic", ">tcp://127.0.0.1:5555"):
            self.assertIn(text, r.stdout)
        r = self.run_tail("--version")
        self.assertEqual(r.returncode, 0)
        self.assertIn("kms-tail", r.stdout)
        for bad in (["--bogus"], ["--endpoint", "not an endpoint"], ["--count", "-1"]):
            r = self.run_tail(*bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
