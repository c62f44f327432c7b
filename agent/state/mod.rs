//! Current state of every (device, check), fed by check results, saved by the store.
//!
//! The hub applies hysteresis and the parent rule, keeps what outputs read (last verdict, last
//! observation, timestamps), and hands every result to the store's writer thread. Its lock is a
//! plain mutex held for microseconds and never across an `.await`.

pub mod backlog;
pub mod incidents;
pub mod machine;
pub mod outbox;
pub mod snapshots;
pub mod store;
pub mod store_health;
pub mod thinning;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::config::{Config, Device};
use crate::judge::Verdict;
use crate::maintenance::{Target, Window};
use crate::model::{CheckKind, State, Status};
use crate::observation::Observation;
use crate::vocab::EventKind;
use incidents::{Acknowledgement, Book, Change, Incident};
use machine::{Machine, Thresholds};
use snapshots::{Snapshots, Which};
use store::{ResultRow, Resumed, SavedState, Store};

/// What outputs know about one (device, check).
#[derive(Debug, Clone)]
pub struct CheckStatus {
    pub device: String,
    pub check: CheckKind,
    pub machine: Machine,
    /// When the current state was entered (Unix seconds).
    pub since: f64,
    pub last_run: Option<f64>,
    pub last_success: Option<f64>,
    pub last_duration_seconds: Option<f64>,
    pub verdict: Option<Verdict>,
    /// What the judge left for the next run (see `Verdict::memory`).
    pub memory: Option<serde_json::Value>,
    /// What the probe saw on the last run; `None` when it saw nothing (timeout, no such host), so
    /// metrics never show a stale figure as current.
    pub observation: Option<Observation>,
    /// When the present run of failed results began (None after a good one): an incident is
    /// dated from here.
    pub failing_since: Option<f64>,
}

impl CheckStatus {
    fn new(device: &str, check: CheckKind, now: f64) -> Self {
        Self {
            device: device.to_owned(),
            check,
            machine: Machine::default(),
            since: now,
            last_run: None,
            last_success: None,
            last_duration_seconds: None,
            verdict: None,
            memory: None,
            observation: None,
            failing_since: None,
        }
    }

    pub fn state(&self) -> State {
        self.machine.state
    }
}

/// One finished run of a check, as the scheduler hands it over.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub at: f64,
    pub duration_seconds: f64,
    pub verdict: Verdict,
    pub observation: Option<Observation>,
}

/// A state change, with its cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub device: String,
    pub check: CheckKind,
    pub at: f64,
    pub from: State,
    pub to: State,
    pub summary: String,
}

type Key = (String, CheckKind);

/// How long the store may fail to write before the agent opens an incident of its own: a
/// moment of a locked file or a disk that is being cleaned up is not a fault to announce.
pub const STORE_GRACE_SECONDS: f64 = 15.0;

/// Incident changes a slow subscriber may be behind before it is told it lagged.
pub const INCIDENT_CHANGES_BUFFER: usize = 1024;

#[derive(Debug)]
pub struct Hub {
    checks: Mutex<BTreeMap<Key, CheckStatus>>,
    store: Option<Store>,
    /// Saved states of checks not configured right now, kept so a device commented out and back
    /// in does not restart from `unknown`.
    saved: Mutex<BTreeMap<Key, SavedState>>,
    /// Counted events (reboots, interruptions) per (kind, device) since records began: counters
    /// that continue across restarts.
    counted: Mutex<BTreeMap<(String, String), u64>>,
    /// Keeps the latest good and failing camera snapshots (the daemon only).
    snapshots: Option<Snapshots>,
    /// The open incidents (their rows are in the store).
    incidents: Mutex<Book>,
    /// Maintenance windows people opened (recent and coming ones), and the next id to give.
    maintenance: Mutex<(Vec<Window>, u64)>,
    /// Woken when an incident changes (the notifier, when mail is configured).
    incident_changed: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// Every incident that opened, resolved or was acknowledged, as it now is: notifiers
    /// subscribe instead of polling.
    incident_changes: tokio::sync::broadcast::Sender<Incident>,
}

