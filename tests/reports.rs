//! Reports from a state history the test writes itself: October 2026 in London (a DST change in
//! it, so the month is 31 days and an hour), a recorder that went away for 30 minutes, rebooted,
//! stopped recording for 20 minutes and was worked on in a maintenance window; a camera behind it;
//! an incident acknowledged and repaired. Every figure is asserted against the hand computation
//! in the comments, through `camwatch report` as a user runs it.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{cli, stderr, stdout, temp_dir, write};

fn utc(text: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
}

/// The row of `table` (a report's array) about device `name`.
fn named(table: &Value, name: &str) -> Value {
    table
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == name)
        .unwrap_or_else(|| panic!("no {name} in {table}"))
        .clone()
}

/// Writes a transition of `device`'s `check` to `to` at `at` (RFC 3339) straight into the store.
fn transition(db: &rusqlite::Connection, device: &str, check: &str, at: &str, to: &str, values: &str) {
    db.execute(
        "INSERT INTO transitions (device, check_name, at, from_state, to_state, status, summary, values_json) VALUES (?1, ?2, ?3, 'unknown', ?4, ?4, 'x', ?5)",
        rusqlite::params![device, check, utc(at), to, values],
    )
    .unwrap();
}

/// Writes maintenance window `id` of `device` over `[start, end)` (RFC 3339) into the store.
fn maintenance(db: &rusqlite::Connection, id: i64, device: &str, start: &str, end: &str) {
    db.execute(
        "INSERT INTO maintenance (id, device, site, start, end, reason, by) VALUES (?1, ?2, NULL, ?3, ?4, 'disk swap', 'ana')",
        rusqlite::params![id, device, utc(start), utc(end)],
    )
    .unwrap();
}

/// A store with the schema of this camwatch (made by the agent's own migrations) and the history.
fn history(data: &Path) {
    drop(camwatch::state::store::Store::open(data).unwrap());
    let db = rusqlite::Connection::open(data.join("camwatch.sqlite")).unwrap();
    let transition =
        |device: &str, check: &str, at: &str, to: &str, values: &str| transition(&db, device, check, at, to, values);
    let event = |device: &str, at: &str, kind: &str, summary: &str| {
        db.execute(
            "INSERT INTO events (device, check_name, at, seen_at, kind, summary) VALUES (?1, 'x', ?2, ?2, ?3, ?4)",
            rusqlite::params![device, utc(at), kind, summary],
        )
        .unwrap();
    };
    transition("nvr", "ping", "2026-09-20T00:00:00Z", "ok", "{}");
    // 30 minutes unreachable.
    transition("nvr", "ping", "2026-10-10T10:00:00Z", "failed", "{}");
    transition("nvr", "ping", "2026-10-10T10:30:00Z", "ok", "{}");
    // A reboot: an interruption of no measurable length.
    event("nvr", "2026-10-15T03:00:00Z", "reboot", "booted");
    // 20 minutes without recording, the recorder reachable.
    event("nvr", "2026-10-20T02:00:00Z", "recording_stopped", "no camera records");
    event("nvr", "2026-10-20T02:20:00Z", "recording_resumed", "recording again");
    // Down for an hour inside a 4-hour maintenance window: neither up nor down, no interruption.
    transition("nvr", "ping", "2026-10-25T01:00:00Z", "failed", "{}");
    transition("nvr", "ping", "2026-10-25T02:00:00Z", "ok", "{}");
    maintenance(&db, 1, "nvr", "2026-10-25T00:00:00Z", "2026-10-25T04:00:00Z");
    // The camera behind it was unreachable for 29 minutes of the outage.
    transition("cam", "ping", "2026-09-20T00:00:00Z", "ok", "{}");
    transition("cam", "ping", "2026-10-10T10:00:30Z", "unreachable", "{}");
    transition("cam", "ping", "2026-10-10T10:29:30Z", "ok", "{}");
    event(
        "cam",
        "2026-10-12T09:00:00Z",
        "baseline_accepted",
        "new lens approved by bo",
    );
    // The recorder's incident: failed at 10:01, acknowledged at 10:05, repaired at 10:30.
    db.execute(
        "INSERT INTO incidents (id, device, check_name, opened_at, failed_at, resolved_at, joined, summary, values_json, acked_at, acked_by, ack_note) VALUES (1, 'nvr', 'ping', ?1, ?2, ?3, NULL, 'nvr does not answer', '{}', ?4, 'ana', 'on it')",
        rusqlite::params![
            utc("2026-10-10T10:00:00Z"),
            utc("2026-10-10T10:01:00Z"),
            utc("2026-10-10T10:30:00Z"),
            utc("2026-10-10T10:05:00Z")
        ],
    )
    .unwrap();
    // Retention as last measured in October: front compliant, yard 20 days of 30.
    transition(
        "nvr",
        "retention",
        "2026-10-31T12:00:00Z",
        "failed",
        r#"{"cameras":{"front":{"required_seconds":2592000,"contiguous_seconds":3000000,"gap_seconds":0,"gaps":[],"compliant":true},"yard":{"required_seconds":2592000,"contiguous_seconds":1728000,"gap_seconds":3600,"gaps":[{"start":1,"end":3601}],"compliant":false}}}"#,
    );
    for at in ["2026-09-30T06:50:00Z", "2026-10-01T06:50:00Z", "2026-10-01T18:50:00Z"] {
        db.execute(
            "INSERT INTO procedure_runs (kind, at, record_json) VALUES ('handover', ?1, '{}')",
            [utc(at)],
        )
        .unwrap();
    }
}

