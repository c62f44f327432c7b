//! UPS over NUT against Debian's real upsd and dummy-ups: recorded dumps of real UPSes read back
//! figure by figure, an outage stepped through by a `.seq` file while the daemon watches, the
//! errors upsd really sends, STARTTLS with a throwaway PKI; and fake servers for what upsd never
//! does (endless lines, lists cut short, refused logins).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::nut::{FakeConn, FakeNut, NutServer, TestPki, parse_dev, send_forever, testdata};
use support::{Daemon, camwatch, daemon_config, stderr, stdout, stored_results, stored_transitions, temp_dir, write};

const PASSWORD: &str = "correct-horse-7";
const PASSWORD_VAR: &str = "CAMWATCH_TEST_NUT_PASSWORD";

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `[[device]]` of kind ups reading `ups` on the NUT server at 127.0.0.1:`port`; `extra` goes
/// into its `[device.nut]`.
fn nut_device(name: &str, ups: &str, port: u16, extra: &str) -> String {
    nut_device_at(name, "127.0.0.1", ups, port, extra)
}

fn nut_device_at(name: &str, address: &str, ups: &str, port: u16, extra: &str) -> String {
    format!(
        r#"
[[device]]
name = "{name}"
kind = "ups"
address = "{address}"
ping = "off"
[device.nut]
ups = "{ups}"
port = {port}
{extra}
"#
    )
}

/// Runs `camwatch ARGS -c CONFIG` with the NUT password in the environment; (exit code, JSON
/// lines by device, all output).
fn camwatch_json(args: &[&str], config: &Path) -> (Option<i32>, BTreeMap<String, Value>, String) {
    let out = camwatch()
        .args(args)
        .arg("-c")
        .arg(config)
        .env(PASSWORD_VAR, PASSWORD)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let by_device = json_lines(&stdout(&out))
        .into_iter()
        .map(|v| (v["device"].as_str().unwrap().to_owned(), v))
        .collect();
    (out.status.code(), by_device, text)
}

/// The `(from, to)` states of stored transitions, as `stored_transitions` gives them.
fn steps(transitions: &[(f64, String, String)]) -> Vec<(&str, &str)> {
    transitions
        .iter()
        .map(|(_, from, to)| (from.as_str(), to.as_str()))
        .collect()
}

/// The flags of `ups.status` as the README promises to read them.
fn expected_source(status: &str) -> &'static str {
    let flags: Vec<&str> = status.split_whitespace().collect();
    let order = [
        ("OFF", "off"),
        ("OB", "battery"),
        ("BYPASS", "bypass"),
        ("BOOST", "boost"),
        ("TRIM", "reduce"),
        ("OL", "online"),
    ];
    order
        .iter()
        .find(|(flag, _)| flags.contains(flag))
        .map_or("unknown", |(_, source)| source)
}

