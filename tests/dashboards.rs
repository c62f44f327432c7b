//! The Grafana dashboards (`dashboards/`) and the Prometheus alert rules (`alerts/`): checked
//! structurally, through promtool and amtool, and every expression evaluated by a real
//! Prometheus scraping a running agent that watches simulated devices.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::isapi_sim::{IsapiSim, IsapiState, SimChannel};
use support::nut::NutServer;
use support::onvif_sim::{SimCamera, SimState};
use support::prometheus::{Alertmanager, Prometheus, selectors};
use support::rtsp::RtspServer;
use support::snapshots::{Auth, Body, SnapshotServer, ffmpeg_jpeg};
use support::snmpd::Snmpd;
use support::{Daemon, daemon_config, http, temp_dir, write};

/// Grafana's own variables the dashboards may use, with what the test puts in their place
/// (`$__all` only appears as a variable's current value).
const BUILTIN_VARIABLES: [(&str, &str); 4] = [
    ("__rate_interval", "1m"),
    ("__interval", "1m"),
    ("__range", "1h"),
    ("__all", ".*"),
];

/// Alerts whose condition the simulated fleet below really has (a SMART-failed drive, a camera
/// that stopped recording, a UPS on battery asking for a new battery, a picture that never
/// changes): their whole expression must return data, which proves the joins and filters, not
/// only the selectors.
const FIRING_IN_THIS_FLEET: [&str; 5] = [
    "CamwatchRecorderDiskFailed",
    "CamwatchRetentionNotCompliant",
    "CamwatchUpsOnBattery",
    "CamwatchUpsReplaceBattery",
    "CamwatchCameraFrozen",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn dashboards() -> Vec<(String, Value)> {
    let list: Vec<(String, Value)> = files(&root().join("dashboards"), "json")
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, json)
        })
        .collect();
    assert!(
        list.len() >= 5,
        "dashboards missing: {:?}",
        list.iter().map(|d| &d.0).collect::<Vec<_>>()
    );
    list
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

fn variables(dashboard: &Value) -> BTreeMap<String, &Value> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| (v["name"].as_str().unwrap_or_default().to_owned(), v))
        .collect()
}

fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Grafana variable references in `text`: `$name`, `${name}`, `${name:format}`, `[[name]]`.
fn variable_uses(text: &str) -> Vec<String> {
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut uses = Vec::new();
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        let name = word(rest.strip_prefix('{').unwrap_or(rest));
        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
            uses.push(name);
        }
    }
    for (i, _) in text.match_indices("[[") {
        uses.push(word(&text[i + 2..]));
    }
    uses
}

/// What Grafana sends for a multi-value variable at "All" without a custom all value: every
/// value, regex-escaped, as one alternation. (`.*` would hide a misspelt label name: an absent
/// label matches `.*` but not `(a|b)`.)
fn all_of(values: &[String]) -> String {
    let escaped: Vec<String> = values
        .iter()
        .map(|v| {
            v.chars()
                .flat_map(|c| match c {
                    // A backslash for the regex, doubled for the PromQL string.
                    '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                        vec!['\\', '\\', c]
                    }
                    '"' => vec!['\\', '"'],
                    _ => vec![c],
                })
                .collect()
        })
        .collect();
    format!("({})", escaped.join("|"))
}

