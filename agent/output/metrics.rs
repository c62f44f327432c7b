//! Prometheus metrics, rendered from current state on every scrape: nothing is cached between
//! scrapes, so a device removed from the configuration is gone from the next scrape, and every
//! series a dashboard joins on (`camwatch_check_state` for every state) is always present.
//!
//! A scrape keeps no memory either: the text is rendered into one buffer sized from the previous
//! scrape (a single allocation, which at a megabyte for a thousand devices is its own mapping and
//! goes back to the kernel when the answer is sent), and the pages the scrape's copies of the
//! state freed are handed back at once. *Why:* glibc keeps freed memory in the arena of the thread
//! that freed it; scrapes land on any runtime thread, so without this each thread's arena stayed
//! as large as the largest scrape it served, 3-4 MiB at a thousand devices after a few scrapes.
//!
//! Only `device`, `check` and the few labels a metric needs (`mountpoint`, `state`) label the
//! series; site, room and kind live on `camwatch_device_info` alone, joined in PromQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::process;
use crate::model::State;
use crate::observation::Observation;
use crate::schedule::lateness::ClassFigures;
use crate::shared::Shared;

pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

pub(super) type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct AgentCollector {
    shared: Arc<Shared>,
}

/// The agent's metrics, and how big their text was last time.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    last_len: AtomicUsize,
}

/// The first scrape's buffer, before any size is known.
const FIRST_CAPACITY: usize = 16 * 1024;

impl Metrics {
    pub fn new(shared: Arc<Shared>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(AgentCollector { shared }));
        Self {
            registry,
            last_len: AtomicUsize::new(0),
        }
    }

    /// Renders every metric; `openmetrics` picks the format the scraper asked for.
    pub fn render(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let last = self.last_len.load(Ordering::Relaxed);
        // A sixteenth more than last time: a few new series do not double the buffer.
        let mut out = String::with_capacity((last + last / 16).max(FIRST_CAPACITY));
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        give_back_freed_memory();
        Ok(out)
    }
}

/// Returns the free pages of every malloc arena to the kernel (a no-op for other C libraries).
/// It walks the arenas once: well under a millisecond at this agent's size, once per scrape.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether an `Accept` header prefers OpenMetrics, as Prometheus sends it when it does.
pub fn wants_openmetrics(accept: &str) -> bool {
    accept
        .split(',')
        .any(|part| part.trim().starts_with("application/openmetrics-text"))
}

pub(super) fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels, f64)>,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        let sample = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(value).encode(sample)?,
            _ => ConstGauge::new(value).encode(sample)?,
        }
    }
    Ok(())
}

pub(super) fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, f64)>,
) -> std::fmt::Result {
    family(encoder, name, help, MetricType::Gauge, series)
}

