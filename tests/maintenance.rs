//! Maintenance windows through a real daemon: opened and ended from the CLI and configured with a
//! cron pattern; while a window is open the recorder in a network namespace really goes away, its
//! checks still run and fail, but the outage is no interruption and is left out of availability;
//! the same outage outside a window is counted.

mod support;

use serde_json::Value;
use support::{Daemon, TestHost, cli, daemon_config, promtool_check_metrics, sample, stderr, stdout, temp_dir};

fn active(daemon: &Daemon, device: &str) -> Option<f64> {
    sample(
        &daemon.metrics(),
        "camwatch_maintenance_active",
        &[&format!(r#"device="{device}""#)],
    )
}

fn interruptions(daemon: &Daemon) -> Option<f64> {
    sample(
        &daemon.metrics(),
        "camwatch_recorder_interruptions_total",
        &[r#"device="nvr""#],
    )
}

#[test]
fn an_outage_inside_a_window_is_no_interruption_and_one_outside_is() {
    let host = TestHost::new(&[]);
    let dir = temp_dir();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[procedures]
handover = []
inventory = "off"

[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1
successes_before_recovered = 1
ping_count = 1

[[device]]
name = "nvr"
kind = "recorder"
address = "{nvr}"

[[device]]
name = "spare"
kind = "recorder"
address = "127.0.0.1"
site = "annex"

# Every hour, for an hour: the annex is always in maintenance.
[[maintenance]]
site = "annex"
cron = "0 * * * *"
duration = "1h"
reason = "annex rewiring"
"#,
            nvr = host.address(2)
        ),
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    daemon.wait_for_state("nvr", "ping", "ok");
    // A new recorder's month is not decided by its first seconds: judged ok so far, and said so.
    support::wait_for(
        "the recorder's availability judged",
        std::time::Duration::from_secs(30),
        || {
            daemon.check("nvr", "availability")["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("not yet decidable: "))
        },
    );
    assert_eq!(daemon.state("nvr", "availability"), "ok");
    assert_eq!(active(&daemon, "nvr"), Some(0.0));
    assert_eq!(active(&daemon, "spare"), Some(1.0));

    let add = cli(
        &config,
        &[
            "maintenance",
            "add",
            "nvr",
            "--for",
            "1h",
            "--reason",
            "disk swap",
            "--by",
            "ana",
        ],
    );
    assert_eq!(add.status.code(), Some(0), "{}", stderr(&add));
    assert!(
        stdout(&add).starts_with("maintenance window 1 on device nvr until "),
        "{}",
        stdout(&add)
    );
    assert!(stdout(&add).ends_with(": disk swap\n"), "{}", stdout(&add));
    assert_eq!(active(&daemon, "nvr"), Some(1.0));
    let list = cli(&config, &["maintenance", "list", "--json"]);
    let list: Vec<Value> = serde_json::from_str(&stdout(&list)).unwrap();
    let mine = list.iter().find(|w| w["id"] == 1).expect("the window is listed");
    assert_eq!(
        (mine["active"].as_bool(), mine["by"].as_str()),
        (Some(true), Some("ana"))
    );
    assert!(
        list.iter()
            .any(|w| w["source"] == "config" && w["target"]["site"] == "annex"),
        "{list:?}"
    );
    let table = stdout(&cli(&config, &["maintenance", "list"]));
    let lines: Vec<String> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines.len(), 3, "the hourly windows are one: {table}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("1 NOW nvr ") && l.ends_with(" ana disk swap")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("- NOW site annex ") && l.ends_with(" (config) annex rewiring")),
        "{table}"
    );

    // The recorder goes away during the work: measured and failed, but no interruption.
    host.link_down();
    daemon.wait_for_state("nvr", "ping", "failed");
    host.link_up();
    daemon.wait_for_state("nvr", "ping", "ok");
    let ended = cli(&config, &["maintenance", "end", "1"]);
    assert_eq!(ended.status.code(), Some(0), "{}", stderr(&ended));
    assert_eq!(active(&daemon, "nvr"), Some(0.0));
    let again = cli(&config, &["maintenance", "end", "1"]);
    assert_eq!(again.status.code(), Some(1), "an ended window cannot end twice");
    support::wait_for("a verdict after the window", std::time::Duration::from_secs(30), || {
        let v = daemon.check("nvr", "availability");
        v["last_run"].as_f64() > mine["start"].as_f64()
            && v["summary"].as_str().is_some_and(|s| s.contains("(no interruptions)"))
    });
    let judged = daemon.check("nvr", "availability");
    assert_eq!(judged["values"]["windows"]["1d"]["ratio"], 1.0, "{judged}");
    assert_eq!(interruptions(&daemon), Some(0.0));

    // The same outage with no window open is an interruption.
    host.link_down();
    daemon.wait_for_state("nvr", "ping", "failed");
    host.link_up();
    support::wait_for("the outage counted", std::time::Duration::from_secs(30), || {
        interruptions(&daemon) == Some(1.0)
    });
    let metrics = daemon.metrics();
    assert_eq!(promtool_check_metrics(&metrics), "", "promtool complains:\n{metrics}");
    assert!(daemon.terminate().success());
}
