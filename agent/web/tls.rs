//! Accepting connections: TCP, then (when the web configuration asks for it) a TLS handshake in
//! a task of its own with a deadline, so a client that connects and says nothing holds up only
//! itself. Finished connections are handed to axum through a [`Listener`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::{IncomingStream, Listener};
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::WebState;
use super::connections::{Guarded, Limits};

/// How long a client has to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; a connection beyond that is closed at once.
const HANDSHAKES_IN_FLIGHT: usize = 256;

/// One accepted connection, with or without TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The client's address, for handlers (`ConnectInfo<Peer>`): the login rate limit is per address.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<IncomingStream<'_, WebListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, WebListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// Connections ready for HTTP (handshake done), fed by [`accept_forever`].
pub struct WebListener {
    ready: mpsc::Receiver<(Guarded, SocketAddr)>,
    local: SocketAddr,
}

impl Listener for WebListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task ended (shutdown): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Starts accepting on `tcp`. Whether a connection gets TLS, and with which certificate, is
/// decided by the web configuration in force when it arrives (reloads apply to new connections).
/// Each connection holds one of `limits`' slots for its life (see `connections`).
pub fn listen(tcp: TcpListener, web: Arc<WebState>, limits: Limits) -> io::Result<WebListener> {
    let local = tcp.local_addr()?;
    let (tx, ready) = mpsc::channel(64);
    tokio::spawn(accept_forever(tcp, web, limits, tx));
    Ok(WebListener { ready, local })
}

/// Rejected connections are logged at most this often: a flood must not flood the log.
const REJECTED_LOG_EVERY: Duration = Duration::from_secs(60);

async fn accept_forever(tcp: TcpListener, web: Arc<WebState>, limits: Limits, tx: mpsc::Sender<(Guarded, SocketAddr)>) {
    let mut last_rejected_log: Option<tokio::time::Instant> = None;
    let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_IN_FLIGHT));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!("cannot accept an HTTP connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = limits.admit() else {
            // Closed at once: it holds no descriptor, and the client sees a reset, not a hang.
            drop(stream);
            if last_rejected_log.is_none_or(|at| at.elapsed() >= REJECTED_LOG_EVERY) {
                last_rejected_log = Some(tokio::time::Instant::now());
                tracing::warn!(
                    client = %addr,
                    max = limits.max,
                    "too many HTTP connections open; new ones are closed until some end (camwatch_http_connections_rejected_total counts them)"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let idle = limits.idle;
        let Some(tls) = web.current().tls.clone() else {
            if tx
                .send((Guarded::new(Conn::Plain(stream), slot, idle), addr))
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
            tracing::warn!(client = %addr, "too many TLS handshakes in progress; connection closed");
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            drop(permit);
            match handshake {
                Ok(Ok(conn)) => {
                    let _ = tx
                        .send((Guarded::new(Conn::Tls(Box::new(conn)), slot, idle), addr))
                        .await;
                }
                Ok(Err(e)) => tracing::debug!(client = %addr, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(client = %addr, "TLS handshake not completed within {HANDSHAKE_TIMEOUT:?}"),
            }
        });
    }
}

/// `client_allowed_sans`: after `inner` accepted the certificate, one of its subject alternative
/// names must be exactly one of `allowed` (as in exporter-toolkit: DNS names and URIs as
/// written, IP addresses; e-mail SANs cannot be read here, so an e-mail entry matches nothing).
#[derive(Debug)]
pub struct AllowedSans {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub allowed: Vec<String>,
}

impl AllowedSans {
    fn admits(&self, end_entity: &CertificateDer<'_>) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(end_entity) else {
            return false;
        };
        let listed = |name: &str| self.allowed.iter().any(|a| a == name);
        if cert.valid_dns_names().any(listed) || cert.valid_uri_names().any(listed) {
            return true;
        }
        self.allowed
            .iter()
            .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
            .any(|ip| {
                let name = rustls::pki_types::ServerName::IpAddress(ip.into());
                cert.verify_is_valid_for_subject_name(&name).is_ok()
            })
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        if self.admits(end_entity) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "the client certificate has none of the SANs in client_allowed_sans".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `RequireAnyClientCert`: a certificate must be sent and its key proven, but no CA vouches for
/// it (Go's meaning; the README warns that this authenticates nobody).
#[derive(Debug)]
pub struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl AnyClientCert {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        AnyClientCert { provider }
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
