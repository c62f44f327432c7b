//! `[device.snmp]` (with a shared `[snmp_auth.NAME]` or the device's own
//! `[device.snmp.credentials]`) and `[[device.snmp_value]]`, resolved into checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawDevice, RawSnmpAuth, SnmpCheck, SnmpVersion};
use super::sources::{Checks, Source};
use super::{CheckSpec, Resolver, SecretSource, SnmpAuthProtocol, SnmpPrivProtocol, UpsSpec};
use crate::model::DeviceKind;

pub const SNMP_PORT: u16 = 161;

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

/// Parses a numeric OID such as `1.3.6.1.2.1.1.3.0` (a leading dot is allowed).
pub fn parse_oid(text: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = text
        .trim()
        .trim_start_matches('.')
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect();
    parts.filter(|p| p.len() >= 2 && p[0] <= 2)
}

impl Resolver {
    pub(super) fn snmp_auth_tables(
        &mut self,
        tables: &BTreeMap<String, Spanned<RawSnmpAuth>>,
    ) -> BTreeMap<String, SnmpAuth> {
        tables
            .iter()
            .filter_map(|(name, table)| Some((name.clone(), self.snmp_auth(table, &format!("snmp_auth {name:?}"))?)))
            .collect()
    }

    fn snmp_auth(&mut self, table: &Spanned<RawSnmpAuth>, what: &str) -> Option<SnmpAuth> {
        let t = table.get_ref();
        let community = self.secret(&t.community_env, &t.community_file, what, "community");
        let auth_secret = self.secret(&t.auth_password_env, &t.auth_password_file, what, "auth_password");
        let priv_secret = self.secret(&t.priv_password_env, &t.priv_password_file, what, "priv_password");
        let version_span = Some(t.version.span());
        match t.version.get_ref() {
            SnmpVersion::V1 | SnmpVersion::V2c => {
                if t.username.is_some() || t.auth_protocol.is_some() || t.priv_protocol.is_some() {
                    self.error(
                        version_span.clone(),
                        format!("{what}: username and auth/priv settings belong to SNMP version 3"),
                        "use version = \"3\", or remove them and give community_env or community_file",
                    );
                }
                let Some(community) = community else {
                    self.error(
                        version_span,
                        format!("{what}: SNMP v1/v2c needs a community"),
                        "add community_env = \"VARIABLE\" or community_file = \"/path\" (the community is a password)",
                    );
                    return None;
                };
                Some(if *t.version.get_ref() == SnmpVersion::V1 {
                    SnmpAuth::V1 { community }
                } else {
                    SnmpAuth::V2c { community }
                })
            }
            SnmpVersion::V3 => {
                if community.is_some() {
                    self.error(
                        version_span.clone(),
                        format!("{what}: SNMP v3 has no community"),
                        "remove community_env/community_file, or use version = \"2c\"",
                    );
                }
                let Some(username) = &t.username else {
                    self.error(
                        version_span,
                        format!("{what}: SNMP v3 needs a username"),
                        "add username = \"...\"",
                    );
                    return None;
                };
                let auth = self.protocol_and_secret(
                    t.auth_protocol.as_ref(),
                    auth_secret,
                    username.span(),
                    what,
                    (
                        "auth",
                        "add auth_protocol = \"sha\" (or md5, sha224, sha256, sha384, sha512)",
                    ),
                );
                let privacy = self.protocol_and_secret(
                    t.priv_protocol.as_ref(),
                    priv_secret,
                    username.span(),
                    what,
                    ("priv", "add priv_protocol = \"aes\" (or des, aes192, aes256)"),
                );
                if privacy.is_some() && auth.is_none() {
                    self.error(
                        t.priv_protocol.as_ref().map(Spanned::span),
                        format!("{what}: privacy needs authentication (there is no noAuthPriv level)"),
                        "add auth_protocol and an auth password",
                    );
                }
                Some(SnmpAuth::V3 {
                    username: username.get_ref().clone(),
                    auth,
                    privacy,
                    context: t.context.clone().unwrap_or_default(),
                })
            }
        }
    }

    /// A v3 protocol and its password come together or not at all. `kind` is ("auth" or "priv",
    /// the fix for a password without protocol).
    fn protocol_and_secret<P: Copy>(
        &mut self,
        protocol: Option<&Spanned<P>>,
        secret: Option<super::SecretSource>,
        user_span: std::ops::Range<usize>,
        what: &str,
        (kind, add_protocol): (&str, &str),
    ) -> Option<(P, super::SecretSource)> {
        match (protocol, secret) {
            (Some(p), Some(s)) => Some((*p.get_ref(), s)),
            (None, None) => None,
            (Some(p), None) => {
                self.error(
                    Some(p.span()),
                    format!("{what}: {kind}_protocol without a password"),
                    format!("add {kind}_password_env or {kind}_password_file"),
                );
                None
            }
            (None, Some(_)) => {
                self.error(
                    Some(user_span),
                    format!("{what}: a {kind} password without {kind}_protocol"),
                    add_protocol,
                );
                None
            }
        }
    }

