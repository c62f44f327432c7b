//! Backup rules: the procedure says footage is backed up (weekly by default). A backup counts
//! only if it is recent, whole, and can be read back.

use super::{Verdict, human_bytes};
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::backup::BackupObservation;

/// A newest backup dated further ahead of camwatch's clock than this is suspicious: one clock
/// is wrong, and the age cannot be trusted.
const FUTURE_TOLERANCE_SECONDS: f64 = 3600.0;

/// Age of the newest backup in seconds (0 for one dated in the future), if there is one.
pub fn age_seconds(seen: &BackupObservation) -> Option<f64> {
    seen.newest.as_ref().map(|n| (seen.checked_at - n.modified_at).max(0.0))
}

pub fn judge(seen: &BackupObservation, policy: &Policy) -> Verdict {
    let clause = |finding: String| format!("{finding}; the procedure says: {}", policy.clause_backup.trim());
    let mut findings: Vec<(Status, String)> = Vec::new();
    let age = age_seconds(seen);
    match &seen.newest {
        None => findings.push((
            Status::Failed,
            clause(if seen.pattern == crate::config::DEFAULT_BACKUP_PATTERN {
                format!("no backup in {}: the folder holds no files", seen.path)
            } else {
                format!("no backup in {}: no file matches {:?}", seen.path, seen.pattern)
            }),
        )),
        Some(newest) => {
            let age = age.unwrap_or(0.0);
            let max_age = policy.backup_max_age.as_secs_f64();
            if age > max_age {
                findings.push((
                    Status::Failed,
                    clause(format!(
                        "the newest backup is {} old ({}), older than {}",
                        human_age(age),
                        utc_minute(newest.modified_at),
                        human_age(max_age)
                    )),
                ));
            }
            if let Some(error) = &newest.read_error {
                findings.push((
                    Status::Failed,
                    clause(format!(
                        "the newest backup {} cannot be read ({error}): a backup that cannot be read is no backup",
                        newest.path
                    )),
                ));
            }
            if newest.size_bytes < seen.min_bytes {
                findings.push((
                    Status::Failed,
                    clause(format!(
                        "the newest backup {} is {}, under the {} minimum: an empty or cut-off backup",
                        newest.path,
                        human_bytes(newest.size_bytes),
                        human_bytes(seen.min_bytes)
                    )),
                ));
            }
            if seen.newest_set_files < seen.min_files {
                findings.push((
                    Status::Warning,
                    format!(
                        "the newest backup set ({}) has {} of the {} expected: was the backup cut short?",
                        utc_minute(newest.modified_at),
                        files(seen.newest_set_files),
                        seen.min_files
                    ),
                ));
            }
            if newest.modified_at - seen.checked_at > FUTURE_TOLERANCE_SECONDS {
                findings.push((
                    Status::Warning,
                    format!(
                        "the newest backup is dated {}, in the future: the clock of camwatch or of the backup server is wrong",
                        utc_minute(newest.modified_at)
                    ),
                ));
            }
        }
    }
    if seen.truncated {
        findings.push((
            Status::Warning,
            format!(
                "the backup folder {} has too many entries to search whole, so a newer backup may have been missed: point path at a narrower folder",
                seen.path
            ),
        ));
    }
    let (status, summary) = super::worst_first(findings).unwrap_or_else(|| {
        let newest = seen.newest.as_ref().expect("no newest backup is a finding");
        (
            Status::Ok,
            format!(
                "newest backup {} ({} old), {}, {}",
                utc_minute(newest.modified_at),
                human_age(age.unwrap_or(0.0)),
                files(seen.files),
                human_bytes(seen.bytes)
            ),
        )
    });
    let newest = seen.newest.as_ref();
    Verdict::new(
        CheckKind::Backup,
        status,
        summary,
        serde_json::json!({
            "path": seen.path,
            "newest_path": newest.map(|n| &n.path),
            "newest_timestamp_seconds": newest.map(|n| n.modified_at),
            "newest_bytes": newest.map(|n| n.size_bytes),
            "age_seconds": age,
            "files": seen.files,
            "bytes": seen.bytes,
            "newest_set_files": seen.newest_set_files,
            "newest_set_bytes": seen.newest_set_bytes,
            "notes": seen.notes,
        }),
    )
}

fn files(n: u64) -> String {
    format!("{n} file{}", if n == 1 { "" } else { "s" })
}

