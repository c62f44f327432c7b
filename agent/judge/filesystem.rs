//! Disk space rules: footage stops being written when the disk fills, and silently lands on the
//! wrong disk when a footage mount disappears.

use super::{Verdict, human_bytes};
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::filesystem::{FilesystemObservation, Mount};

pub fn free_percent(mount: &Mount) -> f64 {
    if mount.size_bytes == 0 {
        0.0
    } else {
        mount.avail_bytes as f64 * 100.0 / mount.size_bytes as f64
    }
}

/// The policy's free-space rule for one filesystem or volume, if it is broken.
pub fn space_finding(name: &str, size_bytes: u64, avail_bytes: u64, policy: &Policy) -> Option<(Status, String)> {
    let free = if size_bytes == 0 {
        0.0
    } else {
        avail_bytes as f64 * 100.0 / size_bytes as f64
    };
    let figures = format!(
        "{free:.1} % free ({} of {})",
        human_bytes(avail_bytes),
        human_bytes(size_bytes)
    );
    if free < policy.filesystem_failed_free_percent {
        Some((
            Status::Failed,
            format!(
                "{name} is nearly full: {figures}, under the {} % limit",
                policy.filesystem_failed_free_percent
            ),
        ))
    } else if free < policy.filesystem_warning_free_percent {
        Some((
            Status::Warning,
            format!(
                "{name} is filling up: {figures}, under the {} % warning level",
                policy.filesystem_warning_free_percent
            ),
        ))
    } else {
        None
    }
}

pub fn judge(seen: &FilesystemObservation, policy: &Policy) -> Verdict {
    let mut findings: Vec<(Status, String)> = Vec::new();
    for missing in &seen.missing {
        findings.push((
            Status::Failed,
            format!("{missing} is not mounted, so anything written there lands on the disk below it"),
        ));
    }
    for m in &seen.mounts {
        if m.readonly {
            // A footage disk remounted read-only after errors stops recording; an unlisted one
            // may be read-only by design (a rescue or image mount), so only warn about those.
            let status = if seen.explicit { Status::Failed } else { Status::Warning };
            findings.push((
                status,
                format!("{} is read-only, nothing can be recorded on it", m.mountpoint),
            ));
        } else if let Some(finding) = space_finding(&m.mountpoint, m.size_bytes, m.avail_bytes, policy) {
            findings.push(finding);
        }
    }
    let (status, summary) = match super::worst_first(findings) {
        Some(found) => found,
        None => match seen
            .mounts
            .iter()
            .min_by(|a, b| free_percent(a).total_cmp(&free_percent(b)))
        {
            Some(least) => (
                Status::Ok,
                format!(
                    "{} filesystem{} with enough space; least free: {} with {:.1} %",
                    seen.mounts.len(),
                    if seen.mounts.len() == 1 { "" } else { "s" },
                    least.mountpoint,
                    free_percent(least)
                ),
            ),
            None => (
                Status::Unknown,
                "no disk filesystems found on this host; list the mount points to watch in [device.filesystem]"
                    .to_owned(),
            ),
        },
    };
    let mounts: Vec<serde_json::Value> = seen
        .mounts
        .iter()
        .map(|m| {
            serde_json::json!({
                "mountpoint": m.mountpoint,
                "fs_type": m.fs_type,
                "size_bytes": m.size_bytes,
                "avail_bytes": m.avail_bytes,
                "free_ratio": free_percent(m) / 100.0,
                "readonly": m.readonly,
            })
        })
        .collect();
    Verdict {
        check: CheckKind::Filesystem,
        status,
        summary,
        values: serde_json::json!({ "mounts": mounts, "missing": seen.missing }),
        immediate: false,
        memory: None,
        events: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn mount(mountpoint: &str, size_gib: u64, avail_gib: u64, readonly: bool) -> Mount {
        Mount {
            mountpoint: mountpoint.into(),
            fs_type: "ext4".into(),
            device: "/dev/sda1".into(),
            size_bytes: size_gib * GIB,
            avail_bytes: avail_gib * GIB,
            readonly,
        }
    }

    fn seen(mounts: Vec<Mount>, missing: Vec<&str>, explicit: bool) -> FilesystemObservation {
        FilesystemObservation {
            mounts,
            missing: missing.into_iter().map(String::from).collect(),
            explicit,
        }
    }

    #[test]
    fn thresholds_follow_the_policy() {
        let p = Policy::default();
        let ok = judge(
            &seen(
                vec![mount("/", 100, 50, false), mount("/srv", 100, 20, false)],
                vec![],
                false,
            ),
            &p,
        );
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(
            ok.summary,
            "2 filesystems with enough space; least free: /srv with 20.0 %"
        );

        let warn = judge(&seen(vec![mount("/srv", 100, 10, false)], vec![], false), &p);
        assert_eq!(warn.status, Status::Warning);
        assert_eq!(
            warn.summary,
            "/srv is filling up: 10.0 % free (10.0 GiB of 100.0 GiB), under the 15 % warning level"
        );

        let fail = judge(
            &seen(
                vec![mount("/srv", 100, 4, false), mount("/", 100, 10, false)],
                vec![],
                false,
            ),
            &p,
        );
        assert_eq!(fail.status, Status::Failed);
        assert!(fail.summary.starts_with("/srv is nearly full"), "{}", fail.summary);
        assert!(fail.summary.ends_with("(and 1 more problem)"), "{}", fail.summary);
    }

    #[test]
    fn missing_and_read_only_footage_disks_fail() {
        let p = Policy::default();
        let v = judge(&seen(vec![], vec!["/srv/footage"], true), &p);
        assert_eq!(v.status, Status::Failed);
        assert!(v.summary.contains("/srv/footage is not mounted"));

        let v = judge(&seen(vec![mount("/srv", 100, 50, true)], vec![], true), &p);
        assert_eq!(v.status, Status::Failed);
        let v = judge(&seen(vec![mount("/srv", 100, 50, true)], vec![], false), &p);
        assert_eq!(v.status, Status::Warning);
    }

    #[test]
    fn nothing_found_is_unknown_and_values_are_base_units() {
        let p = Policy::default();
        assert_eq!(judge(&seen(vec![], vec![], false), &p).status, Status::Unknown);
        let v = judge(&seen(vec![mount("/", 4, 1, false)], vec![], false), &p);
        assert_eq!(v.values["mounts"][0]["size_bytes"], 4 * GIB);
        assert_eq!(v.values["mounts"][0]["free_ratio"], 0.25);
    }
}
