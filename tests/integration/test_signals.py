"""Stray signals: SIGHUP (a closed terminal) and SIGUSR1 / SIGUSR2 (a tool's habit) kill none of
the services; each goes on working and still stops cleanly on SIGTERM, the trainer with its
checkpoint."""
import os
import signal
import time

from kmstest import Pipeline, ProcessTestCase, wait_for

STRAY = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class TestStraySignals(ProcessTestCase):
    def test_every_service_survives_them_and_stops_on_sigterm(self):
        pipeline = Pipeline(self, sim=("--containers", 4, "--seed", 5))
        pipeline.wait_ready(("core_model",), timeout=60)
        meter = self.start("kms-meter", "--api", pipeline.base, "--out", os.path.join(self.tmp, "tree"),
                           "--interval", "0.1", "--metrics-port", "off")
        tail = self.start("kms-tail", "--endpoint", f">tcp://127.0.0.1:{pipeline.samples_port}")
        wait_for(lambda: "msg=machine" in meter.output(), what="kms-meter up")
        wait_for(lambda: '"seq"' in tail.output(), what="kms-tail printing samples")
        services = (pipeline.scraper, pipeline.trainer, pipeline.api, meter, tail)
        for sig in STRAY:
            for p in services:
                p.proc.send_signal(sig)
        time.sleep(0.5)  # that nothing dies cannot be awaited: half a second for a death to show
        for p in services:
            self.assertIsNone(p.proc.poll(), f"{p.name} died of a stray signal:\n{p.output()[-2000:]}")
        checkpoint = os.path.join(pipeline.data_dir, "core_model.zip")
        before = os.path.getmtime(checkpoint) if os.path.exists(checkpoint) else 0
        for p in reversed(services):
            self.assertEqual(p.stop(), 0, p.output()[-2000:])
        # The trainer's checkpoint at exit.
        self.assertGreater(os.path.getmtime(checkpoint), before)
        self.assertIn("final_checkpoint=ok", pipeline.trainer.output())
