//! When checks run. Each device has its own tasks on its own interval, started at a random phase
//! so a thousand devices do not all fire in the same second: one for its cheap checks (ping, local
//! reads) and one for its conversations, so a slow conversation never holds back the device's
//! ping. A poll runs a task's checks together, sharing one [`Poll`] (one ONVIF conversation, at
//! most one refused login). Before its probe starts a check takes its permits from [`pools`]
//! (cheap checks a pool of their own; conversations one of the device's two turns, then the shared
//! pool; a device that does not answer one turn at a time, dead devices together a quarter of the
//! pool), so a dead or slow device delays only itself. Every probe runs under its policy's
//! timeout, counted from when its permits are held; how late each run started is measured in
//! [`lateness`].
//! Runs start on a grid of short slots shared by every task ([`slots`]), so the devices due in
//! the same 100 ms are woken by one timer rather than one each, each keeping its own phase.
//! Every task also listens for a "run now" request (the shift handover), so checks run at once
//! through the same runner and state as always instead of a second probing path.

pub mod lateness;
pub mod pools;
pub mod procedures;
pub mod slots;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{CheckSpec, Config, Device};
use crate::judge::{self, Verdict};
use crate::observation::{Observation, ProbeError, ProbeErrorKind};
use crate::probe::{Logins, Poll, ProbeContext, Probes, Transcript};
use crate::state::{CheckResult, Hub};
use crate::vocab::unix_now;
use lateness::Lateness;
use pools::{Class, DeviceTurns, Pools};
use slots::Slots;

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

/// Runs checks: probe under deadline and permits, then judge.
#[derive(Debug)]
pub struct Runner {
    probes: Probes,
    pools: Pools,
    lateness: Arc<Lateness>,
    /// Refused logins per device, across polls (the back-off).
    logins: Logins,
}

/// Where a run stands in its device's schedule: the device's turns, and when the run was due
/// (none for `once` and `probe`, which keep no schedule).
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub turns: &'a DeviceTurns,
    pub due: Option<Instant>,
}

impl Runner {
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            probes: Probes::new(crate::state::store::read_history),
            pools: Pools::new(max_in_flight),
            lateness: Arc::default(),
            logins: Logins::default(),
        }
    }

    /// How late the runs started, for the metrics.
    pub fn lateness(&self) -> Arc<Lateness> {
        Arc::clone(&self.lateness)
    }

    /// `memory` is what the previous run of this check left for the judge (none for `once`);
    /// `poll` is shared by the checks of the device that run in the same poll.
    pub async fn run(
        &self,
        device: &Device,
        spec: &CheckSpec,
        trace: bool,
        memory: Option<&serde_json::Value>,
        poll: &Poll,
        turn: Turn<'_>,
    ) -> CheckRun {
        let class = Class::of(spec);
        let _permits = self.pools.acquire(class, turn.turns).await;
        if let Some(due) = turn.due {
            let delay = Instant::now().saturating_duration_since(due);
            self.lateness
                .record(&device.name, spec.kind(), class, delay, device.policy.interval);
        }
        let mut transcript = if trace {
            Transcript::enabled()
        } else {
            Transcript::disabled()
        };
        let started_at = unix_now();
        let started = Instant::now();
        let timeout = device.policy.timeout;
        let mut ctx = ProbeContext::new(device, started_at, &mut transcript, poll, &self.logins);
        let outcome = match tokio::time::timeout(timeout, self.probes.run(spec, &mut ctx)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ProbeError::new(
                ProbeErrorKind::Timeout,
                format!("no answer within the {} timeout", humantime::format_duration(timeout)),
            )),
        };
        let duration = started.elapsed();
        if class == Class::Conversation {
            turn.turns
                .answered(outcome.as_ref().is_err_and(|e| e.kind == ProbeErrorKind::Timeout));
        }
        let verdict = judge::judge(spec.kind(), &outcome, &device.policy, memory, started_at);
        CheckRun {
            started_at,
            duration,
            outcome,
            verdict,
            transcript: transcript.lines,
        }
    }
}

/// The latest "run now" request: its number, and where each check task reports a finished run.
#[derive(Debug, Clone, Default)]
struct RunNowRequest {
    id: u64,
    done: Option<mpsc::UnboundedSender<()>>,
}

/// Asks every running check task to run its check now. Each task holds one receiver, so the
/// receiver count is the number of tasks that will answer.
#[derive(Debug, Clone)]
pub struct RunNow {
    tx: Arc<watch::Sender<RunNowRequest>>,
}

