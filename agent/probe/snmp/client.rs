//! A small SNMP client: GET of many OIDs in one PDU, walks with GETBULK (GETNEXT on v1) that stop
//! at the end of the subtree, per-request timeouts and retries, and values copied into owned types
//! at once (snmp2's PDUs borrow the buffer they were decoded from).
//!
//! v1/v2c: camwatch owns the UDP socket (connected to the agent, so the kernel drops datagrams
//! from any other address or port), encodes its requests itself (`ber.rs`) and decodes replies
//! with snmp2's `Pdu::from_bytes`. Every request id sent for one request is remembered: a datagram
//! that is not a Response to one of them (a stray, a duplicate, a late reply to the previous
//! request) is noted in the transcript and ignored, and a late reply to an earlier attempt is
//! accepted while the next attempt waits, as net-snmp does. Only silence until the last attempt's
//! timeout fails the request.
//!
//! v3 stays on snmp2's `AsyncSession` (engine discovery, auth, privacy), which has no timeouts,
//! no retries and no walk. Its traps, handled here:
//! - a reply that arrives after we gave up on it is read by the next request, which then fails
//!   with `RequestIdMismatch`: that attempt is retried (the stale reply is gone by then);
//! - SNMPv3 needs `init()` (engine discovery) first, and answers `AuthUpdated` when the agent
//!   rebooted and its engine boots/time moved: the request is repeated once re-synced.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use snmp2::{AsyncSession, Oid as WireOid, Value};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::ber::{self, CommunityVersion, RequestKind};

use crate::config::{SnmpAuth, SnmpAuthProtocol, SnmpPrivProtocol, SnmpSpec};
use crate::observation::{ProbeError, ProbeErrorKind};
use crate::probe::Transcript;

/// A numeric OID we own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(pub Vec<u64>);

impl Oid {
    pub fn parse(text: &str) -> Option<Oid> {
        crate::config::parse_oid(text).map(Oid)
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// This OID with `suffix` appended (a table column plus a row index).
    pub fn child(&self, suffix: &[u64]) -> Oid {
        let mut parts = self.0.clone();
        parts.extend_from_slice(suffix);
        Oid(parts)
    }

    /// What follows `prefix` (a row index), if this OID lies under it.
    pub fn suffix_after(&self, prefix: &Oid) -> Option<&[u64]> {
        self.starts_with(prefix).then(|| &self.0[prefix.0.len()..])
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
        }
        Ok(())
    }
}

/// An SNMP value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpValue {
    Integer(i64),
    /// Counter32, Gauge32/Unsigned32, Counter64.
    Unsigned(u64),
    /// Hundredths of a second.
    Timeticks(u32),
    Bytes(Vec<u8>),
    Oid(Oid),
    IpAddress([u8; 4]),
    Null,
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    /// Anything else (Opaque, BOOLEAN...), described.
    Other(String),
}

impl SnmpValue {
    fn from_wire(value: &Value<'_>) -> SnmpValue {
        match value {
            Value::Integer(n) => SnmpValue::Integer(*n),
            Value::Counter32(n) | Value::Unsigned32(n) => SnmpValue::Unsigned(u64::from(*n)),
            Value::Counter64(n) => SnmpValue::Unsigned(*n),
            Value::Timeticks(t) => SnmpValue::Timeticks(*t),
            Value::OctetString(b) => SnmpValue::Bytes(b.to_vec()),
            Value::ObjectIdentifier(oid) => match oid.iter() {
                Some(parts) => SnmpValue::Oid(Oid(parts.collect())),
                None => SnmpValue::Other(format!("OID {oid}")),
            },
            Value::IpAddress(ip) => SnmpValue::IpAddress(*ip),
            Value::Null => SnmpValue::Null,
            Value::NoSuchObject => SnmpValue::NoSuchObject,
            Value::NoSuchInstance => SnmpValue::NoSuchInstance,
            Value::EndOfMibView => SnmpValue::EndOfMibView,
            other => SnmpValue::Other(format!("{other:?}")),
        }
    }

    /// Whether the agent actually has a value here.
    pub fn is_present(&self) -> bool {
        !matches!(
            self,
            Self::Null | Self::NoSuchObject | Self::NoSuchInstance | Self::EndOfMibView
        )
    }

