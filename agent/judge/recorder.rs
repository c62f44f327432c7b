//! Recorder drives: a drive that failed SMART, went abnormal or dropped offline is a failed check
//! (footage is not being kept on it); an empty bay or an idle drive is fine.

use super::{Verdict, worst_first};
use crate::model::{CheckKind, Status};
use crate::observation::recorder::{DiskState, RecorderObservation};

pub fn disk_status(state: DiskState) -> Status {
    match state {
        DiskState::Normal | DiskState::Idle | DiskState::Empty => Status::Ok,
        DiskState::Unformatted | DiskState::Repairing | DiskState::Unknown => Status::Warning,
        DiskState::Abnormal | DiskState::SmartFailed | DiskState::NotOnline => Status::Failed,
    }
}

pub fn judge(seen: &RecorderObservation) -> Verdict {
    let findings: Vec<(Status, String)> = seen
        .disks
        .iter()
        .filter_map(|d| {
            let status = disk_status(d.state);
            let name = d.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            (status != Status::Ok).then(|| {
                let what = match d.state {
                    DiskState::SmartFailed => "failed its SMART self-check".to_owned(),
                    DiskState::Abnormal => "is abnormal".to_owned(),
                    DiskState::NotOnline => "is not online".to_owned(),
                    DiskState::Unformatted => "is not formatted, nothing is recorded on it".to_owned(),
                    DiskState::Repairing => "is being repaired or formatted".to_owned(),
                    _ => format!("is in a state camwatch does not know ({})", d.reported),
                };
                (status, format!("disk {}{name} {what}", d.id))
            })
        })
        .collect();
    let installed = seen.disks.iter().filter(|d| d.state != DiskState::Empty).count();
    let (status, summary) = worst_first(findings).unwrap_or_else(|| {
        if installed == 0 {
            (
                Status::Failed,
                "the recorder reports no installed disk: nothing can be recorded".to_owned(),
            )
        } else {
            (
                Status::Ok,
                format!("{installed} disk{} healthy", if installed == 1 { "" } else { "s" }),
            )
        }
    });
    Verdict::new(
        CheckKind::RecorderDisks,
        status,
        summary,
        serde_json::json!({ "vendor": seen.vendor, "disks": seen.disks, "notes": seen.notes }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::recorder::RecorderDisk;

    fn disk(id: &str, state: DiskState) -> RecorderDisk {
        RecorderDisk {
            id: id.into(),
            name: None,
            state,
            reported: "status".into(),
            capacity_bytes: Some(4 << 40),
            free_bytes: Some(0),
        }
    }

    #[test]
    fn failed_drives_fail_empty_bays_do_not() {
        let seen = RecorderObservation {
            vendor: "hikvision",
            disks: vec![
                disk("1", DiskState::Normal),
                disk("2", DiskState::Empty),
                disk("3", DiskState::SmartFailed),
            ],
            notes: vec![],
        };
        let v = judge(&seen);
        assert_eq!(v.status, Status::Failed);
        assert_eq!(v.summary, "disk 3 failed its SMART self-check");
        let seen = RecorderObservation {
            vendor: "hikvision",
            disks: vec![disk("1", DiskState::Idle), disk("2", DiskState::Empty)],
            notes: vec![],
        };
        let v = judge(&seen);
        assert_eq!(v.status, Status::Ok, "a full disk is a recorder's normal state");
        assert_eq!(v.summary, "1 disk healthy");
    }
}
