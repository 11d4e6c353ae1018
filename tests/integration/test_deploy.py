"""Deployment files, checked without a Docker engine or a cluster.

docker-compose (Debian's 1.29) must accept the compose file, yamllint every YAML file, promtool
the Prometheus configuration, kustomize (the one scripts/install-deps pins) the Kubernetes
manifests; then every rendered
object is checked for what the API server and the programs would reject or silently get wrong
(selectors, ports, probes, env references, volumes, security), and each Dockerfile target for what
the images promise (multi-stage, slim runtime with exactly the libraries the binary needs,
non-root, exec-form entrypoint, health checks where there is HTTP). Settings the files pass to
the programs are checked against the programs' own --help when they are built, and then run:
the four programs, started on loopback with exactly the environment compose and Kubernetes
give them, must train a model.
"""
import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

import kmstest
from kmstest import SOURCE_DIR, ProcessTestCase, binary, free_port, wait_for

DEPLOY = os.path.join(SOURCE_DIR, "deploy")
COMPOSE = os.path.join(SOURCE_DIR, "docker-compose.yml")

# The one Dockerfile, whose targets are the programs.
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
# program (the Dockerfile's target) -> (ports it exposes, whether it serves HTTP)
IMAGES = {
    "kms-api": ({"8100"}, True),
    "kms-trainer": ({"5555", "5556"}, False),
    "kms-scraper": ({"9103"}, True),
    "kepler-sim": ({"9102"}, True),
    "kms-meter": ({"9103"}, True),
}
# A program's private library folder (lib/<program> beside bin/, in the build tree as in the image),
# whose libraries it loads by path at run time.
PRIVATE_LIBDIRS = {"kms-api": "lib/kms-api"}
# compose service -> program
COMPOSE_PROGRAMS = {"api": "kms-api", "trainer": "kms-trainer", "scraper": "kms-scraper",
                    "kepler-sim": "kepler-sim", "meter": "kms-meter"}
# Packages every debian:12-slim image has (essential or required).
SLIM_BASE = {"libc6", "libgcc-s1", "zlib1g", "libzstd1", "liblzma5", "libbz2-1.0", "libcrypt1"}
SANITIZER_RUNTIMES = ("libasan.", "libubsan.", "liblsan.", "libtsan.")
# Variables that exist only to be referenced by others ($(NODE_IP)) or read by libraries.
HELPER_VARS = {"NODE_IP", "NODE_NAME", "POD_NAME", "POD_NAMESPACE"}


def run(*cmd, env=None, cwd=SOURCE_DIR):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60)


# The kustomize that scripts/install-deps builds: the same renderer on every machine, whatever
# kubectl is on PATH (Debian 12's kubectl 1.20 cannot read the kustomization).
KUSTOMIZE = "/usr/local/bin/kustomize"


def render_k8s(folder="k8s"):
    """The objects deploy/<folder> renders to."""
    if not os.access(KUSTOMIZE, os.X_OK):
        raise AssertionError(f"{KUSTOMIZE} missing: run scripts/install-deps")
    proc = run(KUSTOMIZE, "build", os.path.join(DEPLOY, folder))
    if proc.returncode != 0:
        raise AssertionError(f"kustomize build deploy/{folder} failed: {proc.stderr}")
    return [o for o in yaml.safe_load_all(proc.stdout) if o]


_help_cache = {}


def program_help(program):
    """The program's --help text, or None when it is not built."""
    if program not in _help_cache:
        path = binary(program)
        _help_cache[program] = (run(path, "--help").stdout if os.path.exists(path) else None)
    return _help_cache[program]


def endpoint_parts(endpoint):
    """'@tcp://*:5555' -> ('@', '*', 5555)."""
    m = re.fullmatch(r"([@>])tcp://([^:/]+):(\d+)", endpoint)
    assert m, f"not a czmq tcp endpoint: {endpoint}"
    return m.group(1), m.group(2), int(m.group(3))


class EnvChecks:
    def check_program_env(self, program, names, where):
        """Every KMS_ variable given to a program is one it reads (its --help names them)."""
        text = program_help(program)
        if text is None:
            return
        for name in names:
            if name.startswith("KMS_"):
                self.assertRegex(text, rf"\b{name}\b", f"{where}: {program} does not know {name}")


_compose_cache = {}


def compose_config(*args, env=None):
    key = (args, tuple(sorted((env or {}).items())))
    if key not in _compose_cache:
        _compose_cache[key] = _compose_config(*args, env=env)
    return _compose_cache[key]


def _compose_config(*args, env=None):
    # A clean environment: the defaults in the file are what is checked.
    base = {k: "" for k in ("KEPLER_URL", "KMS_TAG", "KMS_API_PORT", "OTLP_ENDPOINT",
                            "KMS_OTLP_ENDPOINT", "KMS_LOG_LEVEL")}
    base.update(env or {})
    clean = {k: v for k, v in base.items() if v}
    proc_env = {k: v for k, v in os.environ.items() if k not in base}
    proc_env.update(clean)
    proc = subprocess.run(["docker-compose", "-f", COMPOSE, *args, "config"], cwd=SOURCE_DIR,
                          env=proc_env, capture_output=True, text=True, timeout=60)
    return proc


