"""kms-api's native OTLP export, seen from an OTLP/HTTP receiver.

The exporter runs through tests/otlp_driver.c (the exporter alone, fed a canned LIST document)
and, once kms-api wires it, through kms-api with a real kms-trainer. A local HTTP receiver plays
the collector: it checks every request against the OTLP/JSON mapping and answers what each test
asks (200, 500, 429, nothing at all).
"""
import http.server
import json
import os
import re
import signal
import threading
import time
import unittest

import kmstest
from kmstest import SLOWDOWN, SOURCE_DIR, Pipeline, ProcessTestCase, binary, wait_for

# The LIST document of kms_proto.h, as a trainer with one ready model answers it.
LIST = {
    "models": [
        {"name": "core_model", "features": ["cpu_cycles", "cpu_instructions", "cpu_time"],
         "target": "core", "ready": True, "reason": "", "samples": 250, "missing": 0,
         "invalid": 0, "min_samples": 30, "created": 1764000000.25, "updated": 1764000100.0,
         "fit": {"r2": 0.985, "rmse": 0.75, "mae": 0.5, "window_r2": 0.97,
                 "window_rmse": 0.8, "window_mae": 0.6},
         "weights": {"All_Weights": {
             "Bias_Weight": 31.5,
             "Categorical_Variables": {"cpu_architecture": {"Broadwell": {"weight": 1.25}}},
             "Numerical_Variables": {
                 "cpu_cycles": {"mean": 2.5e9, "variance": 1e17, "weight": 4.5},
                 "cpu_instructions": {"mean": 3e9, "variance": 4e17, "weight": 2.0},
                 "cpu_time": {"mean": 3.5, "variance": 1.5, "weight": 0.25}}},
             "model_name": "core_model"},
         "history": []},
        {"name": "dram_model", "features": ["cache_misses", "resident_memory"], "target": "dram",
         "ready": False, "reason": "3 of 30 samples", "samples": 3, "created": 1764000050.0,
         "fit": None, "weights": None, "history": []},
    ],
    "trainer": {"uptime": 120.5, "samples_received": 260, "samples_rejected": 2,
                "frames_malformed": 0, "seq_gaps": 1, "publishers": 1, "checkpoints": 3,
                "checkpoint_errors": 0, "last_checkpoint": 1764000090.0},
}

DIGITS = re.compile(r"^[0-9]+$")
ANY_VALUE_KEYS = {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue",
                  "kvlistValue", "bytesValue"}


def check_attributes(test, attrs):
    test.assertIsInstance(attrs, list)
    keys = [a["key"] for a in attrs]
    test.assertEqual(len(keys), len(set(keys)), f"duplicate attribute keys {keys}")
    for a in attrs:
        test.assertEqual(set(a), {"key", "value"})
        test.assertIsInstance(a["key"], str)
        test.assertEqual(len(a["value"]), 1)
        (kind, value), = a["value"].items()
        test.assertIn(kind, ANY_VALUE_KEYS)
        if kind == "stringValue":
            test.assertIsInstance(value, str)
    return {a["key"]: next(iter(a["value"].values())) for a in attrs}