    /// The value as a number, whatever numeric type the agent chose (real agents send a Gauge32
    /// or TimeTicks where the MIB says INTEGER, and numbers as strings).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Integer(n) => Some(*n as f64),
            Self::Unsigned(n) => Some(*n as f64),
            Self::Timeticks(t) => Some(f64::from(*t)),
            Self::Bytes(b) => std::str::from_utf8(b)
                .ok()?
                .trim()
                .trim_matches('\0')
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite()),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => Some(*n),
            Self::Unsigned(n) => i64::try_from(*n).ok(),
            Self::Timeticks(t) => Some(i64::from(*t)),
            Self::Bytes(_) => self.as_f64().filter(|v| v.fract() == 0.0).map(|v| v as i64),
            _ => None,
        }
    }

    /// Text as people read it: trailing NULs and padding removed; `None` when empty.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Self::Bytes(b) => {
                let text = String::from_utf8_lossy(b);
                let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
                (!text.is_empty()).then(|| text.to_owned())
            }
            Self::Integer(_) | Self::Unsigned(_) => self.as_i64().map(|n| n.to_string()),
            _ => None,
        }
    }
}

impl fmt::Display for SnmpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(n) => write!(f, "INTEGER {n}"),
            Self::Unsigned(n) => write!(f, "UNSIGNED {n}"),
            Self::Timeticks(t) => write!(f, "TIMETICKS {t}"),
            Self::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) if !s.chars().any(char::is_control) => write!(f, "STRING {s:?}"),
                _ => write!(f, "HEX {}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            },
            Self::Oid(o) => write!(f, "OID {o}"),
            Self::IpAddress(ip) => write!(f, "IP {}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
            Self::Null => f.write_str("NULL"),
            Self::NoSuchObject => f.write_str("noSuchObject"),
            Self::NoSuchInstance => f.write_str("noSuchInstance"),
            Self::EndOfMibView => f.write_str("endOfMibView"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// Requests in one PDU; agents commonly refuse bigger ones with tooBig.
const OIDS_PER_GET: usize = 24;
const BULK_REPETITIONS: u32 = 25;
/// Bound on one walk, so a broken agent that never ends a table cannot keep us forever.
const MAX_WALK_ROWS: usize = 20_000;

enum Request<'a> {
    Get(&'a [Oid]),
    Next(&'a Oid),
    Bulk(&'a Oid),
}

/// (error status, error index, varbinds).
type Answer = (u32, u32, Vec<(Oid, SnmpValue)>);

/// Largest datagram UDP carries.
const MAX_DATAGRAM: usize = 65_535;

/// How requests travel: v1/v2c over camwatch's own socket, v3 through snmp2's session.
enum Transport {
    Community(Box<CommunityLink>),
    V3(Box<AsyncSession>),
}

struct CommunityLink {
    socket: UdpSocket,
    version: CommunityVersion,
    community: SecretString,
    next_id: i32,
    buffer: Vec<u8>,
}

impl CommunityLink {
    fn take_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id = if id >= i32::MAX - 1 { 1 } else { id + 1 };
        id
    }
}

pub struct SnmpClient<'t> {
    transport: Transport,
    version: snmp2::Version,
    /// The end of the check's budget: no request waits past it.
    deadline: Instant,
    timeout: Duration,
    retries: u32,
    target: SocketAddr,
    /// What else silence can mean with these credentials (agents ignore what they cannot read).
    silence_hint: &'static str,
    rediscovered: bool,
    transcript: &'t mut Transcript,
}

fn device_error(message: String) -> ProbeError {
    ProbeError::new(ProbeErrorKind::Device, message)
}

impl<'t> SnmpClient<'t> {
    /// Opens a session (and, for v3, discovers the engine). `budget` is the check's whole
    /// timeout: per-request timeouts are shortened so that the retries fit inside it.
    pub async fn connect(
        spec: &SnmpSpec,
        address: &str,
        budget: Duration,
        transcript: &'t mut Transcript,
    ) -> Result<SnmpClient<'t>, ProbeError> {
        let deadline = Instant::now() + budget;
        let target = crate::probe::resolve(address, spec.port, transcript).await?;
        let attempts = spec.retries + 1;
        let timeout = spec.request_timeout.min(budget.mul_f64(0.9) / attempts);
        let agent_error =
            |e: std::io::Error| ProbeError::new(ProbeErrorKind::Agent, format!("cannot open a UDP socket: {e}"));
        let request_id = fastrand::i32(1..i32::MAX / 2);
        let (transport, version) = match &spec.auth {
            SnmpAuth::V1 { community } | SnmpAuth::V2c { community } => {
                let community = community
                    .resolve()
                    .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("SNMP community: {e}")))?;
                let local: SocketAddr = if target.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(local).await.map_err(agent_error)?;
                socket.connect(target).await.map_err(agent_error)?;
                let (wire, version) = if matches!(spec.auth, SnmpAuth::V1 { .. }) {
                    (CommunityVersion::V1, snmp2::Version::V1)
                } else {
                    (CommunityVersion::V2c, snmp2::Version::V2C)
                };
                let link = CommunityLink {
                    socket,
                    version: wire,
                    community,
                    next_id: request_id,
                    buffer: vec![0; MAX_DATAGRAM],
                };
                (Transport::Community(Box::new(link)), version)
            }
            SnmpAuth::V3 {
                username,
                auth,
                privacy,
                context,
            } => {
                let security = v3_security(username, auth.as_ref(), privacy.as_ref(), context)?;
                (
                    Transport::V3(Box::new(
                        AsyncSession::new_v3(target, request_id, security)
                            .await
                            .map_err(agent_error)?,
                    )),
                    snmp2::Version::V3,
                )
            }
        };
        let silence_hint = match &spec.auth {
            SnmpAuth::V1 { .. } | SnmpAuth::V2c { .. } => "; a wrong community gets no answer either",
            SnmpAuth::V3 { privacy: Some(_), .. } => "; a wrong privacy password gets no answer either",
            SnmpAuth::V3 { .. } => "",
        };
        let mut client = SnmpClient {
            transport,
            version,
            deadline,
            timeout,
            retries: spec.retries,
            target,
            silence_hint,
            rediscovered: false,
            transcript,
        };
        if version == snmp2::Version::V3 {
            client.discover().await?;
        }
        Ok(client)
    }

    /// snmp2's session, which only v3 uses.
    fn session(&mut self) -> Result<&mut AsyncSession, ProbeError> {
        match &mut self.transport {
            Transport::V3(session) => Ok(session),
            Transport::Community(_) => Err(ProbeError::new(
                ProbeErrorKind::Agent,
                "SNMP v1/v2c has no snmp2 session".to_owned(),
            )),
        }
    }

    async fn discover(&mut self) -> Result<(), ProbeError> {
        for _ in 0..=self.retries {
            let timeout = self.timeout;
            match tokio::time::timeout(timeout, self.session()?.init()).await {
                Ok(Ok(())) => {
                    self.transcript.note(|| "SNMPv3 engine discovery: done".to_owned());
                    return Ok(());
                }
                Ok(Err(snmp2::Error::AuthFailure(kind))) => {
                    return Err(device_error(format!(
                        "SNMPv3 login refused by {} ({kind}): check the user name, protocols and passwords",
                        self.target
                    )));
                }
                Ok(Err(e)) => {
                    return Err(device_error(format!(
                        "SNMPv3 engine discovery with {} failed: {e:?}",
                        self.target
                    )));
                }
                Err(_) => self.transcript.note(|| "SNMPv3 engine discovery: no answer".to_owned()),
            }
        }
        Err(ProbeError::new(
            ProbeErrorKind::Timeout,
            format!(
                "no SNMP answer from {} (engine discovery){}",
                self.target, self.silence_hint
            ),
        ))
    }

    /// GET of many OIDs, in as few PDUs as agents accept. Missing objects come back as
    /// `NoSuchObject`/`NoSuchInstance` rather than failing the whole request (v1's `noSuchName`
    /// is turned into the same).
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Vec<(Oid, SnmpValue)>, ProbeError> {
        let mut out = Vec::with_capacity(oids.len());
        for chunk in oids.chunks(OIDS_PER_GET) {
            let mut pending: Vec<Oid> = chunk.to_vec();
            // v1 answers noSuchName for the whole PDU: drop the named OID and ask again.
            while !pending.is_empty() {
                let (status, index, varbinds) = self.exchange(Request::Get(&pending)).await?;
                match status {
                    0 => {
                        out.extend(varbinds);
                        break;
                    }
                    2 if index >= 1 && index as usize <= pending.len() => {
                        let missing = pending.remove(index as usize - 1);
                        out.push((missing, SnmpValue::NoSuchObject));
                    }
                    status => {
                        return Err(device_error(format!(
                            "{} answered error status {status} ({})",
                            self.target,
                            error_status_name(status)
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every (OID, value) under `root`, in order.
    pub async fn walk(&mut self, root: &Oid) -> Result<Vec<(Oid, SnmpValue)>, ProbeError> {
        let mut rows = Vec::new();
        let mut cursor = root.clone();
        loop {
            let request = if self.version == snmp2::Version::V1 {
                Request::Next(&cursor)
            } else {
                Request::Bulk(&cursor)
            };
            let (status, _, varbinds) = self.exchange(request).await?;
            if status == 2 {
                break; // v1: noSuchName at the end of the MIB view
            }
            if status != 0 {
                return Err(device_error(format!(
                    "{} answered error status {status} ({}) while walking {root}",
                    self.target,
                    error_status_name(status)
                )));
            }
            if varbinds.is_empty() {
                break;
            }
            let mut advanced = false;
            for (oid, value) in varbinds {
                if !oid.starts_with(root) || value == SnmpValue::EndOfMibView {
                    return Ok(rows);
                }
                // An agent that answers an OID not after the one asked would loop forever.
                if oid <= cursor {
                    return Err(device_error(format!(
                        "{} walked backwards ({oid} after {cursor}): a broken SNMP agent",
                        self.target
                    )));
                }
                cursor = oid.clone();
                rows.push((oid, value));
                advanced = true;
            }
            if !advanced || rows.len() > MAX_WALK_ROWS {
                break;
            }
        }
        Ok(rows)
    }

    /// One request with timeouts and retries; returns (error status, error index, varbinds).
    async fn exchange(&mut self, request: Request<'_>) -> Result<Answer, ProbeError> {
        let (kind, oids): (RequestKind, &[Oid]) = match &request {
            Request::Get(oids) => (RequestKind::Get, oids),
            Request::Next(oid) => (RequestKind::GetNext, std::slice::from_ref(*oid)),
            Request::Bulk(oid) => (
                RequestKind::GetBulk {
                    max_repetitions: BULK_REPETITIONS,
                },
                std::slice::from_ref(*oid),
            ),
        };
        let label = match kind {
            RequestKind::Get => format!("GET {}", join(oids)),
            RequestKind::GetNext => format!("GETNEXT {}", join(oids)),
            RequestKind::GetBulk { max_repetitions } => format!("GETBULK {} (max {max_repetitions})", join(oids)),
        };
        let answer = match &self.transport {
            Transport::Community(_) => self.exchange_community(kind, oids, &label).await?,
            Transport::V3(_) => self.exchange_v3(&request, &label).await?,
        };
        let transcript = &mut *self.transcript;
        transcript.note(|| format!("{label} -> status {}", answer.0));
        for (oid, value) in &answer.2 {
            transcript.note(|| format!("  {oid} = {value}"));
        }
        Ok(answer)
    }

    /// v1/v2c: every attempt's request id is remembered, and the reply to any of them is taken
    /// whenever it comes before the last attempt's timeout; anything else is ignored.
    async fn exchange_community(&mut self, kind: RequestKind, oids: &[Oid], label: &str) -> Result<Answer, ProbeError> {
        let Transport::Community(link) = &mut self.transport else {
            return Err(ProbeError::new(
                ProbeErrorKind::Agent,
                "SNMPv3 has no community link".to_owned(),
            ));
        };
        let transcript = &mut *self.transcript;
        let mut sent_ids = Vec::with_capacity(self.retries as usize + 1);
        let mut last_problem = String::from("no answer");
        // A reply we could not take, kept to explain the failure if nothing better comes.
        let mut refused: Option<String> = None;
        for attempt in 1..=self.retries + 1 {
            let id = link.take_id();
            let message = ber::request(link.version, link.community.expose_secret().as_bytes(), kind, id, oids)
                .ok_or_else(|| ProbeError::new(ProbeErrorKind::Agent, format!("cannot encode the OIDs of {label}")))?;
            sent_ids.push(id);
            let attempt_end = (Instant::now() + self.timeout).min(self.deadline);
            match link.socket.send(&message).await {
                Err(e) => last_problem = format!("{e}: nothing answers SNMP on {}", self.target),
                Ok(_) => loop {
                    let received =
                        match tokio::time::timeout_at(attempt_end, link.socket.recv_from(&mut link.buffer)).await {
                            Err(_) => {
                                last_problem = format!("no answer within {:?}", self.timeout);
                                break;
                            }
                            // ICMP port unreachable surfaces here: nothing listens.
                            Ok(Err(e)) => {
                                last_problem = format!("{e}: nothing answers SNMP on {}", self.target);
                                break;
                            }
                            Ok(Ok(received)) => received,
                        };
                    let (len, from) = received;
                    let verdict = if from == self.target {
                        judge(
                            &link.buffer[..len],
                            link.community.expose_secret().as_bytes(),
                            &sent_ids,
                        )
                    } else {
                        Verdict::Ignored(format!("a datagram from {from}, not the agent"))
                    };
                    let why = match verdict {
                        Verdict::Answer(answer) => return Ok(answer),
                        Verdict::Ignored(why) => why,
                        Verdict::Refused(why) => refused.insert(why).clone(),
                    };
                    tracing::debug!(agent = %self.target, "SNMP: ignored {why}");
                    transcript.note(|| format!("{label}: ignored {why}"));
                },
            }
            transcript.note(|| format!("{label}: attempt {attempt} failed: {last_problem}"));
            if Instant::now() >= self.deadline {
                break;
            }
        }
        if let Some(why) = refused {
            return Err(device_error(format!("{} sent {why}", self.target)));
        }
        Err(ProbeError::new(
            ProbeErrorKind::Timeout,
            format!(
                "no SNMP answer from {} after {} attempts ({last_problem}){}",
                self.target,
                sent_ids.len(),
                self.silence_hint
            ),
        ))
    }

    /// v3 through snmp2's session, which reads one datagram per request.
    async fn exchange_v3(&mut self, request: &Request<'_>, label: &str) -> Result<Answer, ProbeError> {
        let wire: Vec<WireOid<'static>> = match request {
            Request::Get(oids) => oids.iter().map(to_wire).collect::<Result<_, _>>()?,
            Request::Next(oid) | Request::Bulk(oid) => vec![to_wire(oid)?],
        };
        let refs: Vec<&WireOid<'_>> = wire.iter().collect();
        let mut last_problem = String::from("no answer");
        let mut attempt = 0;
        while attempt <= self.retries {
            attempt += 1;
            let timeout = self.timeout;
            let session = self.session()?;
            let outcome = match request {
                Request::Get(_) => tokio::time::timeout(timeout, session.get_many(&refs))
                    .await
                    .map(|r| r.map(answer_of)),
                Request::Next(_) => tokio::time::timeout(timeout, session.getnext(refs[0]))
                    .await
                    .map(|r| r.map(answer_of)),
                Request::Bulk(_) => tokio::time::timeout(timeout, session.getbulk(&refs, 0, BULK_REPETITIONS))
                    .await
                    .map(|r| r.map(answer_of)),
            };
            match outcome {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(snmp2::Error::RequestIdMismatch)) => {
                    last_problem = "a late reply to an earlier request".into();
                }
                Ok(Err(snmp2::Error::AuthUpdated)) => {
                    last_problem = "the agent's engine restarted; re-synchronised".into();
                }
                Ok(Err(snmp2::Error::AuthFailure(kind))) => {
                    // Engine time or boots moved (the agent rebooted): discover again and repeat,
                    // once; refused again, the credentials are wrong.
                    if self.rediscovered {
                        return Err(device_error(format!(
                            "SNMPv3 login refused by {} ({kind}): check the user name, protocols and passwords",
                            self.target
                        )));
                    }
                    self.transcript
                        .note(|| format!("{label}: SNMPv3 {kind}; discovering the engine again"));
                    self.rediscovered = true;
                    self.discover().await?;
                    // Re-synchronising is not a lost request: this attempt does not count.
                    attempt -= 1;
                    continue;
                }
                Ok(Err(snmp2::Error::CommunityMismatch)) => {
                    return Err(device_error(format!("{} answered with another community", self.target)));
                }
                Ok(Err(e @ (snmp2::Error::Send | snmp2::Error::Receive))) => {
                    // ICMP port unreachable surfaces here as a receive error: nothing listens.
                    last_problem = format!("{e:?}: nothing answers SNMP on {}", self.target);
                }
                Ok(Err(e)) => {
                    return Err(device_error(format!(
                        "{} sent an SNMP reply camwatch cannot decode ({e:?})",
                        self.target
                    )));
                }
                Err(_) => last_problem = format!("no answer within {:?}", self.timeout),
            }
            self.transcript
                .note(|| format!("{label}: attempt {attempt} failed: {last_problem}"));
        }
        Err(ProbeError::new(
            ProbeErrorKind::Timeout,
            format!(
                "no SNMP answer from {} after {} attempts ({last_problem}){}",
                self.target,
                self.retries + 1,
                self.silence_hint
            ),
        ))
    }
}

/// What a v1/v2c client makes of one datagram from the agent.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The reply to one of the request ids sent.
    Answer(Answer),
    /// Not a reply to us (another PDU type, another request id): said why.
    Ignored(String),
    /// Addressed to us but unusable (undecodable, another community): said why, without the
    /// community. Still ignored; it explains the failure if no good reply follows.
    Refused(String),
}

/// Judges one datagram against the request ids sent for this request and our community.
pub(crate) fn judge(datagram: &[u8], community: &[u8], sent_ids: &[i32]) -> Verdict {
    let pdu = match snmp2::Pdu::from_bytes(datagram) {
        Ok(pdu) => pdu,
        Err(e) => return Verdict::Refused(format!("an SNMP reply camwatch cannot decode ({e:?})")),
    };
    if pdu.message_type != snmp2::MessageType::Response {
        return Verdict::Ignored(format!("a {:?}, not a Response", pdu.message_type));
    }
    if !sent_ids.contains(&pdu.req_id) {
        return Verdict::Ignored(format!("a reply to request id {}, not ours", pdu.req_id));
    }
    if pdu.community != community {
        return Verdict::Refused("a reply with another community".to_owned());
    }
    Verdict::Answer(answer_of(pdu))
}

/// A decoded reply, copied out of the buffer: (error status, error index, varbinds).
pub(crate) fn answer_of(pdu: snmp2::Pdu<'_>) -> Answer {
    let varbinds = pdu
        .varbinds
        .map(|(oid, value)| {
            (
                Oid(oid.iter().map(Iterator::collect).unwrap_or_default()),
                SnmpValue::from_wire(&value),
            )
        })
        .collect();
    (pdu.error_status, pdu.error_index, varbinds)
}

fn to_wire(oid: &Oid) -> Result<WireOid<'static>, ProbeError> {
    WireOid::from(&oid.0).map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("cannot encode OID {oid}: {e:?}")))
}

fn join(oids: &[Oid]) -> String {
    oids.iter().map(Oid::to_string).collect::<Vec<_>>().join(" ")
}

fn error_status_name(status: u32) -> &'static str {
    match status {
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        16 => "authorizationError",
        _ => "error",
    }
}

fn v3_security(
    username: &str,
    auth: Option<&(SnmpAuthProtocol, crate::config::SecretSource)>,
    privacy: Option<&(SnmpPrivProtocol, crate::config::SecretSource)>,
    context: &str,
) -> Result<snmp2::v3::Security, ProbeError> {
    let secret = |s: &crate::config::SecretSource, what: &str| {
        s.resolve()
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("SNMPv3 {what} password: {e}")))
    };
    let Some((protocol, auth_secret)) = auth else {
        return Ok(snmp2::v3::Security::new(username.as_bytes(), b"")
            .with_auth(snmp2::v3::Auth::NoAuthNoPriv)
            .with_context_name(context));
    };
    let auth_password = secret(auth_secret, "auth")?;
    let mut security = snmp2::v3::Security::new(username.as_bytes(), auth_password.expose_secret().as_bytes())
        .with_auth_protocol(match protocol {
            SnmpAuthProtocol::Md5 => snmp2::v3::AuthProtocol::Md5,
            SnmpAuthProtocol::Sha => snmp2::v3::AuthProtocol::Sha1,
            SnmpAuthProtocol::Sha224 => snmp2::v3::AuthProtocol::Sha224,
            SnmpAuthProtocol::Sha256 => snmp2::v3::AuthProtocol::Sha256,
            SnmpAuthProtocol::Sha384 => snmp2::v3::AuthProtocol::Sha384,
            SnmpAuthProtocol::Sha512 => snmp2::v3::AuthProtocol::Sha512,
        })
        .with_context_name(context);
    security = match privacy {
        None => security.with_auth(snmp2::v3::Auth::AuthNoPriv),
        Some((cipher, priv_secret)) => {
            let privacy_password = secret(priv_secret, "privacy")?;
            security
                .with_auth(snmp2::v3::Auth::AuthPriv {
                    cipher: match cipher {
                        SnmpPrivProtocol::Des => snmp2::v3::Cipher::Des,
                        SnmpPrivProtocol::Aes => snmp2::v3::Cipher::Aes128,
                        SnmpPrivProtocol::Aes192 => snmp2::v3::Cipher::Aes192,
                        SnmpPrivProtocol::Aes256 => snmp2::v3::Cipher::Aes256,
                    },
                    privacy_password: privacy_password.expose_secret().as_bytes().to_vec(),
                })
                // net-snmp extends short AES-192/256 keys the Blumenthal way (RFC draft).
                .with_key_extension_method(snmp2::v3::KeyExtension::Blumenthal)
        }
    };
    Ok(security)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_any_wire_type() {
        assert_eq!(SnmpValue::Integer(-1).as_f64(), Some(-1.0));
        assert_eq!(SnmpValue::Unsigned(230).as_f64(), Some(230.0));
        assert_eq!(SnmpValue::Timeticks(360000).as_i64(), Some(360000));
        assert_eq!(SnmpValue::Bytes(b" 231.5\0".to_vec()).as_f64(), Some(231.5));
        assert_eq!(SnmpValue::Bytes(b"n/a".to_vec()).as_f64(), None);
        assert_eq!(SnmpValue::Bytes(b"nan".to_vec()).as_f64(), None);
        assert_eq!(SnmpValue::NoSuchInstance.as_f64(), None);
        assert!(!SnmpValue::NoSuchObject.is_present());
    }

    #[test]
    fn text_is_trimmed_and_empty_is_absent() {
        assert_eq!(
            SnmpValue::Bytes(b"Smart-UPS 1500  \0\0".to_vec()).as_text().as_deref(),
            Some("Smart-UPS 1500")
        );
        assert_eq!(SnmpValue::Bytes(b"   ".to_vec()).as_text(), None);
    }

    /// A Response as an agent would send it: a request with its PDU type changed.
    fn response(community: &[u8], id: i32) -> Vec<u8> {
        let oid = Oid::parse("1.3.6.1.2.1.1.3.0").unwrap();
        let mut message = ber::request(CommunityVersion::V2c, community, RequestKind::Get, id, &[oid]).unwrap();
        let pdu = 2 + 3 + 2 + community.len();
        assert_eq!(message[pdu], 0xa0);
        message[pdu] = 0xa2;
        message
    }

    #[test]
    fn only_a_response_to_one_of_our_ids_with_our_community_is_an_answer() {
        let sent = [41, 42];
        match judge(&response(b"pub", 41), b"pub", &sent) {
            Verdict::Answer((0, 0, varbinds)) => {
                assert_eq!(varbinds, [(Oid::parse("1.3.6.1.2.1.1.3.0").unwrap(), SnmpValue::Null)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(judge(&response(b"pub", 43), b"pub", &sent), Verdict::Ignored(why) if why.contains("43")));
        let request = ber::request(CommunityVersion::V2c, b"pub", RequestKind::Get, 42, &[]).unwrap();
        assert!(matches!(judge(&request, b"pub", &sent), Verdict::Ignored(why) if why.contains("not a Response")));
        match judge(&response(b"other", 42), b"pub", &sent) {
            Verdict::Refused(why) => assert!(why.contains("another community") && !why.contains("pub"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(judge(b"\xde\xad", b"pub", &sent), Verdict::Refused(why) if why.contains("cannot decode")));
    }

    #[test]
    fn oid_relations() {
        let table = Oid::parse("1.3.6.1.2.1.25.2.3.1").unwrap();
        let cell = table.child(&[5, 31]);
        assert_eq!(cell.to_string(), "1.3.6.1.2.1.25.2.3.1.5.31");
        assert_eq!(cell.suffix_after(&table.child(&[5])), Some(&[31u64][..]));
        assert!(Oid::parse("1.3.6.1.2.1.25.2.4").unwrap() > cell);
    }
}
