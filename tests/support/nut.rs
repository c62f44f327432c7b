//! NUT servers for the tests. Real ones: Debian's upsd with a dummy-ups driver per UPS (replaying
//! a `.dev` dump, or looping a `.seq` file), each server with its own config and state folders
//! and a free loopback port, without systemd and without touching /etc/nut. Fake ones, for what
//! upsd never does: endless lines, lists cut short, refused logins. Everything started here is
//! stopped on drop, also when the test panics.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{free_port, require_root, temp_dir, wait_for, write};

pub const UPSD: &str = "/lib/nut/upsd";
pub const DUMMY_UPS: &str = "/lib/nut/dummy-ups";

/// Where the project's recorded UPS dumps live (`../shared/testdata/nut`).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/nut")
}

struct UpsEntry {
    name: String,
    /// File name in the config folder; its extension tells dummy-ups how to play it.
    file: String,
    contents: Vec<u8>,
    start_driver: bool,
}

/// What one upsd serves; `start` brings it up.
#[derive(Default)]
pub struct NutServerBuilder {
    upses: Vec<UpsEntry>,
    users: String,
    tls: Option<Arc<TestPki>>,
    extra_listen: Vec<String>,
}

impl NutServerBuilder {
    /// A UPS replaying a dump (`.dev`, once) or stepping through a sequence (`.seq`, looped).
    pub fn ups_from_file(mut self, name: &str, path: &Path) -> Self {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let contents = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.upses.push(UpsEntry {
            name: name.into(),
            file: format!("{name}-{file}"),
            contents,
            start_driver: true,
        });
        self
    }

    /// A UPS from text; `extension` is `dev` or `seq`.
    pub fn ups_from_text(mut self, name: &str, extension: &str, text: &str) -> Self {
        self.upses.push(UpsEntry {
            name: name.into(),
            file: format!("{name}.{extension}"),
            contents: text.as_bytes().to_vec(),
            start_driver: true,
        });
        self
    }

    /// A UPS in ups.conf whose driver is never started (upsd then answers DRIVER-NOT-CONNECTED).
    pub fn ups_without_driver(mut self, name: &str) -> Self {
        self.upses.push(UpsEntry {
            name: name.into(),
            file: format!("{name}.dev"),
            contents: b"ups.status: OL\n".to_vec(),
            start_driver: false,
        });
        self
    }

    /// The text of upsd.users.
    pub fn users(mut self, text: &str) -> Self {
        self.users = text.into();
        self
    }

    /// STARTTLS with the server certificate of `pki` (upsd's NSS database).
    pub fn tls(mut self, pki: &Arc<TestPki>) -> Self {
        self.tls = Some(Arc::clone(pki));
        self
    }

    /// Listen on another loopback address too (same port).
    pub fn also_listen(mut self, ip: &str) -> Self {
        self.extra_listen.push(ip.into());
        self
    }

    pub fn start(self) -> NutServer {
        require_root("upsd and dummy-ups start as root and drop to the nut user");
        for binary in [UPSD, DUMMY_UPS] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install the Debian packages nut-server and nut-client \
                 (the README's test command does)"
            );
        }
        let dir = temp_dir();
        let conf = dir.path().join("conf");
        let state = dir.path().join("state");
        std::fs::create_dir(&conf).unwrap();
        std::fs::create_dir(&state).unwrap();
        let mut ups_conf = String::new();
        for ups in &self.upses {
            std::fs::write(conf.join(&ups.file), &ups.contents).unwrap();
            ups_conf.push_str(&format!(
                "[{}]\n  driver = dummy-ups\n  port = {}\n  desc = \"camwatch test UPS\"\n",
                ups.name, ups.file
            ));
        }
        write(&conf.join("ups.conf"), &ups_conf);
        write(&conf.join("upsd.users"), &self.users);
        write(&conf.join("nut.conf"), "MODE=standalone\n");
        let mut server = NutServer {
            dir,
            port: 0,
            drivers: Vec::new(),
            upsd: None,
            _pki: self.tls.clone(),
        };
        for ups in self.upses.iter().filter(|u| u.start_driver) {
            let child = server.spawn(
                DUMMY_UPS,
                &["-a", &ups.name, "-u", "nut", "-F"],
                &format!("driver-{}", ups.name),
            );
            server.drivers.push((ups.name.clone(), child));
        }
        for (name, _) in &server.drivers {
            let socket = state.join(format!("dummy-ups-{name}"));
            wait_for(
                &format!("dummy-ups {name} to open {}", socket.display()),
                Duration::from_secs(20),
                || socket.exists(),
            );
        }
        // A port picked free can be taken before upsd binds it; upsd then exits, and another
        // port is tried.
        for _attempt in 0..3 {
            server.port = free_port();
            let mut upsd_conf = format!("LISTEN 127.0.0.1 {}\n", server.port);
            for ip in &self.extra_listen {
                upsd_conf.push_str(&format!("LISTEN {ip} {}\n", server.port));
            }
            if let Some(pki) = &self.tls {
                upsd_conf.push_str(&format!(
                    "CERTPATH {}\nCERTIDENT \"{}\" \"{}\"\n",
                    pki.nss_db.display(),
                    pki.nickname,
                    pki.nss_password
                ));
            }
            write(&conf.join("upsd.conf"), &upsd_conf);
            server.share_with_nut();
            let upsd = server.spawn(UPSD, &["-u", "nut", "-F"], "upsd");
            server.upsd = Some(upsd);
            if server.wait_until_serving(&self.upses) {
                return server;
            }
            if let Some(mut upsd) = server.upsd.take() {
                let _ = upsd.kill();
                let _ = upsd.wait();
            }
        }
        panic!("upsd did not start:\n{}", server.logs());
    }
}

