//! Snapshot image checks: fetch the camera's JPEG snapshot over HTTP(S) (Basic/Digest, bounded
//! size), decode only its luma, and measure what a person looking at the monitor wall would
//! notice: brightness, contrast, sharpness, and whether the picture changes at all.
//!
//! Decoding a 1080p JPEG takes milliseconds of pure CPU, so it runs on tokio's blocking pool and
//! at most [`DECODES_AT_ONCE`] at a time: a site with 200 cameras polled at the same second must
//! not starve the async workers that serve `/metrics` and talk to the other devices, nor hold 200
//! decoded pictures in memory at once.
//!
//! Measures (all on the luma plane, 0..255):
//! - brightness: mean / 255;
//! - contrast: standard deviation / 255;
//! - sharpness: variance of the 3x3 Laplacian (`[0 1 0; 1 -4 1; 0 1 0]`), in luma levels squared,
//!   computed on the picture box-scaled by a whole factor so its longer side is at most
//!   [`SHARPNESS_MAX_SIDE`] pixels. That is the detail a person sees on a monitor; at full
//!   resolution sensor noise and JPEG block edges dominate the figure, and it is 4x cheaper. The
//!   figure depends on the scene, so the judge compares it only with the same camera's history;
//! - fingerprint: a 64-bit hash of every luma sample. A live sensor never gives two identical
//!   frames (noise alone changes some samples), so equal fingerprints mean a frozen picture, even
//!   for a still, empty corridor whose thumbnails would look the same;
//! - thumbnail: 16x16 mean-luma cells, for the change ratio between polls (how much of the
//!   scene moved), which the judge computes against the previous snapshot it remembers.

use std::sync::Arc;
use std::time::Instant;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use tokio::sync::Semaphore;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::http::{HttpClients, redact_url};
use super::{ProbeContext, ProbeError, ProbeErrorKind};
use crate::config::SnapshotSpec;
use crate::observation::image::{ImageObservation, THUMBNAIL_SIDE};

/// Decodes running at once, agent-wide. Two keep one core free for everything else on the
/// small boxes camwatch runs on, and bound the memory of decoded pictures.
pub const DECODES_AT_ONCE: usize = 2;
static DECODES: Semaphore = Semaphore::const_new(DECODES_AT_ONCE);

/// Longer side of the picture the sharpness is measured on (see the module comment).
pub const SHARPNESS_MAX_SIDE: usize = 1024;
/// Pictures larger than this many pixels per side are refused before decoding: 8192 covers
/// every CCTV sensor (12 MP is 4000x3000) and bounds a decoded picture to 64 MiB.
const MAX_SIDE: usize = 8192;

/// What [`analyse`] measures in one JPEG.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    pub brightness: f64,
    pub contrast: f64,
    pub sharpness: f64,
    pub fingerprint: u64,
    pub thumbnail: [u8; THUMBNAIL_SIDE * THUMBNAIL_SIDE],
}

