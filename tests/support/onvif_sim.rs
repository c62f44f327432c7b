//! A simulated ONVIF camera: a real HTTP server answering SOAP 1.2 the way the captured devices
//! in ../shared/testdata/onvif do (SOAP-ENV/tds/tt/trt prefixes), enforcing WS-Security
//! UsernameToken digests with a Created window against its own (possibly wrong) clock, and
//! quirk modes real cameras have. It keeps every action it was asked, so tests can prove the
//! agent only reads.
//!
//! With `recordings` it is also a Profile G recorder (an NVR, or a camera recording to its SD
//! card): a search service answering like the captures in
//! ../shared/testdata/onvif/profile-g-hammeraj (`search__*.xml`), with recordings and tracks whose
//! footage has chosen gaps, results paged at most `page_size` per request whatever MaxResults
//! asks, and search sessions that expire after their KeepAliveTime and are counted, so tests can
//! prove every search the agent opened was ended.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use md5::Md5;
use sha1::{Digest, Sha1};

#[derive(Debug, Clone)]
pub struct SimState {
    pub user: String,
    pub password: String,
    /// The camera's clock runs this many seconds ahead of the real one.
    pub clock_offset_seconds: i64,
    /// The clock was never set: dates read 0000-00-00.
    pub unset_clock: bool,
    /// Service addresses name an inside host and port (a camera behind NAT).
    pub wrong_host_in_xaddrs: bool,
    /// Faults come with HTTP 200 (some firmware) instead of 400.
    pub faults_with_200: bool,
    /// HTTP Digest is required before any SOAP is read.
    pub http_digest: bool,
    /// Only ONVIF 2.0 GetServices, no GetCapabilities (newer firmware).
    pub services_only: bool,
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
    pub serial: String,
    pub mac: String,
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    pub bitrate_kbps: u32,
    /// The RTSP URI this camera hands out.
    pub stream_uri: String,
    /// Every SOAP action asked, in order (local names: GetDeviceInformation, ...).
    pub asked: Vec<String>,
    /// The URL path of each request, beside `asked`.
    pub paths: Vec<String>,
    /// Requests refused for a bad or stale WS-Security token.
    pub refused: u32,
    /// When each refused login came (Unix seconds): a request that carried a WS-Security token or
    /// an HTTP Authorization the camera did not accept. What locks an account on real cameras.
    pub refused_logins: Vec<f64>,
    /// Quirk: GetSystemDateAndTime wants a login too (ONVIF Core lets a device do so); refusals
    /// still carry the camera's clock in their HTTP `Date`, as every answer here does.
    pub clock_needs_login: bool,
    /// Quirk: the first request is answered as if it were the second (mixed-up handlers).
    pub wrong_answer: Option<(String, String)>,
    /// Quirk: this request is answered with a SOAP fault (ter:ActionNotSupported).
    pub fault_on: Option<String>,
    /// Recordings of a Profile G recorder; empty: no search service.
    pub recordings: Vec<SimRecording>,
    /// Results per GetRecordingSearchResults / GetEventSearchResults, whatever MaxResults asks.
    pub page_size: usize,
    /// Open search sessions by token.
    pub searches: HashMap<String, SimSearch>,
    pub searches_opened: u32,
    pub searches_ended: u32,
    /// Sessions dropped because their KeepAliveTime passed without a request.
    pub searches_expired: u32,
    /// The StartPoint and EndPoint of the last FindEvents, as sent.
    pub find_events_window: Option<(String, String)>,
    /// The MaxMatches and KeepAliveTime of every Find*, as sent.
    pub find_bounds: Vec<(String, String)>,
    /// Quirk: the Nth GetEventSearchResults (1-based) is answered with garbage.
    pub garbage_event_page: Option<u32>,
    /// Quirk: searches stay "Searching" without results, forever.
    pub searches_never_complete: bool,
    /// Quirk: every Get*SearchResults is answered this late (a slow recorder).
    pub results_delay: std::time::Duration,
}

