//! Built-in policies: the written procedures camwatch knows. `default` is the company
//! procedure; `hospital` keeps footage longer; `school` and `property` differ in wording only.
//! A `[policy.NAME]` with a preset's name changes that preset field by field, and a new policy
//! may start from one with `extends = "NAME"`.

use std::time::Duration;

use super::raw::RawPolicy;
use super::{DEFAULT_POLICY, Policy, Resolver};

pub const COMPANY_RETENTION: &str = "Recorded footage is kept for at least {retention_days} days.";
pub const COMPANY_RECORDING: &str =
    "Every camera records 24 hours a day, with no gap in recording longer than {max_recording_gap}.";

pub const COMPANY_AVAILABILITY: &str =
    "The recording system runs 24 hours a day without interruption (at least {availability_target} of every month).";

/// The names of the built-in policies, in the order shown in hints.
pub const NAMES: [&str; 5] = [DEFAULT_POLICY, "company", "hospital", "school", "property"];

/// A built-in policy by name.
pub fn preset(name: &str) -> Option<Policy> {
    let company = Policy::default();
    let with = |retention: &str, recording: &str, availability: &str| Policy {
        clause_retention: retention.to_owned(),
        clause_recording: recording.to_owned(),
        clause_availability: availability.to_owned(),
        ..Policy::default()
    };
    match name {
        DEFAULT_POLICY | "company" => Some(company),
        "hospital" => Some(Policy {
            retention_days: 90,
            ..with(
                "Footage of patient areas, entrances and pharmacies is retained for at least {retention_days} days.",
                "Cameras record continuously, day and night, with no interruption longer than {max_recording_gap}.",
                "The video surveillance system operates without interruption, 24 hours a day ({availability_target} of each month at least).",
            )
        }),
        "school" => Some(with(
            "Footage of the school premises is kept for {retention_days} days before it is deleted.",
            "Cameras record around the clock, with no interruption longer than {max_recording_gap}.",
            "The CCTV system runs around the clock, in term time and holidays ({availability_target} of each month at least).",
        )),
        "property" => Some(with(
            "Footage of the property and its common areas is retained for at least {retention_days} days.",
            "Cameras covering the property record 24 hours a day, with no gap longer than {max_recording_gap}.",
            "The recording equipment of the property runs 24 hours a day ({availability_target} of each month at least).",
        )),
        _ => None,
    }
}

pub fn all() -> Vec<(String, Policy)> {
    NAMES
        .iter()
        .map(|n| ((*n).to_owned(), preset(n).expect("every listed preset exists")))
        .collect()
}

/// A ratio as a percentage without noise: 0.999 -> "99.9 %", 1 -> "100 %".
pub fn percent(ratio: f64) -> String {
    let text = format!("{:.3}", ratio * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} %")
}

impl Policy {
    /// A clause with the policy's own figures filled in.
    pub fn clause(&self, template: &str) -> String {
        template
            .replace("{retention_days}", &self.retention_days.to_string())
            .replace("{availability_target}", &percent(self.availability_target))
            .replace(
                "{max_recording_gap}",
                &humantime::format_duration(Duration::from_secs(self.max_recording_gap.as_secs())).to_string(),
            )
    }
}

impl Resolver {
    /// What `[policy.NAME]` starts from: the preset it extends, the preset of the same name, or
    /// the default.
    pub(super) fn policy_base(&mut self, name: &str, raw: &RawPolicy) -> Policy {
        match &raw.extends {
            Some(extends) => preset(extends.get_ref()).unwrap_or_else(|| {
                self.error(
                    Some(extends.span()),
                    format!("policy {name:?}: extends unknown preset {:?}", extends.get_ref()),
                    format!("extend one of the built-in policies: {}", NAMES.join(", ")),
                );
                Policy::default()
            }),
            None => preset(name).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn presets_override_and_extend() {
        let c = parse(
            "t.toml",
            r#"
[policy.hospital]
max_recording_gap = "2m"
[policy.ward]
extends = "hospital"
clause_retention = "Ward footage: {retention_days} days."
[policy.school]
retention_days = 14
[[device]]
name = "nvr"
kind = "recorder"
address = "192.0.2.9"
policy = "ward"
"#,
        )
        .unwrap();
        let hospital = &c.policies["hospital"];
        assert_eq!(hospital.retention_days, 90);
        assert_eq!(hospital.max_recording_gap, Duration::from_secs(120));
        // `extends` starts from the built-in preset, not from the file's [policy.hospital].
        let ward = &c.devices[0].policy;
        assert_eq!(ward.retention_days, 90);
        assert_eq!(ward.max_recording_gap, Duration::from_secs(300));
        assert_eq!(ward.clause(&ward.clause_retention), "Ward footage: 90 days.");
        assert!(ward.clause_recording.contains("continuously"));
        assert_eq!(c.policies["school"].retention_days, 14);
        assert!(c.policies["school"].clause_retention.contains("school"));
        assert_eq!(c.policies["company"], c.policies["default"]);
        assert_eq!(
            c.policies["property"].clause(&c.policies["property"].clause_recording),
            "Cameras covering the property record 24 hours a day, with no gap longer than 5m."
        );
    }

    #[test]
    fn unknown_preset_points_at_extends() {
        let err = parse("t.toml", "[policy.x]\nextends = \"hosptial\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml:2:11: error: policy \"x\": extends unknown preset \"hosptial\""),
            "{err}"
        );
        assert!(err.contains("default, company, hospital, school, property"), "{err}");
        let err = parse(
            "t.toml",
            "[[device]]\nname = \"a\"\nkind = \"host\"\naddress = \"192.0.2.1\"\n[device.overrides]\nextends = \"school\"\nretention_days = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("t.toml:6:11: error: device \"a\": extends belongs in a [policy.NAME]"),
            "{err}"
        );
        assert!(
            err.contains("t.toml:7:18: error: device \"a\" overrides: retention_days is 0"),
            "{err}"
        );
    }
}
