//! A recorder runs 24 hours a day: interruptions and time-weighted availability, computed from
//! what the state store remembers of a device. Pure (no clock, no database), so every edge is
//! unit-tested; the definition is written out in the README ("Recorders run 24 hours").
//!
//! Up is `ok` or `warning` (the device works, if imperfectly); down is `failed` or `unreachable`
//! (a recorder behind a dead switch may still record, but nobody can see or fetch its footage,
//! so the room counts it as down); `unknown` time (before the first result, or while camwatch
//! itself could not judge) counts as neither, so a new device is not punished for being new.
//! A recorder that answers but records nothing is down too, for as long as it records nothing.

use serde::Serialize;

use crate::model::State;

/// Interruptions closer together than this are one interruption: a recorder that comes back
/// on the network two minutes before it records again was interrupted once, not twice. A reboot,
/// seen only as a boot time, joins the interruption around it by the same rule.
pub const MERGE_WITHIN_SECONDS: f64 = 120.0;

/// What the state store remembers of one device, as the history check reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// The end of the history (when it was read), Unix seconds.
    pub now: f64,
    /// The start of what was read: the longest window before `now`.
    pub from: f64,
    /// The ping check's state at `from`, and its changes after it, in time order.
    pub reachability_before: State,
    pub reachability: Vec<(f64, State)>,
    /// Boot times of the reboots seen, in time order.
    pub reboots: Vec<f64>,
    /// Whether the device recorded at `from` (None: nothing known), and the changes after it.
    pub recording_before: Option<bool>,
    pub recording: Vec<(f64, bool)>,
    /// Maintenance windows `[start, end)`, merged: planned work, excluded from availability.
    pub maintenance: Vec<(f64, f64)>,
    /// The agent's runs `[started, last seen]` that overlap the history, oldest first: outside
    /// them camwatch saw nothing, so no state runs on there (see [`unobserved`]). The newest
    /// ends at `now` while the agent is running.
    pub runs: Vec<(f64, f64)>,
    /// When the store's first recorded run started (None: it has recorded none). The history
    /// before it was written by a camwatch that kept no runs, and is read as it was recorded.
    pub runs_since: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// The ping check was failed or unreachable.
    Unreachable,
    /// No camera of the device was recording.
    NotRecording,
    /// The device booted (its uptime went back).
    Reboot,
}

impl Cause {
    /// The one name of the cause in everything a program reads (JSON, CSV, the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::NotRecording => "not_recording",
            Self::Reboot => "reboot",
        }
    }

    /// The cause as a sentence says it ("not recording"): the same name, in words.
    pub fn words(self) -> String {
        self.as_str().replace('_', " ")
    }
}