/// A moment as people read it on a backup report: `2026-11-28 02:10 UTC`.
fn utc_minute(unix_seconds: f64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds.floor() as i64, 0).map_or_else(
        || format!("{unix_seconds} s"),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// An age in the two largest units that matter: `1 day 4 h`, `5 h 12 min`, `3 min`.
pub fn human_age(seconds: f64) -> String {
    let total = seconds.max(0.0) as u64;
    let (days, hours, minutes) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        (1, _) => format!("1 day {hours} h"),
        _ => format!("{days} days {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::backup::NewestBackup;

    const NOW: f64 = 1_795_918_800.0; // 2026-11-29 02:20 UTC
    const GIB: u64 = 1 << 30;

    fn seen(age_seconds: f64, size: u64, set_files: u64) -> BackupObservation {
        BackupObservation {
            path: "/mnt/backup/cctv".into(),
            pattern: "*.mp4".into(),
            checked_at: NOW,
            files: 14,
            bytes: 12 * GIB + 3 * GIB / 10,
            newest: Some(NewestBackup {
                path: "/mnt/backup/cctv/2026-11-28/cam1.mp4".into(),
                modified_at: NOW - age_seconds,
                size_bytes: size,
                read_error: None,
            }),
            newest_set_files: set_files,
            newest_set_bytes: size * set_files,
            truncated: false,
            min_files: 14,
            min_bytes: 1,
            notes: vec![],
        }
    }

    const CLAUSE: &str = "; the procedure says: Footage is backed up at least once a week.";

    #[test]
    fn a_recent_whole_readable_backup_is_ok() {
        let v = judge(&seen(86_400.0 + 4.0 * 3600.0 + 600.0, GIB, 14), &Policy::default());
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert_eq!(
            v.summary,
            "newest backup 2026-11-27 22:10 UTC (1 day 4 h old), 14 files, 12.3 GiB"
        );
        assert_eq!(v.values["age_seconds"], 101_400.0);
        assert_eq!(v.values["newest_timestamp_seconds"], NOW - 101_400.0);
        assert_eq!(v.values["files"], 14);
        assert_eq!(v.values["bytes"], 12 * GIB + 3 * GIB / 10);
        assert_eq!(v.values["newest_set_files"], 14);
    }

    #[test]
    fn too_old_fails_with_the_clause_and_the_limit_follows_the_policy() {
        let nine_days = 9.0 * 86_400.0;
        let v = judge(&seen(nine_days, GIB, 14), &Policy::default());
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            format!("the newest backup is 9 days 0 h old (2026-11-20 02:20 UTC), older than 7 days 0 h{CLAUSE}")
        );
        let lenient = Policy {
            backup_max_age: std::time::Duration::from_secs(10 * 86_400),
            clause_backup: "Backups every ten days.".into(),
            ..Policy::default()
        };
        assert_eq!(judge(&seen(nine_days, GIB, 14), &lenient).status, Status::Ok);
        let strict = Policy {
            clause_backup: "Backups every night.".into(),
            backup_max_age: std::time::Duration::from_secs(86_400),
            ..Policy::default()
        };
        let v = judge(&seen(86_401.0, GIB, 14), &strict);
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.ends_with("; the procedure says: Backups every night."),
            "{}",
            v.summary
        );
        assert_eq!(
            judge(&seen(86_400.0, GIB, 14), &strict).status,
            Status::Ok,
            "the limit itself is ok"
        );
    }

    #[test]
    fn missing_unreadable_or_small_backups_fail() {
        let p = Policy::default();
        let mut none = seen(0.0, 0, 0);
        none.newest = None;
        none.files = 0;
        let v = judge(&none, &p);
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            format!("no backup in /mnt/backup/cctv: no file matches \"*.mp4\"{CLAUSE}")
        );
        assert_eq!(v.values["age_seconds"], serde_json::Value::Null);
        none.pattern = "*".into();
        assert!(
            judge(&none, &p)
                .summary
                .starts_with("no backup in /mnt/backup/cctv: the folder holds no files")
        );

        let mut unreadable = seen(3600.0, GIB, 14);
        unreadable.newest.as_mut().unwrap().read_error = Some("Input/output error (os error 5)".into());
        let v = judge(&unreadable, &p);
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            format!(
                "the newest backup /mnt/backup/cctv/2026-11-28/cam1.mp4 cannot be read (Input/output error (os error 5)): a backup that cannot be read is no backup{CLAUSE}"
            )
        );

        let mut small = seen(3600.0, 0, 14);
        small.min_bytes = 1 << 20;
        let v = judge(&small, &p);
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.starts_with(
                "the newest backup /mnt/backup/cctv/2026-11-28/cam1.mp4 is 0 B, under the 1.0 MiB minimum"
            ),
            "{}",
            v.summary
        );
    }

    #[test]
    fn a_short_newest_set_or_a_partial_walk_is_a_warning() {
        let p = Policy::default();
        let v = judge(&seen(3600.0, GIB, 3), &p);
        assert_eq!(v.status, Status::Warning);
        assert_eq!(
            v.summary,
            "the newest backup set (2026-11-29 01:20 UTC) has 3 files of the 14 expected: was the backup cut short?"
        );
        let mut partial = seen(3600.0, GIB, 14);
        partial.truncated = true;
        assert_eq!(judge(&partial, &p).status, Status::Warning);
        let future = seen(-2.0 * 3600.0, GIB, 14);
        let v = judge(&future, &p);
        assert_eq!(v.status, Status::Warning);
        assert!(v.summary.contains("in the future"), "{}", v.summary);
        assert_eq!(v.values["age_seconds"], 0.0);
    }

    #[test]
    fn the_worst_finding_leads_and_the_rest_are_counted() {
        let mut both = seen(10.0 * 86_400.0, 0, 1);
        both.newest.as_mut().unwrap().read_error = Some("Permission denied (os error 13)".into());
        let v = judge(&both, &Policy::default());
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.starts_with("the newest backup is 10 days 0 h old"),
            "{}",
            v.summary
        );
        assert!(v.summary.ends_with("(and 3 more problems)"), "{}", v.summary);
    }

    #[test]
    fn ages_read_like_people_say_them() {
        assert_eq!(human_age(59.0), "0 min");
        assert_eq!(human_age(185.0), "3 min");
        assert_eq!(human_age(5.0 * 3600.0 + 12.0 * 60.0), "5 h 12 min");
        assert_eq!(human_age(86_400.0 + 4.0 * 3600.0), "1 day 4 h");
        assert_eq!(human_age(7.0 * 86_400.0), "7 days 0 h");
    }
}
