#!/usr/bin/env python3
"""The daemon all day: `camwatch run` against blackbox_exporter + snmp_exporter in steady state.

The same site on both sides: 1,000 pinged devices (127.0.1.1 upwards, one ICMP echo, every 15 s)
and 200 SNMP UPS units (an snmpsim playing a UPS-MIB walk, every 30 s). Each side runs in turn,
alternating, in rounds: a warm-up (the first runs and the start-up are left out), then a window
in which CPU (user + system, from /proc/PID/stat), resident memory (VmRSS sampled every second:
the median is "steady"; VmHWM is "peak") and bytes written (/proc/PID/io wchar: everything handed
to write calls, files and HTTP answers; write_bytes misses a page rewritten before writeback, as
SQLite's WAL and Prometheus' head are) are read. Twice per round and side: alone, and with the Prometheus each side needs.

- camwatch probes on its own schedule; "with Prometheus" adds one scraping `/metrics` every 15 s.
- The exporters probe only when asked: "alone" they are asked by this script at each target's own
  phase (the script's CPU is not counted, only the exporters'); "with Prometheus" Prometheus asks,
  1,200 scrape targets, as a real site runs them.

Checks in the window are counted from camwatch's own histogram of start delays (one count per run)
and, for the exporters, from the probes that answered. Figures per side are the sums over its
processes (peak RSS: the sum of each process's peak, an upper bound); ratios are camwatch/exporters.

It runs in a network namespace of its own (`unshare -n`, loopback only): a raw ICMP socket sees
every echo reply of the host, so another pinging process would otherwise cost both sides CPU.

Usage: benches/daemon_steady.py [--rounds 2] [--warmup 40] [--window 60] [--only camwatch]
       [--binary target/release/camwatch] [--threads]
Needs root (raw ICMP), Debian's prometheus, prometheus-blackbox-exporter, prometheus-snmp-exporter,
snmp, and snmpsim (target/snmpsim-venv, as ./scripts/test installs it).
"""

import argparse
import concurrent.futures
import heapq
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from peer import TICKS, free_port, proc_cpu, proc_peak_rss, proc_rss, proc_written, start_server
from ping_vs_blackbox import addresses, write_blackbox_config
from snmp_vs_snmp_exporter import start_snmpsim, write_exporter_config

PING_INTERVAL = 15
UPS_INTERVAL = 30


def thread_cpu(pid):
    """CPU seconds by thread name (threads of one name added up)."""
    by_name = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = int(fields[11]) / TICKS, int(fields[12]) / TICKS
        u, s = by_name.get(name, (0.0, 0.0))
        by_name[name] = (u + user, s + system)
    return by_name


def camwatch_runs(port):
    """Check runs so far: the count of camwatch's start-delay histogram, every class."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("camwatch_check_start_delay_seconds_count")
    )


def measure(pids, window, count_checks):
    """CPU, RSS and writes of `pids` over `window` seconds; `count_checks()` reads a counter."""
    cpu0 = sum(proc_cpu(p) for p in pids)
    written0 = sum(proc_written(p) for p in pids)
    checks0 = count_checks()
    rss = []
    end = time.monotonic() + window
    while time.monotonic() < end:
        rss.append(sum(proc_rss(p) for p in pids))
        time.sleep(1)
    checks = count_checks() - checks0
    cpu = sum(proc_cpu(p) for p in pids) - cpu0
    written = sum(proc_written(p) for p in pids) - written0
    return {
        "checks": checks,
        "cpu_per_check_us": cpu / max(checks, 1) * 1e6,
        "cpu_seconds": cpu,
        "steady_rss": statistics.median(rss),
        "peak_rss": sum(proc_peak_rss(p) for p in pids),
        "written_per_check": written / max(checks, 1),
    }


def prometheus(workdir, name, scrape_configs):
    """A Prometheus of its own for one side, with a fresh TSDB."""
    port = free_port()
    config = os.path.join(workdir, f"prometheus-{name}.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\nscrape_configs:\n" + scrape_configs)
    return start_server(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir}/tsdb-{name}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        f"http://127.0.0.1:{port}/-/ready",
        "prometheus",
        limit=60,
    )


def stop(procs):
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def once_per_check(binary, config, checks):
    """CPU of one `camwatch once` over the same configuration, per check, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, "once", "--json", "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "BENCH_COMMUNITY": "ups"}, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / checks * 1e6


