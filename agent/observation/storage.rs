//! A host's or NAS box's volumes and disks (HOST-RESOURCES-MIB).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volume {
    /// hrStorageDescr: a mount point on Unix agents, a label on NAS boxes.
    pub name: String,
    pub kind: &'static str,
    pub size_bytes: u64,
    pub used_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Running,
    Warning,
    Testing,
    Down,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskDevice {
    pub name: String,
    pub status: DeviceStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageObservation {
    pub volumes: Vec<Volume>,
    pub disks: Vec<DiskDevice>,
    pub notes: Vec<String>,
}
