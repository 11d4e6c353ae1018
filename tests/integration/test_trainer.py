"""kms-trainer as a real process: samples from a Python publisher (the wire of docs/contract.md,
"Samples"), requests over its control socket (kms_proto.h), checkpoints on a real disk."""
import glob
import io
import json
import os
import random
import signal
import subprocess
import time
import unittest
import zipfile

import msgpack
import zmq

from kmstest import (BUILTIN_MODELS, CORE_DRAM_MODELS, SLOWDOWN, ProcessTestCase, binary, wait_for,
                     contract_predict as predict)

CTX = zmq.Context.instance()
ARCHS = ("x86_64", "arm64")


def truth(features, arch):
    """The linear truth every test publishes: watts from the usage rates."""
    f = features
    core = 5 + 2e-9 * f["cpu_cycles"] + 1e-9 * f["cpu_instructions"] + 1.5 * f["cpu_time"] + (3 if arch == "arm64" else 0)
    dram = 2 + 1e-7 * f["cache_misses"] + 3e-10 * f["resident_memory"] + (0.5 if arch == "arm64" else 0)
    return {"core": core, "dram": dram}


def make_sample(rng, seq, node="node-1", dt=5.0, arch=None):
    arch = arch or ARCHS[0]
    features = {
        "cpu_cycles": rng.uniform(1e9, 3e9),
        "cpu_instructions": rng.uniform(1e9, 4e9),
        "cpu_time": rng.uniform(0.5, 8),
        "cache_misses": rng.uniform(1e6, 1e7),
        "resident_memory": rng.uniform(1e9, 8e9),
    }
    return {"v": 1, "seq": seq, "ts": 1.7e9 + seq * dt, "dt": dt, "node": node, "arch": arch,
            "features": features, "targets": truth(features, arch)}


def checkpointed_samples(path):
    """The sample count of the checkpoint at `path`; None while there is none (or it is being
    replaced)."""
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("metadata.json"))["samples"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def ask(endpoint, *frames, timeout=5.0):
    """One request on a fresh REQ socket; returns (status, body bytes)."""
    s = CTX.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, int(timeout * 1000 * SLOWDOWN))
    s.connect(endpoint)
    try:
        s.send_multipart([f if isinstance(f, bytes) else f.encode() for f in frames])
        reply = s.recv_multipart()
    finally:
        s.close()
    assert len(reply) == 2, f"a reply is two frames, got {len(reply)}"
    return reply[0].decode(), reply[1]


def ask_json(endpoint, *frames):
    status, body = ask(endpoint, *frames)
    return status, json.loads(body)


class Publisher:
    """A PUB socket that the trainer connects to, as kms-scraper's would be. An XPUB, so that
    the test sees each trainer's subscriptions arrive (PUB drops everything sent before)."""

    TOPICS = (b"kepler.node", b"kepler.container")  # what kms-trainer subscribes to

    def __init__(self):
        self.sock = CTX.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_VERBOSE, 1)  # every trainer's subscriptions, not only the first's
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 100000)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = ">" + self.sock.last_endpoint.decode()
        self.trainers = 0  # trainers started on this publisher
        self.subscriptions = {t: 0 for t in self.TOPICS}

    def subscribed(self):
        """Whether every trainer started on this publisher has subscribed to both topics."""
        while True:
            try:
                message = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if message[:1] == b"\x01" and message[1:] in self.subscriptions:
                self.subscriptions[message[1:]] += 1
        return all(n >= self.trainers for n in self.subscriptions.values())

    def send(self, sample, topic=b"kepler.node"):
        self.sock.send_multipart([topic, msgpack.packb(sample)])

    def raw(self, *frames):
        self.sock.send_multipart(list(frames))

    def close(self):
        self.sock.close()


class TrainerTestCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.rng = random.Random(42)
        self.pub = Publisher()
        self.addCleanup(self.pub.close)
        self.data = os.path.join(self.tmp, "data")

    def start_trainer(self, *extra, data=None, pub=None):
        (pub or self.pub).trainers += 1
        p = self.start("kms-trainer", "--samples", (pub or self.pub).endpoint, "--control", "@tcp://127.0.0.1:*",
                       "--data-dir", data or self.data, "--min-samples", "20", *extra)
        control = p.control = f"tcp://127.0.0.1:{p.logged_port('control')}"
        wait_for(lambda: ask(control, "PING", timeout=0.5)[0] == "200", what="trainer answers PING")
        return p

    def stats(self, trainer):
        status, body = ask_json(trainer.control, "STATS")
        self.assertEqual(status, "200")
        return body

    def models(self, trainer):
        status, body = ask_json(trainer.control, "LIST")
        self.assertEqual(status, "200")
        return {m["name"]: m for m in body["models"]}

    def sync(self, trainer, pub=None):
        """Waits until the trainers' subscriptions are through (PUB drops everything before);
        returns STATS, the baseline of exact counter deltas."""
        pub = pub or self.pub
        wait_for(pub.subscribed, what="subscription through")
        return self.stats(trainer)

    def received(self, trainer, count, baseline):
        """Waits until `count` more messages than the baseline were received."""
        target = baseline["samples_received"] + count
        return wait_for(lambda: (s := self.stats(trainer))["samples_received"] >= target and s,
                        what=f"{count} messages received")

    def publish(self, trainer, n, start_seq=1, node="node-1", pub=None, archs=ARCHS[:1]):
        """Sends n valid samples, their architectures taken in turn from archs, and waits until
        the trainer has accepted them all."""
        pub = pub or self.pub
        target = self.stats(trainer)["samples_accepted"] + n
        samples = [make_sample(self.rng, start_seq + i, node=node, arch=archs[i % len(archs)]) for i in range(n)]
        for s in samples:
            pub.send(s)
        wait_for(lambda: self.stats(trainer)["samples_accepted"] >= target, what=f"{n} samples accepted")
        return samples


