//! SNMP against net-snmp's real agent: v2c and v3 authPriv, wrong credentials, this machine's
//! real disks compared with `df`, reboots seen exactly once, and agents that answer garbage.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::snmpd::{self, Snmpd};
use support::{Daemon, daemon_config, sample, stderr, stdout, stored_events, stored_summaries, temp_dir, write};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn auth_tables() -> String {
    format!(
        r#"
[snmp_auth.v2]
version = "2c"
community_env = "CW_TEST_COMMUNITY"
[snmp_auth.v1]
version = "1"
community_env = "CW_TEST_COMMUNITY"
[snmp_auth.v3-md5-auth-only]
version = "3"
username = "{user_md5}"
auth_protocol = "md5"
auth_password_env = "CW_TEST_AUTH_MD5"
[snmp_auth.v2-wrong]
version = "2c"
community_env = "CW_TEST_WRONG_COMMUNITY"
[snmp_auth.v3]
version = "3"
username = "{user}"
auth_protocol = "sha"
auth_password_env = "CW_TEST_AUTH"
priv_protocol = "aes"
priv_password_env = "CW_TEST_PRIV"
[snmp_auth.v3-256]
version = "3"
username = "{user256}"
auth_protocol = "sha256"
auth_password_env = "CW_TEST_AUTH256"
priv_protocol = "aes256"
priv_password_env = "CW_TEST_PRIV256"
[snmp_auth.v3-wrong-auth]
version = "3"
username = "{user}"
auth_protocol = "sha"
auth_password_env = "CW_TEST_WRONG"
priv_protocol = "aes"
priv_password_env = "CW_TEST_PRIV"
[snmp_auth.v3-wrong-priv]
version = "3"
username = "{user256}"
auth_protocol = "sha256"
auth_password_env = "CW_TEST_AUTH256"
priv_protocol = "aes256"
priv_password_env = "CW_TEST_WRONG"
"#,
        user = snmpd::V3_USER,
        user256 = snmpd::V3_USER_256,
        user_md5 = snmpd::V3_USER_MD5
    )
}

fn with_secrets(command: &mut std::process::Command) -> &mut std::process::Command {
    command
        .env("CW_TEST_COMMUNITY", snmpd::COMMUNITY)
        .env("CW_TEST_WRONG_COMMUNITY", "not-the-community")
        .env("CW_TEST_AUTH", snmpd::V3_AUTH)
        .env("CW_TEST_PRIV", snmpd::V3_PRIV)
        .env("CW_TEST_AUTH256", snmpd::V3_AUTH_256)
        .env("CW_TEST_PRIV256", snmpd::V3_PRIV_256)
        .env("CW_TEST_AUTH_MD5", snmpd::V3_AUTH_MD5)
        .env("CW_TEST_WRONG", "wrong-password-1")
}

fn device(name: &str, auth: &str, port: u16, checks: &str) -> String {
    format!(
        r#"
[[device]]
name = "{name}"
kind = "storage"
address = "127.0.0.1"
ping = "off"
[device.snmp]
auth = "{auth}"
port = {port}
checks = {checks}
request_timeout = "500ms"
retries = 0
"#
    )
}

fn df_root() -> (u64, u64) {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=size,used", "/"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut n = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap());
    (n.next().unwrap(), n.next().unwrap())
}

