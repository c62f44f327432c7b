//! Footage trees for the retention tests: empty segment files (sizes by `set_len`, so nothing is
//! written) in the Frigate layout `{date}/{hour}/{camera}/{minute}.{second}.mp4` or in a flat
//! `camera/NAME.mp4` layout dated by modification time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const DAY: i64 = 86_400;

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn utc(t: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t, 0).unwrap()
}

/// The folder of a Frigate segment starting at `t`.
pub fn frigate_dir(root: &Path, camera: &str, t: i64) -> PathBuf {
    let t = utc(t);
    root.join(t.format("%Y-%m-%d").to_string())
        .join(t.format("%H").to_string())
        .join(camera)
}

/// The path of a Frigate segment starting at `t`.
pub fn frigate_path(root: &Path, camera: &str, t: i64) -> PathBuf {
    frigate_dir(root, camera, t).join(utc(t).format("%M.%S.mp4").to_string())
}

/// Writes segments of `step` seconds starting at `from`, `from + step`, ... before `to`, each
/// `size` bytes long (sparse), skipping those `skip` says; returns how many were written.
pub fn frigate(root: &Path, camera: &str, from: i64, to: i64, step: i64, size: u64, skip: impl Fn(i64) -> bool) -> u64 {
    let mut written = 0;
    let mut dir = PathBuf::new();
    let mut t = from;
    while t < to {
        if !skip(t) {
            let d = frigate_dir(root, camera, t);
            if d != dir {
                std::fs::create_dir_all(&d).unwrap();
                dir = d;
            }
            let f = File::create(dir.join(utc(t).format("%M.%S.mp4").to_string())).unwrap();
            if size > 0 {
                f.set_len(size).unwrap();
            }
            written += 1;
        }
        t += step;
    }
    written
}

/// Flat layout: `root/camera/seg-N.mp4`, each file's modification time the end of its segment.
pub fn flat(root: &Path, camera: &str, from: i64, to: i64, step: i64, skip: impl Fn(i64) -> bool) -> u64 {
    let dir = root.join(camera);
    std::fs::create_dir_all(&dir).unwrap();
    let mut written = 0;
    let mut t = from;
    while t < to {
        if !skip(t) {
            let f = File::create(dir.join(format!("seg-{t}.mp4"))).unwrap();
            f.set_modified(UNIX_EPOCH + Duration::from_secs((t + step) as u64))
                .unwrap();
            written += 1;
        }
        t += step;
    }
    written
}

/// Start of the UTC day or hour holding `t`.
pub fn floor(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

/// A temporary folder for a footage tree: in memory (/dev/shm) when there is one, because
/// creating 100,000 files on a VM's disk takes a minute and on tmpfs a second; the scan itself
/// does not care where the tree is.
pub fn footage_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("camwatch-footage")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// A camera's gaps, `(start, end)`, from the retention check's values.
pub fn gaps(camera: &serde_json::Value) -> Vec<(i64, i64)> {
    camera["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["start"].as_i64().unwrap(), g["end"].as_i64().unwrap()))
        .collect()
}
