//! How bad a fault is for the procedure. Incidents carry it, notification routes match on it and
//! the configuration accepts its names; the shipped alert rules (`alerts/`) label the alerts of a
//! check with the same word (`tests/dashboards.rs` holds them to `of_check`).

use std::fmt;

/// `Critical` when footage is being lost or is about to be (recording, retention, the
/// recorder's disks and power, backups), `Major` otherwise (a camera unreachable or blurred is
/// serious, but the rest of the room still records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Major,
}

impl Severity {
    pub const ALL: [Severity; 2] = [Severity::Critical, Severity::Major];

    /// The names as configured and stored: `["critical", "major"]`.
    pub const NAMES: [&'static str; 2] = ["critical", "major"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => Self::NAMES[0],
            Self::Major => Self::NAMES[1],
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The severity of a fault of the check named `check`.
    pub fn of_check(check: &str) -> Self {
        match check {
            "retention" | "availability" | "recorder_disks" | "storage" | "ups" | "backup" | "filesystem" => {
                Self::Critical
            }
            _ => Self::Major,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Severity::parse("warning"), None);
    }
}
