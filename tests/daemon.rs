//! `camwatch run` as a real process: the state machine against a host that really goes away,
//! metrics checked by promtool, reloads good and bad, SIGTERM, and a restart that resumes.

mod support;

use std::time::Duration;

use support::{
    Daemon, TestHost, daemon_config, http, promtool_check_metrics, sample, stored_results, stored_transitions,
    temp_dir, write,
};

const WAIT: Duration = Duration::from_secs(60);

/// Result index at which a transition happened (transitions share the result's timestamp).
fn index_at(results: &[support::StoredResult], at: f64) -> usize {
    results
        .iter()
        .position(|r| r.at == at)
        .expect("the transition's result is stored")
}

#[test]
fn a_host_that_goes_away_fails_after_n_results_its_child_is_unreachable_and_both_recover_after_m() {
    let host = TestHost::new(&[3]);
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 3
successes_before_recovered = 2
ping_count = 1

[[device]]
name = "switch"
kind = "switch"
address = "{switch}"

[[device]]
name = "cam"
kind = "camera"
address = "{cam}"
parent = "switch"

[[device]]
name = "local"
kind = "host"
address = "127.0.0.1"
"#,
            switch = host.address(2),
            cam = host.address(3)
        ),
    );
    let data = dir.path().join("data");
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    wait_for_state(&daemon, "switch", "ok");
    wait_for_state(&daemon, "cam", "ok");

    host.link_down();
    let down_at = now();
    wait_for_state(&daemon, "switch", "failed");
    wait_for_state(&daemon, "cam", "unreachable");
    let metrics = daemon.metrics();
    assert_eq!(
        sample(
            &metrics,
            "camwatch_check_state",
            &[r#"device="cam""#, r#"state="unreachable""#]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "camwatch_ping_loss_ratio", &[r#"device="switch""#]),
        Some(1.0),
        "{:?}",
        daemon.checks()
    );
    assert_eq!(daemon.state("local", "ping"), "ok", "the loopback device is unaffected");

    host.link_up();
    let up_at = now();
    wait_for_state(&daemon, "switch", "ok");
    wait_for_state(&daemon, "cam", "ok");
    // Availability is time-weighted from the stored transitions: the outage took a share of the
    // day's known time, while the loopback device was up throughout.
    let availability = |device: &str| {
        let label = format!(r#"device="{device}""#);
        sample(
            &daemon.metrics(),
            "camwatch_availability_ratio",
            &[&label, r#"window="1d""#],
        )
    };
    support::wait_for("the outage to show in the availability", WAIT, || {
        availability("switch").is_some_and(|r| r > 0.0 && r < 1.0)
    });
    assert_eq!(availability("local"), Some(1.0));
    let status = daemon.terminate();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    // The switch went ok -> failed -> ok, each step exactly when the thresholds say.
    let transitions = stored_transitions(&data, "switch", "ping");
    let steps: Vec<(&str, &str)> = transitions.iter().map(|(_, f, t)| (f.as_str(), t.as_str())).collect();
    assert_eq!(steps, [("unknown", "ok"), ("ok", "failed"), ("failed", "ok")]);
    let results = stored_results(&data, "switch", "ping");
    let failed_at = index_at(&results, transitions[1].0);
    let statuses = |range: std::ops::Range<usize>| results[range].iter().map(|r| r.status.as_str()).collect::<Vec<_>>();
    assert_eq!(
        statuses(failed_at - 3..failed_at + 1),
        ["ok", "failed", "failed", "failed"],
        "failed on the 3rd failure"
    );
    let recovered_at = index_at(&results, transitions[2].0);
    assert_eq!(
        statuses(recovered_at - 2..recovered_at + 1),
        ["failed", "ok", "ok"],
        "recovered on the 2nd success"
    );

    // The camera behind the switch was unreachable, never a fault of its own to chase for long.
    let cam: Vec<String> = stored_transitions(&data, "cam", "ping")
        .into_iter()
        .map(|(_, _, to)| to)
        .collect();
    assert!(cam.contains(&"unreachable".to_owned()), "{cam:?}");
    assert_eq!(cam.last().map(String::as_str), Some("ok"), "{cam:?}");

    // A dead device never delayed another: the loopback check kept its 1 s rhythm throughout.
    let local_during_outage = stored_results(&data, "local", "ping")
        .into_iter()
        .filter(|r| r.at >= down_at && r.at <= up_at)
        .count();
    let outage = up_at - down_at;
    assert!(
        local_during_outage as f64 >= (outage - 2.0).floor(),
        "{local_during_outage} loopback results in a {outage:.1} s outage"
    );
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn wait_for_state(daemon: &Daemon, device: &str, state: &str) {
    support::wait_for(&format!("{device} to be {state}"), WAIT, || {
        daemon.state(device, "ping") == state
    });
}

#[test]
fn metrics_pass_promtool_reloads_keep_or_replace_config_and_a_restart_resumes_without_spurious_transitions() {
    let dir = temp_dir();
    let devices = r#"
[policy.default]
interval = "1s"
timeout = "500ms"
ping_count = 1

[[device]]
name = "local"
kind = "host"
address = "127.0.0.1"
room = "server room"

[[device]]
name = "disk"
kind = "storage"
# The host's real free space must not decide this test: never warn about "/".
[device.overrides]
filesystem_warning_free_percent = 0
filesystem_failed_free_percent = 0
[device.filesystem]
mountpoints = ["/"]
"#;
    let (path, addr) = daemon_config(dir.path(), devices);
    let good = std::fs::read_to_string(&path).unwrap();
    let data = dir.path().join("data");
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    support::wait_for("both checks to have run", WAIT, || {
        daemon.checks().iter().all(|c| c["state"] == "ok")
    });

    // Prometheus text format, clean under promtool, with the series dashboards rely on.
    let text = daemon.get("/metrics").unwrap();
    assert!(text.headers.contains("text/plain; version=0.0.4"), "{}", text.headers);
    assert_eq!(
        promtool_check_metrics(&text.body),
        "",
        "promtool complains:\n{}",
        text.body
    );
    let m = &text.body;
    assert_eq!(
        sample(
            m,
            "camwatch_check_state",
            &[r#"device="local""#, r#"check="ping""#, r#"state="ok""#]
        ),
        Some(1.0)
    );
    for state in ["unknown", "warning", "failed", "unreachable"] {
        let label = format!(r#"state="{state}""#);
        assert_eq!(
            sample(m, "camwatch_check_state", &[r#"device="local""#, &label]),
            Some(0.0),
            "{state}"
        );
    }
    assert_eq!(
        sample(
            m,
            "camwatch_device_info",
            &[
                r#"device="local""#,
                r#"kind="host""#,
                r#"site="test site""#,
                r#"room="server room""#
            ]
        ),
        Some(1.0)
    );
    assert!(sample(m, "camwatch_ping_rtt_seconds", &[r#"device="local""#]).unwrap() > 0.0);
    assert_eq!(sample(m, "camwatch_ping_loss_ratio", &[r#"device="local""#]), Some(0.0));
    let size = sample(
        m,
        "camwatch_filesystem_size_bytes",
        &[r#"device="disk""#, r#"mountpoint="/""#],
    )
    .unwrap();
    assert!(size > 0.0);
    assert_eq!(
        sample(m, "camwatch_filesystem_readonly", &[r#"mountpoint="/""#]),
        Some(0.0)
    );
    assert!(sample(m, "camwatch_check_duration_seconds", &[r#"check="filesystem""#]).is_some());
    assert!(
        sample(
            m,
            "camwatch_check_last_success_timestamp_seconds",
            &[r#"device="local""#]
        )
        .unwrap()
            > 1.7e9
    );
    assert!(sample(m, "camwatch_check_last_run_timestamp_seconds", &[r#"device="disk""#]).unwrap() > 1.7e9);
    assert!(sample(m, "process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(sample(m, "process_cpu_seconds_total", &[]).is_some());
    assert_eq!(sample(m, "camwatch_config_last_reload_successful", &[]), Some(1.0));
    assert_eq!(
        sample(
            m,
            "camwatch_build_info",
            &[
                &format!(r#"version="{}""#, env!("CARGO_PKG_VERSION")),
                &format!(r#"revision="{}""#, camwatch::build::COMMIT),
                &format!(r#"build_date="{}""#, camwatch::build::DATE),
            ]
        ),
        Some(1.0)
    );

    // OpenMetrics when the scraper asks for it.
    let om = http(
        addr,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")],
    )
    .unwrap();
    assert!(
        om.headers.contains("application/openmetrics-text; version=1.0.0"),
        "{}",
        om.headers
    );
    assert!(om.body.trim_end().ends_with("# EOF"), "{}", om.body);

    // The landing page lists devices and states without JavaScript.
    let page = daemon.get("/").unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<td>local</td>") && page.body.contains("<td>disk</td>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script"), "no JavaScript needed");
    assert_eq!(daemon.get("/-/healthy").unwrap().status, 200);

    // A broken config is refused over HTTP: the old one keeps running, the gauge says so.
    write(&path, &good.replace("kind = \"storage\"", "kind = \"storag\""));
    let refused = http(addr, "POST", "/-/reload", &[]).unwrap();
    assert_eq!(refused.status, 500, "{refused:?}");
    assert!(
        refused.body.contains("camwatch.toml:") && refused.body.contains("unknown variant `storag`"),
        "{}",
        refused.body
    );
    let m = daemon.metrics();
    assert_eq!(sample(&m, "camwatch_config_last_reload_successful", &[]), Some(0.0));
    assert!(
        sample(&m, "camwatch_filesystem_size_bytes", &[r#"device="disk""#]).is_some(),
        "old config still runs"
    );
    assert!(
        daemon.log_text().contains("configuration reload refused"),
        "{}",
        daemon.log_text()
    );

    // A good config by SIGHUP: the removed device vanishes from /metrics at once.
    write(&path, &good[..good.find("[[device]]\nname = \"disk\"").unwrap()]);
    daemon.signal("HUP");
    support::wait_for("the reload to take effect", WAIT, || {
        let m = daemon.metrics();
        sample(&m, "camwatch_config_last_reload_successful", &[]) == Some(1.0) && !m.contains(r#"device="disk""#)
    });
    let ok = http(addr, "POST", "/-/reload", &[]).unwrap();
    assert_eq!(ok.status, 200, "{ok:?}");

    // An emptied file parses as a configuration that watches nothing: refused, unless it says so.
    let kept = std::fs::read_to_string(&path).unwrap();
    write(&path, "");
    daemon.signal("HUP");
    support::wait_for("the emptied file refused", WAIT, || {
        daemon.log_text().contains("the new configuration lists no device")
    });
    let m = daemon.metrics();
    assert_eq!(sample(&m, "camwatch_config_last_reload_successful", &[]), Some(0.0));
    assert!(m.contains(r#"device="local""#), "the old devices are still watched");
    let agent_table = &kept[..kept.find("\n[").unwrap_or(kept.len())];
    write(&path, &format!("{agent_table}\nallow_no_devices = true\n"));
    let emptied = http(addr, "POST", "/-/reload", &[]).unwrap();
    assert_eq!(emptied.status, 200, "watching nothing on purpose: {emptied:?}");
    assert!(!daemon.metrics().contains(r#"device="local""#));
    write(&path, &kept);

    let log = dir.path().join("log");
    let status = daemon.terminate();
    assert!(status.success(), "{status}");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("state store closed"), "{log_text}");

    // Restart on the same data: states resume, nothing "recovers" or "fails" spuriously.
    let before = stored_transitions(&data, "local", "ping");
    assert_eq!(before.len(), 1, "{before:?}");
    let runs_before = stored_results(&data, "local", "ping").len();
    let daemon = Daemon::start(&path, addr, dir.path().join("log2"));
    assert_eq!(daemon.state("local", "ping"), "ok", "resumed before the first run");
    support::wait_for("three more runs after the restart", WAIT, || {
        stored_results(&data, "local", "ping").len() >= runs_before + 3
    });
    assert!(daemon.terminate().success());
    assert_eq!(
        stored_transitions(&data, "local", "ping"),
        before,
        "no transition after the restart"
    );
}
