//! Retention: "footage is kept at least N days, every camera records 24 hours a day with no gap
//! longer than M". Every camera of a footage source is measured with [`crate::coverage`]; the
//! check fails when one is not compliant, and warns when the storage forecast says coverage will
//! fall under the requirement soon.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Event, Verdict};
use crate::config::Policy;
pub use crate::coverage::span;
use crate::coverage::{Coverage, IntervalSet, Rules, Storage, coverage};
use crate::model::{CheckKind, Status};
use crate::observation::footage::FootageObservation;
use crate::vocab::EventKind;

pub fn at(unix: i64, with_date: bool) -> String {
    let format = if with_date { "%Y-%m-%d %H:%M UTC" } else { "%H:%M UTC" };
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(|| unix.to_string(), |t| t.format(format).to_string())
}

pub fn rules(policy: &Policy) -> Rules {
    Rules {
        required: i64::from(policy.retention_days) * 86_400,
        max_gap: policy.max_recording_gap.as_secs() as i64,
        freshness: policy.recording_freshness.as_secs() as i64,
    }
}

/// A camera's problem, most serious first (the order of the enum).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Finding {
    NoFootage,
    NotRecording,
    Gap,
    Short,
    Forecast,
}

/// How long a camera's oldest footage is watched before its deletion rate is believed: a
/// recorder deletes in chunks (a file, an hour, a whole day's folder at midnight), and over three
/// days one chunk too many or too few moves the rate by a third at most.
pub const DELETION_RATE_SPAN: i64 = 3 * 86_400;

/// What the retention check keeps between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Memory {
    /// Whether some camera was recording at the last run, and since when it (was not) recording.
    recording: Option<bool>,
    since: Option<i64>,
    /// Per camera, `(when, oldest footage start)` at the start of the span being measured.
    #[serde(default)]
    oldest_samples: BTreeMap<String, (i64, i64)>,
    /// Per camera, seconds of footage deleted per second, over the last finished span.
    #[serde(default)]
    deletion_rates: BTreeMap<String, f64>,
}

impl Memory {
    /// Advances a camera's deletion-rate measurement; returns the rate now believed.
    fn deletion_rate(&mut self, camera: &str, now: i64, oldest: Option<i64>) -> Option<f64> {
        let Some(oldest) = oldest else {
            return self.deletion_rates.get(camera).copied();
        };
        match self.oldest_samples.get(camera).copied() {
            Some((at, before)) if now - at >= DELETION_RATE_SPAN => {
                self.deletion_rates
                    .insert(camera.to_owned(), (oldest - before).max(0) as f64 / (now - at) as f64);
                self.oldest_samples.insert(camera.to_owned(), (now, oldest));
            }
            Some(_) => {}
            None => {
                self.oldest_samples.insert(camera.to_owned(), (now, oldest));
            }
        }
        self.deletion_rates.get(camera).copied()
    }
}

/// Seconds until footage of `age` seconds falls under `required` when `rate` seconds of footage
/// are deleted per second (and one is recorded): +Inf unless deletion outruns recording.
pub fn deletion_forecast(age: i64, required: i64, rate: f64) -> f64 {
    if rate <= 1.0 + 1e-9 {
        return f64::INFINITY;
    }
    ((age - required).max(0) as f64) / (rate - 1.0)
}

