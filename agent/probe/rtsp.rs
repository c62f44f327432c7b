//! RTSP stream liveness: a small RTSP/1.0 client (RFC 2326) that asks the camera to describe
//! its stream, the way a recorder or viewer starts. One probe is one short connection:
//! `OPTIONS`, then `DESCRIBE` with `Accept: application/sdp`, answering one `401` challenge
//! (Basic or Digest, through [`super::digest`]) with the device's login. No `SETUP`/`PLAY`: a
//! camera that describes a video track has its encoder and stream service up, and asking for
//! no media keeps the check cheap for cameras that allow few viewers.
//!
//! Written here rather than taken from a crate so that every read is bounded (a header block and
//! a body of at most [`MAX_HEADER_BYTES`] and [`MAX_BODY_BYTES`]) and every failure becomes a
//! sentence. The caller bounds the whole exchange with the check's timeout.

use std::io;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::digest::{self, Challenge};
use super::{Login, ProbeContext, ProbeError, ProbeErrorKind, Transcript};
use crate::observation::stream::{StreamObservation, VideoTrack, describe_video};

/// Longest status line plus headers accepted. Cameras send a few hundred bytes; a header block
/// that goes on past this is a server gone wrong, not data to buffer.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body accepted (the SDP). Real SDPs are under 2 KiB, even with several tracks.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest server text (Server header, a reason phrase) kept for people to read.
const MAX_SHOWN_CHARS: usize = 120;

/// How a refused stream login begins (see [`Session::login_error`]), which the device's
/// [`super::LoginGate`] is told of.
const REFUSED_LOGIN: &str = "the camera refused the login for its stream";

pub async fn probe(uri: &str, ctx: &mut ProbeContext<'_>) -> Result<StreamObservation, ProbeError> {
    let login = ctx.login()?;
    let gate = ctx.gate();
    // The device's login is not sent after a refusal in this poll or while it is left alone.
    let may_log_in = gate.check();
    let (login, transcript) = (login.as_ref().filter(|_| may_log_in.is_ok()), &mut *ctx.transcript);
    let target = Target::parse(uri)?;
    if target.tls {
        // rtsps needs a trust setting ([device.stream] has none yet) and cameras carry
        // self-signed certificates, so the system store would refuse them all.
        return Err(ProbeError::new(
            ProbeErrorKind::Agent,
            format!(
                "{}: rtsps:// (RTSP over TLS) is not supported yet; use the camera's rtsp:// URL",
                target.shown
            ),
        ));
    }
    let address = super::resolve(&target.host, target.port, transcript).await?;
    let server = target.server_label();
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| connect_error(&server, &e))?;
    transcript.note(|| format!("connected to {address}"));
    let described = describe(Session::new(tcp, &target, login), target, transcript).await;
    match (described, may_log_in) {
        (Err(e), _) if e.message.starts_with(REFUSED_LOGIN) => {
            gate.refused(&e);
            Err(e)
        }
        // It wants the login that is being withheld: the refusal is the reason.
        (Err(e), Err(withheld)) if e.message.contains("asks for a login") => {
            transcript.note(|| format!("  {}", e.message));
            Err(withheld)
        }
        (described, _) => described,
    }
}

/// The conversation over an open connection: OPTIONS, DESCRIBE, and what the answers say.
pub(crate) async fn describe<S: AsyncRead + AsyncWrite + Unpin>(
    mut session: Session<S>,
    target: Target,
    transcript: &mut Transcript,
) -> Result<StreamObservation, ProbeError> {
    // OPTIONS first, as players do: some cameras only wake their stream service on it. Its
    // answer is informative; only DESCRIBE decides.
    let options = session.request("OPTIONS", &[], transcript).await?;
    if options.status == 200
        && let Some(public) = options.header("public")
    {
        transcript.note(|| format!("   methods: {}", shown(public)));
    }
    let described = session
        .request("DESCRIBE", &[("Accept", "application/sdp")], transcript)
        .await?;
    let _ = session.stream.shutdown().await;
    let path = target.path.clone();
    match described.status {
        200 => {}
        401 => return Err(session.login_error(&described)),
        404 => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "no stream at {path} on the camera at {}: it answers 404 Not Found; check the \
                     stream URL ([device.stream] uri, or the camera's ONVIF media profile)",
                    session.server
                ),
            ));
        }
        403 => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "the camera at {} forbids access to the stream at {path} (403 Forbidden); \
                     give the device's user the right to view live video",
                    session.server
                ),
            ));
        }
        453 | 503 => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "the camera at {} cannot serve its stream now ({} {}): too many viewers or \
                     its encoder is busy",
                    session.server,
                    described.status,
                    shown(&described.reason)
                ),
            ));
        }
        code => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "the camera at {} answered DESCRIBE {path} with {code} {}",
                    session.server,
                    shown(&described.reason)
                ),
            ));
        }
    }
    if let Some(kind) = described.header("content-type")
        && !kind.to_ascii_lowercase().starts_with("application/sdp")
    {
        transcript.note(|| {
            format!(
                "   content type {} is not application/sdp; reading it as SDP",
                shown(kind)
            )
        });
    }
    let sdp = String::from_utf8_lossy(&described.body);
    let (video, media_tracks) = parse_sdp(&sdp);
    transcript.note(|| match &video {
        Some(v) => format!("   SDP: {media_tracks} media track(s); video {}", describe_video(v)),
        None => format!("   SDP: {media_tracks} media track(s), none of them video"),
    });
    Ok(StreamObservation {
        uri: target.shown,
        status_code: described.status,
        auth_required: session.auth_required,
        auth_scheme: session.answered.as_ref().map(|a| a.challenge.scheme()),
        server: session.server_header,
        video,
        media_tracks,
    })
}