class TestTraining(TrainerTestCase):
    def test_learns_the_linear_truth_and_serves_weights_that_predict_it(self):
        t = self.start_trainer("--history-interval", "0.1")
        self.sync(t)
        self.publish(t, 80, archs=ARCHS)
        evidence = 8  # arm64's first 7 samples wait for its slot (the first architecture is taken on sight)
        for model, target in (("core_model", "core"), ("dram_model", "dram")):
            status, doc = ask_json(t.control, "WEIGHTS", model)
            self.assertEqual(status, "200", doc)
            self.assertEqual(doc["model_name"], model)
            self.assertEqual(doc["samples"], 80 - (evidence - 1))
            self.assertEqual(self.models(t)[model]["pending"], evidence - 1)
            for i in range(20):  # points never seen, both architectures
                s = make_sample(self.rng, 0, arch=ARCHS[i % 2])
                want = s["targets"][target]
                self.assertAlmostEqual(predict(doc, s["features"], s["arch"]), want, delta=1e-6 * want)
        wait_for(lambda: all(len(self.models(t)[m]["history"]) >= 2 for m in CORE_DRAM_MODELS), what="fit history")
        core = self.models(t)["core_model"]
        self.assertTrue(core["ready"])
        self.assertEqual(core["features"], ["cpu_cycles", "cpu_instructions", "cpu_time"])
        self.assertEqual(core["target"], "core")
        # Prequential: early samples were predicted by early fits, so the figures are honest,
        # not perfect; the exactness of the fit is checked through the predictions above.
        self.assertGreater(core["fit"]["window_r2"], 0.9)
        self.assertEqual(core["weights"]["All_Weights"], ask_json(t.control, "WEIGHTS", "core_model")[1]["All_Weights"])
        ts, r2, rmse = core["history"][-1]
        self.assertLessEqual(abs(ts - time.time()), 60)
        self.assertEqual(r2, core["fit"]["window_r2"])
        self.assertEqual(rmse, core["fit"]["window_rmse"])

    def test_requests_are_answered_promptly_during_a_flood_of_samples(self):
        t = self.start_trainer()
        self.sync(t)
        frames = [msgpack.packb(make_sample(self.rng, i + 1)) for i in range(20000)]
        target = self.stats(t)["samples_accepted"] + len(frames)
        slowest = 0.0
        for i, frame in enumerate(frames):
            self.pub.raw(b"kepler.node", frame)
            if i % 200 == 199:  # ~20k samples/s at most: a flood, within the socket's queue
                time.sleep(0.01)
            if i % 2000 == 1999:
                t0 = time.monotonic()
                self.assertEqual(ask(t.control, "LIST")[0], "200")
                slowest = max(slowest, time.monotonic() - t0)
        wait_for(lambda: self.stats(t)["samples_accepted"] >= target, what="the flood learned")
        self.assertLess(slowest, 0.5 * SLOWDOWN)
        self.assertEqual(self.stats(t)["seq_gaps"], 0)
        self.assertEqual(self.models(t)["core_model"]["samples"], len(frames))

    def test_not_ready_is_503_with_counts_and_unknown_is_404(self):
        t = self.start_trainer("--min-samples", "30")
        self.sync(t)
        self.publish(t, 10)
        for command in ("WEIGHTS", "ZIP"):
            status, body = ask_json(t.control, command, "core_model")
            self.assertEqual(status, "503")
            self.assertEqual(body["samples"], 10)
            self.assertEqual(body["min_samples"], 30)
            self.assertIn("not ready", body["error"])
            status, body = ask_json(t.control, command, "no_such_model")
            self.assertEqual(status, "404")
            self.assertIn("no_such_model", body["error"])
        listed = self.models(t)["core_model"]
        self.assertFalse(listed["ready"])
        self.assertIsNone(listed["weights"])
        self.assertEqual(listed["samples"], 10)

    def test_every_malformed_request_gets_400(self):
        t = self.start_trainer()
        bad = [
            (b"FROB",),                          # unknown command
            (b"ping",),                          # commands are case-sensitive
            (b"PING", b"extra"),                 # no argument expected
            (b"LIST", b"core_model"),
            (b"STATS", b"x"),
            (b"WEIGHTS",),                       # argument missing
            (b"ZIP",),
            (b"WEIGHTS", b"core_model", b"x"),   # three frames
            (b"WEIGHTS", b""),                   # empty model name
            (b"",),                              # empty command
            (b"X" * 60_000,),                    # oversized command (bigger ones disconnect their sender)
            (b"WEIGHTS", b"m" * 5000),           # oversized model name
            (b"WEIGHTS", b"core\x00model"),      # not text
            (b"\xff\xfe\x00",),                  # binary
        ]
        before = self.stats(t)["requests_bad"]
        for frames in bad:
            status, body = ask(t.control, *frames)
            self.assertEqual(status, "400", frames[:2])
            self.assertIn("error", json.loads(body))
        self.assertEqual(self.stats(t)["requests_bad"], before + len(bad))
        self.assertEqual(ask(t.control, "PING")[0], "200")

    def test_model_spec_file_adds_models(self):
        spec = os.path.join(self.tmp, "models.json")
        with open(spec, "w") as f:
            json.dump([{"name": "package_model", "features": ["cpu_cycles", "cpu_time"], "target": "package"}], f)
        t = self.start_trainer("--models", spec)
        self.sync(t)
        baseline = self.stats(t)
        for i in range(40):
            s = make_sample(self.rng, i + 1)
            s["targets"]["package"] = 10 + 4e-9 * s["features"]["cpu_cycles"] + 2 * s["features"]["cpu_time"]
            self.pub.send(s)
        self.received(t, 40, baseline)
        models = self.models(t)
        self.assertEqual(set(models), BUILTIN_MODELS | {"package_model"})
        self.assertEqual(models["package_model"]["samples"], 40)
        status, doc = ask_json(t.control, "WEIGHTS", "package_model")
        self.assertEqual(status, "200")
        f = {"cpu_cycles": 2e9, "cpu_time": 3.0}
        self.assertAlmostEqual(predict(doc, f, "x86_64"), 10 + 8 + 6, delta=1e-6)

    def test_forgetting_follows_a_changed_truth(self):
        keep = self.start_trainer()
        forget = self.start_trainer("--forgetting", "0.9", data=os.path.join(self.tmp, "forget"))
        for t in (keep, forget):
            self.sync(t)
        targets = [self.stats(t)["samples_accepted"] + 200 for t in (keep, forget)]
        for i in range(200):
            s = make_sample(self.rng, i + 1)
            if i >= 100:  # the node's power doubles (new hardware, say)
                s["targets"] = {k: 2 * v for k, v in s["targets"].items()}
            self.pub.send(s)
        for t, target in zip((keep, forget), targets):
            wait_for(lambda: self.stats(t)["samples_accepted"] >= target, what="200 samples")
        errors = []
        for t in (keep, forget):
            status, doc = ask_json(t.control, "WEIGHTS", "core_model")
            self.assertEqual(status, "200")
            worst = 0
            for _ in range(20):
                s = make_sample(self.rng, 0)
                want = 2 * s["targets"]["core"]
                worst = max(worst, abs(predict(doc, s["features"], s["arch"]) - want) / want)
            errors.append(worst)
        self.assertGreater(errors[0], 0.1)   # remembers the old truth: half-way between
        self.assertLess(errors[1], 0.01)     # forgot it


