//! The backup check against real folders: files whose modification times are set to a chosen
//! age, judged through `camwatch once --json` (fresh, stale, cut short, empty, unreadable,
//! missing, nothing matching) and through the daemon, whose backup metrics promtool must accept.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{Daemon, daemon_config, promtool_check_metrics, run, sample, stderr, stdout, temp_dir, write};

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;
const CLAUSE: &str = "the procedure says: Footage is backed up at least once a week.";

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Writes `bytes` bytes to `dir/name` and dates it `age` seconds ago (whole seconds, so figures
/// compare exactly); returns that modification time.
fn backup_file(dir: &Path, name: &str, bytes: usize, age: u64) -> u64 {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![0x47u8; bytes]).unwrap();
    let modified = unix_now() - age;
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(modified))
        .unwrap();
    modified
}

/// `[[device]]` with a `[device.backup]` of `path` and the extra `keys`.
fn device(name: &str, path: &Path, keys: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nkind = \"storage\"\n[device.backup]\npath = \"{}\"\n{keys}\n",
        path.display()
    )
}

/// `camwatch once --json` on `config`: the exit code and the result of each device, by name.
fn once(config: &Path) -> (Option<i32>, Vec<Value>) {
    let out = run(&["once", "--json", "-c", config.to_str().unwrap()]);
    parse_once(&out)
}

fn parse_once(out: &std::process::Output) -> (Option<i32>, Vec<Value>) {
    let lines = stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", stderr(out))))
        .collect();
    (out.status.code(), lines)
}

fn result<'a>(results: &'a [Value], device: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["device"] == device)
        .unwrap_or_else(|| panic!("no result for {device}: {results:?}"))
}

fn summary(result: &Value) -> &str {
    result["summary"].as_str().unwrap()
}

#[test]
fn a_fresh_backup_is_ok_with_its_figures_and_a_short_newest_set_is_a_warning() {
    let dir = temp_dir();
    let nas = dir.path().join("nas");
    // Last night's run: three cameras an hour ago; last week's run; a log that is no backup.
    let newest = backup_file(&nas, "2026-11-28/cam1.mp4", 3000, HOUR);
    backup_file(&nas, "2026-11-28/cam2.mp4", 2000, HOUR + 60);
    backup_file(&nas, "2026-11-28/night/cam3.mp4", 1000, HOUR + 120);
    backup_file(&nas, "2026-11-21/cam1.mp4", 500, 8 * DAY);
    backup_file(&nas, "2026-11-28/backup.log", 10, 60);
    let path = dir.path().join("c.toml");
    write(
        &path,
        &[
            device("nas", &nas, "pattern = \"*.mp4\"\nmin_files = 3"),
            device("nas-expects-more", &nas, "pattern = \"*.mp4\"\nmin_files = 5"),
            device(
                "flat",
                &nas.join("2026-11-28"),
                "recursive = false\npattern = \"cam?.mp4\"",
            ),
        ]
        .concat(),
    );
    let (code, results) = once(&path);
    assert_eq!(code, Some(0), "warnings do not fail `once`: {results:?}");

    let ok = result(&results, "nas");
    assert_eq!(ok["check"], "backup");
    assert_eq!(ok["status"], "ok", "{ok}");
    let values = &ok["values"];
    assert_eq!(values["files"], 4, "the log does not match *.mp4: {ok}");
    assert_eq!(values["bytes"], 6500);
    assert_eq!(
        values["newest_set_files"], 3,
        "last week's file is not in the newest set: {ok}"
    );
    assert_eq!(values["newest_timestamp_seconds"].as_f64(), Some(newest as f64));
    let age = values["age_seconds"].as_f64().unwrap();
    assert!((HOUR as f64..HOUR as f64 + 120.0).contains(&age), "{ok}");
    assert!(
        values["newest_path"].as_str().unwrap().ends_with("2026-11-28/cam1.mp4"),
        "{ok}"
    );
    let s = summary(ok);
    assert!(s.starts_with("newest backup 20"), "{s}");
    assert!(s.ends_with(" UTC (1 h 0 min old), 4 files, 6.3 KiB"), "{s}");

    let short = result(&results, "nas-expects-more");
    assert_eq!(short["status"], "warning", "{short}");
    assert!(
        summary(short).contains("has 3 files of the 5 expected: was the backup cut short?"),
        "{short}"
    );

    let flat = result(&results, "flat");
    assert_eq!(flat["status"], "ok", "{flat}");
    assert_eq!(
        flat["values"]["files"], 2,
        "not recursive: night/cam3.mp4 is left out: {flat}"
    );
}

