//! A state store on a disk that fills (issue 21, "a store that cannot write is silent and loses
//! outages"): a real 2 MiB tmpfs as `data_dir`, filled by the test while a backup check fails and
//! is repaired, then freed. The outage must reach the history at its real times, the agent must
//! say meanwhile that it cannot write (`/-/ready`, `/metrics`, the status page, an incident of its
//! own), mail must wait for the store and then go once, and the WAL must stay within its bound
//! on so small a disk.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use camwatch::state::store::WAL_BOUND_BYTES;
use camwatch::vocab::unix_now as now;
use support::alertmanager::{self, Alertmanager};
use support::smtp::{Security, SmtpServer};
use support::{Daemon, daemon_config, sample, stored_transitions, temp_dir, wait_for};

const WAIT: Duration = Duration::from_secs(90);

/// A tmpfs of `size` mounted on `at` for the test's lifetime (unmounted on drop, also on panic).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(at)
            .output()
            .expect("mount runs");
        assert!(out.status.success(), "mount: {}", String::from_utf8_lossy(&out.stderr));
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so a file still open by a dying agent does not keep the mount behind.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem says it is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // The last partial blocks too: nothing left for the store.
    let _ = file.write_all(&[0u8; 512]);
    let _ = file.sync_all();
}

fn backup_file(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("cam1.mp4"), vec![1u8; 8192]).unwrap();
}

