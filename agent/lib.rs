//! camwatch: keeps a CCTV monitoring room honest.
//!
//! Data flows one way: `config` -> `schedule` -> `probe` -> `judge` -> `state` -> `output`.
//! `daemon` wires them together for `camwatch run`; `oneshot` for `once` and `probe`. `discover`
//! stands apart: it finds ONVIF devices to put into the configuration.

pub mod availability;
pub mod client;
pub mod config;
pub mod coverage;
pub mod daemon;
pub mod discover;
#[doc(hidden)]
pub mod fuzzing;
pub mod judge;
pub mod maintenance;
pub mod model;
pub mod notify;
pub mod observation;
pub mod oneshot;
pub mod output;
pub mod probe;
pub mod procedures;
pub mod report;
pub mod schedule;
pub mod shared;
pub mod state;
pub mod vocab;
pub mod web;

/// What this build is: version, the commit it was built from, and the day (see `build.rs`).
pub mod build {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    pub const COMMIT: &str = env!("CAMWATCH_COMMIT");
    pub const DATE: &str = env!("CAMWATCH_BUILD_DATE");
    /// `camwatch --version`: "0.1.0 (commit 1a2b3c4d5e6f, built 2026-11-29)".
    pub const LONG_VERSION: &str = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("CAMWATCH_COMMIT"),
        ", built ",
        env!("CAMWATCH_BUILD_DATE"),
        ")"
    );
}

/// Process exit codes, as documented in the README.
pub mod exit {
    /// Everything ran; nothing failed.
    pub const OK: i32 = 0;
    /// A check failed (`once`, `probe`); no device answered (`discover`).
    pub const CHECK_FAILED: i32 = 1;
    /// The configuration (or the command line) is wrong.
    pub const CONFIG: i32 = 2;
    /// The agent could not do its own work: data directory, listen address, signals.
    pub const RUNTIME: i32 = 3;
}
