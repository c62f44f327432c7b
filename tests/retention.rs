//! Footage retention from footage folders: trees generated in temp folders (Frigate layout and a
//! flat layout dated by modification time) with a deleted hour, a missing day, a camera that
//! stopped yesterday and one that never recorded; coverage, gaps and compliance asserted to the
//! second through `camwatch once --json`, and the incremental rescan through the daemon.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::footage::{DAY, flat, floor, footage_dir, frigate, frigate_dir, frigate_path, gaps, unix_now};
use support::{Daemon, daemon_config, json_line, promtool_check_metrics, run, sample, temp_dir, write};

const FRIGATE: &str = "/{date}/{hour}/{camera}/{minute}.{second}.mp4";

/// The `retention` line of `camwatch once --json`, with the exit code.
fn once_retention(config: &Path) -> (Option<i32>, Value) {
    let out = run(&["once", "--json", "-c", config.to_str().unwrap()]);
    (out.status.code(), json_line(&out, "retention"))
}

#[test]
fn frigate_tree_of_35_days_coverage_gaps_and_compliance_to_the_second() {
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("recordings");
    // Footage ends at the last whole minute; everything below is relative to it.
    let end = floor(unix_now(), 60);
    let start = end - 35 * DAY;
    // front: 35 days of 60-second segments, then the last 3 hours in 10-second ones.
    let mut front_files = frigate(&root, "front", start, end - 3 * 3600, 60, 6_000, |_| false);
    front_files += frigate(&root, "front", end - 3 * 3600, end, 10, 1_000, |_| false);
    // yard: a deleted hour 10 days ago and a missing day 20 days ago.
    let hour = floor(end - 10 * DAY, 3600);
    let day = floor(end - 20 * DAY, DAY);
    frigate(&root, "yard", start, end, 60, 0, |t| {
        (hour..hour + 3600).contains(&t) || (day..day + DAY).contains(&t)
    });
    // gate: 5 days of footage, stopped yesterday.
    frigate(&root, "gate", end - 5 * DAY, end - DAY, 60, 0, |_| false);
    // Not footage: counted, not fatal.
    write(&frigate_dir(&root, "front", end - 3600).join("notes.txt"), "x");

    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"host\"\n[device.footage]\nroot = \"{}\"\nlayout = \"{FRIGATE}\"\ncameras = [\"front\", \"yard\", \"gate\", \"back\"]\n",
            root.display()
        ),
    );
    let (code, line) = once_retention(&config);
    assert_eq!(code, Some(1), "{line}");
    assert_eq!(line["status"], "failed");
    let v = &line["values"];
    let now = v["scanned_at"].as_i64().unwrap();
    assert!(now - end < 300, "the scan took too long to judge 'recording now'");
    assert_eq!(v["required_seconds"], 30 * DAY);
    assert_eq!(v["missing"], json!(["back"]));
    assert_eq!(v["folders"]["unmatched"], 1);
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "back: no footage at all in {} (Every camera records 24 hours a day, with no gap in recording longer than 5m.) (and 2 more cameras)",
            root.display()
        )),
        "{summary}"
    );
    assert!(
        summary.ends_with("; 1 files or folders do not fit the layout"),
        "{summary}"
    );

    let front = &v["cameras"]["front"];
    assert_eq!(front["oldest_seconds"], start);
    assert_eq!(front["newest_seconds"], end);
    assert_eq!(front["recording_now"], true);
    assert_eq!(gaps(front), vec![]);
    assert_eq!(front["gap_seconds"], 0);
    // Footage older than the window plus a day is forgotten (memory stays bounded), so
    // contiguous coverage is measured up to 31 days here, while the oldest footage is exact.
    assert_eq!(front["contiguous_seconds"], 31 * DAY);
    assert_eq!(front["compliant"], true);
    assert_eq!(front["files"], front_files);
    // Sizes are read for the last day only, in whole hours: 23 to 24 hours of writing.
    let per_day = v["bytes_per_day"].as_f64().unwrap();
    let hourly = 6_000.0 * 60.0; // the last 3 hours write the same rate in 10-s files
    assert!((23.0 * hourly..=24.0 * hourly).contains(&per_day), "{per_day}");

    let yard = &v["cameras"]["yard"];
    assert_eq!(gaps(yard), vec![(day, day + DAY), (hour, hour + 3600)]);
    assert_eq!(yard["gap_seconds"], DAY + 3600);
    assert_eq!(yard["contiguous_seconds"], now - (hour + 3600));
    assert_eq!(yard["compliant"], false);
    assert_eq!(yard["recording_now"], true);

    let gate = &v["cameras"]["gate"];
    assert_eq!(gate["oldest_seconds"], end - 5 * DAY);
    assert_eq!(gate["newest_seconds"], end - DAY);
    assert_eq!(gate["recording_now"], false);
    assert_eq!(gate["contiguous_seconds"], 0);
    assert_eq!(gaps(gate), vec![(now - 30 * DAY, end - 5 * DAY), (end - DAY, now)]);
    assert_eq!(
        gate["gap_seconds"],
        (end - 5 * DAY - (now - 30 * DAY)) + (now - (end - DAY))
    );
    assert_eq!(v["failed_cameras"], 3);

    // The hospital procedure wants 90 days: 35 are not enough (and, as its window plus a day
    // reaches past the oldest footage, contiguous coverage is the whole 35 days to the second).
    write(
        &config,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"host\"\npolicy = \"hospital\"\n[device.footage]\nroot = \"{}\"\nlayout = \"{FRIGATE}\"\n",
            root.display()
        ),
    );
    let (code, line) = once_retention(&config);
    assert_eq!(code, Some(1));
    let v = &line["values"];
    let now = v["scanned_at"].as_i64().unwrap();
    assert_eq!(v["required_seconds"], 90 * DAY);
    assert_eq!(v["cameras"]["front"]["contiguous_seconds"], now - start);
    assert_eq!(v["cameras"]["front"]["compliant"], false);
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("gate: not recording since ")
            && summary.contains("(Cameras record continuously, day and night, with no interruption longer than 5m.) (and 2 more cameras)"),
        "{summary}"
    );
}

