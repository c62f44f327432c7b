//! The configuration file exactly as written: every table refuses unknown keys, and every value a
//! later check may complain about keeps its byte span so the complaint can point at it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub agent: RawAgent,
    #[serde(default)]
    pub policy: BTreeMap<String, Spanned<RawPolicy>>,
    #[serde(default)]
    pub snmp_auth: BTreeMap<String, Spanned<RawSnmpAuth>>,
    #[serde(default)]
    pub device: Vec<Spanned<RawDevice>>,
    pub procedures: Option<Spanned<RawProcedures>>,
    #[serde(default)]
    pub maintenance: Vec<Spanned<RawMaintenance>>,
    pub email: Option<Spanned<RawEmail>>,
    pub alertmanager: Option<Spanned<RawAlertmanager>>,
}

/// `[[maintenance]]`: a planned work window on a device or a site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    pub device: Option<Spanned<String>>,
    pub site: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub cron: Option<Spanned<String>>,
    pub duration: Spanned<HumanDuration>,
    pub reason: Spanned<String>,
}

/// `[email]`: fault mail to maintenance over SMTP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub server: Spanned<String>,
    pub port: Option<Spanned<u16>>,
    pub security: Option<Spanned<EmailSecurity>>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub username: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub from: Spanned<String>,
    #[serde(default)]
    pub to: Vec<Spanned<String>>,
    #[serde(default)]
    pub route: Vec<Spanned<RawEmailRoute>>,
    #[serde(default)]
    pub escalate_to: Vec<Spanned<String>>,
    pub escalate_after: Option<Spanned<HumanDuration>>,
    pub remind_every: Option<Spanned<HumanDuration>>,
    pub group_window: Option<Spanned<HumanDuration>>,
    pub retry_after: Option<Spanned<HumanDuration>>,
    pub send_timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub quiet: Vec<Spanned<RawEmailQuiet>>,
    pub base_url: Option<Spanned<String>>,
    pub dashboard_url: Option<Spanned<String>>,
    /// Procedure records mailed to `to` when made (`["handover", "inventory"]` by default).
    pub procedures: Option<Vec<Spanned<String>>>,
    /// Reports mailed to `to` (`["monthly", "weekly"]` by default), at `report_time`.
    pub reports: Option<Vec<Spanned<String>>>,
    pub report_time: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailSecurity {
    Starttls,
    Tls,
    None,
}

/// `[[email.route]]`: faults matching every key given go to `to`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailRoute {
    pub kind: Option<Spanned<crate::model::DeviceKind>>,
    pub site: Option<String>,
    pub check: Option<Spanned<String>>,
    pub device: Option<Spanned<String>>,
    pub to: Vec<Spanned<String>>,
}

/// `[[email.quiet]]`: faults matching every key given are not mailed (during `hours` only, when set).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailQuiet {
    pub kind: Option<Spanned<crate::model::DeviceKind>>,
    pub site: Option<String>,
    pub check: Option<Spanned<String>>,
    pub severity: Option<Spanned<String>>,
    pub hours: Option<Spanned<String>>,
}

/// `[alertmanager]`: where incidents are posted as Prometheus alerts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub urls: Option<Spanned<Vec<Spanned<String>>>>,
    pub resend_every: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub ca_file: Option<PathBuf>,
    pub username: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub bearer_token_env: Option<Spanned<String>>,
    pub bearer_token_file: Option<Spanned<PathBuf>>,
    pub generator_url_base: Option<Spanned<String>>,
    pub labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// `[procedures]`: times of day (`"HH:MM"`) in the agent's time zone.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcedures {
    pub handover: Option<Vec<Spanned<String>>>,
    /// One time, or `"off"`.
    pub inventory: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub listen: Option<Spanned<String>>,
    pub data_dir: Option<PathBuf>,
    pub timezone: Option<Spanned<String>>,
    pub site: Option<String>,
    pub max_in_flight: Option<Spanned<usize>>,
    pub results_keep: Option<Spanned<HumanDuration>>,
    pub results_sample: Option<Spanned<HumanDuration>>,
    pub history_keep: Option<Spanned<HumanDuration>>,
    pub web_config_file: Option<PathBuf>,
    pub metrics_auth: Option<bool>,
    pub allow_no_devices: Option<bool>,
    pub max_http_connections: Option<Spanned<usize>>,
    pub http_idle_timeout: Option<Spanned<HumanDuration>>,
}

