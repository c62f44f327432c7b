//! The room's scheduled procedures, as records built from state:
//!
//! - the **shift handover** (run every check now, then: what is failing, what failed and
//!   recovered during the shift, what changed, retention per recording server);
//! - the **end-of-day inventory** (devices expected against devices seen today, by kind and state).
//!
//! Building a record is pure (`handover`, `inventory`: state in, record out); `perform` gathers
//! the state, stores the record and is what both the schedule and `POST /api/v1/procedures/...`
//! call. Records are stored as JSON in `procedure_runs`, so a later reader (the CLI's `--last`,
//! emails, reports) sees exactly what the guard saw.

pub mod text;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Procedure};
use crate::model::{CheckKind, DeviceKind, State};
use crate::schedule::pools::Class;
use crate::shared::Shared;
use crate::state::CheckStatus;
use crate::state::store::{self, EventRow, TransitionRow};
use crate::vocab::unix_now;

/// The shift a handover covers when no earlier handover is stored.
pub const FIRST_SHIFT: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    pub procedure: String,
    /// When the record was made (Unix seconds).
    pub at: f64,
    /// `at` on the agent's wall clock, RFC 3339 with offset.
    pub local_time: String,
    pub timezone: String,
    pub site: String,
    pub shift: Shift,
    pub checks: ChecksRun,
    /// Checks at warning, failed or unreachable now, worst first.
    pub failing: Vec<Failing>,
    /// Checks that went bad and came back to ok during the shift.
    pub recovered: Vec<Recovered>,
    /// Events seen during the shift: reboots, baselines recorded, changed or accepted.
    pub changes: Vec<Change>,
    /// The retention check of every recording server, with each camera's compliance.
    pub retention: Vec<Retention>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub from: f64,
    pub to: f64,
    /// When the previous handover was made; `None` for the first one (the shift is then the
    /// last 12 hours).
    pub previous_handover: Option<f64>,
}

