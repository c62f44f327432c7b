//! UPS over NUT (Network UPS Tools, TCP 3493): a small client of upsd's line protocol
//! ("Network protocol information" in the NUT developer guide), written here rather than taken
//! from a crate so that every read is bounded and every `ERR` becomes a sentence.
//!
//! One probe is one short session: optional `STARTTLS` (rustls, verified against the configured
//! CA), optional `USERNAME`/`PASSWORD`, one `LIST VAR <ups>`, `LOGOUT`. Reading variables needs
//! no rights on upsd, so the login only matters to servers that require one; upsd itself checks a
//! password only for commands with rights (SET, INSTCMD, LOGIN), none of which a watcher sends.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{ProbeContext, ProbeError, ProbeErrorKind, Transcript};
use crate::config::{NutSpec, NutTls};
use crate::observation::ups::{BatteryStatus, OutputSource, UpsObservation};

/// Longest line accepted from a server. upsd's own lines are far shorter (its values are capped
/// at 256 bytes); anything longer is a server gone wrong, not data to buffer.
pub const MAX_LINE_BYTES: usize = 4096;
/// Most variables accepted in one list. Real UPSes report up to a few hundred (outlet-rich PDUs);
/// a list that goes on past this is not going to end.
pub const MAX_LIST_LINES: usize = 2048;
/// How long LOGOUT may wait for its "OK Goodbye": a courtesy, not worth a check's time.
const LOGOUT_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct NutProber;

impl NutProber {
    pub async fn probe(&self, spec: &NutSpec, ctx: &mut ProbeContext<'_>) -> Result<UpsObservation, ProbeError> {
        let (device, transcript) = (ctx.device, &mut *ctx.transcript);
        let host = device
            .address
            .as_deref()
            .ok_or_else(|| ProbeError::new(ProbeErrorKind::Agent, "device has no address"))?;
        // Local mistakes (an unreadable password or CA file) are found before any traffic, so
        // they are never blamed on the UPS.
        let login = login_of(spec)?;
        let tls = match spec.tls {
            NutTls::None => None,
            NutTls::Starttls => Some(tls_connector(spec, host)?),
        };
        let target = super::resolve(host, spec.port, transcript).await?;
        let server = server_label(host, spec.port);
        let tcp = TcpStream::connect(target)
            .await
            .map_err(|e| connect_error(&server, &e))?;
        transcript.note(|| format!("connected to {target}"));

        let conn: Conn<Box<dyn Wire>> = match tls {
            None => Conn::new(Box::new(tcp), server),
            Some((connector, name)) => {
                let mut plain = Conn::new(tcp, server);
                plain.command("STARTTLS", "STARTTLS", transcript).await?;
                let reply = plain.reply("STARTTLS", transcript).await?;
                if reply != "OK STARTTLS" {
                    return Err(plain.unexpected_or_err(&reply, Command::StartTls, spec));
                }
                // Bytes already buffered before the handshake were sent in the clear yet would be
                // read as if protected: refuse rather than trust them.
                if !plain.buffer.is_empty() {
                    return Err(ProbeError::new(
                        ProbeErrorKind::Device,
                        format!(
                            "the NUT server at {} sent data between OK STARTTLS and the TLS \
                             handshake; refusing to go on",
                            plain.server
                        ),
                    ));
                }
                let Conn { stream, server, .. } = plain;
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| tls_error(&server, host, &e))?;
                let (_, session) = stream.get_ref();
                let version = session.protocol_version().and_then(|v| v.as_str()).unwrap_or("TLS");
                let suite = session
                    .negotiated_cipher_suite()
                    .and_then(|s| s.suite().as_str())
                    .unwrap_or("unknown cipher suite");
                transcript.note(|| format!("{version} established ({suite}); certificate verified for {host}"));
                Conn::new(Box::new(stream), server)
            }
        };

        converse(conn, spec, login.as_ref(), transcript).await
    }
}

/// The conversation over an established connection: the variables read, then LOGOUT when the
/// conversation is still in step.
pub(crate) async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: Conn<S>,
    spec: &NutSpec,
    login: Option<&Login>,
    transcript: &mut Transcript,
) -> Result<UpsObservation, ProbeError> {
    let outcome = session(&mut conn, spec, login, transcript).await;
    if conn.usable {
        conn.logout(transcript).await;
    }
    outcome.map(|vars| observe(&vars))
}

/// What the session needs to log in: the user name and the password, resolved.
pub(crate) struct Login {
    pub(crate) username: String,
    pub(crate) password: Option<SecretString>,
}

fn login_of(spec: &NutSpec) -> Result<Option<Login>, ProbeError> {
    let Some(username) = &spec.username else {
        return Ok(None);
    };
    let password = match &spec.password {
        None => None,
        Some(source) => Some(source.resolve().map_err(|why| {
            ProbeError::new(
                ProbeErrorKind::Agent,
                format!("cannot read the NUT password of [device.nut]: {why}"),
            )
        })?),
    };
    Ok(Some(Login {
        username: username.clone(),
        password,
    }))
}

