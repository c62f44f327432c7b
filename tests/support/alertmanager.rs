//! A real Prometheus Alertmanager (Debian `prometheus-alertmanager`) on loopback, with Basic
//! authentication and a webhook receiver that keeps every notification it sends, so tests see
//! what Alertmanager itself made of the alerts: its API, its metrics, and what it told a receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{free_port, http, stop_child, wait_for, write};

pub const BINARY: &str = "/usr/bin/prometheus-alertmanager";
pub const USER: &str = "camwatch";
/// The password the web config's bcrypt hash below was made from.
pub const PASSWORD: &str = "AmPw-q7Zx91";
const PASSWORD_BCRYPT: &str = "$2b$04$c8xJDLe/f6yQ10vB9fwNa.fp13mpcGptYD6UXcHsjP5WrsmL95CJ2";

/// Whether the binary is installed; tests print SKIPPED and return when it is not.
pub fn available() -> bool {
    if Path::new(BINARY).exists() {
        return true;
    }
    eprintln!("SKIPPED: {BINARY} is missing (Debian package prometheus-alertmanager; scripts/test installs it)");
    false
}

pub struct Alertmanager {
    child: Option<Child>,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    /// The notifications Alertmanager sent to its webhook receiver (webhook JSON bodies).
    pub notifications: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Alertmanager {
    /// Starts one on a free port, grouping by alert (every alert its own notification) with
    /// short waits, and resolved notifications on.
    pub fn start() -> Alertmanager {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let receiver = listener.local_addr().unwrap();
        let notifications = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&notifications);
        std::thread::spawn(move || webhook(listener, kept));
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("alertmanager.yml"),
            &format!(
                r#"route:
  receiver: webhook
  group_by: ["..."]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: "http://{receiver}/"
        send_resolved: true
"#
            ),
        );
        write(
            &dir.path().join("web.yml"),
            &format!("basic_auth_users:\n  {USER}: {PASSWORD_BCRYPT}\n"),
        );
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut am = Alertmanager {
            child: None,
            addr,
            dir,
            notifications,
        };
        am.restart();
        am
    }

    /// Starts it (again) on the same port, with an empty alert store (as after a crash).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        let dir = self.dir.path();
        let storage = dir.join(format!("data-{}", free_port()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("alertmanager.log"))
            .unwrap();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--web.config.file={}", dir.join("web.yml").display()))
            .arg(format!("--web.listen-address={}", self.addr))
            .arg(format!("--storage.path={}", storage.display()))
            // No gossip: a cluster of one.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus-alertmanager starts");
        self.child = Some(child);
        wait_for("Alertmanager to be ready", Duration::from_secs(30), || {
            self.get("/-/ready").is_ok_and(|(status, _)| status == 200)
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        use base64::Engine as _;
        let login = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        let r = http(self.addr, "GET", path, &[("Authorization", &format!("Basic {login}"))])?;
        Ok((r.status, r.body))
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds as active (not resolved).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/api/v2/alerts").unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The active alert of `device`, if Alertmanager holds one.
    pub fn alert(&self, device: &str) -> Option<serde_json::Value> {
        self.alerts().into_iter().find(|a| a["labels"]["device"] == device)
    }

    /// Alertmanager's own count of alerts received, by status (`firing`, `resolved`).
    pub fn received(&self, status: &str) -> f64 {
        let (code, body) = self.get("/metrics").unwrap();
        assert_eq!(code, 200);
        body.lines()
            .filter(|l| {
                l.starts_with("alertmanager_alerts_received_total{") && l.contains(&format!("status=\"{status}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Every alert of every notification sent to the receiver, as (notification status, alert).
    pub fn notified(&self) -> Vec<serde_json::Value> {
        self.notifications
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The webhook receiver: answers 200 to every POST and keeps its JSON body.
fn webhook(listener: TcpListener, kept: Arc<Mutex<Vec<serde_json::Value>>>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_ok()
            && let Ok(json) = serde_json::from_slice(&body)
        {
            kept.lock().unwrap().push(json);
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}
