"""kms-meter against a real kms-trainer and kms-api (trained offline from a dataset with a known
linear truth): the tree it writes, the watts it counts, model refreshes, the server going away,
restarts, bad answers from a server, a broken /proc/stat, and its configuration."""
import json
import math
import os
import random
import socket
import subprocess
import sys
import time

from kmstest import SLOWDOWN, Pipeline, ProcessTestCase, binary, http, http_json, refused_port, wait_for
from meter_support import (ARCH, HOST_CPUS, TARGETS, VM_CPUS, ScriptedApi, Stat, doc, fair_share, log_has, metrics,
                           predict, read_tree, retrain, series, stalling_api, train, trained_pipeline, truth,
                           write_dataset)


class MeterCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.stat = Stat(os.path.join(self.tmp, "proc"))
        self.out = os.path.join(self.tmp, "tree")

    def start_meter(self, api, *extra):
        """kms-meter with its /metrics on any free port, self.metrics_port (the last started's)."""
        meter = self.start("kms-meter", "--api", api, "--out", self.out, "--procfs", self.stat.root, "--interval",
                           "0.1", "--refresh", "0.3", "--timeout", "1", "--metrics-address", "127.0.0.1",
                           "--metrics-port", "0", *extra)
        self.metrics_port = meter.logged_port("metrics")
        return meter

    def m(self):
        return metrics(self.metrics_port)

    def energy(self, zone):
        return int(read_tree(self.out, zone, "energy_uj"))