pub async fn probe(
    http: &HttpClients,
    spec: &SnapshotSpec,
    uri: &str,
    ctx: &mut ProbeContext<'_>,
) -> Result<ImageObservation, ProbeError> {
    let login = ctx.login()?;
    let gate = ctx.gate();
    // HTTP authentication is a login: not sent again after a refusal in this poll or while the
    // device is left alone after refusals (see `LoginGate`).
    let may_log_in = gate.check();
    let (login, transcript) = (login.as_ref().filter(|_| may_log_in.is_ok()), &mut *ctx.transcript);
    let shown = reqwest::Url::parse(uri).map_or_else(|_| uri.to_owned(), |u| redact_url(&u));
    let max_bytes = usize::try_from(spec.max_bytes).unwrap_or(usize::MAX);
    let reply = http
        .send(
            reqwest::Method::GET,
            uri,
            HeaderMap::new(),
            None,
            login,
            &crate::probe::tls::Trust::from(&spec.trust),
            max_bytes,
            transcript,
        )
        .await?;
    match reply.status {
        200 => {}
        401 if login.is_some() => {
            let refused = ProbeError::new(
                ProbeErrorKind::Device,
                format!("{shown} refused the camera's username and password (HTTP 401)"),
            );
            gate.refused(&refused);
            return Err(refused);
        }
        401 if may_log_in.is_err() => return Err(may_log_in.unwrap_err()),
        401 => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!("{shown} needs a login (HTTP 401): set username and password_env for this camera"),
            ));
        }
        status => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!("{shown} answered HTTP {status} instead of a picture"),
            ));
        }
    }
    let body = reply.body;
    // Cameras often send image/jpeg for error pages and text/plain for pictures: sniff the bytes.
    if !body.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let content_type = reply
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        let start: String = body.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "{shown} did not send a JPEG picture ({} bytes, content type {content_type}, starting {start})",
                body.len()
            ),
        ));
    }
    let jpeg = Arc::new(body);
    let analysis = {
        // Waiting for a permit is async: a queue of cameras costs nothing but time, which the
        // check's timeout bounds. The permit moves into the blocking task, so a probe that timed
        // out still frees its slot only when its decode really ends.
        let permit = DECODES
            .acquire()
            .await
            .map_err(|_| ProbeError::new(ProbeErrorKind::Agent, "the decoder pool is closed"))?;
        let jpeg = Arc::clone(&jpeg);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let started = Instant::now();
            analyse(&jpeg).map(|a| (a, started.elapsed().as_secs_f64()))
        })
        .await
        .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("the JPEG decoder stopped: {e}")))?
    };
    let (analysis, seconds) = analysis?;
    transcript.note(|| {
        format!(
            "  JPEG {}x{}, {} bytes, analysed in {:.1} ms",
            analysis.width,
            analysis.height,
            jpeg.len(),
            seconds * 1000.0
        )
    });
    Ok(ImageObservation {
        uri: shown,
        width: analysis.width,
        height: analysis.height,
        bytes: jpeg.len() as u64,
        brightness: analysis.brightness,
        contrast: analysis.contrast,
        sharpness: analysis.sharpness,
        fingerprint: format!("{:016x}", analysis.fingerprint),
        thumbnail: analysis.thumbnail.iter().map(|b| format!("{b:02x}")).collect(),
        analysis_seconds: seconds,
        jpeg,
    })
}

/// True when the data ends with the JPEG end-of-image marker, allowing the zero or whitespace
/// padding some cameras append. zune-jpeg fills a cut-off picture with grey instead of failing,
/// so without this a snapshot truncated in transit would be judged as a (grey) picture.
pub fn is_complete(jpeg: &[u8]) -> bool {
    let end = jpeg
        .iter()
        .rposition(|b| !matches!(b, 0 | b'\r' | b'\n' | b' '))
        .map_or(0, |i| i + 1);
    jpeg[..end].ends_with(&[0xFF, 0xD9])
}

fn incomplete(detail: impl std::fmt::Display) -> ProbeError {
    ProbeError::new(
        ProbeErrorKind::Device,
        format!("the snapshot is not a complete JPEG: {detail}"),
    )
}

/// Decodes the luma of `jpeg` and measures it. Blocking: call it on the blocking pool.
pub fn analyse(jpeg: &[u8]) -> Result<Analysis, ProbeError> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err(incomplete("it does not start with the JPEG start-of-image marker"));
    }
    if !is_complete(jpeg) {
        return Err(incomplete(format_args!(
            "{} bytes without the end-of-image marker (cut off by the camera or in transit)",
            jpeg.len()
        )));
    }
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let luma = decoder.decode().map_err(incomplete)?;
    let info = decoder.info().ok_or_else(|| incomplete("no picture header"))?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    if width == 0 || height == 0 || luma.len() < width * height {
        return Err(incomplete("the picture has no pixels"));
    }
    Ok(measure(&luma[..width * height], width, height))
}

/// The measures of a `width` x `height` luma plane.
pub fn measure(luma: &[u8], width: usize, height: usize) -> Analysis {
    let (brightness, contrast) = mean_and_deviation(luma);
    let (small, small_width, small_height) = scale_down(luma, width, height, SHARPNESS_MAX_SIDE);
    Analysis {
        width: width as u32,
        height: height as u32,
        brightness: brightness / 255.0,
        contrast: contrast / 255.0,
        sharpness: laplacian_variance(&small, small_width, small_height),
        fingerprint: fingerprint(luma),
        thumbnail: thumbnail(&small, small_width, small_height),
    }
}

