//! What mail the incidents call for, to whom, and what it says. Pure: (incidents with the mail
//! they already got, config, now) -> messages to queue, so grouping, reminders, escalation and
//! holding are unit-tested without SMTP or a database.
//!
//! - opened: faults of one site (and the same recipients) whose failure starts within
//!   `group_window` of the first go out as one message, sent when that window has passed; an
//!   unreachable child joined to its root's incident is listed in the root's message, never
//!   mailed alone (a dead switch with 40 cameras behind it is one mail about the switch);
//! - resolved: for each incident whose opening was mailed, with the downtime;
//! - reminder: every `remind_every` after the last mail while open and unacknowledged;
//! - escalation: once, to `escalate_to`, when open and unacknowledged `escalate_after` after it
//!   failed.

use askama::Template;
use chrono::Timelike;

use crate::config::email::EmailSettings;
use crate::config::{Config, Device};
use crate::maintenance::Window;
use crate::state::incidents::Incident;
use crate::state::outbox::{IncidentMail, NewMessage};

pub const OPENED: &str = "opened";
pub const RESOLVED: &str = "resolved";
pub const REMINDER: &str = "reminder";
pub const ESCALATION: &str = "escalation";

/// Why an incident's mail waits (or never goes alone). The one place where holding is decided;
/// maintenance windows hold too, so planned work mails nobody unless it outlasts its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// An unreachable child: listed in its root's message.
    Joined,
    /// A `[[email.quiet]]` rule in force now.
    Quiet,
    /// The device is in a maintenance window: planned work, mailed only if it outlasts it.
    Maintenance,
}

pub fn should_hold(
    incident: &Incident,
    device: Option<&Device>,
    config: &Config,
    maintenance: &[Window],
    now: f64,
) -> Option<Hold> {
    if incident.joined.is_some() {
        return Some(Hold::Joined);
    }
    if let Some(d) = device
        && crate::maintenance::active(&config.maintenance, maintenance, &d.name, &d.site, now).is_some()
    {
        return Some(Hold::Maintenance);
    }
    let email = config.email.as_ref()?;
    let minute = chrono::DateTime::from_timestamp(now as i64, 0)
        .map(|t| {
            let local = t.with_timezone(&config.agent.timezone);
            local.hour() * 60 + local.minute()
        })
        .unwrap_or(0);
    let (kind, site) = place(device, config);
    email
        .quiet
        .iter()
        .any(|q| {
            q.in_force(minute)
                && q.when
                    .matches(kind, &site, &incident.check, &incident.device, incident.severity())
        })
        .then_some(Hold::Quiet)
}

/// Whether an incident's opening is to be mailed now. An open one: unless it is held. A
/// repaired one that was never mailed (repaired before a slow pass queued its mail): when it
/// outlasted the grouping window and was not held all along (checked when its window ended and
/// just before its repair), so the logbook shows the fault; the recovery follows. A fault
/// repaired within its window, or wholly inside a maintenance window or quiet hours, is not.
fn opening_owed(
    incident: &Incident,
    device: Option<&Device>,
    config: &Config,
    maintenance: &[Window],
    window: f64,
    now: f64,
) -> bool {
    let unheld_at = |t: f64| should_hold(incident, device, config, maintenance, t).is_none();
    match incident.resolved_at {
        None => unheld_at(now),
        Some(repaired) => {
            let due = incident.failed_at + window;
            repaired >= due && (unheld_at(due) || unheld_at((repaired - 1.0).max(due)))
        }
    }
}

fn place(device: Option<&Device>, config: &Config) -> (crate::model::DeviceKind, String) {
    match device {
        Some(d) if !d.site.is_empty() => (d.kind, d.site.clone()),
        Some(d) => (d.kind, config.agent.site.clone()),
        None => (crate::model::DeviceKind::Other, config.agent.site.clone()),
    }
}

