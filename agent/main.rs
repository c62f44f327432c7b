//! The `camwatch` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use camwatch::config::{self, Config, Procedure, SecretSource};
use camwatch::output::console;
use camwatch::procedures::{Handover, Inventory};
use camwatch::state::incidents::Incident;
use camwatch::{client, daemon, discover, exit, oneshot};

/// Keeps a CCTV monitoring room honest: polls cameras, recorders, UPS units and disks, judges
/// them against the room's procedures, exports Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "camwatch", version = camwatch::build::LONG_VERSION, about, after_help = EXIT_CODES)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, env = "CAMWATCH_CONFIG", default_value = config::DEFAULT_PATH, value_name = "FILE")]
    config: PathBuf,

    /// The exporter-toolkit web configuration file (TLS, basic_auth_users, headers) for the HTTP
    /// interface; wins over `[agent] web_config_file`. Commands that ask the agent read it to
    /// learn whether it speaks TLS.
    #[arg(
        long = "web.config.file",
        global = true,
        env = "CAMWATCH_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    web_config_file: Option<PathBuf>,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Log filter: a level (error, warn, info, debug, trace), optionally per module
    /// ("info,camwatch::probe=debug").
    #[arg(
        long,
        global = true,
        env = "CAMWATCH_LOG",
        default_value = "info",
        value_name = "FILTER"
    )]
    log_level: String,

    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 all well; 1 a check failed (once, probe), the handover lists a failed check, \
                          the inventory a device not seen today, or no device answered (discover); \
                          2 bad configuration or usage; 3 the agent could not run (data directory, listen address, \
                          a socket) or is not running.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportSource {
    Store,
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Html,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: schedule every check, serve HTTP (/metrics, /-/reload, /), keep state.
    Run,
    /// Run every check of every device once, print the results, exit 1 if any check failed.
    Once {
        /// One JSON object per check instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the checks of one device once and show what was sent and received.
    Probe {
        /// The device's name, as in the configuration.
        device: String,
        /// One JSON object per check instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration: exit 0, or print every problem and exit 2.
    CheckConfig,
    /// Camera baselines: the approved identity and settings of each camera.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// List incidents (faults from failure to repair), newest first. Asks the running agent.
    Incidents {
        /// Only the incidents still open.
        #[arg(long)]
        open: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// JSON (an array of incidents) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A report for managers from the state store: availability against the target, recorder
    /// interruptions, incidents, retention, backups, procedures, changes. Reads the data
    /// directory; the agent may be running.
    Report {
        /// 2026-11-29, 2026-W48, 2026-11, 2026-Q4, 2026, or 2026-11-01..2026-11-15, in the agent's
        /// time zone [default: this month so far].
        #[arg(long)]
        period: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Write here (for csv: a folder, one file per table) instead of standard output.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// How time a device was unreachable (hidden behind a failed parent) counts.
        #[arg(long, value_enum, default_value_t = camwatch::report::Unreachable::Down)]
        unreachable: camwatch::report::Unreachable,
        /// Where the figures come from: this agent's state store, or a Prometheus-compatible
        /// query API (--url) that scrapes many agents (availability and retention tables only).
        #[arg(long, value_enum, default_value_t = ReportSource::Store)]
        source: ReportSource,
        /// The query API's base URL, with --source prometheus (e.g. http://prometheus:9090).
        #[arg(long, value_name = "URL", required_if_eq("source", "prometheus"))]
        url: Option<String>,
    },
    /// Maintenance windows: planned work during which checks run but notifications are held and
    /// the time is left out of availability. Asks the running agent.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Acknowledge an open incident: record who took it on. Asks the running agent.
    Ack {
        /// The incident's number (from `camwatch incidents`).
        incident: u64,
        /// Who takes it on.
        #[arg(long)]
        by: String,
        /// What they will do, or what they found.
        #[arg(long)]
        note: String,
    },
    /// Notifications not delivered yet and dead letters (refused for good) with their error.
    /// Asks the running agent.
    Outbox {
        /// JSON (`{"pending": [...], "dead": [...]}`) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The state store: `check` runs SQLite's integrity check (read-only, safe while the agent
    /// runs); exit 0 when whole, 1 when damaged, with the way out.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Find ONVIF devices with WS-Discovery (sends only Probe messages); exit 0 when some
    /// answered, 1 when none did. Needs no configuration file.
    Discover(DiscoverArgs),
    /// Shift handover: the running agent runs every check now and records what is failing, what
    /// failed and recovered during the shift, what changed and retention; exit 1 when a check is
    /// failed.
    Handover(ProcedureArgs),
    /// End-of-day inventory: devices expected against devices seen today, by kind and state, as
    /// the running agent records it; exit 1 when a device was not seen today.
    Inventory(ProcedureArgs),
}

#[derive(Debug, clap::Args)]
struct ProcedureArgs {
    /// The record as JSON (as stored) instead of text.
    #[arg(long)]
    json: bool,
    /// Show the latest stored record instead of making a new one.
    #[arg(long)]
    last: bool,
}

#[derive(Debug, Subcommand)]
enum MaintenanceCommand {
    /// Open a window on a device (or, with --site, on every device of a site).
    Add {
        /// The device's name (or the site's, with --site).
        target: String,
        /// TARGET is a site.
        #[arg(long)]
        site: bool,
        /// How long: "2h", "90m", "1day".
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// What the work is.
        #[arg(long)]
        reason: String,
        /// Who opens it [default: the login name].
        #[arg(long, env = "USER")]
        by: String,
        /// When it starts: "2026-12-01 22:00" in the agent's time zone, or RFC 3339 [default: now].
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
    },
    /// List the windows open now or coming in the next 7 days.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End a window someone opened, now.
    End {
        /// The window's number (from `camwatch maintenance list`).
        id: u64,
    },
}

#[derive(Debug, Subcommand)]
enum BaselineCommand {
    /// Approve what a camera is now (after a planned replacement or settings change). Asks the
    /// running agent, which records who, why and when.
    Accept {
        /// The device's name, as in the configuration.
        device: String,
        /// Who approves.
        #[arg(long)]
        by: String,
        /// Why (a work order, a ticket, a sentence).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Check that the store is a whole database; say how to keep going when it is not.
    Check,
}

#[derive(Debug, clap::Args)]
struct DiscoverArgs {
    /// Send the multicast Probe through this network interface (default: as the routing table
    /// says).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// How long to wait for answers after the last Probe: seconds ("3", "0.5") or a duration
    /// ("1500ms").
    #[arg(long, value_name = "S", default_value = "3", value_parser = discover::parse_timeout)]
    timeout: std::time::Duration,
    /// Also probe every address of this IPv4 network by unicast (for cameras multicast does not
    /// reach: other VLANs, routed networks); at most a /20 each; repeatable.
    #[arg(long, value_name = "A.B.C.D/N")]
    cidr: Vec<discover::Cidr>,
    /// One JSON object per device and line.
    #[arg(long, conflicts_with = "config_snippet")]
    json: bool,
    /// Print [[device]] entries ready to paste into the configuration.
    #[arg(long)]
    config_snippet: bool,
}

fn main() -> ExitCode {
    serve_big_buffers_from_mmap();
    // One TLS provider for every client (HTTP, NUT): ring, chosen once before any is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let filter: Targets = match cli.log_level.parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "camwatch: invalid --log-level {:?}: {e}; use e.g. \"info\" or \"info,camwatch::probe=debug\"",
                cli.log_level
            );
            return ExitCode::from(exit::CONFIG as u8);
        }
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Human => tracing_subscriber::registry().with(layer.with_filter(filter)).init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().with_filter(filter))
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME as u8);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn dispatch(cli: Cli) -> i32 {
    match &cli.command {
        Command::Run => return daemon::run(&cli.config, cli.web_config_file.as_deref()).await,
        Command::Discover(args) => {
            let options = discover::Options {
                interface: args.interface.clone(),
                timeout: args.timeout,
                cidrs: args.cidr.clone(),
                format: match (args.json, args.config_snippet) {
                    (true, _) => discover::Format::Json,
                    (false, true) => discover::Format::ConfigSnippet,
                    (false, false) => discover::Format::Table,
                },
            };
            return discover::run(&options, &mut std::io::stdout().lock()).await;
        }
        _ => {}
    }
    let mut config = match config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return exit::CONFIG;
        }
    };
    // The client commands and check-config read the web configuration from one place.
    if let Some(flag) = &cli.web_config_file {
        config.agent.web_config_file = Some(flag.clone());
    }
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Run | Command::Discover(_) => unreachable!("handled above"),
        Command::CheckConfig => check_config(&config),
        Command::Baseline(BaselineCommand::Accept { device, by, reason }) => {
            accept_baseline(&config, &device, &by, &reason).await
        }
        Command::Incidents { open, limit, json } => list_incidents(&config, open, limit, json).await,
        Command::Maintenance(command) => maintenance(&config, command).await,
        Command::Report {
            period,
            format,
            output,
            unreachable,
            source,
            url,
        } => {
            let url = match source {
                ReportSource::Store => None,
                ReportSource::Prometheus => url.as_deref(),
            };
            report(&config, period.as_deref(), format, output.as_deref(), unreachable, url).await
        }
        Command::Ack { incident, by, note } => {
            if by.trim().is_empty() || note.trim().is_empty() {
                eprintln!("camwatch: an acknowledgement needs who (--by) and a note (--note)");
                return exit::CONFIG;
            }
            acknowledge(&config, incident, &by, &note).await
        }
        Command::Outbox { json } => outbox(&config, json).await,
        Command::Store(StoreCommand::Check) => store_check(&config),
        Command::Handover(args) => procedure(&config, Procedure::Handover, &args).await,
        Command::Inventory(args) => procedure(&config, Procedure::Inventory, &args).await,
        Command::Once { json } => {
            let options = oneshot::Options { json, exchange: false };
            oneshot::run(&config, &config.devices, options, &mut stdout).await
        }
        Command::Probe { device, json } => match config.device(&device) {
            Some(d) => {
                let options = oneshot::Options { json, exchange: true };
                oneshot::run(&config, &[Arc::clone(d)], options, &mut stdout).await
            }
            None => {
                let names: Vec<&str> = config.devices.iter().map(|d| d.name.as_str()).collect();
                eprintln!(
                    "{}: error: no device named {device:?}\n  fix: use one of: {}",
                    cli.config.display(),
                    names.join(", ")
                );
                exit::CONFIG
            }
        },
    }
}