fn assert_figure(seen: &Value, key: &str, expected: Option<f64>, context: &str) {
    match expected {
        None => assert!(seen[key].is_null(), "{context}: {key} should be absent: {seen}"),
        Some(e) => {
            let got = seen[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{context}: {key} missing: {seen}"));
            assert!((got - e).abs() < 1e-9, "{context}: {key} {got} != {e}");
        }
    }
}

#[test]
fn every_recorded_ups_reads_back_as_its_dump_says() {
    let folder = testdata();
    if !folder.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent, so there are no recorded UPS dumps to replay",
            folder.display()
        );
        return;
    }
    let mut dumps: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dev"))
        .collect();
    dumps.sort();
    assert!(!dumps.is_empty(), "no .dev files in {}", folder.display());

    let mut builder = NutServer::builder().users(&format!("[watcher]\n  password = {PASSWORD}\n  upsmon secondary\n"));
    for (i, dump) in dumps.iter().enumerate() {
        builder = builder.ups_from_file(&format!("ups{i}"), dump);
    }
    let server = builder.start();

    let dir = temp_dir();
    let config = dir.path().join("c.toml");
    let mut text = String::new();
    for i in 0..dumps.len() {
        // The first device also logs in, which a real upsd accepts for reading.
        let login = if i == 0 {
            format!("username = \"watcher\"\npassword_env = \"{PASSWORD_VAR}\"")
        } else {
            String::new()
        };
        text.push_str(&nut_device(&format!("ups{i}"), &format!("ups{i}"), server.port, &login));
    }
    write(&config, &text);
    let (_, seen, output) = camwatch_json(&["once", "--json"], &config);
    assert_eq!(seen.len(), dumps.len(), "{output}\n{}", server.logs());

    for (i, dump) in dumps.iter().enumerate() {
        let vars = parse_dev(&std::fs::read_to_string(dump).unwrap());
        let context = dump.file_name().unwrap().to_string_lossy().into_owned();
        let run = &seen[&format!("ups{i}")];
        let values = &run["values"];
        assert_eq!(values["protocol"], "nut", "{context}: {run}");
        let number = |name: &str| vars.get(name).map(|v| v.parse::<f64>().unwrap());
        assert_figure(
            values,
            "battery_charge_ratio",
            number("battery.charge").map(|p| p / 100.0),
            &context,
        );
        assert_figure(values, "battery_runtime_seconds", number("battery.runtime"), &context);
        assert_figure(values, "input_voltage_volts", number("input.voltage"), &context);
        assert_figure(values, "output_voltage_volts", number("output.voltage"), &context);
        assert_figure(values, "load_ratio", number("ups.load").map(|p| p / 100.0), &context);
        assert_figure(
            values,
            "battery_temperature_celsius",
            number("battery.temperature"),
            &context,
        );

        let status = &vars["ups.status"];
        let flags: Vec<&str> = status.split_whitespace().collect();
        let source = expected_source(status);
        assert_eq!(values["output_source"], source, "{context} ({status})");
        let battery = if flags.contains(&"FSD") {
            "depleted"
        } else if flags.contains(&"LB") {
            "low"
        } else {
            "normal"
        };
        assert_eq!(values["battery_status"], battery, "{context} ({status})");
        assert_eq!(values["replace_battery"], flags.contains(&"RB"), "{context} ({status})");
        let alarms = u64::from(vars.contains_key("ups.alarm") || flags.contains(&"ALARM"));
        assert_eq!(values["alarms"], alarms, "{context}");
        // On mains 0 s; on battery the UPS judge counts from this first poll (`once` remembers nothing).
        let on_battery = values["seconds_on_battery"].as_f64().unwrap();
        assert!(
            if source == "battery" {
                on_battery < 5.0
            } else {
                on_battery == 0.0
            },
            "{context}: {on_battery}"
        );

        let model = vars.get("device.model").or_else(|| vars.get("ups.model")).unwrap();
        let summary = run["summary"].as_str().unwrap();
        assert!(summary.starts_with(&format!("{model}: ")), "{context}: {summary}");
        let runtime_short = number("battery.runtime").is_some_and(|r| r < 600.0);
        let expected_status = if source == "off" || battery != "normal" || runtime_short {
            "failed"
        } else if source == "battery"
            || source == "bypass"
            || flags.contains(&"RB")
            || flags.contains(&"OVER")
            || alarms > 0
        {
            "warning"
        } else {
            "ok"
        };
        assert_eq!(run["status"], expected_status, "{context}: {run}");
    }

    // `probe` shows the exchange: login, list, logout; the password itself nowhere.
    let (code, seen, output) = camwatch_json(&["probe", "ups0", "--json"], &config);
    assert!(code.is_some(), "{output}");
    let exchange: Vec<&str> = seen["ups0"]["exchange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for expected in [
        "-> USERNAME watcher",
        "-> PASSWORD (not shown)",
        "-> LIST VAR ups0",
        "<- BEGIN LIST VAR ups0",
        "<- END LIST VAR ups0",
        "-> LOGOUT",
        "<- OK Goodbye",
    ] {
        assert!(exchange.contains(&expected), "{expected} in {exchange:#?}");
    }
    assert!(
        exchange.iter().any(|l| l.starts_with("<- VAR ups0 ups.status ")),
        "{exchange:#?}"
    );
    assert!(!output.contains(PASSWORD), "the password leaked:\n{output}");
}