/// upsd and the drivers run as `nut`: their config must be readable by group nut, their state
/// folder (driver sockets) owned by nut.
impl NutServer {
    fn share_with_nut(&self) {
        let conf = self.dir.path().join("conf");
        let state = self.dir.path().join("state");
        run_ok("chgrp", &["-R", "nut", conf.to_str().unwrap()]);
        run_ok("chmod", &["-R", "u=rwX,g=rX,o=", conf.to_str().unwrap()]);
        run_ok("chown", &["nut:nut", state.to_str().unwrap()]);
        run_ok("chmod", &["770", state.to_str().unwrap()]);
    }

    fn spawn(&self, program: &str, args: &[&str], log: &str) -> Child {
        self.share_with_nut();
        let log = std::fs::File::create(self.dir.path().join(format!("{log}.log"))).unwrap();
        Command::new(program)
            .args(args)
            .env("NUT_CONFPATH", self.dir.path().join("conf"))
            .env("NUT_STATEPATH", self.dir.path().join("state"))
            .env("NUT_ALTPIDPATH", self.dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// True once upsd answers with data for every UPS that has a driver; false if it exited.
    fn wait_until_serving(&mut self, upses: &[UpsEntry]) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let names: Vec<&str> = upses
            .iter()
            .filter(|u| u.start_driver)
            .map(|u| u.name.as_str())
            .collect();
        loop {
            if let Some(upsd) = self.upsd.as_mut()
                && let Ok(Some(_)) = upsd.try_wait()
            {
                return false;
            }
            let ready = names.iter().all(|name| {
                self.query(&[&format!("GET VAR {name} ups.status")])
                    // upsd says WAIT until the driver has delivered its first data.
                    .is_ok_and(|lines| lines[0].starts_with("VAR ") && !lines[0].contains("WAIT"))
            });
            if ready {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "upsd did not serve {names:?} in time:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub struct NutServer {
    dir: tempfile::TempDir,
    pub port: u16,
    drivers: Vec<(String, Child)>,
    upsd: Option<Child>,
    _pki: Option<Arc<TestPki>>,
}

impl NutServer {
    pub fn builder() -> NutServerBuilder {
        NutServerBuilder::default()
    }

    /// Sends each line and returns the first reply line to each (plain TCP).
    pub fn query(&self, lines: &[&str]) -> std::io::Result<Vec<String>> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        let mut replies = Vec::new();
        for line in lines {
            writer.write_all(format!("{line}\n").as_bytes())?;
            let mut reply = String::new();
            reader.read_line(&mut reply)?;
            replies.push(reply.trim_end().to_owned());
        }
        Ok(replies)
    }

    /// The drivers' and upsd's output, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            out.push_str(&format!(
                "--- {}\n{}\n",
                entry.file_name().to_string_lossy(),
                std::fs::read_to_string(entry.path()).unwrap_or_default()
            ));
        }
        out
    }
}

