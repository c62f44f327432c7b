//! `camwatch run`: wires config -> schedule -> probe -> judge -> state -> outputs together and
//! keeps them running: reloads on SIGHUP or `POST /-/reload`, prunes history, and shuts down
//! cleanly on SIGTERM (the store writer finishes what it was given, then closes the file).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::availability::ratio_recording;
use crate::config::{self, Config, Procedure};
use crate::exit;
use crate::judge::availability::WINDOWS;
use crate::model::CheckKind;
use crate::output::http;
use crate::probe::history::LONGEST_WINDOW_SECONDS;
use crate::schedule::procedures::{DailySchedule, SystemClock, run_daily};
use crate::schedule::{RunNow, Runner, Scheduler, unix_now};
use crate::state::Hub;
use crate::state::snapshots::Snapshots;
use crate::state::store::{self, Store};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub successful: bool,
    pub last_success: f64,
}

type ReloadReply = oneshot::Sender<Result<(), String>>;

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
    availability: Mutex<std::collections::BTreeMap<String, Vec<Option<f64>>>>,
    /// Makes every check run now (the shift handover).
    pub run_now: RunNow,
    /// Held while a procedure runs, so a scheduled one and one asked for do not interleave.
    pub procedure_turn: tokio::sync::Mutex<()>,
    /// When each procedure last ran (from the store at start, so it survives restarts).
    procedures_last_run: Mutex<std::collections::BTreeMap<Procedure, f64>>,
    /// What the notifiers report (outbox figures, dead letters).
    pub notify: crate::notify::Status,
    /// Notifications sent and failed, per channel.
    pub notify_counters: crate::notify::NotifyCounters,
    /// The web configuration in force (TLS, users) and the login guard's memory.
    pub web: Arc<crate::web::WebState>,
}

