//! SMTP delivery with lettre's SMTP connection over tokio and rustls (ring, the provider reqwest
//! uses), on a TCP connection camwatch opens (`smtp_stream`: `TCP_NODELAY`, or each message
//! waits 40 ms): STARTTLS, implicit TLS, or plain for a relay on the local network; AUTH PLAIN or LOGIN;
//! extra trusted CAs from `ca_file`. The password is read when the mailer is built, never logged.
//! The transaction is driven here rather than by lettre's transport, which gives up on the whole
//! message when one RCPT is refused: each recipient's answer counts on its own.

use std::time::{Duration, Instant, UNIX_EPOCH};

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use secrecy::ExposeSecret;

use super::smtp_stream::{self, ConnectError};
use crate::config::email::{EmailSecurity, EmailSettings};
use crate::state::outbox::{OutboxRow, Refusal};

/// How long the TCP connect may take, per address of the server; the whole conversation has
/// its own deadline, `[email] send_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message was not sent, and whether trying again can help.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    /// A 5xx answer (or a message that can never be built): retrying cannot help.
    pub permanent: bool,
    /// The server answered (4xx or 5xx): the failure is about this recipient or this message,
    /// so the next recipient is worth trying. False when the way to the server failed
    /// (connection refused, TLS, no answer in time): the others would fail the same way now.
    pub answered: bool,
    pub message: String,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl SendError {
    fn permanent(message: String) -> Self {
        Self {
            permanent: true,
            answered: false,
            message,
        }
    }

    fn transient(message: String) -> Self {
        Self {
            permanent: false,
            answered: false,
            message,
        }
    }

    /// 4xx, a refused connection, a timeout, a TLS failure: the server (or the way to it) may
    /// be back later. Only the server saying "never" (5xx) is permanent.
    fn from_smtp(e: &lettre::transport::smtp::Error) -> Self {
        Self {
            permanent: e.is_permanent(),
            answered: e.is_permanent() || e.is_transient(),
            message: error_chain(e),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

pub struct Mailer {
    server: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    from: Mailbox,
    send_timeout: Duration,
    /// The connection of the last delivery, reused when the next comes soon after (a backlog
    /// drains over one connection, as lettre's pool did).
    idle: tokio::sync::Mutex<Option<(AsyncSmtpConnection, Instant)>>,
}

/// How long an idle connection is kept for the next message; servers drop idle clients after
/// a few minutes, and a stale one costs a failed attempt.
const KEEP_IDLE: Duration = Duration::from_secs(10);

/// What the server said of one message's recipients.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Took the message (the transaction ended with 250).
    pub delivered: Vec<String>,
    /// Refused for good (5xx to RCPT), with the server's answer.
    pub refused: Vec<Refusal>,
    /// Refused for now (4xx to RCPT): tried again later with the message's backoff.
    pub deferred: Option<SendError>,
}

impl Mailer {
    /// Prepares the connection settings; a missing password or unreadable CA file is an error
    /// here, reported on every attempt (transient: the file may be fixed without a restart).
    pub fn new(settings: &EmailSettings) -> Result<Self, SendError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| SendError::permanent(format!("from address {:?}: {e}", settings.from)))?;
        let tls = || -> Result<TlsParameters, SendError> {
            let mut builder = TlsParameters::builder(settings.server.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    SendError::transient(format!("cannot read the SMTP ca_file {}: {e}", path.display()))
                })?;
                let ca = Certificate::from_pem(&pem).map_err(|e| {
                    SendError::transient(format!(
                        "the SMTP ca_file {} holds no PEM certificate: {e}",
                        path.display()
                    ))
                })?;
                builder = builder.add_root_certificate(ca);
            }
            builder
                .build_rustls()
                .map_err(|e| SendError::transient(format!("TLS setup for {}: {}", settings.server, error_chain(&e))))
        };
        let tls = match settings.security {
            EmailSecurity::Starttls => Tls::Required(tls()?),
            EmailSecurity::Tls => Tls::Wrapper(tls()?),
            EmailSecurity::None => Tls::None,
        };
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => {
                let password = password.resolve().map_err(|e| SendError::transient(e.to_string()))?;
                Some(Credentials::new(user.clone(), password.expose_secret().to_owned()))
            }
            _ => None,
        };
        Ok(Self {
            server: settings.server.clone(),
            port: settings.port,
            tls,
            credentials,
            from,
            send_timeout: settings.send_timeout,
            idle: tokio::sync::Mutex::new(None),
        })
    }

    /// The message of `row`, formatted once for all its recipients.
    pub fn format(&self, row: &OutboxRow) -> Result<Vec<u8>, SendError> {
        Ok(build(&self.from, row)?.formatted())
    }

    /// Delivers `message` to `to` in one SMTP transaction, taking each recipient's answer on its
    /// own: the server may refuse one address (a wrong owner) and take the message for the rest.
    /// The whole conversation (connect, greeting, TLS, login, envelope, data, the answer) must
    /// end within `send_timeout`: a server that accepts and never greets holds nothing up longer.
    /// `Err` is about the message as a whole (the server, the way to it, the sender, the data).
    pub async fn send(&self, message: &[u8], to: &[&str]) -> Result<Delivery, SendError> {
        let mut idle = self.idle.lock().await;
        let reused = idle.take().filter(|(_, at)| at.elapsed() < KEEP_IDLE);
        let deadline = Instant::now() + self.send_timeout;
        let attempt = async {
            let mut conn = match reused {
                // The server may have closed it meanwhile: a NOOP tells, before any mail is sent.
                Some((mut conn, _)) => {
                    if conn.test_connected().await {
                        conn
                    } else {
                        conn.abort().await;
                        self.connect().await?
                    }
                }
                None => self.connect().await?,
            };
            self.transaction(&mut conn, message, to).await.map(|d| (d, conn))
        };
        match tokio::time::timeout_at(deadline.into(), attempt).await {
            Ok(Ok((delivery, conn))) => {
                *idle = Some((conn, Instant::now()));
                Ok(delivery)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SendError::transient(format!(
                "the SMTP server did not finish the conversation within send_timeout ({})",
                humantime::format_duration(self.send_timeout)
            ))),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let hello = ClientId::default();
        let wrapper = match &self.tls {
            Tls::Wrapper(parameters) => Some(parameters.clone()),
            _ => None,
        };
        let smtp = |e: lettre::transport::smtp::Error| SendError::from_smtp(&e);
        let mut conn = smtp_stream::connect(&self.server, self.port, CONNECT_TIMEOUT, wrapper, &hello)
            .await
            .map_err(|e| match e {
                ConnectError::Tcp(message) => SendError::transient(message),
                ConnectError::Smtp(e) => smtp(e),
            })?;
        if let Tls::Required(parameters) = &self.tls {
            conn.starttls(parameters.clone(), &hello).await.map_err(smtp)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(smtp)?;
        }
        Ok(conn)
    }

    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        message: &[u8],
        to: &[&str],
    ) -> Result<Delivery, SendError> {
        let smtp = |e: lettre::transport::smtp::Error| SendError::from_smtp(&e);
        let mut parameters = Vec::new();
        if !message.is_ascii() {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(Some(self.from.email.clone()), parameters))
            .await
            .map_err(smtp)?;
        let mut delivery = Delivery::default();
        let mut accepted = Vec::new();
        for address in to {
            let parsed = match address.parse::<Mailbox>() {
                Ok(mailbox) => mailbox.email,
                Err(e) => {
                    delivery.refused.push(Refusal {
                        address: (*address).to_owned(),
                        error: format!("not a mail address: {e}"),
                    });
                    continue;
                }
            };
            match conn.command(Rcpt::new(parsed, Vec::new())).await {
                Ok(_) => accepted.push((*address).to_owned()),
                Err(e) if e.is_permanent() => delivery.refused.push(Refusal {
                    address: (*address).to_owned(),
                    error: error_chain(&e),
                }),
                Err(e) if e.is_transient() => delivery.deferred = Some(SendError::from_smtp(&e)),
                Err(e) => return Err(smtp(e)),
            }
        }
        if accepted.is_empty() {
            // Nobody to send to now: end the transaction, keep the connection.
            conn.command(Rset).await.map_err(smtp)?;
            return Ok(delivery);
        }
        conn.command(Data).await.map_err(smtp)?;
        conn.message(message).await.map_err(smtp)?;
        delivery.delivered = accepted;
        Ok(delivery)
    }
}

/// The MIME message for an outbox row: text and HTML alternatives, the snapshot attached, the
/// row's Message-ID, dated when it was queued (a retry is the same message).
pub fn build(from: &Mailbox, row: &OutboxRow) -> Result<Message, SendError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(row.subject.clone())
        .message_id(Some(row.message_id.clone()))
        .date(UNIX_EPOCH + Duration::from_secs_f64(row.created_at.max(0.0)))
        .user_agent(format!("camwatch {}", env!("CARGO_PKG_VERSION")));
    for to in &row.recipients {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| SendError::permanent(format!("recipient {to:?}: {e}")))?;
        builder = builder.to(mailbox);
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(row.text.clone()))
        .singlepart(SinglePart::html(row.html.clone()));
    let body = match &row.attachment {
        Some((name, jpeg)) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(name.clone()).body(jpeg.clone(), ContentType::parse("image/jpeg").expect("a valid type")),
        ),
        None => alternative,
    };
    builder
        .multipart(body)
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
}