#[derive(Clone)]
struct Credentials {
    user: String,
    password: SecretString,
}

/// The parts of an `rtsp://[user[:password]@]host[:port]/path` URL.
pub(crate) struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query, as shown in messages (password-like query values masked).
    path: String,
    /// The URL as sent: never with user:password@.
    url: String,
    /// The URL as shown, also without password-like query values (`?user=admin&password=...`).
    shown: String,
    userinfo: Option<Credentials>,
}

impl Target {
    pub(crate) fn parse(uri: &str) -> Result<Target, ProbeError> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| bad_url("it does not start with rtsp://"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "rtsp" => false,
            "rtsps" => true,
            _ => return Err(bad_url("it does not start with rtsp://")),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        // The last '@' ends the userinfo: a password may hold an unencoded '@'.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad_url("its host or port is not readable"))?;
        let port = port.unwrap_or(if tls { 322 } else { 554 });
        let raw_path = path.split('#').next().unwrap_or("");
        // Sent as written (host, port and path): Digest answers are checked against the URL the
        // camera sees.
        let url = format!("{scheme}://{hostport}{raw_path}");
        let path = if raw_path.is_empty() { "/" } else { raw_path };
        let userinfo = userinfo.map(|info| {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            Credentials {
                user: percent_decode(user),
                password: SecretString::from(percent_decode(password)),
            }
        });
        Ok(Target {
            tls,
            host,
            port,
            path: mask_query(path),
            shown: mask_query(&url),
            url,
            userinfo,
        })
    }

    fn server_label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The message never repeats the URL: it may hold a password.
fn bad_url(why: &str) -> ProbeError {
    ProbeError::new(ProbeErrorKind::Agent, format!("the stream URL is not usable: {why}"))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
    };
    Some((host.to_owned(), port))
}

/// Some cameras take their login in the query (`?user=admin&password=...`): such values are
/// sent, but shown as `***` (the one rule of `vocab::urls`).
fn mask_query(url: &str) -> String {
    crate::vocab::urls::shown_url(url)
}

/// `%40` -> `@`; malformed escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn connect_error(server: &str, e: &io::Error) -> ProbeError {
    let message = match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("the camera refuses RTSP connections on {server}: its stream service is down or the port is wrong")
        }
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            format!("cannot reach the camera at {server} for RTSP: {e}; check its network link")
        }
        _ => format!("cannot connect to the camera's RTSP service on {server}: {e}"),
    };
    ProbeError::new(ProbeErrorKind::Device, message)
}

/// Header names in lower case with their trimmed values, in the order received.
type Headers = Vec<(String, String)>;

/// One RTSP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Response {
    status: u16,
    reason: String,
    headers: Headers,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The challenge answered, kept to sign the following requests with the same nonce.
struct Answered {
    challenge: Challenge,
    /// Uses of the challenge's nonce so far (Digest `nc`).
    uses: u32,
    cnonce: String,
}

pub(crate) struct Session<S> {
    stream: S,
    /// Received bytes not yet taken as an answer.
    buffer: Vec<u8>,
    /// `host:port`, for messages.
    server: String,
    /// The request URL (no user:password@).
    url: String,
    /// The URL for transcripts and messages.
    shown_url: String,
    cseq: u32,
    login: Option<Credentials>,
    answered: Option<Answered>,
    auth_required: bool,
    server_header: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    pub(crate) fn new(stream: S, target: &Target, login: Option<&Login>) -> Self {
        // The device's own login wins; credentials written into the URL are the fallback.
        let login = match (login, &target.userinfo) {
            (Some(l), _) => Some(Credentials {
                user: l.user.clone(),
                password: l.password.clone(),
            }),
            (None, Some(c)) => Some(c.clone()),
            (None, None) => None,
        };
        Session {
            stream,
            buffer: Vec::new(),
            server: target.server_label(),
            url: target.url.clone(),
            shown_url: target.shown.clone(),
            cseq: 0,
            login,
            answered: None,
            auth_required: false,
            server_header: None,
        }
    }

    /// Sends `method` and reads its answer; a first `401` is answered once with the login.
    async fn request(
        &mut self,
        method: &str,
        extra: &[(&str, &str)],
        transcript: &mut Transcript,
    ) -> Result<Response, ProbeError> {
        loop {
            let response = self.send_once(method, extra, transcript).await?;
            if response.status != 401 {
                return Ok(response);
            }
            self.auth_required = true;
            let challenges = digest::parse_challenges(response.headers_named("www-authenticate"));
            let (Some(login), None, Some(challenge)) = (&self.login, &self.answered, digest::best(&challenges)) else {
                return Ok(response);
            };
            transcript.note(|| format!("   challenged for {} authentication", challenge.scheme()));
            if login.user.contains(['\r', '\n']) {
                return Err(ProbeError::new(
                    ProbeErrorKind::Agent,
                    "the device's username contains a line break, which RTSP cannot carry",
                ));
            }
            self.answered = Some(Answered {
                challenge: challenge.clone(),
                uses: 0,
                cnonce: digest::cnonce(),
            });
        }
    }

