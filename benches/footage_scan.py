#!/usr/bin/env python3
"""camwatch's footage scan against `find DIR -type f | wc -l` on the same tree, in the same run.

Generates a Frigate-layout tree of empty segment files ({date}/{hour}/{camera}/{MM}.{SS}.mp4,
60-second segments, `--cameras` cameras sharing `--files` files) in a temporary folder (on
/dev/shm when it exists: creating a million files on a VM disk takes many minutes, and both
tools read the same tree), then times, alternately for `--rounds` rounds:

  - `sh -c 'find DIR -type f | wc -l'`
  - `camwatch once -c CONFIG` with one device whose [device.footage] is the tree: a full scan
    (a fresh process has no incremental cache) plus the coverage of every camera

Wall time is the median of the rounds; peak RSS is the kernel's high-water mark of each process
(ru_maxrss from wait4). The first round of each warms the dentry cache for both alike.

Usage: benches/footage_scan.py [--files 1000000] [--cameras 20] [--rounds 5]
                               [--binary target/release/camwatch] [--keep DIR]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def generate(root, files, cameras):
    per_camera = files // cameras
    end = int(time.time()) // 60 * 60
    start = end - per_camera * 60
    made = 0
    t = start
    while t < end:
        g = time.gmtime(t)
        hour_dir = os.path.join(root, time.strftime("%Y-%m-%d", g), time.strftime("%H", g))
        name = time.strftime("%M.%S", g) + ".mp4"
        for c in range(cameras):
            d = os.path.join(hour_dir, f"cam{c:03d}")
            if g.tm_min == 0 or t == start:
                os.makedirs(d, exist_ok=True)
            os.close(os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY, 0o644))
            made += 1
        t += 60
    return made


def timed(argv):
    """(wall seconds, peak RSS KiB, stdout) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss, out.decode(), os.waitstatus_to_exitcode(status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--binary", default="target/release/camwatch")
    ap.add_argument("--keep", help="use (and keep) this folder instead of a temporary one")
    args = ap.parse_args()

    base = args.keep or tempfile.mkdtemp(prefix="camwatch-footage-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    root = os.path.join(base, "recordings")
    try:
        if not os.path.isdir(root):
            t0 = time.perf_counter()
            made = generate(root, args.files, args.cameras)
            print(f"generated {made:,} files for {args.cameras} cameras in {time.perf_counter() - t0:.1f} s under {root}")
        config = os.path.join(base, "camwatch.toml")
        with open(config, "w") as f:
            f.write(
                "[[device]]\nname = \"nvr\"\nkind = \"host\"\n[device.footage]\n"
                f"root = \"{root}\"\nlayout = \"/{{date}}/{{hour}}/{{camera}}/{{minute}}.{{second}}.mp4\"\n"
            )
        find_times, cw_times, find_rss, cw_rss = [], [], [], []
        count = None
        for _ in range(args.rounds):
            wall, rss, out, _ = timed(["sh", "-c", f"find '{root}' -type f | wc -l"])
            find_times.append(wall)
            find_rss.append(rss)
            count = int(out.strip())
            wall, rss, out, code = timed([args.binary, "once", "-c", config])
            if code not in (0, 1):
                sys.exit(f"camwatch once failed ({code}):\n{out}")
            cw_times.append(wall)
            cw_rss.append(rss)
        f, c = statistics.median(find_times), statistics.median(cw_times)
        print(f"files counted by find: {count:,}")
        print(f"{'':34}{'wall s (median)':>16}{'peak RSS MiB':>14}{'vs find':>9}")
        print(f"{'find -type f | wc -l':34}{f:>16.3f}{max(find_rss) / 1024:>14.1f}{1.0:>8.2f}x")
        print(f"{'camwatch once (scan + coverage)':34}{c:>16.3f}{max(cw_rss) / 1024:>14.1f}{c / f:>8.2f}x")
        print(f"camwatch summary: {out.strip().splitlines()[1] if out.strip() else ''}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