fn check_config(config: &Config) -> i32 {
    let checks: usize = config.devices.iter().map(|d| d.checks.len()).sum();
    // Secrets are read only when used; say now if one cannot be, without failing the file.
    let warn = |whose: &str, what: &str, source: &SecretSource| {
        if let Err(why) = source.resolve() {
            let hint = match source {
                SecretSource::Env(_) => "set it in the agent's environment",
                // systemd's LoadCredential= shows the file to the running service alone.
                SecretSource::File(path) if path.starts_with("/run/credentials") => {
                    "expected when checked outside the service: systemd hands it to the service \
                     alone (LoadCredential= in the unit)"
                }
                SecretSource::File(_) => "create the file, readable by the agent's user",
            };
            eprintln!("{}: warning: {whose}: {what}: {why}; {hint}", config.path.display());
        }
    };
    for device in &config.devices {
        let mut seen = std::collections::HashSet::new();
        for (what, source) in device.secrets() {
            if seen.insert(source) {
                warn(&format!("device {:?}", device.name), what, source);
            }
        }
    }
    if let Some(password) = config.email.as_ref().and_then(|e| e.password.as_ref()) {
        warn("[email]", "SMTP password", password);
    }
    if let Some(am) = &config.alertmanager {
        for (what, source) in am.secrets() {
            warn("[alertmanager]", what, source);
        }
    }
    for exposure in config.exposed_secrets() {
        eprintln!("{exposure}");
    }
    for device in &config.devices {
        for (check, why) in camwatch::config::checks_not_served(device) {
            eprintln!(
                "{}: warning: device {:?}: the {check} check cannot be served: {why}; it will report \
                 unknown \"not supported by this device\"; set [device.snmp] checks without \"{check}\"",
                config.path.display(),
                device.name
            );
        }
    }
    let web = match &config.agent.web_config_file {
        None => String::new(),
        Some(path) => match camwatch::web::config::load(path) {
            Ok(web) => {
                for warning in &web.warnings {
                    eprintln!("{}: warning: {warning}", path.display());
                }
                format!(
                    "; web config {}: {}, {} users",
                    path.display(),
                    if web.tls.is_some() { "TLS" } else { "plain HTTP" },
                    web.users.len()
                )
            }
            Err(e) => {
                eprint!("{e}");
                return exit::CONFIG;
            }
        },
    };
    println!(
        "{}: OK: {} devices, {} checks, policies: {}{web}",
        config.path.display(),
        config.devices.len(),
        checks,
        config.policies.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    exit::OK
}

/// Every SNMP session holds two 64 KiB buffers (snmp2's maximum message size) of which a poll
/// touches a few hundred bytes. From glibc's heap they are zeroed page by page when reused, so a
/// few hundred sessions in flight cost tens of MiB; from mmap they arrive zeroed by the kernel
/// and cost only the pages written. (A no-op for other C libraries.)
fn serve_big_buffers_from_mmap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; called once before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 48 * 1024);
    }
}

