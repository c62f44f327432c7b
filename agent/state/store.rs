//! The SQLite state store. One writer thread owns the connection; everyone else sends it commands
//! over a channel, so no connection is ever held across an `.await`. The writer commits at most
//! every [`COMMIT_WINDOW`], collecting meanwhile; what a caller waits on or what must survive a
//! crash ([`Command::commits_at_once`]) commits at once with everything before it. A kill -9
//! loses at most the last window of results, and `check_state` is committed with them, so a
//! restart resumes from a consistent state. Readers (reports, the CLI, tests) open their own connections: WAL
//! lets them read while the writer writes.
//!
//! A commit that fails for a reason that may pass (a full disk, an I/O error, a read-only,
//! locked or damaged file) loses nothing: the writer keeps what it carried in a bounded
//! [`super::backlog::Backlog`], tries again with back-off (1 s doubling to 8 s) and writes it
//! oldest first once it can; [`Store::health`] says meanwhile that it cannot write and why
//! (`/-/ready`, the status page, the metrics, the agent's own incident read it). Outbox
//! operations are answered with an error while it cannot write: the notifier tries them again.
//! A damaged page (met while writing, or by the hourly `PRAGMA quick_check`) is the same state,
//! with [`way_out`] in its reason.
//! The WAL is kept small ([`WAL_BOUND_BYTES`]) by a low autocheckpoint, a size limit and a
//! periodic `wal_checkpoint(TRUNCATE)`, so the store does not fill a small disk by itself.
//!
//! Tables:
//! - `results`: the check runs that say something new ([`super::thinning`]; pruned after
//!   `results_keep`);
//! - `transitions`: every state change with the result that caused it (kept `history_keep`), the
//!   ground truth for time-weighted availability;
//! - `check_state`: the current state and streaks of each (device, check), so a restart resumes
//!   where it stopped instead of starting from `unknown`;
//! - `events`: things that happened (reboots, baselines recorded or accepted);
//! - `procedure_runs`: the shift handover and end-of-day inventory records, as JSON (kept
//!   `history_keep`);
//! - `outbox`, `incident_mail`: messages to send and which mail each incident got (see
//!   [`super::outbox`]);
//! - `runs`: when the agent ran (`started_at`, `last_seen_at`, noted by the writer at every
//!   commit and every [`HEARTBEAT`]), so no state is taken to hold while nobody watched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::backlog::{self, Backlog, Worth};
use super::incidents::{Acknowledgement, Incident};
use super::machine::Streaks;
use super::store_health::{StoreHealth, may_pass, plain_reason};
use crate::maintenance::{Target, Window};
use crate::model::{State, Status};
use crate::vocab::EventKind;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE results (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    check_name TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    values_json TEXT NOT NULL,
    duration_seconds REAL NOT NULL
);
CREATE INDEX results_at ON results(at);
CREATE INDEX results_device_check_at ON results(device, check_name, at);
CREATE TABLE transitions (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    check_name TEXT NOT NULL,
    at REAL NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    result_id INTEGER,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    values_json TEXT NOT NULL
);
CREATE INDEX transitions_device_check_at ON transitions(device, check_name, at);
CREATE INDEX transitions_at ON transitions(at);
CREATE TABLE check_state (
    device TEXT NOT NULL,
    check_name TEXT NOT NULL,
    state TEXT NOT NULL,
    since REAL NOT NULL,
    streak_failed INTEGER NOT NULL,
    streak_not_ok INTEGER NOT NULL,
    streak_ok INTEGER NOT NULL,
    streak_not_failed INTEGER NOT NULL,
    last_run REAL,
    last_success REAL,
    PRIMARY KEY (device, check_name)
);
"#,
    r#"
ALTER TABLE check_state ADD COLUMN memory_json TEXT;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    check_name TEXT NOT NULL,
    at REAL NOT NULL,
    seen_at REAL NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX events_device_at ON events(device, at);
"#,
    r#"
CREATE TABLE procedure_runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    record_json TEXT NOT NULL
);
CREATE INDEX procedure_runs_kind_at ON procedure_runs(kind, at);
CREATE INDEX events_seen_at ON events(seen_at);
"#,
    r#"
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    check_name TEXT NOT NULL,
    opened_at REAL NOT NULL,
    failed_at REAL NOT NULL,
    resolved_at REAL,
    joined INTEGER,
    summary TEXT NOT NULL,
    values_json TEXT NOT NULL,
    acked_at REAL,
    acked_by TEXT,
    ack_note TEXT
);
CREATE INDEX incidents_open ON incidents(resolved_at);
CREATE INDEX incidents_opened_at ON incidents(opened_at);
"#,
    r#"
CREATE TABLE maintenance (
    id INTEGER PRIMARY KEY,
    device TEXT,
    site TEXT,
    start REAL NOT NULL,
    end REAL NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL
);
CREATE INDEX maintenance_end ON maintenance(end);
"#,
    super::outbox::MIGRATION,
    super::outbox::MIGRATION_RECIPIENTS,
    // The agent's runs. A store written before them gets one run from its first record to its
    // last: the earlier camwatch watched then, and nothing says when it did not.
    r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
CREATE INDEX runs_last_seen_at ON runs(last_seen_at);
INSERT INTO runs (started_at, last_seen_at)
SELECT first, last FROM (
    SELECT MIN(at) AS first, MAX(at) AS last FROM (
        SELECT at FROM results
        UNION ALL SELECT at FROM transitions
        UNION ALL SELECT last_run FROM check_state WHERE last_run IS NOT NULL
    )
) WHERE first IS NOT NULL;
"#,
];

/// How often the writer notes that the agent still runs when nothing else is written.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// A run whose last sign of life is this recent is taken as still running (its end is "now"):
/// three heartbeats missed means the agent stopped.
pub const LIVE_WITHIN_SECONDS: f64 = 3.0 * HEARTBEAT.as_secs_f64();

/// One check run as it is written down.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub device: String,
    pub check: String,
    pub at: f64,
    pub status: Status,
    pub summary: String,
    pub values_json: String,
    pub duration_seconds: f64,
    /// `(from, to)` when this result changed the state.
    pub transition: Option<(State, State)>,
    pub events: Vec<crate::judge::Event>,
    pub saved: SavedState,
}

/// What survives a restart for one (device, check).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedState {
    pub device: String,
    pub check: String,
    pub state: State,
    pub since: f64,
    pub streaks: Streaks,
    pub last_run: Option<f64>,
    pub last_success: Option<f64>,
    /// What the check's judge left for its next run, as JSON.
    pub memory: Option<String>,
}

/// What a store remembers at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resumed {
    pub states: Vec<SavedState>,
    /// Counted events recorded per (kind, device): see [`is_counted`].
    pub counted: Vec<(String, String, u64)>,
    /// Maintenance windows people opened that may still matter (ended within the last 31 days),
    /// and the highest window id ever given.
    pub maintenance: Vec<Window>,
    pub max_maintenance_id: u64,
    /// Incidents still open, and the highest incident id ever given.
    pub open_incidents: Vec<Incident>,
    pub max_incident_id: u64,
    /// When each procedure (`handover`, `inventory`) last ran.
    pub procedures: Vec<(String, f64)>,
}

type OutboxReply = tokio::sync::oneshot::Sender<Result<super::outbox::Reply, StoreError>>;

/// Something to write down: what the backlog keeps while the store cannot write.
#[derive(Debug)]
enum Write {
    /// A check run: its saved state always, its `results` row when `in_full` (it says something
    /// new: [`super::thinning`]), its transition and events always.
    Record { row: Box<ResultRow>, in_full: bool },
    /// An incident opened, changed or resolved: the row is written whole.
    Incident(Box<Incident>),
    /// A maintenance window opened or ended early: the row is written whole.
    Maintenance(Box<Window>),
    /// A check's memory changed outside a run (an approved baseline), with the event saying so.
    Remember {
        device: String,
        check: String,
        memory: String,
        event: crate::judge::Event,
    },
    /// A procedure record (handover, inventory).
    Procedure { kind: String, at: f64, record_json: String },
}

impl Write {
    fn worth(&self) -> Worth {
        match self {
            Write::Record { row, .. } if !row.events.is_empty() => Worth::Event,
            Write::Record { row, .. } if row.transition.is_some() => Worth::Transition,
            Write::Record { .. } => Worth::PlainResult,
            Write::Incident(_) => Worth::Incident,
            Write::Remember { .. } => Worth::Event,
            Write::Maintenance(_) | Write::Procedure { .. } => Worth::Record,
        }
    }
}

