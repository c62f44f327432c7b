//! VictoriaMetrics (Debian `victoria-metrics`), the single-binary long-term store a fleet outgrows
//! one Prometheus into, on loopback: it scrapes the agents itself every second (its
//! `-promscrape.config` reads Prometheus's format) into a temporary store and answers the
//! Prometheus query API. Stopped on drop, also when the test panics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::prometheus::{QueryResult, query, scrape_config};

pub struct VictoriaMetrics {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl VictoriaMetrics {
    /// Starts it scraping every agent of `targets` as job `job` every second.
    pub fn start(job: &str, targets: &[SocketAddr]) -> VictoriaMetrics {
        let dir = super::temp_dir();
        let config = dir.path().join("prometheus.yml");
        super::write(
            &config,
            &format!("global:\n  scrape_interval: 1s\n{}", scrape_config(job, targets)),
        );
        let addr: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let log = dir.path().join("victoria-metrics.log");
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=1")
            // Without it, points younger than 30 s are not returned: the test's last seconds.
            .arg("-search.latencyOffset=0s")
            .arg(format!("-promscrape.config={}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("victoria-metrics is installed (Debian package victoria-metrics; the README's test command installs it)");
        let mut server = VictoriaMetrics {
            child,
            addr,
            log,
            _dir: dir,
        };
        super::wait_for("VictoriaMetrics to be ready", Duration::from_secs(30), || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("victoria-metrics exited with {status}:\n{}", server.log_text());
            }
            super::http(server.addr, "GET", "/health", &[]).is_ok_and(|r| r.status == 200)
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query at the present time.
    pub fn query(&self, expr: &str) -> QueryResult {
        query(self.addr, expr)
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        super::stop_child(&mut self.child);
    }
}
