//! Incidents posted to a real Prometheus Alertmanager (Debian `prometheus-alertmanager`, Basic
//! authentication on): what its API holds, what it counted, and what it told its receiver.

mod support;

use std::path::Path;
use std::time::Duration;

use support::alertmanager::{self, Alertmanager};
use support::{Daemon, TestHost, daemon_config, promtool_check_metrics, sample, temp_dir};

const WAIT: Duration = Duration::from_secs(60);

fn config(dir: &Path, host: &TestHost, am: &Alertmanager, resend: &str) -> (std::path::PathBuf, std::net::SocketAddr) {
    daemon_config(
        dir,
        &format!(
            r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 2
successes_before_recovered = 1
ping_count = 1

[alertmanager]
urls = ["{url}"]
resend_every = "{resend}"
timeout = "2s"
username = "{user}"
password_env = "CAMWATCH_TEST_AM_PASSWORD"
generator_url_base = "http://cctv-agent.example:9810/"
labels = {{ env = "test" }}

[[device]]
name = "switch"
kind = "switch"
address = "{switch}"
room = "rack room"
location = "cabinet 2"
owner = "it-desk@example.org"

[[device]]
name = "cam"
kind = "camera"
address = "{cam}"
parent = "switch"
# Slower to fail than its switch, so the camera's silence is seen as the switch's doing.
[device.overrides]
failures_before_failed = 4
"#,
            url = am.url(),
            user = alertmanager::USER,
            switch = host.address(2),
            cam = host.address(3),
        ),
    )
}

fn start(path: &Path, addr: std::net::SocketAddr, log: std::path::PathBuf) -> Daemon {
    Daemon::start_with(path, addr, log, |c| {
        c.env("CAMWATCH_TEST_AM_PASSWORD", alertmanager::PASSWORD);
    })
}

fn counter(daemon: &Daemon, name: &str) -> f64 {
    sample(&daemon.metrics(), name, &[r#"channel="alertmanager""#]).unwrap_or(-1.0)
}

fn wait_for(what: &str, condition: impl FnMut() -> bool) {
    support::wait_for(what, WAIT, condition)
}

/// When the agent says the switch's incident was repaired (Unix seconds).
fn resolved_at(daemon: &Daemon, device: &str) -> Option<f64> {
    let r = daemon.get("/api/v1/incidents").unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    list.iter().find(|i| i["device"] == device)?["resolved_at"].as_f64()
}

fn unix(rfc3339: &serde_json::Value) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap()).unwrap();
    t.timestamp_millis() as f64 / 1000.0
}

