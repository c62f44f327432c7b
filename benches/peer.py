"""What the benchmarks need to measure a peer process by its PID: free ports, loopback targets, CPU
time and peak memory as the kernel accounts them (/proc), so every benchmark measures the same way."""

import os
import socket

TICKS = os.sysconf("SC_CLK_TCK")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_addresses(n):
    """`n` distinct addresses, 127.0.1.1 upwards: every 127/8 address answers on loopback, nothing
    leaves the machine, and no root is needed to reach them."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


def proc_cpu(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_peak_rss(pid):
    """The process's peak resident memory (VmHWM), bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def start_server(argv, ready_url, name, limit=20):
    """Starts a peer server and waits (bounded) until `ready_url` answers; exits with a message
    if it does not."""
    import subprocess
    import sys
    import time
    import urllib.request

    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    while True:
        try:
            urllib.request.urlopen(ready_url, timeout=1).read()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                sys.exit(f"{name} did not start")
            time.sleep(0.1)