fn tls_connector(spec: &NutSpec, host: &str) -> Result<(TlsConnector, ServerName<'static>), ProbeError> {
    let agent = |message: String| ProbeError::new(ProbeErrorKind::Agent, message);
    let path = spec.ca_file.as_ref().ok_or_else(|| {
        agent(
            "[device.nut] tls = \"starttls\" needs ca_file: the PEM certificate of the CA that \
             signed the NUT server's certificate"
                .into(),
        )
    })?;
    let config = super::tls::client_config(&super::tls::Trust::CaFile(path), "[device.nut] ca_file")?;
    let name = super::tls::server_name(host)?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

fn server_label(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn connect_error(server: &str, e: &io::Error) -> ProbeError {
    let message = match e.kind() {
        io::ErrorKind::ConnectionRefused => format!(
            "the NUT server at {server} refused the connection: upsd is not running or not \
             listening there; check [device.nut] port and LISTEN in the server's upsd.conf"
        ),
        _ => format!("cannot reach the NUT server at {server}: {e}"),
    };
    ProbeError::new(ProbeErrorKind::Device, message)
}

fn tls_error(server: &str, host: &str, e: &io::Error) -> ProbeError {
    ProbeError::new(
        ProbeErrorKind::Device,
        format!(
            "TLS with the NUT server at {server} failed: {e}; check that [device.nut] ca_file \
             holds the CA that signed the server's certificate and that the certificate is for \
             {host}"
        ),
    )
}

/// Reads variables over an established (and possibly encrypted) connection.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    spec: &NutSpec,
    login: Option<&Login>,
    transcript: &mut Transcript,
) -> Result<BTreeMap<String, String>, ProbeError> {
    if let Some(login) = login {
        let user = quote(&login.username).ok_or_else(|| {
            ProbeError::new(
                ProbeErrorKind::Agent,
                "[device.nut] username contains a line break, which NUT cannot carry",
            )
        })?;
        conn.command(&format!("USERNAME {user}"), &format!("USERNAME {user}"), transcript)
            .await?;
        expect_ok(conn, Command::Username, spec, transcript).await?;
        if let Some(password) = &login.password {
            let quoted = SecretString::from(quote(password.expose_secret()).ok_or_else(|| {
                ProbeError::new(
                    ProbeErrorKind::Agent,
                    "the NUT password contains a line break, which NUT cannot carry",
                )
            })?);
            let line = SecretString::from(format!("PASSWORD {}", quoted.expose_secret()));
            conn.command(line.expose_secret(), "PASSWORD (not shown)", transcript)
                .await?;
            expect_ok(conn, Command::Password, spec, transcript).await?;
        }
    }
    let ups = quote(&spec.ups).ok_or_else(|| {
        ProbeError::new(
            ProbeErrorKind::Agent,
            "[device.nut] ups contains a line break, which NUT cannot carry",
        )
    })?;
    let request = format!("LIST VAR {ups}");
    conn.command(&request, &request, transcript).await?;
    let first = conn.reply(&request, transcript).await?;
    // upsd matches UPS names without regard to case; other servers may echo their own spelling.
    let this_ups = |word: &str| word.eq_ignore_ascii_case(&spec.ups);
    let list_edge =
        |w: &[String], edge: &str| w.len() == 4 && w[0] == edge && w[1] == "LIST" && w[2] == "VAR" && this_ups(&w[3]);
    if !words(&first).is_ok_and(|w| list_edge(&w, "BEGIN")) {
        if err_code(&first) == Some("UNKNOWN-UPS") {
            let served = conn.list_ups(transcript).await;
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                unknown_ups_message(&conn.server, &spec.ups, served.as_deref()),
            ));
        }
        return Err(conn.unexpected_or_err(&first, Command::ListVar, spec));
    }
    let mut vars = BTreeMap::new();
    for _ in 0..MAX_LIST_LINES {
        let line = match conn.read_line().await {
            Ok(line) => line,
            Err(LineError::Closed) => {
                conn.usable = false;
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "the NUT server at {} closed the connection in the middle of the variable \
                         list of UPS \"{}\" (after {} variables)",
                        conn.server,
                        spec.ups,
                        vars.len()
                    ),
                ));
            }
            Err(e) => return Err(conn.line_error(e, &request)),
        };
        transcript.note(|| format!("<- {line}"));
        match words(&line) {
            Ok(w) if w.len() == 4 && w[0] == "VAR" && this_ups(&w[1]) => {
                let [_, _, name, value] = <[String; 4]>::try_from(w).expect("four words");
                vars.insert(name, value);
            }
            Ok(w) if list_edge(&w, "END") => return Ok(vars),
            _ => {
                conn.usable = false;
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "the NUT server at {} sent a line that does not belong in the variable \
                         list of UPS \"{}\": {}",
                        conn.server,
                        spec.ups,
                        shown(&line)
                    ),
                ));
            }
        }
    }
    conn.usable = false;
    Err(ProbeError::new(
        ProbeErrorKind::Device,
        format!(
            "the NUT server at {} sent more than {MAX_LIST_LINES} variables for UPS \"{}\" without \
             ending the list; it is not behaving like a NUT server",
            conn.server, spec.ups
        ),
    ))
}

