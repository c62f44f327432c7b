//! SMTP delivery with lettre over tokio and rustls (ring, the provider reqwest uses): STARTTLS,
//! implicit TLS, or plain for a relay on the local network; AUTH PLAIN or LOGIN; extra trusted
//! CAs from `ca_file`. The password is read when a transport is built, never logged.

use std::time::{Duration, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::email::{EmailSecurity, EmailSettings};
use crate::state::outbox::OutboxRow;

/// How long one SMTP conversation may take before it counts as a transient failure.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message was not sent, and whether trying again can help.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    /// A 5xx answer (or a message that can never be built): retrying cannot help.
    pub permanent: bool,
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
            message,
        }
    }

    fn transient(message: String) -> Self {
        Self {
            permanent: false,
            message,
        }
    }

    /// 4xx, a refused connection, a timeout, a TLS failure: the server (or the way to it) may
    /// be back later. Only the server saying "never" (5xx) is permanent.
    fn from_smtp(e: &lettre::transport::smtp::Error) -> Self {
        let message = error_chain(e);
        if e.is_permanent() {
            Self::permanent(message)
        } else {
            Self::transient(message)
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
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// Builds the transport; a missing password or unreadable CA file is an error here, reported
    /// on every attempt (transient: the file may be fixed without a restart).
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
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.server.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            let password = password.resolve().map_err(|e| SendError::transient(e.to_string()))?;
            builder = builder
                .credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    pub async fn send(&self, row: &OutboxRow) -> Result<(), SendError> {
        let message = build(&self.from, row)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError::from_smtp(&e))
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
