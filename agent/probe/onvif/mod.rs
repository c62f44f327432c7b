//! ONVIF device health, clock and settings. Being written.

use serde::Serialize;

use super::{Login, ProbeError, ProbeErrorKind, Transcript};
use crate::config::OnvifSpec;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnvifObservation {
    pub url: String,
}

#[derive(Debug, Default)]
pub struct OnvifProber;

impl OnvifProber {
    pub async fn device(
        &self,
        spec: &OnvifSpec,
        _login: Option<&Login>,
        _t: &mut Transcript,
    ) -> Result<OnvifObservation, ProbeError> {
        Err(ProbeError::new(
            ProbeErrorKind::Agent,
            format!("ONVIF for {} is not built yet", spec.url),
        ))
    }

    /// The stream (`rtsp://`) and snapshot (`http://`) URIs of the configured profile.
    pub async fn media_uris(
        &self,
        spec: &OnvifSpec,
        _login: Option<&Login>,
        _t: &mut Transcript,
    ) -> Result<(Option<String>, Option<String>), ProbeError> {
        Err(ProbeError::new(
            ProbeErrorKind::Agent,
            format!("ONVIF for {} is not built yet", spec.url),
        ))
    }
}
