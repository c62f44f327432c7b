//! Configuration: parse the TOML file, check it whole, and resolve it once into the effective
//! settings every device runs with. Nothing downstream asks "which value wins?": built-in
//! defaults, then the named policy, then the device's own overrides, are layered here.
//!
//! Every problem is collected before giving up, so `check-config` shows all of them at once.

mod alertmanager;
mod backup;
pub mod diagnostic;
pub mod email;
mod footage;
mod isapi;
mod maintenance;
pub mod presets;
mod procedures;
mod protocols;
mod raw;
pub mod secret;
mod sources;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use alertmanager::{AlertmanagerAuth, AlertmanagerSettings, DEFAULT_RESEND_EVERY as ALERTMANAGER_DEFAULT_RESEND};
pub use backup::{BackupSpec, DEFAULT_PATTERN as DEFAULT_BACKUP_PATTERN, FilePattern};
pub use diagnostic::{ConfigError, Diagnostic};
pub use procedures::{Procedure, ProcedureTimes, TimeOfDay};
pub use protocols::parse_oid;
use raw::{RawConfig, RawDevice, RawPolicy};
pub use raw::{SnmpAuthProtocol, SnmpPrivProtocol};
pub use secret::{Credentials, SecretFileRef, SecretSource};
use sources::{Checks, Source};
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
    pub history_keep: Duration,
    /// The exporter-toolkit web configuration (TLS, users); `--web.config.file` overrides it.
    pub web_config_file: Option<PathBuf>,
    /// With users configured: whether `/metrics`, `/-/healthy` and `/-/ready` need a login too.
    pub metrics_auth: bool,
}