impl Hub {
    pub fn new(store: Option<Store>, resumed: Resumed) -> Self {
        let mut book = Book::new(resumed.open_incidents, resumed.max_incident_id);
        for orphan in book.detach_orphans() {
            tracing::warn!(incident = orphan.id, device = %orphan.device, check = %orphan.check, "incident was part of one that is closed: a fault of its own now");
            if let Some(store) = &store {
                store.incident(orphan);
            }
        }
        let saved = resumed
            .states
            .into_iter()
            .filter_map(|s| Some(((s.device.clone(), CheckKind::parse(&s.check)?), s)))
            .collect();
        Self {
            checks: Mutex::new(BTreeMap::new()),
            store,
            saved: Mutex::new(saved),
            counted: Mutex::new(
                resumed
                    .counted
                    .into_iter()
                    .map(|(kind, device, n)| ((kind, device), n))
                    .collect(),
            ),
            snapshots: None,
            incidents: Mutex::new(book),
            maintenance: Mutex::new((resumed.maintenance, resumed.max_maintenance_id + 1)),
            incident_changed: None,
            incident_changes: tokio::sync::broadcast::Sender::new(INCIDENT_CHANGES_BUFFER),
        }
    }

    /// Wakes `signal` after each incident change has been handed to the store.
    pub fn with_incident_signal(mut self, signal: std::sync::Arc<tokio::sync::Notify>) -> Self {
        self.incident_changed = Some(signal);
        self
    }

    fn incident_changed(&self, incident: Incident) {
        // Nobody subscribed (no notifier configured) is fine.
        let _ = self.incident_changes.send(incident.clone());
        if let Some(store) = &self.store {
            store.incident(incident);
        }
        if let Some(signal) = &self.incident_changed {
            signal.notify_one();
        }
    }

