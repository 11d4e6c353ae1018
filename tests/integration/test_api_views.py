"""kms-api as people and monitoring see it, over the real pipeline: a real Prometheus server
scrapes /metrics and answers queries about the models, and headless Chromium renders the status
page (the screenshot is kept under the build directory, test-artifacts/)."""
import html.parser
import os
import signal
import subprocess
import tempfile
import unittest
import urllib.parse

from kmstest import BIN_DIR, BUILTIN_MODELS, SLOWDOWN, free_port, http, http_json, wait_for
from test_api_support import FrozenPipelineCase

ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(BIN_DIR)), "test-artifacts")
CHROMIUM = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]


class Dom(html.parser.HTMLParser):
    """The rendered DOM's model cards: for each, its charts and how many bars and lines they hold."""

    def __init__(self):
        super().__init__()
        self.cards = {}
        self.card = None
        self.chart = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "model" in a.get("class", "").split():
            self.card = self.cards.setdefault(a["id"].removeprefix("model-"), {})
        elif tag == "svg" and self.card is not None and "chart" in a.get("class", "").split():
            kind = a["class"].split()[1]
            self.chart = self.card.setdefault(kind, {"model": a.get("data-model"), "rect": 0, "polyline": []})
        elif self.chart is not None and tag == "rect":
            self.chart["rect"] += 1
        elif self.chart is not None and tag == "polyline":
            self.chart["polyline"].append(a.get("points", "").split())

    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None
        elif tag == "section":
            self.card = None

    def handle_data(self, data):
        self.text.append(data)


class Views(FrozenPipelineCase):
    def test_prometheus_scrapes_and_answers(self):
        port = free_port()
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: kms-api\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.pipeline.api_port}']\n")
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        prom = subprocess.Popen(["prometheus", f"--config.file={config}",
                                 f"--storage.tsdb.path={os.path.join(self.tmp, 'tsdb')}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)

        def stop():
            prom.send_signal(signal.SIGTERM)
            try:
                prom.wait(20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()
        self.addCleanup(stop)

        def query(expr):
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            status, doc = http_json(url)
            return doc["data"]["result"] if status == 200 and doc["status"] == "success" else []

        up = wait_for(lambda: query('up{job="kms-api"} == 1'), timeout=60, interval=0.5,
                      what="Prometheus scraping kms-api")
        self.assertEqual(up[0]["value"][1], "1")
        # Every series of the scrape was accepted (none dropped for a bad sample).
        result = wait_for(lambda: query('kms_model_weight{model="core_model"}'), timeout=30, interval=0.5,
                          what="kms_model_weight in Prometheus")
        served = {r["metric"]["feature"]: float(r["value"][1]) for r in result}
        weights = http_json(self.base + "/model-weights/core_model")[1]["All_Weights"]["Numerical_Variables"]
        self.assertEqual(served, {f: v["weight"] for f, v in weights.items()})
        stored = query('scrape_samples_post_metric_relabeling{job="kms-api"}')
        self.assertGreater(float(stored[0]["value"][1]), 50)
        ready = query('kms_model_ready')
        # The default model set, every node model trained by kepler-sim's targets (the simulator
        # has every zone); the per-cpu vm_* ones wait for a node that states its cpus (0.10+).
        self.assertEqual({r["metric"]["model"]: r["value"][1] for r in ready},
                         {m: "0" if m.startswith("vm_") else "1" for m in BUILTIN_MODELS})
        # kms-api counts Prometheus' own scrapes.
        wait_for(lambda: query('kms_api_requests_total{route="/metrics",code="200"} >= 1'), timeout=30,
                 interval=0.5, what="the scrapes counted")

    def test_chromium_draws_each_models_charts_from_a_self_contained_page(self):
        status, headers, page = http(self.base + "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        self.assertEqual(headers["Referrer-Policy"], "no-referrer")
        self.assertNotIn(b"http://", page.replace(b'xmlns="http://www.w3.org/2000/svg"', b""),
                         "the page must need nothing from elsewhere")

        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
        dump = subprocess.run(CHROMIUM + [f"--user-data-dir={profile}", "--dump-dom", self.base + "/"],
                              capture_output=True, text=True, timeout=90 * SLOWDOWN)
        self.assertEqual(dump.returncode, 0, dump.stderr[-2000:])
        dom = Dom()
        dom.feed(dump.stdout)
        self.assertLessEqual({"core_model", "dram_model"}, set(dom.cards), dump.stdout[:500])
        models = {m["name"]: m for m in http_json(self.base + "/models")[1]}
        for name, card in dom.cards.items():
            if not models[name]["ready"]:
                self.assertNotIn("weights", card, name)  # nothing to draw yet
                continue
            weights = card["weights"]
            self.assertEqual(weights["model"], name)
            # One bar per feature and architecture.
            w = models[name]["weights"]["All_Weights"]
            bars = len(w["Numerical_Variables"]) + len(w["Categorical_Variables"]["cpu_architecture"])
            self.assertEqual(weights["rect"], bars, name)
            history = card["history"]
            self.assertEqual(history["model"], name)
            self.assertEqual(len(history["polyline"]), 2, "R² and RMSE lines")
            for line in history["polyline"]:
                self.assertGreaterEqual(len(line), 2, f"{name}: a line needs points")
        text = " ".join(dom.text)
        self.assertIn("READY", text)
        self.assertIn("Kepler Model Server", text)

        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "api-status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        run = subprocess.run(CHROMIUM + [f"--user-data-dir={profile}", "--window-size=1440,1000",
                                         "--hide-scrollbars", f"--screenshot={shot}", self.base + "/"],
                             capture_output=True, text=True, timeout=90 * SLOWDOWN)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        with open(shot, "rb") as f:
            png = f.read()
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertGreater(len(png), 20000, "a blank page compresses to almost nothing")


if __name__ == "__main__":
    unittest.main()