pub(super) fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl Collector for AgentCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let config = self.shared.config();
        let checks = self.shared.hub.snapshot();
        let dc =
            |device: &str, check: &str| -> Labels { vec![("device", device.to_owned()), ("check", check.to_owned())] };

        gauge(
            &mut e,
            "camwatch_build_info",
            "Version of camwatch, the commit it was built from and the day, always 1.",
            [(
                vec![
                    ("version", crate::build::VERSION.to_owned()),
                    ("revision", crate::build::COMMIT.to_owned()),
                    ("build_date", crate::build::DATE.to_owned()),
                ],
                1.0,
            )],
        )?;
        // Identity from ONVIF where a camera gave it: one series per device either way.
        let identity = |device: &str| {
            checks.iter().find_map(|c| match &c.observation {
                Some(Observation::Onvif(o)) if c.device == device => o.identity.clone(),
                _ => None,
            })
        };
        gauge(
            &mut e,
            "camwatch_device_info",
            "Configured devices with their descriptive labels, always 1; join on device.",
            config.devices.iter().map(|d| {
                let site = d.site.clone();
                let id = identity(&d.name).unwrap_or_default();
                (
                    vec![
                        ("device", d.name.clone()),
                        ("kind", d.kind.as_str().to_owned()),
                        ("site", site),
                        ("room", d.room.clone()),
                        ("manufacturer", id.manufacturer.unwrap_or_default()),
                        ("model", id.model.unwrap_or_default()),
                        ("firmware", id.firmware.unwrap_or_default()),
                    ],
                    1.0,
                )
            }),
        )?;
        gauge(
            &mut e,
            "camwatch_check_state",
            "State of each check after hysteresis: one series per state, 1 for the current one.",
            checks.iter().flat_map(|c| {
                State::ALL.into_iter().map(move |s| {
                    let mut labels = dc(&c.device, c.check.as_str());
                    labels.push(("state", s.as_str().to_owned()));
                    (labels, flag(c.state() == s))
                })
            }),
        )?;
        gauge(
            &mut e,
            "camwatch_check_duration_seconds",
            "How long the last run of each check took.",
            checks
                .iter()
                .filter_map(|c| Some((dc(&c.device, c.check.as_str()), c.last_duration_seconds?))),
        )?;
        gauge(
            &mut e,
            "camwatch_check_last_run_timestamp_seconds",
            "When each check last ran (Unix time).",
            checks
                .iter()
                .filter_map(|c| Some((dc(&c.device, c.check.as_str()), c.last_run?))),
        )?;
        gauge(
            &mut e,
            "camwatch_check_last_success_timestamp_seconds",
            "When each check last ran without failing (Unix time).",
            checks
                .iter()
                .filter_map(|c| Some((dc(&c.device, c.check.as_str()), c.last_success?))),
        )?;
        gauge(
            &mut e,
            "camwatch_check_state_since_timestamp_seconds",
            "When each check entered its current state (Unix time).",
            checks.iter().map(|c| (dc(&c.device, c.check.as_str()), c.since)),
        )?;

        let pings = checks.iter().filter_map(|c| match &c.observation {
            Some(Observation::Ping(p)) => Some((&c.device, p)),
            _ => None,
        });
        let device = |name: &str| -> Labels { vec![("device", name.to_owned())] };
        gauge(
            &mut e,
            "camwatch_ping_rtt_seconds",
            "Mean round trip of the answered echoes (or TCP connects) of the last ping check.",
            pings
                .clone()
                .filter_map(|(d, p)| Some((device(d), p.mean_rtt_seconds()?))),
        )?;
        gauge(
            &mut e,
            "camwatch_ping_loss_ratio",
            "Share of echoes (or TCP connects) of the last ping check that got no answer.",
            pings.map(|(d, p)| (device(d), p.loss_ratio())),
        )?;

        let mounts: Vec<(Labels, &crate::observation::filesystem::Mount)> = checks
            .iter()
            .filter_map(|c| match &c.observation {
                Some(Observation::Filesystem(f)) => Some((&c.device, f)),
                _ => None,
            })
            .flat_map(|(d, f)| {
                f.mounts
                    .iter()
                    .map(move |m| (vec![("device", d.clone()), ("mountpoint", m.mountpoint.clone())], m))
            })
            .collect();
        gauge(
            &mut e,
            "camwatch_filesystem_size_bytes",
            "Size of each watched filesystem.",
            mounts.iter().map(|(l, m)| (l.clone(), m.size_bytes as f64)),
        )?;
        gauge(
            &mut e,
            "camwatch_filesystem_avail_bytes",
            "Space available to unprivileged users on each watched filesystem.",
            mounts.iter().map(|(l, m)| (l.clone(), m.avail_bytes as f64)),
        )?;
        gauge(
            &mut e,
            "camwatch_filesystem_readonly",
            "1 when the filesystem is mounted read-only.",
            mounts.iter().map(|(l, m)| (l.clone(), flag(m.readonly))),
        )?;

        super::device_metrics::encode(
            &mut e,
            &checks,
            &self.shared.hub.counted(crate::vocab::EventKind::Reboot),
            &self.shared.hub.counted(crate::vocab::EventKind::Interruption),
        )?;

        let availability = self.shared.availability();
        gauge(
            &mut e,
            "camwatch_availability_ratio",
            "Time-weighted share of the window the device was up (ping check ok or warning; failed, unreachable and, for recorders, not recording count as down; unknown time not at all).",
            availability.iter().flat_map(|(device, ratios)| {
                crate::judge::availability::WINDOWS
                    .iter()
                    .zip(ratios)
                    .filter_map(move |((window, _), ratio)| {
                        Some((
                            vec![("device", device.clone()), ("window", (*window).to_owned())],
                            (*ratio)?,
                        ))
                    })
            }),
        )?;

        // Incidents joined to a parent's are part of that fault, not faults of their own.
        let open: Vec<_> = self
            .shared
            .hub
            .open_incidents()
            .into_iter()
            .filter(|i| i.joined.is_none())
            .collect();
        gauge(
            &mut e,
            "camwatch_incidents_open",
            "Open incidents (faults not yet repaired), by severity: critical when footage is being lost or about to be.",
            crate::vocab::Severity::NAMES.iter().map(|s| {
                (
                    vec![("severity", (*s).to_owned())],
                    open.iter().filter(|i| i.severity() == *s).count() as f64,
                )
            }),
        )?;
        // Counted from the outbox rows, so the counters continue across restarts.
        let channels = self.shared.notify.channels();
        let per_channel = |f: fn(&crate::state::outbox::Counts) -> u64| -> Vec<(Labels, f64)> {
            channels
                .iter()
                .map(|(channel, s)| (vec![("channel", (*channel).to_owned())], f(&s.counts) as f64))
                .collect()
        };
        // Channels without an outbox (alertmanager) count since the agent started.
        let counters = self.shared.notify_counters.snapshot();
        let with_counters = |mut rows: Vec<(Labels, f64)>, f: fn(&crate::shared::ChannelCounts) -> u64| {
            rows.extend(
                counters
                    .iter()
                    .map(|(channel, c)| (vec![("channel", (*channel).to_owned())], f(c) as f64)),
            );
            rows
        };
        family(
            &mut e,
            "camwatch_notifications_sent",
            "Notifications delivered, by channel (email: accepted by the SMTP server; alertmanager: alerts in posts an Alertmanager accepted).",
            MetricType::Counter,
            with_counters(per_channel(|c| c.sent), |c| c.sent),
        )?;
        family(
            &mut e,
            "camwatch_notifications_failed",
            "Failed delivery attempts by channel (email: transient, retried, and permanent, dead letters; alertmanager: alerts in posts that failed).",
            MetricType::Counter,
            with_counters(per_channel(|c| c.failed), |c| c.failed),
        )?;
        family(
            &mut e,
            "camwatch_http_auth_failures",
            "Logins the HTTP interface refused, by reason (bad_credentials: unknown user or wrong password; malformed: not Basic authentication; rate_limited: too many failures from the address).",
            MetricType::Counter,
            self.shared
                .web
                .refused()
                .map(|(why, n)| (vec![("reason", why.as_str().to_owned())], n as f64)),
        )?;
        let connections = &self.shared.web.connections;
        gauge(
            &mut e,
            "camwatch_http_connections",
            "HTTP connections open now (at most [agent] max_http_connections, and a quarter of the descriptor limit).",
            [(
                Vec::new(),
                connections.open.load(std::sync::atomic::Ordering::Relaxed) as f64,
            )],
        )?;
        family(
            &mut e,
            "camwatch_http_connections_rejected",
            "HTTP connections closed at once because as many as allowed were open.",
            MetricType::Counter,
            [(
                Vec::new(),
                connections.rejected.load(std::sync::atomic::Ordering::Relaxed) as f64,
            )],
        )?;
        lateness(&mut e, &self.shared.lateness.figures())?;
        gauge(
            &mut e,
            "camwatch_outbox_pending",
            "Notifications queued and not yet delivered, by channel.",
            per_channel(|c| c.pending),
        )?;
        gauge(
            &mut e,
            "camwatch_outbox_dead",
            "Notifications refused for good (dead letters; see camwatch outbox), by channel.",
            per_channel(|c| c.dead),
        )?;
        gauge(
            &mut e,
            "camwatch_procedure_check_last_run_timestamp_seconds",
            "When each scheduled procedure (shift handover, end-of-day inventory) last ran (Unix time).",
            self.shared
                .procedures_last_run()
                .into_iter()
                .map(|(procedure, at)| (vec![("procedure", procedure.as_str().to_owned())], at)),
        )?;

        let now = crate::vocab::unix_now();
        let config = self.shared.config();
        gauge(
            &mut e,
            "camwatch_maintenance_active",
            "1 while the device is in a maintenance window (checks run, notifications are held, the time is left out of availability).",
            config.devices.iter().map(|d| {
                (
                    vec![("device", d.name.clone())],
                    flag(self.shared.in_maintenance(d, now).is_some()),
                )
            }),
        )?;

        if let Some(store) = self.shared.hub.store() {
            let health = store.health();
            gauge(
                &mut e,
                "camwatch_store_writable",
                "1 while the state store writes, 0 while it cannot (full disk, I/O error, read-only, locked, damaged): see /-/ready for why.",
                [(vec![], flag(health.writable()))],
            )?;
            gauge(
                &mut e,
                "camwatch_store_backlog_rows",
                "Rows kept in memory because the state store could not write them yet.",
                [(vec![], health.backlog_rows as f64)],
            )?;
            family(
                &mut e,
                "camwatch_store_shed_rows",
                "Rows given up since the agent started: shed from a full backlog (plain results first) or refused by the state store for good.",
                MetricType::Counter,
                [(vec![], health.shed_rows as f64)],
            )?;
            family(
                &mut e,
                "camwatch_store_write_errors",
                "Commits to the state store that failed since the agent started.",
                MetricType::Counter,
                [(vec![], health.write_errors as f64)],
            )?;
        }

        let reload = self.shared.reload_status();
        gauge(
            &mut e,
            "camwatch_config_last_reload_successful",
            "1 when the last configuration load succeeded, 0 when it was refused.",
            [(vec![], flag(reload.successful))],
        )?;
        gauge(
            &mut e,
            "camwatch_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (Unix time).",
            [(vec![], reload.last_success)],
        )?;

        if let Some(p) = process::read() {
            family(
                &mut e,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                MetricType::Counter,
                [(vec![], p.cpu_seconds)],
            )?;
            gauge(
                &mut e,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                [(vec![], p.resident_bytes)],
            )?;
            gauge(
                &mut e,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                [(vec![], p.virtual_bytes)],
            )?;
            gauge(
                &mut e,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                [(vec![], p.start_time_seconds)],
            )?;
            gauge(
                &mut e,
                "process_open_fds",
                "Number of open file descriptors.",
                [(vec![], p.open_fds)],
            )?;
            gauge(
                &mut e,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                [(vec![], p.max_fds)],
            )?;
        }
        Ok(())
    }
}

/// How late check runs start after they are due, and how many were late, by class of check.
fn lateness(e: &mut DescriptorEncoder, figures: &[ClassFigures]) -> std::fmt::Result {
    let mut metric = e.encode_descriptor(
        "camwatch_check_start_delay_seconds",
        "How long after it was due each check run started (waiting for a permit included), by class: cheap (ping, local reads) or conversation (a request and an answer with a device).",
        None,
        MetricType::Histogram,
    )?;
    for f in figures {
        let class = [("class", f.class.as_str())];
        metric
            .encode_family(&class)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(f.sum_seconds, f.count, &f.buckets, None)?;
    }
    family(
        e,
        "camwatch_checks_late",
        "Check runs that started more than half their interval after they were due, by class.",
        MetricType::Counter,
        figures
            .iter()
            .map(|f| (vec![("class", f.class.as_str().to_owned())], f.late as f64)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_negotiation() {
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("text/plain;version=0.0.4;q=1,*/*;q=0.1"));
        assert!(!wants_openmetrics(""));
    }
}
