//! What the notifiers report to the outputs: per channel, the outbox's figures and newest dead
//! letters, and the messages sent and failed since the agent started.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::state::outbox::{Counts, OutboxRow};

/// What the outputs show of the notifiers, per channel (`email`, ...).
#[derive(Debug, Default)]
pub struct NotifyStatus {
    channels: Mutex<BTreeMap<&'static str, ChannelStatus>>,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelStatus {
    pub counts: Counts,
    /// The newest dead letters (at most [`DEAD_SHOWN`]).
    pub dead: Vec<OutboxRow>,
}

pub const DEAD_SHOWN: u32 = 20;

impl NotifyStatus {
    pub fn set(&self, channel: &'static str, status: ChannelStatus) {
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(channel, status);
    }

    pub fn clear(&self, channel: &str) {
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).remove(channel);
    }

    pub fn channels(&self) -> BTreeMap<&'static str, ChannelStatus> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Notifications sent and failed, per channel, since the agent started.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    counts: Mutex<BTreeMap<&'static str, ChannelCounts>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCounts {
    pub sent: u64,
    pub failed: u64,
}

impl NotifyCounters {
    fn update(&self, channel: &'static str, change: impl FnOnce(&mut ChannelCounts)) {
        change(
            self.counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(channel)
                .or_default(),
        );
    }

    /// Shows a configured channel's counters at 0 before it sent anything (a rate over a
    /// missing series is no rate at all).
    pub fn enable(&self, channel: &'static str) {
        self.update(channel, |_| {});
    }

    pub fn sent(&self, channel: &'static str, n: u64) {
        self.update(channel, |c| c.sent += n);
    }

    pub fn failed(&self, channel: &'static str, n: u64) {
        self.update(channel, |c| c.failed += n);
    }

    pub fn snapshot(&self) -> Vec<(&'static str, ChannelCounts)> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(channel, counts)| (*channel, *counts))
            .collect()
    }
}
