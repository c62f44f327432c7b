//! A hostile world (issue: hold under it): things a network, a client or a device can do to the
//! agent on purpose, tried for real on loopback.

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use support::{Daemon, daemon_config, sample, stored_results, temp_dir};

const WAIT: Duration = Duration::from_secs(60);

/// Starts the agent with at most `limit` open files, soft and hard (so it cannot raise it).
fn with_descriptor_limit(command: &mut std::process::Command, limit: u64) {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A port on loopback that accepts every connection (and forgets it): a healthy device for a
/// ping by TCP connect.
fn answering_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    port
}

/// A switch pinged by TCP connect to `port`.
fn switch_device(port: u16) -> String {
    format!("[[device]]\nname = \"switch\"\nkind = \"switch\"\naddress = \"127.0.0.1\"\nping = \"tcp:{port}\"")
}

#[test]
fn a_flood_of_silent_connections_neither_starves_the_probes_nor_stays_open() {
    // A healthy device whose ping is a TCP connect: each probe needs a descriptor of its own.
    let device_port = answering_port();
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        // The first lines go into the [agent] table daemon_config writes.
        &format!(
            r#"
http_idle_timeout = "2s"
{every_second}
[[device]]
name = "this-host"
kind = "host"
address = "127.0.0.1"
ping = "tcp:{device_port}"
"#,
            every_second = support::EVERY_SECOND
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        with_descriptor_limit(c, 128);
    });
    daemon.wait_for_state("this-host", "ping", "ok");
    let data = dir.path().join("data");
    let before = stored_results(&data, "this-host", "ping").len();

    // 300 connections that say nothing: more than the 128 descriptors the agent has.
    let flood: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    assert!(flood.len() >= 200, "the kernel took {} connections", flood.len());
    support::wait_for("five more pings", WAIT, || {
        stored_results(&data, "this-host", "ping").len() >= before + 5
    });
    let results = stored_results(&data, "this-host", "ping");
    let during = &results[before..];
    assert!(
        during.iter().all(|r| r.status == "ok"),
        "the probes kept their descriptors: {:?}",
        during.iter().map(|r| (&r.status, &r.values)).collect::<Vec<_>>()
    );
    assert_eq!(daemon.state("this-host", "ping"), "ok");

    // Every one of them is closed: the ones over the cap at once, the others when idle.
    for mut stream in flood {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte);
        assert!(
            matches!(read, Ok(0))
                || read.as_ref().is_err_and(
                    |e| e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
                ),
            "a silent connection still open: {read:?}"
        );
    }
    let metrics = daemon.metrics();
    let rejected = sample(&metrics, "camwatch_http_connections_rejected_total", &[]).unwrap();
    assert!(rejected >= 100.0, "{rejected}");
    let open = sample(&metrics, "camwatch_http_connections", &[]).unwrap();
    assert!(
        (1.0..=32.0).contains(&open),
        "the scrape itself, at most a quarter of 128: {open}"
    );
    assert!(
        daemon.log_text().contains("too many HTTP connections open"),
        "said once: {}",
        daemon.log_text()
    );
    daemon.terminate();
}