#[test]
fn an_outage_stepped_through_by_dummy_ups_walks_the_state_machine() {
    // Long enough on mains for the daemon to start and see it; each later step spans several
    // 1 s polls; the last holds.
    let sequence = "\
ups.model: Test UPS 1500
ups.status: OL
battery.charge: 100
battery.runtime: 1800
TIMER 12
ups.status: OB DISCHRG
battery.charge: 80
battery.runtime: 1500
TIMER 6
ups.status: OB LB
battery.charge: 15
battery.runtime: 1200
TIMER 6
ups.status: OL CHRG
battery.charge: 20
TIMER 3600
";
    let server = NutServer::builder().ups_from_text("rack", "seq", sequence).start();
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
{}"#,
            nut_device("ups-rack", "rack", server.port, "")
        ),
    );
    let data = dir.path().join("data");
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    let wait = |state: &str, summary: &str| {
        support::wait_for(
            &format!("ups-rack to be {state} ({summary})"),
            Duration::from_secs(60),
            || {
                let check = daemon.check("ups-rack", "ups");
                check["state"] == state && check["summary"].as_str().unwrap_or("").contains(summary)
            },
        );
        daemon.check("ups-rack", "ups")
    };
    // The metrics follow each step: StateSets always list every state, figures in base units.
    let metric = |name: &str, labels: &[&str]| {
        let mut all = vec![r#"device="ups-rack""#];
        all.extend_from_slice(labels);
        support::sample(&daemon.metrics(), name, &all)
    };
    let ok = wait("ok", "Test UPS 1500: on mains power, battery 100 %");
    assert_eq!(ok["values"]["output_source"], "online", "{ok}");
    assert_eq!(metric("camwatch_ups_output_source", &[r#"source="online""#]), Some(1.0));
    assert_eq!(
        metric("camwatch_ups_output_source", &[r#"source="battery""#]),
        Some(0.0)
    );
    assert_eq!(metric("camwatch_ups_battery_runtime_seconds", &[]), Some(1800.0));
    assert_eq!(metric("camwatch_ups_seconds_on_battery", &[]), Some(0.0));
    let warning = wait("warning", "on battery for");
    assert_eq!(warning["values"]["output_source"], "battery", "{warning}");
    assert_eq!(warning["values"]["battery_charge_ratio"], 0.8, "{warning}");
    assert_eq!(
        metric("camwatch_ups_output_source", &[r#"source="battery""#]),
        Some(1.0)
    );
    assert_eq!(metric("camwatch_ups_battery_charge_ratio", &[]), Some(0.8));
    assert_eq!(
        metric("camwatch_check_state", &[r#"check="ups""#, r#"state="warning""#]),
        Some(1.0)
    );
    let exposition = daemon.metrics();
    assert_eq!(support::promtool_check_metrics(&exposition), "", "{exposition}");
    let failed = wait("failed", "battery low");
    assert_eq!(failed["values"]["battery_status"], "low", "{failed}");
    assert_eq!(metric("camwatch_ups_battery_status", &[r#"status="low""#]), Some(1.0));
    assert_eq!(
        metric("camwatch_ups_battery_status", &[r#"status="normal""#]),
        Some(0.0)
    );
    assert_eq!(metric("camwatch_ups_battery_runtime_seconds", &[]), Some(1200.0));
    let recovered = wait("ok", "battery 20 %");
    assert_eq!(metric("camwatch_ups_output_source", &[r#"source="online""#]), Some(1.0));
    assert_eq!(recovered["values"]["seconds_on_battery"], 0.0, "{recovered}");
    let status = daemon.terminate();
    assert!(status.success(), "{status}");

    let transitions = stored_transitions(&data, "ups-rack", "ups");
    let steps = steps(&transitions);
    assert_eq!(
        steps,
        [
            ("unknown", "ok"),
            ("ok", "warning"),
            ("warning", "failed"),
            ("failed", "ok")
        ],
        "{}",
        server.logs()
    );
    // On battery and battery low are known at once (the UPS verdict is immediate, with
    // failures_before_failed = 3); recovery takes the usual 2 good results.
    let results = stored_results(&data, "ups-rack", "ups");
    let statuses: Vec<&str> = results.iter().map(|r| r.status.as_str()).collect();
    let at = |t: usize| {
        results
            .iter()
            .position(|r| r.at == transitions[t].0)
            .expect("the transition's result is stored")
    };
    let (warned, failed, recovered) = (at(1), at(2), at(3));
    assert_eq!(statuses[warned - 1..=warned], ["ok", "warning"], "{statuses:?}");
    assert_eq!(statuses[failed - 1..=failed], ["warning", "failed"], "{statuses:?}");
    assert_eq!(
        statuses[recovered - 2..=recovered],
        ["failed", "ok", "ok"],
        "{statuses:?}"
    );
}

/// NUT does not say how long a UPS has been on battery, so camwatch counts from the first poll
/// that saw the outage. That start is the UPS judge's memory, saved with the check's state: a
/// restart of camwatch in the middle of the outage continues the count, and the check fails
/// `ups_on_battery_failed_after` after the outage began, not after the restart.
#[test]
fn time_on_battery_continues_from_the_outage_start_across_a_restart_of_camwatch() {
    // A `.dev` dump is replayed once and held: on battery from the start, for good.
    let server = NutServer::builder()
        .ups_from_text(
            "rack",
            "dev",
            "ups.model: Test UPS 1500\nups.status: OB DISCHRG\nbattery.charge: 80\nbattery.runtime: 1500\n",
        )
        .start();
    let limit = 10.0;
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "{}ups_on_battery_failed_after = \"{limit}s\"\n{}",
            support::EVERY_SECOND,
            nut_device("ups-rack", "rack", server.port, "")
        ),
    );
    let data = dir.path().join("data");
    let on_battery = |check: &Value| check["values"]["seconds_on_battery"].as_f64();

    // Well into the outage, and short of the limit: stop camwatch.
    let first = Daemon::start(&path, addr, dir.path().join("log-1"));
    let mut seen = Value::Null;
    support::wait_for("ups-rack on battery for 3 s", Duration::from_secs(60), || {
        seen = first.check("ups-rack", "ups");
        on_battery(&seen).is_some_and(|s| s >= 3.0)
    });
    assert_eq!(seen["state"], "warning", "{seen}");
    assert!(on_battery(&seen).unwrap() < limit, "{seen}");
    assert!(first.terminate().success());
    let before_restart = stored_results(&data, "ups-rack", "ups").len();

    // Started again on the same state store, while the UPS stays on battery.
    let second = Daemon::start(&path, addr, dir.path().join("log-2"));
    support::wait_for("ups-rack to fail", Duration::from_secs(60), || {
        second.state("ups-rack", "ups") == "failed"
    });
    let failed = second.check("ups-rack", "ups");
    assert!(
        failed["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("longer than the {limit}s allowed")),
        "{failed}"
    );
    assert!(second.terminate().success());

    let results = stored_results(&data, "ups-rack", "ups");
    let outage = results
        .iter()
        .position(|r| r.values["output_source"] == "battery")
        .expect("a result on battery");
    assert!(outage < before_restart, "the first camwatch saw the outage begin");
    let started = results[outage].at;
    let restarted = results[before_restart].at;
    // Every poll, before the restart and after it, counts from the outage's first sighting.
    for r in &results[outage..] {
        let counted = r.values["seconds_on_battery"].as_f64().unwrap();
        assert!(
            (counted - (r.at - started)).abs() < 0.01,
            "{counted} s on battery at {} (outage seen first at {started}, restart at {restarted})",
            r.at
        );
    }
    // The failure came at the first poll `limit` after the outage began: sooner than `limit`
    // after the restart.
    let first_failed = results
        .iter()
        .position(|r| r.status == "failed")
        .expect("a failed result");
    assert!(
        first_failed >= before_restart,
        "the first camwatch stopped before the limit"
    );
    assert!(results[first_failed].at - started >= limit);
    assert!(results[first_failed - 1].at - started < limit);
    assert_eq!(results[first_failed - 1].status, "warning");
    assert!(
        results[first_failed].at - restarted < limit,
        "failed {} s after the restart",
        results[first_failed].at - restarted
    );
    let transitions = stored_transitions(&data, "ups-rack", "ups");
    let steps = steps(&transitions);
    assert_eq!(
        steps,
        [("unknown", "warning"), ("warning", "failed")],
        "{}",
        server.logs()
    );
    assert_eq!(transitions[1].0, results[first_failed].at);
}

#[test]
fn errors_from_a_real_upsd_are_failed_checks_that_say_what_to_fix() {
    let pki = TestPki::new();
    let server = NutServer::builder()
        .ups_from_text("rack", "dev", "ups.status: OL\nbattery.charge: 100\n")
        .ups_without_driver("ghost")
        .start();
    let refused_port = support::free_port();
    let dir = temp_dir();
    let config = dir.path().join("c.toml");
    let port = server.port;
    write(
        &config,
        &[
            nut_device("wrong-name", "rak", port, ""),
            nut_device("no-driver", "ghost", port, ""),
            nut_device(
                "no-tls",
                "rack",
                port,
                &format!("tls = \"starttls\"\nca_file = \"{}\"", pki.ca.display()),
            ),
            nut_device("refused", "rack", refused_port, ""),
        ]
        .concat(),
    );
    let (code, seen, output) = camwatch_json(&["once", "--json"], &config);
    assert_eq!(code, Some(1), "{output}");
    let summary = |device: &str| {
        let run = &seen[device];
        assert_eq!(run["status"], "failed", "{run}");
        run["summary"].as_str().unwrap().to_owned()
    };
    let server_at = format!("the NUT server at 127.0.0.1:{port}");
    assert_eq!(
        summary("wrong-name"),
        format!(
            "{server_at} knows no UPS named \"rak\" (ERR UNKNOWN-UPS); it serves \"ghost\", \
             \"rack\"; check [device.nut] ups"
        )
    );
    assert_eq!(
        summary("no-driver"),
        format!(
            "{server_at} has no driver running for UPS \"ghost\" (ERR DRIVER-NOT-CONNECTED); \
             start it on the NUT server (upsdrvctl start ghost)"
        )
    );
    assert!(
        summary("no-tls").starts_with(&format!(
            "{server_at} does not offer STARTTLS (ERR FEATURE-NOT-CONFIGURED)"
        )),
        "{}",
        summary("no-tls")
    );
    assert_eq!(
        summary("refused"),
        format!(
            "the NUT server at 127.0.0.1:{refused_port} refused the connection: upsd is not \
             running or not listening there; check [device.nut] port and LISTEN in the server's \
             upsd.conf"
        )
    );
}

#[test]
fn starttls_verifies_the_server_certificate_against_the_configured_ca_and_address() {
    let pki = TestPki::new();
    let server = NutServer::builder()
        .ups_from_text(
            "rack",
            "dev",
            "ups.status: OL\nbattery.charge: 97\nbattery.runtime: 1500\n",
        )
        .tls(&pki)
        .also_listen("127.0.0.2")
        .start();
    let port = server.port;
    let tls = |ca: &Path| format!("tls = \"starttls\"\nca_file = \"{}\"", ca.display());
    let dir = temp_dir();
    let config = dir.path().join("c.toml");
    write(
        &config,
        &[
            nut_device("tls-ok", "rack", port, &tls(&pki.ca)),
            nut_device("tls-wrong-ca", "rack", port, &tls(&pki.other_ca)),
            // The certificate names 127.0.0.1 only.
            nut_device_at("tls-wrong-address", "127.0.0.2", "rack", port, &tls(&pki.ca)),
        ]
        .concat(),
    );
    let (_, seen, output) = camwatch_json(&["once", "--json"], &config);
    let ok = &seen["tls-ok"];
    assert_eq!(ok["status"], "ok", "{ok}\n{output}\n{}", server.logs());
    assert_eq!(ok["values"]["battery_charge_ratio"], 0.97, "{ok}");
    for (device, reason) in [
        ("tls-wrong-ca", "UnknownIssuer"),
        ("tls-wrong-address", "not valid for name \"127.0.0.2\""),
    ] {
        let run = &seen[device];
        assert_eq!(run["status"], "failed", "{run}");
        let summary = run["summary"].as_str().unwrap();
        assert!(
            summary.contains("TLS with the NUT server at")
                && summary.contains("invalid peer certificate")
                && summary.contains(reason),
            "{device}: {summary}"
        );
    }

    let (_, seen, output) = camwatch_json(&["probe", "tls-ok", "--json"], &config);
    let exchange: Vec<&str> = seen["tls-ok"]["exchange"]
        .as_array()
        .unwrap_or_else(|| panic!("{output}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let starttls = exchange.iter().position(|l| *l == "-> STARTTLS");
    let established = exchange
        .iter()
        .position(|l| l.contains("established") && l.ends_with("certificate verified for 127.0.0.1"));
    let list = exchange.iter().position(|l| *l == "-> LIST VAR rack");
    assert!(
        starttls.is_some() && starttls < established && established < list,
        "STARTTLS, then TLS, then the query: {exchange:#?}"
    );
}

fn refuse_password(conn: &mut FakeConn) {
    while let Some(line) = conn.read_line() {
        let reply = if line.starts_with("PASSWORD") {
            "ERR ACCESS-DENIED\n"
        } else if line == "LOGOUT" {
            let _ = conn.send("OK Goodbye\n");
            return;
        } else {
            "OK\n"
        };
        if conn.send(reply).is_err() {
            return;
        }
    }
}

fn endless_line(conn: &mut FakeConn) {
    if conn.read_line().is_some() {
        let _ = conn.send("BEGIN LIST VAR rack\nVAR rack ups.status \"");
        send_forever(conn, b'A');
    }
}

fn list_cut_short(conn: &mut FakeConn) {
    if conn.read_line().is_some() {
        let _ = conn.send(
            "BEGIN LIST VAR rack\nVAR rack ups.status \"OL\"\nVAR rack battery.charge \"100\"\n\
             VAR rack ups.load \"12\"\n",
        );
    }
}

fn not_nut(conn: &mut FakeConn) {
    if conn.read_line().is_some() {
        let _ = conn.send("HTTP/1.1 400 Bad Request\r\n\r\n");
    }
}

#[test]
fn misbehaving_servers_give_a_prompt_clear_failure_and_never_the_password() {
    let refusing = FakeNut::start(refuse_password);
    let endless = FakeNut::start(endless_line);
    let cut = FakeNut::start(list_cut_short);
    let http = FakeNut::start(not_nut);
    let dir = temp_dir();
    let config = dir.path().join("c.toml");
    write(
        &config,
        &[
            "[policy.default]\ntimeout = \"20s\"\n".to_owned(),
            nut_device(
                "refused-login",
                "rack",
                refusing.port,
                &format!("username = \"watcher\"\npassword_env = \"{PASSWORD_VAR}\""),
            ),
            nut_device("endless", "rack", endless.port, ""),
            nut_device("cut-short", "rack", cut.port, ""),
            nut_device("not-nut", "rack", http.port, ""),
        ]
        .concat(),
    );
    let (code, seen, output) = camwatch_json(&["once", "--json"], &config);
    assert_eq!(code, Some(1), "{output}");
    let summary = |device: &str| {
        let run = &seen[device];
        assert_eq!(run["status"], "failed", "{run}");
        // Failing on its own rather than by the scheduler's 20 s deadline is what "prompt" means.
        assert!(
            run["duration_seconds"].as_f64().unwrap() < 10.0,
            "{device} took until the deadline: {run}"
        );
        run["summary"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        summary("refused-login"),
        format!(
            "the NUT server at 127.0.0.1:{} refused the login of user \"watcher\" \
             (ERR ACCESS-DENIED); check [device.nut] username and password, and the user in the \
             server's upsd.users",
            refusing.port
        )
    );
    assert_eq!(
        summary("endless"),
        format!(
            "the NUT server at 127.0.0.1:{} answered LIST VAR rack with a line longer than 4096 \
             bytes; it is not behaving like a NUT server",
            endless.port
        )
    );
    assert_eq!(
        summary("cut-short"),
        format!(
            "the NUT server at 127.0.0.1:{} closed the connection in the middle of the variable \
             list of UPS \"rack\" (after 3 variables)",
            cut.port
        )
    );
    assert!(
        summary("not-nut").contains("answered LIST VAR with \"HTTP/1.1 400 Bad Request\", which is not a NUT reply"),
        "{}",
        summary("not-nut")
    );
    // The password went where the protocol needs it, and nowhere else.
    assert_eq!(
        refusing.received(),
        [
            "USERNAME watcher".to_owned(),
            format!("PASSWORD {PASSWORD}"),
            "LOGOUT".to_owned()
        ]
    );
    assert!(!output.contains(PASSWORD), "the password leaked:\n{output}");
    let (_, seen, output) = camwatch_json(&["probe", "refused-login", "--json"], &config);
    assert!(!output.contains(PASSWORD), "the password leaked:\n{output}");
    assert!(
        seen["refused-login"]["exchange"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "-> PASSWORD (not shown)"),
        "{output}"
    );
}
