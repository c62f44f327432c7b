//! `[device.backup]`: the folder where footage backups land, as the agent sees it (a local disk,
//! or an NFS/SMB mount of the backup server), resolved into a [`BackupSpec`].

use std::path::PathBuf;

use toml::Spanned;

use std::ops::Range;

use super::raw::{RawBackup, RawPolicy};
use super::{CheckSpec, Policy, Resolver};

/// Default file name pattern: every file counts as part of a backup.
pub const DEFAULT_PATTERN: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSpec {
    /// The backup folder (absolute).
    pub path: PathBuf,
    /// Which file names are backup files.
    pub pattern: FilePattern,
    /// Search subfolders too (backup tools often write one folder per day or camera).
    pub recursive: bool,
    /// Files expected in the newest backup set; fewer is a warning (a backup cut short).
    pub min_files: u64,
    /// The newest backup file must be at least this large; smaller is a failure.
    pub min_bytes: u64,
}

/// A simple glob on file names: `*` any run of characters, `?` one character, everything else
/// itself (case-sensitive, as the file systems that hold footage are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern(String);

impl FilePattern {
    /// `Err` says what is wrong, for the configuration diagnostic.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("is empty".to_owned());
        }
        if text.contains('/') {
            return Err("contains a '/': it matches file names, not paths".to_owned());
        }
        // Refused rather than taken literally: someone writing `[0-9]` or `{a,b}` expects a glob
        // class, and a pattern that silently matches nothing would report "no backup" forever.
        if let Some(c) = text.chars().find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\')) {
            return Err(format!("uses {c:?}, which camwatch's patterns do not support"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` (a file name, not a path) matches.
    pub fn matches(&self, name: &str) -> bool {
        let pattern: Vec<char> = self.0.chars().collect();
        let name: Vec<char> = name.chars().collect();
        // Greedy matching with one backtrack point (the last `*`): linear in practice, and never
        // exponential on patterns like `*a*a*a*b`.
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == '?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == '*')
    }
}

impl Resolver {
    /// The backup keys of a resolved policy; `at` turns a key's span (if written here) into
    /// where to point.
    pub(super) fn check_backup_policy(
        &mut self,
        policy: &Policy,
        raw: &RawPolicy,
        at: &impl Fn(Option<Range<usize>>) -> Option<Range<usize>>,
        what: &str,
    ) {
        if policy.backup_max_age.is_zero() {
            self.error(
                at(raw.backup_max_age.as_ref().map(Spanned::span)),
                format!("{what}: backup_max_age is zero, so every backup would be too old"),
                "write how recent the newest backup must be, like \"7days\" for a weekly backup",
            );
        }
        if policy.clause_backup.trim().is_empty() {
            self.error(
                at(raw.clause_backup.as_ref().map(Spanned::span)),
                format!("{what}: clause_backup is empty"),
                "quote the procedure's sentence, like \"Footage is backed up at least once a week.\"",
            );
        }
    }

    pub(super) fn backup_check(
        &mut self,
        table: Option<&Spanned<RawBackup>>,
        name: &str,
        checks: &mut super::sources::Checks,
    ) {
        let Some(table) = table else { return };
        let t = table.get_ref();
        let what = format!("device {name:?} [device.backup]");
        let path = match &t.path {
            None => {
                self.error(
                    Some(table.span()),
                    format!("{what} has no path"),
                    "add path = \"/mnt/backup/cctv\": the backup folder as this machine sees it (a local disk or a mount of the backup server)",
                );
                return;
            }
            Some(p) if !p.get_ref().is_absolute() => {
                self.error(
                    Some(p.span()),
                    format!("{what}: path {:?} is not an absolute path", p.get_ref()),
                    "write the full path of the backup folder, like \"/mnt/backup/cctv\"",
                );
                return;
            }
            Some(p) => p.get_ref().clone(),
        };
        let pattern = match &t.pattern {
            None => Some(FilePattern(DEFAULT_PATTERN.to_owned())),
            Some(p) => FilePattern::parse(p.get_ref())
                .map_err(|problem| {
                    self.error(
                        Some(p.span()),
                        format!("{what}: pattern {:?} {problem}", p.get_ref()),
                        "match file names with * (any characters) and ? (one character), like \"*.mp4\" or \"cam??-*.mkv\"",
                    )
                })
                .ok(),
        };
        let min_files = t.min_files.as_ref().map_or(1, |m| *m.get_ref());
        if min_files == 0 {
            self.error(
                t.min_files.as_ref().map(Spanned::span),
                format!("{what}: min_files is 0"),
                "set it to the number of files one backup run writes (1 or more)",
            );
        }
        let Some(pattern) = pattern else { return };
        let check = CheckSpec::Backup(BackupSpec {
            path,
            pattern,
            recursive: t.recursive.unwrap_or(true),
            min_files,
            min_bytes: t.min_bytes.as_ref().map_or(1, |m| *m.get_ref()),
        });
        let source = super::sources::Source::table("[device.backup]", Some(table.span()));
        self.add_check(checks, &format!("device {name:?}"), check, source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::time::Duration;

    fn pattern(text: &str) -> FilePattern {
        FilePattern::parse(text).unwrap()
    }

    #[test]
    fn globs_match_whole_file_names() {
        assert!(pattern("*").matches("anything.mp4"));
        assert!(pattern("*.mp4").matches("cam1-2026-11-28.mp4"));
        assert!(!pattern("*.mp4").matches("cam1.mp4.part"));
        assert!(!pattern("*.mp4").matches("cam1.MP4"), "case-sensitive");
        assert!(pattern("cam??-*.mkv").matches("cam01-night.mkv"));
        assert!(!pattern("cam??-*.mkv").matches("cam1-night.mkv"));
        assert!(pattern("a*b*c").matches("aXbYbZc"));
        assert!(!pattern("a*b*c").matches("aXbYbZ"));
        assert!(pattern("*a*a*a*b").matches("aaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!pattern("*a*a*a*b").matches("aaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(pattern("é?.mp4").matches("éa.mp4"), "? is one character, not one byte");
        assert!(pattern("**").matches(""));
        assert!(!pattern("?").matches(""));
    }

    #[test]
    fn unsupported_patterns_are_refused() {
        for bad in ["", "2026/*.mp4", "cam[0-9].mp4", "{a,b}.mp4", "a\\*"] {
            assert!(FilePattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backup_table_and_policy_defaults_and_layers() {
        let c = parse(
            "t.toml",
            r#"
[policy.weekly]
backup_max_age = "8days"
clause_backup = "Backups: weekly, on Sunday night."
[[device]]
name = "backup-nas"
kind = "storage"
policy = "weekly"
[device.backup]
path = "/mnt/backup/cctv"
pattern = "*.mp4"
recursive = false
min_files = 14
min_bytes = 1048576
[device.overrides]
backup_max_age = "9days"
[[device]]
name = "usb"
kind = "storage"
[device.backup]
path = "/media/usb"
"#,
        )
        .unwrap();
        let nas = &c.devices[0];
        assert_eq!(
            nas.checks,
            vec![CheckSpec::Backup(BackupSpec {
                path: "/mnt/backup/cctv".into(),
                pattern: pattern("*.mp4"),
                recursive: false,
                min_files: 14,
                min_bytes: 1_048_576,
            })]
        );
        assert_eq!(nas.policy.backup_max_age, Duration::from_secs(9 * 86_400));
        assert_eq!(nas.policy.clause_backup, "Backups: weekly, on Sunday night.");
        let usb = &c.devices[1];
        let CheckSpec::Backup(spec) = &usb.checks[0] else {
            panic!("{:?}", usb.checks)
        };
        assert!(spec.recursive);
        assert_eq!((spec.min_files, spec.min_bytes), (1, 1));
        assert_eq!(spec.pattern.as_str(), "*");
        assert_eq!(usb.policy.backup_max_age, Duration::from_secs(7 * 86_400));
        assert_eq!(usb.policy.clause_backup, "Footage is backed up at least once a week.");
    }

    #[test]
    fn backup_mistakes_are_reported_together() {
        let text = parse(
            "t.toml",
            r#"
[policy.default]
backup_max_age = "0s"
clause_backup = " "
[[device]]
name = "a"
kind = "storage"
[device.backup]
pattern = "*.mp4"
[[device]]
name = "b"
kind = "storage"
[device.backup]
path = "backup"
[[device]]
name = "c"
kind = "storage"
[device.backup]
path = "/mnt/backup"
pattern = "cam[12].mp4"
min_files = 0
"#,
        )
        .unwrap_err()
        .to_string();
        assert!(text.contains("policy \"default\": backup_max_age is zero"), "{text}");
        assert!(text.contains("policy \"default\": clause_backup is empty"), "{text}");
        assert!(text.contains("device \"a\" [device.backup] has no path"), "{text}");
        assert!(text.contains("path \"backup\" is not an absolute path"), "{text}");
        assert!(
            text.contains("pattern \"cam[12].mp4\" uses '[', which camwatch's patterns do not support"),
            "{text}"
        );
        assert!(text.contains("device \"c\" [device.backup]: min_files is 0"), "{text}");
    }
}