async fn expect_ok<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    command: Command,
    spec: &NutSpec,
    transcript: &mut Transcript,
) -> Result<(), ProbeError> {
    let reply = conn.reply(command.shown(), transcript).await?;
    if reply == "OK" || reply.starts_with("OK ") {
        Ok(())
    } else {
        Err(conn.unexpected_or_err(&reply, command, spec))
    }
}

/// Everything a probe reads or writes goes through here, so that every line is bounded.
trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

pub(crate) struct Conn<S> {
    stream: S,
    /// Received bytes not yet taken as lines.
    buffer: Vec<u8>,
    /// `host:port`, for messages.
    server: String,
    /// False once the conversation is out of step (a cut or garbled reply): no LOGOUT then.
    usable: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(stream: S, server: String) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
            server,
            usable: true,
        }
    }

    /// Sends `line`; the transcript gets `shown` instead (a password never reaches it).
    async fn command(&mut self, line: &str, shown: &str, transcript: &mut Transcript) -> Result<(), ProbeError> {
        transcript.note(|| format!("-> {shown}"));
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let written = self.stream.write_all(&bytes).await;
        // The copy holds the password when this is PASSWORD: do not leave it in freed memory.
        bytes.fill(0);
        written.map_err(|e| {
            self.usable = false;
            ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "lost the connection to the NUT server at {} while sending {}: {e}",
                    self.server,
                    shown.split(' ').next().unwrap_or(shown)
                ),
            )
        })
    }

    /// One reply line, noted in the transcript.
    async fn reply(&mut self, command: &str, transcript: &mut Transcript) -> Result<String, ProbeError> {
        match self.read_line().await {
            Ok(line) => {
                transcript.note(|| format!("<- {line}"));
                Ok(line)
            }
            Err(e) => Err(self.line_error(e, command)),
        }
    }

    async fn read_line(&mut self) -> Result<String, LineError> {
        loop {
            if let Some(line) = take_line(&mut self.buffer, MAX_LINE_BYTES)? {
                return Ok(line);
            }
            let mut chunk = [0u8; 2048];
            let n = self.stream.read(&mut chunk).await.map_err(LineError::Io)?;
            if n == 0 {
                return Err(LineError::Closed);
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    fn line_error(&mut self, e: LineError, command: &str) -> ProbeError {
        self.usable = false;
        let server = &self.server;
        let message = match e {
            LineError::Closed => {
                format!("the NUT server at {server} closed the connection instead of answering {command}")
            }
            LineError::TooLong => format!(
                "the NUT server at {server} answered {command} with a line longer than \
                 {MAX_LINE_BYTES} bytes; it is not behaving like a NUT server"
            ),
            LineError::Io(e) => format!(
                "lost the connection to the NUT server at {server} while waiting for the answer \
                 to {command}: {e}"
            ),
        };
        ProbeError::new(ProbeErrorKind::Device, message)
    }

    /// An `ERR` reply as a sentence, or anything else as "not a NUT answer".
    fn unexpected_or_err(&mut self, reply: &str, command: Command, spec: &NutSpec) -> ProbeError {
        match err_code(reply) {
            Some(code) => ProbeError::new(ProbeErrorKind::Device, err_message(code, command, &self.server, spec)),
            None => {
                self.usable = false;
                ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "the server at {} answered {} with {}, which is not a NUT reply; is \
                         [device.nut] port a NUT server (upsd, usually 3493)?",
                        self.server,
                        command.shown(),
                        shown(reply)
                    ),
                )
            }
        }
    }

    /// The UPS names the server serves, or None when it will not say.
    async fn list_ups(&mut self, transcript: &mut Transcript) -> Option<Vec<String>> {
        self.command("LIST UPS", "LIST UPS", transcript).await.ok()?;
        let first = self.reply("LIST UPS", transcript).await.ok()?;
        if first != "BEGIN LIST UPS" {
            return None;
        }
        let mut names = Vec::new();
        for _ in 0..MAX_LIST_LINES {
            let line = self.reply("LIST UPS", transcript).await.ok()?;
            match words(&line).ok()?.as_slice() {
                [kind, name, ..] if kind == "UPS" => names.push(name.clone()),
                [a, b, c] if a == "END" && b == "LIST" && c == "UPS" => {
                    names.sort();
                    return Some(names);
                }
                _ => {
                    self.usable = false;
                    return None;
                }
            }
        }
        self.usable = false;
        None
    }

    async fn logout(&mut self, transcript: &mut Transcript) {
        if self.command("LOGOUT", "LOGOUT", transcript).await.is_err() {
            return;
        }
        // Waiting for the goodbye lets upsd close its side first, so it logs no reset
        // connection; a server that does not answer is not worth failing a good reading for.
        if let Ok(Ok(line)) = tokio::time::timeout(LOGOUT_WAIT, self.read_line()).await {
            transcript.note(|| format!("<- {line}"));
        }
        let _ = tokio::time::timeout(LOGOUT_WAIT, self.stream.shutdown()).await;
    }
}

