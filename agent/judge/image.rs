//! Image rules: is the camera's picture usable as evidence?
//!
//! | finding | rule | status |
//! |---|---|---|
//! | black | brightness < `image_dark_brightness` and contrast < `image_low_contrast` | failed |
//! | white | brightness > `image_bright_brightness` and contrast < `image_low_contrast` | failed |
//! | covered | contrast < `image_low_contrast` (brightness in range) | failed |
//! | frozen | the same picture on `image_frozen_polls` polls in a row | failed |
//! | too dark | brightness < `image_dark_brightness` (some contrast left) | warning |
//! | too bright | brightness > `image_bright_brightness` (some contrast left) | warning |
//! | blurred | sharpness < `image_blur_ratio` x this camera's usual sharpness | warning |
//!
//! Failed means nothing usable is recorded (black, white, covered, frozen): the procedure's
//! "faults are reported at once" applies. A dark, bright or blurred picture still shows
//! something (a figure, a car), so it is a warning to fix at the next visit, not an outage.
//!
//! Blur is judged against the camera itself, because sharpness depends on the scene (a car park
//! has more edges than a white corridor): the reference is the median of the last
//! [`SHARPNESS_HISTORY`] usable, unblurred, distinct pictures, and the first
//! [`SHARPNESS_ESTABLISHED`] pictures establish it. A blurred picture does not enter the history,
//! so a lens knocked out of focus stays at warning until it is refocused instead of becoming
//! the new normal. The history starts again when the resolution changes or the whole view
//! changes ([`VIEW_CHANGE_RATIO`]: the camera was re-aimed, or switched to infrared at dusk);
//! blur hardly changes a 16x16 thumbnail, so it is not mistaken for a new view.
//!
//! The memory (previous fingerprint and thumbnail, how many polls it stayed the same, the
//! sharpness history) is stored with the check's state and survives restarts.

use serde::{Deserialize, Serialize};

use super::{Verdict, worst_first};
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::image::{ImageObservation, parse_thumbnail};

/// Sharpness values remembered for the camera's usual sharpness.
pub const SHARPNESS_HISTORY: usize = 8;
/// Pictures needed before blur is judged.
pub const SHARPNESS_ESTABLISHED: usize = 3;
/// Mean thumbnail difference (0..1) from the pictures the sharpness was learnt on above which the
/// view counts as changed. A person crossing a third of the picture moves it by about 0.1.
pub const VIEW_CHANGE_RATIO: f64 = 0.15;

/// What is remembered between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMemory {
    pub width: u32,
    pub height: u32,
    pub fingerprint: String,
    /// Polls in a row, up to and including the last, that showed this fingerprint.
    pub same_polls: u32,
    /// The previous snapshot's thumbnail, for the change ratio.
    pub thumbnail: String,
    /// Sharpness of recent usable, unblurred, distinct pictures, oldest first.
    pub sharpness: Vec<f64>,
    /// Thumbnail of the last picture added to `sharpness`: the view the history belongs to.
    pub reference_thumbnail: String,
}

/// Mean absolute difference of two thumbnails, 0 (same) to 1 (black to white everywhere).
fn difference(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (parse_thumbnail(a)?, parse_thumbnail(b)?);
    let total: u32 = a.iter().zip(&b).map(|(x, y)| u32::from(x.abs_diff(*y))).sum();
    Some(f64::from(total) / (a.len() as f64 * 255.0))
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.0} %", ratio * 100.0)
}

