//! Footage retention from an ONVIF Profile G recorder: the project's simulated recorder
//! (`tests/support/onvif_sim.rs`) holds recordings with chosen gaps, a stopped recording, one
//! dated 1970, one without a source name, and pages its search results two at a time. Coverage,
//! gaps and compliance are asserted to the second through `camwatch once --json`; every search
//! opened is ended, also when the recorder answers garbage midway or never completes; the daemon
//! exports the retention metrics cleanly.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::footage::{DAY, floor, gaps, unix_now};
use support::onvif_sim::{SimCamera, SimRecording, SimState, SimTrack};
use support::{Daemon, daemon_config, promtool_check_metrics, sample, stderr, stdout, temp_dir, write};

fn recording(token: &str, source: &str, status: &str, tracks: Vec<SimTrack>) -> SimRecording {
    SimRecording {
        token: token.into(),
        source: source.into(),
        status: status.into(),
        max_retention: "PT0S".into(),
        tracks,
    }
}

fn recorder_config(sim: &SimCamera, extra: &str) -> String {
    format!(
        r#"
[[device]]
name = "nvr"
kind = "recorder"
address = "127.0.0.1"
ping = "off"
username = "camwatch"
password_env = "CW_CAMERA_PASSWORD"
[device.onvif]
port = {port}
checks = ["retention"]
{extra}
"#,
        port = sim.addr.port()
    )
}

/// The `retention` line of `camwatch once --json`, with the exit code.
fn once_retention(config: &str) -> (Option<i32>, Value) {
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    write(&path, config);
    let out = support::camwatch()
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .env("CW_CAMERA_PASSWORD", SimState::default().password)
        .output()
        .unwrap();
    assert!(!stderr(&out).contains(&SimState::default().password));
    (out.status.code(), support::json_line(&out, "retention"))
}

