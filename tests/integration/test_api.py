"""kms-api over the real pipeline (kepler-sim -> kms-scraper -> kms-trainer -> kms-api): every
route's happy path as a user and as Kepler see them.

The pipeline trains for a few seconds, then the scraper is stopped so that the models hold
still and answers from different routes can be compared exactly."""
import io
import json
import math
import subprocess
import time
import unittest
import zipfile

from kmstest import SLOWDOWN, contract_predict, http, http_json, prom_values, truth_predict
from test_api_support import (KEPLER_04_METRICS, KEPLER_07_METRICS, FrozenPipelineCase, canonical,
                              kepler_04_request, kepler_07_request, kepler_predict, kepler_usage, kepler_watts)

ARCH = "Sapphire Rapids"  # kepler-sim's default node


class RealPipeline(FrozenPipelineCase):
    def weights(self, model):
        status, headers, body = http(f"{self.base}/model-weights/{model}")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        return body, json.loads(body)

    def points(self, doc, count=5):
        """Feature values around the training data: its mean + k standard deviations (the
        document's scale)."""
        numeric = doc["All_Weights"]["Numerical_Variables"]
        return [{f: max(0.0, doc["feature_means"][f] + (k - 2) * 0.7 * v["scale"]) for f, v in numeric.items()}
                for k in range(count)]

    def post_model(self, body):
        return http(f"{self.base}/model", method="POST", body=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json; charset=UTF-8"})

    # --- plain routes ------------------------------------------------------------------------

    def test_healthz_says_ok_and_readyz_says_ready(self):
        self.assertEqual(http_json(f"{self.base}/healthz"), (200, {"status": "ok"}))
        self.assertEqual(http_json(f"{self.base}/readyz"), (200, {"status": "ready"}))

    def test_weights_follow_the_truth(self):
        truth = self.pipeline.truth()
        for model, component, features in (("core_model", "core", {"cpu_cycles", "cpu_instructions", "cpu_time"}),
                                           ("dram_model", "dram", {"cache_misses", "resident_memory"})):
            _, doc = self.weights(model)
            w = doc["All_Weights"]
            self.assertEqual(doc["model_name"], model)
            self.assertEqual(set(w["Numerical_Variables"]), features)
            self.assertIn(ARCH, w["Categorical_Variables"]["cpu_architecture"])
            for v in w["Numerical_Variables"].values():
                # Both of Kepler's formulas read the same model: mean 0, variance = scale^2.
                self.assertGreater(v["scale"], 0)
                self.assertEqual((v["mean"], math.sqrt(v["variance"])), (0, v["scale"]))
                self.assertTrue(all(math.isfinite(v[k]) for k in ("mean", "variance", "scale", "weight")))
            # The fit passes through the data's mean, where the truth is known: within 5 %.
            means = doc["feature_means"]
            self.assertEqual(set(means), features)
            predicted = contract_predict(doc, means, ARCH)
            expected = truth_predict(truth, component, means)
            self.assertAlmostEqual(predicted, expected, delta=0.05 * expected, msg=model)
        # "/model-weights/" alone is core_model, byte for byte.
        self.assertEqual(http(f"{self.base}/model-weights/")[2], self.weights("core_model")[0])

    def test_models_lists_each_ready_model_with_its_fit_and_features(self):
        status, models = http_json(f"{self.base}/models")
        self.assertEqual(status, 200)
        self.assertIsInstance(models, list)
        by_name = {m["name"]: m for m in models}
        self.assertLessEqual({"core_model", "dram_model"}, set(by_name))
        for name, target in (("core_model", "core"), ("dram_model", "dram")):
            m = by_name[name]
            self.assertEqual(m["target"], target)
            self.assertTrue(m["ready"])
            self.assertGreaterEqual(m["samples"], self.pipeline.min_samples)
            for key in ("r2", "rmse", "mae", "window_r2", "window_rmse", "window_mae"):
                self.assertTrue(math.isfinite(m["fit"][key]), key)
            self.assertGreater(m["fit"]["rmse"], 0)
            self.assertTrue(m["history"], "the fit's history for the status page")
            self.assertEqual(set(m["features"]), set(self.weights(name)[1]["All_Weights"]["Numerical_Variables"]))

    def test_a_models_zip_holds_its_served_weights_and_metadata(self):
        for model in ("core_model", "dram_model"):
            status, headers, body = http(f"{self.base}/models/{model}")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "application/zip")
            self.assertEqual(headers["Content-Disposition"], f'attachment; filename="{model}.zip"')
            self.assertEqual(int(headers["Content-Length"]), len(body))
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                self.assertIsNone(z.testzip())
                self.assertLessEqual({"weights.json", "metadata.json"}, set(z.namelist()))
                raw_weights, doc = self.weights(model)
                self.assertEqual(json.loads(z.read("weights.json")), doc)
                meta = json.loads(z.read("metadata.json"))
            self.assertEqual(meta["name"], model)
            self.assertEqual(set(meta["features"]), set(doc["All_Weights"]["Numerical_Variables"]))
            for key in ("target", "samples", "fit", "created", "updated"):
                self.assertIn(key, meta, f"{model} metadata.json lacks {key}")
            self.assertGreaterEqual(meta["samples"], self.pipeline.min_samples)

    def test_keep_alive_does_not_stall(self):
        """One connection, many requests: with the headers and body in separate writes, Nagle
        plus delayed ACKs would cost ~40 ms a request."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.pipeline.api_port, timeout=5)
        _, expected = self.weights("core_model")
        start = time.monotonic()
        for _ in range(100):
            conn.request("GET", "/model-weights/core_model")
            r = conn.getresponse()
            self.assertEqual((r.status, r.getheader("Connection")), (200, "keep-alive"))
            self.assertEqual(json.loads(r.read()), expected)
        conn.close()
        self.assertLess(time.monotonic() - start, 1.0 * SLOWDOWN)

    def test_bare_weights_and_zip_paths_serve_the_core_model(self):
        self.assertEqual(http(f"{self.base}/model-weights")[2], self.weights("core_model")[0])
        self.assertEqual(http(f"{self.base}/models/")[2], http(f"{self.base}/models/core_model")[2])

    # --- Kepler's own requests ---------------------------------------------------------------

    def assert_kepler_matches_trainer(self, answer, requested_names, era):
        """Kepler reads each component with its own metric names and units, and books watts from
        its predictor's output in its own way; those watts must equal the trainer's prediction
        (the contract formula on the canonical weights), under both of Kepler's formulas."""
        for component, doc in answer.items():
            _, canonical_doc = self.weights(doc["model_name"])
            names = set(doc["All_Weights"]["Numerical_Variables"])
            self.assertLessEqual(names, set(requested_names), component)
            self.assertEqual({canonical(n) for n in names},
                             set(canonical_doc["All_Weights"]["Numerical_Variables"]))
            for point in self.points(canonical_doc):
                usage = kepler_usage(point, requested_names, era)
                expected = contract_predict(canonical_doc, point, ARCH)
                for formula in ("0.4", "0.6"):
                    watts = kepler_watts(kepler_predict(doc, usage, ARCH, formula), era, component)
                    self.assertAlmostEqual(watts, expected, delta=1e-9 * abs(expected), msg=(component, formula))

    def test_kepler_04_gets_component_weights_as_pkg_too_and_dram_on_counters(self):
        status, headers, body = self.post_model(kepler_04_request("AbsComponentModelWeight"))
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        # Never the node total; the package also as "pkg", the key 0.4 looks it up by.
        self.assertEqual(set(answer), {"package", "pkg", "core", "uncore", "dram"})
        self.assertEqual(answer["pkg"], answer["package"])
        self.assertIn("cpu_instr", answer["core"]["All_Weights"]["Numerical_Variables"])
        # 0.4 hands its predictor the memory's change, not its level: dram on counters alone.
        self.assertNotIn("resident_memory", self.weights(answer["dram"]["model_name"])[1]["features"])
        self.assert_kepler_matches_trainer(answer, KEPLER_04_METRICS, "0.4")

    def test_kepler_07_gets_component_weights_and_acpi_the_platform_model(self):
        request = kepler_07_request("AbsPower")
        status, _, body = self.post_model(request)
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual(set(answer), {"package", "core", "uncore", "dram"})
        self.assertIn("bpf_cpu_time_ms", answer["core"]["All_Weights"]["Numerical_Variables"])
        # 0.7.12 sends no memory metric: dram comes from a model on counters alone.
        self.assertNotIn("resident_memory", self.weights(answer["dram"]["model_name"])[1]["features"])
        self.assert_kepler_matches_trainer(answer, KEPLER_07_METRICS, "0.7.12")
        # The node total, asked with the acpi source: the platform model alone.
        status, _, body = self.post_model(kepler_07_request("AbsPower", source="acpi"))
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual(set(answer), {"platform"})
        self.assert_kepler_matches_trainer(answer, KEPLER_07_METRICS, "0.7.12")

    def test_kepler_single_model_and_archive(self):
        status, _, body = self.post_model(kepler_04_request("AbsModelWeight"))
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["target"], "platform")  # node total power, never a component
        self.assert_kepler_matches_trainer({"platform": doc}, KEPLER_04_METRICS, "0.4")
        # *Power without "weight": the model's zip, as GET /models/<model> serves it.
        body = dict(kepler_04_request("AbsComponentPower"), model_name="core_model")
        status, headers, data = self.post_model(body)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/zip")
        self.assertEqual(data, http(f"{self.base}/models/core_model")[2])
        # A dynamic archive is the absolute model's zip (docs/contract.md: *Power gets the zip).
        status, headers, data = self.post_model(dict(kepler_04_request("DynPower"), model_name="platform_model"))
        self.assertEqual((status, headers["Content-Type"]), (200, "application/zip"))
        self.assertEqual(data, http(f"{self.base}/models/platform_model")[2])

    def test_kepler_04_dynamic_weights_give_0_w_at_idle_and_the_rest_above(self):
        status, _, body = self.post_model(kepler_04_request("DynComponentModelWeight"))
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        for component in ("core", "dram"):
            doc = answer[component]
            _, absolute = self.weights(doc["model_name"])
            names = list(doc["All_Weights"]["Numerical_Variables"])
            zero = kepler_predict(doc, {n: 0.0 for n in names}, ARCH)
            self.assertEqual(zero, 0.0, f"{component}: idle is 0 W of dynamic power")
            scale = abs(contract_predict(absolute, {}, ARCH))
            idle = contract_predict(absolute, {}, ARCH)
            for p in self.points(absolute)[:2]:
                dyn = kepler_watts(kepler_predict(doc, kepler_usage(p, names, "0.4"), ARCH), "0.4", component)
                self.assertAlmostEqual(dyn, contract_predict(absolute, p, ARCH) - idle, delta=1e-9 * scale)

    def test_kepler_init_url_answers_as_keplers_default_request_would(self):
        """What Kepler 0.7+ loads from NODE_COMPONENTS_INIT_URL: the answer to its default request."""
        status, _, body = http(f"{self.base}/kepler/init/intel_rapl")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), json.loads(self.post_model(kepler_07_request("AbsPower"))[2]))
        status, _, body = http(f"{self.base}/kepler/init/acpi?kepler=0.7.3")
        self.assertEqual(status, 200, body)
        self.assert_kepler_matches_trainer(json.loads(body), KEPLER_07_METRICS, "0.7.3")
        self.assertEqual(http(f"{self.base}/kepler/init/acpi?kepler=0.2")[0], 400)

    # --- metrics -----------------------------------------------------------------------------

    def test_metrics_pass_promtool_and_match_the_weights(self):
        status, headers, body = http(f"{self.base}/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                               timeout=30 * SLOWDOWN)
        self.assertEqual((check.returncode, check.stdout + check.stderr), (0, b""))
        samples = prom_values(body.decode())
        for model in ("core_model", "dram_model"):
            _, doc = self.weights(model)
            w = doc["All_Weights"]
            self.assertEqual(samples[f'kms_model_bias_watts{{model="{model}"}}'], w["Bias_Weight"])
            for f, v in w["Numerical_Variables"].items():
                labels = f'{{model="{model}",feature="{f}"}}'
                self.assertEqual(samples["kms_model_weight" + labels], v["weight"])
                self.assertEqual(samples["kms_model_feature_mean" + labels], v["mean"])
                self.assertEqual(samples["kms_model_feature_variance" + labels], v["variance"])
            for arch, c in w["Categorical_Variables"]["cpu_architecture"].items():
                key = f'kms_model_category_weight{{model="{model}",feature="cpu_architecture",category="{arch}"}}'
                self.assertEqual(samples[key], c["weight"])
            self.assertEqual(samples[f'kms_model_ready{{model="{model}"}}'], 1)
            self.assertGreaterEqual(samples[f'kms_model_samples_total{{model="{model}"}}'], self.pipeline.min_samples)
            for family in ("kms_model_r2", "kms_model_rmse_watts", "kms_model_mae_watts"):
                self.assertIn(f'{family}{{model="{model}",window="all"}}', samples)
            self.assertGreater(samples[f'kms_model_last_update_timestamp_seconds{{model="{model}"}}'],
                               time.time() - 600)
        self.assertEqual(samples["kms_api_trainer_up"], 1)
        self.assertGreater(samples['kms_api_requests_total{route="/model-weights/{model}",code="200"}'], 0)
        self.assertGreater(samples["kms_api_trainer_request_duration_seconds_count"], 0)
        self.assertEqual(samples['kms_api_trainer_request_duration_seconds_bucket{le="+Inf"}'],
                         samples["kms_api_trainer_request_duration_seconds_count"])
        self.assertGreater(samples["kms_trainer_samples_received_total"], 0)


if __name__ == "__main__":
    unittest.main()
