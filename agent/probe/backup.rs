//! The backup folder: the newest footage backup, how many files and bytes the folder holds, and
//! whether the newest backup can actually be read.
//!
//! The folder is often a mount of the backup server (NFS, SMB), whose reads hang when the server
//! is gone. So the walk runs on the blocking pool under the check's timeout, at most
//! [`WALKS_IN_FLIGHT`] walks at once, and a folder whose previous walk is still stuck is reported
//! as such instead of stacking another blocked thread behind it.
//!
//! The walk streams directory entries (`read_dir`, one open handle per level) and keeps only
//! running figures, never the list of paths: a backup disk can hold millions of files.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, ReadDir};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

use super::{ProbeContext, ProbeError, ProbeErrorKind, Transcript};
use crate::config::{BackupSpec, FilePattern};
use crate::observation::backup::{BackupObservation, NewestBackup};

/// Walks of backup folders running at once; more would only compete for the same disks.
pub const WALKS_IN_FLIGHT: usize = 2;
/// Folder levels searched below the backup folder (backup tools nest by year/month/day/camera).
pub const MAX_DEPTH: usize = 16;
/// Directory entries looked at before the walk stops, so one huge archive cannot eat the agent.
pub const MAX_ENTRIES: u64 = 1_000_000;
/// Bytes read from the newest backup to prove it is readable.
pub const HEAD_BYTES: usize = 4096;
/// The newest backup set: files modified within this long before the newest one. One backup run
/// writes its files within hours; a day apart is the next run.
pub const NEWEST_SET_WINDOW_SECONDS: i64 = 86_400;

/// Which device's folder is being walked: two devices may watch the same folder (with different
/// patterns), and each check has its own walk.
type WalkKey = (String, PathBuf);

/// Shared for the agent's lifetime: the walks in flight and the folders being walked.
#[derive(Debug)]
pub struct BackupReader {
    walks: Arc<Semaphore>,
    busy: Arc<Mutex<HashSet<WalkKey>>>,
}

impl Default for BackupReader {
    fn default() -> Self {
        Self {
            walks: Arc::new(Semaphore::new(WALKS_IN_FLIGHT)),
            busy: Arc::default(),
        }
    }
}

/// Marks a folder as being walked until dropped, wherever that happens: on the blocking thread
/// when the walk ends (even long after the check timed out), or here if the check is cancelled
/// before the walk starts.
struct BusyGuard {
    busy: Arc<Mutex<HashSet<WalkKey>>>,
    key: WalkKey,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

impl BackupReader {
    pub async fn probe(&self, spec: &BackupSpec, ctx: &mut ProbeContext<'_>) -> Result<BackupObservation, ProbeError> {
        self.walk_for(spec, &ctx.device.name, ctx.transcript).await
    }

    /// Walks `spec`'s folder for `device`, unless a walk of it for that device is still running.
    async fn walk_for(
        &self,
        spec: &BackupSpec,
        device: &str,
        transcript: &mut Transcript,
    ) -> Result<BackupObservation, ProbeError> {
        let key: WalkKey = (device.to_owned(), spec.path.clone());
        let inserted = self.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone());
        if !inserted {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "the previous look at the backup folder {} is still blocked (a network mount is not answering)",
                    spec.path.display()
                ),
            ));
        }
        let guard = BusyGuard {
            busy: Arc::clone(&self.busy),
            key,
        };
        let permit = Arc::clone(&self.walks)
            .acquire_owned()
            .await
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("backup walk: {e}")))?;
        let spec = spec.clone();
        let trace = transcript.enabled;
        let (observation, lines) = tokio::task::spawn_blocking(move || {
            let _held = (guard, permit);
            let mut lines = Vec::new();
            let seen = look(&spec, Limits::DEFAULT, crate::vocab::unix_now(), |line| {
                if trace {
                    lines.push(line());
                }
            });
            (seen, lines)
        })
        .await
        .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("backup walk failed: {e}")))?;
        for line in lines {
            transcript.note(|| line);
        }
        observation
    }
}

/// How far a walk may go (smaller in unit tests).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_entries: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_depth: MAX_DEPTH,
        max_entries: MAX_ENTRIES,
    };
}