const CONFIG: &str = r#"
[agent]
timezone = "Europe/London"
site = "Northfield"
data_dir = "DATA"

[[device]]
name = "nvr"
kind = "recorder"
address = "192.0.2.10"
[device.footage]
root = "/srv/footage"
layout = "/{date}/{hour}/{camera}/{minute}.{second}.mp4"

[[device]]
name = "cam"
kind = "camera"
address = "192.0.2.11"
parent = "nvr"
"#;

fn report(config: &Path, args: &[&str]) -> Value {
    let out = cli(
        config,
        &[&["report", "--period", "2026-10", "--format", "json"], args].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn a_month_with_an_outage_a_reboot_a_stop_and_maintenance_to_the_second() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    history(&data);
    let config = dir.path().join("camwatch.toml");
    write(&config, &CONFIG.replace("DATA", data.to_str().unwrap()));
    let r = report(&config, &[]);
    // October in London: 31 days and the hour the clocks went back.
    let month = 31.0 * 86_400.0 + 3600.0;
    assert_eq!(
        r["period"]["to"].as_f64().unwrap() - r["period"]["from"].as_f64().unwrap(),
        month
    );
    let device = |name: &str| named(&r["devices"], name);
    let nvr = device("nvr");
    // Known: the month without the 4-hour window; down: 30 min unreachable + 20 min not recording.
    let known = month - 4.0 * 3600.0;
    assert_eq!(nvr["down_seconds"].as_f64(), Some(3000.0), "{nvr}");
    assert_eq!(nvr["up_seconds"].as_f64(), Some(known - 3000.0), "{nvr}");
    assert_eq!(nvr["availability"].as_f64(), Some((known - 3000.0) / known));
    assert_eq!(nvr["met"], false, "99.888 % is under 99.9 %");
    let budget = nvr["budget_remaining_seconds"].as_f64().unwrap();
    assert!((budget - (0.001 * known - 3000.0)).abs() < 1e-6, "{budget}");
    // The camera: unreachable 29 minutes, counted as down by default, left out on request.
    let cam = device("cam");
    assert_eq!(cam["down_seconds"].as_f64(), Some(1740.0), "{cam}");
    let excluded = report(&config, &["--unreachable", "excluded"]);
    let cam = excluded["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == "cam")
        .unwrap();
    assert_eq!(
        (cam["down_seconds"].as_f64(), cam["up_seconds"].as_f64()),
        (Some(0.0), Some(month - 1740.0))
    );

    let recorder = &r["recorders"][0];
    assert_eq!(recorder["device"], "nvr");
    // The outage, the reboot and the stop; the outage inside the window is no interruption.
    assert_eq!(recorder["count"], 3, "{recorder}");
    assert_eq!(recorder["total_seconds"].as_f64(), Some(3000.0));
    assert_eq!(recorder["longest_seconds"].as_f64(), Some(1800.0));

    let incidents = &r["incidents"];
    assert_eq!(
        (incidents["opened"].as_u64(), incidents["resolved"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(incidents["mean_acknowledge_seconds"].as_f64(), Some(240.0));
    assert_eq!(incidents["mean_repair_seconds"].as_f64(), Some(1800.0));

    let retention = r["retention"].as_array().unwrap();
    assert_eq!(retention.len(), 2);
    let yard = retention.iter().find(|c| c["camera"] == "yard").unwrap();
    assert_eq!(
        (yard["compliant"].as_bool(), yard["gaps"].as_u64()),
        (Some(false), Some(1))
    );
    assert_eq!(yard["clause"], "Recorded footage is kept for at least 30 days.");
    let handovers = r["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["procedure"] == "handover")
        .unwrap();
    assert_eq!(
        handovers["count"], 2,
        "the one of 30 September (local) is not October's"
    );
    assert_eq!(
        handovers["times"],
        serde_json::json!([utc("2026-10-01T06:50:00Z"), utc("2026-10-01T18:50:00Z")])
    );
    let changes = r["changes"].as_array().unwrap();
    let kinds: Vec<&str> = changes.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["baseline_accepted", "reboot"]);
    let kinds_table = r["kinds"].as_array().unwrap();
    assert_eq!(kinds_table.len(), 2);

    // The same figures as HTML (one file, nothing fetched) and CSV tables.
    let html_path = dir.path().join("report.html");
    let out = cli(
        &config,
        &["report", "--period", "2026-10", "-o", html_path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(!html.contains("src=") && !html.contains("href="), "self-contained");
    assert!(html.contains("<h1>Northfield</h1>"));
    assert!(html.contains("99.888 %"), "the recorder's availability is shown");
    assert!(html.contains("Rule: The recording system runs 24 hours a day"));
    assert!(html.contains("@media print"));
    assert!(
        html.contains("2026-10-01 07:50, 2026-10-01 19:50"),
        "each handover listed in local time"
    );
    // Chart colours quoted: unquoted, `fill=#eee/>` is the colour `#eee/`, which draws black.
    assert!(
        html.contains("fill=\"#eee\"") && !html.contains("fill=#"),
        "SVG attributes are quoted"
    );
    let csv_dir = dir.path().join("csv");
    let out = cli(
        &config,
        &[
            "report",
            "--period",
            "2026-10",
            "--format",
            "csv",
            "-o",
            csv_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let availability = std::fs::read_to_string(csv_dir.join("availability.csv")).unwrap();
    let lines: Vec<&str> = availability.lines().collect();
    assert_eq!(
        lines[0],
        "device,kind,site,policy,availability,target,up_seconds,down_seconds,budget_remaining_seconds,met,period_seconds,observed_seconds"
    );
    assert!(
        lines[1].starts_with("nvr,recorder,Northfield,default,0.99887"),
        "{availability}"
    );
    let interruptions = std::fs::read_to_string(csv_dir.join("interruptions.csv")).unwrap();
    assert!(
        interruptions.contains("nvr,2026-10-10T11:00:00+01:00,2026-10-10T11:30:00+01:00,1800,unreachable"),
        "{interruptions}"
    );
    // A cause is spelled as the JSON spells it.
    assert_eq!(
        recorder["interruptions"][2]["causes"],
        serde_json::json!(["not_recording"])
    );
    assert!(
        interruptions.contains("nvr,2026-10-20T03:00:00+01:00,2026-10-20T03:20:00+01:00,1200,not_recording\r\n"),
        "{interruptions}"
    );
    // Bad input: a clear error and exit 2.
    let out = cli(&config, &["report", "--period", "last month"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("2026-W48"), "{}", stderr(&out));
}

/// October 2026 again, with the agent's runs written down: it stopped from 10 to 12 October
/// (a power cut that took the recorders with it), so nobody saw those two days.
/// Its three recorders (the `[agent]` table is [`CONFIG`]'s).
const RUNS_DEVICES: &str = r#"
[[device]]
name = "quiet"
kind = "recorder"
address = "192.0.2.20"

[[device]]
name = "cut"
kind = "recorder"
address = "192.0.2.21"

[[device]]
name = "worked-on"
kind = "recorder"
address = "192.0.2.22"
"#;

#[test]
fn time_the_agent_did_not_run_is_neither_up_nor_down_and_an_undecided_month_is_not_judged() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    drop(camwatch::state::store::Store::open(&data).unwrap());
    let db = rusqlite::Connection::open(data.join("camwatch.sqlite")).unwrap();
    let transition = |device: &str, at: &str, to: &str| transition(&db, device, "ping", at, to, "{}");
    for (start, end) in [
        ("2026-09-20T00:00:00Z", "2026-10-10T00:00:00Z"),
        ("2026-10-12T00:00:00Z", "2026-11-01T00:00:00Z"),
    ] {
        db.execute(
            "INSERT INTO runs (started_at, last_seen_at) VALUES (?1, ?2)",
            [utc(start), utc(end)],
        )
        .unwrap();
    }
    for device in ["quiet", "cut", "worked-on"] {
        transition(device, "2026-09-20T00:00:00Z", "ok");
    }
    // Down an hour before the agent stopped; still down when it came back, up 10 minutes later.
    transition("cut", "2026-10-09T23:00:00Z", "failed");
    transition("cut", "2026-10-12T00:10:00Z", "ok");
    // Down until 30 s before an hour's maintenance ends, then 20 s down a minute after it: 90 s
    // apart, which would join them.
    transition("worked-on", "2026-10-20T10:10:00Z", "failed");
    transition("worked-on", "2026-10-20T10:59:30Z", "ok");
    transition("worked-on", "2026-10-20T11:01:00Z", "failed");
    transition("worked-on", "2026-10-20T11:01:20Z", "ok");
    maintenance(&db, 1, "worked-on", "2026-10-20T10:00:00Z", "2026-10-20T11:00:00Z");
    drop(db);
    let config = dir.path().join("camwatch.toml");
    let agent = &CONFIG[..CONFIG.find("[[device]]").unwrap()];
    write(
        &config,
        &format!("{agent}{RUNS_DEVICES}").replace("DATA", data.to_str().unwrap()),
    );
    let r = report(&config, &[]);
    let month = 31.0 * 86_400.0 + 3600.0;
    let row = |name: &str| named(&r["devices"], name);
    let recorder = |name: &str| named(&r["recorders"], name);
    // Up all the time it was seen; the two days nobody saw count as neither.
    let quiet = row("quiet");
    let seen = month - 2.0 * 86_400.0;
    assert_eq!(
        (quiet["up_seconds"].as_f64(), quiet["down_seconds"].as_f64()),
        (Some(seen), Some(0.0)),
        "{quiet}"
    );
    assert_eq!(quiet["observed_seconds"].as_f64(), Some(seen), "{quiet}");
    assert_eq!(quiet["period_seconds"].as_f64(), Some(month), "{quiet}");
    assert_eq!(quiet["observed"].as_f64(), Some(seen / month), "{quiet}");
    assert_eq!(quiet["availability"], 1.0, "{quiet}");
    // Two days unseen could hold more down time than 99.9 % of the month allows: not judged.
    assert!(quiet["met"].is_null(), "{quiet}");
    // The outage is what was seen of it: the hour before the stop and 10 minutes after the
    // restart, two interruptions; the state before the stop does not run on over the two days.
    let cut = row("cut");
    assert_eq!(cut["down_seconds"].as_f64(), Some(4200.0), "{cut}");
    assert_eq!(cut["up_seconds"].as_f64(), Some(seen - 4200.0), "{cut}");
    assert_eq!(
        cut["met"], false,
        "70 minutes down is more than the whole month allows: {cut}"
    );
    let spans: Vec<(f64, f64)> = recorder("cut")["interruptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["start"].as_f64().unwrap(), i["end"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        spans,
        [
            (utc("2026-10-09T23:00:00Z"), utc("2026-10-10T00:00:00Z")),
            (utc("2026-10-12T00:00:00Z"), utc("2026-10-12T00:10:00Z"))
        ]
    );
    // The outage inside the window is no interruption and joins nothing: the one after it
    // starts after the window and lasts its 20 s.
    let worked_on = recorder("worked-on");
    assert_eq!(worked_on["count"], 1, "{worked_on}");
    assert_eq!(
        worked_on["interruptions"][0]["start"].as_f64(),
        Some(utc("2026-10-20T11:01:00Z"))
    );
    assert_eq!(worked_on["total_seconds"].as_f64(), Some(20.0), "{worked_on}");
    assert_eq!(row("worked-on")["period_seconds"].as_f64(), Some(month - 3600.0));
}

/// An agent watching one switch at `address` of site `site`, pinged every second, failed at the
/// first lost echo, and the devices of `more` (TOML).
fn switch_agent(dir: &Path, address: &str, site: &str, more: &str) -> (std::path::PathBuf, std::net::SocketAddr) {
    support::daemon_config(
        dir,
        &format!(
            r#"{fast}

[[device]]
name = "switch"
kind = "switch"
address = "{address}"
site = "{site}"
{more}"#,
            fast = support::EVERY_SECOND
        ),
    )
}

/// The first value of a query's answer (0 before there is one).
fn first_value(answer: support::prometheus::QueryResult) -> f64 {
    answer
        .ok()
        .and_then(|r| r.first().and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

/// The availability rows of `camwatch report` for `period` as JSON, with the extra `args`.
fn report_devices(config: &Path, period: &str, args: &[&str]) -> Vec<Value> {
    let out = cli(
        config,
        &[&["report", "--period", period, "--format", "json"], args].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    r["devices"].as_array().unwrap().clone()
}

/// `--source prometheus`: the availability table computed from a real Prometheus that scraped a
/// running agent matches the agent's own report, within what a one-second scrape can resolve.
#[test]
fn the_report_from_prometheus_matches_the_agents_own() {
    let host = support::TestHost::new(&[]);
    let dir = temp_dir();
    let (config, addr) = switch_agent(dir.path(), &host.address(2), "test site", "");
    let daemon = support::Daemon::start(&config, addr, dir.path().join("log"));
    let prometheus = support::prometheus::Prometheus::start("camwatch", addr, &[]);
    daemon.wait_for_state("switch", "ping", "ok");
    let scraped = || {
        first_value(
            prometheus.query(r#"count_over_time(camwatch_check_state{device="switch",check="ping",state="ok"}[1m])"#),
        )
    };
    support::wait_for(
        "Prometheus to scrape the agent",
        std::time::Duration::from_secs(30),
        || scraped() >= 3.0,
    );
    host.link_down();
    daemon.wait_for_state("switch", "ping", "failed");
    std::thread::sleep(std::time::Duration::from_secs(4)); // an outage of a few seconds, measured by both
    host.link_up();
    daemon.wait_for_state("switch", "ping", "ok");
    let before = scraped();
    support::wait_for(
        "two scrapes after the recovery",
        std::time::Duration::from_secs(30),
        || scraped() >= before + 2.0,
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let switch = |args: &[&str]| -> Value {
        report_devices(&config, &today, args)
            .into_iter()
            .find(|d| d["device"] == "switch")
            .unwrap()
    };
    let url = format!("http://{}", prometheus.addr);
    let local = switch(&[]);
    let remote = switch(&["--source", "prometheus", "--url", &url]);
    let (l, r) = (
        local["down_seconds"].as_f64().unwrap(),
        remote["down_seconds"].as_f64().unwrap(),
    );
    assert!(l >= 4.0, "the outage is in the local report: {local}");
    assert!(
        (l - r).abs() <= 3.0,
        "local {l} s down, from Prometheus {r} s: {local} {remote}"
    );
    assert_eq!(remote["kind"], "switch");
    assert!(daemon.terminate().success());
}

/// A fleet in VictoriaMetrics: two agents, at sites north and south, each watch a switch named
/// `switch`; north's goes away for a few seconds. `--source prometheus` against VictoriaMetrics
/// keeps the two apart (by the scrape that exported each), each with its site and its own figures:
/// north's down time as north's agent measured it, south's none.
#[test]
fn the_report_from_victoria_metrics_keeps_same_named_devices_of_two_sites_apart() {
    let host = support::TestHost::new(&[3]);
    let (north_dir, south_dir) = (temp_dir(), temp_dir());
    // North's switch is the namespace's second address: removing the first would take every
    // address of its subnet along (Linux drops the secondaries with their primary).
    // And each a Frigate folder `nvr-1` with a camera `gate`, to keep a day: north's has two
    // days of footage, south's the last hour.
    let footage = |dir: &Path, site: &str, hours: i64| {
        let root = dir.join("footage");
        let now = support::footage::unix_now();
        support::footage::frigate(&root, "gate", now - hours * 3600, now, 600, 1 << 20, |_| false);
        format!(
            "\n[[device]]\nname = \"nvr-1\"\nkind = \"host\"\nsite = \"{site}\"\n[device.overrides]\nretention_days = 1\n[device.footage]\nroot = \"{}\"\nlayout = \"/{{date}}/{{hour}}/{{camera}}/{{minute}}.{{second}}.mp4\"\ncameras = [\"gate\"]\n",
            root.display()
        )
    };
    let (north_config, north_addr) = switch_agent(
        north_dir.path(),
        &host.address(3),
        "north",
        &footage(north_dir.path(), "north", 48),
    );
    let (south_config, south_addr) = switch_agent(
        south_dir.path(),
        &host.address(2),
        "south",
        &footage(south_dir.path(), "south", 1),
    );
    let north = support::Daemon::start(&north_config, north_addr, north_dir.path().join("log"));
    let south = support::Daemon::start(&south_config, south_addr, south_dir.path().join("log"));
    let vm = support::victoria::VictoriaMetrics::start("camwatch", &[north_addr, south_addr]);
    north.wait_for_state("switch", "ping", "ok");
    south.wait_for_state("switch", "ping", "ok");
    north.wait_for_state("nvr-1", "retention", "ok");
    south.wait_for_state("nvr-1", "retention", "failed");
    // Samples of north's switch being ok, as VictoriaMetrics stored them.
    let scraped = |agent: std::net::SocketAddr| {
        first_value(vm.query(&format!(
            r#"count_over_time(camwatch_check_state{{device="switch",check="ping",state="ok",instance="{agent}"}}[1m])"#
        )))
    };
    support::wait_for(
        "VictoriaMetrics to scrape both agents",
        std::time::Duration::from_secs(60),
        || {
            scraped(north_addr) >= 3.0
                && scraped(south_addr) >= 3.0
                && vm.query("camwatch_retention_compliant").is_ok_and(|r| r.len() == 2)
        },
    );
    host.set_address(3, false);
    north.wait_for_state("switch", "ping", "failed");
    std::thread::sleep(std::time::Duration::from_secs(4)); // an outage of a few seconds, measured by both
    host.set_address(3, true);
    north.wait_for_state("switch", "ping", "ok");
    let before = scraped(north_addr);
    support::wait_for(
        "two scrapes after the recovery",
        std::time::Duration::from_secs(30),
        || scraped(north_addr) >= before + 2.0,
    );
    assert_eq!(south.state("switch", "ping"), "ok", "south's switch never went away");

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let local = report_devices(&north_config, &today, &[]);
    let local_down = local[0]["down_seconds"].as_f64().unwrap();
    assert!(local_down >= 4.0, "the outage is in north's own report: {local:?}");
    let out = cli(
        &north_config,
        &[
            "report",
            "--period",
            &today,
            "--format",
            "json",
            "--source",
            "prometheus",
            "--url",
            &vm.url(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let switches: Vec<&Value> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["device"] == "switch")
        .collect();
    assert_eq!(switches.len(), 2, "one switch per site: {switches:#?}");
    let at = |site: &str| {
        *switches
            .iter()
            .find(|d| d["site"] == site)
            .unwrap_or_else(|| panic!("no switch of {site}: {switches:#?}"))
    };
    let (n, s) = (at("north"), at("south"));
    let remote_down = n["down_seconds"].as_f64().unwrap();
    assert!(
        (local_down - remote_down).abs() <= 3.0,
        "north's agent saw {local_down} s down, VictoriaMetrics {remote_down} s: {n}"
    );
    assert_eq!(s["down_seconds"], 0.0, "south's switch was never down: {s}");
    assert!(s["up_seconds"].as_f64().unwrap() >= 5.0, "{s}");
    assert_eq!(s["availability"], 1.0, "{s}");
    assert!(n["availability"].as_f64().unwrap() < 1.0, "{n}");
    for d in [n, s] {
        assert_eq!(d["kind"], "switch", "{d}");
    }
    // The site table: one row each, with its own device.
    let sites = report["sites"].as_array().unwrap();
    let names: Vec<&str> = sites.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["north", "south"], "{sites:#?}");
    assert!(sites.iter().all(|g| g["devices"] == 1), "{sites:#?}");
    // Retention: one row per site's camera gate of nvr-1, each with its own figures.
    let retention = report["retention"].as_array().unwrap();
    assert_eq!(retention.len(), 2, "{retention:#?}");
    let gate = |site: &str| {
        retention
            .iter()
            .find(|c| c["site"] == site && c["device"] == "nvr-1" && c["camera"] == "gate")
            .unwrap_or_else(|| panic!("no gate of {site}: {retention:#?}"))
    };
    let (n, s) = (gate("north"), gate("south"));
    assert_eq!(n["compliant"], true, "{n}");
    assert!(n["contiguous_seconds"].as_f64().unwrap() >= 86_400.0, "{n}");
    assert_eq!(s["compliant"], false, "{s}");
    // The last hour (and the seconds since the test wrote it), far from the day required.
    assert!(s["contiguous_seconds"].as_f64().unwrap() < 2.0 * 3_600.0, "{s}");
    for c in [n, s] {
        assert_eq!(c["required_seconds"], 86_400.0, "{c}");
    }
    assert!(north.terminate().success());
    assert!(south.terminate().success());
}

/// Stop the agent, wait, start it again: the report's known time is the time the agent ran, not
/// the gap, and the state it had when it stopped does not run on over it.
#[test]
fn the_time_a_stopped_agent_did_not_see_is_not_counted_and_a_restart_does_not_fill_it() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let (config, addr) = support::daemon_config(
        dir.path(),
        &format!(
            "{}\n[[device]]\nname = \"switch\"\nkind = \"switch\"\naddress = \"127.0.0.1\"\n",
            support::EVERY_SECOND
        ),
    );
    let results = || support::stored_results(&data, "switch", "ping").len();
    let daemon = support::Daemon::start(&config, addr, dir.path().join("log"));
    daemon.wait_for_state("switch", "ping", "ok");
    assert!(daemon.terminate().success());
    std::thread::sleep(std::time::Duration::from_secs(3)); // the agent is stopped for a while
    let before = results();
    let daemon = support::Daemon::start(&config, addr, dir.path().join("log2"));
    support::wait_for("a ping of the new run", std::time::Duration::from_secs(30), || {
        results() > before
    });
    assert!(daemon.terminate().success());
    let db = rusqlite::Connection::open(data.join("camwatch.sqlite")).unwrap();
    let runs: Vec<(f64, f64)> = db
        .prepare("SELECT started_at, last_seen_at FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(runs.len(), 2, "one run per start: {runs:?}");
    assert!(runs[1].0 - runs[0].1 >= 3.0, "the gap is in the store: {runs:?}");
    let ran: f64 = runs.iter().map(|(s, e)| e - s).sum();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let switch = report_devices(&config, &today, &[])
        .into_iter()
        .find(|d| d["device"] == "switch")
        .unwrap();
    let observed = switch["observed_seconds"].as_f64().unwrap();
    assert!(observed > 0.0, "{switch}");
    assert!(
        observed <= ran,
        "observed {observed} s, but the agent ran only {ran} s ({runs:?}): {switch}"
    );
    assert_eq!(switch["down_seconds"], 0.0, "{switch}");
    assert_eq!(
        switch["up_seconds"].as_f64(),
        Some(observed),
        "what was seen was up: {switch}"
    );
}