/// A recording on the simulated recorder.
#[derive(Debug, Clone)]
pub struct SimRecording {
    pub token: String,
    /// The source's Name (the camera); empty: none given.
    pub source: String,
    /// RecordingStatus: `Recording` or `Stopped`.
    pub status: String,
    /// The recording service's MaximumRetentionTime (`PT0S`: no limit).
    pub max_retention: String,
    pub tracks: Vec<SimTrack>,
}

/// A track with data from `from` to `to` (Unix seconds) except in `gaps`.
#[derive(Debug, Clone)]
pub struct SimTrack {
    pub token: String,
    /// `Video`, `Audio` or `Metadata`.
    pub kind: String,
    pub from: i64,
    pub to: i64,
    pub gaps: Vec<(i64, i64)>,
}

impl SimTrack {
    pub fn new(token: &str, kind: &str, from: i64, to: i64, gaps: &[(i64, i64)]) -> SimTrack {
        SimTrack {
            token: token.into(),
            kind: kind.into(),
            from,
            to,
            gaps: gaps.to_vec(),
        }
    }

    fn has_data(&self, t: i64) -> bool {
        self.from <= t && t < self.to && !self.gaps.iter().any(|&(a, b)| a <= t && t < b)
    }
}

/// One open search session: its results, rendered, and how far they were read.
#[derive(Debug, Clone)]
pub struct SimSearch {
    /// `Recording` or `Event`: which results request reads it.
    pub kind: &'static str,
    results: Vec<String>,
    cursor: usize,
    keep_alive: f64,
    expires: f64,
}

impl Default for SimState {
    fn default() -> Self {
        Self {
            user: "camwatch".into(),
            password: "Ca5eSensitive!".into(),
            clock_offset_seconds: 0,
            unset_clock: false,
            wrong_host_in_xaddrs: false,
            faults_with_200: false,
            http_digest: false,
            services_only: false,
            manufacturer: "AXIS".into(),
            model: "P1435-LE".into(),
            firmware: "10.12.114".into(),
            serial: "ACCC8EF0A1B2".into(),
            mac: "ac:cc:8e:f0:a1:b2".into(),
            width: 1920,
            height: 1080,
            frame_rate: 25,
            bitrate_kbps: 4096,
            stream_uri: "rtsp://127.0.0.1:554/axis-media/media.amp".into(),
            asked: Vec::new(),
            paths: Vec::new(),
            refused: 0,
            refused_logins: Vec::new(),
            clock_needs_login: false,
            wrong_answer: None,
            fault_on: None,
            recordings: Vec::new(),
            page_size: 2,
            searches: HashMap::new(),
            searches_opened: 0,
            searches_ended: 0,
            searches_expired: 0,
            find_events_window: None,
            find_bounds: Vec::new(),
            garbage_event_page: None,
            searches_never_complete: false,
            results_delay: std::time::Duration::ZERO,
        }
    }
}

pub struct SimCamera {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<SimState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Accepts TLS connections for axum (the simulator's HTTPS mode).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses our certificate just drops the connection: wait for the next.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn tls_acceptor(certificate: &super::pki::TestCertificate) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(&certificate.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&certificate.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl SimCamera {
    pub fn start(state: SimState) -> SimCamera {
        Self::start_on(state, None)
    }

    /// The same camera behind HTTPS with `certificate`.
    pub fn start_tls(state: SimState, certificate: &super::pki::TestCertificate) -> SimCamera {
        Self::start_on(state, Some(tls_acceptor(certificate)))
    }

    fn start_on(state: SimState, tls: Option<tokio_rustls::TlsAcceptor>) -> SimCamera {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(state));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                    let state = Arc::clone(&shared);
                    async move {
                        let delay = state.lock().unwrap().results_delay;
                        if !delay.is_zero() && String::from_utf8_lossy(&body).contains("SearchResults>") {
                            tokio::time::sleep(delay).await;
                        }
                        dated(&state, handle(&state, uri.path(), &headers, &body, addr))
                    }
                });
                let stop = async {
                    let _ = stopped.await;
                };
                match tls {
                    Some(acceptor) => axum::serve(
                        TlsListener {
                            tcp: listener,
                            acceptor,
                        },
                        app,
                    )
                    .with_graceful_shutdown(stop)
                    .await
                    .unwrap(),
                    None => axum::serve(listener, app).with_graceful_shutdown(stop).await.unwrap(),
                }
            });
        });
        SimCamera {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn with(&self, change: impl FnOnce(&mut SimState)) {
        change(&mut self.state.lock().unwrap());
    }

    pub fn asked(&self) -> Vec<String> {
        self.state.lock().unwrap().asked.clone()
    }

    /// How often `action` was asked.
    pub fn count(&self, action: &str) -> usize {
        self.state.lock().unwrap().asked.iter().filter(|a| *a == action).count()
    }

    /// How many logins the camera refused so far.
    pub fn refused_logins(&self) -> usize {
        self.state.lock().unwrap().refused_logins.len()
    }

    /// Searches opened and not ended by EndSearch (expired ones included: the agent left them).
    pub fn unended_searches(&self) -> u32 {
        let s = self.state.lock().unwrap();
        s.searches_opened - s.searches_ended
    }
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The text of the first element with this local name, by plain search (the simulator must not
/// share the agent's parser, or a parser bug would hide itself).
fn element_text<'a>(xml: &'a str, local: &str) -> Option<&'a str> {
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        if !name.starts_with('/') && name.rsplit(':').next() == Some(local) {
            let content = &rest[end + 1..];
            let close = content.find("</")?;
            return Some(content[..close].trim());
        }
    }
    None
}

