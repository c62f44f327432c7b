//! A real SMTP server for the mail tests: aiosmtpd (Debian python3-aiosmtpd) driven by
//! `smtp_server.py`, saving every accepted message with its envelope and parsed parts, answering
//! DATA as the test says (250, 451, 550, or holding the answer), optionally with STARTTLS (a
//! certificate from `pki`) and AUTH. Stopped by its PID on drop; can be stopped and started again
//! on the same port (an outage).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::pki::TestCertificate;

/// Debian's Python, which has python3-aiosmtpd (the Python first on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    /// Where messages are saved (and the `mode` file and `attempts.log` live).
    pub dir: tempfile::TempDir,
    tls: Option<TestCertificate>,
    implicit_tls: bool,
    auth: Option<(String, String)>,
}

/// One accepted message, as the server's email parser read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    pub auth: Option<String>,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub content_type: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<serde_json::Value>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn subject(&self) -> &str {
        self.header("Subject")
    }

    pub fn message_id(&self) -> &str {
        self.header("Message-ID")
    }
}

pub enum Security {
    Plain,
    /// STARTTLS required, with a certificate signed by a CA the test made.
    StartTls,
    /// TLS from the first byte (port 465 style), same kind of certificate.
    ImplicitTls,
}

impl SmtpServer {
    pub fn start(security: Security, auth: Option<(&str, &str)>) -> SmtpServer {
        let tls = match security {
            Security::Plain => None,
            Security::StartTls | Security::ImplicitTls => Some(TestCertificate::new()),
        };
        let mut server = SmtpServer {
            child: None,
            port: super::free_port(),
            dir: tempfile::tempdir().unwrap(),
            implicit_tls: matches!(security, Security::ImplicitTls),
            tls,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        server.resume();
        server
    }

    /// The CA that signed the server's certificate (STARTTLS servers).
    pub fn ca(&self) -> &Path {
        &self.tls.as_ref().expect("a TLS server").ca
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is already running");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut command = Command::new(PYTHON);
        command
            .arg(&script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("server.log")).unwrap());
        if let Some(tls) = &self.tls {
            command.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
            if self.implicit_tls {
                command.arg("--implicit-tls");
            }
        }
        if let Some((user, password)) = &self.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("{PYTHON} cannot start ({e}); install python3-aiosmtpd (the README's test command does)")
        });
        let port = self.port;
        let log = self.dir.path().join("server.log");
        super::wait_for("the SMTP server to listen", Duration::from_secs(20), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the SMTP server exited with {status} (python3-aiosmtpd installed?):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        self.child = Some(child);
    }

    /// Stops the server: the port refuses connections until `resume`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_child(&mut child);
        }
    }

    /// How DATA is answered from now on: "250", "451", "550" or "hold".
    pub fn set_mode(&self, mode: &str) {
        let tmp = self.dir.path().join("mode.tmp");
        std::fs::write(&tmp, mode).unwrap();
        std::fs::rename(tmp, self.dir.path().join("mode")).unwrap();
    }

    /// Recipients refused with 550 at RCPT TO from now on (a mailbox that does not exist).
    pub fn refuse(&self, addresses: &[&str]) {
        let tmp = self.dir.path().join("refuse.tmp");
        std::fs::write(&tmp, addresses.join("\n")).unwrap();
        std::fs::rename(tmp, self.dir.path().join("refuse")).unwrap();
    }

    /// `(Message-ID, outcome)` of every DATA the server saw, in order.
    pub fn attempts(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("attempts.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(id, outcome)| (id.to_owned(), outcome.to_owned()))
            .collect()
    }

    /// Every message accepted so far, in the order accepted.
    pub fn received(&self) -> Vec<Received> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        // Names start with the time in nanoseconds, all the same width for centuries.
        files.sort();
        files
            .iter()
            .map(|f| {
                let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                Received {
                    mail_from: s("mail_from"),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_owned())
                        .collect(),
                    tls: v["tls"].as_bool().unwrap(),
                    auth: v["auth"].as_str().map(str::to_owned),
                    headers: v["headers"].as_object().unwrap().clone(),
                    content_type: s("content_type"),
                    text: s("text"),
                    html: s("html"),
                    attachments: v["attachments"].as_array().unwrap().clone(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages were accepted; returns them all.
    pub fn wait_for_messages(&self, n: usize, limit: Duration) -> Vec<Received> {
        super::wait_for(&format!("{n} message(s) at the SMTP server"), limit, || {
            self.received().len() >= n
        });
        self.received()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