    async fn send_once(
        &mut self,
        method: &str,
        extra: &[(&str, &str)],
        transcript: &mut Transcript,
    ) -> Result<Response, ProbeError> {
        self.cseq += 1;
        let cseq = self.cseq;
        let mut request = format!(
            "{method} {} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: camwatch\r\n",
            self.url
        );
        for (name, value) in extra {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut authorization = None;
        if let (Some(answered), Some(login)) = (&mut self.answered, &self.login) {
            answered.uses += 1;
            authorization = Some(SecretString::from(digest::authorization(
                &answered.challenge,
                method,
                &self.url,
                &login.user,
                login.password.expose_secret(),
                answered.uses,
                &answered.cnonce,
            )));
        }
        let with_auth = match (&authorization, &self.answered) {
            (Some(_), Some(a)) => format!(" (with {} authentication)", a.challenge.scheme()),
            _ => String::new(),
        };
        transcript.note(|| format!("-> {method} {} CSeq {cseq}{with_auth}", self.shown_url));
        let mut bytes = request.into_bytes();
        if let Some(value) = &authorization {
            bytes.extend_from_slice(format!("Authorization: {}\r\n", value.expose_secret()).as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        let written = self.stream.write_all(&bytes).await;
        // A Basic answer carries the password, barely encoded: do not leave it in freed memory.
        bytes.fill(0);
        written.map_err(|e| {
            ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "lost the RTSP connection to the camera at {} while sending {method}: {e}",
                    self.server
                ),
            )
        })?;
        let response = self.read_response(method).await?;
        transcript.note(|| {
            format!(
                "<- RTSP/1.0 {} {}{}",
                response.status,
                shown(&response.reason),
                if response.body.is_empty() {
                    String::new()
                } else {
                    format!(" ({} bytes)", response.body.len())
                }
            )
        });
        if let Some(answer_cseq) = response.header("cseq")
            && answer_cseq.trim() != cseq.to_string()
        {
            transcript.note(|| format!("   answer carries CSeq {}, not {cseq}", shown(answer_cseq)));
        }
        if let Some(server) = response.header("server") {
            let server = shown(server);
            if self.server_header.as_ref() != Some(&server) {
                transcript.note(|| format!("   server: {server}"));
                self.server_header = Some(server);
            }
        }
        Ok(response)
    }

    async fn read_response(&mut self, method: &str) -> Result<Response, ProbeError> {
        let head_end = loop {
            match head_end(&self.buffer) {
                Some(end) if end > MAX_HEADER_BYTES => return Err(self.too_long(method)),
                Some(end) => break end,
                None if self.buffer.len() > MAX_HEADER_BYTES => return Err(self.too_long(method)),
                None => {}
            }
            // Known not to be RTSP from its first bytes: say so now instead of waiting for the
            // end of headers that may never come.
            let start = &self.buffer[..self.buffer.len().min(5)];
            if !b"RTSP/".starts_with(start) {
                return Err(self.not_rtsp(method));
            }
            self.fill(method, "its answer").await?;
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        let (status, reason, headers) = parse_head(&head).ok_or_else(|| self.not_rtsp(method))?;
        let length = match headers.iter().find(|(n, _)| n == "content-length") {
            None => 0,
            Some((_, v)) => v.trim().parse::<usize>().map_err(|_| {
                ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "the camera at {} answered {method} with a Content-Length of {} that is not a number",
                        self.server,
                        shown(v)
                    ),
                )
            })?,
        };
        if length > MAX_BODY_BYTES {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "the camera at {} announced a {length}-byte answer to {method}, more than the \
                     {MAX_BODY_BYTES} allowed; not read",
                    self.server
                ),
            ));
        }
        self.buffer.drain(..head_end);
        while self.buffer.len() < length {
            self.fill(method, "the body of its answer").await?;
        }
        let body: Vec<u8> = self.buffer.drain(..length).collect();
        Ok(Response {
            status,
            reason,
            headers,
            body,
        })
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self, method: &str, what: &str) -> Result<(), ProbeError> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.map_err(|e| {
            ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "lost the RTSP connection to the camera at {} while waiting for {what} to {method}: {e}",
                    self.server
                ),
            )
        })?;
        if n == 0 {
            let message = if self.buffer.is_empty() {
                format!(
                    "the camera at {} closed the RTSP connection instead of answering {method}",
                    self.server
                )
            } else {
                format!(
                    "the camera at {} closed the RTSP connection in the middle of {what} to {method}",
                    self.server
                )
            };
            return Err(ProbeError::new(ProbeErrorKind::Device, message));
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn too_long(&self, method: &str) -> ProbeError {
        ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "the server at {} answered {method} with headers longer than {MAX_HEADER_BYTES} \
                 bytes; it is not behaving like an RTSP camera",
                self.server
            ),
        )
    }

    fn not_rtsp(&self, method: &str) -> ProbeError {
        let first = String::from_utf8_lossy(&self.buffer);
        let first = first.lines().next().unwrap_or("");
        ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "the server at {} sent {} to {method}, which is not an RTSP answer; is the stream \
                 URL's port the camera's RTSP port (usually 554)?",
                self.server,
                quoted(first)
            ),
        )
    }

    /// A final 401: the login was refused, or none was given or usable.
    fn login_error(&self, response: &Response) -> ProbeError {
        let server = &self.server;
        let message = match (&self.answered, &self.login) {
            (Some(answered), Some(login)) => format!(
                "{REFUSED_LOGIN} ({} authentication as user \"{}\"); \
                 check the device's username and password",
                answered.challenge.scheme(),
                shown(&login.user)
            ),
            (None, None) => {
                let offered: Vec<String> = response
                    .headers_named("www-authenticate")
                    .map(|h| h.split_whitespace().next().unwrap_or("").to_owned())
                    .collect();
                format!(
                    "the camera at {server} asks for a login for its stream ({}); set username and \
                     password_env (or password_file) on the device",
                    if offered.is_empty() {
                        "no scheme given".to_owned()
                    } else {
                        offered.join(", ")
                    }
                )
            }
            _ => {
                let offered: Vec<String> = response
                    .headers_named("www-authenticate")
                    .map(|h| shown(h.split_whitespace().next().unwrap_or("")))
                    .collect();
                format!(
                    "the camera at {server} asks for a login camwatch cannot give ({}); camwatch \
                     answers Basic and Digest (MD5, SHA-256)",
                    if offered.is_empty() {
                        "no challenge in its answer".to_owned()
                    } else {
                        offered.join(", ")
                    }
                )
            }
        };
        ProbeError::new(ProbeErrorKind::Device, message)
    }
}

