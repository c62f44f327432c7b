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
    pub device: Vec<Spanned<RawDevice>>,
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
    pub history_keep: Option<Spanned<HumanDuration>>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    #[serde(default)]
    pub mountpoints: Vec<String>,
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