/// `expr` as Prometheus would get it from Grafana: the dashboard's variables at `values` (name to
/// what Grafana puts in), Grafana's intervals fixed.
fn substitute(expr: &str, values: &BTreeMap<String, String>) -> String {
    let mut names: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    names.extend(BUILTIN_VARIABLES.iter().copied());
    // Longest first, so that `$device` is not replaced inside `$devices`.
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = expr.to_owned();
    for (name, value) in names {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

#[test]
fn selectors_are_found_in_expressions() {
    assert_eq!(
        selectors(
            r#"(max without(check, state) (camwatch_check_state{state="unreachable",x="a}b"}) == 1) * on(device) group_left(site, kind) camwatch_device_info unless on(device) camwatch_maintenance_active == 1"#
        ),
        [
            r#"camwatch_check_state{state="unreachable",x="a}b"}"#,
            "camwatch_device_info",
            "camwatch_maintenance_active"
        ]
    );
    assert_eq!(
        selectors("increase(camwatch_device_reboots_total[1h]) > 0 and time() - up offset 5m > 7 * 86400"),
        ["camwatch_device_reboots_total", "up"]
    );
    assert_eq!(all_of(&["a.b".into(), "c d".into()]), r"(a\\.b|c d)");
    assert_eq!(
        variable_uses("a{device=~\"$device\"}[$__rate_interval] ${site:regex} [[kind]] $1"),
        ["device", "__rate_interval", "site", "kind"]
    );
}

#[test]
fn dashboards_are_provisionable_and_consistent() {
    let mut uids = BTreeSet::new();
    for (name, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(uid.starts_with("camwatch-"), "{name}: uid {uid:?}");
        assert!(uids.insert(uid.to_owned()), "{name}: uid {uid} used twice");
        assert!(
            d.get("__inputs").is_none() && d.get("__requires").is_none(),
            "{name}: exported for sharing, not provisioning"
        );
        assert!(
            d["id"].is_null(),
            "{name}: a numeric id belongs to one Grafana's database"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 39),
            "{name}: schemaVersion"
        );
        assert!(!d["title"].as_str().unwrap_or_default().is_empty(), "{name}: no title");

        let vars = variables(&d);
        let ds = vars
            .get("datasource")
            .unwrap_or_else(|| panic!("{name}: no datasource variable"));
        assert_eq!(
            (ds["type"].as_str(), ds["query"].as_str()),
            (Some("datasource"), Some("prometheus")),
            "{name}"
        );
        // site -> kind -> device, each from camwatch_device_info and narrowed by the ones before.
        for (var, after) in [
            ("site", vec![]),
            ("kind", vec!["$site"]),
            ("device", vec!["$site", "$kind"]),
        ] {
            let v = vars.get(var).unwrap_or_else(|| panic!("{name}: no {var} variable"));
            let query = v["definition"].as_str().unwrap_or_default();
            assert_eq!(v["type"], "query", "{name}: {var}");
            assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}: {var}");
            assert!(
                query.starts_with("label_values(camwatch_device_info") && query.ends_with(&format!(", {var})")),
                "{name}: {var}: {query}"
            );
            assert!(
                after.iter().all(|a| query.contains(a)),
                "{name}: {var} is not narrowed by {after:?}: {query}"
            );
            assert_eq!(v["query"]["query"].as_str(), Some(query), "{name}: {var}");
        }

        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or_default();
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: panel {title:?} has no id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            let grid = &p["gridPos"];
            let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
            assert!(
                x + w <= 24 && grid["h"].as_u64().is_some_and(|h| h > 0),
                "{name}: {title}: {grid}"
            );
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{name}: {title}");
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: {title}: no targets"));
            assert!(!targets.is_empty(), "{name}: {title}: no targets");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{name}: {title}");
                assert!(
                    !t["expr"].as_str().unwrap_or_default().trim().is_empty(),
                    "{name}: {title}: empty expr"
                );
            }
        }

        let mut texts = Vec::new();
        strings(&d, &mut texts);
        for text in texts {
            for used in variable_uses(text) {
                assert!(
                    vars.contains_key(&used) || BUILTIN_VARIABLES.iter().any(|(b, _)| *b == used),
                    "{name}: ${used} is used but not defined: {text}"
                );
            }
        }
    }

    // Alerts link to dashboards by uid: each must exist.
    let rules = std::fs::read_to_string(root().join("alerts/camwatch.rules.yml")).unwrap();
    let linked: BTreeSet<String> = rules
        .match_indices("/d/")
        .map(|(i, _)| {
            rules[i + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        })
        .collect();
    assert!(!linked.is_empty());
    for uid in &linked {
        assert!(
            uids.contains(uid),
            "an alert links to dashboard {uid}, which does not exist"
        );
    }
    // Runbook links point at sections of this README (GitHub's heading anchors).
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let sections: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix('#').map(|h| h.trim_start_matches('#').trim()))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let anchors: Vec<&str> = rules
        .split("camwatch_docs_url }}#")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap())
        .collect();
    assert!(anchors.len() >= 30, "{anchors:?}");
    for anchor in anchors {
        if anchor == "{{ $labels.check }}" {
            // CamwatchCheckFailed: its checks each have a section.
            for check in ["filesystem", "storage", "snmp_values", "onvif", "uptime"] {
                assert!(sections.contains(check), "no README section {check}");
            }
        } else {
            assert!(
                sections.contains(anchor),
                "a runbook_url points at #{anchor}, not a README section"
            );
        }
    }
    let provider = std::fs::read_to_string(root().join("dashboards/provisioning/camwatch.yaml")).unwrap();
    assert!(
        provider.contains("type: file") && provider.contains("path:"),
        "{provider}"
    );
}

