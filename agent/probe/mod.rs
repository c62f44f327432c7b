//! Probes talk to devices and report what they saw. They never decide "ok" or "failed": that is
//! the judges' job. Each protocol lives in its own file(s) behind the same call shape,
//! `probe(spec, &mut ProbeContext) -> Result<observation, ProbeError>` (a method of the prober
//! where it keeps state across polls, with the shared HTTP clients passed first where it speaks
//! HTTP), so adding a protocol is its own file plus one arm in [`Probes::run`]. What a probe
//! returns is an [`crate::observation`] type, which judges read without knowing the prober.

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
pub mod xml;

use crate::config::{CheckSpec, Device, RecorderDisksSpec, RetentionSource, UpsSpec, UptimeSpec};
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
            // A transcript is read by people (`camwatch probe`): device text in it is made safe
            // to show as in verdicts (masked URLs and credentials, one line, bounded).
            let line = line();
            self.lines
                .push(crate::vocab::text::for_people(&line, 4 * crate::vocab::text::MAX_FIGURE_CHARS).into_owned());
        }
    }
}

/// What the checks of one device share in one poll (the scheduler runs a device's checks
/// together): one ONVIF conversation per service, and the login refused in it, if one was, so no
/// other check of the device logs in again until the next poll.
#[derive(Default)]
pub struct Poll {
    pub(crate) onvif: tokio::sync::Mutex<std::collections::HashMap<String, onvif::Conversation>>,
    refused: std::sync::Mutex<Option<ProbeError>>,
}

/// Refused logins in a row per device, kept across polls: while a device keeps refusing, camwatch
/// waits twice as long each time before logging in again (interval x 2^refusals, at most an
/// hour or one interval), so a wrong or rotated password cannot lock the account.
#[derive(Debug, Default)]
pub struct Logins {
    by_device: std::sync::Mutex<std::collections::HashMap<String, Refusals>>,
}

#[derive(Debug, Clone)]
struct Refusals {
    count: u32,
    until: tokio::time::Instant,
    error: ProbeError,
}

/// The longest wait between two logins of a device that keeps refusing.
const LONGEST_LOGIN_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether a probe may log in to its device now, and where it says how a login went. Every
/// prober that sends the device's login (ONVIF, the snapshot URL's HTTP authentication) asks it
/// first, so a device sees at most one refused login per poll.
#[derive(Clone, Copy)]
pub struct LoginGate<'a> {
    poll: &'a Poll,
    logins: &'a Logins,
    device: &'a Device,
}

impl LoginGate<'_> {
    /// `Err` with the refusal when a login was refused in this poll or the device is being left
    /// alone after refusals.
    pub fn check(&self) -> Result<(), ProbeError> {
        if let Some(refused) = self.poll.refused.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(refused);
        }
        let by_device = self.logins.by_device.lock().unwrap_or_else(|e| e.into_inner());
        match by_device.get(&self.device.name) {
            Some(r) if r.until > tokio::time::Instant::now() => Err(ProbeError::new(
                r.error.kind,
                format!(
                    "{}; {} refused in a row, so camwatch does not log in again for {} (so as not to lock the account)",
                    r.error.message,
                    r.count,
                    humantime::format_duration(std::time::Duration::from_secs(
                        r.until
                            .saturating_duration_since(tokio::time::Instant::now())
                            .as_secs()
                            .max(1)
                    ))
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A login was refused with `error`: no more logins in this poll, and a longer wait.
    pub fn refused(&self, error: &ProbeError) {
        *self.poll.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.clone());
        let mut by_device = self.logins.by_device.lock().unwrap_or_else(|e| e.into_inner());
        let count = by_device.get(&self.device.name).map_or(0, |r| r.count) + 1;
        let interval = self.device.policy.interval;
        let wait = interval
            .saturating_mul(1u32 << count.min(16))
            .min(LONGEST_LOGIN_WAIT.max(interval));
        tracing::warn!(
            device = %self.device.name,
            refused = count,
            "login refused; not logging in again for {}",
            humantime::format_duration(wait)
        );
        by_device.insert(
            self.device.name.clone(),
            Refusals {
                count,
                until: tokio::time::Instant::now() + wait,
                error: error.clone(),
            },
        );
    }

    /// A login was accepted: the refusals are over.
    pub fn accepted(&self) {
        self.logins
            .by_device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.device.name);
    }
}

/// Everything one run of one check may use: the device, when the run started, when the
/// scheduler gives up on it, the transcript (`camwatch probe`), and what the device's checks share
/// in this poll. Built by the scheduler's runner for every run, so every prober sees the same
/// clock and deadline.
pub struct ProbeContext<'a> {
    pub device: &'a Device,
    /// When the run started, Unix seconds: "now" for whatever the probe dates.
    pub now: f64,
    /// When the run started, on the monotonic clock.
    pub started: tokio::time::Instant,
    /// The run's timeout (the device's policy): the scheduler drops the probe after it.
    pub timeout: std::time::Duration,
    pub transcript: &'a mut Transcript,
    /// What the device's checks share in this poll.
    pub poll: &'a Poll,
    logins: &'a Logins,
}

impl<'a> ProbeContext<'a> {
    pub fn new(
        device: &'a Device,
        now: f64,
        transcript: &'a mut Transcript,
        poll: &'a Poll,
        logins: &'a Logins,
    ) -> Self {
        Self {
            device,
            now,
            started: tokio::time::Instant::now(),
            timeout: device.policy.timeout,
            transcript,
            poll,
            logins,
        }
    }

