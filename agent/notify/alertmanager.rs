//! Incidents posted to Prometheus Alertmanager (`POST /api/v2/alerts`), the way Prometheus posts
//! its own alerts, so a site's Alertmanager cluster deduplicates, silences and routes them:
//! - every `resend_every`, and at once when an incident opens or resolves, every open incident is
//!   posted to every configured Alertmanager (the members of a cluster do not forward alerts
//!   to each other);
//! - a firing alert's `endsAt` is now + 4 x `resend_every`, as Prometheus sets it: should camwatch
//!   die, Alertmanager resolves the alert by itself soon after, rather than keeping it forever;
//! - a resolved incident is posted with `endsAt` = when it was repaired, and again in the next
//!   rounds, until [`RESOLVED_ROUNDS`] rounds were accepted by every Alertmanager (one that
//!   restarted or was down in between still learns the end);
//! - an unreachable device that joined its parent's incident is not an alert of its own: the
//!   parent's alert names it in its description;
//! - after a restart, the open incidents are posted again, with the ones resolved since the
//!   last round every Alertmanager accepted (read from the state store).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::config::{AlertmanagerAuth, AlertmanagerSettings, Config};
use crate::probe::Transcript;
use crate::probe::http::{HttpClients, redact_url};
use crate::shared::Shared;
use crate::state::incidents::Incident;
use crate::vocab::unix_now;

pub const CHANNEL: &str = "alertmanager";
/// One alert name for every incident: routes and silences pick faults by `check`, `severity`,
/// `device` or `site`, which every alert carries as labels.
pub const ALERTNAME: &str = "CamwatchIncident";
/// Rounds every Alertmanager must have accepted a resolved alert in before it is no longer sent.
pub const RESOLVED_ROUNDS: u32 = 3;
/// In the data directory: when every Alertmanager last accepted a round (Unix seconds, as text).
pub const LAST_POST_FILE: &str = "alertmanager.last_post";
/// Alertmanager answers a post with a short text; anything longer is not read.
const MAX_REPLY_BYTES: usize = 64 * 1024;
/// Ends announced at once at most (resolved incidents read from the store after a restart, too).
const RESUME_LIMIT: u32 = 1000;

/// An alert whose end is still being announced: a resolved incident, or one that became part of
/// another (an unreachable device whose parent is now down too).
#[derive(Debug, Clone)]
struct Ending {
    incident: Incident,
    ends_at: f64,
    /// Rounds every Alertmanager accepted it in.
    delivered: u32,
}

impl Ending {
    fn new(incident: Incident, ends_at: f64) -> Self {
        Self {
            incident,
            ends_at,
            delivered: 0,
        }
    }
}

/// What the notifier remembers between rounds.
#[derive(Debug, Default)]
struct Posted {
    ending: BTreeMap<u64, Ending>,
    /// Incidents the last round posted as firing alerts.
    firing: BTreeSet<u64>,
}

/// Posts incidents for as long as the agent runs, following configuration reloads (without an
/// `[alertmanager]` table it only keeps track of resolutions, in case one appears).
pub async fn run_forever(shared: Arc<Shared>) {
    // Subscribed before the store is read, so nothing resolved in between is missed.
    let mut changes = shared.hub.incident_changes();
    let data_dir = shared.config().agent.data_dir.clone();
    let mut posted = Posted {
        ending: resume(&shared, &data_dir).await,
        firing: BTreeSet::new(),
    };
    let clients = Arc::new(HttpClients::default());
    if shared.config().alertmanager.is_some() {
        shared.notify_counters.enable(CHANNEL);
    }
    loop {
        let config = shared.config();
        let wait = match &config.alertmanager {
            Some(am) => {
                shared.notify_counters.enable(CHANNEL);
                round(&shared, &config, am, &clients, &mut posted, &data_dir).await;
                am.resend_every
            }
            None => {
                // Nothing was posted, so there is no end to announce either.
                posted.ending.clear();
                posted.firing.clear();
                crate::config::ALERTMANAGER_DEFAULT_RESEND
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = changes.recv() => {
                take(changed, &mut changes, &mut posted.ending, &shared, &data_dir).await;
            }
        }
    }
}

/// Applies one incident change and any others already waiting.
async fn take(
    first: Result<Incident, RecvError>,
    changes: &mut tokio::sync::broadcast::Receiver<Incident>,
    ending: &mut BTreeMap<u64, Ending>,
    shared: &Shared,
    data_dir: &Path,
) {
    let mut next = Some(first);
    while let Some(change) = next {
        match change {
            Ok(incident) => note(ending, incident),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the Alertmanager notifier fell behind the incident changes; rereading the state store"
                );
                for (id, e) in resume(shared, data_dir).await {
                    ending.entry(id).or_insert(e);
                }
            }
            Err(RecvError::Closed) => return,
        }
        next = match changes.try_recv() {
            Ok(incident) => Some(Ok(incident)),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(_) => None,
        };
    }
}

