//! Soak under faults (issue #8): the release daemon watches a simulated site for half an hour
//! while a fault injector unplugs cameras, takes switches off the network, restarts the SNMP
//! agent, stops the SMTP server and makes recorders answer garbage. Afterwards it checks what a
//! site would hold camwatch to: memory stayed flat, nothing panicked, every incident's mail
//! arrived exactly once, and the availability camwatch reports equals the downtime injected.
//! All along, hung cameras (they accept TCP and never answer) take their share of the pool and
//! a flood of idle connections and half-sent requests sits on the HTTP port: the live devices
//! must keep their intervals, the scrapes must answer, the open connections stay under the cap.
//!
//! Not part of `cargo test` (`test = false` in Cargo.toml: it runs for 30 minutes); run it with
//! `scripts/soak [MINUTES]`, which builds it in release mode. It needs root (network namespaces,
//! upsd, snmpd) and the peers `scripts/test` installs. The fault schedule is drawn from a seed
//! (`--seed N`, printed), so a failing run can be replayed.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::isapi_sim::{IsapiSim, IsapiState, SimChannel};
use support::nut::NutServer;
use support::onvif_sim::{SimFleet, SimState};
use support::silent::SilentHosts;
use support::smtp::{Security, SmtpServer};
use support::snmpd::Snmpd;
use support::{Daemon, TestHost};

/// Cameras reached by ping behind simulated switches: one network namespace per switch.
const SWITCHES: usize = 9;
const CAMERAS_PER_SWITCH: u8 = 20;
/// Cameras polled over ONVIF (the simulator on loopback), making 200 cameras in all.
const ONVIF_CAMERAS: usize = 20;
const RECORDERS: usize = 10;
const UPSES: usize = 5;
/// Cameras that accept TCP and never answer, each with a stream and a snapshot check: 32
/// probe-seconds wanted per second, twice what dead devices may hold of the default pool.
const HUNG_CAMERAS: usize = 80;
/// Connections held open on the HTTP port all along, half of them idle, half a request without
/// its end: three quarters of `max_http_connections` (256), so a scrape still finds room.
const FLOOD: usize = 192;
const HTTP_CONNECTION_CAP: f64 = 256.0;

/// The cameras' policy: what the availability tolerance is derived from.
const INTERVAL: f64 = 10.0;
const TIMEOUT: f64 = 2.0;
/// The policy of recorders, UPS units and the NAS.
const SLOW_INTERVAL: f64 = 30.0;
const SLOW_TIMEOUT: f64 = 5.0;
/// How long the availability figures may lag (the daemon refreshes them every 15 s).
const AVAILABILITY_REFRESH: f64 = 15.0;
/// The bound on memory growth after the warm-up: a leak of a few hundred bytes per poll (200
/// devices every 10 s) would pass it in the first half hour of a year-long run, so it is tight.
const RSS_GROWTH_BOUND_MIB: f64 = 16.0;

struct Args {
    minutes: f64,
    seed: u64,
}

fn args() -> Args {
    let mut args = Args {
        minutes: 30.0,
        seed: SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| usage(&format!("{arg} needs a number ({what})")))
        };
        match arg.as_str() {
            "--minutes" => args.minutes = value("minutes"),
            "--seed" => args.seed = value("seed") as u64,
            "-h" | "--help" => usage(""),
            _ => usage(&format!("unknown argument {arg}")),
        }
    }
    if args.minutes < 4.0 {
        usage("--minutes must be at least 4 (a minute of warm-up, faults, a quiet tail)");
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("soak: {problem}");
    }
    eprintln!("usage: soak [--minutes N (30)] [--seed N]");
    std::process::exit(2);
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// A camera's cable pulled: its address leaves the namespace.
    Unplug { switch: usize, camera: u8 },
    /// A switch loses its uplink: it and every camera behind it are unreachable.
    SwitchDown { switch: usize },
    /// The SNMP agent restarts (a NAS reboot, seen by its uptime).
    SnmpRestart,
    /// The mail server is down: mail must wait in the outbox and go out once, later.
    SmtpOutage,
    /// A recorder answers garbage after the login.
    Garbage { recorder: usize },
}