impl Drop for NutServer {
    fn drop(&mut self) {
        let children = self.upsd.iter_mut().chain(self.drivers.iter_mut().map(|(_, c)| c));
        for child in children {
            super::stop_child(child);
        }
    }
}

fn run_ok(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA with a server certificate for 127.0.0.1, made with openssl, and the server
/// side loaded into an NSS database: Debian builds upsd against NSS, which reads its certificate
/// from such a database (CERTPATH, CERTIDENT) rather than from a PEM file (CERTFILE, OpenSSL
/// builds). Also a second CA that signed nothing, to be the wrong one.
pub struct TestPki {
    _dir: tempfile::TempDir,
    _certificates: [super::pki::TestCertificate; 2],
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    nss_db: PathBuf,
    nickname: String,
    nss_password: String,
}

impl TestPki {
    pub fn new() -> Arc<TestPki> {
        for tool in ["certutil", "pk12util"] {
            assert!(
                Command::new(tool).arg("-H").output().is_ok(),
                "{tool} is missing: install the Debian package libnss3-tools (the README's test \
                 command does)"
            );
        }
        let dir = temp_dir();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        // upsd's own certificate, and an unrelated CA for the "wrong CA" case.
        let server = super::pki::TestCertificate::new();
        let unrelated = super::pki::TestCertificate::new();
        let path = |file: &PathBuf| file.to_str().unwrap().to_owned();
        let nickname = "camwatch-test-upsd".to_owned();
        let p12_password = "p12-throwaway";
        run_ok(
            "openssl",
            &[
                "pkcs12",
                "-export",
                "-name",
                &nickname,
                "-in",
                &path(&server.cert),
                "-inkey",
                &path(&server.key),
                "-certfile",
                &path(&server.ca),
                "-out",
                &p("server.p12"),
                "-passout",
                &format!("pass:{p12_password}"),
            ],
        );
        let nss_password = "nss-throwaway".to_owned();
        write(&dir.path().join("nss-password"), &format!("{nss_password}\n"));
        let db = dir.path().join("nssdb");
        std::fs::create_dir(&db).unwrap();
        let sql_db = format!("sql:{}", db.display());
        run_ok("certutil", &["-N", "-d", &sql_db, "-f", &p("nss-password")]);
        run_ok(
            "pk12util",
            &[
                "-i",
                &p("server.p12"),
                "-d",
                &sql_db,
                "-k",
                &p("nss-password"),
                "-W",
                p12_password,
            ],
        );
        run_ok("chgrp", &["-R", "nut", db.to_str().unwrap()]);
        run_ok("chmod", &["-R", "u=rwX,g=rX,o=", db.to_str().unwrap()]);
        Arc::new(TestPki {
            ca: server.ca.clone(),
            other_ca: unrelated.ca.clone(),
            _certificates: [server, unrelated],
            nss_db: db,
            nickname,
            nss_password,
            _dir: dir,
        })
    }
}

/// One connection to a fake server: lines read are recorded for the test to inspect.
pub struct FakeConn {
    reader: BufReader<TcpStream>,
    pub stream: TcpStream,
    received: Arc<Mutex<Vec<String>>>,
}

impl FakeConn {
    /// The next line from the client, None when it closed.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let line = line.trim_end().to_owned();
                self.received.lock().unwrap().push(line.clone());
                Some(line)
            }
        }
    }

    pub fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.stream.write_all(text.as_bytes())
    }
}

/// A fake NUT server on 127.0.0.1: `handle` plays each connection, one at a time.
pub struct FakeNut {
    pub port: u16,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNut {
    pub fn start(handle: fn(&mut FakeConn)) -> FakeNut {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // A client that stops reading must not wedge the fake forever.
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut conn = FakeConn {
                        reader: BufReader::new(stream.try_clone().unwrap()),
                        stream,
                        received: Arc::clone(&received),
                    };
                    handle(&mut conn);
                    let _ = conn.stream.shutdown(Shutdown::Both);
                }
            })
        };
        FakeNut {
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Every line clients sent, in order.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeNut {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends `byte` until the peer goes away: a line that never ends.
pub fn send_forever(conn: &mut FakeConn, byte: u8) {
    let chunk = [byte; 16 * 1024];
    while conn.stream.write_all(&chunk).is_ok() {}
}

/// A `.dev` dump as `name -> value`, as dummy-ups reads it (comments and `#RW` lines skipped).
pub fn parse_dev(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}