fn action(xml: &str) -> String {
    let body_at = xml.find("Body>").map(|i| i + 5).unwrap_or(0);
    let rest = &xml[body_at..];
    let start = rest.find('<').map(|i| i + 1).unwrap_or(0);
    let name: String = rest[start..]
        .chars()
        .take_while(|c| !matches!(c, ' ' | '/' | '>'))
        .collect();
    name.rsplit(':').next().unwrap_or("").to_owned()
}

fn token_valid(xml: &str, s: &SimState) -> bool {
    let (Some(user), Some(digest), Some(nonce), Some(created)) = (
        element_text(xml, "Username"),
        element_text(xml, "Password"),
        element_text(xml, "Nonce"),
        element_text(xml, "Created"),
    ) else {
        return false;
    };
    let Ok(nonce) = base64::engine::general_purpose::STANDARD.decode(nonce) else {
        return false;
    };
    let mut hasher = Sha1::new();
    hasher.update(&nonce);
    hasher.update(created.as_bytes());
    hasher.update(s.password.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(hasher.finalize());
    let Ok(created_at) = chrono::DateTime::parse_from_rfc3339(created) else {
        return false;
    };
    let device_now = now() + s.clock_offset_seconds as f64;
    let skew = (created_at.timestamp_millis() as f64 / 1000.0 - device_now).abs();
    user == s.user && digest == expected && skew <= 5.0
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks an HTTP Digest answer (RFC 2617, MD5, qop=auth) against the simulator's own account.
fn http_digest_valid(headers: &HeaderMap, s: &SimState) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(params) = value.strip_prefix("Digest ") else {
        return false;
    };
    let field = |name: &str| {
        params.split(',').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_owned())
        })
    };
    let (Some(user), Some(uri), Some(nc), Some(cnonce), Some(response)) = (
        field("username"),
        field("uri"),
        field("nc"),
        field("cnonce"),
        field("response"),
    ) else {
        return false;
    };
    let ha1 = md5_hex(&format!("{user}:onvif-sim:{}", s.password));
    let ha2 = md5_hex(&format!("POST:{uri}"));
    user == s.user && response == md5_hex(&format!("{ha1}:simnonce:{nc}:{cnonce}:auth:{ha2}"))
}

const ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" "#,
    r#"xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:ter="http://www.onvif.org/ver10/error" "#,
    r#"xmlns:tse="http://www.onvif.org/ver10/search/wsdl" xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" "#,
    r#"xmlns:tns1="http://www.onvif.org/ver10/topics"><SOAP-ENV:Body>"#
);

fn soap(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/soap+xml; charset=utf-8")],
        format!("{ENVELOPE_OPEN}{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"),
    )
        .into_response()
}