/// The "run every check now" step: how many checks were asked, how many finished in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksRun {
    pub asked: usize,
    pub finished: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failing {
    pub device: String,
    pub check: String,
    pub state: State,
    /// When it entered this state.
    pub since: f64,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    pub device: String,
    pub check: String,
    /// The worst state it was in (failed, unreachable or warning).
    pub state: State,
    /// When it went bad; `None` when it already was at the start of the shift.
    pub failed_at: Option<f64>,
    pub recovered_at: f64,
    /// The summary of the result that put it in its worst state.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub device: String,
    pub check: String,
    /// `reboot`, `baseline_recorded`, `baseline_accepted`, `replaced`, `settings_changed`, ...
    pub kind: String,
    /// When it happened (a reboot: the boot time).
    pub at: f64,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    pub device: String,
    pub state: State,
    pub summary: Option<String>,
    pub cameras: Vec<CameraRetention>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraRetention {
    pub camera: String,
    pub compliant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub procedure: String,
    pub at: f64,
    pub local_time: String,
    pub timezone: String,
    pub site: String,
    /// The agent's calendar day, `YYYY-MM-DD`.
    pub day: String,
    /// Its local midnight (Unix seconds): "seen today" means since then.
    pub day_start: f64,
    pub expected: usize,
    pub seen: usize,
    pub kinds: Vec<KindCount>,
    pub not_seen: Vec<NotSeen>,
}

/// Devices of one kind: how many are configured, seen today, and in each overall state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: DeviceKind,
    pub expected: usize,
    pub seen: usize,
    pub ok: usize,
    pub warning: usize,
    pub failed: usize,
    pub unknown: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotSeen {
    pub device: String,
    pub kind: DeviceKind,
    /// The device's overall state: `failed`, `warning`, `ok` or `unknown`.
    pub state: State,
    /// The last time one of its checks ended ok or warning, if ever.
    pub last_seen: Option<f64>,
}

fn local(at: f64, tz: Tz) -> DateTime<Tz> {
    let utc = DateTime::<Utc>::from_timestamp_millis((at * 1000.0).round() as i64).unwrap_or_default();
    utc.with_timezone(&tz)
}

/// Worst first: failed, unreachable, warning, others.
fn severity(state: State) -> u8 {
    match state {
        State::Failed => 0,
        State::Unreachable => 1,
        State::Warning => 2,
        State::Unknown => 3,
        State::Ok => 4,
    }
}

fn is_bad(state: State) -> bool {
    matches!(state, State::Warning | State::Failed | State::Unreachable)
}

/// Builds the handover record from the current states and the shift's transitions and events.
pub fn handover(
    config: &Config,
    checks: &[CheckStatus],
    transitions: &[TransitionRow],
    events: &[EventRow],
    shift: Shift,
    checks_run: ChecksRun,
) -> Handover {
    let tz = config.agent.timezone;
    let mut failing: Vec<Failing> = checks
        .iter()
        .filter(|c| is_bad(c.state()))
        .map(|c| Failing {
            device: c.device.clone(),
            check: c.check.as_str().to_owned(),
            state: c.state(),
            since: c.since,
            summary: c.verdict.as_ref().map(|v| v.summary.clone()).unwrap_or_default(),
        })
        .collect();
    failing.sort_by(|a, b| (severity(a.state), &a.device, &a.check).cmp(&(severity(b.state), &b.device, &b.check)));

    // One open episode per (device, check): from its first bad transition in the shift (or the
    // shift's start, when it was already bad) to its return to ok.
    let mut open: BTreeMap<(&str, &str), Recovered> = BTreeMap::new();
    let mut recovered = Vec::new();
    for t in transitions.iter().filter(|t| t.at > shift.from && t.at <= shift.to) {
        let key = (t.device.as_str(), t.check.as_str());
        if is_bad(t.to) {
            let episode = open.entry(key).or_insert_with(|| Recovered {
                device: t.device.clone(),
                check: t.check.clone(),
                state: t.to,
                failed_at: (!is_bad(t.from)).then_some(t.at),
                recovered_at: t.at,
                summary: t.summary.clone(),
            });
            if severity(t.to) < severity(episode.state) {
                episode.state = t.to;
                episode.summary = t.summary.clone();
            }
        } else if t.to == State::Ok {
            let episode = open.remove(&key).or_else(|| {
                is_bad(t.from).then(|| Recovered {
                    device: t.device.clone(),
                    check: t.check.clone(),
                    state: t.from,
                    failed_at: None,
                    recovered_at: t.at,
                    summary: String::new(),
                })
            });
            if let Some(mut episode) = episode {
                episode.recovered_at = t.at;
                recovered.push(episode);
            }
        }
    }

    let changes = events
        .iter()
        .filter(|e| e.seen_at > shift.from && e.seen_at <= shift.to)
        .map(|e| Change {
            device: e.device.clone(),
            check: e.check.clone(),
            kind: e.kind.clone(),
            at: e.at,
            summary: e.summary.clone(),
        })
        .collect();

    let retention = checks
        .iter()
        .filter(|c| c.check == CheckKind::Retention)
        .map(|c| Retention {
            device: c.device.clone(),
            state: c.state(),
            summary: c.verdict.as_ref().map(|v| v.summary.clone()),
            cameras: c.verdict.as_ref().map(|v| cameras(&v.values)).unwrap_or_default(),
        })
        .collect();

    Handover {
        procedure: Procedure::Handover.as_str().to_owned(),
        at: shift.to,
        local_time: local(shift.to, tz).to_rfc3339(),
        timezone: tz.name().to_owned(),
        site: config.agent.site.clone(),
        shift,
        checks: checks_run,
        failing,
        recovered,
        changes,
        retention,
    }
}

/// Each camera of a retention verdict's figures with its compliance; a configured camera without
/// any footage (`missing`) is not compliant.
fn cameras(values: &serde_json::Value) -> Vec<CameraRetention> {
    let mut found: Vec<CameraRetention> = values
        .get("cameras")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .map(|(camera, figures)| CameraRetention {
            camera: camera.clone(),
            compliant: figures.get("compliant").and_then(serde_json::Value::as_bool) == Some(true),
        })
        .chain(
            values
                .get("missing")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .map(|camera| CameraRetention {
                    camera: camera.to_owned(),
                    compliant: false,
                }),
        )
        .collect();
    found.sort_by(|a, b| a.camera.cmp(&b.camera));
    found
}

/// Local midnight of the day `at` falls on; where midnight does not exist (a DST change at
/// 00:00) the first instant of the day.
pub fn day_start(at: f64, tz: Tz) -> (String, f64) {
    let date = local(at, tz).date_naive();
    let start = (0..24 * 60)
        .find_map(|minute| {
            let time = NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0)?;
            tz.from_local_datetime(&date.and_time(time)).earliest()
        })
        .map_or(at, |d| d.timestamp() as f64);
    (date.format("%Y-%m-%d").to_string(), start)
}

