"""What scripts/bench's Python sections share: a free loopback port, and a process's cpu time
and peak resident memory as /proc gives them."""
import os
import socket

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system time of `pid`, to the clock tick."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def peak_rss_kb(pid):
    """VmHWM of `pid`: its peak resident memory, kB."""
    with open(f"/proc/{pid}/status") as f:
        return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
