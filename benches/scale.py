#!/usr/bin/env python3
"""How camwatch's cost grows with the fleet: 100, 1,000 and 5,000 devices, `once` and `run`.

Every device is a camera at its own loopback address (127.0.1.1 upwards, the addresses
benches/ping_vs_blackbox.py pings: no root needed, nothing leaves the machine) with one check, ping (one ICMP echo; camwatch falls back to TCP by itself where it may
not open ICMP sockets), 64 in flight.

- `once`: one cycle over every device, the whole process (start-up and config parsing included):
  wall time and CPU seconds (user + system, the kernel's accounting of children) per device.
- `run`: the daemon polling every device every `--interval` seconds, with its state store on disk.
  After a warm-up (every device checked once, then one more interval) a window of `--window`
  seconds is measured: CPU from /proc/PID/stat, bytes the process sent to storage from
  /proc/PID/io (`write_bytes`), resident memory at the window's end from /proc/PID/status
  (VmRSS), and the check runs done from the agent's own counter
  (`camwatch_check_start_delay_seconds_count{class="cheap"}`), so "per check" divides by the
  checks actually run, not the ones planned. The metrics are scraped just before the window's
  /proc figures are taken and just after, so the scrape's own cost stays outside the window.

Sizes alternate within each round (after a throw-away warm-up round of `once` at each size), so
machine noise hits every size; medians are shown. The last line is the cost per device (or per
check) at the largest size divided by that at the smallest: 1.00 is flat.

Usage: benches/scale.py [--sizes 100,1000,5000] [--rounds 5] [--run-rounds 2]
                        [--interval 1] [--window 20] [--binary target/release/camwatch]
"""

import argparse
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from peer import free_port, loopback_addresses, proc_cpu, proc_rss, proc_written

CONCURRENCY = 64  # as benches/ping_vs_blackbox.py

CHECKS_RUN = re.compile(r'^camwatch_check_start_delay_seconds_count\{class="cheap"\} (\d+)', re.M)


def write_config(path, size, interval, listen=None, data_dir=None):
    with open(path, "w") as f:
        f.write(f"[agent]\nmax_in_flight = {CONCURRENCY}\n")
        if listen:
            f.write(f'listen = "127.0.0.1:{listen}"\ndata_dir = "{data_dir}"\n')
            f.write('[procedures]\nhandover = []\ninventory = "off"\n')
        f.write(f'[policy.default]\ninterval = "{interval}s"\ntimeout = "{min(interval, 2)}s"\nping_count = 1\n')
        for i, address in enumerate(loopback_addresses(size)):
            f.write(f'[[device]]\nname = "cam-{i}"\nkind = "camera"\naddress = "{address}"\n')