fn xs(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Only reads: Get*, the Find* searches and EndSearch for the searches camwatch opened.
fn assert_read_only(sim: &SimCamera) {
    let asked = sim.asked();
    assert!(
        asked
            .iter()
            .all(|a| a.starts_with("Get") || a.starts_with("Find") || a == "EndSearch"),
        "{asked:?}"
    );
}

#[test]
fn recorder_coverage_gaps_stopped_and_1970_recordings_to_the_second() {
    let end = floor(unix_now(), 60);
    let hour = floor(end - 10 * DAY, 3600);
    let day = floor(end - 20 * DAY, DAY);
    let short = end - 5 * DAY;
    let sim = SimCamera::start(SimState {
        recordings: vec![
            recording(
                "rec-front",
                "Front door",
                "Recording",
                vec![
                    SimTrack::new("video", "Video", end - 40 * DAY, end, &[(hour, hour + 3600)]),
                    // The audio track's own gap is no gap in the footage: the video counts.
                    SimTrack::new(
                        "audio",
                        "Audio",
                        end - 40 * DAY,
                        end,
                        &[(end - 2 * DAY, end - 2 * DAY + 1800)],
                    ),
                    SimTrack::new("meta", "Metadata", end - 40 * DAY, end, &[]),
                ],
            ),
            recording(
                "rec-yard",
                "Yard",
                "Recording",
                vec![SimTrack::new(
                    "video",
                    "Video",
                    end - 35 * DAY,
                    end,
                    // Three minutes is within max_recording_gap (5m); a whole day is not.
                    &[(short, short + 180), (day, day + DAY)],
                )],
            ),
            SimRecording {
                max_retention: "P5D".into(),
                ..recording(
                    "rec-gate",
                    "Gate",
                    "Stopped",
                    vec![SimTrack::new("video", "Video", end - 5 * DAY, end - DAY, &[])],
                )
            },
            // A recorder that lost its clock: all of this recording is dated 1970.
            recording(
                "rec-stairs",
                "Stairs",
                "Recording",
                vec![SimTrack::new("video", "Video", 195, 2 * DAY, &[])],
            ),
            // Started in 1970, the clock set since (as in the hammeraj capture).
            recording(
                "rec-lobby",
                "Lobby",
                "Recording",
                vec![SimTrack::new("video", "Video", 195, end, &[])],
            ),
            recording(
                "OnvifRecordingToken_6",
                "",
                "Recording",
                vec![SimTrack::new("video", "Video", end - 32 * DAY, end, &[])],
            ),
        ],
        ..SimState::default()
    });
    let (code, line) = once_retention(&recorder_config(
        &sim,
        r#"recordings = ["Front door", "Yard", "Gate", "Stairs", "Lobby", "Back"]"#,
    ));
    assert_eq!(code, Some(1), "{line}");
    assert_eq!(line["status"], "failed");
    let v = &line["values"];
    let now = v["scanned_at"].as_i64().unwrap();
    assert!(now - end < 300, "the poll took too long to judge 'recording now'");
    let source = format!("ONVIF recording search on 127.0.0.1:{}", sim.addr.port());
    assert_eq!(v["source"], source);
    assert_eq!(v["folders"], Value::Null);
    assert_eq!(v["missing"], json!(["Back"]));
    assert_eq!(v["failed_cameras"], 5);
    let recording_clause = "(Every camera records 24 hours a day, with no gap in recording longer than 5m.)";
    assert_eq!(
        line["summary"],
        format!(
            "Stairs: no trustworthy footage: recording rec-stairs dates its newest footage 1970-01-03 00:00:00 UTC (before 2000: the recorder's clock was not set) {recording_clause} (and 4 more cameras)"
        )
    );

    let front = &v["cameras"]["Front door"];
    assert_eq!(front["oldest_seconds"], end - 40 * DAY);
    assert_eq!(front["newest_seconds"], end);
    assert_eq!(front["recording_now"], true);
    assert_eq!(gaps(front), vec![(hour, hour + 3600)]);
    assert_eq!(front["gap_seconds"], 3600);
    assert_eq!(front["contiguous_seconds"], now - (hour + 3600));
    assert_eq!(front["compliant"], false);

    let yard = &v["cameras"]["Yard"];
    assert_eq!(gaps(yard), vec![(day, day + DAY)]);
    assert_eq!(yard["gap_seconds"], DAY);
    assert_eq!(yard["contiguous_seconds"], now - (day + DAY));
    assert_eq!(yard["compliant"], false);

    let gate = &v["cameras"]["Gate"];
    assert_eq!(gate["recording_now"], false);
    assert_eq!(gate["newest_seconds"], end - DAY);
    assert_eq!(gate["contiguous_seconds"], 0);
    assert_eq!(gaps(gate), vec![(now - 30 * DAY, end - 5 * DAY), (end - DAY, now)]);

    let stairs = &v["cameras"]["Stairs"];
    assert_eq!(stairs["newest_seconds"], Value::Null);
    assert_eq!(stairs["compliant"], false);
    assert!(stairs["untrusted"].as_str().unwrap().contains("1970-01-03"), "{stairs}");

    // Lobby's 1970 start is dropped; the recorder's state at the search's start point (the
    // window plus a day) says data was there, so footage counts from that point.
    let lobby = &v["cameras"]["Lobby"];
    assert_eq!(lobby["oldest_seconds"], now - 31 * DAY);
    assert_eq!(lobby["contiguous_seconds"], 31 * DAY);
    assert_eq!(lobby["compliant"], true);
    assert!(
        lobby["untrusted"]
            .as_str()
            .unwrap()
            .contains("oldest footage 1970-01-01 00:03:15 UTC"),
        "{lobby}"
    );

    // A recording without a source name is named by its token; older footage than the window
    // plus a day is not read, so contiguous coverage is measured up to 31 days.
    let nameless = &v["cameras"]["OnvifRecordingToken_6"];
    assert_eq!(nameless["contiguous_seconds"], 31 * DAY);
    assert_eq!(nameless["compliant"], true);

    let notes = v["notes"].to_string();
    assert!(notes.contains("Gate: recording rec-gate says Stopped"), "{notes}");
    // The recording service says why Gate keeps so little: it is set to.
    assert!(
        notes.contains("Gate: recording rec-gate is set to keep footage at most 5 days 0 h (MaximumRetentionTime), 30 days 0 h required"),
        "{notes}"
    );
    assert!(
        notes.contains("Stairs: recording rec-stairs dates its newest footage 1970-01-03 00:00:00 UTC"),
        "{notes}"
    );

    // What was asked: the search service found through the capabilities, paged results (six
    // recordings, two a page), the event search over the window plus a day, bounded sessions,
    // and every search ended.
    assert_read_only(&sim);
    let state = sim.state.lock().unwrap().clone();
    let search_paths: Vec<&String> = state
        .asked
        .iter()
        .zip(&state.paths)
        .filter(|(a, _)| {
            a.starts_with("Find") || a.contains("Search") || (a.starts_with("GetRecording") && *a != "GetRecordings")
        })
        .map(|(_, p)| p)
        .collect();
    assert!(
        search_paths.iter().all(|p| *p == "/onvif/search_service"),
        "{search_paths:?}"
    );
    assert_eq!(sim.count("GetRecordingSummary"), 1);
    assert_eq!(sim.count("GetRecordings"), 1);
    let recording_paths: Vec<&String> = state
        .asked
        .iter()
        .zip(&state.paths)
        .filter(|(a, _)| *a == "GetRecordings")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(recording_paths, vec!["/onvif/recording_service"]);
    assert_eq!(sim.count("GetRecordingSearchResults"), 3);
    // Only the recording without a source name needed its information asked again.
    assert_eq!(sim.count("GetRecordingInformation"), 1);
    assert!(sim.count("GetEventSearchResults") > 3, "{:?}", state.asked);
    assert_eq!(
        state.find_events_window,
        Some((xs(now - 31 * DAY), xs(now))),
        "events from the retention window plus a day up to the scan"
    );
    assert_eq!(
        state.find_bounds,
        vec![
            ("256".to_owned(), "PT10S".to_owned()),
            ("50000".to_owned(), "PT10S".to_owned())
        ]
    );
    assert_eq!((state.searches_opened, state.searches_ended), (2, 2));
    assert_eq!(sim.unended_searches(), 0);
    assert_eq!(state.refused, 0);
}

#[test]
fn searches_are_ended_when_results_turn_to_garbage_never_complete_or_come_too_slowly() {
    let end = floor(unix_now(), 60);
    let recordings = vec![recording(
        "rec-front",
        "Front door",
        "Recording",
        vec![SimTrack::new(
            "video",
            "Video",
            end - 40 * DAY,
            end,
            &[(end - DAY, end - DAY + 600)],
        )],
    )];
    // The second page of events is garbage: the check fails saying so, the search is ended.
    let garbage = SimCamera::start(SimState {
        recordings: recordings.clone(),
        garbage_event_page: Some(2),
        ..SimState::default()
    });
    let (code, line) = once_retention(&recorder_config(&garbage, ""));
    assert_eq!(code, Some(1));
    assert_eq!(line["status"], "failed");
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.contains("answered GetEventSearchResults with something that is not SOAP"),
        "{summary}"
    );
    assert_eq!(garbage.count("GetEventSearchResults"), 2);
    assert_eq!(garbage.count("EndSearch"), 2);
    assert_eq!(garbage.unended_searches(), 0);

    // A search that stays "Searching" without results: given up after a bounded number of
    // rounds, and ended.
    let stuck = SimCamera::start(SimState {
        recordings,
        searches_never_complete: true,
        ..SimState::default()
    });
    let (code, line) = once_retention(&recorder_config(&stuck, ""));
    assert_eq!(code, Some(1));
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.ends_with(
            "'s search gave nothing in 21 rounds of GetRecordingSearchResults in a row and did not complete"
        ),
        "{summary}"
    );
    assert_eq!(stuck.count("GetRecordingSearchResults"), 21);
    assert_eq!(
        stuck.count("FindEvents"),
        0,
        "no event search after a failed recording search"
    );
    assert_eq!(stuck.unended_searches(), 0);
    assert_read_only(&stuck);

    // A slow recorder whose event search would outlast the check: paging stops at three
    // quarters of the timeout, and the rest of it ends the search.
    let gaps: Vec<(i64, i64)> = (1..=30).map(|i| (end - i * 3600, end - i * 3600 + 60)).collect();
    let slow = SimCamera::start(SimState {
        recordings: vec![recording(
            "rec-front",
            "Front door",
            "Recording",
            vec![SimTrack::new("video", "Video", end - 40 * DAY, end, &gaps)],
        )],
        results_delay: Duration::from_millis(300),
        ..SimState::default()
    });
    let (code, line) = once_retention(&format!(
        "[policy.default]\ntimeout = \"3s\"\n{}",
        recorder_config(&slow, "")
    ));
    assert_eq!(code, Some(1));
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.contains("'s search did not complete in the time the check allows (")
            && summary.contains("rounds of GetEventSearchResults"),
        "{summary}"
    );
    assert!(slow.count("GetEventSearchResults") < 30, "{:?}", slow.asked());
    assert_eq!(slow.count("EndSearch"), 2);
    assert_eq!(slow.unended_searches(), 0);

    // A plain camera has no search service: said plainly, nothing searched.
    let camera = SimCamera::start(SimState::default());
    let (code, line) = once_retention(&recorder_config(&camera, ""));
    assert_eq!(code, Some(1));
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.contains("offers no ONVIF search service (Profile G)"),
        "{summary}"
    );
    assert_eq!(camera.count("FindRecordings"), 0);
}

