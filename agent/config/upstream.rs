//! What each check of a device depends on, the way a device depends on its parent: one cause,
//! one incident. A check that cannot answer while something upstream of it is down is
//! `unreachable` then, joined to that thing's incident, instead of a fault of its own:
//! - the checks that ride on one protocol session of the device (ONVIF: clock, baseline, the
//!   stream and snapshot it hands out, Profile G footage; SNMP: every MIB read; ISAPI: every
//!   request) depend on the session's first check (for ONVIF the `onvif` check itself), so one
//!   refused ONVIF port is one incident, not five;
//! - the checks that ask the device at its address depend on the device's own ping, so a dead
//!   camera is one incident (a stream or snapshot URI naming another host, a media server
//!   relaying it, does not);
//! - the ping, and checks read on the agent's own host (folders, mounts, the state store, a NUT
//!   server elsewhere), depend on the parent's ping, as before.

use super::{CheckSpec, Device, RecorderDisksSpec, RetentionSource, UpsSpec, UptimeSpec};
use crate::model::CheckKind;

/// A protocol conversation several checks of a device share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Onvif,
    Snmp,
    Isapi,
}

impl CheckSpec {
    /// The session this check rides on, if it shares one with other checks of its device.
    pub fn session(&self) -> Option<Session> {
        match self {
            Self::Onvif(_) | Self::Clock(_) | Self::Baseline(_) | Self::Retention(RetentionSource::Onvif(_)) => {
                Some(Session::Onvif)
            }
            Self::Stream(s) if s.uri.is_none() && s.onvif.is_some() => Some(Session::Onvif),
            Self::Image(s) if s.uri.is_none() && s.onvif.is_some() => Some(Session::Onvif),
            Self::Ups(UpsSpec::Snmp(..))
            | Self::Uptime(UptimeSpec::Snmp(_))
            | Self::Storage(_)
            | Self::RecorderDisks(RecorderDisksSpec::Snmp(..))
            | Self::SnmpValues(..) => Some(Session::Snmp),
            Self::Uptime(UptimeSpec::Isapi(_))
            | Self::RecorderDisks(RecorderDisksSpec::Isapi(_))
            | Self::Retention(RetentionSource::Isapi(_)) => Some(Session::Isapi),
            _ => None,
        }
    }

    /// Whether the check asks the device itself over the network at `address` (so it cannot
    /// answer while the device is down), rather than reading something on the agent's host or
    /// from another host (a stream relayed by a media server is not the camera's own).
    fn asks_the_device(&self, address: Option<&str>) -> bool {
        let own = |uri: &str| {
            reqwest::Url::parse(uri)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
                .is_some_and(|host| address.is_some_and(|a| a.eq_ignore_ascii_case(&host)))
        };
        match self {
            Self::Stream(s) => s.uri.as_deref().is_none_or(own),
            Self::Image(s) => s.uri.as_deref().is_none_or(own),
            _ => self.session().is_some(),
        }
    }
}

impl Device {
    /// The `(device, check)` that `kind` of this device depends on (see the module's rules).
    pub fn upstream(&self, kind: CheckKind) -> Option<(&str, CheckKind)> {
        let spec = self.check(kind);
        if let Some(session) = spec.and_then(CheckSpec::session) {
            let opener = self
                .checks
                .iter()
                .filter(|c| c.session() == Some(session))
                .min_by_key(|c| c.kind() != CheckKind::Onvif)
                .map(CheckSpec::kind);
            if let Some(opener) = opener.filter(|o| *o != kind) {
                return Some((&self.name, opener));
            }
        }
        let asks_the_device = spec.is_some_and(|c| c.asks_the_device(self.address.as_deref()));
        if kind != CheckKind::Ping && asks_the_device && self.check(CheckKind::Ping).is_some() {
            return Some((&self.name, CheckKind::Ping));
        }
        self.parent.as_deref().map(|p| (p, CheckKind::Ping))
    }
}

#[cfg(test)]
mod tests {
    use crate::model::CheckKind;

    fn device(body: &str) -> std::sync::Arc<super::Device> {
        let config = crate::config::parse("t.toml", body).unwrap();
        std::sync::Arc::clone(&config.devices[config.devices.len() - 1])
    }

    #[test]
    fn onvif_checks_ride_on_the_onvif_check_which_rides_on_the_ping_which_rides_on_the_parent() {
        let cam = device(
            r#"
[[device]]
name = "switch"
kind = "switch"
address = "192.0.2.1"
[[device]]
name = "cam"
kind = "camera"
address = "192.0.2.2"
parent = "switch"
[device.onvif]
[device.stream]
[device.snapshot]
uri = "http://192.0.2.2/snap.jpg"
"#,
        );
        let relayed = device(
            r#"
[[device]]
name = "cam"
kind = "camera"
address = "192.0.2.2"
[device.stream]
uri = "rtsp://media-server.example/cam"
"#,
        );
        let up = |k| cam.upstream(k);
        assert_eq!(up(CheckKind::Ping), Some(("switch", CheckKind::Ping)));
        assert_eq!(up(CheckKind::Onvif), Some(("cam", CheckKind::Ping)));
        for k in [CheckKind::Clock, CheckKind::Baseline, CheckKind::Stream] {
            assert_eq!(up(k), Some(("cam", CheckKind::Onvif)), "{k}");
        }
        assert_eq!(
            up(CheckKind::Image),
            Some(("cam", CheckKind::Ping)),
            "its own URI: not ONVIF's"
        );
        assert_eq!(
            relayed.upstream(CheckKind::Stream),
            None,
            "a stream another host serves does not ride on the camera's ping"
        );
    }

    #[test]
    fn snmp_checks_ride_on_the_first_and_local_checks_on_the_parent() {
        let nvr = device(
            r#"
[snmp_auth.default]
version = "2c"
community_env = "C"
[[device]]
name = "switch"
kind = "switch"
address = "192.0.2.1"
[[device]]
name = "nvr"
kind = "recorder"
address = "192.0.2.3"
parent = "switch"
ping = "off"
[device.snmp]
checks = ["uptime", "storage"]
[device.filesystem]
mountpoints = ["/"]
"#,
        );
        assert_eq!(
            nvr.upstream(CheckKind::Uptime),
            Some(("switch", CheckKind::Ping)),
            "no ping of its own"
        );
        assert_eq!(nvr.upstream(CheckKind::Storage), Some(("nvr", CheckKind::Uptime)));
        assert_eq!(nvr.upstream(CheckKind::Filesystem), Some(("switch", CheckKind::Ping)));
    }
}