enum Command {
    Write(Write),
    Prune {
        results_before: f64,
        transitions_before: f64,
    },
    Flush(mpsc::Sender<()>),
    /// An outbox operation; the reply is sent once the transaction holding it is committed.
    Outbox(super::outbox::Op, OutboxReply),
}

impl Command {
    /// Whether this ends the commit window at once: someone waits on it (a flush, an outbox
    /// operation, a procedure record the API answers with), or it must survive a crash the
    /// moment it happened (an incident, posted to Alertmanager and mailed from here on; a
    /// maintenance window a person opened). Results wait for the window: losing the last
    /// [`COMMIT_WINDOW`] of them at a crash leaves the check's state as last committed.
    fn commits_at_once(&self) -> bool {
        match self {
            Command::Write(Write::Record { .. } | Write::Remember { .. }) | Command::Prune { .. } => false,
            Command::Write(Write::Incident(_) | Write::Maintenance(_) | Write::Procedure { .. })
            | Command::Flush(_)
            | Command::Outbox(..) => true,
        }
    }
}

/// Handle to the writer thread. Dropping it (or `close`) drains what was sent and closes the file.
#[derive(Debug)]
pub struct Store {
    tx: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    health: Arc<StoreHealth>,
    /// `[agent] results_sample` in milliseconds, read by the writer for each result.
    results_sample_ms: Arc<AtomicU64>,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// Callers that report errors as text (the notifiers' loops) take a store error as its text.
impl From<StoreError> for String {
    fn from(e: StoreError) -> Self {
        e.0
    }
}

pub use crate::config::STORE_FILE_NAME as FILE_NAME;

impl Store {
    /// Opens (creating and migrating) the store in `data_dir`; returns it with what it remembers.
    pub fn open(data_dir: &Path) -> Result<(Store, Resumed), StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError(format!(
                "cannot create the data directory {}: {e}; set [agent] data_dir to a writable folder",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(FILE_NAME);
        let err = |e: rusqlite::Error| open_error(&path, &e);
        let mut conn = Connection::open(&path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(err)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
            .map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        migrate(&mut conn).map_err(|e| StoreError(format!("state store {}: {e}", path.display())))?;
        let started = crate::vocab::unix_now();
        conn.execute("INSERT INTO runs (started_at, last_seen_at) VALUES (?1, ?1)", [started])
            .map_err(err)?;
        let run = conn.last_insert_rowid();
        let saved = Resumed {
            states: load_saved(&conn).map_err(err)?,
            counted: load_event_counts(&conn).map_err(err)?,
            maintenance: maintenance_windows(&conn, crate::vocab::unix_now() - 31.0 * 86_400.0).map_err(err)?,
            max_maintenance_id: conn
                .query_row("SELECT COALESCE(MAX(id), 0) FROM maintenance", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(err)? as u64,
            open_incidents: incidents(&conn, true, u32::MAX).map_err(err)?,
            max_incident_id: conn
                .query_row("SELECT COALESCE(MAX(id), 0) FROM incidents", [], |r| r.get::<_, i64>(0))
                .map_err(err)? as u64,
            procedures: load_procedure_times(&conn).map_err(err)?,
        };
        let (tx, rx) = mpsc::channel();
        let health = Arc::new(StoreHealth::default());
        let results_sample_ms = Arc::new(AtomicU64::new(super::thinning::DEFAULT_SAMPLE.as_millis() as u64));
        let mut writer = Writer::new(conn, path.clone(), run, Arc::clone(&health), backlog::CAP_ROWS);
        writer.results_sample_ms = Arc::clone(&results_sample_ms);
        let writer = std::thread::Builder::new()
            .name("camwatch-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError(format!("cannot start the state store writer: {e}")))?;
        Ok((
            Store {
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                health,
                results_sample_ms,
                path,
            },
            saved,
        ))
    }

    pub fn record(&self, row: ResultRow) {
        self.send(Command::Write(Write::Record {
            row: Box::new(row),
            in_full: true,
        }));
    }

    /// How often a check whose results say nothing new still writes one (`[agent]
    /// results_sample`); zero writes every result.
    pub fn set_results_sample(&self, every: Duration) {
        self.results_sample_ms
            .store(u64::try_from(every.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn prune(&self, results_before: f64, transitions_before: f64) {
        self.send(Command::Prune {
            results_before,
            transitions_before,
        });
    }

    pub fn maintenance(&self, window: Window) {
        self.send(Command::Write(Write::Maintenance(Box::new(window))));
    }

    pub fn incident(&self, incident: Incident) {
        self.send(Command::Write(Write::Incident(Box::new(incident))));
    }

    /// Saves a check's new memory and the event that changed it.
    pub fn remember(&self, device: &str, check: &str, memory: String, event: crate::judge::Event) {
        self.send(Command::Write(Write::Remember {
            device: device.to_owned(),
            check: check.to_owned(),
            memory,
            event,
        }));
    }

    /// Stores a procedure record (`kind` is `handover` or `inventory`).
    pub fn save_procedure(&self, kind: &str, at: f64, record_json: String) {
        self.send(Command::Write(Write::Procedure {
            kind: kind.to_owned(),
            at,
            record_json,
        }));
    }

    /// Does one outbox operation and waits (without blocking the runtime) for its commit.
    pub async fn outbox(&self, op: super::outbox::Op) -> Result<super::outbox::Reply, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Command::Outbox(op, tx));
        rx.await
            .map_err(|_| StoreError("the state store writer has stopped".to_owned()))?
    }

    /// Whether the store can write, as the writer last found it.
    pub fn health(&self) -> super::store_health::StoreCondition {
        self.health.get()
    }

    /// Waits until everything sent before this call is committed (or, while the store cannot
    /// write, kept in memory).
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        self.send(Command::Flush(done_tx));
        let _ = done_rx.recv();
    }

    fn send(&self, command: Command) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref() {
            Some(tx) if tx.send(command).is_ok() => {}
            Some(_) => {
                tracing::error!("the state store writer has stopped; results are no longer saved")
            }
            None => tracing::debug!("state store already closed; result not saved"),
        }
    }

    /// Finishes the writes in flight and closes the database. Later writes are dropped.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer
            && writer.join().is_err()
        {
            tracing::error!("the state store writer panicked");
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn migrate(conn: &mut Connection) -> Result<(), String> {
    let sql_err = |e: rusqlite::Error| e.to_string();
    let done: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql_err)?;
    let known = MIGRATIONS.len() as i64;
    if done > known {
        return Err(format!(
            "the database was written by a newer camwatch (schema {done}, this one knows {known}); \
             upgrade camwatch or point data_dir elsewhere"
        ));
    }
    for (i, sql) in (done..).zip(MIGRATIONS.iter().skip(done.max(0) as usize)) {
        let tx = conn.transaction().map_err(sql_err)?;
        tx.execute_batch(sql).map_err(sql_err)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
    }
    Ok(())
}

fn load_saved(conn: &Connection) -> rusqlite::Result<Vec<SavedState>> {
    let mut stmt = conn.prepare(
        "SELECT device, check_name, state, since, streak_failed, streak_not_ok, streak_ok, streak_not_failed,
                last_run, last_success, memory_json FROM check_state",
    )?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(2)?;
        Ok(SavedState {
            device: r.get(0)?,
            check: r.get(1)?,
            state: State::parse(&state).unwrap_or(State::Unknown),
            since: r.get(3)?,
            streaks: Streaks {
                failed: r.get(4)?,
                not_ok: r.get(5)?,
                ok: r.get(6)?,
                not_failed: r.get(7)?,
            },
            last_run: r.get(8)?,
            last_success: r.get(9)?,
            memory: r.get(10)?,
        })
    })?;
    rows.collect()
}

/// Whether events of `kind` are counted as metrics (`camwatch_device_reboots_total`,
/// `camwatch_recorder_interruptions_total`): counted from the events table at start, so the
/// counters continue across restarts (events are never pruned).
pub fn is_counted(kind: &str) -> bool {
    EventKind::parse(kind).is_some_and(EventKind::is_counted)
}

fn load_event_counts(conn: &Connection) -> rusqlite::Result<Vec<(String, String, u64)>> {
    let mut stmt = conn.prepare("SELECT kind, device, COUNT(*) FROM events GROUP BY kind, device")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)? as u64,
        ))
    })?;
    rows.filter(|r| r.as_ref().map_or(true, |(kind, _, _)| is_counted(kind)))
        .collect()
}

