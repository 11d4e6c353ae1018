"""kms-trainer against hostile peers and a hostile data dir (docs/reliability.md, "Hostile
clients"): thousands of idle connections on its bound sockets, oversized requests, symlinks and
FIFOs planted among its checkpoints, a checkpoint that cannot be set aside, samples from the
future."""
import os
import socket
import time

import zmq

from kmstest import SLOWDOWN, ProcessTestCase, free_port, wait_for
from test_trainer import ask


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class IdleConnections(ProcessTestCase):
    RAW = 3000
    DEALERS = 1000
    ROUNDS = 3

    def test_thousands_of_idle_connections_cost_a_bounded_amount_and_are_released(self):
        samples, control = free_port(), free_port()
        trainer = self.start("kms-trainer", "--samples", f"@tcp://127.0.0.1:{samples}",
                             "--control", f"@tcp://127.0.0.1:{control}", "--data-dir", os.path.join(self.tmp, "d"))
        endpoint = f"tcp://127.0.0.1:{control}"
        wait_for(lambda: ask(endpoint, "PING", timeout=0.5)[0] == "200", what="trainer answers PING")
        pid = trainer.proc.pid
        start_rss, start_fds = rss_mb(pid), open_fds(pid)
        ctx = zmq.Context()
        ctx.max_sockets = self.DEALERS + 100
        self.addCleanup(ctx.term)
        for round_ in range(self.ROUNDS):
            raws = []
            for i in range(self.RAW):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", samples if i % 2 else control))
                except BlockingIOError:
                    pass
                raws.append(s)
            dealers = []
            for _ in range(self.DEALERS):
                d = ctx.socket(zmq.DEALER)
                d.linger = 0
                d.connect(endpoint)
                dealers.append(d)
            try:
                # Served meanwhile; the raw connections, which never greet, are closed by the
                # trainer within its 2 s handshake interval while the peers stay.
                # (The one I/O thread accepts 4,000 connections first: about a second on 2 cores.)
                start = time.monotonic()
                self.assertEqual(ask(endpoint, "PING", timeout=3 * SLOWDOWN)[0], "200")
                self.assertLess(time.monotonic() - start, 2.0 * SLOWDOWN)
                wait_for(lambda: open_fds(pid) < start_fds + self.DEALERS + 50, timeout=6,
                         what="the raw connections closed by the trainer")
                held = rss_mb(pid)
                # About 36 kB per ZeroMQ peer (services/trainer/README.md, "Sockets").
                self.assertLess(held - start_rss, self.DEALERS * 60 / 1024, f"round {round_}: {held:.1f} MB held")
            finally:
                for s in raws:
                    s.close()
                for d in dealers:
                    d.close()
            wait_for(lambda: open_fds(pid) <= start_fds + 2, timeout=10, what="every connection released")
            # The memory goes back too (glibc kept it for good: 11 -> 94.5 MB over five rounds).
            wait_for(lambda: rss_mb(pid) < start_rss + 4, timeout=15,
                     what=f"round {round_}: resident memory back near {start_rss:.1f} MB")
        self.assertEqual(ask(endpoint, "PING")[0], "200")

    def test_oversized_requests_disconnect_their_sender(self):
        control = free_port()
        trainer = self.start("kms-trainer", "--samples", f">tcp://127.0.0.1:{free_port()}",
                             "--control", f"@tcp://127.0.0.1:{control}", "--data-dir", os.path.join(self.tmp, "d"))
        endpoint = f"tcp://127.0.0.1:{control}"
        wait_for(lambda: ask(endpoint, "PING", timeout=0.5)[0] == "200", what="trainer answers PING")
        self.assertEqual(ask(endpoint, "X" * 60_000)[0], "400")  # under the cap: a request, refused
        ctx = zmq.Context.instance()
        peers = []
        for _ in range(20):  # each announces 16 MB: 320 MB had the trainer buffered them
            d = ctx.socket(zmq.DEALER)
            d.linger = 0
            d.connect(endpoint)
            d.send_multipart([b"", b"X" * (16 << 20)], copy=False)
            peers.append(d)
        try:
            time.sleep(1)
            self.assertEqual(ask(endpoint, "PING")[0], "200")
            self.assertLess(rss_mb(trainer.proc.pid), 40)
            for d in peers:
                self.assertEqual(d.poll(100), 0)  # never answered
        finally:
            for d in peers:
                d.close()
