"""`docker-compose up -d --build` from the repository root, as a user starts the stack
(kepler-sim as the source): the API serves weights on its published port, Prometheus scrapes
it and keeps scraping through an API restart, and `docker-compose down -v` leaves nothing.

Prometheus runs from an image of Debian's package (tests/docker/compose.test.yml), the one
difference from docker-compose.yml: the official image cannot be pulled here."""
import time
import unittest

from dockertest import StackTestCase, wait_for

# deploy/prometheus/prometheus.yml scrapes every 15 s: two intervals and some slack.
SCRAPE_WAIT = 45


class TestComposeUp(StackTestCase):
    name = "compose"
    up_args = ("--build",)

    def query_value(self, query):
        result = self.stack.prometheus_query(query)
        return float(result[0]["value"][1]) if result else None

    def wait_scraped(self, what, query, predicate=lambda v: v == 1):
        """The query's value once predicate holds for it."""
        def value():
            v = self.query_value(query)
            return (v,) if v is not None and predicate(v) else None
        return wait_for(value, timeout=SCRAPE_WAIT + 30, interval=1, what=what)[0]

    def test_weights_on_the_published_port_and_prometheus_scrapes_the_api(self):
        self.stack.wait_trained()
        models = self.stack.models()
        self.assertGreaterEqual(models["core_model"]["samples"], 10)
        self.assertTrue(models["core_model"]["ready"])
        self.wait_scraped("Prometheus scraping the API", 'up{job="kepler-model-server"}')
        # What Prometheus holds is the API's own series: the model it serves is ready.
        self.wait_scraped("kms_model_ready in Prometheus", 'kms_model_ready{job="kepler-model-server",model="core_model"}')
        self.wait_scraped("Prometheus scraping the scraper", 'up{job="kms-scraper"}')

    def test_prometheus_scrapes_a_restarted_api_again_at_its_new_start_time(self):
        self.stack.wait_trained()
        before = self.wait_scraped("the API's start time in Prometheus",
                                   'kms_api_start_time_seconds{job="kepler-model-server"}', lambda v: v > 0)
        restarted = time.time()
        self.stack.compose("restart", "api")
        self.stack.wait_trained(timeout=30)
        # Prometheus reaches the new process: a later start time, the target up again.
        after = self.wait_scraped("the restarted API scraped by Prometheus",
                                  'kms_api_start_time_seconds{job="kepler-model-server"}', lambda v: v > before)
        self.assertGreaterEqual(after, restarted - 1)
        self.assertEqual(self.query_value('up{job="kepler-model-server"}'), 1)


if __name__ == "__main__":
    unittest.main()
