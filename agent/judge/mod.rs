//! Judges are pure: (what a probe saw, the policy) -> a verdict. No sockets, no clocks, so every
//! rule is unit-tested with plain values. One file per check, mirroring `probe/`.

pub mod filesystem;
pub mod ping;

use serde::Serialize;

use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::probe::{Observation, ProbeError, ProbeErrorKind};

/// What a rule concluded about one run of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub check: CheckKind,
    pub status: Status,
    /// One sentence a maintenance worker understands.
    pub summary: String,
    /// The measured figures, in base units.
    pub values: serde_json::Value,
}

pub fn judge(
    check: CheckKind,
    outcome: &Result<Observation, ProbeError>,
    policy: &Policy,
) -> Verdict {
    match outcome {
        Ok(Observation::Ping(seen)) => ping::judge(seen, policy),
        Ok(Observation::Filesystem(seen)) => filesystem::judge(seen, policy),
        Err(error) => probe_failed(check, error),
    }
}

/// A probe that saw nothing: the device's fault, unless the agent could not run it at all.
fn probe_failed(check: CheckKind, error: &ProbeError) -> Verdict {
    let status = match error.kind {
        ProbeErrorKind::Agent => Status::Unknown,
        ProbeErrorKind::Timeout | ProbeErrorKind::Resolve | ProbeErrorKind::Device => {
            Status::Failed
        }
    };
    Verdict {
        check,
        status,
        summary: error.message.clone(),
        values: serde_json::json!({ "error": error.kind }),
    }
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
    fn agent_errors_are_unknown_device_errors_failed() {
        let policy = Policy::default();
        let agent = Err(ProbeError::new(ProbeErrorKind::Agent, "no socket"));
        assert_eq!(
            judge(CheckKind::Ping, &agent, &policy).status,
            Status::Unknown
        );
        let timeout = Err(ProbeError::new(
            ProbeErrorKind::Timeout,
            "no answer within 10s",
        ));
        let verdict = judge(CheckKind::Ping, &timeout, &policy);
        assert_eq!(verdict.status, Status::Failed);
        assert_eq!(verdict.summary, "no answer within 10s");
    }

    #[test]
    fn bytes_read_like_disk_labels() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }
}