const AVAILABILITY_REFRESH: Duration = Duration::from_secs(15);

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn reload_status(&self) -> ReloadStatus {
        *self.reload.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Availability ratios per device, in the order of [`crate::judge::availability::WINDOWS`].
    pub fn availability(&self) -> std::collections::BTreeMap<String, Vec<Option<f64>>> {
        self.availability.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// When each procedure last ran (Unix seconds).
    pub fn procedures_last_run(&self) -> std::collections::BTreeMap<Procedure, f64> {
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
    pub fn in_maintenance(&self, device: &crate::config::Device, at: f64) -> Option<String> {
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

/// The web configuration file in force: `--web.config.file` (`web_flag`) or `[agent] web_config_file`.
pub fn web_config_path<'a>(config: &'a Config, web_flag: Option<&'a Path>) -> Option<&'a Path> {
    web_flag.or(config.agent.web_config_file.as_deref())
}

/// Loads the web configuration (none: plain HTTP without users), logging what rustls does
/// differently from what the file asks.
pub fn load_web(config: &Config, web_flag: Option<&Path>) -> Result<crate::web::WebSettings, config::ConfigError> {
    let Some(path) = web_config_path(config, web_flag) else {
        return Ok(crate::web::WebSettings::default());
    };
    let settings = crate::web::config::load(path)?;
    for warning in &settings.warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok(settings)
}

/// Runs the daemon until SIGTERM or SIGINT; returns the process exit code. `web_flag`:
/// `--web.config.file`, which wins over `[agent] web_config_file`.
pub async fn run(path: &Path, web_flag: Option<&Path>) -> i32 {
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return exit::CONFIG;
        }
    };
    warn_exposed_secrets(&config);
    let web = match load_web(&config, web_flag) {
        Ok(w) => w,
        Err(e) => {
            eprint!("{e}");
            return exit::CONFIG;
        }
    };
    if !web.auth_required() && !config.agent.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %config.agent.listen,
            "the HTTP interface is unauthenticated and listens beyond loopback: anyone who reaches it can \
             acknowledge incidents and open maintenance windows; give a --web.config.file with basic_auth_users"
        );
    }
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let web = Arc::new(crate::web::WebState::new(web));
    let (store, mut saved) = match Store::open(&config.agent.data_dir) {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!("{e}");
            return exit::RUNTIME;
        }
    };
    tracing::info!(store = %store.path.display(), resumed = saved.states.len(), "state store open");
    let listener = match tokio::net::TcpListener::bind(config.agent.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "cannot listen on {}: {e}; choose another [agent] listen address",
                config.agent.listen
            );
            return exit::RUNTIME;
        }
    };
    let procedures_last_run = std::mem::take(&mut saved.procedures)
        .into_iter()
        .filter_map(|(kind, at)| Some((Procedure::parse(&kind)?, at)))
        .collect();
    let snapshots = Snapshots::start(&config.agent.data_dir);
    let incident_changed = Arc::new(tokio::sync::Notify::new());
    let hub = Arc::new(
        Hub::new(Some(store), saved)
            .with_snapshots(snapshots)
            .with_incident_signal(Arc::clone(&incident_changed)),
    );
    let mut scheduler = Scheduler::new(Arc::new(Runner::new(config.agent.max_in_flight)), Arc::clone(&hub));
    scheduler.apply(&config);
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadReply>(4);
    let schedules = Schedules {
        procedures: Procedure::ALL.map(|p| tokio::sync::watch::Sender::new(daily_schedule(&config, p))),
        reports: tokio::sync::watch::Sender::new(report_schedule(&config)),
    };
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config)),
        hub: Arc::clone(&hub),
        reload: Mutex::new(ReloadStatus {
            successful: true,
            last_success: unix_now(),
        }),
        ready: AtomicBool::new(false),
        reload_requests: reload_tx,
        availability: Mutex::new(std::collections::BTreeMap::new()),
        run_now: scheduler.run_now(),
        procedure_turn: tokio::sync::Mutex::new(()),
        procedures_last_run: Mutex::new(procedures_last_run),
        notify: crate::notify::Status::default(),
        notify_counters: crate::notify::NotifyCounters::default(),
        web,
    });
    let config = shared.config();
    tracing::info!(
        listen = %config.agent.listen,
        scheme,
        login = shared.web.current().auth_required(),
        devices = config.devices.len(),
        checks = config.devices.iter().map(|d| d.checks.len()).sum::<usize>(),
        "camwatch is watching"
    );

    let (stop_http, http_stopped) = oneshot::channel::<()>();
    let listener = match crate::web::tls::listen(listener, Arc::clone(&shared.web)) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.agent.listen);
            return exit::RUNTIME;
        }
    };
    let server = tokio::spawn({
        let app = http::router(Arc::clone(&shared)).into_make_service_with_connect_info::<crate::web::tls::Peer>();
        async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = http_stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("HTTP server failed: {e}");
            }
        }
    });
    let pruner = tokio::spawn(prune_forever(Arc::clone(&shared)));
    let availability = tokio::spawn(availability_forever(Arc::clone(&shared)));
    let alertmanager = tokio::spawn(crate::notify::alertmanager::run_forever(Arc::clone(&shared)));
    let procedure_tasks: Vec<_> = Procedure::ALL
        .into_iter()
        .zip(&schedules.procedures)
        .map(|(procedure, schedule)| {
            tokio::spawn(procedure_forever(Arc::clone(&shared), procedure, schedule.subscribe()))
        })
        .collect();
    let mailer = tokio::spawn(crate::notify::email_forever(Arc::clone(&shared), incident_changed));
    let report_mailer = tokio::spawn(report_mail_forever(Arc::clone(&shared), schedules.reports.subscribe()));
    shared.ready.store(true, Ordering::Release);

    let (Ok(mut hangup), Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return exit::RUNTIME;
    };
    let path: PathBuf = path.to_path_buf();
    let files = Files {
        config: &path,
        web_flag,
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                let _ = reload(&shared, files, &mut scheduler, &schedules);
            }
            Some(reply) = reload_rx.recv() => {
                let _ = reply.send(reload(&shared, files, &mut scheduler, &schedules));
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("shutting down");
    shared.ready.store(false, Ordering::Release);
    scheduler.stop();
    pruner.abort();
    availability.abort();
    // A send cut short here is sent again at the next start, with the same Message-ID.
    mailer.abort();
    alertmanager.abort();
    report_mailer.abort();
    procedure_tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let _ = stop_http.send(());
    let _ = server.await;
    if let Some(store) = hub.store() {
        store.close();
    }
    if let Some(snapshots) = hub.snapshots() {
        snapshots.close();
    }
    tracing::info!("state store closed; bye");
    exit::OK
}