fn open_incidents(daemon: &Daemon) -> Vec<serde_json::Value> {
    let r = daemon.get("/api/v1/incidents?open=true").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

fn own(incidents: &[serde_json::Value]) -> Option<&serde_json::Value> {
    incidents
        .iter()
        .find(|i| i["device"] == "camwatch" && i["check"] == "state_store")
}

#[test]
fn a_full_disk_keeps_the_outage_in_memory_says_so_and_writes_it_when_space_returns() {
    support::require_root("mounting a small tmpfs");
    let dir = temp_dir();
    let data = dir.path().join("data");
    let _disk = Tmpfs::mount(&data, "2m");
    let nas = dir.path().join("nas");
    backup_file(&nas);
    // A second, steady device, so the store has something to write every second.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let smtp = SmtpServer::start(Security::Plain, None);
    assert!(
        alertmanager::available(),
        "the agent's own incident goes to Alertmanager"
    );
    let am = Alertmanager::start();
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{every_second}
[[device]]
name = "backup-nas"
kind = "storage"
[device.backup]
path = "{nas}"
[[device]]
name = "this-host"
kind = "host"
address = "127.0.0.1"
ping = "tcp:{port}"
[email]
server = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "camwatch <camwatch@site.example>"
to = ["maintenance@site.example"]
group_window = "1s"
retry_after = "1s"
[alertmanager]
urls = ["{am_url}"]
resend_every = "1s"
username = "{am_user}"
password_env = "CAMWATCH_TEST_AM_PASSWORD"
"#,
            every_second = support::EVERY_SECOND,
            nas = nas.display(),
            smtp_port = smtp.port,
            am_url = am.url(),
            am_user = alertmanager::USER,
        ),
    );
    let daemon = Daemon::start_with(&config, addr, dir.path().join("log"), |c| {
        c.env("CAMWATCH_TEST_AM_PASSWORD", alertmanager::PASSWORD);
    });
    daemon.wait_for_state("backup-nas", "backup", "ok");
    assert_eq!(sample(&daemon.metrics(), "camwatch_store_writable", &[]), Some(1.0));

    // The WAL's size, watched all along.
    let wal = data.join("camwatch.sqlite-wal");
    let largest_wal = Arc::new(AtomicU64::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (largest, watching, wal) = (Arc::clone(&largest_wal), Arc::clone(&watching), wal.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(&wal) {
                    largest.fetch_max(m.len(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let filled_at = now();
    fill(&data.join("filler"));
    wait_for("/-/ready to say the store cannot write", WAIT, || {
        daemon.get("/-/ready").is_ok_and(|r| r.status == 503)
    });
    let ready = daemon.get("/-/ready").unwrap();
    assert!(
        ready
            .body
            .contains(&format!("the filesystem holding {} is full", data.display())),
        "{}",
        ready.body
    );
    assert_eq!(daemon.get("/-/healthy").unwrap().status, 200, "the process is alive");
    let metrics = daemon.metrics();
    assert_eq!(sample(&metrics, "camwatch_store_writable", &[]), Some(0.0));
    assert!(sample(&metrics, "camwatch_store_write_errors_total", &[]).unwrap() >= 1.0);
    let exposition = support::promtool_check_metrics(&metrics);
    assert!(exposition.is_empty(), "promtool: {exposition}");

    // The backup disk goes away while the store cannot write, and comes back.
    std::fs::remove_dir_all(&nas).unwrap();
    daemon.wait_for_state("backup-nas", "backup", "failed");
    let failed_seen = now();
    wait_for("the agent's own incident", WAIT, || {
        own(&open_incidents(&daemon)).is_some()
    });
    let incident = own(&open_incidents(&daemon)).unwrap().clone();
    assert!(
        incident["summary"]
            .as_str()
            .unwrap()
            .contains("the state store cannot write: the filesystem holding"),
        "{incident}"
    );
    assert!(incident["opened_at"].as_f64().unwrap() >= filled_at - 1.0, "{incident}");
    wait_for("Alertmanager to hold the agent's own alert", WAIT, || {
        am.alert("camwatch")
            .is_some_and(|a| a["labels"]["check"] == "state_store")
    });
    let page = daemon.get("/").unwrap().body;
    assert!(page.contains("The state store cannot write (since "), "{page}");
    assert!(page.contains("rows waiting in memory"), "{page}");

    let repaired_from = now();
    backup_file(&nas);
    daemon.wait_for_state("backup-nas", "backup", "ok");
    let repaired_seen = now();
    assert_eq!(daemon.get("/-/ready").unwrap().status, 503, "the disk is still full");
    assert!(
        smtp.received().is_empty(),
        "no mail goes out while the store cannot record it"
    );
    let backlog = sample(&daemon.metrics(), "camwatch_store_backlog_rows", &[]).unwrap();
    assert!(backlog >= 2.0, "the failure and the repair wait in memory: {backlog}");

    // Space returns.
    let freed_at = now();
    std::fs::remove_file(data.join("filler")).unwrap();
    wait_for("/-/ready to be 200 again", WAIT, || {
        daemon.get("/-/ready").is_ok_and(|r| r.status == 200)
    });
    let metrics = daemon.metrics();
    assert_eq!(sample(&metrics, "camwatch_store_writable", &[]), Some(1.0));
    assert_eq!(sample(&metrics, "camwatch_store_backlog_rows", &[]), Some(0.0));
    assert_eq!(sample(&metrics, "camwatch_store_shed_rows_total", &[]), Some(0.0));

    // The history has the outage at its real times.
    let transitions = stored_transitions(&data, "backup-nas", "backup");
    let states: Vec<(&str, &str)> = transitions.iter().map(|(_, f, t)| (f.as_str(), t.as_str())).collect();
    assert_eq!(
        states,
        [("unknown", "ok"), ("ok", "failed"), ("failed", "ok")],
        "{transitions:?}"
    );
    let (failed_at, repaired_at) = (transitions[1].0, transitions[2].0);
    assert!(
        filled_at < failed_at && failed_at <= failed_seen,
        "failed at {failed_at}, while the disk was full from {filled_at}"
    );
    assert!(
        repaired_from <= repaired_at && repaired_at <= repaired_seen && repaired_at < freed_at,
        "repaired at {repaired_at}, between {repaired_from} and {repaired_seen}, before {freed_at}"
    );

    // The agent's own incident is resolved, and in the store with its real times.
    wait_for("the agent's own incident to resolve", WAIT, || {
        own(&open_incidents(&daemon)).is_none()
    });
    wait_for("Alertmanager to drop the agent's own alert", WAIT, || {
        am.alert("camwatch").is_none()
    });
    let mut stored = None;
    wait_for("the agent's own incident in the store, resolved", WAIT, || {
        let r = daemon.get("/api/v1/incidents").unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
        stored = own(&all).filter(|i| !i["resolved_at"].is_null()).cloned();
        stored.is_some()
    });
    let stored = stored.unwrap();
    assert_eq!(stored["id"], incident["id"]);
    assert_eq!(stored["opened_at"], incident["opened_at"]);
    let resolved_at = stored["resolved_at"].as_f64().unwrap();
    assert!(
        resolved_at >= freed_at && resolved_at <= now(),
        "resolved at {resolved_at}, space returned at {freed_at}"
    );

    // The mail for both incidents (the backup's and the agent's own), failure and repair, each
    // exactly once, once the outbox has nothing left to send.
    wait_for("the outbox to be empty", WAIT, || {
        let r = daemon.get("/api/v1/outbox").unwrap();
        let outbox: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        outbox["pending"].as_array().is_some_and(Vec::is_empty) && !smtp.received().is_empty()
    });
    let mail = smtp.received();
    let text: String = mail.iter().map(|m| format!("{}\n{}\n", m.subject(), m.text)).collect();
    assert!(text.contains("backup-nas"), "{text}");
    assert!(text.contains("state_store") || text.contains("state store"), "{text}");
    let mut ids: Vec<&str> = mail.iter().map(|m| m.message_id()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "a message sent twice: {text}");

    watching.store(false, Ordering::Relaxed);
    watcher.join().unwrap();
    let largest = largest_wal.load(Ordering::Relaxed);
    assert!(largest > 0, "the WAL was seen");
    assert!(
        largest <= WAL_BOUND_BYTES,
        "the WAL reached {largest} bytes, over its bound of {WAL_BOUND_BYTES}"
    );
    let log = daemon.log_text();
    assert!(log.contains("the state store cannot write"), "{log}");
    assert!(log.contains("the state store writes again"), "{log}");
    assert!(daemon.terminate().success());
}
