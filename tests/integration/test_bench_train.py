"""kms-bench train as a user runs it: throughput line, memory of many models, exported frames."""
import os
import re
import subprocess
import tempfile
import unittest

import msgpack

from kmstest import binary

SANITIZED = os.environ.get("KMS_SANITIZE", "").upper() in ("ON", "1", "TRUE", "YES")


def bench(*args, timeout=90):
    return subprocess.run([binary("kms-bench"), "train", *args], capture_output=True, text=True, timeout=timeout)


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


class BenchTrainTest(unittest.TestCase):
    def test_20000_samples_report_throughput_and_both_models_fit_r2_99(self):
        r = bench("--samples", "20000")
        self.assertEqual(r.returncode, 0, r.stderr)
        f = fields(r.stdout)
        self.assertEqual(f["samples"], "20000")
        self.assertEqual(f["rejected"], "0")
        self.assertGreater(float(f["samples_per_s"]), 0)
        # The generated node follows a linear truth with 2 % noise: both models must find it.
        self.assertGreater(float(f["core_window_r2"]), 0.99)
        self.assertGreater(float(f["dram_window_r2"]), 0.99)
        # Learned: all but the second architecture's first 7, which earn it a slot.
        self.assertEqual(f["core_samples"], "19993")

    def test_families_on_learns_the_cpu_time_model_and_keeps_linear_served(self):
        """--families: cpu_time_core_model (cpu time alone, the curve families' grid) learns too."""
        r = bench("--samples", "20000", "--families")
        self.assertEqual(r.returncode, 0, r.stderr)
        f = fields(r.stdout)
        self.assertEqual((f["models"], f["families"], f["rejected"]), ("3", "on", "0"))
        self.assertEqual(f["cpu_time_core_samples"], "19993")
        self.assertGreater(float(f["samples_per_s"]), 0)
        # The generated truth is straight in cpu time: linear stays served.
        self.assertEqual(f["cpu_time_core_family"], "linear")
        self.assertEqual(fields(bench("--samples", "100").stdout)["families"], "off")

    def test_hundred_models_fit_in_twenty_megabytes(self):
        for flags in ((), ("--families",)):
            with self.subTest(flags=flags):
                self.check_hundred_models(*flags)

    def check_hundred_models(self, *flags):
        r = bench("--models", "100", *flags)
        self.assertEqual(r.returncode, 0, r.stderr)
        f = fields(r.stdout)
        self.assertEqual(f["models"], "100")
        rss, hwm = int(f["rss_kb"]), int(f["hwm_kb"])
        self.assertGreater(rss, 0)
        self.assertGreaterEqual(hwm, rss)
        if not SANITIZED:  # AddressSanitizer's allocator and shadow memory inflate resident memory
            self.assertLess(hwm, 20 * 1024)

    def test_export_writes_contract_frames(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "frames.bin")
            r = bench("--samples", "50", "--export", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(path, "rb") as f:
                unpacker = msgpack.Unpacker(raw=False)
                unpacker.feed(f.read())
                frames = list(unpacker)
        self.assertEqual(len(frames), 50)
        self.assertEqual([s["seq"] for s in frames], list(range(50)))
        for s in frames:
            self.assertEqual(s["v"], 1)
            self.assertEqual(set(s["features"]), {"cpu_cycles", "cpu_instructions", "cpu_time",
                                                  "cache_misses", "resident_memory"})
            self.assertGreater(s["targets"]["core"], 0)
            self.assertGreater(s["targets"]["dram"], 0)

    def test_bad_usage_exits_2(self):
        for args in (["--samples", "0"], ["--samples", "many"], ["--bogus"], ["--models", "-1"]):
            r = bench(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertTrue(r.stderr.strip(), args)

    def test_help_lists_models_and_export(self):
        r = bench("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--models", r.stdout)
        self.assertIn("--export", r.stdout)


if __name__ == "__main__":
    unittest.main()
