//! Times camwatch's snapshot analysis (luma decode + measures) on one JPEG, for
//! `benches/image_vs_ffmpeg.py`: `cargo run --release --example analyse_jpeg -- FILE [N]`.
//! Prints the measures, then `ns_per_frame N` on the last line. Runs on the calling thread only,
//! so `taskset -c 0` pins it to one core.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: analyse_jpeg FILE [ITERATIONS]");
    let iterations: u32 = args.next().map_or(100, |n| n.parse().expect("ITERATIONS is a number"));
    let jpeg = std::fs::read(&path).expect("the file can be read");
    let first = camwatch::probe::snapshot::analyse(&jpeg).unwrap_or_else(|e| panic!("{path}: {e}"));
    println!(
        "{}x{} brightness {:.4} contrast {:.4} sharpness {:.1} fingerprint {:016x}",
        first.width, first.height, first.brightness, first.contrast, first.sharpness, first.fingerprint
    );
    let started = Instant::now();
    for _ in 0..iterations {
        // black_box keeps the optimiser from skipping work whose result is unused.
        std::hint::black_box(camwatch::probe::snapshot::analyse(std::hint::black_box(&jpeg)).ok());
    }
    println!(
        "ns_per_frame {}",
        started.elapsed().as_nanos() / u128::from(iterations.max(1))
    );
}