#[test]
fn flat_layout_by_modification_time_with_a_missing_day() {
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("footage");
    let end = floor(unix_now(), 60);
    let day = floor(end - 4 * DAY, DAY);
    flat(&root, "lobby", end - 8 * DAY, end, 60, |t| {
        (day..day + DAY).contains(&t)
    });
    flat(&root, "hall", end - 8 * DAY, end, 60, |_| false);
    write(&root.join("stray.mp4"), "");
    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!(
            r#"
[policy.week]
extends = "property"
retention_days = 7
[[device]]
name = "zm"
kind = "host"
policy = "week"
[device.footage]
root = "{}"
layout = "mtime"
camera_from = "dir"
segment_seconds = 60
"#,
            root.display()
        ),
    );
    let (code, line) = once_retention(&config);
    assert_eq!(code, Some(1), "{line}");
    let v = &line["values"];
    let now = v["scanned_at"].as_i64().unwrap();
    assert_eq!(v["required_seconds"], 7 * DAY);
    assert_eq!(v["folders"]["unmatched"], 1);
    let lobby = &v["cameras"]["lobby"];
    assert_eq!(gaps(lobby), vec![(day, day + DAY)]);
    assert_eq!(lobby["contiguous_seconds"], now - (day + DAY));
    assert_eq!(lobby["oldest_seconds"], end - 8 * DAY);
    assert_eq!(lobby["newest_seconds"], end);
    let hall = &v["cameras"]["hall"];
    assert_eq!(gaps(hall), vec![]);
    // Measured up to the window plus a day (older footage is forgotten between scans).
    assert_eq!(hall["contiguous_seconds"], 8 * DAY);
    assert_eq!(hall["compliant"], true);
    let day_text = chrono::DateTime::from_timestamp(day, 0).unwrap().format("%Y-%m-%d");
    assert_eq!(
        line["summary"],
        format!(
            "lobby: gap of 1 day 0 h on {day_text} from 00:00 UTC (Cameras covering the property record 24 hours a day, with no gap longer than 5m.); 1 files or folders do not fit the layout"
        )
    );
}

