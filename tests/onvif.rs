//! Cameras over ONVIF against the project's simulated camera: identity, a skewed clock that
//! still lets the login through, NAT addresses, faults with HTTP 200, unset clocks, HTTP Digest,
//! and a replaced camera seen by the daemon and approved with `camwatch baseline accept`.

mod support;

use std::time::Duration;

use support::onvif_sim::{SimCamera, SimState};
use support::pki::TestCertificate;
use support::{Daemon, daemon_config, promtool_check_metrics, sample, stderr, stdout, stored_events, temp_dir, write};

fn camera_config(sim: &SimCamera, name: &str, checks: &str) -> String {
    format!(
        r#"
[[device]]
name = "{name}"
kind = "camera"
address = "127.0.0.1"
ping = "off"
username = "camwatch"
password_env = "CW_CAMERA_PASSWORD"
[device.onvif]
port = {port}
checks = {checks}
"#,
        port = sim.addr.port()
    )
}

fn once(config: &str) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    write(&path, config);
    let out = support::camwatch()
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .env("CW_CAMERA_PASSWORD", SimState::default().password)
        .output()
        .unwrap();
    let lines = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code(), lines, stderr(&out))
}

fn find<'a>(lines: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["check"] == check)
        .unwrap_or_else(|| panic!("{check} missing: {lines:?}"))
}

