//! Retention coverage: what a camera's footage proves, computed exactly from its footage as
//! intervals. Pure (no clock, no disk), so every edge is unit-tested to the second. The
//! definition is written out in the README ("Retention coverage"); this file is its reference.
//!
//! Times are whole Unix seconds: footage file names carry seconds, and "to the second" is what
//! an auditor asks for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A span as people say it: "21 days 4 h", "1 h 02 m", "4 m 10 s".
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec} s"),
        (0, 0, _) => format!("{m} m {sec:02} s"),
        (0, _, _) => format!("{h} h {m:02} m"),
        (1, _, _) => format!("1 day {h} h"),
        _ => format!("{d} days {h} h"),
    }
}

/// Merged footage intervals `[start, end)`, kept sorted and disjoint: segments that touch or
/// overlap become one interval. Inserts may arrive in any order (a directory listing is not
/// sorted), and memory grows with the number of *holes*, not with the number of files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalSet {
    by_start: BTreeMap<i64, i64>,
}

impl IntervalSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_intervals(intervals: impl IntoIterator<Item = (i64, i64)>) -> Self {
        let mut set = Self::new();
        for (s, e) in intervals {
            set.insert(s, e);
        }
        set
    }

    /// Adds `[start, end)`; empty or reversed intervals are ignored.
    pub fn insert(&mut self, mut start: i64, mut end: i64) {
        if end <= start {
            return;
        }
        // The interval starting at or before `start` may touch or overlap it.
        if let Some((&s, &e)) = self.by_start.range(..=start).next_back()
            && e >= start
        {
            if e >= end {
                return; // already covered
            }
            start = s;
            self.by_start.remove(&s);
        }
        // Every interval starting inside [start, end] is swallowed.
        while let Some((&s, &e)) = self.by_start.range(start..=end).next() {
            end = end.max(e);
            self.by_start.remove(&s);
        }
        self.by_start.insert(start, end);
    }

    /// Takes `[start, end)` out: intervals inside it vanish, intervals crossing its edges are cut
    /// there (a recorder's "no data from t1 to t2" inside a track's span).
    pub fn remove(&mut self, start: i64, end: i64) {
        if end <= start {
            return;
        }
        if let Some((&s, &e)) = self.by_start.range(..start).next_back()
            && e > start
        {
            self.by_start.insert(s, start);
            if e > end {
                self.by_start.insert(end, e);
            }
        }
        let inside: Vec<(i64, i64)> = self.by_start.range(start..end).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in inside {
            self.by_start.remove(&s);
            if e > end {
                self.by_start.insert(end, e);
            }
        }
    }

    /// Adds every interval of `other`.
    pub fn extend(&mut self, other: &IntervalSet) {
        for (s, e) in other.iter() {
            self.insert(s, e);
        }
    }

    /// Forgets footage before `cutoff` (intervals crossing it are cut there).
    pub fn drop_before(&mut self, cutoff: i64) {
        let keep = self.by_start.split_off(&cutoff);
        let crossing = self
            .by_start
            .iter()
            .next_back()
            .map(|(_, &e)| e)
            .filter(|&e| e > cutoff);
        self.by_start = keep;
        if let Some(e) = crossing {
            self.insert(cutoff, e);
        }
    }

    /// The first second with footage at or after `t` (`t` itself when an interval holds it).
    pub fn first_from(&self, t: i64) -> Option<i64> {
        if let Some((_, &e)) = self.by_start.range(..=t).next_back()
            && e > t
        {
            return Some(t);
        }
        self.by_start.range(t..).next().map(|(&s, _)| s)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (i64, i64)> + '_ {
        self.by_start.iter().map(|(&s, &e)| (s, e))
    }

    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }

    pub fn to_vec(&self) -> Vec<(i64, i64)> {
        self.iter().collect()
    }
}

/// Contiguous coverage is measured up to this far beyond a camera's own requirement: every
/// source keeps its footage that far beyond the longest requirement of the device's cameras
/// (older footage is forgotten), and a camera beside one required to keep more is not measured
/// by that one's window.
pub const MEASURED_BEYOND_REQUIRED: i64 = 86_400;

