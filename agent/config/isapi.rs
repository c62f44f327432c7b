//! `[device.isapi]`: a Hikvision recorder read over ISAPI (HTTP with Digest login). It can be the
//! source of three checks: `retention` (the recorder's own recording search), `recorder_disks`
//! and `uptime`. A device has one source per check kind, so ISAPI and footage folders, or ISAPI
//! and SNMP, never both answer the same question.

use std::sync::Arc;

use toml::Spanned;

use super::raw::{IsapiCheck, RawDevice};
use super::{CheckSpec, RecorderDisksSpec, Resolver, RetentionSource, TlsTrust, UptimeSpec};

/// How to reach a device's ISAPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsapiSpec {
    /// `http(s)://ADDRESS:PORT`, without a path.
    pub base_url: String,
    /// The address as configured, for people ("ISAPI search on 192.0.2.6").
    pub host: String,
    pub trust: TlsTrust,
    /// Channels (camera names) that must have footage; empty: every channel the recorder lists.
    pub channels: Vec<String>,
}

pub const DEFAULT_CHECKS: [IsapiCheck; 3] = [IsapiCheck::Retention, IsapiCheck::RecorderDisks, IsapiCheck::Uptime];

impl Resolver {
    pub(super) fn isapi_checks(
        &mut self,
        d: &RawDevice,
        name: &str,
        address: Option<&str>,
        checks: &mut super::sources::Checks,
    ) {
        let Some(table) = &d.isapi else { return };
        let t = table.get_ref();
        let what = format!("device {name:?}");
        let Some(address) = address else {
            self.error(
                Some(table.span()),
                format!("{what} has [device.isapi] but no address"),
                "add address = \"...\" (the recorder's IP address or name)",
            );
            return;
        };
        if d.username.is_none() {
            self.error(
                Some(table.span()),
                format!("{what}: [device.isapi] needs a login"),
                "add username = \"...\" and password_env (or password_file) for a Hikvision user allowed to search recordings",
            );
        }
        let https = t.https.unwrap_or(false);
        let port = t.port.unwrap_or(if https { 443 } else { 80 });
        let host = if address.contains(':') {
            format!("[{address}]")
        } else {
            address.to_owned()
        };
        let trust = self.trust(&t.ca_file, &t.fingerprint_sha256, &format!("{what} [device.isapi]"));
        let channels = match &t.channels {
            Some(list) => {
                let mut seen = std::collections::HashSet::new();
                for channel in list.get_ref() {
                    if channel.trim().is_empty() || !seen.insert(channel.as_str()) {
                        self.error(
                            Some(list.span()),
                            format!("{what}: [device.isapi] channels has an empty or repeated name {channel:?}"),
                            "list each camera once, by the channel name the recorder shows",
                        );
                    }
                }
                list.get_ref().clone()
            }
            None => Vec::new(),
        };
        let wanted = t
            .checks
            .as_ref()
            .map_or(DEFAULT_CHECKS.to_vec(), |c| c.get_ref().clone());
        let checks_span = t.checks.as_ref().map_or(table.span(), Spanned::span);
        let spec = Arc::new(IsapiSpec {
            base_url: format!("{}://{host}:{port}", if https { "https" } else { "http" }),
            host: address.to_owned(),
            trust,
            channels,
        });
        for check in wanted {
            let check = match check {
                IsapiCheck::Retention => CheckSpec::Retention(RetentionSource::Isapi(Arc::clone(&spec))),
                IsapiCheck::RecorderDisks => CheckSpec::RecorderDisks(RecorderDisksSpec::Isapi(Arc::clone(&spec))),
                IsapiCheck::Uptime => CheckSpec::Uptime(UptimeSpec::Isapi(Arc::clone(&spec))),
            };
            let source = super::sources::Source::checks_list("[device.isapi]", Some(checks_span.clone()));
            self.add_check(checks, &what, check, source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    const HEAD: &str = "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"192.0.2.6\"\nusername = \"camwatch\"\npassword_env = \"NVR_PASSWORD\"\n";

    #[test]
    fn defaults_give_three_checks_over_http_port_80() {
        let c = parse(
            "t.toml",
            &format!("{HEAD}[device.isapi]\nchannels = [\"Front door\"]\n"),
        )
        .unwrap();
        let d = &c.devices[0];
        let CheckSpec::Retention(RetentionSource::Isapi(spec)) = &d.checks[1] else {
            panic!("{:?}", d.checks)
        };
        assert_eq!(spec.base_url, "http://192.0.2.6:80");
        assert_eq!(spec.channels, vec!["Front door".to_owned()]);
        assert!(matches!(
            d.checks[2],
            CheckSpec::RecorderDisks(RecorderDisksSpec::Isapi(_))
        ));
        assert!(matches!(d.checks[3], CheckSpec::Uptime(UptimeSpec::Isapi(_))));
        let c = parse(
            "t.toml",
            &format!("{HEAD}[device.isapi]\nhttps = true\nchecks = [\"uptime\"]\n"),
        )
        .unwrap();
        let CheckSpec::Uptime(UptimeSpec::Isapi(spec)) = &c.devices[0].checks[1] else {
            panic!("{:?}", c.devices[0].checks)
        };
        assert_eq!(spec.base_url, "https://192.0.2.6:443");
    }

    #[test]
    fn one_source_per_check_kind() {
        let err = parse(
            "t.toml",
            &format!(
                "[snmp_auth.default]\nversion = \"2c\"\ncommunity_env = \"C\"\n{HEAD}[device.snmp]\n[device.isapi]\nchecks = [\"retention\", \"uptime\"]\n"
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("device \"nvr\" reads its uptime both from [device.snmp] and from [device.isapi]"),
            "{err}"
        );
        assert!(err.contains("fix: keep one"), "{err}");
        let err = parse(
            "t.toml",
            &format!(
                "{HEAD}[device.footage]\nroot = \"/srv\"\nlayout = \"mtime\"\nsegment_seconds = 60\n[device.isapi]\n"
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("reads its footage both from [device.footage] and from [device.isapi]"),
            "{err}"
        );
        let err = parse(
            "t.toml",
            "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"192.0.2.6\"\n[device.isapi]\nchannels = [\"a\", \"a\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("[device.isapi] needs a login"), "{err}");
        assert!(err.contains("repeated name \"a\""), "{err}");
    }
}
