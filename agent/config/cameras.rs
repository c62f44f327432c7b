//! A camera's tables: `[device.onvif]`, `[device.stream]` and `[device.snapshot]`, resolved
//! into the onvif, clock, baseline, retention (Profile G), stream and image checks.

use std::sync::Arc;

use toml::Spanned;

use super::raw::{OnvifCheck, RawDevice};
use super::sources::{Checks, Source};
use super::{CheckSpec, OnvifRecordingsSpec, Resolver, RetentionSource, TlsTrust};

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

impl Resolver {
    /// `[device.onvif]`, `[device.stream]` and `[device.snapshot]`.
    pub(super) fn camera_checks(&mut self, d: &RawDevice, name: &str, address: Option<&str>, checks: &mut Checks) {
        let what = format!("device {name:?}");
        let onvif_source = || Source::checks_list("[device.onvif]", d.onvif.as_ref().map(Spanned::span));
        let onvif = d.onvif.as_ref().and_then(|table| {
            let t = table.get_ref();
            let Some(address) = address else {
                self.error(
                    Some(table.span()),
                    format!("{what} has [device.onvif] but no address"),
                    "add address = \"...\"",
                );
                return None;
            };
            let https = t.https.unwrap_or(false);
            let scheme = if https { "https" } else { "http" };
            let port = t.port.unwrap_or(if https { 443 } else { 80 });
            let host = if address.contains(':') {
                format!("[{address}]")
            } else {
                address.to_owned()
            };
            let path = t.path.clone().unwrap_or_else(|| "/onvif/device_service".to_owned());
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            let trust = self.trust(&t.ca_file, &t.fingerprint_sha256, &format!("{what} [device.onvif]"));
            let wanted = match &t.checks {
                Some(list) => list.get_ref().clone(),
                None if *d.kind.get_ref() == crate::model::DeviceKind::Camera => {
                    vec![
                        OnvifCheck::Onvif,
                        OnvifCheck::Clock,
                        OnvifCheck::Baseline,
                        OnvifCheck::Stream,
                        OnvifCheck::Image,
                    ]
                }
                None => vec![OnvifCheck::Onvif, OnvifCheck::Clock, OnvifCheck::Baseline],
            };
            Some((
                Arc::new(OnvifSpec {
                    url: format!("{scheme}://{host}:{port}{path}"),
                    trust,
                    profile: t.profile.clone(),
                }),
                wanted,
            ))
        });
        let wants = |c: OnvifCheck| onvif.as_ref().is_some_and(|(_, w)| w.contains(&c));
        let spec = onvif.as_ref().map(|(s, _)| Arc::clone(s));
        for (check, make) in [
            (OnvifCheck::Onvif, CheckSpec::Onvif as fn(Arc<OnvifSpec>) -> CheckSpec),
            (OnvifCheck::Clock, CheckSpec::Clock),
            (OnvifCheck::Baseline, CheckSpec::Baseline),
        ] {
            if let Some(spec) = spec.as_ref().filter(|_| wants(check)) {
                self.add_check(checks, &what, make(Arc::clone(spec)), onvif_source());
            }
        }
        let recordings = d.onvif.as_ref().and_then(|t| t.get_ref().recordings.as_ref());
        if let Some(spec) = spec.as_ref().filter(|_| wants(OnvifCheck::Retention)) {
            let check = CheckSpec::Retention(RetentionSource::Onvif(Arc::new(OnvifRecordingsSpec {
                onvif: Arc::clone(spec),
                recordings: recordings.map(|r| r.get_ref().clone()).unwrap_or_default(),
            })));
            self.add_check(checks, &what, check, onvif_source());
        } else if let Some(list) = recordings.filter(|_| spec.is_some()) {
            self.error(
                Some(list.span()),
                format!("{what}: [device.onvif] recordings is set but the \"retention\" check is not"),
                "add \"retention\" to [device.onvif] checks, or remove recordings",
            );
        }
        let uri = |this: &mut Self, given: Option<&Spanned<String>>, schemes: &[&str], table: &str| {
            given.and_then(|u| {
                if schemes.iter().any(|s| u.get_ref().starts_with(s)) {
                    Some(u.get_ref().clone())
                } else {
                    this.error(
                        Some(u.span()),
                        format!(
                            "{what}: [device.{table}] uri {:?} does not start with {}",
                            u.get_ref(),
                            schemes.join(" or ")
                        ),
                        "write the full URL, without user or password in it (they come from username/password_env)",
                    );
                    None
                }
            })
        };
        let stream_uri = d
            .stream
            .as_ref()
            .and_then(|t| uri(self, t.get_ref().uri.as_ref(), &["rtsp://", "rtsps://"], "stream"));
        if d.stream.is_some() || wants(OnvifCheck::Stream) {
            if stream_uri.is_none() && spec.is_none() {
                self.error(
                    d.stream.as_ref().map(Spanned::span),
                    format!("{what}: [device.stream] needs a uri, or [device.onvif] to ask the camera for it"),
                    "add uri = \"rtsp://ADDRESS:554/...\" or an [device.onvif] table",
                );
            }
            let check = CheckSpec::Stream(StreamSpec {
                uri: stream_uri,
                onvif: spec.clone(),
            });
            let source = match &d.stream {
                Some(table) => Source::table("[device.stream]", Some(table.span())),
                None => onvif_source(),
            };
            self.add_check(checks, &what, check, source);
        }
        if d.snapshot.is_some() || wants(OnvifCheck::Image) {
            let t = d.snapshot.as_ref().map(Spanned::get_ref);
            let snapshot_uri = t.and_then(|t| uri(self, t.uri.as_ref(), &["http://", "https://"], "snapshot"));
            if snapshot_uri.is_none() && spec.is_none() {
                self.error(
                    d.snapshot.as_ref().map(Spanned::span),
                    format!("{what}: [device.snapshot] needs a uri, or [device.onvif] to ask the camera for it"),
                    "add uri = \"http://ADDRESS/...jpg\" or an [device.onvif] table",
                );
            }
            let max_bytes = t.and_then(|t| t.max_bytes.as_ref()).map_or(8 << 20, |m| *m.get_ref());
            let trust = match t {
                Some(t) => self.trust(&t.ca_file, &t.fingerprint_sha256, &format!("{what} [device.snapshot]")),
                None => spec.as_ref().map(|s| s.trust.clone()).unwrap_or_default(),
            };
            let check = CheckSpec::Image(SnapshotSpec {
                uri: snapshot_uri,
                onvif: spec.clone(),
                max_bytes,
                trust,
            });
            let source = match &d.snapshot {
                Some(table) => Source::table("[device.snapshot]", Some(table.span())),
                None => onvif_source(),
            };
            self.add_check(checks, &what, check, source);
        }
    }
}
