//! RTSP stream liveness. To be written: OPTIONS + DESCRIBE over TCP with Basic/Digest.

use serde::Serialize;

use super::{Login, ProbeError, ProbeErrorKind, Transcript};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamObservation {
    /// The stream URL, without credentials.
    pub uri: String,
}

pub async fn probe(
    _uri: &str,
    _login: Option<&Login>,
    _transcript: &mut Transcript,
) -> Result<StreamObservation, ProbeError> {
    Err(ProbeError::new(
        ProbeErrorKind::Agent,
        "the RTSP probe is not built yet",
    ))
}
