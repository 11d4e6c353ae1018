"""kms-api when things go wrong: a trainer that never answers, dies mid-request or talks
nonsense, models not ready, bad requests of every kind, bad configuration.

The trainer here is a stand-in speaking common/kms_proto.h (test_api_support.FakeTrainer): the
faults it plays cannot be had from the real trainer on demand."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from kmstest import SLOWDOWN, ProcessTestCase, binary, http, http_json, wait_for
from test_api_support import (DEFAULT_MODELS, FakeTrainer, kepler_04_request, kepler_07_request,
                              model_doc, raw_request, real_pipeline, server_ms, start_api, status_of)

TIMEOUT_MS = 300
# A 503 must come within the timeout plus this much. kms-api's own log of each request's
# duration is held to it strictly; what the client sees may add what any answer costs at the
# moment (a loaded machine, sanitizers), measured on /healthz just before.
SLACK_S = 0.2

TRAINER_ROUTES = [("GET", "/model-weights/core_model"), ("GET", "/model-weights/"), ("GET", "/models"),
                  ("GET", "/models/dram_model"), ("GET", "/readyz"), ("GET", "/"),
                  ("POST", "/model")]


def timed(url, method="GET", body=None):
    start = time.monotonic()
    status, headers, data = http(url, method=method, body=body, timeout=10)
    return status, headers, data, time.monotonic() - start


def baseline(base):
    """What an answer that needs no trainer costs right now, in seconds."""
    return max(timed(base + "/healthz")[3] for _ in range(3))


def kepler_body():
    return json.dumps(kepler_04_request("AbsComponentModelWeight")).encode()


# A trainer in its own process, so that it can be SIGKILLed while it holds a request.
HANGING_TRAINER = r"""
import sys, time, zmq
sock = zmq.Context.instance().socket(zmq.REP)
sock.bind("tcp://127.0.0.1:*")
print("bound", sock.last_endpoint.decode(), flush=True)
sock.recv_multipart()
print("got", flush=True)
time.sleep(60)  # holds the request until the test kills it
"""


class TrainerFaults(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.trainers = []

    def tearDown(self):
        for t in self.trainers:
            t.stop()
        super().tearDown()

    def fake(self, **kw):
        t = FakeTrainer(**kw)
        self.trainers.append(t)
        return t

    def assert_prompt_503(self, api, base, method, path):
        body = kepler_body() if method == "POST" else None
        allowance = TIMEOUT_MS / 1000 + SLACK_S + baseline(base)
        status, headers, data, elapsed = timed(base + path, method, body)
        self.assertEqual(status, 503, f"{method} {path}: {data[:200]!r}")
        self.assertLess(elapsed, allowance, f"{method} {path} took {elapsed:.3f}s")
        if path != "/":
            self.assertIn("error", json.loads(data))
        logged = wait_for(lambda: server_ms(api, method, path, 503), timeout=5, what=f"the log of {path}")
        self.assertLess(logged[-1], TIMEOUT_MS + SLACK_S * 1000, f"{method} {path}: kms-api took {logged[-1]} ms")
        return headers

    def test_a_silent_trainer_gives_prompt_503s_until_it_comes_back(self):
        trainer = self.fake(mode="silent")
        api, base = start_api(self, trainer.endpoint, TIMEOUT_MS)
        for method, path in TRAINER_ROUTES:
            self.assert_prompt_503(api, base, method, path)
        # Several at once: one asks the trainer, the others wait for that answer; all time out on time.
        allowance = TIMEOUT_MS / 1000 + SLACK_S + baseline(base)
        results = []
        threads = [threading.Thread(target=lambda: results.append(timed(base + "/model-weights/")))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r[0] for r in results], [503] * 8)
        self.assertLess(max(r[3] for r in results), allowance)
        self.assertLess(max(server_ms(api, "GET", "/model-weights/", 503)), TIMEOUT_MS + SLACK_S * 1000)
        # Liveness does not depend on the trainer; the status page says what is wrong.
        self.assertEqual(http(base + "/healthz")[0], 200)
        status, _, page = http(base + "/")
        self.assertEqual(status, 503)
        self.assertIn(b"not answering", page)
        status, _, metrics = http(base + "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"kms_api_trainer_up 0\n", metrics)
        self.assertRegex(metrics.decode(), r'kms_api_trainer_errors_total\{kind="timeout"\} [1-9]')
        self.assertTrue(trainer.requests)

        # The trainer comes back on the same endpoint: the very next request succeeds.
        trainer.stop()
        self.trainers.remove(trainer)
        healthy = self.fake(port=trainer.port)
        status, _, data = http(base + "/model-weights/dram_model")
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["model_name"], "dram_model")
        for method, path in TRAINER_ROUTES:
            body = kepler_body() if method == "POST" else None
            self.assertEqual(http(base + path, method=method, body=body)[0], 200, path)
        self.assertTrue(healthy.requests)

    def test_a_trainer_killed_mid_request_gives_a_prompt_503_then_200(self):
        trainer = subprocess.Popen([sys.executable, "-c", HANGING_TRAINER], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (trainer.kill(), trainer.wait(), trainer.stdout.close()))
        said, endpoint = trainer.stdout.readline().split()
        self.assertEqual(said, "bound")
        port = int(endpoint.rsplit(":", 1)[1])
        api, base = start_api(self, endpoint, TIMEOUT_MS)
        allowance = TIMEOUT_MS / 1000 + SLACK_S + baseline(base)
        result = {}

        def request():
            result["answer"] = timed(base + "/model-weights/core_model")

        client = threading.Thread(target=request)
        client.start()
        self.assertEqual(trainer.stdout.readline().strip(), "got")  # it holds our request
        trainer.kill()
        trainer.wait()
        client.join(10)
        status, headers, data, elapsed = result["answer"]
        self.assertEqual(status, 503, data)
        self.assertLess(elapsed, allowance)
        # kms-api logs a request after answering it: wait for the line.
        logged = wait_for(lambda: server_ms(api, "GET", "/model-weights/core_model", 503), timeout=5,
                          what="the log of the request")
        self.assertLess(logged[-1], TIMEOUT_MS + SLACK_S * 1000)
        self.assertIn("did not answer", json.loads(data)["error"])
        self.assertIn("Retry-After", headers)
        # A new trainer on the same endpoint: the next request is answered.
        self.fake(port=port)
        status, _, data = http(base + "/model-weights/core_model")
        self.assertEqual(status, 200, data)
        self.assertIn("All_Weights", json.loads(data))
        self.assertTrue(api.alive())

    def test_a_malformed_trainer_reply_is_502_and_the_next_good_one_200(self):
        trainer = self.fake(mode="garbage")
        api, base = start_api(self, trainer.endpoint, TIMEOUT_MS, extra=("--cache-ms", "0"))
        status, data = http_json(base + "/model-weights/core_model")
        self.assertEqual(status, 502)
        self.assertIn("malformed", data["error"])
        trainer.mode = "normal"
        status, data = http_json(base + "/model-weights/core_model")
        self.assertEqual(status, 200)
        self.assertRegex(http(base + "/metrics")[2].decode(), r'kms_api_trainer_errors_total\{kind="bad_reply"\} [1-9]')

    def test_cache_spares_the_trainer_and_stays_fresh(self):
        models = json.loads(json.dumps(DEFAULT_MODELS))
        trainer = self.fake(models=models)
        api, base = start_api(self, trainer.endpoint, TIMEOUT_MS)
        # A burst: at most about one trainer request per 50 ms, however many HTTP requests.
        start, served = time.monotonic(), 0
        while time.monotonic() - start < 0.6 or served < 100:
            self.assertEqual(http(base + "/model-weights/core_model")[0], 200)
            served += 1
        elapsed = time.monotonic() - start
        asked = sum(1 for f in trainer.requests if f[0] == b"WEIGHTS")
        self.assertLessEqual(asked, 2 + 2 * elapsed / 0.05, f"{asked} trainer requests for {served} in {elapsed:.2f}s")
        # A change in the trainer shows in every answer to a request sent more than twice the
        # cache time (100 ms) after it.
        models[0]["weights"]["All_Weights"]["Bias_Weight"] = 99.0
        changed = time.monotonic()
        while True:
            sent = time.monotonic()
            if json.loads(http(base + "/model-weights/core_model")[2])["All_Weights"]["Bias_Weight"] == 99.0:
                break
            self.assertLess(sent - changed, 0.1 + SLACK_S, "a stale answer outlived the cache")
            time.sleep(0.005)

    def test_slow_trainer_is_asked_once_for_a_burst(self):
        # 16 requests at once for an answer that the trainer takes 300 ms to give: one of them
        # asks and the others wait for its answer, instead of every worker asking the same.
        trainer = self.fake(delay=0.3)
        api, base = start_api(self, trainer.endpoint, 3000)
        start = threading.Barrier(16)
        results = []

        def request():
            start.wait()
            results.append(http(base + "/model-weights/core_model", timeout=10)[0])
        threads = [threading.Thread(target=request) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 16)
        asked = sum(1 for f in trainer.requests if f[0] == b"WEIGHTS")
        # One, or two when some requests arrived more than 100 ms after the first asked (the
        # oldest answer a request may get).
        self.assertLessEqual(asked, 2, f"the trainer was asked {asked} times for 16 requests")

    def test_models_not_ready_unknown_and_malformed_names(self):
        models = [model_doc("core_model", "core", {"cpu_cycles": (1, 1, 1)}, ready=False, samples=12),
                  DEFAULT_MODELS[1]]
        trainer = self.fake(models=models)
        api, base = start_api(self, trainer.endpoint, TIMEOUT_MS)
        for path in ("/model-weights/core_model", "/models/core_model", "/model-weights/"):
            status, headers, data = http(base + path)
            self.assertEqual(status, 503, path)
            self.assertGreater(int(headers["Retry-After"]), 0)
            self.assertIn("not trained enough", json.loads(data)["error"])
        for path in ("/model-weights/gpu_model", "/models/gpu_model"):
            status, data = http_json(base + path)
            self.assertEqual((status, "error" in data), (404, True), path)
        for path in ("/model-weights/..", "/model-weights/a%2fb", "/models/%2e%2e", "/model-weights/x%00y",
                     "/model-weights/" + "m" * 80, "/models/core_model/weights.json", "/model-weights/a%20b"):
            status, data = http_json(base + path)
            self.assertEqual(status, 400, path)
            self.assertIn("malformed", data["error"])
        # Kepler asks while core_model is not ready and dram_model needs the memory level, which
        # Kepler never sends: 503 with Retry-After (a model is on its way), saying why model by model.
        status, headers, data = http(base + "/model", method="POST", body=kepler_body())
        self.assertEqual(status, 503)
        self.assertGreater(int(headers["Retry-After"]), 0)
        error = json.loads(data)["error"]
        self.assertIn("core_model: not ready", error)
        self.assertIn("dram_model: needs resident_memory", error)
        # ... and a request no model can ever answer is a 404, so that Kepler falls back.
        body = dict(kepler_04_request("AbsModelWeight"), model_name="core_model")
        status, data = http_json(base + "/model", method="POST", body=json.dumps(body).encode())
        self.assertEqual(status, 404)
        self.assertIn("core_model: its target (core) is not what the request asks for", data["error"])


class RealTrainerDies(unittest.TestCase):
    """The real pipeline, and its real trainer killed with SIGKILL, then started again."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kms-api-restart-")
        self.pipeline = real_pipeline(self.tmp, api=("--trainer-timeout", TIMEOUT_MS))
        self.addCleanup(self.check_pipeline)

    def check_pipeline(self):
        problems = self.pipeline.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            self.fail("\n".join(problems))

    def test_a_killed_trainer_gives_prompt_503s_and_once_restarted_is_ready(self):
        base = self.pipeline.base
        self.pipeline.wait_ready()
        self.pipeline.kill_trainer()
        time.sleep(0.25)  # past what the cache may still serve
        api = self.pipeline.api
        for method, path in TRAINER_ROUTES:
            body = kepler_body() if method == "POST" else None
            allowance = TIMEOUT_MS / 1000 + SLACK_S + baseline(base)
            status, _, data, elapsed = timed(base + path, method, body)
            self.assertEqual(status, 503, f"{method} {path}")
            self.assertLess(elapsed, allowance, f"{method} {path} took {elapsed:.3f}s")
            logged = wait_for(lambda: server_ms(api, method, path, 503), timeout=5, what=f"the log of {path}")
            self.assertLess(logged[-1], TIMEOUT_MS + SLACK_S * 1000, f"{method} {path}: kms-api took {logged[-1]} ms")
        self.assertEqual(http(base + "/healthz")[0], 200)
        self.assertEqual(http_json(base + "/readyz")[0], 503)
        # Back on the same endpoint, the trainer answers at once (503 "not trained enough" or
        # 200 from a checkpoint), and with the scraper still running it is soon ready again.
        self.pipeline.start_trainer()
        status = wait_for(lambda: http(base + "/readyz")[0] == 200 and http(base + "/model-weights/")[0],
                          timeout=20, what="the restarted trainer answering")
        self.assertIn(status, (200, 503))
        self.pipeline.wait_ready()
        self.assertIn("All_Weights", http_json(base + "/model-weights/dram_model")[1])