    /// `[device.snmp]` and `[[device.snmp_value]]`.
    pub(super) fn snmp_checks(
        &mut self,
        d: &RawDevice,
        name: &str,
        has_address: bool,
        snmp_auth: &BTreeMap<String, SnmpAuth>,
        checks: &mut Checks,
    ) {
        let what = format!("device {name:?}");
        let snmp = d.snmp.as_ref().and_then(|table| {
            if !has_address {
                self.error(
                    Some(table.span()),
                    format!("{what} has [device.snmp] but no address"),
                    "add address = \"...\"",
                );
            }
            self.snmp_spec(table, &what, snmp_auth)
                .map(|spec| (Arc::new(spec), table))
        });
        if let Some((spec, table)) = &snmp {
            let t = table.get_ref();
            let wanted = match &t.checks {
                Some(list) => list.get_ref().clone(),
                None => default_snmp_checks(*d.kind.get_ref()),
            };
            let source = Source::checks_list(
                "[device.snmp]",
                Some(t.checks.as_ref().map_or(table.span(), Spanned::span)),
            );
            for check in wanted {
                let check = match check {
                    SnmpCheck::Ups => CheckSpec::Ups(UpsSpec::Snmp(Arc::clone(spec), t.ups_mib.unwrap_or_default())),
                    SnmpCheck::Uptime => CheckSpec::Uptime(super::UptimeSpec::Snmp(Arc::clone(spec))),
                    SnmpCheck::Storage => CheckSpec::Storage(Arc::clone(spec)),
                    SnmpCheck::RecorderDisks => CheckSpec::RecorderDisks(super::RecorderDisksSpec::Snmp(
                        Arc::clone(spec),
                        t.recorder_vendor.unwrap_or_default(),
                    )),
                };
                self.add_check(checks, &what, check, source.clone());
            }
        }
        if !d.snmp_value.is_empty() {
            let values: Vec<SnmpValueSpec> = d.snmp_value.iter().filter_map(|v| self.snmp_value(v, &what)).collect();
            match &snmp {
                Some((spec, _)) => {
                    let source = Source::table("[[device.snmp_value]]", Some(d.snmp_value[0].span()));
                    self.add_check(checks, &what, CheckSpec::SnmpValues(Arc::clone(spec), values), source);
                }
                None => self.error(
                    Some(d.snmp_value[0].span()),
                    format!("{what} has [[device.snmp_value]] but no [device.snmp] to read it with"),
                    "add a [device.snmp] table with auth = \"NAME\"",
                ),
            }
        }
    }

    fn snmp_spec(
        &mut self,
        table: &Spanned<super::raw::RawSnmp>,
        what: &str,
        snmp_auth: &BTreeMap<String, SnmpAuth>,
    ) -> Option<SnmpSpec> {
        let t = table.get_ref();
        let auth = match (&t.auth, &t.credentials) {
            (Some(_), Some(c)) => {
                self.error(
                    Some(c.span()),
                    format!("{what}: [device.snmp] has both auth and credentials"),
                    "keep one: a shared [snmp_auth.NAME] by auth = \"NAME\", or this device's own credentials",
                );
                None
            }
            (None, Some(c)) => self.snmp_auth(c, &format!("{what} [device.snmp.credentials]")),
            (Some(name), None) => match snmp_auth.get(name.get_ref()) {
                Some(auth) => Some(auth.clone()),
                None => {
                    let known: Vec<&str> = snmp_auth.keys().map(String::as_str).collect();
                    self.error(
                        Some(name.span()),
                        format!("{what}: unknown snmp_auth {:?}", name.get_ref()),
                        if known.is_empty() {
                            format!("define [snmp_auth.{}] with version and credentials", name.get_ref())
                        } else {
                            format!(
                                "define [snmp_auth.{}] or use one of: {}",
                                name.get_ref(),
                                known.join(", ")
                            )
                        },
                    );
                    None
                }
            },
            (None, None) => match snmp_auth.get("default") {
                Some(auth) => Some(auth.clone()),
                None => {
                    self.error(
                        Some(table.span()),
                        format!("{what}: [device.snmp] says nothing about how to log in"),
                        "add auth = \"NAME\" naming an [snmp_auth.NAME] table, or define [snmp_auth.default]",
                    );
                    None
                }
            },
        }?;
        let retries = t.retries.as_ref().map_or(1, |r| *r.get_ref());
        if retries > 10 {
            self.error(
                t.retries.as_ref().map(Spanned::span),
                format!("{what}: {retries} SNMP retries would hammer a sick device"),
                "use 0 to 3 retries",
            );
        }
        let request_timeout = t
            .request_timeout
            .as_ref()
            .map_or(Duration::from_secs(2), |d| d.get_ref().0);
        if request_timeout < Duration::from_millis(10) {
            self.error(
                t.request_timeout.as_ref().map(Spanned::span),
                format!("{what}: request_timeout is too short to hear any answer"),
                "use at least \"100ms\"; the default is \"2s\"",
            );
        }
        Some(SnmpSpec {
            port: t.port.as_ref().map_or(SNMP_PORT, |p| *p.get_ref()),
            auth,
            request_timeout,
            retries,
        })
    }