/// Serialized by [`Cause::as_str`], so JSON and CSV cannot spell a cause two ways.
impl Serialize for Cause {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interruption {
    pub start: f64,
    /// None: still going on.
    pub end: Option<f64>,
    /// What was seen during it, in the order of [`Cause`].
    pub causes: Vec<Cause>,
}

impl Interruption {
    pub fn seconds(&self, now: f64) -> f64 {
        self.end.unwrap_or(now) - self.start
    }
}

/// `[start, end)` spans where `down(state)` held, from a state and its later changes.
fn spans<T: Copy>(before: T, changes: &[(f64, T)], from: f64, down: impl Fn(T) -> bool) -> Vec<(f64, Option<f64>)> {
    let mut out = Vec::new();
    let mut open = down(before).then_some(from);
    for &(at, state) in changes {
        match (open, down(state)) {
            (None, true) => open = Some(at),
            (Some(start), false) => {
                out.push((start, Some(at)));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        out.push((start, None));
    }
    out
}

fn is_down(state: State) -> bool {
    matches!(state, State::Failed | State::Unreachable)
}

fn not_recording(h: &History) -> Vec<(f64, Option<f64>)> {
    // Nothing known counts as recording: only a stop that was seen is an interruption.
    spans(h.recording_before.unwrap_or(true), &h.recording, h.from, |recording| {
        !recording
    })
}

/// The spans of `[from, now]` camwatch did not observe: outside the agent's runs (after its
/// first recorded run). The gap after the last run reaches to +Inf, so a state going on when the
/// agent stopped ends there instead of running on; while the agent runs there is no such gap.
pub fn unobserved(h: &History) -> Vec<(f64, f64)> {
    let Some(since) = h.runs_since else {
        return Vec::new();
    };
    let mut gaps = Vec::new();
    let mut cursor = since.max(h.from);
    for &(start, end) in &h.runs {
        if start > cursor {
            gaps.push((cursor, start));
        }
        cursor = cursor.max(end);
    }
    if cursor < h.now {
        gaps.push((cursor, f64::INFINITY));
    }
    gaps
}

/// The device's interruptions that overlap `[from, now]`, oldest first.
///
/// Down spans are clipped by maintenance windows and by the time camwatch did not observe
/// *before* they are merged: planned work is no interruption, and an outage inside a window
/// must not reach out of it to join (and date) a later one. A reboot is an instant the device
/// itself reports; only maintenance hides it.
pub fn interruptions(h: &History) -> Vec<Interruption> {
    let unobserved = unobserved(h);
    let inside = |t: f64, holes: &[(f64, f64)]| holes.iter().any(|&(s, e)| s <= t && t < e);
    let mut pieces: Vec<(f64, Option<f64>, Cause)> = Vec::new();
    let spans = spans(h.reachability_before, &h.reachability, h.from, is_down)
        .into_iter()
        .map(|(s, e)| (s, e, Cause::Unreachable))
        .chain(not_recording(h).into_iter().map(|(s, e)| (s, e, Cause::NotRecording)));
    for (start, end, cause) in spans {
        let span = vec![(start, end.unwrap_or(f64::INFINITY))];
        for (s, e) in subtract(subtract(span, &h.maintenance), &unobserved) {
            pieces.push((s, e.is_finite().then_some(e), cause));
        }
    }
    pieces.extend(
        h.reboots
            .iter()
            .filter(|&&b| !inside(b, &h.maintenance))
            .map(|&b| (b, Some(b), Cause::Reboot)),
    );
    pieces.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<Interruption> = Vec::new();
    for (start, end, cause) in pieces {
        if let Some(last) = merged.last_mut()
            && last.end.is_none_or(|e| start <= e + MERGE_WITHIN_SECONDS)
        {
            last.end = match (last.end, end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            if !last.causes.contains(&cause) {
                last.causes.push(cause);
                last.causes.sort();
            }
            continue;
        }
        merged.push(Interruption {
            start,
            end,
            causes: vec![cause],
        });
    }
    // A span still going on in a window still open starts after `now`: not (yet) an interruption.
    merged.retain(|i| i.end.is_none_or(|e| e >= h.from) && i.start <= h.now);
    merged
}

/// Seconds up and down in the last `window` seconds before `now`: down when unreachable or not
/// recording, up the rest of the time the ping state was known.
pub fn up_and_down_recording(h: &History, window: f64) -> (f64, f64) {
    let (from, to) = (h.now - window, h.now);
    let clip = |(s, e): (f64, Option<f64>)| {
        let (s, e) = (s.max(from), e.unwrap_or(to).min(to));
        (e > s).then_some((s, e))
    };
    let known: Vec<(f64, f64)> = spans(h.reachability_before, &h.reachability, h.from, |s| s != State::Unknown)
        .into_iter()
        .filter_map(clip)
        .collect();
    let mut down: Vec<(f64, f64)> = spans(h.reachability_before, &h.reachability, h.from, is_down)
        .into_iter()
        .filter_map(clip)
        .collect();
    // Not recording counts only while the state was known, like everything else.
    for (s, e) in not_recording(h).into_iter().filter_map(clip) {
        for &(ks, ke) in &known {
            let (a, b) = (s.max(ks), e.min(ke));
            if b > a {
                down.push((a, b));
            }
        }
    }
    // Planned work and the time camwatch did not observe count as neither up nor down.
    let unobserved = unobserved(h);
    let known = subtract(subtract(known, &h.maintenance), &unobserved);
    let down = subtract(subtract(down, &h.maintenance), &unobserved);
    let known_seconds: f64 = known.iter().map(|(s, e)| e - s).sum();
    let down_seconds = union_length(down);
    (known_seconds - down_seconds, down_seconds)
}

/// Up time over known time in the last `window` seconds, or None when nothing is known.
pub fn ratio_recording(h: &History, window: f64) -> Option<f64> {
    let (up, down) = up_and_down_recording(h, window);
    (up + down > 0.0).then(|| up / (up + down))
}

/// Seconds of the last `window` seconds before `now` in maintenance: planned work is not part of
/// the period availability is owed over.
pub fn maintenance_seconds(h: &History, window: f64) -> f64 {
    let (from, to) = (h.now - window, h.now);
    union_length(
        h.maintenance
            .iter()
            .map(|&(s, e)| (s.max(from), e.min(to)))
            .filter(|(s, e)| e > s)
            .collect(),
    )
}

/// What the known part of a period proves about its availability target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Met even if all the time not observed was down.
    Met,
    /// Missed even if all the time not observed was up.
    Missed,
    /// The time not observed could still go either way.
    Undecided,
}

/// Judges `up` and `down` seconds observed in a period of `period` seconds (maintenance left
/// out) against `target`: the period owes `target × period` up, so it allows
/// `(1 − target) × period` down. Missed once the down time observed already exceeds that; met
/// once it would not even if every second not observed were down; undecided in between.
///
/// Why: a ratio over the observed time alone decides a month on its first minutes (27 s down in
/// a new recorder's first five minutes is 91 %, "under the monthly target"). What was not
/// observed is unknown, never failed: only a verdict every possible value of it agrees with is
/// given.
pub fn decide(up: f64, down: f64, period: f64, target: f64) -> Decision {
    let allowed = (1.0 - target) * period;
    let unobserved = (period - up - down).max(0.0);
    if down > allowed {
        Decision::Missed
    } else if down + unobserved <= allowed {
        Decision::Met
    } else {
        Decision::Undecided
    }
}

/// `spans` without the time covered by `holes` (both `[start, end)`; holes sorted and disjoint).
fn subtract(spans: Vec<(f64, f64)>, holes: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (mut s, e) in spans {
        for &(hs, he) in holes {
            if he <= s || hs >= e {
                continue;
            }
            if hs > s {
                out.push((s, hs));
            }
            s = s.max(he);
        }
        if e > s {
            out.push((s, e));
        }
    }
    out
}

fn union_length(mut spans: Vec<(f64, f64)>) -> f64 {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in spans {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

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

    fn history(reachability: Vec<(f64, State)>, reboots: Vec<f64>, recording: Vec<(f64, bool)>) -> History {
        History {
            now: 30.0 * DAY,
            from: 0.0,
            reachability_before: State::Unknown,
            reachability,
            reboots,
            recording_before: None,
            recording,
            maintenance: vec![],
            runs: vec![],
            runs_since: None,
        }
    }

    #[test]
    fn unreachable_not_recording_and_reboots_merge_into_interruptions() {
        let h = history(
            vec![
                (0.0, State::Ok),
                (10.0 * DAY, State::Unreachable),
                (10.0 * DAY + 600.0, State::Ok),
                (20.0 * DAY, State::Failed),
            ],
            // A reboot inside the first outage, and one on its own.
            vec![10.0 * DAY + 300.0, 15.0 * DAY],
            // Recording resumes 100 s after the recorder is reachable again: the same interruption.
            // Then a stop with the recorder reachable.
            vec![
                (10.0 * DAY + 60.0, false),
                (10.0 * DAY + 700.0, true),
                (12.0 * DAY, false),
                (12.0 * DAY + 3600.0, true),
            ],
        );
        let found = interruptions(&h);
        assert_eq!(
            found,
            vec![
                Interruption {
                    start: 10.0 * DAY,
                    end: Some(10.0 * DAY + 700.0),
                    causes: vec![Cause::Unreachable, Cause::NotRecording, Cause::Reboot],
                },
                Interruption {
                    start: 12.0 * DAY,
                    end: Some(12.0 * DAY + 3600.0),
                    causes: vec![Cause::NotRecording],
                },
                Interruption {
                    start: 15.0 * DAY,
                    end: Some(15.0 * DAY),
                    causes: vec![Cause::Reboot],
                },
                Interruption {
                    start: 20.0 * DAY,
                    end: None,
                    causes: vec![Cause::Unreachable],
                },
            ]
        );
        // Down: 700 s + 3600 s + the last 10 days; the reboot alone adds nothing measurable.
        let (up, down) = up_and_down_recording(&h, 30.0 * DAY);
        assert_eq!(down, 700.0 + 3600.0 + 10.0 * DAY);
        assert_eq!(up, 30.0 * DAY - down);
        // Over the last day only the ongoing outage counts.
        assert_eq!(ratio_recording(&h, DAY), Some(0.0));
    }

    #[test]
    fn not_recording_while_nothing_is_known_does_not_count() {
        // Ping known only from day 5; recording stopped from day 4 to day 6.
        let h = history(
            vec![(5.0 * DAY, State::Ok)],
            vec![],
            vec![(4.0 * DAY, false), (6.0 * DAY, true)],
        );
        let (up, down) = up_and_down_recording(&h, 30.0 * DAY);
        assert_eq!(down, DAY);
        assert_eq!(up, 24.0 * DAY);
        // A device that never stopped recording and was always reachable: 100 %.
        let h = history(vec![(0.0, State::Ok)], vec![], vec![]);
        assert_eq!(ratio_recording(&h, 7.0 * DAY), Some(1.0));
        assert!(interruptions(&h).is_empty());
        // Nothing known at all.
        assert_eq!(ratio_recording(&history(vec![], vec![], vec![]), DAY), None);
    }

    #[test]
    fn an_interruption_before_the_history_is_not_listed_but_one_crossing_it_is() {
        let mut h = history(vec![(0.0, State::Ok)], vec![], vec![]);
        h.from = 10.0 * DAY;
        h.reachability = vec![
            (DAY, State::Failed),
            (DAY + 60.0, State::Ok),
            (9.0 * DAY, State::Failed),
            (11.0 * DAY, State::Ok),
        ];
        let found = interruptions(&h);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].start, found[0].end), (9.0 * DAY, Some(11.0 * DAY)));
    }

    #[test]
    fn maintenance_is_neither_up_nor_down_and_planned_work_is_no_interruption() {
        let mut h = history(
            vec![
                (0.0, State::Ok),
                (10.0 * DAY, State::Failed),
                (10.0 * DAY + 3600.0, State::Ok),
                (20.0 * DAY, State::Failed),
                (20.0 * DAY + 7200.0, State::Ok),
            ],
            vec![],
            vec![],
        );
        // A window covering the first outage whole, and the first hour of the second.
        h.maintenance = vec![
            (10.0 * DAY - 600.0, 10.0 * DAY + 4000.0),
            (20.0 * DAY, 20.0 * DAY + 3600.0),
        ];
        let found = interruptions(&h);
        assert_eq!(found.len(), 1, "{found:?}");
        // Only its time outside the window is an interruption.
        assert_eq!(
            (found[0].start, found[0].end),
            (20.0 * DAY + 3600.0, Some(20.0 * DAY + 7200.0))
        );
        // Going on inside a window still open: not (yet) an interruption.
        let mut ongoing = h.clone();
        ongoing.reachability.pop();
        ongoing.maintenance[1].1 = 31.0 * DAY;
        assert!(interruptions(&ongoing).is_empty());
        let (up, down) = up_and_down_recording(&h, 30.0 * DAY);
        assert_eq!(down, 3600.0);
        assert_eq!(up + down, 30.0 * DAY - 4600.0 - 3600.0);
    }

    #[test]
    fn an_outage_inside_a_window_does_not_join_a_later_one() {
        // Down until 20 s before a one-hour window ends, then 20 s down a minute after it ended:
        // 80 s apart, less than the 2 minutes that join outages.
        let w = 10.0 * DAY;
        let mut h = history(
            vec![
                (0.0, State::Ok),
                (w + 600.0, State::Failed),
                (w + 3580.0, State::Ok),
                (w + 3660.0, State::Failed),
                (w + 3680.0, State::Ok),
            ],
            vec![w + 1000.0],
            vec![],
        );
        h.maintenance = vec![(w, w + 3600.0)];
        let found = interruptions(&h);
        assert_eq!(
            found,
            vec![Interruption {
                start: w + 3660.0,
                end: Some(w + 3680.0),
                causes: vec![Cause::Unreachable],
            }]
        );
        assert_eq!(up_and_down_recording(&h, 30.0 * DAY).1, 20.0);
    }

    #[test]
    fn time_outside_the_agents_runs_is_neither_up_nor_down_and_no_state_runs_on() {
        // Ok from the start; the agent ran for days 0-10 and 12-30.
        let mut h = history(vec![(0.0, State::Ok)], vec![], vec![]);
        h.runs = vec![(0.0, 10.0 * DAY), (12.0 * DAY, 30.0 * DAY)];
        h.runs_since = Some(0.0);
        assert_eq!(unobserved(&h), vec![(10.0 * DAY, 12.0 * DAY)]);
        assert_eq!(up_and_down_recording(&h, 30.0 * DAY), (28.0 * DAY, 0.0));
        // Down when the agent stopped, still down when it came back: the outage is what was seen
        // of it, not the two days between.
        h.reachability = vec![(0.0, State::Ok), (9.0 * DAY, State::Failed), (13.0 * DAY, State::Ok)];
        assert_eq!(up_and_down_recording(&h, 30.0 * DAY), (26.0 * DAY, 2.0 * DAY));
        let found: Vec<(f64, Option<f64>)> = interruptions(&h).iter().map(|i| (i.start, i.end)).collect();
        assert_eq!(
            found,
            vec![(9.0 * DAY, Some(10.0 * DAY)), (12.0 * DAY, Some(13.0 * DAY))]
        );
        // The agent stopped on day 20 and has not run since: nothing after it is known, and an
        // outage going on then ends there.
        h.runs = vec![(0.0, 20.0 * DAY)];
        h.reachability = vec![(0.0, State::Ok), (19.0 * DAY, State::Failed)];
        assert_eq!(up_and_down_recording(&h, 30.0 * DAY), (19.0 * DAY, DAY));
        assert_eq!(interruptions(&h)[0].end, Some(20.0 * DAY));
        // While it runs (the newest run reaches now) an outage is going on.
        h.runs = vec![(0.0, 30.0 * DAY)];
        assert_eq!(interruptions(&h)[0].end, None);
        // History from before the store recorded runs is read as it was recorded.
        h.runs = vec![(25.0 * DAY, 30.0 * DAY)];
        h.runs_since = Some(25.0 * DAY);
        assert!(unobserved(&h).is_empty());
        assert_eq!(up_and_down_recording(&h, 30.0 * DAY), (19.0 * DAY, 11.0 * DAY));
    }

    #[test]
    fn a_period_is_decided_only_when_what_was_not_observed_cannot_change_it() {
        let month = 30.0 * DAY;
        // 99.9 % of 30 days allows 43 m 12 s down.
        let allowed = 2592.0;
        // 27 s down in the first five minutes: undecided, not missed.
        assert_eq!(decide(273.0, 27.0, month, 0.999), Decision::Undecided);
        // More down than the whole month allows: missed, however the rest goes.
        assert_eq!(decide(3000.0, allowed + 1.0, month, 0.999), Decision::Missed);
        assert_eq!(decide(3000.0, allowed, month, 0.999), Decision::Undecided);
        // Met once even an all-down remainder stays within the allowance.
        assert_eq!(decide(month - allowed, 0.0, month, 0.999), Decision::Met);
        assert_eq!(decide(month - allowed - 1.0, 2.0, month, 0.999), Decision::Undecided);
        assert_eq!(decide(month - allowed, allowed, month, 0.999), Decision::Met);
        // A whole month observed is decided by its ratio alone.
        assert_eq!(decide(month - 900.0, 900.0, month, 0.999), Decision::Met);
        assert_eq!(decide(month - 2700.0, 2700.0, month, 0.999), Decision::Missed);
    }
}