async fn accept_baseline(config: &Config, device: &str, by: &str, reason: &str) -> i32 {
    if config.device(device).is_none() {
        eprintln!("{}: error: no device named {device:?}", config.path.display());
        return exit::CONFIG;
    }
    let body = serde_json::json!({ "by": by, "reason": reason }).to_string();
    let path = format!("/api/v1/devices/{device}/baseline/accept");
    match client::request(config, reqwest::Method::POST, &path, Some(body)).await {
        Ok(answer) => client::report(answer),
        Err(code) => code,
    }
}

async fn acknowledge(config: &Config, incident: u64, by: &str, note: &str) -> i32 {
    let body = serde_json::json!({ "by": by, "note": note }).to_string();
    let path = format!("/api/v1/incidents/{incident}/ack");
    match client::request(config, reqwest::Method::POST, &path, Some(body)).await {
        Ok(answer) if answer.ok => match serde_json::from_str::<Incident>(&answer.body) {
            Ok(i) => {
                println!("incident {} ({} {}) acknowledged by {}", i.id, i.device, i.check, by);
                exit::OK
            }
            Err(e) => {
                eprintln!("camwatch: the agent answered something unexpected: {e}");
                exit::RUNTIME
            }
        },
        Ok(answer) => client::report(answer),
        Err(code) => code,
    }
}