fn mean_and_deviation(luma: &[u8]) -> (f64, f64) {
    // u32 partial sums over chunks (255^2 * 16384 < 2^32) let the compiler vectorise the loop.
    let (mut sum, mut squares) = (0u64, 0u64);
    for chunk in luma.chunks(16384) {
        let (mut s, mut q) = (0u32, 0u32);
        for &p in chunk {
            s += u32::from(p);
            q += u32::from(p) * u32::from(p);
        }
        sum += u64::from(s);
        squares += u64::from(q);
    }
    let n = luma.len().max(1) as f64;
    let mean = sum as f64 / n;
    let variance = (squares as f64 / n - mean * mean).max(0.0);
    (mean, variance.sqrt())
}

/// Box-averages by the smallest whole factor that brings the longer side to `max_side` or less.
fn scale_down(luma: &[u8], width: usize, height: usize, max_side: usize) -> (Vec<u8>, usize, usize) {
    let factor = width.max(height).div_ceil(max_side).max(1);
    if factor == 1 {
        return (luma.to_vec(), width, height);
    }
    let (out_width, out_height) = ((width / factor).max(1), (height / factor).max(1));
    let mut out = Vec::with_capacity(out_width * out_height);
    let mut row_sums = vec![0u32; width];
    let area = (factor * factor) as u32;
    for y in 0..out_height {
        row_sums.fill(0);
        for row in luma[y * factor * width..].chunks_exact(width).take(factor) {
            for (sum, &p) in row_sums.iter_mut().zip(row) {
                *sum += u32::from(p);
            }
        }
        out.extend(
            row_sums
                .chunks_exact(factor)
                .take(out_width)
                .map(|cell| ((cell.iter().sum::<u32>() + area / 2) / area) as u8),
        );
    }
    (out, out_width, out_height)
}

fn laplacian_variance(luma: &[u8], width: usize, height: usize) -> f64 {
    if width < 3 || height < 3 {
        return 0.0;
    }
    // |l| <= 1020, so a row's sum of squares fits an i32 (which vectorises better than i64) as
    // long as rows are at most 2048 samples; `scale_down` made them at most 1024.
    debug_assert!(width <= 2048);
    let (mut sum, mut squares) = (0i64, 0i64);
    for y in 1..height - 1 {
        let above = &luma[(y - 1) * width..y * width];
        let row = &luma[y * width..(y + 1) * width];
        let below = &luma[(y + 1) * width..(y + 2) * width];
        let (mut s, mut q) = (0i32, 0i32);
        for x in 1..width - 1 {
            let l = i32::from(above[x]) + i32::from(below[x]) + i32::from(row[x - 1]) + i32::from(row[x + 1])
                - 4 * i32::from(row[x]);
            s += l;
            q += l * l;
        }
        sum += i64::from(s);
        squares += i64::from(q);
    }
    let n = ((width - 2) * (height - 2)) as f64;
    let mean = sum as f64 / n;
    (squares as f64 / n - mean * mean).max(0.0)
}

fn thumbnail(luma: &[u8], width: usize, height: usize) -> [u8; THUMBNAIL_SIDE * THUMBNAIL_SIDE] {
    let mut sums = [0u64; THUMBNAIL_SIDE * THUMBNAIL_SIDE];
    let mut counts = [0u64; THUMBNAIL_SIDE * THUMBNAIL_SIDE];
    let column_cell: Vec<usize> = (0..width).map(|x| x * THUMBNAIL_SIDE / width).collect();
    for (y, row) in luma.chunks_exact(width).take(height).enumerate() {
        let base = y * THUMBNAIL_SIDE / height * THUMBNAIL_SIDE;
        for (&p, &cell) in row.iter().zip(&column_cell) {
            sums[base + cell] += u64::from(p);
            counts[base + cell] += 1;
        }
    }
    let mut cells = [0u8; THUMBNAIL_SIDE * THUMBNAIL_SIDE];
    for ((cell, sum), count) in cells.iter_mut().zip(sums).zip(counts) {
        *cell = (sum + count / 2).checked_div(count).unwrap_or(0) as u8;
    }
    cells
}

