//! Time-weighted availability from state transitions: how much of a window a device spent up.
//!
//! Up is `ok` or `warning` (the device works, if imperfectly); down is `failed` or `unreachable`
//! (a recorder behind a dead switch may still record, but nobody can see or fetch its footage,
//! so the room counts it as down); `unknown` time (before the first result, or while camwatch
//! itself could not judge) counts as neither, so a new device is not punished for being new.

use crate::model::State;

/// Seconds up and down inside `[from, to)`. `before` is the state in force at `from` (the last
/// transition earlier than the window); `transitions` are `(at, new state)` in time order, any of
/// them may lie outside the window.
pub fn up_and_down(before: State, transitions: &[(f64, State)], from: f64, to: f64) -> (f64, f64) {
    let (mut up, mut down) = (0.0, 0.0);
    let mut state = before;
    let mut since = from;
    let mut add = |state: State, start: f64, end: f64| {
        let span = (end.min(to) - start.max(from)).max(0.0);
        match state {
            State::Ok | State::Warning => up += span,
            State::Failed | State::Unreachable => down += span,
            State::Unknown => {}
        }
    };
    for &(at, next) in transitions {
        if at <= from {
            state = next;
            continue;
        }
        if at >= to {
            break;
        }
        add(state, since, at);
        state = next;
        since = at;
    }
    add(state, since, to);
    (up, down)
}

/// Up time over known time, or `None` when nothing is known in the window.
pub fn ratio(before: State, transitions: &[(f64, State)], from: f64, to: f64) -> Option<f64> {
    let (up, down) = up_and_down(before, transitions, from, to);
    (up + down > 0.0).then(|| up / (up + down))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: f64 = 86_400.0;

    #[test]
    fn a_one_hour_outage_in_a_day() {
        let t = [
            (0.0, State::Ok),
            (10.0 * 3600.0, State::Failed),
            (11.0 * 3600.0, State::Ok),
        ];
        let (up, down) = up_and_down(State::Unknown, &t, 0.0, DAY);
        assert_eq!((up, down), (23.0 * 3600.0, 3600.0));
        assert_eq!(ratio(State::Unknown, &t, 0.0, DAY), Some(23.0 / 24.0));
    }

    #[test]
    fn the_state_before_the_window_carries_in_and_unknown_time_does_not_count() {
        // Failed since long before the window, recovered at its middle.
        let t = [(-5.0 * DAY, State::Failed), (0.5 * DAY, State::Ok)];
        assert_eq!(ratio(State::Unknown, &t, 0.0, DAY), Some(0.5));
        // A device first seen half-way through: only the known half counts.
        let t = [(0.5 * DAY, State::Ok)];
        assert_eq!(ratio(State::Unknown, &t, 0.0, DAY), Some(1.0));
        assert_eq!(ratio(State::Unknown, &[], 0.0, DAY), None);
        // Unreachable is down; warning is up.
        let t = [
            (0.0, State::Warning),
            (0.25 * DAY, State::Unreachable),
            (0.5 * DAY, State::Warning),
        ];
        assert_eq!(ratio(State::Unknown, &t, 0.0, DAY), Some(0.75));
        // Transitions after the window are ignored.
        let t = [(0.0, State::Ok), (2.0 * DAY, State::Failed)];
        assert_eq!(ratio(State::Unknown, &t, 0.0, DAY), Some(1.0));
    }
}