/// Recipients of an incident's mail: the routes that match it (or `to` when none does), and
/// the device's owner when the owner is a mail address.
pub fn recipients(email: &EmailSettings, device: Option<&Device>, incident: &Incident, config: &Config) -> Vec<String> {
    let (kind, site) = place(device, config);
    let mut to: Vec<String> = email
        .routes
        .iter()
        .filter(|r| {
            r.when
                .matches(kind, &site, &incident.check, &incident.device, incident.severity())
        })
        .flat_map(|r| r.to.iter().cloned())
        .collect();
    if to.is_empty() {
        to = email.to.clone();
    }
    if let Some(owner) = device.and_then(|d| d.owner.as_deref())
        && crate::config::email::valid_address(owner)
    {
        to.push(owner.to_owned());
    }
    let mut seen = std::collections::BTreeSet::new();
    to.retain(|a| seen.insert(a.to_ascii_lowercase()));
    to
}

/// A fault as the templates show it.
struct Fault {
    id: u64,
    device: String,
    check: String,
    state: &'static str,
    summary: String,
    since: String,
    downtime: Option<String>,
    severity: &'static str,
    location: String,
    owner: String,
    figures: Vec<(String, String)>,
    behind: Vec<String>,
    through: Vec<String>,
    device_url: Option<String>,
    snapshot_url: Option<String>,
}

#[derive(Template)]
#[template(path = "email/mail.txt")]
struct Text<'a> {
    headline: &'a str,
    intro: &'a str,
    faults: &'a [Fault],
    dashboard_url: Option<&'a str>,
    ack_hint: bool,
    site: &'a str,
}

#[derive(Template)]
#[template(path = "email/mail.html")]
struct Html<'a> {
    headline: &'a str,
    intro: &'a str,
    faults: &'a [Fault],
    dashboard_url: Option<&'a str>,
    ack_hint: bool,
    site: &'a str,
}

/// What to attach: the latest failing snapshot of a camera image fault.
pub trait Snapshots {
    fn failing_jpeg(&self, device: &str) -> Option<Vec<u8>>;
}

