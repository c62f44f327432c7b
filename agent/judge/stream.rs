//! Stream rules. To be written.

use super::Verdict;
use crate::model::{CheckKind, Status};
use crate::probe::rtsp::StreamObservation;

pub fn judge(seen: &StreamObservation) -> Verdict {
    Verdict::new(
        CheckKind::Stream,
        Status::Unknown,
        format!("{} not judged yet", seen.uri),
        serde_json::json!({}),
    )
}
