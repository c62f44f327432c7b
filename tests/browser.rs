//! The report and the landing page as people see them: opened in headless Chromium (Debian
//! `chromium`), screenshots taken and found not blank (their pixels read back with ffmpeg), key
//! texts found in the rendered DOM, and the report printed to PDF with pages.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Daemon, cli, daemon_config, stderr, temp_dir};

/// Runs headless Chromium on `url` with `args` (e.g. `--screenshot=FILE`); returns its stdout.
fn chromium(profile: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is installed (Debian package chromium; the README's test command installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The share of a screenshot's pixels that are not the page's background (the most common grey).
fn ink(png: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(png)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(out.status.success(), "ffmpeg cannot read {}", png.display());
    let mut counts = [0usize; 256];
    for &p in &out.stdout {
        counts[p as usize] += 1;
    }
    let background = counts.iter().max().copied().unwrap_or(0);
    1.0 - background as f64 / out.stdout.len().max(1) as f64
}

#[test]
fn report_and_landing_page_render_in_chromium_and_the_report_prints() {
    let dir = temp_dir();
    let (config, addr) = daemon_config(
        dir.path(),
        r#"
[policy.default]
interval = "1s"
timeout = "900ms"
ping_count = 1

[[device]]
name = "front-desk-nvr"
kind = "recorder"
address = "127.0.0.1"
"#,
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    // Judged (a new recorder's month stays undecided for now).
    support::wait_for(
        "the recorder's availability judged",
        std::time::Duration::from_secs(60),
        || daemon.check("front-desk-nvr", "availability")["last_run"].is_number(),
    );
    let profile = dir.path().join("chromium");

    // The landing page, served by the agent.
    let landing = dir.path().join("landing.png");
    chromium(
        &profile,
        &format!("http://{addr}/"),
        &[&format!("--screenshot={}", landing.display())],
    );
    assert!(ink(&landing) > 0.005, "the landing page screenshot is blank");
    let dom = chromium(&profile, &format!("http://{addr}/"), &["--dump-dom"]);
    assert!(dom.contains("front-desk-nvr"), "{dom}");

    // Today's report, written by the CLI, opened from the file.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let html = dir.path().join("report.html");
    let out = cli(&config, &["report", "--period", &today, "-o", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(daemon.terminate().success());
    let url = format!("file://{}", html.display());
    let shot = dir.path().join("report.png");
    chromium(&profile, &url, &[&format!("--screenshot={}", shot.display())]);
    let ink = ink(&shot);
    assert!(ink > 0.01, "the report screenshot is blank ({ink})");
    let dom = chromium(&profile, &url, &["--dump-dom"]);
    for text in [
        "Availability",
        "front-desk-nvr",
        "Recorder interruptions",
        "Rule: The recording system runs 24 hours a day",
    ] {
        assert!(dom.contains(text), "{text:?} not in the rendered report:\n{dom}");
    }
    let pdf = dir.path().join("report.pdf");
    chromium(
        &profile,
        &url,
        &["--no-pdf-header-footer", &format!("--print-to-pdf={}", pdf.display())],
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let pages = bytes
        .windows(10)
        .filter(|w| w == b"/Type /Pag" || w == b"/Type/Page")
        .count();
    assert!(pages >= 1, "the PDF has no pages");
}