pub fn judge(seen: &FootageObservation, policy: &Policy, memory: Option<&serde_json::Value>) -> Verdict {
    let mut memory: Memory = memory
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let rules = rules(policy);
    let now = seen.scanned_at;
    let recording_clause = policy.clause(&policy.clause_recording);
    // One disk holds every camera's footage, and the recorder deletes the oldest of all of it.
    let storage = Storage {
        bytes_per_day: seen.cameras.iter().map(|c| c.bytes_last_day as f64).sum(),
        size_bytes: seen.size_bytes,
        free_bytes: seen.free_bytes,
    };
    let mut findings: Vec<(Finding, i64, String)> = Vec::new();
    let mut per_camera = serde_json::Map::new();
    let mut all: Vec<(&str, Coverage, IntervalSet)> = Vec::new();
    for camera in &seen.cameras {
        let name = &camera.camera;
        // A camera with rules of its own ([device.camera_policy]) is measured by them.
        let (policy, rules) = (policy.for_camera(name), self::rules(policy.for_camera(name)));
        let retention_clause = policy.clause(&policy.clause_retention);
        let recording_clause = policy.clause(&policy.clause_recording);
        let footage = IntervalSet::from_intervals(camera.intervals.iter().copied());
        let mut c = coverage(&footage, now, rules, Some(storage));
        // The storage's fill says when the disk will be full; how fast the oldest footage is
        // deleted says what happens once it is (or when the source reports no storage at all).
        let oldest = camera.oldest.or(c.oldest);
        let rate = memory.deletion_rate(name, now, oldest);
        let by_deletion = match (rate, oldest) {
            (Some(rate), Some(oldest)) if c.compliant => deletion_forecast(now - oldest, rules.required, rate),
            _ => f64::INFINITY,
        };
        let deletion_first = by_deletion < c.forecast_seconds;
        c.forecast_seconds = c.forecast_seconds.min(by_deletion);
        if let Some(why) = camera.untrusted.as_ref().filter(|_| camera.intervals.is_empty()) {
            findings.push((
                Finding::NoFootage,
                0,
                format!("{name}: no trustworthy footage: {why} ({recording_clause})"),
            ));
        } else if !c.recording_now {
            let since = c.newest.map_or_else(String::new, |n| {
                format!(" since {}", at(n, now - n >= 86_400 - rules.freshness))
            });
            findings.push((
                Finding::NotRecording,
                0,
                format!("{name}: not recording{since} ({recording_clause})"),
            ));
        } else if let Some(gap) = c.gaps.last().filter(|g| !c.compliant && g.start > now - rules.required) {
            // The newest hole is the one that cut contiguous coverage short. A hole at the
            // window's start is footage that does not reach back far enough: said as such below.
            findings.push((
                Finding::Gap,
                c.contiguous_seconds,
                format!(
                    "{name}: gap of {} on {} ({recording_clause})",
                    span(gap.seconds()),
                    at(gap.start, true).replacen(' ', " from ", 1)
                ),
            ));
        } else if !c.compliant {
            findings.push((
                Finding::Short,
                c.contiguous_seconds,
                format!(
                    "{name}: footage reaches back {}, {} days required ({retention_clause})",
                    span(c.contiguous_seconds),
                    policy.retention_days
                ),
            ));
        } else if c.forecast_seconds < policy.retention_forecast_warning.as_secs_f64() && deletion_first {
            findings.push((
                Finding::Forecast,
                c.forecast_seconds as i64,
                format!(
                    "{name}: footage is deleted faster than it is recorded ({:.2} days a day); it falls under {} days in {} ({retention_clause})",
                    rate.unwrap_or(0.0),
                    policy.retention_days,
                    span(c.forecast_seconds as i64),
                ),
            ));
        } else if c.forecast_seconds < policy.retention_forecast_warning.as_secs_f64() {
            findings.push((
                Finding::Forecast,
                c.forecast_seconds as i64,
                format!(
                    "{name}: the footage disk fills in {}; it then keeps only {}, {} days required ({retention_clause})",
                    span(c.forecast_seconds as i64),
                    span(c.steady_state_seconds.unwrap_or(0.0) as i64),
                    policy.retention_days
                ),
            ));
        }
        per_camera.insert(
            name.clone(),
            json!({
                "oldest_seconds": oldest,
                "deletion_rate": rate,
                "newest_seconds": c.newest,
                "recording_now": c.recording_now,
                "gaps": c.gaps,
                "gap_seconds": c.gap_seconds,
                "contiguous_seconds": c.contiguous_seconds,
                "compliant": c.compliant,
                "required_seconds": rules.required,
                // JSON has no infinity: null means "never falls under".
                "forecast_seconds": c.forecast_seconds.is_finite().then_some(c.forecast_seconds),
                "files": camera.files,
                "bytes_last_day": camera.bytes_last_day,
                "untrusted": camera.untrusted,
            }),
        );
        all.push((name, c, footage));
    }
    // A camera given rules of its own is expected to have footage.
    let expected = policy
        .cameras
        .keys()
        .filter(|name| !seen.cameras.iter().any(|c| &c.camera == *name) && !seen.missing.contains(name));
    let missing: Vec<&String> = seen.missing.iter().chain(expected).collect();
    for name in &missing {
        let recording_clause = policy
            .for_camera(name)
            .clause(&policy.for_camera(name).clause_recording);
        findings.push((
            Finding::NoFootage,
            0,
            format!("{name}: no footage at all in {} ({recording_clause})", seen.source),
        ));
    }
    findings.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let failed = findings.iter().filter(|f| f.0 != Finding::Forecast).count();
    let (status, mut summary) = match findings.first() {
        Some((finding, _, text)) => {
            let status = if *finding == Finding::Forecast {
                Status::Warning
            } else {
                Status::Failed
            };
            let more = findings.len() - 1;
            let text = if more > 0 {
                format!("{text} (and {more} more camera{})", if more == 1 { "" } else { "s" })
            } else {
                text.clone()
            };
            (status, text)
        }
        None if all.is_empty() => (
            Status::Failed,
            format!("no footage found in {} ({recording_clause})", seen.source),
        ),
        None => {
            let (name, shortest, _) = all
                .iter()
                .min_by_key(|(_, c, _)| c.contiguous_seconds)
                .expect("at least one camera");
            let mut days: Vec<u32> = all.iter().map(|(n, ..)| policy.for_camera(n).retention_days).collect();
            days.sort_unstable();
            days.dedup();
            let required = match days.as_slice() {
                [one] => format!("{one} days of footage"),
                _ => format!(
                    "the footage required of them ({} days)",
                    days.iter().map(u32::to_string).collect::<Vec<_>>().join(" or ")
                ),
            };
            (
                Status::Ok,
                format!(
                    "{} camera{} keep{} {required}; shortest: {name} {}",
                    all.len(),
                    if all.len() == 1 { "" } else { "s" },
                    if all.len() == 1 { "s" } else { "" },
                    span(shortest.contiguous_seconds)
                ),
            )
        }
    };
    let unmatched = seen.folders.as_ref().map_or(0, |f| f.unmatched);
    if unmatched > 0 {
        summary.push_str(&format!("; {unmatched} files or folders do not fit the layout"));
    }
    let steady = (storage.bytes_per_day > 0.0 && storage.size_bytes > 0)
        .then(|| storage.size_bytes as f64 / storage.bytes_per_day * 86_400.0);
    let events = recording_events(&all, now, &mut memory);
    let mut verdict = Verdict::new(
        CheckKind::Retention,
        status,
        summary,
        json!({
            "scanned_at": now,
            "required_seconds": rules.required,
            "max_gap_seconds": rules.max_gap,
            "cameras": per_camera,
            "missing": missing,
            "failed_cameras": failed,
            "bytes_per_day": storage.bytes_per_day,
            "size_bytes": seen.size_bytes,
            "free_bytes": seen.free_bytes,
            "steady_state_seconds": steady,
            "source": seen.source,
            "folders": seen.folders,
            "notes": seen.notes,
        }),
    );
    verdict.memory = serde_json::to_value(&memory).ok();
    verdict.events = events;
    verdict
}