/// The procedure's rules, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub interval: Duration,
    pub timeout: Duration,
    pub failures_before_failed: u32,
    pub successes_before_recovered: u32,
    pub ping_count: u32,
    pub ping_fallback_port: u16,
    pub ping_loss_warning_ratio: f64,
    pub ping_rtt_warning: Duration,
    pub filesystem_warning_free_percent: f64,
    pub filesystem_failed_free_percent: f64,
    /// On battery is a warning at once, and a failure after this long.
    pub ups_on_battery_failed_after: Duration,
    /// Estimated battery runtime under this is a failure.
    pub ups_min_runtime: Duration,
    /// A reboot keeps the uptime check at warning for this long (0 turns that off).
    pub uptime_warning_after_reboot: Duration,
    /// A device clock off by more than this is a warning (footage timestamps are evidence).
    pub clock_warning_offset: Duration,
    /// ... and by more than this a failure.
    pub clock_failed_offset: Duration,
    /// Mean brightness (0..1) under which a picture is black or too dark.
    pub image_dark_brightness: f64,
    /// Mean brightness (0..1) over which a picture is washed out.
    pub image_bright_brightness: f64,
    /// Contrast (standard deviation of brightness, 0..1) under which the picture is flat: a
    /// covered lens, fog, a uniform test card.
    pub image_low_contrast: f64,
    /// Sharpness under this share of the camera's own recent sharpness is blurred (scenes differ,
    /// so blur is judged against the camera itself).
    pub image_blur_ratio: f64,
    /// Identical pictures on this many polls in a row: the picture is frozen.
    pub image_frozen_polls: u32,
    /// The newest backup must be younger than this.
    pub backup_max_age: Duration,
    /// The procedure's sentence the backup rule enforces, quoted when it is broken.
    pub clause_backup: String,
    /// Footage must reach back this many days, without gaps, for every camera.
    pub retention_days: u32,
    /// A span without footage longer than this is a recording gap.
    pub max_recording_gap: Duration,
    /// Newest footage at most this old means the camera is recording now.
    pub recording_freshness: Duration,
    /// Retention forecast to fall under the requirement within this: warning.
    pub retention_forecast_warning: Duration,
    /// The procedure's sentence the retention rule enforces (`{retention_days}` and
    /// `{max_recording_gap}` are filled in where shown).
    pub clause_retention: String,
    /// The procedure's sentence the recording (24 h, no gaps) rule enforces.
    pub clause_recording: String,
    /// A recorder must be available at least this share of a month (0..1; 0.999 = 99.9 %).
    pub availability_target: f64,
    /// The procedure's sentence the availability rule enforces (`{availability_target}` filled in).
    pub clause_availability: String,
    /// Cameras of the device's footage with retention rules of their own (`[device.camera_policy]`).
    pub cameras: BTreeMap<String, Policy>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            failures_before_failed: 3,
            successes_before_recovered: 2,
            ping_count: 3,
            ping_fallback_port: 80,
            ping_loss_warning_ratio: 0.2,
            ping_rtt_warning: Duration::from_millis(500),
            filesystem_warning_free_percent: 15.0,
            filesystem_failed_free_percent: 5.0,
            ups_on_battery_failed_after: Duration::from_secs(300),
            ups_min_runtime: Duration::from_secs(600),
            uptime_warning_after_reboot: Duration::from_secs(3600),
            clock_warning_offset: Duration::from_secs(5),
            clock_failed_offset: Duration::from_secs(60),
            image_dark_brightness: 0.08,
            image_bright_brightness: 0.97,
            image_low_contrast: 0.03,
            image_blur_ratio: 0.35,
            image_frozen_polls: 3,
            backup_max_age: Duration::from_secs(7 * 86_400),
            clause_backup: "Footage is backed up at least once a week.".to_owned(),
            retention_days: 30,
            max_recording_gap: Duration::from_secs(300),
            recording_freshness: Duration::from_secs(300),
            retention_forecast_warning: Duration::from_secs(7 * 86_400),
            clause_retention: presets::COMPANY_RETENTION.to_owned(),
            clause_recording: presets::COMPANY_RECORDING.to_owned(),
            availability_target: 0.999,
            clause_availability: presets::COMPANY_AVAILABILITY.to_owned(),
            cameras: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// This policy with every value `layer` sets replacing ours.
    fn layered(&self, layer: &RawPolicy) -> Policy {
        fn pick<T: Clone>(layer: &Option<Spanned<T>>, base: T) -> T {
            layer.as_ref().map_or(base, |v| v.get_ref().clone())
        }
        Policy {
            interval: pick(&layer.interval, raw::HumanDuration(self.interval)).0,
            timeout: pick(&layer.timeout, raw::HumanDuration(self.timeout)).0,
            failures_before_failed: pick(&layer.failures_before_failed, self.failures_before_failed),
            successes_before_recovered: pick(&layer.successes_before_recovered, self.successes_before_recovered),
            ping_count: pick(&layer.ping_count, self.ping_count),
            ping_fallback_port: pick(&layer.ping_fallback_port, self.ping_fallback_port),
            ping_loss_warning_ratio: pick(&layer.ping_loss_warning_ratio, self.ping_loss_warning_ratio),
            ping_rtt_warning: pick(&layer.ping_rtt_warning, raw::HumanDuration(self.ping_rtt_warning)).0,
            filesystem_warning_free_percent: pick(
                &layer.filesystem_warning_free_percent,
                self.filesystem_warning_free_percent,
            ),
            filesystem_failed_free_percent: pick(
                &layer.filesystem_failed_free_percent,
                self.filesystem_failed_free_percent,
            ),
            ups_on_battery_failed_after: pick(
                &layer.ups_on_battery_failed_after,
                raw::HumanDuration(self.ups_on_battery_failed_after),
            )
            .0,
            ups_min_runtime: pick(&layer.ups_min_runtime, raw::HumanDuration(self.ups_min_runtime)).0,
            uptime_warning_after_reboot: pick(
                &layer.uptime_warning_after_reboot,
                raw::HumanDuration(self.uptime_warning_after_reboot),
            )
            .0,
            clock_warning_offset: pick(
                &layer.clock_warning_offset,
                raw::HumanDuration(self.clock_warning_offset),
            )
            .0,
            clock_failed_offset: pick(&layer.clock_failed_offset, raw::HumanDuration(self.clock_failed_offset)).0,
            image_dark_brightness: pick(&layer.image_dark_brightness, self.image_dark_brightness),
            image_bright_brightness: pick(&layer.image_bright_brightness, self.image_bright_brightness),
            image_low_contrast: pick(&layer.image_low_contrast, self.image_low_contrast),
            image_blur_ratio: pick(&layer.image_blur_ratio, self.image_blur_ratio),
            image_frozen_polls: pick(&layer.image_frozen_polls, self.image_frozen_polls),
            backup_max_age: pick(&layer.backup_max_age, raw::HumanDuration(self.backup_max_age)).0,
            clause_backup: pick(&layer.clause_backup, self.clause_backup.clone()),
            retention_days: pick(&layer.retention_days, self.retention_days),
            max_recording_gap: pick(&layer.max_recording_gap, raw::HumanDuration(self.max_recording_gap)).0,
            recording_freshness: pick(&layer.recording_freshness, raw::HumanDuration(self.recording_freshness)).0,
            retention_forecast_warning: pick(
                &layer.retention_forecast_warning,
                raw::HumanDuration(self.retention_forecast_warning),
            )
            .0,
            clause_retention: pick(&layer.clause_retention, self.clause_retention.clone()),
            clause_recording: pick(&layer.clause_recording, self.clause_recording.clone()),
            availability_target: pick(&layer.availability_target, self.availability_target),
            clause_availability: pick(&layer.clause_availability, self.clause_availability.clone()),
            cameras: self.cameras.clone(),
        }
    }

    /// The rules for one camera of the device: its own, if it has some.
    pub fn for_camera(&self, camera: &str) -> &Policy {
        self.cameras.get(camera).unwrap_or(self)
    }
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
    pub policy: Policy,
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

