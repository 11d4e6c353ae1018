"""Shared helpers for the docker tests (ctest label `docker`): the compose stack of the
repository, started as a user starts it, in its own compose project.

The images are built once per run by test_docker_images (a ctest fixture the other docker
tests require); the others start stacks from them. Every name this suite makes (compose
projects, hence their containers, networks and volumes; the images' tag) starts with
$KMS_DOCKER_PREFIX, so that parallel checkouts on one engine stay apart.
"""
import json
import os
import subprocess
import time
import unittest

import kmstest
from kmstest import SOURCE_DIR, free_port, wait_for

PREFIX = os.environ.get("KMS_DOCKER_PREFIX", "kms-12")
TAG = PREFIX  # the images' tag: kepler-model-server/kms-api:<TAG>
COMPOSE = os.path.join(SOURCE_DIR, "docker-compose.yml")
TEST_OVERRIDE = os.path.join(SOURCE_DIR, "tests", "docker", "compose.test.yml")
# compose service -> image it runs (the four of ours and the test-only Prometheus).
IMAGES = {
    "kepler-sim": f"kepler-model-server/kepler-sim:{TAG}",
    "trainer": f"kepler-model-server/kms-trainer:{TAG}",
    "scraper": f"kepler-model-server/kms-scraper:{TAG}",
    "api": f"kepler-model-server/kms-api:{TAG}",
    "prometheus": f"kepler-model-server/test-prometheus:{TAG}",
}
# Short intervals so that a drill takes seconds, not minutes; nothing else differs from a
# user's `docker-compose up`.
FAST = {"KMS_SCRAPE_INTERVAL": "1", "KMS_MIN_SAMPLES": "10", "KMS_CHECKPOINT_INTERVAL": "2"}


def run(*cmd, timeout=120, check=True, env=None, cwd=SOURCE_DIR):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def docker(*args, timeout=120, check=True):
    return run("docker", *args, timeout=timeout, check=check)


def require_engine():
    """Fails (never skips) when the Docker engine cannot be reached: the docker label exists to
    run these tests, `ctest -LE docker` leaves them out."""
    proc = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"the Docker engine cannot be reached: {proc.stderr.strip()}")


def parse_metrics(text):
    """Prometheus text as {'name{labels}': value}, comments left out."""
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series[name] = float(value)
    return series


def http(url, **kw):
    try:
        return kmstest.http(url, **kw)
    except OSError as e:  # a published port with nothing behind it yet resets the connection
        return None, {}, str(e).encode()


class Stack:
    """One compose project: docker-compose.yml plus the test override (and any extra files),
    host ports made free ones, the FAST settings plus `env`."""

    def __init__(self, name, extra_files=(), env=None):
        self.project = f"{PREFIX}-{name}"
        files = [COMPOSE, TEST_OVERRIDE, *extra_files]
        self.files = [arg for f in files for arg in ("-f", f)]
        self.api_port, self.prometheus_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KMS_", "OTEL", "OTLP", "KEPLER"))}
        self.env.update(FAST)
        self.env.update({"KMS_TAG": TAG, "KMS_API_PORT": str(self.api_port),
                         "PROMETHEUS_PORT": str(self.prometheus_port), "KMS_TEST_PROJECT": self.project})
        self.env.update(env or {})
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.prometheus = f"http://127.0.0.1:{self.prometheus_port}"

    def compose(self, *args, timeout=300, check=True):
        return run("docker-compose", "-p", self.project, *self.files, *args, timeout=timeout,
                   check=check, env=self.env)

    def up(self, *args):
        self.compose("up", "-d", *args, timeout=900)

    def down(self):
        """Removes the project's containers, networks and volumes; returns what is left."""
        self.compose("down", "-v", "--remove-orphans", "-t", "20", check=False)
        left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}").stdout.split()
        left += docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}").stdout.split()
        left += docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}").stdout.split()
        return left

    def containers(self, service):
        """The ids of the service's running containers, by compose's replica number."""
        ids = self.compose("ps", "-q", service).stdout.split()
        return sorted(ids, key=lambda c: int(self.inspect(c)["Config"]["Labels"]["com.docker.compose.container-number"]))

    def container(self, service):
        ids = self.containers(service)
        assert len(ids) == 1, f"{service}: {len(ids)} containers"
        return ids[0]

    def inspect(self, container):
        return json.loads(docker("inspect", container).stdout)[0]

    def network(self):
        return f"{self.project}_default"

    def logs(self, service=None):
        return self.compose("logs", "--no-color", *([service] if service else []), check=False).stdout

    def models(self):
        """The trainer's models through the API, by name (None while the API cannot answer)."""
        status, _, body = http(f"{self.api}/models", timeout=5)
        if status != 200:
            return None
        doc = json.loads(body)
        return {m["name"]: m for m in (doc["models"] if isinstance(doc, dict) else doc)}

    def api_metrics(self):
        """The API's /metrics as {series: value} ({} while it cannot answer)."""
        status, _, body = http(f"{self.api}/metrics", timeout=5)
        return parse_metrics(body.decode()) if status == 200 else {}

    def container_metrics(self, container, port):
        """/metrics of a port inside a container (not published), through the image's curl."""
        proc = docker("exec", container, "curl", "-fsS", "--max-time", "5", f"http://127.0.0.1:{port}/metrics",
                      check=False, timeout=30)
        return parse_metrics(proc.stdout) if proc.returncode == 0 else {}

    def wait_trained(self, timeout=120):
        wait_for(lambda: http(f"{self.api}/model-weights/core_model")[0] == 200, timeout=timeout,
                 interval=0.5, what=f"{self.project}: GET /model-weights/core_model = 200")

    def prometheus_query(self, query):
        """The result vector of an instant query."""
        from urllib.parse import quote
        status, _, body = http(f"{self.prometheus}/api/v1/query?query={quote(query)}")
        if status != 200:
            return None
        return json.loads(body)["data"]["result"]


class StackTestCase(unittest.TestCase):
    """Brings self.stack up in setUpClass (no build: the images are test_docker_images' own)
    and down, volumes included, in tearDownClass; fails when anything of it is left."""

    name = None
    extra_files = ()
    up_args = ()
    env = None

    @classmethod
    def setUpClass(cls):
        require_engine()
        cls.stack = Stack(cls.name, cls.extra_files, cls.env)
        cls.stack.down()  # what an interrupted earlier run left
        cls.started = time.monotonic()
        try:
            cls.stack.up(*cls.up_args)
        except Exception:
            cls.stack.down()
            raise

    @classmethod
    def tearDownClass(cls):
        left = cls.stack.down()
        if left:
            raise AssertionError(f"{cls.stack.project}: left behind {left}")

    def run(self, result=None):
        # A failing drill prints the stack's logs: the containers are gone afterwards.
        outcome = super().run(result)
        if result is not None and (result.failures or result.errors) and not getattr(self, "_logged", False):
            self._logged = True
            print(f"--- {self.stack.project} logs ---\n{self.stack.logs()[-20000:]}")
        return outcome
