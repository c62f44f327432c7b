//! Recorders run 24 hours: a recorder that really drops off the network (a test host in a network
//! namespace) and a recording server whose footage stopped are interrupted; the interruptions are
//! counted once (also across a restart), the availability is time-weighted from the stored
//! history and judged against the policy's monthly target once what was observed decides it.

mod support;

use std::time::Duration;

use support::footage::{floor, footage_dir, frigate, unix_now};
use support::{Daemon, TestHost, daemon_config, promtool_check_metrics, sample, stored_events, temp_dir};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn unreachable_and_not_recording_are_counted_interruptions_judged_against_the_monthly_target() {
    let host = TestHost::new(&[]);
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("recordings");
    // The recording server's only camera stopped recording an hour ago.
    let stopped = floor(unix_now(), 60) - 3600;
    frigate(&root, "lobby", stopped - 2 * 86_400, stopped, 60, 0, |_| false);
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1
successes_before_recovered = 1
ping_count = 1
retention_days = 1
# 25.9 s down in 30 days: half a minute down decides the month, on a new recorder's first day too.
availability_target = 0.99999

[[device]]
name = "nvr"
kind = "recorder"
address = "{nvr}"

[[device]]
name = "server"
kind = "host"
address = "127.0.0.1"
[device.footage]
root = "{root}"
layout = "/{{date}}/{{hour}}/{{camera}}/{{minute}}.{{second}}.mp4"

[[device]]
name = "switch"
kind = "switch"
address = "127.0.0.1"
"#,
            nvr = host.address(2),
            root = root.display()
        ),
    );
    let data = dir.path().join("data");
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    support::wait_for("the recorder's availability", WAIT, || {
        daemon.checks().iter().any(|c| {
            c["device"] == "nvr"
                && c["check"] == "availability"
                && c["summary"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("not yet decidable: "))
        })
    });
    // A few seconds observed, never down: whether the month meets its target is not known yet,
    // and nothing observed breaks it: ok for the day's work, with the summary saying so.
    let undecided = daemon.check("nvr", "availability");
    assert_eq!(undecided["state"], "ok", "{undecided}");
    assert_eq!(undecided["values"]["decision"], "undecided", "{undecided}");
    let summary = undecided["summary"].as_str().unwrap();
    assert!(
        summary.contains(" of the last 30 days observed, available 100 % so far (no interruptions)"),
        "{summary}"
    );
    assert!(
        daemon
            .checks()
            .iter()
            .all(|c| !(c["device"] == "switch" && c["check"] == "availability")),
        "a switch has no recording duty"
    );

    host.link_down();
    // Down until it is more than the whole month allows.
    support::wait_for("the recorder's month to fail", WAIT, || {
        daemon.state("nvr", "availability") == "failed"
    });
    host.link_up();
    // Judged on a run that read the recovery from the store: the outage has an end.
    support::wait_for("the recorder back, its outage judged", WAIT, || {
        daemon.check("nvr", "availability")["values"]["interruptions"][0]["end"].is_number()
    });
    let judged = daemon.check("nvr", "availability");
    let summary = judged["summary"].as_str().unwrap();
    // More than 25.9 s down: the month misses 99.999 % however the rest of it goes.
    assert!(
        summary.contains("known, under the 99.999 % target: 1 interruption, "),
        "{summary}"
    );
    assert!(summary.contains("(unreachable)"), "{summary}");
    assert!(summary.ends_with("(at least 99.999 % of every month).)"), "{summary}");
    let interruptions = judged["values"]["interruptions"].as_array().unwrap();
    assert_eq!(interruptions.len(), 1, "{judged}");
    assert_eq!(interruptions[0]["causes"], serde_json::json!(["unreachable"]));
    assert!(interruptions[0]["end"].is_number(), "the outage is over: {judged}");

    // The recording server answers pings but records nothing since an hour ago: interrupted since
    // then, dated by its footage; only the time camwatch knew the server counts as down.
    support::wait_for("the recording server's stop", WAIT, || {
        daemon.state("server", "availability") == "failed"
    });
    let server = daemon.check("server", "availability");
    let interruption = &server["values"]["interruptions"][0];
    assert_eq!(interruption["start"], stopped as f64, "{server}");
    assert!(interruption["end"].is_null(), "{server}");
    assert_eq!(interruption["causes"], serde_json::json!(["not_recording"]));
    assert_eq!(server["values"]["windows"]["1d"]["ratio"], 0.0, "{server}");

    let metrics = daemon.metrics();
    assert_eq!(promtool_check_metrics(&metrics), "", "promtool complains:\n{metrics}");
    let count = |m: &str, device: &str| {
        sample(
            m,
            "camwatch_recorder_interruptions_total",
            &[&format!(r#"device="{device}""#)],
        )
    };
    assert_eq!(count(&metrics, "nvr"), Some(1.0), "{metrics}");
    assert_eq!(count(&metrics, "server"), Some(1.0), "{metrics}");
    assert_eq!(count(&metrics, "switch"), None, "{metrics}");
    support::wait_for("the availability metric to include the outage", WAIT, || {
        sample(
            &daemon.metrics(),
            "camwatch_availability_ratio",
            &[r#"device="nvr""#, r#"window="1d""#],
        )
        .is_some_and(|r| r > 0.0 && r < 1.0)
    });
    assert!(daemon.terminate().success());

    // Each interruption is an event once: a restart neither forgets nor counts them again.
    let events = |device: &str| {
        stored_events(&data, device)
            .into_iter()
            .filter(|(_, kind, _)| kind == "interruption")
            .count()
    };
    assert_eq!((events("nvr"), events("server")), (1, 1));
    let daemon = Daemon::start(&path, addr, dir.path().join("log2"));
    support::wait_for("the availability after the restart", WAIT, || {
        daemon.check("server", "availability")["state"] == "failed"
    });
    let metrics = daemon.metrics();
    assert_eq!(count(&metrics, "nvr"), Some(1.0), "{metrics}");
    assert_eq!(count(&metrics, "server"), Some(1.0), "{metrics}");
    assert!(daemon.terminate().success());
    assert_eq!((events("nvr"), events("server")), (1, 1));
}

/// A recording stop shorter than the allowed gap (freshness 20 s, the default 5-minute gap):
/// footage stopped 100 s before the agent looked and came back while it watched. Resumed is dated
/// at the first footage after the stop, so the stop is an interruption of its real length, not
/// one of no length that coverage (which bridges the hole) would date.
#[test]
fn a_stop_shorter_than_the_allowed_gap_is_an_interruption_of_its_length() {
    let dir = temp_dir();
    let tree = footage_dir();
    let root = tree.path().join("recordings");
    let stopped = floor(unix_now(), 10) - 110;
    frigate(&root, "lobby", stopped - 3600, stopped, 10, 0, |_| false);
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{every_second}recording_freshness = "20s"
retention_days = 1

[[device]]
name = "server"
kind = "host"
address = "127.0.0.1"
[device.footage]
root = "{root}"
layout = "/{{date}}/{{hour}}/{{camera}}/{{minute}}.{{second}}.mp4"
segment_seconds = 10
"#,
            every_second = support::EVERY_SECOND,
            root = root.display()
        ),
    );
    let data = dir.path().join("data");
    let event = |kind: &str| {
        stored_events(&data, "server")
            .into_iter()
            .find(|(_, k, _)| k == kind)
            .map(|(at, _, _)| at)
    };
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    support::wait_for("the stop seen", WAIT, || event("recording_stopped").is_some());
    assert_eq!(event("recording_stopped"), Some(stopped as f64));
    // The camera records again: a segment that ends about now.
    let resumed = unix_now() - 10;
    frigate(&root, "lobby", resumed, resumed + 1, 10, 0, |_| false);
    support::wait_for("the resumption seen", WAIT, || event("recording_resumed").is_some());
    assert_eq!(
        event("recording_resumed"),
        Some(resumed as f64),
        "dated at the first footage after the stop"
    );
    assert!(resumed - stopped >= 100);
    support::wait_for("the interruption judged", WAIT, || {
        daemon.check("server", "availability")["values"]["interruptions"][0]["end"].is_number()
    });
    let judged = daemon.check("server", "availability");
    let interruption = &judged["values"]["interruptions"][0];
    assert_eq!(
        (interruption["start"].as_f64(), interruption["end"].as_f64()),
        (Some(stopped as f64), Some(resumed as f64)),
        "{judged}"
    );
    assert_eq!(interruption["causes"], serde_json::json!(["not_recording"]));
    assert!(daemon.terminate().success());
}
