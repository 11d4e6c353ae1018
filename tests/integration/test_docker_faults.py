"""Faults across containers, on the compose stack: what a user checks after each.

- `docker kill` of the trainer: the API answers 503 within its trainer timeout, and once the
  trainer is started again the model comes back from the volume with its samples.
- the scraper cut off from the trainer (`docker network disconnect`, then connect, under another
  address: another container took its old one): the trainer hears nothing meanwhile, then
  training resumes, and every message the scraper published since is either received or
  counted as a gap.
- `--scale scraper=3` against three simulators: the trainer hears three nodes, and what it
  received is what the three scrapers published.

Each drill has deadlines; each stack is brought down with its volumes (StackTestCase)."""
import os
import time
import unittest

from dockertest import SOURCE_DIR, StackTestCase, docker, http, wait_for

TRAINER_TIMEOUT_S = 1.0  # KMS_TRAINER_TIMEOUT_MS in docker-compose.yml
CONTAINERS = 20          # KEPLER_SIM_CONTAINERS in docker-compose.yml
BURST = CONTAINERS + 1   # messages a scraper publishes per scrape: the node and its containers
FAULTS = os.path.join(SOURCE_DIR, "tests", "docker", "compose.faults.yml")
SCALE = os.path.join(SOURCE_DIR, "tests", "docker", "compose.scale.yml")


def published(metrics):
    """Messages a scraper published, both topics."""
    return sum(v for k, v in metrics.items() if k.startswith("kms_scraper_samples_published_total{"))


def accounted(metrics):
    """Messages the trainer received or knows it lost."""
    return metrics.get("kms_trainer_samples_received_total", 0) + metrics.get("kms_trainer_seq_gaps_total", 0)


class TestFaults(StackTestCase):
    name = "faults"
    extra_files = (FAULTS,)

    def core_samples(self):
        models = self.stack.models()
        return models["core_model"]["samples"] if models else None

    def test_a_killed_trainer_gives_prompt_503s_and_restarts_from_its_volume(self):
        s = self.stack
        s.wait_trained()
        samples = self.core_samples()
        checkpoints = s.api_metrics()["kms_trainer_checkpoints_total"]
        # A checkpoint written after `samples` was read: the volume holds at least that many.
        wait_for(lambda: s.api_metrics().get("kms_trainer_checkpoints_total", 0) > checkpoints, timeout=15,
                 what="a checkpoint")
        docker("kill", s.container("trainer"))
        killed = time.monotonic()

        # Every answer within the trainer timeout (and a little), and a 503 soon.
        while True:
            t0 = time.monotonic()
            status = http(f"{s.api}/model-weights/core_model", timeout=10)[0]
            self.assertLess(time.monotonic() - t0, TRAINER_TIMEOUT_S + 0.5, "an answer slower than the timeout")
            if status == 503:
                break
            self.assertLess(time.monotonic() - killed, 5, "no 503 after the trainer was killed")
        self.assertEqual(http(f"{s.api}/readyz", timeout=10)[0], 503)

        s.compose("start", "trainer")
        started = time.monotonic()
        wait_for(lambda: (self.core_samples() or 0) >= samples, timeout=30, interval=0.5,
                 what=f"core_model back with at least {samples} samples")
        uptime = s.api_metrics()["kms_trainer_uptime_seconds"]
        self.assertLess(uptime, time.monotonic() - started + 1, "not a new trainer process")
        s.wait_trained(timeout=15)

    def test_scraper_cut_off_from_the_trainer_and_back_under_another_address(self):
        s = self.stack
        s.wait_trained()
        scraper = s.container("scraper")
        scraper_metrics = lambda: s.container_metrics(scraper, 9103)  # noqa: E731
        address = lambda: s.inspect(scraper)["NetworkSettings"]["Networks"][s.network()]["IPAddress"]  # noqa: E731
        old_address = address()
        published_before, accounted_before = published(scraper_metrics()), accounted(s.api_metrics())

        docker("network", "disconnect", s.network(), scraper)
        # Another container takes the address meanwhile: the scraper comes back under a new one,
        # and its connection to the trainer from the old one is dead, not merely stalled.
        taker = f"{s.project}-address-taker"
        docker("run", "-d", "--rm", "--name", taker, "--network", s.network(), "debian:12-slim", "sleep", "600")
        try:
            at_cut = accounted(s.api_metrics())
            cut_published = published(scraper_metrics())
            # The scraper still reads its source (another network) and publishes 5 scrapes...
            wait_for(lambda: published(scraper_metrics()) >= cut_published + 5 * BURST, timeout=30, interval=0.5,
                     what="the cut-off scraper publishing")
            # ...which the trainer does not hear (what was already in flight aside).
            self.assertLessEqual(accounted(s.api_metrics()) - at_cut, 2 * BURST)
            samples_during = self.core_samples()
            docker("network", "connect", s.network(), scraper)
            self.assertNotEqual(address(), old_address, "the scraper came back under its old address")
        finally:
            docker("rm", "-f", taker, check=False)
            if s.network() not in s.inspect(scraper)["NetworkSettings"]["Networks"]:
                docker("network", "connect", s.network(), scraper)

        wait_for(lambda: (self.core_samples() or 0) >= samples_during + 5, timeout=60, interval=0.5,
                 what="training resumed after the reconnect")
        # Nothing unaccounted: every message published since the start is received or a counted gap.
        wait_for(lambda: abs((published(scraper_metrics()) - published_before)
                             - (accounted(s.api_metrics()) - accounted_before)) <= 2 * BURST,
                 timeout=30, interval=0.5, what="published = received + gaps")


class TestScaledScrapers(StackTestCase):
    name = "scale"
    extra_files = (SCALE,)
    up_args = ("--scale", "kepler-sim=3", "--scale", "scraper=3")

    def test_trainer_hears_three_nodes_and_counts_each(self):
        s = self.stack
        s.wait_trained()
        scrapers = s.containers("scraper")
        self.assertEqual(len(scrapers), 3)
        wait_for(lambda: s.api_metrics().get("kms_trainer_publishers") == 3, timeout=30, interval=0.5,
                 what="three publishers heard by the trainer")
        # One simulator each.
        targets = set()
        for c in scrapers:
            metrics = s.container_metrics(c, 9103)
            scraped = [k for k in metrics if k.startswith("kms_scraper_scrapes_total{")]
            self.assertEqual(len(scraped), 1, metrics)
            targets.add(scraped[0])
        self.assertEqual(len(targets), 3, targets)
        # Counted each: over a window, what the trainer received is what the three published.
        def totals():
            return sum(published(s.container_metrics(c, 9103)) for c in scrapers), accounted(s.api_metrics())
        published_before, accounted_before = totals()
        wait_for(lambda: totals()[0] >= published_before + 3 * 5 * BURST, timeout=30, interval=0.5,
                 what="five scrapes from each scraper")
        wait_for(lambda: (lambda p, a: abs((p - published_before) - (a - accounted_before)) <= 3 * BURST)(*totals()),
                 timeout=20, interval=0.5, what="received + gaps = published by the three")


if __name__ == "__main__":
    unittest.main()
