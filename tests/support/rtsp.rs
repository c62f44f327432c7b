//! RTSP cameras for the tests. A real one: GStreamer's RTSP server (Debian
//! gir1.2-gst-rtsp-server-1.0) driven by `rtsp_server.py` with Debian's own Python, serving live
//! H.264 640x360 at 15 fps on a loopback port the OS picked, optionally behind Basic or Digest.
//! Fake ones, for what a real camera never does (garbage, silence, endless headers).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Debian's Python: the one with PyGObject (`gi`). The Python first on PATH may not have it.
const PYTHON: &str = "/usr/bin/python3";

/// Who may watch the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth<'a> {
    None,
    Basic { user: &'a str, password: &'a str },
    Digest { user: &'a str, password: &'a str },
}

/// A GStreamer RTSP server process; stopped by its PID on drop, also when the test panics.
pub struct RtspServer {
    child: Option<Child>,
    pub port: u16,
    pub path: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/rtsp_server.py")
}

/// Panics with the packages to install when GStreamer's RTSP server cannot be imported.
pub fn require_gstreamer() {
    let out = Command::new(PYTHON)
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ])
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "GStreamer's RTSP server is not usable from {PYTHON}: install the Debian packages \
         gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
         gstreamer1.0-plugins-ugly gstreamer1.0-rtsp python3-gi (the README's test command does): {}",
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_else(|e| e.to_string())
    );
}

impl RtspServer {
    pub fn start(auth: Auth<'_>) -> RtspServer {
        require_gstreamer();
        let dir = super::temp_dir();
        let log = dir.path().join("rtsp_server.log");
        let path = "/test".to_owned();
        let mut command = Command::new(PYTHON);
        command.arg(script()).args(["--path", &path]);
        match auth {
            Auth::None => {}
            Auth::Basic { user, password } => {
                command.args(["--auth", "basic", "--user", user, "--password", password]);
            }
            Auth::Digest { user, password } => {
                command.args(["--auth", "digest", "--user", user, "--password", password]);
            }
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{PYTHON}: {e}"));
        // The script prints "READY <port>" once it listens; read it on a thread so that the wait
        // is bounded even if the script hangs before printing anything.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = RtspServer {
            child: Some(child),
            port: 0,
            path,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.port == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        server.port = port.trim().parse().expect("READY <port>");
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("rtsp_server.py exited before it was ready:\n{}", server.logs())
                }
            }
            if let Some(child) = server.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("rtsp_server.py exited with {status}:\n{}", server.logs());
            }
            assert!(
                Instant::now() < deadline,
                "rtsp_server.py did not report ready within 30 s:\n{}",
                server.logs()
            );
        }
        server
    }

    /// The stream URL, `rtsp://127.0.0.1:PORT/test`.
    pub fn uri(&self) -> String {
        format!("rtsp://127.0.0.1:{}{}", self.port, self.path)
    }

    /// SIGTERM, then SIGKILL if it has not gone within a few seconds. Safe to call twice.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_child(&mut child);
        }
    }

    /// The server's own output, for failure messages.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fake RTSP server on 127.0.0.1: `handle` plays each connection, one at a time.
pub struct FakeRtsp {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRtsp {
    pub fn start(handle: fn(&mut TcpStream)) -> FakeRtsp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    // A client that stops reading must not wedge the fake forever.
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    handle(&mut stream);
                    let _ = stream.shutdown(Shutdown::Both);
                }
            })
        };
        FakeRtsp {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn uri(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }
}

impl Drop for FakeRtsp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (up to its blank line); false when the client went away first.
pub fn read_request(stream: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => return false,
        }
    }
    true
}

/// Reads until the client closes (or the read timeout): a server that never answers.
pub fn hold_silently(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// Sends `byte` until the peer goes away: a line that never ends.
pub fn send_forever(stream: &mut TcpStream, byte: u8) {
    let chunk = [byte; 16 * 1024];
    while stream.write_all(&chunk).is_ok() {}
}