/// End of the header block (after the blank line), accepting bare `\n` line ends.
fn head_end(buffer: &[u8]) -> Option<usize> {
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Status line and headers: `RTSP/1.0 200 OK`, then `Name: value` lines. Header names come back
/// in lower case. None when the status line is not RTSP's.
fn parse_head(head: &str) -> Option<(u16, String, Headers)> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next()?;
    let (version, rest) = status_line.split_once(' ')?;
    let version = version.strip_prefix("RTSP/")?;
    if !version
        .split_once('.')
        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let status = code.parse().ok()?;
    let mut headers: Headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        // A line starting with white space continues the previous header (RFC 2326 follows
        // HTTP/1.1 here); a line without a colon is skipped rather than trusted.
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Some((status, reason.trim().to_owned(), headers))
}

/// The first video track and the number of media sections of an SDP (RFC 4566).
pub fn parse_sdp(sdp: &str) -> (Option<VideoTrack>, u32) {
    let mut media_tracks = 0u32;
    let mut session_framerate = None;
    // (payload type, attributes) of the first video section.
    let mut video: Option<(String, Vec<&str>)> = None;
    let mut in_first_video = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            media_tracks += 1;
            let mut fields = media.split_whitespace();
            let kind = fields.next().unwrap_or("");
            in_first_video = false;
            if kind.eq_ignore_ascii_case("video") && video.is_none() {
                // m=video PORT PROTO FMT...: the first format is the one the camera prefers.
                let format = fields.nth(2).unwrap_or("").to_owned();
                video = Some((format, Vec::new()));
                in_first_video = true;
            }
        } else if let Some(attribute) = line.strip_prefix("a=") {
            if in_first_video {
                if let Some((_, attributes)) = video.as_mut() {
                    attributes.push(attribute);
                }
            } else if media_tracks == 0 {
                session_framerate = session_framerate.or_else(|| framerate_attribute(attribute));
            }
        }
    }
    let video = video.map(|(payload, attributes)| video_track(&payload, &attributes, session_framerate));
    (video, media_tracks)
}

fn video_track(payload: &str, attributes: &[&str], session_framerate: Option<f64>) -> VideoTrack {
    // `a=NAME:PT VALUE` for this payload type.
    let for_payload = |name: &str| {
        attributes.iter().find_map(|a| {
            let rest = a.strip_prefix(name)?.strip_prefix(':')?;
            let (pt, value) = rest.split_once(' ').unwrap_or((rest, ""));
            (pt.trim() == payload).then(|| value.trim())
        })
    };
    let encoding = for_payload("rtpmap").map(|m| m.split('/').next().unwrap_or("").trim().to_ascii_uppercase());
    let codec = match encoding.as_deref() {
        Some("H264") => "H264".to_owned(),
        Some("H265" | "HEVC") => "H265".to_owned(),
        Some("JPEG" | "MJPEG") => "MJPEG".to_owned(),
        Some("MP4V-ES") => "MPEG4".to_owned(),
        Some(name) if !name.is_empty() => shown(name),
        // Static payload types (RFC 3551) need no rtpmap: 26 is JPEG, older Axis cameras use it.
        _ => match payload {
            "26" => "MJPEG".to_owned(),
            "32" => "MPV".to_owned(),
            "34" => "H263".to_owned(),
            _ => "unknown".to_owned(),
        },
    };
    let framesize = for_payload("framesize").and_then(|v| dimensions(v, '-'));
    let x_dimensions = attributes
        .iter()
        .find_map(|a| a.strip_prefix("x-dimensions:"))
        .and_then(|v| dimensions(v, ','));
    let sps = || {
        if codec != "H264" {
            return None;
        }
        let fmtp = for_payload("fmtp")?;
        let sets = fmtp
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("sprop-parameter-sets"))?
            .1;
        sets.split(',').find_map(|set| {
            let nal = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, set.trim()).ok()?;
            h264_sps_dimensions(&nal)
        })
    };
    let (width, height) = match framesize.or(x_dimensions).or_else(sps) {
        Some((w, h)) => (Some(w), Some(h)),
        None => (None, None),
    };
    let framerate = attributes
        .iter()
        .find_map(|a| framerate_attribute(a))
        .or(session_framerate);
    VideoTrack {
        codec,
        width,
        height,
        framerate,
    }
}

