//! Judges are pure: (what a probe saw, the policy) -> a verdict. No sockets, no clocks, so every
//! rule is unit-tested with plain values. One file per check, mirroring `probe/`.

pub mod availability;
pub mod backup;
pub mod filesystem;
pub mod image;
pub mod onvif;
pub mod ping;
pub mod recorder;
pub mod retention;
pub mod storage;
pub mod stream;
pub mod ups;
pub mod uptime;
pub mod values;

use serde::Serialize;

use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::{Observation, ProbeError, ProbeErrorKind};

/// What a rule concluded about one run of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub check: CheckKind,
    pub status: Status,
    /// One sentence a maintenance worker understands.
    pub summary: String,
    /// The measured figures, in base units.
    pub values: serde_json::Value,
    /// Skip the failures-before-failed streak: the procedure wants this known at once (a UPS
    /// on battery). Recovery still needs the usual streak of good results.
    #[serde(skip)]
    pub immediate: bool,
    /// What the next run of this check needs to know (kept with the check's state).
    #[serde(skip)]
    pub memory: Option<serde_json::Value>,
    /// Things that happened, worth a line in the history (a reboot).
    #[serde(skip)]
    pub events: Vec<Event>,
}

impl Verdict {
    pub fn new(check: CheckKind, status: Status, summary: String, values: serde_json::Value) -> Self {
        Self {
            check,
            status,
            summary,
            values,
            immediate: false,
            memory: None,
            events: Vec::new(),
        }
    }
}

/// Something that happened to a device, as opposed to a state it is in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: crate::vocab::EventKind,
    /// When it happened (Unix seconds), which may be before it was seen.
    pub at: f64,
    pub summary: String,
}

/// Findings sorted worst first, as (worst status, one sentence naming the worst and counting the rest).
pub fn worst_first(mut findings: Vec<(Status, String)>) -> Option<(Status, String)> {
    findings.sort_by_key(|(status, _)| std::cmp::Reverse(*status));
    let (status, first) = findings.first()?.clone();
    Some(match findings.len() {
        1 => (status, first),
        2 => (status, format!("{first} (and 1 more problem)")),
        n => (status, format!("{first} (and {} more problems)", n - 1)),
    })
}

/// `memory` is what the previous run of the same check left (see [`Verdict::memory`]); `now` is when
/// the run started, the only clock a judge reads.
pub fn judge(
    check: CheckKind,
    outcome: &Result<Observation, ProbeError>,
    policy: &Policy,
    memory: Option<&serde_json::Value>,
    now: f64,
) -> Verdict {
    use crate::vocab::text::{MAX_SUMMARY_CHARS, for_people, for_people_in_json};
    let mut verdict = judge_observation(check, outcome, policy, memory, now);
    // One place for every verdict: whatever a device sent (terminal control, line breaks, an
    // echoed Authorization header, endless text) or a configuration put in a URL (a password in
    // the query) never reaches a summary, the figures, the store, the API, a report or the log
    // as it came.
    if let std::borrow::Cow::Owned(safe) = for_people(&verdict.summary, MAX_SUMMARY_CHARS) {
        verdict.summary = safe;
    }
    for_people_in_json(&mut verdict.values);
    for event in &mut verdict.events {
        if let std::borrow::Cow::Owned(safe) = for_people(&event.summary, MAX_SUMMARY_CHARS) {
            event.summary = safe;
        }
    }
    verdict
}

fn judge_observation(
    check: CheckKind,
    outcome: &Result<Observation, ProbeError>,
    policy: &Policy,
    memory: Option<&serde_json::Value>,
    now: f64,
) -> Verdict {
    match outcome {
        Ok(Observation::Ping(seen)) => ping::judge(seen, policy),
        Ok(Observation::Filesystem(seen)) => filesystem::judge(seen, policy),
        Ok(Observation::Ups(seen)) => ups::judge(seen, policy, memory, now),
        Ok(Observation::Uptime(seen)) => uptime::judge(seen, policy, memory),
        Ok(Observation::Storage(seen)) => storage::judge(seen, policy),
        Ok(Observation::Recorder(seen)) => recorder::judge(seen),
        Ok(Observation::SnmpValues(seen)) => values::judge(seen),
        Ok(Observation::Onvif(seen)) => onvif::judge(check, seen, policy, memory, now),
        Ok(Observation::Stream(seen)) => stream::judge(seen),
        Ok(Observation::Image(seen)) => image::judge(seen, policy, memory),
        Ok(Observation::Backup(seen)) => backup::judge(seen, policy),
        Ok(Observation::Footage(seen)) => retention::judge(seen, policy, memory),
        Ok(Observation::History(seen)) => availability::judge(seen, policy, memory),
        Err(error) => probe_failed(check, error, memory),
    }
}

/// A probe that saw nothing: the device's fault, unless the agent could not run it at all or the
/// device lacks what the check reads (what a device does not report is unknown, never failed).
fn probe_failed(check: CheckKind, error: &ProbeError, memory: Option<&serde_json::Value>) -> Verdict {
    let status = match error.kind {
        ProbeErrorKind::Agent | ProbeErrorKind::Unsupported => Status::Unknown,
        ProbeErrorKind::Timeout | ProbeErrorKind::Resolve | ProbeErrorKind::Device => Status::Failed,
    };
    let mut verdict = Verdict::new(
        check,
        status,
        error.message.clone(),
        serde_json::json!({ "error": error.kind }),
    );
    // A device that did not answer tells nothing new: keep what the last answer left.
    verdict.memory = memory.cloned();
    verdict
}

/// Byte counts as people read them on a disk label (GiB, binary units).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_is_counted_in_good_english() {
        let finding = |s: &str| (Status::Warning, s.to_owned());
        let two = worst_first(vec![finding("a"), finding("b")]).unwrap();
        assert_eq!(two.1, "a (and 1 more problem)");
        let three = worst_first(vec![finding("a"), finding("b"), finding("c")]).unwrap();
        assert_eq!(three.1, "a (and 2 more problems)");
    }

    #[test]
    fn agent_errors_are_unknown_device_errors_failed() {
        let policy = Policy::default();
        let agent = Err(ProbeError::new(ProbeErrorKind::Agent, "no socket"));
        assert_eq!(
            judge(CheckKind::Ping, &agent, &policy, None, 0.0).status,
            Status::Unknown
        );
        let timeout = Err(ProbeError::new(ProbeErrorKind::Timeout, "no answer within 10s"));
        let verdict = judge(CheckKind::Ping, &timeout, &policy, None, 0.0);
        assert_eq!(verdict.status, Status::Failed);
        assert_eq!(verdict.summary, "no answer within 10s");
    }

    #[test]
    fn what_the_device_lacks_is_unknown_not_supported_never_failed() {
        let lacks = Err(ProbeError::unsupported(
            "no HOST-RESOURCES-MIB storage table (hrStorageTable)",
        ));
        let verdict = judge(CheckKind::Storage, &lacks, &Policy::default(), None, 0.0);
        assert_eq!(verdict.status, Status::Unknown);
        assert_eq!(
            verdict.summary,
            "not supported by this device: no HOST-RESOURCES-MIB storage table (hrStorageTable)"
        );
        assert_eq!(verdict.values["error"], "unsupported");
        assert!(!verdict.immediate);
    }

    #[test]
    fn bytes_read_like_disk_labels() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }
}
