//! Configuration: parse the TOML file, check it whole, and resolve it once into the effective
//! settings every device runs with. Nothing downstream asks "which value wins?": built-in
//! defaults, then the named policy, then the device's own overrides, are layered here.
//!
//! Every problem is collected before giving up, so `check-config` shows all of them at once.

mod alertmanager;
mod backup;
mod cameras;
pub mod diagnostic;
pub mod email;
mod footage;
mod isapi;
mod maintenance;
mod nut;
mod policy;
pub mod presets;
mod procedures;
mod raw;
pub mod secret;
mod snmp;
mod sources;
mod tls;
mod upstream;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use alertmanager::{AlertmanagerAuth, AlertmanagerSettings, DEFAULT_RESEND_EVERY as ALERTMANAGER_DEFAULT_RESEND};
pub use backup::{BackupSpec, DEFAULT_PATTERN as DEFAULT_BACKUP_PATTERN, FilePattern};
pub use cameras::{OnvifSpec, SnapshotSpec, StreamSpec};
pub use diagnostic::{ConfigError, Diagnostic};
pub use nut::{NutSpec, NutTls};
pub use policy::Policy;
pub use procedures::{Procedure, ProcedureTimes, TimeOfDay};
use raw::{RawConfig, RawDevice};
pub use raw::{SnmpAuthProtocol, SnmpPrivProtocol};
pub use secret::{Credentials, SecretFileRef, SecretSource};
pub use snmp::{RecorderVendor, SnmpAuth, SnmpSpec, SnmpValueSpec, UpsMib, checks_not_served, parse_oid};
use sources::{Checks, Source};
pub use tls::TlsTrust;
use toml::Spanned;

use crate::model::{CheckKind, DeviceKind};

pub const DEFAULT_PATH: &str = "/etc/camwatch/camwatch.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9810";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/camwatch";
pub const DEFAULT_POLICY: &str = "default";

/// The state store's file inside `[agent] data_dir`: configuration decides where the store lives.
pub const STORE_FILE_NAME: &str = "camwatch.sqlite";

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub agent: AgentSettings,
    pub policies: BTreeMap<String, Policy>,
    pub devices: Vec<Arc<Device>>,
    /// When the shift handover and the end-of-day inventory run (agent time zone).
    pub procedures: ProcedureTimes,
    /// Planned work windows (`[[maintenance]]`).
    pub maintenance: Vec<crate::maintenance::Rule>,
    /// `[email]`: absent, nothing is mailed and nothing is queued.
    pub email: Option<email::EmailSettings>,
    /// Where incidents are posted as alerts; `None`: nowhere.
    pub alertmanager: Option<AlertmanagerSettings>,
    /// Every `*_file` secret reference, where it is written (see [`Config::exposed_secrets`]).
    pub secret_files: Vec<SecretFileRef>,
}

impl Config {
    pub fn device(&self, name: &str) -> Option<&Arc<Device>> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// Secret files every user of this machine can read, named by a configuration file every
    /// user can read too: anyone can find them and read them. One warning per file.
    pub fn exposed_secrets(&self) -> Vec<secret::Exposure<'_>> {
        secret::exposed(&self.path, &self.secret_files)
    }
}

/// The default of `[agent] results_sample`: an hour, 24 rows a day for a steady check (see
/// `state::thinning`).
pub const RESULTS_SAMPLE_DEFAULT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub site: String,
    /// Upper bound on probes running at the same moment, across all devices.
    pub max_in_flight: usize,
    /// How long raw check results are kept (transitions are kept for `history_keep`).
    pub results_keep: Duration,
    /// A check whose results say nothing new still writes one this often (zero: every result).
    pub results_sample: Duration,
    pub history_keep: Duration,
    /// The exporter-toolkit web configuration (TLS, users); `--web.config.file` overrides it.
    pub web_config_file: Option<PathBuf>,
    /// With users configured: whether `/metrics`, `/-/healthy` and `/-/ready` need a login too.
    pub metrics_auth: bool,
    /// Whether a reload may leave the agent watching nothing: an emptied or truncated file
    /// otherwise looks exactly like that.
    pub allow_no_devices: bool,
    /// HTTP connections open at once (never more than a quarter of the descriptor limit).
    pub max_http_connections: usize,
    /// An HTTP connection with nothing sent or received for this long is closed.
    pub http_idle_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
    pub address: Option<String>,
    pub site: String,
    pub room: String,
    pub location: String,
    pub owner: Option<String>,
    pub parent: Option<String>,
    pub policy_name: String,
    /// Shared by every device whose resolved policy is equal (see [`Resolver::intern_policy`]):
    /// a thousand devices on one policy hold one copy of its clauses, not a thousand.
    pub policy: Arc<Policy>,
    pub checks: Vec<CheckSpec>,
    pub credentials: Option<Credentials>,
}