/// A device's overall state: its worst check (unreachable counts as failed).
fn overall(checks: &[&CheckStatus]) -> State {
    let states: Vec<State> = checks.iter().map(|c| c.state()).collect();
    if states.iter().any(|s| s.is_down()) {
        State::Failed
    } else if states.contains(&State::Warning) {
        State::Warning
    } else if states.contains(&State::Ok) {
        State::Ok
    } else {
        State::Unknown
    }
}

/// Builds the inventory record: every configured device, seen today when one of its checks ended
/// ok or warning since local midnight.
pub fn inventory(config: &Config, checks: &[CheckStatus], at: f64) -> Inventory {
    let tz = config.agent.timezone;
    let (day, day_start) = day_start(at, tz);
    let mut kinds: Vec<KindCount> = Vec::new();
    let mut not_seen = Vec::new();
    for device in &config.devices {
        let own: Vec<&CheckStatus> = checks.iter().filter(|c| c.device == device.name).collect();
        let last_seen = own.iter().filter_map(|c| c.last_success).reduce(f64::max);
        let seen = last_seen.is_some_and(|t| t >= day_start);
        let state = overall(&own);
        let count = match kinds.iter_mut().position(|k| k.kind == device.kind) {
            Some(i) => &mut kinds[i],
            None => {
                kinds.push(KindCount {
                    kind: device.kind,
                    expected: 0,
                    seen: 0,
                    ok: 0,
                    warning: 0,
                    failed: 0,
                    unknown: 0,
                });
                kinds.last_mut().expect("just pushed")
            }
        };
        count.expected += 1;
        count.seen += usize::from(seen);
        match state {
            State::Ok => count.ok += 1,
            State::Warning => count.warning += 1,
            State::Failed | State::Unreachable => count.failed += 1,
            State::Unknown => count.unknown += 1,
        }
        if !seen {
            not_seen.push(NotSeen {
                device: device.name.clone(),
                kind: device.kind,
                state,
                last_seen,
            });
        }
    }
    kinds.sort_by_key(|k| k.kind.as_str());
    Inventory {
        procedure: Procedure::Inventory.as_str().to_owned(),
        at,
        local_time: local(at, tz).to_rfc3339(),
        timezone: tz.name().to_owned(),
        site: config.agent.site.clone(),
        day,
        day_start,
        expected: config.devices.len(),
        seen: kinds.iter().map(|k| k.seen).sum(),
        kinds,
        not_seen,
    }
}

/// How long a handover waits for every check to finish: each check's timeout, times the rounds
/// the bound on checks in flight may force (or a device that does not answer, whose
/// conversations go one at a time, if it has more), plus a margin for the queue.
fn run_all_limit(config: &Config) -> Duration {
    let checks: usize = config.devices.iter().map(|d| d.checks.len()).sum();
    let longest = config
        .devices
        .iter()
        .map(|d| d.policy.timeout)
        .max()
        .unwrap_or_default();
    let one_device = config
        .devices
        .iter()
        .map(|d| d.checks.iter().filter(|c| Class::of(c) == Class::Conversation).count())
        .max()
        .unwrap_or(0);
    let rounds = checks
        .div_ceil(config.agent.max_in_flight.max(1))
        .max(one_device)
        .max(1) as u32;
    longest * rounds + Duration::from_secs(5)
}