class TestWithTheTrainer(MeterCase):
    def setUp(self):
        super().setUp()
        data = os.path.join(self.tmp, "data")
        dataset = os.path.join(self.tmp, "a.csv")
        write_dataset(dataset, seed=1)
        train(data, dataset)
        self.pipeline = trained_pipeline(self, data)

    def test_tree_is_the_one_kepler_reads_and_grows_at_the_predicted_watts(self):
        meter = self.start_meter(self.pipeline.base)
        wait_for(lambda: all(os.path.exists(os.path.join(self.out, "class/powercap", d, "name"))
                             for d in ("intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2")),
                 what="the four zones")
        self.assertEqual(read_tree(self.out, "package", "name"), "package-0\n")
        self.assertEqual(read_tree(self.out, "core", "name"), "core\n")
        self.assertEqual(read_tree(self.out, "dram", "name"), "dram\n")
        self.assertEqual(read_tree(self.out, "package", "max_energy_range_uj"), "262143328850\n")
        self.assertTrue(log_has(meter, r'msg="model in use" zone=package model=vm_package_model source=server '
                                       r'arch_match=exact'))
        # Half a busy cpu (of the VM's two), exactly, for three seconds: energy = the model's
        # watts at 0.5 * 3 s. (A step of the test's /proc/stat may land in the meter's next
        # interval beside the next step: a quarter of the cpus leaves room for that.)
        wait_for(lambda: self.m()[series("kms_meter_intervals_total")] >= 3, what="metering")
        before = {z: self.energy(z) for z in TARGETS}
        m0 = self.m()
        for _ in range(30):
            self.stat.add_busy(0.05)
            time.sleep(0.1)
        wait_for(lambda: self.m()[series("kms_meter_usage", feature="cpu_time")] == 0, what="usage back to idle")
        m1 = self.m()
        docs = {z: self.pipeline.weights(f"vm_{z}_model") for z in TARGETS}
        idle = {z: predict(docs[z], 0, ARCH) for z in TARGETS}
        slope = {z: predict(docs[z], 1, ARCH) - idle[z] for z in TARGETS}
        joules = {z: m1[series("kms_meter_energy_joules_total", zone=z)] - m0[series("kms_meter_energy_joules_total",
                                                                                     zone=z)] for z in TARGETS}
        for z in TARGETS:
            # The VM's two cpus' share of the 8-cpu training node's idle watts, not all of them.
            self.assertAlmostEqual(idle[z], truth(0, ARCH)[z] * VM_CPUS / HOST_CPUS, delta=1e-6)
            self.assertAlmostEqual(slope[z], fair_share(1, VM_CPUS)[z] - fair_share(0, VM_CPUS)[z], delta=1e-6)
            self.assertAlmostEqual(m1[series("kms_meter_watts", zone=z)], idle[z], delta=1e-9)
        # Linear models: each zone's joules are its idle watts times the same time T plus its
        # slope times the 1.5 busy cpu-seconds. T from the package; every other zone must agree.
        elapsed = (joules["package"] - 1.5 * slope["package"]) / idle["package"]
        self.assertGreater(elapsed, 3.0)
        for z in TARGETS:
            self.assertAlmostEqual(joules[z], idle[z] * elapsed + 1.5 * slope[z], delta=1e-6 * joules[z], msg=z)
            # What the tree says grows with the meter's count, in microjoules.
            self.assertGreater(self.energy(z), before[z])
        info = [k for k in m1 if k.startswith("kms_meter_model_info")]
        self.assertIn(series("kms_meter_model_info", zone="package", model="vm_package_model", arch=ARCH,
                             match="exact", family="linear"), info)
        self.assertEqual(m1[series("kms_meter_machine_info", arch=ARCH, counters="false", cpus="2", share="fair")], 1)
        _, _, body = http(f"http://127.0.0.1:{self.metrics_port}/metrics")
        check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_new_model_is_adopted_and_an_outage_or_restart_meters_from_cache(self):
        meter = self.start_meter(self.pipeline.base)
        wait_for(lambda: self.m().get(series("kms_meter_model_info", zone="package", model="vm_package_model", arch=ARCH,
                                             match="exact", family="linear")) == 1, what="the served model")
        old = self.m()[series("kms_meter_watts", zone="package")]
        self.assertAlmostEqual(old, fair_share(0, VM_CPUS)["package"], delta=1e-6)

        # The trainer learns another truth (twice the watts): the changed answer is adopted.
        retrain(self.pipeline, self.tmp, 2.0)
        wait_for(lambda: self.m()[series("kms_meter_model_updates_total", zone="package")] >= 2, timeout=20,
                 what="a refreshed model")
        served = predict(self.pipeline.weights("vm_package_model"), 0, ARCH)
        wait_for(lambda: abs(self.m()[series("kms_meter_watts", zone="package")] - served) < 1e-9,
                 what="the new model's watts")
        self.assertGreater(served, 1.5 * old)

        # kms-api goes away: metering goes on with the model in hand, errors counted.
        self.pipeline.api.stop()
        wait_for(lambda: self.m()[series("kms_meter_server_up")] == 0, what="server down")
        e0 = self.energy("package")
        wait_for(lambda: self.energy("package") > e0 + 1e6, what="energy while the server is away")
        wait_for(lambda: self.m()[series("kms_meter_server_errors_total", kind="connect")] > 0, what="refused")
        age = self.m()[series("kms_meter_model_age_seconds", zone="package")]
        wait_for(lambda: self.m()[series("kms_meter_model_age_seconds", zone="package")] > age + 0.5,
                 what="the model ageing")

        # Restart while the server is still away: the cached model, the counter continues.
        self.assertEqual(meter.stop(), 0)
        self.assertIn("msg=stopped", meter.output())
        before = {z: self.energy(z) for z in TARGETS}
        self.processes.remove(meter)
        meter = self.start_meter(self.pipeline.base)
        wait_for(lambda: log_has(meter, r"zone in the tree\" zone=package .*energy_uj=%d" % before["package"]),
                 what="the counter read back")
        self.assertTrue(log_has(meter, r"model in use\" zone=package model=vm_package_model source=cache"))
        wait_for(lambda: all(self.energy(z) > before[z] for z in TARGETS), what="counting on from the tree")
        wait_for(lambda: abs(self.m()[series("kms_meter_watts", zone="package")] - served) < 1e-9,
                 what="the cached model's watts")
        self.assertEqual(self.m()[series("kms_meter_server_up")], 0)

        # The server is back: confirmed, the age drops.
        self.pipeline.start_api()
        self.pipeline.wait_ready(("vm_package_model",), timeout=15)
        wait_for(lambda: self.m()[series("kms_meter_server_up")] == 1, what="server back")
        wait_for(lambda: self.m()[series("kms_meter_model_age_seconds", zone="package")] < 1, what="confirmed")

    def test_wraps_at_max_energy_range(self):
        # 30 J (10 intervals at --max-watts 30 fit in it): a wrap every 1.2 s with both cpus busy.
        self.start_meter(self.pipeline.base, "--max-energy-range-uj", "30000000", "--max-watts", "30")

        def busy_past(joules):
            self.stat.add_busy(2 * 0.1)
            return self.m()[series("kms_meter_energy_joules_total", zone="package")] > joules

        wait_for(lambda: busy_past(70), timeout=15, interval=0.1, what="two wraps")
        self.assertEqual(read_tree(self.out, "package", "max_energy_range_uj"), "30000000\n")
        m = self.m()
        total = m[series("kms_meter_energy_joules_total", zone="package")]
        self.assertAlmostEqual(m[series("kms_meter_energy_uj", zone="package")], (total * 1e6) % 30000000,
                               delta=2)
        for _ in range(20):
            self.assertLess(self.energy("package"), 30000000)
            time.sleep(0.05)


