//! ONVIF rules (device, clock, baseline). Being written.

use super::Verdict;
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::probe::onvif::OnvifObservation;

pub fn judge(
    check: CheckKind,
    seen: &OnvifObservation,
    _policy: &Policy,
    _memory: Option<&serde_json::Value>,
) -> Verdict {
    Verdict::new(
        check,
        Status::Unknown,
        format!("{} not judged yet", seen.url),
        serde_json::json!({}),
    )
}