/// The whole look at a backup folder, blocking: walk, then read the newest backup's first bytes.
pub fn look(
    spec: &BackupSpec,
    limits: Limits,
    checked_at: f64,
    mut note: impl FnMut(&dyn Fn() -> String),
) -> Result<BackupObservation, ProbeError> {
    let root = &spec.path;
    let metadata = std::fs::metadata(root).map_err(|e| folder_error(root, &e))?;
    if !metadata.is_dir() {
        return Err(ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "the backup path {} is not a folder: point path at the folder the backups are written to",
                root.display()
            ),
        ));
    }
    let walked = walk(root, &spec.pattern, spec.recursive, limits).map_err(|e| folder_error(root, &e))?;
    note(&|| {
        format!(
            "walked {}: {} entries, {} files matching {:?}, {} bytes{}",
            root.display(),
            walked.entries,
            walked.files,
            spec.pattern.as_str(),
            walked.bytes,
            if walked.truncated {
                " (stopped at the entry limit)"
            } else {
                ""
            }
        )
    });
    let newest = walked.newest.as_ref().map(|(modified, path, size)| {
        let read_error = match read_head(path, HEAD_BYTES) {
            Ok(n) => {
                note(&|| format!("newest {}: read its first {n} bytes", path.display()));
                None
            }
            Err(e) => {
                note(&|| format!("newest {}: cannot read it: {e}", path.display()));
                Some(e.to_string())
            }
        };
        NewestBackup {
            path: path.to_string_lossy().into_owned(),
            modified_at: modified.seconds(),
            size_bytes: *size,
            read_error,
        }
    });
    let (newest_set_files, newest_set_bytes) = walked.set.values().fold((0, 0), |(f, b), (n, s)| (f + n, b + s));
    Ok(BackupObservation {
        path: root.to_string_lossy().into_owned(),
        pattern: spec.pattern.as_str().to_owned(),
        checked_at,
        files: walked.files,
        bytes: walked.bytes,
        newest,
        newest_set_files,
        newest_set_bytes,
        truncated: walked.truncated,
        min_files: spec.min_files,
        min_bytes: spec.min_bytes,
        notes: walked.notes,
    })
}

/// The backup folder itself cannot be looked at.
fn folder_error(root: &Path, e: &io::Error) -> ProbeError {
    let root = root.display();
    let message = match e.kind() {
        io::ErrorKind::NotFound => format!("the backup folder {root} does not exist: is the backup disk mounted?"),
        io::ErrorKind::PermissionDenied => format!(
            "camwatch may not read the backup folder {root} (permission denied): give the user camwatch runs as read access"
        ),
        io::ErrorKind::NotADirectory => {
            format!(
                "part of the backup path {root} is not a folder: point path at the folder the backups are written to"
            )
        }
        _ => format!("cannot read the backup folder {root}: {e}"),
    };
    // The folder's absence or refusal is the backup's fault, not camwatch's: a backup that
    // cannot be looked at cannot be restored either.
    ProbeError::new(ProbeErrorKind::Device, message)
}

