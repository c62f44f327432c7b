//! A real Prometheus server (Debian package `prometheus`) on loopback, scraping the agent every
//! second with a temporary configuration and TSDB, and evaluating PromQL through its HTTP API.
//! Stopped on drop, also when the test panics.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What `/api/v1/query` answered: the result vector, or Prometheus's error text.
pub type QueryResult = Result<Vec<serde_json::Value>, String>;

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` as job `job` every second, loading `rule_files`.
    pub fn start(job: &str, target: SocketAddr, rule_files: &[&Path]) -> Prometheus {
        Prometheus::start_fleet(job, &[target], rule_files, None)
    }

    /// Starts Prometheus scraping every agent of `targets` as job `job` every second (a fleet in
    /// one Prometheus), loading `rule_files`, and sending its alerts to `alertmanager` if given.
    pub fn start_fleet(
        job: &str,
        targets: &[SocketAddr],
        rule_files: &[&Path],
        alertmanager: Option<SocketAddr>,
    ) -> Prometheus {
        let dir = super::temp_dir();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {:?}\n", p.display().to_string()))
            .collect();
        let alerting = alertmanager.map_or_else(String::new, |am| {
            format!("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{am}\"]\n")
        });
        let config = dir.path().join("prometheus.yml");
        super::write(
            &config,
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{alerting}rule_files:\n{}{}",
                rules.concat(),
                scrape_config(job, targets)
            ),
        );
        let addr: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let log = dir.path().join("prometheus.log");
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"));
        Prometheus {
            child: start_server(command, "prometheus", &log, addr, "/-/ready"),
            addr,
            log,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` of the HTTP API as JSON; `Err` with the status and body when it is not 200.
    pub fn api(&self, path: &str) -> Result<serde_json::Value, String> {
        api(self.addr, path)
    }

    /// An instant query at the present time.
    pub fn query(&self, expr: &str) -> QueryResult {
        query(self.addr, expr)
    }

    /// The rule groups Prometheus loaded, as `/api/v1/rules` gives them.
    pub fn rule_groups(&self) -> Vec<serde_json::Value> {
        let data = self.api("/api/v1/rules").unwrap();
        data["groups"].as_array().cloned().unwrap_or_default()
    }
}

/// GET `path` of a Prometheus-compatible HTTP API at `addr` as JSON; `Err` with the status and
/// body when it is not 200.
pub fn api(addr: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let r = super::http(addr, "GET", path, &[]).map_err(|e| e.to_string())?;
    let body: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("HTTP {}: {e}: {}", r.status, r.body))?;
    if r.status == 200 && body["status"] == "success" {
        Ok(body["data"].clone())
    } else {
        Err(format!(
            "HTTP {} {}: {}",
            r.status,
            body["errorType"].as_str().unwrap_or(""),
            body["error"].as_str().unwrap_or(&r.body)
        ))
    }
}

/// An instant query at the present time, through the `/api/v1/query` of `addr`.
pub fn query(addr: SocketAddr, expr: &str) -> QueryResult {
    let data = api(addr, &format!("/api/v1/query?query={}", url_encode(expr)))?;
    match data["resultType"].as_str() {
        Some("vector" | "matrix") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
        // A scalar or string always has a value.
        Some(_) => Ok(vec![data["result"].clone()]),
        None => Err(format!("no resultType in {data}")),
    }
}

/// A `scrape_configs` section scraping `targets` as job `job` (Prometheus's format, which
/// VictoriaMetrics's `-promscrape.config` reads too).
pub fn scrape_config(job: &str, targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        super::stop_child(&mut self.child);
    }
}

/// Starts a peer server from Debian package `package` (`command`, its arguments set) with its
/// output in `log`, and waits until `GET ready` on `addr` answers 200; panics with the log if the
/// server exits first.
pub fn start_server(mut command: Command, package: &str, log: &Path, addr: SocketAddr, ready: &str) -> Child {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (Debian package {package}; the README's test command installs it)"));
    super::wait_for(&format!("{program} to be ready"), Duration::from_secs(30), || {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{program} exited with {status}:\n{text}");
        }
        super::http(addr, "GET", ready, &[]).is_ok_and(|r| r.status == 200)
    });
    child
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The vector selectors of a PromQL expression (`name{matchers}` or a bare `name`), leaving out
/// functions, aggregations, keywords and the label lists of `by`, `without`, `on`, `ignoring`,
/// `group_left` and `group_right`. Enough for the project's own expressions, not a full parser.
pub fn selectors(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 6] = ["and", "or", "unless", "bool", "offset", "inf"];
    // Aggregations may put `by (...)` or `without (...)` between their name and their argument.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        chars[from..]
            .iter()
            .position(|c| *c == close)
            .map_or(chars.len(), |p| from + p + 1)
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i = skip_to(i + 1, c);
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let follows = chars.get(next).copied();
            if LABEL_LISTS.contains(&name.as_str()) {
                if follows == Some('(') {
                    i = skip_to(next, ')');
                }
            } else if KEYWORDS.contains(&name.to_ascii_lowercase().as_str())
                || AGGREGATIONS.contains(&name.as_str())
                || follows == Some('(')
            {
                // a function or an aggregation: its arguments are scanned on
            } else if follows == Some('{') {
                let end = skip_braces(&chars, next);
                out.push(format!("{name}{}", chars[next..end].iter().collect::<String>()));
                i = end;
            } else {
                out.push(name);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The index after the `}` closing the `{` at `open`, skipping quoted label values.
fn skip_braces(chars: &[char], open: usize) -> usize {
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '}' => return i + 1,
            '"' | '\'' => {
                let quote = chars[i];
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    chars.len()
}

/// A real Alertmanager (Debian package `prometheus-alertmanager`) on loopback, clustering off,
/// with a temporary configuration and storage. Stopped on drop.
pub struct Alertmanager {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start(config: &str) -> Alertmanager {
        let dir = super::temp_dir();
        let config_path = dir.path().join("alertmanager.yml");
        super::write(&config_path, config);
        let addr: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let log = dir.path().join("alertmanager.log");
        let mut command = Command::new("prometheus-alertmanager");
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // An empty address turns clustering (a gossip port on every interface) off.
            .arg("--cluster.listen-address=");
        Alertmanager {
            child: start_server(command, "prometheus-alertmanager", &log, addr, "/-/ready"),
            addr,
            log,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Posts alerts (a JSON array) as Prometheus does.
    pub fn post_alerts(&self, alerts: &serde_json::Value) {
        use std::io::{Read, Write};
        let body = alerts.to_string();
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            stream,
            "POST /api/v2/alerts HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "posting alerts: {answer}\n{}",
            self.log_text()
        );
    }

    /// The alerts it holds, with their status (`active` or `suppressed`, `inhibitedBy`).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let r = super::http(self.addr, "GET", "/api/v2/alerts", &[]).unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_str(&r.body).unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        super::stop_child(&mut self.child);
    }
}
