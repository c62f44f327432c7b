#!/usr/bin/env python3
"""camwatch `once` against Debian's blackbox_exporter, pinging the same 1,000 loopback addresses.

Both send one ICMP echo per address with the same concurrency (64 in flight). camwatch is measured
as a whole process (start-up and config parsing included); blackbox_exporter only while it probes
(its start-up is left out), which favours the peer. CPU is user + system time from the kernel's
accounting; peak RSS is the kernel's high-water mark (ru_maxrss / VmHWM).

Usage: benches/ping_vs_blackbox.py [--devices 1000] [--rounds 3] [--binary target/release/camwatch]
Needs root (raw ICMP for blackbox_exporter) and the Debian package prometheus-blackbox-exporter.
"""

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from peer import drive_server, free_port, loopback_addresses, proc_peak_rss, start_server

CONCURRENCY = 64


def camwatch_round(binary, config):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([binary, "once", "--json", "-c", config], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = proc.stdout.decode().splitlines()
    ok = sum('"status":"ok"' in line for line in lines)
    if proc.returncode != 0 or ok != len(lines):
        sys.exit(f"camwatch once failed ({proc.returncode}, {ok}/{len(lines)} ok): {proc.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def camwatch_peak_rss(binary, config):
    """Peak RSS of one run, from GNU time (RUSAGE_CHILDREN's maxrss would be any child's, the
    blackbox exporter's included)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%M", binary, "once", "--json", "-c", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    return int(out.stderr.decode().strip().splitlines()[-1]) * 1024




def write_blackbox_config(config):
    """blackbox_exporter's module `icmp`: one echo, 2 s."""
    with open(config, "w") as f:
        f.write("modules:\n  icmp:\n    prober: icmp\n    timeout: 2s\n    icmp:\n      preferred_ip_protocol: ip4\n")


def blackbox_round(targets, workdir):
    port = free_port()
    config = os.path.join(workdir, "blackbox.yml")
    write_blackbox_config(config)
    proc = start_server(
        ["prometheus-blackbox-exporter", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        f"http://127.0.0.1:{port}/-/healthy",
        "blackbox_exporter",
    )
    try:
        def probe(target):
            url = f"http://127.0.0.1:{port}/probe?module=icmp&target={target}"
            body = urllib.request.urlopen(url, timeout=10).read().decode()
            return "probe_success 1" in body

        cpu, wall, ok = drive_server(proc.pid, probe, targets, CONCURRENCY)
        if ok != len(targets):
            sys.exit(f"blackbox_exporter: only {ok}/{len(targets)} probes succeeded")
        return cpu, wall, ok, proc_peak_rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary", default="target/release/camwatch")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: blackbox_exporter needs raw ICMP sockets")
    if not shutil.which("prometheus-blackbox-exporter"):
        sys.exit("install prometheus-blackbox-exporter (Debian) first")
    targets = loopback_addresses(args.devices)
    with tempfile.TemporaryDirectory() as workdir:
        config = os.path.join(workdir, "camwatch.toml")
        with open(config, "w") as f:
            f.write(f'[agent]\nmax_in_flight = {CONCURRENCY}\n[policy.default]\ntimeout = "2s"\nping_count = 1\n')
            for i, address in enumerate(targets):
                f.write(f'[[device]]\nname = "cam-{i}"\nkind = "camera"\naddress = "{address}"\n')
        cw, bb = [], []
        for _ in range(args.rounds):
            cw.append(camwatch_round(args.binary, config))
            bb.append(blackbox_round(targets, workdir))
        cw_rss = max(camwatch_peak_rss(args.binary, config) for _ in range(args.rounds))
    cw_cpu = statistics.median(r[0] for r in cw)
    bb_cpu = statistics.median(r[0] for r in bb)
    bb_rss = max(r[3] for r in bb)
    print(f"{args.devices} devices, 1 ICMP echo each, {CONCURRENCY} in flight, median of {args.rounds} rounds")
    print(f"{'':24}{'CPU seconds':>12}{'wall seconds':>14}{'peak RSS MiB':>14}")
    print(f"{'camwatch once':24}{cw_cpu:12.3f}{statistics.median(r[1] for r in cw):14.2f}{cw_rss / 2**20:14.1f}")
    print(f"{'blackbox_exporter':24}{bb_cpu:12.3f}{statistics.median(r[1] for r in bb):14.2f}{bb_rss / 2**20:14.1f}")
    print(f"CPU ratio camwatch/blackbox: {cw_cpu / bb_cpu:.2f} (target <= 0.50)")
    print(f"camwatch peak RSS: {cw_rss / 2**20:.1f} MiB (target < 30 MiB)")


if __name__ == "__main__":
    main()
