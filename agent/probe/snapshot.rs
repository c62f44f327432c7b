//! Snapshot image checks. To be written: fetch over HTTP(S) with a size limit, decode luma,
//! measure brightness, contrast, sharpness and change.

use serde::Serialize;

use super::http::HttpClients;
use super::{Login, ProbeError, ProbeErrorKind, Transcript};
use crate::config::SnapshotSpec;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageObservation {
    /// The snapshot URL, without credentials.
    pub uri: String,
}

pub async fn probe(
    _http: &HttpClients,
    _spec: &SnapshotSpec,
    _uri: &str,
    _login: Option<&Login>,
    _transcript: &mut Transcript,
) -> Result<ImageObservation, ProbeError> {
    Err(ProbeError::new(
        ProbeErrorKind::Agent,
        "the snapshot probe is not built yet",
    ))
}
