//! Camera snapshots for the image tests: real JPEGs made by ffmpeg (Debian `ffmpeg`), served by a
//! small HTTP/1.1 server on loopback that answers like a camera: Basic or Digest (RFC 7616, MD5,
//! qop=auth) when asked, a picture per request from a list that the test can swap mid-run, and
//! bodies of tens of megabytes streamed so the test can tell how much the client really read.
//! The server stops when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use md5::{Digest, Md5};

/// Makes one JPEG with ffmpeg from a lavfi source (`testsrc=size=1280x720`, `color=black`),
/// optionally through a filter (`gblur=sigma=8`), starting `at` seconds into the source (the
/// test pattern's counter and moving parts differ from second to second).
pub fn ffmpeg_jpeg(dir: &Path, name: &str, source: &str, filter: Option<&str>, at: u32) -> Vec<u8> {
    let out = dir.join(name);
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source])
        .args(["-ss", &at.to_string()]);
    if let Some(filter) = filter {
        command.args(["-vf", filter]);
    }
    let status = command
        .args(["-frames:v", "1", "-q:v", "3"])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed (Debian package ffmpeg; the README's test command installs it)");
    assert!(status.success(), "ffmpeg could not make {name}");
    std::fs::read(&out).unwrap()
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Digest { user: String, password: String },
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Pictures served in turn, one per request (one picture: the same every time).
    Rotate(Vec<Vec<u8>>),
    /// A JPEG start followed by `len` bytes in all; with `announced`, a Content-Length says so
    /// up front, otherwise the length is known only at the end (connection close).
    Huge { len: u64, announced: bool },
    /// Anything else with 200, as cameras send error pages.
    Text(String),
}

#[derive(Debug)]
struct Route {
    body: Body,
    auth: Auth,
    served: u64,
    /// Authorization headers received (to show which scheme was answered).
    authorizations: Vec<String>,
}

#[derive(Default)]
struct Routes(HashMap<String, Route>);

pub struct SnapshotServer {
    pub addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    /// Bytes of `Huge` bodies that the kernel accepted before the client hung up.
    streamed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const REALM: &str = "camera";
const NONCE: &str = "6a1c9e0f3b2d4c5e";

impl SnapshotServer {
    pub fn start() -> SnapshotServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(Mutex::new(Routes::default()));
        let streamed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (routes, streamed, stop) = (Arc::clone(&routes), Arc::clone(&streamed), Arc::clone(&stop));
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (routes, streamed) = (Arc::clone(&routes), Arc::clone(&streamed));
                    std::thread::spawn(move || serve(stream, &routes, &streamed));
                }
            }
        });
        SnapshotServer {
            addr,
            routes,
            streamed,
            stop,
            thread: Some(thread),
        }
    }

    /// Serves `body` at `path` (replacing what was there), behind `auth`.
    pub fn set(&self, path: &str, body: Body, auth: Auth) {
        self.routes.lock().unwrap().0.insert(
            path.to_owned(),
            Route {
                body,
                auth,
                served: 0,
                authorizations: Vec::new(),
            },
        );
    }

    /// Swaps the pictures at `path`, keeping its authentication.
    pub fn swap(&self, path: &str, pictures: Vec<Vec<u8>>) {
        let mut routes = self.routes.lock().unwrap();
        let route = routes.0.get_mut(path).expect("the path is served");
        route.body = Body::Rotate(pictures);
        route.served = 0;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests answered with a body (authenticated where needed).
    pub fn served(&self, path: &str) -> u64 {
        self.routes.lock().unwrap().0.get(path).map_or(0, |r| r.served)
    }

    pub fn authorizations(&self, path: &str) -> Vec<String> {
        self.routes
            .lock()
            .unwrap()
            .0
            .get(path)
            .map(|r| r.authorizations.clone())
            .unwrap_or_default()
    }

    pub fn streamed_bytes(&self) -> u64 {
        self.streamed.load(Ordering::Acquire)
    }
}