fn load_procedure_times(conn: &Connection) -> rusqlite::Result<Vec<(String, f64)>> {
    let mut stmt = conn.prepare("SELECT kind, MAX(at) FROM procedure_runs GROUP BY kind")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The writer commits at most this often while results arrive (a commit costs some 20 KB handed
/// to the disk whatever it holds); what must be on disk before its caller goes on commits at
/// once with everything before it ([`Command::commits_at_once`]).
pub const COMMIT_WINDOW: Duration = Duration::from_millis(250);
/// Saved states that only moved on (streaks, last run) are written together this often: a kill
/// -9 loses at most this much of their progress (a failure streak resumes a little shorter),
/// never a state, which is written with its transition.
pub const STATES_EVERY: Duration = Duration::from_secs(60);
/// Commands taken into one batch at most (a burst of 1,000 results is one commit).
const BATCH_MAX: usize = 1000;
/// Rows written in one transaction at most when the backlog is written out: a disk with a
/// little room again takes the backlog in steps rather than failing on one huge commit.
const CHUNK_ROWS: usize = 1000;
/// After a failed commit the writer tries again after this long, doubling up to
/// [`RETRY_MAX`]; nothing waits on it meanwhile.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
pub const RETRY_MAX: Duration = Duration::from_secs(8);
/// SQLite checkpoints the WAL into the database once it holds this many pages (4 KiB each)...
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 100;
/// ...and cuts the WAL file back to this size after a checkpoint...
pub const WAL_SIZE_LIMIT_BYTES: i64 = 512 * 1024;
/// ...and the writer empties it (`wal_checkpoint(TRUNCATE)`) this often, so the WAL stays
/// under about [`WAL_BOUND_BYTES`]: 400 KiB before a checkpoint plus one burst's transaction.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);
pub const WAL_BOUND_BYTES: u64 = 1024 * 1024;
/// How often the writer asks SQLite whether the file is whole (`PRAGMA quick_check`): a damaged
/// page in a table that is rarely written (incidents, procedure records) is found within the
/// hour rather than when someone reads it. It reads the whole file, so not more often.
pub const DAMAGE_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// The writer thread's own state: the connection, what it could not write yet, and when it
/// tries again.
struct Writer {
    conn: Connection,
    path: PathBuf,
    run: i64,
    health: Arc<StoreHealth>,
    backlog: Backlog<Write>,
    /// The newest saved state of each check whose newest result was shed: written with the
    /// backlog, so what the check remembers is never lost with a shed result.
    shed_states: BTreeMap<(String, String), SavedState>,
    /// The backlog number of the newest result of each check.
    newest: BTreeMap<(String, String), u64>,
    /// The latest prune asked for while the store could not write (pruning again is the same).
    prune: Option<(f64, f64)>,
    /// When to try again after a failed commit; `None` while the store writes.
    retry_at: Option<Instant>,
    retry_after: Duration,
    last_checkpoint: Instant,
    /// The log said once that rows are being shed (said again after the store recovers).
    said_shedding: bool,
    /// Rows SQLite refused for a reason that will not pass.
    given_up: u64,
    last_damage_check: Instant,
    /// What the periodic check found damaged: nothing more is written into the file (it would
    /// only spread the damage) until it is moved aside and camwatch restarted.
    damaged: Option<String>,
    thinning: super::thinning::Thinning,
    results_sample_ms: Arc<AtomicU64>,
    /// The newest result of each check that was not written in full, written when the store
    /// closes.
    unwritten: BTreeMap<(String, String), ResultRow>,
    /// Saved states of runs that said nothing new and left the check's memory as it was:
    /// written together every [`STATES_EVERY`] (and when the store closes) rather than one page
    /// each per run. A state change is a transition and never waits here.
    pending_states: BTreeMap<(String, String), SavedState>,
    /// The memory last written for each check, to tell whether a run changed it.
    written_memory: BTreeMap<(String, String), Option<String>>,
    states_written_at: Instant,
    closing: bool,
}

impl Writer {
    fn new(conn: Connection, path: PathBuf, run: i64, health: Arc<StoreHealth>, cap: usize) -> Self {
        Self {
            conn,
            path,
            run,
            health,
            backlog: Backlog::new(cap),
            shed_states: BTreeMap::new(),
            newest: BTreeMap::new(),
            prune: None,
            retry_at: None,
            retry_after: RETRY_FIRST,
            last_checkpoint: Instant::now(),
            said_shedding: false,
            given_up: 0,
            last_damage_check: Instant::now(),
            damaged: None,
            thinning: super::thinning::Thinning::default(),
            results_sample_ms: Arc::new(AtomicU64::new(0)),
            unwritten: BTreeMap::new(),
            pending_states: BTreeMap::new(),
            written_memory: BTreeMap::new(),
            states_written_at: Instant::now(),
            closing: false,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut open = true;
        while open {
            // Nothing to write for a heartbeat: the empty batch still notes that the agent runs.
            let wait = self
                .retry_at
                .map_or(HEARTBEAT, |at| at.saturating_duration_since(Instant::now()));
            let mut batch = match rx.recv_timeout(wait) {
                Ok(first) => vec![first],
                Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // Collect for one commit window: results that arrive one by one over an interval
            // share a transaction instead of paying one each. Something a caller waits on, or
            // that must not be lost at a crash, commits at once with everything before it.
            let window_ends = Instant::now() + COMMIT_WINDOW;
            while batch.len() < BATCH_MAX && !batch.last().is_some_and(Command::commits_at_once) {
                match rx.recv_timeout(window_ends.saturating_duration_since(Instant::now())) {
                    Ok(more) => batch.push(more),
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let mut outbox = Vec::new();
            let mut flushes = Vec::new();
            for command in batch {
                match command {
                    Command::Write(write) => self.keep(write),
                    Command::Prune {
                        results_before,
                        transitions_before,
                    } => self.prune = Some((results_before, transitions_before)),
                    Command::Flush(done) => flushes.push(done),
                    Command::Outbox(op, reply) => outbox.push((op, reply)),
                }
            }
            if self.damaged.is_none() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
                self.write_out(outbox);
            } else {
                // An outbox operation must not be taken as done before it is on disk: the
                // notifier tries it again later.
                let why = self.cannot_write();
                for (_, reply) in outbox {
                    let _ = reply.send(Err(StoreError(why.0.clone())));
                }
            }
            self.checkpoint_when_due();
            self.check_for_damage_when_due();
            // Before the flushes are answered: whoever waited reads the condition it left.
            self.publish();
            for done in flushes {
                let _ = done.send(());
            }
        }
        self.closing = true;
        self.keep_last_results();
        if self.damaged.is_none() {
            self.write_out(Vec::new());
        }
        if !self.backlog.is_empty() {
            tracing::error!(
                store = %self.path.display(),
                rows = self.backlog.len(),
                "stopping with rows the state store could not write: they are lost"
            );
        }
        if let Err((_, e)) = self.conn.close() {
            tracing::error!(store = %self.path.display(), error = %e, "closing the state store failed");
        }
    }

    /// Adds one write at the end of the backlog (it is written out at once when the store can).
    fn keep(&mut self, mut write: Write) {
        if let Write::Record { row, in_full } = &mut write {
            let key = (row.device.clone(), row.check.clone());
            self.shed_states.remove(&key);
            self.pending_states.remove(&key);
            let sample = Duration::from_millis(self.results_sample_ms.load(Ordering::Relaxed));
            let new = self.thinning.keep(row, sample);
            *in_full = *in_full && (new || !row.events.is_empty());
            if *in_full {
                self.unwritten.remove(&key);
            } else {
                self.unwritten.insert(key.clone(), (**row).clone());
            }
            let memory_kept = self.written_memory.get(&key) == Some(&row.saved.memory);
            if !*in_full && memory_kept {
                self.pending_states.insert(key, row.saved.clone());
                return;
            }
            self.written_memory.insert(key.clone(), row.saved.memory.clone());
            self.newest.insert(key, self.backlog.next_seq());
        }
        let shed = self.backlog.push(write.worth(), write);
        if shed.is_empty() {
            return;
        }
        if !self.said_shedding {
            self.said_shedding = true;
            tracing::error!(
                store = %self.path.display(),
                rows = backlog::CAP_ROWS,
                "the state store cannot write and the rows kept in memory reached their limit: the least valuable \
                 are given up from now on, plain results first (counted in camwatch_store_shed_rows_total)"
            );
        }
        for (seq, write) in shed {
            if let Write::Record { row, .. } = write {
                let key = (row.device.clone(), row.check.clone());
                if self.newest.get(&key) == Some(&seq) {
                    self.shed_states.insert(key, row.saved);
                }
            }
        }
    }

    /// Before the store closes: the newest result of each check that was not written in full is
    /// written now, so the last result a stopped agent had is the last one stored.
    fn keep_last_results(&mut self) {
        for (_, mut row) in std::mem::take(&mut self.unwritten) {
            // Its transition and events were written with it already.
            row.transition = None;
            row.events.clear();
            // The store closes: nothing is kept for long enough to need shedding.
            let _ = self.backlog.push(
                Worth::PlainResult,
                Write::Record {
                    row: Box::new(row),
                    in_full: true,
                },
            );
        }
    }

    fn cannot_write(&self) -> StoreError {
        let reason = self.health.get().reason.unwrap_or_default();
        StoreError(format!("state store: cannot write: {reason}"))
    }

    /// Writes the backlog oldest first, a chunk per transaction, the outbox operations with the
    /// last chunk; answers them. Stops at a commit that fails for a reason that may pass.
    fn write_out(&mut self, mut outbox: Vec<(super::outbox::Op, OutboxReply)>) {
        loop {
            let rows = self.backlog.len().min(CHUNK_ROWS);
            let last = rows == self.backlog.len();
            let (ops, replies): (Vec<_>, Vec<_>) = if last {
                std::mem::take(&mut outbox).into_iter().unzip()
            } else {
                (Vec::new(), Vec::new())
            };
            match self.commit(rows, last, ops) {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                    self.backlog.pop_front(rows);
                    if last {
                        self.shed_states.clear();
                        self.prune = None;
                    }
                    self.wrote();
                    if last {
                        return;
                    }
                }
                Err(e) => {
                    // Said before the answers go: a notifier told "no" asks whether it may pass.
                    if may_pass(&e) {
                        self.failed(&e);
                    }
                    // Nothing the transaction did is there when it did not commit.
                    let why = StoreError(format!("state store: {e}"));
                    let unanswered = outbox.drain(..).map(|(_, reply)| reply);
                    for reply in replies.into_iter().chain(unanswered) {
                        let _ = reply.send(Err(StoreError(why.0.clone())));
                    }
                    if may_pass(&e) {
                        return;
                    }
                    // It would fail the same way every time: keeping it would stop everything after.
                    tracing::error!(store = %self.path.display(), error = %e, rows, "cannot write to the state store: rows given up");
                    self.backlog.pop_front(rows);
                    self.given_up += rows as u64;
                    self.health.update(|h| h.write_errors += 1);
                    if last {
                        return;
                    }
                }
            }
        }
    }

    /// One transaction: the oldest `rows` of the backlog, and with the `last` chunk the saved
    /// states of shed results, the prune and the outbox operations (each with its own answer).
    fn commit(
        &mut self,
        rows: usize,
        last: bool,
        ops: Vec<super::outbox::Op>,
    ) -> rusqlite::Result<Vec<Result<super::outbox::Reply, StoreError>>> {
        let write_states = last && (self.closing || self.states_written_at.elapsed() >= STATES_EVERY);
        let tx = self.conn.transaction()?;
        note_run(&tx, self.run)?;
        for write in self.backlog.front(rows) {
            write_one(&tx, write)?;
        }
        let mut answers = Vec::with_capacity(ops.len());
        if last {
            for saved in self.shed_states.values() {
                save_state(&tx, saved)?;
            }
            if let Some((results_before, transitions_before)) = self.prune {
                prune(&tx, results_before, transitions_before)?;
            }
            if write_states {
                for saved in self.pending_states.values() {
                    save_state(&tx, saved)?;
                }
            }
            for op in ops {
                match super::outbox::apply(&tx, op) {
                    // A full disk fails the whole transaction, not just this operation.
                    Err(e) if may_pass(&e) => return Err(e),
                    // A failed statement is that operation's answer; the rest still commits.
                    answer => answers.push(answer.map_err(|e| StoreError(format!("state store: {e}")))),
                }
            }
        }
        tx.commit()?;
        if write_states {
            self.pending_states.clear();
            self.states_written_at = Instant::now();
        }
        self.health.update(|h| h.commits += 1);
        Ok(answers)
    }

    fn failed(&mut self, e: &rusqlite::Error) {
        let now = crate::vocab::unix_now();
        let reason = plain_reason(e, &self.path);
        let first = self.retry_at.is_none();
        self.retry_after = if first {
            RETRY_FIRST
        } else {
            (self.retry_after * 2).min(RETRY_MAX)
        };
        self.retry_at = Some(Instant::now() + self.retry_after);
        let changed = self.health.get().reason.as_deref() != Some(reason.as_str());
        if first || changed {
            tracing::error!(
                store = %self.path.display(),
                rows = self.backlog.len(),
                "the state store cannot write: {reason}; the rows are kept in memory and written when it can \
                 (tried again every few seconds), the checks go on"
            );
        }
        let damaged = is_damaged(e);
        self.health.update(|h| {
            h.cannot_write_since.get_or_insert(now);
            h.reason = Some(reason);
            h.damaged = damaged;
            h.write_errors += 1;
        });
    }

    fn wrote(&mut self) {
        if self.retry_at.take().is_none() {
            return;
        }
        let now = crate::vocab::unix_now();
        self.retry_after = RETRY_FIRST;
        self.said_shedding = false;
        // Give the room back at once: the WAL grew while the disk was full.
        self.last_checkpoint = Instant::now() - CHECKPOINT_EVERY;
        let since = self.health.get().cannot_write_since;
        self.health.update(|h| {
            h.cannot_write_since = None;
            h.reason = None;
            h.damaged = false;
            h.writable_again_at = Some(now);
        });
        tracing::info!(
            store = %self.path.display(),
            after_seconds = since.map(|s| (now - s).round()),
            "the state store writes again"
        );
    }

    /// Empties the WAL into the database now and then, so it does not grow on a small disk
    /// (SQLite's own checkpoints only reuse it from the start).
    fn checkpoint_when_due(&mut self) {
        if self.retry_at.is_some() || self.last_checkpoint.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        self.last_checkpoint = Instant::now();
        // A reader in the middle of a query keeps its part of the WAL: the next one gets it.
        if let Err(e) = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::debug!(store = %self.path.display(), error = %e, "WAL checkpoint did not finish");
        }
    }

    fn check_for_damage_when_due(&mut self) {
        if self.damaged.is_some() || self.retry_at.is_some() || self.last_damage_check.elapsed() < DAMAGE_CHECK_EVERY {
            return;
        }
        self.last_damage_check = Instant::now();
        self.check_for_damage();
    }

    /// SQLite's quick check of the whole file; damage found is the store's "cannot write"
    /// state, with the way out, until camwatch is restarted on a whole store.
    fn check_for_damage(&mut self) {
        let problems: rusqlite::Result<Vec<String>> = self
            .conn
            .prepare("PRAGMA quick_check(5)")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect());
        let found = match problems {
            Ok(problems) if problems == ["ok"] => return,
            Ok(problems) => problems.join("; "),
            Err(e) if is_damaged(&e) => e.to_string(),
            Err(e) => {
                tracing::debug!(store = %self.path.display(), error = %e, "the periodic check of the store did not finish");
                return;
            }
        };
        let reason = super::store_health::damaged(&self.path, &found);
        tracing::error!(
            store = %self.path.display(),
            rows = self.backlog.len(),
            "the state store cannot write: {reason}; nothing more is written into it, what happens is kept in memory \
             until camwatch is restarted"
        );
        let now = crate::vocab::unix_now();
        self.health.update(|h| {
            h.cannot_write_since.get_or_insert(now);
            h.reason = Some(reason.clone());
            h.damaged = true;
        });
        self.damaged = Some(reason);
    }

    fn publish(&self) {
        let (rows, shed) = (self.backlog.len() as u64, self.backlog.shed() + self.given_up);
        self.health.update(|h| {
            h.backlog_rows = rows;
            h.shed_rows = shed;
        });
    }
}

/// Notes that the agent's run `run` is alive now.
fn note_run(conn: &Connection, run: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE runs SET last_seen_at = ?2 WHERE id = ?1")?
        .execute(params![run, crate::vocab::unix_now()])?;
    Ok(())
}

fn prune(tx: &rusqlite::Transaction, results_before: f64, transitions_before: f64) -> rusqlite::Result<()> {
    let results = tx.execute("DELETE FROM results WHERE at < ?1", [results_before])?;
    let transitions = tx.execute("DELETE FROM transitions WHERE at < ?1", [transitions_before])?;
    let procedures = tx.execute("DELETE FROM procedure_runs WHERE at < ?1", [transitions_before])?;
    let runs = tx.execute("DELETE FROM runs WHERE last_seen_at < ?1", [transitions_before])?;
    tracing::debug!(results, transitions, procedures, runs, "pruned old history");
    Ok(())
}

fn write_one(tx: &rusqlite::Transaction, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::Record { row, in_full } => write_result(tx, row, *in_full)?,
        Write::Maintenance(w) => {
            let (device, site) = match &w.target {
                Target::Device(d) => (Some(d.as_str()), None),
                Target::Site(s) => (None, Some(s.as_str())),
            };
            tx.execute(
                "INSERT OR REPLACE INTO maintenance (id, device, site, start, end, reason, by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![w.id as i64, device, site, w.start, w.end, w.reason, w.by],
            )?;
        }
        Write::Incident(i) => {
            let ack = i.acknowledged.as_ref();
            tx.execute(
                "INSERT OR REPLACE INTO incidents (id, device, check_name, opened_at, failed_at, resolved_at, joined, summary, values_json, acked_at, acked_by, ack_note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    i.id as i64,
                    i.device,
                    i.check,
                    i.opened_at,
                    i.failed_at,
                    i.resolved_at,
                    i.joined.map(|j| j as i64),
                    i.summary,
                    i.values.to_string(),
                    ack.map(|a| a.at),
                    ack.map(|a| a.by.as_str()),
                    ack.map(|a| a.note.as_str()),
                ],
            )?;
        }
        Write::Procedure { kind, at, record_json } => {
            tx.execute(
                "INSERT INTO procedure_runs (kind, at, record_json) VALUES (?1, ?2, ?3)",
                params![kind, at, record_json],
            )?;
        }
        Write::Remember {
            device,
            check,
            memory,
            event,
        } => {
            tx.execute(
                "UPDATE check_state SET memory_json = ?3 WHERE device = ?1 AND check_name = ?2",
                params![device, check, memory],
            )?;
            tx.execute(
                "INSERT INTO events (device, check_name, at, seen_at, kind, summary) VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
                params![device, check, event.at, event.kind.as_str(), event.summary],
            )?;
        }
    }
    Ok(())
}

