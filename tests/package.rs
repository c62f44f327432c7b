//! The Debian package as an administrator meets it: `cargo deb` makes it, `dpkg -i` installs it,
//! the installed binary, unit and configuration work from their installed paths, and
//! `dpkg --purge` takes it all away again.
//!
//! The package is made from the binary this test run already built (copied to where cargo-deb
//! expects a release build, `--no-build --strip`): the recipe is the one `cargo deb` follows for a
//! release, and the test costs seconds rather than a second, LTO-optimised build of everything.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{require_root, stored_results, stored_summaries, wait_for};

const PACKAGE: &str = "camwatch";
const STATE: &str = "/var/lib/camwatch";
const CONFIG_DIR: &str = "/etc/camwatch";
const CONFIG: &str = "/etc/camwatch/camwatch.toml";
const UNIT: &str = "/usr/lib/systemd/system/camwatch.service";

fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = sh(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed() -> bool {
    let out = sh("dpkg-query", &["-W", "-f=${db:Status-Status}", PACKAGE]);
    out.status.success()
        && !String::from_utf8_lossy(&out.stdout).trim().is_empty()
        && String::from_utf8_lossy(&out.stdout).trim() != "not-installed"
}

/// Folders the package owns or makes, found on the machine before the test while the package is
/// not installed (a configuration installed by hand, the state of `camwatch run` as root): moved
/// aside for the test, so the purge at its end cannot take them, and put back afterwards.
struct SetAside(Vec<(PathBuf, PathBuf)>);

impl SetAside {
    fn new(paths: &[&str]) -> SetAside {
        let mut moved = Vec::new();
        for path in paths.iter().map(PathBuf::from) {
            if path.exists() {
                let aside = PathBuf::from(format!("{}.camwatch-package-test", path.display()));
                assert!(
                    !aside.exists(),
                    "{} is in the way; move it back by hand",
                    aside.display()
                );
                std::fs::rename(&path, &aside).unwrap();
                moved.push((path, aside));
            }
        }
        SetAside(moved)
    }
}

impl Drop for SetAside {
    fn drop(&mut self) {
        if installed() {
            let _ = sh("dpkg", &["--purge", PACKAGE]);
        }
        for (path, aside) in &self.0 {
            let _ = std::fs::remove_dir_all(path);
            if let Err(e) = std::fs::rename(aside, path) {
                eprintln!("cannot put {} back from {}: {e}", path.display(), aside.display());
            }
        }
    }
}

/// Makes the .deb in `out` from the test's own build of the binary.
fn build_deb(work: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = work.join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_camwatch"), target.join("release/camwatch")).unwrap();
    let out_dir = work.join("deb");
    let out = Command::new(env!("CARGO"))
        .args(["deb", "--no-build", "--strip", "--fast", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("-o")
        .arg(&out_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo deb failed (is cargo-deb installed? `cargo install --locked cargo-deb`, as ./scripts/test does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs.into_iter().next().unwrap()
}

#[test]
fn the_debian_package_installs_runs_from_its_paths_and_purges_clean() {
    require_root("installs a Debian package with dpkg");
    // A package left by an earlier run that stopped half-way: gone first.
    if installed() {
        ok("dpkg", &["--purge", PACKAGE]);
    }
    let aside = SetAside::new(&[CONFIG_DIR, STATE]);
    let work = support::temp_dir();
    let deb = build_deb(work.path());
    let deb_str = deb.to_str().unwrap();

    // What is in it, and what dpkg will treat as configuration.
    let info = ok("dpkg-deb", &["-f", deb_str, "Package", "Version", "Depends"]);
    assert!(info.contains(&format!("Package: {PACKAGE}")), "{info}");
    assert!(
        info.contains(&format!("Version: {}-", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(info.contains("adduser"), "the postinst calls adduser:\n{info}");
    let conffiles = ok("dpkg-deb", &["--info", deb_str, "conffiles"]);
    assert_eq!(conffiles.trim(), CONFIG, "conffiles");
    let listing = ok("dpkg-deb", &["-c", deb_str]);
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(".{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
            .to_owned()
    };
    assert!(entry("/usr/bin/camwatch").starts_with("-rwxr-xr-x 0/0 "), "{listing}");
    assert!(entry(UNIT).starts_with("-rw-r--r-- 0/0 "), "{listing}");
    assert!(entry(CONFIG).starts_with("-rw-r--r-- 0/0 "), "{listing}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (folder, dest) in [
        ("dashboards", "/usr/share/camwatch/dashboards/"),
        (
            "dashboards/provisioning",
            "/usr/share/camwatch/dashboards/provisioning/",
        ),
        ("alerts", "/usr/share/camwatch/alerts/"),
        ("alerts/tests", "/usr/share/camwatch/alerts/tests/"),
        ("config/examples", "/usr/share/doc/camwatch/examples/"),
    ] {
        for file in std::fs::read_dir(root.join(folder)).unwrap() {
            let file = file.unwrap().path();
            if file.is_file() {
                entry(&format!("{dest}{}", file.file_name().unwrap().to_str().unwrap()));
            }
        }
    }
    entry("/usr/share/doc/camwatch/README.md");
    entry("/usr/share/doc/camwatch/examples/web-config.yml");

    // Installed where systemd is not PID 1 (this machine, CI containers): the maintainer scripts
    // make the user and the state folder, enable the unit and start nothing.
    let installing = sh("dpkg", &["-i", deb_str]);
    assert!(
        installing.status.success(),
        "dpkg -i failed:\n{}\n{}",
        String::from_utf8_lossy(&installing.stdout),
        String::from_utf8_lossy(&installing.stderr)
    );
    assert!(installed());
    let version = ok("/usr/bin/camwatch", &["--version"]);
    let built = ok(env!("CARGO_BIN_EXE_camwatch"), &["--version"]);
    assert_eq!(version, built, "the installed binary is the one built");
    assert!(
        version.starts_with(&format!("camwatch {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let checked = ok("/usr/bin/camwatch", &["check-config", "-c", CONFIG]);
    assert!(checked.starts_with(&format!("{CONFIG}: OK: 1 devices")), "{checked}");
    // The default path needs no -c.
    let checked = ok("/usr/bin/camwatch", &["check-config"]);
    assert!(checked.contains(": OK: "), "{checked}");
    let user = ok("getent", &["passwd", "camwatch"]);
    assert!(user.contains(&format!(":{STATE}:")), "home: {user}");
    assert!(user.trim_end().ends_with("/usr/sbin/nologin"), "shell: {user}");
    let owner = ok("stat", &["-c", "%U:%G %a", STATE]);
    assert_eq!(owner.trim(), "camwatch:camwatch 750");
    let unit = std::fs::read_to_string(UNIT).unwrap();
    assert_eq!(
        unit,
        std::fs::read_to_string(root.join("config/camwatch.service")).unwrap()
    );
    let verify = sh("systemd-analyze", &["verify", UNIT]);
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/camwatch.service").exists(),
        "the unit is enabled"
    );

    // The shipped configuration does something real as the service user, from the installed
    // paths, keeping its state in /var/lib/camwatch, with the unit's privileges (CAP_NET_RAW
    // ambient and alone in the bounding set, no new privileges): run in a network namespace of
    // its own so its listen address (127.0.0.1:9810) is free whatever else runs here.
    let log = work.path().join("run.log");
    let mut daemon = Command::new("unshare")
        .args(["--net", "--", "sh", "-c"])
        .arg(format!(
            "ip link set lo up && exec setpriv --reuid=camwatch --regid=camwatch --init-groups \
             --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw --bounding-set=-all,+net_raw \
             --no-new-privs /usr/bin/camwatch run -c {CONFIG}"
        ))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let state = Path::new(STATE);
    wait_for(
        "the packaged agent to record this host's checks",
        Duration::from_secs(90),
        || {
            if let Ok(Some(status)) = daemon.try_wait() {
                panic!(
                    "camwatch run exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            state.join("camwatch.sqlite").exists()
                && ["ping", "filesystem"]
                    .iter()
                    .all(|check| !stored_results(state, "this-host", check).is_empty())
        },
    );
    support::stop_child(&mut daemon);
    // Judged, not merely attempted: loopback answers ICMP (CAP_NET_RAW is enough for it), and
    // the filesystems were read (their level is this machine's business).
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(stored_results(state, "this-host", "ping")[0].status, "ok", "{logged}");
    let pinged = &stored_summaries(state, "this-host", "ping")[0];
    assert!(pinged.contains("ICMP echoes"), "{pinged}\n{logged}");
    assert_ne!(
        stored_results(state, "this-host", "filesystem")[0].status,
        "unknown",
        "{logged}"
    );
    let store_owner = ok("stat", &["-c", "%U", &format!("{STATE}/camwatch.sqlite")]);
    assert_eq!(store_owner.trim(), "camwatch");

    // Purged: nothing of it is left but the system user (Debian keeps those).
    ok("dpkg", &["--purge", PACKAGE]);
    assert!(!installed());
    for gone in [
        "/usr/bin/camwatch",
        UNIT,
        CONFIG_DIR,
        STATE,
        "/usr/share/camwatch",
        "/usr/share/doc/camwatch",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after the purge");
    }
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/camwatch.service").exists(),
        "the unit's enablement is left after the purge"
    );

    // State left by `camwatch run` as root before the package came: handed to the service user
    // at install, as systemd's StateDirectory= would.
    std::fs::create_dir(STATE).unwrap();
    let earlier = Path::new(STATE).join("earlier-results");
    std::fs::write(&earlier, "made by root\n").unwrap();
    ok("dpkg", &["-i", deb_str]);
    let owners = ok("stat", &["-c", "%U:%G %a", STATE, earlier.to_str().unwrap()]);
    assert_eq!(owners, "camwatch:camwatch 750\ncamwatch:camwatch 644\n");
    ok("dpkg", &["--purge", PACKAGE]);
    assert!(!Path::new(STATE).exists());
    drop(aside);
}
