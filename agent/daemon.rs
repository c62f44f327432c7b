//! `camwatch run`: wires config -> schedule -> probe -> judge -> state -> outputs together and
//! keeps them running: reloads on SIGHUP or `POST /-/reload`, prunes history, and shuts down
//! cleanly on SIGTERM (the store writer finishes what it was given, then closes the file).

use std::path::{Path, PathBuf};
use std::sync::Arc;
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
use crate::schedule::{Runner, Scheduler};
use crate::shared::{ReloadReply, Shared};
use crate::state::Hub;
use crate::state::snapshots::Snapshots;
use crate::state::store::{self, Store};
use crate::vocab::unix_now;

const AVAILABILITY_REFRESH: Duration = Duration::from_secs(15);

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
    store.set_results_sample(config.agent.results_sample);
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
    let shared = Arc::new(Shared::new(
        config,
        Arc::clone(&hub),
        reload_tx,
        scheduler.run_now(),
        scheduler.lateness(),
        procedures_last_run,
        web,
    ));
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
    let descriptors = crate::web::connections::raise_descriptor_limit();
    let limits = crate::web::connections::Limits::new(
        config.agent.max_http_connections,
        descriptors,
        config.agent.http_idle_timeout,
        Arc::clone(&shared.web.connections),
    );
    tracing::info!(
        open_files = descriptors,
        http_connections = limits.max,
        "descriptor limit; at most this many HTTP connections, the rest kept for the probes"
    );
    let listener = match crate::web::tls::listen(listener, Arc::clone(&shared.web), limits) {
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
    let store_watch = tokio::spawn(watch_store_forever(Arc::clone(&shared)));
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
    shared.set_ready(true);

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
    shared.set_ready(false);
    scheduler.stop();
    pruner.abort();
    store_watch.abort();
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
        refuse_watching_nothing(&shared.config(), &new, files.config)?;
        let web = load_web(&new, files.web_flag)?;
        Ok((new, web))
    });
    let outcome = match loaded {
        Ok((new, web)) => {
            let old = shared.config();
            if new.agent.listen != old.agent.listen
                || new.agent.data_dir != old.agent.data_dir
                || new.agent.max_in_flight != old.agent.max_in_flight
                || new.agent.max_http_connections != old.agent.max_http_connections
                || new.agent.http_idle_timeout != old.agent.http_idle_timeout
            {
                tracing::warn!(
                    "listen, data_dir, max_in_flight, max_http_connections and http_idle_timeout take effect only after a restart"
                );
            }
            scheduler.apply(&new);
            if let Some(store) = shared.hub.store() {
                store.set_results_sample(new.agent.results_sample);
            }
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
            shared.set_config(new);
            shared.web.replace(web);
            Ok(())
        }
        Err(e) => {
            tracing::error!("configuration reload refused, keeping the previous one:\n{e}");
            Err(e.to_string())
        }
    };
    shared.reload_done(outcome.is_ok());
    outcome
}

/// A reload that would drop every device is refused unless the new file says it means it
/// (`[agent] allow_no_devices = true`): an emptied, truncated or half-written file parses as a
/// valid configuration that watches nothing, and the agent would fall silent while its metric
/// said the reload went well.
fn refuse_watching_nothing(old: &Config, new: &Config, path: &Path) -> Result<(), config::ConfigError> {
    if new.devices.is_empty() && !old.devices.is_empty() && !new.agent.allow_no_devices {
        return Err(config::ConfigError::whole_file(
            path.display().to_string(),
            format!(
                "the new configuration lists no device (the running one watches {}): an emptied or truncated file?",
                old.devices.len()
            ),
            "restore the [[device]] tables, or set [agent] allow_no_devices = true to watch nothing on purpose",
        ));
    }
    Ok(())
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
        let computed = store::read(path, move |conn| {
            let windows: Vec<f64> = WINDOWS.iter().map(|(_, w)| *w).collect();
            let now = unix_now();
            devices
                .into_iter()
                .map(|(d, site, duty)| {
                    let ratios = match duty {
                        Some(rules) => {
                            let history = store::history(conn, (&d, &site), &rules, now - LONGEST_WINDOW_SECONDS, now)?;
                            windows.iter().map(|w| ratio_recording(&history, *w)).collect()
                        }
                        None => store::availability(conn, &d, "ping", now, &windows)?,
                    };
                    Ok((d, ratios))
                })
                .collect::<rusqlite::Result<std::collections::BTreeMap<_, _>>>()
        })
        .await;
        match computed {
            Ok(Ok(map)) => shared.set_availability(map),
            Ok(Err(e)) => tracing::warn!("cannot compute availability from the state store: {e}"),
            Err(e) => tracing::warn!("availability computation failed: {e}"),
        }
    }
}

/// Opens and resolves the agent's own incident as the state store stops and starts writing.
async fn watch_store_forever(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        shared.hub.watch_store(unix_now());
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
