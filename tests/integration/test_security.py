"""Closed to strangers: ZeroMQ CURVE on the sample and control sockets, HTTPS and an access list
on the API, security headers on the status page. Real processes on loopback, keys made with
kms-keygen, a self-signed certificate made with openssl."""
import json
import os
import shutil
import ssl
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import zmq

from kmstest import ProcessTestCase, binary, http, wait_for, SLOWDOWN


def keygen(folder, name):
    subprocess.run([binary("kms-keygen"), "--dir", folder, name], check=True, capture_output=True)
    return os.path.join(folder, name)


def trainer_stats(control_port, timeout_ms=2000):
    """STATS over a plain (CURVE-less) REQ socket; None when no answer comes."""
    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.connect(f"tcp://127.0.0.1:{control_port}")
    try:
        s.send(b"STATS")
        return json.loads(s.recv_multipart()[1])
    except zmq.Again:
        return None
    finally:
        s.close()


class TestCurve(ProcessTestCase):
    """The trainer binds both sockets as the CURVE server and admits the keys in its clients
    folder: the known scraper and API get through, a stranger does not."""

    def setUp(self):
        super().setUp()
        keys = os.path.join(self.tmp, "keys")
        self.clients = os.path.join(self.tmp, "clients")
        os.makedirs(keys)
        os.makedirs(self.clients)
        self.trainer_key = keygen(keys, "trainer")
        self.scraper_key = keygen(keys, "scraper")
        self.api_key = keygen(keys, "api")
        self.stranger_key = keygen(keys, "stranger")
        for known in (self.scraper_key, self.api_key):
            shutil.copy(known, self.clients)
        self.sim_port = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1").logged_port()
        trainer = self.start("kms-trainer", "--samples", "@tcp://127.0.0.1:*", "--control", "@tcp://127.0.0.1:*",
                             "--data-dir", os.path.join(self.tmp, "data"), "--min-samples", 5,
                             env={"KMS_CURVE_SECRET_KEY_FILE": self.trainer_key + "_secret",
                                  "KMS_CURVE_CLIENTS_DIR": self.clients})
        self.samples_port, self.control_port = trainer.logged_port("samples"), trainer.logged_port("control")

    def client_env(self, key):
        return {"KMS_CURVE_SECRET_KEY_FILE": key + "_secret", "KMS_CURVE_SERVER_KEY_FILE": self.trainer_key}

    def scraper(self, key):
        return self.start("kms-scraper", "--kepler-url", f"http://127.0.0.1:{self.sim_port}/metrics",
                          "--interval", 0.1, "--publish", f">tcp://127.0.0.1:{self.samples_port}",
                          env=self.client_env(key))

    def api_readyz(self, key):
        api = self.start("kms-api", "--port", 0, "--trainer", f">tcp://127.0.0.1:{self.control_port}",
                         "--trainer-timeout", 500, env=self.client_env(key))
        port = api.logged_port()
        wait_for(lambda: http(f"http://127.0.0.1:{port}/healthz")[0] == 200, what="kms-api up")
        status = http(f"http://127.0.0.1:{port}/readyz")[0]
        api.stop()
        return status

    def received(self):
        """The trainer's kms_trainer_samples_received_total, read through an API holding a known key."""
        if not hasattr(self, "known_api_port"):
            api = self.start("kms-api", "--port", 0, "--trainer", f">tcp://127.0.0.1:{self.control_port}",
                             "--trainer-timeout", 1000, "--cache-ms", 0, env=self.client_env(self.api_key))
            self.known_api_port = api.logged_port()
            wait_for(lambda: http(f"http://127.0.0.1:{self.known_api_port}/readyz")[0] == 200,
                     what="the known API reaches the trainer")
        status, _, body = http(f"http://127.0.0.1:{self.known_api_port}/metrics")
        self.assertEqual(status, 200)
        values = [float(line.split()[-1]) for line in body.decode().splitlines()
                  if line.startswith("kms_trainer_samples_received_total")]
        self.assertEqual(len(values), 1, "the trainer's counters are in /metrics")
        return values[0]

    def test_unknown_publisher_cannot_feed_the_trainer(self):
        self.scraper(self.stranger_key)
        # Pacing, not a condition: that nothing arrives cannot be awaited, only given the time
        # in which a known scraper's samples would have (several 0.1 s intervals).
        time.sleep(2 * SLOWDOWN)
        self.assertEqual(self.received(), 0, "a stranger's samples reached the trainer")
        self.scraper(self.scraper_key)
        wait_for(lambda: self.received() > 0, timeout=15, what="the known scraper's samples")

    def test_unknown_client_cannot_read_the_trainer(self):
        self.assertEqual(self.api_readyz(self.api_key), 200)
        self.assertEqual(self.api_readyz(self.stranger_key), 503)
        # Nor can a plain ZeroMQ client without CURVE.
        self.assertIsNone(trainer_stats(self.control_port, timeout_ms=int(1000 * SLOWDOWN)))

    def test_keygen_writes_a_private_secret_and_a_missing_key_exits_2(self):
        key = os.path.join(self.tmp, "keys", "trainer")
        with open(key) as f:
            self.assertIn("public-key", f.read())
        self.assertEqual(os.stat(key + "_secret").st_mode & 0o077, 0, "the secret key is private")
        for program in ("kms-scraper", "kms-trainer", "kms-api", "kms-tail"):
            r = subprocess.run([binary(program), "--curve-secret-key-file", "/nonexistent/key_secret"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, program)
            self.assertIn("--curve-secret-key-file", r.stderr, program)


class TestHttps(ProcessTestCase):
    def make_certificate(self):
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True)
        return cert, key

    def test_tls_with_a_self_signed_certificate(self):
        cert, key = self.make_certificate()
        port = self.start("kms-api", "--port", 0, "--trainer", ">tcp://127.0.0.1:1", "--trainer-timeout", 200,
                          "--tls-cert", cert, "--tls-key", key).logged_port()
        context = ssl.create_default_context(cafile=cert)
        url = f"https://localhost:{port}/healthz"

        def get():
            with urllib.request.urlopen(url, context=context, timeout=5) as r:
                return r.status, r.read()

        status, body = wait_for(get, what="kms-api over TLS")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        for _ in range(20):  # many handshakes, no crash
            self.assertEqual(get()[0], 200)
        # The certificate is the one configured, and plain HTTP is not served.
        with self.assertRaises(Exception):
            http(f"http://127.0.0.1:{port}/healthz", timeout=2)
        bad = ssl.create_default_context()  # the system's CAs do not know a self-signed cert
        with self.assertRaises(urllib.error.URLError) as refused:
            urllib.request.urlopen(url, context=bad, timeout=5)
        self.assertIsInstance(refused.exception.reason, ssl.SSLCertVerificationError)

    def test_bad_tls_configuration_exits_2(self):
        cert, key = self.make_certificate()
        for args, option in (((("--tls-cert", cert),), "--tls-key"), ((("--tls-cert", key), ("--tls-key", cert)), "--tls-key"),
                             ((("--tls-cert", key), ("--tls-key", key)), "--tls-cert"),
                             ((("--tls-cert", "/nonexistent"), ("--tls-key", key)), "--tls-cert")):
            flat = [x for pair in args for x in pair]
            r = subprocess.run([binary("kms-api"), "--port", "0", *flat], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, flat)
            self.assertIn(option, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class TestAccessList(ProcessTestCase):
    def api(self, acl):
        port = self.start("kms-api", "--port", 0, "--trainer", ">tcp://127.0.0.1:1", "--acl", acl).logged_port()
        return f"http://127.0.0.1:{port}"

    def test_the_access_list_admits_loopback_and_refuses_the_rest(self):
        admitted = self.api("-0.0.0.0/0,+127.0.0.0/8")
        self.assertEqual(wait_for(lambda: http(f"{admitted}/healthz")[0], what="admitted"), 200)
        refused = self.api("-0.0.0.0/0,+10.0.0.0/8")
        try:
            status = http(f"{refused}/healthz", timeout=3)[0]
        except Exception:
            status = None  # civetweb closes a refused connection without an answer
        self.assertNotEqual(status, 200)

    def test_bad_access_list_exits_2(self):
        for acl in ("127.0.0.1", "+1.2.3.4/33", "+nonsense", "+1.2.3.4,"):
            r = subprocess.run([binary("kms-api"), "--acl", acl], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, acl)
            self.assertIn("--acl", r.stderr)


class TestStatusPageHeaders(ProcessTestCase):
    def test_the_status_page_sends_csp_nosniff_frame_and_referrer_headers(self):
        port = self.start("kms-api", "--port", 0, "--trainer", ">tcp://127.0.0.1:1", "--trainer-timeout",
                          200).logged_port()
        status, headers, _ = wait_for(lambda: http(f"http://127.0.0.1:{port}/"), what="status page")
        headers = {k.lower(): v for k, v in headers.items()}
        self.assertIn("default-src", headers.get("content-security-policy", ""))
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")
        self.assertIn(headers.get("x-frame-options", "").upper(), ("DENY", "SAMEORIGIN"))
        self.assertIn("referrer-policy", headers)


if __name__ == "__main__":
    unittest.main()