    /// Asked before sending the device's login, told how it went.
    pub fn gate(&self) -> LoginGate<'a> {
        LoginGate {
            poll: self.poll,
            logins: self.logins,
            device: self.device,
        }
    }

    /// The device's login for its management interfaces, read when a probe needs it (a check
    /// that needs none is not failed by an unreadable password).
    pub fn login(&self) -> Result<Option<Login>, ProbeError> {
        Login::of(self.device)
    }

    /// A point `share` of the way to the run's timeout: where a probe that must clean up after
    /// itself (end a search) stops starting new work.
    pub fn budget(&self, share: f64) -> tokio::time::Instant {
        self.started + self.timeout.mul_f64(share)
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
        ctx: &mut ProbeContext<'_>,
    ) -> Result<String, ProbeError> {
        let what = match which {
            Media::Stream => "stream",
            Media::Snapshot => "snapshot",
        };
        match (configured, onvif) {
            (Some(uri), _) => Ok(uri.clone()),
            (None, Some(onvif)) => {
                let (stream, snapshot) = self.onvif.media_uris(&self.http, onvif, ctx).await?;
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

/// Resources the probes share for the agent's lifetime (sockets, guards, caches).
#[derive(Debug, Default)]
pub struct Probes {
    pub ping: ping::Pinger,
    pub filesystem: filesystem::FilesystemReader,
    pub nut: nut::NutProber,
    pub snmp: snmp::SnmpProber,
    pub onvif: onvif::OnvifProber,
    pub http: http::HttpClients,
    pub backup: backup::BackupReader,
    pub footage: footage::FootageScanner,
    pub history: history::HistoryReader,
}

impl Probes {
    /// Probes that read the agent's history from the state store with `history`.
    pub fn new(history: history::ReadHistory) -> Self {
        Self {
            history: history::HistoryReader::new(history),
            ..Self::default()
        }
    }

    /// One arm per kind of source: which prober serves a check is decided here and nowhere else.
    pub async fn run(&self, spec: &CheckSpec, ctx: &mut ProbeContext<'_>) -> Result<Observation, ProbeError> {
        use Observation as O;
        match spec {
            CheckSpec::Ping(s) => self.ping.probe(s, ctx).await.map(O::Ping),
            CheckSpec::Filesystem(s) => self.filesystem.probe(s, ctx).await.map(O::Filesystem),
            CheckSpec::Backup(s) => self.backup.probe(s, ctx).await.map(O::Backup),
            CheckSpec::Ups(UpsSpec::Nut(s)) => self.nut.probe(s, ctx).await.map(O::Ups),
            CheckSpec::Ups(UpsSpec::Snmp(s, mib)) => self.snmp.ups(s, *mib, ctx).await.map(O::Ups),
            CheckSpec::Uptime(UptimeSpec::Snmp(s)) => self.snmp.probe(s, SnmpRead::Uptime, ctx).await,
            CheckSpec::Uptime(UptimeSpec::Isapi(s)) => isapi::status::probe(&self.http, s, ctx).await.map(O::Uptime),
            CheckSpec::Storage(s) => self.snmp.probe(s, SnmpRead::Storage, ctx).await,
            CheckSpec::RecorderDisks(RecorderDisksSpec::Snmp(s, vendor)) => {
                self.snmp.probe(s, SnmpRead::Recorder(*vendor), ctx).await
            }
            CheckSpec::RecorderDisks(RecorderDisksSpec::Isapi(s)) => {
                isapi::storage::probe(&self.http, s, ctx).await.map(O::Recorder)
            }
            CheckSpec::SnmpValues(s, values) => self.snmp.probe(s, SnmpRead::Values(values), ctx).await,
            CheckSpec::Onvif(s) | CheckSpec::Baseline(s) => self
                .onvif
                .probe(&self.http, s, onvif::Depth::Full, ctx)
                .await
                .map(|o| O::Onvif(Box::new(o))),
            CheckSpec::Clock(s) => self
                .onvif
                .probe(&self.http, s, onvif::Depth::Clock, ctx)
                .await
                .map(|o| O::Onvif(Box::new(o))),
            CheckSpec::Retention(RetentionSource::Folders(s)) => self.footage.probe(s, ctx).await.map(O::Footage),
            CheckSpec::Retention(RetentionSource::Isapi(s)) => {
                isapi::search::probe(&self.http, s, ctx).await.map(O::Footage)
            }
            CheckSpec::Retention(RetentionSource::Onvif(s)) => {
                self.onvif.recordings(&self.http, s, ctx).await.map(O::Footage)
            }
            CheckSpec::Availability(s) => self.history.probe(s, ctx).await.map(O::History),
            CheckSpec::Stream(s) => {
                let uri = self
                    .media_uri(s.uri.as_ref(), s.onvif.as_deref(), Media::Stream, ctx)
                    .await?;
                rtsp::probe(&uri, ctx).await.map(O::Stream)
            }
            CheckSpec::Image(s) => {
                let uri = self
                    .media_uri(s.uri.as_ref(), s.onvif.as_deref(), Media::Snapshot, ctx)
                    .await?;
                snapshot::probe(&self.http, s, &uri, ctx).await.map(O::Image)
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