/// The messages `incidents` call for now.
/// `maintenance`: the windows people opened (configured ones are in `config`).
pub fn plan(
    incidents: &[IncidentMail],
    config: &Config,
    maintenance: &[Window],
    now: f64,
    snapshots: &dyn Snapshots,
) -> Vec<NewMessage> {
    let Some(email) = &config.email else {
        return Vec::new();
    };
    let device = |name: &str| config.device(name).map(|d| &**d);
    let children = |root: u64| -> Vec<&Incident> {
        incidents
            .iter()
            .map(|m| &m.incident)
            .filter(|i| i.joined == Some(root))
            .collect()
    };
    let mut out = Vec::new();

    // Openings, grouped by site and recipients.
    let window = email.group_window.as_secs_f64();
    let mut waiting: Vec<(&IncidentMail, String, Vec<String>)> = incidents
        .iter()
        .filter(|m| !m.got(OPENED))
        .filter(|m| {
            opening_owed(
                &m.incident,
                device(&m.incident.device),
                config,
                maintenance,
                window,
                now,
            )
        })
        .map(|m| {
            let d = device(&m.incident.device);
            (m, place(d, config).1, recipients(email, d, &m.incident, config))
        })
        .collect();
    waiting.sort_by(|a, b| a.0.incident.failed_at.total_cmp(&b.0.incident.failed_at));
    while let Some((first, site, to)) = waiting.first().cloned() {
        let (group, rest): (Vec<_>, Vec<_>) = waiting
            .into_iter()
            .partition(|(m, s, t)| *s == site && *t == to && m.incident.failed_at <= first.incident.failed_at + window);
        waiting = rest;
        if now < first.incident.failed_at + window {
            continue; // more may join this group yet
        }
        let members: Vec<&Incident> = group.iter().map(|(m, _, _)| &m.incident).collect();
        let faults: Vec<Fault> = members
            .iter()
            .map(|i| fault(i, &children(i.id), config, now, false))
            .collect();
        let headline = match members.as_slice() {
            [one] => format!("{}: {} {} failed", site_name(&site), one.device, what(one)),
            many => format!(
                "{}: {} faults: {}",
                site_name(&site),
                many.len(),
                many.iter()
                    .map(|i| format!("{} {}", i.device, what(i)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let behind: usize = faults.iter().map(|f| f.behind.len()).sum();
        let intro = if behind > 0 {
            format!(
                "camwatch found a fault that breaks the site's procedure; {behind} device(s) behind it cannot be reached and are listed with it."
            )
        } else {
            "camwatch found a fault that breaks the site's procedure.".to_owned()
        };
        let attachment = members.iter().find(|i| i.check == "image").and_then(|i| {
            Some((
                format!("{}-latest-failed.jpg", i.device),
                snapshots.failing_jpeg(&i.device)?,
            ))
        });
        out.push(message(
            email,
            &headline,
            &intro,
            &faults,
            &site,
            true,
            MessageMeta {
                kind: OPENED,
                key: members[0],
                seq: 0,
                to: to.clone(),
                covers: members.iter().map(|i| (i.id, OPENED.to_owned(), 0)).collect(),
                attachment,
                now,
            },
        ));
    }

    for m in incidents
        .iter()
        .filter(|m| m.incident.joined.is_none() && m.got(OPENED))
    {
        let i = &m.incident;
        let d = device(&i.device);
        let site = place(d, config).1;
        let to = recipients(email, d, i, config);
        let kids = children(i.id);
        if let Some(resolved) = i.resolved_at {
            if m.got(RESOLVED) {
                continue;
            }
            let down = crate::judge::retention::span((resolved - i.opened_at) as i64);
            let headline = format!("{}: {} {} recovered after {down}", site_name(&site), i.device, what(i));
            let intro = format!(
                "The fault below is repaired: {} {} is back after {down}.",
                i.device, i.check
            );
            let faults = [fault(i, &kids, config, now, true)];
            out.push(message(
                email,
                &headline,
                &intro,
                &faults,
                &site,
                false,
                MessageMeta {
                    kind: RESOLVED,
                    key: i,
                    seq: 0,
                    to,
                    covers: vec![(i.id, RESOLVED.to_owned(), 0)],
                    attachment: None,
                    now,
                },
            ));
            continue;
        }
        if i.acknowledged.is_some() || should_hold(i, d, config, maintenance, now).is_some() {
            continue;
        }
        let open_for = crate::judge::retention::span((now - i.opened_at) as i64);
        // A reminder or an escalation: the fault as it is now, to `to`.
        let follow_up = |kind: &'static str, seq: u32, to: Vec<String>, headline: &str, intro: &str| {
            let faults = [fault(i, &kids, config, now, false)];
            message(
                email,
                headline,
                intro,
                &faults,
                &site,
                true,
                MessageMeta {
                    kind,
                    key: i,
                    seq,
                    to,
                    covers: vec![(i.id, kind.to_owned(), seq)],
                    attachment: None,
                    now,
                },
            )
        };
        if !email.escalate_to.is_empty()
            && !m.got(ESCALATION)
            && now >= i.failed_at + email.escalate_after.as_secs_f64()
        {
            let headline = format!(
                "Escalation: {}: {} {} failed {open_for} ago, nobody acknowledged it",
                site_name(&site),
                i.device,
                what(i)
            );
            let intro = format!(
                "This fault has been open for {open_for} without anyone taking it on (escalation after {}). It was mailed to: {}.",
                humantime::format_duration(email.escalate_after),
                to.join(", ")
            );
            out.push(follow_up(ESCALATION, 0, email.escalate_to.clone(), &headline, &intro));
        }
        let last = m.mail.iter().map(|(_, _, at)| *at).fold(f64::MIN, f64::max);
        if now >= last + email.remind_every.as_secs_f64() {
            let seq = m.mail.iter().filter(|(k, _, _)| k == REMINDER).count() as u32 + 1;
            let headline = format!(
                "Reminder: {}: {} {} still failed after {open_for}, not acknowledged",
                site_name(&site),
                i.device,
                what(i)
            );
            let intro = format!("This fault is still open and nobody has acknowledged it (reminder {seq}).");
            out.push(follow_up(REMINDER, seq, to, &headline, &intro));
        }
    }
    out
}

fn site_name(site: &str) -> &str {
    if site.is_empty() { "camwatch" } else { site }
}

/// "ping" reads badly in a subject: say what failed.
fn what(i: &Incident) -> String {
    match i.check.as_str() {
        "ping" => "(unreachable)".to_owned(),
        check => check.to_owned(),
    }
}

struct MessageMeta<'a> {
    kind: &'static str,
    /// The incident whose id and failure time make the Message-ID.
    key: &'a Incident,
    seq: u32,
    to: Vec<String>,
    covers: Vec<(u64, String, u32)>,
    attachment: Option<(String, Vec<u8>)>,
    now: f64,
}

fn message(
    email: &EmailSettings,
    headline: &str,
    intro: &str,
    faults: &[Fault],
    site: &str,
    ack_hint: bool,
    meta: MessageMeta,
) -> NewMessage {
    let site = site_name(site);
    let text = Text {
        headline,
        intro,
        faults,
        dashboard_url: email.dashboard_url.as_deref(),
        ack_hint,
        site,
    };
    let html = Html {
        headline,
        intro,
        faults,
        dashboard_url: email.dashboard_url.as_deref(),
        ack_hint,
        site,
    };
    NewMessage {
        message_id: message_id(meta.key, meta.kind, meta.seq, &email.from),
        channel: "email".to_owned(),
        kind: meta.kind.to_owned(),
        recipients: meta.to,
        subject: format!("[camwatch] {headline}"),
        // Rendering plain data into checked templates cannot fail but for a formatter error.
        text: text
            .render()
            .unwrap_or_else(|e| format!("{headline}\n\n(template error: {e})")),
        html: html
            .render()
            .unwrap_or_else(|e| format!("<p>(template error: {e})</p>")),
        attachment: meta.attachment,
        covers: meta.covers,
        at: meta.now,
    }
}

/// A procedure record (the shift handover; the end-of-day inventory as the daily digest) as a
/// message to `[email] to`, when the configuration asks for it. `text` is the record as the CLI
/// prints it; the HTML part keeps its layout.
pub fn procedure_message(
    config: &Config,
    procedure: crate::config::Procedure,
    at: f64,
    text: &str,
) -> Option<NewMessage> {
    let email = config.email.as_ref()?;
    if !email.procedures.contains(&procedure) || email.to.is_empty() {
        return None;
    }
    let when = crate::vocab::local_time(at, config.agent.timezone);
    let title = match procedure {
        crate::config::Procedure::Handover => "Shift handover",
        crate::config::Procedure::Inventory => "End-of-day inventory",
    };
    Some(plain_message(
        email,
        procedure.as_str(),
        &format!("{procedure}.{}", (at * 1000.0) as i64),
        format!("{}{title} {when}", subject_prefix(config)),
        text.to_owned(),
        None,
        at,
    ))
}

/// A mail to `[email] to` whose HTML part is its text as written (procedure records, report
/// summaries), with a stable Message-ID made of `key`: queued twice, sent once.
pub fn plain_message(
    email: &EmailSettings,
    kind: &str,
    key: &str,
    subject: String,
    text: String,
    attachment: Option<(String, Vec<u8>)>,
    at: f64,
) -> NewMessage {
    NewMessage {
        message_id: format!("<camwatch.{key}@{}>", domain(&email.from)),
        channel: "email".to_owned(),
        kind: kind.to_owned(),
        recipients: email.to.clone(),
        subject,
        html: format!(
            "<!doctype html><html><body><pre style=\"font:13px monospace\">{}</pre></body></html>",
            crate::report::html::esc(&text)
        ),
        text,
        attachment,
        covers: Vec::new(),
        at,
    }
}

/// `[site] ` before a subject, when the agent names its site.
pub fn subject_prefix(config: &Config) -> String {
    if config.agent.site.is_empty() {
        String::new()
    } else {
        format!("[{}] ", config.agent.site)
    }
}

fn domain(from: &str) -> &str {
    from.rsplit_once('@')
        .map_or("camwatch.invalid", |(_, d)| d.trim_end_matches('>'))
}

/// Stable: the same mail about the same incident always has the same Message-ID, so a message
/// sent again after a crash is recognisably the same one. The failure time keeps ids from two
/// databases (a data_dir wiped and started again) apart.
pub fn message_id(incident: &Incident, kind: &str, seq: u32, from: &str) -> String {
    let domain = domain(from);
    format!(
        "<camwatch.{}.{}.{kind}.{seq}@{domain}>",
        incident.id,
        (incident.failed_at * 1000.0) as i64
    )
}

fn fault(i: &Incident, behind: &[&Incident], config: &Config, now: f64, recovered: bool) -> Fault {
    let device = config.device(&i.device);
    let tz = config.agent.timezone;
    let when = |t: f64| {
        chrono::DateTime::from_timestamp(t as i64, 0)
            .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string())
            .unwrap_or_default()
    };
    let location = device
        .map(|d| {
            [d.site.as_str(), d.room.as_str(), d.location.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| config.agent.site.clone());
    let base = config.email.as_ref().and_then(|e| e.base_url.as_deref());
    let segment = crate::state::snapshots::segment(&i.device);
    let figures = match &i.values {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Fault {
        id: i.id,
        device: i.device.clone(),
        check: i.check.clone(),
        state: if recovered { "recovered" } else { "failed" },
        summary: i.summary.clone(),
        since: format!(
            "{} ({} ago)",
            when(i.opened_at),
            crate::judge::retention::span((now - i.opened_at) as i64)
        ),
        downtime: i.resolved_at.map(|r| {
            format!(
                "{} (from {} to {})",
                crate::judge::retention::span((r - i.opened_at) as i64),
                when(i.opened_at),
                when(r)
            )
        }),
        severity: i.severity(),
        location,
        owner: device
            .and_then(|d| d.owner.clone())
            .unwrap_or_else(|| "nobody named".to_owned()),
        figures,
        behind: crate::state::incidents::devices_behind(i, behind),
        through: crate::state::incidents::checks_through(i, behind),
        device_url: base.map(|b| format!("{b}/#device-{segment}")),
        snapshot_url: base
            .filter(|_| i.check == "image")
            .map(|b| format!("{b}/snapshots/{}/latest-failed.jpg", i.device)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSnapshots;
    impl Snapshots for NoSnapshots {
        fn failing_jpeg(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
    }

    const SITE: &str = r#"
[agent]
site = "hq"
[email]
server = "smtp.example.com"
from = "camwatch@example.com"
to = ["maint@example.com"]
group_window = "60s"
remind_every = "1h"
escalate_after = "2h"
escalate_to = ["boss@example.com"]
[[email.route]]
kind = "ups"
to = ["power@example.com"]
[[email.quiet]]
check = "image"
hours = "22:00-06:00"
[[device]]
name = "switch"
kind = "switch"
address = "192.0.2.1"
[[device]]
name = "cam"
kind = "camera"
address = "192.0.2.2"
parent = "switch"
[[device]]
name = "ups"
kind = "ups"
address = "192.0.2.3"
owner = "ana@example.com"
[[device]]
name = "far"
kind = "camera"
address = "192.0.2.4"
site = "annex"
"#;

    fn config() -> Config {
        crate::config::parse("t.toml", SITE).unwrap()
    }

    fn incident(id: u64, device: &str, check: &str, failed_at: f64) -> Incident {
        Incident {
            id,
            device: device.into(),
            check: check.into(),
            opened_at: failed_at - 10.0,
            failed_at,
            resolved_at: None,
            joined: None,
            summary: format!("{device} {check} broke the rule"),
            values: serde_json::json!({"loss_ratio": 1.0}),
            acknowledged: None,
        }
    }

    fn fresh(i: Incident) -> IncidentMail {
        IncidentMail {
            incident: i,
            mail: Vec::new(),
        }
    }

    #[test]
    fn faults_of_a_site_within_the_window_are_one_message_sent_when_the_window_ends() {
        let c = config();
        let mut cam = incident(2, "cam", "ping", 1010.0);
        cam.joined = Some(1);
        // The camera's picture is unreachable too: still one device behind the switch.
        let mut picture = incident(6, "cam", "image", 1011.0);
        picture.joined = Some(1);
        let list = [
            fresh(incident(1, "switch", "ping", 1000.0)),
            fresh(cam),
            fresh(incident(3, "far", "ping", 1020.0)),
            fresh(picture),
        ];
        assert!(
            plan(&list, &c, &[], 1059.0, &NoSnapshots).is_empty(),
            "the window is still open"
        );
        let out = plan(&list, &c, &[], 1060.0, &NoSnapshots);
        assert_eq!(out.len(), 1, "{out:?}");
        let m = &out[0];
        assert_eq!(m.subject, "[camwatch] hq: switch (unreachable) failed");
        assert_eq!(m.covers, [(1, OPENED.to_owned(), 0)], "the child is listed, not mailed");
        assert!(m.text.contains("Unreachable behind it (1): cam"), "{}", m.text);
        assert_eq!(m.recipients, ["maint@example.com"]);
        // The annex's own window ends later: its own message.
        let out = plan(&list, &c, &[], 1080.0, &NoSnapshots);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].subject, "[camwatch] annex: far (unreachable) failed");
        // Two faults of one site starting within the window: one message naming both.
        let both = [
            fresh(incident(1, "switch", "ping", 1000.0)),
            fresh(incident(4, "ups", "ups", 1030.0)),
        ];
        let out = plan(&both, &c, &[], 1100.0, &NoSnapshots);
        assert_eq!(out.len(), 2, "different recipients are different messages: {out:?}");
        let ups = out.iter().find(|m| m.subject.contains("ups")).unwrap();
        assert_eq!(
            ups.recipients,
            ["power@example.com", "ana@example.com"],
            "route and owner"
        );
        let two = [
            fresh(incident(1, "switch", "ping", 1000.0)),
            fresh(incident(5, "switch", "clock", 1030.0)),
        ];
        let out = plan(&two, &c, &[], 1100.0, &NoSnapshots);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].subject,
            "[camwatch] hq: 2 faults: switch (unreachable), switch clock"
        );
        assert_eq!(out[0].covers.len(), 2);
    }

    #[test]
    fn a_fault_repaired_before_its_mail_was_queued_is_mailed_if_it_outlasted_the_window() {
        let c = config();
        let repaired = |failed_at: f64, resolved_at: f64| {
            let mut i = incident(1, "switch", "ping", failed_at);
            i.resolved_at = Some(resolved_at);
            fresh(i)
        };
        // Down 100 s with a 60-s window, repaired while the queue was busy: failure mailed now
        // (the recovery follows once it is).
        let out = plan(&[repaired(1000.0, 1100.0)], &c, &[], 1200.0, &NoSnapshots);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, OPENED);
        assert_eq!(out[0].subject, "[camwatch] hq: switch (unreachable) failed");
        let mailed = IncidentMail {
            incident: repaired(1000.0, 1100.0).incident,
            mail: vec![(OPENED.to_owned(), 0, 1200.0)],
        };
        let out = plan(&[mailed], &c, &[], 1201.0, &NoSnapshots);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, RESOLVED);
        // Repaired within its window: never mailed.
        assert!(plan(&[repaired(1000.0, 1050.0)], &c, &[], 1200.0, &NoSnapshots).is_empty());
        // Wholly inside quiet hours (a picture fault 23:00-23:30): not mailed at 07:00 either.
        let mut night = incident(2, "cam", "image", 23.0 * 3600.0);
        night.resolved_at = Some(23.5 * 3600.0);
        assert!(plan(&[fresh(night)], &c, &[], 31.0 * 3600.0, &NoSnapshots).is_empty());
        // A joined child is listed in its root's mail, never on its own.
        let mut child = repaired(1000.0, 1100.0);
        child.incident.joined = Some(9);
        assert!(plan(&[child], &c, &[], 1200.0, &NoSnapshots).is_empty());
    }

    #[test]
    fn quiet_hours_hold_a_fault_until_they_end() {
        let c = config();
        let list = [fresh(incident(1, "cam", "image", 0.0))];
        // 1970-01-01 23:00 UTC is inside 22:00-06:00; 07:00 the next day is not.
        assert_eq!(
            should_hold(&list[0].incident, c.device("cam").map(|d| &**d), &c, &[], 23.0 * 3600.0),
            Some(Hold::Quiet)
        );
        assert!(plan(&list, &c, &[], 23.0 * 3600.0, &NoSnapshots).is_empty());
        assert_eq!(plan(&list, &c, &[], 31.0 * 3600.0, &NoSnapshots).len(), 1);
    }

    #[test]
    fn a_device_in_maintenance_is_not_mailed_until_its_window_ends() {
        let c = config();
        let list = [fresh(incident(1, "cam", "image", 0.0))];
        let window = Window {
            id: 1,
            target: crate::maintenance::Target::Device("cam".into()),
            start: 0.0,
            end: 40.0 * 3600.0,
            reason: "lens cleaning".into(),
            by: "ana".into(),
        };
        let at = 31.0 * 3600.0;
        assert_eq!(
            should_hold(
                &list[0].incident,
                c.device("cam").map(|d| &**d),
                &c,
                std::slice::from_ref(&window),
                at
            ),
            Some(Hold::Maintenance)
        );
        assert!(plan(&list, &c, std::slice::from_ref(&window), at, &NoSnapshots).is_empty());
        assert_eq!(plan(&list, &c, &[window], 40.0 * 3600.0, &NoSnapshots).len(), 1);
    }

    #[test]
    fn reminders_while_unacknowledged_escalation_once_and_recovery_with_the_downtime() {
        let c = config();
        let mailed = |i: Incident, mail: Vec<(&str, u32, f64)>| IncidentMail {
            incident: i,
            mail: mail.into_iter().map(|(k, s, at)| (k.to_owned(), s, at)).collect(),
        };
        let open = incident(1, "switch", "ping", 1000.0);
        let list = [mailed(open.clone(), vec![(OPENED, 0, 1060.0)])];
        assert!(plan(&list, &c, &[], 1060.0 + 3599.0, &NoSnapshots).is_empty());
        let out = plan(&list, &c, &[], 1060.0 + 3600.0, &NoSnapshots);
        assert_eq!(out.len(), 1);
        assert!(
            out[0].subject.starts_with("[camwatch] Reminder: hq: switch"),
            "{}",
            out[0].subject
        );
        assert_eq!(out[0].covers, [(1, REMINDER.to_owned(), 1)]);
        assert!(
            out[0].message_id.ends_with(".reminder.1@example.com>"),
            "{}",
            out[0].message_id
        );
        // Two hours after the failure: escalation (and the second reminder is not due yet).
        let list = [mailed(open.clone(), vec![(OPENED, 0, 1060.0), (REMINDER, 1, 4660.0)])];
        let out = plan(&list, &c, &[], 1000.0 + 7200.0, &NoSnapshots);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].recipients, ["boss@example.com"]);
        assert!(
            out[0].subject.starts_with("[camwatch] Escalation: "),
            "{}",
            out[0].subject
        );
        // Acknowledged: neither.
        let mut acked = open.clone();
        acked.acknowledged = Some(crate::state::incidents::Acknowledgement {
            at: 1100.0,
            by: "ana".into(),
            note: "on it".into(),
        });
        let list = [mailed(acked, vec![(OPENED, 0, 1060.0)])];
        assert!(plan(&list, &c, &[], 100_000.0, &NoSnapshots).is_empty());
        // Resolved: the recovery, with the downtime from the first failure.
        let mut resolved = open.clone();
        resolved.resolved_at = Some(990.0 + 3600.0);
        let list = [mailed(resolved.clone(), vec![(OPENED, 0, 1060.0)])];
        let out = plan(&list, &c, &[], 5000.0, &NoSnapshots);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].subject,
            "[camwatch] hq: switch (unreachable) recovered after 1 h 00 m"
        );
        assert!(out[0].text.contains("Downtime:  1 h 00 m"), "{}", out[0].text);
        let list = [mailed(resolved, vec![(OPENED, 0, 1060.0), (RESOLVED, 0, 5000.0)])];
        assert!(plan(&list, &c, &[], 6000.0, &NoSnapshots).is_empty(), "once");
    }
}
