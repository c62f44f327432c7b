//! Maintenance windows: planned work on a device or a whole site. During a window checks still
//! run and are recorded (the room sees what the work does), but notifications are held and the
//! time is excluded from availability: planned work is not an interruption of the 24-hour duty.
//!
//! Windows come from the configuration (`[[maintenance]]`, one-off or recurring with a cron
//! pattern in the agent's time zone) and from people (`camwatch maintenance add`, stored in the
//! state store). Pure: spans are computed from a window and a time range, unit-tested across DST.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What a window covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Device(String),
    Site(String),
}

impl Target {
    pub fn covers(&self, device: &str, site: &str) -> bool {
        match self {
            Self::Device(d) => d == device,
            Self::Site(s) => s == site,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Device(d) => write!(f, "device {d}"),
            Self::Site(s) => write!(f, "site {s}"),
        }
    }
}

/// When a configured window happens.
#[derive(Debug, Clone)]
pub enum When {
    /// Once, from this Unix time.
    Once(f64),
    /// Every time the pattern matches, in the agent's time zone.
    Cron(Box<croner::Cron>, Tz),
}

impl PartialEq for When {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Once(a), Self::Once(b)) => a == b,
            (Self::Cron(a, ta), Self::Cron(b, tb)) => a.pattern.to_string() == b.pattern.to_string() && ta == tb,
            _ => false,
        }
    }
}

/// A `[[maintenance]]` window of the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub target: Target,
    pub when: When,
    pub seconds: f64,
    pub reason: String,
}

/// A window someone opened (`camwatch maintenance add`), as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub id: u64,
    pub target: Target,
    pub start: f64,
    pub end: f64,
    pub reason: String,
    pub by: String,
}

/// The longest a recurring window is looked back for, so a window that started before a range
/// and is still running is found.
const LONGEST_WINDOW_SECONDS: f64 = 31.0 * 86_400.0;

impl Rule {
    /// The `[start, end)` spans of this rule that overlap `[from, to)`, in time order.
    pub fn spans(&self, from: f64, to: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        match &self.when {
            When::Once(start) => out.push((*start, start + self.seconds)),
            When::Cron(cron, tz) => {
                let Some(mut cursor) = Utc
                    .timestamp_opt((from - self.seconds.min(LONGEST_WINDOW_SECONDS)) as i64, 0)
                    .single()
                else {
                    return out;
                };
                // Bounded: a pattern matching every minute over a month is 44,640 spans at most.
                for _ in 0..50_000 {
                    let local = cursor.with_timezone(tz);
                    let Ok(next) = cron.find_next_occurrence(&local, false) else {
                        break;
                    };
                    let start = next.timestamp() as f64;
                    if start >= to {
                        break;
                    }
                    out.push((start, start + self.seconds));
                    cursor = next.with_timezone(&Utc);
                }
            }
        }
        out.retain(|&(s, e)| e > from && s < to);
        merge(out)
    }
}

/// Every maintenance span of a device overlapping `[from, to)`: its configured rules and the
/// windows people opened, merged.
pub fn spans(rules: &[Rule], windows: &[Window], device: &str, site: &str, from: f64, to: f64) -> Vec<(f64, f64)> {
    let all: Vec<(f64, f64)> = rules
        .iter()
        .filter(|r| r.target.covers(device, site))
        .flat_map(|r| r.spans(from, to))
        .chain(
            windows
                .iter()
                .filter(|w| w.target.covers(device, site) && w.end > from && w.start < to)
                .map(|w| (w.start, w.end)),
        )
        .collect();
    merge(all)
}