/// A fast, stable 64-bit hash of the samples (FNV-style over 8-byte words). Not cryptographic:
/// it only has to tell a repeated picture from a new one, and stay the same across versions
/// because it is remembered in the state store.
fn fingerprint(luma: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ luma.len() as u64;
    let words = luma.chunks_exact(8);
    let rest = words.remainder();
    for word in words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        hash = (hash ^ w).wrapping_mul(PRIME).rotate_left(29);
    }
    for &b in rest {
        hash = (hash ^ u64::from(b)).wrapping_mul(PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::image::parse_thumbnail;

    fn plane(width: usize, height: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect()
    }

    #[test]
    fn a_uniform_picture_has_its_level_no_contrast_and_no_sharpness() {
        let a = measure(&plane(640, 360, |_, _| 51), 640, 360);
        assert!((a.brightness - 0.2).abs() < 1e-9);
        assert_eq!(a.contrast, 0.0);
        assert_eq!(a.sharpness, 0.0);
        assert!(a.thumbnail.iter().all(|&c| c == 51));
    }

    #[test]
    fn half_black_half_white_is_full_contrast() {
        let a = measure(&plane(100, 100, |x, _| if x < 50 { 0 } else { 255 }), 100, 100);
        assert!((a.brightness - 0.5).abs() < 0.01);
        assert!((a.contrast - 0.5).abs() < 0.01);
    }

    #[test]
    fn a_checkerboard_is_sharper_than_its_blurred_self() {
        let sharp = plane(2048, 1024, |x, y| if (x / 8 + y / 8) % 2 == 0 { 20 } else { 230 });
        let blurred = plane(2048, 1024, |x, y| {
            // A smooth ramp with the same period: what a defocused lens makes of the squares.
            let t = ((x % 16) as f64 / 16.0 * std::f64::consts::TAU).sin() * ((y % 16) as f64 / 16.0).cos();
            (125.0 + 100.0 * t) as u8
        });
        let (s, b) = (measure(&sharp, 2048, 1024), measure(&blurred, 2048, 1024));
        assert!(s.sharpness > 10.0 * b.sharpness, "{} vs {}", s.sharpness, b.sharpness);
    }

    #[test]
    fn scaling_down_keeps_the_mean_and_bounds_the_side() {
        let luma = plane(1920, 1080, |x, y| ((x + y) % 256) as u8);
        let (small, w, h) = scale_down(&luma, 1920, 1080, SHARPNESS_MAX_SIDE);
        assert_eq!((w, h), (960, 540));
        assert_eq!(small.len(), w * h);
        let mean = |v: &[u8]| v.iter().map(|&p| f64::from(p)).sum::<f64>() / v.len() as f64;
        assert!((mean(&small) - mean(&luma)).abs() < 1.0);
    }

    #[test]
    fn one_changed_sample_changes_the_fingerprint() {
        let mut luma = plane(64, 64, |x, y| (x * y) as u8);
        let before = fingerprint(&luma);
        assert_eq!(before, fingerprint(&luma.clone()));
        luma[1000] ^= 1;
        assert_ne!(before, fingerprint(&luma));
    }

    #[test]
    fn completeness_needs_the_end_marker_padding_allowed() {
        assert!(is_complete(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9]));
        assert!(is_complete(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9, 0, 0, b'\r', b'\n']));
        assert!(!is_complete(&[0xFF, 0xD8, 1, 2, 3]));
        assert!(!is_complete(&[]));
        let err = analyse(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).unwrap_err();
        assert_eq!(err.kind, ProbeErrorKind::Device);
        assert!(
            err.message.starts_with("the snapshot is not a complete JPEG"),
            "{}",
            err.message
        );
    }

    #[test]
    fn thumbnails_round_trip_through_hex() {
        let a = measure(&plane(320, 240, |x, _| x as u8), 320, 240);
        let hex: String = a.thumbnail.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_thumbnail(&hex).unwrap(), a.thumbnail.to_vec());
        assert_eq!(parse_thumbnail("zz"), None);
    }
}
