"""`kms-trainer train --dataset FILE`: offline training, what the 2022 server's
tests.kepler_regression_model_tests did (create, train and save both models, then retrain the
saved ones), against the real binary and real files."""
import csv
import json
import os
import pty
import random
import re
import shutil
import subprocess
import tempfile
import unittest
import zipfile

from kmstest import CORE_DRAM_MODELS, KEPLER_FIXTURES, SANITIZED, SLOWDOWN, SOURCE_DIR, binary, contract_predict as predict

COLUMNS = ["arch", "cpu_cycles", "cpu_instructions", "cpu_time", "cache_misses", "resident_memory", "core", "dram"]
CAPTURE = os.path.join(KEPLER_FIXTURES, "kepler-0.7.1-prometheus-query_range-idle.json")
FIXTURE = os.path.join(SOURCE_DIR, "tests/fixtures/datasets/kepler-0.7-query_range.json")


def truth(f, arch):
    bump = 3 if arch == "arm64" else 0
    core = 5 + 2e-9 * f["cpu_cycles"] + 1e-9 * f["cpu_instructions"] + 1.5 * f["cpu_time"] + bump
    dram = 2 + 1e-7 * f["cache_misses"] + 3e-10 * f["resident_memory"] + bump / 6
    return core, dram


def rows(rng, n):
    out = []
    for _ in range(n):
        arch = rng.choice(["x86_64", "arm64"])
        f = {"cpu_cycles": rng.uniform(1e9, 3e9), "cpu_instructions": rng.uniform(1e9, 4e9),
             "cpu_time": rng.uniform(0.5, 8), "cache_misses": rng.uniform(1e6, 1e7),
             "resident_memory": rng.uniform(1e9, 8e9)}
        core, dram = truth(f, arch)
        out.append([arch] + [repr(f[c]) for c in COLUMNS[1:6]] + [repr(core), repr(dram)])
    return out


def write_csv(path, data, header=COLUMNS):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(data)


def summary(stdout):
    """{model: {"samples": int, "r2": float, "rmse": float, ...}} from train's output lines."""
    out = {}
    for line in stdout.splitlines():
        fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        if "model" in fields:
            # "learned": samples learned or waiting for their architecture's slot (pending)
            out[fields["model"]] = {"samples": int(fields["samples"]), "evaluated": int(fields["evaluated"]),
                                    "learned": int(fields["samples"]) + int(fields["pending"]),
                                    "pending": int(fields["pending"]),
                                    "r2": float(fields["r2"]), "rmse": float(fields["rmse"]),
                                    "prequential_r2": float(fields["prequential_r2"]),
                                    "ready": fields["ready"] == "true"}
        elif "dataset" in fields:
            out["_dataset"] = fields
    return out


