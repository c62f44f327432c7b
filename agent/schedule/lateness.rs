//! Interval keeping: how late each check run starts after it was due (its device's tick, or
//! the moment a "run now" or the first run woke it), measured once its permits are held, so a
//! wait for the pool shows here and never in the probe's timeout.
//!
//! A run that starts more than [`LATE_SHARE`] of its interval after it was due is late: it is
//! counted, and the agent warns at most once a minute, naming how many runs were late since the
//! last warning and the worst of them. The figures carry only the check's [`Class`], never the
//! device: which devices are late is in the warning, the size of the problem in the metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::pools::Class;
use crate::model::CheckKind;

/// A run is late when it starts more than this share of its interval after it was due.
pub const LATE_SHARE: f64 = 0.5;

/// At most one lateness warning in this long.
const WARNING_EVERY: Duration = Duration::from_secs(60);

/// Upper bounds of the start-delay histogram, seconds: from "on time" to "a poll missed".
pub const BUCKETS: [f64; 9] = [0.01, 0.05, 0.25, 1.0, 2.5, 10.0, 30.0, 60.0, 300.0];

/// Start delays of one class of checks.
#[derive(Debug, Default)]
struct Delays {
    /// Runs per bucket (not cumulative); the last is over every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    late: AtomicU64,
}

/// What a scrape shows of one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFigures {
    pub class: Class,
    /// `(upper bound, runs)` per bucket, not cumulative, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
    pub late: u64,
}

#[derive(Debug)]
struct Worst {
    device: String,
    check: CheckKind,
    delay: Duration,
    interval: Duration,
}

#[derive(Debug, Default)]
struct Warning {
    last: Option<Instant>,
    late_since: u64,
    worst: Option<Worst>,
}

/// The start delays of every check run, by class, and the rate-limited warning.
#[derive(Debug, Default)]
pub struct Lateness {
    by_class: [Delays; Class::ALL.len()],
    warning: Mutex<Warning>,
}

impl Lateness {
    /// A run of `check` on `device` started `delay` after it was due.
    pub fn record(&self, device: &str, check: CheckKind, class: Class, delay: Duration, interval: Duration) {
        let delays = &self.by_class[class.index()];
        let seconds = delay.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        delays.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        delays
            .sum_micros
            .fetch_add(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        if delay <= interval.mul_f64(LATE_SHARE) {
            return;
        }
        delays.late.fetch_add(1, Ordering::Relaxed);
        let mut warning = self.warning.lock().unwrap_or_else(|e| e.into_inner());
        warning.late_since += 1;
        if warning.worst.as_ref().is_none_or(|w| delay > w.delay) {
            warning.worst = Some(Worst {
                device: device.to_owned(),
                check,
                delay,
                interval,
            });
        }
        let now = Instant::now();
        if warning
            .last
            .is_some_and(|last| now.duration_since(last) < WARNING_EVERY)
        {
            return;
        }
        if let Some(worst) = warning.worst.take() {
            tracing::warn!(
                late = warning.late_since,
                worst_device = %worst.device,
                worst_check = %worst.check,
                "{} check run(s) started late (more than half their interval after they were due) since the last such warning; the worst: {} {}, {} late on a {} interval. More checks are due than [agent] max_in_flight lets run at once, or a device's own checks take longer than its interval (a device that does not answer runs one check at a time); camwatch_checks_late_total counts them",
                warning.late_since,
                worst.device,
                worst.check,
                humantime::format_duration(round_to_millis(worst.delay)),
                humantime::format_duration(worst.interval),
            );
        }
        warning.last = Some(now);
        warning.late_since = 0;
    }

    /// The figures of every class, for a scrape.
    pub fn figures(&self) -> Vec<ClassFigures> {
        Class::ALL
            .iter()
            .map(|class| {
                let delays = &self.by_class[class.index()];
                let buckets: Vec<(f64, u64)> = BUCKETS
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .zip(delays.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
                    .collect();
                ClassFigures {
                    class: *class,
                    count: buckets.iter().map(|(_, n)| n).sum(),
                    buckets,
                    sum_seconds: delays.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                    late: delays.late.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

fn round_to_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn late_runs_are_counted_by_class_and_every_run_is_in_the_histogram() {
        let lateness = Lateness::default();
        lateness.record(
            "switch",
            CheckKind::Ping,
            Class::Cheap,
            Duration::from_millis(3),
            SECOND,
        );
        lateness.record(
            "cam",
            CheckKind::Stream,
            Class::Conversation,
            Duration::from_millis(400),
            SECOND,
        );
        lateness.record(
            "cam",
            CheckKind::Image,
            Class::Conversation,
            Duration::from_millis(2600),
            SECOND,
        );
        let figures = lateness.figures();
        let (cheap, conversation) = (&figures[0], &figures[1]);
        assert_eq!((cheap.class, cheap.count, cheap.late), (Class::Cheap, 1, 0));
        assert_eq!(cheap.buckets[0], (0.01, 1));
        assert_eq!(
            (conversation.count, conversation.late),
            (2, 1),
            "half the interval is the line"
        );
        assert_eq!(conversation.buckets[3], (1.0, 1));
        assert_eq!(conversation.buckets[5], (10.0, 1));
        assert_eq!(conversation.buckets.last(), Some(&(f64::INFINITY, 0)));
        assert!((conversation.sum_seconds - 3.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn the_warning_comes_at_most_once_a_minute_and_counts_what_came_between() {
        let lateness = Lateness::default();
        let late = Duration::from_secs(3);
        lateness.record("a", CheckKind::Stream, Class::Conversation, late, SECOND);
        assert_eq!(
            lateness.warning.lock().unwrap().late_since,
            0,
            "the first one warns at once"
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        lateness.record("b", CheckKind::Stream, Class::Conversation, late * 2, SECOND);
        lateness.record("c", CheckKind::Stream, Class::Conversation, late, SECOND);
        {
            let warning = lateness.warning.lock().unwrap();
            assert_eq!(warning.late_since, 2, "held back within the minute");
            assert_eq!(warning.worst.as_ref().unwrap().device, "b");
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        lateness.record("d", CheckKind::Stream, Class::Conversation, late, SECOND);
        let warning = lateness.warning.lock().unwrap();
        assert_eq!(warning.late_since, 0, "said, with the three since the last");
        assert!(warning.worst.is_none());
    }
}
