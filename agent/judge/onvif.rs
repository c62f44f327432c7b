//! Camera rules over what ONVIF said: the device answers and says who it is (`onvif`), its clock
//! is right (`clock`: footage is evidence, and its timestamps come from this clock), and it is the
//! same unit with the same settings as approved (`baseline`: procedures forbid unapproved
//! replacement of equipment and unapproved changes of parameters).

use serde::{Deserialize, Serialize};

use super::{Event, Verdict, worst_first};
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::onvif::Encoder;
use crate::observation::onvif::OnvifObservation;
use crate::vocab::EventKind;

pub fn judge(
    check: CheckKind,
    seen: &OnvifObservation,
    policy: &Policy,
    memory: Option<&serde_json::Value>,
    now: f64,
) -> Verdict {
    match check {
        CheckKind::Clock => clock(seen, policy),
        CheckKind::Baseline => baseline(seen, memory, now),
        _ => device(seen),
    }
}

fn device(seen: &OnvifObservation) -> Verdict {
    let values = serde_json::json!({
        "identity": seen.identity,
        "mac": seen.mac,
        "services": seen.services,
        "profile": seen.profile,
        "encoder": seen.encoder(),
        "stream_uri": seen.stream_uri,
        "snapshot_uri": seen.snapshot_uri,
        "clock_offset_seconds": seen.clock_offset_seconds,
        "notes": seen.notes,
    });
    let Some(id) = seen.identity.as_ref().filter(|id| id.says_who()) else {
        return Verdict::new(
            CheckKind::Onvif,
            Status::Warning,
            "the camera answers ONVIF but does not say who it is".into(),
            values,
        );
    };
    let name = [id.manufacturer.as_deref(), id.model.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut summary = format!("{} answers ONVIF", if name.is_empty() { "the camera" } else { &name });
    if let Some(firmware) = &id.firmware {
        summary.push_str(&format!(", firmware {firmware}"));
    }
    if let Some(serial) = &id.serial {
        summary.push_str(&format!(", serial {serial}"));
    }
    let status = if seen.stream_uri.is_none() && seen.profile.is_some() {
        Status::Warning
    } else {
        Status::Ok
    };
    if status == Status::Warning {
        summary.push_str("; it gives no stream URI for its profile");
    }
    Verdict::new(CheckKind::Onvif, status, summary, values)
}

fn clock(seen: &OnvifObservation, policy: &Policy) -> Verdict {
    let values = serde_json::json!({
        "clock_offset_seconds": seen.clock_offset_seconds,
        "unset": seen.time.unset,
        "date_time_type": seen.time.date_time_type,
        "time_zone": seen.time.time_zone,
    });
    let source = match seen.time.date_time_type.as_deref() {
        Some("NTP") => " (set by NTP)",
        Some("Manual") => " (set by hand, no NTP)",
        _ => "",
    };
    let (status, summary) = match seen.clock_offset_seconds {
        _ if seen.time.unset => (
            Status::Failed,
            "the camera's clock is not set (it reads a date before 2000): its footage carries wrong times".to_owned(),
        ),
        None => (
            Status::Unknown,
            "the camera gives no UTC time, so its clock cannot be compared".to_owned(),
        ),
        Some(offset) => {
            let off = offset.abs();
            let direction = if offset > 0.0 { "ahead" } else { "behind" };
            let amount = if off < 120.0 {
                format!("{off:.1} s")
            } else {
                humantime::format_duration(std::time::Duration::from_secs(((off / 60.0).round() * 60.0) as u64))
                    .to_string()
            };
            if off > policy.clock_failed_offset.as_secs_f64() {
                (
                    Status::Failed,
                    format!("the camera's clock is {amount} {direction}{source}: footage timestamps are wrong"),
                )
            } else if off > policy.clock_warning_offset.as_secs_f64() {
                (
                    Status::Warning,
                    format!("the camera's clock is {amount} {direction}{source}"),
                )
            } else {
                (
                    Status::Ok,
                    format!("the camera's clock is right ({amount} {direction}){source}"),
                )
            }
        }
    };
    Verdict::new(CheckKind::Clock, status, summary, values)
}

/// The identity and settings a camera is held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Settings {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub mac: Option<String>,
    pub firmware: Option<String>,
    /// The video encoder of every media profile, by profile token.
    #[serde(default)]
    pub encoders: std::collections::BTreeMap<String, Encoder>,
}