/// The rules coverage is measured against (from the device's policy), in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Required footage age: the window is `[now - required, now]`.
    pub required: i64,
    /// A span without footage longer than this is a gap.
    pub max_gap: i64,
    /// Newest footage at most this old means "recording now".
    pub freshness: i64,
}

/// What the recording storage says about the future.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Storage {
    /// Footage bytes written per day (all cameras sharing the storage: a recorder deletes the
    /// oldest footage of the whole disk, not per camera).
    pub bytes_per_day: f64,
    pub size_bytes: u64,
    pub free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub start: i64,
    pub end: i64,
}

impl Gap {
    pub fn seconds(&self) -> i64 {
        self.end - self.start
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// Start of the oldest footage (None: no footage at all).
    pub oldest: Option<i64>,
    /// End of the newest footage.
    pub newest: Option<i64>,
    pub recording_now: bool,
    /// Gaps inside the required window, oldest first.
    pub gaps: Vec<Gap>,
    pub gap_seconds: i64,
    /// How far back from now footage runs without a gap longer than the allowed one.
    pub contiguous_seconds: i64,
    pub required_seconds: i64,
    pub compliant: bool,
    /// Retention once the disk is full: capacity over bytes written per day (None: unknown).
    pub steady_state_seconds: Option<f64>,
    /// Seconds until coverage falls under the requirement: 0 when it already is, +Inf when the
    /// storage keeps enough (or nothing is being written).
    pub forecast_seconds: f64,
}

/// Computes a camera's coverage at `now` from its merged footage intervals.
pub fn coverage(footage: &IntervalSet, now: i64, rules: Rules, storage: Option<Storage>) -> Coverage {
    let oldest = footage.iter().next().map(|(s, _)| s);
    let newest = footage.iter().next_back().map(|(_, e)| e);
    let recording_now = newest.is_some_and(|n| now - n <= rules.freshness);

    // Gaps inside the window [now - required, now]: from the window's start (the time before
    // the oldest footage in it counts), between intervals, and from the newest footage to now.
    let window_start = now - rules.required;
    let mut gaps = Vec::new();
    let mut cursor = window_start;
    for (s, e) in footage.iter() {
        if e <= window_start {
            continue;
        }
        if s >= now {
            break;
        }
        if s - cursor > rules.max_gap {
            gaps.push(Gap { start: cursor, end: s });
        }
        cursor = cursor.max(e);
    }
    // The trailing stretch is judged by freshness: recording stopped, not a hole in the past.
    // With no footage in the window at all, the whole window is one gap.
    if cursor < now && (now - cursor > rules.freshness || cursor == window_start) {
        gaps.push(Gap {
            start: cursor,
            end: now,
        });
    }
    let gap_seconds = gaps.iter().map(Gap::seconds).sum();

    let contiguous_seconds = if recording_now {
        let mut intervals = footage.iter().rev();
        let (mut reach, _) = intervals.next().expect("recording now implies footage");
        for (s, e) in intervals {
            if reach - e > rules.max_gap {
                break;
            }
            reach = s;
        }
        now - reach.max(window_start - MEASURED_BEYOND_REQUIRED)
    } else {
        0
    };
    let compliant = recording_now && contiguous_seconds >= rules.required;

    let steady_state_seconds = storage
        .filter(|s| s.bytes_per_day > 0.0 && s.size_bytes > 0)
        .map(|s| s.size_bytes as f64 / s.bytes_per_day * 86_400.0);
    let forecast_seconds = if !compliant {
        0.0
    } else {
        match (storage, steady_state_seconds) {
            (Some(s), Some(steady)) if steady < rules.required as f64 => {
                s.free_bytes as f64 / s.bytes_per_day * 86_400.0
            }
            _ => f64::INFINITY,
        }
    };
    Coverage {
        oldest,
        newest,
        recording_now,
        gaps,
        gap_seconds,
        contiguous_seconds,
        required_seconds: rules.required,
        compliant,
        steady_state_seconds,
        forecast_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;
    const RULES: Rules = Rules {
        required: 30 * DAY,
        max_gap: 300,
        freshness: 300,
    };

    fn set(v: &[(i64, i64)]) -> IntervalSet {
        IntervalSet::from_intervals(v.iter().copied())
    }

    fn gaps(c: &Coverage) -> Vec<(i64, i64)> {
        c.gaps.iter().map(|g| (g.start, g.end)).collect()
    }

    #[test]
    fn touching_and_overlapping_segments_merge_in_any_order() {
        let s = set(&[(20, 30), (0, 10), (10, 20), (25, 40), (50, 60), (45, 50), (100, 90)]);
        assert_eq!(s.to_vec(), vec![(0, 40), (45, 60)]);
        let mut s = set(&[(0, 10), (20, 30), (40, 50)]);
        s.insert(5, 45);
        assert_eq!(s.to_vec(), vec![(0, 50)]);
        s.insert(1, 2);
        assert_eq!(s.to_vec(), vec![(0, 50)]);
        s.drop_before(30);
        assert_eq!(s.to_vec(), vec![(30, 50)]);
        // The first footage from a time: that time inside an interval, else the next start.
        let s = set(&[(0, 10), (20, 30)]);
        assert_eq!(
            (s.first_from(5), s.first_from(10), s.first_from(15)),
            (Some(5), Some(20), Some(20))
        );
        assert_eq!((s.first_from(-5), s.first_from(30)), (Some(0), None));
    }

    #[test]
    fn removing_cuts_holes_and_edges() {
        let mut s = set(&[(0, 100), (200, 300)]);
        s.remove(10, 20);
        assert_eq!(s.to_vec(), vec![(0, 10), (20, 100), (200, 300)]);
        s.remove(90, 250);
        assert_eq!(s.to_vec(), vec![(0, 10), (20, 90), (250, 300)]);
        s.remove(-5, 0);
        s.remove(300, 400);
        s.remove(7, 7);
        assert_eq!(s.to_vec(), vec![(0, 10), (20, 90), (250, 300)]);
        s.remove(i64::MIN, i64::MAX);
        assert!(s.is_empty());
    }

    #[test]
    fn no_footage_is_one_gap_over_the_whole_window() {
        let c = coverage(&IntervalSet::new(), NOW, RULES, None);
        assert_eq!((c.oldest, c.newest, c.recording_now), (None, None, false));
        assert_eq!(gaps(&c), vec![(NOW - 30 * DAY, NOW)]);
        assert_eq!(c.gap_seconds, 30 * DAY);
        assert_eq!((c.contiguous_seconds, c.compliant, c.forecast_seconds), (0, false, 0.0));
    }

    #[test]
    fn one_segment_just_written() {
        let c = coverage(&set(&[(NOW - 10, NOW - 2)]), NOW, RULES, None);
        assert!(c.recording_now);
        assert_eq!(c.contiguous_seconds, 10);
        assert_eq!(gaps(&c), vec![(NOW - 30 * DAY, NOW - 10)]);
        assert!(!c.compliant);
    }

    #[test]
    fn full_window_with_gaps_allowed_and_not() {
        let start = NOW - 40 * DAY;
        // A gap of exactly max_gap is allowed; one second more is a gap.
        let exact = NOW - 20 * DAY;
        let longer = NOW - 10 * DAY;
        let footage = set(&[(start, exact), (exact + 300, longer), (longer + 301, NOW - 60)]);
        let c = coverage(&footage, NOW, RULES, None);
        assert_eq!(c.oldest, Some(start));
        assert_eq!(c.newest, Some(NOW - 60));
        assert_eq!(gaps(&c), vec![(longer, longer + 301)]);
        assert_eq!(c.gap_seconds, 301);
        assert_eq!(c.contiguous_seconds, NOW - (longer + 301));
        assert!(!c.compliant);
        let c = coverage(&footage, NOW, Rules { max_gap: 301, ..RULES }, None);
        assert!(c.gaps.is_empty());
        // 40 days of footage, measured up to the requirement plus a day.
        assert_eq!(c.contiguous_seconds, 31 * DAY);
        assert!(c.compliant);
        let c = coverage(
            &footage,
            NOW,
            Rules {
                max_gap: 301,
                required: 7 * DAY,
                ..RULES
            },
            None,
        );
        assert_eq!(c.contiguous_seconds, 8 * DAY);
        let c = coverage(
            &footage,
            NOW,
            Rules {
                max_gap: 301,
                required: 90 * DAY,
                ..RULES
            },
            None,
        );
        assert_eq!(c.contiguous_seconds, NOW - start);
    }

    #[test]
    fn window_boundaries() {
        // Footage from exactly the window's start: compliant, nothing missing.
        let c = coverage(&set(&[(NOW - 30 * DAY, NOW)]), NOW, RULES, None);
        assert!(c.compliant && c.gaps.is_empty());
        assert_eq!(c.contiguous_seconds, 30 * DAY);
        // One second short: not compliant, but a 1 s lead is not a gap (not longer than max_gap).
        let c = coverage(&set(&[(NOW - 30 * DAY + 1, NOW)]), NOW, RULES, None);
        assert!(!c.compliant && c.gaps.is_empty());
        // 301 s short: the lead is a gap.
        let c = coverage(&set(&[(NOW - 30 * DAY + 301, NOW)]), NOW, RULES, None);
        assert_eq!(gaps(&c), vec![(NOW - 30 * DAY, NOW - 30 * DAY + 301)]);
        // A gap before the window does not count; one crossing its start is cut there.
        let c = coverage(
            &set(&[(NOW - 40 * DAY, NOW - 35 * DAY), (NOW - 31 * DAY, NOW)]),
            NOW,
            RULES,
            None,
        );
        assert!(c.gaps.is_empty() && c.compliant);
        let c = coverage(
            &set(&[(NOW - 40 * DAY, NOW - 31 * DAY), (NOW - 29 * DAY, NOW)]),
            NOW,
            RULES,
            None,
        );
        assert_eq!(gaps(&c), vec![(NOW - 30 * DAY, NOW - 29 * DAY)]);
    }

    #[test]
    fn freshness_edges_and_stopped_recording() {
        let from = NOW - 31 * DAY;
        let c = coverage(&set(&[(from, NOW - 300)]), NOW, RULES, None);
        assert!(c.recording_now && c.compliant && c.gaps.is_empty());
        let c = coverage(&set(&[(from, NOW - 301)]), NOW, RULES, None);
        assert!(!c.recording_now && !c.compliant);
        assert_eq!(c.contiguous_seconds, 0);
        assert_eq!(gaps(&c), vec![(NOW - 301, NOW)]);
        // Stopped yesterday.
        let c = coverage(&set(&[(from, NOW - DAY)]), NOW, RULES, None);
        assert_eq!(gaps(&c), vec![(NOW - DAY, NOW)]);
        assert_eq!(c.gap_seconds, DAY);
    }

    #[test]
    fn forecast_from_storage() {
        let footage = set(&[(NOW - 31 * DAY, NOW)]);
        let gib = 1u64 << 30;
        // 100 GiB a day on 2 TiB: 20.48 days when full < 30: falls under when the disk fills.
        let storage = Storage {
            bytes_per_day: 100.0 * gib as f64,
            size_bytes: 2048 * gib,
            free_bytes: 500 * gib,
        };
        let c = coverage(&footage, NOW, RULES, Some(storage));
        assert_eq!(c.steady_state_seconds, Some(20.48 * DAY as f64));
        assert_eq!(c.forecast_seconds, 5.0 * DAY as f64);
        // 8 TiB keeps 81.92 days: never falls under.
        let c = coverage(
            &footage,
            NOW,
            RULES,
            Some(Storage {
                size_bytes: 8192 * gib,
                ..storage
            }),
        );
        assert_eq!(c.forecast_seconds, f64::INFINITY);
        // Nothing written: nothing fills.
        let c = coverage(
            &footage,
            NOW,
            RULES,
            Some(Storage {
                bytes_per_day: 0.0,
                ..storage
            }),
        );
        assert_eq!((c.steady_state_seconds, c.forecast_seconds), (None, f64::INFINITY));
    }
}
