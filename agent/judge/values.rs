//! User-defined SNMP values against their own thresholds.

use super::{Verdict, worst_first};
use crate::model::{CheckKind, Status};
use crate::observation::values::SnmpValuesObservation;

/// A scaled figure as people read it: six significant digits, no trailing zeros (66 × 0.1 is
/// 6.6000000000000005 in floating point, and "6.6" to anyone reading a summary). The exact value
/// stays in the verdict's JSON and the metrics.
pub fn for_people(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i64;
    let decimals = (5 - magnitude).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

pub fn judge_value(value: f64, spec: &crate::config::SnmpValueSpec) -> Option<(Status, String)> {
    let exact = value;
    let value = for_people(value);
    let unit = if spec.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", spec.unit)
    };
    let beyond = |limit: Option<f64>, above: bool| {
        limit
            .filter(|l| if above { exact > *l } else { exact < *l })
            .map(for_people)
    };
    if let Some(l) = beyond(spec.failed_above, true) {
        return Some((
            Status::Failed,
            format!("{} is {value}{unit}, above the {l}{unit} limit", spec.name),
        ));
    }
    if let Some(l) = beyond(spec.failed_below, false) {
        return Some((
            Status::Failed,
            format!("{} is {value}{unit}, below the {l}{unit} limit", spec.name),
        ));
    }
    if let Some(l) = beyond(spec.warning_above, true) {
        return Some((
            Status::Warning,
            format!("{} is {value}{unit}, above the {l}{unit} warning level", spec.name),
        ));
    }
    if let Some(l) = beyond(spec.warning_below, false) {
        return Some((
            Status::Warning,
            format!("{} is {value}{unit}, below the {l}{unit} warning level", spec.name),
        ));
    }
    None
}

pub fn judge(seen: &SnmpValuesObservation) -> Verdict {
    let mut findings = Vec::new();
    for read in &seen.values {
        match read.value {
            Some(v) => findings.extend(judge_value(v, &read.spec)),
            None => findings.push((Status::Warning, format!("{} could not be read", read.name))),
        }
    }
    let (status, summary) = worst_first(findings).unwrap_or_else(|| {
        let listed: Vec<String> = seen
            .values
            .iter()
            .map(|v| {
                format!(
                    "{} {}{}",
                    v.name,
                    for_people(v.value.unwrap_or_default()),
                    if v.unit.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", v.unit)
                    }
                )
            })
            .collect();
        (Status::Ok, listed.join(", "))
    });
    Verdict::new(
        CheckKind::SnmpValues,
        status,
        summary,
        serde_json::json!({ "values": seen.values, "notes": seen.notes }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SnmpValueSpec;

    fn temperature() -> SnmpValueSpec {
        SnmpValueSpec {
            name: "room_temperature".into(),
            oid: vec![1, 3, 6, 1, 4, 1, 9],
            scale: 0.1,
            unit: "celsius".into(),
            warning_above: Some(30.0),
            failed_above: Some(35.0),
            warning_below: None,
            failed_below: Some(5.0),
        }
    }

    #[test]
    fn thresholds_in_order_of_severity() {
        let t = temperature();
        assert_eq!(judge_value(25.0, &t), None);
        assert_eq!(judge_value(31.0, &t).unwrap().0, Status::Warning);
        let (status, text) = judge_value(36.5, &t).unwrap();
        assert_eq!(status, Status::Failed);
        assert_eq!(text, "room_temperature is 36.5 celsius, above the 35 celsius limit");
        assert_eq!(judge_value(-1.0, &t).unwrap().0, Status::Failed);
    }

    #[test]
    fn scaled_values_are_rounded_for_people_and_exact_in_the_values() {
        let amperes = 66.0 * 0.1;
        assert_eq!(amperes, 6.6000000000000005);
        assert_eq!(for_people(amperes), "6.6");
        assert_eq!(for_people(36.5), "36.5");
        assert_eq!(for_people(35.0), "35");
        assert_eq!(for_people(-0.30000000000000004), "-0.3");
        assert_eq!(for_people(123_456_789.0), "123456789");
        assert_eq!(for_people(0.000_123_4), "0.0001234");
        let mut spec = temperature();
        spec.name = "pdu_current".into();
        spec.unit = "amperes".into();
        spec.warning_above = Some(6.0);
        spec.failed_above = None;
        let (_, text) = judge_value(amperes, &spec).unwrap();
        assert_eq!(text, "pdu_current is 6.6 amperes, above the 6 amperes warning level");
        let seen = SnmpValuesObservation {
            values: vec![crate::observation::values::ReadValue {
                name: "pdu_current".into(),
                oid: "1.3.6.1.4.1.9".into(),
                value: Some(amperes),
                unit: "amperes".into(),
                spec: SnmpValueSpec {
                    warning_above: None,
                    ..spec
                },
            }],
            notes: vec![],
        };
        let v = judge(&seen);
        assert_eq!(v.summary, "pdu_current 6.6 amperes");
        assert_eq!(v.values["values"][0]["value"], amperes, "{}", v.values);
    }
}