/// The procedure's rules. The same table shape serves `[policy.NAME]` and a device's
/// `[device.overrides]`, so "what can a device override" never drifts from "what a policy sets".
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub interval: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub failures_before_failed: Option<Spanned<u32>>,
    pub successes_before_recovered: Option<Spanned<u32>>,
    pub ping_count: Option<Spanned<u32>>,
    pub ping_fallback_port: Option<Spanned<u16>>,
    pub ping_loss_warning_ratio: Option<Spanned<f64>>,
    pub ping_rtt_warning: Option<Spanned<HumanDuration>>,
    pub filesystem_warning_free_percent: Option<Spanned<f64>>,
    pub filesystem_failed_free_percent: Option<Spanned<f64>>,
    pub ups_on_battery_failed_after: Option<Spanned<HumanDuration>>,
    pub ups_min_runtime: Option<Spanned<HumanDuration>>,
    pub uptime_warning_after_reboot: Option<Spanned<HumanDuration>>,
    pub clock_warning_offset: Option<Spanned<HumanDuration>>,
    pub clock_failed_offset: Option<Spanned<HumanDuration>>,
    pub image_dark_brightness: Option<Spanned<f64>>,
    pub image_bright_brightness: Option<Spanned<f64>>,
    pub image_low_contrast: Option<Spanned<f64>>,
    pub image_blur_ratio: Option<Spanned<f64>>,
    pub image_frozen_polls: Option<Spanned<u32>>,
    pub backup_max_age: Option<Spanned<HumanDuration>>,
    pub clause_backup: Option<Spanned<String>>,
    /// `[policy.NAME]` only: the built-in preset this policy starts from.
    pub extends: Option<Spanned<String>>,
    pub retention_days: Option<Spanned<u32>>,
    pub max_recording_gap: Option<Spanned<HumanDuration>>,
    pub recording_freshness: Option<Spanned<HumanDuration>>,
    pub retention_forecast_warning: Option<Spanned<HumanDuration>>,
    pub clause_retention: Option<Spanned<String>>,
    pub clause_recording: Option<Spanned<String>>,
    pub availability_target: Option<Spanned<f64>>,
    pub clause_availability: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub name: Spanned<String>,
    pub kind: Spanned<crate::model::DeviceKind>,
    pub address: Option<Spanned<String>>,
    pub site: Option<String>,
    pub room: Option<String>,
    pub location: Option<String>,
    pub owner: Option<Spanned<String>>,
    pub policy: Option<Spanned<String>>,
    pub parent: Option<Spanned<String>>,
    pub ping: Option<Spanned<String>>,
    pub filesystem: Option<Spanned<RawFilesystem>>,
    pub overrides: Option<Spanned<RawPolicy>>,
    pub username: Option<String>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub snmp: Option<Spanned<RawSnmp>>,
    #[serde(default)]
    pub snmp_value: Vec<Spanned<RawSnmpValue>>,
    pub nut: Option<Spanned<RawNut>>,
    pub onvif: Option<Spanned<RawOnvif>>,
    pub stream: Option<Spanned<RawStream>>,
    pub snapshot: Option<Spanned<RawSnapshot>>,
    pub backup: Option<Spanned<RawBackup>>,
    pub footage: Option<Spanned<RawFootage>>,
    /// `[device.camera_policy."NAME"]`: retention rules for one camera of this device's footage.
    #[serde(default)]
    pub camera_policy: BTreeMap<String, Spanned<RawCameraPolicy>>,
    pub isapi: Option<Spanned<RawIsapi>>,
}

/// The retention keys a single camera of a recorder may have of its own (a pharmacy camera kept
/// 90 days on a recorder whose other cameras keep 30), optionally starting from another policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCameraPolicy {
    pub policy: Option<Spanned<String>>,
    pub retention_days: Option<Spanned<u32>>,
    pub max_recording_gap: Option<Spanned<HumanDuration>>,
    pub recording_freshness: Option<Spanned<HumanDuration>>,
    pub retention_forecast_warning: Option<Spanned<HumanDuration>>,
    pub clause_retention: Option<Spanned<String>>,
    pub clause_recording: Option<Spanned<String>>,
}

