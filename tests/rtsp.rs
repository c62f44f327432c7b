//! RTSP stream liveness against GStreamer's real RTSP server (no login, Basic, Digest), checked
//! independently with ffprobe; the errors a maintenance worker must understand (wrong password,
//! no such stream, service down); fake servers for what real cameras should never do (garbage,
//! silence, endless headers); and the daemon's stream metric following a server that stops.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::rtsp::{Auth, FakeRtsp, RtspServer, hold_silently, read_request, send_forever};
use support::{Daemon, camwatch, daemon_config, promtool_check_metrics, sample, stderr, stdout, temp_dir, write};

const PASSWORD: &str = "Str3am-Pa55word";
const WRONG_PASSWORD: &str = "Wr0ng-Pa55word";
const PASSWORD_VAR: &str = "CAMWATCH_TEST_RTSP_PASSWORD";
const USER: &str = "viewer";

/// A camera device with only the stream check; `login` adds username and password_env.
fn camera(name: &str, uri: &str, login: bool, extra: &str) -> String {
    let login = if login {
        format!("username = \"{USER}\"\npassword_env = \"{PASSWORD_VAR}\"\n")
    } else {
        String::new()
    };
    format!(
        r#"
[[device]]
name = "{name}"
kind = "camera"
address = "127.0.0.1"
ping = "off"
{login}{extra}
[device.stream]
uri = "{uri}"
"#
    )
}

struct Run {
    code: Option<i32>,
    /// One JSON object per check.
    lines: Vec<Value>,
    /// stdout and stderr together, to look for leaks.
    text: String,
    elapsed: Duration,
}

impl Run {
    fn check(&self, device: &str) -> &Value {
        self.lines
            .iter()
            .find(|l| l["device"] == device && l["check"] == "stream")
            .unwrap_or_else(|| panic!("no stream check for {device}:\n{}", self.text))
    }
}

/// `camwatch ARGS -c CONFIG` with `password` in the environment variable the devices name.
fn camwatch_json(args: &[&str], config: &Path, password: &str) -> Run {
    let started = Instant::now();
    let out = camwatch()
        .args(args)
        .arg("-c")
        .arg(config)
        .env(PASSWORD_VAR, password)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let lines = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{text}")))
        .collect();
    Run {
        code: out.status.code(),
        lines,
        text,
        elapsed,
    }
}

fn config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("camwatch.toml");
    write(&path, body);
    path
}

fn assert_h264_640x360(check: &Value, context: &str) {
    assert_eq!(check["status"], "ok", "{context}: {check}");
    let values = &check["values"];
    assert_eq!(values["codec"], "H264", "{context}: {check}");
    assert_eq!(values["width"], 640, "{context}: {check}");
    assert_eq!(values["height"], 360, "{context}: {check}");
    assert_eq!(values["framerate"], 15.0, "{context}: {check}");
    assert_eq!(values["status_code"], 200, "{context}: {check}");
    assert_eq!(values["media_tracks"], 1, "{context}: {check}");
    assert_eq!(values["server"], "GStreamer RTSP server", "{context}: {check}");
    let summary = check["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("H264 640x360 at 15 fps, stream answers"),
        "{context}: {summary}"
    );
}