#[test]
fn a_camera_three_hours_ahead_still_logs_in_and_its_clock_is_reported() {
    let sim = SimCamera::start(SimState {
        clock_offset_seconds: 3 * 3600,
        ..SimState::default()
    });
    let (code, lines, err) = once(&camera_config(&sim, "cam-gate", r#"["onvif", "clock", "baseline"]"#));
    assert_eq!(code, Some(1), "the clock fails: {lines:?}{err}");
    let onvif = find(&lines, "onvif");
    assert_eq!(onvif["status"], "ok", "{onvif}");
    assert_eq!(
        onvif["summary"],
        "AXIS P1435-LE answers ONVIF, firmware 10.12.114, serial ACCC8EF0A1B2"
    );
    assert_eq!(onvif["values"]["mac"], "ac:cc:8e:f0:a1:b2");
    assert_eq!(onvif["values"]["encoder"]["frame_rate"], 25.0);
    assert_eq!(
        onvif["values"]["stream_uri"],
        "rtsp://127.0.0.1:554/axis-media/media.amp"
    );
    let clock = find(&lines, "clock");
    assert_eq!(clock["status"], "failed", "{clock}");
    let offset = clock["values"]["clock_offset_seconds"].as_f64().unwrap();
    assert!((offset - 10_800.0).abs() < 3.0, "offset {offset}");
    assert!(
        clock["summary"]
            .as_str()
            .unwrap()
            .starts_with("the camera's clock is 3h ahead"),
        "{clock}"
    );
    assert_eq!(find(&lines, "baseline")["status"], "ok");
    // Logged in on the first try each time: the Created time followed the camera's clock.
    assert_eq!(sim.state.lock().unwrap().refused, 0);
    // Read-only: only Get requests ever reached the camera.
    let asked = sim.asked();
    assert!(asked.iter().all(|a| a.starts_with("Get")), "{asked:?}");
    assert!(
        asked.contains(&"GetProfiles".to_owned()) && asked.contains(&"GetStreamUri".to_owned()),
        "{asked:?}"
    );
    assert!(!err.contains(&SimState::default().password));
}

#[test]
fn quirks_nat_addresses_faults_with_200_unset_clocks_and_http_digest() {
    // Service addresses point inside a NAT: the agent uses the configured address instead.
    let nat = SimCamera::start(SimState {
        wrong_host_in_xaddrs: true,
        ..SimState::default()
    });
    let (_, lines, _) = once(&camera_config(&nat, "cam-nat", r#"["onvif"]"#));
    let onvif = find(&lines, "onvif");
    assert_eq!(onvif["status"], "ok", "{onvif}");
    let notes = onvif["values"]["notes"].to_string();
    assert!(notes.contains("the device named host 10.0.0.99"), "{notes}");

    // A wrong password, refused with a fault and HTTP 200.
    let strict = SimCamera::start(SimState {
        faults_with_200: true,
        password: "another-password".into(),
        ..SimState::default()
    });
    let (code, lines, err) = once(&camera_config(&strict, "cam-locked", r#"["onvif", "clock"]"#));
    assert_eq!(code, Some(1));
    let onvif = find(&lines, "onvif");
    assert_eq!(onvif["status"], "failed");
    let summary = onvif["summary"].as_str().unwrap();
    assert!(summary.contains("refused the login of user \"camwatch\""), "{summary}");
    assert!(summary.contains("NotAuthorized"), "{summary}");
    assert_eq!(find(&lines, "clock")["status"], "ok", "the clock needs no login");
    assert_eq!(
        strict.refused_logins(),
        1,
        "one refused login, then no more in this poll"
    );
    assert!(!err.contains("another-password") && !err.contains(&SimState::default().password));

    // A clock that was never set.
    let unset = SimCamera::start(SimState {
        unset_clock: true,
        ..SimState::default()
    });
    let (_, lines, _) = once(&camera_config(&unset, "cam-unset", r#"["clock"]"#));
    let clock = find(&lines, "clock");
    assert_eq!(clock["status"], "failed");
    assert!(
        clock["summary"].as_str().unwrap().contains("clock is not set"),
        "{clock}"
    );

    // Newer firmware that only answers GetServices.
    let modern = SimCamera::start(SimState {
        services_only: true,
        ..SimState::default()
    });
    let (_, lines, _) = once(&camera_config(&modern, "cam-modern", r#"["onvif"]"#));
    assert_eq!(find(&lines, "onvif")["status"], "ok", "{lines:?}");
    let asked = modern.asked();
    assert!(
        asked.contains(&"GetServices".to_owned()) && asked.contains(&"GetProfiles".to_owned()),
        "{asked:?}"
    );

    // HTTP Digest in front of the SOAP service.
    let digest = SimCamera::start(SimState {
        http_digest: true,
        ..SimState::default()
    });
    let (_, lines, _) = once(&camera_config(&digest, "cam-digest", r#"["onvif"]"#));
    assert_eq!(find(&lines, "onvif")["status"], "ok", "{lines:?}");
}

#[test]
fn a_replaced_camera_fails_its_baseline_until_the_change_is_approved() {
    let sim = SimCamera::start(SimState::default());
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            // Handovers only when the test asks for one.
            "[procedures]\nhandover = []\n[policy.default]\ninterval = \"1s\"\ntimeout = \"900ms\"\n{}",
            camera_config(&sim, "cam-hall", r#"["onvif", "clock", "baseline"]"#)
        ),
    );
    let data = dir.path().join("data");
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_CAMERA_PASSWORD", SimState::default().password);
    });
    let wait = Duration::from_secs(60);
    support::wait_for("the baseline to be recorded and the clock read", wait, || {
        daemon.state("cam-hall", "baseline") == "ok" && daemon.state("cam-hall", "clock") == "ok"
    });
    let m = daemon.metrics();
    assert_eq!(
        sample(
            &m,
            "camwatch_device_info",
            &[r#"device="cam-hall""#, r#"model="P1435-LE""#]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        sample(&m, "camwatch_device_clock_offset_seconds", &[r#"device="cam-hall""#])
            .unwrap()
            .abs()
            < 3.0
    );
    assert_eq!(
        sample(&m, "camwatch_camera_baseline_changed", &[r#"device="cam-hall""#]),
        Some(0.0)
    );

    // Someone swaps the camera for another unit of the same model.
    sim.with(|s| {
        s.serial = "ACCC8EF0FFFF".into();
        s.mac = "ac:cc:8e:f0:ff:ff".into();
    });
    support::wait_for("the replacement to be seen", wait, || {
        daemon.state("cam-hall", "baseline") == "failed"
    });
    let check = daemon.check("cam-hall", "baseline");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .starts_with("the camera was replaced: serial ACCC8EF0A1B2 is now ACCC8EF0FFFF"),
        "{check}"
    );
    assert_eq!(
        sample(
            &daemon.metrics(),
            "camwatch_camera_baseline_changed",
            &[r#"device="cam-hall""#]
        ),
        Some(1.0)
    );
    let exposition = daemon.metrics();
    assert_eq!(promtool_check_metrics(&exposition), "", "{exposition}");

    // Maintenance approves it.
    let out = support::camwatch()
        .args([
            "baseline",
            "accept",
            "cam-hall",
            "--by",
            "j.smith",
            "--reason",
            "work order 4411: replaced after storm damage",
        ])
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("baseline accepted by j.smith: work order 4411"),
        "{}",
        stdout(&out)
    );
    support::wait_for("the approved camera to be ok", wait, || {
        daemon.state("cam-hall", "baseline") == "ok"
    });
    // Later someone raises the frame rate: the recorder fills faster, retention shrinks.
    sim.with(|s| s.frame_rate = 30);
    support::wait_for("the settings change to be seen", wait, || {
        daemon.state("cam-hall", "baseline") == "warning"
    });
    let check = daemon.check("cam-hall", "baseline");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .starts_with("video settings of profile profile_1_h264 changed (frame rate 25 -> 30 fps)"),
        "{check}"
    );
    let unknown = support::camwatch()
        .args(["baseline", "accept", "cam-nowhere", "--by", "x", "--reason", "y", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    // The shift handover lists the changes and the camera still at warning.
    let handover = support::camwatch()
        .args(["handover", "--json", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        handover.status.code(),
        Some(0),
        "a warning is no failure: {}",
        stderr(&handover)
    );
    let record: serde_json::Value = serde_json::from_slice(&handover.stdout).unwrap();
    let changes: Vec<(&str, &str)> = record["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["summary"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changes.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
        ["baseline_recorded", "replaced", "baseline_accepted", "settings_changed"],
        "{record}"
    );
    assert!(
        changes[2]
            .1
            .starts_with("baseline accepted by j.smith: work order 4411"),
        "{record}"
    );
    assert_eq!(record["failing"][0]["device"], "cam-hall");
    assert_eq!(record["failing"][0]["check"], "baseline");
    assert_eq!(record["failing"][0]["state"], "warning");
    assert!(daemon.terminate().success());

    let kinds: Vec<String> = stored_events(&data, "cam-hall")
        .into_iter()
        .map(|(_, kind, _)| kind)
        .collect();
    assert_eq!(
        kinds,
        ["baseline_recorded", "replaced", "baseline_accepted", "settings_changed"],
        "each recorded once"
    );

    // The month's report lists the same changes as the handover: a replaced camera and a
    // changed setting are what a manager signs for.
    let report = support::camwatch()
        .args(["report", "--format", "json", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let reported: Vec<(&str, &str)> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["device"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reported,
        [
            ("cam-hall", "baseline_recorded"),
            ("cam-hall", "replaced"),
            ("cam-hall", "baseline_accepted"),
            ("cam-hall", "settings_changed")
        ],
        "{report}"
    );
}

#[test]
fn https_cameras_are_trusted_by_their_ca_or_their_pinned_fingerprint_and_nothing_else() {
    let certificate = TestCertificate::new();
    let sim = SimCamera::start_tls(SimState::default(), &certificate);
    let https = |trust: &str| {
        camera_config(&sim, "cam-tls", r#"["onvif"]"#)
            .replace("[device.onvif]\n", &format!("[device.onvif]\nhttps = true\n{trust}"))
    };
    let (_, lines, _) = once(&https(&format!("ca_file = \"{}\"\n", certificate.ca.display())));
    assert_eq!(find(&lines, "onvif")["status"], "ok", "trusted by its CA: {lines:?}");
    let (_, lines, _) = once(&https(&format!(
        "fingerprint_sha256 = \"{}\"\n",
        certificate.fingerprint
    )));
    assert_eq!(find(&lines, "onvif")["status"], "ok", "trusted by its pin: {lines:?}");

    let trusted_requests = sim.asked().len();
    let other = "AB:".repeat(31) + "CD";
    let (_, lines, _) = once(&https(&format!("fingerprint_sha256 = \"{other}\"\n")));
    let summary = find(&lines, "onvif")["summary"].as_str().unwrap().to_owned();
    assert!(
        summary.contains(&format!(
            "fingerprint is {}, not the pinned one",
            certificate.fingerprint
        )),
        "{summary}"
    );
    let (_, lines, _) = once(&https(""));
    let onvif = find(&lines, "onvif");
    assert_eq!(
        onvif["status"], "failed",
        "a self-signed camera is not trusted by default: {onvif}"
    );
    assert_eq!(
        sim.asked().len(),
        trusted_requests,
        "no request got through an untrusted connection"
    );
}

const ALL_CHECKS: &str = r#"["onvif", "clock", "baseline", "stream", "image"]"#;

#[test]
fn a_wrong_password_is_tried_once_per_poll_by_all_the_checks_of_a_camera_together() {
    let sim = SimCamera::start(SimState {
        password: "rotated-by-the-installer".into(),
        ..SimState::default()
    });
    let (code, lines, err) = once(&camera_config(&sim, "cam-rotated", ALL_CHECKS));
    assert_eq!(code, Some(1), "{lines:?}{err}");
    assert_eq!(sim.refused_logins(), 1, "one refused login in all: {:?}", sim.asked());
    // One conversation: the clock asked once for the five checks, and the snapshot URL, which
    // takes the same account over HTTP Basic, not tried after the refusal.
    assert_eq!(sim.count("GetSystemDateAndTime"), 1, "{:?}", sim.asked());
    assert_eq!(sim.count("snapshot"), 0, "{:?}", sim.asked());
    assert_eq!(
        find(&lines, "clock")["status"],
        "ok",
        "the clock needs no login: {lines:?}"
    );
    for check in ["onvif", "baseline"] {
        let summary = find(&lines, check)["summary"].as_str().unwrap().to_owned();
        assert!(
            summary.contains("refused the login of user \"camwatch\" to GetDeviceInformation"),
            "{check}: {summary}"
        );
    }
    assert!(!err.contains("rotated-by-the-installer"));

    // The right password: still one conversation for all five checks.
    let good = SimCamera::start(SimState::default());
    let (_, lines, err) = once(&camera_config(&good, "cam-good", ALL_CHECKS));
    assert_eq!(find(&lines, "onvif")["status"], "ok", "{lines:?}{err}");
    for action in [
        "GetSystemDateAndTime",
        "GetDeviceInformation",
        "GetProfiles",
        "GetStreamUri",
    ] {
        assert_eq!(good.count(action), 1, "{action}: {:?}", good.asked());
    }
}

#[test]
fn a_camera_that_keeps_refusing_the_login_is_asked_less_and_less_often() {
    let sim = SimCamera::start(SimState {
        password: "rotated-by-the-installer".into(),
        ..SimState::default()
    });
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "[procedures]\nhandover = []\n[policy.default]\ninterval = \"1s\"\ntimeout = \"900ms\"\n{}",
            camera_config(&sim, "cam-rotated", ALL_CHECKS)
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_CAMERA_PASSWORD", SimState::default().password);
    });
    // Each poll reads the clock once, without a login: the polls can be counted.
    support::wait_for("twelve polls", Duration::from_secs(60), || {
        sim.count("GetSystemDateAndTime") >= 12
    });
    let (polls, times) = (
        sim.count("GetSystemDateAndTime"),
        sim.state.lock().unwrap().refused_logins.clone(),
    );
    // Waits of 2, 4 and 8 intervals after the refusals: polls 1, 3 or 4, 7 to 9.
    assert!(
        (2..=3).contains(&times.len()),
        "{} refused logins in {polls} polls: {times:?}",
        times.len()
    );
    assert_eq!(sim.count("snapshot"), 0, "{:?}", sim.asked());
    let onvif = daemon.check("cam-rotated", "onvif");
    assert_eq!(onvif["state"], "failed", "{onvif}");
    assert!(daemon.terminate().success());
}

#[test]
fn a_camera_whose_clock_fell_back_to_1970_still_takes_the_login() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sim = SimCamera::start(SimState {
        // 1970-01-01 01:00 and running: the camera lost power and its clock.
        clock_offset_seconds: 3600 - now,
        ..SimState::default()
    });
    let (_, lines, err) = once(&camera_config(&sim, "cam-1970", r#"["onvif", "clock"]"#));
    let clock = find(&lines, "clock");
    assert_eq!(clock["status"], "failed", "{clock}");
    assert!(
        clock["summary"].as_str().unwrap().contains("clock is not set"),
        "{clock}"
    );
    let onvif = find(&lines, "onvif");
    assert_eq!(onvif["status"], "ok", "signed by the camera's own clock: {onvif}{err}");
    assert_eq!(sim.refused_logins(), 0);
}

#[test]
fn a_camera_that_wants_a_login_for_its_clock_is_dated_by_its_http_date() {
    let sim = SimCamera::start(SimState {
        clock_needs_login: true,
        clock_offset_seconds: 2 * 3600,
        ..SimState::default()
    });
    let (_, lines, err) = once(&camera_config(&sim, "cam-strict", r#"["onvif", "clock"]"#));
    assert_eq!(find(&lines, "onvif")["status"], "ok", "{lines:?}{err}");
    let clock = find(&lines, "clock");
    assert!(
        clock["summary"]
            .as_str()
            .unwrap()
            .starts_with("the camera's clock is 2h ahead"),
        "{clock}"
    );
    assert_eq!(sim.refused_logins(), 0, "{:?}", sim.asked());

    // With a wrong password as well, the summary names the clock as a possible cause.
    let locked = SimCamera::start(SimState {
        clock_needs_login: true,
        password: "another-password".into(),
        ..SimState::default()
    });
    let (_, lines, _) = once(&camera_config(&locked, "cam-strict", r#"["onvif", "clock"]"#));
    for check in ["onvif", "clock"] {
        let summary = find(&lines, check)["summary"].as_str().unwrap().to_owned();
        assert!(
            summary.contains("check username and password, or the camera's clock"),
            "{check}: {summary}"
        );
    }
    assert_eq!(locked.refused_logins(), 1);
}

#[test]
fn an_answer_to_another_request_is_a_protocol_error_naming_the_request() {
    for (asked, answered, check, expected) in [
        (
            "GetStreamUri",
            "GetSnapshotUri",
            "onvif",
            "answered GetStreamUri with GetSnapshotUriResponse, not GetStreamUriResponse",
        ),
        (
            "GetProfiles",
            "GetDeviceInformation",
            "onvif",
            "answered GetProfiles with GetDeviceInformationResponse, not GetProfilesResponse",
        ),
    ] {
        let sim = SimCamera::start(SimState {
            wrong_answer: Some((asked.into(), answered.into())),
            ..SimState::default()
        });
        let (_, lines, _) = once(&camera_config(&sim, "cam-mixed", r#"["onvif", "stream"]"#));
        let found = find(&lines, check);
        assert!(found.to_string().contains(expected), "{asked}: {found}");
        let stream = find(&lines, "stream");
        assert!(
            !stream.to_string().contains("image.cgi"),
            "no snapshot taken for a stream: {stream}"
        );
    }
}

#[test]
fn a_fault_summary_names_the_request_that_faulted() {
    let sim = SimCamera::start(SimState {
        fault_on: Some("GetProfiles".into()),
        ..SimState::default()
    });
    let (_, lines, _) = once(&camera_config(&sim, "cam-faulty", r#"["onvif"]"#));
    let onvif = find(&lines, "onvif");
    assert_eq!(onvif["status"], "failed", "{onvif}");
    assert!(
        onvif["summary"]
            .as_str()
            .unwrap()
            .contains("answered GetProfiles with a SOAP fault: Receiver/ActionNotSupported"),
        "{onvif}"
    );
}

/// Stream logins the fake RTSP camera below refused.
static RTSP_REFUSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An RTSP camera that takes no login: OPTIONS answered, DESCRIBE challenged for Basic, and a
/// DESCRIBE with credentials refused (and counted).
fn refusing_rtsp(stream: &mut std::net::TcpStream) {
    use std::io::{Read, Write};
    loop {
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => request.push(byte[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("cseq:"))
            .unwrap_or("1")
            .trim()
            .to_owned();
        let answer = if text.starts_with("options") {
            format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n")
        } else {
            if text.contains("\r\nauthorization:") {
                RTSP_REFUSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            format!("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n")
        };
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn the_stream_login_counts_among_the_one_refused_login_of_a_poll() {
    let rtsp = support::rtsp::FakeRtsp::start(refusing_rtsp);
    let sim = SimCamera::start(SimState {
        password: "rotated-by-the-installer".into(),
        ..SimState::default()
    });
    let config = camera_config(&sim, "cam-rotated", r#"["onvif", "clock", "stream"]"#)
        + &format!("[device.stream]\nuri = \"{}\"\n", rtsp.uri());
    let (_, lines, err) = once(&config);
    let refused = sim.refused_logins() + RTSP_REFUSED.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(refused, 1, "ONVIF and RTSP logins refused together: {lines:?}{err}");
    for check in ["onvif", "stream"] {
        assert_eq!(find(&lines, check)["status"], "failed", "{lines:?}");
    }
}