#[test]
fn a_failed_switch_fires_with_its_camera_named_and_resolves_at_its_repair_time() {
    if !alertmanager::available() {
        return;
    }
    let host = TestHost::new(&[3]);
    let am = Alertmanager::start();
    let dir = temp_dir();
    // A long resend: Alertmanager could only learn the end from a post saying so, not from
    // an alert that stopped being sent (4 x 1m away).
    let (path, addr) = config(dir.path(), &host, &am, "1m");
    let daemon = start(&path, addr, dir.path().join("log"));
    wait_for("the switch to be ok", || daemon.state("switch", "ping") == "ok");
    assert_eq!(
        counter(&daemon, "camwatch_notifications_sent_total"),
        0.0,
        "nothing to post yet"
    );

    host.link_down();
    wait_for("Alertmanager to hold the switch's alert", || {
        am.alert("switch").is_some()
    });
    wait_for("the camera to be unreachable", || {
        daemon.state("cam", "ping") == "unreachable"
    });
    // The camera's joining is posted at once (an incident change), not after a resend.
    wait_for("the switch's alert to name the camera", || {
        am.alert("switch").is_some_and(|a| {
            a["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("Unreachable behind it (1): cam.")
        })
    });
    let alert = am.alert("switch").unwrap();
    assert_eq!(alert["status"]["state"], "active", "{alert:#}");
    let labels = &alert["labels"];
    for (name, value) in [
        ("alertname", "CamwatchIncident"),
        ("device", "switch"),
        ("check", "ping"),
        ("kind", "switch"),
        ("site", "test site"),
        ("severity", "major"),
        ("env", "test"),
    ] {
        assert_eq!(labels[name], value, "{name} in {alert:#}");
    }
    let description = alert["annotations"]["description"].as_str().unwrap();
    for part in [
        "Location: test site, rack room, cabinet 2.",
        "Owner: it-desk@example.org.",
        "Evidence: ",
    ] {
        assert!(description.contains(part), "{part:?} in {description}");
    }
    let r = daemon.get("/api/v1/incidents?open=true").unwrap();
    let open: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    let incident = open.iter().find(|i| i["device"] == "switch").unwrap();
    assert_eq!(alert["annotations"]["summary"], incident["summary"], "{alert:#}");
    assert_eq!(alert["annotations"]["incident"], incident["id"].to_string());
    assert!((unix(&alert["startsAt"]) - incident["opened_at"].as_f64().unwrap()).abs() < 0.002);
    assert_eq!(
        alert["generatorURL"],
        "http://cctv-agent.example:9810/api/v1/incidents?open=true"
    );
    wait_for("Alertmanager to hold no alert of the camera's own", || {
        am.alert("cam").is_none()
    });
    assert!(am.alert("switch").is_some());
    wait_for("Alertmanager to notify its receiver", || {
        am.notified()
            .iter()
            .any(|a| a["status"] == "firing" && a["labels"]["device"] == "switch")
    });

    host.link_up();
    wait_for("the switch's incident to be resolved", || {
        resolved_at(&daemon, "switch").is_some()
    });
    let repaired = resolved_at(&daemon, "switch").unwrap();
    wait_for("Alertmanager to drop the alert from the active ones", || {
        am.alert("switch").is_none()
    });
    wait_for("Alertmanager to send the resolved notification", || {
        am.notified()
            .iter()
            .any(|a| a["status"] == "resolved" && a["labels"]["device"] == "switch")
    });
    let notified = am.notified();
    let resolved = notified
        .iter()
        .find(|a| a["status"] == "resolved" && a["labels"]["device"] == "switch")
        .unwrap();
    assert!(
        (unix(&resolved["endsAt"]) - repaired).abs() < 0.002,
        "Alertmanager ends the alert when camwatch saw the repair ({repaired}), not when it expired: {resolved:#}"
    );
    // Had the camera been slower to come back than its switch, it would have been a fault of
    // its own for that while; either way none is left.
    wait_for("no camera alert to be left", || am.alert("cam").is_none());
    assert!(am.received("resolved") >= 1.0);

    let metrics = daemon.metrics();
    assert!(
        counter(&daemon, "camwatch_notifications_sent_total") >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        counter(&daemon, "camwatch_notifications_failed_total"),
        0.0,
        "{metrics}"
    );
    let complaints = promtool_check_metrics(&metrics);
    assert!(complaints.is_empty(), "{complaints}");
    let log = daemon.log_text();
    assert!(!log.contains(alertmanager::PASSWORD), "{log}");
}

#[test]
fn an_alertmanager_that_was_down_gets_the_alert_again_and_a_restarted_agent_still_posts_the_end() {
    if !alertmanager::available() {
        return;
    }
    let host = TestHost::new(&[3]);
    let mut am = Alertmanager::start();
    let dir = temp_dir();
    let (path, addr) = config(dir.path(), &host, &am, "1s");
    let daemon = start(&path, addr, dir.path().join("log"));
    wait_for("the switch to be ok", || daemon.state("switch", "ping") == "ok");
    host.link_down();
    wait_for("Alertmanager to hold the switch's alert", || {
        am.alert("switch").is_some()
    });

    // Down: the posts fail, are counted, and the log names the Alertmanager (not the password).
    am.stop();
    wait_for("a failed post to be counted", || {
        counter(&daemon, "camwatch_notifications_failed_total") > 0.0
    });
    let endpoint = format!("{}/api/v2/alerts", am.url());
    wait_for("the failure to be logged", || daemon.log_text().contains(&endpoint));
    // Back with nothing in memory: the next resend brings the alert back, the fault unchanged.
    am.restart();
    wait_for("the resend to bring the alert back", || am.alert("switch").is_some());

    // Repaired while Alertmanager is down, and the agent restarted before it came back: the
    // restarted agent still posts the end, from the state store.
    am.stop();
    host.link_up();
    wait_for("the switch's incident to be resolved", || {
        resolved_at(&daemon, "switch").is_some()
    });
    let failed = counter(&daemon, "camwatch_notifications_failed_total");
    wait_for("a post of the end to fail", || {
        counter(&daemon, "camwatch_notifications_failed_total") > failed
    });
    let first_log = daemon.log_text();
    assert_eq!(daemon.terminate().code(), Some(0));
    am.restart();
    assert_eq!(am.received("resolved"), 0.0);
    let daemon = start(&path, addr, dir.path().join("log2"));
    wait_for("the restarted agent to post the end", || am.received("resolved") >= 1.0);
    assert!(am.alert("switch").is_none(), "{:#?}", am.alerts());
    assert!(counter(&daemon, "camwatch_notifications_sent_total") >= 1.0);
    let complaints = promtool_check_metrics(&daemon.metrics());
    assert!(complaints.is_empty(), "{complaints}");
    for log in [first_log, daemon.log_text()] {
        assert!(!log.contains(alertmanager::PASSWORD), "{log}");
    }
}

#[test]
fn a_refused_login_is_logged_with_the_url_and_counted_never_with_the_password() {
    if !alertmanager::available() {
        return;
    }
    let am = Alertmanager::start();
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1

[alertmanager]
urls = ["{url}/"]
resend_every = "1s"
username = "{user}"
password_file = "{secret}"

[[device]]
name = "backup-disk"
kind = "storage"
[device.backup]
path = "{missing}"
"#,
            url = am.url(),
            user = alertmanager::USER,
            secret = dir.path().join("am-password").display(),
            missing = dir.path().join("not-mounted").display(),
        ),
    );
    let wrong = "Wrong-Pw-5k2Lq";
    std::fs::write(dir.path().join("am-password"), format!("{wrong}\n")).unwrap();
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    wait_for("a refused post to be counted", || {
        counter(&daemon, "camwatch_notifications_failed_total") > 0.0
    });
    wait_for("the refusal to be logged", || daemon.log_text().contains("HTTP 401"));
    let log = daemon.log_text();
    assert!(log.contains(&format!("{}/api/v2/alerts", am.url())), "{log}");
    assert!(!log.contains(wrong), "{log}");
    assert_eq!(counter(&daemon, "camwatch_notifications_sent_total"), 0.0);
    assert!(am.alerts().is_empty());

    // The file corrected: read at the next post, no restart needed.
    std::fs::write(dir.path().join("am-password"), alertmanager::PASSWORD).unwrap();
    wait_for("the alert to arrive", || am.alert("backup-disk").is_some());
    let alert = am.alert("backup-disk").unwrap();
    assert_eq!(alert["labels"]["severity"], "critical", "{alert:#}");
    assert_eq!(alert["labels"]["kind"], "storage", "{alert:#}");
    assert!(!daemon.log_text().contains(alertmanager::PASSWORD));
}
