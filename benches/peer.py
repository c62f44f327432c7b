"""What the benchmarks need to measure a peer process by its PID: free ports, CPU time and peak
memory as the kernel accounts them (/proc), so every benchmark measures the same way."""

import os
import socket

TICKS = os.sysconf("SC_CLK_TCK")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_field(path, key):
    """The number after `key:` in a /proc file of `key: number [unit]` lines (0 when absent)."""
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_peak_rss(pid):
    """The process's peak resident memory (VmHWM), bytes."""
    return proc_field(f"/proc/{pid}/status", "VmHWM") * 1024


def proc_rss(pid):
    """The process's resident memory now (VmRSS), bytes."""
    return proc_field(f"/proc/{pid}/status", "VmRSS") * 1024


def proc_written(pid):
    """Bytes the process has handed to write calls (wchar): files, pipes and sockets written with write()."""
    return proc_field(f"/proc/{pid}/io", "wchar")


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
