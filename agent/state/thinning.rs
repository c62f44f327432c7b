//! Which check results are worth a row in `results`: the ones that say something new.
//!
//! A check that answers the same every minute would otherwise cost a row a minute for nothing
//! (302 bytes each, 2.8 GiB a week for 1,000 devices). A result is written when, compared with
//! the last result written for the same (device, check):
//! - it changed the state (a transition: always written in full, with its figures);
//! - its status differs, or its summary's words differ (its numbers are not compared: they repeat
//!   the figures, in rounder units);
//! - a figure changed beyond what matters: text, true/false, nothing, and small whole numbers
//!   (counts such as cameras, disks, echoes received, below [`COUNT_BELOW`]) exactly; other
//!   numbers (measurements: round trips, ratios, seconds, bytes) when they move by more than
//!   [`BAND`] of the larger of the two and by more than [`FLOOR`];
//! - or the last written row is older than the sample interval (`[agent] results_sample`,
//!   [`DEFAULT_SAMPLE`]), so a steady figure is still seen now and then.
//!
//! The check's state (`check_state`) is written with every row, and when a run changed what the
//! check remembers; a run that only moved its streaks and times on waits for the writer's
//! once-a-minute write of such states (`store::STATES_EVERY`): a restart resumes from it. The
//! newest result a check ran but did not write is written when the store closes, so a stopped
//! agent's last result is the last one it had.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::store::ResultRow;

/// The default of `[agent] results_sample`: a steady check writes a row this often.
/// An hour: 24 rows a day for a steady check, so 7 days of results for 1,000 devices stay
/// near 50 MiB.
pub const DEFAULT_SAMPLE: Duration = crate::config::RESULTS_SAMPLE_DEFAULT;
/// A measurement that moves by no more than this share of the larger value is the same.
pub const BAND: f64 = 0.2;
/// ...nor one that moves by no more than this (a millisecond for a time, 0.1 % for a ratio).
pub const FLOOR: f64 = 1e-3;
/// Whole numbers below this are counts (cameras, disks, echoes), compared exactly.
pub const COUNT_BELOW: f64 = 1000.0;

/// What the last written row of a check said.
#[derive(Debug, Clone)]
struct Written {
    at: f64,
    status: &'static str,
    summary: String,
    values: Value,
}

/// The last written row of each check, to judge the next result against.
#[derive(Debug, Default)]
pub struct Thinning {
    last: BTreeMap<(String, String), Written>,
}

impl Thinning {
    /// Whether `row` gets a `results` row, remembering it as the last written when it does.
    /// `sample` zero writes every result.
    pub fn keep(&mut self, row: &ResultRow, sample: Duration) -> bool {
        let key = (row.device.clone(), row.check.clone());
        let values: Value = serde_json::from_str(&row.values_json).unwrap_or(Value::Null);
        let new = match self.last.get(&key) {
            None => true,
            Some(last) => {
                sample.is_zero()
                    || row.transition.is_some()
                    || row.at - last.at >= sample.as_secs_f64()
                    || last.status != row.status.as_str()
                    || !same_summary(&last.summary, &row.summary)
                    || !same_figures(&last.values, &values)
            }
        };
        if new {
            self.last.insert(
                key,
                Written {
                    at: row.at,
                    status: row.status.as_str(),
                    summary: row.summary.clone(),
                    values,
                },
            );
        }
        new
    }
}

/// The same words, whatever the numbers between them.
fn same_summary(a: &str, b: &str) -> bool {
    words(a) == words(b)
}

/// The text with each number replaced by `#`.
fn words(text: &str) -> String {
    let mut words = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if !c.is_ascii_digit() {
            words.push(c);
            continue;
        }
        while let Some(&(i, next)) = chars.peek() {
            let decimal_point = next == '.' && text[i + 1..].starts_with(|d: char| d.is_ascii_digit());
            if !(next.is_ascii_digit() || decimal_point) {
                break;
            }
            chars.next();
        }
        words.push('#');
    }
    words
}

fn same_figures(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => same_number(x, y),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_figures(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_figures(v, w)))
        }
        _ => a == b,
    }
}