/// `framerate:25`, `framerate:25.000000`, `x-framerate:30`.
fn framerate_attribute(attribute: &str) -> Option<f64> {
    let value = attribute
        .strip_prefix("framerate:")
        .or_else(|| attribute.strip_prefix("x-framerate:"))?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0)
}

/// `1920-1080` or `1920,1080`, within believable bounds.
fn dimensions(value: &str, separator: char) -> Option<(u32, u32)> {
    let (w, h) = value.trim().split_once(separator)?;
    let w: u32 = w.trim().parse().ok()?;
    let h: u32 = h.trim().parse().ok()?;
    ((1..=16384).contains(&w) && (1..=16384).contains(&h)).then_some((w, h))
}

/// Bits of an H.264 RBSP, read most significant first.
struct Bits {
    bytes: Vec<u8>,
    position: usize,
}

impl Bits {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.bytes.get(self.position / 8)?;
        let bit = (byte >> (7 - self.position % 8)) & 1;
        self.position += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Unsigned Exp-Golomb (ue(v)).
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Signed Exp-Golomb (se(v)).
    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = i32::try_from(k.div_ceil(2)).ok()?;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

/// Width and height from an H.264 sequence parameter set NAL unit (ITU-T H.264 7.3.2.1.1),
/// cropping applied. Cameras that do not write `a=framesize` still carry their SPS in the SDP.
pub fn h264_sps_dimensions(nal: &[u8]) -> Option<(u32, u32)> {
    let (&header, payload) = nal.split_first()?;
    if header & 0x1f != 7 {
        return None;
    }
    // Remove emulation prevention: 00 00 03 -> 00 00.
    let mut rbsp = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = Bits {
        bytes: rbsp,
        position: 0,
    };
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            // delta_scale is -128..=127 (7.4.2.1.1.1); anything else is not an SPS.
                            let delta = r.se()?;
                            if !(-128..=127).contains(&delta) {
                                return None;
                            }
                            next = (last + delta + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()?.checked_add(1)?;
    let height_map_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        left = r.ue()?;
        right = r.ue()?;
        top = r.ue()?;
        bottom = r.ue()?;
    }
    let chroma_array_type = if separate_colour_plane { 0 } else { chroma_format_idc };
    let (crop_x, crop_y) = match chroma_array_type {
        0 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        2 => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let width = width_mbs
        .checked_mul(16)?
        .checked_sub(left.checked_add(right)?.checked_mul(crop_x)?)?;
    let height = (2 - frame_mbs_only)
        .checked_mul(height_map_units)?
        .checked_mul(16)?
        .checked_sub(top.checked_add(bottom)?.checked_mul(crop_y)?)?;
    ((1..=16384).contains(&width) && (1..=16384).contains(&height)).then_some((width, height))
}

/// A server's text in a message: printable, and short enough to read.
fn shown(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_SHOWN_CHARS)
        .collect();
    if text.chars().count() > MAX_SHOWN_CHARS {
        format!("{clean}...")
    } else {
        clean
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", shown(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::stream::fps_text;

    /// An Axis-style answer (Axis firmware serves through GStreamer too): absolute control URLs,
    /// `a=framesize`, a fractional `a=framerate`, and an audio track after the video.
    const AXIS_SDP: &str = "v=0\r\n\
        o=- 1706523212871938 1 IN IP4 192.0.2.30\r\n\
        s=Session streamed with GStreamer\r\n\
        i=rtsp-server\r\n\
        t=0 0\r\n\
        a=tool:GStreamer\r\n\
        a=type:broadcast\r\n\
        a=range:npt=now-\r\n\
        a=control:rtsp://192.0.2.30:554/axis-media/media.amp?videocodec=h264&resolution=1920x1080\r\n\
        m=video 0 RTP/AVP 96\r\n\
        c=IN IP4 0.0.0.0\r\n\
        b=AS:50000\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=640028;sprop-parameter-sets=Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY,aOvjyyLA\r\n\
        a=control:rtsp://192.0.2.30:554/axis-media/media.amp/stream=0?videocodec=h264&resolution=1920x1080\r\n\
        a=framesize:96 1920-1080\r\n\
        a=framerate:30.000000\r\n\
        a=transform:1.000000,0.000000,0.000000;0.000000,1.000000,0.000000;0.000000,0.000000,1.000000\r\n\
        m=audio 0 RTP/AVP 97\r\n\
        c=IN IP4 0.0.0.0\r\n\
        b=AS:32\r\n\
        a=rtpmap:97 MPEG4-GENERIC/16000/1\r\n\
        a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1408;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
        a=control:rtsp://192.0.2.30:554/axis-media/media.amp/stream=1?videocodec=h264&resolution=1920x1080\r\n";

    /// A Hikvision-style answer: no framesize or framerate, the size only in the SPS (here a
    /// 2560x1440 High-profile SPS made with x264), `e=NONE`, vendor attributes.
    const HIKVISION_SDP: &str = "v=0\r\n\
        o=- 1109162014219182 1109162014219192 IN IP4 192.0.2.64\r\n\
        s=Media Presentation\r\n\
        e=NONE\r\n\
        b=AS:5100\r\n\
        t=0 0\r\n\
        a=control:rtsp://192.0.2.64:554/Streaming/Channels/101/?transportmode=unicast\r\n\
        m=video 0 RTP/AVP 96\r\n\
        b=AS:5000\r\n\
        a=recvonly\r\n\
        a=x-dimensions:2560,1440\r\n\
        a=control:rtsp://192.0.2.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z2QAMqzZQCgAtbARAAADAAEAAAMAMg8YMZY=,aOvjyyLA\r\n\
        a=Media_header:MEDIAINFO=494D4B48010200000400000100000000000000000000000000000000000000000000000000000000;\r\n\
        a=appversion:1.0\r\n";

    /// A Dahua-style answer: H.265 first, session-less framerate in the media section, audio
    /// and ONVIF metadata tracks, relative control URLs.
    const DAHUA_SDP: &str = "v=0\r\n\
        o=- 2251938210 2251938210 IN IP4 0.0.0.0\r\n\
        s=Media Server\r\n\
        c=IN IP4 0.0.0.0\r\n\
        t=0 0\r\n\
        a=control:*\r\n\
        a=packetization-supported:DH\r\n\
        a=rtppayload-supported:DH\r\n\
        a=range:npt=now-\r\n\
        m=video 0 RTP/AVP 98\r\n\
        a=control:trackID=0\r\n\
        a=framerate:25.000000\r\n\
        a=rtpmap:98 H265/90000\r\n\
        a=fmtp:98 profile-id=1;sprop-sps=QgEBAWAAAAMAsAAAAwAAAwB7oAPAgBDlja5JMvTcBAQEAg==;sprop-pps=RAHA8vA8kA==;sprop-vps=QAEMAf//AWAAAAMAsAAAAwAAAwB7rAk=\r\n\
        a=recvonly\r\n\
        m=audio 0 RTP/AVP 8\r\n\
        a=control:trackID=1\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=recvonly\r\n\
        m=application 0 RTP/AVP 107\r\n\
        a=control:trackID=4\r\n\
        a=rtpmap:107 vnd.onvif.metadata/90000\r\n\
        a=recvonly\r\n";

    #[test]
    fn axis_sdp_gives_codec_size_and_rate() {
        let (video, tracks) = parse_sdp(AXIS_SDP);
        let video = video.unwrap();
        assert_eq!(tracks, 2);
        assert_eq!(video.codec, "H264");
        assert_eq!((video.width, video.height), (Some(1920), Some(1080)));
        assert_eq!(video.framerate, Some(30.0));
        assert_eq!(describe_video(&video), "H264 1920x1080 at 30 fps");
    }

    #[test]
    fn hikvision_sdp_size_from_x_dimensions_else_sps() {
        let (video, tracks) = parse_sdp(HIKVISION_SDP);
        let video = video.unwrap();
        assert_eq!(tracks, 1);
        assert_eq!(video.codec, "H264");
        assert_eq!((video.width, video.height), (Some(2560), Some(1440)));
        assert_eq!(video.framerate, None);
        // Without x-dimensions, the SPS says the same.
        let (video, _) = parse_sdp(&HIKVISION_SDP.replace("a=x-dimensions:2560,1440\r\n", ""));
        assert_eq!(video.unwrap().width, Some(2560));
    }

    #[test]
    fn dahua_sdp_h265_with_audio_and_metadata() {
        let (video, tracks) = parse_sdp(DAHUA_SDP);
        let video = video.unwrap();
        assert_eq!(tracks, 3);
        assert_eq!(video.codec, "H265");
        // H.265 SPS are not parsed: the size is absent rather than guessed.
        assert_eq!((video.width, video.height), (None, None));
        assert_eq!(video.framerate, Some(25.0));
        assert_eq!(describe_video(&video), "H265 at 25 fps");
    }

    #[test]
    fn mjpeg_by_static_payload_and_tracks_without_video() {
        let sdp = "v=0\no=- 1 1 IN IP4 192.0.2.9\ns=MJPEG\nt=0 0\na=framerate:12.5\nm=video 0 RTP/AVP 26\na=framesize:26 640-480\n";
        let (video, tracks) = parse_sdp(sdp);
        let video = video.unwrap();
        assert_eq!(tracks, 1);
        assert_eq!(video.codec, "MJPEG");
        assert_eq!((video.width, video.height), (Some(640), Some(480)));
        assert_eq!(video.framerate, Some(12.5), "the session-level rate applies");
        assert_eq!(describe_video(&video), "MJPEG 640x480 at 12.5 fps");

        let audio_only = "v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        assert_eq!(parse_sdp(audio_only), (None, 1));
        assert_eq!(parse_sdp(""), (None, 0));
        assert_eq!(parse_sdp("<html>not sdp</html>"), (None, 0));
        // A framesize for another payload type, or an absurd one, is not taken.
        let other = "m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=framesize:97 1280-720\na=x-dimensions:0,99999\n";
        let video = parse_sdp(other).0.unwrap();
        assert_eq!((video.width, video.height), (None, None));
    }

    #[test]
    fn h264_sps_sizes_with_cropping_and_profiles() {
        let decode = |b64: &str| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        // GStreamer's x264enc at 640x360, Constrained Baseline (what tests/rtsp.rs serves).
        assert_eq!(
            h264_sps_dimensions(&decode("Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA==")),
            Some((640, 360))
        );
        // x264 High profile at 1920x1080: 1088 coded lines cropped to 1080.
        assert_eq!(
            h264_sps_dimensions(&decode("Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY")),
            Some((1920, 1080))
        );
        assert_eq!(
            h264_sps_dimensions(&decode("Z01AH+ygKALdgIgAAAMACAAAAwGQeMGMsA==")),
            Some((1280, 720))
        );
        assert_eq!(
            h264_sps_dimensions(&decode("Z0LAHtkAsBJsBEAAAAMAQAAADIPFi5I=")),
            Some((704, 576))
        );
        // A PPS, a truncated SPS and nothing are not sizes.
        assert_eq!(h264_sps_dimensions(&decode("aOvjyyLA")), None);
        assert_eq!(h264_sps_dimensions(&[0x67, 0x64, 0x00]), None);
        assert_eq!(h264_sps_dimensions(&[]), None);
    }

    /// Found while writing the rtsp fuzz target (by reading, not by the fuzzer, which had not
    /// reached it after 3 million runs): a scaling list delta of 2^31-1, which Exp-Golomb can
    /// carry, overflowed the running scale. Also a seed: `fuzz/seeds/rtsp/sps-*`.
    #[test]
    fn an_sps_with_an_impossible_scaling_delta_has_no_size() {
        // High profile, scaling matrix present, first list present, delta_scale se(v) = 2^31-1.
        let nal = [0x67, 100, 0, 40, 0xad, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe];
        assert_eq!(h264_sps_dimensions(&nal), None);
    }

    #[test]
    fn status_lines_and_headers() {
        let (status, reason, headers) = parse_head(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"IP Camera\",\r\n nonce=\"abc\"\r\nWWW-Authenticate: Basic realm=\"IP Camera\"\r\nno colon here\r\n\r\n",
        )
        .unwrap();
        assert_eq!((status, reason.as_str()), (401, "Unauthorized"));
        let auth: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == "www-authenticate")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            auth,
            ["Digest realm=\"IP Camera\", nonce=\"abc\"", "Basic realm=\"IP Camera\""],
            "folded lines join the header they continue"
        );
        assert_eq!(headers.len(), 3);
        // Bare LF line ends, no reason phrase.
        let (status, reason, headers) = parse_head("RTSP/1.0 200\nServer: Dahua Rtsp Server/3.0\n\n").unwrap();
        assert_eq!((status, reason.as_str()), (200, ""));
        assert_eq!(headers, [("server".to_owned(), "Dahua Rtsp Server/3.0".to_owned())]);
        for garbage in [
            "HTTP/1.1 200 OK\r\n\r\n",
            "RTSP/1.0 20 OK\r\n\r\n",
            "RTSP/x 200 OK\r\n\r\n",
            "RTSP/1.0200 OK\r\n\r\n",
            "SSH-2.0-OpenSSH_9.2\r\n\r\n",
            "",
        ] {
            assert_eq!(parse_head(garbage), None, "{garbage:?}");
        }
        assert_eq!(head_end(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\nv=0"), Some(28));
        assert_eq!(head_end(b"RTSP/1.0 200 OK\nCSeq: 1\n\n"), Some(25));
        assert_eq!(head_end(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n"), None);
    }

    #[test]
    fn urls_lose_their_credentials_and_keep_the_rest() {
        let t = Target::parse("rtsp://admin:p%40ss:w@rd@192.0.2.3:8554/Streaming/Channels/101?transportmode=unicast#x")
            .unwrap();
        assert_eq!(
            t.url,
            "rtsp://192.0.2.3:8554/Streaming/Channels/101?transportmode=unicast"
        );
        assert_eq!((t.host.as_str(), t.port), ("192.0.2.3", 8554));
        assert_eq!(t.path, "/Streaming/Channels/101?transportmode=unicast");
        let login = t.userinfo.as_ref().unwrap();
        assert_eq!(login.user, "admin");
        assert_eq!(login.password.expose_secret(), "p@ss:w@rd");
        assert_eq!(t.server_label(), "192.0.2.3:8554");

        let t =
            Target::parse("rtsp://192.0.2.4/cam/realmonitor?channel=1&user=admin&password=s3cret&subtype=0").unwrap();
        assert_eq!(
            t.url,
            "rtsp://192.0.2.4/cam/realmonitor?channel=1&user=admin&password=s3cret&subtype=0"
        );
        assert_eq!(
            t.shown,
            "rtsp://192.0.2.4/cam/realmonitor?channel=1&user=admin&password=***&subtype=0"
        );
        assert_eq!(t.path, "/cam/realmonitor?channel=1&user=admin&password=***&subtype=0");

        let t = Target::parse("rtsp://[2001:db8::5]/live").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("2001:db8::5", 554));
        assert_eq!(t.server_label(), "[2001:db8::5]:554");
        assert!(t.userinfo.is_none());
        let t = Target::parse("RTSPS://cam.example").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.port, t.path.as_str(), t.url.as_str()),
            (322, "/", "RTSPS://cam.example")
        );

        for bad in [
            "http://cam/x",
            "cam:554/x",
            "rtsp://:554/x",
            "rtsp://cam:99999/x",
            "rtsp://user:secret@/x",
        ] {
            let e = Target::parse(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.kind, ProbeErrorKind::Agent);
            assert!(!e.message.contains("secret"), "{}", e.message);
        }
    }

    #[test]
    fn frame_rates_read_plainly() {
        assert_eq!(fps_text(25.0), "25");
        assert_eq!(fps_text(29.97), "29.97");
        assert_eq!(fps_text(12.5), "12.5");
        assert_eq!(framerate_attribute("framerate:0"), None);
        assert_eq!(framerate_attribute("x-framerate:30"), Some(30.0));
    }

    /// A scripted camera on an in-memory pipe: it challenges for Digest, and the answer must use
    /// the full URL as `uri` and count the nonce's uses.
    #[tokio::test]
    async fn digest_answers_sign_the_full_url_and_count_uses() {
        let (client, mut camera) = tokio::io::duplex(64 * 1024);
        let url = "rtsp://192.0.2.3:554/live/ch0".to_owned();
        let script = tokio::spawn(async move {
            let mut seen = Vec::new();
            let answers = [
                "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam\", nonce=\"n1\"\r\n\r\n",
                "RTSP/1.0 200 OK\r\nCSeq: 2\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n",
                "RTSP/1.0 200 OK\r\nCSeq: 3\r\nServer: Test\r\nContent-Length: 47\r\n\r\nv=0\r\nm=video 0 RTP/AVP 26\r\na=x-dimensions:8,",
            ];
            for answer in answers {
                let mut request = Vec::new();
                while !request.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    camera.read_exact(&mut byte).await.unwrap();
                    request.push(byte[0]);
                }
                seen.push(String::from_utf8(request).unwrap());
                camera.write_all(answer.as_bytes()).await.unwrap();
            }
            camera.write_all(b"6\r\n").await.unwrap();
            seen
        });
        let mut session = Session {
            stream: client,
            buffer: Vec::new(),
            server: "192.0.2.3:554".into(),
            url: url.clone(),
            shown_url: url.clone(),
            cseq: 0,
            login: Some(Credentials {
                user: "admin".into(),
                password: SecretString::from("12345".to_owned()),
            }),
            answered: None,
            auth_required: false,
            server_header: None,
        };
        let mut transcript = Transcript::enabled();
        let options = session.request("OPTIONS", &[], &mut transcript).await.unwrap();
        assert_eq!(options.status, 200);
        let described = session
            .request("DESCRIBE", &[("Accept", "application/sdp")], &mut transcript)
            .await
            .unwrap();
        assert_eq!(described.body.len(), 47, "the body's end came in a later read");
        assert_eq!(
            parse_sdp(&String::from_utf8_lossy(&described.body)).0.unwrap().width,
            Some(8)
        );
        assert_eq!(session.server_header.as_deref(), Some("Test"));
        let seen = script.await.unwrap();
        assert!(seen[0].starts_with("OPTIONS rtsp://192.0.2.3:554/live/ch0 RTSP/1.0\r\nCSeq: 1\r\n"));
        assert!(!seen[0].contains("Authorization"));
        let expected_options = digest::authorization(
            &Challenge::Digest {
                realm: "cam".into(),
                nonce: "n1".into(),
                opaque: None,
                algorithm: "MD5".into(),
                qop_auth: false,
            },
            "OPTIONS",
            &url,
            "admin",
            "12345",
            1,
            "unused without qop",
        );
        assert!(
            seen[1].contains(&format!("Authorization: {expected_options}\r\n")),
            "{}",
            seen[1]
        );
        assert!(seen[1].contains(&format!("uri=\"{url}\"")));
        assert!(seen[2].starts_with("DESCRIBE rtsp://192.0.2.3:554/live/ch0 RTSP/1.0\r\nCSeq: 3\r\n"));
        assert!(seen[2].contains("Accept: application/sdp\r\n") && seen[2].contains("User-Agent: camwatch\r\n"));
        assert!(seen[2].contains("Authorization: Digest "), "{}", seen[2]);
        assert!(
            transcript.lines.iter().all(|l| !l.contains("12345")),
            "{:?}",
            transcript.lines
        );
        assert!(transcript.lines.iter().any(|l| l.contains("challenged for Digest")));
    }

