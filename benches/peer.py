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


def proc_field(pid, table, name, unit=1):
    """One `name: value` line of /proc/PID/`table` (status, io), times `unit`; 0 when absent."""
    with open(f"/proc/{pid}/{table}") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * unit
    return 0


def proc_peak_rss(pid):
    """The process's peak resident memory (VmHWM), bytes."""
    return proc_field(pid, "status", "VmHWM", 1024)


def proc_rss(pid):
    """The process's resident memory now (VmRSS), bytes."""
    return proc_field(pid, "status", "VmRSS", 1024)


def proc_written(pid):
    """Bytes the process caused to be written to storage (write_bytes: counted as it dirties
    pages, whether or not they have reached the disk yet)."""
    return proc_field(pid, "io", "write_bytes")


def drive_server(pid, ask, targets, in_flight):
    """(CPU seconds of server `pid`, wall seconds, how many `ask(target)` were true) while a pool
    of `in_flight` client threads asks it about every target: the server's cost only, not the
    client's."""
    import concurrent.futures
    import time

    cpu_before = proc_cpu(pid)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
        answered = sum(pool.map(ask, targets))
    wall = time.monotonic() - started
    return proc_cpu(pid) - cpu_before, wall, answered


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
