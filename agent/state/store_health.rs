//! Whether the state store can write, as the writer thread last found it: what `/-/ready`, the
//! status page, the metrics and the agent's own incident read. The writer updates it after every
//! attempt; readers take a copy (a plain mutex held for microseconds).

use std::path::Path;
use std::sync::Mutex;

/// The store's condition at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreCondition {
    /// Since when no commit succeeded (Unix seconds); `None` while the store writes.
    pub cannot_write_since: Option<f64>,
    /// Why, in plain words (the last error), while it cannot write.
    pub reason: Option<String>,
    /// The last error says the file is damaged: the way out is in `reason`.
    pub damaged: bool,
    /// When the store last wrote again after it could not (Unix seconds).
    pub writable_again_at: Option<f64>,
    /// Rows waiting in memory to be written.
    pub backlog_rows: u64,
    /// Rows given up since the agent started: shed from a full backlog, or refused by SQLite for
    /// a reason that will not pass.
    pub shed_rows: u64,
    /// Commits that failed since the agent started.
    pub write_errors: u64,
    /// Transactions committed since the agent started.
    pub commits: u64,
}

impl StoreCondition {
    pub fn writable(&self) -> bool {
        self.cannot_write_since.is_none()
    }

    /// One sentence for a person: the reason and what is kept meanwhile.
    pub fn describe(&self) -> Option<String> {
        let reason = self.reason.as_deref()?;
        let mut text = format!(
            "The state store cannot write: {reason}. {} waiting in memory, written when it can write again",
            rows(self.backlog_rows)
        );
        if self.shed_rows > 0 {
            text.push_str(&format!("; {} given up so far", rows(self.shed_rows)));
        }
        text.push('.');
        Some(text)
    }
}

fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

/// Shared between the writer thread and the readers.
#[derive(Debug, Default)]
pub struct StoreHealth(Mutex<StoreCondition>);

impl StoreHealth {
    pub fn get(&self) -> StoreCondition {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut StoreCondition)) {
        change(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Whether a failed write may succeed later, so what it carried is worth keeping: a full disk,
/// an I/O error, a read-only or locked file, a damaged page (someone may move it aside and
/// restore it). Anything else (a constraint, a bug) would fail the same way every time.
pub fn may_pass(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DiskFull
                | SystemIoFailure
                | ReadOnly
                | DatabaseBusy
                | DatabaseLocked
                | DatabaseCorrupt
                | NotADatabase
                | CannotOpen
                | OutOfMemory
        )
    )
}

/// A failed write in plain words, naming the store's file.
pub fn plain_reason(e: &rusqlite::Error, path: &Path) -> String {
    use rusqlite::ErrorCode::*;
    let folder = path.parent().unwrap_or(path).display();
    match e.sqlite_error_code() {
        Some(DiskFull) => format!("the filesystem holding {folder} is full"),
        Some(SystemIoFailure) => format!("the disk holding {folder} reported an input/output error ({e})"),
        Some(ReadOnly) => format!(
            "{} is read-only (the file, its folder or the filesystem)",
            path.display()
        ),
        Some(DatabaseBusy | DatabaseLocked) => format!("another program holds {} locked", path.display()),
        Some(CannotOpen) => format!("{} cannot be opened ({e})", path.display()),
        _ if super::store::is_damaged(e) => damaged(path, &e.to_string()),
        _ => format!("{} ({e})", path.display()),
    }
}

/// A damaged store in plain words: what SQLite found, and the way out.
pub fn damaged(path: &Path, found: &str) -> String {
    format!(
        "{} is damaged ({found}); {}",
        path.display(),
        super::store::way_out(path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn a_full_disk_may_pass_and_is_said_plainly() {
        let full = sqlite(rusqlite::ffi::SQLITE_FULL);
        assert!(may_pass(&full));
        assert_eq!(
            plain_reason(&full, Path::new("/var/lib/camwatch/camwatch.sqlite")),
            "the filesystem holding /var/lib/camwatch is full"
        );
        assert!(!may_pass(&sqlite(rusqlite::ffi::SQLITE_CONSTRAINT)));
        let damaged = plain_reason(&sqlite(rusqlite::ffi::SQLITE_CORRUPT), Path::new("/d/camwatch.sqlite"));
        assert!(
            damaged.contains("is damaged") && damaged.contains("move the store aside"),
            "{damaged}"
        );
    }

    #[test]
    fn the_description_says_what_waits_and_what_was_given_up() {
        let mut c = StoreCondition {
            cannot_write_since: Some(1.0),
            reason: Some("the filesystem holding /d is full".into()),
            backlog_rows: 1,
            ..StoreCondition::default()
        };
        assert_eq!(
            c.describe().unwrap(),
            "The state store cannot write: the filesystem holding /d is full. 1 row waiting in memory, written when it can write again."
        );
        c.shed_rows = 12;
        assert!(c.describe().unwrap().ends_with("; 12 rows given up so far."));
        assert_eq!(StoreCondition::default().describe(), None);
    }
}