#[derive(Debug)]
enum LineError {
    Closed,
    TooLong,
    Io(io::Error),
}

/// Takes the first complete line out of `buffer` (without its `\n` or `\r\n`), None when no line
/// is complete yet. A line, or an incomplete rest, longer than `max` bytes is an error: the
/// buffer never grows past `max` plus one read.
fn take_line(buffer: &mut Vec<u8>, max: usize) -> Result<Option<String>, LineError> {
    match buffer.iter().position(|b| *b == b'\n') {
        Some(end) if end > max => Err(LineError::TooLong),
        Some(end) => {
            let mut line: Vec<u8> = buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            Ok(Some(String::from_utf8_lossy(&line).into_owned()))
        }
        None if buffer.len() > max => Err(LineError::TooLong),
        None => Ok(None),
    }
}

/// Splits a reply into words as upsd writes them: separated by spaces, `"..."` quoting a word
/// that holds spaces, and a backslash escaping the next character (`\"`, `\\`).
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().ok_or_else(|| "a backslash ends the line".to_owned())?;
                word.push(escaped);
                in_word = true;
            }
            '"' if quoted => {
                quoted = false;
                in_word = true;
            }
            '"' => {
                quoted = true;
                in_word = true;
            }
            ' ' | '\t' if !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("a quoted value is not closed".into());
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// One word for a command: quoted and escaped when it holds spaces, quotes or backslashes;
/// None when it holds a line break, which no quoting can carry.
fn quote(word: &str) -> Option<String> {
    if word.contains(['\n', '\r']) {
        return None;
    }
    if !word.is_empty() && !word.contains([' ', '\t', '"', '\\']) {
        return Some(word.to_owned());
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// The code of an `ERR CODE [extra]` reply.
fn err_code(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("ERR ")?;
    rest.split_whitespace().next()
}

/// A server's text in a message: printable, and short enough to read.
fn shown(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if text.chars().count() > 80 {
        format!("\"{clean}...\"")
    } else {
        format!("\"{clean}\"")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    StartTls,
    Username,
    Password,
    ListVar,
}

impl Command {
    fn shown(self) -> &'static str {
        match self {
            Self::StartTls => "STARTTLS",
            Self::Username => "USERNAME",
            Self::Password => "PASSWORD",
            Self::ListVar => "LIST VAR",
        }
    }
}

fn unknown_ups_message(server: &str, ups: &str, served: Option<&[String]>) -> String {
    let serves = match served {
        None => String::new(),
        Some([]) => "; it serves no UPS at all".to_owned(),
        Some(names) => format!(
            "; it serves {}",
            names.iter().take(20).map(|n| shown(n)).collect::<Vec<_>>().join(", ")
        ),
    };
    format!(
        "the NUT server at {server} knows no UPS named \"{ups}\" (ERR UNKNOWN-UPS){serves}; \
         check [device.nut] ups"
    )
}

/// One sentence a maintenance worker can act on, for each `ERR` upsd sends. The password is not
/// a parameter, so no message can carry it.
fn err_message(code: &str, command: Command, server: &str, spec: &NutSpec) -> String {
    let ups = &spec.ups;
    let user = spec.username.as_deref().unwrap_or("");
    match (code, command) {
        ("UNKNOWN-UPS", _) => unknown_ups_message(server, ups, None),
        ("DATA-STALE", _) => format!(
            "the NUT server at {server} has only stale data for UPS \"{ups}\" (ERR DATA-STALE): \
             its driver lost contact with the UPS; check the UPS's cable or network link and the \
             driver on the NUT server"
        ),
        ("DRIVER-NOT-CONNECTED", _) => format!(
            "the NUT server at {server} has no driver running for UPS \"{ups}\" \
             (ERR DRIVER-NOT-CONNECTED); start it on the NUT server (upsdrvctl start {ups})"
        ),
        ("ACCESS-DENIED", Command::Username | Command::Password) => format!(
            "the NUT server at {server} refused the login of user \"{user}\" (ERR ACCESS-DENIED); \
             check [device.nut] username and password, and the user in the server's upsd.users"
        ),
        ("ACCESS-DENIED", _) => format!(
            "the NUT server at {server} denied access to UPS \"{ups}\" (ERR ACCESS-DENIED); \
             check [device.nut] username and password, and the server's upsd.users"
        ),
        ("USERNAME-REQUIRED" | "PASSWORD-REQUIRED", _) => format!(
            "the NUT server at {server} requires a login (ERR {code}); set username and \
             password_env or password_file in [device.nut]"
        ),
        ("INVALID-USERNAME", _) => format!(
            "the NUT server at {server} does not accept the user name \"{user}\" \
             (ERR INVALID-USERNAME); check [device.nut] username"
        ),
        ("INVALID-PASSWORD", _) => format!(
            "the NUT server at {server} does not accept the password (ERR INVALID-PASSWORD); \
             check [device.nut] password_env or password_file"
        ),
        ("FEATURE-NOT-CONFIGURED" | "FEATURE-NOT-SUPPORTED", Command::StartTls) => format!(
            "the NUT server at {server} does not offer STARTTLS (ERR {code}); give its upsd a \
             certificate (CERTFILE, or CERTPATH and CERTIDENT, in upsd.conf) or set tls = \"none\" \
             in [device.nut]"
        ),
        ("VAR-NOT-SUPPORTED", _) => format!(
            "the NUT server at {server} says UPS \"{ups}\" does not support what was asked \
             (ERR VAR-NOT-SUPPORTED)"
        ),
        ("UNKNOWN-COMMAND", _) => format!(
            "the server at {server} does not understand the NUT command {} (ERR UNKNOWN-COMMAND); \
             is [device.nut] port a NUT server (upsd, usually 3493)?",
            command.shown()
        ),
        ("INVALID-ARGUMENT", _) => format!(
            "the NUT server at {server} refused {} as malformed (ERR INVALID-ARGUMENT); check \
             [device.nut] ups",
            command.shown()
        ),
        (other, _) => format!(
            "the NUT server at {server} answered {} with ERR {}",
            command.shown(),
            shown(other).trim_matches('"')
        ),
    }
}

/// The UPS model from upsd's variables. Pure, so that every mapping is unit-tested.
fn observe(vars: &BTreeMap<String, String>) -> UpsObservation {
    let mut ups = UpsObservation::new("nut");
    let text = |names: &[&str]| {
        names
            .iter()
            .filter_map(|n| vars.get(*n))
            .map(|v| v.trim())
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    };
    ups.manufacturer = text(&["device.mfr", "ups.mfr"]);
    ups.model = text(&["device.model", "ups.model"]);

    let status = vars.get("ups.status").map(|s| s.trim()).filter(|s| !s.is_empty());
    match status {
        Some(status) => apply_status(status, &mut ups),
        None => ups
            .notes
            .push("the NUT server reports no ups.status, so where the power comes from is unknown".into()),
    }

    let mut missing = Vec::new();
    let mut figure = |name: &'static str, range: (f64, f64), unit: &str| -> Option<f64> {
        let Some(raw) = vars.get(name) else {
            missing.push(name);
            return None;
        };
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= range.0 && v <= range.1 => Some(v),
            Ok(v) if v.is_finite() => {
                ups.notes.push(format!("{name} is {v}{unit}, not believable; left out"));
                None
            }
            _ => {
                ups.notes
                    .push(format!("{name} is {}, not a number; left out", shown(raw)));
                None
            }
        }
    };
    let charge = figure("battery.charge", (0.0, 100.0), " %");
    let runtime = figure("battery.runtime", (0.0, f64::MAX), " s");
    let input = figure("input.voltage", (0.0, 100_000.0), " V");
    let output = figure("output.voltage", (0.0, 100_000.0), " V");
    // An overloaded UPS reports over 100 %.
    let load = figure("ups.load", (0.0, 1000.0), " %");
    let temperature = figure("battery.temperature", (-50.0, 150.0), " °C");
    ups.charge_ratio = charge.map(|p| p / 100.0);
    ups.runtime_seconds = runtime;
    ups.input_voltage_volts = input;
    ups.output_voltage_volts = output;
    ups.load_ratio = load.map(|p| p / 100.0);
    ups.battery_temperature_celsius = temperature;
    if !missing.is_empty() {
        ups.notes
            .push(format!("not reported by the UPS: {}", missing.join(", ")));
    }

    let alarm_flag = status.is_some_and(|s| s.split_whitespace().any(|f| f == "ALARM"));
    ups.alarms = match vars.get("ups.alarm").map(|a| count_alarms(a)) {
        Some(n) if n > 0 => Some(n),
        _ if alarm_flag => {
            ups.notes
                .push("ups.status says ALARM but ups.alarm does not say which".into());
            Some(1)
        }
        // Drivers publish ups.alarm only while an alarm is active: with a status and no alarm
        // text, there is none.
        _ if status.is_some() => Some(0),
        _ => None,
    };
    ups
}

