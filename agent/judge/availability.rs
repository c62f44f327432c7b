//! Availability: "the recording system runs 24 hours a day; at least the target share of every
//! month". Judged on the device's record (see [`crate::availability`]) by
//! [`crate::availability::decide`], which gives only what every value of the time not observed
//! agrees with: failed when the last 30 days miss the policy's target, warning when the last 7
//! days do (the month will, at this rate); while nothing observed breaks the target but too
//! little was observed to say the month keeps it, ok with a summary saying "not yet decidable".
//! Every new interruption is an event, so it is counted
//! (`camwatch_recorder_interruptions_total`) and listed in the history once.

use serde_json::json;

use super::retention::{at, span};
use super::{Event, Verdict};
use crate::availability::{
    Decision, History, Interruption, decide, interruptions, maintenance_seconds, up_and_down_recording,
};
use crate::config::Policy;
use crate::config::presets::percent;
use crate::model::{CheckKind, Status};

/// The windows availability is given for, with their `window` label values: a day, a week, a
/// month (30 days: a calendar month would make the figures jump on the 1st).
pub const WINDOWS: [(&str, f64); 3] = [("1d", 86_400.0), ("7d", 7.0 * 86_400.0), ("30d", 30.0 * 86_400.0)];

fn describe(i: &Interruption, now: f64) -> String {
    let causes: Vec<String> = i.causes.iter().map(|c| c.words()).collect();
    let length = match i.end {
        // A reboot seen only as a boot time has no length of its own.
        Some(_) if i.causes == [crate::availability::Cause::Reboot] => "a reboot".to_owned(),
        None => format!("{} so far", span(i.seconds(now) as i64)),
        Some(_) => span(i.seconds(now) as i64),
    };
    format!("{length} from {} ({})", at(i.start as i64, true), causes.join(", "))
}