/// Opens `path` and reads up to `limit` bytes: proof that the backup's data can be read, not
/// just listed. Returns how many bytes came.
pub fn read_head(path: &Path, limit: usize) -> io::Result<usize> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; limit];
    let mut filled = 0;
    while filled < limit {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A modification time, ordered, in whole seconds and nanoseconds since the epoch (negative
/// seconds for files dated before 1970, which exist on badly set recorders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mtime(i64, u32);

impl Mtime {
    fn of(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(d) => Mtime(d.as_secs() as i64, d.subsec_nanos()),
            Err(before) => {
                let d = before.duration();
                let nanos = d.subsec_nanos();
                if nanos == 0 {
                    Mtime(-(d.as_secs() as i64), 0)
                } else {
                    Mtime(-(d.as_secs() as i64) - 1, 1_000_000_000 - nanos)
                }
            }
        }
    }

    fn seconds(self) -> f64 {
        self.0 as f64 + f64::from(self.1) / 1e9
    }
}

#[derive(Debug, Default)]
struct Walked {
    entries: u64,
    files: u64,
    bytes: u64,
    newest: Option<(Mtime, PathBuf, u64)>,
    /// Matching files by whole second of modification, (count, bytes), kept only within the
    /// newest-set window of the newest file seen so far: at most a day of distinct seconds.
    set: BTreeMap<i64, (u64, u64)>,
    truncated: bool,
    notes: Vec<String>,
}

impl Walked {
    fn add(&mut self, path: PathBuf, modified: Mtime, size: u64) {
        self.files += 1;
        self.bytes = self.bytes.saturating_add(size);
        let newest = self.newest.as_ref().map_or(modified, |(m, _, _)| (*m).max(modified));
        if newest.0 - modified.0 < NEWEST_SET_WINDOW_SECONDS {
            let slot = self.set.entry(modified.0).or_default();
            slot.0 += 1;
            slot.1 = slot.1.saturating_add(size);
        }
        if self.newest.as_ref().is_none_or(|(m, _, _)| modified > *m) {
            self.newest = Some((modified, path, size));
            // Files now a day or more older than the newest leave the set.
            self.set = self.set.split_off(&(modified.0 - NEWEST_SET_WINDOW_SECONDS + 1));
        }
    }
}

/// Walks `root` depth first without following symbolic links (a link back up would loop, and a
/// "latest" link would count a backup twice). Errors only when `root` itself cannot be listed;
/// unreadable subfolders are noted and skipped.
fn walk(root: &Path, pattern: &FilePattern, recursive: bool, limits: Limits) -> io::Result<Walked> {
    let mut walked = Walked::default();
    let mut unreadable: Vec<String> = Vec::new();
    let mut too_deep = 0u64;
    let mut stack: Vec<(ReadDir, usize)> = vec![(std::fs::read_dir(root)?, 0)];
    'walk: while let Some((dir, depth)) = stack.last_mut() {
        let depth = *depth;
        let Some(entry) = dir.next() else {
            stack.pop();
            continue;
        };
        walked.entries += 1;
        if walked.entries > limits.max_entries {
            walked.entries = limits.max_entries;
            walked.truncated = true;
            break 'walk;
        }
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                unreadable.push(format!("an entry ({e})"));
                continue;
            }
        };
        let Ok(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            if !recursive {
                continue;
            }
            if depth + 1 > limits.max_depth {
                too_deep += 1;
                continue;
            }
            match std::fs::read_dir(entry.path()) {
                Ok(sub) => stack.push((sub, depth + 1)),
                Err(e) => unreadable.push(format!("{} ({e})", entry.path().display())),
            }
        } else if file_type.is_file() && pattern.matches(&entry.file_name().to_string_lossy()) {
            match entry.metadata().and_then(|m| Ok((m.modified()?, m.len()))) {
                Ok((modified, size)) => walked.add(entry.path(), Mtime::of(modified), size),
                Err(e) => unreadable.push(format!("{} ({e})", entry.path().display())),
            }
        }
    }
    if walked.truncated {
        walked.notes.push(format!(
            "stopped after {} entries: the figures cover only part of the folder (point path at a narrower folder)",
            limits.max_entries
        ));
    }
    if too_deep > 0 {
        walked.notes.push(format!(
            "not searched: {} deeper than {} levels",
            plural(too_deep, "folder", "folders"),
            limits.max_depth
        ));
    }
    if !unreadable.is_empty() {
        walked.notes.push(format!(
            "{} could not be read, e.g. {}",
            plural(unreadable.len() as u64, "entry", "entries"),
            unreadable[0]
        ));
    }
    Ok(walked)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: i64 = 1_800_000_000;

    fn at(seconds: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds as u64)
    }

    fn file(dir: &Path, name: &str, bytes: usize, modified: i64) {
        if let Some(parent) = dir.join(name).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let path = dir.join(name);
        std::fs::write(&path, vec![7u8; bytes]).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(at(modified))
            .unwrap();
    }

    fn spec(dir: &Path, pattern: &str, recursive: bool) -> BackupSpec {
        BackupSpec {
            path: dir.to_path_buf(),
            pattern: FilePattern::parse(pattern).unwrap(),
            recursive,
            min_files: 1,
            min_bytes: 1,
        }
    }

    fn look_at(spec: &BackupSpec, limits: Limits) -> Result<BackupObservation, ProbeError> {
        look(spec, limits, NOW as f64, |_| {})
    }

    #[test]
    fn finds_the_newest_matching_file_and_the_newest_set_in_subfolders() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        file(d, "2026-11-20/cam1.mp4", 100, NOW - 8 * 86_400);
        file(d, "2026-11-27/cam1.mp4", 200, NOW - 86_400 - 7200);
        file(d, "2026-11-28/cam1.mp4", 300, NOW - 7200);
        file(d, "2026-11-28/cam2.mp4", 400, NOW - 3600);
        file(d, "2026-11-28/deeper/cam3.mp4", 500, NOW - 5400);
        file(d, "2026-11-28/index.txt", 9, NOW - 60);
        let seen = look_at(&spec(d, "*.mp4", true), Limits::DEFAULT).unwrap();
        assert_eq!((seen.files, seen.bytes), (5, 1500));
        let newest = seen.newest.as_ref().unwrap();
        assert!(newest.path.ends_with("2026-11-28/cam2.mp4"), "{newest:?}");
        assert_eq!(newest.modified_at, (NOW - 3600) as f64);
        assert_eq!(newest.size_bytes, 400);
        assert_eq!(newest.read_error, None);
        // Within a day before the newest: the three of 2026-11-28; the one of 2026-11-27 is
        // 1 day 1 h older than the newest.
        assert_eq!((seen.newest_set_files, seen.newest_set_bytes), (3, 1200));
        assert!(!seen.truncated && seen.notes.is_empty(), "{seen:?}");

        let flat = look_at(&spec(d, "*", false), Limits::DEFAULT).unwrap();
        assert_eq!(flat.files, 0, "only folders at the top: {flat:?}");
    }

    #[test]
    fn the_newest_set_follows_the_newest_file_whatever_the_walk_order() {
        let mut walked = Walked::default();
        walked.add("a".into(), Mtime(NOW - 3 * 86_400, 0), 1);
        walked.add("b".into(), Mtime(NOW - 100, 0), 2);
        walked.add("c".into(), Mtime(NOW - 86_400 + 1, 0), 4);
        walked.add("d".into(), Mtime(NOW, 0), 8);
        walked.add("e".into(), Mtime(NOW - 86_400, 0), 16);
        let (files, bytes) = walked.set.values().fold((0, 0), |(f, b), (n, s)| (f + n, b + s));
        assert_eq!(
            (files, bytes),
            (3, 2 + 4 + 8),
            "exactly a day older is the previous set"
        );
        assert_eq!(walked.newest.unwrap().1, PathBuf::from("d"));
    }

    #[test]
    fn limits_stop_the_walk_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..10 {
            file(d, &format!("f{i}.mp4"), 1, NOW - i);
        }
        file(d, "a/b/c/deep.mp4", 1, NOW);
        let few = look_at(
            &spec(d, "*", true),
            Limits {
                max_depth: 16,
                max_entries: 5,
            },
        )
        .unwrap();
        assert!(few.truncated);
        assert!(few.files <= 5, "{few:?}");
        assert!(few.notes[0].starts_with("stopped after 5 entries"), "{few:?}");

        let shallow = look_at(
            &spec(d, "*", true),
            Limits {
                max_depth: 2,
                max_entries: 100,
            },
        )
        .unwrap();
        assert_eq!(shallow.files, 10, "{shallow:?}");
        assert_eq!(shallow.notes, ["not searched: 1 folder deeper than 2 levels"]);
    }

    #[test]
    fn the_folder_itself_missing_or_a_file_is_a_clear_device_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = look_at(&spec(&dir.path().join("nope"), "*", true), Limits::DEFAULT).unwrap_err();
        assert_eq!(missing.kind, ProbeErrorKind::Device);
        assert!(
            missing
                .message
                .ends_with("/nope does not exist: is the backup disk mounted?"),
            "{missing:?}"
        );
        file(dir.path(), "plain", 1, NOW);
        let plain = look_at(&spec(&dir.path().join("plain"), "*", true), Limits::DEFAULT).unwrap_err();
        assert!(plain.message.contains("/plain is not a folder"), "{plain:?}");
    }

    #[test]
    fn reading_fails_for_what_cannot_be_read() {
        // A folder opens but cannot be read (EISDIR), even for root: the honest stand-in for a
        // backup file whose data cannot be read back (an I/O error on a dying disk).
        let dir = tempfile::tempdir().unwrap();
        let err = read_head(dir.path(), HEAD_BYTES).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR), "{err}");
        assert_eq!(
            read_head(&dir.path().join("gone"), HEAD_BYTES).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        file(dir.path(), "big.mp4", 10_000, NOW);
        assert_eq!(read_head(&dir.path().join("big.mp4"), HEAD_BYTES).unwrap(), HEAD_BYTES);
        file(dir.path(), "empty.mp4", 0, NOW);
        assert_eq!(read_head(&dir.path().join("empty.mp4"), HEAD_BYTES).unwrap(), 0);
    }

    #[tokio::test]
    async fn a_walk_still_running_is_reported_not_stacked_and_a_finished_one_is_released() {
        let dir = tempfile::tempdir().unwrap();
        file(dir.path(), "cam1.mp4", 10, NOW);
        let reader = BackupReader::default();
        let spec = spec(dir.path(), "*", true);
        let mut transcript = Transcript::enabled();
        // Walks finish and release their folder: the same check runs again at once.
        for _ in 0..2 {
            let seen = reader.walk_for(&spec, "nas", &mut transcript).await.unwrap();
            assert_eq!(seen.files, 1);
        }
        assert!(transcript.lines[0].starts_with("walked "), "{:?}", transcript.lines);
        assert!(reader.busy.lock().unwrap().is_empty());
        // A walk stuck on this folder (as a hung NFS read would leave it) blocks only its own check.
        reader
            .busy
            .lock()
            .unwrap()
            .insert(("nas".to_owned(), dir.path().to_path_buf()));
        let stuck = reader.walk_for(&spec, "nas", &mut transcript).await.unwrap_err();
        assert_eq!(stuck.kind, ProbeErrorKind::Device);
        assert!(stuck.message.contains("is still blocked"), "{stuck:?}");
        assert!(reader.walk_for(&spec, "other-device", &mut transcript).await.is_ok());
    }

    #[test]
    fn mtimes_before_1970_order_correctly() {
        let before = Mtime::of(UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!(before, Mtime(-2, 500_000_000));
        assert_eq!(before.seconds(), -1.5);
        assert!(before < Mtime::of(UNIX_EPOCH));
    }
}