/// Applies the flags of `ups.status` (e.g. `OL CHRG`, `OB LB`).
fn apply_status(status: &str, ups: &mut UpsObservation) {
    let flags: Vec<&str> = status.split_whitespace().collect();
    let has = |flag: &str| flags.contains(&flag);
    // When a UPS reports several sources, the one that most threatens the load wins: an output
    // that is off powers nothing whatever else is said, and battery beats "online".
    ups.output_source = if has("OFF") {
        OutputSource::Off
    } else if has("OB") {
        OutputSource::Battery
    } else if has("BYPASS") {
        OutputSource::Bypass
    } else if has("BOOST") {
        OutputSource::Boost
    } else if has("TRIM") {
        OutputSource::Reduce
    } else if has("OL") {
        OutputSource::Online
    } else {
        ups.notes.push(format!(
            "ups.status {} names no power source (OL, OB, BYPASS, OFF)",
            shown(status)
        ));
        OutputSource::Unknown
    };
    ups.battery_status = if has("FSD") {
        ups.notes.push(
            "forced shutdown (FSD): the NUT server has ordered the machines on this UPS to shut \
             down"
                .into(),
        );
        BatteryStatus::Depleted
    } else if has("LB") {
        BatteryStatus::Low
    } else if ups.output_source != OutputSource::Unknown {
        BatteryStatus::Normal
    } else {
        BatteryStatus::Unknown
    };
    ups.replace_battery = Some(has("RB"));
    ups.overload = has("OVER");
    const KNOWN: [&str; 19] = [
        "OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF", "OVER", "TRIM", "BOOST", "FSD",
        "ALARM", "TEST", "ECO", "WAIT", "NOCOMM",
    ];
    let unknown: Vec<&str> = flags.iter().copied().filter(|f| !KNOWN.contains(f)).collect();
    if !unknown.is_empty() {
        ups.notes.push(format!(
            "ups.status flags not understood and ignored: {}",
            unknown.join(" ")
        ));
    }
}

