//! ONVIF, read-only by construction: this client can only send the requests listed in
//! [`Request`] (Get*, and the Profile G searches: Find* opens a search session on the recorder,
//! GetXSearchResults reads it, EndSearch releases it), so camwatch cannot change a camera's
//! settings, move it, or reboot it.
//!
//! One poll: `GetSystemDateAndTime` first, without credentials (the standard allows it), which
//! gives the device's clock offset; then the authenticated requests, with the WS-Security
//! `Created` time shifted by that offset so a camera whose clock is off still accepts the login.
//! A login refused once is retried after measuring the offset again. HTTP Digest is answered
//! when a device asks for it at the HTTP level instead.

pub mod parse;
pub mod search;
pub mod soap;

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;

use super::http::HttpClients;
use super::xml::Element;
use super::{Login, LoginGate, ProbeContext, ProbeError, ProbeErrorKind, Transcript};
use crate::config::OnvifSpec;
use crate::observation::onvif::{DeviceTime, OnvifObservation, Services};
use soap::Fault;

const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Everything this client can ask. Nothing here changes a device (and the names say so: Get).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Request<'a> {
    GetSystemDateAndTime,
    GetDeviceInformation,
    GetCapabilities,
    GetServices,
    GetNetworkInterfaces,
    GetProfiles,
    GetStreamUri(&'a str),
    GetSnapshotUri(&'a str),
    GetRecordingSummary,
    /// Opens a recording search (a session on the recorder, released by EndSearch).
    FindRecordings,
    GetRecordingSearchResults(&'a str),
    GetRecordingInformation(&'a str),
    /// Opens an event search over `[start, end]` (Unix seconds) for the recording history topics.
    FindEvents {
        start: i64,
        end: i64,
    },
    GetEventSearchResults(&'a str),
    EndSearch(&'a str),
    /// The recording service's configuration of each recording (its maximum retention).
    GetRecordings,
}

impl Request<'_> {
    fn action(&self) -> &'static str {
        match self {
            Self::GetSystemDateAndTime => "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime",
            Self::GetDeviceInformation => "http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation",
            Self::GetCapabilities => "http://www.onvif.org/ver10/device/wsdl/GetCapabilities",
            Self::GetServices => "http://www.onvif.org/ver10/device/wsdl/GetServices",
            Self::GetNetworkInterfaces => "http://www.onvif.org/ver10/device/wsdl/GetNetworkInterfaces",
            Self::GetProfiles => "http://www.onvif.org/ver10/media/wsdl/GetProfiles",
            Self::GetStreamUri(_) => "http://www.onvif.org/ver10/media/wsdl/GetStreamUri",
            Self::GetSnapshotUri(_) => "http://www.onvif.org/ver10/media/wsdl/GetSnapshotUri",
            Self::GetRecordingSummary => "http://www.onvif.org/ver10/search/wsdl/GetRecordingSummary",
            Self::FindRecordings => "http://www.onvif.org/ver10/search/wsdl/FindRecordings",
            Self::GetRecordingSearchResults(_) => "http://www.onvif.org/ver10/search/wsdl/GetRecordingSearchResults",
            Self::GetRecordingInformation(_) => "http://www.onvif.org/ver10/search/wsdl/GetRecordingInformation",
            Self::FindEvents { .. } => "http://www.onvif.org/ver10/search/wsdl/FindEvents",
            Self::GetEventSearchResults(_) => "http://www.onvif.org/ver10/search/wsdl/GetEventSearchResults",
            Self::EndSearch(_) => "http://www.onvif.org/ver10/search/wsdl/EndSearch",
            Self::GetRecordings => "http://www.onvif.org/ver10/recording/wsdl/GetRecordings",
        }
    }

    fn name(&self) -> &'static str {
        self.action().rsplit('/').next().unwrap_or("request")
    }

    fn body(&self) -> String {
        let token = |t: &str| quick_xml::escape::escape(t).into_owned();
        match self {
            Self::GetSystemDateAndTime => "<tds:GetSystemDateAndTime/>".into(),
            Self::GetDeviceInformation => "<tds:GetDeviceInformation/>".into(),
            Self::GetCapabilities => {
                "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>".into()
            }
            Self::GetServices => {
                "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>".into()
            }
            Self::GetNetworkInterfaces => "<tds:GetNetworkInterfaces/>".into(),
            Self::GetProfiles => "<trt:GetProfiles/>".into(),
            Self::GetStreamUri(profile) => format!(
                "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>{}</trt:ProfileToken></trt:GetStreamUri>",
                token(profile)
            ),
            Self::GetSnapshotUri(profile) => {
                format!(
                    "<trt:GetSnapshotUri><trt:ProfileToken>{}</trt:ProfileToken></trt:GetSnapshotUri>",
                    token(profile)
                )
            }
            Self::GetRecordingSummary => "<tse:GetRecordingSummary/>".into(),
            Self::FindRecordings => format!(
                "<tse:FindRecordings><tse:Scope/><tse:MaxMatches>{}</tse:MaxMatches><tse:KeepAliveTime>{}</tse:KeepAliveTime></tse:FindRecordings>",
                search::MAX_RECORDINGS,
                search::KEEP_ALIVE
            ),
            Self::GetRecordingSearchResults(search_token) => format!(
                "<tse:GetRecordingSearchResults><tse:SearchToken>{}</tse:SearchToken><tse:MinResults>1</tse:MinResults><tse:MaxResults>{}</tse:MaxResults><tse:WaitTime>{}</tse:WaitTime></tse:GetRecordingSearchResults>",
                token(search_token),
                search::PAGE,
                search::WAIT_TIME
            ),
            Self::GetRecordingInformation(recording) => format!(
                "<tse:GetRecordingInformation><tse:RecordingToken>{}</tse:RecordingToken></tse:GetRecordingInformation>",
                token(recording)
            ),
            Self::FindEvents { start, end } => format!(
                concat!(
                    "<tse:FindEvents><tse:StartPoint>{}</tse:StartPoint><tse:EndPoint>{}</tse:EndPoint><tse:Scope/>",
                    "<tse:SearchFilter><wsnt:TopicExpression Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">",
                    "tns1:RecordingHistory/Track/State|tns1:RecordingHistory/Recording/State</wsnt:TopicExpression></tse:SearchFilter>",
                    "<tse:IncludeStartState>true</tse:IncludeStartState><tse:MaxMatches>{}</tse:MaxMatches>",
                    "<tse:KeepAliveTime>{}</tse:KeepAliveTime></tse:FindEvents>"
                ),
                search::xs_date_time(*start),
                search::xs_date_time(*end),
                search::MAX_EVENTS,
                search::KEEP_ALIVE
            ),
            Self::GetEventSearchResults(search_token) => format!(
                "<tse:GetEventSearchResults><tse:SearchToken>{}</tse:SearchToken><tse:MinResults>1</tse:MinResults><tse:MaxResults>{}</tse:MaxResults><tse:WaitTime>{}</tse:WaitTime></tse:GetEventSearchResults>",
                token(search_token),
                search::PAGE,
                search::WAIT_TIME
            ),
            Self::EndSearch(search_token) => format!(
                "<tse:EndSearch><tse:SearchToken>{}</tse:SearchToken></tse:EndSearch>",
                token(search_token)
            ),
            Self::GetRecordings => "<trc:GetRecordings/>".into(),
        }
    }
}

/// How deep one poll goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// Only the clock (the `clock` check).
    Clock,
    /// Identity, services, network, profiles and media URIs (the `onvif` and `baseline` checks).
    Full,
}

enum CallError {
    Fault(Fault),
    Probe(ProbeError),
}

impl From<ProbeError> for CallError {
    fn from(e: ProbeError) -> Self {
        CallError::Probe(e)
    }
}

struct Session<'a> {
    http: &'a HttpClients,
    spec: &'a OnvifSpec,
    login: Option<&'a Login>,
    /// The device's clock minus camwatch's, used to date the WS-Security `Created`.
    offset: f64,
    /// Whether `offset` comes from the device's own clock answer (else a guess: a refused login
    /// may then be the clock's fault, not the password's).
    measured: bool,
    /// The HTTP `Date` of the last answer, Unix seconds, and camwatch's time when it came.
    date: Option<(f64, f64)>,
    gate: LoginGate<'a>,
    transcript: &'a mut Transcript,
}

