//! One source per check. Every table of a device that yields checks adds them here, naming
//! itself; a second source of a check the device already has is refused by this one rule, with
//! one message shape whichever tables clash (SNMP and ISAPI uptime, NUT and SNMP UPS, footage
//! folders and a recorder's search...). A new protocol gets the rule by adding its checks here.

use std::ops::Range;

use super::{CheckSpec, Resolver};
use crate::model::CheckKind;

/// Where a check came from.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// The table as people write it: `[device.snmp]`.
    pub table: &'static str,
    /// What to point a clash at.
    pub span: Option<Range<usize>>,
    /// How a person takes the check away from this source.
    pub leave_out: LeaveOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LeaveOut {
    /// The table has a `checks` list (or defaults for one): set it without the check.
    FromChecks,
    /// The table is the check: remove it.
    Table,
}

impl Source {
    pub fn checks_list(table: &'static str, span: Option<Range<usize>>) -> Self {
        Self {
            table,
            span,
            leave_out: LeaveOut::FromChecks,
        }
    }

    pub fn table(table: &'static str, span: Option<Range<usize>>) -> Self {
        Self {
            table,
            span,
            leave_out: LeaveOut::Table,
        }
    }

    fn fix(&self, kind: CheckKind) -> String {
        match self.leave_out {
            LeaveOut::FromChecks => format!("set {} checks without \"{kind}\"", self.table),
            LeaveOut::Table => format!("remove {}", self.table),
        }
    }
}

/// A device's checks as its tables add them, each with its source.
#[derive(Debug, Default)]
pub(super) struct Checks {
    added: Vec<(CheckSpec, Source)>,
}

impl Checks {
    pub fn has(&self, kind: CheckKind) -> bool {
        self.added.iter().any(|(c, _)| c.kind() == kind)
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
    }

    pub fn into_specs(self) -> Vec<CheckSpec> {
        self.added.into_iter().map(|(c, _)| c).collect()
    }
}

/// What a check reads, as a person says it in "reads its ... both from".
fn what_is_read(kind: CheckKind) -> String {
    match kind {
        CheckKind::Ups => "UPS".to_owned(),
        CheckKind::Retention => "footage".to_owned(),
        other => other.as_str().replace('_', " "),
    }
}

impl Resolver {
    /// Adds `check` from `source` to the device `what`, unless the device already has that check
    /// from another source: then the configuration is refused, naming both and how to keep one.
    pub(super) fn add_check(&mut self, checks: &mut Checks, what: &str, check: CheckSpec, source: Source) {
        let kind = check.kind();
        if let Some((_, first)) = checks.added.iter().find(|(c, _)| c.kind() == kind) {
            let message = format!(
                "{what} reads its {} both from {} and from {}",
                what_is_read(kind),
                first.table,
                source.table
            );
            let fix = format!("keep one source: {}, or {}", first.fix(kind), source.fix(kind));
            self.error(source.span.clone(), message, fix);
            return;
        }
        checks.added.push((check, source));
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    fn error_of(src: &str) -> String {
        parse("t.toml", src).unwrap_err().to_string()
    }

    const AUTH: &str = "[snmp_auth.default]\nversion = \"2c\"\ncommunity_env = \"C\"\n";
    const NVR: &str = "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"192.0.2.6\"\nusername = \"camwatch\"\npassword_env = \"NVR_PASSWORD\"\n";

    #[test]
    fn any_two_sources_of_one_check_clash_with_one_message() {
        let err = error_of(&format!(
            "{AUTH}{NVR}[device.snmp]\n[device.isapi]\nchecks = [\"uptime\"]\n"
        ));
        assert!(
            err.contains("device \"nvr\" reads its uptime both from [device.snmp] and from [device.isapi]"),
            "{err}"
        );
        assert!(
            err.contains(
                "fix: keep one source: set [device.snmp] checks without \"uptime\", or set [device.isapi] checks without \"uptime\""
            ),
            "{err}"
        );
        // The ONVIF search and the ISAPI search were not compared before the rule: now they are.
        let err = error_of(&format!(
            "{NVR}[device.onvif]\nchecks = [\"retention\"]\n[device.isapi]\nchecks = [\"retention\"]\n"
        ));
        assert!(
            err.contains("device \"nvr\" reads its footage both from [device.onvif] and from [device.isapi]"),
            "{err}"
        );
    }

    #[test]
    fn a_table_that_is_the_check_is_removed_whole() {
        let err = error_of(&format!(
            "{AUTH}[[device]]\nname = \"ups\"\nkind = \"ups\"\naddress = \"192.0.2.9\"\n[device.snmp]\n[device.nut]\nups = \"ups\"\n"
        ));
        assert!(
            err.contains("device \"ups\" reads its UPS both from [device.snmp] and from [device.nut]"),
            "{err}"
        );
        assert!(
            err.contains("fix: keep one source: set [device.snmp] checks without \"ups\", or remove [device.nut]"),
            "{err}"
        );
    }
}
