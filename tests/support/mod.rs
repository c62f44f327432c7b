//! Shared harness for the integration tests: the real `camwatch` binary, free ports, a small
//! HTTP client, network namespaces as test hosts, and promtool. Everything started here is
//! stopped on drop, also when the test panics.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod snmpd;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod alertmanager;
pub mod footage;
pub mod isapi_sim;
pub mod nut;
pub mod onvif_sim;
pub mod pki;
pub mod prometheus;
pub mod rtsp;
pub mod silent;
pub mod smtp;
pub mod snapshots;
pub mod snmpsim;
pub mod victoria;
pub mod wsd_devices;

pub fn camwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_camwatch"))
}

/// Runs `camwatch ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    camwatch().args(args).output().expect("camwatch runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `condition` until it holds; fails the test with `what` if it does not within `limit`.
/// (A bound on waiting for an event, not a performance assertion.)
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A temporary folder that other users can enter (tests run the binary as `nobody` too).
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// A minimal HTTP/1.1 client: enough to talk to the agent without another dependency.
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HttpResponse {
        status,
        headers: head.to_owned(),
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// `camwatch run` as a real process on a free port.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on `config` (whose `[agent] listen` must be `addr`) and waits until ready.
    pub fn start(config: &Path, addr: SocketAddr, log: PathBuf) -> Daemon {
        Self::start_with(config, addr, log, |_| {})
    }

    /// As `start`, letting the test adjust the command first (environment for secrets).
    pub fn start_with(config: &Path, addr: SocketAddr, log: PathBuf, adjust: impl FnOnce(&mut Command)) -> Daemon {
        Self::start_until(config, addr, log, adjust, |daemon| {
            daemon.get("/-/ready").is_ok_and(|r| r.status == 200)
        })
    }

    /// As `start_with`, with the test's own test of readiness (for an agent that speaks TLS or
    /// asks for a login).
    pub fn start_until(
        config: &Path,
        addr: SocketAddr,
        log: PathBuf,
        adjust: impl FnOnce(&mut Command),
        mut ready: impl FnMut(&Daemon) -> bool,
    ) -> Daemon {
        let log_file = std::fs::File::create(&log).unwrap();
        let mut command = camwatch();
        command
            .args(["run", "-c"])
            .arg(config)
            .env("CAMWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file);
        adjust(&mut command);
        let child = command.spawn().expect("camwatch run starts");
        let mut daemon = Daemon { child, addr, log };
        wait_for("the daemon to become ready", Duration::from_secs(30), || {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("camwatch run exited early with {status}:\n{}", daemon.log_text());
            }
            ready(&daemon)
        });
        daemon
    }

    pub fn get(&self, path: &str) -> std::io::Result<HttpResponse> {
        http(self.addr, "GET", path, &[])
    }

    pub fn metrics(&self) -> String {
        let r = self.get("/metrics").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "camwatch did not stop on SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Value of the first sample of `name` whose labels contain every `label="value"` in `labels`.
pub fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        if !labels.iter().all(|l| rest.contains(l)) {
            return None;
        }
        rest.rsplit(' ').next()?.parse().ok()
    })
}

pub fn require_root(why: &str) {
    // SAFETY: geteuid only reads the process's credentials.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root ({why}); run the README's test command as root"
    );
}

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static NEXT_NETNS: AtomicU32 = AtomicU32::new(0);

/// A test host: a network namespace joined to this one by a veth pair. Addresses are taken from
/// 198.18.0.0/15 (reserved for network tests), one /24 per namespace, so nothing leaves the machine.
pub struct TestHost {
    pub name: String,
    host_if: String,
    inner_if: String,
    pub subnet: u8,
}