/// A fault and when it starts and ends, in seconds after the daemon started.
#[derive(Debug, Clone, Copy)]
struct Planned {
    fault: Fault,
    start: f64,
    end: f64,
}

/// Draws the fault schedule. Faults end a quiet tail before the end, so every incident can be
/// repaired and its recovery mailed. Outages of one camera are kept apart (and shorter ones
/// avoided) by what ping can see: two failed polls to fail, two good ones to recover.
fn plan(seed: u64, total: f64) -> Vec<Planned> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let tail = (total * 0.25).min(240.0);
    let last_end = total - tail;
    let mut planned = Vec::new();
    let add = |fault, start: f64, length: f64, planned: &mut Vec<Planned>| {
        if start + length <= last_end {
            planned.push(Planned {
                fault,
                start,
                end: start + length,
            });
        }
    };
    let mut t = 150.0;
    while t < last_end {
        let switch = rng.usize(..SWITCHES);
        add(Fault::SwitchDown { switch }, t, rng.f64() * 60.0 + 60.0, &mut planned);
        t += 300.0;
    }
    let separation = 4.0 * INTERVAL;
    let mut t = 60.0;
    while t < last_end {
        let length = rng.f64() * 105.0 + 45.0;
        // A camera whose outages (and its switch's) stay clear of this one by `separation`.
        let clear = |switch: usize, camera: u8, planned: &[Planned]| {
            planned.iter().all(|p| {
                let related = match p.fault {
                    Fault::Unplug { switch: s, camera: c } => s == switch && c == camera,
                    Fault::SwitchDown { switch: s } => s == switch,
                    _ => false,
                };
                !related || p.end + separation < t || t + length + separation < p.start
            })
        };
        for _ in 0..50 {
            let (switch, camera) = (rng.usize(..SWITCHES), rng.u8(..CAMERAS_PER_SWITCH));
            if clear(switch, camera, &planned) {
                add(Fault::Unplug { switch, camera }, t, length, &mut planned);
                break;
            }
        }
        t += 40.0;
    }
    let mut t = 200.0;
    while t < last_end {
        add(Fault::SnmpRestart, t, 0.0, &mut planned);
        t += 420.0;
    }
    // The mail server goes down just after a camera does, so that camera's mail meets the outage.
    let outage_length = (total * 0.1).clamp(90.0, 180.0);
    if let Some(unplug) = planned
        .iter()
        .filter(|p| matches!(p.fault, Fault::Unplug { .. }) && p.start >= total * 0.3 - 60.0)
        .map(|p| p.start)
        .next()
    {
        add(Fault::SmtpOutage, unplug + 5.0, outage_length, &mut planned);
    }
    let mut t = 100.0;
    let mut recorder = 0;
    while t < last_end {
        add(Fault::Garbage { recorder }, t, 90.0, &mut planned);
        recorder = (recorder + 1) % RECORDERS;
        t += 240.0;
    }
    planned.sort_by(|a, b| a.start.total_cmp(&b.start));
    planned
}

fn camera_name(switch: usize, camera: u8) -> String {
    format!("cam-{switch}-{camera:02}")
}

/// The address of camera `camera` in its switch's namespace: .10 and up (.2 is the switch).
fn camera_octet(camera: u8) -> u8 {
    10 + camera
}

/// The simulated site and everything that can be broken in it.
struct Site {
    switches: Vec<TestHost>,
    onvif: SimFleet,
    recorders: Vec<IsapiSim>,
    ups: NutServer,
    snmpd: Snmpd,
    smtp: SmtpServer,
    hung: SilentHosts,
}