class TestOfflineTraining(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kms-offline-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.rng = random.Random(7)

    def train(self, dataset, data_dir, expect=0):
        r = subprocess.run([binary("kms-trainer"), "train", "--dataset", dataset, "--data-dir", data_dir],
                           capture_output=True, text=True, timeout=60 * SLOWDOWN)
        self.assertEqual(r.returncode, expect, r.stderr)
        if SANITIZED:
            self.assertNotIn("runtime error:", r.stderr)
            self.assertNotIn("Sanitizer", r.stderr)
        return r

    def zipped(self, data_dir, model, entry):
        with zipfile.ZipFile(os.path.join(data_dir, f"{model}.zip")) as z:
            self.assertIsNone(z.testzip())
            return z.read(entry)

    def test_csv_creates_trains_and_saves_both_models(self):
        data = rows(self.rng, 200)
        path = os.path.join(self.tmp, "train.csv")
        write_csv(path, data)
        out_dir = os.path.join(self.tmp, "models")
        r = self.train(path, out_dir)
        s = summary(r.stdout)
        self.assertEqual(s["_dataset"]["format"], "csv")
        self.assertEqual(int(s["_dataset"]["samples"]), 200)
        for model, index in (("core_model", 0), ("dram_model", 1)):
            self.assertEqual(s[model]["learned"], 200)
            self.assertEqual(s[model]["pending"], 7)  # the second architecture's first samples
            self.assertTrue(s[model]["ready"])
            self.assertEqual(s[model]["evaluated"], 200)
            # The final fit on its own training data: the truth is linear and noise-free.
            self.assertGreater(s[model]["r2"], 0.999999)
            self.assertLess(s[model]["rmse"], 1e-6)
            # Prequential: each row predicted before it was learned, cold start included.
            self.assertLessEqual(s[model]["prequential_r2"], s[model]["r2"])
            doc = json.loads(self.zipped(out_dir, model, "weights.json"))
            for row in rows(self.rng, 20):  # unseen points
                f = dict(zip(COLUMNS[1:6], map(float, row[1:6])))
                want = truth(f, row[0])[index]
                self.assertAlmostEqual(predict(doc, f, row[0]), want, delta=1e-6 * want)
        self.assertEqual(sorted(os.listdir(out_dir)), sorted(m + ".zip" for m in CORE_DRAM_MODELS))

    def test_retraining_continues_the_saved_models(self):
        data = rows(self.rng, 150)
        first, second, whole = (os.path.join(self.tmp, n) for n in ("first.csv", "second.csv", "whole.csv"))
        write_csv(first, data[:100])
        write_csv(second, data[100:])
        write_csv(whole, data)
        continued, at_once = os.path.join(self.tmp, "continued"), os.path.join(self.tmp, "at_once")
        self.assertEqual(summary(self.train(first, continued).stdout)["core_model"]["learned"], 100)
        s = summary(self.train(second, continued).stdout)
        self.assertEqual(s["core_model"]["learned"], 150)
        self.assertEqual(s["dram_model"]["learned"], 150)
        self.train(whole, at_once)
        # Two sittings or one: the same models, bit for bit.
        for model in ("core_model", "dram_model"):
            self.assertEqual(self.zipped(continued, model, "weights.json"), self.zipped(at_once, model, "weights.json"))
        meta = json.loads(self.zipped(continued, "core_model", "metadata.json"))
        self.assertEqual(meta["samples"], s["core_model"]["samples"])

    def test_bad_rows_are_reported_with_their_line_numbers_and_skipped(self):
        good = rows(self.rng, 30)
        path = os.path.join(self.tmp, "dirty.csv")
        with open(path, "w") as f:
            f.write(",".join(COLUMNS) + "\n")                              # line 1
            f.write(",".join(good[0]) + "\n")                              # line 2
            f.write("x86_64,1,2,3\n")                                       # line 3: missing columns
            f.write(",".join(good[1]) + "\n")                              # line 4
            f.write("x86_64,lots,1,1,1,1,1,1\n")                           # line 5: not a number
            f.write("x86_64,1,1,NaN,1,1,1,1\n")                            # line 6: NaN
            f.write("x86_64,1,1,1,1,1,-4,1\n")                             # line 7: negative watts
            for row in good[2:]:                                           # lines 8..35
                f.write(",".join(row) + "\n")
        r = self.train(path, os.path.join(self.tmp, "models"))
        reported = re.findall(r'msg="bad row skipped".*line=(\d+) why=("[^"]*"|\S+)', r.stderr)
        self.assertEqual([int(line) for line, _ in reported], [3, 5, 6, 7])
        self.assertIn("cpu_cycles", reported[1][1])
        s = summary(r.stdout)
        self.assertEqual(int(s["_dataset"]["bad_rows"]), 4)
        self.assertEqual(s["core_model"]["learned"], 30)

    def test_unusable_datasets_fail_and_save_nothing(self):
        out_dir = os.path.join(self.tmp, "models")
        bad_header = os.path.join(self.tmp, "bad.csv")
        with open(bad_header, "w") as f:
            f.write("arch,core,core\nx86_64,1,1\n")
        bad_json = os.path.join(self.tmp, "bad.json")
        with open(bad_json, "w") as f:
            f.write('{"status": "error", "error": "query timed out"}')
        for path in (os.path.join(self.tmp, "missing.csv"), bad_header, bad_json):
            r = self.train(path, out_dir, expect=1)
            self.assertIn("level=error", r.stderr)
            self.assertFalse(os.path.exists(out_dir) and os.listdir(out_dir), path)

    def test_own_prometheus_fixture_trains(self):
        out_dir = os.path.join(self.tmp, "models")
        s = summary(self.train(FIXTURE, out_dir).stdout)
        self.assertEqual(s["_dataset"]["format"], "prometheus")
        self.assertEqual(int(s["_dataset"]["samples"]), 3)
        self.assertEqual(s["core_model"]["samples"], 3)
        self.assertEqual(s["dram_model"]["samples"], 3)

    def test_real_query_range_capture_trains(self):
        out_dir = os.path.join(self.tmp, "models")
        s = summary(self.train(CAPTURE, out_dir).stdout)
        self.assertEqual(s["_dataset"]["format"], "prometheus")
        samples = int(s["_dataset"]["samples"])
        self.assertGreaterEqual(samples, 5)  # 7 points per series: up to 6 intervals
        self.assertEqual(s["core_model"]["samples"], samples)
        self.assertEqual(s["dram_model"]["samples"], samples)
        meta = json.loads(self.zipped(out_dir, "dram_model", "metadata.json"))
        self.assertEqual(meta["samples"], samples)
        # Retraining on the same capture continues: the counts add up.
        s = summary(self.train(CAPTURE, out_dir).stdout)
        self.assertEqual(s["core_model"]["samples"], 2 * samples)

    def test_progress_bar_only_on_a_terminal(self):
        path = os.path.join(self.tmp, "train.csv")
        write_csv(path, rows(self.rng, 2000))
        master, slave = pty.openpty()
        p = subprocess.Popen([binary("kms-trainer"), "train", "--dataset", path, "--data-dir",
                              os.path.join(self.tmp, "tty")], stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closes with the process
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        p.stdout.read()
        p.stdout.close()
        self.assertEqual(p.wait(timeout=60 * SLOWDOWN), 0)
        self.assertIn(b"[####", seen)
        self.assertIn(b"100%", seen)
        r = self.train(path, os.path.join(self.tmp, "pipe"))
        self.assertNotIn("[#", r.stderr)


if __name__ == "__main__":
    unittest.main()