#[test]
fn v2c_and_v3_auth_priv_read_real_figures_and_wrong_credentials_fail_clearly() {
    let agent = Snmpd::start(0);
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    let mut config = String::from("[policy.default]\nuptime_warning_after_reboot = \"0s\"\n");
    config.push_str(&auth_tables());
    let readers = [
        ("v1", "v1"),
        ("v2c", "v2"),
        ("v3-md5-auth-only", "v3-md5-auth-only"),
        ("v3-sha-aes", "v3"),
        ("v3-sha256-aes256", "v3-256"),
    ];
    for (name, auth) in readers {
        config.push_str(&device(name, auth, agent.port, r#"["uptime", "storage"]"#));
    }
    // A user-defined value: sysServices, set to 76 in snmpd.conf, halved, over its warning level.
    config.push_str(
        r#"[[device.snmp_value]]
name = "services"
oid = "1.3.6.1.2.1.1.7.0"
scale = 0.5
warning_above = 30
failed_above = 40
"#,
    );
    for (name, auth) in [
        ("wrong-community", "v2-wrong"),
        ("wrong-auth", "v3-wrong-auth"),
        ("wrong-priv", "v3-wrong-priv"),
    ] {
        config.push_str(&device(name, auth, agent.port, r#"["uptime"]"#));
    }
    write(&path, &config);
    let out = with_secrets(&mut support::camwatch())
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "the wrong credentials fail: {text}{err}");
    let lines = json_lines(&text);
    let find = |device: &str, check: &str| {
        lines
            .iter()
            .find(|l| l["device"] == device && l["check"] == check)
            .unwrap_or_else(|| panic!("{device}/{check} missing from {text}"))
    };
    let (df_size, df_used) = df_root();
    let real_uptime = snmpd::host_uptime();
    for (name, _) in readers {
        let uptime = find(name, "uptime");
        assert_eq!(uptime["status"], "ok", "{uptime}");
        assert_eq!(
            uptime["values"]["counter"], "host",
            "hrSystemUptime is preferred: {uptime}"
        );
        let seen = uptime["values"]["uptime_seconds"].as_f64().unwrap();
        assert!(
            (seen - real_uptime).abs() < 30.0,
            "{name}: uptime {seen} vs /proc/uptime {real_uptime}"
        );

        let storage = find(name, "storage");
        assert_eq!(storage["status"], "ok", "{storage}");
        let root = storage["values"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "/")
            .unwrap_or_else(|| panic!("/ missing: {storage}"));
        let size = root["size_bytes"].as_u64().unwrap();
        let used = root["used_bytes"].as_u64().unwrap();
        // hrStorage counts whole allocation units (4 KiB here).
        assert!(size.abs_diff(df_size) <= 4096, "{name}: size {size} vs df {df_size}");
        assert!(used.abs_diff(df_used) < 64 << 20, "{name}: used {used} vs df {df_used}");
    }
    let value = find("v3-sha256-aes256", "snmp_values");
    assert_eq!(value["status"], "warning", "{value}");
    assert_eq!(value["values"]["values"][0]["value"], 38.0, "{value}");
    assert_eq!(value["summary"], "services is 38, above the 30 warning level");
    let summary = |device: &str| find(device, "uptime")["summary"].as_str().unwrap().to_owned();
    assert_eq!(find("wrong-community", "uptime")["status"], "failed");
    assert!(
        summary("wrong-community").contains("a wrong community gets no answer either"),
        "{}",
        summary("wrong-community")
    );
    assert!(
        summary("wrong-auth").starts_with("SNMPv3 login refused"),
        "{}",
        summary("wrong-auth")
    );
    assert!(
        summary("wrong-priv").contains("a wrong privacy password gets no answer either"),
        "{}",
        summary("wrong-priv")
    );
    for secret in ["wrong-password-1", snmpd::V3_AUTH, snmpd::V3_PRIV, "not-the-community"] {
        assert!(!text.contains(secret) && !err.contains(secret), "{secret} leaked");
    }

    // `probe` shows the raw OIDs and values.
    let probe = with_secrets(&mut support::camwatch())
        .args(["probe", "v2c", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let uptime = &json_lines(&stdout(&probe))[0];
    let exchange: Vec<&str> = uptime["exchange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        exchange[0].starts_with("GET 1.3.6.1.2.1.1.1.0 1.3.6.1.2.1.1.3.0"),
        "{exchange:?}"
    );
    assert!(
        exchange
            .iter()
            .any(|l| l.starts_with("  1.3.6.1.2.1.25.1.1.0 = TIMETICKS ")),
        "{exchange:?}"
    );
}

#[test]
fn a_reboot_is_counted_once_an_agent_restart_not_at_all_and_the_count_survives_a_restart() {
    // The host seems up for a day and more: no "recently restarted" warning to begin with.
    let mut agent = Snmpd::start(100_000);
    let dir = temp_dir();
    let body = format!(
        "[policy.default]\ninterval = \"1s\"\ntimeout = \"1s\"\n{}{}",
        auth_tables(),
        device("nvr", "v2", agent.port, r#"["uptime"]"#).replace("kind = \"storage\"", "kind = \"recorder\"")
    );
    let (path, addr) = daemon_config(dir.path(), &body);
    let data = dir.path().join("data");
    let start = |log: &str| daemon_with_secrets(&path, addr, dir.path().join(log));
    let daemon = start("log1");
    support::wait_for("the uptime check to be ok", Duration::from_secs(60), || {
        daemon.state("nvr", "uptime") == "ok"
    });
    // Let the agent's own uptime grow past the judge's slack, so its reset is unmistakable.
    support::wait_for("eight polls", Duration::from_secs(60), || {
        support::stored_results(&data, "nvr", "uptime").len() >= 8
    });

    // Only the SNMP agent restarts; the host keeps running.
    agent.restart(100_000);
    support::wait_for("the agent restart to be noticed", Duration::from_secs(60), || {
        stored_summaries(&data, "nvr", "uptime")
            .iter()
            .any(|s| s.contains("the SNMP agent restarted while the host kept running"))
    });
    assert_eq!(
        sample(&daemon.metrics(), "camwatch_device_reboots_total", &[r#"device="nvr""#]),
        Some(0.0)
    );
    assert!(stored_events(&data, "nvr").is_empty());

    // Now the host "reboots": it comes back with two minutes of uptime.
    let offset = -((snmpd::host_uptime() as i64) - 120);
    agent.restart(offset);
    support::wait_for("the reboot to be counted", Duration::from_secs(60), || {
        sample(&daemon.metrics(), "camwatch_device_reboots_total", &[r#"device="nvr""#]) == Some(1.0)
    });
    // Immediately a warning: the 24-hour operation was interrupted.
    assert_eq!(daemon.state("nvr", "uptime"), "warning");
    let runs = support::stored_results(&data, "nvr", "uptime").len();
    support::wait_for("three more polls", Duration::from_secs(60), || {
        support::stored_results(&data, "nvr", "uptime").len() >= runs + 3
    });
    let events = stored_events(&data, "nvr");
    assert_eq!(events.len(), 1, "one reboot, recorded once: {events:?}");
    assert_eq!(events[0].1, "reboot");
    let expected_boot = now() - 120.0;
    assert!(
        (events[0].0 - expected_boot).abs() < 60.0,
        "boot time {} vs {expected_boot}",
        events[0].0
    );
    let boot = sample(
        &daemon.metrics(),
        "camwatch_device_boot_time_seconds",
        &[r#"device="nvr""#],
    )
    .unwrap();
    assert!((boot - events[0].0).abs() < 5.0);
    let exposition = daemon.metrics();
    assert_eq!(support::promtool_check_metrics(&exposition), "", "{exposition}");
    assert!(daemon.terminate().success());

    // The count and the last uptime sample survive an agent restart: no second reboot.
    let daemon = start("log2");
    assert_eq!(
        sample(&daemon.metrics(), "camwatch_device_reboots_total", &[r#"device="nvr""#]),
        Some(1.0)
    );
    let runs = support::stored_results(&data, "nvr", "uptime").len();
    support::wait_for("two more polls", Duration::from_secs(60), || {
        support::stored_results(&data, "nvr", "uptime").len() >= runs + 2
    });
    assert_eq!(stored_events(&data, "nvr").len(), 1);
    assert!(daemon.terminate().success());
}

#[test]
fn a_silent_snmp_agent_is_one_incident_its_other_mib_reads_unreachable_behind_it() {
    let mut agent = Snmpd::start(100_000);
    let dir = temp_dir();
    let body = format!(
        "[policy.default]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailures_before_failed = 2\n{}{}",
        auth_tables(),
        device("nvr", "v2", agent.port, r#"["uptime", "storage"]"#)
            .replace("kind = \"storage\"", "kind = \"recorder\"")
    );
    let (path, addr) = daemon_config(dir.path(), &body);
    let daemon = daemon_with_secrets(&path, addr, dir.path().join("log"));
    for check in ["uptime", "storage"] {
        daemon.wait_for_state("nvr", check, "ok");
    }
    agent.stop();
    daemon.wait_for_state("nvr", "uptime", "failed");
    daemon.wait_for_state("nvr", "storage", "unreachable");
    let r = daemon.get("/api/v1/incidents?open=true").unwrap();
    let open: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    let root = open
        .iter()
        .find(|i| i["check"] == "uptime")
        .unwrap_or_else(|| panic!("{open:?}"));
    let storage = open
        .iter()
        .find(|i| i["check"] == "storage")
        .unwrap_or_else(|| panic!("{open:?}"));
    assert!(root["joined"].is_null(), "{root}");
    assert_eq!(storage["joined"], root["id"], "one cause, one incident: {open:?}");
    assert!(daemon.terminate().success());
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The daemon with the test credentials in its environment.
fn daemon_with_secrets(path: &std::path::Path, addr: std::net::SocketAddr, log: std::path::PathBuf) -> Daemon {
    Daemon::start_with(path, addr, log, |c| {
        with_secrets(c);
    })
}

/// A fake agent that answers every request with `reply`.
fn garbage_agent(reply: &'static [u8]) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        // Bounded: the test needs a handful of answers at most.
        for _ in 0..50 {
            let Ok((_, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let _ = socket.send_to(reply, from);
        }
    });
    port
}

#[test]
fn garbage_and_truncated_replies_are_clear_errors_not_crashes() {
    let garbage = garbage_agent(b"\xde\xad\xbe\xef not SNMP at all");
    // A real SNMP header whose length promises more than is sent.
    let truncated = garbage_agent(b"\x30\x82\x01\x00\x02\x01\x01\x04\x06public\xa2\x82\x00\xf0\x02\x04");
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    let mut config = auth_tables();
    config.push_str(&device("garbage", "v2", garbage, r#"["uptime"]"#));
    config.push_str(&device("truncated", "v2", truncated, r#"["uptime"]"#));
    write(&path, &config);
    let out = with_secrets(&mut support::camwatch())
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for line in json_lines(&stdout(&out)) {
        assert_eq!(line["status"], "failed", "{line}");
        let summary = line["summary"].as_str().unwrap();
        assert!(summary.contains("cannot decode"), "{summary}");
    }
}

/// Where the request id lies in an SNMP v1/v2c message: `SEQUENCE { version, community, PDU {
/// request-id ... } }`.
fn request_id_span(message: &[u8]) -> Option<std::ops::Range<usize>> {
    // (start of the content, its length) of the TLV at `at`.
    let header = |at: usize| -> Option<(usize, usize)> {
        let first = *message.get(at + 1)?;
        if first < 0x80 {
            return Some((at + 2, usize::from(first)));
        }
        let n = usize::from(first & 0x7f);
        let len = message
            .get(at + 2..at + 2 + n)?
            .iter()
            .fold(0, |l, &b| l << 8 | usize::from(b));
        Some((at + 2 + n, len))
    };
    let (content, _) = header(0)?;
    let (version, version_len) = header(content)?;
    let (community, community_len) = header(version + version_len)?;
    let (pdu, _) = header(community + community_len)?;
    let (id, id_len) = header(pdu)?;
    Some(id..id + id_len)
}

/// What a relay sends the client for one reply from the agent: (delay after the reply, datagram).
type Replies = fn(&[u8]) -> Vec<(Duration, Vec<u8>)>;

/// A UDP relay in front of the agent on `agent_port`: requests go through untouched, each reply
/// comes back as `replies` says. Returns the relay's port.
fn relay(agent_port: u16, replies: Replies) -> u16 {
    let front = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let port = front.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut upstreams = std::collections::HashMap::new();
        let mut buf = [0u8; 65_536];
        // Bounded: the tests need a few hundred requests at most.
        for _ in 0..2_000 {
            let Ok((len, client)) = front.recv_from(&mut buf) else {
                return;
            };
            // One upstream socket per client, so that replies find their way back.
            let upstream = upstreams.entry(client).or_insert_with(|| {
                let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
                upstream.connect(("127.0.0.1", agent_port)).unwrap();
                let (back, front) = (upstream.try_clone().unwrap(), front.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65_536];
                    while let Ok(len) = back.recv(&mut buf) {
                        let reply = buf[..len].to_vec();
                        let front = front.clone();
                        std::thread::spawn(move || {
                            let received = std::time::Instant::now();
                            for (delay, datagram) in replies(&reply) {
                                std::thread::sleep(
                                    (received + delay).saturating_duration_since(std::time::Instant::now()),
                                );
                                let _ = front.send_to(&datagram, client);
                            }
                        });
                    }
                });
                upstream
            });
            let _ = upstream.send(&buf[..len]);
        }
    });
    port
}

/// A config with one v2c device reading its uptime through `port`, 500 ms per request.
fn relayed_device(dir: &std::path::Path, port: u16, retries: u32) -> std::path::PathBuf {
    let path = dir.join("c.toml");
    let device = device("relayed", "v2", port, r#"["uptime"]"#).replace("retries = 0", &format!("retries = {retries}"));
    write(
        &path,
        &format!(
            "[policy.default]\ntimeout = \"5s\"\nuptime_warning_after_reboot = \"0s\"\n{}{device}",
            auth_tables()
        ),
    );
    path
}

fn once_status(path: &std::path::Path) -> serde_json::Value {
    let out = with_secrets(&mut support::camwatch())
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 1, "{}{}", stdout(&out), stderr(&out));
    lines[0].clone()
}

#[test]
fn a_reply_with_a_wrong_request_id_before_the_right_one_is_ignored() {
    let agent = Snmpd::start(0);
    // Each reply is preceded by a copy whose request id is off by one, 20 ms before the real one.
    let port = relay(agent.port, |reply| {
        let mut stray = reply.to_vec();
        let id = request_id_span(reply).expect("an SNMP reply");
        stray[id.end - 1] ^= 1;
        vec![(Duration::ZERO, stray), (Duration::from_millis(20), reply.to_vec())]
    });
    let dir = temp_dir();
    let path = relayed_device(dir.path(), port, 0);
    let line = once_status(&path);
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(line["values"]["counter"], "host", "{line}");

    let probe = with_secrets(&mut support::camwatch())
        .args(["probe", "relayed", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = stdout(&probe);
    assert!(text.contains("ignored a reply to request id"), "{text}");
    assert!(!text.contains(snmpd::COMMUNITY), "the community leaked: {text}");
}

#[test]
fn a_reply_just_after_the_request_timeout_is_taken_as_snmpget_takes_it() {
    let agent = Snmpd::start(0);
    // Every reply arrives 150 ms after the 500 ms request timeout: during the retry's wait.
    let port = relay(agent.port, |reply| vec![(Duration::from_millis(650), reply.to_vec())]);
    let snmpget = std::process::Command::new("snmpget")
        .args(["-v2c", "-c", snmpd::COMMUNITY, "-t", "0.5", "-r", "1"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("1.3.6.1.2.1.1.3.0")
        .output()
        .unwrap();
    assert!(snmpget.status.success(), "snmpget -t 0.5 -r 1: {}", stderr(&snmpget));

    let dir = temp_dir();
    let line = once_status(&relayed_device(dir.path(), port, 1));
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(line["values"]["counter"], "host", "{line}");
}