impl Site {
    fn start(total: f64) -> Site {
        let extra: Vec<u8> = (0..CAMERAS_PER_SWITCH).map(camera_octet).collect();
        let switches = (0..SWITCHES).map(|_| TestHost::new(&extra)).collect();
        let onvif = SimFleet::start(ONVIF_CAMERAS, SimState::default());
        let now = support::isapi_sim::now() / 3600 * 3600;
        // Footage from three days ago until after the run: the recorders record all along.
        let recorded_until = now + total as i64 + 7200;
        let recorders = (0..RECORDERS)
            .map(|_| {
                IsapiSim::start(IsapiState {
                    channels: (1..=4)
                        .map(|id| SimChannel {
                            id,
                            name: format!("Channel {id}"),
                            segments: (now - 3 * 86_400..recorded_until)
                                .step_by(3600)
                                .map(|s| (s, s + 3600, 900_000_000))
                                .collect(),
                        })
                        .collect(),
                    disks: Vec::new(),
                    ..IsapiState::default()
                })
            })
            .collect();
        let mut ups = NutServer::builder();
        for u in 0..UPSES {
            ups = ups.ups_from_text(
                &format!("ups{u}"),
                "dev",
                "device.mfr: Eaton\ndevice.model: 5PX 2000\nups.status: OL\nbattery.charge: 100\nbattery.runtime: 2400\nups.load: 30\n",
            );
        }
        Site {
            switches,
            onvif,
            recorders,
            ups: ups.start(),
            snmpd: Snmpd::start(0),
            smtp: SmtpServer::start(Security::Plain, None),
            hung: SilentHosts::start(HUNG_CAMERAS),
        }
    }

    fn config(&self, smtp_port: u16) -> String {
        let mut text = format!(
            r#"
[procedures]
handover = []

[email]
server = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "camwatch <camwatch@soak.example>"
to = ["maintenance@soak.example"]
escalate_to = ["facilities@soak.example"]
escalate_after = "15m"
remind_every = "10m"
group_window = "10s"
retry_after = "5s"
procedures = []
reports = []

[policy.default]
interval = "{INTERVAL}s"
timeout = "{TIMEOUT}s"
failures_before_failed = 2
successes_before_recovered = 2
ping_count = 1

[policy.slow]
interval = "{SLOW_INTERVAL}s"
timeout = "{SLOW_TIMEOUT}s"
failures_before_failed = 2
successes_before_recovered = 2
retention_days = 2

[snmp_auth.default]
version = "2c"
community_env = "SOAK_COMMUNITY"
"#
        );
        for (s, host) in self.switches.iter().enumerate() {
            text.push_str(&format!(
                "\n[[device]]\nname = \"switch-{s}\"\nkind = \"switch\"\naddress = \"{}\"\nroom = \"rack {s}\"\n",
                host.address(2)
            ));
            for c in 0..CAMERAS_PER_SWITCH {
                text.push_str(&format!(
                    "\n[[device]]\nname = \"{}\"\nkind = \"camera\"\naddress = \"{}\"\nparent = \"switch-{s}\"\n",
                    camera_name(s, c),
                    host.address(camera_octet(c))
                ));
            }
        }
        for (i, addr) in self.onvif.addrs.iter().enumerate() {
            text.push_str(&format!(
                "\n[[device]]\nname = \"cam-onvif-{i:02}\"\nkind = \"camera\"\naddress = \"127.0.0.1\"\nping = \"off\"\nusername = \"camwatch\"\npassword_env = \"SOAK_CAMERA_PASSWORD\"\n[device.onvif]\nport = {}\nchecks = [\"onvif\", \"clock\"]\n",
                addr.port()
            ));
        }
        for (i, nvr) in self.recorders.iter().enumerate() {
            let port = nvr.addr.port();
            text.push_str(&format!(
                "\n[[device]]\nname = \"nvr-{i}\"\nkind = \"recorder\"\naddress = \"127.0.0.1\"\nping = \"tcp:{port}\"\npolicy = \"slow\"\nusername = \"camwatch\"\npassword_env = \"SOAK_NVR_PASSWORD\"\n[device.isapi]\nport = {port}\n"
            ));
        }
        for u in 0..UPSES {
            text.push_str(&format!(
                "\n[[device]]\nname = \"ups-{u}\"\nkind = \"ups\"\naddress = \"127.0.0.1\"\nping = \"off\"\npolicy = \"slow\"\n[device.nut]\nups = \"ups{u}\"\nport = {}\n",
                self.ups.port
            ));
        }
        for (i, port) in self.hung.ports.iter().enumerate() {
            text.push_str(&format!(
                "\n[[device]]\nname = \"hung-{i:02}\"\nkind = \"camera\"\naddress = \"127.0.0.1\"\nping = \"off\"\n[device.stream]\nuri = \"rtsp://127.0.0.1:{port}/stream\"\n[device.snapshot]\nuri = \"http://127.0.0.1:{port}/snap.jpg\"\n"
            ));
        }
        text.push_str(&format!(
            "\n[[device]]\nname = \"nas\"\nkind = \"storage\"\naddress = \"127.0.0.1\"\nping = \"off\"\npolicy = \"slow\"\n[device.snmp]\nport = {}\nchecks = [\"uptime\", \"storage\"]\n",
            self.snmpd.port
        ));
        text
    }