def check_request(test, doc, now_ns):
    """Checks one ExportMetricsServiceRequest against the OTLP/JSON mapping (lowerCamelCase
    keys, 64-bit integers as strings, enums as integers, exactly one value per point) and
    returns {(metric name, frozen attributes): (value, point)}."""
    test.assertEqual(set(doc), {"resourceMetrics"})
    test.assertEqual(len(doc["resourceMetrics"]), 1)
    rm = doc["resourceMetrics"][0]
    test.assertLessEqual(set(rm), {"resource", "scopeMetrics", "schemaUrl"})
    resource = check_attributes(test, rm["resource"]["attributes"])
    test.assertEqual(len(rm["scopeMetrics"]), 1)
    sm = rm["scopeMetrics"][0]
    test.assertTrue(sm["scope"]["name"])
    points = {}
    names = [m["name"] for m in sm["metrics"]]
    test.assertEqual(len(names), len(set(names)), "a metric appears twice")
    for m in sm["metrics"]:
        test.assertRegex(m["name"], r"^[a-z][a-z0-9_.]*$")
        test.assertIsInstance(m.get("unit"), str)
        test.assertIsInstance(m.get("description"), str)
        kinds = set(m) & {"gauge", "sum", "histogram", "exponentialHistogram", "summary"}
        test.assertEqual(len(kinds), 1, m["name"])
        kind = kinds.pop()
        test.assertIn(kind, ("gauge", "sum"))
        data = m[kind]
        if kind == "sum":
            test.assertIn(data["aggregationTemporality"], (1, 2))
            test.assertIsInstance(data["isMonotonic"], bool)
        test.assertTrue(data["dataPoints"], m["name"])
        for p in data["dataPoints"]:
            test.assertLessEqual(set(p), {"attributes", "startTimeUnixNano", "timeUnixNano",
                                          "asDouble", "asInt", "exemplars", "flags"})
            test.assertRegex(p["timeUnixNano"], DIGITS)
            # Stamped when sent: within a minute of the receiver's clock.
            test.assertLess(abs(int(p["timeUnixNano"]) - now_ns), 60e9)
            if "startTimeUnixNano" in p:
                test.assertRegex(p["startTimeUnixNano"], DIGITS)
                test.assertLessEqual(int(p["startTimeUnixNano"]), int(p["timeUnixNano"]))
            test.assertEqual(len({"asDouble", "asInt"} & set(p)), 1)
            if "asInt" in p:
                test.assertRegex(p["asInt"], r"^-?[0-9]+$")
                value = int(p["asInt"])
            else:
                test.assertIsInstance(p["asDouble"], (int, float))
                value = p["asDouble"]
            attrs = check_attributes(test, p.get("attributes", []))
            key = (m["name"], frozenset(attrs.items()))
            test.assertNotIn(key, points, f"two points for {key}")
            points[key] = (value, p)
    return resource, points


def value(points, name, **attrs):
    return points[(name, frozenset(attrs.items()))][0]


class Receiver:
    """An OTLP/HTTP receiver on a free loopback port. `answers` is consumed one per request
    (then `default`): an int status, (status, headers[, body]), or "hang" (never answers).
    Without `listening` the port is held but refuses connections until listen()."""

    def __init__(self, answers=(), default=200, listening=True):
        self.requests = []
        self.answers = list(answers)
        self.default = default
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"time": time.monotonic(), "path": self.path,
                                              "headers": dict(self.headers), "body": body,
                                              "now_ns": time.time_ns()})
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                if answer == "hang":
                    receiver.release.wait(60)
                    return
                status, headers, reply = (answer + (None,))[:3] if isinstance(answer, tuple) else (answer, {}, None)
                if reply is None:
                    reply = b"{}" if status == 200 else b'{"message":"try later"}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()
        self.port = self.server.server_address[1]
        self.thread = None
        if listening:
            self.listen()

    def listen(self):
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.release.set()
        if self.thread:
            self.server.shutdown()
        self.server.server_close()


class OtlpCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.receivers = []
        self.list_path = os.path.join(self.tmp, "list.json")
        with open(self.list_path, "w") as f:
            json.dump(LIST, f)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for r in self.receivers:
                r.close()

    def receiver(self, **kw):
        r = Receiver(**kw)
        self.receivers.append(r)
        return r

    def driver(self, **env):
        base = {k: "" for k in os.environ if k.startswith("OTEL_")}
        base.update(env)
        return self.start("otlp-driver", self.list_path, env=base)

    def stop_driver(self, p):
        """SIGTERM; returns the counters the driver prints."""
        self.assertEqual(p.stop(), 0, p.output())
        last = [line for line in p.output().splitlines() if line.startswith("{")]
        self.assertTrue(last, p.output())
        return json.loads(last[-1])