impl RunNow {
    fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(RunNowRequest::default())),
        }
    }

    /// Runs every check now; returns `(asked, finished)` once every task finished a run that
    /// started after this call, or when `limit` has passed (a task restarted by a reload meanwhile
    /// never answers).
    pub async fn run_all(&self, limit: Duration) -> (usize, usize) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let asked = self.tx.receiver_count();
        self.tx.send_modify(|r| {
            r.id += 1;
            r.done = Some(done_tx);
        });
        let mut finished = 0;
        let _ = tokio::time::timeout(limit, async {
            while finished < asked && done_rx.recv().await.is_some() {
                finished += 1;
            }
        })
        .await;
        (asked, finished)
    }
}

/// The running check tasks, keyed by device so that a reload only restarts what changed.
#[derive(Debug)]
pub struct Scheduler {
    runner: Arc<Runner>,
    hub: Arc<Hub>,
    devices: HashMap<String, (Arc<Device>, Vec<JoinHandle<()>>)>,
    run_now: RunNow,
    /// One grid for every task, kept across reloads, so restarted devices share slots too.
    slots: Slots,
}

impl Scheduler {
    pub fn new(runner: Arc<Runner>, hub: Arc<Hub>) -> Self {
        Self {
            runner,
            hub,
            devices: HashMap::new(),
            run_now: RunNow::new(),
            slots: Slots::new(Instant::now()),
        }
    }

    /// A handle that makes every check of this scheduler run now.
    pub fn run_now(&self) -> RunNow {
        self.run_now.clone()
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

    /// How late the runs started, for the metrics.
    pub fn lateness(&self) -> Arc<Lateness> {
        self.runner.lateness()
    }

    /// A task for the device's cheap checks and one for its conversations, each on the
    /// device's interval with its own phase.
    fn spawn(&self, device: &Arc<Device>) -> Vec<JoinHandle<()>> {
        Class::ALL
            .iter()
            .filter_map(|class| {
                let checks: Vec<CheckSpec> = device
                    .checks
                    .iter()
                    .filter(|spec| Class::of(spec) == *class)
                    .cloned()
                    .collect();
                if checks.is_empty() {
                    return None;
                }
                let (runner, hub, device) = (Arc::clone(&self.runner), Arc::clone(&self.hub), Arc::clone(device));
                let (run_now, slots) = (self.run_now.tx.subscribe(), self.slots);
                Some(tokio::spawn(async move {
                    device_loop(&runner, &hub, &device, &checks, slots, run_now).await
                }))
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

/// A device's polls of `checks` (all of one class): they run together on the device's interval,
/// sharing one [`Poll`] (one ONVIF conversation, at most one refused login) and the device's
/// turns, each recorded as soon as it is judged.
async fn device_loop(
    runner: &Runner,
    hub: &Hub,
    device: &Device,
    checks: &[CheckSpec],
    slots: Slots,
    mut run_now: watch::Receiver<RunNowRequest>,
) {
    let interval = device.policy.interval;
    let turns = DeviceTurns::default();
    // "Run now" counts its receivers as the checks that will answer: one per check, each answered
    // when that check's run is recorded.
    let _per_check: Vec<_> = checks.iter().skip(1).map(|_| run_now.clone()).collect();
    // A request made before this task existed is not ours to answer.
    let mut served = run_now.borrow_and_update().id;
    let first = Instant::now() + interval.min(FIRST_RUN_SPREAD).mul_f64(fastrand::f64());
    tokio::select! {
        () = tokio::time::sleep_until(slots.at_or_after(first)) => {}
        Ok(()) = run_now.changed() => {}
    }
    let mut due = Instant::now();
    let mut ticker = slots.ticker(due + interval.mul_f64(fastrand::f64()), interval);
    loop {
        // Any run that starts after a request answers it, whatever woke this task.
        let answers = {
            let request = run_now.borrow_and_update();
            if request.id > served {
                served = request.id;
                request.done.clone()
            } else {
                None
            }
        };
        let poll = Poll::default();
        let turn = Turn {
            turns: &turns,
            due: Some(due),
        };
        let runs = checks.iter().map(|spec| {
            let (poll, answers) = (&poll, &answers);
            async move {
                let memory = hub.memory(&device.name, spec.kind());
                let run = runner.run(device, spec, false, memory.as_ref(), poll, turn).await;
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
                if let Some(done) = answers {
                    let _ = done.send(());
                }
            }
        });
        join_all(runs).await;
        due = tokio::select! {
            tick = ticker.tick() => tick,
            Ok(()) = run_now.changed() => Instant::now(),
        };
    }
}

/// Runs futures concurrently on this task and waits for all of them.
async fn join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
