//! Hikvision ISAPI through the real binary, against the project's simulated recorder
//! (`tests/support/isapi_sim.rs`: Digest login, server-side paged recording search, a Storage
//! answer with a failed disk and an empty bay, an uptime that can go back): coverage, gaps and
//! compliance to the second per channel, the storage forecast, disks, reboots, wrong passwords,
//! garbage answers, and proof that camwatch only reads.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::footage::gaps;
use support::isapi_sim::{IsapiSim, IsapiState, SimChannel, now};
use support::{Daemon, camwatch, daemon_config, promtool_check_metrics, sample, temp_dir, write};

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;
const GIB: u64 = 1 << 30;
/// Bytes of one hour of footage of one camera.
const HOURLY: u64 = 6 * GIB;

/// Hourly segments ending at `end`, going back `hours`, leaving out those `skip` says.
fn hourly(end: i64, hours: i64, skip: impl Fn(i64) -> bool) -> Vec<(i64, i64, u64)> {
    (0..hours)
        .rev()
        .map(|k| (end - (k + 1) * HOUR, end - k * HOUR, HOURLY))
        .filter(|(start, _, _)| !skip(*start))
        .collect()
}

/// How many whole hourly segments back from a scene's end reach `seconds` back: the segment
/// crossing that point counts, and one starting exactly on it is the last.
fn hours_back(seconds: i64) -> i64 {
    (seconds + HOUR - 1) / HOUR
}

struct Scene {
    end: i64,
    hole: (i64, i64),
}

/// A recorder with four channels: one recording 35 days without a hole, one with a two-hour hole
/// ten days ago, one that stopped a day ago, and one that never recorded.
fn recorder() -> (IsapiState, Scene) {
    let end = now() / 60 * 60;
    let hole_start = end - 10 * DAY - 5 * HOUR;
    let hole = (hole_start, hole_start + 2 * HOUR);
    let state = IsapiState {
        channels: vec![
            SimChannel {
                id: 1,
                name: "Front door".into(),
                segments: hourly(end, 35 * 24, |_| false),
            },
            SimChannel {
                id: 2,
                name: "Yard".into(),
                segments: hourly(end, 35 * 24, |s| (hole.0..hole.1).contains(&s)),
            },
            SimChannel {
                id: 3,
                name: "Gate".into(),
                segments: hourly(end - DAY, 5 * 24, |_| false),
            },
            SimChannel {
                id: 4,
                name: "Back".into(),
                segments: vec![],
            },
        ],
        ..IsapiState::default()
    };
    (state, Scene { end, hole })
}

const PASSWORD_ENV: &str = "CAMWATCH_TEST_NVR_PASSWORD";

fn config(dir: &Path, sim: &IsapiSim, extra: &str) -> std::path::PathBuf {
    let path = dir.join("camwatch.toml");
    write(
        &path,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"127.0.0.1\"\nping = \"off\"\nusername = \"camwatch\"\npassword_env = \"{PASSWORD_ENV}\"\n[device.overrides]\ntimeout = \"30s\"\ninterval = \"30s\"\n[device.isapi]\nport = {}\n{extra}",
            sim.addr.port()
        ),
    );
    path
}

/// `camwatch once --json` with the password; every check's line by name, the exit code, and the
/// whole output (to prove no password is in it).
fn once(config: &Path, password: &str) -> (Option<i32>, std::collections::BTreeMap<String, Value>, String) {
    let out = camwatch()
        .args(["once", "--json", "-c", config.to_str().unwrap()])
        .env(PASSWORD_ENV, password)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}\n{all}")))
        .map(|v| (v["check"].as_str().unwrap().to_owned(), v))
        .collect();
    (out.status.code(), lines, all)
}

