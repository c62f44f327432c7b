//! Procedure times: daily wall-clock times in the agent's time zone (the shift handover at 07:50
//! and 19:50, the inventory at 23:55), found with croner and chrono-tz.
//!
//! The next run is recomputed from the wall clock after every run and after every nap, never
//! kept as a sleep of many hours: wall clocks jump (NTP, a suspended VM, DST), the monotonic
//! clock does not. Over DST changes croner's rules apply, because the times are fixed times of
//! day: a time skipped when clocks go forward runs once, at the first minute after the gap
//! (01:30 on a day that jumps from 01:00 to 02:00 runs at 02:00); a time repeated when clocks go
//! back runs once, at its first occurrence.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::TimeOfDay;

/// Where "what time is it" comes from, so tests can drive the scheduler on tokio's paused clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A wall clock that moves with tokio's clock: `wall` at the moment it was made. Under a paused
/// tokio runtime, time (and so this clock) jumps straight to the next timer.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: Instant,
    wall: DateTime<Utc>,
}

impl TokioClock {
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        Self {
            start: Instant::now(),
            wall,
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.wall + elapsed
    }
}

/// The first of `times` (wall-clock times in `tz`) strictly after `after`.
pub fn next_run(times: &[TimeOfDay], tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&tz);
    times
        .iter()
        .filter_map(|t| t.cron().find_next_occurrence(&local, false).ok())
        .map(|next| next.with_timezone(&Utc))
        .min()
}

/// One procedure's times as the configuration in force says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySchedule {
    pub times: Vec<TimeOfDay>,
    pub timezone: Tz,
}

/// The longest single sleep: a wall clock set forward is noticed within this.
const LONGEST_NAP: Duration = Duration::from_secs(300);