class TestCurvedTruth(MeterCase):
    """A package whose power bends with utilization (per cpu of the 8-cpu training nodes:
    2.5 + 3.125 ln(1 + 16 u) W, the node's 20 + 25 ln(1 + cpu_time / 0.5)): the trainer serves
    vm_package_model's logarithmic curve (issue 17), in utilization, and kms-meter counts with the
    curve, not with the straight line beside it in the same document."""

    def setUp(self):
        super().setUp()
        data, dataset = os.path.join(self.tmp, "data"), os.path.join(self.tmp, "curved.csv")
        rng = random.Random(5)
        with open(dataset, "w") as f:
            f.write("arch,cpus,cpu_time," + ",".join(TARGETS) + "\n")
            for _ in range(600):
                x = rng.uniform(0, HOST_CPUS)
                t = dict(truth(x, ARCH), package=20 + 25 * math.log(1 + x / 0.5))
                f.write(f"{ARCH},{HOST_CPUS},{x}," + ",".join(repr(t[z]) for z in TARGETS) + "\n")
        train(data, dataset)
        self.pipeline = trained_pipeline(self, data)

    def test_the_served_curve_is_what_the_meter_counts(self):
        doc = self.pipeline.weights("vm_package_model")
        self.assertIs(doc["per_logical_cpu"], True)
        self.assertEqual(doc["families"]["served"], "logarithmic", doc.get("families"))
        fit = next(c for c in doc["families"]["candidates"] if c["family"] == "logarithmic")["fit"]
        a, b, c = fit["params"]
        meter = self.start_meter(self.pipeline.base, "--zones", "package")
        wait_for(lambda: self.m().get(series("kms_meter_model_info", zone="package", model="vm_package_model",
                                             arch=ARCH, match="exact", family="logarithmic")) == 1,
                 what="the meter on the curve")
        self.assertTrue(log_has(meter, r'msg="model in use" zone=package model=vm_package_model .* family=logarithmic'))
        wait_for(lambda: self.m()[series("kms_meter_intervals_total")] >= 3, what="metering")
        self.assertEqual(self.m()[series("kms_meter_utilization")], 0)
        idle = self.m()[series("kms_meter_watts", zone="package")]
        self.assertAlmostEqual(idle, VM_CPUS * c, delta=1e-9)  # the curve at 0: a log(1) + c, per cpu
        self.assertAlmostEqual(idle, VM_CPUS * 2.5, delta=0.03 * VM_CPUS * 2.5)  # the truth: 2 of the node's 8 cpus
        # The straight line of the same document is far off there: the bend it misses.
        self.assertGreater(abs(predict(doc, 0, ARCH) - VM_CPUS * 2.5), 0.5, doc["All_Weights"])
        # Busy: in any one scrape, the last interval's watts are the curve at its utilization.
        seen = []
        for _ in range(40):
            self.stat.add_busy(0.1)
            time.sleep(0.1)
            m = self.m()
            u, w = m[series("kms_meter_utilization")], m[series("kms_meter_watts", zone="package")]
            if u > 0.25:
                seen.append((u, w))
                self.assertAlmostEqual(w, VM_CPUS * (a * math.log(b * u / fit["scale"] + 1) + c), delta=1e-9 * w)
                self.assertAlmostEqual(w, VM_CPUS * (2.5 + 3.125 * math.log(1 + 16 * u)), delta=0.02 * w)  # the truth
        self.assertGreaterEqual(len(seen), 3, "too few busy intervals counted")