#[test]
fn daemon_exports_recorder_retention_metrics_and_ends_every_search() {
    let dir = temp_dir();
    let end = floor(unix_now(), 60);
    let sim = SimCamera::start(SimState {
        recordings: vec![
            recording(
                "rec-front",
                "Front door",
                "Recording",
                vec![SimTrack::new("video", "Video", end - 3 * DAY, end + 3600, &[])],
            ),
            recording(
                "rec-yard",
                "Yard",
                "Recording",
                vec![SimTrack::new(
                    "video",
                    "Video",
                    end - 3 * DAY,
                    end + 3600,
                    &[(end - DAY, end - DAY + 900)],
                )],
            ),
        ],
        ..SimState::default()
    });
    let body = format!(
        "[policy.default]\ninterval = \"2s\"\ntimeout = \"2s\"\nretention_days = 2\n{}",
        recorder_config(&sim, "")
    );
    let (path, addr) = daemon_config(dir.path(), &body);
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_CAMERA_PASSWORD", SimState::default().password);
    });
    support::wait_for("two retention polls", Duration::from_secs(60), || {
        sim.count("EndSearch") >= 4 && daemon.check("nvr", "retention")["values"]["cameras"]["Yard"].is_object()
    });
    let check = daemon.check("nvr", "retention");
    let yard = &check["values"]["cameras"]["Yard"];
    assert_eq!(gaps(yard), vec![(end - DAY, end - DAY + 900)], "{check}");
    let m = daemon.metrics();
    assert_eq!(promtool_check_metrics(&m), "", "promtool complains:\n{m}");
    let front = [r#"device="nvr""#, r#"camera="Front door""#];
    let yard = [r#"device="nvr""#, r#"camera="Yard""#];
    assert_eq!(sample(&m, "camwatch_retention_compliant", &front), Some(1.0));
    assert_eq!(sample(&m, "camwatch_retention_compliant", &yard), Some(0.0));
    assert_eq!(sample(&m, "camwatch_recording_gap_seconds", &yard), Some(900.0));
    assert_eq!(
        sample(&m, "camwatch_retention_required_seconds", &front),
        Some(2.0 * DAY as f64)
    );
    assert_eq!(
        sample(&m, "camwatch_recording_oldest_timestamp_seconds", &front),
        Some((end - 3 * DAY) as f64)
    );
    assert_eq!(
        sample(&m, "camwatch_recording_newest_timestamp_seconds", &front),
        Some((end + 3600) as f64)
    );
    assert!(daemon.terminate().success());
    // Whatever poll was running when the daemon stopped, no search was left open... except one
    // cut off mid-poll by the stop, which the recorder drops after its KeepAliveTime.
    let state = sim.state.lock().unwrap().clone();
    assert!(state.searches_opened >= 4, "{:?}", state.asked);
    assert!(sim.unended_searches() <= 1, "{:?}", state.asked);
    assert_read_only(&sim);
}

#[test]
fn probe_shows_the_search_exchange_without_the_password() {
    let end = floor(unix_now(), 60);
    let sim = SimCamera::start(SimState {
        recordings: vec![recording(
            "rec-front",
            "Front door",
            "Recording",
            vec![SimTrack::new("video", "Video", end - 40 * DAY, end, &[])],
        )],
        ..SimState::default()
    });
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    write(&path, &recorder_config(&sim, ""));
    let out = support::camwatch()
        .args(["probe", "nvr", "--json", "-c", path.to_str().unwrap()])
        .env("CW_CAMERA_PASSWORD", SimState::default().password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let line: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["check"], "retention");
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(
        line["summary"],
        "1 camera keeps 30 days of footage; shortest: Front door 31 days 0 h"
    );
    let exchange: Vec<&str> = line["exchange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let sent: Vec<&str> = exchange
        .iter()
        .filter_map(|l| l.strip_prefix("ONVIF "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            "GetSystemDateAndTime",
            "GetCapabilities",
            "GetRecordingSummary",
            "GetRecordings",
            "FindRecordings",
            "GetRecordingSearchResults",
            "EndSearch",
            "FindEvents",
            "GetEventSearchResults",
            "EndSearch",
        ],
        "{exchange:#?}"
    );
    let summary = format!(
        "  1 recordings, footage from {} until {}",
        chrono::DateTime::from_timestamp(end - 40 * DAY, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S UTC"),
        chrono::DateTime::from_timestamp(end, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S UTC")
    );
    assert!(exchange.contains(&summary.as_str()), "{exchange:#?}");
    assert!(!stdout(&out).contains(&SimState::default().password));
    assert_eq!(sim.unended_searches(), 0);
}
