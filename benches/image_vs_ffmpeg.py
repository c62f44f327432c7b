#!/usr/bin/env python3
"""camwatch's snapshot analysis against ffmpeg's signalstats + blurdetect, on the same 1920x1080 JPEG.

camwatch: decode the luma plane (zune-jpeg) and measure brightness, contrast, Laplacian
sharpness, fingerprint and thumbnail (`examples/analyse_jpeg.rs`, which loops over the file).
ffmpeg: `ffmpeg -threads 1 -filter_threads 1 -loop 1 -i frame.jpg -frames:v N
-vf signalstats,blurdetect -f null -` (the image2 demuxer rereads and decodes the JPEG for every
frame). And ffmpeg decoding only, the same command without `-vf`: it decodes every frame and does
nothing with it, the fair comparison for camwatch, whose measures cost little beside its decode.
camwatch is shown against both.

All three run pinned to one core (taskset -c 0), in the same run, alternating, after a throw-away
warm-up round of each (page cache, CPU frequency), so machine noise hits all three. Per-frame
cost is the marginal CPU time (user + system, from the kernel's accounting of children):
(CPU of N frames - CPU of 1 frame) / (N - 1), which removes process start-up on both sides. The
median of the rounds is shown, with wall time alongside.

Usage: benches/image_vs_ffmpeg.py [--rounds 5] [--frames 50] [--camwatch-frames 500]
                                  [--binary target/release/examples/analyse_jpeg] [--frame FILE]
Needs Debian's ffmpeg and util-linux (taskset); builds the example with cargo first.
"""

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_BINARY = os.path.join(ROOT, "target/release/examples/analyse_jpeg")


def run_timed(argv):
    """(cpu seconds, wall seconds, stdout+stderr) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc.stdout.decode()


def marginal(argv_for, frames):
    """Per-frame (cpu, wall) from runs of 1 and `frames` frames."""
    cpu1, wall1, _ = run_timed(argv_for(1))
    cpun, walln, out = run_timed(argv_for(frames))
    return (cpun - cpu1) / (frames - 1), (walln - wall1) / (frames - 1), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds, after a warm-up round")
    parser.add_argument("--frames", type=int, default=50, help="frames per ffmpeg run")
    parser.add_argument("--camwatch-frames", type=int, default=500, help="frames per camwatch run")
    parser.add_argument("--binary", default=DEFAULT_BINARY)
    parser.add_argument("--frame", help="a JPEG to use instead of ffmpeg's 1920x1080 test pattern")
    args = parser.parse_args()

    if args.binary == DEFAULT_BINARY:
        # Always: a no-op when fresh, and never a stale binary measured.
        subprocess.run(["cargo", "build", "--release", "--example", "analyse_jpeg"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="image-bench-")
    try:
        measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args, work):
    frame = args.frame or os.path.join(work, "frame.jpg")
    if not args.frame:
        # A busy 1080p picture at a typical camera JPEG quality.
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             "testsrc2=size=1920x1080", "-frames:v", "1", "-q:v", "3", frame],
            check=True,
        )
    pin = ["taskset", "-c", "0"]

    def camwatch(n):
        return pin + [args.binary, frame, str(n)]

    def ffmpeg(filters):
        def argv(n):
            cmd = pin + ["ffmpeg", "-hide_banner", "-nostats", "-threads", "1", "-filter_threads", "1",
                         "-loop", "1", "-i", frame, "-frames:v", str(n)]
            if filters:
                cmd += ["-vf", filters]
            return cmd + ["-f", "null", "-"]
        return argv

    # The same picture seen by both: mean luma should agree.
    _, _, out = run_timed(camwatch(1))
    ours = re.search(r"brightness ([0-9.]+) contrast ([0-9.]+) sharpness ([0-9.]+)", out)
    _, _, out = run_timed(ffmpeg("signalstats,metadata=print:key=lavfi.signalstats.YAVG,blurdetect")(1))
    yavg = re.search(r"YAVG=([0-9.]+)", out)
    blur = re.search(r"blur mean: ([0-9.]+)", out)
    size = os.path.getsize(frame)
    print(f"frame: {frame} ({size} bytes)")
    print(f"camwatch: brightness {float(ours.group(1)) * 255:.1f}/255, contrast {float(ours.group(2)) * 255:.1f}, "
          f"sharpness (Laplacian variance) {ours.group(3)}")
    print(f"ffmpeg:   YAVG {yavg.group(1) if yavg else '?'}/255, blurdetect blur mean {blur.group(1) if blur else '?'}")

    ours_name, filters_name, decode_name = "camwatch (decode luma + measures)", "ffmpeg signalstats+blurdetect", "ffmpeg decode only"
    runs = {
        ours_name: (camwatch, args.camwatch_frames),
        filters_name: (ffmpeg("signalstats,blurdetect"), args.frames),
        decode_name: (ffmpeg(None), args.frames * 4),
    }
    rows = {name: [] for name in runs}
    for round_no in range(args.rounds + 1):
        for name, (argv_for, frames) in runs.items():
            sample = marginal(argv_for, frames)[:2]
            if round_no > 0:  # round 0 is the warm-up
                rows[name].append(sample)
    medians = {name: statistics.median(c for c, _ in samples) for name, samples in rows.items()}
    print(f"\nafter a warm-up round, {args.rounds} alternating rounds, median per frame on one core (taskset -c 0), "
          f"{os.cpu_count()} CPUs on the machine")
    print(f"{'':36} {'CPU ms/frame':>13} {'wall ms/frame':>14} {'vs filters':>11} {'vs decode':>10}")
    for name, samples in rows.items():
        cpu = medians[name]
        wall = statistics.median(w for _, w in samples)
        print(f"{name:36} {cpu * 1000:13.2f} {wall * 1000:14.2f} {cpu / medians[filters_name]:10.2f}x "
              f"{cpu / medians[decode_name]:9.2f}x")
    print(f"camwatch/ffmpeg CPU ratio: {medians[ours_name] / medians[filters_name]:.2f} against signalstats+blurdetect, "
          f"{medians[ours_name] / medians[decode_name]:.2f} against decoding only")


if __name__ == "__main__":
    main()