#[test]
fn missing_root_is_a_clear_failure() {
    let dir = temp_dir();
    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"host\"\n[device.footage]\nroot = \"{}/nope\"\nlayout = \"{FRIGATE}\"\n",
            dir.path().display()
        ),
    );
    let (code, line) = once_retention(&config);
    assert_eq!(code, Some(1));
    assert_eq!(line["status"], "failed");
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "footage root {}/nope cannot be read: No such file",
            dir.path().display()
        )),
        "{summary}"
    );
}

#[test]
fn daemon_rescans_incrementally_new_segment_and_deleted_hour() {
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("recordings");
    let end = floor(unix_now(), 60);
    frigate(&root, "front", end - 2 * DAY, end, 60, 1000, |_| false);
    let body = format!(
        r#"
[policy.default]
interval = "1s"
timeout = "1s"
retention_days = 1
[[device]]
name = "nvr"
kind = "host"
[device.footage]
root = "{}"
layout = "{FRIGATE}"
"#,
        root.display()
    );
    let (path, addr) = daemon_config(dir.path(), &body);
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    let values = || daemon.check("nvr", "retention")["values"].clone();
    let wait = Duration::from_secs(60);
    support::wait_for("the first footage scan", wait, || {
        values()["cameras"]["front"].is_object()
    });
    assert_eq!(values()["cameras"]["front"]["newest_seconds"], end);
    assert_eq!(values()["cameras"]["front"]["compliant"], true);

    // A new segment: newest advances, and older folders are not read again.
    std::fs::create_dir_all(frigate_dir(&root, "front", end)).unwrap();
    std::fs::File::create(frigate_path(&root, "front", end)).unwrap();
    support::wait_for("the new segment", wait, || {
        values()["cameras"]["front"]["newest_seconds"] == end + 60
    });
    let v = values();
    assert!(v["folders"]["reused"].as_u64().unwrap() >= 40, "{v}");
    assert!(v["folders"]["read"].as_u64().unwrap() <= 4, "{v}");

    // An old hour deleted (inside the 1-day window): a gap of exactly that hour.
    let hour = floor(end - 12 * 3600, 3600);
    std::fs::remove_dir_all(frigate_dir(&root, "front", hour)).unwrap();
    support::wait_for("the deleted hour as a gap", wait, || {
        values()["cameras"]["front"]["gap_seconds"] == 3600
    });
    let v = values();
    assert_eq!(gaps(&v["cameras"]["front"]), vec![(hour, hour + 3600)]);
    assert_eq!(v["cameras"]["front"]["compliant"], false);
    let m = daemon.metrics();
    assert_eq!(promtool_check_metrics(&m), "", "promtool complains:\n{m}");
    let labels = [r#"device="nvr""#, r#"camera="front""#];
    assert_eq!(sample(&m, "camwatch_recording_gap_seconds", &labels), Some(3600.0));
    assert_eq!(sample(&m, "camwatch_retention_compliant", &labels), Some(0.0));
    assert_eq!(
        sample(&m, "camwatch_retention_required_seconds", &labels),
        Some(86_400.0)
    );
    assert_eq!(
        sample(&m, "camwatch_recording_oldest_timestamp_seconds", &labels),
        Some((end - 2 * DAY) as f64)
    );
    assert_eq!(
        sample(&m, "camwatch_recording_newest_timestamp_seconds", &labels),
        Some((end + 60) as f64)
    );
    assert_eq!(sample(&m, "camwatch_retention_forecast_seconds", &labels), Some(0.0));
    let contiguous = sample(&m, "camwatch_recording_contiguous_seconds", &labels).unwrap();
    assert!(contiguous > 0.0 && contiguous < 12.0 * 3600.0, "{contiguous}");
    assert!(daemon.terminate().success());
}

/// A camera whose newest hour folder holds a single segment: its length comes from the camera's
/// older folders (60 s), whatever order the file system lists folders in.
#[test]
fn a_lone_segment_in_the_newest_folder_keeps_the_cameras_segment_length() {
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("recordings");
    let hour = floor(unix_now() - DAY, 3600);
    frigate(&root, "solo", hour - 3 * 3600, hour + 60, 60, 0, |_| false);
    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"host\"\n[device.footage]\nroot = \"{}\"\nlayout = \"{FRIGATE}\"\n",
            root.display()
        ),
    );
    let (_, line) = once_retention(&config);
    let solo = &line["values"]["cameras"]["solo"];
    assert_eq!(solo["oldest_seconds"], hour - 3 * 3600, "{line}");
    assert_eq!(solo["newest_seconds"], hour + 60, "{line}");
}

