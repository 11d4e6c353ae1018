"""The whole pipeline on loopback, as a user runs it: kepler-sim -> kms-scraper -> kms-trainer
-> kms-api. What it learns is checked against kepler-sim's known truth, and processes are
killed under load to check that nothing is lost and nothing hangs."""
import signal
import threading
import time
import unittest

from kmstest import ProcessTestCase, Pipeline, contract_predict, http, truth_predict, wait_for, SLOWDOWN

ARCH = "Sapphire Rapids"  # kepler-sim's default


def pipeline(case, interval=0.25, noise=0.02, checkpoint_interval=30, trainer_timeout=500, trainer_args=()):
    return Pipeline(case, sim=("--noise", noise, "--containers", 20, "--seed", 11), interval=interval,
                    trainer=("--checkpoint-interval", checkpoint_interval, *trainer_args),
                    api=("--trainer-timeout", trainer_timeout))


class TestLearnsTheTruth(ProcessTestCase):
    def test_sixty_seconds_of_quarter_second_scrapes_predict_the_truth_within_two_percent(self):
        p = pipeline(self, interval=0.25, noise=0.02)
        # Sixty seconds' worth of scrapes learned, however long a loaded machine takes to get them.
        learned = 240
        wait_for(lambda: all((p.samples(m) or 0) >= learned for m in ("core_model", "dram_model")),
                 timeout=120, interval=0.5, what=f"{learned} samples learned by core_model and dram_model")
        truth = p.truth()
        docs = {m: p.weights(m) for m in ("core_model", "dram_model")}
        for model, doc in docs.items():
            self.assertIsNotNone(doc, f"{model} not ready after {learned} samples")
        # Fresh usage vectors: what the node does next, which no model has seen.
        fresh = p.fresh_features()
        for model, component in (("core_model", "core"), ("dram_model", "dram")):
            errors = [abs(contract_predict(docs[model], x, ARCH) - truth_predict(truth, component, x))
                      / truth_predict(truth, component, x) for x in fresh]
            mean_error = sum(errors) / len(errors)
            print(f"{model}: relative error over {len(fresh)} fresh vectors: mean {mean_error:.3%}, "
                  f"max {max(errors):.3%}")
            # Within 2 % on average. Single vectors far along a direction where the node's
            # features move together are extrapolations that 60 one-second noise draws pin down
            # less well: usually under 2.5 %, once 5.4 % in a sanitized build whose scrapes came
            # late (mean 1.4 %); no vector may be off by more than 8 %, which a wrong model is.
            self.assertLess(mean_error, 0.02, model)
            self.assertLess(max(errors), 0.08, model)


class TestStepChange(ProcessTestCase):
    def test_a_forgetting_model_follows_a_step_change_of_the_truth(self):
        """kepler-sim's truth x1.5 (SIGUSR2): the residual gate first holds the new regime back,
        recognises it as a drift, and core_model (--forgetting 0.98) then follows it."""
        p = pipeline(self, interval=0.1, noise=0.02, trainer_args=("--forgetting", "0.98"))
        wait_for(lambda: (p.samples() or 0) >= 150, timeout=120, interval=0.5, what="150 samples learned")
        fresh = p.fresh_features()

        def seen(m):  # every sample the model judged: learned or held back
            return m["samples"] + m["held_back"]["outlier"] + m["held_back"]["drift"]

        def error():
            doc, truth = p.weights("core_model"), p.truth()
            errors = [abs(contract_predict(doc, x, ARCH) - truth_predict(truth, "core", x))
                      / truth_predict(truth, "core", x) for x in fresh]
            return sum(errors) / len(errors)

        self.assertLess(error(), 0.03)
        p.sim.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: p.truth()["truth_changes"] == 1, what="the truth changed")
        start = seen(p.model())
        self.assertGreater(error(), 0.2)
        wait_for(lambda: error() < 0.03, timeout=120, interval=0.2, what="core_model following the new truth")
        m = p.model()
        followed = seen(m) - start
        print(f"core_model (forgetting 0.98) within 3% of the new truth {followed} samples after a x1.5 step "
              f"(held back: {m['held_back']['outlier']} outliers; drifts: {m['held_back']['drifts']})")
        self.assertGreaterEqual(m["held_back"]["drifts"], 1)
        self.assertGreater(m["held_back"]["outlier"], 0)
        self.assertLess(followed, 400)


class TestFaults(ProcessTestCase):
    def test_trainer_kill9_under_load_answers_503_then_resumes_from_its_checkpoint(self):
        p = pipeline(self, interval=0.2, noise=0.01, checkpoint_interval=2, trainer_timeout=500)
        wait_for(lambda: p.weights("core_model"), timeout=60, what="core_model ready")
        stop = threading.Event()
        answers = []

        def load():
            while not stop.is_set():
                t0 = time.monotonic()
                status = http(f"{p.base}/model-weights/core_model", timeout=5)[0]
                answers.append((status, time.monotonic() - t0))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            checkpoints = p.trainer_stats()["checkpoints"]
            wait_for(lambda: p.trainer_stats()["checkpoints"] > checkpoints, timeout=10,
                     what="a checkpoint under load")
            before = p.samples()
            p.trainer.kill9()
            answers.clear()
            # While it is down, long enough for every load thread to run into the trainer
            # timeout a few times.
            wait_for(lambda: sum(1 for s, _ in answers if s == 503) >= 12, timeout=10,
                     what="kms-api answering 503 while the trainer is down")
            down = list(answers)
            p.trainer = p.start_trainer()
            resumed = wait_for(lambda: p.samples(), timeout=20, what="trainer back")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertTrue(down, "requests were made while the trainer was down")
        late = [d for s, d in down if d > (0.5 + 0.2) * SLOWDOWN]
        # While it is down: 503 (cached answers at most 100 ms old may still be 200 right after the kill).
        self.assertTrue(all(s in (200, 503) for s, _ in down), {s for s, _ in down})
        self.assertGreater(sum(1 for s, _ in down if s == 503), 0)
        self.assertEqual(late, [], "answers slower than the timeout + 200 ms")
        # The restarted trainer resumed from its checkpoint: at most one interval (2 s at 5 samples/s) behind.
        lost = before - resumed
        self.assertLessEqual(lost, int(2 / 0.2) + 5, f"before={before} resumed={resumed}")
        self.assertGreater(resumed, 0)
        # And it goes on learning.
        wait_for(lambda: p.samples() > before, timeout=20, what="training resumes")
        self.assertIsNotNone(p.weights("core_model"))

    def test_scraper_kill9_and_restart_is_a_new_publisher_session_not_a_gap(self):
        p = pipeline(self, interval=0.1, noise=0.01)
        wait_for(lambda: p.trainer_stats()["samples_accepted"] >= 20, timeout=30, what="samples flowing")
        p.scraper.kill9()
        before = p.trainer_stats()
        p.scraper = p.start_scraper()
        wait_for(lambda: p.trainer_stats()["samples_accepted"] >= before["samples_accepted"] + 20, timeout=30,
                 what="samples flowing again")
        after = p.trainer_stats()
        self.assertEqual(after["publisher_restarts"], before["publisher_restarts"] + 1)
        # A few messages may be lost in flight at the kill; never a gap of 2^64.
        self.assertLess(after["seq_gaps"] - before["seq_gaps"], 5)


if __name__ == "__main__":
    unittest.main()