class TestBadInput(TrainerTestCase):
    def test_absurd_watts_are_held_back_and_the_weights_stay_exact(self):
        """The issue's hostile publisher: well-formed, finite samples with 3e5-1e6 W (beyond any
        bound) and 20 times the usual watts (within the bounds: the residual gate), 1 in 20."""
        t = self.start_trainer("--max-watts", "core=2000")
        self.sync(t)
        absurd = 0
        for i in range(400):
            self.pub.send(make_sample(self.rng, 2 * i + 1))
            if i % 20 == 10:
                bad = make_sample(self.rng, 2 * i + 2, node="hostile")
                bad["targets"]["core"] = self.rng.uniform(3e5, 1e6) if i % 40 == 10 else 20 * bad["targets"]["core"]
                self.pub.send(bad)
                absurd += 1
        wait_for(lambda: self.stats(t)["samples_accepted"] >= 400 + absurd, what="every sample accepted")
        held = self.stats(t)["held_back"]
        self.assertEqual(held["bounds"], absurd // 2)
        self.assertEqual(self.models(t)["core_model"]["held_back"]["outlier"], absurd - absurd // 2)
        self.assertEqual(held["publishers"][0]["node"], "hostile")
        self.assertEqual(self.models(t)["core_model"]["samples"], 400)
        status, doc = ask_json(t.control, "WEIGHTS", "core_model")
        self.assertEqual(status, "200")
        for _ in range(20):  # the noise-free truth, exactly: nothing absurd was learned
            s = make_sample(self.rng, 0)
            want = s["targets"]["core"]
            self.assertAlmostEqual(predict(doc, s["features"], s["arch"]), want, delta=1e-6 * want)
        self.assertIn('msg="sample held back" reason=bounds node=hostile', t.output())

    def test_rogue_publisher_is_dropped_and_counted(self):
        t = self.start_trainer()
        self.sync(t)
        before = self.stats(t)
        good = make_sample(self.rng, 1)
        confused = [
            dict(good, seq="seven"),                         # seq as a string
            dict(good, features=[1, 2, 3]),                  # a list where a map goes
            dict(good, targets={"core": "twelve"}),          # a string where a number goes
            dict(good, ts=None),
            dict(good, node=12345),
        ]
        malformed = [
            (b"kepler.node", b"\xc1\xc1\xc1 not msgpack"),
            (b"kepler.node", b""),
            (b"kepler.node", msgpack.packb(good)[:-7]),       # truncated
            (b"kepler.node", msgpack.packb(dict(good, pad="x" * 100_000))),  # oversized
            (b"kepler.node", msgpack.packb([1, 2, 3])),       # not a map
            (b"kepler.node", msgpack.packb(good), b"third frame"),
            (b"kepler.nodeX", msgpack.packb(good)),           # a topic that only shares the prefix
        ] + [(b"kepler.node", msgpack.packb(c)) for c in confused]
        # Numbers that are no numbers are not a valid sample at all (the codec refuses them).
        for target in (float("nan"), float("inf")):
            malformed.append((b"kepler.node", msgpack.packb(dict(good, targets={"core": target, "dram": 1.0}))))
        malformed.append((b"kepler.node", msgpack.packb(dict(good, features=dict(good["features"], cpu_cycles=float("-inf"))))))
        malformed.append((b"kepler.node", msgpack.packb(dict(good, dt=0.0))))
        # Valid samples whose values no power model may learn.
        bad_values = [dict(good, targets={"core": -3.0, "dram": 1.0}),
                      dict(good, features=dict(good["features"], cache_misses=-1.0))]
        container = dict(good, container_id="abc", pod="p", namespace="ns", container="c")
        # A sample whose kind is not its topic's.
        malformed.append((b"kepler.node", msgpack.packb(container)))
        malformed.append((b"kepler.container", msgpack.packb(good)))

        seq = 1
        sent = 0
        for i in range(30):  # good samples interleaved with every kind of bad one
            self.pub.send(make_sample(self.rng, seq))
            seq += 1
            sent += 1
            if i < len(malformed):
                self.pub.raw(*malformed[i])
                sent += 1
            if i < len(bad_values):
                self.pub.send(dict(bad_values[i], seq=seq))
                seq += 1
                sent += 1
        # A well-formed container sample: counted, never learned by a node model.
        self.pub.send(dict(container, seq=seq), topic=b"kepler.container")
        sent += 1
        self.pub.raw(b"other.topic", b"nobody subscribed to this")  # filtered by ZeroMQ
        self.received(t, sent, before)
        time.sleep(0.2)  # a frame counted twice, or the other topic's, would show by now
        after = self.stats(t)
        self.assertEqual(after["samples_received"] - before["samples_received"], sent)
        self.assertEqual(after["frames_malformed"] - before["frames_malformed"], len(malformed))
        self.assertEqual(after["rejected_values"] - before["rejected_values"], len(bad_values))
        self.assertEqual(after["samples_rejected"] - before["samples_rejected"], len(bad_values))
        self.assertEqual(after["container_samples"] - before["container_samples"], 1)
        self.assertEqual(after["samples_accepted"] - before["samples_accepted"], 30)
        self.assertEqual(after["seq_gaps"], 0)
        self.assertEqual(self.models(t)["core_model"]["samples"], 30)
        status, doc = ask_json(t.control, "WEIGHTS", "core_model")
        self.assertEqual(status, "200")
        s = make_sample(self.rng, 0)
        self.assertAlmostEqual(predict(doc, s["features"], s["arch"]), s["targets"]["core"], delta=1e-6 * s["targets"]["core"])
        self.assertIn("malformed sample message dropped", t.output())

    def test_seq_gaps_restarts_and_unusual_intervals_are_counted(self):
        t = self.start_trainer()
        self.sync(t)
        before = self.stats(t)
        messages = []
        # node-a: 1..10, then 11-13 lost, 14..20; node-b interleaved, 100..116 without gaps.
        # node-a's odd numbers are container samples: one series with the node samples.
        a_seqs = list(range(1, 11)) + list(range(14, 21))
        containers = 0
        for i, seq in enumerate(a_seqs):
            m = make_sample(self.rng, seq, node="node-a")
            if seq % 2:
                m.update(container_id=f"c{seq}", pod="p", namespace="ns", container="c")
                containers += 1
            messages.append(m)
            messages.append(make_sample(self.rng, 100 + i, node="node-b"))
        # node-a's scraper restarts: seq starts over (not 2^64 gaps), then 1 more lost (3 -> 5).
        for seq in (1, 2, 3, 5):
            messages.append(make_sample(self.rng, seq, node="node-a"))
        # node-b: one interval 12x its usual 5 s (rejected), one of 10 s (a skipped scrape: fine).
        messages.append(make_sample(self.rng, 117, node="node-b", dt=60.0))
        messages.append(make_sample(self.rng, 118, node="node-b", dt=10.0))
        for m in messages:
            self.pub.send(m, topic=b"kepler.container" if "container_id" in m else b"kepler.node")
        self.received(t, len(messages), before)
        after = self.stats(t)
        self.assertEqual(after["seq_gaps"] - before["seq_gaps"], 3 + 1)
        self.assertEqual(after["publisher_restarts"] - before["publisher_restarts"], 1)
        self.assertEqual(after["rejected_interval"] - before["rejected_interval"], 1)
        self.assertEqual(after["publishers"], 2)
        self.assertEqual(after["container_samples"] - before["container_samples"], containers)
        self.assertEqual(after["samples_accepted"] - before["samples_accepted"], len(messages) - containers - 1)


    def test_one_counter_across_nodes_is_not_taken_for_gaps(self):
        """kms-scraper numbers all its messages, every node's and container's, with one counter."""
        t = self.start_trainer()
        self.sync(t)
        before = self.stats(t)
        seq, sent, lost = 0, 0, 0
        for rnd in range(10):
            for node, containers in (("node-a", 3), ("node-b", 5)):
                seq += 1
                self.pub.send(make_sample(self.rng, seq, node=node))
                sent += 1
                for c in range(containers):
                    seq += 1
                    if rnd == 6 and c == 2:
                        lost += 1  # never sent: lost on the way
                        continue
                    m = dict(make_sample(self.rng, seq, node=node), container_id=f"c{c}", pod="p",
                             namespace="ns", container="c")
                    self.pub.send(m, topic=b"kepler.container")
                    sent += 1
        self.received(t, sent, before)
        after = self.stats(t)
        self.assertEqual(after["seq_gaps"] - before["seq_gaps"], lost)
        self.assertEqual(after["publisher_restarts"], 0)
        self.assertEqual(after["samples_accepted"] - before["samples_accepted"], 20)


class TestCheckpoints(TrainerTestCase):
    def comparable(self, model):
        return json.dumps(model, sort_keys=True)

    def test_sigterm_then_restart_gives_identical_state(self):
        t = self.start_trainer("--history-interval", "0.2")
        self.sync(t)
        self.publish(t, 50)
        wait_for(lambda: all(len(self.models(t)[m]["history"]) >= 2 for m in CORE_DRAM_MODELS), what="fit history")
        before_models = self.models(t)
        before_weights = ask(t.control, "WEIGHTS", "core_model")
        self.assertEqual(t.stop(), 0)
        self.assertIn("final_checkpoint=ok", t.output())
        self.assertEqual(sorted(os.listdir(self.data)), sorted(m + ".zip" for m in CORE_DRAM_MODELS))

        t2 = self.start_trainer("--history-interval", "600")
        self.assertIn("checkpoint loaded", t2.output())
        after_models = self.models(t2)
        self.assertEqual(set(after_models), set(before_models))
        # Models that learned nothing have no checkpoint (their skip counters start again).
        for name in CORE_DRAM_MODELS:
            before, after = before_models[name], after_models[name]
            # A history point may have been added between LIST and SIGTERM: a prefix then.
            history_before, history_after = before.pop("history"), after.pop("history")
            self.assertGreaterEqual(len(history_before), 2)
            self.assertEqual(history_after[: len(history_before)], history_before)
            self.assertEqual(self.comparable(after), self.comparable(before))
        self.assertEqual(ask(t2.control, "WEIGHTS", "core_model"), before_weights)

    def test_a_second_trainer_on_the_data_dir_says_why_and_exits_2(self):
        first = self.start_trainer()
        r = subprocess.run([binary("kms-trainer"), "--samples", self.pub.endpoint, "--control", "@tcp://127.0.0.1:*",
                            "--data-dir", self.data], capture_output=True, text=True, timeout=10 * SLOWDOWN)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("another kms-trainer uses the data dir", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = subprocess.run([binary("kms-trainer"), "import", os.path.join(self.tmp, "none.zip"), "--data-dir", self.data],
                           capture_output=True, text=True, timeout=10 * SLOWDOWN)
        self.assertEqual(r.returncode, 2, r.stderr)  # an offline command too
        self.assertEqual(first.stop(), 0)
        self.processes.remove(first)
        self.start_trainer()  # the lock goes with the process

    def test_sigint_checkpoints_and_exits_0(self):
        t = self.start_trainer("--checkpoint-interval", "3600")
        self.sync(t)
        self.publish(t, 25)
        self.assertFalse(os.path.exists(os.path.join(self.data, "core_model.zip")))  # not yet due
        self.assertEqual(t.stop(signal.SIGINT), 0)
        with zipfile.ZipFile(os.path.join(self.data, "core_model.zip")) as z:
            self.assertEqual(json.loads(z.read("metadata.json"))["samples"], 25)

    def test_kill9_loses_at_most_one_checkpoint_interval(self):
        interval = 0.5
        t = self.start_trainer("--checkpoint-interval", str(interval))
        self.sync(t)
        self.publish(t, 40)
        done = time.time()
        # A checkpoint that started after the 40th sample was learned.
        wait_for(lambda: (self.stats(t)["last_checkpoint"] or 0) > done, what="a checkpoint after the samples")
        self.publish(t, 5, start_seq=41)
        t.kill9()
        self.assertFalse(glob.glob(os.path.join(self.data, "*.corrupt-*")))

        t2 = self.start_trainer()
        samples = self.models(t2)["core_model"]["samples"]
        self.assertGreaterEqual(samples, 40)
        self.assertLessEqual(samples, 45)
        self.assertNotIn("moved aside", t2.output())

    def test_corrupt_checkpoints_are_moved_aside_and_training_starts_fresh(self):
        t = self.start_trainer()
        self.sync(t)
        self.publish(t, 30)
        self.assertEqual(t.stop(), 0)
        core = os.path.join(self.data, "core_model.zip")
        dram = os.path.join(self.data, "dram_model.zip")
        with open(core, "rb") as f:
            whole = f.read()
        with open(core, "wb") as f:
            f.write(whole[: len(whole) // 2])    # a write cut short
        with open(dram, "wb") as f:
            f.write(b"\x00" * 100)               # not a zip at all

        t2 = self.start_trainer()
        log = t2.output()
        self.assertIn("moved aside", log)
        self.assertIn("core_model.zip", log)
        aside = sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.data, "*.corrupt-*")))
        self.assertEqual(len(aside), 2, aside)
        self.assertTrue(aside[0].startswith("core_model.zip.corrupt-"))
        with open(os.path.join(self.data, aside[0]), "rb") as f:
            self.assertEqual(f.read(), whole[: len(whole) // 2])  # kept for a post mortem
        models = self.models(t2)
        self.assertEqual(models["core_model"]["samples"], 0)
        self.assertEqual(models["dram_model"]["samples"], 0)
        self.sync(t2)
        self.publish(t2, 25)
        self.assertEqual(ask(t2.control, "WEIGHTS", "core_model")[0], "200")

    def test_poisoned_checkpoint_is_set_aside_not_served(self):
        t = self.start_trainer()
        self.sync(t)
        self.publish(t, 30)
        self.assertEqual(t.stop(), 0)
        core = os.path.join(self.data, "core_model.zip")
        with zipfile.ZipFile(core) as z:
            entries = {name: z.read(name) for name in z.namelist()}
        state = json.loads(entries["state.json"])
        state["mean"][3] = -500.0  # the target's mean: a fit that serves negative watts at the mean
        entries["state.json"] = json.dumps(state).encode()
        with zipfile.ZipFile(core, "w") as z:
            for name, data in entries.items():
                z.writestr(name, data)

        t2 = self.start_trainer()
        wait_for(lambda: glob.glob(os.path.join(self.data, "core_model.zip.poisoned-*")), what="set aside")
        log = t2.output()
        self.assertIn("poisoned: it predicts negative watts at the mean of its samples", log)
        self.assertEqual(self.models(t2)["core_model"]["samples"], 0)
        self.assertEqual(ask(t2.control, "WEIGHTS", "core_model")[0], "503")
        self.assertGreater(self.models(t2)["dram_model"]["samples"], 0)  # the other model is kept

    def test_changed_model_definition_sets_the_old_checkpoint_aside(self):
        t = self.start_trainer()
        self.sync(t)
        self.publish(t, 25)
        self.assertEqual(t.stop(), 0)
        spec = os.path.join(self.tmp, "models.json")
        with open(spec, "w") as f:
            json.dump([{"name": "core_model", "features": ["cpu_cycles"], "target": "core"}], f)
        t2 = self.start_trainer("--models", spec)
        self.assertIn("moved aside", t2.output())
        self.assertEqual(len(glob.glob(os.path.join(self.data, "core_model.zip.stale-*"))), 1)
        models = self.models(t2)
        self.assertEqual(models["core_model"]["features"], ["cpu_cycles"])
        self.assertEqual(models["core_model"]["samples"], 0)
        self.assertEqual(models["dram_model"]["samples"], 25)  # unchanged, so kept

    def test_full_disk_logs_keeps_the_old_checkpoint_and_keeps_training(self):
        os.makedirs(self.data)
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "kms-test", self.data], capture_output=True)
        except FileNotFoundError:
            r = None
        if r is None or r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (not root?)")
        self.addCleanup(subprocess.run, ["umount", self.data], capture_output=True)
        t = self.start_trainer("--checkpoint-interval", "0.3")
        self.sync(t)
        self.publish(t, 30)
        core = os.path.join(self.data, "core_model.zip")
        wait_for(lambda: self.stats(t)["checkpoints"] >= 2, what="first checkpoints")
        with open(core, "rb") as f:
            old = f.read()
        filler = os.path.join(self.data, "filler")
        with open(filler, "wb", buffering=0) as f:  # fill the disk to the last byte
            try:
                while True:
                    f.write(b"\0" * 512)
            except OSError:
                pass
        errors = self.stats(t)["checkpoint_errors"]
        self.publish(t, 10, start_seq=31)
        wait_for(lambda: self.stats(t)["checkpoint_errors"] > errors, what="a failed checkpoint")
        self.assertIn("No space left on device", t.output())
        self.assertEqual(sorted(os.listdir(self.data)), sorted([m + ".zip" for m in CORE_DRAM_MODELS] + ["filler"]))
        with open(core, "rb") as f:
            self.assertEqual(f.read(), old)
        self.publish(t, 10, start_seq=41)
        self.assertEqual(self.models(t)["core_model"]["samples"], 50)

        os.unlink(filler)
        checkpoints = self.stats(t)["checkpoints"]
        wait_for(lambda: self.stats(t)["checkpoints"] > checkpoints, what="checkpoints again")
        self.assertEqual(t.stop(), 0)
        with zipfile.ZipFile(core) as z:
            self.assertIsNone(z.testzip())
            self.assertEqual(json.loads(z.read("metadata.json"))["samples"], 50)

    def make_unwritable(self, path):
        """Makes a folder unwritable (root ignores permissions: the immutable attribute then);
        returns the undo, or None when this machine cannot."""
        if os.geteuid() != 0:
            os.chmod(path, 0o555)
            undo = lambda: os.chmod(path, 0o755)
        else:
            try:
                if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
                    return None
            except FileNotFoundError:  # no e2fsprogs
                return None
            undo = lambda: subprocess.run(["chattr", "-i", path], capture_output=True)
        probe = os.path.join(path, ".probe")
        try:
            with open(probe, "w"):
                pass
            os.unlink(probe)
            undo()
            return None
        except OSError:
            return undo

    def test_unwritable_data_dir_logs_keeps_the_old_checkpoint_and_keeps_training(self):
        t = self.start_trainer("--checkpoint-interval", "0.3")
        self.sync(t)
        self.publish(t, 30)
        wait_for(lambda: checkpointed_samples(os.path.join(self.data, "core_model.zip")) == 30,
                 what="a checkpoint of every sample")
        undo = self.make_unwritable(self.data)
        if undo is None:
            self.skipTest("cannot make a folder unwritable here")
        self.addCleanup(undo)
        with open(os.path.join(self.data, "core_model.zip"), "rb") as f:
            old = f.read()
        errors = self.stats(t)["checkpoint_errors"]
        self.publish(t, 10, start_seq=31)
        wait_for(lambda: self.stats(t)["checkpoint_errors"] > errors, what="a failed checkpoint")
        self.assertIn("checkpoint not written", t.output())
        self.publish(t, 10, start_seq=41)  # training goes on
        self.assertEqual(self.models(t)["core_model"]["samples"], 50)
        with open(os.path.join(self.data, "core_model.zip"), "rb") as f:
            self.assertEqual(f.read(), old)
        with zipfile.ZipFile(os.path.join(self.data, "core_model.zip")) as z:
            self.assertIsNone(z.testzip())

        undo()
        checkpoints = self.stats(t)["checkpoints"]
        wait_for(lambda: self.stats(t)["checkpoints"] > checkpoints, what="checkpoints again")
        self.assertEqual(t.stop(), 0)
        t2 = self.start_trainer()
        self.assertEqual(self.models(t2)["core_model"]["samples"], 50)


class TestZip(TrainerTestCase):
    def test_zip_is_a_clean_archive_whose_import_continues_identically(self):
        a = self.start_trainer()
        self.sync(a)
        self.publish(a, 40)
        status, body = ask(a.control, "ZIP", "core_model")
        self.assertEqual(status, "200")
        z = zipfile.ZipFile(io.BytesIO(body))
        self.assertIsNone(z.testzip())
        self.assertEqual(sorted(z.namelist()), ["metadata.json", "state.json", "weights.json"])
        self.assertEqual(z.read("weights.json"), ask(a.control, "WEIGHTS", "core_model")[1])
        meta = json.loads(z.read("metadata.json"))
        self.assertEqual(meta["name"], "core_model")
        self.assertEqual(meta["target"], "core")
        self.assertEqual(meta["features"], ["cpu_cycles", "cpu_instructions", "cpu_time"])
        self.assertEqual(meta["samples"], 40)
        self.assertIn("server_version", meta)
        self.assertGreater(meta["fit"]["r2"], 0.8)
        exported = os.path.join(self.tmp, "core_model.zip")
        with open(exported, "wb") as f:
            f.write(body)

        # b: a fresh trainer seeded with the zip; c: `kms-trainer import` into a data dir.
        b = self.start_trainer("--seed-model", exported, data=os.path.join(self.tmp, "b"))
        c_data = os.path.join(self.tmp, "c")
        r = subprocess.run([binary("kms-trainer"), "import", exported, "--data-dir", c_data],
                           capture_output=True, text=True, timeout=30 * SLOWDOWN)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("core_model", r.stdout)
        c = self.start_trainer(data=c_data)
        for t in (b, c):
            self.assertEqual(self.models(t)["core_model"]["samples"], 40)
            self.assertEqual(ask(t.control, "WEIGHTS", "core_model"), ask(a.control, "WEIGHTS", "core_model"))

        # The same new samples into all three: they stay identical, bit for bit.
        for t in (a, b, c):
            self.sync(t)
        more = [make_sample(self.rng, 41 + i) for i in range(15)]
        for s in more:
            self.pub.send(s)
        for t in (a, b, c):
            wait_for(lambda: self.models(t)["core_model"]["samples"] == 55, what="15 more samples")
        want = ask(a.control, "WEIGHTS", "core_model")
        self.assertEqual(json.loads(want[1])["samples"], 55)
        self.assertEqual(ask(b.control, "WEIGHTS", "core_model"), want)
        self.assertEqual(ask(c.control, "WEIGHTS", "core_model"), want)

    def test_a_model_not_configured_here_is_imported_and_trained_on(self):
        spec = os.path.join(self.tmp, "models.json")
        with open(spec, "w") as f:
            json.dump([{"name": "site_platform_model", "features": ["cpu_time", "resident_memory"],
                        "target": "platform"}], f)
        a = self.start_trainer("--models", spec)
        self.sync(a)
        target = self.stats(a)["samples_accepted"] + 30
        for i in range(30):
            s = make_sample(self.rng, i + 1)
            s["targets"]["platform"] = 50 + 4 * s["features"]["cpu_time"] + 1e-9 * s["features"]["resident_memory"]
            self.pub.send(s)
        wait_for(lambda: self.stats(a)["samples_accepted"] >= target, what="30 samples")
        status, body = ask(a.control, "ZIP", "site_platform_model")
        self.assertEqual(status, "200")
        exported = os.path.join(self.tmp, "site_platform_model.zip")
        with open(exported, "wb") as f:
            f.write(body)
        b_data = os.path.join(self.tmp, "b")
        r = subprocess.run([binary("kms-trainer"), "import", exported, "--data-dir", b_data],
                           capture_output=True, text=True, timeout=30 * SLOWDOWN)
        self.assertEqual(r.returncode, 0, r.stderr)
        b = self.start_trainer(data=b_data)  # no --models: the checkpoint brings the model along
        models = self.models(b)
        self.assertEqual(set(models), BUILTIN_MODELS | {"site_platform_model"})
        self.assertEqual(models["site_platform_model"]["samples"], 30)
        self.assertEqual(ask(b.control, "WEIGHTS", "site_platform_model"),
                         ask(a.control, "WEIGHTS", "site_platform_model"))

    def test_import_refuses_what_is_not_a_model(self):
        junk = os.path.join(self.tmp, "junk.zip")
        with open(junk, "wb") as f:
            f.write(b"PK\x03\x04 not really")
        r = subprocess.run([binary("kms-trainer"), "import", junk, "--data-dir", self.data],
                           capture_output=True, text=True, timeout=30 * SLOWDOWN)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a model zip", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.data, "core_model.zip")))


class TestCommandLine(unittest.TestCase):
    def run_trainer(self, *args, env=None):
        return subprocess.run([binary("kms-trainer"), *args], capture_output=True, text=True,
                              timeout=30 * SLOWDOWN, env=dict(os.environ, **(env or {})))

    def test_help_names_every_option_and_version_names_the_program(self):
        r = self.run_trainer("--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--samples", "--control", "--data-dir", "--checkpoint-interval", "--min-samples",
                       "--models", "--forgetting", "train", "import"):
            self.assertIn(option, r.stdout)
        r = self.run_trainer("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"kms-trainer \d+\.\d+")

    def test_bad_configuration_exits_2_naming_the_option(self):
        bad_spec = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"kms-bad-spec-{os.getpid()}.json")
        with open(bad_spec, "w") as f:
            f.write('[{"name": "x", "features": "cpu_cycles", "target": "core"}]')
        self.addCleanup(os.unlink, bad_spec)
        cases = [
            (("--checkpoint-interval", "soon"), None, "--checkpoint-interval"),
            (("--min-samples", "-3"), None, "--min-samples"),
            (("--forgetting", "1.5"), None, "--forgetting"),
            (("--models", bad_spec), None, "--models"),
            (("--models", "/no/such/file.json"), None, "--models"),
            ((), {"KMS_CHECKPOINT_INTERVAL": "0"}, "KMS_CHECKPOINT_INTERVAL"),
            (("--samples", "nowhere"), None, "--samples"),
            (("--no-such-option",), None, "--no-such-option"),
            (("train",), None, "--dataset"),
            (("frobnicate",), None, "frobnicate"),
        ]
        for args, env, named in cases:
            r = self.run_trainer(*args, env=env)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn(named, lines[0])


if __name__ == "__main__":
    unittest.main()
