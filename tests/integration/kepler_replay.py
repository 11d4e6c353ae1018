"""Replays a real Kepler capture (a Prometheus query_range dump) step by step, on loopback.

    /metrics          the text exposition of the next step on each request (the first one is
                      served `hold_first` times, the last one stays),
                      rebuilt as Kepler served it: scrape-time labels dropped, exported_instance
                      renamed back to instance, the values' own text kept
    /api/v1/query     the whole dump as a Prometheus API matrix answer (what a range-selector
                      instant query returns), after `empty_answers` empty ones and then
                      `huge_answers` of a gigabyte each (one result over and over, sent without a
                      length until the client hangs up); or, with error=True, a Prometheus error
                      answer. The scraper's query of each node's cpus (a count of
                      kepler_node_cpu_info by node and model) is answered with that count over
                      the dump's last step.

The dump is {metric_name: [{"metric": {labels}, "values": [[ts, "v"], ...]}, ...]}.
Standalone: /usr/bin/python3 kepler_replay.py DUMP.json PORT
"""
import http.server
import json
import sys
import threading
import urllib.parse

# Labels Prometheus adds at scrape time (README of the captures).
SCRAPE_LABELS = {"container", "endpoint", "job", "namespace", "pod", "service", "instance"}


def load_dump(path):
    with open(path) as f:
        return json.load(f)


def steps(dump):
    """The distinct timestamps of the dump, in order."""
    return sorted({ts for results in dump.values() for r in results for ts, _ in r["values"]})


def kepler_labels(metric):
    labels = {}
    for k, v in metric.items():
        if k == "__name__" or k in SCRAPE_LABELS:
            continue
        labels["instance" if k == "exported_instance" else k] = v
    return labels


def _escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(dump, ts):
    """The page Kepler served at `ts`: every series that has a point there."""
    out = []
    for name in sorted(dump):
        lines = []
        for r in dump[name]:
            value = next((v for t, v in r["values"] if t == ts), None)
            if value is None:
                continue
            labels = kepler_labels(r["metric"])
            body = ",".join(f'{k}="{_escape(labels[k])}"' for k in sorted(labels))
            lines.append(f"{name}{{{body}}} {value}")
        if lines:
            out.append(f"# TYPE {name} {'gauge' if name.endswith(('_hertz', '_build_info')) else 'counter'}")
            out.extend(sorted(lines))
    return "\n".join(out) + "\n"


def matrix_answer(dump):
    result = []
    for name, results in dump.items():
        for r in results:
            metric = dict(r["metric"])
            metric["__name__"] = name
            result.append({"metric": metric, "values": r["values"]})
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


CPUS_LABELS = ("instance", "exported_instance", "node_name", "model_name")


def cpus_answer(dump):
    """count by (instance, exported_instance, node_name, model_name) (kepler_node_cpu_info), named
    kepler_node_cpu_info, at the dump's last step: what Prometheus answers the scraper's cpus query."""
    last = max(steps(dump), default=None)
    counts = {}
    for r in dump.get("kepler_node_cpu_info", []):
        if any(t == last for t, _ in r["values"]):
            key = tuple((k, r["metric"][k]) for k in CPUS_LABELS if k in r["metric"])
            counts[key] = counts.get(key, 0) + 1
    result = [{"metric": {"__name__": "kepler_node_cpu_info", **dict(key)}, "value": [last, str(n)]}
              for key, n in counts.items()]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class ReplayServer:
    """Serves the dump on 127.0.0.1:port from a background thread."""

    def __init__(self, dump, port, error=False, empty_answers=0, hold_first=1, huge_answers=0):
        self.dump = dump
        self.steps = steps(dump)
        self.served = 0          # /metrics pages served
        self.hold_first = hold_first  # how many times the first step is served
        self.queries = []        # /api/v1/query request paths of range selectors
        self.cpus_queries = []   # and of the cpus query
        self.error = error
        self.empty_answers = empty_answers  # API answers with no result before the dump
        self.huge_answers = huge_answers    # then API answers of a gigabyte
        self.lock = threading.Lock()
        self._pages = {}
        self._answer = None
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/metrics"):
                    with replay.lock:
                        step = max(0, replay.served - replay.hold_first + 1)
                        ts = replay.steps[min(step, len(replay.steps) - 1)]
                        replay.served += 1
                    self._send(200, "text/plain; version=0.0.4", replay.page(ts))
                elif self.path.startswith("/api/v1/query"):
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("query", [""])[0]
                    cpus = query.startswith("label_replace(count by")
                    with replay.lock:
                        (replay.cpus_queries if cpus else replay.queries).append(self.path)
                    if replay.error:
                        body = {"status": "error", "errorType": "bad_data",
                                "error": "invalid parameter \"query\": replay refuses"}
                        self._send(400, "application/json", json.dumps(body).encode())
                    elif cpus:
                        self._send(200, "application/json", json.dumps(cpus_answer(replay.dump)).encode())
                    elif len(replay.queries) <= replay.empty_answers:
                        body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
                        self._send(200, "application/json", json.dumps(body).encode())
                    elif len(replay.queries) <= replay.empty_answers + replay.huge_answers:
                        self._send_huge(2 ** 30)
                    else:
                        self._send(200, "application/json", replay.answer())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send_huge(self, size):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()  # no length: the answer runs until the connection closes
                result = json.dumps(matrix_answer(replay.dump)["data"]["result"][0]).encode() + b","
                chunk = result * max(1, 65536 // len(result))
                self.wfile.write(b'{"status":"success","data":{"resultType":"matrix","result":[')
                try:
                    for _ in range(size // len(chunk)):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _send(self, status, ctype, body):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client gone mid-answer (the scraper stopping) is no news

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # Pages and answers are made once: rendering them in Python at every request would make the
    # server, not the scraper, the slow part of a test.
    def page(self, ts):
        key = (id(self.dump), ts)
        if key not in self._pages:
            self._pages[key] = exposition(self.dump, ts).encode()
        return self._pages[key]

    def answer(self):
        if self._answer is None or self._answer[0] is not self.dump:
            self._answer = (self.dump, json.dumps(matrix_answer(self.dump)).encode())
        return self._answer[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    server = ReplayServer(load_dump(sys.argv[1]), int(sys.argv[2])).start()
    print(f"replaying {len(server.steps)} steps on http://127.0.0.1:{sys.argv[2]}/metrics", flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()
