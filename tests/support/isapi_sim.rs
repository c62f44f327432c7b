//! A simulated Hikvision recorder speaking ISAPI, shaped after Hikvision's published ISAPI
//! documentation: XML in the `http://www.hikvision.com/ver20/XMLSchema` namespace with
//! `version="2.0"`, HTTP Digest as the recorders answer it (`401` with
//! `WWW-Authenticate: Digest qop="auth", realm="...", nonce="...", stale="FALSE"`), ISAPI
//! `ResponseStatus` refusals, and the recording search paged by the server (at most `page_cap`
//! matches per answer whatever `maxResults` asks, `MORE` until the last page). Every request is
//! recorded (method and path) so tests prove the agent only reads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};

const NS: &str = r#"version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema""#;
pub const REALM: &str = "DS-7608NI-K2";

#[derive(Debug, Clone)]
pub struct SimChannel {
    pub id: u32,
    pub name: String,
    /// Recorded segments: (start, end, bytes), Unix seconds.
    pub segments: Vec<(i64, i64, u64)>,
}

#[derive(Debug, Clone)]
pub struct SimDisk {
    pub id: u32,
    /// ISAPI status word: ok, idle, smartFailed, notexist, ...
    pub status: String,
    pub capacity_mb: u64,
    pub free_mb: u64,
}

#[derive(Debug, Clone)]
pub struct IsapiState {
    pub user: String,
    pub password: String,
    pub channels: Vec<SimChannel>,
    /// An NVR with IP channels (`InputProxy/channels`); false: a DVR with only video inputs.
    pub ip_channels: bool,
    /// Matches per search answer at most (recorders cap it below what is asked).
    pub page_cap: usize,
    /// Search results written as local time without a zone, at this UTC offset (seconds);
    /// None: UTC with `Z`.
    pub local_offset: Option<i64>,
    /// The recorder's UTC offset in `/ISAPI/System/time`.
    pub time_offset: i64,
    pub disks: Vec<SimDisk>,
    /// When the recorder started (Unix seconds): `deviceUpTime` is now minus this.
    pub boot_time: i64,
    /// Everything after the login is answered with junk.
    pub garbage: bool,
    /// Every request after the login is refused (HTTP 400) with the request's headers written
    /// into the `statusString`, as some recorders echo what they were sent.
    pub echo_headers: bool,
    /// Every request: (method, path), in order.
    pub requests: Vec<(String, String)>,
    /// Search pages answered, per track.
    pub pages: BTreeMap<u32, u32>,
    /// searchIDs seen per track (one per search, the same on each of its pages).
    pub search_ids: BTreeMap<u32, Vec<String>>,
    /// Requests refused for a wrong or missing Digest answer.
    pub refused: u32,
}

impl Default for IsapiState {
    fn default() -> Self {
        Self {
            user: "camwatch".into(),
            password: "Hik-Pa55word!".into(),
            channels: Vec::new(),
            ip_channels: true,
            page_cap: 40,
            local_offset: None,
            time_offset: 3600,
            disks: vec![
                SimDisk {
                    id: 1,
                    status: "ok".into(),
                    capacity_mb: 3_815_447,
                    free_mb: 500_000,
                },
                SimDisk {
                    id: 2,
                    status: "smartFailed".into(),
                    capacity_mb: 3_815_447,
                    free_mb: 0,
                },
                SimDisk {
                    id: 3,
                    status: "notexist".into(),
                    capacity_mb: 0,
                    free_mb: 0,
                },
            ],
            boot_time: now() - 40 * 86_400,
            garbage: false,
            echo_headers: false,
            requests: Vec::new(),
            pages: BTreeMap::new(),
            search_ids: BTreeMap::new(),
            refused: 0,
        }
    }
}

pub struct IsapiSim {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<IsapiState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IsapiSim {
    pub fn start(state: IsapiState) -> IsapiSim {
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
                let app =
                    axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let state = Arc::clone(&shared);
                        async move { handle(&state, &method, &uri, &headers, &body) }
                    });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        IsapiSim {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn with<T>(&self, change: impl FnOnce(&mut IsapiState) -> T) -> T {
        change(&mut self.state.lock().unwrap())
    }
}

impl Drop for IsapiSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The nonce a Hikvision recorder hands out looks like hex of base64; any fixed value will do here.
const NONCE: &str = "4e5468694e7a42694e7a4d364f4449334f4759304e44513d";

fn digest_valid(method: &Method, headers: &HeaderMap, s: &IsapiState) -> bool {
    let Some(params) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Digest "))
    else {
        return false;
    };
    let field = |name: &str| {
        params.split(',').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_owned())
        })
    };
    let (Some(user), Some(realm), Some(nonce), Some(uri), Some(nc), Some(cnonce), Some(response)) = (
        field("username"),
        field("realm"),
        field("nonce"),
        field("uri"),
        field("nc"),
        field("cnonce"),
        field("response"),
    ) else {
        return false;
    };
    let ha1 = md5_hex(&format!("{user}:{REALM}:{}", s.password));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    user == s.user
        && realm == REALM
        && nonce == NONCE
        && response == md5_hex(&format!("{ha1}:{NONCE}:{nc}:{cnonce}:auth:{ha2}"))
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/xml; charset=\"UTF-8\"")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