#[test]
fn a_password_in_a_url_query_is_never_shown() {
    use support::snapshots::{Auth, Body, SnapshotServer};
    const SECRET: &str = "S3cr3tQueryPw";
    let camera = SnapshotServer::start();
    let path_and_query = format!("/snap.cgi?user=admin&password={SECRET}");
    // The camera answers with a page, not a picture: the summary names the URL it asked.
    camera.set("/snap.cgi", Body::Text("<html>busy</html>".into()), Auth::None);
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{}
[[device]]
name = "gate"
kind = "camera"
address = "127.0.0.1"
ping = "off"
[device.snapshot]
uri = "{}"
"#,
            support::EVERY_SECOND,
            camera.url(&path_and_query)
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CAMWATCH_LOG", "debug");
    });
    daemon.wait_for_state("gate", "image", "failed");
    let checks = daemon.get("/api/v1/checks").unwrap().body;
    let summary = daemon.check("gate", "image")["summary"].as_str().unwrap().to_owned();
    assert!(summary.contains("password=***"), "the URL is named, masked: {summary}");
    let probe = support::cli(&path, &["probe", "gate"]);
    let once = support::cli(&path, &["once", "--json"]);
    let data = dir.path().join("data");
    let stored: String = support::stored_summaries(&data, "gate", "image").join("\n");
    let log = daemon.log_text();
    daemon.terminate();
    for (what, text) in [
        ("API", checks),
        ("summary", summary),
        ("probe", support::stdout(&probe) + &support::stderr(&probe)),
        ("once", support::stdout(&once) + &support::stderr(&once)),
        ("store", stored),
        ("log", log),
    ] {
        assert!(!text.contains(SECRET), "{what} shows the password:\n{text}");
    }

    // A configuration error quoting such a URL masks it in the message as in the quoted line.
    let broken = dir.path().join("broken.toml");
    support::write(
        &broken,
        &format!(
            "[[device]]\nname = \"gate\"\nkind = \"camera\"\naddress = \"127.0.0.1\"\n[device.snapshot]\nuri = \"ftp://cam{path_and_query}\"\n"
        ),
    );
    let out = support::run(&["check-config", "-c", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = support::stdout(&out) + &support::stderr(&out);
    assert!(said.contains("error"), "{said}");
    assert!(!said.contains(SECRET), "check-config repeats the password:\n{said}");
}

#[test]
fn a_recorder_that_echoes_our_request_never_shows_our_authorization_header() {
    use support::isapi_sim::{IsapiSim, IsapiState};
    let state = IsapiState {
        echo_headers: true,
        ..IsapiState::default()
    };
    let password = state.password.clone();
    let sim = IsapiSim::start(state);
    let dir = temp_dir();
    let path = dir.path().join("camwatch.toml");
    support::write(
        &path,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"127.0.0.1\"\nping = \"off\"\nusername = \"camwatch\"\npassword_env = \"CW_ISAPI_PASSWORD\"\n[device.isapi]\nport = {}\nchecks = [\"uptime\"]\n",
            sim.addr.port()
        ),
    );
    let out = support::camwatch()
        .args(["once", "--json", "-c"])
        .arg(&path)
        .env("CW_ISAPI_PASSWORD", &password)
        .output()
        .unwrap();
    let text = support::stdout(&out) + &support::stderr(&out);
    let line = support::json_line(&out, "uptime");
    let summary = line["summary"].as_str().unwrap();
    assert!(
        summary.contains("Invalid Operation"),
        "the recorder's words are kept: {summary}"
    );
    assert!(summary.to_ascii_lowercase().contains("authorization: ***"), "{summary}");
    for leaked in ["Digest username", "response=", "nonce=", password.as_str()] {
        assert!(!text.contains(leaked), "{leaked:?} shown:\n{text}");
    }
}

#[test]
fn a_camera_name_with_terminal_codes_and_line_breaks_reaches_no_terminal_or_log_raw() {
    use support::onvif_sim::{SimCamera, SimState};
    let evil = SimState {
        manufacturer: "Acme\u{1b}[2J\u{1b}[31m".into(),
        model: "X\nERROR camwatch: forged line".into(),
        serial: "S".repeat(5000),
        ..SimState::default()
    };
    let password = evil.password.clone();
    let sim = SimCamera::start(evil);
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{}
[[device]]
name = "cam"
kind = "camera"
address = "127.0.0.1"
ping = "off"
username = "camwatch"
password_env = "CW_CAMERA_PASSWORD"
[device.onvif]
port = {}
checks = ["onvif"]
"#,
            support::EVERY_SECOND,
            sim.addr.port()
        ),
    );
    let once = support::camwatch()
        .args(["once", "-c"])
        .arg(&path)
        .env("CW_CAMERA_PASSWORD", &password)
        .output()
        .unwrap();
    let table = support::stdout(&once);
    assert!(table.contains("Acme"), "{table}");
    assert!(
        !table.contains('\u{1b}'),
        "no terminal control reaches the table: {table:?}"
    );
    assert!(!table.contains("\nERROR camwatch: forged line"), "{table}");
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_CAMERA_PASSWORD", &password);
    });
    daemon.wait_for_state("cam", "onvif", "ok");
    let check = daemon.check("cam", "onvif");
    let serial = check["values"]["identity"]["serial"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(serial.starts_with("SSS"), "{check}");
    assert!(
        serial.chars().count() <= 1001,
        "capped: {} characters",
        serial.chars().count()
    );
    assert!(check["summary"].as_str().unwrap().chars().count() <= 601, "{check}");
    let log = daemon.log_text();
    daemon.terminate();
    assert!(!log.contains('\u{1b}'), "no terminal control in the log");
    assert!(
        !log.lines().any(|l| l.starts_with("ERROR camwatch: forged line")),
        "no forged log line:\n{log}"
    );
}