    #[tokio::test]
    async fn endless_headers_and_huge_bodies_are_refused_not_buffered() {
        async fn answer_with(reply: Vec<u8>) -> ProbeError {
            let (client, mut camera) = tokio::io::duplex(256 * 1024);
            // The camera hangs up after its reply, so a cut answer ends instead of waiting.
            let writer = tokio::spawn(async move {
                let _ = camera.write_all(&reply).await;
            });
            let mut session = Session {
                stream: client,
                buffer: Vec::new(),
                server: "192.0.2.3:554".into(),
                url: "rtsp://192.0.2.3:554/".into(),
                shown_url: "rtsp://192.0.2.3:554/".into(),
                cseq: 0,
                login: None,
                answered: None,
                auth_required: false,
                server_header: None,
            };
            let error = session.read_response("DESCRIBE").await.unwrap_err();
            assert!(session.buffer.len() <= MAX_HEADER_BYTES + 4096);
            drop(writer);
            error
        }
        let mut endless = b"RTSP/1.0 200 OK\r\nX-Junk: ".to_vec();
        endless.resize(200 * 1024, b'a');
        let e = answer_with(endless).await;
        assert!(e.message.contains("headers longer than"), "{}", e.message);
        let huge = format!("RTSP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", 10 << 20).into_bytes();
        let e = answer_with(huge).await;
        assert!(e.message.contains("more than the 65536 allowed"), "{}", e.message);
        let e = answer_with(b"HTTP/1.1 400 Bad Request\r\n".to_vec()).await;
        assert!(e.message.contains("not an RTSP answer"), "{}", e.message);
        assert!(e.message.contains("\"HTTP/1.1 400 Bad Request\""), "{}", e.message);
        let e = answer_with(b"RTSP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nv=0".to_vec()).await;
        assert!(
            e.message.contains("closed the RTSP connection in the middle"),
            "{}",
            e.message
        );
    }
}
