//! Hysteresis for one (device, check): a single bad result is noise, N in a row is a fault.
//!
//! - `unknown` becomes `ok` on the first good result; entering `warning` or `failed` from
//!   `unknown`, `ok` or `warning` takes `failures_before_failed` consecutive results that bad.
//! - Leaving `failed` (or `warning`) takes `successes_before_recovered` consecutive results
//!   better than that.
//! - A result of status `unknown` (the agent could not judge) neither extends nor breaks a streak.
//! - A check that would be `failed` while what it depends on is down (the parent's ping, the
//!   device's own ping, its session: see `config::upstream`) is `unreachable` instead:
//!   the parent is the fault to fix, and measuring continues so the child is seen again later.

use serde::{Deserialize, Serialize};

use crate::model::{State, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Streaks {
    /// Consecutive `failed` results.
    pub failed: u32,
    /// Consecutive results that were `warning` or `failed`.
    pub not_ok: u32,
    /// Consecutive `ok` results.
    pub ok: u32,
    /// Consecutive results that were `ok` or `warning`.
    pub not_failed: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failures_before_failed: u32,
    pub successes_before_recovered: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub state: State,
    pub streaks: Streaks,
}

impl Default for Machine {
    fn default() -> Self {
        Self {
            state: State::Unknown,
            streaks: Streaks::default(),
        }
    }
}

impl Machine {
    /// Feeds one result; returns the new state when it changed. An `immediate` bad result
    /// counts as a full streak.
    pub fn step(&mut self, status: Status, immediate: bool, upstream_down: bool, t: Thresholds) -> Option<State> {
        let s = &mut self.streaks;
        match status {
            Status::Unknown => return None,
            Status::Ok => {
                *s = Streaks {
                    failed: 0,
                    not_ok: 0,
                    ok: s.ok.saturating_add(1),
                    not_failed: s.not_failed.saturating_add(1),
                }
            }
            Status::Warning => {
                *s = Streaks {
                    failed: 0,
                    not_ok: s.not_ok.saturating_add(1),
                    ok: 0,
                    not_failed: s.not_failed.saturating_add(1),
                }
            }
            Status::Failed => {
                *s = Streaks {
                    failed: s.failed.saturating_add(1),
                    not_ok: s.not_ok.saturating_add(1),
                    ok: 0,
                    not_failed: 0,
                }
            }
        }
        let n = if immediate { 1 } else { t.failures_before_failed };
        let m = t.successes_before_recovered;
        let settled = match self.state {
            State::Failed | State::Unreachable => {
                if s.not_failed >= m {
                    if status == Status::Ok {
                        State::Ok
                    } else {
                        State::Warning
                    }
                } else {
                    State::Failed
                }
            }
            current => {
                if s.failed >= n {
                    State::Failed
                } else if current == State::Warning {
                    if s.ok >= m { State::Ok } else { State::Warning }
                } else if s.not_ok >= n {
                    State::Warning
                } else if status == Status::Ok {
                    State::Ok
                } else {
                    current
                }
            }
        };
        let next = if settled == State::Failed && upstream_down {
            State::Unreachable
        } else {
            settled
        };
        (next != self.state).then(|| {
            self.state = next;
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        failures_before_failed: 3,
        successes_before_recovered: 2,
    };

    fn run(m: &mut Machine, statuses: &[Status]) -> Vec<Option<State>> {
        statuses.iter().map(|s| m.step(*s, false, false, T)).collect()
    }

    use Status::{Failed as F, Ok as O, Unknown as U, Warning as W};

    #[test]
    fn unknown_to_ok_at_once_then_failed_after_three() {
        let mut m = Machine::default();
        assert_eq!(run(&mut m, &[O]), vec![Some(State::Ok)]);
        assert_eq!(run(&mut m, &[F, F, F]), vec![None, None, Some(State::Failed)]);
        assert_eq!(run(&mut m, &[O, O]), vec![None, Some(State::Ok)]);
    }

    #[test]
    fn a_single_bad_result_does_not_flap() {
        let mut m = Machine::default();
        assert_eq!(
            run(&mut m, &[O, F, O, F, F, O, F]),
            vec![Some(State::Ok), None, None, None, None, None, None]
        );
        assert_eq!(m.state, State::Ok);
    }

    #[test]
    fn unknown_results_neither_extend_nor_break_streaks() {
        let mut m = Machine::default();
        assert_eq!(
            run(&mut m, &[O, F, U, F, U, F]),
            vec![Some(State::Ok), None, None, None, None, Some(State::Failed)]
        );
        assert_eq!(run(&mut m, &[O, U, O]), vec![None, None, Some(State::Ok)]);
    }

    #[test]
    fn warnings_enter_after_n_and_recover_after_m() {
        let mut m = Machine::default();
        run(&mut m, &[O]);
        assert_eq!(run(&mut m, &[W, W, W]), vec![None, None, Some(State::Warning)]);
        assert_eq!(run(&mut m, &[F, F, F]), vec![None, None, Some(State::Failed)]);
        assert_eq!(run(&mut m, &[W, W]), vec![None, Some(State::Warning)]);
        assert_eq!(run(&mut m, &[O, O]), vec![None, Some(State::Ok)]);
    }

    #[test]
    fn failing_behind_a_down_parent_is_unreachable_and_becomes_failed_when_parent_is_back() {
        let mut m = Machine::default();
        run(&mut m, &[O]);
        assert_eq!(m.step(F, false, true, T), None);
        assert_eq!(m.step(F, false, true, T), None);
        assert_eq!(m.step(F, false, true, T), Some(State::Unreachable));
        assert_eq!(m.step(F, false, true, T), None);
        assert_eq!(m.step(F, false, false, T), Some(State::Failed));
        assert_eq!(m.step(O, false, false, T), None);
        assert_eq!(m.step(O, false, false, T), Some(State::Ok));
    }

    #[test]
    fn an_immediate_result_skips_the_streak_but_not_the_recovery() {
        let mut m = Machine::default();
        run(&mut m, &[O]);
        assert_eq!(m.step(W, true, false, T), Some(State::Warning));
        assert_eq!(m.step(F, true, false, T), Some(State::Failed));
        assert_eq!(m.step(O, false, false, T), None);
        assert_eq!(m.step(O, false, false, T), Some(State::Ok));
    }

    #[test]
    fn thresholds_of_one_follow_every_result() {
        let one = Thresholds {
            failures_before_failed: 1,
            successes_before_recovered: 1,
        };
        let mut m = Machine::default();
        assert_eq!(m.step(F, false, false, one), Some(State::Failed));
        assert_eq!(m.step(W, false, false, one), Some(State::Warning));
        assert_eq!(m.step(O, false, false, one), Some(State::Ok));
    }
}