/// The daily times the agent acts at, each followed by its task through reloads.
struct Schedules {
    procedures: [tokio::sync::watch::Sender<DailySchedule>; 2],
    reports: tokio::sync::watch::Sender<DailySchedule>,
}

/// Hands a task its new times, waking it only when they changed.
fn follow(schedule: &tokio::sync::watch::Sender<DailySchedule>, wanted: DailySchedule) {
    schedule.send_if_modified(|current| {
        let changed = *current != wanted;
        *current = wanted;
        changed
    });
}

/// When reports are mailed: `[email] report_time`, daily (what is due that day is decided then).
fn report_schedule(config: &Config) -> DailySchedule {
    DailySchedule {
        times: config
            .email
            .as_ref()
            .filter(|e| !e.reports.is_empty())
            .map(|e| vec![e.report_time])
            .unwrap_or_default(),
        timezone: config.agent.timezone,
    }
}

/// Mails the reports due each day (the month before on the 1st, the week before on Mondays).
async fn report_mail_forever(shared: Arc<Shared>, schedule: tokio::sync::watch::Receiver<DailySchedule>) {
    run_daily(&SystemClock, schedule, |scheduled| {
        let shared = Arc::clone(&shared);
        async move {
            let config = shared.config();
            let Some(email) = &config.email else { return };
            let day = scheduled.with_timezone(&config.agent.timezone).date_naive();
            for label in crate::notify::reports::due(day, &email.reports) {
                match crate::notify::reports::mail(&shared, &config, &label, unix_now()).await {
                    Ok(_) => tracing::info!(period = %label, "report queued for mail"),
                    Err(why) => tracing::error!(period = %label, "cannot mail the report: {why}"),
                }
            }
        }
    })
    .await;
}

fn daily_schedule(config: &Config, procedure: Procedure) -> DailySchedule {
    DailySchedule {
        times: config.procedures.times(procedure).to_vec(),
        timezone: config.agent.timezone,
    }
}

/// Runs a procedure at each of its configured times, following reloads.
async fn procedure_forever(
    shared: Arc<Shared>,
    procedure: Procedure,
    schedule: tokio::sync::watch::Receiver<DailySchedule>,
) {
    run_daily(&SystemClock, schedule, |scheduled| {
        let shared = Arc::clone(&shared);
        async move {
            tracing::info!(procedure = %procedure, scheduled = %scheduled, "scheduled {procedure} starts");
            if let Err(why) = crate::procedures::perform(shared, procedure).await {
                tracing::error!(procedure = %procedure, "scheduled {procedure} failed: {why}");
            }
        }
    })
    .await;
}

/// The files a reload reads again.
#[derive(Clone, Copy)]
struct Files<'a> {
    config: &'a Path,
    web_flag: Option<&'a Path>,
}