fn write_result(tx: &rusqlite::Transaction, row: &ResultRow, in_full: bool) -> rusqlite::Result<()> {
    if !in_full {
        return save_state(tx, &row.saved);
    }
    tx.prepare_cached(
        "INSERT INTO results (device, check_name, at, status, summary, values_json, duration_seconds)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.device,
        row.check,
        row.at,
        row.status.as_str(),
        row.summary,
        row.values_json,
        row.duration_seconds
    ])?;
    let result_id = tx.last_insert_rowid();
    for event in &row.events {
        tx.prepare_cached(
            "INSERT INTO events (device, check_name, at, seen_at, kind, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            row.device,
            row.check,
            event.at,
            row.at,
            event.kind.as_str(),
            event.summary
        ])?;
    }
    if let Some((from, to)) = row.transition {
        tx.prepare_cached(
            "INSERT INTO transitions (device, check_name, at, from_state, to_state, result_id, status, summary, values_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            row.device,
            row.check,
            row.at,
            from.as_str(),
            to.as_str(),
            result_id,
            row.status.as_str(),
            row.summary,
            row.values_json
        ])?;
    }
    save_state(tx, &row.saved)
}

/// What a check remembers, as of its last result.
fn save_state(tx: &rusqlite::Transaction, s: &SavedState) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO check_state (device, check_name, state, since, streak_failed, streak_not_ok, streak_ok,
                                  streak_not_failed, last_run, last_success, memory_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (device, check_name) DO UPDATE SET state = excluded.state, since = excluded.since,
            streak_failed = excluded.streak_failed, streak_not_ok = excluded.streak_not_ok,
            streak_ok = excluded.streak_ok, streak_not_failed = excluded.streak_not_failed,
            last_run = excluded.last_run, last_success = excluded.last_success,
            memory_json = excluded.memory_json",
    )?
    .execute(params![
        s.device,
        s.check,
        s.state.as_str(),
        s.since,
        s.streaks.failed,
        s.streaks.not_ok,
        s.streaks.ok,
        s.streaks.not_failed,
        s.last_run,
        s.last_success,
        s.memory
    ])?;
    Ok(())
}

