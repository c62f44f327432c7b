//! User-defined SNMP values against their own thresholds.

use super::{Verdict, worst_first};
use crate::model::{CheckKind, Status};
use crate::observation::values::SnmpValuesObservation;

pub fn judge_value(value: f64, spec: &crate::config::SnmpValueSpec) -> Option<(Status, String)> {
    let unit = if spec.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", spec.unit)
    };
    let beyond = |limit: Option<f64>, above: bool| limit.filter(|l| if above { value > *l } else { value < *l });
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
                    v.value.unwrap_or_default(),
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
}