@unittest.skipUnless(shutil.which("docker-compose"), "docker-compose is not installed")
class TestCompose(unittest.TestCase, EnvChecks):
    def config(self, *args, env=None):
        proc = compose_config(*args, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return yaml.safe_load(proc.stdout)

    def test_config_accepts_the_file(self):
        doc = self.config()
        services = doc["services"]
        self.assertEqual(set(services), {"kepler-sim", "kepler", "trainer", "scraper", "api",
                                         "prometheus", "otel-collector", "meter", "kepler-meter"})
        # `docker-compose up` without a profile runs everything but the real Kepler and the
        # meter pair.
        self.assertEqual(services["kepler"].get("profiles"), ["kepler"])
        self.assertEqual(services["meter"].get("profiles"), ["meter"])
        self.assertEqual(services["kepler-meter"].get("profiles"), ["meter"])
        for name, svc in services.items():
            if name not in ("kepler", "meter", "kepler-meter"):
                self.assertFalse(svc.get("profiles"), name)
        kepler = services["kepler"]
        self.assertTrue(kepler["privileged"])
        self.assertEqual(kepler["pid"], "host")
        mounts = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in kepler["volumes"]}
        self.assertLessEqual({"/proc", "/sys", "/lib/modules"}, mounts)
        self.assertIn("quay.io/sustainable_computing_io/kepler", kepler["image"])

    def test_compose_wires_scraper_trainer_and_api_to_each_others_ports(self):
        services = self.config()["services"]
        env = {name: svc.get("environment", {}) for name, svc in services.items()}
        # The scraper reads kepler-sim by default, on the port kepler-sim exposes.
        url = env["scraper"]["KMS_KEPLER_URL"]
        m = re.fullmatch(r"http://([^:/]+):(\d+)/metrics", url)
        self.assertTrue(m, url)
        self.assertEqual(m.group(1), "kepler-sim")
        self.assertIn(m.group(2), [str(p) for p in services["kepler-sim"]["expose"]])
        # Scrapers connect, the trainer binds the same port; the API asks the trainer's control.
        mode, host, port = endpoint_parts(env["scraper"]["KMS_SAMPLES_ENDPOINT"])
        self.assertEqual((mode, host), (">", "trainer"))
        self.assertEqual(endpoint_parts(env["trainer"]["KMS_SAMPLES_ENDPOINT"]), ("@", "*", port))
        mode, host, port = endpoint_parts(env["api"]["KMS_TRAINER_ENDPOINT"])
        self.assertEqual((mode, host), (">", "trainer"))
        self.assertEqual(endpoint_parts(env["trainer"]["KMS_TRAINER_ENDPOINT"]), ("@", "*", port))
        # The API on 8100 of the host; its OTLP push off unless asked for.
        self.assertIn({"published": 8100, "target": 8100}, services["api"]["ports"])
        self.assertEqual(env["api"].get("OTEL_EXPORTER_OTLP_ENDPOINT") or "", "")
        for name, program in COMPOSE_PROGRAMS.items():
            self.check_program_env(program, env[name], f"compose service {name}")

    def test_the_trainers_data_dir_is_a_named_volume_with_30_s_to_stop(self):
        doc = self.config()
        trainer = doc["services"]["trainer"]
        data_dir = trainer["environment"]["KMS_DATA_DIR"]
        volumes = [v for v in trainer["volumes"] if (v["target"] if isinstance(v, dict) else v.split(":")[1]) == data_dir]
        self.assertEqual(len(volumes), 1, "the data dir is not on a volume")
        source = volumes[0]["source"] if isinstance(volumes[0], dict) else volumes[0].split(":")[0]
        self.assertIn(source, doc["volumes"], "the trainer's volume is not a named volume")
        # Long enough for the checkpoint written on SIGTERM.
        grace = trainer["stop_grace_period"]
        self.assertRegex(grace, r"^\d+s$")
        self.assertGreaterEqual(int(grace[:-1]), 30)

    def test_our_services_are_hardened(self):
        services = self.config()["services"]
        for name in COMPOSE_PROGRAMS:
            svc = services[name]
            self.assertTrue(svc.get("read_only"), name)
            self.assertIn("ALL", svc.get("cap_drop", []), name)
            self.assertEqual(os.path.join(SOURCE_DIR, svc["build"]["dockerfile"]), DOCKERFILE, name)
            self.assertEqual(svc["build"]["target"], COMPOSE_PROGRAMS[name])

    def test_the_kepler_profile_points_the_scraper_at_the_real_kepler(self):
        doc = self.config("--profile", "kepler", env={"KEPLER_URL": "http://kepler:9102/metrics"})
        self.assertEqual(doc["services"]["scraper"]["environment"]["KMS_KEPLER_URL"],
                         "http://kepler:9102/metrics")
        self.assertIn("9102", [str(p) for p in doc["services"]["kepler"]["expose"]])

    def test_meter_profile_shares_the_tree_with_kepler(self):
        services = self.config("--profile", "meter")["services"]
        meter, kepler = services["meter"], services["kepler-meter"]
        self.assertEqual(meter["environment"]["KMS_API_URL"], "http://api:8100")

        def mounts(svc):  # (source, target, read-only), whichever form compose prints
            for v in svc["volumes"]:
                if isinstance(v, dict):
                    yield v.get("source"), v["target"], bool(v.get("read_only"))
                else:
                    parts = v.split(":")
                    yield parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")
        tree = meter["environment"]["KMS_METER_DIR"]
        written = [m for m in mounts(meter) if m[1] == tree]
        self.assertEqual(len(written), 1)
        self.assertFalse(written[0][2])
        read = [m for m in mounts(kepler) if m[0] == written[0][0]]
        self.assertEqual(len(read), 1)
        self.assertTrue(read[0][2])
        self.assertIn(f"--host.sysfs={read[0][1]}", kepler["command"])
        self.assertRegex(kepler["image"], r"kepler:v0\.1[0-9]")

    def test_prometheus_and_collector_reach_services_that_exist(self):
        doc = self.config()
        services = doc["services"]

        def exposed(host, port):
            svc = services.get(host)
            self.assertIsNotNone(svc, f"no compose service {host}")
            ports = {str(p) for p in svc.get("expose", [])}
            ports |= {str(p.get("target")) if isinstance(p, dict) else p.split(":")[-1]
                      for p in svc.get("ports", [])}
            self.assertIn(str(port), ports, f"{host} does not expose {port}")

        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            prom = yaml.safe_load(f)
        jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
        self.assertIn("kepler-model-server", jobs)
        for job in prom["scrape_configs"]:
            for sc in job["static_configs"]:
                for target in sc["targets"]:
                    host, port = target.split(":")
                    exposed(host, port)
        mounted = [v for v in services["prometheus"]["volumes"]
                   if (v["target"] if isinstance(v, dict) else v.split(":")[1]) == "/etc/prometheus/prometheus.yml"]
        self.assertEqual(len(mounted), 1)

        with open(os.path.join(DEPLOY, "otel", "collector.yaml")) as f:
            text = f.read()
        col = yaml.safe_load(text)
        for target in col["receivers"]["prometheus"]["config"]["scrape_configs"][0]["static_configs"][0]["targets"]:
            exposed(*target.split(":"))
        # Every ${env:X} the collector reads is given to it.
        given = services["otel-collector"]["environment"]
        for name in re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", text):
            self.assertIn(name, given, f"collector reads {name}, compose does not set it")


