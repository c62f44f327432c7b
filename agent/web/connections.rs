//! How many HTTP connections may be open at once, and how long one may sit without a byte
//! either way. Every accepted connection holds a slot for its life; with none free it is closed
//! at once. A connection that neither sends nor receives for `idle` is closed, whether it is
//! a keep-alive between requests, half a request, or a client that connected and said nothing.
//!
//! Why both, and the cap below the descriptor limit: the HTTP side and the probes share one
//! process's file descriptors. About a thousand silent connections used to take every descriptor
//! under systemd's default limit, and then every probe failed with "Too many open files":
//! healthy devices turned failed because of who connected to the status page. The cap leaves
//! three quarters of the limit to the probes, and the agent raises its soft limit to the hard
//! one at start.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::tls::Conn;

/// Open connections and refused ones since start, for the metrics.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    pub open: AtomicU64,
    pub rejected: AtomicU64,
}

/// The cap and the idle limit in force, and the slots.
#[derive(Debug)]
pub struct Limits {
    slots: Arc<Semaphore>,
    pub max: usize,
    pub idle: Duration,
    pub counts: Arc<ConnectionCounts>,
}

impl Limits {
    /// At most `wanted` connections, and never more than a quarter of `descriptors`.
    pub fn new(wanted: usize, descriptors: u64, idle: Duration, counts: Arc<ConnectionCounts>) -> Self {
        let max = cap(wanted, descriptors);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            idle,
            counts,
        }
    }

    /// A slot for a new connection, or `None` when all are taken (counted as rejected).
    pub fn admit(&self) -> Option<Slot> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => {
                self.counts.open.fetch_add(1, Ordering::Relaxed);
                Some(Slot {
                    _permit: permit,
                    counts: Arc::clone(&self.counts),
                })
            }
            Err(_) => {
                self.counts.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

fn cap(wanted: usize, descriptors: u64) -> usize {
    let quarter = usize::try_from(descriptors / 4).unwrap_or(usize::MAX);
    wanted.min(quarter).max(1)
}

/// A connection's place among the open ones, given back when it closes.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    counts: Arc<ConnectionCounts>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Raises the soft limit on open files to the hard one (as Go's runtime does), so the cap's
/// reserve is as large as the system allows; returns the soft limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// An accepted connection with its slot and its idle deadline.
pub struct Guarded {
    inner: Conn,
    _slot: Slot,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    pub fn new(inner: Conn, slot: Slot, idle: Duration) -> Self {
        Self {
            inner,
            _slot: slot,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// What the inner stream said, with the idle deadline: progress moves it on; nothing for
    /// `idle` is an error, which closes the connection.
    fn watched<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending if self.deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing sent or received for {}", humantime::format_duration(self.idle)),
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.deadline.as_mut().reset(Instant::now() + self.idle);
                ready
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.watched(cx, polled)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watched(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_three_quarters_of_the_descriptors_to_the_probes() {
        assert_eq!(cap(256, 1024), 256);
        assert_eq!(cap(256, 512), 128);
        assert_eq!(cap(256, 65_536), 256);
        assert_eq!(cap(256, 2), 1);
    }

    #[test]
    fn a_slot_is_given_back_when_its_connection_closes() {
        let counts = Arc::new(ConnectionCounts::default());
        let limits = Limits::new(2, 1 << 20, Duration::from_secs(1), Arc::clone(&counts));
        let a = limits.admit().unwrap();
        let _b = limits.admit().unwrap();
        assert!(limits.admit().is_none(), "the third is refused");
        assert_eq!(counts.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(counts.open.load(Ordering::Relaxed), 2);
        drop(a);
        assert_eq!(counts.open.load(Ordering::Relaxed), 1);
        assert!(limits.admit().is_some());
    }
}
