//! A recorder's drives (Hikvision and Dahua MIBs, ISAPI).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskState {
    Normal,
    /// Spun down, waiting to be written: fine.
    Idle,
    /// An empty bay: no disk, nothing wrong.
    Empty,
    Unformatted,
    /// Repairing or formatting: temporarily not recording.
    Repairing,
    Abnormal,
    SmartFailed,
    NotOnline,
    Unknown,
}

impl DiskState {
    pub const ALL: [DiskState; 9] = [
        Self::Normal,
        Self::Idle,
        Self::Empty,
        Self::Unformatted,
        Self::Repairing,
        Self::Abnormal,
        Self::SmartFailed,
        Self::NotOnline,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Idle => "idle",
            Self::Empty => "empty",
            Self::Unformatted => "unformatted",
            Self::Repairing => "repairing",
            Self::Abnormal => "abnormal",
            Self::SmartFailed => "smart_failed",
            Self::NotOnline => "not_online",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecorderDisk {
    /// The disk's table index ("1", "1.0"): stable across polls, the `disk` label.
    pub id: String,
    pub name: Option<String>,
    pub state: DiskState,
    /// What the recorder said, for the summary and for states camwatch does not know.
    pub reported: String,
    pub capacity_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecorderObservation {
    pub vendor: &'static str,
    pub disks: Vec<RecorderDisk>,
    pub notes: Vec<String>,
}