impl Settings {
    pub fn of(seen: &OnvifObservation) -> Settings {
        let id = seen.identity.clone().unwrap_or_default();
        Settings {
            manufacturer: id.manufacturer,
            model: id.model,
            serial: id.serial,
            mac: seen.mac.clone(),
            firmware: id.firmware,
            encoders: seen
                .profiles
                .iter()
                .filter_map(|p| Some((p.token.clone(), p.encoder.clone()?)))
                .collect(),
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.serial {
            parts.push(format!("serial {s}"));
        }
        if let Some(m) = &self.mac {
            parts.push(format!("MAC {m}"));
        }
        if let Some(f) = &self.firmware {
            parts.push(format!("firmware {f}"));
        }
        for (token, e) in &self.encoders {
            parts.push(format!("{token}: {}", encoder_text(e)));
        }
        parts.join(", ")
    }
}

fn encoder_text(e: &Encoder) -> String {
    let mut t = e.encoding.clone().unwrap_or_else(|| "video".into());
    if let (Some(w), Some(h)) = (e.width, e.height) {
        t.push_str(&format!(" {w}x{h}"));
    }
    if let Some(f) = e.frame_rate {
        t.push_str(&format!(" {f} fps"));
    }
    if let Some(b) = e.bitrate_kbps {
        t.push_str(&format!(" {b} kbit/s"));
    }
    t
}

/// What the baseline check remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BaselineMemory {
    /// The approved identity and settings; `None` until the first good poll.
    pub baseline: Option<Settings>,
    /// What the last poll saw, which `baseline accept` approves.
    pub last_seen: Option<Settings>,
    /// Differences already recorded as events, so each is recorded once.
    pub reported: Vec<String>,
    /// Who approved the baseline last, when and why.
    pub accepted: Option<Acceptance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    pub by: String,
    pub reason: String,
    pub at: f64,
}

/// The differences between the approved settings and the seen ones, each with its severity.
pub fn differences(approved: &Settings, seen: &Settings) -> Vec<(Status, String)> {
    let mut found = Vec::new();
    let changed = |a: &Option<String>, b: &Option<String>| a.is_some() && b.is_some() && a != b;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    if changed(&approved.serial, &seen.serial) {
        found.push((
            Status::Failed,
            format!(
                "the camera was replaced: serial {} is now {}",
                text(&approved.serial),
                text(&seen.serial)
            ),
        ));
    } else if changed(&approved.mac, &seen.mac) {
        found.push((
            Status::Failed,
            format!(
                "the camera was replaced: MAC {} is now {}",
                text(&approved.mac),
                text(&seen.mac)
            ),
        ));
    }
    if changed(&approved.model, &seen.model) {
        found.push((
            Status::Failed,
            format!(
                "the model changed from {} to {}",
                text(&approved.model),
                text(&seen.model)
            ),
        ));
    }
    if changed(&approved.firmware, &seen.firmware) {
        found.push((
            Status::Warning,
            format!(
                "firmware changed from {} to {}",
                text(&approved.firmware),
                text(&seen.firmware)
            ),
        ));
    }
    for (token, a) in &approved.encoders {
        let Some(b) = seen.encoders.get(token) else {
            found.push((Status::Warning, format!("profile {token} is gone")));
            continue;
        };
        let mut what = Vec::new();
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        if a.encoding != b.encoding {
            what.push(format!("codec {} -> {}", text(&a.encoding), text(&b.encoding)));
        }
        if (a.width, a.height) != (b.width, b.height) {
            let size = |e: &Encoder| format!("{}x{}", e.width.unwrap_or(0), e.height.unwrap_or(0));
            what.push(format!("resolution {} -> {}", size(a), size(b)));
        }
        if a.frame_rate != b.frame_rate {
            what.push(format!(
                "frame rate {} -> {} fps",
                a.frame_rate.unwrap_or(0.0),
                b.frame_rate.unwrap_or(0.0)
            ));
        }
        if a.bitrate_kbps != b.bitrate_kbps {
            what.push(format!(
                "bitrate {} -> {} kbit/s",
                a.bitrate_kbps.unwrap_or(0),
                b.bitrate_kbps.unwrap_or(0)
            ));
        }
        if !what.is_empty() {
            found.push((
                Status::Warning,
                format!(
                    "video settings of profile {token} changed ({}): retention may shrink",
                    what.join(", ")
                ),
            ));
        }
    }
    for token in seen.encoders.keys().filter(|t| !approved.encoders.contains_key(*t)) {
        found.push((Status::Warning, format!("a new profile {token} appeared")));
    }
    found
}