#[test]
fn a_damaged_store_is_named_with_the_way_out_and_store_check_tells_whole_from_damaged() {
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        "\n[[device]]\nname = \"this-host\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n",
    );
    let data = dir.path().join("data");
    // A whole store, made by a real run.
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    daemon.wait_for_state("this-host", "ping", "ok");
    assert!(daemon.terminate().success());
    let whole = support::cli(&path, &["store", "check"]);
    assert_eq!(whole.status.code(), Some(0), "{whole:?}");
    assert!(
        support::stdout(&whole).contains("is whole: "),
        "{}",
        support::stdout(&whole)
    );

    // The same file overwritten with something that is no database.
    let store = data.join("camwatch.sqlite");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("camwatch.sqlite{suffix}")));
    }
    std::fs::write(&store, vec![0x5a; 64 * 1024]).unwrap();
    let damaged = support::cli(&path, &["store", "check"]);
    assert_eq!(damaged.status.code(), Some(1), "{damaged:?}");
    let said = support::stdout(&damaged);
    for part in [
        "is damaged",
        "mv ",
        ".damaged",
        "starts a new, empty store",
        "Lost with the old one",
        ".recover",
    ] {
        assert!(said.contains(part), "{part:?} in:\n{said}");
    }
    // The agent refuses to start on it, and says the same.
    let run = support::camwatch().args(["run", "-c"]).arg(&path).output().unwrap();
    assert_eq!(run.status.code(), Some(3), "{run:?}");
    let said = support::stdout(&run) + &support::stderr(&run);
    assert!(said.contains("is damaged") && said.contains("mv "), "{said}");
}

/// Cameras that accept TCP and never answer: every check of theirs runs into its timeout.
fn dead_cameras(dead: &support::silent::SilentHosts, policy: &str) -> String {
    dead.ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            format!(
                "\n[[device]]\nname = \"dead-{i:03}\"\nkind = \"camera\"\naddress = \"127.0.0.1\"\nping = \"off\"\npolicy = \"{policy}\"\n[device.stream]\nuri = \"rtsp://127.0.0.1:{port}/stream\"\n[device.snapshot]\nuri = \"http://127.0.0.1:{port}/snap.jpg\"\n"
            )
        })
        .collect()
}

/// The longest gap between runs of a check from `from` on, and how many runs there were.
fn runs_and_worst_gap(results: &[support::StoredResult], from: f64) -> (usize, f64) {
    let at: Vec<f64> = results.iter().map(|r| r.at).filter(|at| *at >= from).collect();
    let worst = at.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    (at.len(), worst)
}