@unittest.skipUnless(os.path.exists(binary("otlp-driver")), "otlp-driver not built")
class TestExporter(OtlpCase):
    def test_requests_follow_the_otlp_json_mapping(self):
        r = self.receiver()
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}/",
                        OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s%3Dcr%20t , x-team=kepler",
                        OTEL_METRIC_EXPORT_INTERVAL="200", OTEL_SERVICE_NAME="kms-under-test",
                        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci,k8s.node.name=n%2C1")
        wait_for(lambda: r.count() >= 3, timeout=10, what="three exports")
        for req in r.requests[:3]:
            self.assertEqual(req["path"], "/v1/metrics")
            self.assertEqual(req["headers"]["Content-Type"], "application/json")
            self.assertEqual(req["headers"]["x-api-key"], "s=cr t")
            self.assertEqual(req["headers"]["x-team"], "kepler")
            resource, points = check_request(self, json.loads(req["body"]), req["now_ns"])
            self.assertEqual(resource["service.name"], "kms-under-test")
            self.assertEqual(resource["deployment.environment"], "ci")
            self.assertEqual(resource["k8s.node.name"], "n,1")
            # The numbers are the LIST document's, attributed to their model and feature.
            core = LIST["models"][0]
            for feature, w in core["weights"]["All_Weights"]["Numerical_Variables"].items():
                self.assertEqual(value(points, "kms_model_weight", model="core_model", feature=feature), w["weight"])
                self.assertEqual(value(points, "kms_model_feature_mean", model="core_model", feature=feature), w["mean"])
                self.assertEqual(value(points, "kms_model_feature_variance", model="core_model", feature=feature), w["variance"])
            self.assertEqual(value(points, "kms_model_bias", model="core_model"), 31.5)
            self.assertEqual(value(points, "kms_model_category_weight", model="core_model",
                                   feature="cpu_architecture", category="Broadwell"), 1.25)
            self.assertEqual(value(points, "kms_model_r2", model="core_model", window="all"), 0.985)
            self.assertEqual(value(points, "kms_model_r2", model="core_model", window="recent"), 0.97)
            self.assertEqual(value(points, "kms_model_mae", model="core_model", window="recent"), 0.6)
            self.assertEqual(value(points, "kms_model_samples", model="core_model"), 250)
            self.assertEqual(value(points, "kms_model_samples", model="dram_model"), 3)
            self.assertEqual(value(points, "kms_model_ready", model="dram_model"), 0)
            self.assertNotIn(("kms_model_bias", frozenset({("model", "dram_model")})), points)
            self.assertEqual(value(points, "kms_trainer_samples_received"), 260)
        # Every interval, not faster, not much slower.
        gaps = [b["time"] - a["time"] for a, b in zip(r.requests, r.requests[1:3])]
        for gap in gaps:
            self.assertGreater(gap, 0.15)
            self.assertLess(gap, 2.0 * SLOWDOWN)
        stats = self.stop_driver(p)
        self.assertGreaterEqual(stats["exports"], 3)
        self.assertEqual(stats["failures"], 0)
        self.assertLess(stats["stop_seconds"], 1.0 * SLOWDOWN)

    def test_metrics_endpoint_is_used_as_is(self):
        r = self.receiver()
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1/never",
                        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"http://127.0.0.1:{r.port}/custom/ingest",
                        OTEL_EXPORTER_OTLP_METRICS_HEADERS="authorization=Bearer%20abc",
                        OTEL_EXPORTER_OTLP_HEADERS="x-generic=1",
                        OTEL_METRIC_EXPORT_INTERVAL="100")
        wait_for(lambda: r.count() >= 1, what="an export")
        req = r.requests[0]
        self.assertEqual(req["path"], "/custom/ingest")
        self.assertEqual(req["headers"]["authorization"], "Bearer abc")
        self.assertNotIn("x-generic", req["headers"])
        self.stop_driver(p)

    def test_server_errors_are_retried_with_backoff(self):
        r = self.receiver(answers=[500, 500, 503, 500])
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100")
        wait_for(lambda: r.count() >= 7, timeout=15, what="retries then exports")
        t = [req["time"] for req in r.requests]
        gaps = [b - a for a, b in zip(t, t[1:])]
        # 4 failures: the waits after them double (100, 200, 400, 800 ms; a lower bound, as each
        # wait starts when the answer is in) ...
        for i in range(4):
            self.assertGreaterEqual(gaps[i], 0.095 * 2 ** i, f"no backoff: {gaps}")
        self.assertGreater(gaps[3], 3 * gaps[0], f"no backoff: {gaps}")
        # ... and once the endpoint answers 200 the interval is back.
        self.assertLess(gaps[5], 0.5 * gaps[3], f"backoff not reset: {gaps}")
        stats = self.stop_driver(p)
        self.assertEqual(stats["failures"], 4)
        self.assertEqual(stats["dropped"], 0)
        self.assertGreaterEqual(stats["exports"], 3)

    def test_retry_after_is_honoured(self):
        r = self.receiver(answers=[(429, {"Retry-After": "2"})])
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100")
        wait_for(lambda: r.count() >= 2, timeout=10, what="the retry")
        self.assertGreater(r.requests[1]["time"] - r.requests[0]["time"], 1.9)
        self.stop_driver(p)

    def test_partial_success_is_logged_not_retried(self):
        body = b'{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"unit W unknown"}}'
        r = self.receiver(answers=[(200, {}, body)])
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100")
        wait_for(lambda: r.count() >= 3, what="three exports")
        stats = self.stop_driver(p)
        self.assertIn("rejected=3", p.output())
        self.assertIn("unit W unknown", p.output())
        self.assertEqual(p.output().count("refused some points"), 1)
        self.assertEqual(stats["failures"], 0)
        gap = r.requests[1]["time"] - r.requests[0]["time"]
        self.assertLess(gap, 0.5 * SLOWDOWN, "a partial success is no reason to back off")

    def test_client_errors_are_dropped_not_retried(self):
        r = self.receiver(default=400)
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="50")
        # The exporter sends one request at a time: a sixth means five answers were handled.
        wait_for(lambda: r.count() >= 6, what="six exports")
        t = [req["time"] for req in r.requests]
        # A bad request does not get better by waiting: the pace stays the interval (4 x 50 ms,
        # where a backoff would take at least 50 + 100 + 200 + 400 ms).
        self.assertLess(t[4] - t[0], 0.7)
        stats = self.stop_driver(p)
        self.assertGreaterEqual(stats["dropped"], 5)
        self.assertEqual(stats["exports"], 0)
        self.assertEqual(stats["failures"], stats["dropped"])
        self.assertIn("export refused, dropped", p.output())
        self.assertNotIn("will retry", p.output())

    def test_connection_refused_then_the_collector_comes_up(self):
        r = self.receiver(listening=False)
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100")
        wait_for(lambda: "export failed" in p.output(), what="a refused export")
        time.sleep(0.5)  # pacing: a few more refused exports (one per 100 ms) for it to survive
        self.assertTrue(p.alive())
        r.listen()
        wait_for(lambda: r.count() >= 2, timeout=15, what="exports after the collector started")
        check_request(self, json.loads(r.requests[0]["body"]), r.requests[0]["now_ns"])
        stats = self.stop_driver(p)
        self.assertGreaterEqual(stats["failures"], 2)
        self.assertGreaterEqual(stats["exports"], 2)
        self.assertIn("exports resumed", p.output())

    def test_a_hanging_collector_does_not_delay_shutdown(self):
        r = self.receiver(default="hang")
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100", OTEL_EXPORTER_OTLP_TIMEOUT="30000")
        wait_for(lambda: r.count() >= 1, what="a request in flight")
        time.sleep(0.3)  # pacing: the stop comes well inside the hanging request, not at its start
        started = time.monotonic()
        stats = self.stop_driver(p)
        self.assertLess(time.monotonic() - started, 2.0 * SLOWDOWN)
        # The transfer is woken at once, not at curl's next once-a-second progress call.
        self.assertLess(stats["stop_seconds"], 0.3 * SLOWDOWN)
        self.assertEqual(r.count(), 1)

    def test_timeout_counts_as_a_failure(self):
        r = self.receiver(answers=["hang"])
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100", OTEL_EXPORTER_OTLP_TIMEOUT="300")
        wait_for(lambda: r.count() >= 2, timeout=10, what="the export after a timeout")
        stats = self.stop_driver(p)
        self.assertGreaterEqual(stats["failures"], 1)
        self.assertIn("Timeout", p.output())

    def test_nothing_is_exported_until_the_trainer_answers(self):
        os.unlink(self.list_path)
        r = self.receiver()
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="100")
        time.sleep(0.8)  # eight export intervals: that none is sent cannot be awaited
        self.assertEqual(r.count(), 0)
        with open(self.list_path, "w") as f:
            json.dump(LIST, f)
        wait_for(lambda: r.count() >= 1, what="an export once the trainer answers")
        stats = self.stop_driver(p)
        self.assertGreaterEqual(stats["skipped"], 3)

    def test_export_is_off_unless_configured_and_the_driver_says_so(self):
        for env in ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
                    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_METRICS_EXPORTER": "none"}):
            p = self.driver(**env)
            wait_for(lambda: not p.alive(), what="the driver to exit")
            p.expect_failure = True
            self.assertEqual(p.proc.returncode, 3, p.output())
            self.assertIn("export off", p.output())

    def test_bad_values_fall_back_to_defaults(self):
        r = self.receiver()
        p = self.driver(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{r.port}",
                        OTEL_METRIC_EXPORT_INTERVAL="soon", OTEL_EXPORTER_OTLP_HEADERS="novalue,k=%G1")
        wait_for(lambda: "OTEL_METRIC_EXPORT_INTERVAL" in p.output(), what="the warning")
        self.assertIn("default=60000", p.output())
        self.assertTrue(p.alive())
        self.assertEqual(r.count(), 0)  # the default interval is a minute
        self.stop_driver(p)