#[test]
fn recorder_footage_disks_and_uptime_through_digest_to_the_second() {
    let (state, scene) = recorder();
    let password = state.password.clone();
    let boot = state.boot_time;
    let sim = IsapiSim::start(state);
    let dir = temp_dir();
    let config = config(
        dir.path(),
        &sim,
        "channels = [\"Front door\", \"Yard\", \"Gate\", \"Back\", \"Lobby\"]\n",
    );
    let (code, lines, all) = once(&config, &password);
    assert_eq!(code, Some(1), "{all}");
    assert!(!all.contains(&password), "the password leaked:\n{all}");

    // Retention: every channel judged from its own search.
    let retention = &lines["retention"];
    assert_eq!(retention["status"], "failed", "{retention}");
    let v = &retention["values"];
    let now = v["scanned_at"].as_i64().unwrap();
    assert_eq!(v["source"], "ISAPI search on 127.0.0.1");
    // A configured name the recorder does not have, and a channel that never recorded.
    assert_eq!(v["missing"], json!(["Lobby", "Back"]));
    assert_eq!(
        v["notes"],
        json!(["Lobby is not a channel of the recorder (it has: Front door, Yard, Gate, Back)"])
    );
    assert_eq!(v["folders"], Value::Null);
    let summary = retention["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Lobby: no footage at all in ISAPI search on 127.0.0.1 (Every camera records"),
        "{summary}"
    );
    // Back, Yard, Gate, and Front door, whose disk fills within the forecast warning.
    assert!(summary.ends_with("(and 4 more cameras)"), "{summary}");
    // The search reaches back the window (30 days) plus a day: the oldest hour found is the one
    // crossing that point, or starting on it when the scan ran on the very second the scene's
    // hours end on (so not `/ HOUR + 1`, which was an hour off once a minute).
    let from = now - 31 * DAY;
    let oldest = scene.end - hours_back(scene.end - from) * HOUR;
    let front = &v["cameras"]["Front door"];
    assert_eq!(front["oldest_seconds"], oldest, "{front}");
    assert_eq!(front["newest_seconds"], scene.end);
    assert_eq!(front["recording_now"], true);
    assert_eq!(gaps(front), vec![]);
    // Measured up to the requirement plus a day, though the hour found starts before that.
    assert_eq!(front["contiguous_seconds"], 31 * DAY);
    assert_eq!(front["compliant"], true);
    assert_eq!(front["files"], (scene.end - oldest) / HOUR);

    let yard = &v["cameras"]["Yard"];
    assert_eq!(gaps(yard), vec![scene.hole]);
    assert_eq!(yard["gap_seconds"], 2 * HOUR);
    assert_eq!(yard["contiguous_seconds"], now - scene.hole.1);
    assert_eq!(yard["compliant"], false);

    let gate = &v["cameras"]["Gate"];
    assert_eq!(gate["newest_seconds"], scene.end - DAY);
    assert_eq!(gate["oldest_seconds"], scene.end - 6 * DAY);
    assert_eq!(gate["recording_now"], false);
    assert_eq!(gate["contiguous_seconds"], 0);

    // The write rate: the share of each hour written in the last 24 hours, from the playback
    // URIs' sizes; Gate wrote nothing.
    let written = (scene.end - (now - DAY)) as f64 * HOURLY as f64 / HOUR as f64;
    for camera in ["Front door", "Yard"] {
        let bytes = v["cameras"][camera]["bytes_last_day"].as_f64().unwrap();
        assert!((bytes - written).abs() <= 2.0, "{camera}: {bytes} vs {written}");
    }
    assert_eq!(v["cameras"]["Gate"]["bytes_last_day"], 0);
    // Storage: the working and the failed disk count (3,815,447 MiB each), the empty bay not.
    let size = (2 * 3_815_447u64) << 20;
    assert_eq!(v["size_bytes"], size);
    let free = 500_000u64 << 20;
    assert_eq!(v["free_bytes"], free);
    let per_day = v["bytes_per_day"].as_f64().unwrap();
    assert!((per_day - 2.0 * written).abs() <= 4.0, "{per_day}");
    // The disks keep size / rate (about 26 days) once full, under the 30 required: coverage of
    // the compliant camera falls under the requirement when the free space is used up.
    let steady = v["steady_state_seconds"].as_f64().unwrap();
    assert!((steady - size as f64 / per_day * DAY as f64).abs() < 1.0, "{steady}");
    assert!(steady < 30.0 * DAY as f64, "{steady}");
    let forecast = front["forecast_seconds"].as_f64().unwrap();
    assert!(
        (forecast - free as f64 / per_day * DAY as f64).abs() < 1.0,
        "{forecast}"
    );
    assert!(forecast > DAY as f64 && forecast < 2.0 * DAY as f64, "{forecast}");

    // Paging: the recorder answers at most 40 matches a page, so the 31 days of Front door took
    // exactly as many pages as 40 fit in, all under one search ID.
    let matches = hourly(scene.end, 35 * 24, |_| false)
        .iter()
        .filter(|(a, b, _)| *b > from && *a < now + HOUR)
        .count() as u32;
    sim.with(|s| {
        assert_eq!(s.pages[&101], matches.div_ceil(40), "{:?}", s.pages);
        assert!(s.pages[&101] > 1);
        assert_eq!(s.search_ids[&101].len(), 1, "{:?}", s.search_ids);
        assert_eq!(s.pages[&401], 1, "the empty channel is one NO MATCHES page");
        assert_eq!(s.refused, 0, "every Digest answer was right");
    });

    // Disks: the SMART failure fails the check; the empty bay is no fault.
    let disks = &lines["recorder_disks"];
    assert_eq!(disks["status"], "failed", "{disks}");
    assert_eq!(disks["summary"], "disk 2 (hdd2) failed its SMART self-check");
    let states: Vec<&str> = disks["values"]["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["normal", "smart_failed", "empty"]);

    // Uptime: 40 days, from deviceUpTime in seconds.
    let uptime = &lines["uptime"];
    assert_eq!(uptime["status"], "ok", "{uptime}");
    assert_eq!(uptime["values"]["counter"], "device");
    let boot_seen = uptime["values"]["boot_time_seconds"].as_f64().unwrap();
    assert!((boot_seen - boot as f64).abs() <= 2.0, "{boot_seen} vs {boot}");

    // Read-only: GETs of ISAPI paths, and the search, which is the only POST; every request was
    // first challenged for Digest.
    sim.with(|s| {
        for (method, path) in &s.requests {
            assert!(
                method == "GET" || (method == "POST" && path == "/ISAPI/ContentMgmt/search"),
                "{method} {path}"
            );
            assert!(path.starts_with("/ISAPI/"), "{path}");
        }
        let posts = s.requests.iter().filter(|(m, _)| m == "POST").count();
        let pages: u32 = s.pages.values().sum();
        assert_eq!(posts as u32, 2 * pages, "each page: a challenge, then the answer");
    });
}

