//! What the store could not write yet, kept in memory in the order it happened, bounded.
//!
//! When a commit fails for a reason that may pass (a full disk, an I/O error, a read-only or
//! locked file, a damaged page), the writer keeps the batch here and writes it, oldest first,
//! once a commit succeeds again, so the history shows the failure and the repair at their real
//! times. The backlog holds at most [`CAP_ROWS`] rows; past that it sheds the least valuable
//! row first, the oldest of that worth first:
//! plain results (a check run that changed nothing), then results that changed a state (the
//! transitions), incidents, events, and last the records people made (procedure records,
//! maintenance windows). Every shed row is counted. What a check remembers (`check_state`) is
//! never lost with a shed result: the writer keeps the newest saved state of each check aside.

use std::collections::{BTreeMap, BTreeSet};

/// Rows kept in memory at most while the store cannot write: a day of one result a minute for
/// about 70 checks, or an hour and a half of 1,000 checks every 5 minutes (some 50 MB at most).
pub const CAP_ROWS: usize = 100_000;

/// How much a row is worth keeping, least first: the order rows are shed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Worth {
    /// A check run that changed no state: the next run says as much.
    PlainResult,
    /// A check run that changed a state: what availability is computed from.
    Transition,
    Incident,
    /// Reboots, interruptions, baselines accepted: counted and reported.
    Event,
    /// Procedure records and maintenance windows: what people did, nowhere else.
    Record,
}

/// Rows in the order they happened, each with its worth.
#[derive(Debug)]
pub struct Backlog<T> {
    cap: usize,
    next: u64,
    rows: BTreeMap<u64, (Worth, T)>,
    by_worth: BTreeSet<(Worth, u64)>,
    shed: u64,
}

impl<T> Backlog<T> {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            next: 0,
            rows: BTreeMap::new(),
            by_worth: BTreeSet::new(),
            shed: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows shed since the backlog was made.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// Adds `row` at the end; returns the rows shed to stay within the cap (oldest of the least
    /// worth first; possibly `row` itself), each with the number it was given.
    pub fn push(&mut self, worth: Worth, row: T) -> Vec<(u64, T)> {
        let seq = self.next;
        self.next += 1;
        self.rows.insert(seq, (worth, row));
        self.by_worth.insert((worth, seq));
        let mut shed = Vec::new();
        while self.rows.len() > self.cap {
            let Some((_, victim)) = self.by_worth.pop_first() else {
                break;
            };
            if let Some((_, row)) = self.rows.remove(&victim) {
                self.shed += 1;
                shed.push((victim, row));
            }
        }
        shed
    }

    /// The number the next row pushed will get.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The oldest `n` rows, oldest first.
    pub fn front(&self, n: usize) -> impl Iterator<Item = &T> {
        self.rows.values().take(n).map(|(_, row)| row)
    }

    /// Removes the oldest `n` rows (written, or given up on).
    pub fn pop_front(&mut self, n: usize) {
        for _ in 0..n {
            let Some((seq, (worth, _))) = self.rows.pop_first() else {
                break;
            };
            self.by_worth.remove(&(worth, seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_cap_nothing_is_shed_and_rows_come_back_in_order() {
        let mut b = Backlog::new(3);
        for (worth, row) in [(Worth::Record, "a"), (Worth::PlainResult, "b"), (Worth::Event, "c")] {
            assert!(b.push(worth, row).is_empty());
        }
        assert_eq!(b.front(10).copied().collect::<Vec<_>>(), ["a", "b", "c"]);
        b.pop_front(2);
        assert_eq!(b.front(10).copied().collect::<Vec<_>>(), ["c"]);
        assert_eq!((b.len(), b.shed()), (1, 0));
    }

    #[test]
    fn over_the_cap_the_oldest_row_of_the_least_worth_goes_first() {
        let mut b = Backlog::new(4);
        b.push(Worth::Incident, "incident");
        b.push(Worth::PlainResult, "plain 1");
        b.push(Worth::Transition, "transition");
        b.push(Worth::PlainResult, "plain 2");
        let shed: Vec<&str> = b.push(Worth::Record, "handover").into_iter().map(|(_, r)| r).collect();
        assert_eq!(shed, ["plain 1"]);
        let shed: Vec<&str> = b.push(Worth::Event, "reboot").into_iter().map(|(_, r)| r).collect();
        assert_eq!(shed, ["plain 2"]);
        // No plain result left: the transition goes before the incident, the event, the record.
        let shed: Vec<&str> = b.push(Worth::Record, "window").into_iter().map(|(_, r)| r).collect();
        assert_eq!(shed, ["transition"]);
        let shed: Vec<&str> = b.push(Worth::Event, "baseline").into_iter().map(|(_, r)| r).collect();
        assert_eq!(shed, ["incident"]);
        assert_eq!(
            b.front(10).copied().collect::<Vec<_>>(),
            ["handover", "reboot", "window", "baseline"],
            "the rows kept stay in the order they happened"
        );
        assert_eq!(b.shed(), 4);
        // A row worth less than everything kept is itself the one shed.
        let shed: Vec<&str> = b
            .push(Worth::PlainResult, "plain 3")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(shed, ["plain 3"]);
        assert_eq!((b.len(), b.shed()), (4, 5));
    }

    #[test]
    fn rows_written_leave_the_shedding_order_too() {
        let mut b = Backlog::new(2);
        b.push(Worth::PlainResult, "old plain");
        b.push(Worth::Record, "record");
        b.pop_front(1);
        assert!(b.push(Worth::Record, "another").is_empty());
        let shed: Vec<&str> = b.push(Worth::Record, "third").into_iter().map(|(_, r)| r).collect();
        assert_eq!(shed, ["record"], "the written plain result is not shed twice");
    }
}