class RequestFaults(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.trainer = FakeTrainer()
        self.api, self.base = start_api(self, self.trainer.endpoint, TIMEOUT_MS)
        self.port = int(self.base.rsplit(":", 1)[1])

    def tearDown(self):
        self.trainer.stop()
        super().tearDown()

    def test_wrong_methods_get_405_with_allow_and_unknown_routes_404(self):
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "POST"):
            for path in ("/", "/models", "/models/core_model", "/model-weights/core_model", "/metrics",
                         "/healthz", "/readyz"):
                status, headers, _ = http(self.base + path, method=method, body=b"" if method == "POST" else None)
                self.assertEqual(status, 405, f"{method} {path}")
                self.assertIn("GET", headers.get("Allow"))
        for method in ("GET", "PUT", "DELETE"):
            status, headers, _ = http(self.base + "/model", method=method)
            self.assertEqual((status, headers.get("Allow")), (405, "POST"), method)
        self.assertEqual(http(self.base + "/no/such/route")[0], 404)
        self.assertEqual(http(self.base + "/no/such/route", method="DELETE")[0], 405)

    def test_bodies_are_refused_off_post_model_and_capped_at_413_on_it(self):
        # Bodies only on POST /model, and capped there.
        status, headers, _ = http(self.base + "/models", method="GET", body=b"x" * 10)
        self.assertEqual(status, 413)
        status, data = http_json(self.base + "/model", method="POST", body=b" " * (70 * 1024))
        self.assertEqual(status, 413)
        self.assertIn("too large", data["error"])
        chunked = (b"POST /model HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"".join(b"8000\r\n" + b"a" * 0x8000 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n")
        self.assertEqual(status_of(raw_request(self.port, chunked)), 413)
        # A small chunked body is read fine.
        body = json.dumps(kepler_07_request()).encode()
        small = (b"POST /model HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        self.assertEqual(status_of(raw_request(self.port, small)), 200)

    def test_malformed_kepler_requests_get_400_and_unanswerable_ones_404(self):
        malformed = [
            (b"", "malformed JSON"), (b"{bad json", "malformed JSON"), (b"[1, 2]", "JSON object"),
            (b'{"output_type": "AbsPower"}', "metrics"),
            (b'{"metrics": "cpu_cycles", "output_type": "AbsPower"}', "metrics"),
            (b'{"metrics": [1, 2], "output_type": "AbsPower"}', "metrics"),
            (b'{"metrics": ["cpu_cycles"]}', "output_type"),
            (b'{"metrics": ["cpu_cycles"], "output_type": "Watts"}', "output_type"),
            (b'{"metrics": ["cpu_cycles"], "output_type": "AbsPower", "weight": "yes"}', "weight"),
            (b'{"metrics": ["cpu_cycles"], "output_type": "AbsPower", "filter": "mae:lots"}', "filter"),
            (json.dumps({"metrics": ["m%d" % i for i in range(100)], "output_type": "AbsPower"}).encode(),
             "too many"),
            (json.dumps(dict(kepler_07_request(), trainer_name="LogisticRegressionTrainer")).encode(), "linear"),
        ]
        # Well-formed requests that no model suits: 404, so that Kepler falls back, saying why.
        unanswerable = [
            (json.dumps({"metrics": ["cpu_cycles"], "output_type": "AbsComponentModelWeight"}).encode(),
             "cpu_instructions"),
            (json.dumps(dict(kepler_04_request("AbsModelWeight"), model_name="nope")).encode(), "nope"),
            (json.dumps(dict(kepler_04_request("AbsComponentModelWeight"), filter="mae:0.0001")).encode(), "filter"),
            # The node total from a trainer with no platform model: never a component instead.
            (json.dumps(kepler_07_request(source="acpi")).encode(), "core_model: its target (core) is not"),
        ]
        for cases, expected in ((malformed, 400), (unanswerable, 404)):
            for body, needle in cases:
                status, data = http_json(self.base + "/model", method="POST", body=body,
                                         headers={"Content-Type": "application/json"})
                self.assertEqual(status, expected, body[:80])
                self.assertIn(needle, data["error"], body[:80])
        # Keys Kepler may add are ignored.
        body = dict(kepler_07_request(), future_key={"x": [1]}, node_type=None)
        self.assertEqual(http(self.base + "/model", method="POST", body=json.dumps(body).encode())[0], 200)

    MALFORMED = [
        b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 500) for i in range(200)) + b"\r\n",
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nthis line has no colon\r\n\r\n",
        b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /models/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /model-weights/%2e%2e HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /model-weights/core%00model HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /model-weights/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /models/%c0%ae%c0%ae/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET //etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /./metrics/../../x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n",
        b"GET /models HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /models HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n{",
        b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
        b"POST /model HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"DELETE /models/core_model HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /models/core_model.zip/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    ]

    def test_a_flood_of_malformed_requests_gets_4xx_and_leaves_it_serving(self):
        for round_ in range(3):
            for raw in self.MALFORMED:
                answer = raw_request(self.port, raw, timeout=3 * SLOWDOWN)
                status = status_of(answer)
                self.assertIsNotNone(status, f"no HTTP answer to {raw[:60]!r}: {answer[:80]!r}")
                self.assertTrue(400 <= status < 500, f"{status} for {raw[:60]!r}")
                self.assertNotIn(b"root:", answer)
        # Proxy requests (absolute-form naming another host, OPTIONS *): civetweb closes the
        # connection without an answer, which is as good as a refusal; never a 2xx.
        for raw in (b"GET http://evil.example/etc/passwd HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"):
            status = status_of(raw_request(self.port, raw, timeout=3 * SLOWDOWN))
            self.assertTrue(status is None or 400 <= status < 500, f"{status} for {raw[:40]!r}")
        self.assertTrue(self.api.alive())
        self.assertEqual(http(self.base + "/healthz")[0], 200)
        self.assertEqual(http(self.base + "/model-weights/core_model")[0], 200)
        metrics = http(self.base + "/metrics")[2].decode()
        self.assertRegex(metrics, r'kms_api_requests_total\{route="other",code="4\d\d"\} \d+')

    def test_slow_client_does_not_hold_a_worker_forever(self):
        # Few workers, each taken by a client that sends half a request and stops.
        trainer = FakeTrainer()
        self.addCleanup(trainer.stop)
        api, base = start_api(self, trainer.endpoint, TIMEOUT_MS,
                              extra=("--threads", "2", "--request-timeout", "500"))
        port = int(base.rsplit(":", 1)[1])
        import socket
        stuck = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        for s in stuck:
            s.sendall(b"GET /models HTTP/1.1\r\nHost: x\r\n")
        try:
            start = time.monotonic()
            status, _, _ = http(base + "/healthz", timeout=10 * SLOWDOWN)
            self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - start, 3 * SLOWDOWN)
        finally:
            for s in stuck:
                s.close()


