//! The report as CSV: one file per table, with stable column names (spreadsheets and scripts
//! read them by name). Times are ISO 8601 in the site's time zone; durations in seconds.

use std::path::Path;

use chrono_tz::Tz;

use super::Report;

/// A field as RFC 4180 wants it: quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

fn time(t: f64, tz: Tz) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.with_timezone(&tz).to_rfc3339())
        .unwrap_or_default()
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Every table, as (file name, CSV text).
pub fn tables(report: &Report) -> Vec<(&'static str, String)> {
    let tz: Tz = report.timezone.parse().unwrap_or(chrono_tz::UTC);
    vec![
        (
            "availability.csv",
            table(
                &[
                    "device",
                    "kind",
                    "site",
                    "policy",
                    "availability",
                    "target",
                    "up_seconds",
                    "down_seconds",
                    "budget_remaining_seconds",
                    "met",
                    "period_seconds",
                    "observed_seconds",
                ],
                report
                    .devices
                    .iter()
                    .map(|d| {
                        vec![
                            d.device.clone(),
                            d.kind.clone(),
                            d.site.clone(),
                            d.policy.clone(),
                            opt(d.availability),
                            d.target.to_string(),
                            d.up_seconds.to_string(),
                            d.down_seconds.to_string(),
                            d.budget_remaining_seconds.to_string(),
                            d.met.map(|m| m.to_string()).unwrap_or_default(),
                            d.period_seconds.to_string(),
                            d.observed_seconds.to_string(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "interruptions.csv",
            table(
                &["device", "start", "end", "seconds", "causes"],
                report
                    .recorders
                    .iter()
                    .flat_map(|r| {
                        r.interruptions.iter().map(move |i| {
                            vec![
                                r.device.clone(),
                                time(i.start, tz),
                                i.end.map(|e| time(e, tz)).unwrap_or_default(),
                                (i.end.unwrap_or(report.period.to.min(report.generated_at)) - i.start).to_string(),
                                // The causes' one name, as the JSON has them.
                                i.causes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(";"),
                            ]
                        })
                    })
                    .collect(),
            ),
        ),
        (
            "incidents.csv",
            table(
                &[
                    "id",
                    "device",
                    "check",
                    "opened",
                    "resolved",
                    "acknowledged",
                    "acknowledged_by",
                    "acknowledge_seconds",
                    "repair_seconds",
                    "part_of",
                    "summary",
                ],
                report
                    .incidents
                    .list
                    .iter()
                    .map(|i| {
                        vec![
                            i.id.to_string(),
                            i.device.clone(),
                            i.check.clone(),
                            time(i.opened_at, tz),
                            i.resolved_at.map(|r| time(r, tz)).unwrap_or_default(),
                            i.acknowledged.as_ref().map(|a| time(a.at, tz)).unwrap_or_default(),
                            i.acknowledged.as_ref().map(|a| a.by.clone()).unwrap_or_default(),
                            opt(i.acknowledge_seconds()),
                            opt(i.repair_seconds()),
                            i.joined.map(|j| j.to_string()).unwrap_or_default(),
                            i.summary.clone(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "retention.csv",
            table(
                &[
                    "device",
                    "site",
                    "camera",
                    "measured",
                    "required_seconds",
                    "contiguous_seconds",
                    "gap_seconds",
                    "gaps",
                    "compliant",
                ],
                report
                    .retention
                    .iter()
                    .map(|c| {
                        vec![
                            c.device.clone(),
                            c.site.clone(),
                            c.camera.clone(),
                            time(c.measured_at, tz),
                            c.required_seconds.to_string(),
                            c.contiguous_seconds.to_string(),
                            c.gap_seconds.to_string(),
                            c.gaps.to_string(),
                            c.compliant.to_string(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "backups.csv",
            table(
                &["device", "measured", "status", "failed_seconds", "summary"],
                report
                    .backups
                    .iter()
                    .map(|b| {
                        vec![
                            b.device.clone(),
                            time(b.measured_at, tz),
                            b.status.clone(),
                            b.failed_seconds.to_string(),
                            b.summary.clone(),
                        ]
                    })
                    .collect(),
            ),
        ),
        (
            "changes.csv",
            table(
                &["at", "device", "kind", "summary"],
                report
                    .changes
                    .iter()
                    .map(|c| vec![time(c.at, tz), c.device.clone(), c.kind.clone(), c.summary.clone()])
                    .collect(),
            ),
        ),
    ]
}

/// Writes every table into `dir` (created if needed).
pub fn write(report: &Report, dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    tables(report)
        .into_iter()
        .map(|(name, text)| {
            std::fs::write(dir.join(name), text)?;
            Ok(name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            table(&["a", "b"], vec![vec!["1".into(), "x\ny".into()]]),
            "a,b\r\n1,\"x\ny\"\r\n"
        );
    }
}
