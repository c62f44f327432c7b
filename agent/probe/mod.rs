//! Probes talk to devices and report what they saw. They never decide "ok" or "failed": that is
//! the judges' job. Each protocol lives in its own file behind the same call shape
//! (`probe(spec, device, transcript) -> Result<Observation, ProbeError>`), so adding a protocol is
//! one new file plus one arm in [`Probes::run`].

pub mod backup;
pub mod digest;
pub mod filesystem;
pub mod footage;
pub mod history;
pub mod http;
pub mod isapi;
pub mod nut;
pub mod onvif;
pub mod ping;
pub mod rtsp;
pub mod snapshot;
pub mod snmp;
pub mod tls;
pub mod ups;

use crate::config::{CheckSpec, Device, RecorderDisksSpec, RetentionSource, UpsSpec, UptimeSpec};
use crate::model::CheckKind;
use crate::observation::{Observation, ProbeError, ProbeErrorKind};
use snmp::SnmpRead;

/// What was sent and received, kept only when someone asked (`camwatch probe`).
#[derive(Debug, Default)]
pub struct Transcript {
    enabled: bool,
    pub lines: Vec<String>,
}

impl Transcript {
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            lines: Vec::new(),
        }
    }

    pub fn disabled() -> Self {
        Self::default()
    }

    /// Takes a closure so that the line is not even formatted when nobody reads it.
    pub fn note(&mut self, line: impl FnOnce() -> String) {
        if self.enabled {
            self.lines.push(line());
        }
    }
}

/// Which of a camera's media URIs a check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    Stream,
    Snapshot,
}

impl Probes {
    /// The configured URI, or else the one the camera's ONVIF profile gives.
    async fn media_uri(
        &self,
        configured: Option<&String>,
        onvif: Option<&crate::config::OnvifSpec>,
        which: Media,
        login: Option<&Login>,
        transcript: &mut Transcript,
    ) -> Result<String, ProbeError> {
        let what = match which {
            Media::Stream => "stream",
            Media::Snapshot => "snapshot",
        };
        match (configured, onvif) {
            (Some(uri), _) => Ok(uri.clone()),
            (None, Some(onvif)) => {
                let (stream, snapshot) = self.onvif.media_uris(&self.http, onvif, login, transcript).await?;
                match which {
                    Media::Stream => stream,
                    Media::Snapshot => snapshot,
                }
                .ok_or_else(|| {
                    ProbeError::new(
                        ProbeErrorKind::Device,
                        format!("the camera's ONVIF media profile has no {what} URI"),
                    )
                })
            }
            (None, None) => Err(ProbeError::new(
                ProbeErrorKind::Agent,
                format!("no {what} URI configured"),
            )),
        }
    }
}

/// A device's login for its management interfaces, with the password read from its source.
pub struct Login {
    pub user: String,
    pub password: secrecy::SecretString,
}

impl Login {
    /// The device's `username` and password, if it has them; a password that cannot be read is
    /// the agent's problem (unknown), not the device's.
    pub fn of(device: &Device) -> Result<Option<Login>, ProbeError> {
        let Some(credentials) = &device.credentials else {
            return Ok(None);
        };
        let password = match &credentials.password {
            Some(source) => source
                .resolve()
                .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("device password: {e}")))?,
            None => secrecy::SecretString::from(String::new()),
        };
        Ok(Some(Login {
            user: credentials.username.clone(),
            password,
        }))
    }
}

/// Resources the probes share for the agent's lifetime (sockets, guards).
#[derive(Debug, Default)]
pub struct Probes {
    pub ping: ping::Pinger,
    pub filesystem: filesystem::FilesystemReader,
    pub nut: nut::NutProber,
    pub snmp: snmp::SnmpProber,
    pub onvif: onvif::OnvifProber,
    pub http: http::HttpClients,
    pub on_battery: ups::OnBatteryClock,
    pub backup: backup::BackupReader,
    pub footage: footage::FootageScanner,
}

