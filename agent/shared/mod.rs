//! What the daemon's parts share while it runs: the configuration in force, the hub, the
//! agent's own condition (reloads, readiness, availability figures, procedures), and what the
//! notifiers report. The daemon builds it; the outputs, notifiers and procedures read it. It
//! sits above the state and the scheduler and below everything that reads it, so none of those
//! imports the daemon (see `tests/layers.rs`).

mod notify_status;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, Device, Procedure};
use crate::schedule::RunNow;
use crate::schedule::lateness::Lateness;
use crate::state::Hub;
use crate::vocab::unix_now;
use crate::web::WebState;
pub use notify_status::{ChannelCounts, ChannelStatus, DEAD_SHOWN, NotifyCounters, NotifyStatus};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub successful: bool,
    pub last_success: f64,
}

/// How the main loop answers a reload asked for over HTTP.
pub type ReloadReply = oneshot::Sender<Result<(), String>>;

/// What the outputs read: the configuration in force, the hub, and the agent's own condition.
#[derive(Debug)]
pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub hub: Arc<Hub>,
    reload: Mutex<ReloadStatus>,
    ready: AtomicBool,
    reload_requests: mpsc::Sender<ReloadReply>,
    /// Availability of each device's ping check over the availability windows, refreshed in the
    /// background (a scrape must not wait for the database).
    availability: Mutex<BTreeMap<String, Vec<Option<f64>>>>,
    /// Makes every check run now (the shift handover).
    pub run_now: RunNow,
    /// How late the check runs started.
    pub lateness: Arc<Lateness>,
    /// Held while a procedure runs, so a scheduled one and one asked for do not interleave.
    pub procedure_turn: tokio::sync::Mutex<()>,
    /// When each procedure last ran (from the store at start, so it survives restarts).
    procedures_last_run: Mutex<BTreeMap<Procedure, f64>>,
    /// What the notifiers report (outbox figures, dead letters).
    pub notify: NotifyStatus,
    /// Notifications sent and failed, per channel.
    pub notify_counters: NotifyCounters,
    /// The web configuration in force (TLS, users) and the login guard's memory.
    pub web: Arc<crate::web::WebState>,
}

impl Shared {
    /// What the daemon starts with: ready once it says so, the reload counted as successful.
    pub fn new(
        config: Config,
        hub: Arc<Hub>,
        reload_requests: mpsc::Sender<ReloadReply>,
        run_now: RunNow,
        lateness: Arc<Lateness>,
        procedures_last_run: BTreeMap<Procedure, f64>,
        web: Arc<WebState>,
    ) -> Self {
        Self {
            config: RwLock::new(Arc::new(config)),
            hub,
            reload: Mutex::new(ReloadStatus {
                successful: true,
                last_success: unix_now(),
            }),
            ready: AtomicBool::new(false),
            reload_requests,
            availability: Mutex::new(BTreeMap::new()),
            run_now,
            lateness,
            procedure_turn: tokio::sync::Mutex::new(()),
            procedures_last_run: Mutex::new(procedures_last_run),
            notify: NotifyStatus::default(),
            notify_counters: NotifyCounters::default(),
            web,
        }
    }

    /// Puts a new configuration in force (a reload the daemon accepted).
    pub fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// Records how a reload went.
    pub fn reload_done(&self, successful: bool) {
        let mut status = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        status.successful = successful;
        if successful {
            status.last_success = unix_now();
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn set_availability(&self, ratios: BTreeMap<String, Vec<Option<f64>>>) {
        *self.availability.lock().unwrap_or_else(|e| e.into_inner()) = ratios;
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn reload_status(&self) -> ReloadStatus {
        *self.reload.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Availability ratios per device, in the order of [`crate::judge::availability::WINDOWS`].
    pub fn availability(&self) -> BTreeMap<String, Vec<Option<f64>>> {
        self.availability.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// When each procedure last ran (Unix seconds).
    pub fn procedures_last_run(&self) -> BTreeMap<Procedure, f64> {
        self.procedures_last_run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn procedure_ran(&self, procedure: Procedure, at: f64) {
        self.procedures_last_run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(procedure, at);
    }

    /// The reason of the maintenance window `device` is in at `at` (configured or opened by
    /// someone), if any: its notifications are held, its checks still run.
    pub fn in_maintenance(&self, device: &Device, at: f64) -> Option<String> {
        crate::maintenance::active(
            &self.config().maintenance,
            &self.hub.maintenance_windows(),
            &device.name,
            &device.site,
            at,
        )
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Asks the main loop to reload and waits for its answer.
    pub async fn request_reload(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.reload_requests
            .send(tx)
            .await
            .map_err(|_| "the agent is shutting down".to_owned())?;
        rx.await.map_err(|_| "the agent is shutting down".to_owned())?
    }
}
