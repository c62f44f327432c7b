//! The filesystems of the machine the agent runs on.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub mountpoint: String,
    pub fs_type: String,
    pub device: String,
    pub size_bytes: u64,
    pub avail_bytes: u64,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesystemObservation {
    pub mounts: Vec<Mount>,
    /// Mount points the configuration asked for that are not mounted.
    pub missing: Vec<String>,
    /// Whether the configuration named the mount points (a read-only one is then a fault).
    pub explicit: bool,
}
