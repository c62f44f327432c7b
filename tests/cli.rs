//! The command line as a user meets it: check-config on broken files, once/probe output and exit
//! codes, filesystem figures against `df`, help and version.

mod support;

use std::path::Path;

use support::{run, stderr, stdout, temp_dir, write};

/// Every file in tests/data/config/broken/ states in `# expect:` lines what check-config must
/// say about it, and in `# forbid:` lines what it must never print.
#[test]
fn check_config_names_file_line_column_and_fix_for_each_broken_config() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 8, "broken configs are missing from {}", dir.display());
    for file in files {
        let out = run(&["check-config", "-c", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
        support::assert_expectations(&file, &err);
    }
}

#[test]
fn shipped_and_example_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["config/camwatch.toml", "config/examples/small-site.toml"] {
        let out = run(&["check-config", "-c", root.join(file).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        assert!(stdout(&out).contains(": OK: "), "{}", stdout(&out));
        // No check the device is known not to serve (a Hikvision recorder's storage check).
        assert!(!stderr(&out).contains("cannot be served"), "{file}: {}", stderr(&out));
    }
}

#[test]
fn missing_config_file_is_a_config_error_naming_the_file() {
    let out = run(&["check-config", "-c", "/nonexistent/camwatch.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/camwatch.toml: error: cannot read the configuration file"),
        "{err}"
    );
    assert!(err.contains("fix: pass the right path"), "{err}");
}

#[test]
fn config_path_comes_from_the_environment_when_not_given() {
    let dir = temp_dir();
    let path = dir.path().join("env.toml");
    write(
        &path,
        "[[device]]\nname = \"lo\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n",
    );
    let out = support::camwatch()
        .arg("check-config")
        .env("CAMWATCH_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("env.toml: OK: 1 devices, 1 checks"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn help_version_and_usage_errors_behave_like_a_unix_tool() {
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    for word in ["run", "once", "probe", "check-config", "Exit codes"] {
        assert!(stdout(&help).contains(word), "{word} missing from --help");
    }
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    // "camwatch 0.1.0 (commit 1a2b3c4d5e6f, built 2026-11-29)": the commit of this checkout.
    let text = stdout(&version).trim().to_owned();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let prefix = format!("camwatch {} (commit {commit}, built ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&prefix), "{text}");
    let date = text[prefix.len()..].trim_end_matches(')');
    let built = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(built <= chrono::Utc::now().date_naive(), "{text}");
    let bad = run(&["frobnicate"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("unrecognized subcommand"), "{}", stderr(&bad));
}

fn df_bytes(mountpoint: &str) -> (u64, u64) {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=size,avail", mountpoint])
        .output()
        .expect("df runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut numbers = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[test]
fn once_json_reports_filesystem_figures_that_match_df_and_exits_1_on_a_missing_mount() {
    let dir = temp_dir();
    let path = dir.path().join("fs.toml");
    write(
        &path,
        r#"
[[device]]
name = "recording-server"
kind = "storage"
[device.filesystem]
mountpoints = ["/", "/srv/camwatch-test-not-mounted"]
"#,
    );
    let out = run(&["once", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missing footage mount fails: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let check = &lines[0];
    assert_eq!(check["device"], "recording-server");
    assert_eq!(check["check"], "filesystem");
    assert_eq!(check["status"], "failed");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .contains("/srv/camwatch-test-not-mounted is not mounted"),
        "{check}"
    );
    assert!(check["duration_seconds"].as_f64().unwrap() >= 0.0);
    let root = &check["values"]["mounts"][0];
    assert_eq!(root["mountpoint"], "/");
    let (size, avail) = df_bytes("/");
    assert_eq!(root["size_bytes"].as_u64().unwrap(), size, "size of / differs from df");
    // Other processes write while the test runs: allow 64 MiB of drift in free space.
    let reported = root["avail_bytes"].as_u64().unwrap();
    assert!(reported.abs_diff(avail) < 64 << 20, "avail {reported} vs df {avail}");
}

#[test]
fn once_table_for_a_healthy_host_exits_0_and_probe_shows_the_exchange() {
    let dir = temp_dir();
    let path = dir.path().join("ok.toml");
    write(
        &path,
        r#"
[[device]]
name = "loopback"
kind = "host"
address = "127.0.0.1"
# The host's real free space must not decide this test: never warn about "/".
[device.overrides]
filesystem_warning_free_percent = 0
filesystem_failed_free_percent = 0
[device.filesystem]
mountpoints = ["/"]
"#,
    );
    let out = run(&["once", "-c", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.starts_with("DEVICE"), "{text}");
    assert!(text.contains("loopback  ping"), "{text}");
    assert!(
        text.contains("2 checks: 2 ok, 0 warning, 0 failed, 0 unknown"),
        "{text}"
    );

    let probe = run(&["probe", "loopback", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(probe.status.code(), Some(0), "{}", stderr(&probe));
    let ping: serde_json::Value = serde_json::from_str(stdout(&probe).lines().next().unwrap()).unwrap();
    let exchange = ping["exchange"].as_array().unwrap();
    assert_eq!(exchange.len(), 3, "three echoes by default: {ping}");
    assert!(
        exchange[0].as_str().unwrap().contains("to 127.0.0.1: reply after"),
        "{ping}"
    );

    let unknown = run(&["probe", "nvr-9", "-c", path.to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no device named \"nvr-9\""),
        "{}",
        stderr(&unknown)
    );
    assert!(
        stderr(&unknown).contains("use one of: loopback"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn run_exits_3_and_logs_json_when_it_cannot_listen() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = temp_dir();
    let path = dir.path().join("busy.toml");
    write(
        &path,
        &format!(
            "[agent]\nlisten = \"{}\"\ndata_dir = \"{}\"\n[[device]]\nname = \"lo\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n",
            busy.local_addr().unwrap(),
            dir.path().join("data").display()
        ),
    );
    let out = run(&["--log-format", "json", "run", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let error = lines.iter().find(|l| l["level"] == "ERROR").expect("an error line");
    let message = error["fields"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot listen on") && message.contains("choose another [agent] listen address"),
        "{message}"
    );
}

#[test]
fn run_exits_3_when_the_data_directory_cannot_be_created() {
    let dir = temp_dir();
    let path = dir.path().join("nodata.toml");
    write(
        &path,
        "[agent]\ndata_dir = \"/proc/camwatch-cannot-be-here\"\n[[device]]\nname = \"lo\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n",
    );
    let out = run(&["run", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot create the data directory /proc/camwatch-cannot-be-here"),
        "{err}"
    );
    assert!(err.contains("set [agent] data_dir to a writable folder"), "{err}");
}

/// A configuration others can read that names secret files others can read: one warning per such
/// file, with the key, the file:line:column of the reference and the fix, from check-config and
/// from the daemon's log; a 0600 file, a 0644 file in a 0700 folder, and the same files named by
/// a 0640 configuration give none. The secret itself is never printed.
#[test]
fn secret_files_anyone_can_read_are_warned_about_when_the_config_is_readable_too() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let dir = temp_dir();
    let open_secret = dir.path().join("nvr-password");
    write(&open_secret, "hunter2-open\n");
    mode(&open_secret, 0o644);
    let private_secret = dir.path().join("camera-password");
    write(&private_secret, "hunter2-private\n");
    mode(&private_secret, 0o600);
    let hidden = dir.path().join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    mode(&hidden, 0o700);
    let hidden_secret = hidden.join("smtp-password");
    write(&hidden_secret, "hunter2-hidden\n");
    mode(&hidden_secret, 0o644);
    let body = format!(
        r#"
[[device]]
name = "nvr"
kind = "recorder"
address = "127.0.0.1"
username = "viewer"
password_file = "{open}"

[[device]]
name = "cam"
kind = "camera"
address = "127.0.0.1"
username = "viewer"
password_file = "{private}"

[[device]]
name = "nvr-again"
kind = "recorder"
address = "127.0.0.1"
username = "viewer"
password_file = "{open}"

[[device]]
name = "nvr-credential"
kind = "recorder"
address = "127.0.0.1"
username = "viewer"
password_file = "/run/credentials/camwatch.service/nvr-password"

[email]
server = "127.0.0.1"
from = "camwatch@example.org"
to = ["maintenance@example.org"]
username = "camwatch"
password_file = "{hidden}"
"#,
        open = open_secret.display(),
        private = private_secret.display(),
        hidden = hidden_secret.display(),
    );
    let (config, addr) = support::daemon_config(dir.path(), &body);
    let text = std::fs::read_to_string(&config).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let password_line = line_of("password_file");
    let expected = format!(
        "{}:{password_line}:17: warning: device \"nvr\": password_file {} can be read by every user of this machine",
        config.display(),
        open_secret.display()
    );

    mode(&config, 0o644);
    let out = run(&["check-config", "-c", config.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&expected), "expected {expected:?} in:\n{err}");
    assert!(
        err.contains(&format!(
            "fix: chown root:camwatch {0} && chmod 0640 {0}",
            open_secret.display()
        )),
        "{err}"
    );
    // Once per file, although two devices name it; none for the private ones.
    assert_eq!(err.matches("can be read by every user").count(), 1, "{err}");
    assert!(!err.contains("camera-password"), "{err}");
    assert!(!err.contains("smtp-password"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // A credential systemd gives the service: not there for this shell, and said why.
    assert!(
        err.contains(
            "device \"nvr-credential\": password: cannot read secret file \
             /run/credentials/camwatch.service/nvr-password: No such file or directory (os error 2); \
             expected when checked outside the service"
        ),
        "{err}"
    );

    let log = dir.path().join("daemon.log");
    let daemon = support::Daemon::start(&config, addr, log);
    let logged = daemon.log_text();
    assert!(
        logged.contains(&expected),
        "expected {expected:?} in the log:\n{logged}"
    );
    assert_eq!(logged.matches("can be read by every user").count(), 1, "{logged}");
    assert!(!logged.contains("hunter2"), "{logged}");
    assert!(daemon.terminate().success());

    // The configuration itself private: nobody else learns where the secrets are.
    mode(&config, 0o640);
    let out = run(&["check-config", "-c", config.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("can be read by every user"), "{err}");

    // And the open secret made private: no warning either.
    mode(&config, 0o644);
    mode(&open_secret, 0o600);
    let out = run(&["check-config", "-c", config.to_str().unwrap()]);
    assert!(!stderr(&out).contains("can be read by every user"), "{}", stderr(&out));
}
