//! UPS over NUT (Network UPS Tools, TCP 3493). To be written.

use super::ups::UpsObservation;
use super::{ProbeError, ProbeErrorKind, Transcript};
use crate::config::{Device, NutSpec};

#[derive(Debug, Default)]
pub struct NutProber;

impl NutProber {
    pub async fn probe(
        &self,
        _spec: &NutSpec,
        _device: &Device,
        _transcript: &mut Transcript,
    ) -> Result<UpsObservation, ProbeError> {
        Err(ProbeError::new(
            ProbeErrorKind::Agent,
            "NUT client to be written",
        ))
    }
}