/// Calls `job(scheduled time)` at every time of `schedule`, forever. A new schedule (a reload)
/// takes effect at once; with no times it waits for one. Returns when the schedule's sender is
/// gone.
pub async fn run_daily<F, Fut>(clock: &dyn Clock, mut schedule: watch::Receiver<DailySchedule>, mut job: F)
where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut after = clock.now();
    loop {
        let current = schedule.borrow_and_update().clone();
        let Some(next) = next_run(&current.times, current.timezone, after) else {
            if schedule.changed().await.is_err() {
                return;
            }
            after = clock.now();
            continue;
        };
        let due = loop {
            let now = clock.now();
            if now >= next {
                break true;
            }
            let nap = (next - now).to_std().unwrap_or_default().min(LONGEST_NAP);
            tokio::select! {
                _ = tokio::time::sleep_until(Instant::now() + nap) => {}
                changed = schedule.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break false;
                }
            }
        };
        if !due {
            after = clock.now();
            continue;
        }
        job(next).await;
        // From the scheduled time, not from "now": a run that ends before the clock has left its
        // minute (or a clock stepped back) must not find the same occurrence again.
        after = clock.now().max(next);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn times(list: &[&str]) -> Vec<TimeOfDay> {
        list.iter().map(|t| TimeOfDay::parse(t).unwrap()).collect()
    }

    const LONDON: Tz = chrono_tz::Europe::London;

    /// The next `n` runs from `start`, each searched from the one before (as `run_daily` does).
    fn sequence(list: &[&str], tz: Tz, start: &str, n: usize) -> Vec<String> {
        let times = times(list);
        let mut after = utc(start);
        (0..n)
            .map(|_| {
                after = next_run(&times, tz, after).unwrap();
                after.with_timezone(&tz).to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn next_run_is_the_earliest_time_strictly_after() {
        let t = times(&["07:50", "19:50"]);
        assert_eq!(
            next_run(&t, LONDON, utc("2026-11-29T07:49:59Z")),
            Some(utc("2026-11-29T07:50:00Z"))
        );
        assert_eq!(
            next_run(&t, LONDON, utc("2026-11-29T07:50:00Z")),
            Some(utc("2026-11-29T19:50:00Z")),
            "strictly after: the run that just happened is not found again"
        );
        assert_eq!(
            next_run(&t, LONDON, utc("2026-11-29T20:00:00Z")),
            Some(utc("2026-11-30T07:50:00Z"))
        );
        assert_eq!(next_run(&[], LONDON, utc("2026-11-29T20:00:00Z")), None);
        // The time zone's wall clock, not UTC's: 07:50 in Shanghai is 23:50 UTC the day before.
        assert_eq!(
            next_run(&t, chrono_tz::Asia::Shanghai, utc("2026-11-29T12:00:00Z")),
            Some(utc("2026-11-29T23:50:00Z"))
        );
    }

    #[test]
    fn a_time_skipped_when_clocks_go_forward_runs_once_right_after_the_gap() {
        // Europe/London 2026-03-29: 01:00 GMT becomes 02:00 BST; 01:30 does not exist that day.
        assert_eq!(
            sequence(&["01:30", "07:50"], LONDON, "2026-03-28T00:00:00Z", 6),
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-28T07:50:00+00:00",
                "2026-03-29T02:00:00+01:00",
                "2026-03-29T07:50:00+01:00",
                "2026-03-30T01:30:00+01:00",
                "2026-03-30T07:50:00+01:00",
            ]
        );
    }

    #[test]
    fn a_time_repeated_when_clocks_go_back_runs_once() {
        // Europe/London 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:30 happens twice that day.
        assert_eq!(
            sequence(&["01:30", "07:50"], LONDON, "2026-10-24T00:00:00Z", 6),
            [
                "2026-10-24T01:30:00+01:00",
                "2026-10-24T07:50:00+01:00",
                "2026-10-25T01:30:00+01:00",
                "2026-10-25T07:50:00+00:00",
                "2026-10-26T01:30:00+00:00",
                "2026-10-26T07:50:00+00:00",
            ]
        );
    }

    /// Drives `run_daily` on tokio's paused clock from `start`; returns the wall time each of the
    /// first `n` runs actually happened, in `tz`.
    async fn runs_on_paused_clock(list: &[&str], tz: Tz, start: &str, n: usize) -> Vec<String> {
        let clock = Arc::new(TokioClock::starting_at(utc(start)));
        let (_keep, schedule) = watch::channel(DailySchedule {
            times: times(list),
            timezone: tz,
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn({
            let clock = Arc::clone(&clock);
            async move {
                let job_clock = Arc::clone(&clock);
                run_daily(clock.as_ref(), schedule, move |scheduled| {
                    let _ = tx.send((scheduled, job_clock.now()));
                    std::future::ready(())
                })
                .await
            }
        });
        let mut seen = Vec::new();
        for _ in 0..n {
            let (scheduled, ran) = rx.recv().await.unwrap();
            assert_eq!(scheduled, ran, "ran exactly at the scheduled time");
            seen.push(ran.with_timezone(&tz).to_rfc3339());
        }
        task.abort();
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn the_scheduler_on_paused_time_runs_the_exact_sequence_across_spring_forward() {
        assert_eq!(
            runs_on_paused_clock(&["01:30", "07:50", "19:50"], LONDON, "2026-03-28T12:00:00Z", 7).await,
            [
                "2026-03-28T19:50:00+00:00",
                "2026-03-29T02:00:00+01:00",
                "2026-03-29T07:50:00+01:00",
                "2026-03-29T19:50:00+01:00",
                "2026-03-30T01:30:00+01:00",
                "2026-03-30T07:50:00+01:00",
                "2026-03-30T19:50:00+01:00",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_scheduler_on_paused_time_runs_the_exact_sequence_across_fall_back() {
        assert_eq!(
            runs_on_paused_clock(&["01:30", "07:50", "19:50"], LONDON, "2026-10-24T12:00:00Z", 7).await,
            [
                "2026-10-24T19:50:00+01:00",
                "2026-10-25T01:30:00+01:00",
                "2026-10-25T07:50:00+00:00",
                "2026-10-25T19:50:00+00:00",
                "2026-10-26T01:30:00+00:00",
                "2026-10-26T07:50:00+00:00",
                "2026-10-26T19:50:00+00:00",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_takes_effect_before_the_old_time_comes() {
        let clock = TokioClock::starting_at(utc("2026-11-29T06:00:00Z"));
        let (tx, schedule) = watch::channel(DailySchedule {
            times: times(&["07:50"]),
            timezone: LONDON,
        });
        let (runs_tx, mut runs) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            run_daily(&clock, schedule, move |at| {
                let _ = runs_tx.send(at);
                std::future::ready(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_secs(600)).await;
        tx.send_replace(DailySchedule {
            times: times(&["06:30"]),
            timezone: LONDON,
        });
        assert_eq!(runs.recv().await, Some(utc("2026-11-29T06:30:00Z")));
        assert_eq!(runs.recv().await, Some(utc("2026-11-30T06:30:00Z")), "07:50 is gone");
        // Dropping the sender ends the loop.
        drop(tx);
        task.await.unwrap();
    }
}