#[test]
fn dead_cameras_delay_only_themselves_a_healthy_switch_and_recorder_keep_their_interval() {
    use support::isapi_sim::{IsapiSim, IsapiState};
    // 150 hung cameras with two checks each, every 5 s with a 1 s timeout: 60 probe-seconds
    // wanted per second against 16 allowed in flight.
    let dead = support::silent::SilentHosts::start(150);
    let switch_port = answering_port();
    let nvr_state = IsapiState::default();
    let nvr_password = nvr_state.password.clone();
    let nvr = IsapiSim::start(nvr_state);
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"max_in_flight = 16
{every_second}
[policy.dead]
interval = "5s"
timeout = "1s"
{switch}
[[device]]
name = "nvr"
kind = "recorder"
address = "127.0.0.1"
ping = "off"
username = "camwatch"
password_env = "CW_ISAPI_PASSWORD"
[device.isapi]
port = {nvr_port}
checks = ["uptime"]
{dead}"#,
            every_second = support::EVERY_SECOND,
            switch = switch_device(switch_port),
            nvr_port = nvr.addr.port(),
            dead = dead_cameras(&dead, "dead")
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_ISAPI_PASSWORD", &nvr_password);
    });
    let data = dir.path().join("data");
    let store = data.join("camwatch.sqlite");
    daemon.wait_for_state("switch", "ping", "ok");
    // Judged is not yet stored: results are committed in batches (see State store).
    support::wait_for("the switch's first ping in the store", WAIT, || {
        !stored_results(&data, "switch", "ping").is_empty()
    });
    let switch_from = stored_results(&data, "switch", "ping")[0].at;

    // Until each camera's first checks have timed out, nothing knows they are dead: the first
    // burst of 300 one-second probes drains through the pool. After it, they take a quarter.
    let judged = || -> i64 {
        let conn = rusqlite::Connection::open(&store).unwrap();
        conn.query_row(
            "SELECT count(DISTINCT device || '/' || check_name) FROM results WHERE device LIKE 'dead-%'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    support::wait_for("every dead camera's checks to time out once", WAIT, || judged() >= 300);
    let nvr_from = support::isapi_sim::now() as f64 + 1.0;
    const WINDOW: f64 = 20.0;
    // Not wait_for: on a starved schedule the window never fills, and the counts below say so.
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline
        && !stored_results(&data, "nvr", "uptime")
            .last()
            .is_some_and(|r| r.at >= nvr_from + WINDOW)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = daemon.metrics();
    let log = daemon.log_text();
    daemon.terminate();

    for (device, check, from) in [("switch", "ping", switch_from), ("nvr", "uptime", nvr_from)] {
        let results = stored_results(&data, device, check);
        let until = results.last().map_or(from, |r| r.at);
        let expected = (until - from).floor() as usize + 1;
        let (runs, worst) = runs_and_worst_gap(&results, from);
        assert!(
            until - from >= WINDOW && runs * 10 >= expected * 9 && worst < 2.0,
            "{device} {check}: {runs} runs in {:.1} s (every 1 s expected), worst gap {worst:.1} s",
            until - from
        );
        assert!(results.iter().all(|r| r.status == "ok"), "{device} {check} stayed ok");
    }
    // The dead cameras were the late ones: the ping never waited, and said so.
    assert_eq!(
        sample(&metrics, "camwatch_checks_late_total", &["class=\"cheap\""]),
        Some(0.0),
        "{metrics}"
    );
    let late = sample(&metrics, "camwatch_checks_late_total", &["class=\"conversation\""]).unwrap();
    assert!(late > 0.0, "the dead cameras could not keep their 5 s: {late}");
    // Said at most once a minute: here the first late run (of the start's burst) is the one named.
    assert!(log.contains("started late"), "a warning:\n{log}");
    assert!(dead.accepted() >= 300, "the cameras were asked: {}", dead.accepted());
}

#[test]
fn a_device_with_more_slow_checks_than_its_interval_holds_is_counted_late_and_named() {
    use support::isapi_sim::IsapiState;
    // One recorder that hangs on every request: four checks of 900 ms each cannot fit into its
    // 1 s interval once it is known dead and its checks go one at a time.
    let dead = support::silent::SilentHosts::start(1);
    let port = dead.ports[0];
    let switch_port = answering_port();
    let password = IsapiState::default().password;
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{every_second}
{switch}
[[device]]
name = "hung-nvr"
kind = "recorder"
address = "127.0.0.1"
ping = "off"
username = "camwatch"
password_env = "CW_ISAPI_PASSWORD"
[device.isapi]
port = {port}
checks = ["uptime", "recorder_disks"]
[device.snapshot]
uri = "http://127.0.0.1:{port}/snap.jpg"
[device.stream]
uri = "rtsp://127.0.0.1:{port}/stream"
"#,
            every_second = support::EVERY_SECOND,
            switch = switch_device(switch_port),
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_ISAPI_PASSWORD", &password);
    });
    support::wait_for("the warning", WAIT, || daemon.log_text().contains("started late"));
    let metrics = daemon.metrics();
    let log = daemon.log_text();
    daemon.terminate();
    let warning = log.lines().find(|l| l.contains("started late")).unwrap();
    assert!(warning.contains("hung-nvr"), "names the worst device: {warning}");
    assert!(warning.contains("WARN"), "{warning}");
    let late = sample(&metrics, "camwatch_checks_late_total", &["class=\"conversation\""]).unwrap();
    assert!(late >= 1.0, "{late}");
    assert_eq!(
        sample(&metrics, "camwatch_checks_late_total", &["class=\"cheap\""]),
        Some(0.0),
        "the switch's ping never waited for the recorder"
    );
    let delays = sample(
        &metrics,
        "camwatch_check_start_delay_seconds_count",
        &["class=\"conversation\""],
    )
    .unwrap();
    assert!(delays >= late, "every start is measured: {delays} >= {late}");
    assert_eq!(support::promtool_check_metrics(&metrics), "", "promtool is content");
}
