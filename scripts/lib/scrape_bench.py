"""scripts/bench's 'scrape' section: one full kms-scraper cycle (fetch over loopback, parse,
convert, encode, publish to a live subscriber) on a 250-container Kepler 0.7 page.

    /usr/bin/python3 scripts/lib/scrape_bench.py BIN_DIR PAGE_FILE SECONDS

The page (kepler-sim --dump) is served from memory by a minimal keep-alive HTTP/1.1 server, so
that the fetch measures the scraper's side of the loopback and not a page renderer. kms-scraper runs at
a 50 ms interval and reports its own timings on --metrics-port; a SUB socket drains every
sample. Prints one key=value line.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import zmq

from procstat import free_port


def serve(page):
    """A minimal keep-alive HTTP/1.1 server of one page, on raw sockets: http.server's header
    parsing would cost more than the scraper's whole cycle."""
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            f"Content-Length: {len(page)}\r\n\r\n").encode()
    answer = head + page
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def client(conn):
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    try:
                        conn.sendall(answer)
                    except OSError:
                        return

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=client, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener


def metrics(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key.split("{")[0]] = values.get(key.split("{")[0], 0.0) + float(value)
    return values


def main():
    bin_dir, page_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(page_file, "rb") as f:
        page = f.read()
    httpd = serve(page)
    pub, mport = free_port(), free_port()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(f"tcp://127.0.0.1:{pub}")
    scraper = subprocess.Popen([os.path.join(bin_dir, "kms-scraper"), "--kepler-url",
                                f"http://127.0.0.1:{httpd.getsockname()[1]}/metrics", "--interval", "0.05",
                                "--publish", f"@tcp://127.0.0.1:{pub}", "--metrics-port", str(mport),
                                "--stats-interval", "0"], stderr=subprocess.DEVNULL)
    received = 0
    try:
        deadline = time.monotonic() + seconds + 0.5
        while time.monotonic() < deadline:
            if sub.poll(50):
                while True:
                    try:
                        sub.recv_multipart(zmq.NOBLOCK)
                        received += 1
                    except zmq.Again:
                        break
        m = metrics(mport)
    finally:
        scraper.send_signal(signal.SIGTERM)
        scraper.wait(timeout=10)
        httpd.close()
        sub.close(0)
        ctx.term()
    cycles = m["kms_scraper_cycle_duration_seconds_count"]
    cycle_ms = m["kms_scraper_cycle_duration_seconds_sum"] / cycles * 1000
    fetch_ms = m["kms_scraper_scrape_duration_seconds_sum"] / m["kms_scraper_scrape_duration_seconds_count"] * 1000
    published = m["kms_scraper_samples_published_total"]
    print(f"cycles={cycles:.0f} cycle_ms={cycle_ms:.3f} fetch_ms={fetch_ms:.3f} "
          f"convert_publish_ms={cycle_ms - fetch_ms:.3f} page_bytes={len(page)} "
          f"samples_per_cycle={published / max(cycles - 1, 1):.0f} received={received}")


if __name__ == "__main__":
    main()
