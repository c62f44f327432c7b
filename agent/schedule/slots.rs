//! Shared wake-ups. Every device task keeps its own random phase, but its runs start on a grid
//! of [`SLOT`]-long slots counted from one epoch shared by the whole scheduler, so the runs due
//! within the same slot become one timer expiry: the runtime wakes once and starts them all,
//! instead of waking once per check (each wake-up is a return from `epoll_wait` and a worker
//! thread unparked, which cost more than pinging a device on loopback).
//!
//! *Why 100 ms:* a thousand devices every 15 s are 67 runs a second, so a slot gathers about 7 of
//! them; a run starts at most one slot later than its phase, which no interval a person sets can
//! notice, and 150 slots in a 15 s interval still spread the devices out.

use std::time::Duration;

use tokio::time::Instant;

/// How finely the runs' start times are grouped.
pub const SLOT: Duration = Duration::from_millis(100);

/// The grid of slots every task of one scheduler shares.
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    epoch: Instant,
}

impl Slots {
    pub fn new(epoch: Instant) -> Self {
        Self { epoch }
    }

    /// The start of the first slot at or after `at`.
    pub fn at_or_after(&self, at: Instant) -> Instant {
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        let slot = SLOT.as_nanos();
        let slots_since = since.div_ceil(slot);
        let offset = u64::try_from(slots_since * slot).unwrap_or(u64::MAX);
        self.epoch + Duration::from_nanos(offset)
    }

    /// Runs every `interval` from `first`, each started at the slot it falls in.
    pub fn ticker(&self, first: Instant, interval: Duration) -> Ticker {
        Ticker {
            slots: *self,
            phase: first,
            interval,
        }
    }
}

/// A device task's runs on the shared grid.
#[derive(Debug)]
pub struct Ticker {
    slots: Slots,
    /// When the next run is due by the device's own phase; it starts at this instant's slot.
    /// Kept unrounded so that an interval which is not a whole number of slots keeps its length
    /// on average instead of growing by a slot every run.
    phase: Instant,
    interval: Duration,
}

impl Ticker {
    /// Waits for the next run's slot and returns it, the instant the run was due. A run that
    /// overran (a long timeout) shifts the schedule instead of firing a burst to catch up: the
    /// missed slot is returned at once, so the overrun shows as lateness, and the next run is due
    /// an interval later. Cancel-safe: a tick given up for a "run now" is still the next one.
    pub async fn tick(&mut self) -> Instant {
        let due = self.slots.at_or_after(self.phase);
        let now = Instant::now();
        if due < now {
            self.phase = now + self.interval;
            return due;
        }
        tokio::time::sleep_until(due).await;
        self.phase += self.interval;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn runs_due_within_one_slot_wake_together() {
        let epoch = Instant::now();
        let slots = Slots::new(epoch);
        let mut early = slots.ticker(epoch + ms(210), ms(15_000));
        let mut late = slots.ticker(epoch + ms(290), ms(15_000));
        let mut next_slot = slots.ticker(epoch + ms(301), ms(15_000));
        assert_eq!(early.tick().await, epoch + ms(300));
        assert_eq!(
            Instant::now(),
            epoch + ms(300),
            "woken at the slot, not at its own phase"
        );
        assert_eq!(late.tick().await, epoch + ms(300));
        assert_eq!(
            Instant::now(),
            epoch + ms(300),
            "the same wake-up served the second run"
        );
        assert_eq!(next_slot.tick().await, epoch + ms(400));
        assert_eq!(
            early.tick().await,
            epoch + ms(15_300),
            "the phase is kept run after run"
        );
        assert_eq!(late.tick().await, epoch + ms(15_300));
        assert_eq!(next_slot.tick().await, epoch + ms(15_400));
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_of_part_slots_keeps_its_length_on_average() {
        let epoch = Instant::now();
        let mut ticker = Slots::new(epoch).ticker(epoch, ms(150));
        let mut wakes = Vec::new();
        for _ in 0..5 {
            wakes.push(ticker.tick().await.duration_since(epoch));
        }
        assert_eq!(wakes, [ms(0), ms(200), ms(300), ms(500), ms(600)]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrun_is_reported_late_once_then_the_schedule_moves() {
        let epoch = Instant::now();
        let mut ticker = Slots::new(epoch).ticker(epoch + ms(1_000), ms(1_000));
        assert_eq!(ticker.tick().await, epoch + ms(1_000));
        // The run took 2.55 s: the tick due at 2 s was missed.
        tokio::time::sleep(ms(2_550)).await;
        assert_eq!(ticker.tick().await, epoch + ms(2_000), "the missed run, at once");
        assert_eq!(Instant::now(), epoch + ms(3_550), "no waiting for a missed run");
        assert_eq!(ticker.tick().await, epoch + ms(4_600), "an interval later, on its slot");
        assert_eq!(ticker.tick().await, epoch + ms(5_600), "no burst of catching up");
    }

    #[tokio::test(start_paused = true)]
    async fn a_tick_given_up_is_still_the_next_one() {
        let epoch = Instant::now();
        let mut ticker = Slots::new(epoch).ticker(epoch + ms(500), ms(1_000));
        let given_up = tokio::time::timeout(ms(100), ticker.tick()).await;
        assert!(given_up.is_err());
        assert_eq!(ticker.tick().await, epoch + ms(500));
    }
}