fn run_tool(program: &str, args: &[&str], package: &str) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (Debian package {package}; the README's test command installs it)"));
    let text = format!("{}{}", support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_and_the_alertmanager_example_passes_amtool() {
    run_tool(
        "promtool",
        &["check", "rules", "alerts/camwatch.rules.yml"],
        "prometheus",
    );
    let tests: Vec<String> = files(&root().join("alerts/tests"), "yml")
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let out = run_tool("promtool", &args, "prometheus");
    assert_eq!(out.matches("SUCCESS").count(), tests.len(), "{out}");
    run_tool(
        "amtool",
        &["check-config", "alerts/alertmanager.example.yml"],
        "prometheus-alertmanager",
    );

    // Every alert is unit-tested.
    let rules = std::fs::read_to_string(root().join("alerts/camwatch.rules.yml")).unwrap();
    let tested: String = tests
        .iter()
        .map(|t| std::fs::read_to_string(root().join(t)).unwrap())
        .collect();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 30, "{alerts:?}");
    for alert in alerts {
        assert!(
            tested.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool unit test"
        );
    }
}

/// The shipped rules as written: every rule with the name of its group.
fn shipped_rules() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(root().join("alerts/camwatch.rules.yml")).unwrap();
    let file: Value = serde_norway::from_str(&text).unwrap();
    file["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            let group = g["name"].as_str().unwrap().to_owned();
            g["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| (group.clone(), r.clone()))
        })
        .collect()
}

/// The values a label matcher `label="a"` or `label=~"a|b"` allows in `expr`, for every such
/// matcher (`None` when no selector matches on the label).
fn matched_values(expr: &str, label: &str) -> Option<BTreeSet<String>> {
    let mut values: Option<BTreeSet<String>> = None;
    for selector in selectors(expr) {
        let Some(matchers) = selector.split_once('{').map(|(_, m)| m.trim_end_matches('}')) else {
            continue;
        };
        for matcher in matchers.split(',') {
            let Some(rest) = matcher.trim().strip_prefix(label) else {
                continue;
            };
            let rest = rest.trim_start_matches('!');
            let quoted = rest.strip_prefix("=~").or_else(|| rest.strip_prefix('='));
            if let Some(quoted) = quoted {
                let allowed = quoted.trim_matches('"').split('|').map(str::to_owned);
                values.get_or_insert_with(BTreeSet::new).extend(allowed);
            }
        }
    }
    values
}

