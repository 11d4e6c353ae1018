"""kms-api against hostile clients on loopback: bodies nested to crash the JSON parser, requests
framed two ways to smuggle a second one, slowloris and slow POST bodies to starve the workers,
one address taking every connection (docs/reliability.md, "Hostile clients").

The trainer is the stand-in of test_api_faults (test_api_support.FakeTrainer). Attackers come
from other loopback addresses (127.0.0.2 and up) than the client that must still be served, and
are held for seconds, not minutes."""
import json
import re
import socket
import time

from kmstest import SLOWDOWN, ProcessTestCase, http
from test_api_support import FakeTrainer, kepler_07_request, start_api, status_of

TIMEOUT_MS = 300


def post_raw(port, body, headers=b""):
    return (b"POST /model HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" + headers
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def exchange(port, data, timeout=3.0):
    """Sends data on one connection; returns everything the server sent until it closed, and
    whether it closed (rather than leaving the connection open until the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOWDOWN) as s:
        s.sendall(data)
        received = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return received, True
                received += chunk
        except socket.timeout:
            return received, False
        except ConnectionResetError:
            return received, True


class Attackers:
    """Slow clients from 127.0.0.2-127.0.0.11, all driven from one thread: slowloris (a
    request line, then a header line every second, never the blank line) and slow POSTs
    (whole headers announcing 60,000 bytes, then one byte every 2 s). A connection the server
    closes is opened again at once, as an attacker would."""

    ADDRESSES = 10

    def __init__(self, port, slowloris, slow_posts):
        self.port = port
        self.kinds = ["loris"] * slowloris + ["post"] * slow_posts
        self.socks = [None] * len(self.kinds)
        self.last = [0.0] * len(self.kinds)
        self.reconnects = 0
        for i in range(len(self.kinds)):
            self._open(i)

    def _open(self, i):
        s = socket.socket()
        s.setblocking(False)
        s.bind((f"127.0.0.{2 + i % self.ADDRESSES}", 0))
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        self.socks[i] = s
        self.last[i] = 0.0

    def _first(self, i):
        if self.kinds[i] == "loris":
            return b"GET /model-weights/core_model HTTP/1.1\r\nHost: x\r\n"
        return b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n"

    def tick(self):
        """Sends what is due; reopens what the server closed."""
        now = time.monotonic()
        for i, s in enumerate(self.socks):
            period = 1.0 if self.kinds[i] == "loris" else 2.0
            if now - self.last[i] < period:
                continue
            try:
                if s.recv(4096, socket.MSG_DONTWAIT) == b"":
                    raise ConnectionResetError
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                s.close()
                self.reconnects += 1
                self._open(i)
                continue
            try:
                s.send(self._first(i) if self.last[i] == 0.0 else (b"X-Slow: 1\r\n" if self.kinds[i] == "loris" else b" "))
                self.last[i] = now
            except (BlockingIOError, InterruptedError):
                pass  # not connected yet
            except OSError:
                s.close()
                self.reconnects += 1
                self._open(i)

    def close(self):
        for s in self.socks:
            s.close()


class HostileClients(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.trainer = FakeTrainer()

    def tearDown(self):
        self.trainer.stop()
        super().tearDown()

    def api(self, *extra):
        api, base = start_api(self, self.trainer.endpoint, TIMEOUT_MS, extra=extra)
        return api, base, int(base.rsplit(":", 1)[1])

    def test_deep_and_wide_bodies_never_crash_it(self):
        # 900 nested arrays (1.8 KB) once took a civetweb worker's 100 KB stack inside jansson.
        api, base, port = self.api()
        bodies = []
        for depth in (33, 850, 900, 1000, 10000):
            bodies.append(b"[" * depth + b"]" * depth)
            bodies.append(b'{"a":' * depth + b"1" + b"}" * depth)
            bodies.append(b"[" * depth)  # never closed
        bodies.append(b"[" * 65000)
        bodies.append(b'{"metrics":' + b"[" * 5000 + b'"cpu_cycles"' + b"]" * 5000 + b"}")
        for body in bodies:
            answer, _ = exchange(port, post_raw(port, body))
            self.assertEqual(status_of(answer), 400, body[:20])
            self.assertIn(b"nested deeper than 32 levels", answer, body[:20])
            self.assertTrue(api.alive(), f"kms-api died on {body[:20]!r}")
        # Brackets inside strings are text, and 32 levels are still a document (not Kepler's).
        status, _, data = http(base + "/model", method="POST", body=b'["' + b"[" * 5000 + b'"]')
        self.assertEqual(status, 400)
        self.assertIn(b"JSON object", data)
        status, _, data = http(base + "/model", method="POST", body=b"[" * 32 + b"]" * 32)
        self.assertEqual(status, 400)
        self.assertNotIn(b"nested", data)
        # Wide: 64 KB of one flat array, or of keys, is parsed and refused for what it says.
        for body in (b'{"metrics":[' + b",".join([b'"m"'] * 16000) + b'],"output_type":"AbsPower"}',
                     b"{" + b",".join(b'"k%d":1' % i for i in range(6000)) + b"}"):
            self.assertLess(len(body), 65536)
            status, _, data = http(base + "/model", method="POST", body=body)
            self.assertEqual(status, 400, data[:200])
        body = json.dumps(kepler_07_request()).encode()
        self.assertEqual(http(base + "/model", method="POST", body=body)[0], 200)

    # Each is answered once, with a 400, and the connection closed: whatever follows is never
    # read as a second request (the smuggled GET /healthz would be a 200).
    AMBIGUOUS = [
        b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /model HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        b"POST /model HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET http://evil.example/healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    ]

    def test_ambiguous_framing_is_refused_and_closed(self):
        api, base, port = self.api()
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        for raw in self.AMBIGUOUS:
            answer, closed = exchange(port, raw + smuggled)
            self.assertEqual(status_of(answer), 400, raw[:60])
            self.assertEqual(answer.count(b"HTTP/1.1 "), 1, f"{raw[:60]!r} -> {answer!r}")
            self.assertIn(b"Connection: close", answer)
            self.assertTrue(closed, f"{raw[:60]!r}: the connection stayed open")
        # The unambiguous forms still work, and keep the connection for the next request.
        chunked = b"POST /model HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        answer, _ = exchange(port, chunked + smuggled + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(answer.count(b"HTTP/1.1 "), 3, answer)
        self.assertEqual(http(base + "/healthz")[0], 200)
        metrics = http(base + "/metrics")[2].decode()
        count = re.search(r'kms_api_requests_total\{route="other",code="400"\} (\d+)', metrics)
        self.assertGreaterEqual(int(count.group(1)), len(self.AMBIGUOUS))

    def assert_served_promptly(self, base, attackers, seconds):
        """Polls the weights for `seconds` while the attackers keep at it; every answer must be
        a 200 within 1 s."""
        times = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            attackers.tick()
            start = time.monotonic()
            status = http(base + "/model-weights/core_model", timeout=5)[0]
            times.append((status, time.monotonic() - start))
            attackers.tick()
            time.sleep(0.2)
        slow = [(s, round(t, 2)) for s, t in times if s != 200 or t > 1.0 * SLOWDOWN]
        self.assertFalse(slow, f"{len(slow)} of {len(times)} polls failed or took over 1 s: {slow}")
        return times

    def test_slow_clients_do_not_starve_the_rest(self):
        # The defaults: 200 slowloris and 80 slow POSTs held open (reconnecting when cut) while
        # a client polls; it is answered within 1 s every time.
        api, base, port = self.api()
        attackers = Attackers(port, slowloris=200, slow_posts=80)
        try:
            end = time.monotonic() + 1.5
            while time.monotonic() < end:  # every attacker connected and holding a worker
                attackers.tick()
                time.sleep(0.05)
            times = self.assert_served_promptly(base, attackers, 7.0)
            self.assertGreater(len(times), 15)
        finally:
            attackers.close()
        # The slowloris and the bodies were cut at their deadline (5 s) and came back.
        self.assertGreater(attackers.reconnects, 200)
        metrics = http(base + "/metrics")[2].decode()
        cut = re.search(r'kms_api_connections_cut_total\{reason="slow_body"\} (\d+)', metrics)
        self.assertGreaterEqual(int(cut.group(1)), 80)

    def test_a_body_must_arrive_within_its_deadline(self):
        api, base, port = self.api("--request-timeout", "1000")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
            start = time.monotonic()
            received = b""
            while True:
                try:
                    s.send(b" ")
                    chunk = s.recv(4096, socket.MSG_DONTWAIT)
                    if chunk == b"":
                        break
                    received += chunk
                except BlockingIOError:
                    pass
                except OSError:
                    break
                self.assertLess(time.monotonic() - start, 5 * SLOWDOWN, "the trickled body was never cut")
                time.sleep(0.2)
        self.assertLess(time.monotonic() - start, 1.5 * SLOWDOWN)
        self.assertTrue(received == b"" or status_of(received) == 408, received)
        self.assertEqual(http(base + "/healthz")[0], 200)

    def test_connections_per_address_are_bounded(self):
        api, base, port = self.api("--max-connections-per-client", "4")

        def connect(address, request=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", port), timeout=3 * SLOWDOWN, source_address=(address, 0))
            s.sendall(request)
            return s, s.recv(4096)

        held = [connect("127.0.0.2") for _ in range(4)]
        try:
            self.assertEqual([status_of(answer) for _, answer in held], [200] * 4)
            self.assertTrue(all(b"Connection: keep-alive" in answer for _, answer in held))
            # A fifth from that address is answered once, then closed: it holds no worker.
            extra, answer = connect("127.0.0.2")
            self.assertEqual(status_of(answer), 200, answer)
            self.assertIn(b"Connection: close", answer)
            self.assertEqual(extra.recv(4096), b"")
            extra.close()
            # A body on such a connection is refused before it is read.
            body = json.dumps(kepler_07_request()).encode()
            extra, answer = connect("127.0.0.2", b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                                    % len(body))
            self.assertEqual(status_of(answer), 503, answer)
            self.assertIn(b"too many connections", answer)
            extra.close()
            other, answer = connect("127.0.0.3")
            self.assertIn(b"Connection: keep-alive", answer)
            other.close()
            # A connection that ends gives its place back.
            held.pop()[0].close()
            kept = None
            for _ in range(50):
                s, answer = connect("127.0.0.2")
                s.close()
                if b"Connection: keep-alive" in answer:
                    kept = answer
                    break
                time.sleep(0.05)
            self.assertIsNotNone(kept)
        finally:
            for s, _ in held:
                s.close()
        metrics = http(base + "/metrics")[2].decode()
        refused = re.search(r'kms_api_connections_cut_total\{reason="per_client"\} (\d+)', metrics)
        self.assertGreaterEqual(int(refused.group(1)), 2)