impl TestHost {
    /// Creates a namespace with addresses `198.18.N.2` and the `extra` ones (`198.18.N.E`).
    pub fn new(extra: &[u8]) -> TestHost {
        require_root("network namespaces");
        let id = std::process::id() % 10_000;
        let n = NEXT_NETNS.fetch_add(1, Ordering::Relaxed);
        let subnet = ((id * 7 + n * 13) % 250 + 1) as u8;
        let name = format!("cwt{id}n{n}");
        let host_if = format!("cwh{id}n{n}");
        let inner_if = format!("cwi{id}n{n}");
        // Remove leftovers of an earlier run killed before its cleanup.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        sh("ip", &["netns", "add", &name]);
        let host = TestHost {
            name: name.clone(),
            host_if: host_if.clone(),
            inner_if: inner_if.clone(),
            subnet,
        };
        sh(
            "ip",
            &["link", "add", &host_if, "type", "veth", "peer", "name", &inner_if],
        );
        sh("ip", &["link", "set", &inner_if, "netns", &name]);
        sh(
            "ip",
            &["addr", "add", &format!("198.18.{subnet}.1/24"), "dev", &host_if],
        );
        sh("ip", &["link", "set", &host_if, "up"]);
        host.exec_ok(&["ip", "addr", "add", &format!("198.18.{subnet}.2/24"), "dev", &inner_if]);
        for e in extra {
            host.exec_ok(&[
                "ip",
                "addr",
                "add",
                &format!("198.18.{subnet}.{e}/24"),
                "dev",
                &inner_if,
            ]);
        }
        host.exec_ok(&["ip", "link", "set", &inner_if, "up"]);
        host.exec_ok(&["ip", "link", "set", "lo", "up"]);
        host
    }

    pub fn address(&self, last: u8) -> String {
        format!("198.18.{}.{last}", self.subnet)
    }