/// Spans in time order, those that overlap or touch made one.
fn merge(mut spans: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// The reason of the window a device is in at `at`, if it is in one.
pub fn active(rules: &[Rule], windows: &[Window], device: &str, site: &str, at: f64) -> Option<String> {
    rules
        .iter()
        .filter(|r| r.target.covers(device, site))
        .find(|r| !r.spans(at, at + 1.0).is_empty())
        .map(|r| r.reason.clone())
        .or_else(|| {
            windows
                .iter()
                .find(|w| w.target.covers(device, site) && w.start <= at && at < w.end)
                .map(|w| w.reason.clone())
        })
}

/// Parses a window's start as written in the configuration or on the command line: RFC 3339
/// (`2026-12-01T22:00:00+01:00`), or a local time in the agent's zone (`2026-12-01 22:00`).
pub fn parse_start(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())?;
    // A local time that a DST change skips does not exist; one it repeats means the first.
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// A cron pattern for a recurring window, checked.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> Tz {
        "Europe/London".parse().unwrap()
    }

    fn utc(text: &str) -> f64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
    }

    #[test]
    fn a_weekly_window_follows_the_local_clock_across_dst() {
        // Sundays 01:30 for an hour, London time; clocks go back on 2026-10-25.
        let rule = Rule {
            target: Target::Site("Northfield".into()),
            when: When::Cron(Box::new(parse_cron("30 1 * * SUN").unwrap()), london()),
            seconds: 3600.0,
            reason: "backup server patching".into(),
        };
        let spans = rule.spans(utc("2026-10-17T00:00:00Z"), utc("2026-11-02T00:00:00Z"));
        assert_eq!(
            spans,
            vec![
                (utc("2026-10-18T00:30:00Z"), utc("2026-10-18T01:30:00Z")),
                (utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:30:00Z")),
                (utc("2026-11-01T01:30:00Z"), utc("2026-11-01T02:30:00Z")),
            ]
        );
        // A window that started before the range and is still running is found.
        let inside = rule.spans(utc("2026-10-18T01:00:00Z"), utc("2026-10-18T01:10:00Z"));
        assert_eq!(inside, vec![(utc("2026-10-18T00:30:00Z"), utc("2026-10-18T01:30:00Z"))]);
        assert!(rule.target.covers("cam", "Northfield"));
        assert!(!rule.target.covers("cam", "Southfield"));
    }

    #[test]
    fn spans_of_rules_and_windows_merge_and_active_names_the_reason() {
        let rule = Rule {
            target: Target::Device("nvr".into()),
            when: When::Once(1000.0),
            seconds: 100.0,
            reason: "disk swap".into(),
        };
        let window = Window {
            id: 1,
            target: Target::Site("A".into()),
            start: 1050.0,
            end: 1300.0,
            reason: "power work".into(),
            by: "ana".into(),
        };
        let rules = [rule];
        let windows = [window];
        assert_eq!(spans(&rules, &windows, "nvr", "A", 0.0, 2000.0), vec![(1000.0, 1300.0)]);
        assert_eq!(spans(&rules, &windows, "nvr", "B", 0.0, 2000.0), vec![(1000.0, 1100.0)]);
        assert_eq!(
            active(&rules, &windows, "nvr", "A", 1010.0).as_deref(),
            Some("disk swap")
        );
        assert_eq!(
            active(&rules, &windows, "cam", "A", 1200.0).as_deref(),
            Some("power work")
        );
        assert_eq!(active(&rules, &windows, "cam", "A", 1300.0), None);
    }

    #[test]
    fn starts_are_rfc3339_or_local_time() {
        assert_eq!(
            parse_start("2026-12-01 22:00", london()).unwrap().timestamp() as f64,
            utc("2026-12-01T22:00:00Z")
        );
        assert_eq!(
            parse_start("2026-07-01 22:00", london()).unwrap().timestamp() as f64,
            utc("2026-07-01T21:00:00Z")
        );
        assert_eq!(
            parse_start("2026-07-01T22:00:00+02:00", london()).unwrap().timestamp() as f64,
            utc("2026-07-01T20:00:00Z")
        );
        // Skipped by the spring change: no such local time.
        assert!(parse_start("2026-03-29 01:30", london()).is_none());
        assert!(parse_start("tomorrow", london()).is_none());
        assert!(parse_cron("61 * * * *").is_err());
    }
}