pub fn judge(seen: &ImageObservation, policy: &Policy, memory: Option<&serde_json::Value>) -> Verdict {
    let previous: Option<ImageMemory> = memory.and_then(|m| serde_json::from_value(m.clone()).ok());
    let same_size = previous
        .as_ref()
        .is_some_and(|p| (p.width, p.height) == (seen.width, seen.height));
    let previous = previous.filter(|_| same_size).unwrap_or_default();

    let same_picture = !previous.fingerprint.is_empty() && previous.fingerprint == seen.fingerprint;
    let same_polls = if same_picture { previous.same_polls + 1 } else { 1 };
    let frozen = same_polls >= policy.image_frozen_polls;
    let change_ratio = difference(&previous.thumbnail, &seen.thumbnail);

    let (b, c) = (seen.brightness, seen.contrast);
    let dark = b < policy.image_dark_brightness;
    let bright = b > policy.image_bright_brightness;
    let flat = c < policy.image_low_contrast;
    let mut findings: Vec<(Status, String)> = Vec::new();
    if dark && flat {
        findings.push((
            Status::Failed,
            format!(
                "the picture is black (brightness {}): the lens is covered, or the sensor, its infrared light or the video failed",
                percent(b)
            ),
        ));
    } else if bright && flat {
        findings.push((
            Status::Failed,
            format!(
                "the picture is white (brightness {}): the lens is blinded by light or the sensor is overexposed",
                percent(b)
            ),
        ));
    } else if flat {
        findings.push((
            Status::Failed,
            format!(
                "the picture is one flat tone (contrast {}): the lens is probably covered, painted over or fogged",
                percent(c)
            ),
        ));
    } else if dark {
        findings.push((
            Status::Warning,
            format!(
                "the picture is too dark (brightness {}): check the lighting and the camera's infrared",
                percent(b)
            ),
        ));
    } else if bright {
        findings.push((
            Status::Warning,
            format!(
                "the picture is too bright (brightness {}): light shines into the lens or the exposure is wrong",
                percent(b)
            ),
        ));
    }
    let usable = findings.is_empty();
    if frozen {
        findings.push((
            Status::Failed,
            format!("the picture has not changed for {same_polls} polls in a row: the camera's image is frozen, restart the camera"),
        ));
    }

    // Sharpness against the camera's own recent pictures.
    let mut history = previous.sharpness.clone();
    let mut reference_thumbnail = previous.reference_thumbnail.clone();
    let mut notes = Vec::new();
    if usable
        && difference(&reference_thumbnail, &seen.thumbnail).is_some_and(|d| d > VIEW_CHANGE_RATIO)
        && !history.is_empty()
    {
        history.clear();
        notes.push("the view changed, so its usual sharpness is learnt again".to_owned());
    }
    let reference = (history.len() >= SHARPNESS_ESTABLISHED)
        .then(|| median(&history))
        .flatten();
    let blurred = usable && reference.is_some_and(|r| seen.sharpness < policy.image_blur_ratio * r);
    if let (true, Some(r)) = (blurred, reference) {
        findings.push((
            Status::Warning,
            format!(
                "the picture is blurred: its sharpness is {} of this camera's usual, refocus or clean the lens",
                percent(seen.sharpness / r)
            ),
        ));
    }
    if usable && !blurred && !same_picture {
        history.push(seen.sharpness);
        if history.len() > SHARPNESS_HISTORY {
            history.remove(0);
        }
        reference_thumbnail = seen.thumbnail.clone();
    }

    let (status, summary) = worst_first(findings).unwrap_or_else(|| {
        let sharpness = match reference {
            Some(r) => format!("sharpness {} of usual", percent(seen.sharpness / r)),
            None => format!(
                "usual sharpness being learnt ({} of {SHARPNESS_ESTABLISHED} pictures)",
                history.len().min(SHARPNESS_ESTABLISHED)
            ),
        };
        (
            Status::Ok,
            format!(
                "the picture is fine: {}x{}, brightness {}, contrast {}, {sharpness}",
                seen.width,
                seen.height,
                percent(b),
                percent(c)
            ),
        )
    });
    let memory = ImageMemory {
        width: seen.width,
        height: seen.height,
        fingerprint: seen.fingerprint.clone(),
        same_polls,
        thumbnail: seen.thumbnail.clone(),
        sharpness: history,
        reference_thumbnail,
    };
    let mut verdict = Verdict::new(
        CheckKind::Image,
        status,
        if notes.is_empty() {
            summary
        } else {
            format!("{summary} ({})", notes.join("; "))
        },
        serde_json::json!({
            "width": seen.width,
            "height": seen.height,
            "bytes": seen.bytes,
            "brightness_ratio": b,
            "contrast_ratio": c,
            "sharpness": seen.sharpness,
            "sharpness_reference": reference,
            "change_ratio": change_ratio,
            "fingerprint": seen.fingerprint,
            "same_polls": same_polls,
            "frozen": frozen,
            "blurred": blurred,
            "analysis_seconds": seen.analysis_seconds,
        }),
    );
    verdict.memory = serde_json::to_value(memory).ok();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A normal picture: mid brightness, good contrast, sharpness `sharpness`, thumbnail level
    /// `view` everywhere, and a fingerprint of its own.
    fn seen(fingerprint: u32, sharpness: f64) -> ImageObservation {
        ImageObservation {
            uri: "http://192.0.2.7/snap.jpg".into(),
            width: 1280,
            height: 720,
            bytes: 150_000,
            brightness: 0.45,
            contrast: 0.25,
            sharpness,
            fingerprint: format!("{fingerprint:016x}"),
            thumbnail: "80".repeat(256),
            analysis_seconds: 0.004,
            jpeg: Default::default(),
        }
    }

    /// Judges `pictures` in order, each with the memory the previous verdict left.
    fn run(pictures: &[ImageObservation]) -> Vec<Verdict> {
        let policy = Policy::default();
        let mut verdicts: Vec<Verdict> = Vec::new();
        for p in pictures {
            let memory = verdicts.last().and_then(|v| v.memory.clone());
            verdicts.push(judge(p, &policy, memory.as_ref()));
        }
        verdicts
    }

    fn last(pictures: &[ImageObservation]) -> Verdict {
        run(pictures).pop().unwrap()
    }

    #[test]
    fn a_normal_picture_is_ok_and_says_what_it_measured() {
        let v = last(&[seen(1, 500.0)]);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert!(
            v.summary.contains("1280x720, brightness 45 %, contrast 25 %"),
            "{}",
            v.summary
        );
        assert!(v.summary.contains("being learnt (1 of 3"), "{}", v.summary);
        assert_eq!(v.values["frozen"], false);
    }

    #[test]
    fn black_is_failed() {
        let v = last(&[ImageObservation {
            brightness: 0.0,
            contrast: 0.0,
            ..seen(1, 0.0)
        }]);
        assert_eq!(v.status, Status::Failed);
        assert!(
            v.summary.starts_with("the picture is black (brightness 0 %)"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn dark_with_some_detail_is_a_warning() {
        let v = last(&[ImageObservation {
            brightness: 0.05,
            contrast: 0.06,
            ..seen(1, 40.0)
        }]);
        assert_eq!(v.status, Status::Warning);
        assert!(
            v.summary.starts_with("the picture is too dark (brightness 5 %)"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn white_is_failed_and_bright_is_a_warning() {
        let white = last(&[ImageObservation {
            brightness: 0.995,
            contrast: 0.01,
            ..seen(1, 1.0)
        }]);
        assert_eq!(white.status, Status::Failed);
        assert!(white.summary.starts_with("the picture is white"), "{}", white.summary);
        let bright = last(&[ImageObservation {
            brightness: 0.98,
            contrast: 0.05,
            ..seen(1, 100.0)
        }]);
        assert_eq!(bright.status, Status::Warning);
        assert!(
            bright.summary.starts_with("the picture is too bright"),
            "{}",
            bright.summary
        );
    }

    #[test]
    fn a_flat_grey_picture_is_a_covered_lens() {
        let v = last(&[ImageObservation {
            brightness: 0.4,
            contrast: 0.01,
            ..seen(1, 2.0)
        }]);
        assert_eq!(v.status, Status::Failed);
        assert!(v.summary.contains("the lens is probably covered"), "{}", v.summary);
    }

    #[test]
    fn the_same_picture_on_n_polls_is_frozen_and_a_new_one_clears_it() {
        let verdicts = run(&[seen(7, 500.0), seen(7, 500.0), seen(7, 500.0), seen(8, 500.0)]);
        let statuses: Vec<Status> = verdicts.iter().map(|v| v.status).collect();
        assert_eq!(statuses, [Status::Ok, Status::Ok, Status::Failed, Status::Ok]);
        assert!(
            verdicts[2]
                .summary
                .starts_with("the picture has not changed for 3 polls in a row"),
            "{}",
            verdicts[2].summary
        );
        assert_eq!(verdicts[2].values["frozen"], true);
        assert_eq!(verdicts[3].values["same_polls"], 1);
    }

    #[test]
    fn frozen_counts_through_a_restart_because_the_memory_is_stored_as_json() {
        let policy = Policy::default();
        let first = judge(&seen(7, 500.0), &policy, None);
        let stored = first.memory.unwrap().to_string();
        let reloaded: serde_json::Value = serde_json::from_str(&stored).unwrap();
        let second = judge(&seen(7, 500.0), &policy, Some(&reloaded));
        let third = judge(&seen(7, 500.0), &policy, second.memory.as_ref());
        assert_eq!(third.status, Status::Failed);
    }

    #[test]
    fn blur_is_judged_against_the_cameras_own_sharpness_once_established() {
        // Blurred on the 2nd poll: not judged yet, too little history.
        let early = run(&[seen(1, 500.0), seen(2, 50.0)]);
        assert_eq!(early[1].status, Status::Ok, "{}", early[1].summary);
        let v = run(&[
            seen(1, 500.0),
            seen(2, 520.0),
            seen(3, 480.0),
            seen(4, 100.0),
            seen(5, 110.0),
        ]);
        assert_eq!(v[3].status, Status::Warning);
        assert!(
            v[3].summary
                .starts_with("the picture is blurred: its sharpness is 20 % of this camera's usual"),
            "{}",
            v[3].summary
        );
        assert_eq!(v[3].values["sharpness_reference"], 500.0);
        // Blurred pictures do not lower the reference: it stays blurred until refocused.
        assert_eq!(v[4].status, Status::Warning);
        let refocused = last(&[
            seen(1, 500.0),
            seen(2, 520.0),
            seen(3, 480.0),
            seen(4, 100.0),
            seen(5, 450.0),
        ]);
        assert_eq!(refocused.status, Status::Ok, "{}", refocused.summary);
        // Above the ratio is fine: scenes and light vary.
        let softer = last(&[seen(1, 500.0), seen(2, 520.0), seen(3, 480.0), seen(4, 200.0)]);
        assert_eq!(softer.status, Status::Ok, "{}", softer.summary);
    }

    #[test]
    fn a_new_view_or_resolution_learns_the_sharpness_again() {
        let new_view = ImageObservation {
            thumbnail: "10".repeat(256),
            ..seen(4, 100.0)
        };
        let v = last(&[seen(1, 500.0), seen(2, 520.0), seen(3, 480.0), new_view]);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert!(v.summary.contains("the view changed"), "{}", v.summary);
        let resized = ImageObservation {
            width: 640,
            height: 360,
            ..seen(4, 100.0)
        };
        let v = last(&[seen(1, 500.0), seen(2, 520.0), seen(3, 480.0), resized]);
        assert_eq!(v.status, Status::Ok, "{}", v.summary);
        assert!(v.summary.contains("1 of 3"), "{}", v.summary);
    }

    #[test]
    fn the_change_ratio_compares_with_the_previous_thumbnail() {
        let half = ImageObservation {
            thumbnail: format!("{}{}", "80".repeat(128), "ff".repeat(128)),
            ..seen(2, 500.0)
        };
        let v = run(&[seen(1, 500.0), half]);
        assert_eq!(v[0].values["change_ratio"], serde_json::Value::Null);
        let ratio = v[1].values["change_ratio"].as_f64().unwrap();
        assert!((ratio - 0.5 * 127.0 / 255.0).abs() < 1e-9, "{ratio}");
    }

    #[test]
    fn a_black_frozen_picture_names_the_worst_and_counts_the_rest() {
        let black = ImageObservation {
            brightness: 0.0,
            contrast: 0.0,
            ..seen(9, 0.0)
        };
        let v = last(&[black.clone(), black.clone(), black]);
        assert_eq!(v.status, Status::Failed);
        assert!(v.summary.contains("(and 1 more problem)"), "{}", v.summary);
    }
}