    pub fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    fn exec_ok(&self, args: &[&str]) {
        let out = self.exec(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} in {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Takes the host off the network (its side of the cable is unplugged).
    pub fn link_down(&self) {
        self.exec_ok(&["ip", "link", "set", &self.inner_if, "down"]);
    }

    pub fn link_up(&self) {
        self.exec_ok(&["ip", "link", "set", &self.inner_if, "up"]);
    }

    /// Adds or removes the extra address `198.18.N.last`: one machine behind the link plugged
    /// in or out, the others untouched.
    pub fn set_address(&self, last: u8, present: bool) {
        let action = if present { "add" } else { "del" };
        self.exec_ok(&[
            "ip",
            "addr",
            action,
            &format!("{}/24", self.address(last)),
            "dev",
            &self.inner_if,
        ]);
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Runs `promtool check metrics` on an exposition; returns its complaints (empty when clean).
pub fn promtool_check_metrics(exposition: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; the README's test command installs it)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        String::new()
    } else {
        complaints
    }
}

impl Daemon {
    /// `/api/v1/checks` as JSON values.
    pub fn checks(&self) -> Vec<serde_json::Value> {
        let r = self.get("/api/v1/checks").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_str(&r.body).unwrap()
    }

    pub fn check(&self, device: &str, check: &str) -> serde_json::Value {
        self.checks()
            .into_iter()
            .find(|c| c["device"] == device && c["check"] == check)
            .unwrap_or_else(|| panic!("no check {device}/{check}"))
    }

    pub fn state(&self, device: &str, check: &str) -> String {
        self.check(device, check)["state"].as_str().unwrap().to_owned()
    }

    pub fn wait_for_state(&self, device: &str, check: &str, state: &str) {
        wait_for(
            &format!("{device}/{check} to be {state}"),
            Duration::from_secs(60),
            || self.state(device, check) == state,
        );
    }
}

/// Checks a broken file's error output against the file's own `# expect: TEXT` lines (each must
/// appear, `NAME:` standing for the path as given on the command line) and `# forbid: TEXT`
/// lines (what must never leak, such as a secret).
pub fn assert_expectations(file: &Path, err: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let expected: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
    assert!(!expected.is_empty(), "{} has no # expect: lines", file.display());
    let name = file.file_name().unwrap().to_str().unwrap();
    for fragment in expected {
        let fragment = fragment.replace(&format!("{name}:"), &format!("{}:", file.display()));
        assert!(
            err.contains(&fragment),
            "{}: expected {fragment:?} in:\n{err}",
            file.display()
        );
    }
    for forbidden in text.lines().filter_map(|l| l.strip_prefix("# forbid: ")) {
        assert!(
            !err.contains(forbidden),
            "{}: {forbidden:?} leaked into:\n{err}",
            file.display()
        );
    }
}

/// `camwatch -c CONFIG ARGS...`, run to the end.
pub fn cli(config: &Path, args: &[&str]) -> Output {
    camwatch().arg("-c").arg(config).args(args).output().unwrap()
}

/// Every result a row in `results`: the tests that read results read them run by run. The
/// default (a row when a result says something new) is tested where it is the point.
pub const RESULTS_EVERY_RUN: &str = "results_sample = \"0s\"\n";

/// A config for a daemon on a free port with its data in `dir`; `body` adds policies and devices.
pub fn daemon_config(dir: &Path, body: &str) -> (PathBuf, SocketAddr) {
    daemon_config_with(dir, RESULTS_EVERY_RUN, body)
}

/// As `daemon_config`, with `agent` as the `[agent]` keys beyond listen, data_dir and site.
pub fn daemon_config_with(dir: &Path, agent: &str, body: &str) -> (PathBuf, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let path = dir.join("camwatch.toml");
    write(
        &path,
        &format!(
            "[agent]\nlisten = \"{addr}\"\ndata_dir = \"{}\"\nsite = \"test site\"\n{agent}{body}",
            dir.join("data").display()
        ),
    );
    (path, addr)
}

/// One stored result, read straight from the state store.
#[derive(Debug, Clone)]
pub struct StoredResult {
    pub at: f64,
    pub status: String,
    /// The verdict's figures.
    pub values: serde_json::Value,
}

pub fn stored_results(data_dir: &Path, device: &str, check: &str) -> Vec<StoredResult> {
    let conn = rusqlite::Connection::open(data_dir.join("camwatch.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT at, status, values_json FROM results WHERE device = ?1 AND check_name = ?2 ORDER BY id")
        .unwrap();
    stmt.query_map([device, check], |r| {
        Ok(StoredResult {
            at: r.get(0)?,
            status: r.get(1)?,
            values: serde_json::from_str(&r.get::<_, String>(2)?).unwrap(),
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// `(at, from, to)` of every stored transition of a (device, check), oldest first.
pub fn stored_transitions(data_dir: &Path, device: &str, check: &str) -> Vec<(f64, String, String)> {
    camwatch::state::store::read_transitions(&data_dir.join("camwatch.sqlite"))
        .unwrap()
        .into_iter()
        .filter(|t| t.device == device && t.check == check)
        .map(|t| (t.at, t.from.to_string(), t.to.to_string()))
        .collect()
}

/// `(at, kind, summary)` of every stored event of a device, oldest first.
pub fn stored_events(data_dir: &Path, device: &str) -> Vec<(f64, String, String)> {
    let conn = rusqlite::Connection::open(data_dir.join("camwatch.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT at, kind, summary FROM events WHERE device = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([device], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Summaries of every stored result of a (device, check), oldest first.
pub fn stored_summaries(data_dir: &Path, device: &str, check: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(data_dir.join("camwatch.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT summary FROM results WHERE device = ?1 AND check_name = ?2 ORDER BY id")
        .unwrap();
    stmt.query_map([device, check], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The start of a config body (TOML) for tests that watch states change: procedures off, every
/// check every second, failed at the first bad answer and back at the first good one, one echo
/// per ping.
pub const EVERY_SECOND: &str = r#"
[procedures]
handover = []
inventory = "off"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1
successes_before_recovered = 1
ping_count = 1
"#;

/// Stops a server the test started: SIGTERM (so it can clean up its sockets and files), SIGKILL
/// if it has not gone within a few seconds.
pub fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill only sends a signal to our own child's PID, which wait has not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One check's line in the output of `camwatch once --json`.
pub fn json_line(out: &Output, check: &str) -> serde_json::Value {
    let text = stdout(out);
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .find(|v| v["check"] == check)
        .unwrap_or_else(|| panic!("no {check} check in:\n{text}\n{}", stderr(out)))
}