fn response_status(status: StatusCode, url: &str, code: u32, text: &str, sub: &str) -> Response {
    xml(
        status,
        format!(
            "<ResponseStatus {NS}>\n<requestURL>{url}</requestURL>\n<statusCode>{code}</statusCode>\n<statusString>{text}</statusString>\n<subStatusCode>{sub}</subStatusCode>\n</ResponseStatus>\n"
        ),
    )
}

/// The text of the first element with this local name, by plain search (the simulator must not
/// share the agent's parser, or a parser bug would hide itself).
fn element_text<'a>(xml: &'a str, local: &str) -> Option<&'a str> {
    let open = format!("<{local}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find("</")? + start;
    Some(xml[start..end].trim())
}

fn parse_utc(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp())
}

fn format_time(unix: i64, local_offset: Option<i64>) -> String {
    match local_offset {
        Some(offset) => chrono::DateTime::from_timestamp(unix + offset, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        None => chrono::DateTime::from_timestamp(unix, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    }
}

fn compact(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

fn handle(state: &Mutex<IsapiState>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut s = state.lock().unwrap();
    let path = uri.path().to_owned();
    s.requests.push((method.to_string(), path.clone()));
    if !digest_valid(method, headers, &s) {
        if headers.contains_key("authorization") {
            s.refused += 1;
        }
        return (
            StatusCode::UNAUTHORIZED,
            [
                (
                    "www-authenticate",
                    format!(r#"Digest qop="auth", realm="{REALM}", nonce="{NONCE}", stale="FALSE""#),
                ),
                ("content-type", "text/html".to_owned()),
            ],
            "<!DOCTYPE html><html><head><title>Document Error: Unauthorized</title></head><body><h2>Access Error: 401 -- Unauthorized</h2><p>Authentication Error</p></body></html>",
        )
            .into_response();
    }
    if s.echo_headers {
        let echoed: String = headers
            .iter()
            .map(|(name, value)| format!("{}: {}\n", name, value.to_str().unwrap_or("?")))
            .collect();
        return response_status(
            StatusCode::BAD_REQUEST,
            &path,
            4,
            &format!("Invalid Operation {method} {path}\n{echoed}"),
            "badParameters",
        );
    }
    if s.garbage {
        return (
            StatusCode::OK,
            [("content-type", "application/xml")],
            "\u{1}\u{2}<<garbage>>",
        )
            .into_response();
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/ISAPI/ContentMgmt/InputProxy/channels") if s.ip_channels => {
            let items: String = s
                .channels
                .iter()
                .map(|c| {
                    format!(
                        "<InputProxyChannel {NS}>\n<id>{}</id>\n<name>{}</name>\n<sourceInputPortDescriptor>\n<adminProtocol>HIKVISION</adminProtocol>\n<addressingFormatType>ipaddress</addressingFormatType>\n<ipAddress>192.168.254.{}</ipAddress>\n<managePortNo>8000</managePortNo>\n<srcInputPort>1</srcInputPort>\n<userName>admin</userName>\n<streamType>auto</streamType>\n</sourceInputPortDescriptor>\n<enableAnr>false</enableAnr>\n</InputProxyChannel>\n",
                        c.id,
                        quick_escape(&c.name),
                        c.id + 1
                    )
                })
                .collect();
            xml(
                StatusCode::OK,
                format!("<InputProxyChannelList {NS} size=\"32\">\n{items}</InputProxyChannelList>\n"),
            )
        }
        ("GET", "/ISAPI/System/Video/inputs/channels") => {
            let items: String = s
                .channels
                .iter()
                .map(|c| {
                    format!(
                        "<VideoInputChannel {NS}>\n<id>{}</id>\n<inputPort>{}</inputPort>\n<videoInputEnabled>true</videoInputEnabled>\n<name>{}</name>\n<videoFormat>PAL</videoFormat>\n</VideoInputChannel>\n",
                        c.id,
                        c.id,
                        quick_escape(&c.name)
                    )
                })
                .collect();
            xml(
                StatusCode::OK,
                format!("<VideoInputChannelList {NS}>\n{items}</VideoInputChannelList>\n"),
            )
        }
        ("POST", "/ISAPI/ContentMgmt/search") => search(&mut s, &String::from_utf8_lossy(body)),
        ("GET", "/ISAPI/ContentMgmt/Storage") => {
            let hdds: String = s
                .disks
                .iter()
                .map(|d| {
                    format!(
                        "<hdd version=\"2.0\">\n<id>{}</id>\n<hddName>hdd{}</hddName>\n<hddPath></hddPath>\n<hddType>SATA</hddType>\n<status>{}</status>\n<capacity>{}</capacity>\n<freeSpace>{}</freeSpace>\n<property>RW</property>\n<manufacturer>ST4000VX007-2DT166</manufacturer>\n</hdd>\n",
                        d.id, d.id, d.status, d.capacity_mb, d.free_mb
                    )
                })
                .collect();
            xml(
                StatusCode::OK,
                format!(
                    "<storage {NS}>\n<hddList size=\"8\">\n{hdds}</hddList>\n<nasList size=\"8\">\n</nasList>\n<workMode>group</workMode>\n</storage>\n"
                ),
            )
        }
        ("GET", "/ISAPI/System/status") => {
            let t = now();
            xml(
                StatusCode::OK,
                format!(
                    "<DeviceStatus {NS}>\n<currentDeviceTime>{}</currentDeviceTime>\n<deviceUpTime>{}</deviceUpTime>\n<CPUList>\n<CPU>\n<cpuDescription>ARM</cpuDescription>\n<cpuUtilization>12</cpuUtilization>\n</CPU>\n</CPUList>\n<MemoryList>\n<Memory>\n<memoryDescription>DDR</memoryDescription>\n<memoryUsage>110.5</memoryUsage>\n<memoryAvailable>400.2</memoryAvailable>\n</Memory>\n</MemoryList>\n</DeviceStatus>\n",
                    local_with_offset(t, s.time_offset),
                    t - s.boot_time
                ),
            )
        }
        ("GET", "/ISAPI/System/time") => xml(
            StatusCode::OK,
            format!(
                "<Time {NS}>\n<timeMode>NTP</timeMode>\n<localTime>{}</localTime>\n<timeZone>CST-1:00:00</timeZone>\n</Time>\n",
                local_with_offset(now(), s.time_offset)
            ),
        ),
        ("GET" | "POST", _) => response_status(StatusCode::FORBIDDEN, &path, 4, "Invalid Operation", "notSupport"),
        _ => response_status(StatusCode::FORBIDDEN, &path, 4, "Invalid Operation", "methodNotAllowed"),
    }
}

fn quick_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn local_with_offset(unix: i64, offset: i64) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{}{sign}{:02}:{:02}",
        chrono::DateTime::from_timestamp(unix + offset, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S"),
        offset.abs() / 3600,
        offset.abs() % 3600 / 60
    )
}

fn search(s: &mut IsapiState, body: &str) -> Response {
    let bad = |why: &str| {
        response_status(
            StatusCode::BAD_REQUEST,
            "/ISAPI/ContentMgmt/search",
            6,
            "Invalid Content",
            why,
        )
    };
    let (Some(id), Some(track), Some(start), Some(end), Some(max), Some(position)) = (
        element_text(body, "searchID"),
        element_text(body, "trackID").and_then(|t| t.parse::<u32>().ok()),
        element_text(body, "startTime").and_then(parse_utc),
        element_text(body, "endTime").and_then(parse_utc),
        element_text(body, "maxResults").and_then(|t| t.parse::<usize>().ok()),
        element_text(body, "searchResultPostion").and_then(|t| t.parse::<usize>().ok()),
    ) else {
        return bad("badXmlContent");
    };
    *s.pages.entry(track).or_default() += 1;
    let ids = s.search_ids.entry(track).or_default();
    if ids.last().map(String::as_str) != Some(id) {
        ids.push(id.to_owned());
    }
    let Some(channel) = s.channels.iter().find(|c| c.id * 100 + 1 == track) else {
        return bad("badParameters");
    };
    let matching: Vec<&(i64, i64, u64)> = channel
        .segments
        .iter()
        .filter(|(a, b, _)| *b > start && *a < end)
        .collect();
    let page: Vec<&&(i64, i64, u64)> = matching.iter().skip(position).take(max.min(s.page_cap)).collect();
    let status = if matching.is_empty() {
        "NO MATCHES"
    } else if position + page.len() < matching.len() {
        "MORE"
    } else {
        "OK"
    };
    let items: String = page
        .iter()
        .map(|(a, b, size)| {
            format!(
                "<searchMatchItem>\n<sourceID>{{0000000{}-0000-0000-0000-000000000000}}</sourceID>\n<trackID>{track}</trackID>\n<timeSpan>\n<startTime>{}</startTime>\n<endTime>{}</endTime>\n</timeSpan>\n<mediaSegmentDescriptor>\n<contentType>video</contentType>\n<codecType>H.264-BP</codecType>\n<playbackURI>rtsp://192.168.1.64/Streaming/tracks/{track}/?starttime={}&amp;endtime={}&amp;name=ch{:02}_{a:016}&amp;size={size}</playbackURI>\n</mediaSegmentDescriptor>\n<metadataMatches>\n<metadataDescriptor>recordType.meta.hikvision.com/timing</metadataDescriptor>\n</metadataMatches>\n</searchMatchItem>\n",
                channel.id,
                format_time(*a, s.local_offset),
                format_time(*b, s.local_offset),
                compact(*a),
                compact(*b),
                channel.id
            )
        })
        .collect();
    xml(
        StatusCode::OK,
        format!(
            "<CMSearchResult {NS}>\n<searchID>{id}</searchID>\n<responseStatus>true</responseStatus>\n<responseStatusStrg>{status}</responseStatusStrg>\n<numOfMatches>{}</numOfMatches>\n<matchList>\n{items}</matchList>\n</CMSearchResult>\n",
            page.len()
        ),
    )
}
