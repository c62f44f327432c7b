//! The shift handover and the end-of-day inventory through the real daemon: a camera in a test
//! host that goes away and comes back, a camera that never answers, a recording server whose
//! footage is not compliant, and a host whose checks run only when the handover asks. Records
//! through the CLI (text and JSON), `--last`, the HTTP list, the metric under promtool, and a
//! restart that keeps them.

mod support;

use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{
    Daemon, TestHost, cli, daemon_config, promtool_check_metrics, sample, stderr, stdout, stored_results, temp_dir,
    wait_for,
};

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn record(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("not a JSON record ({e}): {}{}", stdout(output), stderr(output)))
}

/// `(device, check, state)` of each item of a record's list.
fn items(list: &Value) -> Vec<(String, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["device"].as_str().unwrap().to_owned(),
                i["check"].as_str().unwrap().to_owned(),
                i["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn item(device: &str, check: &str, state: &str) -> (String, String, String) {
    (device.to_owned(), check.to_owned(), state.to_owned())
}

fn last_run_metric(daemon: &Daemon, procedure: &str) -> Option<f64> {
    sample(
        &daemon.metrics(),
        "camwatch_procedure_check_last_run_timestamp_seconds",
        &[&format!(r#"procedure="{procedure}""#)],
    )
}

#[test]
fn handover_and_inventory_through_the_daemon_the_cli_and_a_restart() {
    let host = TestHost::new(&[]);
    let dir = temp_dir();
    let footage = dir.path().join("footage");
    std::fs::create_dir_all(footage.join("yard")).unwrap();
    std::fs::File::create(footage.join("yard/segment.mp4")).unwrap();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"timezone = "Europe/London"

[procedures]
handover = []
inventory = "off"

[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1
successes_before_recovered = 1
ping_count = 1

[policy.slow]
interval = "1h"
timeout = "5s"
failures_before_failed = 1
successes_before_recovered = 1
ping_count = 1

[[device]]
name = "this-host"
kind = "host"
address = "127.0.0.1"
policy = "slow"
# The host's real free space must not decide this test: never warn about "/".
[device.overrides]
filesystem_warning_free_percent = 0
filesystem_failed_free_percent = 0
[device.filesystem]
mountpoints = ["/"]

[[device]]
name = "cam"
kind = "camera"
address = "{cam}"

[[device]]
name = "dead"
kind = "camera"
address = "{dead}"

[[device]]
name = "nvr"
kind = "host"
address = "127.0.0.1"
[device.footage]
root = "{footage}"
layout = "mtime"
segment_seconds = 60
cameras = ["front", "yard"]
"#,
            cam = host.address(2),
            dead = host.address(9),
            footage = footage.display()
        ),
    );
    let data = dir.path().join("data");
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    daemon.wait_for_state("cam", "ping", "ok");
    daemon.wait_for_state("dead", "ping", "failed");
    daemon.wait_for_state("nvr", "retention", "failed");
    daemon.wait_for_state("this-host", "filesystem", "ok");
    // Judged is not yet stored: results are committed in batches (see State store).
    support::wait_for("the filesystem check in the store", Duration::from_secs(10), || {
        !stored_results(&data, "this-host", "filesystem").is_empty()
    });
    assert_eq!(
        stored_results(&data, "this-host", "filesystem").len(),
        1,
        "an hourly check has run once"
    );

    // Nothing recorded yet: no record, no metric, and the CLI says so.
    let none = cli(&config, &["handover", "--last"]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
    assert!(
        stderr(&none).contains("no handover has been recorded yet"),
        "{}",
        stderr(&none)
    );
    assert_eq!(last_run_metric(&daemon, "handover"), None);
    assert_eq!(daemon.get("/api/v1/procedures/rota").unwrap().status, 404);

    // First handover: every check runs now, the hourly one included.
    let asked_at = now();
    let first = cli(&config, &["handover", "--json"]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a failed check: exit 1\n{}",
        stderr(&first)
    );
    let h1 = record(&first);
    assert_eq!(h1["procedure"], "handover");
    assert_eq!(h1["timezone"], "Europe/London");
    assert_eq!(h1["site"], "test site");
    // Four pings, the filesystem, the recording server's retention and its availability.
    assert_eq!(h1["checks"]["asked"], 7, "{h1}");
    assert_eq!(h1["checks"]["finished"], 7, "{h1}");
    let filesystem = stored_results(&data, "this-host", "filesystem");
    assert_eq!(filesystem.len(), 2, "the handover ran the hourly check");
    assert!(filesystem[1].at >= asked_at, "{} < {asked_at}", filesystem[1].at);
    assert_eq!(
        items(&h1["failing"]),
        [item("dead", "ping", "failed"), item("nvr", "retention", "failed")]
    );
    assert!(
        h1["failing"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("does not answer"),
        "{h1}"
    );
    assert_eq!(h1["shift"]["previous_handover"], Value::Null);
    assert_eq!(h1["recovered"], serde_json::json!([]));
    assert_eq!(h1["retention"].as_array().unwrap().len(), 1);
    assert_eq!(h1["retention"][0]["device"], "nvr");
    assert_eq!(
        h1["retention"][0]["cameras"],
        serde_json::json!([{"camera": "front", "compliant": false}, {"camera": "yard", "compliant": false}])
    );

    // The camera's cable is pulled and put back during the shift.
    host.link_down();
    daemon.wait_for_state("cam", "ping", "failed");
    host.link_up();
    daemon.wait_for_state("cam", "ping", "ok");

    let text = cli(&config, &["handover"]);
    assert_eq!(text.status.code(), Some(1), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.starts_with("SHIFT HANDOVER  test site  "), "{text}");
    assert!(text.contains("(since the previous handover)"), "{text}");
    assert!(text.contains("Checks run now: 7 of 7 finished"), "{text}");
    let section = |title: &str| -> Vec<String> {
        let start = text.find(title).unwrap_or_else(|| panic!("no {title} in\n{text}"));
        text[start..]
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let failing = section("FAILING NOW (2)");
    assert!(failing[0].starts_with("FAILED dead ping since "), "{text}");
    assert!(failing[1].starts_with("FAILED nvr retention since "), "{text}");
    let recovered = section("FAILED AND RECOVERED DURING THE SHIFT (1)");
    assert_eq!(recovered.len(), 1, "{text}");
    assert!(recovered[0].starts_with("cam ping failed 20"), "{text}");
    assert!(recovered[0].contains(", recovered 20"), "{text}");
    assert!(
        recovered[0].contains("does not answer"),
        "the failure's summary: {text}"
    );
    assert_eq!(section("CHANGES (0)"), ["none"]);
    let retention = section("RETENTION (1)");
    assert!(
        retention[0].starts_with("FAILED nvr front: no footage at all"),
        "{text}"
    );
    assert!(
        retention[0].ends_with("[front NOT COMPLIANT, yard NOT COMPLIANT]"),
        "{text}"
    );

    let last = cli(&config, &["handover", "--last", "--json"]);
    assert_eq!(last.status.code(), Some(1));
    let h2 = record(&last);
    assert_eq!(h2["shift"]["previous_handover"], h1["at"]);
    assert_eq!(h2["shift"]["from"], h1["at"]);
    let cam = &h2["recovered"][0];
    assert_eq!(items(&h2["recovered"]), [item("cam", "ping", "failed")]);
    let (failed_at, recovered_at) = (
        cam["failed_at"].as_f64().unwrap(),
        cam["recovered_at"].as_f64().unwrap(),
    );
    assert!(
        h1["at"].as_f64().unwrap() < failed_at && failed_at < recovered_at,
        "{h2}"
    );
    assert!(recovered_at <= h2["at"].as_f64().unwrap(), "{h2}");
    let listed = daemon.get("/api/v1/procedures/handover?limit=5").unwrap();
    assert_eq!(listed.status, 200);
    let listed: Vec<Value> = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(listed, [h2.clone(), h1.clone()], "newest first");

    // The inventory: 4 devices expected; "dead" never answered.
    let inventory = cli(&config, &["inventory", "--json"]);
    assert_eq!(inventory.status.code(), Some(1), "a device not seen: exit 1");
    let inv = record(&inventory);
    assert_eq!(
        (inv["expected"].as_u64(), inv["seen"].as_u64()),
        (Some(4), Some(3)),
        "{inv}"
    );
    assert_eq!(
        inv["kinds"],
        serde_json::json!([
            {"kind": "camera", "expected": 2, "seen": 1, "ok": 1, "warning": 0, "failed": 1, "unknown": 0},
            {"kind": "host", "expected": 2, "seen": 2, "ok": 1, "warning": 0, "failed": 1, "unknown": 0},
        ])
    );
    assert_eq!(
        inv["not_seen"],
        serde_json::json!([{"device": "dead", "kind": "camera", "state": "failed", "last_seen": null}])
    );
    let text = stdout(&cli(&config, &["inventory", "--last"]));
    assert!(text.contains("Devices: 4 expected, 3 seen today"), "{text}");
    assert!(
        text.contains("NOT SEEN TODAY (1)\n  dead  camera  failed  never seen"),
        "{text}"
    );

    let metrics = daemon.metrics();
    assert_eq!(promtool_check_metrics(&metrics), "", "{metrics}");
    let handover_at = last_run_metric(&daemon, "handover").unwrap();
    assert!((handover_at - h2["at"].as_f64().unwrap()).abs() < 1e-3, "{metrics}");
    let inventory_at = last_run_metric(&daemon, "inventory").unwrap();
    assert!((inventory_at - inv["at"].as_f64().unwrap()).abs() < 1e-3, "{metrics}");
    assert!(daemon.terminate().success());

    // After a restart the records and the metric are still there.
    let daemon = Daemon::start(&config, addr, dir.path().join("log2"));
    let again = cli(&config, &["handover", "--last", "--json"]);
    assert_eq!(record(&again), h2);
    let after_restart = last_run_metric(&daemon, "handover").unwrap();
    assert!((after_restart - handover_at).abs() < 1e-3);
    assert!(daemon.terminate().success());

    // No agent: exit 3, and the reason.
    let down = cli(&config, &["inventory"]);
    assert_eq!(down.status.code(), Some(3));
    assert!(stderr(&down).contains("cannot reach the agent"), "{}", stderr(&down));
}

#[test]
fn the_daemon_makes_both_records_on_its_own_at_the_configured_wall_clock_time() {
    // A zone half an hour off UTC: a time read as UTC (or as the machine's zone) would not match.
    let zone: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap();
    // The first whole minute at least 15 s away, so the daemon is up before it comes.
    let at = (now() as i64 + 15) / 60 * 60 + 60;
    let local = chrono::DateTime::from_timestamp(at, 0).unwrap().with_timezone(&zone);
    let hh_mm = local.format("%H:%M").to_string();
    let dir = temp_dir();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"timezone = "Asia/Kolkata"

[procedures]
handover = ["{hh_mm}"]
inventory = "{hh_mm}"

[policy.default]
interval = "1s"
timeout = "900ms"

[[device]]
name = "this-host"
kind = "host"
address = "127.0.0.1"
"#
        ),
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    assert_eq!(last_run_metric(&daemon, "handover"), None, "not before its time");
    wait_for("both scheduled records", Duration::from_secs(150), || {
        last_run_metric(&daemon, "handover").is_some() && last_run_metric(&daemon, "inventory").is_some()
    });
    for procedure in ["handover", "inventory"] {
        let ran = last_run_metric(&daemon, procedure).unwrap();
        assert!(ran >= at as f64, "{procedure} ran at {ran}, before {at}");
        let r = daemon.get(&format!("/api/v1/procedures/{procedure}")).unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        let record: Value = serde_json::from_str(&r.body).unwrap();
        let expected = local.format("%Y-%m-%dT%H:%M").to_string();
        assert!(
            record["local_time"].as_str().unwrap().starts_with(&expected),
            "{procedure} at {} (expected {expected}+05:30)",
            record["local_time"]
        );
        assert!(record["local_time"].as_str().unwrap().ends_with("+05:30"));
    }
    let log = daemon.log_text();
    assert_eq!(log.matches("scheduled handover starts").count(), 1, "{log}");
    assert!(daemon.terminate().success());
}