class TestComposeDocs(unittest.TestCase):
    def test_every_compose_setting_is_documented(self):
        with open(COMPOSE) as f:
            names = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", f.read()))
        with open(os.path.join(SOURCE_DIR, "docs", "deploy.md")) as f:
            docs = f.read()
        self.assertTrue(names)
        for name in sorted(names):
            self.assertTrue(f"`{name}`" in docs, f"docs/deploy.md does not say what {name} does")


class TestImageNames(unittest.TestCase):
    def test_compose_and_kubernetes_use_the_same_images_at_the_project_version(self):
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            version = re.search(r"project\(\w+ VERSION (\S+)", f.read()).group(1)
        with open(COMPOSE) as f:
            compose = yaml.safe_load(f)
        compose_images = {}
        for name, svc in compose["services"].items():
            if "build" in svc:
                m = re.fullmatch(r"([^:]+):(.+)", svc["image"])
                image, tag = m.group(1), m.group(2)
                self.assertEqual(tag, "${KMS_TAG:-%s}" % version, name)
                compose_images[COMPOSE_PROGRAMS[name]] = image
        with open(os.path.join(DEPLOY, "k8s", "kustomization.yaml")) as f:
            kustomization = yaml.safe_load(f)
        for entry in kustomization["images"]:
            self.assertEqual(entry["newTag"], version, entry["name"])
            program = entry["name"].rsplit("/", 1)[1]
            self.assertEqual(compose_images.get(program), entry["name"], program)
        self.assertEqual({e["name"].rsplit("/", 1)[1] for e in kustomization["images"]},
                         {"kms-api", "kms-trainer", "kms-scraper"})


class TestCollectorConfig(unittest.TestCase):
    def test_pipelines_are_complete_and_cannot_loop(self):
        with open(os.path.join(DEPLOY, "otel", "collector.yaml")) as f:
            col = yaml.safe_load(f)
        pipelines = col["service"]["pipelines"]
        self.assertTrue(pipelines)
        kinds = {"receivers": col["receivers"], "processors": col.get("processors", {}),
                 "exporters": col["exporters"]}
        used = {k: set() for k in kinds}
        for name, pipeline in pipelines.items():
            self.assertTrue(name.split("/")[0] in ("metrics", "traces", "logs"), name)
            for kind, defined in kinds.items():
                for component in pipeline.get(kind, []):
                    self.assertIn(component, defined, f"{name} uses undefined {component}")
                    used[kind].add(component)
            # What arrives over OTLP must not leave over OTLP: the default forward goes to this
            # collector's own receiver.
            if "otlp" in pipeline["receivers"]:
                self.assertFalse([e for e in pipeline["exporters"] if e.startswith("otlp")], name)
        for kind, defined in kinds.items():
            self.assertEqual(set(defined), used[kind], f"unused {kind}")
        scraping = [p for p in pipelines.values() if "prometheus" in p["receivers"]]
        self.assertTrue(scraping)
        for p in scraping:
            self.assertIn("batch", p["processors"])
            self.assertIn("debug", p["exporters"])
            self.assertTrue([e for e in p["exporters"] if e.startswith("otlphttp")])
        vendor = next(v for k, v in col["exporters"].items() if k.startswith("otlphttp"))
        self.assertRegex(vendor["endpoint"], r"^\$\{env:\w+\}$")
        self.assertTrue(all(re.fullmatch(r"\$\{env:\w+\}", v) for v in vendor["headers"].values()))


@unittest.skipUnless(shutil.which("yamllint"), "yamllint is not installed")
class TestYamllint(unittest.TestCase):
    def test_every_yaml_file_passes_yamllint_strict(self):
        files = []
        for root, dirs, names in os.walk(SOURCE_DIR):
            rel = os.path.relpath(root, SOURCE_DIR)
            dirs[:] = [d for d in dirs if not d.startswith(("build", ".git"))]
            files += [os.path.join(rel, n) for n in names if n.endswith((".yml", ".yaml")) or n == ".yamllint"]
        expected = {"docker-compose.yml", "deploy/prometheus/prometheus.yml", "deploy/otel/collector.yaml",
                    "deploy/k8s/kustomization.yaml"}
        self.assertLessEqual(expected, {os.path.normpath(f) for f in files})
        proc = run("yamllint", "--strict", "-f", "parsable", *files)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


