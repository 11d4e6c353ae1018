"""HTTPS inside the shipped api image: kms-api started from kepler-model-server/kms-api as
compose starts it (read-only, no capabilities, uid 10001), with a certificate and key mounted
read-only, serves HTTPS that a client verifying that certificate accepts, and no plain HTTP.
The image holds only runtime packages (no libssl-dev): this is where a TLS set-up that needs
a development file fails."""
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest
import urllib.request

import kmstest
from dockertest import IMAGES, PREFIX, docker, free_port, require_engine, wait_for


class TestHttpsInTheImage(unittest.TestCase):
    def setUp(self):
        require_engine()
        self.tmp = tempfile.mkdtemp(prefix="kms-docker-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True)
        # The container's user (uid 10001) reads the mounted files; a test folder, not a real key.
        os.chmod(self.tmp, 0o755)
        os.chmod(key, 0o644)
        self.cert = cert
        self.name = f"{PREFIX}-tls"
        docker("rm", "-f", self.name, check=False)
        self.addCleanup(docker, "rm", "-f", self.name, check=False)

    def test_https_served_by_the_api_image(self):
        port = free_port()
        docker("run", "-d", "--name", self.name, "--read-only", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges:true", "-v", f"{self.tmp}:/etc/kms-tls:ro",
               "-e", "KMS_TLS_CERT=/etc/kms-tls/cert.pem", "-e", "KMS_TLS_KEY=/etc/kms-tls/key.pem",
               "-e", "KMS_TRAINER_ENDPOINT=>tcp://127.0.0.1:1", "-e", "KMS_TRAINER_TIMEOUT_MS=200",
               "-p", f"127.0.0.1:{port}:8100", IMAGES["api"])
        context = ssl.create_default_context(cafile=self.cert)
        url = f"https://localhost:{port}/healthz"

        def get():
            running = docker("inspect", "-f", "{{.State.Running}}", self.name).stdout.strip()
            if running != "true":
                raise AssertionError("kms-api exited:\n" + docker("logs", self.name, check=False).stderr[-3000:])
            with urllib.request.urlopen(url, context=context, timeout=5) as r:
                return r.status, r.read()

        try:
            status, body = wait_for(get, timeout=20, interval=0.2, what="kms-api over HTTPS in its image")
        except AssertionError:
            logs = docker("logs", self.name, check=False)
            raise AssertionError(f"no HTTPS answer; kms-api's log:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        # Only HTTPS on that port.
        with self.assertRaises(Exception):
            kmstest.http(f"http://127.0.0.1:{port}/healthz", timeout=3)


if __name__ == "__main__":
    unittest.main()
