//! The connection to the SMTP server, opened here and handed to lettre, so that it has
//! `TCP_NODELAY`. lettre 0.11 writes a message's body and its closing `.` as two writes; with
//! Nagle's algorithm the second waits until the server acknowledges the first, and servers delay
//! that acknowledgement (40 ms on Linux): one message every 40 ms at best, whatever the server.
//! lettre's own connect offers no socket options (the upstream fix is not in a release).
//!
//! Everything else stays lettre's: implicit TLS is lettre's TLS (its `TlsParameters`: the
//! verifier, the SNI name, the extra CAs) run over this socket, STARTTLS upgrades it as before.

// lettre marks AsyncNetworkStream "not meant to be public"; it is the only way to run lettre's
// own TLS over a socket opened elsewhere.
#![allow(deprecated)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use lettre::transport::smtp::client::{AsyncNetworkStream, AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Why the connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// No address of the server took the TCP connection in time.
    Tcp(String),
    /// The TLS handshake, the greeting or EHLO failed: lettre's error, which tells a server's
    /// answer (4xx, 5xx) from a failed way to it.
    Smtp(lettre::transport::smtp::Error),
}

/// Connects to `server:port` (each resolved address in turn, each given `timeout`), with
/// `TCP_NODELAY`, wraps it in implicit TLS when `tls` is given, and reads the greeting and
/// sends EHLO.
pub async fn connect(
    server: &str,
    port: u16,
    timeout: Duration,
    tls: Option<TlsParameters>,
    hello: &ClientId,
) -> Result<AsyncSmtpConnection, ConnectError> {
    let tcp = open(server, port, timeout).await.map_err(ConnectError::Tcp)?;
    let stream: Box<dyn AsyncTokioStream> = match tls {
        None => Box::new(tcp),
        Some(parameters) => {
            let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
            stream.upgrade_tls(parameters).await.map_err(ConnectError::Smtp)?;
            Box::new(Encrypted(stream))
        }
    };
    AsyncSmtpConnection::connect_with_transport(stream, hello)
        .await
        .map_err(ConnectError::Smtp)
}

/// The TCP connection, with `TCP_NODELAY` set before anything is written.
pub async fn open(server: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot connect to the SMTP server {server}:{port}: {e}");
    let addresses = tokio::net::lookup_host((server, port)).await.map_err(|e| cannot(&e))?;
    let mut last = None;
    for address in addresses {
        let why = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true).map_err(|e| cannot(&e))?;
                return Ok(stream);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {}", humantime::format_duration(timeout)),
        };
        // A name may resolve to several addresses: say which one failed last.
        last = Some(if address.to_string() == format!("{server}:{port}") {
            why
        } else {
            format!("{address}: {why}")
        });
    }
    Err(cannot(
        &last.unwrap_or_else(|| "the name resolves to no address".to_owned()),
    ))
}

/// lettre's TLS stream (futures-io traits) seen as the tokio stream lettre's connection takes.
/// lettre then counts the connection as plain (`is_encrypted` is false): nothing here asks it,
/// and STARTTLS is never tried over implicit TLS.
#[derive(Debug)]
struct Encrypted(AsyncNetworkStream);

impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for Encrypted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = ready!(futures_io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Encrypted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_connection_to_the_server_has_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = open("127.0.0.1", port, Duration::from_secs(5)).await.unwrap();
        assert!(stream.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_server_and_the_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = open("127.0.0.1", port, Duration::from_secs(5)).await.unwrap_err();
        assert!(
            error.starts_with(&format!("cannot connect to the SMTP server 127.0.0.1:{port}: "))
                && error.contains("onnection refused"),
            "{error}"
        );
    }
}