/// How a device's TLS certificate is trusted (the probes borrow it as `probe::tls::Trust`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum TlsTrust {
    CaFile(PathBuf),
    Pinned([u8; 32]),
    #[default]
    System,
}

impl TlsTrust {
    /// Parses `AB:CD:...` or plain hex into a SHA-256 fingerprint.
    pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
        let hex: String = text.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }
}

/// How to reach a device's ONVIF device service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnvifSpec {
    /// The device service URL, `http(s)://ADDRESS:PORT/onvif/device_service`.
    pub url: String,
    pub trust: TlsTrust,
    /// The media profile whose stream and snapshot are checked (default: the first).
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// `rtsp://...` given in the configuration; otherwise asked from ONVIF.
    pub uri: Option<String>,
    pub onvif: Option<Arc<OnvifSpec>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSpec {
    /// `http(s)://...` given in the configuration; otherwise asked from ONVIF.
    pub uri: Option<String>,
    pub onvif: Option<Arc<OnvifSpec>>,
    /// A snapshot larger than this is refused unread.
    pub max_bytes: u64,
    pub trust: TlsTrust,
}

/// How to reach a device over SNMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpSpec {
    pub port: u16,
    pub auth: SnmpAuth,
    /// One request's wait for an answer; retries happen within the check's timeout.
    pub request_timeout: Duration,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpAuth {
    V1 {
        community: SecretSource,
    },
    V2c {
        community: SecretSource,
    },
    V3 {
        username: String,
        /// None: noAuthNoPriv.
        auth: Option<(SnmpAuthProtocol, SecretSource)>,
        /// None: no privacy (authNoPriv).
        privacy: Option<(SnmpPrivProtocol, SecretSource)>,
        context: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsMib {
    /// Try RFC 1628 UPS-MIB, then APC PowerNet, then Eaton XUPS.
    #[default]
    Auto,
    Rfc1628,
    Apc,
    Eaton,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecorderVendor {
    #[default]
    Auto,
    Hikvision,
    Dahua,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnmpValueSpec {
    pub name: String,
    pub oid: Vec<u64>,
    pub scale: f64,
    pub unit: String,
    pub warning_above: Option<f64>,
    pub failed_above: Option<f64>,
    pub warning_below: Option<f64>,
    pub failed_below: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpsSpec {
    Snmp(Arc<SnmpSpec>, UpsMib),
    Nut(NutSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NutTls {
    /// Plain TCP (a NUT server on the same host or a trusted network).
    #[default]
    None,
    /// STARTTLS before login; the server's certificate must verify.
    Starttls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NutSpec {
    /// The UPS name on the NUT server (`upsc NAME@host`).
    pub ups: String,
    pub port: u16,
    pub tls: NutTls,
    /// CA certificate(s) that sign the server's certificate, for STARTTLS.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
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

pub use footage::{CameraFrom, FootageLayout, FootageSpec, Template, TemplatePart};
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
}

impl Resolver {
    fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>, fix: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(span, message).fix(fix));
    }

    fn resolve(&mut self, raw: RawConfig) -> Config {
        let agent = self.agent(raw.agent);
        self.store = agent.data_dir.join(STORE_FILE_NAME);
        self.site = agent.site.clone();
        let mut policies: BTreeMap<String, Policy> = presets::all().into_iter().collect();
        for (name, table) in &raw.policy {
            let base = self.policy_base(name, table.get_ref());
            let policy = base.layered(table.get_ref());
            self.check_policy(&policy, table.get_ref(), table.span(), &format!("policy {name:?}"));
            policies.insert(name.clone(), policy);
        }
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
        let max_in_flight = raw.max_in_flight.map_or(64, |n| {
            if *n.get_ref() == 0 {
                self.error(
                    Some(n.span()),
                    "max_in_flight is 0, so no check could ever run",
                    "set it to 1 or more",
                );
            }
            *n.get_ref()
        });
        let results_keep = raw
            .results_keep
            .map_or(Duration::from_secs(7 * 86_400), |d| d.get_ref().0);
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
        AgentSettings {
            listen,
            data_dir: raw.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            timezone,
            site: raw.site.unwrap_or_default(),
            max_in_flight,
            results_keep,
            history_keep,
            web_config_file: raw.web_config_file,
            metrics_auth: raw.metrics_auth.unwrap_or(true),
        }
    }

    /// Checks a resolved policy; `raw` says which values were written here, to point at them.
    fn check_policy(&mut self, policy: &Policy, raw: &RawPolicy, table: Range<usize>, what: &str) {
        let at = |field: Option<Range<usize>>| Some(field.unwrap_or_else(|| table.clone()));
        let span_of = |v: &Option<Spanned<raw::HumanDuration>>| v.as_ref().map(Spanned::span);
        if policy.interval < Duration::from_secs(1) {
            self.error(
                at(span_of(&raw.interval)),
                format!(
                    "{what}: interval {} is shorter than one second",
                    humantime::format_duration(policy.interval)
                ),
                "use an interval of at least \"1s\"",
            );
        }
        if policy.timeout.is_zero() {
            self.error(
                at(span_of(&raw.timeout)),
                format!("{what}: timeout is zero"),
                "give checks time to answer, e.g. \"10s\"",
            );
        }
        if policy.interval < policy.timeout {
            self.error(
                at(span_of(&raw.interval).or(span_of(&raw.timeout))),
                format!(
                    "{what}: interval {} is shorter than timeout {}, so a slow check would still be running when the next one starts",
                    humantime::format_duration(policy.interval),
                    humantime::format_duration(policy.timeout)
                ),
                "make interval at least as long as timeout, or shorten timeout",
            );
        }
        for (value, field, name) in [
            (
                policy.failures_before_failed,
                &raw.failures_before_failed,
                "failures_before_failed",
            ),
            (
                policy.successes_before_recovered,
                &raw.successes_before_recovered,
                "successes_before_recovered",
            ),
        ] {
            if value == 0 {
                self.error(
                    at(field.as_ref().map(Spanned::span)),
                    format!("{what}: {name} is 0"),
                    "set it to 1 or more",
                );
            }
        }
        if !(1..=100).contains(&policy.ping_count) {
            self.error(
                at(raw.ping_count.as_ref().map(Spanned::span)),
                format!("{what}: ping_count {} is out of range", policy.ping_count),
                "send between 1 and 100 echoes per check",
            );
        }
        if policy.ping_fallback_port == 0 {
            self.error(
                at(raw.ping_fallback_port.as_ref().map(Spanned::span)),
                format!("{what}: ping_fallback_port is 0"),
                "use a TCP port the devices listen on, such as 80 or 554",
            );
        }
        if !(0.0..=1.0).contains(&policy.ping_loss_warning_ratio) {
            self.error(
                at(raw.ping_loss_warning_ratio.as_ref().map(Spanned::span)),
                format!(
                    "{what}: ping_loss_warning_ratio {} is not a ratio",
                    policy.ping_loss_warning_ratio
                ),
                "write a ratio between 0 and 1, e.g. 0.2 for 20 %",
            );
        }
        let warn = policy.filesystem_warning_free_percent;
        let fail = policy.filesystem_failed_free_percent;
        for (value, field, name) in [
            (
                warn,
                &raw.filesystem_warning_free_percent,
                "filesystem_warning_free_percent",
            ),
            (
                fail,
                &raw.filesystem_failed_free_percent,
                "filesystem_failed_free_percent",
            ),
        ] {
            if !(0.0..=100.0).contains(&value) {
                self.error(
                    at(field.as_ref().map(Spanned::span)),
                    format!("{what}: {name} {value} is not a percentage"),
                    "write a number between 0 and 100",
                );
            }
        }
        for (value, field, name) in [
            (
                policy.image_dark_brightness,
                &raw.image_dark_brightness,
                "image_dark_brightness",
            ),
            (
                policy.image_bright_brightness,
                &raw.image_bright_brightness,
                "image_bright_brightness",
            ),
            (policy.image_low_contrast, &raw.image_low_contrast, "image_low_contrast"),
            (policy.image_blur_ratio, &raw.image_blur_ratio, "image_blur_ratio"),
            (
                policy.availability_target,
                &raw.availability_target,
                "availability_target",
            ),
        ] {
            if !(0.0..=1.0).contains(&value) {
                self.error(
                    at(field.as_ref().map(Spanned::span)),
                    format!("{what}: {name} {value} is not a ratio"),
                    "write a number between 0 and 1",
                );
            }
        }
        if policy.clock_failed_offset < policy.clock_warning_offset {
            self.error(
                at(span_of(&raw.clock_failed_offset).or(span_of(&raw.clock_warning_offset))),
                format!("{what}: clock_failed_offset is smaller than clock_warning_offset"),
                "the failed offset must be the larger one (e.g. warning \"5s\", failed \"60s\")",
            );
        }
        if policy.retention_days == 0 {
            self.error(
                at(raw.retention_days.as_ref().map(Spanned::span)),
                format!("{what}: retention_days is 0"),
                "write the number of days the procedure requires footage to be kept, e.g. 30",
            );
        }
        if policy.recording_freshness.is_zero() {
            self.error(
                at(span_of(&raw.recording_freshness)),
                format!("{what}: recording_freshness is zero, so no camera could ever count as recording"),
                "allow at least one segment's length, e.g. \"5m\"",
            );
        }
        if policy.image_frozen_polls < 2 {
            self.error(
                at(raw.image_frozen_polls.as_ref().map(Spanned::span)),
                format!("{what}: image_frozen_polls must be at least 2 (one picture cannot be frozen)"),
                "use 2 or more",
            );
        }
        self.check_backup_policy(policy, raw, &at, what);
        if fail > warn {
            self.error(
                at(raw
                    .filesystem_failed_free_percent
                    .as_ref()
                    .or(raw.filesystem_warning_free_percent.as_ref())
                    .map(Spanned::span)),
                format!(
                    "{what}: filesystem_failed_free_percent {fail} is above filesystem_warning_free_percent {warn}"
                ),
                "the failed threshold must be the lower one (e.g. warning 15, failed 5)",
            );
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
        }
        let devices: Vec<Arc<Device>> = raw
            .iter()
            .map(|d| Arc::new(self.device(d, policies, snmp_auth, &seen)))
            .collect();
        self.check_parent_cycles(&raw);
        devices
    }

    /// `[device.camera_policy."NAME"]`: each camera's rules, from the device's policy (or the one
    /// the camera names) with the camera's own retention keys on top.
    fn camera_policies(
        &mut self,
        d: &RawDevice,
        name: &str,
        device_policy: &Policy,
        policies: &BTreeMap<String, Policy>,
    ) -> BTreeMap<String, Policy> {
        let mut cameras = BTreeMap::new();
        for (camera, table) in &d.camera_policy {
            let t = table.get_ref();
            let base = match &t.policy {
                Some(p) => match policies.get(p.get_ref()) {
                    Some(found) => found.clone(),
                    None => {
                        let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                        self.error(
                            Some(p.span()),
                            format!("device {name:?} camera {camera:?}: unknown policy {:?}", p.get_ref()),
                            format!("define [policy.{}] or use one of: {}", p.get_ref(), known.join(", ")),
                        );
                        continue;
                    }
                },
                None => device_policy.clone(),
            };
            let layer = RawPolicy {
                retention_days: t.retention_days.clone(),
                max_recording_gap: t.max_recording_gap.clone(),
                recording_freshness: t.recording_freshness.clone(),
                retention_forecast_warning: t.retention_forecast_warning.clone(),
                clause_retention: t.clause_retention.clone(),
                clause_recording: t.clause_recording.clone(),
                ..RawPolicy::default()
            };
            let mut policy = base.layered(&layer);
            policy.cameras.clear();
            self.check_policy(
                &policy,
                &layer,
                table.span(),
                &format!("device {name:?} camera {camera:?}"),
            );
            cameras.insert(camera.clone(), policy);
        }
        cameras
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
        let base = match policies.get(&policy_name) {
            Some(p) => p.clone(),
            None => {
                let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                self.error(
                    d.policy.as_ref().map(Spanned::span),
                    format!("device {name:?}: unknown policy {policy_name:?}"),
                    format!("define [policy.{policy_name}] or use one of: {}", known.join(", ")),
                );
                Policy::default()
            }
        };
        let policy = match &d.overrides {
            Some(o) => {
                if let Some(extends) = &o.get_ref().extends {
                    self.error(
                        Some(extends.span()),
                        format!("device {name:?}: extends belongs in a [policy.NAME] table, not in overrides"),
                        "define [policy.NAME] with extends = \"...\" and set policy = \"NAME\" on the device",
                    );
                }
                let p = base.layered(o.get_ref());
                self.check_policy(&p, o.get_ref(), o.span(), &format!("device {name:?} overrides"));
                p
            }
            None => base,
        };
        let mut policy = policy;
        policy.cameras = self.camera_policies(d, &name, &policy, policies);
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
        self.protocol_checks(d, &name, address.is_some(), snmp_auth, &mut checks);
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
        assert_eq!(d.policy, Policy::default());
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
