//! Coverage computation for a large fleet, in CPU seconds: 1,000 cameras with 90 days of
//! one-minute segments each (129,600 segments a camera, with a gap every few days), merged into
//! intervals and judged against a 90-day policy.
//!
//! cargo run --release --example coverage_bench [-- CAMERAS DAYS]

use camwatch::coverage::{IntervalSet, Rules, Storage, coverage};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<i64>().expect("a number"));
    let cameras = args.next().unwrap_or(1000);
    let days = args.next().unwrap_or(90);
    let now: i64 = 1_800_000_000;
    let rules = Rules {
        required: 90 * 86_400,
        max_gap: 300,
        freshness: 300,
    };
    let storage = Storage {
        bytes_per_day: 1e12,
        size_bytes: 100_000_000_000_000,
        free_bytes: 1_000_000_000_000,
    };
    let (mut merge, mut judge) = (0.0, 0.0);
    let (mut segments, mut compliant, mut gaps) = (0u64, 0u64, 0u64);
    for camera in 0..cameras {
        let t0 = cpu_seconds();
        let mut set = IntervalSet::new();
        let mut t = now - days * 86_400;
        let mut i = 0i64;
        while t < now {
            // A ten-minute hole every (3 + camera % 5) days: realistic, and it keeps intervals apart.
            if i % (1440 * (3 + camera % 5)) != 0 {
                set.insert(t, t + 60);
                segments += 1;
            } else {
                t += 540;
            }
            t += 60;
            i += 1;
        }
        let t1 = cpu_seconds();
        let c = coverage(&set, now, rules, Some(storage));
        let t2 = cpu_seconds();
        merge += t1 - t0;
        judge += t2 - t1;
        compliant += u64::from(c.compliant);
        gaps += c.gaps.len() as u64;
    }
    println!("{cameras} cameras x {days} days: {segments} one-minute segments, {gaps} gaps, {compliant} compliant");
    println!(
        "merge segments into intervals: {merge:.3} CPU s ({:.0} ns a segment)",
        merge / segments as f64 * 1e9
    );
    println!("coverage of every camera:     {judge:.4} CPU s");
}