    fn snmp_value(&mut self, v: &Spanned<super::raw::RawSnmpValue>, what: &str) -> Option<SnmpValueSpec> {
        let r = v.get_ref();
        let name = r.name.get_ref();
        let valid_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            self.error(
                Some(r.name.span()),
                format!("{what}: snmp_value name {name:?} must be letters, digits, _ or -"),
                "use a short name such as \"room_temperature\"",
            );
        }
        let Some(oid) = parse_oid(r.oid.get_ref()) else {
            self.error(
                Some(r.oid.span()),
                format!("{what}: {:?} is not a numeric OID", r.oid.get_ref()),
                "write it in numbers, like \"1.3.6.1.4.1.318.1.1.10.2.3.2.1.4.1\" (look names up with snmptranslate -On)",
            );
            return None;
        };
        let pairs = [
            (r.warning_above, r.failed_above, "warning_above", "failed_above"),
            (r.failed_below, r.warning_below, "failed_below", "warning_below"),
        ];
        for (low, high, low_name, high_name) in pairs {
            if let (Some(low), Some(high)) = (low, high)
                && low > high
            {
                self.error(
                    Some(r.name.span()),
                    format!("{what}: snmp_value {name:?} has {low_name} {low} above {high_name} {high}"),
                    "failed thresholds lie beyond the warning ones",
                );
            }
        }
        Some(SnmpValueSpec {
            name: name.clone(),
            oid,
            scale: r.scale.unwrap_or(1.0),
            unit: r.unit.clone().unwrap_or_default(),
            warning_above: r.warning_above,
            failed_above: r.failed_above,
            warning_below: r.warning_below,
            failed_below: r.failed_below,
        })
    }
}

/// What a device of each kind is asked over SNMP when its `[device.snmp]` names no checks.
pub fn default_snmp_checks(kind: DeviceKind) -> Vec<SnmpCheck> {
    match kind {
        DeviceKind::Ups => vec![SnmpCheck::Ups, SnmpCheck::Uptime],
        DeviceKind::Recorder => vec![SnmpCheck::Uptime, SnmpCheck::Storage, SnmpCheck::RecorderDisks],
        DeviceKind::Storage | DeviceKind::Host => vec![SnmpCheck::Uptime, SnmpCheck::Storage],
        DeviceKind::Camera | DeviceKind::Switch | DeviceKind::Other => vec![SnmpCheck::Uptime],
    }
}

