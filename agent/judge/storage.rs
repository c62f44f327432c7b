//! Remote disks and volumes (HOST-RESOURCES-MIB): the same free-space rule as local filesystems,
//! and a disk device the host itself calls down (failed) or in warning.

use super::filesystem::space_finding;
use super::{Verdict, worst_first};
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::storage::{DeviceStatus, DiskDevice, StorageObservation};

pub fn judge(seen: &StorageObservation, policy: &Policy) -> Verdict {
    let mut findings: Vec<(Status, String)> = seen
        .volumes
        .iter()
        .filter_map(|v| space_finding(&v.name, v.size_bytes, v.size_bytes - v.used_bytes, policy))
        .collect();
    for disk in &seen.disks {
        match disk.status {
            DeviceStatus::Down => findings.push((Status::Failed, format!("disk {} is down", disk.name))),
            DeviceStatus::Warning => findings.push((Status::Warning, format!("disk {} reports a warning", disk.name))),
            DeviceStatus::Running | DeviceStatus::Testing | DeviceStatus::Unknown => {}
        }
    }
    let (status, summary) = worst_first(findings).unwrap_or_else(|| {
        if seen.volumes.is_empty() {
            (
                Status::Unknown,
                "the host lists no disk volumes in its storage table".to_owned(),
            )
        } else {
            (
                Status::Ok,
                format!(
                    "{} volume{} with enough space{}",
                    seen.volumes.len(),
                    if seen.volumes.len() == 1 { "" } else { "s" },
                    disks_summary(&seen.disks)
                ),
            )
        }
    });
    Verdict::new(
        CheckKind::Storage,
        status,
        summary,
        serde_json::json!({ "volumes": seen.volumes, "disks": seen.disks, "notes": seen.notes }),
    )
}

/// ", 3 disks running, 12 of unknown status": each disk counted under the status it reports
/// (a disk that reports none is not running as far as anyone knows).
fn disks_summary(disks: &[DiskDevice]) -> String {
    let count = |status: DeviceStatus| disks.iter().filter(|d| d.status == status).count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut parts = Vec::new();
    let running = count(DeviceStatus::Running);
    if running > 0 {
        parts.push(format!("{running} disk{} running", plural(running)));
    }
    let testing = count(DeviceStatus::Testing);
    if testing > 0 {
        parts.push(format!("{testing} disk{} testing", plural(testing)));
    }
    let unknown = count(DeviceStatus::Unknown);
    if unknown > 0 {
        parts.push(format!("{unknown} disk{} of unknown status", plural(unknown)));
    }
    parts.iter().map(|p| format!(", {p}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::storage::Volume;

    #[test]
    fn only_disks_that_say_so_are_running() {
        let disk = |name: &str, status| DiskDevice {
            name: name.into(),
            status,
        };
        let seen = StorageObservation {
            volumes: vec![volume("/", 100, 10)],
            disks: vec![
                disk("sda", DeviceStatus::Running),
                disk("md0", DeviceStatus::Unknown),
                disk("md1", DeviceStatus::Unknown),
            ],
            notes: vec![],
        };
        let v = judge(&seen, &Policy::default());
        assert_eq!(v.status, Status::Ok);
        assert_eq!(
            v.summary,
            "1 volume with enough space, 1 disk running, 2 disks of unknown status"
        );
        let seen = StorageObservation {
            disks: vec![disk("md0", DeviceStatus::Unknown)],
            ..seen
        };
        assert_eq!(
            judge(&seen, &Policy::default()).summary,
            "1 volume with enough space, 1 disk of unknown status"
        );
    }

    fn volume(name: &str, size: u64, used: u64) -> Volume {
        Volume {
            name: name.into(),
            kind: "fixed_disk",
            size_bytes: size,
            used_bytes: used,
        }
    }

    #[test]
    fn full_volumes_and_down_disks_fail() {
        let p = Policy::default();
        let seen = StorageObservation {
            volumes: vec![volume("/volume1", 100, 97), volume("/", 100, 10)],
            disks: vec![DiskDevice {
                name: "sda".into(),
                status: DeviceStatus::Running,
            }],
            notes: vec![],
        };
        let v = judge(&seen, &p);
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.starts_with("/volume1 is nearly full: 3.0 % free"),
            "{}",
            v.summary
        );

        let seen = StorageObservation {
            volumes: vec![volume("/", 100, 10)],
            disks: vec![DiskDevice {
                name: "sdb".into(),
                status: DeviceStatus::Down,
            }],
            notes: vec![],
        };
        assert_eq!(judge(&seen, &p).summary, "disk sdb is down");
    }
}