fn note(ending: &mut BTreeMap<u64, Ending>, incident: Incident) {
    match incident.resolved_at {
        // A fault back on the same device and check: the new alert replaces the old one (they
        // share their labels), so the old one's end must not be posted beside it.
        None => ending.retain(|_, e| {
            e.incident.id == incident.id
                || (&e.incident.device, &e.incident.check) != (&incident.device, &incident.check)
        }),
        Some(at) => {
            ending.insert(incident.id, Ending::new(incident, at));
            // Alertmanager unreachable for weeks must not grow this without end: the oldest go.
            while ending.len() > RESUME_LIMIT as usize {
                ending.pop_first();
            }
        }
    }
}

/// Incidents resolved since the last round every Alertmanager accepted, from the state store.
async fn resume(shared: &Shared, data_dir: &Path) -> BTreeMap<u64, Ending> {
    let Some(since) = read_last_post(data_dir) else {
        return BTreeMap::new();
    };
    let Some(path) = shared.hub.store().map(|s| s.path.clone()) else {
        return BTreeMap::new();
    };
    let read = crate::state::store::read(path, |conn| crate::state::store::incidents(conn, false, RESUME_LIMIT)).await;
    match read {
        Ok(Ok(list)) => list
            .into_iter()
            .filter_map(|i| {
                let at = i.resolved_at.filter(|at| *at >= since)?;
                Some((i.id, Ending::new(i, at)))
            })
            .collect(),
        Ok(Err(e)) => {
            tracing::warn!("cannot read resolved incidents from the state store for Alertmanager: {e}");
            BTreeMap::new()
        }
        Err(e) => {
            tracing::warn!("reading resolved incidents for Alertmanager failed: {e}");
            BTreeMap::new()
        }
    }
}

fn last_post_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LAST_POST_FILE)
}

