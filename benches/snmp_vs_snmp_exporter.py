#!/usr/bin/env python3
"""One polling cycle over 1,000 SNMP UPS devices: `camwatch once` against Debian's snmp_exporter.

Both ask the same UPS-MIB objects (the ten figures camwatch reads, plus identity) of the same
1,000 targets: 800 answer (an snmpsim serving a UPS-MIB walk), 200 are silent (a UDP socket that
reads and never answers), so timeouts must overlap rather than add up. Both use a 2 s request
timeout with 1 retry, and 256 requests in flight (camwatch's max_in_flight; a 256-thread client
for the exporter). camwatch is measured as a whole process, start-up included; snmp_exporter only
while it polls (one exporter process serves every round). CPU is user + system time from the
kernel; peak RSS is the kernel's high-water mark.

A throw-away round of each side comes first: snmpsim (Python) answers a freshly started
responder's first round slowly, so a cold first round measures snmpsim, not camwatch. Then
camwatch and snmp_exporter rounds alternate, so machine noise hits both; each side's median is
shown, with the ratio of the medians and the range of the rounds' own ratios.

Usage: benches/snmp_vs_snmp_exporter.py [--devices 1000] [--silent 0.2] [--rounds 5]
                                        [--binary target/release/camwatch]
Needs Debian's prometheus-snmp-exporter and snmpsim (scripts/test installs it into
target/snmpsim-venv, or pass --snmpsim PATH to snmpsim-command-responder).
"""

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from peer import drive_server, free_port, proc_peak_rss, start_server

IN_FLIGHT = 256

# A UPS on mains, as UPS-MIB (RFC 1628) describes it.
UPS_WALK = """1.3.6.1.2.1.1.1.0|4|Benchmark UPS
1.3.6.1.2.1.1.3.0|67|123456
1.3.6.1.2.1.33.1.1.1.0|4|Bench
1.3.6.1.2.1.33.1.1.2.0|4|UPS 3000
1.3.6.1.2.1.33.1.2.1.0|2|2
1.3.6.1.2.1.33.1.2.2.0|2|0
1.3.6.1.2.1.33.1.2.3.0|2|42
1.3.6.1.2.1.33.1.2.4.0|2|97
1.3.6.1.2.1.33.1.2.7.0|2|27
1.3.6.1.2.1.33.1.3.3.1.3.1|2|231
1.3.6.1.2.1.33.1.4.1.0|2|3
1.3.6.1.2.1.33.1.4.4.1.2.1|2|230
1.3.6.1.2.1.33.1.4.4.1.5.1|2|31
1.3.6.1.2.1.33.1.6.1.0|66|0
"""

# The scalar OIDs (without .0) and table cells camwatch's UPS-MIB poll reads.
SCALARS = [
    ("upsIdentManufacturer", "1.3.6.1.2.1.33.1.1.1", "DisplayString"),
    ("upsIdentModel", "1.3.6.1.2.1.33.1.1.2", "DisplayString"),
    ("upsBatteryStatus", "1.3.6.1.2.1.33.1.2.1", "gauge"),
    ("upsSecondsOnBattery", "1.3.6.1.2.1.33.1.2.2", "gauge"),
    ("upsEstimatedMinutesRemaining", "1.3.6.1.2.1.33.1.2.3", "gauge"),
    ("upsEstimatedChargeRemaining", "1.3.6.1.2.1.33.1.2.4", "gauge"),
    ("upsBatteryTemperature", "1.3.6.1.2.1.33.1.2.7", "gauge"),
    ("upsOutputSource", "1.3.6.1.2.1.33.1.4.1", "gauge"),
    ("upsAlarmsPresent", "1.3.6.1.2.1.33.1.6.1", "gauge"),
]
CELLS = [
    ("upsInputVoltage", "1.3.6.1.2.1.33.1.3.3.1.3", "1"),
    ("upsOutputVoltage", "1.3.6.1.2.1.33.1.4.4.1.2", "1"),
    ("upsOutputPercentLoad", "1.3.6.1.2.1.33.1.4.4.1.5", "1"),
]



