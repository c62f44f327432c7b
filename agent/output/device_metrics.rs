//! Metrics of what the protocol checks saw: UPS figures, boot times and reboots, remote storage,
//! recorder drives, user-defined SNMP values and camera streams. StateSets list every state,
//! always.

use std::collections::BTreeMap;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::metrics::{Labels, family, flag, gauge};
use crate::model::{CheckKind, Status};
use crate::observation::Observation;
use crate::observation::recorder::DiskState;
use crate::observation::stream::VideoTrack;
use crate::observation::ups::{BatteryStatus, OutputSource, UpsObservation};
use crate::state::CheckStatus;

/// What the last run of a UPS check saw, and its verdict's figures.
struct UpsSeen<'a> {
    observed: &'a UpsObservation,
    values: Option<&'a serde_json::Value>,
}

/// A UPS figure: metric name, help, and how to read it from what was seen.
type UpsFigure = (&'static str, &'static str, fn(&UpsSeen) -> Option<f64>);

fn device(name: &str) -> Labels {
    vec![("device", name.to_owned())]
}

fn with(mut labels: Labels, key: &'static str, value: &str) -> Labels {
    labels.push((key, value.to_owned()));
    labels
}

pub fn encode(
    e: &mut DescriptorEncoder,
    checks: &[CheckStatus],
    reboots: &BTreeMap<String, u64>,
    interruptions: &BTreeMap<String, u64>,
) -> std::fmt::Result {
    let observed = |kind: CheckKind| checks.iter().filter(move |c| c.check == kind);

    // UPS: every configured UPS has its StateSets; without an answer they say "unknown".
    let ups: Vec<(&str, Option<UpsSeen>)> = observed(CheckKind::Ups)
        .map(|c| match &c.observation {
            Some(Observation::Ups(u)) => (
                c.device.as_str(),
                Some(UpsSeen {
                    observed: u,
                    values: c.verdict.as_ref().map(|v| &v.values),
                }),
            ),
            _ => (c.device.as_str(), None),
        })
        .collect();
    gauge(
        e,
        "camwatch_ups_output_source",
        "Where the UPS output comes from: one series per source, 1 for the current one.",
        ups.iter().flat_map(|(d, u)| {
            let current = u.as_ref().map_or(OutputSource::Unknown, |u| u.observed.output_source);
            OutputSource::ALL
                .into_iter()
                .map(move |s| (with(device(d), "source", s.as_str()), flag(s == current)))
        }),
    )?;
    gauge(
        e,
        "camwatch_ups_battery_status",
        "Battery status as the UPS reports it: one series per status, 1 for the current one.",
        ups.iter().flat_map(|(d, u)| {
            let current = u.as_ref().map_or(BatteryStatus::Unknown, |u| u.observed.battery_status);
            BatteryStatus::ALL
                .into_iter()
                .map(move |s| (with(device(d), "status", s.as_str()), flag(s == current)))
        }),
    )?;
    let figures: [UpsFigure; 10] = [
        ("camwatch_ups_battery_charge_ratio", "Battery charge, 0 to 1.", |u| {
            u.observed.charge_ratio
        }),
        (
            "camwatch_ups_battery_runtime_seconds",
            "Estimated runtime on battery at the present load.",
            |u| u.observed.runtime_seconds,
        ),
        (
            "camwatch_ups_seconds_on_battery",
            "How long the UPS has been on battery; 0 on mains.",
            // The judge's figure: the UPS's own, or counted from the outage's start it remembers.
            |u| u.values?.get("seconds_on_battery")?.as_f64(),
        ),
        ("camwatch_ups_input_voltage_volts", "Input (mains) voltage.", |u| {
            u.observed.input_voltage_volts
        }),
        ("camwatch_ups_output_voltage_volts", "Output voltage.", |u| {
            u.observed.output_voltage_volts
        }),
        (
            "camwatch_ups_load_ratio",
            "Output load, 0 to 1 (over 1 is an overload).",
            |u| u.observed.load_ratio,
        ),
        (
            "camwatch_ups_battery_temperature_celsius",
            "Battery temperature.",
            |u| u.observed.battery_temperature_celsius,
        ),
        (
            "camwatch_ups_alarms",
            "Number of alarms the UPS reports as present.",
            |u| u.observed.alarms.map(f64::from),
        ),
        (
            "camwatch_ups_replace_battery",
            "1 when the UPS asks for its battery to be replaced.",
            |u| u.observed.replace_battery.map(flag),
        ),
        ("camwatch_ups_overload", "1 when the UPS reports an overload.", |u| {
            Some(flag(u.observed.overload))
        }),
    ];
    for (name, help, figure) in figures {
        gauge(
            e,
            name,
            help,
            ups.iter().filter_map(|(d, u)| Some((device(d), figure(u.as_ref()?)?))),
        )?;
    }

    // Boot time and reboots.
    let uptime: Vec<&CheckStatus> = observed(CheckKind::Uptime).collect();
    gauge(
        e,
        "camwatch_device_boot_time_seconds",
        "When the device last started (Unix time), from its uptime.",
        uptime.iter().filter_map(|c| {
            let boot = c.verdict.as_ref()?.values.get("boot_time_seconds")?.as_f64()?;
            Some((device(&c.device), boot))
        }),
    )?;
    family(
        e,
        "camwatch_device_reboots",
        "Reboots seen (the boot time moved), since camwatch's records began.",
        MetricType::Counter,
        uptime
            .iter()
            .map(|c| (device(&c.device), reboots.get(&c.device).copied().unwrap_or(0) as f64)),
    )?;
    family(
        e,
        "camwatch_recorder_interruptions",
        "Interruptions of the device's 24-hour duty (unreachable, not recording, rebooted), since camwatch's records began.",
        MetricType::Counter,
        checks.iter().filter(|c| c.check == CheckKind::Availability).map(|c| {
            (
                device(&c.device),
                interruptions.get(&c.device).copied().unwrap_or(0) as f64,
            )
        }),
    )?;

    // Remote storage (HOST-RESOURCES-MIB).
    let volumes: Vec<(Labels, u64, u64)> = observed(CheckKind::Storage)
        .filter_map(|c| match &c.observation {
            Some(Observation::Storage(s)) => Some((c.device.as_str(), s)),
            _ => None,
        })
        .flat_map(|(d, s)| {
            s.volumes
                .iter()
                .map(move |v| (with(device(d), "storage", &v.name), v.size_bytes, v.used_bytes))
        })
        .collect();
    gauge(
        e,
        "camwatch_storage_size_bytes",
        "Size of each disk volume of a remote host or NAS.",
        volumes.iter().map(|(l, size, _)| (l.clone(), *size as f64)),
    )?;
    gauge(
        e,
        "camwatch_storage_used_bytes",
        "Used space of each disk volume of a remote host or NAS.",
        volumes.iter().map(|(l, _, used)| (l.clone(), *used as f64)),
    )?;

    // Recorder drives.
    let disks: Vec<(&str, &crate::observation::recorder::RecorderDisk)> = observed(CheckKind::RecorderDisks)
        .filter_map(|c| match &c.observation {
            Some(Observation::Recorder(r)) => Some((c.device.as_str(), r)),
            _ => None,
        })
        .flat_map(|(d, r)| r.disks.iter().map(move |disk| (d, disk)))
        .collect();
    gauge(
        e,
        "camwatch_recorder_disk_state",
        "State of each recorder drive: one series per state, 1 for the current one.",
        disks.iter().flat_map(|(d, disk)| {
            DiskState::ALL.into_iter().map(move |s| {
                (
                    with(with(device(d), "disk", &disk.id), "state", s.as_str()),
                    flag(s == disk.state),
                )
            })
        }),
    )?;
    gauge(
        e,
        "camwatch_recorder_disk_capacity_bytes",
        "Capacity of each recorder drive.",
        disks
            .iter()
            .filter_map(|(d, disk)| Some((with(device(d), "disk", &disk.id), disk.capacity_bytes? as f64))),
    )?;
    gauge(
        e,
        "camwatch_recorder_disk_free_bytes",
        "Free space of each recorder drive (recorders overwrite the oldest footage, so 0 is normal).",
        disks
            .iter()
            .filter_map(|(d, disk)| Some((with(device(d), "disk", &disk.id), disk.free_bytes? as f64))),
    )?;

    // Cameras over ONVIF.
    gauge(
        e,
        "camwatch_device_clock_offset_seconds",
        "Device clock minus camwatch's clock (positive: the device is ahead), from ONVIF.",
        observed(CheckKind::Clock).filter_map(|c| match &c.observation {
            Some(Observation::Onvif(o)) => Some((device(&c.device), o.clock_offset_seconds?)),
            _ => None,
        }),
    )?;
    gauge(
        e,
        "camwatch_camera_baseline_changed",
        "1 when the camera differs from its approved identity and settings (replaced or reconfigured).",
        observed(CheckKind::Baseline).filter_map(|c| {
            let verdict = c.verdict.as_ref()?;
            c.observation
                .is_some()
                .then(|| (device(&c.device), flag(verdict.status != Status::Ok)))
        }),
    )?;

    // Camera pictures: figures only from a picture seen on the last run, never a stale one.
    let images: Vec<&CheckStatus> = observed(CheckKind::Image).collect();
    let pictures: Vec<(&str, &crate::observation::image::ImageObservation)> = images
        .iter()
        .filter_map(|c| match &c.observation {
            Some(Observation::Image(i)) => Some((c.device.as_str(), i)),
            _ => None,
        })
        .collect();
    type ImageFigure = (
        &'static str,
        &'static str,
        fn(&crate::observation::image::ImageObservation) -> f64,
    );
    let figures: [ImageFigure; 3] = [
        (
            "camwatch_camera_brightness_ratio",
            "Mean brightness of the camera's snapshot, 0 (black) to 1 (white).",
            |i| i.brightness,
        ),
        (
            "camwatch_camera_contrast_ratio",
            "Contrast of the camera's snapshot (standard deviation of brightness), 0 to 0.5.",
            |i| i.contrast,
        ),
        (
            "camwatch_camera_sharpness",
            "Sharpness of the camera's snapshot: variance of the Laplacian on a picture of at most 1024 px a side; compare with the same camera only.",
            |i| i.sharpness,
        ),
    ];
    for (name, help, figure) in figures {
        gauge(e, name, help, pictures.iter().map(|(d, i)| (device(d), figure(i))))?;
    }
    gauge(
        e,
        "camwatch_camera_frozen",
        "1 when the camera has sent the same picture on image_frozen_polls polls in a row.",
        images.iter().filter_map(|c| {
            let frozen = c.verdict.as_ref()?.values.get("frozen")?.as_bool()?;
            Some((device(&c.device), flag(frozen)))
        }),
    )?;
    gauge(
        e,
        "camwatch_camera_image_ok",
        "1 when the last picture check found nothing wrong (not dark, bright, covered, blurred or frozen).",
        images.iter().filter_map(|c| {
            let status = c.verdict.as_ref()?.status;
            Some((device(&c.device), flag(status == Status::Ok)))
        }),
    )?;

    // User-defined SNMP values.
    gauge(
        e,
        "camwatch_snmp_value",
        "User-defined SNMP values, scaled as configured (the unit is in the configuration).",
        observed(CheckKind::SnmpValues)
            .filter_map(|c| match &c.observation {
                Some(Observation::SnmpValues(v)) => Some((c.device.as_str(), v)),
                _ => None,
            })
            .flat_map(|(d, v)| {
                v.values
                    .iter()
                    .filter_map(move |r| Some((with(device(d), "name", &r.name), r.value?)))
            }),
    )?;

    // Backups: figures only from a walk of the last run (a missing folder has none, not stale
    // ones); the newest backup's time and age only when there is one.
    let backups: Vec<(&str, &crate::observation::backup::BackupObservation)> = observed(CheckKind::Backup)
        .filter_map(|c| match &c.observation {
            Some(Observation::Backup(b)) => Some((c.device.as_str(), b)),
            _ => None,
        })
        .collect();
    gauge(
        e,
        "camwatch_backup_newest_timestamp_seconds",
        "Modification time (Unix time) of the newest file in the backup folder.",
        backups
            .iter()
            .filter_map(|(d, b)| Some((device(d), b.newest.as_ref()?.modified_at))),
    )?;
    gauge(
        e,
        "camwatch_backup_age_seconds",
        "Age of the newest backup when last checked.",
        backups
            .iter()
            .filter_map(|(d, b)| Some((device(d), crate::judge::backup::age_seconds(b)?))),
    )?;
    gauge(
        e,
        "camwatch_backup_files",
        "Backup files (matching the pattern) in the backup folder.",
        backups.iter().map(|(d, b)| (device(d), b.files as f64)),
    )?;
    gauge(
        e,
        "camwatch_backup_bytes",
        "Total size of the backup files in the backup folder.",
        backups.iter().map(|(d, b)| (device(d), b.bytes as f64)),
    )?;

    // Footage retention, per camera of each footage source: `camera` and `device` (the recording
    // server) both, as a camera's name is only unique on its recorder. Read from the verdict's
    // values, so the metrics say exactly what the summary judged.
    let cameras: Vec<(Labels, &serde_json::Value)> = observed(CheckKind::Retention)
        .filter(|c| matches!(c.observation, Some(Observation::Footage(_))))
        .filter_map(|c| Some((c.device.as_str(), c.verdict.as_ref()?)))
        .flat_map(|(d, v)| {
            v.values
                .get("cameras")
                .and_then(|c| c.as_object())
                .into_iter()
                .flatten()
                .map(move |(camera, values)| (with(device(d), "camera", camera), values))
        })
        .collect();
    type FootageFigure = (&'static str, &'static str, fn(&serde_json::Value) -> Option<f64>);
    let figures: [FootageFigure; 7] = [
        (
            "camwatch_recording_oldest_timestamp_seconds",
            "Start of the camera's oldest footage (Unix time).",
            |v| v.get("oldest_seconds")?.as_f64(),
        ),
        (
            "camwatch_recording_newest_timestamp_seconds",
            "End of the camera's newest footage (Unix time).",
            |v| v.get("newest_seconds")?.as_f64(),
        ),
        (
            "camwatch_recording_contiguous_seconds",
            "How far back from now the camera's footage runs without a gap longer than the policy allows; 0 when not recording now.",
            |v| v.get("contiguous_seconds")?.as_f64(),
        ),
        (
            "camwatch_recording_gap_seconds",
            "Total length of the camera's recording gaps inside the required retention window.",
            |v| v.get("gap_seconds")?.as_f64(),
        ),
        (
            "camwatch_retention_required_seconds",
            "Footage age the camera's policy requires (retention_days; a camera's own policy where it has one).",
            |v| v.get("required_seconds")?.as_f64(),
        ),
        (
            "camwatch_retention_compliant",
            "1 when the camera is recording now and its contiguous footage reaches back the required time.",
            |v| Some(flag(v.get("compliant")?.as_bool()?)),
        ),
        (
            "camwatch_retention_forecast_seconds",
            "Seconds until the camera's coverage falls under the requirement at the present write rate and disk size (+Inf: never; 0: already under).",
            |v| match v.get("forecast_seconds")? {
                serde_json::Value::Null => Some(f64::INFINITY),
                f => f.as_f64(),
            },
        ),
    ];
    for (name, help, figure) in figures {
        gauge(
            e,
            name,
            help,
            cameras.iter().filter_map(|(l, v)| Some((l.clone(), figure(v)?))),
        )?;
    }

    // Camera streams: `up` for every configured stream check, so an alert on `== 0` also fires
    // for a camera that never answered; `info` only for what was seen, with two low-cardinality
    // labels (a codec name, a resolution), never the URL.
    let streams: Vec<(&str, Option<&VideoTrack>)> = observed(CheckKind::Stream)
        .map(|c| match &c.observation {
            Some(Observation::Stream(s)) => (c.device.as_str(), s.video.as_ref()),
            _ => (c.device.as_str(), None),
        })
        .collect();
    gauge(
        e,
        "camwatch_camera_stream_up",
        "1 when the camera's RTSP stream last described a video track; 0 when the stream check failed or saw no video.",
        streams.iter().map(|(d, video)| (device(d), flag(video.is_some()))),
    )?;
    gauge(
        e,
        "camwatch_camera_stream_info",
        "The video track the camera's stream last described: codec and resolution (empty when the camera does not say), always 1.",
        streams.iter().filter_map(|(d, video)| {
            let video = (*video)?;
            let resolution = match (video.width, video.height) {
                (Some(w), Some(h)) => format!("{w}x{h}"),
                _ => String::new(),
            };
            Some((
                with(with(device(d), "codec", &video.codec), "resolution", &resolution),
                1.0,
            ))
        }),
    )
}