fn not_authorized(s: &SimState) -> Response {
    let status = if s.faults_with_200 {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    soap(
        status,
        "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value><SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NotAuthorized</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">Sender not Authorized</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>".into(),
    )
}

/// Every answer carries the camera's own time in its HTTP `Date` (its web server's clock).
fn dated(state: &Mutex<SimState>, mut reply: Response) -> Response {
    let offset = state.lock().unwrap().clock_offset_seconds;
    let at = chrono::DateTime::from_timestamp(now() as i64 + offset, 0).unwrap_or_default();
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    reply
        .headers_mut()
        .insert("date", axum::http::HeaderValue::from_str(&date).unwrap());
    reply
}

/// The snapshot URL GetSnapshotUri hands out: HTTP Basic with the camera's account (what the
/// agent's image check logs in with), a JPEG start when it is right.
fn snapshot(s: &mut SimState, headers: &HeaderMap) -> Response {
    let b64 = base64::engine::general_purpose::STANDARD;
    let expected = format!("Basic {}", b64.encode(format!("{}:{}", s.user, s.password)));
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(given) if given == expected => (
            StatusCode::OK,
            [("content-type", "image/jpeg")],
            vec![0xFF, 0xD8, 0xFF, 0xE0],
        )
            .into_response(),
        given => {
            if given.is_some() {
                s.refused_logins.push(now());
            }
            (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", r#"Basic realm="onvif-sim""#)],
                "",
            )
                .into_response()
        }
    }
}

