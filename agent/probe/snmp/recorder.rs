//! The drives of a network video recorder, from the vendor's own MIB: Hikvision's hikDiskTable
//! (enterprise 50001) and Dahua's physicalVolumeInfoTable (enterprise 1004849). Hikvision and
//! Dahua (with its OEMs) make most recorders in the rooms camwatch watches.
//!
//! Free space is reported but not judged: recorders overwrite the oldest footage, so a full disk
//! is their normal state. Retention is judged from the footage itself, not from free space.

use std::collections::BTreeMap;

use super::client::{Oid, SnmpClient, SnmpValue};
use crate::config::RecorderVendor;
use crate::observation::ProbeError;
use crate::observation::recorder::{DiskState, RecorderDisk, RecorderObservation};

pub(crate) const HIK_DISK_ENTRY: &str = "1.3.6.1.4.1.50001.1.241.1";
pub(crate) const DAHUA_VOLUME_ENTRY: &str = "1.3.6.1.4.1.1004849.2.4.1.1";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

pub(crate) fn rows(walked: Vec<(Oid, SnmpValue)>, entry: &Oid) -> BTreeMap<Vec<u64>, BTreeMap<u64, SnmpValue>> {
    let mut by_index: BTreeMap<Vec<u64>, BTreeMap<u64, SnmpValue>> = BTreeMap::new();
    for (oid, value) in walked {
        if let Some([column, index @ ..]) = oid.suffix_after(entry)
            && !index.is_empty()
        {
            by_index.entry(index.to_vec()).or_default().insert(*column, value);
        }
    }
    by_index
}

fn index_text(index: &[u64]) -> String {
    index.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

pub fn hikvision_state(code: i64, capacity: Option<u64>) -> DiskState {
    match code {
        0 => DiskState::Normal,
        1 => DiskState::Unformatted,
        2 => DiskState::Abnormal,
        3 => DiskState::SmartFailed,
        4 => DiskState::Abnormal, // mismatch: a disk from another recorder
        5 => DiskState::Idle,
        6 if capacity == Some(0) => DiskState::Empty,
        6 => DiskState::NotOnline,
        10 | 11 => DiskState::Repairing,
        _ => DiskState::Unknown,
    }
}

pub fn dahua_state(text: &str) -> DiskState {
    match text.trim().to_ascii_lowercase().as_str() {
        "running" | "normal" | "read write" | "readwrite" => DiskState::Normal,
        "sleeping" | "idle" | "standby" => DiskState::Idle,
        "error" | "abnormal" | "fault" => DiskState::Abnormal,
        "offline" | "not online" => DiskState::NotOnline,
        "unformatted" => DiskState::Unformatted,
        "formatting" | "repairing" => DiskState::Repairing,
        "" | "none" | "no disk" => DiskState::Empty,
        _ => DiskState::Unknown,
    }
}

pub async fn read(client: &mut SnmpClient<'_>, vendor: RecorderVendor) -> Result<RecorderObservation, ProbeError> {
    let try_hik = matches!(vendor, RecorderVendor::Auto | RecorderVendor::Hikvision);
    let try_dahua = matches!(vendor, RecorderVendor::Auto | RecorderVendor::Dahua);
    if try_hik {
        let entry = Oid::parse(HIK_DISK_ENTRY).expect("valid");
        let table = rows(client.walk(&entry).await?, &entry);
        if !table.is_empty() {
            return Ok(hikvision(table));
        }
    }
    if try_dahua {
        let entry = Oid::parse(DAHUA_VOLUME_ENTRY).expect("valid");
        let table = rows(client.walk(&entry).await?, &entry);
        if !table.is_empty() {
            return Ok(dahua(table));
        }
    }
    let looked = match vendor {
        RecorderVendor::Hikvision => "Hikvision hikDiskTable",
        RecorderVendor::Dahua => "Dahua physicalVolumeInfoTable",
        RecorderVendor::Auto => "Hikvision hikDiskTable or Dahua physicalVolumeInfoTable",
    };
    Err(ProbeError::unsupported(format!(
        "no {looked}, so its drives cannot be checked"
    )))
}

pub(crate) fn hikvision(table: BTreeMap<Vec<u64>, BTreeMap<u64, SnmpValue>>) -> RecorderObservation {
    let mut notes = Vec::new();
    let disks = table
        .into_iter()
        .map(|(index, cols)| {
            let id = index_text(&index);
            let megabytes = |c: u64| {
                cols.get(&c)
                    .and_then(SnmpValue::as_i64)
                    .filter(|v| *v >= 0)
                    .map(|v| v as u64 * MIB)
            };
            let capacity = megabytes(5);
            let (state, reported) = match cols.get(&3).and_then(SnmpValue::as_i64) {
                Some(code) => (hikvision_state(code, capacity), format!("status {code}")),
                None => {
                    notes.push(format!("disk {id}: the recorder does not report its status"));
                    (DiskState::Unknown, "status not reported".to_owned())
                }
            };
            RecorderDisk {
                id,
                name: cols.get(&2).and_then(SnmpValue::as_text),
                state,
                reported,
                capacity_bytes: capacity,
                free_bytes: megabytes(4),
            }
        })
        .collect();
    RecorderObservation {
        vendor: "hikvision",
        disks,
        notes,
    }
}

pub(crate) fn dahua(table: BTreeMap<Vec<u64>, BTreeMap<u64, SnmpValue>>) -> RecorderObservation {
    let mut notes = Vec::new();
    let disks = table
        .into_iter()
        .map(|(index, cols)| {
            let id = index_text(&index);
            let reported = cols.get(&5).and_then(SnmpValue::as_text).unwrap_or_default();
            let state = dahua_state(&reported);
            if state == DiskState::Unknown {
                notes.push(format!("disk {id}: unknown status {reported:?}"));
            }
            let capacity = cols
                .get(&7)
                .and_then(SnmpValue::as_f64)
                .filter(|v| *v >= 0.0)
                .map(|gb| (gb * GIB as f64) as u64);
            let used_percent = cols
                .get(&6)
                .and_then(SnmpValue::as_f64)
                .filter(|p| (0.0..=100.0).contains(p));
            RecorderDisk {
                id,
                name: cols.get(&4).and_then(SnmpValue::as_text),
                state,
                reported,
                capacity_bytes: capacity,
                free_bytes: capacity
                    .zip(used_percent)
                    .map(|(c, p)| (c as f64 * (1.0 - p / 100.0)) as u64),
            }
        })
        .collect();
    RecorderObservation {
        vendor: "dahua",
        disks,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_states_map_to_one_vocabulary() {
        assert_eq!(hikvision_state(3, Some(4 << 40)), DiskState::SmartFailed);
        assert_eq!(hikvision_state(6, Some(0)), DiskState::Empty);
        assert_eq!(hikvision_state(6, Some(100)), DiskState::NotOnline);
        assert_eq!(hikvision_state(5, None), DiskState::Idle);
        assert_eq!(hikvision_state(77, None), DiskState::Unknown);
        assert_eq!(dahua_state("Running"), DiskState::Normal);
        assert_eq!(dahua_state(" Error "), DiskState::Abnormal);
        assert_eq!(dahua_state("Offline"), DiskState::NotOnline);
    }
}