fn store_check(config: &Config) -> i32 {
    let path = config.agent.data_dir.join(camwatch::config::STORE_FILE_NAME);
    if !path.exists() {
        eprintln!(
            "camwatch: no state store at {} yet (the agent makes it when it first runs)",
            path.display()
        );
        return exit::RUNTIME;
    }
    match camwatch::state::store::check(&path) {
        Ok(counts) => {
            println!("{} is whole: {counts}", path.display());
            exit::OK
        }
        Err(problems) => {
            println!(
                "{} is damaged:\n{problems}\n{}",
                path.display(),
                camwatch::state::store::way_out(&path)
            );
            exit::CHECK_FAILED
        }
    }
}

async fn list_incidents(config: &Config, open: bool, limit: u32, json: bool) -> i32 {
    let path = format!("/api/v1/incidents?open={open}&limit={limit}");
    let answer = match client::request(config, reqwest::Method::GET, &path, None).await {
        Ok(answer) if answer.ok => answer,
        Ok(answer) => return client::report(answer),
        Err(code) => return code,
    };
    if json {
        println!("{}", answer.body.trim_end());
        return exit::OK;
    }
    match serde_json::from_str::<Vec<Incident>>(&answer.body) {
        Ok(incidents) => {
            print!(
                "{}",
                console::incidents_table(&incidents, config.agent.timezone, camwatch::vocab::unix_now())
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("camwatch: the agent answered something unexpected: {e}");
            exit::RUNTIME
        }
    }
}

/// `camwatch outbox`: exit 0 when nothing is dead, 1 when some notification was refused for good.
async fn outbox(config: &Config, json: bool) -> i32 {
    let answer = match client::request(config, reqwest::Method::GET, "/api/v1/outbox", None).await {
        Ok(answer) if answer.ok => answer,
        Ok(answer) => return client::report(answer),
        Err(code) => return code,
    };
    let view: camwatch::output::http::OutboxView = match serde_json::from_str(&answer.body) {
        Ok(view) => view,
        Err(e) => {
            eprintln!("camwatch: the agent answered something unexpected: {e}");
            return exit::RUNTIME;
        }
    };
    if json {
        println!("{}", answer.body.trim_end());
    } else {
        print!(
            "{}",
            console::outbox_table(&view.pending, &view.dead, config.agent.timezone)
        );
    }
    if view.dead.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    }
}