impl<'a> Session<'a> {
    fn new(
        http: &'a HttpClients,
        spec: &'a OnvifSpec,
        login: Option<&'a Login>,
        gate: LoginGate<'a>,
        transcript: &'a mut Transcript,
    ) -> Self {
        Self {
            http,
            spec,
            login,
            offset: 0.0,
            measured: false,
            date: None,
            gate,
            transcript,
        }
    }
}

fn now() -> f64 {
    crate::vocab::unix_now()
}

impl Session<'_> {
    /// One request. An authenticated one is only sent when the device may be logged in to
    /// (see [`LoginGate`]); a refused login is reported to the gate and ends the conversation.
    async fn call(&mut self, url: &str, request: Request<'_>, authenticated: bool) -> Result<Element, CallError> {
        let authenticated = authenticated && self.login.is_some();
        let may_log_in = self.gate.check();
        if authenticated {
            may_log_in.clone()?;
        }
        // HTTP authentication is a login too: not offered while the device is left alone.
        let http_login = self.login.filter(|_| may_log_in.is_ok());
        let header = match (authenticated, self.login) {
            (true, Some(login)) => {
                let created = chrono::DateTime::from_timestamp_millis(((now() + self.offset) * 1000.0) as i64)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string();
                let nonce: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
                soap::security_header(&login.user, login.password.expose_secret(), &nonce, &created)
            }
            _ => String::new(),
        };
        let mut headers = HeaderMap::new();
        let content_type = format!("application/soap+xml; charset=utf-8; action=\"{}\"", request.action());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&content_type).expect("ASCII header"),
        );
        self.transcript.note(|| {
            format!(
                "ONVIF {} ({})",
                request.name(),
                if authenticated { "with WS-Security" } else { "anonymous" }
            )
        });
        let reply = self
            .http
            .send(
                reqwest::Method::POST,
                url,
                headers,
                Some(soap::envelope(&header, &request.body()).into_bytes()),
                http_login,
                &crate::probe::tls::Trust::from(&self.spec.trust),
                MAX_ANSWER_BYTES,
                self.transcript,
            )
            .await?;
        self.date = reply
            .headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| (d.timestamp() as f64, now()));
        let shown = redacted(url);
        if matches!(reply.status, 401 | 403) {
            if let Err(refused) = may_log_in {
                return Err(refused.into());
            }
            if http_login.is_some() {
                let refused = http_error(&shown, reply.status, request);
                self.gate.refused(&refused);
                return Err(refused.into());
            }
        }
        let envelope = match Element::parse(&reply.body) {
            Ok(e) => e,
            Err(why) if reply.status == 200 => {
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "{shown} answered {} with something that is not SOAP ({why})",
                        request.name()
                    ),
                )
                .into());
            }
            Err(_) => {
                return Err(http_error(&shown, reply.status, request).into());
            }
        };
        if let Some(fault) = soap::fault(&envelope) {
            self.transcript.note(|| format!("  SOAP fault {fault}"));
            if authenticated && fault.is_auth() {
                let refused = self.explain(CallError::Fault(fault), request);
                self.gate.refused(&refused);
                return Err(refused.into());
            }
            return Err(CallError::Fault(fault));
        }
        if reply.status != 200 {
            return Err(http_error(&shown, reply.status, request).into());
        }
        if authenticated {
            self.gate.accepted();
        }
        let answer = envelope
            .child("Body")
            .and_then(|b| b.children.first())
            .cloned()
            .ok_or_else(|| ProbeError::new(ProbeErrorKind::Device, format!("{shown}: an empty SOAP body")))?;
        // An answer to another question is no answer (firmware that mixes up its handlers).
        let expected = format!("{}Response", request.name());
        if answer.name != expected {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "{shown} answered {} with {}, not {expected}: a protocol error in the device",
                    request.name(),
                    answer.name
                ),
            )
            .into());
        }
        Ok(answer)
    }

    /// Asks the clock without credentials, falling back to asking with them, dated by the HTTP
    /// `Date` of the refusal (the device's clock, as its web server tells it).
    async fn clock(&mut self) -> Result<(DeviceTime, Option<f64>), ProbeError> {
        let url = self.spec.url.clone();
        let request = Request::GetSystemDateAndTime;
        let mut sent = now();
        let answer = match self.call(&url, request, false).await {
            Ok(answer) => answer,
            Err(CallError::Fault(f)) if f.is_auth() && self.login.is_some() => {
                self.transcript
                    .note(|| "  the device wants a login even for its clock".to_owned());
                if let Some((date, at)) = self.date {
                    self.offset = date - at;
                    self.transcript.note(|| {
                        format!(
                            "  its HTTP Date puts its clock {:+.0} s from camwatch's: logging in by it",
                            self.offset
                        )
                    });
                }
                sent = now();
                self.call(&url, request, true)
                    .await
                    .map_err(|e| self.explain(e, request))?
            }
            Err(e) => return Err(self.explain(e, request)),
        };
        let received = now();
        let time = parse::system_date_and_time(&answer)
            .map_err(|why| ProbeError::new(ProbeErrorKind::Device, format!("{}: {why}", redacted(&url))))?;
        let offset = time.utc_seconds.map(|device| device as f64 - (sent + received) / 2.0);
        // Logins are dated by the device's clock whenever it could be read, even an unset one
        // (1970): a camera checks the WS-Security Created time against its own clock.
        if let Some(device) = parse::device_clock_seconds(&answer) {
            self.offset = device as f64 - (sent + received) / 2.0;
            self.measured = true;
        }
        Ok((time, offset))
    }

    /// An authenticated request. A refused login is not retried: the gate stops every further
    /// login of the device in this poll.
    async fn ask(&mut self, url: &str, request: Request<'_>) -> Result<Element, ProbeError> {
        self.call(url, request, true)
            .await
            .map_err(|e| self.explain(e, request))
    }

    /// The device's service addresses. GetCapabilities is the ONVIF 1.0 way and still the most
    /// widely answered; GetServices (2.0) is asked when the service needed is missing there.
    /// Also says whether either was answered at all.
    async fn services(&mut self, found: fn(&Services) -> bool, notes: &mut Vec<String>) -> (Services, bool) {
        let url = self.spec.url.clone();
        let mut answered = false;
        let mut services = match self.ask(&url, Request::GetCapabilities).await {
            Ok(caps) => {
                answered = true;
                parse::capabilities(&caps)
            }
            Err(e) => {
                notes.push(format!("no capabilities ({e})"));
                Services::default()
            }
        };
        if !found(&services) {
            match self.ask(&url, Request::GetServices).await {
                Ok(answer) => {
                    answered = true;
                    let listed = parse::services(&answer);
                    services = Services {
                        media: listed.media.or(services.media),
                        recording: listed.recording.or(services.recording),
                        search: listed.search.or(services.search),
                        replay: listed.replay.or(services.replay),
                    };
                }
                Err(e) => notes.push(format!("no services ({e}); assuming one service address")),
            }
        }
        (services, answered)
    }

    fn explain(&self, e: CallError, request: Request<'_>) -> ProbeError {
        let (url, name) = (redacted(&self.spec.url), request.name());
        match e {
            CallError::Probe(p) => p,
            CallError::Fault(f) if f.is_auth() => ProbeError::new(
                ProbeErrorKind::Device,
                match self.login {
                    Some(login) if self.measured => format!(
                        "{url} refused the login of user {:?} to {name} ({f}): check username and password",
                        login.user
                    ),
                    // Without the device's clock the login was dated by a guess: a clock far off
                    // is refused like a wrong password.
                    Some(login) => format!(
                        "{url} refused the login of user {:?} to {name} ({f}): check username and password, or the camera's clock (camwatch could not read it before logging in, and a camera refuses logins dated far from its own time)",
                        login.user
                    ),
                    None => format!("{url} wants a login for {name} ({f}): set username and password_env"),
                },
            ),
            CallError::Fault(f) => ProbeError::new(
                ProbeErrorKind::Device,
                format!("{url} answered {name} with a SOAP fault: {f}"),
            ),
        }
    }
}