pub fn judge(h: &History, policy: &Policy, memory: Option<&serde_json::Value>) -> Verdict {
    let clause = policy.clause(&policy.clause_availability);
    let target = policy.availability_target;
    let found = interruptions(h);
    let figures: Vec<(f64, f64)> = WINDOWS.iter().map(|(_, w)| up_and_down_recording(h, *w)).collect();
    let ratio = |(up, down): (f64, f64)| (up + down > 0.0).then(|| up / (up + down));
    let (month, week) = (ratio(figures[2]), ratio(figures[1]));
    let known = figures[2].0 + figures[2].1;
    let over = if known >= WINDOWS[2].1 - 3600.0 {
        "over the last 30 days".to_owned()
    } else {
        format!("over the {} known", span(known as i64))
    };
    let total_down: f64 = found.iter().map(|i| i.seconds(h.now)).sum();
    let count = match found.len() {
        0 => "no interruptions".to_owned(),
        1 => format!("1 interruption, {}", span(total_down as i64)),
        n => format!("{n} interruptions, {} in all", span(total_down as i64)),
    };
    // The month owes its target over the 30 days less planned work; what was not observed of it
    // may still go either way. The week's warning follows the same rule over 7 days: more down
    // in them than the target allows a week is a month missed at this rate.
    let period = WINDOWS[2].1 - maintenance_seconds(h, WINDOWS[2].1);
    let decision = decide(figures[2].0, figures[2].1, period, target);
    let week_period = WINDOWS[1].1 - maintenance_seconds(h, WINDOWS[1].1);
    let week_missed = decide(figures[1].0, figures[1].1, week_period, target) == Decision::Missed;
    let (status, summary) = match (month, week, decision) {
        (None, ..) => (
            Status::Unknown,
            "no reachability history in the last 30 days yet (availability is measured from the ping check's record)"
                .to_owned(),
        ),
        (Some(m), _, Decision::Missed) => {
            let longest = found
                .iter()
                .max_by(|a, b| a.seconds(h.now).total_cmp(&b.seconds(h.now)))
                .map_or_else(String::new, |i| format!("; the longest {}", describe(i, h.now)));
            (
                Status::Failed,
                format!(
                    "available {} {over}, under the {} target: {count}{longest} ({clause})",
                    percent(m),
                    percent(target)
                ),
            )
        }
        (Some(m), Some(w), _) if week_missed => (
            Status::Warning,
            format!(
                "available {} {over}, but {} over the last 7 days: at this rate the month misses the {} target ({clause})",
                percent(m),
                percent(w),
                percent(target)
            ),
        ),
        // Nothing observed breaks the rule, but too little was observed to say the month keeps
        // it: ok for the day's work (no fault to fix, none to alert on as "cannot judge"), with
        // the summary saying so; the report, which managers sign, leaves the month undecided.
        (Some(m), _, Decision::Undecided) => (
            Status::Ok,
            format!(
                "not yet decidable: {} of the last 30 days observed, available {} so far ({count}); the {} target \
                 allows {} down in 30 days, {} of them used",
                span(known as i64),
                percent(m),
                percent(target),
                span(((1.0 - target) * period) as i64),
                span(figures[2].1 as i64)
            ),
        ),
        (Some(m), _, Decision::Met) => (
            Status::Ok,
            format!("available {} {over} (target {}); {count}", percent(m), percent(target)),
        ),
    };
    let counted_until = memory.and_then(|m| m["counted_until"].as_f64());
    let events: Vec<Event> = found
        .iter()
        .filter(|i| counted_until.is_none_or(|c| i.start > c))
        .map(|i| Event {
            kind: crate::vocab::EventKind::Interruption,
            at: i.start,
            summary: format!("interrupted: {}", describe(i, h.now)),
        })
        .collect();
    let newest = found
        .iter()
        .map(|i| i.start)
        .fold(counted_until, |a, s| Some(a.map_or(s, |a: f64| a.max(s))));
    let windows: serde_json::Map<String, serde_json::Value> = WINDOWS
        .iter()
        .zip(&figures)
        .map(|((label, _), &(up, down))| {
            (
                (*label).to_owned(),
                json!({ "ratio": ratio((up, down)), "up_seconds": up, "down_seconds": down }),
            )
        })
        .collect();
    let mut verdict = Verdict::new(
        CheckKind::Availability,
        status,
        summary,
        json!({
            "target": target,
            "windows": windows,
            // The 30 days less maintenance, how much of it was observed, and what that proves.
            "period_seconds": period,
            "observed_seconds": known,
            "decision": decision,
            "interruptions": found.iter().map(|i| json!({
                "start": i.start,
                "end": i.end,
                "seconds": i.seconds(h.now),
                "causes": i.causes,
            })).collect::<Vec<_>>(),
        }),
    );
    verdict.memory = newest.map(|n| json!({ "counted_until": n }));
    verdict.events = events;
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::State;

    const DAY: f64 = 86_400.0;
    const NOW: f64 = 1_795_144_070.0 + 30.0 * DAY; // 2026-12-20 03:07:50 UTC

    fn history(reachability: Vec<(f64, State)>, reboots: Vec<f64>) -> History {
        History {
            now: NOW,
            from: NOW - 30.0 * DAY,
            reachability_before: State::Ok,
            reachability,
            reboots,
            recording_before: Some(true),
            recording: vec![],
            maintenance: vec![],
            runs: vec![],
            runs_since: None,
        }
    }

    #[test]
    fn a_month_under_target_fails_naming_the_longest_interruption_and_the_clause() {
        // 44 minutes down in 30 days: 99.898 %, just under 99.9 %.
        let down = NOW - 3.0 * DAY;
        let h = history(
            vec![(down, State::Unreachable), (down + 2640.0, State::Ok)],
            vec![NOW - 10.0 * DAY],
        );
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.status, Status::Failed, "{}", v.summary);
        assert_eq!(
            v.summary,
            "available 99.898 % over the last 30 days, under the 99.9 % target: 2 interruptions, 44 m 00 s in all; \
             the longest 44 m 00 s from 2026-12-17 03:07 UTC (unreachable) (The recording system runs 24 hours a day \
             without interruption (at least 99.9 % of every month).)"
        );
        assert_eq!(v.events.len(), 2);
        assert_eq!(v.events[0].at, NOW - 10.0 * DAY);
        assert_eq!(
            v.events[0].summary,
            "interrupted: a reboot from 2026-12-10 03:07 UTC (reboot)"
        );
        // The next run counts nothing twice.
        let again = judge(&h, &Policy::default(), v.memory.as_ref());
        assert!(again.events.is_empty());
        assert_eq!(again.memory, v.memory);
        assert_eq!(v.values["windows"]["30d"]["down_seconds"], 2640.0);
    }

    #[test]
    fn a_bad_week_in_a_good_month_is_a_warning_and_a_good_month_is_ok() {
        let down = NOW - 2.0 * DAY;
        let h = history(vec![(down, State::Failed), (down + 900.0, State::Ok)], vec![]);
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.status, Status::Warning, "{}", v.summary);
        assert!(
            v.summary
                .starts_with("available 99.965 % over the last 30 days, but 99.851 % over the last 7 days")
        );
        let v = judge(&history(vec![], vec![]), &Policy::default(), None);
        assert_eq!(v.status, Status::Ok);
        assert_eq!(
            v.summary,
            "available 100 % over the last 30 days (target 99.9 %); no interruptions"
        );
        assert!(v.memory.is_none());
    }

    #[test]
    fn a_new_device_is_judged_only_once_what_was_observed_decides_the_month() {
        // Day one: 27 s down in a new recorder's first five minutes. 91 % of five minutes, but
        // the month allows 43 m 12 s down: not failed (not even a warning: the week allows
        // 10 m 04 s), not yet decidable, and said so.
        let start = NOW - 300.0;
        let mut h = history(
            vec![
                (start, State::Ok),
                (start + 60.0, State::Unreachable),
                (start + 87.0, State::Ok),
            ],
            vec![],
        );
        h.reachability_before = State::Unknown;
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert_eq!(
            v.summary,
            "not yet decidable: 5 m 00 s of the last 30 days observed, available 91 % so far (1 interruption, 27 s); \
             the 99.9 % target allows 43 m 12 s down in 30 days, 27 s of them used"
        );
        assert_eq!(v.values["observed_seconds"], 300.0);
        assert_eq!(v.values["period_seconds"], 30.0 * DAY);
        assert_eq!(v.values["decision"], "undecided");
        // The interruption is still counted once.
        assert_eq!(v.events.len(), 1);
        // Two good days are not a good month yet either.
        h.reachability = vec![(NOW - 2.0 * DAY, State::Ok)];
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert!(
            v.summary
                .starts_with("not yet decidable: 2 days 0 h of the last 30 days observed, available 100 %")
        );
        // More down than the whole month allows fails at once, however new the device.
        h.reachability = vec![(NOW - 3600.0, State::Ok), (NOW - 2600.0, State::Failed)];
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.status, Status::Failed, "{}", v.summary);
        assert!(
            v.summary.contains("over the 1 h 00 m known, under the 99.9 % target"),
            "{}",
            v.summary
        );
        // Nothing known at all.
        h.reachability.clear();
        assert_eq!(judge(&h, &Policy::default(), None).status, Status::Unknown);
    }

    #[test]
    fn a_month_almost_wholly_observed_is_decided() {
        // Known for all but 40 minutes of the 30 days, never down: even 40 minutes down would meet
        // the target.
        let mut h = history(vec![(NOW - 30.0 * DAY + 2400.0, State::Ok)], vec![]);
        h.reachability_before = State::Unknown;
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert_eq!(
            v.summary,
            "available 100 % over the last 30 days (target 99.9 %); no interruptions"
        );
        // 50 minutes not observed could be enough to miss it: undecided, said so.
        h.reachability = vec![(NOW - 30.0 * DAY + 3000.0, State::Ok)];
        let v = judge(&h, &Policy::default(), None);
        assert_eq!(v.values["decision"], "undecided");
        assert!(v.summary.starts_with("not yet decidable: "), "{}", v.summary);
        // Unless 20 minutes of them were planned work.
        h.maintenance = vec![(NOW - 30.0 * DAY, NOW - 30.0 * DAY + 1200.0)];
        let v = judge(&h, &Policy::default(), None);
        assert_eq!((v.status, v.values["decision"].as_str()), (Status::Ok, Some("met")));
    }
}