#[test]
fn a_dvr_with_local_times_and_no_ip_channels_reads_the_same() {
    let (mut state, scene) = recorder();
    state.ip_channels = false;
    // Times without a zone, in the recorder's local time (UTC+1, as /ISAPI/System/time says).
    state.local_offset = Some(3600);
    state.time_offset = 3600;
    let password = state.password.clone();
    let sim = IsapiSim::start(state);
    let dir = temp_dir();
    // Front door has rules of its own: 33 days, so the search reaches back 34.
    let config = config(
        dir.path(),
        &sim,
        "checks = [\"retention\"]\n[device.camera_policy.\"Front door\"]\nretention_days = 33\n",
    );
    let (code, lines, all) = once(&config, &password);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(lines.len(), 1, "only the retention check: {all}");
    let v = &lines["retention"]["values"];
    // Without `channels`, every channel the recorder lists is judged.
    assert_eq!(v["missing"], json!(["Back"]));
    let front = &v["cameras"]["Front door"];
    assert_eq!(front["newest_seconds"], scene.end);
    let from = v["scanned_at"].as_i64().unwrap() - 34 * DAY;
    assert_eq!(front["oldest_seconds"], scene.end - hours_back(scene.end - from) * HOUR);
    assert_eq!(front["compliant"], true, "{front}");
    assert_eq!(gaps(&v["cameras"]["Yard"]), vec![scene.hole]);
    assert_eq!(v["cameras"]["Gate"]["newest_seconds"], scene.end - DAY);
    sim.with(|s| {
        let paths: Vec<&str> = s.requests.iter().map(|(_, p)| p.as_str()).collect();
        assert!(paths.contains(&"/ISAPI/System/Video/inputs/channels"), "{paths:?}");
        assert!(paths.contains(&"/ISAPI/System/time"), "{paths:?}");
    });
}

#[test]
fn a_wrong_password_is_a_clear_failure_that_never_shows_a_password() {
    let (state, _) = recorder();
    let right = state.password.clone();
    let sim = IsapiSim::start(state);
    let dir = temp_dir();
    let config = config(dir.path(), &sim, "");
    let wrong = "Not-The-Pa55word";
    let (code, lines, all) = once(&config, wrong);
    assert_eq!(code, Some(1), "{all}");
    for check in ["retention", "recorder_disks", "uptime"] {
        let line = &lines[check];
        assert_eq!(line["status"], "failed", "{line}");
        let summary = line["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("127.0.0.1 refused the login of user \"camwatch\" (HTTP 401 to /ISAPI/"),
            "{summary}"
        );
        assert!(summary.ends_with("check username and password"), "{summary}");
    }
    assert!(
        !all.contains(wrong) && !all.contains(&right),
        "a password leaked:\n{all}"
    );
    assert!(sim.with(|s| s.refused) >= 3);
}

