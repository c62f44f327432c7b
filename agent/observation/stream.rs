//! What an RTSP camera said about its stream (DESCRIBE and its SDP).

use serde::Serialize;

/// What the camera said about its stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamObservation {
    /// The stream URL, without credentials.
    pub uri: String,
    /// Status code of the DESCRIBE answer (200 when the probe returns an observation).
    pub status_code: u16,
    /// Whether the camera asked for a login.
    pub auth_required: bool,
    /// The scheme of the challenge that was answered (`Basic` or `Digest`).
    pub auth_scheme: Option<&'static str>,
    /// The camera's `Server` header, as it gave it.
    pub server: Option<String>,
    /// The first video track of the SDP, if any.
    pub video: Option<VideoTrack>,
    /// Number of media sections (`m=` lines) in the SDP: video, audio, metadata...
    pub media_tracks: u32,
}

/// A video track as the SDP describes it; what the SDP does not say is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoTrack {
    /// `H264`, `H265`, `MJPEG`, `MPEG4`, or the encoding name as the camera wrote it.
    pub codec: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Frames per second.
    pub framerate: Option<f64>,
}

/// `H264 1920x1080 at 25 fps`, leaving out what is unknown.
pub fn describe_video(v: &VideoTrack) -> String {
    let mut text = v.codec.clone();
    if let (Some(w), Some(h)) = (v.width, v.height) {
        text.push_str(&format!(" {w}x{h}"));
    }
    if let Some(fps) = v.framerate {
        text.push_str(&format!(" at {} fps", fps_text(fps)));
    }
    text
}

/// 25 -> "25", 29.97 -> "29.97".
pub fn fps_text(fps: f64) -> String {
    let text = format!("{fps:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
