//! Reports for managers: what the state store proves about a period, as evidence that the
//! procedures were followed. Figures are time-weighted from state transitions (never sample
//! counts), with maintenance left out and `unreachable` time counted by a stated rule; every
//! rule is shown with its clause. `build` gathers (through the store's read functions) and
//! computes; `html` and `csv` only render what `build` computed.

pub mod csv;
pub mod html;
pub mod period;
pub mod prometheus;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::availability::{Decision, History, decide, interruptions, maintenance_seconds, up_and_down_recording};
use crate::config::{CheckSpec, Config};
use crate::model::{CheckKind, State};
use crate::state::incidents::Incident;
use crate::state::store;
use crate::vocab::EventKind;
pub use period::Period;

/// How `unreachable` time (the device could not be seen because its parent was down) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// As down: the room could not see or fetch footage from it (the default).
    Down,
    /// Not at all: the fault was the parent's, counted there.
    Excluded,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub site: String,
    pub timezone: String,
    pub period: Period,
    pub generated_at: f64,
    pub unreachable: Unreachable,
    pub devices: Vec<DeviceAvailability>,
    pub kinds: Vec<GroupAvailability>,
    pub sites: Vec<GroupAvailability>,
    pub recorders: Vec<RecorderInterruptions>,
    pub incidents: IncidentFigures,
    pub retention: Vec<CameraRetention>,
    pub backups: Vec<BackupRecord>,
    pub procedures: Vec<ProcedureCount>,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceAvailability {
    pub device: String,
    pub kind: String,
    pub site: String,
    pub policy: String,
    /// Up over known time (None: nothing known in the period).
    pub availability: Option<f64>,
    pub target: f64,
    pub up_seconds: f64,
    pub down_seconds: f64,
    /// The period's length (all of it, also what is still to come), less maintenance.
    pub period_seconds: f64,
    /// How much of it camwatch observed (up and down), and that as a share of the period.
    pub observed_seconds: f64,
    pub observed: Option<f64>,
    /// Down time the target allows over the period, minus the down time used (negative: over
    /// budget).
    pub budget_remaining_seconds: f64,
    /// Whether the target was met: None while what was observed cannot decide it (or nothing
    /// was), see [`crate::availability::decide`].
    pub met: Option<bool>,
    pub clause: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupAvailability {
    pub name: String,
    pub devices: usize,
    /// Up over known time of all its devices together.
    pub availability: Option<f64>,
    pub devices_under_target: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecorderInterruptions {
    pub device: String,
    pub count: usize,
    pub total_seconds: f64,
    pub longest_seconds: f64,
    pub interruptions: Vec<crate::availability::Interruption>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IncidentFigures {
    pub opened: usize,
    pub resolved: usize,
    pub still_open: usize,
    pub acknowledged: usize,
    pub mean_acknowledge_seconds: Option<f64>,
    pub mean_repair_seconds: Option<f64>,
    pub list: Vec<Incident>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraRetention {
    pub device: String,
    /// The recorder's site: a fleet's report (`--source prometheus`) may hold two same-named
    /// recorders of different sites.
    pub site: String,
    pub camera: String,
    /// When the figures were measured (the last retention result of the period).
    pub measured_at: f64,
    pub required_seconds: f64,
    pub contiguous_seconds: f64,
    pub gap_seconds: f64,
    pub gaps: usize,
    pub compliant: bool,
    pub clause: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupRecord {
    pub device: String,
    pub measured_at: f64,
    pub status: String,
    pub summary: String,
    pub failed_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcedureCount {
    pub procedure: String,
    pub count: usize,
    pub last_at: Option<f64>,
    /// When each record was made: the evidence that the procedure was followed.
    pub times: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub at: f64,
    pub device: String,
    pub kind: String,
    pub summary: String,
}

/// Which device a row of the availability table is, and the name of its policy.
pub struct Who {
    pub device: String,
    pub kind: String,
    pub site: String,
    pub policy: String,
}

impl DeviceAvailability {
    /// The row for `up` and `down` seconds observed in a period of `period_seconds` (maintenance
    /// left out), judged against `policy`'s target by [`decide`].
    pub fn new(who: Who, policy: &crate::config::Policy, (up, down): (f64, f64), period_seconds: f64) -> Self {
        let target = policy.availability_target;
        let availability = ratio(up, down);
        let met = match decide(up, down, period_seconds, target) {
            _ if availability.is_none() => None,
            Decision::Met => Some(true),
            Decision::Missed => Some(false),
            Decision::Undecided => None,
        };
        DeviceAvailability {
            device: who.device,
            kind: who.kind,
            site: who.site,
            policy: who.policy,
            availability,
            target,
            up_seconds: up,
            down_seconds: down,
            period_seconds,
            observed_seconds: up + down,
            observed: (period_seconds > 0.0).then(|| (up + down) / period_seconds),
            budget_remaining_seconds: (1.0 - target) * period_seconds - down,
            met,
            clause: policy.clause(&policy.clause_availability),
        }
    }
}

fn ratio(up: f64, down: f64) -> Option<f64> {
    (up + down > 0.0).then(|| up / (up + down))
}

/// Devices grouped by `key` (kind, site): up over known time of all of them together.
fn groups(devices: &[DeviceAvailability], key: fn(&DeviceAvailability) -> &str) -> Vec<GroupAvailability> {
    let mut groups: BTreeMap<&str, Vec<&DeviceAvailability>> = BTreeMap::new();
    for d in devices {
        groups.entry(key(d)).or_default().push(d);
    }
    groups
        .into_iter()
        .map(|(name, members)| GroupAvailability {
            devices: members.len(),
            availability: ratio(
                members.iter().map(|d| d.up_seconds).sum(),
                members.iter().map(|d| d.down_seconds).sum(),
            ),
            devices_under_target: members.iter().filter(|d| d.met == Some(false)).count(),
            name: name.to_owned(),
        })
        .collect()
}

/// Computes the report for `period` from the store at `conn`.
pub fn build(
    config: &Config,
    conn: &rusqlite::Connection,
    period: Period,
    unreachable: Unreachable,
    now: f64,
) -> rusqlite::Result<Report> {
    let (from, to) = (period.from, period.to.min(now));
    let mut devices = Vec::new();
    let mut recorders = Vec::new();
    for device in &config.devices {
        if device.check(CheckKind::Ping).is_none() {
            continue;
        }
        let rules: Vec<crate::maintenance::Rule> = config
            .maintenance
            .iter()
            .filter(|r| r.target.covers(&device.name, &device.site))
            .cloned()
            .collect();
        let mut history: History = store::history(conn, (&device.name, &device.site), &rules, from, to)?;
        if unreachable == Unreachable::Excluded {
            let unknown = |s: State| if s == State::Unreachable { State::Unknown } else { s };
            history.reachability_before = unknown(history.reachability_before);
            history.reachability.iter_mut().for_each(|(_, s)| *s = unknown(*s));
        }
        if device.check(CheckKind::Availability).is_none() {
            // Only devices with a recording duty are down when they do not record.
            history.recording.clear();
            history.recording_before = None;
        }
        let (up, down) = up_and_down_recording(&history, to - from);
        // The whole period is owed the target, also the part still to come.
        let period_seconds = period.to - period.from - maintenance_seconds(&history, to - from);
        devices.push(DeviceAvailability::new(
            Who {
                device: device.name.clone(),
                kind: device.kind.as_str().to_owned(),
                site: device.site.clone(),
                policy: device.policy_name.clone(),
            },
            &device.policy,
            (up, down),
            period_seconds,
        ));
        if device.check(CheckKind::Availability).is_some() {
            let found = interruptions(&history);
            recorders.push(RecorderInterruptions {
                device: device.name.clone(),
                count: found.len(),
                total_seconds: found
                    .iter()
                    .map(|i| i.end.unwrap_or(to).min(to) - i.start.max(from))
                    .sum(),
                longest_seconds: found
                    .iter()
                    .map(|i| i.end.unwrap_or(to).min(to) - i.start.max(from))
                    .fold(0.0, f64::max),
                interruptions: found,
            });
        }
    }
    let kinds = groups(&devices, |d| &d.kind);
    let sites = groups(&devices, |d| &d.site);

    let list = store::incidents_between(conn, from, to)?;
    let in_period = |t: f64| t >= from && t < to;
    let mean = |values: Vec<f64>| (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
    let incidents = IncidentFigures {
        opened: list.iter().filter(|i| in_period(i.opened_at)).count(),
        resolved: list.iter().filter(|i| i.resolved_at.is_some_and(in_period)).count(),
        still_open: list.iter().filter(|i| i.resolved_at.is_none_or(|r| r >= to)).count(),
        acknowledged: list.iter().filter(|i| i.acknowledged.is_some()).count(),
        mean_acknowledge_seconds: mean(list.iter().filter_map(Incident::acknowledge_seconds).collect()),
        mean_repair_seconds: mean(list.iter().filter_map(Incident::repair_seconds).collect()),
        list,
    };

    let mut retention = Vec::new();
    let mut backups = Vec::new();
    for device in &config.devices {
        if let Some((at, values)) = store::last_values(conn, &device.name, CheckKind::Retention.as_str(), from, to)? {
            for (camera, v) in values["cameras"].as_object().into_iter().flatten() {
                let policy = device.policy.for_camera(camera);
                let figure = |k: &str| v[k].as_f64().unwrap_or(0.0);
                retention.push(CameraRetention {
                    device: device.name.clone(),
                    site: device.site.clone(),
                    camera: camera.clone(),
                    measured_at: at,
                    required_seconds: v["required_seconds"]
                        .as_f64()
                        .unwrap_or(f64::from(policy.retention_days) * 86_400.0),
                    contiguous_seconds: figure("contiguous_seconds"),
                    gap_seconds: figure("gap_seconds"),
                    gaps: v["gaps"].as_array().map_or(0, Vec::len),
                    compliant: v["compliant"].as_bool().unwrap_or(false),
                    clause: policy.clause(&policy.clause_retention),
                });
            }
        }
        if matches!(device.check(CheckKind::Backup), Some(CheckSpec::Backup(_))) {
            let (before, changes) = store::check_timeline(conn, &device.name, CheckKind::Backup.as_str(), from)?;
            let failed: f64 = crate::availability::up_and_down(before, &changes, from, to).1;
            if let Some((at, status, summary)) =
                store::last_result(conn, &device.name, CheckKind::Backup.as_str(), from, to)?
            {
                backups.push(BackupRecord {
                    device: device.name.clone(),
                    measured_at: at,
                    status,
                    summary,
                    failed_seconds: failed,
                });
            }
        }
    }
    let procedures = ["handover", "inventory"]
        .iter()
        .map(|p| {
            let times = store::procedure_times(conn, p, from, to)?;
            Ok(ProcedureCount {
                procedure: (*p).to_owned(),
                count: times.len(),
                last_at: times.last().copied(),
                times,
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let changes = store::events_between(conn, EventKind::is_change, from, to)?
        .into_iter()
        .map(|(at, device, kind, summary)| Change {
            at,
            device,
            kind,
            summary,
        })
        .collect();
    Ok(Report {
        site: config.agent.site.clone(),
        timezone: config.agent.timezone.name().to_owned(),
        period,
        generated_at: now,
        unreachable,
        devices,
        kinds,
        sites,
        recorders,
        incidents,
        retention,
        backups,
        procedures,
        changes,
    })
}