    /// Starts or ends a fault; returns when it has taken effect.
    fn apply(&mut self, fault: Fault, begin: bool) {
        match fault {
            Fault::Unplug { switch, camera } => self.switches[switch].set_address(camera_octet(camera), !begin),
            Fault::SwitchDown { switch } => {
                if begin {
                    self.switches[switch].link_down()
                } else {
                    self.switches[switch].link_up()
                }
            }
            Fault::SnmpRestart => {
                if begin {
                    self.snmpd.restart(0)
                }
            }
            Fault::SmtpOutage => {
                if begin {
                    self.smtp.stop()
                } else {
                    self.smtp.resume()
                }
            }
            Fault::Garbage { recorder } => self.recorders[recorder].with(|s| s.garbage = begin),
        }
    }
}

/// Connections held open on the daemon's HTTP port, the way a broken client or a scanner does:
/// half say nothing, half send a request line and headers without the blank line that ends them.
/// One the daemon closes (its idle timeout) is opened again at once.
struct Flood {
    stop: Arc<AtomicBool>,
    reopened: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flood {
    fn start(addr: SocketAddr) -> Flood {
        let (stop, reopened) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let thread = {
            let (stop, reopened) = (Arc::clone(&stop), Arc::clone(&reopened));
            std::thread::spawn(move || {
                let mut held: Vec<TcpStream> = Vec::new();
                let mut opened = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    while held.len() < FLOOD {
                        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                            break;
                        };
                        if opened % 2 == 1 {
                            let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nAccept: text/plain\r\n");
                        }
                        if stream.set_nonblocking(true).is_err() {
                            continue;
                        }
                        if opened >= FLOOD {
                            reopened.fetch_add(1, Ordering::Relaxed);
                        }
                        opened += 1;
                        held.push(stream);
                    }
                    held.retain_mut(support::silent::still_open);
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        };
        Flood {
            stop,
            reopened,
            thread: Some(thread),
        }
    }

    /// Connections the daemon closed that were opened again.
    fn reopened(&self) -> usize {
        self.reopened.load(Ordering::Relaxed)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The longest gap between two runs of any check of a live device, against what its policy
/// allows (two intervals and a timeout): `(checks, worst share of the allowance, which)`.
fn check_intervals(store: &Path, failures: &mut Vec<String>) -> (usize, f64, String) {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT device, check_name, at FROM results WHERE device NOT LIKE 'hung-%' ORDER BY device, check_name, id",
        )
        .unwrap();
    let mut runs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for row in stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?))
        })
        .unwrap()
    {
        let (device, check, at) = row.unwrap();
        runs.entry((device, check)).or_default().push(at);
    }
    let mut worst = (0.0, String::new());
    for ((device, check), at) in &runs {
        let allowed = if device.starts_with("cam-") || device.starts_with("switch-") {
            2.0 * INTERVAL + TIMEOUT
        } else {
            2.0 * SLOW_INTERVAL + SLOW_TIMEOUT
        };
        let gap = at.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        if gap / allowed > worst.0 {
            worst = (gap / allowed, format!("{device}/{check}: {gap:.1} s of {allowed:.0} s"));
        }
        if gap > allowed {
            failures.push(format!(
                "{device} {check}: {gap:.1} s between two runs, over the {allowed:.0} s its interval allows"
            ));
        }
    }
    (runs.len(), worst.0, worst.1)
}

/// Resident memory and CPU time (user + system) of a process.
fn usage_of(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (rss_kib / 1024.0, ticks / hz)
}