class Configuration(ProcessTestCase):
    def run_api(self, *args, env=None):
        return subprocess.run([binary("kms-api"), *args], capture_output=True, text=True, timeout=10 * SLOWDOWN,
                              env=dict(os.environ, **(env or {})))

    def test_help_names_every_option_and_a_bad_value_exits_2_at_once(self):
        r = self.run_api("--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--port", "KMS_HTTP_PORT", "--trainer", "KMS_TRAINER_ENDPOINT", "--trainer-timeout",
                       "KMS_TRAINER_TIMEOUT_MS", "--threads"):
            self.assertIn(option, r.stdout)
        r = self.run_api("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^kms-api \d+\.\d+\.\d+")
        for args, env, needle in [(["--port", "http"], None, "--port"), (["--port", "70000"], None, "--port"),
                                  ([], {"KMS_HTTP_PORT": "12ab"}, "KMS_HTTP_PORT"),
                                  (["--trainer-timeout", "0"], None, "--trainer-timeout"),
                                  (["--trainer", "not an endpoint"], None, "--trainer"),
                                  (["--cache-ms", "500"], None, "--cache-ms"),
                                  (["--no-such-option"], None, "no-such-option"),
                                  ([], {"KMS_LOG_LEVEL": "chatty"}, "KMS_LOG_LEVEL")] + self.bad_machine_specs():
            started = time.monotonic()
            r = self.run_api(*args, env=env)
            self.assertLess(time.monotonic() - started, 5 * SLOWDOWN, args)  # refused at once, never blocked
            self.assertEqual(r.returncode, 2, (args, env, r.stderr))
            self.assertIn(needle, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def bad_machine_specs(self):
        """--machine-specs files that are not one, each with what its error line must name."""
        cases = []
        for i, (text, needle) in enumerate([("{", "line 1"), ("[]", "non-empty object"),
                                             ('{"Zen3": {"cores": "many"}}', "cores"),
                                             ('{"Zen3": {"sockets": 2}}', "sockets")]):
            path = os.path.join(self.tmp, f"machines-{i}.json")
            with open(path, "w") as f:
                f.write(text)
            cases.append((["--machine-specs", path], None, needle))
        cases.append((["--machine-specs", os.path.join(self.tmp, "absent.json")], None, "absent.json"))
        # A FIFO (issue #16): before, kms-api blocked opening it, silent, until a writer came.
        fifo = os.path.join(self.tmp, "machines.fifo")
        os.mkfifo(fifo)
        cases.append((["--machine-specs", fifo], None, "machines.fifo: not a regular file"))
        return cases

    def test_sigterm_is_a_clean_exit_and_port_in_use_fails(self):
        trainer = FakeTrainer()
        self.addCleanup(trainer.stop)
        api, base = start_api(self, trainer.endpoint, TIMEOUT_MS)
        self.assertEqual(http(base + "/model-weights/")[0], 200)
        # A second instance on the same port cannot start, and says so.
        port = base.rsplit(":", 1)[1]
        r = self.run_api("--port", port, "--trainer", ">" + trainer.endpoint)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot start", r.stderr)
        start = time.monotonic()
        self.assertEqual(api.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - start, 5 * SLOWDOWN)
        self.assertIn("msg=stopped", api.output())


if __name__ == "__main__":
    unittest.main()
