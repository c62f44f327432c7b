//! snmpsim (PyPI `snmpsim`) as a real SNMP agent for the tests: it serves recorded device walks
//! (`*.snmprec`, one `OID|TYPE|VALUE` a line) from a data folder, the community string being the
//! file name without `.snmprec`. Started on a free UDP port of 127.0.0.1, waited for with real
//! SNMP requests, and killed by its PID when the value is dropped, also when the test panics.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The responder's name inside a virtual environment's `bin/`.
const RESPONDER: &str = "snmpsim-command-responder";

/// Where the README's test command (`scripts/test`) installs snmpsim, and where the harness
/// creates it itself when run by plain `cargo test` on a machine that has none.
fn project_venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/snmpsim-venv")
}

/// The snmpsim responder to run: `$CAMWATCH_SNMPSIM` if set, else the project's venv, else the
/// machine's `/opt/snmpsim`, else a venv created now (once per test process).
pub fn responder() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("CAMWATCH_SNMPSIM") {
                return PathBuf::from(path);
            }
            let candidates = [
                project_venv().join("bin").join(RESPONDER),
                PathBuf::from("/opt/snmpsim/bin").join(RESPONDER),
            ];
            if let Some(found) = candidates.iter().find(|p| p.is_file()) {
                return found.clone();
            }
            create_venv()
        })
        .clone()
}

/// `python3 -m venv target/snmpsim-venv` and `pip install snmpsim pysmi` (snmpsim 1.2 crashes at
/// start without pysmi). The same versions as `scripts/test` installs.
fn create_venv() -> PathBuf {
    let venv = project_venv();
    eprintln!("installing snmpsim into {}", venv.display());
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 runs (Debian python3 and python3-venv; scripts/test installs them)");
    assert!(status.success(), "python3 -m venv {} failed", venv.display());
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet"])
        .args(PIP_PACKAGES)
        .status()
        .expect("pip runs");
    assert!(status.success(), "pip install {PIP_PACKAGES:?} failed");
    venv.join("bin").join(RESPONDER)
}

/// Kept in step with `scripts/test`.
const PIP_PACKAGES: &[&str] = &["snmpsim==1.2.2", "pysnmp==7.1.30", "pysmi==2.0.0"];

/// A running snmpsim serving one data folder.
pub struct Snmpsim {
    child: Child,
    pub port: u16,
    _cache: tempfile::TempDir,
    log: PathBuf,
}

impl Snmpsim {
    /// Starts snmpsim on `data_dir` and returns once it answers SNMP (the first start indexes
    /// the files, which takes a few seconds on a big folder).
    pub fn start(data_dir: &Path) -> Snmpsim {
        let community = any_community(data_dir);
        let responder = responder();
        // A port the OS just handed out can be taken again before snmpsim binds it: start again
        // on another one if snmpsim exits at start.
        let mut last_log = String::new();
        for _ in 0..3 {
            let cache = tempfile::tempdir().unwrap();
            let log = cache.path().join("snmpsim.log");
            let port = free_udp_port();
            // Options after --v3-engine-id belong to that engine: keep this order.
            let child = Command::new(&responder)
                .arg("--process-user=root")
                .arg("--process-group=root")
                .arg(format!("--cache-dir={}", cache.path().join("cache").display()))
                .arg("--v3-engine-id=auto")
                .arg(format!("--data-dir={}", data_dir.display()))
                .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::create(cache.path().join("snmpsim.err")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", responder.display()));
            let mut sim = Snmpsim {
                child,
                port,
                _cache: cache,
                log,
            };
            match sim.wait_ready(&community, Duration::from_secs(60)) {
                Ok(()) => return sim,
                Err(why) => last_log = format!("{why}\n{}", sim.log_text()),
            }
            // Dropping `sim` kills it; try another port.
        }
        panic!("snmpsim did not start on {}:\n{last_log}", data_dir.display());
    }

    /// Polls with an SNMP GET of sysDescr.0 until any answer comes, snmpsim exits, or `limit`.
    fn wait_ready(&mut self, community: &str, limit: Duration) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(("127.0.0.1", self.port)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(250))).unwrap();
        let request = get_sysdescr_v2c(community);
        let deadline = Instant::now() + limit;
        let mut buffer = [0u8; 2048];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("snmpsim exited with {status}"));
            }
            // Nothing listening yet shows as ICMP port unreachable (a send or receive error):
            // just ask again.
            let _ = socket.send(&request);
            if let Ok(n) = socket.recv(&mut buffer)
                && n > 0
                && buffer[0] == 0x30
            {
                return Ok(());
            }
        }
        Err(format!("no SNMP answer within {limit:?}"))
    }

    pub fn log_text(&self) -> String {
        let err = self.log.with_file_name("snmpsim.err");
        format!(
            "{}{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID (SIGKILL); snmpsim runs as one process.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A community snmpsim answers to: the stem of any data file in the folder.
fn any_community(data_dir: &Path) -> String {
    std::fs::read_dir(data_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", data_dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".snmprec").map(str::to_owned))
        .min()
        .unwrap_or_else(|| panic!("no .snmprec files in {}", data_dir.display()))
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An SNMPv2c GetRequest for sysDescr.0 (1.3.6.1.2.1.1.1.0), BER-encoded by hand so the harness
/// needs no SNMP tool of its own. Every length here is under 128, so each is one byte.
fn get_sysdescr_v2c(community: &str) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128, "short form lengths only");
        let mut out = vec![tag, content.len() as u8];
        out.extend_from_slice(content);
        out
    }
    let oid = tlv(0x06, &[0x2b, 6, 1, 2, 1, 1, 1, 0]);
    let varbind = tlv(0x30, &[oid, vec![0x05, 0x00]].concat());
    let varbinds = tlv(0x30, &varbind);
    let pdu = tlv(
        0xa0, // GetRequest-PDU
        &[
            tlv(0x02, &[0x01]), // request-id 1
            tlv(0x02, &[0x00]), // error-status
            tlv(0x02, &[0x00]), // error-index
            varbinds,
        ]
        .concat(),
    );
    tlv(
        0x30,
        &[
            tlv(0x02, &[0x01]), // version: 1 = v2c
            tlv(0x04, community.as_bytes()),
            pdu,
        ]
        .concat(),
    )
}
