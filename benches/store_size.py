#!/usr/bin/env python3
"""What the state store costs the disk in steady state.

`camwatch run` against N devices on loopback: most are cameras pinged over TCP to a closed port
(refused is up: a real answer every run, with a round trip that jitters), 1 % are storage
devices whose watched mount point is missing (failed, with an incident each). After a warm-up
(every check's first result, the incidents and their transitions), over the measured window:
- bytes handed to the disk per check run (`/proc/PID/io` `write_bytes`, and `wchar`, what the
  process wrote through write calls), and write calls per second;
- check runs, from `camwatch_check_start_delay_seconds_count` on /metrics (every run started);
- rows written to `results` per check run, and the bytes a row takes in the file;
- the store's growth per device per day, and the projection for 1,000 devices at the default
  60 s interval: the results kept (`results_keep`, 7 days, a steady check writing one row per
  `results_sample`) plus a year of transitions.

benches/store_size.py [--devices N] [--interval S] [--seconds S] [--binary PATH]
Needs a build of camwatch (default target/release/camwatch; cargo build --release).
"""

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = 86_400


def config(folder, devices, interval, sample):
    listen = free_port()
    failing = max(1, devices // 100)
    parts = [
        f"""[agent]
listen = "127.0.0.1:{listen}"
data_dir = "{folder}/data"
max_in_flight = 256
{f'results_sample = "{sample}"' if sample else ''}
[procedures]
handover = []
inventory = "off"
[policy.default]
interval = "{interval}s"
timeout = "2s"
"""
    ]
    closed = free_port()
    for i in range(devices - failing):
        parts.append(f'[[device]]\nname = "cam-{i}"\nkind = "camera"\naddress = "127.0.0.1"\nping = "tcp:{closed}"\n')
    for i in range(failing):
        parts.append(
            f'[[device]]\nname = "disk-{i}"\nkind = "storage"\nping = "off"\n'
            f'[device.filesystem]\nmountpoints = ["/camwatch-bench-missing-{i}"]\n'
        )
    path = os.path.join(folder, "camwatch.toml")
    with open(path, "w") as f:
        f.write("".join(parts))
    return path, listen


def io(pid):
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f)}


def check_runs(listen):
    text = urllib.request.urlopen(f"http://127.0.0.1:{listen}/metrics", timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("camwatch_check_start_delay_seconds_count")
    )


def wait_ready(listen, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{listen}/-/ready", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("camwatch did not become ready")


def store(folder):
    db = os.path.join(folder, "data", "camwatch.sqlite")
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    transitions = conn.execute("SELECT COUNT(*) FROM transitions").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    return rows, transitions, pages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=15)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--sample", default="", help="results_sample (default: camwatch's own)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/camwatch"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path, listen = config(folder, a.devices, a.interval, a.sample)
        proc = subprocess.Popen([a.binary, "run", "-c", path, "--log-level", "warn"], stdout=subprocess.DEVNULL)
        try:
            wait_ready(listen)
            # Warm-up: two rounds, so every check has its first row, state and incident.
            time.sleep(2 * a.interval)
            io0, runs0, (rows0, tr0, size0), t0 = io(proc.pid), check_runs(listen), store(folder), time.monotonic()
            time.sleep(a.seconds)
            io1, runs1, (rows1, tr1, size1), t1 = io(proc.pid), check_runs(listen), store(folder), time.monotonic()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        elapsed = t1 - t0
        runs = runs1 - runs0
        written = io1["write_bytes"] - io0["write_bytes"]
        wchar = io1["wchar"] - io0["wchar"]
        bytes_per_row = size1 / max(rows1 + tr1, 1)
        print(f"{a.devices} devices every {a.interval:g} s, {elapsed:.0f} s measured after a warm-up of two rounds")
        print(f"check runs: {runs:.0f} ({runs / elapsed:.1f}/s)")
        print(f"disk writes (write_bytes): {written / max(runs, 1):.0f} bytes per check run")
        print(f"written through write calls (wchar): {wchar / max(runs, 1):.0f} bytes per check run")
        print(f"write calls: {(io1['syscw'] - io0['syscw']) / elapsed:.1f}/s")
        print(f"results rows: {(rows1 - rows0) / max(runs, 1):.3f} per check run; transitions: {tr1 - tr0}")
        print(f"store: {size1 / 2**20:.1f} MiB, about {bytes_per_row:.0f} bytes per row")
        growth = (size1 - size0) / a.devices / elapsed * DAY
        print(f"growth in the window: {growth / 1024:.1f} KiB per device per day")
        # Steady checks write one row per sample interval; what else the window wrote is added
        # at the rate it was written, scaled to the default 60 s interval.
        sample_s = {"": 3600}.get(a.sample)
        if sample_s is None:
            sample_s = float(a.sample.rstrip("s"))
        steady_rows_day = DAY / sample_s if sample_s else DAY / 60
        extra_rows_day = max(0.0, (rows1 - rows0) / a.devices / elapsed * DAY * a.interval / 60 - steady_rows_day)
        per_device_day = (steady_rows_day + extra_rows_day) * bytes_per_row
        transitions_day = (tr1 - tr0) / a.devices / elapsed * DAY * a.interval / 60
        year = 1000 * per_device_day * 7 + 1000 * 365 * transitions_day * bytes_per_row
        print(f"projection at 60 s: {per_device_day / 1024:.1f} KiB per device per day of results, "
              f"{year / 2**20:.0f} MiB for 1,000 devices (7 days of results, a year of transitions)")


if __name__ == "__main__":
    main()