/// Every matcher of an Alertmanager configuration (routes' `matchers`, inhibitions'
/// `source_matchers` and `target_matchers`), as written.
fn alertmanager_matchers(config: &Value, out: &mut Vec<String>) {
    match config {
        Value::Object(map) => {
            for (key, value) in map {
                match value.as_array() {
                    Some(list) if key.ends_with("matchers") => {
                        out.extend(list.iter().filter_map(|m| m.as_str().map(str::to_owned)));
                    }
                    _ => alertmanager_matchers(value, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| alertmanager_matchers(v, out)),
        _ => {}
    }
}

/// One vocabulary: a rule about a check says the severity camwatch gives that check's incidents
/// (`Severity::of_check`, as mail, Alertmanager and `camwatch_incidents_open` say it), whichever
/// the state it fires on; the others use the same words. The check is read from the rule itself:
/// its `check` label, else the checks its expression selects; a rule on a check's own metrics
/// (`camwatch_ups_*`, `camwatch_retention_*`, ...) must name that check.
#[test]
fn every_rule_says_the_severity_camwatch_gives_the_check_it_alerts_on() {
    use camwatch::model::CheckKind;
    use camwatch::vocab::Severity;

    let rules = shipped_rules();
    assert!(rules.len() >= 30, "{} rules", rules.len());
    let mut about_checks = 0;
    for (group, rule) in &rules {
        let name = rule["alert"].as_str().unwrap();
        let expr = rule["expr"].as_str().unwrap();
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            Severity::NAMES.contains(&severity),
            "{group}/{name}: severity {severity:?} is not one of {:?}",
            Severity::NAMES
        );
        let label = rule["labels"]["check"].as_str();
        let selected = matched_values(expr, "check");
        let checks: BTreeSet<String> = match (label, &selected) {
            (Some(check), Some(selected)) => {
                assert_eq!(
                    selected,
                    &BTreeSet::from([check.to_owned()]),
                    "{name}: label and expression disagree"
                );
                selected.clone()
            }
            (Some(check), None) => BTreeSet::from([check.to_owned()]),
            (None, Some(selected)) => selected.clone(),
            (None, None) => BTreeSet::new(),
        };
        for metric in selectors(expr) {
            let metric = metric.split('{').next().unwrap();
            for kind in CheckKind::ALL {
                if metric.starts_with(&format!("camwatch_{}_", kind.as_str())) {
                    assert!(
                        checks.contains(kind.as_str()),
                        "{name} reads {metric}, a metric of the {kind} check, but names checks {checks:?}"
                    );
                }
            }
        }
        for check in &checks {
            assert!(CheckKind::parse(check).is_some(), "{name}: no check {check:?}");
            assert_eq!(
                severity,
                Severity::of_check(check).as_str(),
                "{group}/{name} alerts on {check}, whose incidents are {}",
                Severity::of_check(check)
            );
        }
        about_checks += usize::from(!checks.is_empty());
    }
    assert!(
        about_checks >= 20,
        "only {about_checks} rules name their check: is the check read?"
    );

    // Camwatch mails a UPS on battery when it fails the check, ups_on_battery_failed_after after
    // the outage began: the rule that pages for it waits as long.
    let on_battery: Vec<&Value> = rules
        .iter()
        .map(|(_, r)| r)
        .filter(|r| matched_values(r["expr"].as_str().unwrap(), "source").is_some_and(|s| s.contains("battery")))
        .collect();
    assert_eq!(on_battery.len(), 1, "{on_battery:#?}");
    let wait = humantime::parse_duration(on_battery[0]["for"].as_str().unwrap()).unwrap();
    assert_eq!(
        wait,
        camwatch::config::Policy::default().ups_on_battery_failed_after,
        "{}",
        on_battery[0]["alert"]
    );

    // The dashboards and the Alertmanager example match on the same words.
    let example = std::fs::read_to_string(root().join("alerts/alertmanager.example.yml")).unwrap();
    let example: Value = serde_norway::from_str(&example).unwrap();
    let mut exprs: Vec<String> = dashboards()
        .iter()
        .flat_map(|(_, d)| {
            panels(d)
                .into_iter()
                .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
                .filter_map(|t| t["expr"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    exprs.extend(rules.iter().map(|(_, r)| r["expr"].as_str().unwrap().to_owned()));
    let mut matchers = Vec::new();
    alertmanager_matchers(&example, &mut matchers);
    assert!(matchers.len() >= 5, "{matchers:?}");
    exprs.extend(matchers.iter().map(|m| format!("alert{{{m}}}")));
    for expr in &exprs {
        for word in matched_values(expr, "severity").unwrap_or_default() {
            assert!(Severity::NAMES.contains(&word.as_str()), "severity {word:?} in {expr}");
        }
    }
}

/// A real Alertmanager with the shipped example as it is, but mailing a closed port on loopback:
/// nothing may leave the machine.
fn example_alertmanager(dir: &Path) -> Alertmanager {
    let example = std::fs::read_to_string(root().join("alerts/alertmanager.example.yml")).unwrap();
    let password = dir.join("smtp_password");
    write(&password, "not-used\n");
    let config = example
        .replace("mail.example.org:587", &format!("127.0.0.1:{}", support::free_port()))
        .replace("/etc/alertmanager/smtp_password", &password.display().to_string());
    assert_ne!(config, example, "the example's mail server and password file moved");
    Alertmanager::start(&config)
}

/// The state (`active`, `suppressed`) of the alert `name` of `device` from the agent `instance`.
fn alert_state(alerts: &[Value], name: &str, device: &str, instance: &str) -> String {
    alerts
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == name && a["labels"]["device"] == device && a["labels"]["instance"] == instance
        })
        .map(|a| a["status"]["state"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} for {device} of {instance} in {alerts:#?}"))
}

#[test]
fn the_alertmanager_example_holds_back_alerts_of_devices_behind_a_device_that_is_down() {
    let dir = temp_dir();
    let alertmanager = example_alertmanager(dir.path());

    // Site north's agent, and site south's, whose devices are named as north's are.
    let (north, south) = ("agent-a:9810", "agent-b:9810");
    let alert = |name: &str, device: &str, severity: &str, instance: &str| {
        let site = if instance == north { "north" } else { "south" };
        serde_json::json!({"labels": {
            "alertname": name, "device": device, "site": site, "severity": severity,
            "job": "camwatch", "instance": instance,
        }})
    };
    alertmanager.post_alerts(&serde_json::json!([
        alert("CamwatchDeviceDown", "switch", "major", north),
        alert("CamwatchCheckFailed", "switch", "major", north),
        alert("CamwatchDeviceUnreachable", "cam-hall", "major", north),
        alert("CamwatchRetentionNotCompliant", "cam-hall", "critical", north),
        alert("CamwatchCameraFrozen", "cam-hall", "major", north),
        alert("CamwatchCameraFrozen", "cam-gate", "major", north),
        alert("CamwatchRetentionNotCompliant", "cam-gate", "critical", north),
        alert("CamwatchCheckFailed", "switch", "major", south),
        alert("CamwatchCameraFrozen", "cam-hall", "major", south),
    ]));
    let alerts = alertmanager.alerts();
    let expected = [
        // The root cause is told.
        ("CamwatchDeviceDown", "switch", north, "active"),
        // A device that is down: its other alerts are consequences.
        ("CamwatchCheckFailed", "switch", north, "suppressed"),
        // Behind it: held back while the camera is unreachable.
        ("CamwatchRetentionNotCompliant", "cam-hall", north, "suppressed"),
        ("CamwatchCameraFrozen", "cam-hall", north, "suppressed"),
        // Another camera, reachable: told.
        ("CamwatchCameraFrozen", "cam-gate", north, "active"),
        ("CamwatchRetentionNotCompliant", "cam-gate", north, "active"),
        // The same names at another site are other devices: north's faults hold nothing back.
        ("CamwatchCheckFailed", "switch", south, "active"),
        ("CamwatchCameraFrozen", "cam-hall", south, "active"),
    ];
    for (name, device, instance, want) in expected {
        assert_eq!(
            alert_state(&alerts, name, device, instance),
            want,
            "{name} for {device} of {instance}: {alerts:#?}"
        );
    }
}

/// An agent of a fleet at `site`: its own `this-host`, and a recorder `nvr-1` at `address`
/// whose stream (a closed port) never answers.
fn fleet_agent(site: &str, address: &str, closed_port: u16) -> (tempfile::TempDir, Daemon) {
    let dir = temp_dir();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{fast}

[[device]]
name = "this-host"
kind = "host"
site = "{site}"
[device.filesystem]
mountpoints = ["/"]

[[device]]
name = "nvr-1"
kind = "recorder"
address = "{address}"
site = "{site}"
room = "{site} rack"
[device.stream]
uri = "rtsp://127.0.0.1:{closed_port}/stream"
"#,
            fast = support::EVERY_SECOND
        ),
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    (dir, daemon)
}

/// Two agents in one real Prometheus loading the shipped rules, alerting one real Alertmanager
/// loaded with the shipped example. Sites north and south each have a `this-host` and an `nvr-1`
/// whose stream check fails; north's nvr-1 goes off the network. Its `CamwatchDeviceDown` fires
/// once, with north's site and agent; it holds back north's stream alert and nothing of south's;
/// and every dashboard panel narrowed to a site and `nvr-1` shows only that site's.
#[test]
fn a_fault_at_one_site_of_a_fleet_fires_once_names_its_site_and_holds_back_nothing_at_the_other() {
    support::require_root("a network namespace for the recorders, ICMP ping");
    let host = support::TestHost::new(&[3]);
    let dir = temp_dir();
    let alertmanager = example_alertmanager(dir.path());
    let closed_port = support::free_port();
    // North's recorder is the namespace's second address: removing the first would take every
    // address of its subnet along (Linux drops the secondaries with their primary).
    let (_north_dir, north) = fleet_agent("north", &host.address(3), closed_port);
    let (_south_dir, south) = fleet_agent("south", &host.address(2), closed_port);
    let agents = [("north", north.addr.to_string()), ("south", south.addr.to_string())];
    let rules = root().join("alerts/camwatch.rules.yml");
    let prometheus = Prometheus::start_fleet(
        "camwatch",
        &[north.addr, south.addr],
        &[&rules],
        Some(alertmanager.addr),
    );
    north.wait_for_state("nvr-1", "ping", "ok");
    south.wait_for_state("nvr-1", "ping", "ok");
    host.set_address(3, false);
    north.wait_for_state("nvr-1", "ping", "failed");

    // The rules' `for: 1m` runs out a minute after the faults, then Prometheus sends at once.
    let held = |name: &str, instance: &str| {
        alertmanager
            .alerts()
            .iter()
            .any(|a| a["labels"]["alertname"] == name && a["labels"]["instance"] == instance)
    };
    support::wait_for(
        "Alertmanager to hold north's CamwatchDeviceDown and both stream alerts",
        Duration::from_secs(180),
        || held("CamwatchDeviceDown", &agents[0].1) && agents.iter().all(|(_, a)| held("CamwatchCameraStreamDown", a)),
    );
    for group in prometheus.rule_groups() {
        for rule in group["rules"].as_array().unwrap() {
            assert_ne!(rule["health"], "err", "{}: {}", rule["name"], rule["lastError"]);
        }
    }
    let firing = prometheus
        .query(r#"ALERTS{alertname="CamwatchDeviceDown",alertstate="firing"}"#)
        .unwrap();
    assert_eq!(firing.len(), 1, "one device is down: {firing:#?}");
    let alerts = alertmanager.alerts();
    let down: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "CamwatchDeviceDown")
        .collect();
    assert_eq!(down.len(), 1, "{down:#?}");
    for (label, want) in [
        ("device", "nvr-1"),
        ("site", "north"),
        ("room", "north rack"),
        ("instance", agents[0].1.as_str()),
    ] {
        assert_eq!(down[0]["labels"][label], want, "{label}: {:#}", down[0]);
        assert_eq!(firing[0]["metric"][label], want, "{label}: {:#}", firing[0]);
    }
    assert_eq!(
        alert_state(&alerts, "CamwatchDeviceDown", "nvr-1", &agents[0].1),
        "active"
    );
    // North's stream alert is a consequence of its own recorder being down; south's is not.
    assert_eq!(
        alert_state(&alerts, "CamwatchCameraStreamDown", "nvr-1", &agents[0].1),
        "suppressed"
    );
    let at_south: Vec<&Value> = alerts.iter().filter(|a| a["labels"]["site"] == "south").collect();
    assert!(!at_south.is_empty(), "{alerts:#?}");
    for a in at_south {
        assert_eq!(
            a["status"]["state"], "active",
            "north's fault holds back nothing of south's: {a:#}"
        );
        assert_eq!(a["labels"]["instance"], agents[1].1.as_str(), "{a:#}");
    }

    // The dashboards, narrowed to one site and nvr-1: every device panel shows that site's
    // nvr-1 only. (Panels of the agents themselves, with no device variable, show every agent.)
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (site, agent) in &agents {
        let kinds: Vec<String> = prometheus
            .query(&format!(r#"count by(kind) (camwatch_device_info{{site="{site}"}})"#))
            .unwrap()
            .iter()
            .map(|r| r["metric"]["kind"].as_str().unwrap().to_owned())
            .collect();
        let values = BTreeMap::from([
            ("site".to_owned(), (*site).to_owned()),
            ("kind".to_owned(), all_of(&kinds)),
            ("device".to_owned(), "nvr-1".to_owned()),
        ]);
        for (name, d) in dashboards() {
            for p in panels(&d) {
                for t in p["targets"].as_array().into_iter().flatten() {
                    let expr = t["expr"].as_str().unwrap();
                    if !variable_uses(expr).iter().any(|v| v == "device") {
                        continue;
                    }
                    let expr = substitute(expr, &values);
                    let what = format!("{name}: {:?} {} at {site}", p["title"], t["refId"]);
                    match prometheus.query(&expr) {
                        Err(e) => wrong.push(format!("{what}: {e}\n    {expr}")),
                        Ok(result) => {
                            for r in result {
                                let m = &r["metric"];
                                for (label, want) in [("site", *site), ("instance", agent.as_str())] {
                                    if let Some(got) = m[label].as_str() {
                                        checked += 1;
                                        if got != want {
                                            wrong.push(format!("{what}: {label} {got}\n    {expr}"));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 20, "only {checked} labels checked");
    assert!(north.terminate().success());
    assert!(south.terminate().success());
}

/// One expression to evaluate, where it comes from, and whether it must return data.
struct Probe {
    what: String,
    expr: String,
    needs_data: bool,
}

fn hourly(from: i64, to: i64) -> Vec<(i64, i64, u64)> {
    (from..to)
        .step_by(3600)
        .map(|s| (s, (s + 3600).min(to), 900_000_000))
        .collect()
}

#[test]
fn every_expression_returns_data_from_a_real_prometheus_scraping_the_agent() {
    support::require_root("snmpd in a time namespace, ICMP ping");
    let started = Instant::now();
    let dir = temp_dir();

    // The simulated room: a Hikvision recorder (a SMART-failed drive, a camera that stopped
    // recording yesterday), an ONVIF camera, a camera with an RTSP stream and a snapshot that
    // never changes, a UPS on battery (NUT), a NAS answering SNMP (net-snmp), a backup folder
    // and the host's own filesystem.
    let now = support::isapi_sim::now() / 60 * 60;
    let nvr = IsapiSim::start(IsapiState {
        channels: vec![
            SimChannel {
                id: 1,
                name: "Front door".into(),
                segments: hourly(now - 3 * 86_400, now),
            },
            SimChannel {
                id: 2,
                name: "Gate".into(),
                segments: hourly(now - 3 * 86_400, now - 86_400),
            },
        ],
        ..IsapiState::default()
    });
    let onvif = SimCamera::start(SimState::default());
    let rtsp = RtspServer::start(support::rtsp::Auth::None);
    let snapshots = SnapshotServer::start();
    let picture = ffmpeg_jpeg(dir.path(), "picture.jpg", "testsrc=size=640x360", None, 1);
    snapshots.set("/snapshot.jpg", Body::Rotate(vec![picture]), Auth::None);
    let ups = NutServer::builder()
        .ups_from_text(
            "rack",
            "dev",
            "device.mfr: Eaton\ndevice.model: 5PX 2000\nups.status: OB DISCHRG RB\nups.alarm: Replace battery!\nbattery.charge: 80\nbattery.runtime: 1500\nbattery.temperature: 27.5\ninput.voltage: 0.0\noutput.voltage: 230.1\nups.load: 35\n",
        )
        .start();
    let snmpd = Snmpd::start(0);
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    write(
        &backups.join("cam-gate-night.mp4"),
        "not really a video, but a file of the right age",
    );

    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[procedures]
handover = []
# Mail goes nowhere (a closed loopback port): the notification series exist, each attempt fails.
[email]
server = "127.0.0.1"
port = {smtp}
security = "none"
from = "camwatch <camwatch@test.example>"
to = ["maintenance@test.example"]
[policy.default]
interval = "2s"
timeout = "2s"
failures_before_failed = 1
successes_before_recovered = 1
retention_days = 2
[snmp_auth.default]
version = "2c"
community_env = "CW_TEST_COMMUNITY"

[[device]]
name = "switch"
kind = "switch"
address = "127.0.0.1"
site = "north"

[[device]]
name = "nvr"
kind = "recorder"
address = "127.0.0.1"
ping = "tcp:{nvr_port}"
site = "north"
parent = "switch"
username = "camwatch"
password_env = "CW_TEST_NVR_PASSWORD"
[device.isapi]
port = {nvr_port}
channels = ["Front door", "Gate"]

[[device]]
name = "cam-hall"
kind = "camera"
address = "127.0.0.1"
ping = "off"
site = "north"
username = "camwatch"
password_env = "CW_TEST_CAMERA_PASSWORD"
[device.onvif]
port = {onvif_port}
checks = ["onvif", "clock", "baseline"]

[[device]]
name = "cam-gate"
kind = "camera"
address = "127.0.0.1"
ping = "off"
site = "south"
[device.stream]
uri = "{rtsp}"
[device.snapshot]
uri = "{snapshot}"

[[device]]
name = "ups-rack"
kind = "ups"
address = "127.0.0.1"
ping = "off"
site = "north"
[device.nut]
ups = "rack"
port = {nut_port}

[[device]]
name = "nas"
kind = "storage"
address = "127.0.0.1"
ping = "off"
site = "south"
[device.snmp]
port = {snmp_port}
checks = ["uptime", "storage"]
[[device.snmp_value]]
name = "interfaces"
oid = "1.3.6.1.2.1.2.1.0"

[[device]]
name = "backup"
kind = "storage"
site = "south"
[device.backup]
path = "{backups}"

[[device]]
name = "agent-host"
kind = "host"
site = "north"
[device.filesystem]
mountpoints = ["/"]
"#,
            nvr_port = nvr.addr.port(),
            smtp = support::free_port(),
            onvif_port = onvif.addr.port(),
            rtsp = rtsp.uri(),
            snapshot = snapshots.url("/snapshot.jpg"),
            nut_port = ups.port,
            snmp_port = snmpd.port,
            backups = backups.display(),
        ),
    );
    let nvr_password = nvr.with(|s| s.password.clone());
    let daemon = Daemon::start_with(&config, addr, dir.path().join("log"), |c| {
        c.env("CW_TEST_NVR_PASSWORD", &nvr_password)
            .env("CW_TEST_CAMERA_PASSWORD", SimState::default().password)
            .env("CW_TEST_COMMUNITY", support::snmpd::COMMUNITY);
    });
    let rules = root().join("alerts/camwatch.rules.yml");
    let prometheus = Prometheus::start("camwatch", addr, &[&rules]);
    // A handover and an inventory, so the procedures' metric exists for both.
    for procedure in ["handover", "inventory"] {
        let r = http(addr, "POST", &format!("/api/v1/procedures/{procedure}"), &[]).unwrap();
        assert_eq!(r.status, 200, "{procedure}: {r:?}");
    }

    // What to evaluate: every dashboard panel target and variable query, every rule with each
    // of its selectors.
    // The variables at "All": every site, kind and device of the fleet.
    let devices = |p: &Prometheus| {
        p.query("count(camwatch_device_info)")
            .ok()
            .and_then(|r| r.first().cloned())
    };
    support::wait_for("Prometheus to see the 8 devices", Duration::from_secs(30), || {
        devices(&prometheus).is_some_and(|v| v["value"][1] == "8")
    });
    let mut probes = Vec::new();
    for (name, d) in dashboards() {
        let mut values = BTreeMap::new();
        let mut queries = Vec::new();
        for (var, v) in variables(&d) {
            let Some(query) = v["definition"].as_str().and_then(|q| q.strip_prefix("label_values(")) else {
                continue;
            };
            let (series, label) = query.trim_end_matches(')').rsplit_once(',').unwrap();
            let label = label.trim();
            let all: Vec<String> = prometheus
                .query(&format!("count by({label}) (camwatch_device_info)"))
                .unwrap()
                .iter()
                .map(|r| r["metric"][label].as_str().unwrap().to_owned())
                .collect();
            values.insert(var.clone(), all_of(&all));
            queries.push((var, format!("count by({label}) ({series})")));
        }
        for (var, query) in queries {
            probes.push(Probe {
                what: format!("{name}: variable {var}"),
                expr: substitute(&query, &values),
                needs_data: true,
            });
        }
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap();
                probes.push(Probe {
                    what: format!("{name}: panel {:?} target {}", p["title"], t["refId"]),
                    expr: substitute(expr, &values),
                    needs_data: true,
                });
            }
        }
    }
    let groups = prometheus.rule_groups();
    let rules: Vec<Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        rules.len() >= 30,
        "Prometheus loaded {} rules:\n{}",
        rules.len(),
        prometheus.log_text()
    );
    for rule in &rules {
        let name = rule["name"].as_str().unwrap();
        let expr = rule["query"].as_str().unwrap();
        assert_eq!(rule["type"], "alerting", "{name}");
        assert!(
            name.starts_with("Camwatch") && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name} is not CamelCase"
        );
        assert!(
            camwatch::vocab::Severity::NAMES.contains(&rule["labels"]["severity"].as_str().unwrap_or_default()),
            "{name}: severity {}",
            rule["labels"]
        );
        for key in ["summary", "description", "runbook_url", "dashboard_url"] {
            assert!(
                !rule["annotations"][key].as_str().unwrap_or_default().is_empty(),
                "{name} has no {key}"
            );
        }
        assert!(
            rule["annotations"]["runbook_url"].as_str().unwrap().contains('#'),
            "{name}"
        );
        assert!(
            rule["annotations"]["dashboard_url"]
                .as_str()
                .unwrap()
                .contains("/d/camwatch-"),
            "{name}"
        );
        probes.push(Probe {
            what: format!("rule {name}"),
            expr: expr.to_owned(),
            needs_data: FIRING_IN_THIS_FLEET.contains(&name),
        });
        for selector in selectors(expr) {
            probes.push(Probe {
                what: format!("rule {name}: selector {selector}"),
                needs_data: true,
                expr: selector,
            });
        }
    }
    for firing in FIRING_IN_THIS_FLEET {
        assert!(rules.iter().any(|r| r["name"] == firing), "no rule {firing}");
    }

    // Poll until Prometheus has scraped enough (rates need two samples, availability is
    // refreshed every 15 s) and every probe passes, or say which do not.
    let deadline = Instant::now() + Duration::from_secs(60);
    let failures = loop {
        let failures: Vec<String> = probes
            .iter()
            .filter_map(|p| match prometheus.query(&p.expr) {
                Err(e) => Some(format!("{}: {e}\n    {}", p.what, p.expr)),
                Ok(result) if p.needs_data && result.is_empty() => Some(format!("{}: no data\n    {}", p.what, p.expr)),
                Ok(_) => None,
            })
            .collect();
        if failures.is_empty() || Instant::now() > deadline {
            break failures;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        failures.is_empty(),
        "{} of {} expressions failed:\n{}\n\ncamwatch's metrics:\n{}",
        failures.len(),
        probes.len(),
        failures.join("\n"),
        daemon.metrics()
    );

    // Prometheus evaluated every rule without an error (a many-to-many join shows only here).
    for group in prometheus.rule_groups() {
        for rule in group["rules"].as_array().unwrap() {
            assert_ne!(rule["health"], "err", "{}: {}", rule["name"], rule["lastError"]);
        }
    }
    eprintln!("{} expressions passed after {:?}", probes.len(), started.elapsed());
    assert!(daemon.terminate().success());
}
