//! The report's availability and retention tables from any Prometheus-compatible query API
//! (Prometheus, Thanos, Mimir, VictoriaMetrics), so a company with many sites, each with its own
//! agent, gets one report. Figures come from the series every agent exports: reachability from
//! `camwatch_check_state{check="ping"}` sampled every `step` over the period (the same rule for
//! unreachable time, maintenance left out through `camwatch_maintenance_active`), retention from
//! the last values of the `camwatch_retention_*` and `camwatch_recording_*` series. What
//! Prometheus does not keep (recording stops, incidents, procedures, changes) stays in each
//! agent's own report.
//!
//! Agents of a fleet reuse device names (each has its own `this-host`, two sites each an
//! `nvr-1`), so a device is identified by the scrape that exported it, `(job, instance, device)`,
//! never by its name alone: every aggregation and join here keeps the scrape's labels, and every
//! row names its site (from that scrape's `camwatch_device_info`).

use std::collections::BTreeMap;

use super::{CameraRetention, DeviceAvailability, GroupAvailability, Period, Report, Unreachable};
use crate::config::Config;

/// A period is sampled at most this many times per series: one-second resolution for a day
/// would be 86,400 points, and the answer only needs to be as exact as a scrape.
const MAX_POINTS: f64 = 20_000.0;

type Rows = Vec<(BTreeMap<String, String>, f64)>;

/// A device as the fleet knows it: its name, then the scrape that exported it (job, instance).
const DEVICE: [&str; 3] = ["device", "job", "instance"];
/// A camera of a recorder, keyed like a device.
const CAMERA: [&str; 4] = ["device", "job", "instance", "camera"];

async fn query(client: &reqwest::Client, url: &str, expr: &str, at: f64) -> Result<Rows, String> {
    let mut endpoint = reqwest::Url::parse(&format!("{}/api/v1/query", url.trim_end_matches('/')))
        .map_err(|e| format!("{url} is not a URL: {e}"))?;
    endpoint
        .query_pairs_mut()
        .append_pair("query", expr)
        .append_pair("time", &format!("{at:.3}"));
    let answer = client
        .get(endpoint)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{url} answered something that is not JSON: {e}"))?;
    if !status.is_success() || body["status"] != "success" {
        return Err(format!("{url} refused the query {expr}: {}", body["error"]));
    }
    Ok(body["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let labels = r["metric"]
                .as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let value = r["value"][1].as_str()?.parse().ok()?;
            Some((labels, value))
        })
        .collect())
}

fn by(rows: &Rows, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    rows.iter()
        .map(|(labels, v)| {
            (
                keys.iter()
                    .map(|k| labels.get(*k).cloned().unwrap_or_default())
                    .collect(),
                *v,
            )
        })
        .collect()
}

pub async fn build(
    config: &Config,
    url: &str,
    period: Period,
    unreachable: Unreachable,
    now: f64,
) -> Result<Report, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let at = period.to.min(now);
    let window = (at - period.from).max(1.0);
    let step = (window / MAX_POINTS).ceil().max(1.0);
    let span = format!("{}s:{}s", window as i64, step as i64);
    let down_states = match unreachable {
        Unreachable::Down => "failed|unreachable",
        Unreachable::Excluded => "failed",
    };
    let counted = |states: &str| {
        format!(
            r#"sum_over_time((max by (job, instance, device) (camwatch_check_state{{check="ping",state=~"{states}"}}) unless on(job, instance, device) (max by (job, instance, device) (camwatch_maintenance_active) == 1))[{span}])"#
        )
    };
    let up = by(&query(&client, url, &counted("ok|warning"), at).await?, &DEVICE);
    let down = by(&query(&client, url, &counted(down_states), at).await?, &DEVICE);
    // Maintenance is owed nothing: left out of the period as it is of the up and down time.
    let maintenance = by(
        &query(
            &client,
            url,
            &format!(r#"sum_over_time((max by (job, instance, device) (camwatch_maintenance_active) == 1)[{span}])"#),
            at,
        )
        .await?,
        &DEVICE,
    );
    let info = query(
        &client,
        url,
        &format!("last_over_time(camwatch_device_info[{}s])", window as i64),
        at,
    )
    .await?;
    let place: BTreeMap<Vec<String>, (String, String)> = info
        .iter()
        .map(|(labels, _)| {
            let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
            (DEVICE.iter().map(|k| get(k)).collect(), (get("kind"), get("site")))
        })
        .collect();
    // This agent's own devices keep their policy; a same-named device of another site is not
    // one of them and gets the default.
    let own = |name: &str, site: &str| config.device(name).filter(|d| d.site == site);
    let default_policy = crate::config::Policy::default();
    let mut devices = Vec::new();
    for (key, up_count) in &up {
        let name = &key[0];
        let down_count = down.get(key).copied().unwrap_or(0.0);
        let (up_seconds, down_seconds) = (up_count * step, down_count * step);
        let (kind, site) = place.get(key).cloned().unwrap_or_default();
        let device = own(name, &site);
        let policy = device.map_or(&default_policy, |d| &*d.policy);
        let maintenance_seconds = maintenance.get(key).copied().unwrap_or(0.0) * step;
        devices.push(DeviceAvailability::new(
            super::Who {
                device: name.clone(),
                kind,
                site,
                policy: device.map_or_else(|| "default".to_owned(), |d| d.policy_name.clone()),
            },
            policy,
            (up_seconds, down_seconds),
            period.to - period.from - maintenance_seconds,
        ));
    }
    let last = |metric: &str| format!("last_over_time({metric}[{}s])", window as i64);
    let figure = |rows: Rows| by(&rows, &CAMERA);
    let compliant = figure(query(&client, url, &last("camwatch_retention_compliant"), at).await?);
    let required = figure(query(&client, url, &last("camwatch_retention_required_seconds"), at).await?);
    let contiguous = figure(query(&client, url, &last("camwatch_recording_contiguous_seconds"), at).await?);
    let gaps = figure(query(&client, url, &last("camwatch_recording_gap_seconds"), at).await?);
    let retention = compliant
        .iter()
        .map(|(key, ok)| {
            let (_, site) = place.get(&key[..DEVICE.len()]).cloned().unwrap_or_default();
            let camera = &key[DEVICE.len()];
            let policy = own(&key[0], &site)
                .map_or_else(crate::config::Policy::default, |d| d.policy.for_camera(camera).clone());
            CameraRetention {
                device: key[0].clone(),
                site,
                camera: camera.clone(),
                measured_at: at,
                required_seconds: required.get(key).copied().unwrap_or(0.0),
                contiguous_seconds: contiguous.get(key).copied().unwrap_or(0.0),
                gap_seconds: gaps.get(key).copied().unwrap_or(0.0),
                // The gap list is not exported; the seconds are.
                gaps: usize::from(gaps.get(key).copied().unwrap_or(0.0) > 0.0),
                compliant: *ok == 1.0,
                clause: policy.clause(&policy.clause_retention),
            }
        })
        .collect();
    let group = |key: fn(&DeviceAvailability) -> &str| -> Vec<GroupAvailability> { super::groups(&devices, key) };
    Ok(Report {
        site: config.agent.site.clone(),
        timezone: config.agent.timezone.name().to_owned(),
        period,
        generated_at: now,
        unreachable,
        kinds: group(|d| &d.kind),
        sites: group(|d| &d.site),
        devices,
        recorders: Vec::new(),
        incidents: super::IncidentFigures::default(),
        retention,
        backups: Vec::new(),
        procedures: Vec::new(),
        changes: Vec::new(),
    })
}
