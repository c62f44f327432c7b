//! Reports mailed on a schedule: on the 1st the month before, on Mondays the ISO week before, as
//! the self-contained HTML report attached to a short mail, through the outbox (so an SMTP outage
//! or a restart loses none, and a stable Message-ID sends none twice).

use chrono::{Datelike, NaiveDate, Weekday};

use crate::config::Config;
use crate::config::email::ReportMail;
use crate::shared::Shared;

/// The periods due on local day `day` for the schedules asked for.
pub fn due(day: NaiveDate, schedules: &[ReportMail]) -> Vec<String> {
    let mut out = Vec::new();
    if schedules.contains(&ReportMail::Monthly) && day.day() == 1 {
        let previous = day.pred_opt().unwrap_or(day);
        out.push(format!("{:04}-{:02}", previous.year(), previous.month()));
    }
    if schedules.contains(&ReportMail::Weekly) && day.weekday() == Weekday::Mon {
        let week = (day - chrono::Duration::days(7)).iso_week();
        out.push(format!("{:04}-W{:02}", week.year(), week.week()));
    }
    out
}

/// Builds the report for `period` and queues its mail; `Ok(false)` when it was queued before.
pub async fn mail(shared: &Shared, config: &Config, label: &str, now: f64) -> Result<bool, String> {
    let email = config
        .email
        .as_ref()
        .ok_or("no [email] table: reports are not mailed")?;
    if email.to.is_empty() {
        return Err("[email] to is empty: nobody to mail reports to".to_owned());
    }
    let store = shared.hub.store().ok_or("this agent keeps no state store")?;
    let period = crate::report::period::parse(label, config.agent.timezone)?;
    let (path, built_config) = (store.path.clone(), config.clone());
    let report = crate::state::store::read(path, move |conn| {
        crate::report::build(&built_config, conn, period, crate::report::Unreachable::Down, now)
    })
    .await
    .map_err(|e| format!("building the report failed: {e}"))?
    .map_err(|e| format!("cannot read the state store: {e}"))?;
    let under = report.devices.iter().filter(|d| d.met == Some(false)).count();
    let incidents = &report.incidents;
    let text = format!(
        "camwatch report for {label}{}\n\n{} devices, {under} under their availability target.\nIncidents: {} opened, {} resolved, {} still open.\nRetention: {} of {} cameras compliant.\n\nThe whole report is attached (open it in a browser; it prints to PDF).\n",
        if config.agent.site.is_empty() {
            String::new()
        } else {
            format!(" ({})", config.agent.site)
        },
        report.devices.len(),
        incidents.opened,
        incidents.resolved,
        incidents.still_open,
        report.retention.iter().filter(|c| c.compliant).count(),
        report.retention.len(),
    );
    // One per period and site: a restart or a second run of the same day queues nothing new.
    let message = super::compose::plain_message(
        email,
        "report",
        &format!("report.{label}"),
        format!("{}camwatch report {label}", super::compose::subject_prefix(config)),
        text,
        Some((
            format!("camwatch-report-{label}.html"),
            crate::report::html::render(&report).into_bytes(),
        )),
        now,
    );
    Ok(super::outbox::enqueue(store, message).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_month_before_on_the_first_and_the_week_before_on_mondays() {
        let both = [ReportMail::Monthly, ReportMail::Weekly];
        // 2026-12-01 is a Tuesday.
        assert_eq!(due(day("2026-12-01"), &both), ["2026-11"]);
        // 2026-11-30 is a Monday: the week of 23-29 November, ISO week 48.
        assert_eq!(due(day("2026-11-30"), &both), ["2026-W48"]);
        // 2027-03-01 is a Monday and the 1st: both.
        assert_eq!(due(day("2027-03-01"), &both), ["2027-02", "2027-W08"]);
        // January: the December before; the first week of 2027 belongs to ISO year 2026's W53.
        assert_eq!(due(day("2027-01-04"), &both), ["2026-W53"]);
        assert_eq!(due(day("2027-01-01"), &both), ["2026-12"]);
        assert!(due(day("2026-11-29"), &both).is_empty());
        assert!(due(day("2026-12-01"), &[ReportMail::Weekly]).is_empty());
    }
}