impl Drop for SnapshotServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `key="value"` or `key=value` from a Digest header.
fn param<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header.split(',').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        let k = k.trim().trim_start_matches("Digest ").trim();
        (k == key).then(|| v.trim().trim_matches('"'))
    })
}

fn authorised(auth: &Auth, method: &str, header: Option<&str>) -> bool {
    match (auth, header) {
        (Auth::None, _) => true,
        (_, None) => false,
        (Auth::Basic { user, password }, Some(h)) => {
            let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            h == format!("Basic {expected}")
        }
        (Auth::Digest { user, password }, Some(h)) => {
            if !h.starts_with("Digest ") || param(h, "username") != Some(user) || param(h, "nonce") != Some(NONCE) {
                return false;
            }
            let (Some(uri), Some(nc), Some(cnonce), Some(qop), Some(response)) = (
                param(h, "uri"),
                param(h, "nc"),
                param(h, "cnonce"),
                param(h, "qop"),
                param(h, "response"),
            ) else {
                return false;
            };
            let ha1 = md5_hex(&format!("{user}:{REALM}:{password}"));
            let ha2 = md5_hex(&format!("{method}:{uri}"));
            response == md5_hex(&format!("{ha1}:{NONCE}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
    }
}

fn serve(stream: TcpStream, routes: &Mutex<Routes>, streamed: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push(line.trim_end().to_owned()),
        }
    }
    let mut stream = reader.into_inner();
    let Some((method, path)) = head.first().and_then(|l| {
        let mut words = l.split_whitespace();
        Some((words.next()?.to_owned(), words.next()?.to_owned()))
    }) else {
        return;
    };
    let authorization = head.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization").then(|| v.trim().to_owned())
    });
    let body = {
        let mut routes = routes.lock().unwrap();
        let Some(route) = routes.0.get_mut(&path) else {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        };
        if let Some(a) = &authorization {
            route.authorizations.push(a.clone());
        }
        if !authorised(&route.auth, &method, authorization.as_deref()) {
            let challenge = match route.auth {
                Auth::Digest { .. } => {
                    format!(r#"Digest realm="{REALM}", qop="auth", nonce="{NONCE}", algorithm=MD5"#)
                }
                _ => format!(r#"Basic realm="{REALM}""#),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        route.served += 1;
        match &route.body {
            Body::Rotate(pictures) => {
                Body::Rotate(vec![pictures[(route.served as usize - 1) % pictures.len()].clone()])
            }
            other => other.clone(),
        }
    };
    match body {
        Body::Rotate(mut one) => {
            let picture = one.remove(0);
            // Cameras commonly label pictures wrongly; the agent must sniff, not trust this.
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                picture.len()
            );
            let _ = stream.write_all(&picture);
        }
        Body::Text(text) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        Body::Huge { len, announced } => {
            let length = if announced {
                format!("Content-Length: {len}\r\n")
            } else {
                String::new()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n{length}Connection: close\r\n\r\n"
            );
            let mut chunk = vec![0u8; 64 * 1024];
            chunk[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..n]).is_err() {
                    break;
                }
                streamed.fetch_add(n as u64, Ordering::AcqRel);
                left -= n as u64;
                chunk[..4].fill(0);
            }
        }
    }
    let _ = stream.flush();
}

/// `(status, summary, values)` of every stored result of a (device, check), oldest first.
pub fn stored_values(data_dir: &Path, device: &str, check: &str) -> Vec<(String, String, serde_json::Value)> {
    let conn = rusqlite::Connection::open(data_dir.join("camwatch.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT status, summary, values_json FROM results WHERE device = ?1 AND check_name = ?2 ORDER BY id")
        .unwrap();
    stmt.query_map([device, check], |r| {
        let values: String = r.get(2)?;
        Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&values).unwrap_or_default()))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}