class TestBadInput(MeterCase):
    def setUp(self):
        super().setUp()
        self.api = ScriptedApi()
        self.addCleanup(self.api.close)

    def test_bad_answers_keep_the_last_good_model(self):
        self.api.answers["vm_package_model"] = (200, doc(25.0, arch_weight=4.0))
        meter = self.start_meter(self.api.url, "--zones", "package")
        wait_for(lambda: self.m().get(series("kms_meter_watts", zone="package")) == 58.0, what="the good model")
        # Not exact, not near: the mean of the categories, said in the log and the metrics.
        self.assertTrue(log_has(meter, r"level=warn .*model in use.* arch_match=generic"))
        self.assertIn(series("kms_meter_model_info", zone="package", model="vm_package_model", arch="",
                             match="generic", family="linear"), self.m())
        bad = [(b"not json at all", "parse"),
               (b'{"All_Weights":{"Bias_Weight":3,"Numerical_Variables":{"cpu_time":{"mean":0,"variance":1}}}}',
                "parse"),
               (b'{"All_Weights":{"Bias_Weight":NaN,"Numerical_Variables":{}}}', "parse"),
               (b'{"All_Weights":{"Bias_Weight":1e999,"Numerical_Variables":{}}}', "parse"),
               (doc(1e12), "watts"), (doc(-3000.0), "watts"),
               # Below zero at idle (-490 W per cpu): refused, never adopted and clamped.
               (doc(-490.0, weight=600.0), "watts"),
               # A node model (core_model's kind, or a per-node document on cpu time): it would
               # charge the VM a whole host's idle watts.
               (doc(25.0, per_cpu=False), "node_model"), (doc(25.0, feature="cpu_time"), "features"),
               (b'{"All_Weights":{"Bias_Weight":3,"Numerical_Variables":{"cpu_cycles":'
                b'{"mean":0,"variance":1,"weight":1}}},"per_logical_cpu":true}', "features")]
        for body, reason in bad:
            before = self.m()[series("kms_meter_models_rejected_total", reason=reason)]
            self.api.answers["vm_package_model"] = (200, body)
            wait_for(lambda: self.m()[series("kms_meter_models_rejected_total", reason=reason)] > before,
                     what=f"{body[:40]!r} refused")
            self.assertEqual(self.m()[series("kms_meter_watts", zone="package")], 58.0)
        # A server error, and an answer that is far too large: counted, nothing changes.
        self.api.answers["vm_package_model"] = (500, b"oops")
        wait_for(lambda: self.m()[series("kms_meter_server_errors_total", kind="http")] > 0, what="HTTP 500")
        self.api.answers["vm_package_model"] = (200, b" " * (2 << 20))
        wait_for(lambda: self.m()[series("kms_meter_server_errors_total", kind="too_large")] > 0, what="too large")
        self.assertEqual(self.m()[series("kms_meter_watts", zone="package")], 58.0)
        self.assertTrue(log_has(meter, r"msg=\"model refused\" model=vm_package_model why=watts kept=vm_package_model"))
        self.assertTrue(log_has(meter, r"msg=\"model refused\" model=vm_package_model why=node_model"))
        self.assertEqual(self.m()[series("kms_meter_watts_clamped_total", zone="package", reason="negative")], 0)

    def test_unreadable_proc_stat_is_never_usage_and_the_tree_goes_on(self):
        self.api.answers["vm_package_model"] = (200, doc(10.0))
        self.start_meter(self.api.url, "--zones", "package")
        wait_for(lambda: self.m().get(series("kms_meter_watts", zone="package")) == 20.0, what="metering")
        for text in ("cpu  garbage\n", "", "intr 1 2 3\n", "cpu  1 2 3\n"):
            errors = self.m()[series("kms_meter_stat_errors_total")]
            self.stat.write(text)
            wait_for(lambda: self.m()[series("kms_meter_stat_errors_total")] > errors + 2, what=f"{text!r} refused")
            # The tree goes on at the last usage read (20 W), as a guess that the next good
            # reading replaces, and no faster.
            e, t = self.energy("package"), time.monotonic()
            wait_for(lambda: self.energy("package") > e + 2e6, what="the tree going on")  # 2 J: 0.1 s at 20 W
            self.assertLessEqual(self.energy("package") - e, 20e6 * (time.monotonic() - t + 0.1))
        # Counters that go back (another file, a broken read) are no usage either: the usage of
        # the gap is never known and its guesses stand; the next intervals count from the new
        # reading.
        errors = self.m()[series("kms_meter_stat_errors_total")]
        self.stat.busy = 10
        self.stat.write()
        wait_for(lambda: self.m()[series("kms_meter_stat_errors_total")] > errors, what="going back refused")
        e = self.energy("package")
        wait_for(lambda: self.energy("package") > e, what="counting again")
        self.assertEqual(self.m()[series("kms_meter_watts", zone="package")], 20.0)
        # The good readings are errors no more (the count read above may lag the bad file by an
        # interval, so it is taken again here).
        errors = self.m()[series("kms_meter_stat_errors_total")]
        counted = self.m()[series("kms_meter_intervals_total")]
        wait_for(lambda: self.m()[series("kms_meter_intervals_total")] >= counted + 3, what="three more intervals")
        self.assertEqual(self.m()[series("kms_meter_stat_errors_total")], errors)

    def test_a_server_that_stalls_its_body_never_stops_metering(self):
        # Headers, then nothing: the connection held open for as long as the test runs.
        url, held = stalling_api(self)
        meter = self.start_meter(url, "--zones", "package")
        # The tree from the first interval (the prior: no cache, no answer), and metering goes on.
        wait_for(lambda: self.m()[series("kms_meter_intervals_total")] >= 5, what="metering")
        self.assertEqual(read_tree(self.out, "package", "name"), "package-0\n")
        e = self.energy("package")
        wait_for(lambda: self.m()[series("kms_meter_server_errors_total", kind="timeout")] >= 2, timeout=10,
                 what="the stalled answers timed out (--timeout 1)")
        self.assertGreater(self.energy("package"), e)
        self.assertGreaterEqual(len(held), 2)  # asked again after each timeout
        t = time.monotonic()
        self.assertEqual(meter.stop(), 0)
        self.assertLess(time.monotonic() - t, 1.0 * SLOWDOWN)

    def test_planted_links_and_fifos_are_never_followed(self):
        decoy = os.path.join(self.tmp, "passwd")
        with open(decoy, "w") as f:
            f.write("root:x:0:0\n")
        os.makedirs(os.path.join(self.out, "kms-meter"))
        os.symlink(decoy, os.path.join(self.out, "kms-meter", ".vm_package_model.json.tmp"))
        os.makedirs(os.path.join(self.out, "class/powercap/intel-rapl:0"))
        os.symlink(decoy, os.path.join(self.out, "class/powercap/intel-rapl:0/.energy_uj.tmp"))
        os.symlink(decoy, os.path.join(self.out, "class/powercap/intel-rapl:0/.name.tmp"))
        os.symlink(self.tmp, os.path.join(self.out, "class/powercap/intel-rapl:0:0"))  # core, a folder elsewhere
        self.api.answers["vm_package_model"] = (200, doc(10.0))
        self.api.answers["vm_core_model"] = (200, doc(5.0))
        meter = self.start_meter(self.api.url, "--zones", "package,core")
        wait_for(lambda: self.m().get(series("kms_meter_watts", zone="package")) == 20.0, what="metering")
        wait_for(lambda: os.path.exists(os.path.join(self.out, "kms-meter", "vm_package_model.json")), what="cached")
        wait_for(lambda: self.m()[series("kms_meter_tree_errors_total")] > 0, what="the symlinked zone refused")
        with open(decoy) as f:
            self.assertEqual(f.read(), "root:x:0:0\n")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "name")))  # nothing made through the link
        self.assertEqual(read_tree(self.out, "package", "name"), "package-0\n")
        # /proc/stat turned into a FIFO: counted as unreadable, never blocking; SIGTERM stops it at once.
        errors = self.m()[series("kms_meter_stat_errors_total")]
        os.unlink(os.path.join(self.stat.root, "stat"))
        os.mkfifo(os.path.join(self.stat.root, "stat"))
        wait_for(lambda: self.m()[series("kms_meter_stat_errors_total")] > errors + 2, what="the FIFO refused")
        t = time.monotonic()
        self.assertEqual(meter.stop(), 0)
        self.assertLess(time.monotonic() - t, 1.0 * SLOWDOWN)

    def test_more_busy_time_than_the_cpus_have_is_bounded(self):
        self.api.answers["vm_package_model"] = (200, doc(10.0, weight=5.0))
        meter = self.start_meter(self.api.url, "--zones", "package")
        wait_for(lambda: self.m().get(series("kms_meter_watts", zone="package")) == 20.0, what="metering")
        for _ in range(10):  # 62 cpu-seconds a second claimed by a 2-cpu machine
            self.stat.add_busy(6.2)
            time.sleep(0.1)
        wait_for(lambda: self.m()[series("kms_meter_usage_clamped_total")] > 0, what="the clamp")
        self.assertLessEqual(max(self.m()[series("kms_meter_watts", zone="package")], 30.0), 30.0)  # 2 x (10 + 5)
        self.assertTrue(log_has(meter, r"level=warn .*more busy time than the cpus have"))

    def test_a_gap_in_proc_stat_is_guessed_then_counted_over_the_time_it_covers(self):
        self.api.answers["vm_package_model"] = (200, doc(10.0, weight=5.0))
        self.start_meter(self.api.url, "--zones", "package", "--max-watts", "60")
        joules = series("kms_meter_energy_joules_total", zone="package")
        wait_for(lambda: self.m().get(series("kms_meter_watts", zone="package")) == 20.0, what="metering")
        m, t0 = self.m(), time.monotonic()
        errors, before = m[series("kms_meter_stat_errors_total")], m[joules]
        self.stat.write("cpu  garbage\n")
        wait_for(lambda: self.m()[series("kms_meter_stat_errors_total")] > errors + 20, what="the gap")
        # Through the gap the tree goes on at the last usage's 20 W (before: it stood still, and
        # the next good interval took the whole gap's energy at once).
        m = self.m()
        guessed = m[joules] - before
        self.assertGreater(guessed, 20 * (m[series("kms_meter_stat_errors_total")] - errors) * 0.1 * 0.8)
        # One of the two cpus was busy through the gap, seen only when /proc/stat is back: that
        # busy time covers the whole gap (utilization about 1/2), not the one interval after it.
        busy = time.monotonic() - t0
        self.stat.add_busy(busy)
        wait_for(lambda: self.m()[series("kms_meter_utilization")] > 0, what="the gap counted")
        m = self.m()
        self.assertLess(m[series("kms_meter_utilization")], 0.75, m)
        self.assertEqual(m[series("kms_meter_usage_clamped_total")], 0)
        self.assertLess(m[series("kms_meter_watts", zone="package")], 2 * (10 + 5 * 0.75))
        # And once the 5 W more of the busy cpu are caught up (at --max-watts 60), the tree holds
        # 20 W for the whole time and 5 J per busy second: the guesses were replaced by what was
        # known. The test's clock frames the window to an interval or two (20 W x 0.2 s).
        wait_for(lambda: self.m()[series("kms_meter_watts", zone="package")] == 20.0, what="idle again")
        time.sleep(1.0)  # the catch-up, unseen outside: 5 W x the gap at 40 W a second, under 0.5 s
        m, elapsed = self.m(), time.monotonic() - t0
        print(f"gap of {busy:.2f} s: {guessed:.2f} J guessed in it; {m[joules] - before:.2f} J counted over "
              f"{elapsed:.2f} s, {20 * elapsed + 5 * busy:.2f} J true", file=sys.stderr)
        self.assertAlmostEqual(m[joules] - before, 20 * elapsed + 5 * busy, delta=4.5)

    def test_no_cpu_listed_meters_nothing_and_says_why(self):
        self.stat.write("cpu  1000 0 0 100000 0 0 0 0 0 0\n")  # the aggregate line, no cpuN
        r = subprocess.run([binary("kms-meter"), "--api", self.api.url, "--out", self.out, "--procfs", self.stat.root,
                            "--metrics-port", "off"], capture_output=True, text=True, timeout=10 * SLOWDOWN)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no cpu listed", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "class")))