    /// Keeps the snapshots of image checks with `snapshots`.
    pub fn with_snapshots(mut self, snapshots: Snapshots) -> Self {
        self.snapshots = Some(snapshots);
        self
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, CheckStatus>> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep serving it.
        self.checks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the set of tracked checks match the configuration: new checks start `unknown` (or
    /// from their saved state), removed ones disappear from every output.
    pub fn sync(&self, config: &Config, now: f64) {
        let mut checks = self.lock();
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let wanted: Vec<Key> = config
            .devices
            .iter()
            .flat_map(|d| d.checks.iter().map(|c| (d.name.clone(), c.kind())))
            .collect();
        let removed: Vec<Key> = checks.keys().filter(|k| !wanted.contains(k)).cloned().collect();
        for key in removed {
            if let Some(status) = checks.remove(&key) {
                saved.insert(key, saved_state(&status));
            }
        }
        for key in wanted {
            if checks.contains_key(&key) {
                continue;
            }
            let mut status = CheckStatus::new(&key.0, key.1, now);
            if let Some(s) = saved.remove(&key) {
                status.machine = Machine {
                    state: s.state,
                    streaks: s.streaks,
                };
                status.since = s.since;
                status.last_run = s.last_run;
                status.last_success = s.last_success;
                status.memory = s.memory.as_deref().and_then(|m| serde_json::from_str(m).ok());
            }
            checks.insert(key, status);
        }
    }

    /// Applies one result; returns the transition it caused, if any.
    pub fn record(&self, device: &Device, result: CheckResult) -> Option<Transition> {
        let mut checks = self.lock();
        let check = result.verdict.check;
        // What the check depends on is down: its parent's or its own ping (down is down), or the
        // session it rides on when that session itself could not be had (no observation: no
        // answer, refused, no login), not when it answered with a fault of its own.
        let upstream = device.upstream(check);
        let upstream_down = upstream.is_some_and(|(d, c)| {
            checks
                .get(&(d.to_owned(), c))
                .is_some_and(|u| u.state().is_down() && (c == CheckKind::Ping || u.observation.is_none()))
        });
        let status = checks
            .entry((device.name.clone(), check))
            .or_insert_with(|| CheckStatus::new(&device.name, check, result.at));
        let from = status.state();
        let thresholds = Thresholds {
            failures_before_failed: device.policy.failures_before_failed,
            successes_before_recovered: device.policy.successes_before_recovered,
        };
        let changed = status.machine.step(
            result.verdict.status,
            result.verdict.immediate,
            upstream_down,
            thresholds,
        );
        if changed.is_some() {
            status.since = result.at;
        }
        status.last_run = Some(result.at);
        if matches!(result.verdict.status, Status::Ok | Status::Warning) {
            status.last_success = Some(result.at);
        }
        status.last_duration_seconds = Some(result.duration_seconds);
        status.memory = result.verdict.memory.clone();
        status.failing_since = match result.verdict.status {
            Status::Failed => status.failing_since.or(Some(result.at)),
            Status::Ok | Status::Warning => None,
            Status::Unknown => status.failing_since,
        };
        for event in &result.verdict.events {
            if event.kind.is_counted() {
                *self
                    .counted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((event.kind.as_str().to_owned(), device.name.clone()))
                    .or_default() += 1;
            }
        }
        for event in &result.verdict.events {
            tracing::warn!(device = %device.name, check = %check, kind = event.kind.as_str(), "{}", event.summary);
        }
        if let (Some(snapshots), Some(Observation::Image(image))) = (&self.snapshots, &result.observation) {
            // A warning (dark, blurred) is kept with the failures: it shows what needs fixing.
            let which = match result.verdict.status {
                Status::Ok => Some(Which::Ok),
                Status::Warning | Status::Failed => Some(Which::Failed),
                Status::Unknown => None,
            };
            if let Some(which) = which {
                snapshots.keep(&device.name, which, result.at, std::sync::Arc::clone(&image.jpeg));
            }
        }
        status.observation = result.observation;
        let transition = changed.map(|to| Transition {
            device: device.name.clone(),
            check,
            at: result.at,
            from,
            to,
            summary: result.verdict.summary.clone(),
        });
        // Before the incidents it opens: an incident commits at once, with the result before it.
        if let Some(store) = &self.store {
            store.record(ResultRow {
                device: device.name.clone(),
                check: check.as_str().to_owned(),
                at: result.at,
                status: result.verdict.status,
                summary: result.verdict.summary.clone(),
                values_json: result.verdict.values.to_string(),
                duration_seconds: result.duration_seconds,
                transition: transition.as_ref().map(|t| (t.from, t.to)),
                events: result.verdict.events.clone(),
                saved: saved_state(status),
            });
        }
        if let Some(t) = &transition {
            let changed = self.incidents.lock().unwrap_or_else(|e| e.into_inner()).apply(
                t,
                status.failing_since,
                upstream,
                &result.verdict.values,
            );
            for (change, incident) in changed {
                match change {
                    Change::Opened => {
                        tracing::warn!(incident = incident.id, device = %incident.device, check = %incident.check, joined = incident.joined, "incident opened: {}", incident.summary)
                    }
                    Change::Joined => {
                        tracing::info!(incident = incident.id, device = %incident.device, check = %incident.check, joined = incident.joined, "incident is part of its parent's now")
                    }
                    Change::Left => {
                        tracing::warn!(incident = incident.id, device = %incident.device, check = %incident.check, "incident is a fault of its own now: {}", incident.summary)
                    }
                    Change::Resolved => {
                        tracing::info!(incident = incident.id, device = %incident.device, check = %incident.check, "incident resolved")
                    }
                }
                self.incident_changed(incident);
            }
        }
        status.verdict = Some(result.verdict);
        transition
    }

    /// Everything currently tracked, in (device, check) order.
    pub fn snapshot(&self) -> Vec<CheckStatus> {
        self.lock().values().cloned().collect()
    }

    /// What the last run of a check left for the next one.
    pub fn memory(&self, device: &str, check: CheckKind) -> Option<serde_json::Value> {
        self.lock()
            .get(&(device.to_owned(), check))
            .and_then(|c| c.memory.clone())
    }

    /// Approves what a camera is now as its baseline (who, why), for the `baseline` check.
    pub fn accept_baseline(&self, device: &str, by: &str, reason: &str) -> Result<String, Refused> {
        let mut checks = self.lock();
        let status = checks
            .get_mut(&(device.to_owned(), CheckKind::Baseline))
            .ok_or_else(|| Refused::Conflict(format!("device {device:?} has no baseline check")))?;
        let (memory, event) = crate::judge::onvif::accept(status.memory.as_ref(), by, reason, crate::vocab::unix_now())
            .map_err(Refused::Conflict)?;
        status.memory = Some(memory.clone());
        let summary = event.summary.clone();
        tracing::info!(device, check = "baseline", "{summary}");
        if let Some(store) = &self.store {
            store.remember(device, CheckKind::Baseline.as_str(), memory.to_string(), event);
        }
        Ok(summary)
    }

    /// Events of a counted kind ([`EventKind::is_counted`]) counted per device.
    pub fn counted(&self, kind: EventKind) -> BTreeMap<String, u64> {
        self.counted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((k, _), _)| k == kind.as_str())
            .map(|((_, device), n)| (device.clone(), *n))
            .collect()
    }

    /// Opens a maintenance window (`camwatch maintenance add`); it is stored at once.
    pub fn open_maintenance(&self, target: Target, start: f64, end: f64, reason: &str, by: &str) -> Window {
        let mut book = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let window = Window {
            id: book.1,
            target,
            start,
            end,
            reason: reason.to_owned(),
            by: by.to_owned(),
        };
        book.1 += 1;
        book.0.push(window.clone());
        if let Some(store) = &self.store {
            store.maintenance(window.clone());
        }
        window
    }

    /// Ends a window now (the work finished early); a window not yet begun is ended before it starts.
    pub fn end_maintenance(&self, id: u64, now: f64) -> Result<Window, Refused> {
        let mut book = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let window = book
            .0
            .iter_mut()
            .find(|w| w.id == id && w.end > now)
            .ok_or_else(|| Refused::NotFound(format!("no maintenance window {id} open or to come")))?;
        window.end = now.max(window.start);
        let window = window.clone();
        if let Some(store) = &self.store {
            store.maintenance(window.clone());
        }
        Ok(window)
    }

    /// The windows people opened, oldest first.
    pub fn maintenance_windows(&self) -> Vec<Window> {
        self.maintenance.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// The incidents open now, oldest first.
    pub fn open_incidents(&self) -> Vec<Incident> {
        let mut open: Vec<Incident> = self
            .incidents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open()
            .cloned()
            .collect();
        open.sort_by_key(|i| i.id);
        open
    }

    /// Opens the agent's own incident once the store has been unable to write for
    /// [`STORE_GRACE_SECONDS`], and resolves it (as of when it wrote again) once it writes: the
    /// incident lives in memory meanwhile, so it shows on the status page and the API and goes
    /// to Alertmanager, and reaches the store (and mail) with its real times when it writes.
    /// Called every second or so by the daemon.
    pub fn watch_store(&self, now: f64) {
        let Some(store) = &self.store else {
            return;
        };
        let health = store.health();
        let check = crate::model::STORE_CHECK;
        let changed = {
            let mut book = self.incidents.lock().unwrap_or_else(|e| e.into_inner());
            match health.cannot_write_since {
                Some(since) if now - since >= STORE_GRACE_SECONDS => book
                    .open_own(
                        check,
                        since,
                        now,
                        format!(
                            "the state store cannot write: {}; what happens meanwhile is kept in memory (up to {} rows) and written when it can write again",
                            health.reason.as_deref().unwrap_or("no reason given"),
                            backlog::CAP_ROWS
                        ),
                        serde_json::json!({
                            "store": store.path.display().to_string(),
                            "reason": health.reason,
                            "damaged": health.damaged,
                        }),
                    )
                    .map(|i| (Change::Opened, i)),
                Some(_) => None,
                None => book
                    .resolve_own(check, health.writable_again_at.unwrap_or(now))
                    .map(|i| (Change::Resolved, i)),
            }
        };
        if let Some((change, incident)) = changed {
            match change {
                Change::Opened => {
                    tracing::error!(incident = incident.id, device = %incident.device, check = %incident.check, "incident opened: {}", incident.summary)
                }
                _ => {
                    tracing::info!(incident = incident.id, device = %incident.device, check = %incident.check, "incident resolved: the state store writes again")
                }
            }
            self.incident_changed(incident);
        }
    }

    /// Incidents as they change from now on. A subscriber that falls more than
    /// [`INCIDENT_CHANGES_BUFFER`] behind is told it lagged and rereads the store.
    pub fn incident_changes(&self) -> tokio::sync::broadcast::Receiver<Incident> {
        self.incident_changes.subscribe()
    }

    /// Records who took an open incident on (`camwatch ack`).
    pub fn acknowledge(&self, id: u64, by: &str, note: &str, now: f64) -> Result<Incident, Refused> {
        let incident = self.incidents.lock().unwrap_or_else(|e| e.into_inner()).acknowledge(
            id,
            Acknowledgement {
                at: now,
                by: by.to_owned(),
                note: note.to_owned(),
            },
        )?;
        self.incident_changed(incident.clone());
        Ok(incident)
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    pub fn snapshots(&self) -> Option<&Snapshots> {
        self.snapshots.as_ref()
    }
}

/// Why the state refused a person's command (acknowledge an incident, end a maintenance window,
/// accept a baseline): what the HTTP interface turns into its status code and the CLI into its
/// message, without reading the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// What the command names does not exist, or is no longer open.
    NotFound(String),
    /// It exists, but the command does not apply to it as it is now.
    Conflict(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(why) | Self::Conflict(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Refused {}

fn saved_state(status: &CheckStatus) -> SavedState {
    SavedState {
        device: status.device.clone(),
        check: status.check.as_str().to_owned(),
        state: status.state(),
        since: status.since,
        streaks: status.machine.streaks,
        last_run: status.last_run,
        last_success: status.last_success,
        memory: status.memory.as_ref().map(serde_json::Value::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(src: &str) -> Config {
        crate::config::parse("t.toml", src).unwrap()
    }

    fn result(at: f64, status: Status) -> CheckResult {
        CheckResult {
            at,
            duration_seconds: 0.001,
            verdict: Verdict {
                check: CheckKind::Ping,
                status,
                summary: status.to_string(),
                values: serde_json::json!({}),
                immediate: false,
                memory: None,
                events: Vec::new(),
            },
            observation: None,
        }
    }

    const SITE: &str = r#"
[policy.quick]
failures_before_failed = 1
successes_before_recovered = 1
[[device]]
name = "switch"
kind = "switch"
address = "192.0.2.1"
policy = "quick"
[[device]]
name = "cam"
kind = "camera"
address = "192.0.2.2"
parent = "switch"
policy = "quick"
"#;

    #[test]
    fn children_of_a_failed_parent_are_unreachable() {
        let c = config(SITE);
        let hub = Hub::new(None, Resumed::default());
        hub.sync(&c, 0.0);
        let (switch, cam) = (&c.devices[0], &c.devices[1]);
        assert!(hub.snapshot().iter().all(|s| s.state() == State::Unknown));
        hub.record(switch, result(1.0, Status::Failed));
        let t = hub.record(cam, result(1.0, Status::Failed)).unwrap();
        assert_eq!((t.from, t.to), (State::Unknown, State::Unreachable));
        hub.record(switch, result(2.0, Status::Ok));
        let t = hub.record(cam, result(2.0, Status::Failed)).unwrap();
        assert_eq!((t.from, t.to), (State::Unreachable, State::Failed));
    }

    #[test]
    fn removed_devices_vanish_and_come_back_with_their_state() {
        let c = config(SITE);
        let hub = Hub::new(None, Resumed::default());
        hub.sync(&c, 0.0);
        hub.record(&c.devices[1], result(1.0, Status::Ok));
        let only_switch = config(&SITE[..SITE.find("[[device]]\nname = \"cam\"").unwrap()]);
        hub.sync(&only_switch, 2.0);
        assert_eq!(hub.snapshot().len(), 1);
        hub.sync(&c, 3.0);
        let cam = hub.snapshot().into_iter().find(|s| s.device == "cam").unwrap();
        assert_eq!(cam.state(), State::Ok);
        assert_eq!(cam.since, 1.0);
    }
}