@unittest.skipUnless(shutil.which("promtool"), "promtool is not installed")
class TestPrometheusConfig(unittest.TestCase):
    def test_promtool_accepts_the_prometheus_config(self):
        proc = run("promtool", "check", "config", os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


def container_ports(pod_spec):
    ports = {}
    for c in pod_spec["containers"]:
        for p in c.get("ports", []):
            ports[p["containerPort"]] = p
            if "name" in p:
                ports[p["name"]] = p
    return ports


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class TestKubernetes(unittest.TestCase, EnvChecks):
    """deploy/k8s: a scraper per node (a DaemonSet) reading its own node's Kepler."""
    FOLDER = "k8s"
    SCRAPER_KIND = "DaemonSet"
    KEPLER_URL = "http://$(NODE_IP):9102/metrics"

    @classmethod
    def setUpClass(cls):
        cls.objects = render_k8s(cls.FOLDER)
        cls.by_kind = {}
        for o in cls.objects:
            cls.by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o

    def get(self, kind, name):
        obj = self.by_kind.get(kind, {}).get(name)
        self.assertIsNotNone(obj, f"no {kind} {name}")
        return obj

    def workloads(self):
        for kind in ("Deployment", "DaemonSet", "StatefulSet"):
            for name, obj in self.by_kind.get(kind, {}).items():
                yield kind, name, obj

    def test_every_object_has_the_required_fields(self):
        self.assertGreaterEqual(len(self.objects), 8)
        seen = set()
        for o in self.objects:
            self.assertTrue(o.get("apiVersion"), o)
            self.assertTrue(o.get("kind"), o)
            name = o["metadata"].get("name")
            self.assertRegex(name, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
            self.assertLessEqual(len(name), 63)
            key = (o["kind"], name)
            self.assertNotIn(key, seen, f"{key} twice")
            seen.add(key)
            if o["kind"] != "Namespace":
                self.assertEqual(o["metadata"].get("namespace"), "kepler", key)
            for k, v in o["metadata"].get("labels", {}).items():
                self.assertIsInstance(v, str, f"{key} label {k}")
        self.get("Namespace", "kepler")

    def test_workloads_select_their_own_pods(self):
        for kind, name, w in self.workloads():
            spec = w["spec"]
            labels = spec["template"]["metadata"]["labels"]
            self.assertTrue(selects(spec["selector"]["matchLabels"], labels), f"{kind} {name}")
            pod = spec["template"]["spec"]
            self.assertTrue(pod["containers"])
            names = [c["name"] for c in pod["containers"]]
            self.assertEqual(len(names), len(set(names)))
            for c in pod["containers"]:
                self.assertTrue(c.get("image"), f"{name}/{c['name']} has no image")
                self.assertRegex(c["image"], r":[\w.-]+$", "images are pinned to a tag")

    def test_pods_are_secured_and_bounded(self):
        for kind, name, w in self.workloads():
            pod = w["spec"]["template"]["spec"]
            psc = pod.get("securityContext", {})
            self.assertIs(pod.get("automountServiceAccountToken"), False, name)
            for c in pod["containers"]:
                csc = c.get("securityContext", {})
                where = f"{kind} {name}/{c['name']}"
                self.assertTrue(csc.get("runAsNonRoot", psc.get("runAsNonRoot")), where)
                self.assertNotEqual(csc.get("runAsUser", psc.get("runAsUser")), 0, where)
                self.assertIs(csc.get("readOnlyRootFilesystem"), True, where)
                self.assertIs(csc.get("allowPrivilegeEscalation"), False, where)
                self.assertIn("ALL", csc.get("capabilities", {}).get("drop", []), where)
                self.assertFalse(csc.get("privileged"), where)
                res = c.get("resources", {})
                for part in ("requests", "limits"):
                    self.assertLessEqual({"cpu", "memory"}, set(res.get(part, {})), f"{where} {part}")

    def test_ports_probes_env_and_volumes_are_consistent(self):
        for kind, name, w in self.workloads():
            pod = w["spec"]["template"]["spec"]
            ports = container_ports(pod)
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in pod["containers"]:
                where = f"{kind} {name}/{c['name']}"
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    p = c.get(probe)
                    if p:
                        action = p.get("httpGet") or p.get("tcpSocket")
                        self.assertIsNotNone(action, f"{where} {probe}")
                        self.assertIn(action["port"], ports, f"{where} {probe} port")
                defined = set()
                for e in c.get("env", []):
                    # $(VAR) expands only variables defined earlier in the list.
                    for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", "")):
                        self.assertIn(ref, defined, f"{where}: {e['name']} uses $({ref}) before it is set")
                    if "valueFrom" in e:
                        path = e["valueFrom"]["fieldRef"]["fieldPath"]
                        self.assertIn(path, {"status.hostIP", "spec.nodeName", "metadata.name",
                                             "metadata.namespace", "status.podIP"}, where)
                    self.assertNotIn(e["name"], defined, f"{where}: {e['name']} twice")
                    defined.add(e["name"])
                    self.assertTrue(e["name"].startswith(("KMS_", "OTEL_")) or e["name"] in HELPER_VARS,
                                    f"{where}: {e['name']} is not a setting of the program")
                self.check_program_env(c["name"], defined, where)
                for m in c.get("volumeMounts", []):
                    self.assertIn(m["name"], volumes, f"{where} mounts unknown volume {m['name']}")
            for v in volumes.values():
                if "persistentVolumeClaim" in v:
                    self.get("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"])

    def test_services_select_pods_and_ports(self):
        pods = [(w["spec"]["template"]["metadata"]["labels"], w["spec"]["template"]["spec"])
                for _, _, w in self.workloads()]
        for name, svc in self.by_kind["Service"].items():
            chosen = [spec for labels, spec in pods if selects(svc["spec"]["selector"], labels)]
            self.assertTrue(chosen, f"Service {name} selects no pod")
            for port in svc["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                for spec in chosen:
                    self.assertIn(target, container_ports(spec), f"Service {name} port {port}")

    def test_service_monitor_scrapes_the_api(self):
        sm = self.get("ServiceMonitor", "kepler-model-server")
        self.assertEqual(sm["apiVersion"], "monitoring.coreos.com/v1")
        services = [s for s in self.by_kind["Service"].values()
                    if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        self.assertEqual([s["metadata"]["name"] for s in services], ["kepler-model-server"])
        port_names = {p.get("name") for p in services[0]["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            self.assertIn(ep["port"], port_names)
            self.assertEqual(ep["path"], "/metrics")

    def test_the_shape_kepler_expects(self):
        # Kepler 0.4-0.9 asks http://kepler-model-server.kepler.svc.cluster.local:8100/model.
        svc = self.get("Service", "kepler-model-server")
        self.assertIn(8100, [p["port"] for p in svc["spec"]["ports"]])
        api = self.get("Deployment", "kms-api")
        self.assertGreaterEqual(api["spec"]["replicas"], 2)
        c = api["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        env = {e["name"]: e.get("value") for e in c["env"]}
        self.assertNotIn("OTEL_EXPORTER_OTLP_ENDPOINT", env, "native OTLP export is opt-in")
        pdb = self.get("PodDisruptionBudget", "kms-api")
        self.assertTrue(selects(pdb["spec"]["selector"]["matchLabels"],
                                api["spec"]["template"]["metadata"]["labels"]))

        trainer = self.get("Deployment", "kms-trainer")
        self.assertEqual(trainer["spec"]["replicas"], 1)
        self.assertEqual(trainer["spec"]["strategy"]["type"], "Recreate")
        self.assertGreaterEqual(trainer["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 30)
        tc = trainer["spec"]["template"]["spec"]["containers"][0]
        tenv = {e["name"]: e.get("value") for e in tc["env"]}
        self.assertIn(tenv["KMS_DATA_DIR"], [m["mountPath"] for m in tc["volumeMounts"]])
        self.assertEqual(self.get("PersistentVolumeClaim", "kms-trainer-data")["spec"]["accessModes"],
                         ["ReadWriteOnce"])

        scraper = self.get(self.SCRAPER_KIND, "kms-scraper")
        sc = scraper["spec"]["template"]["spec"]["containers"][0]
        senv = {e["name"]: e for e in sc["env"]}
        if "NODE_IP" in self.KEPLER_URL:
            self.assertEqual(senv["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.hostIP")
        self.assertEqual(senv["KMS_KEPLER_URL"]["value"], self.KEPLER_URL)

        # Every connecting endpoint reaches a Service port whose pods bind that port.
        trainer_svc = self.get("Service", "kms-trainer")
        svc_ports = {p["port"]: p for p in trainer_svc["spec"]["ports"]}
        for client, var in ((senv, "KMS_SAMPLES_ENDPOINT"), ({e["name"]: e for e in c["env"]}, "KMS_TRAINER_ENDPOINT")):
            mode, host, port = endpoint_parts(client[var]["value"])
            self.assertEqual((mode, host), (">", "kms-trainer"))
            self.assertIn(port, svc_ports)
            self.assertEqual(endpoint_parts(tenv[var]), ("@", "*", port))
            self.assertIn(port, container_ports(trainer["spec"]["template"]["spec"]))

    def test_kepler_patches_meet_our_objects(self):
        """deploy/kepler/ patches Kepler's own objects: its port on the node is the one the
        scrapers read, and the URL it asks is our Service."""
        with open(os.path.join(DEPLOY, "kepler", "daemonset-hostport.yaml")) as f:
            patch = yaml.safe_load(f)
        kepler = patch["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(kepler["name"], "kepler-exporter")
        port = kepler["ports"][0]
        self.assertEqual(port["hostPort"], port["containerPort"])
        self.assertEqual(TestKubernetes.KEPLER_URL, f"http://$(NODE_IP):{port['hostPort']}/metrics")

        with open(os.path.join(DEPLOY, "kepler", "configmap-model-server.yaml")) as f:
            data = yaml.safe_load(f)["data"]
        self.assertEqual(data["MODEL_SERVER_ENABLE"], "true")  # a string, as ConfigMaps need
        m = re.fullmatch(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", data["MODEL_SERVER_URL"])
        self.assertTrue(m, data["MODEL_SERVER_URL"])
        svc = self.get("Service", m.group(1))
        self.assertEqual(svc["metadata"]["namespace"], m.group(2))
        self.assertIn(int(m.group(3)), [p["port"] for p in svc["spec"]["ports"]])
        self.assertEqual(svc["metadata"]["labels"]["app.kubernetes.io/name"], "kms-api")
        # Kepler 0.7+'s URLs for the same answer, and the init container's, are that Service's.
        init_urls = dict(line.split("=", 1) for line in data["MODEL_CONFIG"].split())
        self.assertEqual(init_urls, {"NODE_COMPONENTS_INIT_URL": data["MODEL_SERVER_URL"] + "/kepler/init/intel_rapl",
                                     "NODE_TOTAL_INIT_URL": data["MODEL_SERVER_URL"] + "/kepler/init/acpi"})
        with open(os.path.join(DEPLOY, "kepler", "wait-for-model-server.yaml")) as f:
            wait = yaml.safe_load(f)["spec"]["template"]["spec"]["initContainers"][0]
        self.assertEqual({e["name"]: e["value"] for e in wait["env"]}["KMS_URL"], data["MODEL_SERVER_URL"])
        self.assertIn("/kepler/init/$source", wait["command"][-1])

    def test_pod_monitor_scrapes_every_scraper(self):
        pm = self.get("PodMonitor", "kms-scraper")
        ds = self.get(self.SCRAPER_KIND, "kms-scraper")["spec"]["template"]
        self.assertTrue(selects(pm["spec"]["selector"]["matchLabels"], ds["metadata"]["labels"]))
        ports = container_ports(ds["spec"])
        for ep in pm["spec"]["podMetricsEndpoints"]:
            self.assertIn(ep["port"], ports)

    def test_network_policy_admits_the_real_clients(self):
        policy = self.get("NetworkPolicy", "kms-trainer")
        trainer = self.get("Deployment", "kms-trainer")
        self.assertTrue(selects(policy["spec"]["podSelector"]["matchLabels"],
                                trainer["spec"]["template"]["metadata"]["labels"]))
        ports = container_ports(trainer["spec"]["template"]["spec"])
        admitted = {}
        for rule in policy["spec"]["ingress"]:
            for src in rule["from"]:
                for p in rule["ports"]:
                    self.assertIn(p["port"], ports)
                    admitted.setdefault(ports[p["port"]]["containerPort"], []).append(src["podSelector"]["matchLabels"])
        scraper = self.get(self.SCRAPER_KIND, "kms-scraper")["spec"]["template"]["metadata"]["labels"]
        api = self.get("Deployment", "kms-api")["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(any(selects(s, scraper) for s in admitted[5555]))
        self.assertTrue(any(selects(s, api) for s in admitted[5556]))



class TestKubernetesHeadless(TestKubernetes):
    """deploy/k8s-headless: deploy/k8s with one scraper (a Deployment) following Kepler's headless
    Service. Every check of deploy/k8s holds, and these."""
    FOLDER = "k8s-headless"
    SCRAPER_KIND = "Deployment"
    # Kepler's own Service: kepler-exporter, clusterIP None, port 9102, in the namespace its
    # manifests use (kepler manifests/config/exporter/exporter.yaml, commit d826b6c).
    KEPLER_URL = "http://kepler-exporter.kepler.svc:9102/metrics"

    def test_one_scraper_follows_keplers_headless_service(self):
        self.assertNotIn("kms-scraper", self.by_kind.get("DaemonSet", {}))
        scraper = self.get("Deployment", "kms-scraper")
        self.assertEqual(scraper["spec"]["replicas"], 1, "two scrapers would publish every sample twice")
        env = {e["name"]: e.get("value") for e in scraper["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertGreater(float(env["KMS_RESOLVE_INTERVAL"]), 0)
        self.assertLessEqual(float(env["KMS_RESOLVE_INTERVAL"]), 60, "a new node waits at most this")

    def test_the_scraper_image_is_the_bases(self):
        base = {c["name"]: c["image"] for o in render_k8s() if o["kind"] in ("Deployment", "DaemonSet")
                for c in o["spec"]["template"]["spec"]["containers"]}
        mine = {c["name"]: c["image"] for _, _, w in self.workloads() for c in w["spec"]["template"]["spec"]["containers"]}
        self.assertEqual(mine, base)

class Dockerfile:
    """A Dockerfile as named stages of (instruction, argument) pairs, continuation lines joined."""

    def __init__(self, path):
        with open(path) as f:
            text = f.read()
        logical, current = [], ""
        for line in text.splitlines():
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            logical.append(current + line)
            current = ""
        self.stages, self.bases = {}, {}
        for line in logical:
            instr, _, arg = line.strip().partition(" ")
            if instr.upper() == "FROM":
                base, _, name = arg.partition(" AS ")
                stage = self.stages[name.strip()] = []
                self.bases[name.strip()] = base.strip()
            stage.append((instr.upper(), arg.strip()))

    def all(self, stage, instr):
        return [arg for i, arg in self.stages[stage] if i == instr]

    def image(self, target):
        """The instructions of target and of the stages it is built FROM, the first first."""
        base = self.bases[target]
        return (self.image(base) if base in self.stages else []) + self.stages[target]


def apt_packages(run_args):
    """Packages named by `apt-get install` in RUN arguments."""
    packages = []
    for cmd in re.split(r"&&|;", " ".join(run_args)):
        words = cmd.split()
        if words[:2] == ["apt-get", "install"]:
            packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


_known_packages = set()


def debian_packages(names):
    """The subset of names that the machine's Debian 12 archive knows (one apt-cache call)."""
    missing = [n for n in names if n not in _known_packages]
    if missing:
        out = run("apt-cache", "show", "--no-all-versions", *missing).stdout
        _known_packages.update(re.findall(r"^Package: (\S+)$", out, re.M))
    return _known_packages & set(names)


_ldconfig = None


def needed_packages(path):
    """Debian packages that provide the shared libraries an ELF file needs directly."""
    out = run("readelf", "-d", path).stdout
    libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    global _ldconfig
    cache = _ldconfig = _ldconfig or run("ldconfig", "-p").stdout
    packages = {}
    for lib in libs:
        m = re.search(rf"^\s*{re.escape(lib)} \(.*x86-64.*\) => (\S+)$", cache, re.M) or \
            re.search(rf"^\s*{re.escape(lib)} \(.*\) => (\S+)$", cache, re.M)
        if not m:
            packages[lib] = None
            continue
        real = os.path.realpath(m.group(1))
        owner = run("dpkg", "-S", real).stdout or run("dpkg", "-S", m.group(1)).stdout
        packages[lib] = owner.split(":")[0].strip() if owner else None
    return packages


class TestDockerfiles(unittest.TestCase, EnvChecks):
    @classmethod
    def setUpClass(cls):
        cls.df = Dockerfile(DOCKERFILE)

    def test_one_build_on_debian_and_a_slim_target_per_program(self):
        df = self.df
        # One build stage for all: building one image warms the cache for the others.
        self.assertEqual(list(df.stages), ["build", "runtime", *IMAGES])
        self.assertEqual(df.bases["build"], "debian:12")
        self.assertEqual(df.bases["runtime"], "debian:12-slim")
        for program in IMAGES:
            with self.subTest(image=program):
                self.assertEqual(df.bases[program], "runtime")
                self.assertIn(program, " ".join(df.all("build", "RUN")), "the build stage builds the program")
                expected = [f"--from=build /build/bin/{program} /usr/local/bin/{program}"]
                if program in PRIVATE_LIBDIRS:
                    libdir = PRIVATE_LIBDIRS[program]
                    expected.append(f"--from=build /build/{libdir} /usr/local/{libdir}")
                self.assertEqual([arg for i, arg in df.image(program) if i == "COPY"], expected)

    def test_build_stage_installs_what_the_build_needs(self):
        """Every package scripts/install-deps lists for the build is in the image's build stage."""
        with open(os.path.join(SOURCE_DIR, "scripts", "install-deps")) as f:
            text = f.read()
        section = re.search(r"# build\n(.*?)\n\s*# ", text, re.S).group(1)
        needed = set(section.split())
        self.assertIn("cmake", needed)
        installed = set(apt_packages(self.df.all("build", "RUN")))
        self.assertLessEqual(needed, installed, f"missing {needed - installed}")
        self.assertIn("python3", installed, "tests/CMakeLists.txt requires /usr/bin/python3")

    def test_runtime_stage_runs_as_a_user_through_an_exec_entrypoint(self):
        for program in IMAGES:
            with self.subTest(image=program):
                image = self.df.image(program)
                instrs = [i for i, _ in image]
                users = [arg for i, arg in image if i == "USER"]
                self.assertEqual(len(users), 1)
                user = users[0].split(":")[0]
                self.assertNotIn(user, ("root", "0"))
                # Nothing after USER needs root.
                self.assertNotIn("RUN", instrs[instrs.index("USER"):])
                entry = json.loads(self.df.all(program, "ENTRYPOINT")[0])  # exec form: a JSON array
                self.assertEqual(entry, [f"/usr/local/bin/{program}"])
                self.assertNotIn("CMD", instrs, "arguments come from the environment or compose")

    def test_images_expose_their_ports_and_curl_their_own_health_checks(self):
        for program, (ports, has_http) in IMAGES.items():
            with self.subTest(image=program):
                exposed = set(" ".join(self.df.all(program, "EXPOSE")).split())
                self.assertEqual(exposed, ports)
                checks = self.df.all(program, "HEALTHCHECK")
                if not has_http:
                    self.assertEqual(checks, [])
                    continue
                self.assertEqual(len(checks), 1)
                cmd = json.loads(checks[0][checks[0].index("CMD") + 3:].strip())
                joined = " ".join(cmd)
                self.assertIn("curl", joined)
                self.assertIn("curl", apt_packages(self.df.all(program, "RUN")), "the check's curl is installed")
                port = next(iter(ports))
                # The port the program listens on: its variable (with the EXPOSEd default) or that.
                self.assertTrue(re.search(rf"127\.0\.0\.1:(\$\{{KMS_\w+:-{port}\}}|{port})/", joined), joined)
                var = re.search(r"\$\{(KMS_\w+):-", joined)
                if var:
                    self.check_program_env(program, [var.group(1)], f"deploy/Dockerfile {program}")
                self.assertIn("--max-time", cmd[-1] if len(cmd) == 3 else joined)

    def test_runtime_packages_are_debian_12_runtime_libraries(self):
        for program in IMAGES:
            with self.subTest(image=program):
                runs = self.df.all(program, "RUN")
                packages = apt_packages(runs)
                self.assertTrue(packages)
                joined = " ".join(runs)
                self.assertIn("--no-install-recommends", joined)
                self.assertIn("rm -rf /var/lib/apt/lists/*", joined)
                for p in packages:
                    self.assertFalse(p.endswith("-dev"), p)
                    if shutil.which("apt-cache"):
                        self.assertIn(p, debian_packages(packages), f"no Debian package {p}")

    def test_runtime_packages_provide_what_the_binary_needs(self):
        if not shutil.which("readelf") or not shutil.which("dpkg"):
            self.skipTest("readelf or dpkg missing")
        checked = 0
        for program in IMAGES:
            with self.subTest(image=program):
                path = binary(program)
                if not os.path.exists(path):
                    continue
                installed = set(apt_packages(self.df.all(program, "RUN")))
                needed = needed_packages(path)
                # kms-api loads its private libraries (TLS) by path: what they need, the image needs.
                if program in PRIVATE_LIBDIRS:
                    libdir = binary(os.path.join("..", PRIVATE_LIBDIRS[program]))
                    private = sorted(os.listdir(libdir)) if os.path.isdir(libdir) else []
                    self.assertTrue(private, f"{libdir} is empty or missing")
                    for lib in private:
                        needed.update(needed_packages(os.path.join(libdir, lib)))
                for lib, package in needed.items():
                    if lib.startswith(SANITIZER_RUNTIMES):
                        continue  # a sanitized test build; the images are Release builds
                    self.assertIsNotNone(package, f"{lib} is not from a Debian package")
                    self.assertIn(package, installed | SLIM_BASE, f"{program} needs {lib}")
                checked += 1
        if not checked:
            self.skipTest("no program built yet")

    def test_configuration_is_the_contracts_environment(self):
        for program in IMAGES:
            with self.subTest(image=program):
                names = []
                for arg in self.df.all(program, "ENV"):
                    names += re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", arg)
                for n in names:
                    self.assertTrue(n.startswith("KMS_"), n)
                self.check_program_env(program, names, f"deploy/Dockerfile {program}")
        env = dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", " ".join(self.df.all("kms-trainer", "ENV"))))
        volumes = json.loads(self.df.all("kms-trainer", "VOLUME")[0])
        self.assertEqual(volumes, [env["KMS_DATA_DIR"]])
        self.assertIn("install -d -o kms -g kms", " ".join(self.df.all("kms-trainer", "RUN")))

    def test_dockerignore_keeps_the_sources(self):
        with open(os.path.join(SOURCE_DIR, ".dockerignore")) as f:
            patterns = [p.strip() for p in f if p.strip() and not p.startswith("#")]

        def ignored(path):
            return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)

        for path in (".git", "build", "build-deploy", "build-sanitize"):
            self.assertTrue(ignored(path), f"{path} would be sent to the daemon")
        for path in ("CMakeLists.txt", "common/kms_log.c", "services/CMakeLists.txt", "tests/CMakeLists.txt",
                     "tests/unit/test_log.c"):
            self.assertTrue(os.path.exists(os.path.join(SOURCE_DIR, path)), path)
            self.assertFalse(ignored(path), f"{path} is needed to build")


PIPELINE = ("kepler-sim", "kms-trainer", "kms-scraper", "kms-api")
class TestDockerBase(unittest.TestCase):
    """scripts/lib/docker-base takes the Debian archive from apt's own sources files and names
    none itself. Run with a docker that has no image, a debootstrap that only says what it was
    given and an id that says root, against apt configurations made here (APT_CONFIG)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kms-docker-base-test.")
        self.addCleanup(shutil.rmtree, self.tmp)
        fake = os.path.join(self.tmp, "bin")
        os.mkdir(fake)
        for name, body in (("docker", "exit 1"), ("id", "echo 0"),
                           ("debootstrap", 'echo "debootstrap from $5"; exit 1')):
            path = os.path.join(fake, name)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\n{body}\n")
            os.chmod(path, 0o755)
        self.path = fake + os.pathsep + os.environ["PATH"]

    def docker_base(self, sources_list="", parts=None, *args):
        apt = os.path.join(self.tmp, "apt")
        shutil.rmtree(apt, ignore_errors=True)
        os.makedirs(os.path.join(apt, "sources.list.d"))
        with open(os.path.join(apt, "sources.list"), "w") as f:
            f.write(sources_list)
        for name, text in (parts or {}).items():
            with open(os.path.join(apt, "sources.list.d", name), "w") as f:
                f.write(text)
        with open(os.path.join(apt, "apt.conf"), "w") as f:
            f.write(f'Dir::Etc::sourcelist "{apt}/sources.list";\nDir::Etc::sourceparts "{apt}/sources.list.d";\n')
        return run(os.path.join(SOURCE_DIR, "scripts", "lib", "docker-base"), *args,
                   env={"PATH": self.path, "APT_CONFIG": os.path.join(apt, "apt.conf")})

    def test_no_archive_host_is_written_in_the_script(self):
        with open(os.path.join(SOURCE_DIR, "scripts", "lib", "docker-base")) as f:
            self.assertNotRegex(f.read(), r"(?i)https?://[a-z0-9]")

    def test_the_archive_is_apts_own(self):
        deb822 = ("Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
                  "# the archive\ntypes: deb-src deb\nuris:\n  http://mirror.example/debian\n  http://second.example/debian\n"
                  "suites: bookworm bookworm-updates\ncomponents: main\n")
        third_party = "Types: deb\nURIs: https://repo.example/node\nSuites: nodistro\nComponents: main\n"
        r = self.docker_base("", {"a-node.sources": third_party, "debian.sources": deb822, "off.list.disabled":
                                  "deb http://disabled.example/debian bookworm main\n"})
        self.assertIn("debootstrap from http://mirror.example/debian\n", r.stderr)
        one_line = ("deb-src http://src.example/debian bookworm main\n"
                    "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://line.example/debian bookworm main # x\n"
                    "deb http://line.example/debian-security bookworm-security main\n")
        r = self.docker_base(one_line)
        self.assertIn("debootstrap from http://line.example/debian\n", r.stderr)
        self.assertNotIn("bookworm-security", r.stderr)  # found, so nothing to say
        r = self.docker_base(one_line, None, "http://given.example/debian")
        self.assertIn("debootstrap from http://given.example/debian\n", r.stderr)

    def test_no_archive_configured_is_said_clearly(self):
        r = self.docker_base("deb http://repo.example/cloud cloud-sdk-bookworm main\n",
                             {"debian.sources": "Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\n"
                                                "Components: main\nEnabled: no\n"})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("apt has no Debian archive for bookworm", r.stderr)
        self.assertIn("scripts/lib/docker-base ARCHIVE", r.stderr)
        self.assertNotIn("debootstrap from", r.stderr)


SERVICE_PORTS = ("5555", "5556", "8100", "9102", "9103")


@unittest.skipUnless(all(os.path.exists(binary(p)) for p in PIPELINE), "the four programs are not built")
class TestDeployedSettingsRun(ProcessTestCase):
    """The settings the deployment files give the programs, run for real on loopback: the
    containers' host names become 127.0.0.1 and their ports free ports, nothing else changes.
    A wrong variable name, a bind where a connect belongs or a port that does not match shows
    up here as a pipeline that does not train."""

    def localize(self, env, hosts, ports):
        out = {}
        for name, value in env.items():
            value = str(value)
            if value in ports:  # a bare port number
                value = str(ports[value])

            def repl(m):
                host, port = m.group(1), m.group(2)
                if host in hosts or host == "*":
                    return f"127.0.0.1:{ports[port]}"
                return m.group(0)
            value = re.sub(r"([A-Za-z0-9*.-]+):(\d+)", repl, value)
            out[name] = value
        return out

    def run_pipeline(self, envs, sim_port, api_port, fast):
        """envs: program -> environment. Starts the four, checks the pipeline trains."""
        data = os.path.join(self.tmp, "data")
        envs["kms-trainer"]["KMS_DATA_DIR"] = data
        for program in ("kms-trainer", "kms-scraper"):
            envs[program].update(fast.get(program, {}))
        envs["kepler-sim"].setdefault("KMS_SIM_PORT", str(sim_port))
        envs["kepler-sim"]["KMS_SIM_LISTEN"] = "127.0.0.1"
        # Only the settings under test: no stray KMS_ or OTEL_ variable from the caller.
        clean = {k: "" for k in os.environ if k.startswith(("KMS_", "OTEL_"))}
        for program in PIPELINE:
            self.start(program, env={**clean, **envs[program]})
        base = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: kmstest.http(f"{base}/readyz")[0] == 200, timeout=20, what="the API ready")
        wait_for(lambda: kmstest.http(f"{base}/model-weights/core_model")[0] == 200, timeout=60,
                 interval=0.5, what="core_model trained through the deployed settings")
        status, models = kmstest.http_json(f"{base}/models")
        self.assertEqual(status, 200)
        return models["models"] if isinstance(models, dict) else models

    def test_compose_settings_run_a_pipeline_that_trains(self):
        fast = {"KMS_SCRAPE_INTERVAL": "0.5", "KMS_MIN_SAMPLES": "10"}
        proc = compose_config(env=fast)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        services = yaml.safe_load(proc.stdout)["services"]
        ports = {p: free_port() for p in SERVICE_PORTS}
        envs = {}
        for name, program in COMPOSE_PROGRAMS.items():
            image_env = dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", " ".join(
                Dockerfile(DOCKERFILE).all(program, "ENV"))))
            envs[program] = self.localize({**image_env, **services[name].get("environment", {})},
                                          set(services), ports)
        models = self.run_pipeline(envs, ports["9102"], ports["8100"], {})
        self.assertTrue(any(m["name"] == "core_model" and m["samples"] >= 10 for m in models), models)
        status, _, body = kmstest.http(f"http://127.0.0.1:{ports['9103']}/metrics")
        self.assertEqual(status, 200, "the scraper's counters, where Prometheus looks for them")

    def test_kubernetes_settings_run_a_pipeline_that_trains(self):
        objects = render_k8s()
        services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
        downward = {"status.hostIP": "node-ip", "spec.nodeName": "node-1",
                    "metadata.name": "pod-1", "metadata.namespace": "kepler"}
        ports = {p: free_port() for p in SERVICE_PORTS}
        envs = {"kepler-sim": {}}
        for o in objects:
            if o["kind"] not in ("Deployment", "DaemonSet"):
                continue
            for c in o["spec"]["template"]["spec"]["containers"]:
                env = {}
                for e in c.get("env", []):  # Kubernetes' own $(VAR) expansion
                    value = e.get("value") or downward[e["valueFrom"]["fieldRef"]["fieldPath"]]
                    env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)
                envs[c["name"]] = self.localize(env, services | {"node-ip"}, ports)
        # Kepler, on the node's address, is kepler-sim here; the trainer needs fewer samples and
        # the scraper scrapes faster, only to keep the test short.
        fast = {"kms-trainer": {"KMS_MIN_SAMPLES": "10"}, "kms-scraper": {"KMS_SCRAPE_INTERVAL": "0.5"}}
        models = self.run_pipeline(envs, ports["9102"], ports["8100"], fast)
        self.assertTrue(any(m["name"] == "core_model" and m["samples"] >= 10 for m in models), models)
        status, _, _ = kmstest.http(f"http://127.0.0.1:{ports['9103']}/metrics")
        self.assertEqual(status, 200, "the scraper's counters, where the PodMonitor looks for them")


if __name__ == "__main__":
    unittest.main()