impl Device {
    pub fn check(&self, kind: CheckKind) -> Option<&CheckSpec> {
        self.checks.iter().find(|c| c.kind() == kind)
    }

    /// The footage the retention check must see, seconds back from now: the longest retention
    /// the policy requires of the device or any of its cameras (a camera with rules of its own
    /// may require more than the device). Each footage source reads a margin beyond it.
    pub fn footage_window_seconds(&self) -> i64 {
        let days = (self.policy.cameras.values())
            .map(|p| p.retention_days)
            .fold(self.policy.retention_days, u32::max);
        i64::from(days) * 86_400
    }

    /// Every secret this device's checks will read, with what it is for.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        let mut found: Vec<(&'static str, &SecretSource)> = Vec::new();
        if let Some(password) = self.credentials.as_ref().and_then(|c| c.password.as_ref()) {
            found.push(("password", password));
        }
        for check in &self.checks {
            let snmp = match check {
                CheckSpec::Ups(UpsSpec::Snmp(spec, _))
                | CheckSpec::Uptime(UptimeSpec::Snmp(spec))
                | CheckSpec::Storage(spec)
                | CheckSpec::RecorderDisks(RecorderDisksSpec::Snmp(spec, _))
                | CheckSpec::SnmpValues(spec, _) => Some(spec),
                // ISAPI logs in with the device's own username and password (listed above).
                CheckSpec::Uptime(UptimeSpec::Isapi(_)) | CheckSpec::RecorderDisks(RecorderDisksSpec::Isapi(_)) => None,
                CheckSpec::Ups(UpsSpec::Nut(nut)) => {
                    found.extend(nut.password.as_ref().map(|p| ("NUT password", p)));
                    None
                }
                CheckSpec::Ping(_)
                | CheckSpec::Filesystem(_)
                | CheckSpec::Onvif(_)
                | CheckSpec::Clock(_)
                | CheckSpec::Baseline(_)
                | CheckSpec::Stream(_)
                | CheckSpec::Image(_)
                | CheckSpec::Backup(_) => None,
                CheckSpec::Retention(_) | CheckSpec::Availability(_) => None,
            };
            match snmp.map(|s| &s.auth) {
                Some(SnmpAuth::V1 { community } | SnmpAuth::V2c { community }) => {
                    found.push(("SNMP community", community))
                }
                Some(SnmpAuth::V3 { auth, privacy, .. }) => {
                    found.extend(auth.as_ref().map(|(_, s)| ("SNMPv3 auth password", s)));
                    found.extend(privacy.as_ref().map(|(_, s)| ("SNMPv3 privacy password", s)));
                }
                None => {}
            }
        }
        found.dedup_by(|a, b| a.1 == b.1);
        found
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckSpec {
    Ping(PingSpec),
    Filesystem(FilesystemSpec),
    Ups(UpsSpec),
    /// Boot time and reboots, over SNMP or ISAPI.
    Uptime(UptimeSpec),
    /// HOST-RESOURCES-MIB disks and volumes, over SNMP.
    Storage(Arc<SnmpSpec>),
    /// A recorder's drives, from its vendor MIB or ISAPI.
    RecorderDisks(RecorderDisksSpec),
    SnmpValues(Arc<SnmpSpec>, Vec<SnmpValueSpec>),
    /// The camera answers ONVIF; who it is.
    Onvif(Arc<OnvifSpec>),
    /// Its clock against ours.
    Clock(Arc<OnvifSpec>),
    /// Its identity and settings against the approved baseline.
    Baseline(Arc<OnvifSpec>),
    /// Its video stream answers RTSP DESCRIBE with a video track.
    Stream(StreamSpec),
    /// Its snapshot is a usable picture.
    Image(SnapshotSpec),
    /// Footage backups land in a folder, recently, readable and whole.
    Backup(BackupSpec),
    /// Every camera's footage reaches back far enough, without gaps, read from one source.
    Retention(RetentionSource),
    /// A recorder runs 24 hours a day: interruptions and availability from the state history.
    Availability(AvailabilitySpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilitySpec {
    /// The state store whose history is read.
    pub store: PathBuf,
    /// The configured maintenance windows that cover this device (excluded from availability).
    pub maintenance: Vec<crate::maintenance::Rule>,
}

/// Where a device's footage is read from: each source is a probe of its own, and all of them
/// feed the same retention judge.
#[derive(Debug, Clone, PartialEq)]
pub enum RetentionSource {
    /// Footage folders on the host camwatch runs on.
    Folders(Arc<FootageSpec>),
    /// An ONVIF Profile G recorder (an NVR, or a camera recording to its SD card), read through
    /// its search service.
    Onvif(Arc<OnvifRecordingsSpec>),
    /// A Hikvision recorder's own recording search (ISAPI).
    Isapi(Arc<IsapiSpec>),
}

/// A recorder's footage, asked over ONVIF with the device's own ONVIF settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnvifRecordingsSpec {
    pub onvif: Arc<OnvifSpec>,
    /// Recordings (by source name, or token) that must exist (empty: whatever the recorder holds).
    pub recordings: Vec<String>,
}

/// Where a device's uptime is read from (one source per device).
#[derive(Debug, Clone, PartialEq)]
pub enum UptimeSpec {
    Snmp(Arc<SnmpSpec>),
    Isapi(Arc<IsapiSpec>),
}

/// Where a recorder's drive states are read from (one source per device).
#[derive(Debug, Clone, PartialEq)]
pub enum RecorderDisksSpec {
    Snmp(Arc<SnmpSpec>, RecorderVendor),
    Isapi(Arc<IsapiSpec>),
}

impl CheckSpec {
    pub fn kind(&self) -> CheckKind {
        match self {
            Self::Ping(_) => CheckKind::Ping,
            Self::Filesystem(_) => CheckKind::Filesystem,
            Self::Ups(_) => CheckKind::Ups,
            Self::Uptime(_) => CheckKind::Uptime,
            Self::Storage(_) => CheckKind::Storage,
            Self::RecorderDisks(..) => CheckKind::RecorderDisks,
            Self::SnmpValues(..) => CheckKind::SnmpValues,
            Self::Onvif(_) => CheckKind::Onvif,
            Self::Clock(_) => CheckKind::Clock,
            Self::Baseline(_) => CheckKind::Baseline,
            Self::Stream(_) => CheckKind::Stream,
            Self::Image(_) => CheckKind::Image,
            Self::Backup(_) => CheckKind::Backup,
            Self::Retention(_) => CheckKind::Retention,
            Self::Availability(_) => CheckKind::Availability,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpsSpec {
    Snmp(Arc<SnmpSpec>, UpsMib),
    Nut(NutSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingMethod {
    /// ICMP echo; TCP connect to the policy's fallback port when the agent may not send ICMP.
    Icmp,
    /// TCP connect to this port: an accepted or refused connection both prove the host is up.
    Tcp(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingSpec {
    pub method: PingMethod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemSpec {
    /// Empty: every real filesystem of this host. Otherwise exactly these, and a missing one is a fault.
    pub mountpoints: Vec<String>,
}

pub use footage::{CameraFrom, FootageLayout, FootageSpec, Template, TemplatePart, VIDEO_EXTENSIONS};
pub use isapi::IsapiSpec;

/// Reads and resolves a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::whole_file(
            &label,
            format!("cannot read the configuration file: {e}"),
            "pass the right path with -c FILE or $CAMWATCH_CONFIG, or make the file readable",
        )
    })?;
    let mut config = parse_bytes(&label, bytes)?;
    config.path = path.to_path_buf();
    Ok(config)
}

/// The file's bytes as `load` read them: UTF-8 text, parsed and resolved.
pub fn parse_bytes(label: &str, bytes: Vec<u8>) -> Result<Config, ConfigError> {
    let source = String::from_utf8(bytes).map_err(|e| {
        ConfigError::whole_file(
            label,
            format!("the file is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            "save the file as UTF-8",
        )
    })?;
    parse(label, &source)
}

/// Parses and resolves configuration text; `label` names it in error messages.
pub fn parse(label: &str, source: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig =
        toml::from_str(source).map_err(|e| ConfigError::new(label, source, vec![syntax_diagnostic(&e)]))?;
    let mut resolver = Resolver::default();
    let mut config = resolver.resolve(raw);
    if resolver.diagnostics.is_empty() {
        for secret in &mut config.secret_files {
            (secret.line, secret.column) = diagnostic::line_column(source, secret.span.start);
        }
        Ok(config)
    } else {
        resolver
            .diagnostics
            .sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        Err(ConfigError::new(label, source, resolver.diagnostics))
    }
}

fn syntax_diagnostic(e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_owned();
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        if diagnostic::is_secret_key(field) {
            return Diagnostic::new(
                e.span(),
                format!("`{field}` holds a secret inline, which camwatch refuses"),
            )
            .fix(format!(
                "move the secret out of the file: write `{field}_env = \"VARIABLE\"` and set that \
                     environment variable, or `{field}_file = \"/path/to/file\"` holding only the secret"
            ));
        }
        return Diagnostic::new(e.span(), message).fix("remove the key or correct its spelling");
    }
    if let Some(duration) = message.strip_prefix("invalid duration ") {
        let detail = duration.split("; write it like").next().unwrap_or(duration);
        return Diagnostic::new(e.span(), format!("invalid duration {detail}"))
            .fix("write a duration like \"30s\", \"5m\" or \"1h 30m\"");
    }
    let fix = if message.contains("unknown variant") {
        "use one of the values listed"
    } else if message.contains("duplicate key") {
        "keep only one of the two keys"
    } else if message.contains("invalid type") || message.contains("invalid value") {
        "write the value in the form expected (see the README's configuration section)"
    } else if message.contains("missing field") {
        "add the missing key"
    } else {
        "correct the TOML syntax at this place (text such as names and addresses goes in double quotes)"
    };
    Diagnostic::new(e.span(), message).fix(fix)
}

#[derive(Default)]
struct Resolver {
    diagnostics: Vec<Diagnostic>,
    /// The state store file, which history checks read.
    store: PathBuf,
    /// `[agent] site`: the site of every device that names none.
    site: String,
    /// Every `*_file` secret met, in order.
    secret_files: Vec<SecretFileRef>,
    /// The distinct resolved policies so far, each shared by the devices that resolve to it.
    policies: Vec<Arc<Policy>>,
}

impl Resolver {
    fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>, fix: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(span, message).fix(fix));
    }

    fn resolve(&mut self, raw: RawConfig) -> Config {
        let agent = self.agent(raw.agent);
        self.store = agent.data_dir.join(STORE_FILE_NAME);
        self.site = agent.site.clone();
        let policies = self.policies(&raw.policy);
        let snmp_auth = self.snmp_auth_tables(&raw.snmp_auth);
        let devices = self.devices(raw.device, &policies, &snmp_auth);
        let procedures = raw
            .procedures
            .map_or_else(ProcedureTimes::default, |p| self.procedures(p.into_inner()));
        let maintenance = self.maintenance(&raw.maintenance, &devices, agent.timezone);
        // The availability check excludes the device's planned work: give it its windows.
        let mut devices = devices;
        for device in &mut devices {
            let Some(device) = Arc::get_mut(device) else { continue };
            let covering: Vec<_> = maintenance
                .iter()
                .filter(|r| r.target.covers(&device.name, &device.site))
                .cloned()
                .collect();
            for check in &mut device.checks {
                if let CheckSpec::Availability(spec) = check {
                    spec.maintenance = covering.clone();
                }
            }
        }
        let email = raw.email.map(|e| self.email(e));
        let alertmanager = raw.alertmanager.map(|a| self.alertmanager(a));
        Config {
            path: PathBuf::new(),
            agent,
            policies,
            devices,
            procedures,
            maintenance,
            email,
            alertmanager,
            secret_files: std::mem::take(&mut self.secret_files),
        }
    }

    fn procedures(&mut self, raw: raw::RawProcedures) -> ProcedureTimes {
        let defaults = ProcedureTimes::default();
        let mut time = |text: &Spanned<String>, what: &str| {
            let parsed = TimeOfDay::parse(text.get_ref());
            if parsed.is_none() {
                self.error(
                    Some(text.span()),
                    format!("{what} time {:?} is not a time of day", text.get_ref()),
                    if what == "inventory" {
                        "write the time as \"HH:MM\" on a 24-hour clock in the agent's time zone, e.g. \"23:55\", or \"off\""
                    } else {
                        "write times as \"HH:MM\" on a 24-hour clock in the agent's time zone, e.g. \"07:50\"; [] for none"
                    },
                );
            }
            parsed
        };
        let mut handover: Vec<TimeOfDay> = match &raw.handover {
            None => defaults.handover,
            Some(list) => list.iter().filter_map(|t| time(t, "handover")).collect(),
        };
        handover.sort();
        handover.dedup();
        let inventory = match &raw.inventory {
            None => defaults.inventory,
            Some(t) if t.get_ref() == "off" => Vec::new(),
            Some(t) => time(t, "inventory").into_iter().collect(),
        };
        ProcedureTimes { handover, inventory }
    }

    fn agent(&mut self, raw: raw::RawAgent) -> AgentSettings {
        let listen = match raw.listen {
            None => DEFAULT_LISTEN.parse().expect("default listen address parses"),
            Some(s) => s.get_ref().parse().unwrap_or_else(|_| {
                self.error(
                    Some(s.span()),
                    format!("listen address {:?} is not an IP address with a port", s.get_ref()),
                    "write it like \"127.0.0.1:9810\" or \"[::]:9810\"",
                );
                DEFAULT_LISTEN.parse().expect("default listen address parses")
            }),
        };
        let timezone = match raw.timezone {
            None => chrono_tz::UTC,
            Some(s) => s.get_ref().parse().unwrap_or_else(|_| {
                self.error(
                    Some(s.span()),
                    format!("unknown time zone {:?}", s.get_ref()),
                    "use an IANA time zone name such as \"Europe/Berlin\", \"Asia/Shanghai\" or \"UTC\"",
                );
                chrono_tz::UTC
            }),
        };
        let max_in_flight = self.count_of_at_least_one(
            raw.max_in_flight,
            64,
            "max_in_flight is 0, so no check could ever run",
            "set it to 1 or more",
        );
        let results_keep = raw
            .results_keep
            .map_or(Duration::from_secs(7 * 86_400), |d| d.get_ref().0);
        let results_sample = raw.results_sample.map_or(RESULTS_SAMPLE_DEFAULT, |d| d.get_ref().0);
        let history_keep = raw.history_keep.map_or(Duration::from_secs(396 * 86_400), |d| {
            if d.get_ref().0 < Duration::from_secs(86_400) {
                self.error(
                    Some(d.span()),
                    "history_keep is shorter than a day; reports need the state history",
                    "keep history at least \"31days\" (the default is \"13months\")",
                );
            }
            d.get_ref().0
        });
        let max_http_connections = self.count_of_at_least_one(
            raw.max_http_connections,
            256,
            "max_http_connections is 0, so nobody could reach the metrics or the status page",
            "set it to 1 or more (the default is 256)",
        );
        let http_idle_timeout = raw.http_idle_timeout.map_or(Duration::from_secs(30), |d| {
            if d.get_ref().0.is_zero() {
                self.error(
                    Some(d.span()),
                    "http_idle_timeout is 0, so every connection would be closed at once",
                    "give a duration such as \"30s\" (the default)",
                );
            }
            d.get_ref().0
        });
        AgentSettings {
            listen,
            data_dir: raw.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            timezone,
            site: raw.site.unwrap_or_default(),
            max_in_flight,
            results_keep,
            results_sample,
            history_keep,
            web_config_file: raw.web_config_file,
            metrics_auth: raw.metrics_auth.unwrap_or(true),
            allow_no_devices: raw.allow_no_devices.unwrap_or(false),
            max_http_connections,
            http_idle_timeout,
        }
    }

    /// A count that must be 1 or more (`default` when not given); 0 is an error at its place.
    fn count_of_at_least_one(&mut self, value: Option<Spanned<usize>>, default: usize, zero: &str, fix: &str) -> usize {
        match value {
            None => default,
            Some(n) => {
                if *n.get_ref() == 0 {
                    self.error(Some(n.span()), zero, fix);
                }
                *n.get_ref()
            }
        }
    }

    fn devices(
        &mut self,
        raw: Vec<Spanned<RawDevice>>,
        policies: &BTreeMap<String, Policy>,
        snmp_auth: &BTreeMap<String, SnmpAuth>,
    ) -> Vec<Arc<Device>> {
        let mut seen: HashSet<String> = HashSet::new();
        for d in &raw {
            let d = d.get_ref();
            let name = d.name.get_ref();
            if !seen.insert(name.clone()) {
                self.error(
                    Some(d.name.span()),
                    format!("device name {name:?} is used twice"),
                    "give every device its own name (names label metrics and emails)",
                );
            }
            if name == crate::model::AGENT_DEVICE {
                self.error(
                    Some(d.name.span()),
                    format!("device name {name:?} is the agent's own: its faults (a state store that cannot write) are filed under it"),
                    "give the device another name, such as \"camwatch-host\"",
                );
            }
        }
        let devices: Vec<Arc<Device>> = raw
            .iter()
            .map(|d| Arc::new(self.device(d, policies, snmp_auth, &seen)))
            .collect();
        self.check_parent_cycles(&raw);
        devices
    }

    fn device(
        &mut self,
        spanned: &Spanned<RawDevice>,
        policies: &BTreeMap<String, Policy>,
        snmp_auth: &BTreeMap<String, SnmpAuth>,
        names: &HashSet<String>,
    ) -> Device {
        let d = spanned.get_ref();
        let name = d.name.get_ref().clone();
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            self.error(
                Some(d.name.span()),
                format!("device name {name:?} is empty or has surrounding spaces or control characters"),
                "use a short plain name such as \"cam-entrance-1\"",
            );
        }
        let address = d.address.as_ref().map(|a| {
            if !is_valid_address(a.get_ref()) {
                self.error(
                    Some(a.span()),
                    format!("device {name:?}: address {:?} is neither an IP address nor a host name", a.get_ref()),
                    "write an IPv4/IPv6 address such as \"192.0.2.10\" or a DNS name such as \"nvr1.example.org\", without scheme or port",
                );
            }
            a.get_ref().clone()
        });
        if let Some(owner) = &d.owner
            && !is_plausible_email(owner.get_ref())
        {
            self.error(
                Some(owner.span()),
                format!("device {name:?}: owner {:?} is not an email address", owner.get_ref()),
                "write the maintainer's address, like \"maintenance@example.org\"",
            );
        }
        let policy_name = d
            .policy
            .as_ref()
            .map_or(DEFAULT_POLICY.to_owned(), |p| p.get_ref().clone());
        let policy = self.device_policy(d, &name, &policy_name, policies);
        let policy = self.intern_policy(policy);
        if let Some(parent) = &d.parent {
            if parent.get_ref() == &name {
                self.error(
                    Some(parent.span()),
                    format!("device {name:?} names itself as its parent"),
                    "name the switch, recorder or UPS this device depends on, or remove parent",
                );
            } else if !names.contains(parent.get_ref()) {
                self.error(
                    Some(parent.span()),
                    format!(
                        "device {name:?}: parent {:?} is not a configured device",
                        parent.get_ref()
                    ),
                    "add that device, or correct the name to one of the [[device]] names",
                );
            }
        }
        let what = format!("device {name:?}");
        let mut checks = Checks::default();
        let ping_source = || Source::table("ping", d.ping.as_ref().map(Spanned::span));
        let ping = d.ping.as_ref().map(|p| (p.get_ref().as_str(), Some(p.span())));
        match (ping, &address) {
            (Some(("off", _)), _) => {}
            (Some((_, span)), None) => self.error(
                span,
                format!("device {name:?}: ping is set but the device has no address"),
                "add an address, or remove ping",
            ),
            (None, Some(_)) => self.add_check(
                &mut checks,
                &what,
                CheckSpec::Ping(PingSpec {
                    method: PingMethod::Icmp,
                }),
                ping_source(),
            ),
            (Some((text, span)), Some(_)) => match parse_ping(text) {
                Some(method) => self.add_check(&mut checks, &what, CheckSpec::Ping(PingSpec { method }), ping_source()),
                None => self.error(
                    span,
                    format!("device {name:?}: ping {text:?} is not understood"),
                    "write \"icmp\", \"tcp:PORT\" (e.g. \"tcp:554\") or \"off\"",
                ),
            },
            (None, None) => {}
        }
        if let Some(fs) = &d.filesystem {
            let check = CheckSpec::Filesystem(FilesystemSpec {
                mountpoints: fs.get_ref().mountpoints.clone(),
            });
            self.add_check(
                &mut checks,
                &what,
                check,
                Source::table("[device.filesystem]", Some(fs.span())),
            );
            for mp in &fs.get_ref().mountpoints {
                if !mp.starts_with('/') {
                    self.error(
                        Some(fs.span()),
                        format!("device {name:?}: mount point {mp:?} is not an absolute path"),
                        "list mount points as they appear in `df`, like \"/\" or \"/srv/footage\"",
                    );
                }
            }
        }
        self.snmp_checks(d, &name, address.is_some(), snmp_auth, &mut checks);
        self.nut_checks(d, &name, address.is_some(), &mut checks);
        self.camera_checks(d, &name, address.as_deref(), &mut checks);
        self.backup_check(d.backup.as_ref(), &name, &mut checks);
        if let Some(footage) = &d.footage
            && let Some(spec) = self.footage(footage, &name)
        {
            let check = CheckSpec::Retention(RetentionSource::Folders(Arc::new(spec)));
            self.add_check(
                &mut checks,
                &what,
                check,
                Source::table("[device.footage]", Some(footage.span())),
            );
        }
        self.isapi_checks(d, &name, address.as_deref(), &mut checks);
        // A recorder's 24-hour duty is judged from what the other checks recorded about it.
        let has = |kind: CheckKind| checks.has(kind);
        if let Some((camera, table)) = d.camera_policy.iter().next()
            && !has(CheckKind::Retention)
        {
            self.error(
                Some(table.span()),
                format!("device {name:?}: camera_policy {camera:?} but the device has no footage source"),
                "add the [device.footage] table (or the recorder's retention source) these cameras record to, or remove the camera_policy",
            );
        }
        let recording_duty = d.kind.get_ref() == &DeviceKind::Recorder || has(CheckKind::Retention);
        if recording_duty && has(CheckKind::Ping) {
            let check = CheckSpec::Availability(AvailabilitySpec {
                store: self.store.clone(),
                maintenance: Vec::new(),
            });
            self.add_check(&mut checks, &what, check, Source::table("the recorder's duty", None));
        }
        // A broken [device.backup] or [device.footage] is reported on its own; "nothing to check"
        // would only add noise.
        if d.ping.is_none()
            && address.is_none()
            && d.filesystem.is_none()
            && d.backup.is_none()
            && d.footage.is_none()
            && checks.is_empty()
        {
            self.error(
                Some(d.name.span()),
                format!("device {name:?} has nothing to check"),
                "give it an address (to ping it) or a [device.filesystem] table (for the host camwatch runs on)",
            );
        }
        let password = self.secret(
            &d.password_env,
            &d.password_file,
            &format!("device {name:?}"),
            "password",
        );
        let credentials = match (&d.username, password) {
            (Some(user), password) => Some(Credentials {
                username: user.clone(),
                password,
            }),
            (None, Some(_)) => {
                self.error(
                    d.password_env
                        .as_ref()
                        .map(Spanned::span)
                        .or(d.password_file.as_ref().map(Spanned::span)),
                    format!("device {name:?} has a password but no username"),
                    "add username = \"...\"",
                );
                None
            }
            (None, None) => None,
        };
        Device {
            name,
            kind: *d.kind.get_ref(),
            address,
            site: d.site.clone().unwrap_or_else(|| self.site.clone()),
            room: d.room.clone().unwrap_or_default(),
            location: d.location.clone().unwrap_or_default(),
            owner: d.owner.as_ref().map(|o| o.get_ref().clone()),
            parent: d.parent.as_ref().map(|p| p.get_ref().clone()),
            policy_name,
            policy,
            checks: checks.into_specs(),
            credentials,
        }
    }

    /// A secret given as `{key}_env` or `{key}_file`, never both.
    fn secret(
        &mut self,
        env: &Option<Spanned<String>>,
        file: &Option<Spanned<PathBuf>>,
        what: &str,
        key: &str,
    ) -> Option<SecretSource> {
        match (env, file) {
            (Some(env), Some(_)) => {
                self.error(
                    Some(env.span()),
                    format!("{what} sets both {key}_env and {key}_file"),
                    "keep one of the two",
                );
                None
            }
            (Some(env), None) => Some(SecretSource::Env(env.get_ref().clone())),
            (None, Some(file)) => {
                self.secret_files.push(SecretFileRef {
                    owner: what.to_owned(),
                    key: format!("{key}_file"),
                    path: file.get_ref().clone(),
                    span: file.span(),
                    line: 0,
                    column: 0,
                });
                Some(SecretSource::File(file.get_ref().clone()))
            }
            (None, None) => None,
        }
    }

    fn check_parent_cycles(&mut self, raw: &[Spanned<RawDevice>]) {
        let parent_of: HashMap<&str, &Spanned<String>> = raw
            .iter()
            .filter_map(|d| Some((d.get_ref().name.get_ref().as_str(), d.get_ref().parent.as_ref()?)))
            .collect();
        let mut reported: HashSet<&str> = HashSet::new();
        for d in raw {
            let start = d.get_ref().name.get_ref().as_str();
            let mut chain = vec![start];
            let mut current = start;
            while let Some(parent) = parent_of.get(current) {
                let parent = parent.get_ref().as_str();
                if parent == current {
                    break; // self-parent is reported on its own
                }
                if parent == start {
                    if chain.iter().all(|n| !reported.contains(n)) {
                        reported.extend(chain.iter().copied());
                        let at = parent_of.get(start).map(|p| p.span());
                        chain.push(start);
                        self.error(
                            at,
                            format!("parent devices form a loop: {}", chain.join(" -> ")),
                            "a device cannot depend on itself through others; remove one parent in the loop",
                        );
                    }
                    break;
                }
                if chain.contains(&parent) || chain.len() > parent_of.len() {
                    break; // a loop that does not pass through `start`: reported from its own members
                }
                chain.push(parent);
                current = parent;
            }
        }
    }
}

fn parse_ping(text: &str) -> Option<PingMethod> {
    match text {
        "icmp" => Some(PingMethod::Icmp),
        _ => text
            .strip_prefix("tcp:")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .map(PingMethod::Tcp),
    }
}

pub fn is_valid_address(text: &str) -> bool {
    if text.parse::<IpAddr>().is_ok() {
        return true;
    }
    let host = text.strip_suffix('.').unwrap_or(text);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        // All-numeric dotted names are mistyped IPv4 addresses, not host names.
        && !host.split('.').all(|label| label.chars().all(|c| c.is_ascii_digit()))
}

fn is_plausible_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && domain.contains('.')
                && !text.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> String {
        parse("t.toml", src).unwrap_err().to_string()
    }

    #[test]
    fn minimal_device_gets_default_policy_and_ping() {
        let c = parse(
            "t.toml",
            "[[device]]\nname = \"cam\"\nkind = \"camera\"\naddress = \"192.0.2.1\"\n",
        )
        .unwrap();
        let d = &c.devices[0];
        assert_eq!(*d.policy, Policy::default());
        assert_eq!(
            d.checks,
            vec![CheckSpec::Ping(PingSpec {
                method: PingMethod::Icmp
            })]
        );
    }

    #[test]
    fn layers_apply_in_order() {
        let c = parse(
            "t.toml",
            r#"
[policy.fast]
interval = "20s"
timeout = "5s"
[[device]]
name = "a"
kind = "camera"
address = "192.0.2.1"
policy = "fast"
ping = "tcp:554"
[device.overrides]
timeout = "2s"
"#,
        )
        .unwrap();
        let d = &c.devices[0];
        assert_eq!(d.policy.interval, Duration::from_secs(20));
        assert_eq!(d.policy.timeout, Duration::from_secs(2));
        assert_eq!(d.policy.failures_before_failed, 3);
        assert_eq!(
            d.checks,
            vec![CheckSpec::Ping(PingSpec {
                method: PingMethod::Tcp(554)
            })]
        );
    }

    #[test]
    fn devices_with_equal_policies_share_one() {
        let c = parse(
            "t.toml",
            r#"
[policy.fast]
interval = "20s"
[policy.same_as_fast]
interval = "20s"
[[device]]
name = "a"
kind = "camera"
address = "192.0.2.1"
policy = "fast"
[[device]]
name = "b"
kind = "camera"
address = "192.0.2.2"
policy = "fast"
[[device]]
name = "c"
kind = "camera"
address = "192.0.2.3"
policy = "same_as_fast"
[[device]]
name = "d"
kind = "camera"
address = "192.0.2.4"
policy = "fast"
[device.overrides]
timeout = "2s"
"#,
        )
        .unwrap();
        let [a, b, c, d] = &c.devices[..] else {
            panic!("four devices");
        };
        assert!(Arc::ptr_eq(&a.policy, &b.policy), "same named policy");
        assert!(Arc::ptr_eq(&a.policy, &c.policy), "another name, equal rules");
        assert!(!Arc::ptr_eq(&a.policy, &d.policy), "overrides make another policy");
        assert_eq!(d.policy.timeout, Duration::from_secs(2));
    }

    #[test]
    fn all_semantic_problems_are_reported_at_once() {
        let text = errors(
            r#"
[[device]]
name = "a"
kind = "camera"
address = "999.1.1.1"
policy = "nope"
parent = "b"
[[device]]
name = "b"
kind = "switch"
address = "192.0.2.2"
parent = "a"
[[device]]
name = "b"
kind = "switch"
address = "192.0.2.3"
"#,
        );
        assert!(
            text.contains("t.toml:5:11: error: device \"a\": address \"999.1.1.1\""),
            "{text}"
        );
        assert!(
            text.contains("t.toml:6:10: error: device \"a\": unknown policy \"nope\""),
            "{text}"
        );
        assert!(text.contains("parent devices form a loop: a -> b -> a"), "{text}");
        assert!(
            text.contains("t.toml:14:8: error: device name \"b\" is used twice"),
            "{text}"
        );
    }

    #[test]
    fn inline_secret_is_refused_without_echoing_it() {
        let text = errors("[[device]]\nname = \"a\"\nkind = \"camera\"\npassword = \"hunter2\"\n");
        assert!(text.contains("t.toml:4:1"), "{text}");
        assert!(text.contains("password_env"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn address_forms() {
        for ok in ["192.0.2.1", "::1", "nvr-1.example.org", "localhost"] {
            assert!(is_valid_address(ok), "{ok}");
        }
        for bad in ["", "http://cam", "cam:80", "1.2.3", "-x.org", "a..b", "999.1.1.1"] {
            assert!(!is_valid_address(bad), "{bad}");
        }
    }
}
