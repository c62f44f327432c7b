//! A simulated ONVIF camera: a real HTTP server answering SOAP 1.2 the way the captured devices
//! in ../shared/testdata/onvif do (SOAP-ENV/tds/tt/trt prefixes), enforcing WS-Security
//! UsernameToken digests with a Created window against its own (possibly wrong) clock, and
//! quirk modes real cameras have. It keeps every action it was asked, so tests can prove the
//! agent only reads.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
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
    /// Requests refused for a bad or stale WS-Security token.
    pub refused: u32,
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
            refused: 0,
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
                let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
                    let state = Arc::clone(&shared);
                    async move { handle(&state, &headers, &body, addr) }
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
    r#"xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:ter="http://www.onvif.org/ver10/error"><SOAP-ENV:Body>"#
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

fn handle(state: &Mutex<SimState>, headers: &HeaderMap, body: &[u8], addr: SocketAddr) -> Response {
    let mut s = state.lock().unwrap();
    if s.http_digest && !http_digest_valid(headers, &s) {
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
    if action != "GetSystemDateAndTime" && !token_valid(&xml, &s) {
        s.refused += 1;
        return not_authorized(&s);
    }
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
            "<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace><tds:XAddr>{service}/onvif/device_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service><tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>{service}/onvif/media_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service></tds:GetServicesResponse>"
        ),
        "GetCapabilities" if !s.services_only => format!(
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>{service}/onvif/device_service</tt:XAddr></tt:Device><tt:Media><tt:XAddr>{service}/onvif/media_service</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>"
        ),
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
            "<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>{service}/onvif-cgi/jpg/image.cgi?resolution=640x360&amp;camera=1</tt:Uri></trt:MediaUri></trt:GetSnapshotUriResponse>"
        ),
        other => {
            return soap(
                StatusCode::BAD_REQUEST,
                format!(
                    "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Receiver</SOAP-ENV:Value><SOAP-ENV:Subcode><SOAP-ENV:Value>ter:ActionNotSupported</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">{other} is not supported</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>"
                ),
            );
        }
    };
    soap(StatusCode::OK, reply)
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
                    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
                        let state = Arc::clone(&shared);
                        async move {
                            let reply = handle(&state, &headers, &body, addr);
                            // Keep memory flat over long runs: the fleet does not need the log.
                            state.lock().unwrap().asked.clear();
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
