//! The vocabulary every layer shares: what a device is, which checks exist, what a verdict and a
//! state can be. Kept free of I/O so judges, state and outputs can all depend on it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The device name the agent's own faults are filed under (its state store cannot write): the
/// configuration refuses a device of this name, so no configured device shares its incidents,
/// alerts or mail.
pub const AGENT_DEVICE: &str = "camwatch";
/// The agent's own check on its state store, under [`AGENT_DEVICE`].
pub const STORE_CHECK: &str = "state_store";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Camera,
    Recorder,
    Ups,
    Storage,
    Switch,
    Host,
    Other,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Recorder => "recorder",
            Self::Ups => "ups",
            Self::Storage => "storage",
            Self::Switch => "switch",
            Self::Host => "host",
            Self::Other => "other",
        }
    }
}

crate::vocab::named_enum! {
    /// One thing judged about a device. The name is the `check` label in metrics and the key in
    /// the state store, so it never changes once released.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum CheckKind {
        Ping => "ping",
        Filesystem => "filesystem",
        Ups => "ups",
        Uptime => "uptime",
        Storage => "storage",
        RecorderDisks => "recorder_disks",
        SnmpValues => "snmp_values",
        Onvif => "onvif",
        Clock => "clock",
        Baseline => "baseline",
        Stream => "stream",
        Image => "image",
        Backup => "backup",
        Retention => "retention",
        Availability => "availability",
    }
}

/// What one run of a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Failed,
    /// The check could not say: the agent itself could not run it (not the device's fault).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settled condition of a (device, check), after hysteresis and dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Unknown,
    Ok,
    Warning,
    Failed,
    /// Failing, but a parent it depends on is failed too: the parent is the fault to fix.
    Unreachable,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Unknown,
        State::Ok,
        State::Warning,
        State::Failed,
        State::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Failed => "failed",
            Self::Unreachable => "unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Failed or hidden behind a failed parent: either way the device is not doing its job.
    pub fn is_down(self) -> bool {
        matches!(self, Self::Failed | Self::Unreachable)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