fn handle(state: &Mutex<SimState>, path: &str, headers: &HeaderMap, body: &[u8], addr: SocketAddr) -> Response {
    let mut s = state.lock().unwrap();
    if path == SNAPSHOT_PATH {
        s.asked.push("snapshot".into());
        s.paths.push(path.to_owned());
        return snapshot(&mut s, headers);
    }
    if s.http_digest && !http_digest_valid(headers, &s) {
        if headers.contains_key("authorization") {
            s.refused_logins.push(now());
        }
        return (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                r#"Digest realm="onvif-sim", nonce="simnonce", qop="auth", algorithm=MD5"#,
            )],
            "",
        )
            .into_response();
    }
    let xml = String::from_utf8_lossy(body);
    let action = action(&xml);
    s.asked.push(action.clone());
    s.paths.push(path.to_owned());
    if (action != "GetSystemDateAndTime" || s.clock_needs_login) && !token_valid(&xml, &s) {
        s.refused += 1;
        if element_text(&xml, "Username").is_some() {
            s.refused_logins.push(now());
        }
        return not_authorized(&s);
    }
    if s.fault_on.as_ref() == Some(&action) {
        return fault("Receiver", "ter:ActionNotSupported", "not available on this firmware");
    }
    let action = match &s.wrong_answer {
        Some((asked, answered)) if *asked == action => answered.clone(),
        _ => action,
    };
    let service = if s.wrong_host_in_xaddrs {
        "http://10.0.0.99:8999".to_owned()
    } else {
        format!("http://{addr}")
    };
    let reply = match action.as_str() {
        "GetSystemDateAndTime" => {
            let (y, mo, d, h, mi, sec) = if s.unset_clock {
                (0, 0, 0, 0, 0, 0)
            } else {
                let t = chrono::DateTime::from_timestamp(now() as i64 + s.clock_offset_seconds, 0).unwrap();
                use chrono::{Datelike, Timelike};
                (t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
            };
            format!(
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>true</tt:DaylightSavings><tt:TimeZone><tt:TZ>CET-1CEST,M3.5.0,M10.5.0/3</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time><tt:Hour>{h}</tt:Hour><tt:Minute>{mi}</tt:Minute><tt:Second>{sec}</tt:Second></tt:Time><tt:Date><tt:Year>{y}</tt:Year><tt:Month>{mo}</tt:Month><tt:Day>{d}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        }
        "GetDeviceInformation" => format!(
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>{}</tds:Manufacturer><tds:Model>{}</tds:Model><tds:FirmwareVersion>{}</tds:FirmwareVersion><tds:SerialNumber>{}</tds:SerialNumber><tds:HardwareId>7A5</tds:HardwareId></tds:GetDeviceInformationResponse>",
            s.manufacturer, s.model, s.firmware, s.serial
        ),
        "GetServices" => format!(
            "<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace><tds:XAddr>{service}/onvif/device_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service><tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>{service}/onvif/media_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>{}</tds:GetServicesResponse>",
            if s.recordings.is_empty() {
                String::new()
            } else {
                format!(
                    "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/search/wsdl</tds:Namespace><tds:XAddr>{service}/onvif/search_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>42</tt:Minor></tds:Version></tds:Service>"
                )
            }
        ),
        "GetCapabilities" if !s.services_only => {
            let recorder = if s.recordings.is_empty() {
                String::new()
            } else {
                format!(
                    "<tt:Extension><tt:Recording><tt:XAddr>{service}/onvif/recording_service</tt:XAddr><tt:ReceiverSource>false</tt:ReceiverSource><tt:MediaProfileSource>true</tt:MediaProfileSource><tt:DynamicRecordings>false</tt:DynamicRecordings><tt:DynamicTracks>false</tt:DynamicTracks><tt:MaxStringLength>64</tt:MaxStringLength></tt:Recording><tt:Search><tt:XAddr>{service}/onvif/search_service</tt:XAddr><tt:MetadataSearch>false</tt:MetadataSearch></tt:Search></tt:Extension>"
                )
            };
            format!(
                "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>{service}/onvif/device_service</tt:XAddr></tt:Device><tt:Media><tt:XAddr>{service}/onvif/media_service</tt:XAddr></tt:Media>{recorder}</tds:Capabilities></tds:GetCapabilitiesResponse>"
            )
        }
        "GetNetworkInterfaces" => format!(
            "<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token=\"eth0\"><tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>{}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>",
            s.mac
        ),
        "GetProfiles" => format!(
            "<trt:GetProfilesResponse><trt:Profiles fixed=\"true\" token=\"profile_1_h264\"><tt:Name>profile_1 h264</tt:Name><tt:VideoEncoderConfiguration token=\"default_1_h264\"><tt:Name>default_1 h264</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution><tt:Quality>70</tt:Quality><tt:RateControl><tt:FrameRateLimit>{}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl></tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse>",
            s.width, s.height, s.frame_rate, s.bitrate_kbps
        ),
        "GetStreamUri" => format!(
            "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>",
            s.stream_uri
        ),
        "GetSnapshotUri" => format!(
            "<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>{service}{SNAPSHOT_PATH}?resolution=640x360&amp;camera=1</tt:Uri></trt:MediaUri></trt:GetSnapshotUriResponse>"
        ),
        other if !s.recordings.is_empty() => match search(&mut s, other, &xml) {
            Some(Ok(reply)) => reply,
            Some(Err(answer)) => return *answer,
            None => {
                return fault(
                    "Receiver",
                    "ter:ActionNotSupported",
                    &format!("{other} is not supported"),
                );
            }
        },
        other => {
            return fault(
                "Receiver",
                "ter:ActionNotSupported",
                &format!("{other} is not supported"),
            );
        }
    };
    soap(StatusCode::OK, reply)
}

/// Where the camera serves its snapshot.
const SNAPSHOT_PATH: &str = "/onvif-cgi/jpg/image.cgi";

fn fault(code: &str, subcode: &str, reason: &str) -> Response {
    soap(
        StatusCode::BAD_REQUEST,
        format!(
            "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:{code}</SOAP-ENV:Value><SOAP-ENV:Subcode><SOAP-ENV:Value>{subcode}</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">{reason}</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>"
        ),
    )
}

fn xs_date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `PT10S`, `PT1M`, `PT1M30S` in seconds.
fn xs_duration(text: &str) -> Option<f64> {
    let mut rest = text.strip_prefix("PT")?;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let unit = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let value: f64 = rest[..unit].parse().ok()?;
        seconds += value
            * match &rest[unit..=unit] {
                "H" => 3600.0,
                "M" => 60.0,
                "S" => 1.0,
                _ => return None,
            };
        rest = &rest[unit + 1..];
    }
    Some(seconds)
}

