//! The newest backup set in a backup folder.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupObservation {
    /// The backup folder walked.
    pub path: String,
    pub pattern: String,
    /// When the walk started (Unix seconds): the reference for the newest backup's age.
    pub checked_at: f64,
    /// Matching files found, and their total size.
    pub files: u64,
    pub bytes: u64,
    pub newest: Option<NewestBackup>,
    /// Matching files modified within a day before the newest one (the newest included).
    pub newest_set_files: u64,
    pub newest_set_bytes: u64,
    /// The walk stopped at [`MAX_ENTRIES`]: the figures cover only part of the folder.
    pub truncated: bool,
    /// The spec's expectations, carried so that the judge stays a function of what it is given.
    pub min_files: u64,
    pub min_bytes: u64,
    /// Things the walk skipped (unreadable or too deep subfolders).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewestBackup {
    pub path: String,
    /// Modification time (Unix seconds).
    pub modified_at: f64,
    pub size_bytes: u64,
    /// Why its first bytes could not be read; `None` when they could.
    pub read_error: Option<String>,
}