fn http_error(shown: &str, status: u16, request: Request<'_>) -> ProbeError {
    let what = match status {
        401 | 403 => "refused the login (HTTP authentication)".to_owned(),
        404 => "has no ONVIF service at this path (HTTP 404): check [device.onvif] path and port".to_owned(),
        other => format!("answered HTTP {other}"),
    };
    ProbeError::new(ProbeErrorKind::Device, format!("{shown} {what} to {}", request.name()))
}

fn redacted(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| super::http::redact_url(&u))
        .unwrap_or_else(|_| url.to_owned())
}

/// A service or media URL pointing at another host than the one configured (a camera behind NAT
/// reports its inside address): keep its path, use the configured host (and, for ONVIF services,
/// the configured port).
fn rewrite(url: &str, configured: &reqwest::Url, keep_port: bool, notes: &mut Vec<String>) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.host_str() == configured.host_str() {
        // Cameras behind their own TLS front end often still name their services http://:
        // one port speaks one scheme, and the configured one is known to work.
        if !keep_port
            && parsed.port_or_known_default() == configured.port_or_known_default()
            && parsed.scheme() != configured.scheme()
            && parsed.set_scheme(configured.scheme()).is_ok()
        {
            let _ = parsed.set_port(configured.port());
            notes.push(format!(
                "the device named its service {}; using {}",
                redacted(url),
                configured.scheme()
            ));
            return parsed.to_string();
        }
        return url.to_owned();
    }
    let from = parsed.host_str().unwrap_or("").to_owned();
    if parsed.set_host(configured.host_str()).is_err() {
        return url.to_owned();
    }
    if !keep_port {
        let _ = parsed.set_port(configured.port());
    }
    notes.push(format!(
        "the device named host {from} in {}; using the configured address",
        redacted(url)
    ));
    parsed.to_string()
}

