#!/usr/bin/env python3
"""One `camwatch once` cycle over 500 simulated ONVIF cameras: device information, time,
capabilities, network interfaces, profiles, stream and snapshot URIs (the `onvif` check), the
clock (`clock`) and an RTSP DESCRIBE of each stream (`stream`). Reports CPU seconds per camera
and peak RSS. The cameras are the test suite's ONVIF simulator (WS-Security digests checked), one
port each, plus a minimal RTSP responder; they run in a separate process (examples/camera_fleet.rs)
so only camwatch's own work is measured.

Usage: cargo build --release --examples && benches/cameras_onvif.py [--cameras 500] [--rounds 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary", default="target/release/camwatch")
    parser.add_argument("--fleet", default="target/release/examples/camera_fleet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        config = os.path.join(workdir, "camwatch.toml")
        fleet = subprocess.Popen([args.fleet, str(args.cameras), config], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = fleet.stdout.readline().split()
            if not ready or ready[0] != "ready":
                sys.exit("the camera fleet did not start")
            env = {**os.environ, "FLEET_PASSWORD": ready[1]}
            rounds = []
            for _ in range(args.rounds):
                out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", args.binary, "once", "--json", "-c", config],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                wall, user, system, rss_kib = out.stderr.strip().splitlines()[-1].split()
                results = [json.loads(line) for line in out.stdout.splitlines()]
                by_check = {}
                for r in results:
                    by_check.setdefault(r["check"], []).append(r["status"])
                rounds.append((float(user) + float(system), float(wall), int(rss_kib) * 1024, by_check))
        finally:
            fleet.stdin.close()
            fleet.wait()
    cpu = statistics.median(r[0] for r in rounds)
    wall = statistics.median(r[1] for r in rounds)
    rss = max(r[2] for r in rounds)
    checks = rounds[-1][3]
    summary = ", ".join(f"{c}: {s.count('ok')}/{len(s)} ok" for c, s in sorted(checks.items()))
    print(f"{args.cameras} simulated ONVIF cameras, onvif + clock + stream checks, median of {args.rounds} rounds")
    print(f"  {summary}")
    print(f"  CPU per camera: {cpu / args.cameras * 1000:.2f} ms   wall: {wall:.2f} s   peak RSS: {rss / 2**20:.1f} MiB (target < 50 MiB)")


if __name__ == "__main__":
    main()