def camwatch_side(args, workdir, sim_port, with_prometheus, round_no):
    port = free_port()
    config = os.path.join(workdir, "camwatch.toml")
    data = os.path.join(workdir, f"camwatch-data-{round_no}-{int(with_prometheus)}")
    with open(config, "w") as f:
        f.write(f'[agent]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{data}"\n')
        f.write(f'[policy.default]\ninterval = "{PING_INTERVAL}s"\ntimeout = "2s"\nping_count = 1\n')
        f.write(f'[policy.ups]\ninterval = "{UPS_INTERVAL}s"\ntimeout = "5s"\n')
        f.write('[snmp_auth.bench]\nversion = "2c"\ncommunity_env = "BENCH_COMMUNITY"\n')
        for i, address in enumerate(addresses(args.pings)):
            f.write(f'[[device]]\nname = "cam-{i}"\nkind = "camera"\naddress = "{address}"\n')
        for i in range(args.ups):
            f.write(f'[[device]]\nname = "ups-{i}"\nkind = "ups"\naddress = "127.0.0.1"\nping = "off"\npolicy = "ups"\n'
                    f'[device.snmp]\nauth = "bench"\nport = {sim_port}\nchecks = ["ups"]\nups_mib = "rfc1628"\n'
                    'request_timeout = "2s"\nretries = 1\n')
    env = {**os.environ, "BENCH_COMMUNITY": "ups"}
    proc = subprocess.Popen([args.binary, "run", "-c", config, "--log-level", "warn"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [proc]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("camwatch run did not start")
                time.sleep(0.2)
        if with_prometheus:
            procs.append(prometheus(workdir, "camwatch", f"- job_name: camwatch\n  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"))
        time.sleep(args.warmup)
        threads0 = thread_cpu(proc.pid)
        figures = measure([p.pid for p in procs], args.window, lambda: camwatch_runs(port))
        if args.threads:
            threads1 = thread_cpu(proc.pid)
            figures["threads"] = {
                name: (u - threads0.get(name, (0, 0))[0], s - threads0.get(name, (0, 0))[1])
                for name, (u, s) in threads1.items()
            }
    finally:
        stop(procs)
    figures["once_cpu_per_check_us"] = once_per_check(args.binary, config, args.pings + args.ups)
    return figures


class Asker:
    """Asks the exporters for every target at its own phase, as Prometheus would, counting the
    probes that answered."""

    def __init__(self, targets):
        self.targets = targets  # (url, interval, success text)
        self.answered = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def probe(self, url, success):
        try:
            body = urllib.request.urlopen(url, timeout=10).read().decode()
        except OSError:
            return
        if success in body:
            with self.lock:
                self.answered += 1

    def run(self):
        now = time.monotonic()
        due = [(now + random.uniform(0, interval), i) for i, (_, interval, _) in enumerate(self.targets)]
        heapq.heapify(due)
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            while not self.stopping.is_set():
                at, i = due[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self.stopping.wait(min(wait, 0.5))
                    continue
                url, interval, success = self.targets[i]
                pool.submit(self.probe, url, success)
                heapq.heapreplace(due, (at + interval, i))

    def count(self):
        with self.lock:
            return self.answered


def exporters_side(args, workdir, sim_port, with_prometheus):
    bb_port, snmp_port = free_port(), free_port()
    bb_config, snmp_config = os.path.join(workdir, "blackbox.yml"), os.path.join(workdir, "snmp.yml")
    write_blackbox_config(bb_config)
    write_exporter_config(snmp_config)
    procs = [
        start_server(["prometheus-blackbox-exporter", f"--config.file={bb_config}",
                      f"--web.listen-address=127.0.0.1:{bb_port}", "--log.level=error"],
                     f"http://127.0.0.1:{bb_port}/-/healthy", "blackbox_exporter"),
        start_server(["prometheus-snmp-exporter", f"--config.file={snmp_config}",
                      f"--web.listen-address=127.0.0.1:{snmp_port}", "--log.level=error"],
                     f"http://127.0.0.1:{snmp_port}/", "snmp_exporter"),
    ]
    pings = addresses(args.pings)
    asker = None
    try:
        if with_prometheus:
            def job(name, interval, path, module, targets, port):
                listed = "".join(f"    - '{t}'\n" for t in targets)
                return (f"- job_name: {name}\n  scrape_interval: {interval}s\n  metrics_path: {path}\n"
                        f"  params:\n    module: [{module}]\n  static_configs:\n  - targets:\n{listed}"
                        "  relabel_configs:\n  - source_labels: [__address__]\n    target_label: __param_target\n"
                        f"  - source_labels: [__param_target]\n    target_label: instance\n"
                        f"  - target_label: __address__\n    replacement: 127.0.0.1:{port}\n")
            # Each UPS its own target name (one snmpsim port answers for all): a query string
            # Prometheus keeps apart, the exporter ignores.
            ups = [f"127.0.0.1:{sim_port}" for _ in range(args.ups)]
            scrape = job("blackbox", PING_INTERVAL, "/probe", "icmp", pings, bb_port)
            scrape += job("snmp", UPS_INTERVAL, "/snmp", "ups", [f"{t}?ups={i}" for i, t in enumerate(ups)], snmp_port)
            procs.append(prometheus(workdir, "exporters", scrape))
            rate = args.pings / PING_INTERVAL + args.ups / UPS_INTERVAL
            started = time.monotonic()
            count = lambda: (time.monotonic() - started) * rate  # noqa: E731 (Prometheus counts no probes for us)
        else:
            targets = [(f"http://127.0.0.1:{bb_port}/probe?module=icmp&target={a}", PING_INTERVAL, "probe_success 1") for a in pings]
            targets += [(f"http://127.0.0.1:{snmp_port}/snmp?module=ups&target=127.0.0.1:{sim_port}", UPS_INTERVAL,
                         "upsEstimatedChargeRemaining 97")] * args.ups
            asker = Asker(targets)
            asker.thread.start()
            count = asker.count
        time.sleep(args.warmup)
        return measure([p.pid for p in procs], args.window, count)
    finally:
        if asker:
            asker.stopping.set()
            asker.thread.join()
        stop(procs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--ups", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=40)
    parser.add_argument("--window", type=float, default=60)
    parser.add_argument("--only", choices=["camwatch", "exporters"])
    parser.add_argument("--alone-only", action="store_true", help="leave out the runs with Prometheus")
    parser.add_argument("--threads", action="store_true", help="camwatch's CPU by thread")
    parser.add_argument("--binary", default="target/release/camwatch")
    parser.add_argument("--snmpsim", default="target/snmpsim-venv/bin/snmpsim-command-responder")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: both sides send raw ICMP")
    if os.environ.get("DAEMON_STEADY_NETNS") != "1":
        if not shutil.which("unshare") or not shutil.which("ip"):
            sys.exit("unshare (util-linux) and ip (iproute2) are needed for the network namespace")
        script = os.path.abspath(sys.argv[0])
        os.execvpe("unshare", ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                               sys.executable, script, *sys.argv[1:]],
                   {**os.environ, "DAEMON_STEADY_NETNS": "1"})
    needed = ["snmpget", "prometheus"]
    if args.only != "camwatch":
        needed += ["prometheus-blackbox-exporter", "prometheus-snmp-exporter"]
    for tool in needed:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (Debian: prometheus, prometheus-blackbox-exporter, prometheus-snmp-exporter, snmp)")
    sides = [s for s in ("camwatch", "exporters") if args.only in (None, s)]
    setups = [False] if args.alone_only else [False, True]
    results = {(side, p): [] for side in sides for p in setups}
    with tempfile.TemporaryDirectory() as workdir:
        sim, sim_port = start_snmpsim(args.snmpsim, workdir)
        try:
            for round_no in range(args.rounds):
                for with_prometheus in setups:
                    for side in sides:
                        if side == "camwatch":
                            r = camwatch_side(args, workdir, sim_port, with_prometheus, round_no)
                        else:
                            r = exporters_side(args, workdir, sim_port, with_prometheus)
                        results[(side, with_prometheus)].append(r)
                        print(f"round {round_no + 1} {side}{' + prometheus' if with_prometheus else ''}: "
                              f"{r['checks']:.0f} checks, {r['cpu_per_check_us']:.0f} us CPU each", file=sys.stderr)
        finally:
            sim.terminate()
            sim.wait()
    print(f"{args.pings} pings every {PING_INTERVAL} s + {args.ups} SNMP UPS every {UPS_INTERVAL} s; "
          f"{args.warmup:.0f} s warm-up, {args.window:.0f} s window, median of {args.rounds} rounds")
    print(f"{'':38}{'CPU us/check':>13}{'steady RSS MiB':>15}{'peak RSS MiB':>13}{'written B/check':>16}")
    medians = {}
    for (side, with_prometheus), rounds in results.items():
        m = {k: statistics.median(r[k] for r in rounds) for k in ("cpu_per_check_us", "steady_rss", "peak_rss", "written_per_check")}
        medians[(side, with_prometheus)] = m
        label = {"camwatch": "camwatch run", "exporters": "blackbox + snmp_exporter"}[side]
        label += " + prometheus" if with_prometheus else ""
        print(f"{label:38}{m['cpu_per_check_us']:13.0f}{m['steady_rss'] / 2**20:15.1f}{m['peak_rss'] / 2**20:13.1f}"
              f"{m['written_per_check']:16.0f}")
    for with_prometheus in setups:
        if len(sides) < 2:
            break
        c, e = medians[("camwatch", with_prometheus)], medians[("exporters", with_prometheus)]
        print(f"ratios camwatch/exporters{' (each with its Prometheus)' if with_prometheus else ''}: "
              f"CPU {c['cpu_per_check_us'] / e['cpu_per_check_us']:.2f}, steady RSS {c['steady_rss'] / e['steady_rss']:.2f}, "
              f"peak RSS {c['peak_rss'] / e['peak_rss']:.2f}, written {c['written_per_check'] / max(e['written_per_check'], 1):.2f}")
    if ("camwatch", False) in medians:
        once = statistics.median(r["once_cpu_per_check_us"] for r in results[("camwatch", False)])
        daemon = medians[("camwatch", False)]["cpu_per_check_us"]
        print(f"camwatch once on the same configuration: {once:.0f} us CPU per check; run/once {daemon / once:.1f} (target <= 2)")
    if args.threads and ("camwatch", False) in results:
        print("camwatch CPU by thread over the last window (user s, system s):")
        for name, (u, s) in sorted(results[("camwatch", False)][-1]["threads"].items(), key=lambda kv: -sum(kv[1])):
            print(f"  {name:20}{u:8.2f}{s:8.2f}")


if __name__ == "__main__":
    main()