fn recording_information(r: &SimRecording) -> String {
    let from = r.tracks.iter().map(|t| t.from).min().unwrap_or(0);
    let to = r.tracks.iter().map(|t| t.to).max().unwrap_or(0);
    let name = if r.source.is_empty() {
        String::new()
    } else {
        format!("<tt:Name>{}</tt:Name>", r.source)
    };
    let tracks: String = r
        .tracks
        .iter()
        .map(|t| {
            format!(
                "<tt:Track><tt:TrackToken>{}</tt:TrackToken><tt:TrackType>{}</tt:TrackType><tt:Description>{}Track</tt:Description><tt:DataFrom>{}</tt:DataFrom><tt:DataTo>{}</tt:DataTo></tt:Track>",
                t.token,
                t.kind,
                t.kind,
                xs_date(t.from),
                xs_date(t.to)
            )
        })
        .collect();
    format!(
        "<tt:RecordingInformation><tt:RecordingToken>{}</tt:RecordingToken><tt:Source><tt:SourceId>SourceId_{}</tt:SourceId>{name}<tt:Location>Location</tt:Location><tt:Description>Description of source</tt:Description><tt:Address>http://www.onvif.org/ver10/schema/Profile</tt:Address></tt:Source><tt:EarliestRecording>{}</tt:EarliestRecording><tt:LatestRecording>{}</tt:LatestRecording><tt:Content>RecordContent</tt:Content>{tracks}<tt:RecordingStatus>{}</tt:RecordingStatus></tt:RecordingInformation>",
        r.token,
        r.token,
        xs_date(from),
        xs_date(to),
        r.status
    )
}

