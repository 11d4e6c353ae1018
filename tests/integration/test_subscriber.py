"""The contract's Python subscriber (docs/contract.md), run as written (only its endpoint changed),
against the real kms-scraper scraping kepler-sim: it must receive and decode samples carrying every
key the contract requires."""
import json
import os
import re
import subprocess
import unittest

from kmstest import SLOWDOWN, SOURCE_DIR, ProcessTestCase, http, wait_for

REQUIRED = {"v": int, "seq": int, "ts": float, "dt": float, "node": str, "arch": str,
            "features": dict, "targets": dict}
CONTAINER = {"container_id": str, "pod": str, "namespace": str, "container": str}
TARGETS = {"package", "core", "uncore", "dram", "platform", "other", "gpu"}
WANTED = 40

# Replaces print() in the snippet: each call writes the sample the snippet just decoded as one
# JSON line, and the run ends after WANTED of them.
HARNESS = """
import json as _json, sys as _sys
_count = 0
def print(*args, **kwargs):
    global _count
    _g = _sys._getframe(1).f_globals
    _sys.stdout.write(_json.dumps({"topic": _g["topic"].decode(), "sample": _g["sample"]}) + "\\n")
    _sys.stdout.flush()
    _count += 1
    if _count >= %d:
        _sys.exit(0)
"""


def contract_snippet():
    with open(os.path.join(SOURCE_DIR, "docs", "contract.md")) as f:
        text = f.read()
    section = text.split("## Subscribing from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in docs/contract.md's 'Subscribing from Python' section"
    return match.group(1)


class TestContractSubscriber(ProcessTestCase):
    def test_contract_snippet_decodes_every_required_key(self):
        snippet = contract_snippet()
        self.assertIn('"tcp://127.0.0.1:5555"', snippet)
        sim = self.start("kepler-sim", "--port", 0, "--listen", "127.0.0.1", "--format", "0.7",
                         "--containers", "5")
        sim_port = sim.logged_port()
        wait_for(lambda: http(f"http://127.0.0.1:{sim_port}/metrics")[0] == 200, what="kepler-sim up")
        scraper = self.start("kms-scraper", "--kepler-url", f"http://127.0.0.1:{sim_port}/metrics", "--interval",
                             "0.2", "--publish", "@tcp://127.0.0.1:*")
        pub_port = scraper.logged_port("samples")
        code = HARNESS % WANTED + snippet.replace("tcp://127.0.0.1:5555", f"tcp://127.0.0.1:{pub_port}")
        run = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                             timeout=30 * SLOWDOWN)
        self.assertEqual(run.returncode, 0, run.stderr)
        got = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual(len(got), WANTED)
        topics = {g["topic"] for g in got}
        self.assertEqual(topics, {"kepler.node", "kepler.container"})
        for g in got:
            s = g["sample"]
            for key, kind in REQUIRED.items():
                self.assertIsInstance(s[key], kind, (key, s))
            self.assertEqual(s["v"], 1)
            self.assertGreater(s["dt"], 0)
            self.assertEqual(s["node"], "kepler-sim-node")
            self.assertEqual(s["arch"], "Sapphire Rapids")
            # Everything Kepler 0.7 exports that a model can use (docs/contract.md, "Samples").
            self.assertEqual(set(s["features"]),
                             {"cpu_cycles", "cpu_instructions", "cache_misses", "cpu_time", "resident_memory",
                              "page_cache_hits", "irq_block", "irq_net_rx", "irq_net_tx"})
            self.assertTrue(set(s["targets"]) and set(s["targets"]) <= TARGETS, s["targets"])
            for v in list(s["features"].values()) + list(s["targets"].values()):
                self.assertIsInstance(v, float)
                self.assertGreaterEqual(v, 0)
            if g["topic"] == "kepler.container":
                for key, kind in CONTAINER.items():
                    self.assertIsInstance(s[key], kind, (key, s))
                self.assertTrue(s["container_id"])
        seqs = [g["sample"]["seq"] for g in got]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "a fast subscriber sees no gap")


if __name__ == "__main__":
    unittest.main()