/// Merges intervals (sorted or not) into disjoint ones, clipped to `[from, to]`.
fn union(mut spans: Vec<(f64, f64)>, from: f64, to: f64) -> Vec<(f64, f64)> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (s, e) in spans {
        let (s, e) = (s.max(from), e.min(to));
        if s >= e {
            continue;
        }
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn main() {
    let args = args();
    support::require_root("network namespaces, upsd and snmpd");
    let total = args.minutes * 60.0;
    let schedule = plan(args.seed, total);
    let count = |f: fn(&Fault) -> bool| schedule.iter().filter(|p| f(&p.fault)).count();
    println!(
        "soak: {} minutes, seed {}: {} camera unplugs, {} switch outages, {} SNMP restarts, {} SMTP outage(s), {} garbage spells",
        args.minutes,
        args.seed,
        count(|f| matches!(f, Fault::Unplug { .. })),
        count(|f| matches!(f, Fault::SwitchDown { .. })),
        count(|f| matches!(f, Fault::SnmpRestart)),
        count(|f| matches!(f, Fault::SmtpOutage)),
        count(|f| matches!(f, Fault::Garbage { .. })),
    );

    let mut site = Site::start(total);
    let dir = support::temp_dir();
    let (config, addr) = support::daemon_config(dir.path(), &site.config(site.smtp.port));
    let data = dir.path().join("data");
    let nvr_password = IsapiState::default().password;
    let daemon = Daemon::start_with(&config, addr, dir.path().join("log"), |c| {
        c.env("SOAK_NVR_PASSWORD", &nvr_password)
            .env("SOAK_CAMERA_PASSWORD", SimState::default().password)
            .env("SOAK_COMMUNITY", support::snmpd::COMMUNITY);
    });
    let pid = daemon.child.id();
    let started = Instant::now();
    let started_at = now();
    let flood = Flood::start(addr);
    let mut most_connections: f64 = 0.0;
    let mut failures: Vec<String> = Vec::new();

    // The injector: faults start and end on schedule; what happened when is kept for the
    // availability check (the real times, after each command returned).
    let mut edges: Vec<(f64, usize, bool)> = schedule
        .iter()
        .enumerate()
        .flat_map(|(i, p)| [(p.start, i, true), (p.end, i, false)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.2.cmp(&a.2)));
    let mut happened: Vec<(Option<f64>, Option<f64>)> = vec![(None, None); schedule.len()];
    let mut samples: Vec<(f64, f64, f64)> = Vec::new();
    let mut next_sample = 0.0;
    let mut scrapes = 0;
    let mut edge = 0;
    loop {
        let t = started.elapsed().as_secs_f64();
        if t >= total {
            break;
        }
        while edge < edges.len() && edges[edge].0 <= t {
            let (_, i, begin) = edges[edge];
            site.apply(schedule[i].fault, begin);
            if begin {
                happened[i].0 = Some(now());
            } else {
                happened[i].1 = Some(now());
            }
            edge += 1;
        }
        if t >= next_sample {
            let (rss, cpu) = usage_of(pid);
            samples.push((t, rss, cpu));
            // A scrape a minute, as Prometheus would, so the metrics path soaks too.
            if samples.len() % 6 == 1 {
                let metrics = daemon.get("/metrics").expect("the daemon answers /metrics");
                assert_eq!(metrics.status, 200, "scrape at {t:.0} s");
                scrapes += 1;
                match support::sample(&metrics.body, "camwatch_http_connections", &[]) {
                    Some(open) => {
                        most_connections = most_connections.max(open);
                        if open > HTTP_CONNECTION_CAP {
                            failures.push(format!(
                                "{open} HTTP connections open at {t:.0} s, over the cap of {HTTP_CONNECTION_CAP}"
                            ));
                        }
                    }
                    None => failures.push(format!("no camwatch_http_connections in the scrape at {t:.0} s")),
                }
            }
            next_sample += 10.0;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let injected_until = now();
    let reopened = flood.reopened();
    drop(flood);

    // Every fault has ended (the tail is quiet): wait for the last recoveries to be mailed.
    let store = data.join("camwatch.sqlite");
    let pending = || -> i64 {
        let conn = rusqlite::Connection::open(&store).unwrap();
        conn.query_row(
            "SELECT count(*) FROM outbox WHERE state IN ('queued', 'claimed')",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    support::wait_for("the outbox to drain", Duration::from_secs(180), || pending() == 0);
    // One full availability refresh after the last sample, so the figures include the tail.
    std::thread::sleep(Duration::from_secs_f64(AVAILABILITY_REFRESH + 1.0));
    let measured_at = now();
    let metrics = daemon.metrics();
    let (rss_end, cpu_end) = usage_of(pid);
    samples.push((started.elapsed().as_secs_f64(), rss_end, cpu_end));

    // 1. Memory: flat after the warm-up (the first sixth of the run, at least a minute).
    let warm = (total / 6.0).max(60.0);
    let rss_warm = samples.iter().find(|s| s.0 >= warm).map_or(rss_end, |s| s.1);
    let rss_peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let rss_peak_after = samples.iter().filter(|s| s.0 >= warm).map(|s| s.1).fold(0.0, f64::max);
    let growth = rss_peak_after - rss_warm;
    if growth > RSS_GROWTH_BOUND_MIB {
        failures.push(format!(
            "memory grew {growth:.1} MiB after the warm-up ({rss_warm:.1} -> {rss_peak_after:.1} MiB), over the {RSS_GROWTH_BOUND_MIB} MiB bound"
        ));
    }

    // 2. No panics, and the daemon is still serving.
    let log = daemon.log_text();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
    if !panics.is_empty() {
        failures.push(format!("{} panic(s) in the log: {}", panics.len(), panics.join(" | ")));
    }
    if daemon.get("/-/healthy").map(|r| r.status).ok() != Some(200) {
        failures.push("the daemon no longer answers /-/healthy".into());
    }

    // 3. Every incident's mail, exactly once.
    let smtp_was_down = schedule
        .iter()
        .zip(&happened)
        .any(|(p, h)| p.fault == Fault::SmtpOutage && h.1.is_some());
    let mail = check_mail(&store, &site.smtp, smtp_was_down, &mut failures);

    // 4. Availability equals the injected downtime, camera by camera.
    let mut downs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (p, (start, end)) in schedule.iter().zip(&happened) {
        let (Some(start), Some(end)) = (*start, *end) else {
            continue;
        };
        match p.fault {
            Fault::Unplug { switch, camera } => {
                downs.entry(camera_name(switch, camera)).or_default().push((start, end))
            }
            Fault::SwitchDown { switch } => {
                for c in 0..CAMERAS_PER_SWITCH {
                    downs.entry(camera_name(switch, c)).or_default().push((start, end));
                }
            }
            _ => {}
        }
    }
    let mut errors: Vec<f64> = Vec::new();
    let mut worst = (0.0, String::new());
    let mut outages = 0;
    for s in 0..SWITCHES {
        for c in 0..CAMERAS_PER_SWITCH {
            let name = camera_name(s, c);
            let Some(first) = support::stored_results(&data, &name, "ping").first().map(|r| r.at) else {
                failures.push(format!("{name}: no ping result stored"));
                continue;
            };
            let known = measured_at - first;
            let injected = union(downs.remove(&name).unwrap_or_default(), first, measured_at);
            let injected_down: f64 = injected.iter().map(|(s, e)| e - s).sum();
            let Some(ratio) = support::sample(
                &metrics,
                "camwatch_availability_ratio",
                &[&format!("device=\"{name}\""), "window=\"1d\""],
            ) else {
                failures.push(format!("{name}: no camwatch_availability_ratio{{window=\"1d\"}}"));
                continue;
            };
            let measured_down = (1.0 - ratio) * known;
            // Each outage's edges are seen up to an interval (plus the ping timeout) late or
            // early; the figures may be one refresh old.
            let tolerance =
                injected.len() as f64 * (INTERVAL + TIMEOUT + 1.0) + injected_down * AVAILABILITY_REFRESH / known + 1.0;
            let error = measured_down - injected_down;
            outages += injected.len();
            errors.push(error.abs());
            if error.abs() > worst.0 {
                worst = (error.abs(), name.clone());
            }
            if error.abs() > tolerance {
                failures.push(format!(
                    "{name}: camwatch counts {measured_down:.1} s down (ratio {ratio:.6} over {known:.0} s), the injector {injected_down:.1} s in {} outage(s): off by {error:.1} s, over the {tolerance:.1} s tolerance",
                    injected.len()
                ));
            }
        }
    }
    let mean_error = errors.iter().sum::<f64>() / errors.len().max(1) as f64;

    // 5. Under the hung cameras and the flood: every live device kept its intervals and the
    // devices nothing broke kept their state; the ping never waited for a conversation.
    let (intervals_checked, worst_gap_share, worst_gap) = check_intervals(&store, &mut failures);
    for (device, check) in (0..ONVIF_CAMERAS)
        .flat_map(|i| {
            [
                (format!("cam-onvif-{i:02}"), "onvif"),
                (format!("cam-onvif-{i:02}"), "clock"),
            ]
        })
        .chain((0..UPSES).map(|u| (format!("ups-{u}"), "ups")))
    {
        let left: Vec<_> = support::stored_transitions(&data, &device, check)
            .into_iter()
            .filter(|(_, _, to)| to != "ok")
            .collect();
        if !left.is_empty() {
            failures.push(format!("{device} {check}, never broken, left ok: {left:?}"));
        }
    }
    let late = |class: &str| support::sample(&metrics, "camwatch_checks_late_total", &[&format!("class=\"{class}\"")]);
    let (late_cheap, late_conversation) = (late("cheap"), late("conversation"));
    if late_cheap != Some(0.0) {
        failures.push(format!("cheap checks (ping) started late: {late_cheap:?} runs"));
    }
    if site.hung.accepted() < HUNG_CAMERAS {
        failures.push(format!(
            "the hung cameras were asked only {} times",
            site.hung.accepted()
        ));
    }

    let elapsed = measured_at - started_at;
    println!("\nsoak figures ({:.1} minutes, seed {}):", elapsed / 60.0, args.seed);
    println!(
        "  site: {} cameras ({} by ping behind {SWITCHES} switches, {ONVIF_CAMERAS} over ONVIF), {RECORDERS} recorders (ISAPI), {UPSES} UPS (NUT), 1 NAS (SNMP), SMTP",
        SWITCHES * CAMERAS_PER_SWITCH as usize + ONVIF_CAMERAS,
        SWITCHES * CAMERAS_PER_SWITCH as usize
    );
    println!(
        "  faults injected: {} until {:.0} s; {outages} camera outages judged",
        happened.iter().filter(|h| h.0.is_some()).count(),
        injected_until - started_at
    );
    println!(
        "  memory (RSS): {rss_warm:.1} MiB after warm-up, peak {rss_peak:.1} MiB, end {rss_end:.1} MiB; growth after warm-up {growth:.1} MiB (bound {RSS_GROWTH_BOUND_MIB} MiB)"
    );
    println!(
        "  CPU: {cpu_end:.1} s in {elapsed:.0} s ({:.2} % of one core); {scrapes} scrapes",
        cpu_end / elapsed * 100.0
    );
    println!(
        "  mail: {} incidents, {} messages received ({} opened, {} resolved, {} reminders, {} escalations), {} deferred by the SMTP outage, {} received twice; {} panics",
        mail.incidents,
        mail.received,
        mail.by_kind.get("opened").unwrap_or(&0),
        mail.by_kind.get("resolved").unwrap_or(&0),
        mail.by_kind.get("reminder").unwrap_or(&0),
        mail.by_kind.get("escalation").unwrap_or(&0),
        mail.deferred,
        mail.duplicates,
        panics.len()
    );
    println!(
        "  availability: {} cameras, mean |error| {mean_error:.2} s, worst {:.2} s ({})",
        errors.len(),
        worst.0,
        worst.1
    );
    println!(
        "  load: {HUNG_CAMERAS} hung cameras ({} probes unanswered), {FLOOD} flood connections ({reopened} closed by the daemon and opened again), at most {most_connections} open at a scrape (cap {HTTP_CONNECTION_CAP})",
        site.hung.accepted()
    );
    println!(
        "  intervals: {intervals_checked} live checks, worst gap {:.0} % of the allowance ({worst_gap}); late runs: cheap {}, conversation {}",
        worst_gap_share * 100.0,
        late_cheap.unwrap_or(f64::NAN),
        late_conversation.unwrap_or(f64::NAN)
    );
    drop(daemon);
    if failures.is_empty() {
        println!("soak: passed");
    } else {
        for f in &failures {
            eprintln!("soak: FAILED: {f}");
        }
        std::process::exit(1);
    }
}

struct MailFigures {
    incidents: usize,
    received: usize,
    by_kind: BTreeMap<String, usize>,
    deferred: usize,
    duplicates: usize,
}

/// Every incident mail the store records was received exactly once (by Message-ID); every
/// received message is one the store queued; every incident that lasted past the group window
/// got its "opened" mail, and every repaired one its "resolved" mail; the outage deferred mail.
fn check_mail(store: &Path, smtp: &SmtpServer, smtp_was_down: bool, failures: &mut Vec<String>) -> MailFigures {
    let conn = rusqlite::Connection::open(store).unwrap();
    let rows = |sql: &str| -> Vec<(String, String, f64)> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    let messages = smtp.received();
    for m in &messages {
        *received.entry(m.message_id().to_owned()).or_default() += 1;
    }
    for (id, n) in &received {
        if *n != 1 {
            failures.push(format!("message {id} was received {n} times"));
        }
    }
    // (message_id, state, failures) of every queued message.
    let outbox = rows("SELECT message_id, state, failures FROM outbox");
    for (id, state, _) in &outbox {
        if state != "sent" {
            failures.push(format!("message {id} is {state}, not sent"));
        } else if !received.contains_key(id) {
            failures.push(format!("message {id} is marked sent but the server never received it"));
        }
    }
    for id in received.keys() {
        if !outbox.iter().any(|(o, _, _)| o == id) {
            failures.push(format!("the server received {id}, which camwatch never queued"));
        }
    }
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mail_rows = rows("SELECT CAST(incident_id AS TEXT), kind, seq FROM incident_mail");
    let mut message_kinds: BTreeMap<String, String> = BTreeMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT DISTINCT message_id, kind FROM incident_mail")
            .unwrap();
        for row in stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
        {
            let (id, kind) = row.unwrap();
            message_kinds.insert(id, kind);
        }
    }
    for kind in message_kinds.values() {
        *by_kind.entry(kind.clone()).or_default() += 1;
    }
    let got = |incident: &str, kind: &str| mail_rows.iter().any(|(i, k, _)| i == incident && k == kind);
    // (id, joined, opened_at, resolved_at or -1)
    let incidents: Vec<(String, Option<i64>, f64, f64)> = {
        let mut stmt = conn
            .prepare("SELECT CAST(id AS TEXT), joined, opened_at, coalesce(resolved_at, -1) FROM incidents")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    for (id, joined, opened, resolved) in &incidents {
        if joined.is_some() {
            continue;
        }
        // A fault repaired within the group window is never mailed; give it twice that.
        let lasted = if *resolved < 0.0 {
            f64::INFINITY
        } else {
            resolved - opened
        };
        if lasted > 20.0 && !got(id, "opened") {
            failures.push(format!("incident {id} lasted {lasted:.0} s and was never mailed"));
        }
        if *resolved >= 0.0 && got(id, "opened") && !got(id, "resolved") {
            failures.push(format!("incident {id} was repaired but its recovery was never mailed"));
        }
    }
    if incidents.is_empty() || messages.is_empty() {
        failures.push(format!(
            "the faults made {} incidents and {} messages: the soak did not exercise mail",
            incidents.len(),
            messages.len()
        ));
    }
    let deferred = outbox.iter().filter(|o| o.2 > 0.0).count();
    if smtp_was_down && deferred == 0 {
        failures.push("the SMTP outage deferred no message: the outbox was not exercised".into());
    }
    MailFigures {
        incidents: incidents.len(),
        received: messages.len(),
        by_kind,
        deferred,
        duplicates: received.values().filter(|n| **n > 1).count(),
    }
}