/// `camwatch handover` and `camwatch inventory`: a new record made by the agent now, or with
/// `--last` the latest stored one; printed as text or JSON.
async fn procedure(config: &Config, procedure: Procedure, args: &ProcedureArgs) -> i32 {
    let method = if args.last {
        reqwest::Method::GET
    } else {
        reqwest::Method::POST
    };
    let text = match client::ask(config, method, &format!("/api/v1/procedures/{procedure}"), None).await {
        Ok(text) => text,
        Err(code) => return code,
    };
    let undecodable = |e: serde_json::Error| {
        eprintln!("camwatch: the agent's {procedure} record cannot be read ({e}); is the agent the same version?");
        exit::RUNTIME
    };
    let (rendered, wrong) = match procedure {
        Procedure::Handover => match serde_json::from_str::<Handover>(&text) {
            Ok(h) => (
                camwatch::procedures::text::handover_text(&h),
                h.failing.iter().any(|f| f.state.is_down()),
            ),
            Err(e) => return undecodable(e),
        },
        Procedure::Inventory => match serde_json::from_str::<Inventory>(&text) {
            Ok(i) => (camwatch::procedures::text::inventory_text(&i), !i.not_seen.is_empty()),
            Err(e) => return undecodable(e),
        },
    };
    if args.json {
        println!("{}", text.trim_end());
    } else {
        print!("{rendered}");
    }
    if wrong { exit::CHECK_FAILED } else { exit::OK }
}