/// Runs a procedure now, stores its record, and returns the record as JSON.
pub async fn perform(shared: Arc<Shared>, procedure: Procedure) -> Result<serde_json::Value, String> {
    // One procedure at a time: a scheduled handover and one asked for by hand must not interleave.
    let _turn = shared.procedure_turn.lock().await;
    let config = shared.config();
    if shared.hub.store().is_none() {
        return Err("this agent keeps no state store".to_owned());
    }
    let record = match procedure {
        Procedure::Handover => {
            let (asked, finished) = shared.run_now.run_all(run_all_limit(&config)).await;
            let to = unix_now();
            let reader = Arc::clone(&shared);
            let (previous, transitions, events) = tokio::task::spawn_blocking(move || {
                let store = reader.hub.store().expect("checked above");
                // The transitions of the runs just made are still on their way to the file.
                store.flush();
                let conn = store::open_reader(&store.path)?;
                let previous = store::procedure_records(&conn, Procedure::Handover.as_str(), 1)?
                    .first()
                    .map(|(at, _)| *at);
                let from = previous.unwrap_or(to - FIRST_SHIFT.as_secs_f64());
                Ok::<_, rusqlite::Error>((
                    previous,
                    store::transitions_between(&conn, from, to)?,
                    store::events_seen_between(&conn, from, to)?,
                ))
            })
            .await
            .map_err(|e| format!("reading the state store failed: {e}"))?
            .map_err(|e| format!("cannot read the state store: {e}"))?;
            let shift = Shift {
                from: previous.unwrap_or(to - FIRST_SHIFT.as_secs_f64()),
                to,
                previous_handover: previous,
            };
            let record = handover(
                &config,
                &shared.hub.snapshot(),
                &transitions,
                &events,
                shift,
                ChecksRun { asked, finished },
            );
            serde_json::to_value(record)
        }
        Procedure::Inventory => serde_json::to_value(inventory(&config, &shared.hub.snapshot(), unix_now())),
    }
    .map_err(|e| format!("cannot encode the record: {e}"))?;
    let at = record["at"].as_f64().unwrap_or_else(unix_now);
    let saver = Arc::clone(&shared);
    let json = record.to_string();
    tokio::task::spawn_blocking(move || {
        let store = saver.hub.store().expect("checked above");
        store.save_procedure(procedure.as_str(), at, json);
        // Saved before it is answered: a `--last` right after sees this one.
        store.flush();
    })
    .await
    .map_err(|e| format!("saving the record failed: {e}"))?;
    shared.procedure_ran(procedure, at);
    tracing::info!(procedure = %procedure, "{procedure} recorded");
    mail(&shared, &config, procedure, at, &record).await;
    Ok(record)
}

/// Queues the record's mail, when `[email]` asks for it; the outbox sends it (and keeps it
/// through an SMTP outage or a restart) like any fault mail.
async fn mail(shared: &Shared, config: &Config, procedure: Procedure, at: f64, record: &serde_json::Value) {
    let text = match procedure {
        Procedure::Handover => serde_json::from_value::<Handover>(record.clone()).map(|h| text::handover_text(&h)),
        Procedure::Inventory => serde_json::from_value::<Inventory>(record.clone()).map(|i| text::inventory_text(&i)),
    };
    let (Ok(text), Some(store)) = (text, shared.hub.store()) else {
        return;
    };
    let Some(message) = crate::notify::compose::procedure_message(config, procedure, at, &text) else {
        return;
    };
    if let Err(e) = crate::notify::outbox::enqueue(store, message).await {
        tracing::error!(procedure = %procedure, "cannot queue the {procedure} mail: {e}");
    }
}

