//! net-snmp's `snmpd` on loopback, with SNMPv3 users, run inside a time namespace so a test can
//! make its host "reboot": hrSystemUptime follows the namespace's boot time offset.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const V3_USER: &str = "cwuser";
pub const V3_AUTH: &str = "authpass123";
pub const V3_PRIV: &str = "privpass123";
pub const V3_USER_256: &str = "cw256";
pub const V3_AUTH_256: &str = "authpass256";
pub const V3_PRIV_256: &str = "privpass256";
pub const V3_USER_MD5: &str = "cwmd5";
pub const V3_AUTH_MD5: &str = "authpassmd5";
pub const COMMUNITY: &str = "public";

pub struct Snmpd {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Snmpd {
    /// Starts snmpd with its host's uptime shifted by `boottime_offset` seconds.
    pub fn start(boottime_offset: i64) -> Snmpd {
        super::require_root("snmpd in a time namespace");
        let dir = super::temp_dir();
        std::fs::write(
            dir.path().join("snmpd.conf"),
            format!(
                "rocommunity {COMMUNITY} 127.0.0.1\n\
                 createUser {V3_USER} SHA \"{V3_AUTH}\" AES \"{V3_PRIV}\"\n\
                 createUser {V3_USER_256} SHA-256 \"{V3_AUTH_256}\" AES-256 \"{V3_PRIV_256}\"\n\
                 createUser {V3_USER_MD5} MD5 \"{V3_AUTH_MD5}\"\n\
                 rouser {V3_USER} priv\nrouser {V3_USER_256} priv\nrouser {V3_USER_MD5} auth\n\
                 sysservices 76\n"
            ),
        )
        .unwrap();
        let mut snmpd = Snmpd {
            child: None,
            port: free_udp_port(),
            dir,
        };
        snmpd.spawn(boottime_offset);
        snmpd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spawn(&mut self, boottime_offset: i64) {
        let child = Command::new("unshare")
            .args([
                "--time",
                "--fork",
                "--boottime",
                &boottime_offset.to_string(),
                "snmpd",
                "-f",
                "-Lf",
            ])
            .arg(self.path("log"))
            .arg("-C")
            .arg("-c")
            .arg(self.path("snmpd.conf"))
            .arg("-p")
            .arg(self.path("pid"))
            .arg(format!("udp:127.0.0.1:{}", self.port))
            .env("SNMP_PERSISTENT_DIR", self.path("persist"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("snmpd and unshare are installed (Debian snmpd, util-linux)");
        self.child = Some(child);
        super::wait_for("snmpd to answer", Duration::from_secs(30), || {
            Command::new("snmpget")
                .args(["-v2c", "-c", COMMUNITY, "-t", "0.3", "-r", "0"])
                .arg(format!("127.0.0.1:{}", self.port))
                .arg("1.3.6.1.2.1.1.3.0")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    }

    /// Stops snmpd and waits until it is gone.
    pub fn stop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.path("pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let pid_file = self.path("pid");
        super::wait_for("snmpd to stop", Duration::from_secs(30), || {
            std::fs::read_to_string(&pid_file)
                .map(|pid| !PathBuf::from(format!("/proc/{}", pid.trim())).exists())
                .unwrap_or(true)
        });
    }

    /// Stops snmpd and starts it again on the same port with another boot time offset.
    pub fn restart(&mut self, boottime_offset: i64) {
        self.stop();
        self.spawn(boottime_offset);
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// This machine's uptime in seconds (outside any time namespace).
pub fn host_uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
