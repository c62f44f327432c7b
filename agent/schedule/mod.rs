//! When checks run. Each (device, check) has its own task on its own interval, started at a
//! random phase so a thousand devices do not all fire in the same second. A shared semaphore
//! bounds the probes in flight and every probe runs under its policy's timeout, so a dead or slow
//! device costs one permit for at most one timeout and never delays another device's checks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::{CheckSpec, Config, Device};
use crate::judge::{self, Verdict};
use crate::probe::{Observation, ProbeError, ProbeErrorKind, Probes, Transcript};
use crate::state::{CheckResult, Hub};

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One run of one check, with everything that was seen.
#[derive(Debug)]
pub struct CheckRun {
    pub started_at: f64,
    pub duration: Duration,
    pub outcome: Result<Observation, ProbeError>,
    pub verdict: Verdict,
    pub transcript: Vec<String>,
}

impl CheckRun {
    pub fn into_result(self) -> CheckResult {
        CheckResult {
            at: self.started_at,
            duration_seconds: self.duration.as_secs_f64(),
            verdict: self.verdict,
            observation: self.outcome.ok(),
        }
    }
}

/// Runs checks: probe under deadline and permit, then judge.
#[derive(Debug)]
pub struct Runner {
    probes: Probes,
    permits: Semaphore,
}

impl Runner {
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            probes: Probes::default(),
            permits: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// `memory` is what the previous run of this check left for the judge (none for `once`).
    pub async fn run(
        &self,
        device: &Device,
        spec: &CheckSpec,
        trace: bool,
        memory: Option<&serde_json::Value>,
    ) -> CheckRun {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let mut transcript = if trace {
            Transcript::enabled()
        } else {
            Transcript::disabled()
        };
        let started_at = unix_now();
        let started = Instant::now();
        let timeout = device.policy.timeout;
        let outcome = match tokio::time::timeout(timeout, self.probes.run(spec, device, &mut transcript)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ProbeError::new(
                ProbeErrorKind::Timeout,
                format!("no answer within the {} timeout", humantime::format_duration(timeout)),
            )),
        };
        let duration = started.elapsed();
        let verdict = judge::judge(spec.kind(), &outcome, &device.policy, memory);
        CheckRun {
            started_at,
            duration,
            outcome,
            verdict,
            transcript: transcript.lines,
        }
    }
}

/// The running check tasks, keyed by device so that a reload only restarts what changed.
#[derive(Debug)]
pub struct Scheduler {
    runner: Arc<Runner>,
    hub: Arc<Hub>,
    devices: HashMap<String, (Arc<Device>, Vec<JoinHandle<()>>)>,
}

impl Scheduler {
    pub fn new(runner: Arc<Runner>, hub: Arc<Hub>) -> Self {
        Self {
            runner,
            hub,
            devices: HashMap::new(),
        }
    }

    /// Starts, restarts or stops check tasks to match `config`.
    pub fn apply(&mut self, config: &Config) {
        self.hub.sync(config, unix_now());
        let mut previous = std::mem::take(&mut self.devices);
        for device in &config.devices {
            let tasks = match previous.remove(&device.name) {
                Some((old, tasks)) if old == *device => tasks,
                Some((_, tasks)) => {
                    tasks.iter().for_each(JoinHandle::abort);
                    self.spawn(device)
                }
                None => self.spawn(device),
            };
            self.devices.insert(device.name.clone(), (Arc::clone(device), tasks));
        }
        for (_, tasks) in previous.into_values() {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }

    fn spawn(&self, device: &Arc<Device>) -> Vec<JoinHandle<()>> {
        device
            .checks
            .iter()
            .map(|spec| {
                let (runner, hub, device, spec) = (
                    Arc::clone(&self.runner),
                    Arc::clone(&self.hub),
                    Arc::clone(device),
                    spec.clone(),
                );
                tokio::spawn(async move { check_loop(&runner, &hub, &device, &spec).await })
            })
            .collect()
    }

    /// Stops every check; a probe in flight is dropped (probes only read, so nothing is left half done).
    pub fn stop(&mut self) {
        for (_, tasks) in self.devices.drain().map(|(_, v)| v) {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// The first run comes within a few seconds so a fresh start shows states quickly; later runs
/// keep a random phase within the interval so devices stay spread out.
const FIRST_RUN_SPREAD: Duration = Duration::from_secs(5);

async fn check_loop(runner: &Runner, hub: &Hub, device: &Device, spec: &CheckSpec) {
    let interval = device.policy.interval;
    tokio::time::sleep(interval.min(FIRST_RUN_SPREAD).mul_f64(fastrand::f64())).await;
    let mut ticker = tokio::time::interval_at(Instant::now() + interval.mul_f64(fastrand::f64()), interval);
    // A run that overran (a long timeout) shifts the schedule instead of firing a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let memory = hub.memory(&device.name, spec.kind());
        let run = runner.run(device, spec, false, memory.as_ref()).await;
        if let Some(t) = hub.record(device, run.into_result()) {
            tracing::info!(
                device = %t.device,
                check = %t.check,
                from = %t.from,
                to = %t.to,
                "{}",
                t.summary
            );
        }
        ticker.tick().await;
    }
}
