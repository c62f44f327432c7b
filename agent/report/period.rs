//! Report periods as managers name them: a day, an ISO week, a month, a quarter, a year, or a
//! custom range, in the site's time zone (a month in London starts at local midnight on the 1st,
//! whatever DST does in it).

use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// As written (`2026-11`, `2026-W48`, ...).
    pub label: String,
    /// `[from, to)`, Unix seconds.
    pub from: f64,
    pub to: f64,
}

fn midnight(day: NaiveDate, tz: Tz) -> Option<f64> {
    // A zone whose midnight is skipped by DST starts the day at the first instant it has.
    let naive = day.and_hms_opt(0, 0, 0)?;
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
        .map(|t| t.timestamp() as f64)
}

/// The month `now` falls in, as a period label (`2026-11`): the default period.
pub fn this_month(now: f64, tz: Tz) -> String {
    chrono::DateTime::from_timestamp(now as i64, 0)
        .map(|t| t.with_timezone(&tz).format("%Y-%m").to_string())
        .unwrap_or_default()
}

const FORMS: &str = "2026-11-29 (a day), 2026-W48 (an ISO week), 2026-11 (a month), 2026-Q4, 2026, or 2026-11-01..2026-11-15 (days, the last included)";

/// Parses a period in `tz`.
pub fn parse(text: &str, tz: Tz) -> Result<Period, String> {
    let bad = || format!("period {text:?} is not understood; write {FORMS}");
    let days = |first: NaiveDate, after_last: NaiveDate| -> Result<Period, String> {
        Ok(Period {
            label: text.to_owned(),
            from: midnight(first, tz).ok_or_else(bad)?,
            to: midnight(after_last, tz).ok_or_else(bad)?,
        })
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    if let Some((a, b)) = text.split_once("..") {
        let (first, last) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
        if last < first {
            return Err(format!("period {text:?} ends before it starts"));
        }
        return days(first, last.succ_opt().ok_or_else(bad)?);
    }
    if let Some(d) = day(text) {
        return days(d, d.succ_opt().ok_or_else(bad)?);
    }
    if let Some((y, w)) = text.split_once("-W") {
        let (year, week) = (
            y.parse::<i32>().map_err(|_| bad())?,
            w.parse::<u32>().map_err(|_| bad())?,
        );
        let monday = NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon).ok_or_else(bad)?;
        return days(monday, monday + chrono::Duration::days(7));
    }
    if let Some((y, q)) = text.split_once("-Q") {
        let (year, quarter) = (
            y.parse::<i32>().map_err(|_| bad())?,
            q.parse::<u32>().map_err(|_| bad())?,
        );
        if !(1..=4).contains(&quarter) {
            return Err(bad());
        }
        let first = NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1).ok_or_else(bad)?;
        let after = if quarter == 4 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, quarter * 3 + 1, 1)
        }
        .ok_or_else(bad)?;
        return days(first, after);
    }
    if let Some((y, m)) = text.split_once('-') {
        let (year, month) = (
            y.parse::<i32>().map_err(|_| bad())?,
            m.parse::<u32>().map_err(|_| bad())?,
        );
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        let after = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .ok_or_else(bad)?;
        return days(first, after);
    }
    if text.len() == 4
        && let Ok(year) = text.parse::<i32>()
    {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?;
        return days(first, first.with_year(year + 1).ok_or_else(bad)?);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> Tz {
        "Europe/London".parse().unwrap()
    }

    fn utc(text: &str) -> f64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
    }

    #[test]
    fn periods_start_at_local_midnight_across_dst() {
        // October 2026 in London: BST until the 25th, so it is an hour longer than 31 days.
        let p = parse("2026-10", london()).unwrap();
        assert_eq!(
            (p.from, p.to),
            (utc("2026-09-30T23:00:00Z"), utc("2026-11-01T00:00:00Z"))
        );
        assert_eq!(p.to - p.from, 31.0 * 86_400.0 + 3600.0);
        let p = parse("2026-W48", london()).unwrap();
        assert_eq!(
            (p.from, p.to),
            (utc("2026-11-23T00:00:00Z"), utc("2026-11-30T00:00:00Z"))
        );
        let p = parse("2026-Q4", london()).unwrap();
        assert_eq!(
            (p.from, p.to),
            (utc("2026-09-30T23:00:00Z"), utc("2027-01-01T00:00:00Z"))
        );
        let p = parse("2026", london()).unwrap();
        assert_eq!(
            (p.from, p.to),
            (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
        );
        let p = parse("2026-03-29", london()).unwrap();
        assert_eq!(p.to - p.from, 23.0 * 3600.0, "the spring change day is 23 hours");
        let p = parse("2026-11-01..2026-11-15", london()).unwrap();
        assert_eq!(
            (p.from, p.to),
            (utc("2026-11-01T00:00:00Z"), utc("2026-11-16T00:00:00Z"))
        );
        assert!(parse("2026-13", london()).is_err());
        assert!(
            parse("2026-11-15..2026-11-01", london())
                .unwrap_err()
                .contains("ends before")
        );
        assert!(parse("last month", london()).unwrap_err().contains("2026-W48"));
    }
}