/// The newest `limit` stored records of a procedure, newest first.
pub async fn stored(shared: &Shared, procedure: Procedure, limit: usize) -> Result<Vec<serde_json::Value>, String> {
    let path = shared
        .hub
        .store()
        .map(|s| s.path.clone())
        .ok_or("this agent keeps no state store")?;
    let rows = store::read(path, move |conn| {
        store::procedure_records(conn, procedure.as_str(), limit)
    })
    .await
    .map_err(|e| format!("reading the state store failed: {e}"))?
    .map_err(|e| format!("cannot read the state store: {e}"))?;
    rows.into_iter()
        .map(|(_, json)| serde_json::from_str(&json).map_err(|e| format!("a stored record is not JSON: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Verdict;
    use crate::model::Status;
    use crate::state::machine::Machine;

    const SITE: &str = r#"
[agent]
timezone = "Europe/Berlin"
site = "Lund"
[[device]]
name = "switch"
kind = "switch"
address = "192.0.2.1"
[[device]]
name = "cam-1"
kind = "camera"
address = "192.0.2.2"
[[device]]
name = "cam-2"
kind = "camera"
address = "192.0.2.3"
[[device]]
name = "nvr"
kind = "host"
[device.footage]
root = "/srv/footage"
layout = "mtime"
segment_seconds = 60
"#;

    fn status(device: &str, check: CheckKind, state: State, since: f64, last_success: Option<f64>) -> CheckStatus {
        CheckStatus {
            device: device.into(),
            check,
            machine: Machine {
                state,
                ..Machine::default()
            },
            since,
            last_run: Some(since),
            last_success,
            last_duration_seconds: Some(0.1),
            failing_since: None,
            verdict: Some(Verdict::new(
                check,
                match state {
                    State::Ok => Status::Ok,
                    State::Warning => Status::Warning,
                    _ => Status::Failed,
                },
                format!("{device} {check} is {state}"),
                serde_json::json!({}),
            )),
            memory: None,
            observation: None,
        }
    }

    fn t(device: &str, at: f64, from: State, to: State) -> TransitionRow {
        TransitionRow {
            device: device.into(),
            check: "ping".into(),
            at,
            from,
            to,
            summary: format!("{device} went {to} at {at}"),
        }
    }

    #[test]
    fn the_handover_lists_failing_recovered_changes_and_retention() {
        let config = crate::config::parse("t.toml", SITE).unwrap();
        let mut retention = status("nvr", CheckKind::Retention, State::Failed, 50.0, None);
        retention.verdict.as_mut().unwrap().values = serde_json::json!({
            "cameras": { "front": { "compliant": true }, "yard": { "compliant": false } },
            "missing": ["back"]
        });
        let checks = vec![
            status("switch", CheckKind::Ping, State::Ok, 10.0, Some(990.0)),
            status("cam-1", CheckKind::Ping, State::Warning, 900.0, Some(990.0)),
            status("cam-2", CheckKind::Ping, State::Failed, 800.0, None),
            retention,
        ];
        use State::*;
        let transitions = vec![
            t("switch", 50.0, Ok, Failed),  // before the shift: not this shift's business
            t("switch", 150.0, Failed, Ok), // already failed at the start, recovered in the shift
            t("cam-1", 200.0, Ok, Warning),
            t("cam-1", 250.0, Warning, Failed),
            t("cam-1", 300.0, Failed, Ok), // one episode, at its worst failed
            t("cam-2", 800.0, Ok, Failed), // still failing: listed as failing, not recovered
            t("cam-1", 900.0, Ok, Warning),
        ];
        let events = vec![EventRow {
            device: "cam-1".into(),
            check: "baseline".into(),
            kind: "baseline_accepted".into(),
            at: 400.0,
            seen_at: 400.0,
            summary: "baseline accepted by Ana".into(),
        }];
        let shift = Shift {
            from: 100.0,
            to: 1000.0,
            previous_handover: Some(100.0),
        };
        let h = handover(
            &config,
            &checks,
            &transitions,
            &events,
            shift,
            ChecksRun { asked: 4, finished: 4 },
        );
        let failing: Vec<(&str, State)> = h.failing.iter().map(|f| (f.device.as_str(), f.state)).collect();
        assert_eq!(failing, [("cam-2", Failed), ("nvr", Failed), ("cam-1", Warning)]);
        assert_eq!(h.failing[0].since, 800.0);
        assert_eq!(h.failing[0].summary, "cam-2 ping is failed");
        let recovered: Vec<(&str, State, Option<f64>, f64)> = h
            .recovered
            .iter()
            .map(|r| (r.device.as_str(), r.state, r.failed_at, r.recovered_at))
            .collect();
        assert_eq!(
            recovered,
            [("switch", Failed, None, 150.0), ("cam-1", Failed, Some(200.0), 300.0)]
        );
        assert_eq!(h.recovered[1].summary, "cam-1 went failed at 250");
        assert_eq!(h.changes.len(), 1);
        assert_eq!(h.changes[0].kind, "baseline_accepted");
        assert_eq!(h.retention.len(), 1);
        assert_eq!(
            h.retention[0].cameras,
            [
                CameraRetention {
                    camera: "back".into(),
                    compliant: false
                },
                CameraRetention {
                    camera: "front".into(),
                    compliant: true
                },
                CameraRetention {
                    camera: "yard".into(),
                    compliant: false
                }
            ]
        );
        assert_eq!(h.timezone, "Europe/Berlin");
        assert_eq!(h.local_time, "1970-01-01T01:16:40+01:00");
        // What is stored reads back the same.
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Handover>(&json).unwrap(), h);
    }

    #[test]
    fn the_inventory_counts_devices_by_kind_and_state_and_lists_those_not_seen_today() {
        let config = crate::config::parse("t.toml", SITE).unwrap();
        // 2026-11-29 12:00 in Berlin (UTC+1); local midnight is 23:00 UTC the day before.
        let at = 1_795_910_400.0 + 12.0 * 3600.0 - 3600.0;
        let (day, start) = day_start(at, chrono_tz::Europe::Berlin);
        assert_eq!(day, "2026-11-29");
        assert_eq!(start, 1_795_910_400.0 - 3600.0);
        let checks = vec![
            status("switch", CheckKind::Ping, State::Ok, 10.0, Some(at - 60.0)),
            status("cam-1", CheckKind::Ping, State::Warning, 10.0, Some(at - 60.0)),
            status("cam-1", CheckKind::Onvif, State::Ok, 10.0, Some(at - 60.0)),
            // Last answered yesterday evening: not seen today.
            status("cam-2", CheckKind::Ping, State::Unreachable, 10.0, Some(start - 10.0)),
            // nvr's retention check has not run: unknown, never seen.
        ];
        let inv = inventory(&config, &checks, at);
        assert_eq!((inv.expected, inv.seen), (4, 2));
        let kinds: Vec<(&str, usize, usize, usize, usize, usize, usize)> = inv
            .kinds
            .iter()
            .map(|k| {
                (
                    k.kind.as_str(),
                    k.expected,
                    k.seen,
                    k.ok,
                    k.warning,
                    k.failed,
                    k.unknown,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("camera", 2, 1, 0, 1, 1, 0),
                ("host", 1, 0, 0, 0, 0, 1),
                ("switch", 1, 1, 1, 0, 0, 0)
            ]
        );
        let not_seen: Vec<(&str, State, Option<f64>)> = inv
            .not_seen
            .iter()
            .map(|n| (n.device.as_str(), n.state, n.last_seen))
            .collect();
        assert_eq!(
            not_seen,
            [
                ("cam-2", State::Failed, Some(start - 10.0)),
                ("nvr", State::Unknown, None)
            ]
        );
    }

    #[test]
    fn a_day_whose_midnight_does_not_exist_starts_at_its_first_minute() {
        // America/Santiago 2026-09-06: clocks go from 00:00 to 01:00 (UTC-4 to UTC-3).
        let tz: Tz = "America/Santiago".parse().unwrap();
        let noon = DateTime::parse_from_rfc3339("2026-09-06T12:00:00-03:00")
            .unwrap()
            .timestamp() as f64;
        let (day, start) = day_start(noon, tz);
        assert_eq!(day, "2026-09-06");
        assert_eq!(
            start,
            DateTime::parse_from_rfc3339("2026-09-06T01:00:00-03:00")
                .unwrap()
                .timestamp() as f64
        );
    }
}