fn same_number(x: f64, y: f64) -> bool {
    let is_count = |v: f64| v.fract() == 0.0 && v.abs() < COUNT_BELOW;
    if is_count(x) && is_count(y) {
        return x == y;
    }
    let moved = (x - y).abs();
    moved <= FLOOR || moved <= BAND * x.abs().max(y.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{State, Status};
    use crate::state::machine::Streaks;
    use crate::state::store::SavedState;

    fn ping(at: f64, status: Status, rtt: f64, received: u32) -> ResultRow {
        ResultRow {
            device: "cam-1".into(),
            check: "ping".into(),
            at,
            status,
            summary: format!(
                "10.0.0.1 answers {received} of 3 echoes, round trip {:.1} ms",
                rtt * 1000.0
            ),
            values_json: serde_json::json!({"method": "icmp", "sent": 3, "received": received, "rtt_seconds": rtt})
                .to_string(),
            duration_seconds: 0.01,
            transition: None,
            events: Vec::new(),
            saved: SavedState {
                device: "cam-1".into(),
                check: "ping".into(),
                state: State::Ok,
                since: 0.0,
                streaks: Streaks::default(),
                last_run: Some(at),
                last_success: Some(at),
                memory: None,
            },
        }
    }

    const SAMPLE: Duration = Duration::from_secs(900);

    #[test]
    fn the_first_result_of_a_check_is_written_and_a_steady_one_only_each_sample() {
        let mut thinning = Thinning::default();
        assert!(thinning.keep(&ping(0.0, Status::Ok, 0.012, 3), SAMPLE));
        // Round trips within the band, a minute apart, for just under the sample interval.
        let written: Vec<bool> = (1..=15)
            .map(|minute| {
                thinning.keep(
                    &ping(minute as f64 * 60.0, Status::Ok, 0.012 + 0.001 * (minute % 2) as f64, 3),
                    SAMPLE,
                )
            })
            .collect();
        assert_eq!(
            written.iter().filter(|w| **w).count(),
            1,
            "only the 15th minute's sample: {written:?}"
        );
        assert!(written[14]);
    }

    #[test]
    fn a_new_status_a_transition_words_or_a_count_are_written_at_once() {
        let mut thinning = Thinning::default();
        assert!(thinning.keep(&ping(0.0, Status::Ok, 0.012, 3), SAMPLE));
        assert!(!thinning.keep(&ping(60.0, Status::Ok, 0.012, 3), SAMPLE));
        assert!(
            thinning.keep(&ping(120.0, Status::Ok, 0.012, 2), SAMPLE),
            "a count differs exactly"
        );
        assert!(thinning.keep(&ping(180.0, Status::Warning, 0.012, 2), SAMPLE), "status");
        let mut transition = ping(240.0, Status::Warning, 0.012, 2);
        transition.transition = Some((State::Ok, State::Warning));
        assert!(thinning.keep(&transition, SAMPLE), "a transition is always written");
        let mut words = ping(300.0, Status::Warning, 0.012, 2);
        words.summary = "10.0.0.1 answers slowly".into();
        assert!(thinning.keep(&words, SAMPLE), "other words");
    }

    #[test]
    fn a_measurement_is_written_when_it_leaves_the_band() {
        let mut thinning = Thinning::default();
        assert!(thinning.keep(&ping(0.0, Status::Ok, 0.010, 3), SAMPLE));
        assert!(
            !thinning.keep(&ping(60.0, Status::Ok, 0.0115, 3), SAMPLE),
            "15 % is within the band"
        );
        assert!(thinning.keep(&ping(120.0, Status::Ok, 0.013, 3), SAMPLE), "30 % is not");
        // Loopback jitter under a millisecond is no news.
        assert!(thinning.keep(&ping(180.0, Status::Ok, 0.00005, 3), SAMPLE));
        assert!(!thinning.keep(&ping(240.0, Status::Ok, 0.00030, 3), SAMPLE));
    }

    #[test]
    fn sample_zero_writes_every_result() {
        let mut thinning = Thinning::default();
        assert!((0..5).all(|i| thinning.keep(&ping(f64::from(i), Status::Ok, 0.01, 3), Duration::ZERO)));
    }

    #[test]
    fn summaries_compare_their_words_not_their_numbers() {
        assert_eq!(words("lost 1 of 3 (33.3 % loss), v1.2."), "lost # of # (# % loss), v#.");
        assert!(same_summary("round trip 0.1 ms", "round trip 19.0 ms"));
        assert!(!same_summary("answers 3 of 3", "answers slowly"));
    }
}