/// Reads the TOML configuration and the web configuration again; either refused keeps both
/// as they were. The web configuration's certificates are read again too (a renewed
/// certificate is served to new connections).
fn reload(shared: &Shared, files: Files<'_>, scheduler: &mut Scheduler, schedules: &Schedules) -> Result<(), String> {
    let loaded = config::load(files.config).and_then(|new| {
        let web = load_web(&new, files.web_flag)?;
        Ok((new, web))
    });
    let outcome = match loaded {
        Ok((new, web)) => {
            let old = shared.config();
            if new.agent.listen != old.agent.listen
                || new.agent.data_dir != old.agent.data_dir
                || new.agent.max_in_flight != old.agent.max_in_flight
            {
                tracing::warn!("listen, data_dir and max_in_flight take effect only after a restart");
            }
            scheduler.apply(&new);
            follow(&schedules.reports, report_schedule(&new));
            for (procedure, schedule) in Procedure::ALL.into_iter().zip(&schedules.procedures) {
                follow(schedule, daily_schedule(&new, procedure));
            }
            tracing::info!(
                devices = new.devices.len(),
                login = web.auth_required(),
                "configuration reloaded"
            );
            warn_exposed_secrets(&new);
            *shared.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
            shared.web.replace(web);
            Ok(())
        }
        Err(e) => {
            tracing::error!("configuration reload refused, keeping the previous one:\n{e}");
            Err(e.to_string())
        }
    };
    let mut status = shared.reload.lock().unwrap_or_else(|e| e.into_inner());
    status.successful = outcome.is_ok();
    if outcome.is_ok() {
        status.last_success = unix_now();
    }
    outcome
}

/// Secrets anyone on the machine can read, said at every load (start and reload).
fn warn_exposed_secrets(config: &Config) {
    for exposure in config.exposed_secrets() {
        tracing::warn!("{exposure}");
    }
}

/// Recomputes every device's availability from the stored transitions of its ping check (and,
/// for devices with a 24-hour recording duty, from their recording stops too).
async fn availability_forever(shared: Arc<Shared>) {
    let Some(path) = shared.hub.store().map(|s| s.path.clone()) else {
        return;
    };
    let mut every = tokio::time::interval(AVAILABILITY_REFRESH);
    loop {
        every.tick().await;
        // Devices with a recording duty: their history (recording stops, maintenance) decides.
        let devices: Vec<(String, String, Option<Vec<crate::maintenance::Rule>>)> = shared
            .config()
            .devices
            .iter()
            .filter(|d| d.check(CheckKind::Ping).is_some())
            .map(|d| {
                let duty = d.checks.iter().find_map(|c| match c {
                    crate::config::CheckSpec::Availability(spec) => Some(spec.maintenance.clone()),
                    _ => None,
                });
                (d.name.clone(), d.site.clone(), duty)
            })
            .collect();
        let path = path.clone();
        let computed = tokio::task::spawn_blocking(move || -> rusqlite::Result<_> {
            let conn = crate::state::store::open_reader(&path)?;
            let windows: Vec<f64> = WINDOWS.iter().map(|(_, w)| *w).collect();
            let now = unix_now();
            devices
                .into_iter()
                .map(|(d, site, duty)| {
                    let ratios = match duty {
                        Some(rules) => {
                            let history =
                                store::history(&conn, (&d, &site), &rules, now - LONGEST_WINDOW_SECONDS, now)?;
                            windows.iter().map(|w| ratio_recording(&history, *w)).collect()
                        }
                        None => store::availability(&conn, &d, "ping", now, &windows)?,
                    };
                    Ok((d, ratios))
                })
                .collect::<rusqlite::Result<std::collections::BTreeMap<_, _>>>()
        })
        .await;
        match computed {
            Ok(Ok(map)) => *shared.availability.lock().unwrap_or_else(|e| e.into_inner()) = map,
            Ok(Err(e)) => tracing::warn!("cannot compute availability from the state store: {e}"),
            Err(e) => tracing::warn!("availability computation failed: {e}"),
        }
    }
}

/// Deletes raw results and transitions past their keep times, hourly.
async fn prune_forever(shared: Arc<Shared>) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let agent = shared.config().agent.clone();
        let now = unix_now();
        if let Some(store) = shared.hub.store() {
            store.prune(
                now - agent.results_keep.as_secs_f64(),
                now - agent.history_keep.as_secs_f64(),
            );
        }
    }
}
