"""The images, built once per run for every docker test (the ctest fixture docker_images).

deploy/Dockerfile names debian:12 and debian:12-slim; where no registry can be reached,
scripts/lib/docker-base makes them from Debian's packages first (a tag already present is
kept). Then `docker-compose build` builds the four images of docker-compose.yml and the
test-only Prometheus exactly as `docker-compose up --build` does. Each image is then checked
as a user runs it: its program starts (every library it links is there) read-only, without
capabilities, as the unprivileged user, and its size is printed (docs/deploy.md)."""
import json
import os
import time
import unittest

from dockertest import IMAGES, SOURCE_DIR, Stack, docker, require_engine, run

PROGRAMS = {"kepler-sim": "kepler-sim", "trainer": "kms-trainer", "scraper": "kms-scraper", "api": "kms-api"}
# Each of ours stays far below the 2022 server's image (1.08-1.19 GB).
MAX_SIZE_MB = 150


def setUpModule():
    require_engine()
    t0 = time.monotonic()
    proc = run(os.path.join(SOURCE_DIR, "scripts", "lib", "docker-base"), timeout=900, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"scripts/lib/docker-base failed:\n{proc.stderr[-3000:]}")
    t1 = time.monotonic()
    Stack("build").compose("build", timeout=2400)
    print(f"base images {t1 - t0:.0f} s, images {time.monotonic() - t1:.0f} s", flush=True)


class TestImages(unittest.TestCase):
    def test_bases_are_debian_12(self):
        for base in ("debian:12", "debian:12-slim"):
            with self.subTest(base=base):
                out = docker("run", "--rm", base, "cat", "/etc/debian_version").stdout
                self.assertRegex(out, r"^12\.")
        # slim: no manual pages, and later installs add none.
        out = docker("run", "--rm", "debian:12-slim", "sh", "-c", "ls /usr/share/man | wc -l").stdout
        self.assertEqual(out.strip(), "0")

    def test_every_program_image_is_under_the_size_bound(self):
        sizes = {}
        for service, image in IMAGES.items():
            sizes[service] = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout) / 1e6
        print("image sizes: " + ", ".join(f"{s} {mb:.1f} MB" for s, mb in sizes.items()), flush=True)
        for service in PROGRAMS:
            self.assertLess(sizes[service], MAX_SIZE_MB, service)

    def test_programs_start_read_only_unprivileged_with_their_libraries(self):
        for service, program in PROGRAMS.items():
            with self.subTest(image=service):
                config = json.loads(docker("image", "inspect", IMAGES[service]).stdout)[0]["Config"]
                self.assertEqual(config["User"], "10001:10001")
                self.assertEqual(config["Entrypoint"], [f"/usr/local/bin/{program}"])
                # --help parses the configuration: the dynamic linker has loaded every library.
                proc = docker("run", "--rm", "--read-only", "--cap-drop", "ALL", "--security-opt",
                              "no-new-privileges:true", IMAGES[service], "--help", check=False)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("KMS_", proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