fn history_event(recording: &str, track: Option<&str>, time: i64, present: bool, start_state: bool) -> String {
    let (topic, source, item) = match track {
        Some(track) => (
            "tns1:RecordingHistory/Track/State",
            format!(
                "<tt:SimpleItem Name=\"RecordingToken\" Value=\"{recording}\"/><tt:SimpleItem Name=\"Track\" Value=\"{track}\"/>"
            ),
            "IsDataPresent",
        ),
        None => (
            "tns1:RecordingHistory/Recording/State",
            format!("<tt:SimpleItem Name=\"RecordingToken\" Value=\"{recording}\"/>"),
            "IsRecording",
        ),
    };
    let at = xs_date(time);
    format!(
        "<tt:Result><tt:RecordingToken>{recording}</tt:RecordingToken><tt:TrackToken>{}</tt:TrackToken><tt:Time>{at}</tt:Time><tt:Event><wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">{topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime=\"{at}\" PropertyOperation=\"{}\"><tt:Source>{source}</tt:Source><tt:Data><tt:SimpleItem Name=\"{item}\" Value=\"{present}\"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></tt:Event><tt:StartStateEvent>{start_state}</tt:StartStateEvent></tt:Result>",
        track.unwrap_or(""),
        if start_state { "Initialized" } else { "Changed" }
    )
}

/// The recording history between `start` and `end`: each track's data start, its gaps, and the
/// stop of a stopped recording; with the state at `start` first when asked.
fn history(recordings: &[SimRecording], start: i64, end: i64, start_state: bool) -> Vec<String> {
    let mut events: Vec<(i64, String)> = Vec::new();
    for r in recordings {
        let stopped = r.status == "Stopped";
        for t in &r.tracks {
            if start_state {
                events.push((
                    start,
                    history_event(&r.token, Some(&t.token), start, t.has_data(start), true),
                ));
            }
            let mut changes = vec![(t.from, true)];
            for &(a, b) in &t.gaps {
                changes.push((a, false));
                changes.push((b, true));
            }
            if stopped {
                changes.push((t.to, false));
            }
            for (time, present) in changes {
                if start < time && time <= end {
                    events.push((time, history_event(&r.token, Some(&t.token), time, present, false)));
                }
            }
        }
        let from = r.tracks.iter().map(|t| t.from).min().unwrap_or(0);
        let to = r.tracks.iter().map(|t| t.to).max().unwrap_or(0);
        let recording_at = |t: i64| from <= t && (!stopped || t < to);
        if start_state {
            events.push((start, history_event(&r.token, None, start, recording_at(start), true)));
        }
        let mut changes = vec![(from, true)];
        if stopped {
            changes.push((to, false));
        }
        for (time, on) in changes {
            if start < time && time <= end {
                events.push((time, history_event(&r.token, None, time, on, false)));
            }
        }
    }
    events.sort_by_key(|(t, _)| *t);
    events.into_iter().map(|(_, e)| e).collect()
}

/// The search service. None: not a search action.
fn search(s: &mut SimState, action: &str, xml: &str) -> Option<Result<String, Box<Response>>> {
    let invalid = |what: &str| Err(Box::new(fault("Sender", "ter:InvalidArgVal", what)));
    let t = now();
    // Sessions whose keep-alive passed are gone, as on a real recorder.
    let before = s.searches.len();
    s.searches.retain(|_, search| search.expires >= t);
    s.searches_expired += (before - s.searches.len()) as u32;
    Some(match action {
        "GetRecordingSummary" => {
            let from = s
                .recordings
                .iter()
                .flat_map(|r| &r.tracks)
                .map(|t| t.from)
                .min()
                .unwrap_or(0);
            let to = s
                .recordings
                .iter()
                .flat_map(|r| &r.tracks)
                .map(|t| t.to)
                .max()
                .unwrap_or(0);
            Ok(format!(
                "<tse:GetRecordingSummaryResponse><tse:Summary><tt:DataFrom>{}</tt:DataFrom><tt:DataUntil>{}</tt:DataUntil><tt:NumberRecordings>{}</tt:NumberRecordings></tse:Summary></tse:GetRecordingSummaryResponse>",
                xs_date(from),
                xs_date(to),
                s.recordings.len()
            ))
        }
        "GetRecordingInformation" => {
            let token = element_text(xml, "RecordingToken").unwrap_or("");
            match s.recordings.iter().find(|r| r.token == token) {
                Some(r) => Ok(format!(
                    "<tse:GetRecordingInformationResponse>{}</tse:GetRecordingInformationResponse>",
                    recording_information(r)
                )),
                None => invalid("no such recording"),
            }
        }
        "FindRecordings" | "FindEvents" => {
            let keep_alive = element_text(xml, "KeepAliveTime").unwrap_or("");
            let max_matches = element_text(xml, "MaxMatches").unwrap_or("");
            s.find_bounds.push((max_matches.to_owned(), keep_alive.to_owned()));
            let Some(keep_alive) = xs_duration(keep_alive) else {
                return Some(invalid("KeepAliveTime is required"));
            };
            let max: usize = max_matches.parse().unwrap_or(usize::MAX);
            let (kind, prefix, response, mut results) = if action == "FindRecordings" {
                (
                    "Recording",
                    "RecordingSearchToken_",
                    "FindRecordingsResponse",
                    s.recordings.iter().map(recording_information).collect::<Vec<_>>(),
                )
            } else {
                let (Some(start), Some(end)) = (element_text(xml, "StartPoint"), element_text(xml, "EndPoint")) else {
                    return Some(invalid("StartPoint and EndPoint are needed"));
                };
                s.find_events_window = Some((start.to_owned(), end.to_owned()));
                let parse = |d: &str| chrono::DateTime::parse_from_rfc3339(d).map(|d| d.timestamp());
                let (Ok(start), Ok(end)) = (parse(start), parse(end)) else {
                    return Some(invalid("StartPoint and EndPoint must be dates"));
                };
                let start_state = element_text(xml, "IncludeStartState") == Some("true");
                (
                    "Event",
                    "SearchToken[",
                    "FindEventsResponse",
                    history(&s.recordings, start, end, start_state),
                )
            };
            results.truncate(max);
            s.searches_opened += 1;
            let token = if kind == "Event" {
                format!("{prefix}{}]", s.searches_opened)
            } else {
                format!("{prefix}{}", s.searches_opened)
            };
            s.searches.insert(
                token.clone(),
                SimSearch {
                    kind,
                    results,
                    cursor: 0,
                    keep_alive,
                    expires: t + keep_alive,
                },
            );
            Ok(format!(
                "<tse:{response}><tse:SearchToken>{token}</tse:SearchToken></tse:{response}>"
            ))
        }
        "GetRecordingSearchResults" | "GetEventSearchResults" => {
            let kind = if action == "GetRecordingSearchResults" {
                "Recording"
            } else {
                "Event"
            };
            if kind == "Event" {
                let nth = s.asked.iter().filter(|a| *a == action).count() as u32;
                if s.garbage_event_page == Some(nth) {
                    let garbage = (StatusCode::OK, "<tse:ResultList><tt:SearchState>Searching").into_response();
                    return Some(Err(Box::new(garbage)));
                }
            }
            let token = element_text(xml, "SearchToken").unwrap_or("").to_owned();
            let max: usize = element_text(xml, "MaxResults")
                .and_then(|m| m.parse().ok())
                .unwrap_or(usize::MAX);
            let page = s.page_size.min(max);
            let never = s.searches_never_complete;
            let Some(search) = s.searches.get_mut(&token).filter(|search| search.kind == kind) else {
                return Some(invalid("unknown or expired search token"));
            };
            search.expires = t + search.keep_alive;
            let (state, items) = if never {
                ("Searching", String::new())
            } else {
                let end = (search.cursor + page).min(search.results.len());
                let items: String = search.results[search.cursor..end].concat();
                search.cursor = end;
                let state = if end == search.results.len() {
                    "Completed"
                } else {
                    "Searching"
                };
                (state, items)
            };
            Ok(format!(
                "<tse:{action}Response><tse:ResultList><tt:SearchState>{state}</tt:SearchState>{items}</tse:ResultList></tse:{action}Response>"
            ))
        }
        "GetRecordings" => {
            // Shaped like recording__get_recordings_success.xml.
            let items: String = s
                .recordings
                .iter()
                .map(|r| {
                    let tracks: String = r
                        .tracks
                        .iter()
                        .map(|t| {
                            format!(
                                "<tt:Track><tt:TrackToken>{}</tt:TrackToken><tt:Configuration><tt:TrackType>{}</tt:TrackType><tt:Description></tt:Description></tt:Configuration></tt:Track>",
                                t.token, t.kind
                            )
                        })
                        .collect();
                    format!(
                        "<trc:RecordingItem><tt:RecordingToken>{}</tt:RecordingToken><tt:Configuration><tt:Source><tt:SourceId></tt:SourceId><tt:Name>{}</tt:Name><tt:Location></tt:Location><tt:Description></tt:Description><tt:Address></tt:Address></tt:Source><tt:Content>{}</tt:Content><tt:MaximumRetentionTime>{}</tt:MaximumRetentionTime></tt:Configuration><tt:Tracks>{tracks}</tt:Tracks></trc:RecordingItem>",
                        r.token, r.source, r.source, r.max_retention
                    )
                })
                .collect();
            Ok(format!(
                "<trc:GetRecordingsResponse>{items}</trc:GetRecordingsResponse>"
            ))
        }
        "EndSearch" => {
            let token = element_text(xml, "SearchToken").unwrap_or("");
            if s.searches.remove(token).is_none() {
                return Some(invalid("unknown or expired search token"));
            }
            s.searches_ended += 1;
            Ok(format!(
                "<tse:EndSearchResponse><tse:Endpoint>{}</tse:Endpoint></tse:EndSearchResponse>",
                xs_date(t as i64)
            ))
        }
        _ => return None,
    })
}

/// Many simulated cameras on one runtime, each on its own port (for the fleet benchmark).
pub struct SimFleet {
    pub addrs: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimFleet {
    pub fn start(count: usize, template: SimState) -> SimFleet {
        let listeners: Vec<std::net::TcpListener> = (0..count)
            .map(|_| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                for (i, listener) in listeners.into_iter().enumerate() {
                    let addr = listener.local_addr().unwrap();
                    let mut state = template.clone();
                    state.serial = format!("{}{i:04}", template.serial);
                    let shared = Arc::new(Mutex::new(state));
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                        let state = Arc::clone(&shared);
                        async move {
                            let reply = handle(&state, uri.path(), &headers, &body, addr);
                            // Keep memory flat over long runs: the fleet does not need the log.
                            let mut s = state.lock().unwrap();
                            s.asked.clear();
                            s.paths.clear();
                            reply
                        }
                    });
                    tokio::spawn(async move { axum::serve(listener, app).await });
                }
                let _ = stopped.await;
            });
        });
        SimFleet {
            addrs,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