/// Availability of a (device, check) over windows of the given lengths (seconds) ending at `now`,
/// read through `conn` (a reader's own connection; the writer thread is not involved).
pub fn availability(
    conn: &Connection,
    device: &str,
    check: &str,
    now: f64,
    windows: &[f64],
) -> rusqlite::Result<Vec<Option<f64>>> {
    let longest = windows.iter().copied().fold(0.0, f64::max);
    let from = now - longest;
    let (before, transitions) = check_timeline(conn, device, check, from)?;
    Ok(windows
        .iter()
        .map(|w| crate::availability::ratio(before, &transitions, now - w, now))
        .collect())
}

/// What the store remembers of a device since `from`: its ping check's states, its reboots, and
/// when it stopped and resumed recording (events the retention judge leaves).
/// `rules` are the configured maintenance windows; with the ones people opened for the device or
/// its `site`, they are the history's maintenance spans.
pub fn history(
    conn: &Connection,
    (device, site): (&str, &str),
    rules: &[crate::maintenance::Rule],
    from: f64,
    now: f64,
) -> rusqlite::Result<crate::availability::History> {
    let windows = maintenance_windows(conn, from)?;
    let maintenance = crate::maintenance::spans(rules, &windows, device, site, from, now);
    let (reachability_before, reachability) = check_timeline(conn, device, "ping", from)?;
    let reboots = conn
        .prepare_cached("SELECT at FROM events WHERE device = ?1 AND kind = ?3 AND at > ?2 ORDER BY at")?
        .query_map(params![device, from, EventKind::Reboot.as_str()], |r| {
            r.get::<_, f64>(0)
        })?
        .collect::<rusqlite::Result<_>>()?;
    const STOPPED: &str = EventKind::RecordingStopped.as_str();
    const RESUMED: &str = EventKind::RecordingResumed.as_str();
    let recording_at = |at: f64, kind: String| (at, kind == RESUMED);
    let recording_before = conn
        .prepare_cached(
            "SELECT at, kind FROM events WHERE device = ?1 AND kind IN (?3, ?4) AND at <= ?2 ORDER BY at DESC LIMIT 1",
        )?
        .query_row(params![device, from, STOPPED, RESUMED], |r| {
            Ok(recording_at(r.get(0)?, r.get(1)?).1)
        })
        .optional()?;
    let recording = conn
        .prepare_cached("SELECT at, kind FROM events WHERE device = ?1 AND kind IN (?3, ?4) AND at > ?2 ORDER BY at")?
        .query_map(params![device, from, STOPPED, RESUMED], |r| {
            Ok(recording_at(r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (runs, runs_since) = runs(conn, from, now)?;
    Ok(crate::availability::History {
        now,
        from,
        reachability_before,
        reachability,
        reboots,
        recording_before,
        recording,
        maintenance,
        runs,
        runs_since,
    })
}

/// `[start, end]`, Unix seconds.
pub type Span = (f64, f64);

/// The agent's runs that overlap `[from, now]`, oldest first, and when the first recorded run
/// started. The newest run ends `now` when it was last seen within [`LIVE_WITHIN_SECONDS`] (the
/// writer notes it every [`HEARTBEAT`]): a report made while the agent runs, and the agent's own
/// checks, see an outage going on, not one that ended at the last commit.
pub fn runs(conn: &Connection, from: f64, now: f64) -> rusqlite::Result<(Vec<Span>, Option<f64>)> {
    let (since, newest): (Option<f64>, Option<i64>) =
        conn.query_row("SELECT MIN(started_at), MAX(id) FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut runs = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, started_at, last_seen_at FROM runs WHERE last_seen_at > ?1 AND started_at < ?2 ORDER BY started_at",
    )?;
    for row in stmt.query_map(params![from, now], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?, r.get::<_, f64>(2)?))
    })? {
        let (id, start, mut end) = row?;
        if Some(id) == newest && end >= now - LIVE_WITHIN_SECONDS {
            end = end.max(now);
        }
        runs.push((start, end));
    }
    Ok((runs, since))
}

/// Maintenance windows people opened that end after `from`, oldest first.
pub fn maintenance_windows(conn: &Connection, from: f64) -> rusqlite::Result<Vec<Window>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, device, site, start, end, reason, by FROM maintenance WHERE end > ?1 ORDER BY start",
    )?;
    let rows = stmt.query_map([from], |r| {
        let device: Option<String> = r.get(1)?;
        let site: Option<String> = r.get(2)?;
        Ok(Window {
            id: r.get::<_, i64>(0)? as u64,
            target: match device {
                Some(d) => Target::Device(d),
                None => Target::Site(site.unwrap_or_default()),
            },
            start: r.get(3)?,
            end: r.get(4)?,
            reason: r.get(5)?,
            by: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// The figures of a check's last result in `[from, to)`: from the raw results while they are
/// kept, else from the last transition (kept much longer), with when.
pub fn last_values(
    conn: &Connection,
    device: &str,
    check: &str,
    from: f64,
    to: f64,
) -> rusqlite::Result<Option<(f64, serde_json::Value)>> {
    let row = conn
        .prepare_cached(
            "SELECT at, values_json FROM (
                SELECT at, values_json FROM results WHERE device = ?1 AND check_name = ?2 AND at >= ?3 AND at < ?4
                UNION ALL
                SELECT at, values_json FROM transitions WHERE device = ?1 AND check_name = ?2 AND at >= ?3 AND at < ?4
             ) ORDER BY at DESC LIMIT 1",
        )?
        .query_row(params![device, check, from, to], |r| {
            Ok((r.get::<_, f64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    Ok(row.map(|(at, json)| (at, serde_json::from_str(&json).unwrap_or(serde_json::Value::Null))))
}

/// A check's last result in `[from, to)` (results, else transitions): when, status, summary.
pub fn last_result(
    conn: &Connection,
    device: &str,
    check: &str,
    from: f64,
    to: f64,
) -> rusqlite::Result<Option<(f64, String, String)>> {
    conn.prepare_cached(
        "SELECT at, status, summary FROM (
            SELECT at, status, summary FROM results WHERE device = ?1 AND check_name = ?2 AND at >= ?3 AND at < ?4
            UNION ALL
            SELECT at, status, summary FROM transitions WHERE device = ?1 AND check_name = ?2 AND at >= ?3 AND at < ?4
         ) ORDER BY at DESC LIMIT 1",
    )?
    .query_row(params![device, check, from, to], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .optional()
}

/// When a procedure ran in `[from, to)`, oldest first.
pub fn procedure_times(conn: &Connection, kind: &str, from: f64, to: f64) -> rusqlite::Result<Vec<f64>> {
    conn.prepare_cached("SELECT at FROM procedure_runs WHERE kind = ?1 AND at >= ?2 AND at < ?3 ORDER BY at")?
        .query_map(params![kind, from, to], |r| r.get(0))?
        .collect()
}

/// Events of the kinds `wanted` accepts in `[from, to)`: (at, device, kind, summary), oldest first.
pub fn events_between(
    conn: &Connection,
    wanted: fn(EventKind) -> bool,
    from: f64,
    to: f64,
) -> rusqlite::Result<Vec<(f64, String, String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT at, device, kind, summary FROM events WHERE at >= ?1 AND at < ?2 ORDER BY at, id")?;
    let rows = stmt.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let row: (f64, String, String, String) = row?;
        if EventKind::parse(&row.2).is_some_and(wanted) {
            out.push(row);
        }
    }
    Ok(out)
}

/// A check's state at `from` and its changes after it.
pub fn check_timeline(
    conn: &Connection,
    device: &str,
    check: &str,
    from: f64,
) -> rusqlite::Result<(State, Vec<(f64, State)>)> {
    let state = |text: String| State::parse(&text).unwrap_or(State::Unknown);
    let before: State = conn
        .prepare_cached(
            "SELECT to_state FROM transitions WHERE device = ?1 AND check_name = ?2 AND at <= ?3 ORDER BY at DESC LIMIT 1",
        )?
        .query_row(params![device, check, from], |r| r.get::<_, String>(0))
        .optional()?
        .map_or(State::Unknown, state);
    let transitions: Vec<(f64, State)> = conn
        .prepare_cached(
            "SELECT at, to_state FROM transitions WHERE device = ?1 AND check_name = ?2 AND at > ?3 ORDER BY at",
        )?
        .query_map(params![device, check, from], |r| {
            Ok((r.get::<_, f64>(0)?, state(r.get::<_, String>(1)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((before, transitions))
}

/// Incidents, newest first: only the open ones, or all, at most `limit`.
pub fn incidents(conn: &Connection, open_only: bool, limit: u32) -> rusqlite::Result<Vec<Incident>> {
    let filter = format!(
        "{} ORDER BY id DESC LIMIT ?1",
        if open_only { "WHERE resolved_at IS NULL" } else { "" }
    );
    incident_rows(conn, &filter, [i64::from(limit)])
}

/// Incidents that were open at some time in `[from, to)`, oldest first.
pub fn incidents_between(conn: &Connection, from: f64, to: f64) -> rusqlite::Result<Vec<Incident>> {
    incident_rows(
        conn,
        "WHERE opened_at < ?1 AND (resolved_at IS NULL OR resolved_at >= ?2) ORDER BY id",
        params![to, from],
    )
}

fn incident_rows(conn: &Connection, filter: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<Incident>> {
    let sql = format!(
        "SELECT id, device, check_name, opened_at, failed_at, resolved_at, joined, summary, values_json, acked_at, acked_by, ack_note FROM incidents {filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, |r| {
        let acked_at: Option<f64> = r.get(9)?;
        Ok(Incident {
            id: r.get::<_, i64>(0)? as u64,
            device: r.get(1)?,
            check: r.get(2)?,
            opened_at: r.get(3)?,
            failed_at: r.get(4)?,
            resolved_at: r.get(5)?,
            joined: r.get::<_, Option<i64>>(6)?.map(|j| j as u64),
            summary: r.get(7)?,
            values: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or(serde_json::Value::Null),
            acknowledged: match acked_at {
                Some(at) => Some(Acknowledgement {
                    at,
                    by: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                    note: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                }),
                None => None,
            },
        })
    })?;
    rows.collect()
}

/// One incident, open or not.
pub fn incident(conn: &Connection, id: u64) -> rusqlite::Result<Option<Incident>> {
    Ok(incident_rows(conn, "WHERE id = ?1", [id as i64])?.pop())
}

/// A stored transition, as reports and tests read them.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRow {
    pub device: String,
    pub check: String,
    pub at: f64,
    pub from: State,
    pub to: State,
    pub summary: String,
}

/// A read-only connection of its own (readers never go through the writer thread).
/// A device's history, read with a read-only connection of its own so the writer is never
/// waited on: what the probes are given to read history with (`probe::history::ReadHistory`).
pub fn read_history(
    path: &Path,
    device: (&str, &str),
    rules: &[crate::maintenance::Rule],
    from: f64,
    to: f64,
) -> Result<crate::availability::History, String> {
    let conn = open_reader(path).map_err(|e| e.to_string())?;
    history(&conn, device, rules, from, to).map_err(|e| e.to_string())
}

/// Runs `query` on a read-only connection of its own, on the blocking pool: how async code reads
/// the store, so no task holds a connection across an `.await` and the writer is never waited
/// on. The outer error is the blocking task's (it panicked or was cancelled), the inner SQLite's.
pub async fn read<T: Send + 'static>(
    path: PathBuf,
    query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<rusqlite::Result<T>, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || query(&open_reader(&path)?)).await
}

/// Whether SQLite says the file is not (or no longer) a whole database.
pub fn is_damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// What to do about a damaged store, for a person: how to keep going, what is lost, how to try
/// to keep the history.
pub fn way_out(path: &Path) -> String {
    let p = path.display();
    format!(
        "to keep going: stop camwatch, move the store aside (mv {p} {p}.damaged, and its -wal and -shm files if \
         present) and start camwatch again: it starts a new, empty store. Lost with the old one, unless recovered: \
         the history reports read (results, transitions, interruptions, procedure records), open incidents and \
         which mail they got, undelivered mail, maintenance windows opened by hand, and what checks remembered \
         (their states resume as unknown). To try to keep the history, before starting again: \
         sqlite3 {p}.damaged .recover | sqlite3 {p}; then `camwatch store check` says whether the result is whole"
    )
}

fn open_error(path: &Path, e: &rusqlite::Error) -> StoreError {
    if is_damaged(e) {
        StoreError(format!(
            "the state store {} is damaged ({e}); {}",
            path.display(),
            way_out(path)
        ))
    } else {
        StoreError(format!("state store {}: {e}", path.display()))
    }
}

/// `camwatch store check`: SQLite's integrity check of the store, read-only (safe while the
/// agent runs). `Ok(counts)` when whole, `Err(problems)` when damaged or unreadable.
pub fn check(path: &Path) -> Result<String, String> {
    let conn = open_reader(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get::<_, String>(0))?.collect())
        .map_err(|e| e.to_string())?;
    if problems != ["ok"] {
        return Err(problems.join("\n"));
    }
    let count = |table: &str| -> Result<i64, String> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| e.to_string())
    };
    Ok(format!(
        "{} results, {} transitions, {} incidents, {} messages",
        count("results")?,
        count("transitions")?,
        count("incidents")?,
        count("outbox")?
    ))
}

pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Transitions with `from < at <= to`, oldest first.
pub fn transitions_between(conn: &Connection, from: f64, to: f64) -> rusqlite::Result<Vec<TransitionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT device, check_name, at, from_state, to_state, summary FROM transitions
         WHERE at > ?1 AND at <= ?2 ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![from, to], transition_row)?;
    rows.collect()
}

/// A stored event (a reboot, a baseline recorded or accepted).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub device: String,
    pub check: String,
    pub kind: String,
    /// When it happened (a reboot: the boot time).
    pub at: f64,
    /// When camwatch saw it.
    pub seen_at: f64,
    pub summary: String,
}

/// Events camwatch saw with `from < seen_at <= to`, oldest first.
pub fn events_seen_between(conn: &Connection, from: f64, to: f64) -> rusqlite::Result<Vec<EventRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT device, check_name, kind, at, seen_at, summary FROM events
         WHERE seen_at > ?1 AND seen_at <= ?2 ORDER BY seen_at, id",
    )?;
    let rows = stmt.query_map(params![from, to], |r| {
        Ok(EventRow {
            device: r.get(0)?,
            check: r.get(1)?,
            kind: r.get(2)?,
            at: r.get(3)?,
            seen_at: r.get(4)?,
            summary: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// The newest `limit` records of a procedure, newest first, as `(at, JSON)`.
pub fn procedure_records(conn: &Connection, kind: &str, limit: usize) -> rusqlite::Result<Vec<(f64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, record_json FROM procedure_runs WHERE kind = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![kind, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn transition_row(r: &rusqlite::Row) -> rusqlite::Result<TransitionRow> {
    let from: String = r.get(3)?;
    let to: String = r.get(4)?;
    Ok(TransitionRow {
        device: r.get(0)?,
        check: r.get(1)?,
        at: r.get(2)?,
        from: State::parse(&from).unwrap_or(State::Unknown),
        to: State::parse(&to).unwrap_or(State::Unknown),
        summary: r.get(5)?,
    })
}

/// Reads transitions from a store file with a separate read-only connection.
pub fn read_transitions(path: &Path) -> rusqlite::Result<Vec<TransitionRow>> {
    let conn = open_reader(path)?;
    let mut stmt =
        conn.prepare("SELECT device, check_name, at, from_state, to_state, summary FROM transitions ORDER BY id")?;
    let rows = stmt.query_map([], transition_row)?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Number of results stored for a (device, check).
    fn count_results(path: &Path, device: &str, check: &str) -> rusqlite::Result<i64> {
        let conn = open_reader(path)?;
        conn.query_row(
            "SELECT COUNT(*) FROM results WHERE device = ?1 AND check_name = ?2",
            [device, check],
            |r| r.get(0),
        )
        .optional()
        .map(Option::unwrap_or_default)
    }

    fn row(at: f64, transition: Option<(State, State)>, state: State) -> ResultRow {
        ResultRow {
            device: "cam".into(),
            check: "ping".into(),
            at,
            status: Status::Ok,
            summary: "fine".into(),
            values_json: "{}".into(),
            duration_seconds: 0.01,
            transition,
            events: if transition.is_some() {
                vec![crate::judge::Event {
                    kind: EventKind::Reboot,
                    at: at - 10.0,
                    summary: "rebooted".into(),
                }]
            } else {
                vec![]
            },
            saved: SavedState {
                device: "cam".into(),
                check: "ping".into(),
                state,
                since: at,
                streaks: Streaks {
                    ok: 1,
                    not_failed: 1,
                    ..Streaks::default()
                },
                last_run: Some(at),
                last_success: Some(at),
                memory: Some("{\"ticks\":1}".into()),
            },
        }
    }

    #[test]
    fn records_survive_reopen_and_prune_keeps_transitions() {
        let dir = tempfile::tempdir().unwrap();
        let (store, saved) = Store::open(dir.path()).unwrap();
        assert!(saved.states.is_empty());
        // Every result written: this test counts them (thinning has its own test below).
        store.set_results_sample(Duration::ZERO);
        store.record(row(100.0, Some((State::Unknown, State::Ok)), State::Ok));
        store.record(row(200.0, None, State::Ok));
        store.flush();
        assert_eq!(count_results(&store.path, "cam", "ping").unwrap(), 2);
        store.prune(150.0, 50.0);
        store.flush();
        assert_eq!(count_results(&store.path, "cam", "ping").unwrap(), 1);
        store.close();

        let (store, saved) = Store::open(dir.path()).unwrap();
        assert_eq!(saved.states.len(), 1);
        assert_eq!(saved.states[0].state, State::Ok);
        assert_eq!(saved.states[0].since, 200.0);
        assert_eq!(saved.states[0].streaks.ok, 1);
        assert_eq!(saved.states[0].memory.as_deref(), Some("{\"ticks\":1}"));
        assert_eq!(saved.counted, vec![("reboot".to_owned(), "cam".to_owned(), 1)]);
        let transitions = read_transitions(&store.path).unwrap();
        assert_eq!(transitions.len(), 1);
        assert_eq!((transitions[0].from, transitions[0].to), (State::Unknown, State::Ok));
    }

    /// A result of camera `i` (`cam-0`, `cam-1`, ...) at `at` saying `summary`.
    fn camera(i: usize, at: f64, summary: &str) -> ResultRow {
        let mut r = row(at, None, State::Ok);
        r.device = format!("cam-{i}");
        r.saved.device = r.device.clone();
        r.summary = summary.into();
        r
    }

    fn commits(store: &Store) -> u64 {
        store.health().commits
    }

    /// Polls for a condition the writer brings about within its commit window.
    fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_burst_of_results_is_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.flush();
        let before = commits(&store);
        for i in 0..1000 {
            store.record(camera(i, 100.0, "fine"));
        }
        let conn = open_reader(&store.path).unwrap();
        let stored = || {
            conn.query_row("SELECT COUNT(*) FROM results", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        eventually("the burst is committed", || stored() == 1000);
        assert_eq!(commits(&store), before + 1, "1,000 results, one transaction");
        // Results that trickle in, as checks finish one by one, share the commit window too
        // (one commit each before it); a slow machine may split them across two windows.
        let before = commits(&store);
        for i in 0..10 {
            store.record(camera(i, 200.0, "now slower"));
            std::thread::sleep(COMMIT_WINDOW / 25);
        }
        eventually("the trickle is committed", || stored() == 1010);
        assert!(
            commits(&store) <= before + 2,
            "{} commits for 10 results",
            commits(&store) - before
        );
    }

    #[test]
    fn an_outbox_operation_commits_at_once_with_the_results_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.flush();
        let before = commits(&store);
        for i in 0..5 {
            store.record(camera(i, 100.0, "fine"));
        }
        let claim = super::super::outbox::Op::Claim { now: 100.0, limit: 5 };
        let answer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(store.outbox(claim));
        assert!(answer.is_ok(), "{answer:?}");
        // Answered means committed, and the results sent before it are in the same commit.
        let conn = open_reader(&store.path).unwrap();
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 5);
        assert_eq!(commits(&store), before + 1);
    }

    #[test]
    fn a_result_that_says_nothing_new_keeps_its_state_but_no_row_until_the_store_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.set_results_sample(Duration::from_secs(900));
        store.record(row(100.0, Some((State::Unknown, State::Ok)), State::Ok));
        store.record(row(160.0, None, State::Ok));
        store.record(row(220.0, None, State::Ok));
        store.flush();
        assert_eq!(
            count_results(&store.path, "cam", "ping").unwrap(),
            1,
            "the same answer twice more"
        );
        let conn = open_reader(&store.path).unwrap();
        let last_run = || -> f64 {
            conn.query_row("SELECT last_run FROM check_state WHERE device = 'cam'", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(last_run(), 100.0, "a state that only moved on waits for STATES_EVERY");
        // A steady check still writes a sample once the last row is older than the interval.
        store.record(row(100.0 + 900.0, None, State::Ok));
        store.record(row(1060.0, None, State::Ok));
        store.flush();
        assert_eq!(count_results(&store.path, "cam", "ping").unwrap(), 2);
        assert_eq!(last_run(), 1000.0, "a written row writes its state");
        store.close();
        assert_eq!(last_run(), 1060.0, "closing writes the states that waited");
        let at: Vec<f64> = conn
            .prepare("SELECT at FROM results ORDER BY at")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            at,
            vec![100.0, 1000.0, 1060.0],
            "the last result is written as the store closes"
        );
        assert_eq!(
            last_result(&conn, "cam", "ping", 0.0, 2000.0).unwrap().unwrap().0,
            1060.0
        );
    }

    #[test]
    fn procedure_records_transitions_and_events_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.record(row(100.0, Some((State::Unknown, State::Ok)), State::Ok));
        store.record(row(200.0, Some((State::Ok, State::Failed)), State::Failed));
        store.save_procedure("handover", 150.0, "{\"n\":1}".into());
        store.save_procedure("handover", 250.0, "{\"n\":2}".into());
        store.save_procedure("inventory", 260.0, "{\"n\":3}".into());
        store.flush();
        let conn = open_reader(&store.path).unwrap();
        assert_eq!(
            procedure_records(&conn, "handover", 5).unwrap(),
            [(250.0, "{\"n\":2}".to_owned()), (150.0, "{\"n\":1}".to_owned())]
        );
        assert_eq!(procedure_records(&conn, "inventory", 1).unwrap().len(), 1);
        // Half-open (from, to]: a transition at the previous handover's time belongs to that shift.
        let between: Vec<f64> = transitions_between(&conn, 100.0, 200.0)
            .unwrap()
            .iter()
            .map(|t| t.at)
            .collect();
        assert_eq!(between, [200.0]);
        // Events by when they were seen (a reboot's `at` is the boot time, earlier).
        let events = events_seen_between(&conn, 150.0, 250.0).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].kind.as_str(), events[0].at, events[0].seen_at),
            ("reboot", 190.0, 200.0)
        );
        drop(conn);
        store.prune(0.0, 200.0);
        store.close();
        let (store, resumed) = Store::open(dir.path()).unwrap();
        let mut times = resumed.procedures;
        times.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(times, [("handover".to_owned(), 250.0), ("inventory".to_owned(), 260.0)]);
        let conn = open_reader(&store.path).unwrap();
        assert_eq!(
            procedure_records(&conn, "handover", 5).unwrap().len(),
            1,
            "pruned with the transitions"
        );
    }

    #[test]
    fn each_opening_is_a_run_seen_at_every_commit_and_an_older_store_gets_one_run() {
        let dir = tempfile::tempdir().unwrap();
        // A store as the camwatch before runs left it: every migration but the last, with history.
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        for sql in &MIGRATIONS[..MIGRATIONS.len() - 1] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64 - 1)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO transitions (device, check_name, at, from_state, to_state, status, summary, values_json)
                 VALUES ('nvr', 'ping', 50, 'unknown', 'ok', 'ok', 'x', '{}');
             INSERT INTO results (device, check_name, at, status, summary, values_json, duration_seconds)
                 VALUES ('nvr', 'ping', 300, 'ok', 'x', '{}', 0.1);",
        )
        .unwrap();
        drop(conn);
        let before = crate::vocab::unix_now();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.record(row(before, None, State::Ok));
        store.flush();
        let conn = open_reader(&store.path).unwrap();
        let (runs, since) = runs(&conn, 0.0, before + 3600.0).unwrap();
        assert_eq!(since, Some(50.0));
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0], (50.0, 300.0), "the earlier camwatch's history as one run");
        assert!(runs[1].0 >= before && runs[1].1 >= runs[1].0, "{runs:?}");
        drop(conn);
        store.close();
        // Closed: the run ends when the writer last saw it; the next opening is a new run.
        let (store, _) = Store::open(dir.path()).unwrap();
        let conn = open_reader(&store.path).unwrap();
        let now = crate::vocab::unix_now() + 2.0 * LIVE_WITHIN_SECONDS;
        let (runs, _) = super::runs(&conn, 0.0, now).unwrap();
        assert_eq!(runs.len(), 3, "{runs:?}");
        assert!(runs[1].1 <= runs[2].0, "{runs:?}");
        assert!(
            runs[2].1 < now,
            "a run not seen for three heartbeats has ended: {runs:?}"
        );
        // Seen within the last three heartbeats: still running, up to now.
        let seen = runs[2].1;
        let (live, _) = super::runs(&conn, 0.0, seen + 1.0).unwrap();
        assert_eq!(live[2].1, seen + 1.0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.0.contains("newer camwatch"), "{err}");
    }

    #[test]
    fn the_wal_stays_within_its_bound_over_many_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        // Every result a row, so the WAL gets the most to carry.
        store.set_results_sample(Duration::ZERO);
        let wal = dir.path().join(format!("{FILE_NAME}-wal"));
        let mut largest = 0;
        // One commit each: SQLite's default (a checkpoint every 1,000 pages, the file never cut
        // back) leaves a WAL of about 4 MiB after this.
        for i in 0..2000 {
            store.record(row(f64::from(i), None, State::Ok));
            store.flush();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        assert!(largest > 0);
        assert!(
            largest <= WAL_BOUND_BYTES,
            "the WAL reached {largest} bytes, over {WAL_BOUND_BYTES}"
        );
        assert_eq!(count_results(&store.path, "cam", "ping").unwrap(), 2000);
    }

    #[test]
    fn a_shed_result_leaves_what_its_check_remembers_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("INSERT INTO runs (started_at, last_seen_at) VALUES (0, 0)", [])
            .unwrap();
        let mut writer = Writer::new(conn, path.clone(), 1, Arc::default(), 2);
        let on = |device: &str, at: f64, transition: Option<(State, State)>| {
            let mut r = row(at, transition, State::Ok);
            r.device = device.into();
            r.saved.device = device.into();
            r.events.clear();
            Write::Record {
                row: Box::new(r),
                in_full: true,
            }
        };
        // The camera's only result is plain, and shed for the two transitions after it.
        writer.keep(on("cam", 1.0, None));
        writer.keep(on("nvr", 2.0, Some((State::Unknown, State::Ok))));
        writer.keep(on("switch", 3.0, Some((State::Unknown, State::Ok))));
        // The switch's next result is plain and itself shed, but what it left is the newest.
        writer.keep(on("switch", 4.0, None));
        assert_eq!(writer.backlog.len(), 2);
        assert_eq!(writer.backlog.shed(), 2);
        writer.write_out(Vec::new());
        assert!(writer.backlog.is_empty());
        let conn = open_reader(&path).unwrap();
        let states: Vec<(String, f64)> = conn
            .prepare("SELECT device, last_run FROM check_state ORDER BY device")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            states,
            [("cam".into(), 1.0), ("nvr".into(), 2.0), ("switch".into(), 4.0)]
        );
        let transitions = read_transitions(&path).unwrap();
        assert_eq!(transitions.len(), 2, "both transitions kept: {transitions:?}");
    }

    /// A store with one result whose results table then had its root page overwritten with
    /// garbage, as a failing disk might. Opening reads no result, so the next insert or the
    /// periodic check is the first to meet the damage.
    fn damaged_store() -> (tempfile::TempDir, PathBuf) {
        use std::io::{Seek, Write as _};
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.record(row(1.0, None, State::Ok));
        store.close();
        let path = dir.path().join(FILE_NAME);
        let root: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT rootpage FROM sqlite_master WHERE name = 'results'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(std::io::SeekFrom::Start((root as u64 - 1) * 4096)).unwrap();
        file.write_all(&[0xff; 4096]).unwrap();
        (dir, path)
    }

    #[test]
    fn a_damaged_page_found_while_writing_keeps_the_rows_and_gives_the_way_out() {
        let (dir, _) = damaged_store();
        let (store, _) = Store::open(dir.path()).unwrap();
        store.record(row(2.0, None, State::Ok));
        store.flush();
        let health = store.health();
        assert!(health.damaged, "{health:?}");
        assert!(health.cannot_write_since.is_some());
        let reason = health.reason.unwrap();
        assert!(
            reason.contains("is damaged") && reason.contains("move the store aside"),
            "{reason}"
        );
        assert_eq!(health.backlog_rows, 1, "the result waits in memory");
    }

    #[test]
    fn the_periodic_check_finds_a_damaged_page_and_nothing_more_is_written() {
        let (_dir, path) = damaged_store();
        let conn = Connection::open(&path).unwrap();
        let health = Arc::new(StoreHealth::default());
        let mut writer = Writer::new(conn, path.clone(), 1, Arc::clone(&health), 10);
        writer.check_for_damage();
        let seen = health.get();
        assert!(seen.damaged && seen.cannot_write_since.is_some(), "{seen:?}");
        let reason = seen.reason.unwrap();
        assert!(
            reason.contains("is damaged (") && reason.contains("move the store aside"),
            "{reason}"
        );
        assert!(writer.damaged.is_some());
    }
}