def api_wires_otlp():
    api_dir = os.path.join(SOURCE_DIR, "services", "api")
    for name in os.listdir(api_dir) if os.path.isdir(api_dir) else ():
        if name.endswith(".c") and name != "api_otlp.c":
            with open(os.path.join(api_dir, name), errors="replace") as f:
                if "api_otlp_start" in f.read():
                    return True
    return False


@unittest.skipUnless(os.path.exists(binary("kms-api")) and os.path.exists(binary("kms-trainer"))
                     and api_wires_otlp(), "kms-api does not export OTLP yet")
class TestApiExports(OtlpCase):
    def test_kms_api_pushes_the_trainers_models(self):
        r = self.receiver(answers=[500])
        p = Pipeline(self, sim=None, env={"kms-api": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{r.port}",
                                                      "OTEL_METRIC_EXPORT_INTERVAL": "200",
                                                      "OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=abc",
                                                      "OTEL_SERVICE_NAME": "kepler-model-server"}})
        api, http_port = p.api, p.api_port
        # The first answer is a 500: the API retries and keeps serving meanwhile.
        wait_for(lambda: r.count() >= 3, timeout=20, what="exports from kms-api")
        status, _, _ = kmstest.http(f"http://127.0.0.1:{http_port}/healthz")
        self.assertEqual(status, 200)
        req = r.requests[-1]
        self.assertEqual(req["headers"]["x-honeycomb-team"], "abc")
        resource, points = check_request(self, json.loads(req["body"]), req["now_ns"])
        self.assertEqual(resource["service.name"], "kepler-model-server")
        models = {dict(k[1]).get("model") for k in points if k[0] == "kms_model_samples"}
        self.assertLessEqual({"core_model", "dram_model"}, models)
        self.assertIn("kms_trainer_samples_received", {k[0] for k in points})
        self.assertEqual(api.stop(signal.SIGTERM), 0)

    def test_a_hanging_collector_neither_slows_nor_holds_the_api(self):
        r = self.receiver(default="hang")
        p = Pipeline(self, sim=None, env={"kms-api": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{r.port}",
                                                      "OTEL_METRIC_EXPORT_INTERVAL": "100",
                                                      "OTEL_EXPORTER_OTLP_TIMEOUT": "60000"}})
        api, http_port = p.api, p.api_port
        wait_for(lambda: r.count() >= 1, what="an export in flight")
        started = time.monotonic()
        status, _, _ = kmstest.http(f"http://127.0.0.1:{http_port}/models")
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - started, 1.0 * SLOWDOWN)
        # The request in flight would hold a blocking exporter for its 60 s timeout; the API's
        # own shutdown (its HTTP server) takes about 1.5 s.
        started = time.monotonic()
        self.assertEqual(api.stop(), 0)
        self.assertLess(time.monotonic() - started, 5.0 * SLOWDOWN)

    @unittest.skipUnless(os.path.exists(binary("kms-scraper")) and os.path.exists(binary("kepler-sim")),
                         "kms-scraper or kepler-sim not built")
    def test_exported_weights_are_the_served_weights(self):
        """The whole pipeline: what reaches the OTLP receiver is what Kepler gets from the API."""
        r = self.receiver()
        p = Pipeline(self, sim=("--containers", "5"), interval=0.5, min_samples=10,
                     env={"kms-api": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{r.port}",
                                      "OTEL_METRIC_EXPORT_INTERVAL": "300"}})
        scraper, base = p.scraper, p.base
        wait_for(lambda: kmstest.http(f"{base}/model-weights/core_model")[0] == 200, timeout=60,
                 interval=0.5, what="core_model ready")
        # Freeze the models, then wait until two exports in a row carry the same sample count.
        self.assertEqual(scraper.stop(), 0)

        def settled():
            if r.count() < 2:
                return None
            docs = [json.loads(req["body"]) for req in r.requests[-2:]]
            counts = [value(check_request(self, d, req["now_ns"])[1], "kms_model_samples", model="core_model")
                      for d, req in zip(docs, r.requests[-2:])]
            return docs[-1] if counts[0] == counts[1] else None

        first = r.count()
        wait_for(lambda: r.count() >= first + 2 and settled(), timeout=20, what="settled exports")
        last = r.requests[-1]
        _, points = check_request(self, json.loads(last["body"]), last["now_ns"])
        status, weights = kmstest.http_json(f"{base}/model-weights/core_model")
        self.assertEqual(status, 200)
        all_weights = weights["All_Weights"]
        self.assertAlmostEqual(value(points, "kms_model_bias", model="core_model"),
                               all_weights["Bias_Weight"], delta=1e-9 * abs(all_weights["Bias_Weight"]))
        numeric = all_weights["Numerical_Variables"]
        self.assertEqual({"cpu_cycles", "cpu_instructions", "cpu_time"}, set(numeric))
        for feature, w in numeric.items():
            for metric, key in (("kms_model_weight", "weight"), ("kms_model_feature_mean", "mean"),
                                ("kms_model_feature_variance", "variance")):
                got = value(points, metric, model="core_model", feature=feature)
                self.assertAlmostEqual(got, w[key], delta=1e-9 * max(abs(w[key]), 1e-300), msg=f"{metric} {feature}")
        for arch, w in all_weights["Categorical_Variables"]["cpu_architecture"].items():
            self.assertAlmostEqual(value(points, "kms_model_category_weight", model="core_model",
                                         feature="cpu_architecture", category=arch), w["weight"], delta=1e-9)
        self.assertEqual(value(points, "kms_model_ready", model="core_model"), 1)
        self.assertGreaterEqual(value(points, "kms_model_samples", model="core_model"), 10)

        # Through a backend's OTLP-to-Prometheus translation every exported series is one that a
        # scrape of the API's /metrics shows, with the same labels and value.
        from prometheus_client.parser import text_string_to_metric_families
        status, _, text = kmstest.http(f"{base}/metrics")
        self.assertEqual(status, 200)
        scraped = {(s.name, frozenset(s.labels.items())): s.value
                   for family in text_string_to_metric_families(text.decode())
                   for s in family.samples}
        suffix = {"W": "_watts", "s": "_seconds"}
        doc = json.loads(last["body"])
        for m in doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]:
            name = m["name"] + suffix.get(m["unit"], "") + ("_total" if "sum" in m else "")
            for p in (m.get("gauge") or m.get("sum"))["dataPoints"]:
                labels = frozenset((a["key"], a["value"]["stringValue"]) for a in p["attributes"])
                self.assertIn((name, labels), scraped, f"{name}{dict(labels)} is not in /metrics")
                if name.startswith(("kms_model_weight", "kms_model_feature_", "kms_model_bias")):
                    got = p["asDouble"]
                    self.assertAlmostEqual(got, scraped[(name, labels)], delta=1e-9 * max(abs(got), 1e-300))


if __name__ == "__main__":
    unittest.main()
