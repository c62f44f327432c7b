//! A camera's snapshot, measured (brightness, sharpness, a thumbnail for frozen pictures).

use std::sync::Arc;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageObservation {
    /// The snapshot URL, without credentials.
    pub uri: String,
    pub width: u32,
    pub height: u32,
    /// Size of the JPEG as received.
    pub bytes: u64,
    /// Mean luma, 0 (black) to 1 (white).
    pub brightness: f64,
    /// Standard deviation of luma, 0 (uniform) to 0.5 (half black, half white).
    pub contrast: f64,
    /// Variance of the Laplacian on the scaled-down picture (luma levels squared).
    pub sharpness: f64,
    /// Hash of every luma sample, hex: equal only for identical pictures.
    pub fingerprint: String,
    /// 16x16 mean-luma cells, row by row, hex (two digits a cell).
    pub thumbnail: String,
    /// Time spent decoding and measuring.
    pub analysis_seconds: f64,
    /// The JPEG itself, for keeping the latest snapshots (never serialised).
    #[serde(skip)]
    pub jpeg: Arc<Vec<u8>>,
}

/// Decodes a thumbnail written by [`ImageObservation::thumbnail`]; `None` if it is not one.
pub fn parse_thumbnail(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != THUMBNAIL_SIDE * THUMBNAIL_SIDE * 2 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
/// Thumbnail cells per side.
pub const THUMBNAIL_SIDE: usize = 16;
