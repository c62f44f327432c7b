//! Incidents through a real daemon: a switch in a network namespace that really goes away opens
//! one incident, the camera behind it joins it instead of opening its own, a maintenance worker
//! acknowledges it once from the CLI, it survives a restart as the same incident, and the link
//! coming back resolves it with its duration.

mod support;

use serde_json::Value;
use support::{Daemon, TestHost, cli, daemon_config, promtool_check_metrics, sample, stderr, stdout, temp_dir};

/// No procedures, every second, failed after two results and back after one.
const POLICY: &str = r#"
[procedures]
handover = []
inventory = "off"

[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 2
successes_before_recovered = 1
ping_count = 1
"#;

fn incidents(config: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let out = cli(config, &[&["incidents", "--json"], args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn open_count(daemon: &Daemon, severity: &str) -> Option<f64> {
    sample(
        &daemon.metrics(),
        "camwatch_incidents_open",
        &[&format!(r#"severity="{severity}""#)],
    )
}

#[test]
fn a_dead_switch_is_one_incident_acknowledged_once_kept_across_a_restart_and_resolved() {
    let host = TestHost::new(&[3]);
    let dir = temp_dir();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}
[[device]]
name = "switch"
kind = "switch"
address = "{switch}"

[[device]]
name = "cam"
kind = "camera"
address = "{cam}"
parent = "switch"
"#,
            switch = host.address(2),
            cam = host.address(3)
        ),
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    daemon.wait_for_state("switch", "ping", "ok");
    daemon.wait_for_state("cam", "ping", "ok");
    assert!(incidents(&config, &[]).is_empty());
    assert_eq!(open_count(&daemon, "major"), Some(0.0));

    host.link_down();
    daemon.wait_for_state("switch", "ping", "failed");
    daemon.wait_for_state("cam", "ping", "unreachable");
    let open = incidents(&config, &["--open"]);
    assert_eq!(open.len(), 2, "{open:?}");
    let switch = open.iter().find(|i| i["device"] == "switch").unwrap();
    let cam = open.iter().find(|i| i["device"] == "cam").unwrap();
    assert_eq!(cam["joined"], switch["id"], "the camera is part of the switch's fault");
    assert!(switch["joined"].is_null());
    // Dated from the first failed result, before the second one made it `failed`.
    assert!(switch["opened_at"].as_f64() < switch["failed_at"].as_f64(), "{switch}");
    assert!(
        switch["summary"].as_str().unwrap().contains("does not answer"),
        "{switch}"
    );
    // One fault, however many devices it hides.
    assert_eq!(open_count(&daemon, "major"), Some(1.0));
    let metrics = daemon.metrics();
    assert_eq!(promtool_check_metrics(&metrics), "", "promtool complains:\n{metrics}");

    let id = switch["id"].as_u64().unwrap().to_string();
    let ack = cli(
        &config,
        &["ack", &id, "--by", "ana", "--note", "switch in rack A, on my way"],
    );
    assert_eq!(ack.status.code(), Some(0), "{}", stderr(&ack));
    assert_eq!(
        stdout(&ack),
        format!("incident {id} (switch ping) acknowledged by ana\n")
    );
    let again = cli(&config, &["ack", &id, "--by", "bo", "--note", "me too"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains(&format!("incident {id} was already acknowledged by ana")),
        "{}",
        stderr(&again)
    );
    let unknown = cli(&config, &["ack", "9999", "--by", "bo", "--note", "?"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no open incident 9999"),
        "{}",
        stderr(&unknown)
    );
    let text = cli(&config, &["incidents", "--open"]);
    let table = stdout(&text);
    assert!(table.starts_with("ID  STATE"), "{table}");
    assert!(table.contains("ack ana  switch  ping"), "{table}");
    assert!(table.contains(&format!("(part of incident {id})")), "{table}");

    // A restart while the switch is still down: the same incident, still acknowledged.
    assert!(daemon.terminate().success());
    let daemon = Daemon::start(&config, addr, dir.path().join("log2"));
    daemon.wait_for_state("switch", "ping", "failed");
    let open = incidents(&config, &["--open"]);
    assert_eq!(open.len(), 2, "{open:?}");
    let switch = open.iter().find(|i| i["device"] == "switch").unwrap();
    assert_eq!(switch["id"].as_u64().unwrap().to_string(), id);
    assert_eq!(switch["acknowledged"]["by"], "ana");
    assert_eq!(switch["acknowledged"]["note"], "switch in rack A, on my way");

    host.link_up();
    daemon.wait_for_state("switch", "ping", "ok");
    daemon.wait_for_state("cam", "ping", "ok");
    support::wait_for("the incidents to resolve", std::time::Duration::from_secs(30), || {
        incidents(&config, &["--open"]).is_empty()
    });
    let all = incidents(&config, &[]);
    assert_eq!(all.len(), 2, "{all:?}");
    for incident in &all {
        let (opened, resolved) = (
            incident["opened_at"].as_f64().unwrap(),
            incident["resolved_at"].as_f64(),
        );
        assert!(resolved.is_some_and(|r| r > opened), "{incident}");
    }
    assert_eq!(open_count(&daemon, "major"), Some(0.0));

    // The month's report, served by the agent, counts them and the switch's down time.
    let served = daemon.get("/reports?format=json").unwrap();
    assert_eq!(served.status, 200, "{}", served.body);
    let report: Value = serde_json::from_str(&served.body).unwrap();
    assert_eq!(report["incidents"]["opened"], 2, "{report}");
    assert_eq!(report["incidents"]["acknowledged"], 1);
    let switch = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == "switch")
        .unwrap();
    assert!(switch["down_seconds"].as_f64().unwrap() > 0.0, "{switch}");
    let html = daemon.get("/reports").unwrap().body;
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<td>switch</td>"), "{html}");
    assert_eq!(daemon.get("/reports?period=someday").unwrap().status, 400);
    assert!(daemon.terminate().success());
}

#[test]
fn a_camera_whose_onvif_port_refuses_is_one_incident_with_its_clock_and_baseline_unreachable() {
    use support::onvif_sim::{SimCamera, SimState};
    let sim = SimCamera::start(SimState::default());
    let dir = temp_dir();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}
[[device]]
name = "cam"
kind = "camera"
address = "127.0.0.1"
username = "camwatch"
password_env = "CW_CAMERA_PASSWORD"
[device.onvif]
port = {port}
checks = ["onvif", "clock", "baseline"]
"#,
            port = sim.addr.port()
        ),
    );
    let daemon = Daemon::start_with(&config, addr, dir.path().join("log"), |c| {
        c.env("CW_CAMERA_PASSWORD", SimState::default().password);
    });
    for check in ["ping", "onvif", "clock", "baseline"] {
        daemon.wait_for_state("cam", check, "ok");
    }
    // The camera still answers ping, but its ONVIF port now refuses every connection.
    drop(sim);
    daemon.wait_for_state("cam", "onvif", "failed");
    daemon.wait_for_state("cam", "clock", "unreachable");
    daemon.wait_for_state("cam", "baseline", "unreachable");
    assert_eq!(daemon.state("cam", "ping"), "ok");
    let open = incidents(&config, &["--open"]);
    let onvif = open
        .iter()
        .find(|i| i["check"] == "onvif")
        .unwrap_or_else(|| panic!("{open:?}"));
    for member in open.iter().filter(|i| i["check"] != "onvif") {
        assert_eq!(member["joined"], onvif["id"], "one cause, one incident: {open:?}");
    }
    let faults: f64 = ["critical", "major"]
        .iter()
        .filter_map(|s| open_count(&daemon, s))
        .sum();
    assert_eq!(faults, 1.0, "one open fault, not three");
    daemon.terminate();
}