/// A profile's stream and snapshot URIs, with any credentials the device put in them.
type MediaUris = (Option<String>, Option<String>);

/// Media URIs remembered per device service.
#[derive(Debug, Default)]
pub struct OnvifProber {
    media: Mutex<HashMap<String, MediaUris>>,
}

/// One poll's ONVIF conversation with a device service, shared by the device's checks: the
/// clock (what the `clock` check needs) and, when a check needed more, the full reading.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    clock: Result<OnvifObservation, ProbeError>,
    full: Option<Result<OnvifObservation, ProbeError>>,
}

/// Whether any check of `device` needs the full reading of the ONVIF service at `url` (then the
/// poll's one conversation reads it all, whichever check comes first).
fn full_wanted(device: &crate::config::Device, url: &str) -> bool {
    use crate::config::CheckSpec;
    device.checks.iter().any(|check| match check {
        CheckSpec::Onvif(s) | CheckSpec::Baseline(s) => s.url == url,
        CheckSpec::Stream(s) => s.uri.is_none() && s.onvif.as_ref().is_some_and(|o| o.url == url),
        CheckSpec::Image(s) => s.uri.is_none() && s.onvif.as_ref().is_some_and(|o| o.url == url),
        _ => false,
    })
}

impl OnvifProber {
    /// What `depth` asks of the device service, from this poll's conversation (held while it
    /// runs, so the device's other checks wait for it instead of asking again).
    pub async fn probe(
        &self,
        http: &HttpClients,
        spec: &OnvifSpec,
        depth: Depth,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<OnvifObservation, ProbeError> {
        let poll = ctx.poll;
        let mut conversations = poll.onvif.lock().await;
        let known = conversations.get(&spec.url).and_then(|c| match depth {
            Depth::Clock => Some(c.clock.clone()),
            Depth::Full => c.full.clone(),
        });
        if let Some(known) = known {
            ctx.transcript
                .note(|| "ONVIF: answered from this poll's conversation with the device".to_owned());
            return known;
        }
        let reach = if full_wanted(ctx.device, &spec.url) {
            Depth::Full
        } else {
            depth
        };
        let conversation = self.converse(http, spec, depth.max(reach), ctx).await;
        conversations.insert(spec.url.clone(), conversation.clone());
        match depth {
            Depth::Clock => conversation.clock,
            Depth::Full => conversation.full.unwrap_or(conversation.clock),
        }
    }

    async fn converse(
        &self,
        http: &HttpClients,
        spec: &OnvifSpec,
        depth: Depth,
        ctx: &mut ProbeContext<'_>,
    ) -> Conversation {
        let login = match ctx.login() {
            Ok(login) => login,
            Err(e) => {
                return Conversation {
                    clock: Err(e.clone()),
                    full: Some(Err(e)),
                };
            }
        };
        let gate = ctx.gate();
        let mut session = Session::new(http, spec, login.as_ref(), gate, &mut *ctx.transcript);
        let clock = session
            .clock()
            .await
            .map(|(time, clock_offset_seconds)| OnvifObservation {
                url: redacted(&spec.url),
                time,
                clock_offset_seconds,
                identity: None,
                mac: None,
                services: None,
                profiles: Vec::new(),
                profile: None,
                stream_uri: None,
                snapshot_uri: None,
                notes: Vec::new(),
            });
        let full = match (&clock, depth) {
            (_, Depth::Clock) => None,
            (Err(e), Depth::Full) => Some(Err(e.clone())),
            (Ok(clock), Depth::Full) => Some(self.full(&mut session, spec, clock.clone()).await),
        };
        Conversation { clock, full }
    }

    /// Identity, services, network, profiles and media URIs, after the clock.
    async fn full(
        &self,
        session: &mut Session<'_>,
        spec: &OnvifSpec,
        mut observation: OnvifObservation,
    ) -> Result<OnvifObservation, ProbeError> {
        let configured = reqwest::Url::parse(&spec.url)
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("bad ONVIF URL: {e}")))?;
        let info = session.ask(&spec.url, Request::GetDeviceInformation).await?;
        observation.identity = Some(parse::device_information(&info));
        let (services, _) = session.services(|s| s.media.is_some(), &mut observation.notes).await;
        match session.ask(&spec.url, Request::GetNetworkInterfaces).await {
            Ok(interfaces) => observation.mac = parse::mac_address(&interfaces),
            Err(e) => observation.notes.push(format!("no network interfaces ({e})")),
        }
        let media_url = services
            .media
            .as_deref()
            .map(|m| rewrite(m, &configured, false, &mut observation.notes))
            .unwrap_or_else(|| spec.url.clone());
        observation.services = Some(services);
        let profiles = parse::profiles(&session.ask(&media_url, Request::GetProfiles).await?);
        let chosen = match &spec.profile {
            Some(wanted) => profiles
                .iter()
                .find(|p| &p.token == wanted || p.name.as_deref() == Some(wanted))
                .ok_or_else(|| {
                    let known: Vec<&str> = profiles.iter().map(|p| p.token.as_str()).collect();
                    ProbeError::new(
                        ProbeErrorKind::Device,
                        format!(
                            "the camera has no media profile {wanted:?} (it has {}): check [device.onvif] profile",
                            known.join(", ")
                        ),
                    )
                })?,
            None => profiles.first().ok_or_else(|| {
                ProbeError::new(
                    ProbeErrorKind::Device,
                    "the camera has no media profile, so it streams nothing",
                )
            })?,
        };
        let token = chosen.token.clone();
        observation.profile = Some(token.clone());
        let stream = match session.ask(&media_url, Request::GetStreamUri(&token)).await {
            Ok(answer) => parse::media_uri(&answer).map(|u| rewrite(&u, &configured, true, &mut observation.notes)),
            Err(e) => {
                observation.notes.push(format!("no stream URI ({e})"));
                None
            }
        };
        let snapshot = match session.ask(&media_url, Request::GetSnapshotUri(&token)).await {
            Ok(answer) => parse::media_uri(&answer).map(|u| rewrite(&u, &configured, true, &mut observation.notes)),
            Err(e) => {
                observation.notes.push(format!("no snapshot URI ({e})"));
                None
            }
        };
        observation.profiles = profiles;
        observation.stream_uri = stream.as_deref().map(redacted);
        observation.snapshot_uri = snapshot.as_deref().map(redacted);
        self.media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.url.clone(), (stream, snapshot));
        Ok(observation)
    }

    /// The stream and snapshot URIs of the configured profile: remembered from the last full
    /// poll, or asked now.
    pub async fn media_uris(
        &self,
        http: &HttpClients,
        spec: &OnvifSpec,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<MediaUris, ProbeError> {
        if let Some(known) = self.media.lock().unwrap_or_else(|e| e.into_inner()).get(&spec.url) {
            return Ok(known.clone());
        }
        self.probe(http, spec, Depth::Full, ctx).await?;
        Ok(self
            .media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&spec.url)
            .cloned()
            .unwrap_or_default())
    }
}