/// The device records while at least one of its cameras does. When that changes, an event says
/// so, timed by the footage itself (the end of the newest footage; the first footage after the
/// stop), so the recorder's interruptions are known to the second (see `crate::availability`).
///
/// Why the first footage, not the start of contiguous coverage: coverage bridges holes up to
/// `max_recording_gap`, so with a `recording_freshness` shorter than that, a stop seen as one
/// would resume at its own start, an interruption of no length.
fn recording_events(cameras: &[(&str, Coverage, IntervalSet)], now: i64, memory: &mut Memory) -> Vec<Event> {
    let recording = cameras.iter().any(|(_, c, _)| c.recording_now);
    let event = match (memory.recording, recording) {
        (Some(false), true) => {
            let since = memory.since.unwrap_or(i64::MIN);
            // The earliest footage after the stop of the cameras recording now.
            let resumed = cameras
                .iter()
                .filter(|(_, c, _)| c.recording_now)
                .filter_map(|(_, _, footage)| footage.first_from(since))
                .min()
                .unwrap_or(now);
            Some(Event {
                kind: EventKind::RecordingResumed,
                at: resumed as f64,
                summary: format!("recording again since {}", at(resumed, true)),
            })
        }
        (Some(true) | None, false) => {
            let stopped = cameras.iter().filter_map(|(_, c, _)| c.newest).max().unwrap_or(now);
            Some(Event {
                kind: EventKind::RecordingStopped,
                at: stopped as f64,
                summary: format!("no camera records since {}", at(stopped, true)),
            })
        }
        _ => None,
    };
    if let Some(e) = &event {
        memory.since = Some(e.at as i64);
    }
    memory.recording = Some(recording);
    event.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::footage::CameraFootage;

    const NOW: i64 = 1_795_144_070 + 10 * 86_400; // 2026-11-30 03:07:50 UTC

    fn obs(cameras: Vec<(&str, Vec<(i64, i64)>)>) -> FootageObservation {
        FootageObservation {
            scanned_at: NOW,
            source: "/footage".into(),
            size_bytes: 0,
            free_bytes: 0,
            cameras: cameras
                .into_iter()
                .map(|(n, i)| CameraFootage {
                    camera: n.into(),
                    oldest: i.first().map(|x| x.0),
                    intervals: i,
                    files: 1,
                    bytes_last_day: 0,
                    untrusted: None,
                })
                .collect(),
            missing: vec![],
            folders: None,
            notes: vec![],
        }
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(21 * 86_400 + 4 * 3600 + 59), "21 days 4 h");
        assert_eq!(span(3720), "1 h 02 m");
        assert_eq!(span(250), "4 m 10 s");
    }

    #[test]
    fn worst_camera_is_named_with_its_clause() {
        let p = Policy::default();
        let v = judge(&obs(vec![("front", vec![(NOW - 40 * 86_400, NOW)])]), &p, None);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert_eq!(
            v.summary,
            "1 camera keeps 30 days of footage; shortest: front 31 days 0 h"
        );

        let short = (NOW - 21 * 86_400 - 4 * 3600, NOW);
        let v = judge(
            &obs(vec![("front", vec![short]), ("yard", vec![(NOW - 40 * 86_400, NOW)])]),
            &p,
            None,
        );
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            "front: footage reaches back 21 days 4 h, 30 days required (Recorded footage is kept for at least 30 days.)"
        );
        assert_eq!(v.values["cameras"]["yard"]["compliant"], true);

        let stopped = (NOW - 40 * 86_400, NOW - 3600);
        let gap = vec![(NOW - 40 * 86_400, NOW - 3 * 86_400), (NOW - 3 * 86_400 + 3720, NOW)];
        let v = judge(
            &obs(vec![("front", vec![short]), ("gate", vec![stopped]), ("door", gap)]),
            &p,
            None,
        );
        assert!(
            v.summary
                .starts_with("gate: not recording since 02:07 UTC (Every camera records"),
            "{}",
            v.summary
        );
        assert!(v.summary.ends_with("(and 2 more cameras)"), "{}", v.summary);
        let v = judge(
            &obs(vec![(
                "door",
                vec![(NOW - 40 * 86_400, NOW - 3 * 86_400), (NOW - 3 * 86_400 + 3720, NOW)],
            )]),
            &p,
            None,
        );
        assert_eq!(
            v.summary,
            "door: gap of 1 h 02 m on 2026-11-27 from 03:07 UTC (Every camera records 24 hours a day, with no gap in recording longer than 5m.)"
        );
    }

    #[test]
    fn a_camera_whose_dates_are_not_believed_has_no_trustworthy_footage() {
        let mut seen = obs(vec![("stairs", vec![]), ("front", vec![(NOW - 40 * 86_400, NOW)])]);
        seen.source = "ONVIF recording search on 192.0.2.40".into();
        seen.cameras[0].untrusted = Some("recording rec-3 dates its footage 1970-01-01 00:03:15 UTC".into());
        let v = judge(&seen, &Policy::default(), None);
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            "stairs: no trustworthy footage: recording rec-3 dates its footage 1970-01-01 00:03:15 UTC (Every camera records 24 hours a day, with no gap in recording longer than 5m.)"
        );
        assert_eq!(v.values["cameras"]["front"]["compliant"], true);
        // Doubts about part of a camera's footage leave the rest to be judged as usual.
        seen.cameras[0].intervals = vec![(NOW - 40 * 86_400, NOW)];
        assert_eq!(judge(&seen, &Policy::default(), None).status, Status::Ok);
    }

    #[test]
    fn a_disk_too_small_for_the_write_rate_is_a_warning_before_it_fills() {
        let gib = 1u64 << 30;
        let mut seen = obs(vec![("front", vec![(NOW - 40 * 86_400, NOW)])]);
        seen.size_bytes = 2048 * gib;
        seen.free_bytes = 500 * gib;
        seen.cameras[0].bytes_last_day = 100 * gib;
        let v = judge(&seen, &Policy::default(), None);
        assert_eq!(v.status, Status::Warning);
        assert_eq!(
            v.summary,
            "front: the footage disk fills in 5 days 0 h; it then keeps only 20 days 11 h, 30 days required (Recorded footage is kept for at least 30 days.)"
        );
        assert_eq!(v.values["cameras"]["front"]["forecast_seconds"], 5.0 * 86_400.0);
        // Ten days of room: no warning yet (the policy warns 7 days ahead).
        seen.free_bytes = 1000 * gib;
        assert_eq!(judge(&seen, &Policy::default(), None).status, Status::Ok);
    }

    #[test]
    fn stopping_and_resuming_recording_are_events_timed_by_the_footage() {
        let p = Policy::default();
        let v = judge(&obs(vec![("front", vec![(NOW - 40 * 86_400, NOW)])]), &p, None);
        assert!(v.events.is_empty());
        // Every camera stopped an hour ago: the stop is dated by the newest footage.
        let stopped = judge(
            &obs(vec![("front", vec![(NOW - 40 * 86_400, NOW - 3600)])]),
            &p,
            v.memory.as_ref(),
        );
        assert_eq!(stopped.events.len(), 1);
        assert_eq!(stopped.events[0].kind, EventKind::RecordingStopped);
        assert_eq!(stopped.events[0].at, (NOW - 3600) as f64);
        // Still stopped: nothing new.
        let still = judge(
            &obs(vec![("front", vec![(NOW - 40 * 86_400, NOW - 3600)])]),
            &p,
            stopped.memory.as_ref(),
        );
        assert!(still.events.is_empty());
        // Footage again since 20 minutes ago: resumed then.
        let resumed = judge(
            &obs(vec![(
                "front",
                vec![(NOW - 40 * 86_400, NOW - 3600), (NOW - 1200, NOW)],
            )]),
            &p,
            still.memory.as_ref(),
        );
        assert_eq!(resumed.events.len(), 1, "{:?}", resumed.events);
        assert_eq!(resumed.events[0].kind, EventKind::RecordingResumed);
        assert_eq!(resumed.events[0].at, (NOW - 1200) as f64);
        assert_eq!(resumed.memory.unwrap()["recording"], true);
    }

    #[test]
    fn a_stop_shorter_than_the_allowed_gap_resumes_at_the_first_footage_after_it() {
        // Freshness 20 s, the default 5-minute gap: footage stopped for 100 s.
        let p = Policy {
            recording_freshness: std::time::Duration::from_secs(20),
            ..Policy::default()
        };
        let start = NOW - 20 * 86_400;
        let v = judge(&obs(vec![("front", vec![(start, NOW - 100)])]), &p, None);
        assert_eq!(v.events.len(), 1, "{:?}", v.events);
        assert_eq!(
            (v.events[0].kind, v.events[0].at),
            (EventKind::RecordingStopped, (NOW - 100) as f64)
        );
        let mut later = obs(vec![("front", vec![(start, NOW - 100), (NOW, NOW + 100)])]);
        later.scanned_at = NOW + 110;
        let resumed = judge(&later, &p, v.memory.as_ref());
        assert_eq!(resumed.events.len(), 1, "{:?}", resumed.events);
        // Not at the stop itself (contiguous coverage bridges the 100 s): 100 s without footage.
        assert_eq!(
            (resumed.events[0].kind, resumed.events[0].at),
            (EventKind::RecordingResumed, NOW as f64)
        );
        assert_eq!(
            resumed.values["cameras"]["front"]["contiguous_seconds"],
            20 * 86_400 + 110
        );
    }

    #[test]
    fn a_camera_with_its_own_rules_is_measured_by_them_and_expected_to_have_footage() {
        let mut p = Policy::default();
        let hospital = Policy {
            retention_days: 90,
            ..Policy::default()
        };
        p.cameras.insert("pharmacy".into(), hospital.clone());
        let forty_days = vec![(NOW - 40 * 86_400, NOW)];
        let v = judge(
            &obs(vec![("lobby", forty_days.clone()), ("pharmacy", forty_days.clone())]),
            &p,
            None,
        );
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            "pharmacy: footage reaches back 40 days 0 h, 90 days required (Recorded footage is kept for at least 90 days.)"
        );
        assert_eq!(v.values["cameras"]["pharmacy"]["required_seconds"], 90 * 86_400);
        assert_eq!(v.values["cameras"]["lobby"]["required_seconds"], 30 * 86_400);
        assert_eq!(v.values["cameras"]["lobby"]["compliant"], true);

        let v = judge(
            &obs(vec![
                ("lobby", forty_days),
                ("pharmacy", vec![(NOW - 95 * 86_400, NOW)]),
            ]),
            &p,
            None,
        );
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert_eq!(
            v.summary,
            "2 cameras keep the footage required of them (30 or 90 days); shortest: lobby 31 days 0 h"
        );
        // The source keeps the longest requirement plus a day for every camera: each camera's
        // coverage is measured up to its own requirement plus a day.
        let ninety_one_days = vec![(NOW - 91 * 86_400, NOW)];
        let v = judge(
            &obs(vec![("lobby", ninety_one_days.clone()), ("pharmacy", ninety_one_days)]),
            &p,
            None,
        );
        assert_eq!(v.values["cameras"]["lobby"]["contiguous_seconds"], 31 * 86_400);
        assert_eq!(v.values["cameras"]["pharmacy"]["contiguous_seconds"], 91 * 86_400);

        // Rules for a camera that has no footage at all: it is missing.
        let v = judge(&obs(vec![("lobby", vec![(NOW - 40 * 86_400, NOW)])]), &p, None);
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.starts_with("pharmacy: no footage at all in /footage"),
            "{}",
            v.summary
        );
        assert_eq!(v.values["missing"], serde_json::json!(["pharmacy"]));
    }

    #[test]
    fn footage_deleted_faster_than_recorded_is_forecast_from_the_deletion_rate() {
        let p = Policy::default();
        let oldest_then = NOW - 36 * 86_400;
        // Three days ago the oldest footage was 36 days old; now it is 31.5 days old: 4.5 days
        // deleted in 3, so coverage shrinks by half a day a day and falls under 30 days in 3.
        let oldest_now = oldest_then + 4 * 86_400 + 43_200;
        let memory = json!({
            "recording": true,
            "oldest_samples": { "front": [NOW - DELETION_RATE_SPAN, oldest_then] },
        });
        let v = judge(&obs(vec![("front", vec![(oldest_now, NOW)])]), &p, Some(&memory));
        assert_eq!(v.status, Status::Warning, "{}", v.summary);
        assert_eq!(
            v.summary,
            "front: footage is deleted faster than it is recorded (1.50 days a day); it falls under 30 days in 3 days 0 h (Recorded footage is kept for at least 30 days.)"
        );
        assert_eq!(v.values["cameras"]["front"]["deletion_rate"], 1.5);
        assert_eq!(v.values["cameras"]["front"]["forecast_seconds"], 3.0 * 86_400.0);
        // The measurement restarts from now, and the rate is kept until the next one ends.
        let kept = v.memory.unwrap();
        assert_eq!(kept["oldest_samples"]["front"], json!([NOW, oldest_now]));
        assert_eq!(kept["deletion_rates"]["front"], 1.5);
        // A span not yet long enough measures nothing.
        let young = json!({ "oldest_samples": { "front": [NOW - 3600, oldest_then] } });
        let v = judge(&obs(vec![("front", vec![(oldest_now, NOW)])]), &p, Some(&young));
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert_eq!(v.values["cameras"]["front"]["deletion_rate"], serde_json::Value::Null);
        assert_eq!(deletion_forecast(40 * 86_400, 30 * 86_400, 1.0), f64::INFINITY);
    }
}