/// `now` dates the events a change leaves (the run's start: judges read no clock).
fn baseline(seen: &OnvifObservation, memory: Option<&serde_json::Value>, now: f64) -> Verdict {
    let mut memory: BaselineMemory = memory
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let current = Settings::of(seen);
    let mut events = Vec::new();
    let identified = seen.identity.as_ref().is_some_and(|id| id.says_who());
    let (status, summary) = match &memory.baseline {
        // A baseline without an identity could never notice a replacement: not recorded.
        None if !identified => (
            Status::Unknown,
            "the camera does not say who it is (no manufacturer, model, firmware or serial): no baseline recorded until it does".to_owned(),
        ),
        None => {
            let text = format!("baseline recorded: {}", current.describe());
            events.push(Event {
                kind: EventKind::BaselineRecorded,
                at: now,
                summary: text.clone(),
            });
            memory.baseline = Some(current.clone());
            (Status::Ok, text)
        }
        Some(approved) => {
            let found = differences(approved, &current);
            for (status, text) in &found {
                if !memory.reported.contains(text) {
                    events.push(Event {
                        kind: if *status == Status::Failed {
                            EventKind::Replaced
                        } else {
                            EventKind::SettingsChanged
                        },
                        at: now,
                        summary: text.clone(),
                    });
                }
            }
            memory.reported = found.iter().map(|(_, t)| t.clone()).collect();
            match worst_first(found) {
                Some((status, text)) => (
                    status,
                    format!("{text}; if this was approved, run `camwatch baseline accept`"),
                ),
                None => (Status::Ok, format!("as approved: {}", approved.describe())),
            }
        }
    };
    memory.last_seen = Some(current.clone());
    let mut verdict = Verdict::new(
        CheckKind::Baseline,
        status,
        summary,
        serde_json::json!({ "approved": memory.baseline, "seen": current, "accepted": memory.accepted }),
    );
    verdict.immediate = !events.is_empty() && status != Status::Ok;
    verdict.events = events;
    verdict.memory = serde_json::to_value(memory).ok();
    verdict
}

