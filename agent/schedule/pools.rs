//! Who may talk to devices now: the permits a check takes before its probe starts.
//!
//! One shared semaphore used to bound every probe, in one queue. A dead device's checks (a
//! camera that accepts TCP and never answers) hold their permits for their whole timeout, so 150
//! of them kept a healthy switch's ping waiting in that queue for seconds. Now:
//!
//! - **cheap checks** (one packet or a local read: `ping`, `filesystem`, `backup`, `availability`)
//!   have a pool of their own and never queue behind conversations;
//! - **conversation checks** (ONVIF, RTSP, HTTP, SNMP, NUT, ISAPI, footage folders: a request
//!   and an answer that can take up to the timeout) take one of the device's own
//!   [`PER_DEVICE`] turns first, so one device's checks queue behind each other rather than
//!   fill the pool, then a permit of the shared pool;
//! - a device whose last conversation timed out is **dead** until it answers again: its checks
//!   go one at a time, and all dead devices together hold at most a quarter of the shared pool,
//!   so live devices keep three quarters of it however many devices hang.
//!
//! The probe's timeout starts after the permits are held: waiting is never counted against a
//! device, it is measured as lateness instead (see `lateness`).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::CheckSpec;

/// How many conversation checks of one device may run at once.
pub const PER_DEVICE: u32 = 2;

crate::vocab::named_enum! {
    /// Which pool a check draws from; also the `class` label of the lateness metrics.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Class {
        /// One packet or a local read: its own pool, never behind a conversation.
        Cheap => "cheap",
        /// A request and an answer with a device: the device's turns, then the shared pool.
        Conversation => "conversation",
    }
}

impl Class {
    pub fn of(spec: &CheckSpec) -> Class {
        match spec {
            CheckSpec::Ping(_) | CheckSpec::Filesystem(_) | CheckSpec::Backup(_) | CheckSpec::Availability(_) => {
                Class::Cheap
            }
            // A footage folder is local too, but a scan of a million files is no cheap read.
            _ => Class::Conversation,
        }
    }

    /// Its place in [`Class::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A device's own turns, kept across polls, and whether it is dead.
#[derive(Debug)]
pub struct DeviceTurns {
    turns: Semaphore,
    dead: AtomicBool,
}

impl Default for DeviceTurns {
    fn default() -> Self {
        Self {
            turns: Semaphore::new(PER_DEVICE as usize),
            dead: AtomicBool::new(false),
        }
    }
}

impl DeviceTurns {
    /// How a conversation ended: a timeout makes the device dead, any answer (even an error
    /// the device sent) alive again.
    pub fn answered(&self, timed_out: bool) {
        self.dead.store(timed_out, Ordering::Relaxed);
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }
}

/// The agent's pools.
#[derive(Debug)]
pub struct Pools {
    cheap: Semaphore,
    shared: Semaphore,
    /// What dead devices may hold of `shared`, taken before it.
    dead_share: Semaphore,
}

/// Permits held for one run; released when dropped.
#[derive(Debug)]
pub struct Held<'a> {
    _permits: [Option<SemaphorePermit<'a>>; 3],
}

impl Pools {
    /// `max_in_flight` conversations at once, and as many cheap checks besides.
    pub fn new(max_in_flight: usize) -> Self {
        let max = max_in_flight.max(1);
        Self {
            cheap: Semaphore::new(max),
            shared: Semaphore::new(max),
            dead_share: Semaphore::new((max / 4).max(1)),
        }
    }

    /// Waits for the permits a check of `class` on the device of `turns` needs.
    pub async fn acquire<'a>(&'a self, class: Class, turns: &'a DeviceTurns) -> Held<'a> {
        const OPEN: &str = "the pools are never closed";
        if class == Class::Cheap {
            return Held {
                _permits: [Some(self.cheap.acquire().await.expect(OPEN)), None, None],
            };
        }
        let dead = turns.is_dead();
        // A dead device takes all its turns: its checks go one at a time.
        let own = turns
            .turns
            .acquire_many(if dead { PER_DEVICE } else { 1 })
            .await
            .expect(OPEN);
        let share = if dead {
            Some(self.dead_share.acquire().await.expect(OPEN))
        } else {
            None
        };
        let shared = self.shared.acquire().await.expect(OPEN);
        Held {
            _permits: [Some(own), share, Some(shared)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_dead_device_runs_one_check_at_a_time_and_dead_ones_keep_to_their_share() {
        let pools = Pools::new(8);
        let (alive, dead, other_dead) = (DeviceTurns::default(), DeviceTurns::default(), DeviceTurns::default());
        dead.answered(true);
        other_dead.answered(true);
        let a = pools.acquire(Class::Conversation, &alive).await;
        let b = pools.acquire(Class::Conversation, &alive).await;
        // The device's two turns are taken: a third waits for them, not for the pool.
        assert!(
            tokio::time::timeout(Duration::from_secs(1), pools.acquire(Class::Conversation, &alive))
                .await
                .is_err()
        );
        let d = pools.acquire(Class::Conversation, &dead).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(1), pools.acquire(Class::Conversation, &dead))
                .await
                .is_err(),
            "one at a time"
        );
        let e = pools.acquire(Class::Conversation, &other_dead).await;
        // Two dead devices hold the share of 8 / 4: a third dead one waits, a live one does not.
        let third_dead = DeviceTurns::default();
        third_dead.answered(true);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), pools.acquire(Class::Conversation, &third_dead))
                .await
                .is_err()
        );
        let live = DeviceTurns::default();
        let f = pools.acquire(Class::Conversation, &live).await;
        // Cheap checks have their own pool, even for a dead device.
        let g = pools.acquire(Class::Cheap, &dead).await;
        drop((a, b, d, e, f, g));
        dead.answered(false);
        let _one = pools.acquire(Class::Conversation, &dead).await;
        let _two = pools.acquire(Class::Conversation, &dead).await;
    }
}