#[test]
fn an_open_stream_is_h264_640x360_as_ffprobe_also_sees_it() {
    let server = RtspServer::start(Auth::None);
    // ffprobe (FFmpeg's own RTSP client) confirms independently what the server streams, so the
    // figures below are the server's, not an echo of camwatch's parser.
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
            &server.uri(),
        ])
        .output()
        .expect("ffprobe runs (Debian package ffmpeg; the README's test command installs it)");
    assert!(
        probe.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let seen: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let stream = &seen["streams"][0];
    assert_eq!(
        (&stream["codec_name"], &stream["width"], &stream["height"]),
        (&Value::from("h264"), &Value::from(640), &Value::from(360)),
        "{seen}"
    );

    let dir = temp_dir();
    let path = config(dir.path(), &camera("cam-open", &server.uri(), false, ""));
    let run = camwatch_json(&["once", "--json"], &path, PASSWORD);
    assert_eq!(run.code, Some(0), "{}", run.text);
    let check = run.check("cam-open");
    assert_h264_640x360(check, "no login");
    assert_eq!(check["values"]["auth_required"], false, "{check}");
    assert!(check["values"]["auth_scheme"].is_null(), "{check}");
    assert_eq!(check["values"]["uri"], server.uri().as_str(), "{check}");

    // `probe` shows the exchange: OPTIONS, then DESCRIBE, each answered 200.
    let run = camwatch_json(&["probe", "cam-open", "--json"], &path, PASSWORD);
    assert_eq!(run.code, Some(0), "{}", run.text);
    let exchange: Vec<&str> = run.check("cam-open")["exchange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let position = |prefix: &str| {
        exchange
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {exchange:#?}"))
    };
    assert!(position("-> OPTIONS rtsp://127.0.0.1:") < position("-> DESCRIBE rtsp://127.0.0.1:"));
    assert_eq!(
        exchange.iter().filter(|l| l.starts_with("<- RTSP/1.0 200")).count(),
        2,
        "{exchange:#?}"
    );
    assert!(
        exchange.iter().any(|l| l.contains("video H264 640x360 at 15 fps")),
        "{exchange:#?}"
    );
}

/// Right password: ok with the scheme recorded; wrong: failed with the clear sentence; none:
/// failed, asking for a login. The password appears nowhere, not even in `probe`'s exchange.
fn login_rules(auth: Auth<'_>, scheme: &str) {
    let server = RtspServer::start(auth);
    let dir = temp_dir();
    let body = format!(
        "{}{}",
        camera("cam-login", &server.uri(), true, ""),
        camera("cam-anonymous", &server.uri(), false, "")
    );
    let path = config(dir.path(), &body);

    let right = camwatch_json(&["once", "--json"], &path, PASSWORD);
    let check = right.check("cam-login");
    assert_h264_640x360(check, scheme);
    assert_eq!(check["values"]["auth_required"], true, "{check}");
    assert_eq!(check["values"]["auth_scheme"], scheme, "{check}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .ends_with(&format!("({scheme} login accepted)")),
        "{check}"
    );
    let anonymous = right.check("cam-anonymous");
    assert_eq!(anonymous["status"], "failed", "{anonymous}");
    let summary = anonymous["summary"].as_str().unwrap();
    assert!(
        summary.contains("asks for a login for its stream") && summary.contains(scheme),
        "{summary}"
    );
    assert_eq!(right.code, Some(1), "one check failed: {}", right.text);

    for args in [&["once", "--json"][..], &["probe", "cam-login", "--json"][..]] {
        let wrong = camwatch_json(args, &path, WRONG_PASSWORD);
        assert_eq!(wrong.code, Some(1), "{}", wrong.text);
        let check = wrong.check("cam-login");
        assert_eq!(check["status"], "failed", "{check}");
        let summary = check["summary"].as_str().unwrap();
        assert!(
            summary.starts_with(&format!(
                "the camera refused the login for its stream ({scheme} authentication as user \"{USER}\")"
            )),
            "{summary}"
        );
        for secret in [PASSWORD, WRONG_PASSWORD] {
            assert!(!wrong.text.contains(secret), "{secret} leaked:\n{}", wrong.text);
            assert!(!right.text.contains(secret), "{secret} leaked:\n{}", right.text);
        }
        // Basic's token is the password barely encoded: it must not be shown either.
        assert!(!wrong.text.contains("Authorization"), "{}", wrong.text);
    }
    let traced = camwatch_json(&["probe", "cam-login", "--json"], &path, PASSWORD);
    let exchange = traced.check("cam-login")["exchange"].to_string();
    assert!(
        exchange.contains(&format!("challenged for {scheme} authentication")),
        "{exchange}"
    );
    assert!(!traced.text.contains(PASSWORD), "{}", traced.text);
}

#[test]
fn basic_login_right_wrong_and_missing() {
    login_rules(
        Auth::Basic {
            user: USER,
            password: PASSWORD,
        },
        "Basic",
    );
}

#[test]
fn digest_login_right_wrong_and_missing() {
    login_rules(
        Auth::Digest {
            user: USER,
            password: PASSWORD,
        },
        "Digest",
    );
}

#[test]
fn credentials_in_the_url_are_used_and_never_shown() {
    let server = RtspServer::start(Auth::Digest {
        user: USER,
        password: PASSWORD,
    });
    let dir = temp_dir();
    let with_credentials = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{}{}", server.port, server.path);
    let path = config(dir.path(), &camera("cam-url-login", &with_credentials, false, ""));
    for args in [&["once", "--json"][..], &["probe", "cam-url-login", "--json"][..]] {
        let run = camwatch_json(args, &path, "");
        let check = run.check("cam-url-login");
        assert_h264_640x360(check, "login from the URL");
        assert_eq!(check["values"]["auth_scheme"], "Digest", "{check}");
        assert_eq!(check["values"]["uri"], server.uri().as_str(), "{check}");
        assert!(!run.text.contains(PASSWORD), "{}", run.text);
        assert!(!run.text.contains(&format!("{USER}:")), "{}", run.text);
    }
}

#[test]
fn no_such_stream_and_a_stopped_server_fail_clearly() {
    let mut server = RtspServer::start(Auth::None);
    let dir = temp_dir();
    let missing = format!("rtsp://127.0.0.1:{}/nothing-here", server.port);
    let body = format!(
        "{}{}",
        camera("cam-up", &server.uri(), false, ""),
        camera("cam-wrong-path", &missing, false, "")
    );
    let path = config(dir.path(), &body);
    let run = camwatch_json(&["once", "--json"], &path, PASSWORD);
    assert_h264_640x360(run.check("cam-up"), "before the stop");
    let wrong_path = run.check("cam-wrong-path");
    assert_eq!(wrong_path["status"], "failed", "{wrong_path}");
    assert!(
        wrong_path["summary"].as_str().unwrap().starts_with(&format!(
            "no stream at /nothing-here on the camera at 127.0.0.1:{}",
            server.port
        )),
        "{wrong_path}"
    );

    server.stop();
    let run = camwatch_json(&["once", "--json"], &path, PASSWORD);
    assert_eq!(run.code, Some(1), "{}", run.text);
    let down = run.check("cam-up");
    assert_eq!(down["status"], "failed", "{down}");
    assert_eq!(
        down["summary"],
        format!(
            "the camera refuses RTSP connections on 127.0.0.1:{}: its stream service is down or the port is wrong",
            server.port
        )
        .as_str(),
        "{down}"
    );
}

#[test]
fn garbage_silence_and_endless_headers_end_in_clear_failures() {
    let garbage = FakeRtsp::start(|stream| {
        if read_request(stream) {
            let _ = std::io::Write::write_all(stream, b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n");
            // Stay connected: the verdict must come from the first bytes, not from a close.
            hold_silently(stream);
        }
    });
    let silent = FakeRtsp::start(hold_silently);
    let endless = FakeRtsp::start(|stream| {
        if read_request(stream) {
            let _ = std::io::Write::write_all(stream, b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Padding: ");
            send_forever(stream, b'a');
        }
    });
    let dir = temp_dir();
    // A short timeout, so that the silent server costs 2 s, not the default 10.
    let overrides = "[device.overrides]\ntimeout = \"2s\"\ninterval = \"2s\"\n";
    let body = format!(
        "{}{}{}",
        camera("cam-garbage", &garbage.uri(), false, overrides),
        camera("cam-silent", &silent.uri(), false, overrides),
        camera("cam-endless", &endless.uri(), false, overrides)
    );
    let path = config(dir.path(), &body);
    let run = camwatch_json(&["once", "--json"], &path, PASSWORD);
    assert_eq!(run.code, Some(1), "{}", run.text);

    let check = run.check("cam-garbage");
    assert_eq!(check["status"], "failed", "{check}");
    let summary = check["summary"].as_str().unwrap();
    assert!(
        summary.contains("sent \"HTTP/1.1 400 Bad Request\" to OPTIONS, which is not an RTSP answer"),
        "{summary}"
    );
    assert!(check["duration_seconds"].as_f64().unwrap() < 1.5, "{check}");

    let check = run.check("cam-silent");
    assert_eq!(check["status"], "failed", "{check}");
    assert_eq!(check["summary"], "no answer within the 2s timeout", "{check}");
    assert_eq!(check["values"]["error"], "timeout", "{check}");

    let check = run.check("cam-endless");
    assert_eq!(check["status"], "failed", "{check}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .contains("answered OPTIONS with headers longer than 16384 bytes"),
        "{check}"
    );
    // The checks run side by side: the silent one's timeout bounds the whole run.
    assert!(run.elapsed < Duration::from_secs(8), "took {:?}", run.elapsed);
}

#[test]
fn the_daemon_reports_the_stream_up_then_down_and_fails_the_check() {
    let mut server = RtspServer::start(Auth::Digest {
        user: USER,
        password: PASSWORD,
    });
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 2
successes_before_recovered = 1
{}"#,
            camera("cam-door", &server.uri(), true, "")
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env(PASSWORD_VAR, PASSWORD);
    });
    // The state is settled by hysteresis, the metric by the last run alone: under load (x264enc
    // starting a pipeline per DESCRIBE) a single slow run can leave the state ok while the figure
    // says 0, so wait for a scrape taken after a run that saw the stream, and read that scrape.
    let mut exposition = String::new();
    support::wait_for(
        "cam-door's stream to be ok and seen up",
        Duration::from_secs(60),
        || {
            exposition = daemon.metrics();
            daemon.state("cam-door", "stream") == "ok"
                && sample(&exposition, "camwatch_camera_stream_up", &[r#"device="cam-door""#]) == Some(1.0)
        },
    );
    assert_eq!(
        sample(
            &exposition,
            "camwatch_camera_stream_info",
            &[r#"device="cam-door""#, r#"codec="H264""#, r#"resolution="640x360""#]
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(promtool_check_metrics(&exposition), "", "{exposition}");
    assert!(!exposition.contains(PASSWORD));

    server.stop();
    support::wait_for("cam-door's stream to be failed", Duration::from_secs(60), || {
        daemon.state("cam-door", "stream") == "failed"
    });
    let check = daemon.check("cam-door", "stream");
    assert!(
        check["summary"].as_str().unwrap().contains("refuses RTSP connections"),
        "{check}"
    );
    let exposition = daemon.metrics();
    assert_eq!(
        sample(&exposition, "camwatch_camera_stream_up", &[r#"device="cam-door""#]),
        Some(0.0)
    );
    assert_eq!(
        sample(&exposition, "camwatch_camera_stream_info", &[r#"device="cam-door""#]),
        None,
        "no stale info once the stream is gone:\n{exposition}"
    );
    assert_eq!(promtool_check_metrics(&exposition), "", "{exposition}");
    assert!(daemon.terminate().success());
    assert!(
        !std::fs::read_to_string(dir.path().join("log"))
            .unwrap()
            .contains(PASSWORD)
    );
}