# Cloud Carbon Footprint's published Cascade Lake row, per vCPU (ccf-coefficients
# b0032d928c787cf76cecd7d1d611c5b46f366e29, output/coefficients-aws-use.csv line 3).
CASCADE_LAKE = (0.6902978319127387, 4.063193520161689)
CASCADE_LAKE_NAME = "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"


class TestPrior(MeterCase):
    """A cold start: no model knows this processor, or no server at all; the coefficient prior
    meters from the first interval, until a model that learned the processor is served."""

    def setUp(self):
        super().setUp()
        self.stat = Stat(os.path.join(self.tmp, "proc"), cpus=4, model_name=CASCADE_LAKE_NAME)
        self.api = ScriptedApi()
        self.addCleanup(self.api.close)

    def test_prior_from_the_first_minute_then_the_learned_processor(self):
        meter = self.start_meter(self.api.url, "--zones", "package")
        wait_for(lambda: os.path.exists(os.path.join(self.out, "class/powercap/intel-rapl:0/name")), what="the zone")
        self.assertTrue(log_has(meter, r'msg="model in use" zone=package model=prior source=prior arch_match=exact '
                                       r'arch_used="Cascade Lake"'))
        wait_for(lambda: self.m()[series("kms_meter_intervals_total")] >= 2, what="metering")
        self.assertAlmostEqual(self.m()[series("kms_meter_watts", zone="package")], 4 * CASCADE_LAKE[0], delta=1e-9)
        for _ in range(10):  # two of the four cpus busy: utilization 0.5
            self.stat.add_busy(0.2)
            time.sleep(0.1)
            m = self.m()
            if m[series("kms_meter_utilization")] == 0.5:
                self.assertAlmostEqual(m[series("kms_meter_watts", zone="package")],
                                       4 * (CASCADE_LAKE[0] + 0.5 * (CASCADE_LAKE[1] - CASCADE_LAKE[0])), delta=1e-9)
        self.assertIn(series("kms_meter_model_info", zone="package", model="prior", arch="Cascade Lake", match="prior",
                             family="linear"), self.m())
        # A model that learned other processors only: the prior of this one stays.
        self.api.answers["vm_package_model"] = (200, doc(25.0, arch_weight=4.0))
        before = self.api.requests
        wait_for(lambda: self.api.requests > before + 2, what="the model asked for")
        self.assertEqual(self.m()[series("kms_meter_model_info", zone="package", model="prior", arch="Cascade Lake",
                                         match="prior", family="linear")], 1)
        # The trainer learned this processor: its model replaces the prior.
        learned = json.loads(doc(3.0, weight=9.0))
        learned["All_Weights"]["Categorical_Variables"] = {"cpu_architecture": {CASCADE_LAKE_NAME: {"weight": 0.5}}}
        self.api.answers["vm_package_model"] = (200, json.dumps(learned).encode())
        wait_for(lambda: self.m().get(series("kms_meter_model_info", zone="package", model="vm_package_model",
                                             arch=CASCADE_LAKE_NAME, match="exact", family="linear")) == 1,
                 what="the learned model")
        wait_for(lambda: abs(self.m()[series("kms_meter_watts", zone="package")] - 4 * 3.5) < 1e-9,
                 what="the learned model's watts at idle: 4 cpus of 3.5 W")

    def test_no_server_at_all_meters_the_prior(self):
        meter = self.start_meter(f"http://127.0.0.1:{refused_port()}", "--zones", "package")
        wait_for(lambda: self.m()[series("kms_meter_server_errors_total", kind="connect")] >= 2, what="errors")
        self.assertTrue(log_has(meter, r"kms-api not answering"))
        self.assertEqual(read_tree(self.out, "package", "name"), "package-0\n")
        e = self.energy("package")
        wait_for(lambda: self.energy("package") > e, what="energy from the prior")

    def test_an_unknown_processor_gets_its_vendor_average_said_so(self):
        self.stat = Stat(os.path.join(self.tmp, "proc2"), cpus=2, model_name="AMD Opteron(tm) Processor 6134")
        meter = self.start_meter(f"http://127.0.0.1:{refused_port()}", "--zones", "package")
        wait_for(lambda: log_has(meter, r"model=prior source=prior"), what="the prior")
        self.assertTrue(log_has(meter, r'level=warn .*model=prior source=prior arch_match=vendor_average '
                                       r'arch_used="AMD average"'))
        info = [k for k in self.m() if k.startswith("kms_meter_prior_info")]
        self.assertEqual(len(info), 1)
        self.assertIn('arch="AMD average",match="vendor_average"', info[0])