/// How many alarms `ups.alarm` holds. Drivers join alarm texts with spaces, so they are counted
/// only where they are clearly apart: `[a] [b]` groups, or sentences that each end in `!`
/// (`Replace battery! Overload!`, as usbhid-ups writes them). Otherwise a non-empty text is one.
fn count_alarms(text: &str) -> u32 {
    let text = text.trim();
    if text.is_empty() {
        return 0;
    }
    if text.starts_with('[') && text.ends_with(']') {
        let groups: Vec<&str> = text.split(']').map(str::trim).filter(|g| !g.is_empty()).collect();
        if groups
            .iter()
            .all(|g| g.starts_with('[') && !g[1..].contains('[') && g.len() > 1)
        {
            return groups.len() as u32;
        }
    }
    if text.ends_with('!') {
        let sentences = text.split('!').filter(|s| !s.trim().is_empty()).count();
        return sentences.max(1) as u32;
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn status(s: &str) -> UpsObservation {
        observe(&vars(&[("ups.status", s)]))
    }

    fn spec() -> NutSpec {
        NutSpec {
            ups: "rack".into(),
            port: 3493,
            tls: NutTls::None,
            ca_file: None,
            username: Some("watcher".into()),
            password: None,
        }
    }

    #[test]
    fn status_flags_map_to_the_ups_model() {
        let cases = [
            ("OL", OutputSource::Online, BatteryStatus::Normal),
            ("OL CHRG", OutputSource::Online, BatteryStatus::Normal),
            ("OB DISCHRG", OutputSource::Battery, BatteryStatus::Normal),
            ("OB LB", OutputSource::Battery, BatteryStatus::Low),
            ("OL BYPASS", OutputSource::Bypass, BatteryStatus::Normal),
            ("OL OFF", OutputSource::Off, BatteryStatus::Normal),
            ("OL BOOST", OutputSource::Boost, BatteryStatus::Normal),
            ("OL TRIM", OutputSource::Reduce, BatteryStatus::Normal),
            ("OB LB FSD", OutputSource::Battery, BatteryStatus::Depleted),
            ("OL OB", OutputSource::Battery, BatteryStatus::Normal),
            ("WAIT", OutputSource::Unknown, BatteryStatus::Unknown),
        ];
        for (flags, source, battery) in cases {
            let u = status(flags);
            assert_eq!((u.output_source, u.battery_status), (source, battery), "{flags}");
            assert_eq!(u.replace_battery, Some(false), "{flags}");
            assert!(!u.overload, "{flags}");
        }
        let u = status("ALARM OL CHRG RB OVER");
        assert_eq!(u.replace_battery, Some(true));
        assert!(u.overload);
        assert_eq!(u.alarms, Some(1), "ALARM without ups.alarm text is one");
        assert!(status("OB LB FSD").notes[0].contains("forced shutdown"));
        assert!(status("WAIT").notes[0].contains("names no power source"));
        assert!(
            status("OL XYZZY")
                .notes
                .iter()
                .any(|n| n.contains("not understood and ignored: XYZZY"))
        );
    }

    #[test]
    fn no_status_means_unknown_not_normal() {
        let u = observe(&vars(&[("battery.charge", "80")]));
        assert_eq!(u.output_source, OutputSource::Unknown);
        assert_eq!(u.battery_status, BatteryStatus::Unknown);
        assert_eq!(u.replace_battery, None);
        assert_eq!(u.alarms, None);
        assert_eq!(u.charge_ratio, Some(0.8));
        assert!(u.notes[0].contains("no ups.status"), "{:?}", u.notes);
    }

    #[test]
    fn figures_are_converted_to_base_units_and_bad_ones_left_out() {
        let u = observe(&vars(&[
            ("ups.status", "OL"),
            ("battery.charge", "93.00"),
            ("battery.runtime", "2220"),
            ("input.voltage", "121.6"),
            ("output.voltage", "0.00"),
            ("ups.load", "112"),
            ("battery.temperature", "30.6"),
            ("device.mfr", "EATON"),
            ("ups.mfr", "ignored"),
            ("ups.model", "5PX 2000"),
        ]));
        assert_eq!(u.charge_ratio, Some(0.93));
        assert_eq!(u.runtime_seconds, Some(2220.0));
        assert_eq!(u.input_voltage_volts, Some(121.6));
        assert_eq!(u.output_voltage_volts, Some(0.0));
        assert_eq!(u.load_ratio, Some(1.12));
        assert_eq!(u.battery_temperature_celsius, Some(30.6));
        assert_eq!(u.manufacturer.as_deref(), Some("EATON"));
        assert_eq!(u.model.as_deref(), Some("5PX 2000"));
        assert_eq!(u.alarms, Some(0));
        assert_eq!(u.seconds_on_battery, None, "NUT does not say: the UPS judge counts it");
        assert!(u.notes.is_empty(), "{:?}", u.notes);

        let u = observe(&vars(&[
            ("ups.status", "OL"),
            ("battery.charge", "150"),
            ("battery.runtime", "-1"),
            ("ups.load", "n/a"),
            ("input.voltage", "NaN"),
        ]));
        assert_eq!(
            (u.charge_ratio, u.runtime_seconds, u.load_ratio, u.input_voltage_volts),
            (None, None, None, None)
        );
        let notes = u.notes.join(" | ");
        assert!(notes.contains("battery.charge is 150 %, not believable"), "{notes}");
        assert!(notes.contains("battery.runtime is -1 s, not believable"), "{notes}");
        assert!(notes.contains("ups.load is \"n/a\", not a number"), "{notes}");
        assert!(notes.contains("input.voltage is \"NaN\", not a number"), "{notes}");
        assert!(
            notes.contains("not reported by the UPS: output.voltage, battery.temperature"),
            "{notes}"
        );
    }

    #[test]
    fn alarms_are_counted_where_clearly_apart() {
        assert_eq!(count_alarms(""), 0);
        assert_eq!(count_alarms("  "), 0);
        assert_eq!(count_alarms("Replace battery!"), 1);
        assert_eq!(count_alarms("Replace battery! Overload!"), 2);
        assert_eq!(count_alarms("[Replace battery] [Overload]"), 2);
        assert_eq!(count_alarms("UPS fault: inverter"), 1);
        assert_eq!(count_alarms("[a [b]"), 1);
        let u = observe(&vars(&[
            ("ups.status", "ALARM OL"),
            ("ups.alarm", "Replace battery! Overload!"),
        ]));
        assert_eq!(u.alarms, Some(2));
    }

    #[test]
    fn words_follow_upsd_quoting_and_escapes() {
        assert_eq!(
            words(r#"VAR rack ups.status "OL CHRG""#).unwrap(),
            ["VAR", "rack", "ups.status", "OL CHRG"]
        );
        assert_eq!(
            words(r#"VAR rack ups.alarm "say \"hi\" C:\\ups""#).unwrap(),
            ["VAR", "rack", "ups.alarm", r#"say "hi" C:\ups"#]
        );
        assert_eq!(words(r#"VAR rack x """#).unwrap(), ["VAR", "rack", "x", ""]);
        assert_eq!(
            words("  BEGIN  LIST VAR rack ").unwrap(),
            ["BEGIN", "LIST", "VAR", "rack"]
        );
        assert!(words(r#"VAR rack x "open"#).is_err());
        assert!(words(r"VAR rack x \").is_err());
    }

    #[test]
    fn quote_round_trips_through_words_and_refuses_line_breaks() {
        for word in ["rack", "my ups", r#"pa"ss\word"#, ""] {
            let quoted = quote(word).unwrap();
            assert_eq!(words(&format!("USERNAME {quoted}")).unwrap()[1], word);
        }
        assert_eq!(quote("rack").unwrap(), "rack");
        assert_eq!(quote("a\nLOGOUT"), None);
    }

    #[test]
    fn lines_are_bounded_and_split_on_newlines() {
        let mut buffer = b"OK\r\nBEGIN LIST VAR rack\npart".to_vec();
        assert_eq!(take_line(&mut buffer, 64).unwrap().as_deref(), Some("OK"));
        assert_eq!(
            take_line(&mut buffer, 64).unwrap().as_deref(),
            Some("BEGIN LIST VAR rack")
        );
        assert_eq!(take_line(&mut buffer, 64).unwrap(), None);
        assert_eq!(buffer, b"part");

        let mut endless = vec![b'a'; 65];
        assert!(matches!(take_line(&mut endless, 64), Err(LineError::TooLong)));
        let mut long_line = vec![b'a'; 70];
        long_line.push(b'\n');
        assert!(matches!(take_line(&mut long_line, 64), Err(LineError::TooLong)));
        let mut exact = vec![b'a'; 64];
        exact.push(b'\n');
        assert_eq!(take_line(&mut exact, 64).unwrap().unwrap().len(), 64);
    }

    #[test]
    fn err_replies_become_sentences_that_say_what_to_check() {
        let s = spec();
        let server = "192.0.2.9:3493";
        let m = |code, command| err_message(code, command, server, &s);
        assert_eq!(
            m("UNKNOWN-UPS", Command::ListVar),
            "the NUT server at 192.0.2.9:3493 knows no UPS named \"rack\" (ERR UNKNOWN-UPS); \
             check [device.nut] ups"
        );
        assert_eq!(
            unknown_ups_message(server, "rack", Some(&["ups1".into(), "ups2".into()])),
            "the NUT server at 192.0.2.9:3493 knows no UPS named \"rack\" (ERR UNKNOWN-UPS); \
             it serves \"ups1\", \"ups2\"; check [device.nut] ups"
        );
        assert!(m("DATA-STALE", Command::ListVar).contains("only stale data for UPS \"rack\""));
        assert!(
            m("DRIVER-NOT-CONNECTED", Command::ListVar).contains("upsdrvctl start rack"),
            "{}",
            m("DRIVER-NOT-CONNECTED", Command::ListVar)
        );
        assert!(
            m("ACCESS-DENIED", Command::Password).contains("refused the login of user \"watcher\" (ERR ACCESS-DENIED)")
        );
        assert!(m("ACCESS-DENIED", Command::ListVar).contains("denied access to UPS \"rack\""));
        assert!(m("USERNAME-REQUIRED", Command::ListVar).contains("requires a login"));
        assert!(
            m("FEATURE-NOT-CONFIGURED", Command::StartTls)
                .contains("does not offer STARTTLS (ERR FEATURE-NOT-CONFIGURED)")
        );
        assert!(m("UNKNOWN-COMMAND", Command::ListVar).contains("command LIST VAR"));
        assert_eq!(
            m("SOMETHING-NEW", Command::ListVar),
            "the NUT server at 192.0.2.9:3493 answered LIST VAR with ERR SOMETHING-NEW"
        );
        assert_eq!(err_code("ERR DATA-STALE"), Some("DATA-STALE"));
        assert_eq!(err_code("ERR ACCESS-DENIED extra words"), Some("ACCESS-DENIED"));
        assert_eq!(err_code("OK"), None);
        assert_eq!(err_code("ERROR"), None);
    }

    #[tokio::test]
    async fn a_list_is_read_whatever_case_the_server_echoes_and_the_password_stays_out() {
        let (client, mut server) = tokio::io::duplex(4096);
        server
            .write_all(
                b"OK\nOK\nBEGIN LIST VAR RACK\nVAR RACK ups.status \"OB LB\"\n\
                  VAR RACK ups.alarm \"say \\\"hi\\\"\"\nEND LIST VAR RACK\n",
            )
            .await
            .unwrap();
        let mut conn = Conn::new(client, "192.0.2.9:3493".into());
        let login = Login {
            username: "watcher".into(),
            password: Some(SecretString::from("pa ss".to_owned())),
        };
        let mut transcript = Transcript::enabled();
        let vars = session(&mut conn, &spec(), Some(&login), &mut transcript)
            .await
            .unwrap();
        assert_eq!(vars["ups.status"], "OB LB");
        assert_eq!(vars["ups.alarm"], "say \"hi\"");
        drop(conn);
        let mut sent = String::new();
        server.read_to_string(&mut sent).await.unwrap();
        assert_eq!(sent, "USERNAME watcher\nPASSWORD \"pa ss\"\nLIST VAR rack\n");
        let shown = transcript.lines.join("\n");
        assert!(shown.contains("-> PASSWORD (not shown)"), "{shown}");
        assert!(!shown.contains("pa ss"), "{shown}");
    }

    #[test]
    fn server_text_in_messages_is_printable_and_short() {
        assert_eq!(shown("a\u{1b}[2Jb"), "\"a?[2Jb\"");
        assert!(shown(&"x".repeat(500)).ends_with("...\""));
        assert_eq!(server_label("::1", 3493), "[::1]:3493");
        assert_eq!(server_label("ups.example", 3493), "ups.example:3493");
    }
}