/// A camera whose footage stopped 2 h ago, plus one segment dated a year ahead and one under
/// `1970-01-01/`: not recording, no negative coverage, oldest and newest from the believable
/// footage, the doubted dates said. Beside it, a camera of 90 days (its own rules) among the
/// device's 30-day ones: each camera's coverage is measured up to its own requirement plus a day.
#[test]
fn dates_from_a_wrong_clock_are_not_believed_and_coverage_is_capped_per_camera() {
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("recordings");
    let end = floor(unix_now(), 60);
    let start = end - 35 * DAY;
    frigate(&root, "front", end - 3 * DAY, end - 2 * 3600, 60, 0, |_| false);
    let ahead = floor(end + 365 * DAY, 60);
    frigate(&root, "front", ahead, ahead + 60, 60, 0, |_| false);
    frigate(&root, "front", 0, 60, 60, 0, |_| false);
    frigate(&root, "lobby", start, end, 60, 0, |_| false);
    frigate(&root, "pharmacy", start, end, 60, 0, |_| false);
    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"host\"\n[device.footage]\nroot = \"{}\"\nlayout = \"{FRIGATE}\"\n[device.camera_policy.\"pharmacy\"]\nretention_days = 90\n",
            root.display()
        ),
    );
    let (code, line) = once_retention(&config);
    assert_eq!(code, Some(1), "{line}");
    let v = &line["values"];
    let now = v["scanned_at"].as_i64().unwrap();
    let front = &v["cameras"]["front"];
    assert_eq!(front["recording_now"], false, "{front}");
    assert_eq!(front["contiguous_seconds"], 0);
    assert_eq!(front["newest_seconds"], end - 2 * 3600);
    assert_eq!(front["oldest_seconds"], end - 3 * DAY);
    assert_eq!(front["files"], 3 * 24 * 60 - 2 * 60);
    let year_ahead = chrono::DateTime::from_timestamp(ahead, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S UTC");
    let why = format!(
        "1 segment dated 1970-01-01 00:00:00 UTC (before 2000: the recorder's clock was not set); 1 segment dated {year_ahead} (in the future: the recorder's clock is ahead)"
    );
    assert_eq!(front["untrusted"], why.as_str());
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("front: {why}, not believed"))),
        "{}",
        v["notes"]
    );
    assert!(
        line["summary"]
            .as_str()
            .unwrap()
            .starts_with("front: not recording since "),
        "{line}"
    );
    // The device keeps 91 days for its pharmacy camera; the 30-day lobby is measured to 31.
    assert_eq!(v["cameras"]["lobby"]["contiguous_seconds"], 31 * DAY);
    assert_eq!(v["cameras"]["pharmacy"]["contiguous_seconds"], now - start);
    assert_eq!(v["cameras"]["pharmacy"]["required_seconds"], 90 * DAY);
}