class TestConfiguration(ProcessTestCase):
    def run_meter(self, *args, env=None):
        full = dict(os.environ)
        full.update(env or {})
        return subprocess.run([binary("kms-meter"), *args], capture_output=True, text=True, env=full,
                              timeout=10 * SLOWDOWN)

    def test_help_names_every_option_and_a_bad_value_exits_2_naming_it(self):
        r = self.run_meter("--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--api", "KMS_API_URL", "--out", "KMS_METER_DIR", "--interval", "KMS_METER_INTERVAL"):
            self.assertIn(option, r.stdout)
        self.assertEqual(self.run_meter("--version").returncode, 0)
        cases = [(["--out", self.tmp, "--interval", "0"], "--interval"),
                 (["--out", self.tmp, "--interval", "abc"], "--interval"),
                 (["--out", self.tmp], "KMS_METER_INTERVAL", {"KMS_METER_INTERVAL": "-1"}),
                 ([], "--out"),
                 (["--out", self.tmp, "--zones", "package,gpu"], "--zones"),
                 (["--out", self.tmp, "--api", "ftp://x"], "--api"),
                 (["--out", self.tmp, "--max-energy-range-uj", "1000000.5"], "--max-energy-range-uj"),
                 # 1 J: less than 10 intervals at --max-watts (2000 W x 1 s x 10): Kepler could
                 # not tell one wrap from several.
                 (["--out", self.tmp, "--max-energy-range-uj", "1000000"], "--max-energy-range-uj"),
                 (["--out", self.tmp, "--vm-share", "half"], "--vm-share"),
                 (["--out", self.tmp, "--metrics-port", "-1"], "--metrics-port"),
                 (["--out", self.tmp, "--bogus"], "--bogus")]
        for case in cases:
            args, option = case[0], case[1]
            r = self.run_meter(*args, env=case[2] if len(case) > 2 else None)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(option, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_a_taken_metrics_port_stops_it_with_one_line(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            r = self.run_meter("--out", self.tmp, "--metrics-address", "127.0.0.1", "--metrics-port", str(port),
                               "--api", f"http://127.0.0.1:{refused_port()}")
        self.assertEqual(r.returncode, 1, r.stderr)
        errors = [line for line in r.stderr.splitlines() if "level=error" in line]
        self.assertEqual(len(errors), 1, r.stderr)
        self.assertIn('msg="cannot listen" socket=metrics', errors[0])
        self.assertIn(f"127.0.0.1:{port}", errors[0])

    def test_a_second_meter_on_the_tree_says_why_and_exits_2(self):
        stat = Stat(os.path.join(self.tmp, "proc"))
        args = ("--out", os.path.join(self.tmp, "tree"), "--procfs", stat.root, "--api",
                f"http://127.0.0.1:{refused_port()}")
        first = self.start("kms-meter", *args, "--metrics-port", "off")
        wait_for(lambda: "msg=machine" in first.output(), what="the first kms-meter")
        r = self.run_meter(*args, "--metrics-port", "off")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("another kms-meter writes the tree", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_sigterm_exits_0_promptly_and_metrics_port_off_serves_nothing(self):
        meter = self.start("kms-meter", "--out", self.tmp, "--metrics-port", "off", "--api",
                           f"http://127.0.0.1:{refused_port()}")
        wait_for(lambda: "msg=machine" in meter.output(), what="start")
        self.assertNotIn("socket=metrics", meter.output())  # --metrics-port off: no server
        t = time.monotonic()
        self.assertEqual(meter.stop(), 0)
        self.assertLess(time.monotonic() - t, 2 * SLOWDOWN)
        self.assertIn("msg=stopped", meter.output())


class TestFairShare(ProcessTestCase):
    """Kepler 0.10's page of an 8-cpu node (kepler-sim --format 0.10 --cpus 8, a truth linear in
    cpu time) -> kms-scraper -> kms-trainer learns vm_package_model per logical cpu -> three
    kms-meters on VMs of 2, 2 and 4 vCPUs of the same processor, which fill the host. Each meters
    its fair share (its vCPUs' part of the host's idle watts, and the dynamic watts of its busy
    time) within 3 %, and the three add up to the host's truth within 3 %, idle and busy."""
    SIZES = (2, 2, 4)

    def setUp(self):
        super().setUp()
        self.pipeline = Pipeline(self, sim=("--format", "0.10", "--cpus", 8, "--truth", "cpu", "--noise", 0,
                                            "--containers", 6, "--seed", 3, "--arch", ARCH))
        self.pipeline.wait_ready(("vm_package_model",), timeout=60)
        self.truth = http_json(f"{self.pipeline.sim_url}/truth")[1]["components"]["package"]
        self.vms = []
        for i, cpus in enumerate(self.SIZES):
            stat = Stat(os.path.join(self.tmp, f"proc{i}"), cpus=cpus)
            meter = self.start("kms-meter", "--api", self.pipeline.base, "--out", os.path.join(self.tmp, f"tree{i}"),
                               "--procfs", stat.root, "--interval", "0.2", "--refresh", "0.5", "--zones", "package",
                               "--metrics-address", "127.0.0.1", "--metrics-port", "0")
            self.vms.append((cpus, stat, meter.logged_port("metrics")))

    def host(self, cpu_time):
        return self.truth["bias"] + self.truth["weights"]["cpu_time"] * cpu_time

    def fair(self, cpus, utilization):
        return cpus / 8 * self.truth["bias"] + self.truth["weights"]["cpu_time"] * cpus * utilization

    def readings(self):
        """(cpus, utilization, watts) of each VM, once each has metered with the served model."""
        out = []
        for cpus, _, port in self.vms:
            m = metrics(port)
            out.append((cpus, m[series("kms_meter_utilization")], m[series("kms_meter_watts", zone="package")]))
        return out

    def check(self, readings):
        for cpus, u, watts in readings:
            self.assertAlmostEqual(watts, self.fair(cpus, u), delta=0.03 * self.fair(cpus, u), msg=(cpus, u))
        total = sum(w for _, _, w in readings)
        busy = sum(c * u for c, u, _ in readings)
        self.assertAlmostEqual(total, self.host(busy), delta=0.03 * self.host(busy))
        return total, busy

    def test_vms_that_fill_the_host_add_up_to_it(self):
        for _, _, port in self.vms:
            wait_for(lambda: metrics(port).get(series("kms_meter_model_info", zone="package", model="vm_package_model",
                                                      arch=ARCH, match="exact", family="linear")) == 1,
                     timeout=20, what="each meter on the learned model")
        wait_for(lambda: all(u == 0 and w > 0 for _, u, w in self.readings()), what="idle, metered")
        total, _ = self.check(self.readings())
        print(f"\nidle: VMs {total:.3f} W, host {self.host(0):.3f} W")
        # Busy: the 2-vCPU VMs at a quarter and at half, the 4-vCPU one at three quarters.
        shares = (0.25, 0.5, 0.75)
        checked = 0
        for _ in range(40):
            for (cpus, stat, _), share in zip(self.vms, shares):
                stat.add_busy(0.1 * cpus * share)
            time.sleep(0.1)
            readings = self.readings()
            if all(u > 0 for _, u, _ in readings):
                total, busy = self.check(readings)
                checked += 1
        self.assertGreaterEqual(checked, 5, "too few intervals with every VM busy")
        print(f"busy: VMs {total:.3f} W at {busy:.2f} busy cpus, host {self.host(busy):.3f} W")