def silent_agent():
    """A UDP port that reads requests and never answers, for as long as the benchmark runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def drain():
        while True:
            try:
                sock.recv(65535)
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    return sock


def start_snmpsim(responder, workdir):
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    with open(os.path.join(data, "ups.snmprec"), "w") as f:
        f.write(UPS_WALK)
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [responder, "--process-user=root", "--process-group=root", f"--cache-dir={workdir}/cache",
         "--v3-engine-id=auto", f"--data-dir={data}", f"--agent-udpv4-endpoint=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while subprocess.run(["snmpget", "-v2c", "-c", "ups", "-t", "0.5", "-r", "0", f"127.0.0.1:{port}",
                          "1.3.6.1.2.1.33.1.2.4.0"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            proc.terminate()
            sys.exit("snmpsim did not start")
        time.sleep(0.2)
    return proc, port




def camwatch_cycle(binary, config):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "once", "--json", "-c", config],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "BENCH_COMMUNITY": "ups"})
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results = [json.loads(line) for line in out.stdout.decode().splitlines()]
    rss = int(out.stderr.decode().strip().splitlines()[-1]) * 1024
    return cpu, wall, rss, results


def write_exporter_config(config):
    """snmp_exporter's module `ups`: the objects camwatch's UPS-MIB poll reads, 2 s, 1 retry."""
    with open(config, "w") as f:
        f.write("ups:\n  version: 2\n  auth:\n    community: ups\n  timeout: 2s\n  retries: 1\n  max_repetitions: 25\n  get:\n")
        for _, oid, _ in SCALARS:
            f.write(f"  - {oid}.0\n")
        for _, oid, index in CELLS:
            f.write(f"  - {oid}.{index}\n")
        f.write("  metrics:\n")
        for name, oid, kind in SCALARS:
            f.write(f"  - name: {name}\n    oid: {oid}\n    type: {kind}\n")
        for name, oid, _ in CELLS:
            f.write(f"  - name: {name}\n    oid: {oid}\n    type: gauge\n    indexes:\n    - labelname: line\n      type: gauge\n")


def start_exporter(workdir):
    config = os.path.join(workdir, "snmp.yml")
    write_exporter_config(config)
    port = free_port(socket.SOCK_STREAM)
    proc = start_server(
        ["prometheus-snmp-exporter", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        f"http://127.0.0.1:{port}/",
        "snmp_exporter",
    )
    return proc, port


def exporter_cycle(proc, port, targets):
    """(cpu, wall, peak RSS so far, answered) of one scrape of every target."""
    def scrape(target):
        try:
            url = f"http://127.0.0.1:{port}/snmp?module=ups&target={target}"
            body = urllib.request.urlopen(url, timeout=30).read().decode()
        except urllib.error.HTTPError:
            return False  # a silent target: the exporter answers 500 after its timeouts
        return "upsEstimatedChargeRemaining 97" in body

    cpu, wall, answered = drive_server(proc.pid, scrape, targets, IN_FLIGHT)
    return cpu, wall, proc_peak_rss(proc.pid), answered


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--silent", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds of each side, after a warm-up round")
    parser.add_argument("--binary", default="target/release/camwatch")
    parser.add_argument("--snmpsim", default="target/snmpsim-venv/bin/snmpsim-command-responder")
    args = parser.parse_args()
    for tool in ("prometheus-snmp-exporter", "snmpget", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (Debian: prometheus-snmp-exporter, snmp, time)")
    silent_count = int(args.devices * args.silent)
    with tempfile.TemporaryDirectory() as workdir:
        sim, sim_port = start_snmpsim(args.snmpsim, workdir)
        silent = silent_agent()
        silent_port = silent.getsockname()[1]
        try:
            ports = [silent_port if i < silent_count else sim_port for i in range(args.devices)]
            config = os.path.join(workdir, "camwatch.toml")
            with open(config, "w") as f:
                f.write(f'[agent]\nmax_in_flight = {IN_FLIGHT}\n[policy.default]\ntimeout = "5s"\n')
                f.write('[snmp_auth.bench]\nversion = "2c"\ncommunity_env = "BENCH_COMMUNITY"\n')
                for i, port in enumerate(ports):
                    f.write(f'[[device]]\nname = "ups-{i}"\nkind = "ups"\naddress = "127.0.0.1"\nping = "off"\n'
                            f'[device.snmp]\nauth = "bench"\nport = {port}\nchecks = ["ups"]\nups_mib = "rfc1628"\n'
                            'request_timeout = "2s"\nretries = 1\n')
            targets = [f"127.0.0.1:{p}" for p in ports]
            exporter, exporter_port = start_exporter(workdir)
            try:
                answering = args.devices - silent_count
                cw, ex = [], []
                # Round 0 warms snmpsim (and both sides' page cache) and is thrown away.
                for round_no in range(args.rounds + 1):
                    cpu, wall, rss, results = camwatch_cycle(args.binary, config)
                    cw_ok = sum(r["status"] == "ok" for r in results)
                    ex_cpu, ex_wall, ex_rss, ex_ok = exporter_cycle(exporter, exporter_port, targets)
                    if cw_ok != answering or ex_ok != answering:
                        sys.exit(f"round {round_no}, answers: camwatch {cw_ok}, snmp_exporter {ex_ok}, expected {answering}")
                    if round_no > 0:
                        cw.append((cpu, wall, rss))
                        ex.append((ex_cpu, ex_wall, ex_rss))
            finally:
                exporter.terminate()
                exporter.wait()
        finally:
            silent.close()
            sim.terminate()
            sim.wait()
    n = args.devices
    cw_cpu, cw_wall = (statistics.median(r[i] for r in cw) for i in (0, 1))
    ex_cpu, ex_wall = (statistics.median(r[i] for r in ex) for i in (0, 1))
    cw_rss = max(r[2] for r in cw)
    ex_rss = max(r[2] for r in ex)
    round_ratios = [c[0] / e[0] for c, e in zip(cw, ex)]
    print(f"{n} SNMP UPS devices ({silent_count} silent), UPS-MIB figures, 2 s timeout + 1 retry, {IN_FLIGHT} in flight")
    print(f"after a warm-up round of each, {args.rounds} alternating rounds each; medians, peak RSS the largest")
    print(f"{'':22}{'CPU ms/device':>14}{'wall seconds':>14}{'peak RSS MiB':>14}")
    print(f"{'camwatch once':22}{cw_cpu / n * 1000:14.3f}{cw_wall:14.2f}{cw_rss / 2**20:14.1f}")
    print(f"{'snmp_exporter':22}{ex_cpu / n * 1000:14.3f}{ex_wall:14.2f}{ex_rss / 2**20:14.1f}")
    print(f"CPU ratio camwatch/snmp_exporter: {cw_cpu / ex_cpu:.2f} (target <= 0.50); "
          f"rounds' own ratios {min(round_ratios):.2f} to {max(round_ratios):.2f}")
    print(f"peak RSS ratio: {cw_rss / ex_rss:.2f}; camwatch {cw_rss / 2**20:.1f} MiB (target < 40 MiB)")
    print(f"camwatch cycle: {cw_wall:.2f} s median (target < 10 s)")


if __name__ == "__main__":
    main()