impl OnvifProber {
    /// A Profile G recorder's footage per camera, from its search service (see [`search`]).
    pub async fn recordings(
        &self,
        http: &HttpClients,
        spec: &crate::config::OnvifRecordingsSpec,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<crate::observation::footage::FootageObservation, ProbeError> {
        // Searches stop paging at three quarters of the check's timeout, so the rest is left to end
        // them (the scheduler's timeout would drop them open).
        let (window_seconds, paging_deadline) = (ctx.device.footage_window_seconds(), ctx.budget(0.75));
        let login = ctx.login()?;
        let gate = ctx.gate();
        let (login, transcript) = (login.as_ref(), &mut *ctx.transcript);
        let onvif = &*spec.onvif;
        let scanned_at = now() as i64;
        let configured = reqwest::Url::parse(&onvif.url)
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("bad ONVIF URL: {e}")))?;
        let mut session = Session::new(http, onvif, login, gate, transcript);
        let mut notes = Vec::new();
        // Footage is dated by the recorder's clock: a wrong one is worth knowing beside its dates.
        let (time, offset) = session.clock().await?;
        if time.unset {
            notes.push("the recorder's clock is not set: its footage dates cannot be right".to_owned());
        } else if let Some(offset) = offset.filter(|o| o.abs() > 60.0) {
            notes.push(format!(
                "the recorder's clock is {} {} camwatch's: its footage is dated by its own clock",
                crate::coverage::span(offset.abs().round() as i64),
                if offset > 0.0 { "ahead of" } else { "behind" }
            ));
        }
        let (services, answered) = session.services(|s| s.search.is_some(), &mut notes).await;
        let search_url = match (services.search.clone(), answered) {
            (Some(url), _) => rewrite(&url, &configured, false, &mut notes),
            // A device that answered neither request may serve everything at one address.
            (None, false) => onvif.url.clone(),
            (None, true) => {
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "{} offers no ONVIF search service (Profile G): it keeps no recordings camwatch can read; remove \"retention\" from [device.onvif] checks",
                        redacted(&onvif.url)
                    ),
                ));
            }
        };
        let host = match (configured.host_str(), configured.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => redacted(&onvif.url),
        };
        let recording_url = services
            .recording
            .map(|url| rewrite(&url, &configured, false, &mut notes));
        let mut read = search::Read {
            session: &mut session,
            url: &search_url,
            recording_url: recording_url.as_deref(),
            paging_deadline,
            notes,
        };
        read.footage(
            spec,
            scanned_at,
            window_seconds,
            format!("ONVIF recording search on {host}"),
        )
        .await
    }
}
