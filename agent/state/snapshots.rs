//! The latest good and the latest failing snapshot of each camera, kept as files so whoever
//! answers an alert sees what the camera saw:
//! `DATA_DIR/snapshots/DEVICE/latest-ok.jpg` and `latest-failed.jpg` (failed or warning),
//! overwritten each time, so the folder never grows beyond two pictures a camera.
//!
//! Files are written by one thread of their own, fed over a bounded channel: the hub calls
//! [`Snapshots::keep`] under its lock, on an async worker, so it must never wait for a disk. When
//! the disk is so slow that the queue is full, a picture is skipped (the next poll brings another).
//! Each file is written under a temporary name and renamed, so a reader never gets half a JPEG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Pictures waiting to be written, at most.
const QUEUE: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Which {
    Ok,
    Failed,
}

impl Which {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Ok => "latest-ok.jpg",
            Self::Failed => "latest-failed.jpg",
        }
    }

    pub fn parse(file_name: &str) -> Option<Which> {
        [Self::Ok, Self::Failed]
            .into_iter()
            .find(|w| w.file_name() == file_name)
    }
}

/// When each kept picture of a camera was taken (Unix seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Kept {
    pub ok: Option<f64>,
    pub failed: Option<f64>,
}

struct Job {
    device: String,
    which: Which,
    at: f64,
    jpeg: Arc<Vec<u8>>,
}

#[derive(Debug)]
pub struct Snapshots {
    dir: PathBuf,
    sender: Mutex<Option<SyncSender<Job>>>,
    kept: Arc<Mutex<BTreeMap<String, Kept>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// A device name as one safe path segment (a folder name, or a URL path segment): letters,
/// digits, `-`, `_`, `.` and `~` stay, everything else is percent-encoded, and so is a leading
/// dot, so no name can become `..`, a hidden folder or a path with a `/`.
pub fn segment(device: &str) -> String {
    let mut out = String::with_capacity(device.len());
    for (i, b) in device.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The device name a [`segment`] came from.
fn device_of(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(segment.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Snapshots {
    /// Starts the writer for `data_dir/snapshots`. It first looks at what an earlier run kept,
    /// so the landing page shows those pictures at once.
    pub fn start(data_dir: &Path) -> Snapshots {
        let dir = data_dir.join("snapshots");
        let (sender, receiver) = sync_channel(QUEUE);
        let kept = Arc::new(Mutex::new(BTreeMap::new()));
        let writer = std::thread::Builder::new()
            .name("snapshots".into())
            .spawn({
                let (dir, kept) = (dir.clone(), Arc::clone(&kept));
                move || write_forever(&dir, &kept, &receiver)
            })
            .map_err(|e| tracing::error!("cannot start the snapshot writer: {e}; snapshots are not kept"))
            .ok();
        Snapshots {
            dir,
            sender: Mutex::new(writer.as_ref().map(|_| sender)),
            kept,
            writer: Mutex::new(writer),
        }
    }

    /// Queues a picture for writing; never waits.
    pub fn keep(&self, device: &str, which: Which, at: f64, jpeg: Arc<Vec<u8>>) {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = sender.as_ref() else { return };
        let job = Job {
            device: device.to_owned(),
            which,
            at,
            jpeg,
        };
        if let Err(TrySendError::Full(job)) = sender.try_send(job) {
            tracing::warn!(device = %job.device, "the disk is too slow for snapshots; this one is not kept");
        }
    }

    /// Where a camera's picture is (whether or not it exists).
    pub fn path(&self, device: &str, which: Which) -> PathBuf {
        self.dir.join(segment(device)).join(which.file_name())
    }

    /// Every camera with a kept picture.
    pub fn kept(&self) -> BTreeMap<String, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes what is queued, then stops the writer.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Snapshots {
    fn drop(&mut self) {
        self.close();
    }
}

fn modified(path: &Path) -> Option<f64> {
    let time = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

fn write_forever(dir: &Path, kept: &Mutex<BTreeMap<String, Kept>>, jobs: &Receiver<Job>) {
    if let Ok(folders) = std::fs::read_dir(dir) {
        let mut found = BTreeMap::new();
        for folder in folders.flatten() {
            let Some(device) = folder.file_name().to_str().and_then(device_of) else {
                continue;
            };
            let at = |which: Which| modified(&folder.path().join(which.file_name()));
            let k = Kept {
                ok: at(Which::Ok),
                failed: at(Which::Failed),
            };
            if k != Kept::default() {
                found.insert(device, k);
            }
        }
        kept.lock().unwrap_or_else(|e| e.into_inner()).extend(found);
    }
    let mut complained = false;
    while let Ok(job) = jobs.recv() {
        let folder = dir.join(segment(&job.device));
        let path = folder.join(job.which.file_name());
        let temporary = folder.join(format!(".{}.tmp", job.which.file_name()));
        let written = std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(&temporary, job.jpeg.as_slice()))
            .and_then(|()| std::fs::rename(&temporary, &path));
        match written {
            Ok(()) => {
                complained = false;
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                let entry = kept.entry(job.device).or_default();
                match job.which {
                    Which::Ok => entry.ok = Some(job.at),
                    Which::Failed => entry.failed = Some(job.at),
                }
            }
            // Once per streak of failures: a full disk would otherwise log every poll of every camera.
            Err(e) if !complained => {
                complained = true;
                tracing::error!("cannot keep the snapshot {}: {e}", path.display());
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_become_one_safe_segment_and_back() {
        for name in [
            "cam-1",
            "..",
            ".hidden",
            "a/b",
            "../../etc/passwd",
            "Eingang Süd",
            "cam.2",
        ] {
            let s = segment(name);
            assert!(!s.contains('/') && !s.starts_with('.') && !s.contains(' '), "{s}");
            assert_eq!(device_of(&s).as_deref(), Some(name));
        }
        assert_eq!(segment("cam.2"), "cam.2");
    }

    #[test]
    fn pictures_are_written_overwritten_and_found_again_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::start(dir.path());
        snapshots.keep("../x", Which::Ok, 1.0, Arc::new(b"first".to_vec()));
        snapshots.keep("../x", Which::Ok, 2.0, Arc::new(b"second".to_vec()));
        snapshots.keep("../x", Which::Failed, 3.0, Arc::new(b"bad".to_vec()));
        snapshots.close();
        let path = snapshots.path("../x", Which::Ok);
        assert!(path.starts_with(dir.path().join("snapshots")));
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read(snapshots.path("../x", Which::Failed)).unwrap(), b"bad");
        assert_eq!(
            snapshots.kept()["../x"],
            Kept {
                ok: Some(2.0),
                failed: Some(3.0)
            }
        );
        let folder: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().collect();
        assert_eq!(folder.len(), 2, "no temporary files left: {folder:?}");
        let again = Snapshots::start(dir.path());
        again.close();
        let kept = again.kept();
        assert!(kept["../x"].ok.is_some() && kept["../x"].failed.is_some(), "{kept:?}");
    }
}
