//! Image rules. To be written.

use super::Verdict;
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::probe::snapshot::ImageObservation;

pub fn judge(seen: &ImageObservation, _policy: &Policy, _memory: Option<&serde_json::Value>) -> Verdict {
    Verdict::new(
        CheckKind::Image,
        Status::Unknown,
        format!("{} not judged yet", seen.uri),
        serde_json::json!({}),
    )
}