/// `[device.isapi]`: a Hikvision recorder (or camera) read over its ISAPI HTTP interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIsapi {
    pub port: Option<u16>,
    pub https: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub fingerprint_sha256: Option<Spanned<String>>,
    pub checks: Option<Spanned<Vec<IsapiCheck>>>,
    pub channels: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsapiCheck {
    Retention,
    RecorderDisks,
    Uptime,
}

/// `[device.footage]`: the footage folders of a recording server camwatch runs on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFootage {
    pub root: Spanned<PathBuf>,
    pub layout: Spanned<String>,
    pub camera_from: Option<Spanned<String>>,
    pub segment_seconds: Option<Spanned<u32>>,
    pub extensions: Option<Spanned<Vec<String>>>,
    pub cameras: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnvif {
    pub port: Option<u16>,
    pub https: Option<bool>,
    pub path: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub fingerprint_sha256: Option<Spanned<String>>,
    pub profile: Option<String>,
    pub checks: Option<Spanned<Vec<OnvifCheck>>>,
    /// With the `retention` check: recordings (cameras) the recorder must hold.
    pub recordings: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnvifCheck {
    Onvif,
    Clock,
    Baseline,
    Stream,
    Image,
    /// Footage retention from the device's ONVIF Profile G recording search.
    Retention,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    pub uri: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnapshot {
    pub uri: Option<Spanned<String>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub ca_file: Option<PathBuf>,
    pub fingerprint_sha256: Option<Spanned<String>>,
}

/// How to log in over SNMP; shared by name (`[snmp_auth.NAME]`) or per device
/// (`[device.snmp.credentials]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmpAuth {
    pub version: Spanned<SnmpVersion>,
    pub community_env: Option<Spanned<String>>,
    pub community_file: Option<Spanned<PathBuf>>,
    pub username: Option<Spanned<String>>,
    pub auth_protocol: Option<Spanned<SnmpAuthProtocol>>,
    pub auth_password_env: Option<Spanned<String>>,
    pub auth_password_file: Option<Spanned<PathBuf>>,
    pub priv_protocol: Option<Spanned<SnmpPrivProtocol>>,
    pub priv_password_env: Option<Spanned<String>>,
    pub priv_password_file: Option<Spanned<PathBuf>>,
    pub context: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SnmpVersion {
    #[serde(rename = "1")]
    V1,
    #[serde(rename = "2c")]
    V2c,
    #[serde(rename = "3")]
    V3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnmpAuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnmpPrivProtocol {
    Des,
    Aes,
    Aes192,
    Aes256,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmp {
    pub auth: Option<Spanned<String>>,
    pub credentials: Option<Spanned<RawSnmpAuth>>,
    pub port: Option<Spanned<u16>>,
    pub checks: Option<Spanned<Vec<SnmpCheck>>>,
    pub ups_mib: Option<crate::config::UpsMib>,
    pub recorder_vendor: Option<crate::config::RecorderVendor>,
    pub request_timeout: Option<Spanned<HumanDuration>>,
    pub retries: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnmpCheck {
    Ups,
    Uptime,
    Storage,
    RecorderDisks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmpValue {
    pub name: Spanned<String>,
    pub oid: Spanned<String>,
    pub scale: Option<f64>,
    pub unit: Option<String>,
    pub warning_above: Option<f64>,
    pub failed_above: Option<f64>,
    pub warning_below: Option<f64>,
    pub failed_below: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNut {
    pub ups: Spanned<String>,
    pub port: Option<u16>,
    pub tls: Option<crate::config::NutTls>,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    #[serde(default)]
    pub mountpoints: Vec<String>,
}

/// `[device.backup]`; `path` is optional here so that its absence gets a message with a fix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    pub path: Option<Spanned<PathBuf>>,
    pub pattern: Option<Spanned<String>>,
    pub recursive: Option<bool>,
    pub min_files: Option<Spanned<u64>>,
    pub min_bytes: Option<Spanned<u64>>,
}

/// A duration written the way people write them: `30s`, `5m`, `1h 30m`, `13months`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\" or \"1h 30m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v).map(HumanDuration).map_err(|e| {
                    E::custom(format!(
                        "invalid duration {v:?}: {e}; write it like \"30s\", \"5m\" or \"1h 30m\""
                    ))
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}