/// The checks of `device` that it is known not to serve: the device lacks the MIB they read, so
/// they would only ever say "not supported by this device". Hikvision recorders (firmware of
/// every NVR walk seen so far) answer no HOST-RESOURCES-MIB: their drives are the
/// `recorder_disks` check, read from hikDiskTable. `check-config` lists these.
pub fn checks_not_served(device: &super::Device) -> Vec<(crate::model::CheckKind, &'static str)> {
    let hikvision_recorder = device.checks.iter().any(|c| {
        matches!(
            c,
            CheckSpec::RecorderDisks(super::RecorderDisksSpec::Snmp(_, RecorderVendor::Hikvision))
        )
    });
    let storage = device.checks.iter().any(|c| matches!(c, CheckSpec::Storage(_)));
    if hikvision_recorder && storage {
        vec![(
            crate::model::CheckKind::Storage,
            "Hikvision recorders have no HOST-RESOURCES-MIB storage table (hrStorageTable); \
             their drives are the recorder_disks check",
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SecretSource, parse};

    #[test]
    fn the_default_storage_check_of_a_hikvision_recorder_is_known_not_served() {
        let config = |vendor: &str| {
            parse(
                "t.toml",
                &format!(
                    r#"
[[device]]
name = "nvr"
kind = "recorder"
address = "192.0.2.6"
ping = "off"
[device.snmp]
recorder_vendor = "{vendor}"
[device.snmp.credentials]
version = "2c"
community_env = "C"
"#
                ),
            )
            .unwrap()
        };
        let hik = config("hikvision");
        let not_served = checks_not_served(&hik.devices[0]);
        assert_eq!(not_served.len(), 1, "{not_served:?}");
        assert_eq!(not_served[0].0, crate::model::CheckKind::Storage);
        assert!(checks_not_served(&config("dahua").devices[0]).is_empty());
    }

    #[test]
    fn oids_parse_strictly() {
        assert_eq!(parse_oid(".1.3.6.1.2.1.1.3.0"), Some(vec![1, 3, 6, 1, 2, 1, 1, 3, 0]));
        assert_eq!(parse_oid("1.3"), Some(vec![1, 3]));
        for bad in ["", "1", "sysUpTime.0", "1..3", "3.1.2", "1.3.x"] {
            assert_eq!(parse_oid(bad), None, "{bad}");
        }
    }

    #[test]
    fn shared_snmp_auth_and_kind_defaults() {
        let c = parse(
            "t.toml",
            r#"
[snmp_auth.site]
version = "3"
username = "camwatch"
auth_protocol = "sha256"
auth_password_env = "SNMP_AUTH"
priv_protocol = "aes256"
priv_password_file = "/etc/camwatch/snmp-priv"
[[device]]
name = "ups-1"
kind = "ups"
address = "192.0.2.5"
ping = "off"
[device.snmp]
auth = "site"
[[device]]
name = "nvr"
kind = "recorder"
address = "192.0.2.6"
[device.nut]
ups = "rack"
"#,
        )
        .unwrap();
        let ups = &c.devices[0];
        assert_eq!(ups.checks.len(), 2);
        let CheckSpec::Ups(UpsSpec::Snmp(spec, _)) = &ups.checks[0] else {
            panic!("{:?}", ups.checks)
        };
        assert_eq!(spec.port, 161);
        let SnmpAuth::V3 { auth, privacy, .. } = &spec.auth else {
            panic!()
        };
        assert_eq!(auth.as_ref().unwrap().1, SecretSource::Env("SNMP_AUTH".into()));
        assert_eq!(privacy.as_ref().unwrap().0, crate::config::SnmpPrivProtocol::Aes256);
        let nvr = &c.devices[1];
        assert!(matches!(&nvr.checks[1], CheckSpec::Ups(UpsSpec::Nut(n)) if n.ups == "rack" && n.port == 3493));
    }

    #[test]
    fn credentials_of_the_device_itself() {
        let c = parse(
            "t.toml",
            r#"
[[device]]
name = "pdu"
kind = "other"
address = "192.0.2.9"
[device.snmp]
port = 1161
[device.snmp.credentials]
version = "1"
community_file = "/etc/camwatch/pdu-community"
[[device.snmp_value]]
name = "load"
oid = ".1.3.6.1.4.1.318.1.1.12.2.3.1.1.2.1"
scale = 0.1
unit = "amperes"
failed_above = 16
"#,
        )
        .unwrap();
        let d = &c.devices[0];
        let CheckSpec::SnmpValues(spec, values) = &d.checks[2] else {
            panic!("{:?}", d.checks)
        };
        assert_eq!(
            spec.auth,
            SnmpAuth::V1 {
                community: SecretSource::File("/etc/camwatch/pdu-community".into())
            }
        );
        assert_eq!(spec.port, 1161);
        assert_eq!(values[0].oid[..4], [1, 3, 6, 1]);
        assert_eq!(values[0].failed_above, Some(16.0));
    }

    #[test]
    fn v3_protocols_and_passwords_come_in_pairs() {
        let text = parse(
            "t.toml",
            r#"
[snmp_auth.half]
version = "3"
username = "cw"
auth_protocol = "sha"
priv_password_env = "PRIV"
"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            text.contains("snmp_auth \"half\": auth_protocol without a password"),
            "{text}"
        );
        assert!(
            text.contains("fix: add auth_password_env or auth_password_file"),
            "{text}"
        );
        assert!(text.contains("a priv password without priv_protocol"), "{text}");
    }

    #[test]
    fn snmp_mistakes_are_reported() {
        let text = parse(
            "t.toml",
            r#"
[snmp_auth.v2]
version = "2c"
[[device]]
name = "ups-1"
kind = "ups"
address = "192.0.2.5"
[device.snmp]
auth = "v3"
[[device.snmp_value]]
name = "temp"
oid = "ups.temp"
"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            text.contains("snmp_auth \"v2\": SNMP v1/v2c needs a community"),
            "{text}"
        );
        assert!(text.contains("unknown snmp_auth \"v3\""), "{text}");
        assert!(text.contains("\"ups.temp\" is not a numeric OID"), "{text}");
    }
}