def once_round(binary, config, size):
    """(cpu seconds, wall seconds) of one `camwatch once` over `size` devices, all of them ok."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([binary, "once", "--json", "-c", config], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ok = proc.stdout.count(b'"status":"ok"')
    if proc.returncode != 0 or ok != size:
        sys.exit(f"camwatch once over {size} devices: exit {proc.returncode}, {ok} ok\n{proc.stderr.decode()[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def checks_run(listen):
    body = urllib.request.urlopen(f"http://127.0.0.1:{listen}/metrics", timeout=30).read().decode()
    found = CHECKS_RUN.search(body)
    return int(found.group(1)) if found else 0


def wait_until(condition, what, limit):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"gave up waiting: {what}")
        time.sleep(0.2)


def run_window(binary, workdir, size, interval, window):
    """(cpu seconds per check, RSS bytes, storage bytes per check, checks per second) of `camwatch
    run` over `size` devices, measured over `window` seconds after a warm-up."""
    listen = free_port()
    config = os.path.join(workdir, f"run-{size}.toml")
    data_dir = tempfile.mkdtemp(dir=workdir, prefix=f"data-{size}-")
    write_config(config, size, interval, listen, data_dir)
    proc = subprocess.Popen([binary, "run", "-c", config, "--log-level", "warn"], stdout=subprocess.DEVNULL)
    try:
        def listening():
            if proc.poll() is not None:
                sys.exit(f"camwatch run over {size} devices exited ({proc.returncode})")
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(listening, f"camwatch run over {size} devices to listen", 60)
        wait_until(lambda: checks_run(listen) >= size, f"every one of {size} devices checked once", 120)
        time.sleep(interval)  # one more poll: first runs and the store's first writes behind us

        checks_before = checks_run(listen)
        scraped_before = time.monotonic()
        cpu_before, written_before = proc_cpu(proc.pid), proc_written(proc.pid)
        measured_before = time.monotonic()
        time.sleep(window)
        cpu_after, written_after, rss = proc_cpu(proc.pid), proc_written(proc.pid), proc_rss(proc.pid)
        measured_after = time.monotonic()
        checks_after = checks_run(listen)
        scraped_after = time.monotonic()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # Rates over each figure's own span, so the scrapes' time does not skew either.
    checks_per_second = (checks_after - checks_before) / (scraped_after - scraped_before)
    seconds = measured_after - measured_before
    cpu_per_check = (cpu_after - cpu_before) / seconds / checks_per_second
    written_per_check = (written_after - written_before) / seconds / checks_per_second
    return cpu_per_check, rss, written_per_check, checks_per_second


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="device counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="`once` rounds at each size, after a warm-up round")
    parser.add_argument("--run-rounds", type=int, default=2, help="`run` windows at each size")
    parser.add_argument("--interval", type=int, default=1, help="seconds between polls of a device in `run`")
    parser.add_argument("--window", type=float, default=20, help="seconds of `run` measured")
    parser.add_argument("--binary", default="target/release/camwatch")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    once, run = {n: [] for n in sizes}, {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as workdir:
        configs = {}
        for n in sizes:
            configs[n] = os.path.join(workdir, f"once-{n}.toml")
            write_config(configs[n], n, args.interval)
        for round_no in range(args.rounds + 1):
            for n in sizes:
                sample = once_round(args.binary, configs[n], n)
                if round_no > 0:  # round 0 is the warm-up
                    once[n].append(sample)
        for _ in range(args.run_rounds):
            for n in sizes:
                run[n].append(run_window(args.binary, workdir, n, args.interval, args.window))

    polls = args.window / args.interval
    print(f"ping checks on loopback addresses, {CONCURRENCY} in flight; once: median of {args.rounds} rounds "
          f"after a warm-up; run: polls every {args.interval} s, median of {args.run_rounds} windows of "
          f"{args.window:g} s ({polls:g} polls) after a warm-up")
    header = ["devices", "once wall s", "once CPU ms/dev", "run CPU us/check", "run RSS MiB", "RSS KiB/dev",
              "disk B/check", "checks/s"]
    print("".join(f"{h:>17}" for h in header))
    per_device = {}
    for n in sizes:
        wall = statistics.median(w for _, w in once[n])
        cpu_dev = statistics.median(c for c, _ in once[n]) / n
        cpu_check = statistics.median(r[0] for r in run[n])
        rss = statistics.median(r[1] for r in run[n])
        written = statistics.median(r[2] for r in run[n])
        rate = statistics.median(r[3] for r in run[n])
        per_device[n] = (cpu_dev, cpu_check, rss / n, written)
        row = [f"{n}", f"{wall:.3f}", f"{cpu_dev * 1000:.4f}", f"{cpu_check * 1e6:.1f}", f"{rss / 2**20:.1f}",
               f"{rss / n / 1024:.1f}", f"{written:.0f}", f"{rate:.0f}"]
        print("".join(f"{v:>17}" for v in row))
    small, large = sizes[0], sizes[-1]
    ratios = [a / b if b else float("nan") for a, b in zip(per_device[large], per_device[small])]
    print(f"per-device cost at {large} / at {small}: once CPU {ratios[0]:.2f}, run CPU a check {ratios[1]:.2f}, "
          f"RSS a device {ratios[2]:.2f}, disk bytes a check {ratios[3]:.2f}")
    small_rss, large_rss = per_device[small][2] * small, per_device[large][2] * large
    print(f"RSS beyond the first {small} devices: {(large_rss - small_rss) / (large - small) / 1024:.1f} KiB a device")


if __name__ == "__main__":
    main()