async fn maintenance(config: &Config, command: MaintenanceCommand) -> i32 {
    match command {
        MaintenanceCommand::Add {
            target,
            site,
            duration,
            reason,
            by,
            from,
        } => {
            let start = match from
                .as_deref()
                .map(|f| (f, camwatch::maintenance::parse_start(f, config.agent.timezone)))
            {
                None => None,
                Some((_, Some(t))) => Some(t.timestamp() as f64),
                Some((text, None)) => {
                    eprintln!(
                        "camwatch: --from {text:?} is not a date and time; write \"2026-12-01 22:00\" (the agent's time zone) or RFC 3339"
                    );
                    return exit::CONFIG;
                }
            };
            let mut body = serde_json::json!({
                "seconds": duration.as_secs_f64(),
                "reason": reason,
                "by": by,
                "start": start,
            });
            body[if site { "site" } else { "device" }] = serde_json::Value::String(target);
            match client::ask(
                config,
                reqwest::Method::POST,
                "/api/v1/maintenance",
                Some(body.to_string()),
            )
            .await
            {
                Ok(text) => match serde_json::from_str::<camwatch::maintenance::Window>(&text) {
                    Ok(w) => {
                        println!(
                            "maintenance window {} on {} until {}: {}",
                            w.id,
                            w.target,
                            camwatch::vocab::local_time(w.end, config.agent.timezone),
                            w.reason
                        );
                        exit::OK
                    }
                    Err(e) => {
                        eprintln!("camwatch: the agent answered something unexpected: {e}");
                        exit::RUNTIME
                    }
                },
                Err(code) => code,
            }
        }
        MaintenanceCommand::List { json } => {
            match client::ask(config, reqwest::Method::GET, "/api/v1/maintenance", None).await {
                Ok(text) if json => {
                    println!("{}", text.trim_end());
                    exit::OK
                }
                Ok(text) => match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                    Ok(list) => {
                        print!("{}", console::maintenance_table(&list, config.agent.timezone));
                        exit::OK
                    }
                    Err(e) => {
                        eprintln!("camwatch: the agent answered something unexpected: {e}");
                        exit::RUNTIME
                    }
                },
                Err(code) => code,
            }
        }
        MaintenanceCommand::End { id } => {
            match client::ask(
                config,
                reqwest::Method::POST,
                &format!("/api/v1/maintenance/{id}/end"),
                None,
            )
            .await
            {
                Ok(_) => {
                    println!("maintenance window {id} ended");
                    exit::OK
                }
                Err(code) => code,
            }
        }
    }
}

async fn report(
    config: &Config,
    period: Option<&str>,
    format: ReportFormat,
    output: Option<&std::path::Path>,
    unreachable: camwatch::report::Unreachable,
    prometheus: Option<&str>,
) -> i32 {
    let tz = config.agent.timezone;
    let now = camwatch::vocab::unix_now();
    let this_month = || camwatch::report::period::this_month(now, tz);
    let period = match camwatch::report::period::parse(period.map_or_else(this_month, str::to_owned).as_str(), tz) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("camwatch: {why}");
            return exit::CONFIG;
        }
    };
    if format == ReportFormat::Csv && output.is_none() {
        eprintln!("camwatch: --format csv writes one file per table: give a folder with -o");
        return exit::CONFIG;
    }
    let report = if let Some(url) = prometheus {
        match camwatch::report::prometheus::build(config, url, period, unreachable, now).await {
            Ok(r) => r,
            Err(why) => {
                eprintln!("camwatch: {why}");
                return exit::RUNTIME;
            }
        }
    } else {
        let path = config.agent.data_dir.join(camwatch::config::STORE_FILE_NAME);
        let built = camwatch::state::store::open_reader(&path)
            .and_then(|conn| camwatch::report::build(config, &conn, period, unreachable, now));
        match built {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "camwatch: cannot read the state store {} ({e}); has `camwatch run` recorded anything with this configuration?",
                    path.display()
                );
                return exit::RUNTIME;
            }
        }
    };
    let text = match format {
        ReportFormat::Html => camwatch::report::html::render(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        ReportFormat::Csv => {
            let dir = output.expect("checked above");
            return match camwatch::report::csv::write(&report, dir) {
                Ok(files) => {
                    println!("{}: {}", dir.display(), files.join(", "));
                    exit::OK
                }
                Err(e) => {
                    eprintln!("camwatch: cannot write {}: {e}", dir.display());
                    exit::RUNTIME
                }
            };
        }
    };
    match output {
        Some(file) => match std::fs::write(file, text) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("camwatch: cannot write {}: {e}", file.display());
                exit::RUNTIME
            }
        },
        None => {
            print!("{text}");
            exit::OK
        }
    }
}
