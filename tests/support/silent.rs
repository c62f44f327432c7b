//! Dead devices on purpose: loopback ports that accept every TCP connection and never say a
//! word, the way a hung camera or recorder does (the kernel still completes the handshake). Every
//! ONVIF, RTSP, HTTP or ISAPI check pointed at one runs into its timeout. One thread serves all
//! the ports; a connection is held until its client gives up and closes it, so the held
//! descriptors stay bounded by what the agent has in flight.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct SilentHosts {
    pub ports: Vec<u16>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentHosts {
    /// `count` listening ports on 127.0.0.1.
    pub fn start(count: usize) -> SilentHosts {
        let listeners: Vec<TcpListener> = (0..count)
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        let ports = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        let (accepted, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let thread = {
            let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
            std::thread::spawn(move || hold_all(&listeners, &accepted, &stop))
        };
        SilentHosts {
            ports,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far (each one a probe that got no answer).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// Accepts on every listener, reads and discards whatever clients send, and drops a connection
/// only when its client closed it.
fn hold_all(listeners: &[TcpListener], accepted: &AtomicUsize, stop: &AtomicBool) {
    let mut held: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        for listener in listeners {
            while let Ok((stream, _)) = listener.accept() {
                if stream.set_nonblocking(true).is_ok() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    held.push(stream);
                }
            }
        }
        held.retain_mut(still_open);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the other side of a non-blocking stream still holds it open; what it sent is read
/// and dropped.
pub fn still_open(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

impl Drop for SilentHosts {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