#[test]
fn stale_empty_missing_and_unmatched_backups_fail_each_with_its_reason() {
    let dir = temp_dir();
    let d = dir.path();
    backup_file(&d.join("stale"), "cam1.mp4", 100, 9 * DAY);
    backup_file(&d.join("nightly"), "cam1.mp4", 100, 2 * DAY);
    backup_file(&d.join("empty"), "older.mp4", 100, 2 * HOUR);
    backup_file(&d.join("empty"), "newest.mp4", 0, HOUR);
    backup_file(&d.join("other-format"), "cam1.mp4", 100, HOUR);
    backup_file(d, "not-a-folder", 100, HOUR);
    let path = d.join("c.toml");
    write(
        &path,
        &[
            "[policy.nightly]\nbackup_max_age = \"1day\"\nclause_backup = \"Footage is backed up every night.\"\n"
                .to_owned(),
            device("stale", &d.join("stale"), ""),
            device("nightly", &d.join("nightly"), "").replace("kind = ", "policy = \"nightly\"\nkind = "),
            device("empty", &d.join("empty"), ""),
            device("unmounted", &d.join("mnt/backup/cctv"), ""),
            device("other-format", &d.join("other-format"), "pattern = \"*.mkv\""),
            device("file", &d.join("not-a-folder"), ""),
        ]
        .concat(),
    );
    let (code, results) = once(&path);
    assert_eq!(code, Some(1), "{results:?}");
    for r in &results {
        assert_eq!(r["status"], "failed", "{r}");
    }
    let stale = summary(result(&results, "stale"));
    assert!(
        stale.starts_with("the newest backup is 9 days 0 h old (") && stale.ends_with(CLAUSE),
        "{stale}"
    );
    let nightly = summary(result(&results, "nightly"));
    assert!(nightly.contains("older than 1 day 0 h"), "{nightly}");
    assert!(
        nightly.ends_with("the procedure says: Footage is backed up every night."),
        "{nightly}"
    );
    let empty = summary(result(&results, "empty"));
    assert!(
        empty.contains("/empty/newest.mp4 is 0 B, under the 1 B minimum: an empty or cut-off backup"),
        "{empty}"
    );
    assert_eq!(
        summary(result(&results, "unmounted")),
        format!(
            "the backup folder {} does not exist: is the backup disk mounted?",
            d.join("mnt/backup/cctv").display()
        )
    );
    let other = result(&results, "other-format");
    assert_eq!(
        summary(other),
        format!(
            "no backup in {}: no file matches \"*.mkv\"; {CLAUSE}",
            d.join("other-format").display()
        )
    );
    assert_eq!(other["values"]["files"], 0);
    assert!(
        summary(result(&results, "file")).contains("/not-a-folder is not a folder"),
        "{results:?}"
    );
}

/// Root reads any file whatever its mode, so the unreadable backup is shown to the agent running
/// as `nobody`, the way a service account meets a backup written with the wrong owner. (A read
/// that fails for root too is covered by `probe::backup`'s unit test on `read_head`.)
#[test]
fn a_newest_backup_the_agent_cannot_read_fails() {
    support::require_root("to run the agent as nobody");
    let dir = temp_dir();
    let nas = dir.path().join("nas");
    backup_file(&nas, "cam1.mp4", 100, 2 * HOUR);
    backup_file(&nas, "cam2.mp4", 100, HOUR);
    let newest = nas.join("cam2.mp4");
    std::fs::set_permissions(&newest, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let path = dir.path().join("c.toml");
    write(&path, &device("nas", &nas, ""));

    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(env!("CARGO_BIN_EXE_camwatch"))
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let (code, results) = parse_once(&as_nobody);
    assert_eq!(code, Some(1), "{results:?}{}", stderr(&as_nobody));
    let r = result(&results, "nas");
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(
        summary(r),
        format!(
            "the newest backup {} cannot be read (Permission denied (os error 13)): a backup that cannot be read is no backup; {CLAUSE}",
            newest.display()
        )
    );
    // The same folder read by root is fine: the failure was the read, not the folder.
    let (code, results) = once(&path);
    assert_eq!(code, Some(0), "{results:?}");
}

#[test]
fn the_daemon_exports_backup_figures_that_promtool_accepts_and_follows_new_backups() {
    let dir = temp_dir();
    let nas = dir.path().join("nas");
    let newest = backup_file(&nas, "2026-11-28/cam1.mp4", 4096, 2 * HOUR);
    backup_file(&nas, "2026-11-28/cam2.mp4", 1024, 2 * HOUR + 30);
    backup_file(&nas, "2026-11-20/cam1.mp4", 2048, 8 * DAY);
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "[policy.default]\ninterval = \"1s\"\ntimeout = \"900ms\"\nfailures_before_failed = 1\n{}{}",
            device("nas", &nas, "pattern = \"*.mp4\"\nmin_files = 2"),
            device("gone", &dir.path().join("unmounted"), "")
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    let wait = Duration::from_secs(60);
    support::wait_for("nas ok and gone failed", wait, || {
        daemon.state("nas", "backup") == "ok" && daemon.state("gone", "backup") == "failed"
    });
    let m = daemon.metrics();
    assert_eq!(promtool_check_metrics(&m), "", "promtool complains:\n{m}");
    let nas_label = [r#"device="nas""#];
    assert_eq!(sample(&m, "camwatch_backup_files", &nas_label), Some(3.0), "{m}");
    assert_eq!(sample(&m, "camwatch_backup_bytes", &nas_label), Some(7168.0), "{m}");
    assert_eq!(
        sample(&m, "camwatch_backup_newest_timestamp_seconds", &nas_label),
        Some(newest as f64),
        "{m}"
    );
    let age = sample(&m, "camwatch_backup_age_seconds", &nas_label).unwrap();
    assert!(age >= (2 * HOUR) as f64 && age < (2 * HOUR + 120) as f64, "{age}");
    assert_eq!(
        sample(
            &m,
            "camwatch_check_state",
            &[r#"device="gone""#, r#"check="backup""#, r#"state="failed""#]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        !m.lines()
            .any(|l| l.starts_with("camwatch_backup_") && l.contains(r#"device="gone""#)),
        "a folder that is not there has no figures, not stale ones:\n{m}"
    );

    // Tonight's backup lands: the next walks see it.
    let tonight = backup_file(&nas, "2026-11-29/cam1.mp4", 100, 10);
    support::wait_for("the new backup to be counted", wait, || {
        let m = daemon.metrics();
        sample(&m, "camwatch_backup_files", &nas_label) == Some(4.0)
            && sample(&m, "camwatch_backup_newest_timestamp_seconds", &nas_label) == Some(tonight as f64)
    });
    assert!(daemon.terminate().success());
}