impl Probes {
    pub async fn run(
        &self,
        spec: &CheckSpec,
        device: &Device,
        transcript: &mut Transcript,
    ) -> Result<Observation, ProbeError> {
        let spec_kind = spec.kind();
        match spec {
            CheckSpec::Ping(ping) => self.ping.probe(ping, device, transcript).await.map(Observation::Ping),
            CheckSpec::Filesystem(fs) => self.filesystem.probe(fs, transcript).await.map(Observation::Filesystem),
            CheckSpec::Backup(spec) => self
                .backup
                .probe(spec, &device.name, transcript)
                .await
                .map(Observation::Backup),
            CheckSpec::Ups(source) => {
                let mut ups = match source {
                    UpsSpec::Nut(nut) => self.nut.probe(nut, device, transcript).await?,
                    UpsSpec::Snmp(spec, mib) => self.snmp.ups(spec, *mib, device, transcript).await?,
                };
                self.on_battery.fill(&device.name, &mut ups);
                Ok(Observation::Ups(ups))
            }
            CheckSpec::Uptime(UptimeSpec::Snmp(spec)) => {
                self.snmp.other(SnmpRead::Uptime, spec, device, transcript).await
            }
            CheckSpec::Uptime(UptimeSpec::Isapi(spec)) => {
                let login = Login::of(device)?;
                let mut client = isapi::Client::new(&self.http, spec, login.as_ref(), transcript);
                isapi::status::read(&mut client).await.map(Observation::Uptime)
            }
            CheckSpec::Storage(spec) => self.snmp.other(SnmpRead::Storage, spec, device, transcript).await,
            CheckSpec::RecorderDisks(RecorderDisksSpec::Snmp(spec, vendor)) => {
                self.snmp
                    .other(SnmpRead::Recorder(*vendor), spec, device, transcript)
                    .await
            }
            CheckSpec::RecorderDisks(RecorderDisksSpec::Isapi(spec)) => {
                let login = Login::of(device)?;
                let mut client = isapi::Client::new(&self.http, spec, login.as_ref(), transcript);
                isapi::storage::read(&mut client).await.map(Observation::Recorder)
            }
            CheckSpec::SnmpValues(spec, values) => {
                self.snmp
                    .other(SnmpRead::Values(values), spec, device, transcript)
                    .await
            }
            CheckSpec::Onvif(spec) | CheckSpec::Clock(spec) | CheckSpec::Baseline(spec) => {
                let login = Login::of(device)?;
                let depth = if matches!(spec_kind, CheckKind::Clock) {
                    onvif::Depth::Clock
                } else {
                    onvif::Depth::Full
                };
                self.onvif
                    .device(&self.http, spec, depth, login.as_ref(), transcript)
                    .await
                    .map(|o| Observation::Onvif(Box::new(o)))
            }
            CheckSpec::Stream(stream) => {
                let login = Login::of(device)?;
                let uri = self
                    .media_uri(
                        stream.uri.as_ref(),
                        stream.onvif.as_deref(),
                        Media::Stream,
                        login.as_ref(),
                        transcript,
                    )
                    .await?;
                rtsp::probe(&uri, login.as_ref(), transcript)
                    .await
                    .map(Observation::Stream)
            }
            CheckSpec::Retention(source) => {
                // Footage is forgotten a day beyond the window the policy requires; a camera with
                // rules of its own may require more than the device.
                let days = (device.policy.cameras.values())
                    .map(|p| p.retention_days)
                    .fold(device.policy.retention_days, u32::max);
                let window = i64::from(days) * 86_400;
                match source {
                    RetentionSource::Folders(spec) => self.footage.probe(spec, &device.name, window, transcript).await,
                    RetentionSource::Isapi(spec) => {
                        let login = Login::of(device)?;
                        let mut client = isapi::Client::new(&self.http, spec, login.as_ref(), transcript);
                        isapi::search::footage(&mut client, &spec.channels, window).await
                    }
                    RetentionSource::Onvif(spec) => {
                        let login = Login::of(device)?;
                        // Searches stop paging at three quarters of the check's timeout, so the
                        // rest is left to end them (the scheduler's timeout would drop them open).
                        let budget = tokio::time::Instant::now() + device.policy.timeout.mul_f64(0.75);
                        self.onvif
                            .recordings(&self.http, spec, window, budget, login.as_ref(), transcript)
                            .await
                    }
                }
                .map(Observation::Footage)
            }
            CheckSpec::Availability(spec) => history::probe(spec, device, crate::vocab::unix_now(), transcript)
                .await
                .map(Observation::History),
            CheckSpec::Image(snapshot) => {
                let login = Login::of(device)?;
                let uri = self
                    .media_uri(
                        snapshot.uri.as_ref(),
                        snapshot.onvif.as_deref(),
                        Media::Snapshot,
                        login.as_ref(),
                        transcript,
                    )
                    .await?;
                snapshot::probe(&self.http, snapshot, &uri, login.as_ref(), transcript)
                    .await
                    .map(Observation::Image)
            }
        }
    }
}

/// A device's address with a port: an IP address as it is, a name looked up (and the answer
/// noted in the transcript). Every protocol resolves the same way.
pub async fn resolve(host: &str, port: u16, transcript: &mut Transcript) -> Result<std::net::SocketAddr, ProbeError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, port));
    }
    let found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ProbeError::new(ProbeErrorKind::Resolve, format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| ProbeError::new(ProbeErrorKind::Resolve, format!("{host} resolves to no address")))?;
    transcript.note(|| format!("resolved {host} to {}", found.ip()));
    Ok(found)
}