fn read_last_post(data_dir: &Path) -> Option<f64> {
    std::fs::read_to_string(last_post_path(data_dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn write_last_post(data_dir: &Path, at: f64) {
    // Written aside and renamed, so a crash never leaves half a number behind.
    let path = last_post_path(data_dir);
    let aside = path.with_extension("tmp");
    if let Err(e) = std::fs::write(&aside, format!("{at}\n")).and_then(|()| std::fs::rename(&aside, &path)) {
        tracing::warn!("cannot record the last Alertmanager post in {}: {e}", path.display());
    }
}

/// Posts the open incidents and the resolved ones still announced to every Alertmanager.
async fn round(
    shared: &Shared,
    config: &Config,
    am: &AlertmanagerSettings,
    clients: &Arc<HttpClients>,
    posted: &mut Posted,
    data_dir: &Path,
) {
    let now = unix_now();
    let open = shared.hub.open_incidents();
    let firing: BTreeSet<u64> = firing(&open).map(|i| i.id).collect();
    // Posted as firing before, open still, and no longer an alert: it became part of its
    // parent's. Ended now, so Alertmanager does not hold it until it expires.
    for id in posted.firing.difference(&firing) {
        if let Some(i) = open.iter().find(|i| i.id == *id) {
            posted.ending.insert(*id, Ending::new(i.clone(), now));
        }
    }
    posted.firing = firing;
    let alerts = alerts(
        config,
        am,
        &open,
        posted.ending.values().map(|e| (&e.incident, e.ends_at)),
        now,
    );
    if alerts.is_empty() {
        return;
    }
    let count = alerts.len() as u64;
    let body = match serde_json::to_vec(&alerts) {
        Ok(body) => Arc::new(body),
        Err(e) => {
            tracing::error!("cannot encode the alerts for Alertmanager: {e}");
            return;
        }
    };
    let auth = match authorization(am) {
        Ok(auth) => auth,
        Err(why) => {
            tracing::warn!("cannot post alerts to Alertmanager: {why}");
            shared.notify_counters.failed(CHANNEL, count * am.urls.len() as u64);
            return;
        }
    };
    // The members of a cluster are posted to at the same time: one that hangs delays no other.
    let mut posts = tokio::task::JoinSet::new();
    for url in &am.urls {
        let (clients, body, auth, url) = (Arc::clone(clients), Arc::clone(&body), auth.clone(), url.clone());
        let (trust, timeout) = (am.trust.clone(), am.timeout);
        posts.spawn(async move {
            let endpoint = alerts_endpoint(&url);
            let result = post(&clients, &endpoint, &body, auth, &trust, timeout).await;
            (redact_url(&endpoint), result)
        });
    }
    let mut every_one = true;
    while let Some(joined) = posts.join_next().await {
        match joined {
            Ok((_, Ok(()))) => shared.notify_counters.sent(CHANNEL, count),
            Ok((endpoint, Err(why))) => {
                every_one = false;
                shared.notify_counters.failed(CHANNEL, count);
                tracing::warn!(alertmanager = %endpoint, alerts = count, "posting alerts to Alertmanager failed: {why}");
            }
            Err(e) => {
                every_one = false;
                shared.notify_counters.failed(CHANNEL, count);
                tracing::error!("posting alerts to Alertmanager failed: {e}");
            }
        }
    }
    if every_one {
        for e in posted.ending.values_mut() {
            e.delivered += 1;
        }
        posted.ending.retain(|_, e| e.delivered < RESOLVED_ROUNDS);
        write_last_post(data_dir, now);
    }
}

/// Open incidents that are alerts of their own: not part of another open one.
fn firing(open: &[Incident]) -> impl Iterator<Item = &Incident> {
    open.iter()
        .filter(|i| i.joined.is_none_or(|root| !open.iter().any(|r| r.id == root)))
}

/// The alerts of one round: the firing ones, then the ends still announced (`(incident,
/// endsAt)`), unless the same device and check is firing again.
pub fn alerts<'a>(
    config: &Config,
    am: &AlertmanagerSettings,
    open: &[Incident],
    ending: impl Iterator<Item = (&'a Incident, f64)>,
    now: f64,
) -> Vec<Value> {
    let ends_at = now + 4.0 * am.resend_every.as_secs_f64();
    let mut firing_keys = BTreeSet::new();
    let mut alerts: Vec<Value> = firing(open)
        .map(|i| {
            firing_keys.insert((i.device.as_str(), i.check.as_str()));
            // Members of members too: a camera behind a recorder that joined the switch's.
            let mut members = vec![i];
            let mut next = 0;
            while let Some(member) = members.get(next).map(|m| m.id) {
                members.extend(open.iter().filter(|c| c.joined == Some(member)));
                next += 1;
            }
            alert(config, am, i, &members[1..], ends_at)
        })
        .collect();
    alerts.extend(
        ending
            .filter(|(i, _)| !firing_keys.contains(&(i.device.as_str(), i.check.as_str())))
            .map(|(i, at)| alert(config, am, i, &[], at)),
    );
    alerts
}

/// One incident as an Alertmanager alert (`postableAlert` of its OpenAPI).
fn alert(config: &Config, am: &AlertmanagerSettings, i: &Incident, children: &[&Incident], ends_at: f64) -> Value {
    let device = config.device(&i.device);
    let site = device
        .map(|d| d.site.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(&config.agent.site);
    let mut labels = Map::new();
    for (name, value) in &am.labels {
        labels.insert(name.clone(), json!(value));
    }
    labels.insert("alertname".into(), json!(ALERTNAME));
    labels.insert("device".into(), json!(i.device));
    labels.insert("check".into(), json!(i.check));
    labels.insert("severity".into(), json!(i.severity()));
    // Alertmanager treats an empty label as absent, and refuses some: leave them out.
    if !site.is_empty() {
        labels.insert("site".into(), json!(site));
    }
    if let Some(d) = device {
        labels.insert("kind".into(), json!(d.kind.as_str()));
    }
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": i.summary,
            "description": description(config, i, children),
            "incident": i.id.to_string(),
        },
        "startsAt": rfc3339(i.opened_at),
        "endsAt": rfc3339(ends_at),
    });
    if let Some(base) = &am.generator_url_base {
        alert["generatorURL"] = json!(format!("{base}/api/v1/incidents?open=true"));
    }
    alert
}

/// What a person reading the alert needs: the evidence, where the device is and who looks after
/// it, what else the fault took down, and who is on it.
fn description(config: &Config, i: &Incident, children: &[&Incident]) -> String {
    let mut lines = vec![format!(
        "Incident {} on {} ({} check) since {}.",
        i.id,
        i.device,
        i.check,
        rfc3339(i.opened_at)
    )];
    if let Some(values) = i.values.as_object().filter(|v| !v.is_empty()) {
        let evidence: Vec<String> = values
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        lines.push(format!("Evidence: {}.", evidence.join(", ")));
    }
    if let Some(d) = config.device(&i.device) {
        let place: Vec<&str> = [d.site.as_str(), d.room.as_str(), d.location.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if !place.is_empty() {
            lines.push(format!("Location: {}.", place.join(", ")));
        }
        if let Some(owner) = &d.owner {
            lines.push(format!("Owner: {owner}."));
        }
    }
    let through = crate::state::incidents::checks_through(i, children);
    if !through.is_empty() {
        lines.push(format!("Also down with it: {}.", through.join(", ")));
    }
    let names = crate::state::incidents::devices_behind(i, children);
    if !names.is_empty() {
        lines.push(format!(
            "Unreachable behind it ({}): {}.",
            names.len(),
            names.join(", ")
        ));
    }
    if let Some(ack) = &i.acknowledged {
        lines.push(format!(
            "Acknowledged by {} at {}: {}",
            ack.by,
            rfc3339(ack.at),
            ack.note
        ));
    }
    if let Some(at) = i.resolved_at {
        lines.push(format!("Resolved at {}.", rfc3339(at)));
    }
    lines.join("\n")
}

fn rfc3339(t: f64) -> String {
    chrono::DateTime::from_timestamp_millis((t * 1000.0).round() as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `BASE/api/v2/alerts`, keeping any route prefix of the base.
fn alerts_endpoint(base: &reqwest::Url) -> reqwest::Url {
    let mut url = base.clone();
    let path = format!("{}/api/v2/alerts", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The `Authorization` header, with the secret read now (so a rotated file is picked up).
fn authorization(am: &AlertmanagerSettings) -> Result<Option<HeaderValue>, String> {
    use base64::Engine as _;
    let value = match &am.auth {
        None => return Ok(None),
        Some(AlertmanagerAuth::Basic { username, password }) => {
            let password = password.resolve()?;
            let pair = format!("{username}:{}", password.expose_secret());
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
        }
        Some(AlertmanagerAuth::Bearer(token)) => format!("Bearer {}", token.resolve()?.expose_secret()),
    };
    let mut value =
        HeaderValue::from_str(&value).map_err(|_| "the login cannot be sent in an HTTP header".to_owned())?;
    value.set_sensitive(true);
    Ok(Some(value))
}

async fn post(
    clients: &HttpClients,
    endpoint: &reqwest::Url,
    body: &[u8],
    auth: Option<HeaderValue>,
    trust: &crate::config::TlsTrust,
    timeout: Duration,
) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(auth) = auth {
        headers.insert(AUTHORIZATION, auth);
    }
    let (trust, mut transcript) = (crate::probe::tls::Trust::from(trust), Transcript::disabled());
    let sent = clients.send(
        reqwest::Method::POST,
        endpoint.as_str(),
        headers,
        Some(body.to_vec()),
        None,
        &trust,
        MAX_REPLY_BYTES,
        &mut transcript,
    );
    let reply = tokio::time::timeout(timeout, sent)
        .await
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))?
        .map_err(|e| e.message)?;
    if (200..300).contains(&reply.status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&reply.body);
    let text: String = text.trim().chars().take(300).collect();
    Err(match reply.status {
        401 | 403 => format!("HTTP {}: the Alertmanager refused the login ({text})", reply.status),
        status => format!("HTTP {status}: {text}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
[agent]
site = "HQ"
[alertmanager]
urls = ["http://127.0.0.1:9093/am/"]
resend_every = "30s"
generator_url_base = "http://agent:9810"
labels = { env = "prod" }
[[device]]
name = "switch"
kind = "switch"
address = "192.0.2.1"
room = "server room"
owner = "it@example.org"
[[device]]
name = "cam"
kind = "camera"
address = "192.0.2.2"
parent = "switch"
"#;

    fn incident(id: u64, device: &str, joined: Option<u64>, resolved_at: Option<f64>) -> Incident {
        Incident {
            id,
            device: device.into(),
            check: "ping".into(),
            opened_at: 1_800_000_000.0,
            failed_at: 1_800_000_003.0,
            resolved_at,
            joined,
            summary: format!("{device} does not answer"),
            values: json!({"loss_ratio": 1.0, "method": "icmp"}),
            acknowledged: None,
        }
    }

    #[test]
    fn children_are_named_by_their_root_and_resolved_alerts_end_when_repaired() {
        let config = crate::config::parse("t.toml", SITE).unwrap();
        let am = config.alertmanager.clone().unwrap();
        // The camera's ping and its ONVIF check are both unreachable behind the switch: one
        // device behind it, not two.
        let mut onvif = incident(3, "cam", Some(1), None);
        onvif.check = "onvif".into();
        let open = [
            incident(1, "switch", None, None),
            incident(2, "cam", Some(1), None),
            onvif,
        ];
        let earlier = incident(7, "switch", None, Some(1_800_000_100.0));
        let now = 1_800_000_200.0;
        let alerts = alerts(&config, &am, &open, [(&earlier, 1_800_000_100.0)].into_iter(), now);
        assert_eq!(
            alerts.len(),
            1,
            "the child is part of the switch's alert, and the switch's earlier fault is the same alert: {alerts:#?}"
        );
        let a = &alerts[0];
        assert_eq!(a["labels"]["alertname"], ALERTNAME);
        assert_eq!(a["labels"]["device"], "switch");
        assert_eq!(a["labels"]["kind"], "switch");
        assert_eq!(a["labels"]["site"], "HQ");
        assert_eq!(a["labels"]["severity"], "major");
        assert_eq!(a["labels"]["env"], "prod");
        assert_eq!(a["startsAt"], "2027-01-15T08:00:00.000Z");
        assert_eq!(a["endsAt"], rfc3339(now + 120.0), "4 x resend_every, as Prometheus");
        assert_eq!(a["generatorURL"], "http://agent:9810/api/v1/incidents?open=true");
        let description = a["annotations"]["description"].as_str().unwrap();
        for part in [
            "Evidence: loss_ratio=1.0, method=icmp.",
            "Location: HQ, server room.",
            "Owner: it@example.org.",
            "Unreachable behind it (1): cam.",
        ] {
            assert!(description.contains(part), "{part:?} in {description}");
        }
        // The switch repaired, the camera still failing: the camera is an alert of its own now.
        let alerts = super::alerts(
            &config,
            &am,
            &open[1..2],
            [(&incident(1, "switch", None, Some(now)), now)].into_iter(),
            now,
        );
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0]["labels"]["device"], "cam");
        assert_eq!(alerts[1]["endsAt"], rfc3339(now));
        assert_eq!(
            alerts_endpoint(&am.urls[0]).as_str(),
            "http://127.0.0.1:9093/am/api/v2/alerts"
        );
    }

    #[test]
    fn a_fault_back_drops_the_end_of_the_old_one() {
        let mut resolved = BTreeMap::new();
        note(&mut resolved, incident(3, "cam", None, Some(10.0)));
        note(&mut resolved, incident(4, "switch", None, Some(11.0)));
        assert_eq!(resolved.len(), 2);
        note(&mut resolved, incident(5, "cam", None, None));
        assert_eq!(resolved.keys().copied().collect::<Vec<_>>(), [4]);
    }
}
