"""kms-bench as a user runs it: the parse subcommand's result line, its options and errors, and
the publish subcommand into a real kms-trainer, as scripts/bench's publishers section runs it."""
import os
import re
import subprocess
import tempfile
import unittest

from kmstest import KEPLER_FIXTURES, SOURCE_DIR, binary

VALID = os.path.join(SOURCE_DIR, "tests/fixtures/expo/valid.prom")


def bench(*args, timeout=60):
    return subprocess.run([binary("kms-bench"), *args], capture_output=True, text=True, timeout=timeout)


class BenchParseTest(unittest.TestCase):
    def result(self, out):
        m = re.search(r"MBps=([0-9.]+) series=([0-9]+)", out)
        self.assertIsNotNone(m, f"no MBps=/series= in {out!r}")
        return float(m.group(1)), int(m.group(2))

    def test_parse_fixture_reports_throughput_and_series(self):
        r = bench("parse", VALID, "--iterations", "50")
        self.assertEqual(r.returncode, 0, r.stderr)
        mbps, series = self.result(r.stdout)
        self.assertGreater(mbps, 0)
        self.assertEqual(series, 33)
        self.assertIn("iterations=50 ", r.stdout)

    def test_parse_capture_counts_every_sample(self):
        path = os.path.join(KEPLER_FIXTURES, "kepler-0.7.1-metrics-derived.txt")
        r = bench("parse", path, "--seconds", "0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.result(r.stdout)[1], 1516)
        self.assertIn("rejected=0", r.stdout)

    def test_generated_kepler_page_parses_whole(self):
        """scripts/gen-kepler-page, the bench's stand-in for kepler-sim: 28 series per container
        plus 17 node series, none rejected, the same count as python3-prometheus-client finds."""
        page = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "scripts/gen-kepler-page"),
                               "--containers", "5"], capture_output=True, text=True, timeout=60, check=True).stdout
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(page)
            f.flush()
            r = bench("parse", f.name, "--iterations", "5")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.result(r.stdout)[1], 5 * 28 + 17)
            self.assertIn("rejected=0", r.stdout)
            py = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "scripts/lib/parse_python.py"), f.name, "0.05"],
                                capture_output=True, text=True, timeout=60)
            self.assertEqual(py.returncode, 0, py.stderr)
            self.assertIn(f"series={5 * 28 + 17} ", py.stdout)

    def test_kms_bench_iterations_sets_the_iteration_count(self):
        env = dict(os.environ, KMS_BENCH_ITERATIONS="7")
        r = subprocess.run([binary("kms-bench"), "parse", VALID], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("iterations=7 ", r.stdout)

    def test_help_and_version_exit_0_naming_parse_and_its_iterations(self):
        for args in (["--help"], ["parse", "--help"], ["--version"]):
            r = bench(*args)
            self.assertEqual(r.returncode, 0, args)
        self.assertIn("parse FILE", bench("--help").stdout)
        self.assertIn("--iterations", bench("parse", "--help").stdout)

    def test_bad_usage_exits_2_with_one_line(self):
        for args in ([], ["nosuch"], ["parse"], ["parse", VALID, "--iterations", "abc"], ["parse", VALID, "--bogus"]):
            r = bench(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertTrue(r.stderr.strip(), args)

    def test_a_missing_file_fails_with_exit_1_saying_so(self):
        r = bench("parse", "/nonexistent/page.txt")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read file", r.stderr)


class BenchPublishTest(unittest.TestCase):
    def test_a_fleet_of_publishers_into_one_trainer_is_kept_whole(self):
        """300 nodes, each its own publisher, 3 rounds: the trainer accepts every sample, tracks
        every publisher, and sees no gap, restart or forgotten publisher."""
        r = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "scripts/lib/publishers_bench.py"),
                            os.path.dirname(binary("kms-trainer")), "300", "3", "0.2"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = dict(p.split("=", 1) for p in r.stdout.split())
        self.assertEqual(int(got["published"]), 900, got)
        self.assertEqual(int(got["accepted"]), 900, got)
        self.assertEqual(int(got["publishers"]), 300, got)
        for key in ("seq_gaps", "restarts", "forgotten"):
            self.assertEqual(int(got[key]), 0, (key, got))


class BenchTargetsTest(unittest.TestCase):
    def test_slow_and_dead_targets_delay_no_live_one(self):
        """scripts/bench targets, small: 30 live pages beside 3 that never answer and 3 that refuse,
        12 s: every live node's sample in every whole cycle, and the peer measured."""
        r = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "scripts/lib/targets_bench.py"),
                            os.path.dirname(binary("kms-scraper")), "30", "3", "12"],
                           capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = {dict(p.split("=", 1) for p in line.split())["program"]: dict(p.split("=", 1) for p in line.split())
                 for line in r.stdout.splitlines()}
        scraper = lines["kms-scraper"]
        self.assertGreaterEqual(int(scraper["cycles"]), 1, scraper)
        self.assertEqual(int(scraper["nodes_min"]), 30, scraper)
        self.assertLess(float(scraper["spread_max_s"]), 5, "a cycle's samples within the interval")
        self.assertEqual(int(lines["prometheus"]["up"]), 30, lines["prometheus"])


if __name__ == "__main__":
    unittest.main()
