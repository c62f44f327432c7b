//! A monthly report for a large fleet, in CPU seconds and peak memory: 1,000 devices (100
//! recorders with a 24-hour duty, 900 cameras) with a year of history, about 50 state changes a
//! device a month, plus reboots, recording stops and incidents; the report for one month built
//! from the store and rendered as HTML and CSV.
//!
//! cargo run --release --example report_bench [-- DEVICES [HTML_FILE]]
//! (with HTML_FILE the rendered report is kept there: the README's screenshot is of one.)

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Peak resident memory (kB) from /proc.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let devices: usize = std::env::args().nth(1).map_or(1000, |a| a.parse().expect("a number"));
    let keep_html = std::env::args().nth(2);
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    drop(camwatch::state::store::Store::open(&data).expect("a store"));
    let mut config = String::from("[agent]\ntimezone = \"Europe/London\"\nsite = \"Bench\"\n");
    config.push_str(&format!("data_dir = \"{}\"\n", data.display()));
    for d in 0..devices {
        let kind = if d.is_multiple_of(10) { "recorder" } else { "camera" };
        config.push_str(&format!(
            "[[device]]\nname = \"dev-{d}\"\nkind = \"{kind}\"\naddress = \"10.{}.{}.{}\"\nsite = \"site-{}\"\n",
            d / 65_536,
            d / 256 % 256,
            d % 256,
            d % 7
        ));
    }
    let config = camwatch::config::parse("bench.toml", &config).expect("a valid configuration");

    // A year of history ending 2026-11-30 00:00 UTC.
    let end = 1_795_996_800.0_f64;
    let start = end - 365.0 * 86_400.0;
    let t0 = cpu_seconds();
    let mut db = rusqlite::Connection::open(data.join(camwatch::state::store::FILE_NAME)).expect("the store");
    let tx = db.transaction().expect("a transaction");
    let mut rows = 0u64;
    {
        let mut transition = tx
            .prepare("INSERT INTO transitions (device, check_name, at, from_state, to_state, status, summary, values_json) VALUES (?1, 'ping', ?2, 'ok', ?3, ?3, 'x', '{}')")
            .expect("insert");
        let mut event = tx
            .prepare(
                "INSERT INTO events (device, check_name, at, seen_at, kind, summary) VALUES (?1, 'x', ?2, ?2, ?3, 'x')",
            )
            .expect("insert");
        let mut incident = tx
            .prepare("INSERT INTO incidents (device, check_name, opened_at, failed_at, resolved_at, summary, values_json) VALUES (?1, 'ping', ?2, ?2, ?3, 'x', '{}')")
            .expect("insert");
        // 50 state changes a month: 25 ten-minute outages.
        let step = 30.0 * 86_400.0 / 25.0;
        for d in 0..devices {
            let name = format!("dev-{d}");
            let mut t = start + (d as f64 * 97.0) % step;
            let mut down = false;
            while t < end {
                transition
                    .execute(rusqlite::params![name, t, if down { "ok" } else { "failed" }])
                    .expect("a row");
                // One outage in five is long enough to be an incident.
                if !down && (t as u64 / 3600).is_multiple_of(5) {
                    incident.execute(rusqlite::params![name, t, t + 600.0]).expect("a row");
                }
                // Down for ten minutes, up for the rest of the step.
                t += if down { step - 600.0 } else { 600.0 };
                down = !down;
                rows += 1;
            }
            if d.is_multiple_of(10) {
                let mut r = start + 3.0 * 86_400.0;
                while r < end {
                    event.execute(rusqlite::params![name, r, "reboot"]).expect("a row");
                    event
                        .execute(rusqlite::params![name, r + 7200.0, "recording_stopped"])
                        .expect("a row");
                    event
                        .execute(rusqlite::params![name, r + 7500.0, "recording_resumed"])
                        .expect("a row");
                    r += 7.0 * 86_400.0;
                    rows += 3;
                }
            }
        }
    }
    tx.commit().expect("commit");
    let filled = cpu_seconds() - t0;
    let rss_before = peak_rss_kib();

    let t1 = cpu_seconds();
    let period = camwatch::report::period::parse("2026-10", config.agent.timezone).expect("a period");
    let conn = camwatch::state::store::open_reader(&data.join(camwatch::state::store::FILE_NAME)).expect("the store");
    let report =
        camwatch::report::build(&config, &conn, period, camwatch::report::Unreachable::Down, end).expect("a report");
    let built = cpu_seconds() - t1;
    let t2 = cpu_seconds();
    let html = camwatch::report::html::render(&report);
    let csv: usize = camwatch::report::csv::tables(&report)
        .iter()
        .map(|(_, t)| t.len())
        .sum();
    let rendered = cpu_seconds() - t2;
    if let Some(path) = keep_html {
        std::fs::write(&path, &html).expect("the HTML file is written");
    }
    println!(
        "{devices} devices, {rows} history rows over a year (filled in {filled:.2} CPU s, peak RSS then {} MiB)",
        rss_before / 1024
    );
    println!(
        "report for 2026-10: {} devices, {} incidents, {} recorders; HTML {} KiB, CSV {} KiB",
        report.devices.len(),
        report.incidents.list.len(),
        report.recorders.len(),
        html.len() / 1024,
        csv / 1024
    );
    println!(
        "build {built:.3} CPU s + render {rendered:.3} CPU s = {:.3} CPU s; peak RSS {} MiB",
        built + rendered,
        peak_rss_kib() / 1024
    );
}