#[test]
fn garbage_answers_are_a_clear_error() {
    let (mut state, _) = recorder();
    state.garbage = true;
    let password = state.password.clone();
    let sim = IsapiSim::start(state);
    let dir = temp_dir();
    let config = config(dir.path(), &sim, "");
    let (code, lines, all) = once(&config, &password);
    assert_eq!(code, Some(1), "{all}");
    for (check, path) in [
        ("retention", "/ISAPI/ContentMgmt/InputProxy/channels"),
        ("recorder_disks", "/ISAPI/ContentMgmt/Storage"),
        ("uptime", "/ISAPI/System/status"),
    ] {
        let line = &lines[check];
        assert_eq!(line["status"], "failed", "{line}");
        let summary = line["summary"].as_str().unwrap();
        assert!(
            summary.starts_with(&format!(
                "127.0.0.1 answered {path} with something that is not ISAPI XML"
            )),
            "{summary}"
        );
    }
}

#[test]
fn the_daemon_sees_a_reboot_and_exports_clean_metrics() {
    let (state, scene) = recorder();
    let password = state.password.clone();
    let sim = IsapiSim::start(state);
    let dir = temp_dir();
    let body = format!(
        "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"127.0.0.1\"\nping = \"off\"\nusername = \"camwatch\"\npassword_env = \"{PASSWORD_ENV}\"\n[device.overrides]\ninterval = \"2s\"\ntimeout = \"2s\"\nretention_days = 2\n[device.isapi]\nport = {}\nchannels = [\"Front door\", \"Gate\"]\n",
        sim.addr.port()
    );
    let (path, addr) = daemon_config(dir.path(), &body);
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env(PASSWORD_ENV, &password);
    });
    let wait = Duration::from_secs(60);
    support::wait_for("the first result of every check", wait, || {
        daemon.check("nvr", "uptime")["values"]["counter"] == "device"
            && daemon.check("nvr", "retention")["values"]["cameras"]["Front door"].is_object()
            && daemon.check("nvr", "recorder_disks")["values"]["disks"].is_array()
    });
    let m = daemon.metrics();
    assert_eq!(promtool_check_metrics(&m), "", "promtool complains:\n{m}");
    let nvr = [r#"device="nvr""#];
    assert_eq!(sample(&m, "camwatch_device_reboots_total", &nvr), Some(0.0), "{m}");
    let front = [r#"device="nvr""#, r#"camera="Front door""#];
    assert_eq!(
        sample(&m, "camwatch_recording_newest_timestamp_seconds", &front),
        Some(scene.end as f64)
    );
    assert_eq!(sample(&m, "camwatch_retention_compliant", &front), Some(1.0));
    let gate = [r#"device="nvr""#, r#"camera="Gate""#];
    assert_eq!(sample(&m, "camwatch_retention_compliant", &gate), Some(0.0));
    assert_eq!(
        sample(
            &m,
            "camwatch_recorder_disk_state",
            &[r#"device="nvr""#, r#"disk="2""#, r#"state="smart_failed""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "camwatch_recorder_disk_state",
            &[r#"device="nvr""#, r#"disk="3""#, r#"state="empty""#]
        ),
        Some(1.0)
    );

    // The recorder restarts: its uptime goes back to 30 s.
    let rebooted = now() - 30;
    sim.with(|s| s.boot_time = rebooted);
    support::wait_for("the reboot to be counted", wait, || {
        sample(&daemon.metrics(), "camwatch_device_reboots_total", &nvr) == Some(1.0)
    });
    let uptime = daemon.check("nvr", "uptime");
    assert_eq!(uptime["state"], "warning", "a reboot is known at once: {uptime}");
    let m = daemon.metrics();
    let boot = sample(&m, "camwatch_device_boot_time_seconds", &nvr).unwrap();
    assert!((boot - rebooted as f64).abs() <= 2.0, "{boot} vs {rebooted}");
    assert_eq!(promtool_check_metrics(&m), "", "promtool complains:\n{m}");
    // Seen once, not again on the next polls.
    let polls = sim.with(|s| s.requests.iter().filter(|(_, p)| p == "/ISAPI/System/status").count());
    support::wait_for("two more uptime polls", wait, || {
        sim.with(|s| s.requests.iter().filter(|(_, p)| p == "/ISAPI/System/status").count()) >= polls + 4
    });
    assert_eq!(
        sample(&daemon.metrics(), "camwatch_device_reboots_total", &nvr),
        Some(1.0)
    );
    sim.with(|s| {
        assert!(
            s.requests
                .iter()
                .all(|(m, p)| m == "GET" || p == "/ISAPI/ContentMgmt/search")
        );
    });
    assert!(daemon.terminate().success());
}
