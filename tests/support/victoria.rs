//! VictoriaMetrics (Debian `victoria-metrics`), the single-binary long-term store a fleet outgrows
//! one Prometheus into, on loopback: it scrapes the agents itself every second (its
//! `-promscrape.config` reads Prometheus's format) into a temporary store and answers the
//! Prometheus query API. Stopped on drop, also when the test panics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};

use super::prometheus::{QueryResult, query, scrape_config, start_server};

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
        let mut command = Command::new("victoria-metrics");
        command
            .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=1")
            // Without it, points younger than 30 s are not returned: the test's last seconds.
            .arg("-search.latencyOffset=0s")
            .arg(format!("-promscrape.config={}", config.display()));
        VictoriaMetrics {
            child: start_server(command, "victoria-metrics", &log, addr, "/health"),
            addr,
            log,
            _dir: dir,
        }
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
