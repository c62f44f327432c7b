//! Recorded footage per camera, from folders, Profile G or ISAPI searches.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraFootage {
    pub camera: String,
    /// Merged footage `[start, end)` in Unix seconds (older than the window + a day: forgotten).
    pub intervals: Vec<(i64, i64)>,
    /// Start of the oldest footage found, even when it is older than what is kept.
    pub oldest: Option<i64>,
    pub files: u64,
    /// Bytes of the segments that started in the last 24 hours.
    pub bytes_last_day: u64,
    /// Why footage the source claims for this camera was not believed (a date from an unset or
    /// wrong clock); with no intervals left, the camera has no trustworthy footage.
    pub untrusted: Option<String>,
}

impl CameraFootage {
    /// A camera with no footage yet, to be filled by a source.
    pub fn empty(camera: &str) -> Self {
        Self {
            camera: camera.to_owned(),
            intervals: Vec::new(),
            oldest: None,
            files: 0,
            bytes_last_day: 0,
            untrusted: None,
        }
    }
}

/// What a footage source holds, per camera: the same shape whether it was read from folders, an
/// ONVIF Profile G recorder or a vendor API, so one judge rules on all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FootageObservation {
    /// When the scan started (Unix seconds): the "now" coverage is computed at.
    pub scanned_at: i64,
    /// Where the footage was read, as a person names it ("/media/frigate/recordings", "the
    /// recorder's ONVIF recording search").
    pub source: String,
    /// The footage storage's size and space available (0 and 0 when the source does not say).
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub cameras: Vec<CameraFootage>,
    /// Configured cameras without any footage.
    pub missing: Vec<String>,
    /// Only for footage folders: how the tree was walked.
    pub folders: Option<FolderScan>,
    /// What the source did oddly (unbelievable dates, paths that fit no layout), for people.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderScan {
    /// Files (and folders) whose path does not fit the layout.
    pub unmatched: u64,
    /// `mtime` layout: files in camera folders that are not video (by extension), not footage.
    pub not_video: u64,
    /// Folders read on this scan, and folders whose earlier reading was reused.
    pub read: u64,
    pub reused: u64,
}