/// The memory after someone approved what the camera is now.
pub fn accept(
    memory: Option<&serde_json::Value>,
    by: &str,
    reason: &str,
    at: f64,
) -> Result<(serde_json::Value, Event), String> {
    let mut memory: BaselineMemory = memory
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let seen = memory
        .last_seen
        .clone()
        .ok_or("the camera has not been polled yet; nothing to accept")?;
    let event = Event {
        kind: EventKind::BaselineAccepted,
        at,
        summary: format!("baseline accepted by {by}: {reason} (now {})", seen.describe()),
    };
    memory.baseline = Some(seen);
    memory.reported.clear();
    memory.accepted = Some(Acceptance {
        by: by.to_owned(),
        reason: reason.to_owned(),
        at,
    });
    Ok((serde_json::to_value(memory).map_err(|e| e.to_string())?, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When the test runs are judged (2026-11-29 06:00 UTC).
    const NOW: f64 = 1_796_018_400.0;
    use crate::observation::onvif::{DeviceTime, Identity, Profile};

    fn seen(serial: &str, fps: f64, offset: Option<f64>) -> OnvifObservation {
        OnvifObservation {
            url: "http://192.0.2.5/onvif/device_service".into(),
            time: DeviceTime {
                utc_seconds: Some(0),
                unset: false,
                date_time_type: Some("NTP".into()),
                time_zone: None,
            },
            clock_offset_seconds: offset,
            identity: Some(Identity {
                manufacturer: Some("AXIS".into()),
                model: Some("P1435-LE".into()),
                firmware: Some("10.12.1".into()),
                serial: Some(serial.into()),
                hardware_id: None,
            }),
            mac: Some("00:40:8c:12:34:56".into()),
            services: None,
            profiles: vec![Profile {
                token: "main".into(),
                name: None,
                encoder: Some(Encoder {
                    encoding: Some("H264".into()),
                    width: Some(1920),
                    height: Some(1080),
                    frame_rate: Some(fps),
                    bitrate_kbps: Some(4096),
                }),
            }],
            profile: Some("main".into()),
            stream_uri: Some("rtsp://192.0.2.5/main".into()),
            snapshot_uri: None,
            notes: vec![],
        }
    }

    #[test]
    fn a_camera_that_does_not_say_who_it_is_warns_and_gets_no_baseline() {
        let p = Policy::default();
        let mut anonymous = seen("A", 25.0, None);
        anonymous.identity = Some(Identity {
            hardware_id: Some("7A5".into()),
            ..Identity::default()
        });
        let v = judge(CheckKind::Onvif, &anonymous, &p, None, NOW);
        assert_eq!(
            (v.status, v.summary.as_str()),
            (Status::Warning, "the camera answers ONVIF but does not say who it is")
        );
        let v = judge(CheckKind::Baseline, &anonymous, &p, None, NOW);
        assert_eq!(v.status, Status::Unknown, "{}", v.summary);
        assert!(v.events.is_empty(), "{:?}", v.events);
        let memory: BaselineMemory = serde_json::from_value(v.memory.unwrap()).unwrap();
        assert_eq!(memory.baseline, None);
    }

    #[test]
    fn clock_thresholds_in_utc() {
        let p = Policy::default();
        assert_eq!(
            judge(CheckKind::Clock, &seen("A", 25.0, Some(1.2)), &p, None, NOW).status,
            Status::Ok
        );
        let v = judge(CheckKind::Clock, &seen("A", 25.0, Some(-12.0)), &p, None, NOW);
        assert_eq!(
            (v.status, v.summary.as_str()),
            (Status::Warning, "the camera's clock is 12.0 s behind (set by NTP)")
        );
        let v = judge(CheckKind::Clock, &seen("A", 25.0, Some(7200.0)), &p, None, NOW);
        assert_eq!(v.status, Status::Failed);
        assert!(v.summary.starts_with("the camera's clock is 2h ahead"), "{}", v.summary);
        let mut unset = seen("A", 25.0, None);
        unset.time.unset = true;
        assert_eq!(judge(CheckKind::Clock, &unset, &p, None, NOW).status, Status::Failed);
    }

    #[test]
    fn baseline_is_recorded_then_changes_are_reported_once_and_accepting_clears_them() {
        let p = Policy::default();
        let first = judge(CheckKind::Baseline, &seen("ACCC8E01", 25.0, None), &p, None, NOW);
        assert_eq!(first.status, Status::Ok);
        assert_eq!(first.events[0].kind, EventKind::BaselineRecorded);
        let fps = judge(
            CheckKind::Baseline,
            &seen("ACCC8E01", 30.0, None),
            &p,
            first.memory.as_ref(),
            NOW,
        );
        assert_eq!(fps.status, Status::Warning);
        assert!(
            fps.summary
                .starts_with("video settings of profile main changed (frame rate 25 -> 30 fps)"),
            "{}",
            fps.summary
        );
        assert_eq!(fps.events.len(), 1);
        assert!(fps.immediate);
        let again = judge(
            CheckKind::Baseline,
            &seen("ACCC8E01", 30.0, None),
            &p,
            fps.memory.as_ref(),
            NOW,
        );
        assert!(again.events.is_empty(), "reported once");
        let swapped = judge(
            CheckKind::Baseline,
            &seen("ACCC8E99", 30.0, None),
            &p,
            again.memory.as_ref(),
            NOW,
        );
        assert_eq!(swapped.status, Status::Failed);
        assert!(
            swapped
                .summary
                .starts_with("the camera was replaced: serial ACCC8E01 is now ACCC8E99"),
            "{}",
            swapped.summary
        );
        let (accepted, event) = accept(swapped.memory.as_ref(), "j.smith", "replaced after storm damage", 5.0).unwrap();
        assert!(
            event
                .summary
                .starts_with("baseline accepted by j.smith: replaced after storm damage")
        );
        let after = judge(
            CheckKind::Baseline,
            &seen("ACCC8E99", 30.0, None),
            &p,
            Some(&accepted),
            NOW,
        );
        assert_eq!(after.status, Status::Ok);
        assert!(
            after.summary.starts_with("as approved: serial ACCC8E99"),
            "{}",
            after.summary
        );
        assert!(accept(None, "x", "y", 1.0).is_err());
    }
}
