//! `[email]`: where fault mail goes (routing by device kind, site, check and owner), how it is
//! sent (SMTP with STARTTLS, implicit TLS or plain to a local relay), and when (grouping window,
//! reminders, escalation, quiet rules). Resolved once here so the notifier never asks "which
//! value wins?".

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::Resolver;
use super::procedures::TimeOfDay;
pub use super::raw::EmailSecurity;
use super::raw::RawEmail;
use super::secret::SecretSource;
use crate::model::{CheckKind, DeviceKind};

#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    pub server: String,
    pub port: u16,
    pub security: EmailSecurity,
    /// Extra CA certificates (PEM) trusted besides the platform's.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub from: String,
    /// Recipients of a fault no route matches.
    pub to: Vec<String>,
    pub routes: Vec<Route>,
    pub escalate_to: Vec<String>,
    pub escalate_after: Duration,
    pub remind_every: Duration,
    pub group_window: Duration,
    /// First wait after a transient failure; doubles per attempt up to [`MAX_RETRY`].
    pub retry_after: Duration,
    /// Deadline of one SMTP conversation; its expiry is a transient failure.
    pub send_timeout: Duration,
    pub quiet: Vec<Quiet>,
    /// The agent's own address as people reach it, for links to device pages.
    pub base_url: Option<String>,
    pub dashboard_url: Option<String>,
    /// The procedure records mailed to `to` as they are made: the shift handover, and the
    /// end-of-day inventory as the daily digest.
    pub procedures: Vec<super::Procedure>,
    /// Reports mailed to `to`: the last month's on the 1st, the last week's on Mondays.
    pub reports: Vec<ReportMail>,
    /// When, in the agent's time zone.
    pub report_time: super::TimeOfDay,
}

/// A report mailed on a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMail {
    /// On the 1st of each month, the month before.
    Monthly,
    /// On Mondays, the ISO week before.
    Weekly,
}

/// Longest wait between two attempts at one message.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);

/// What a route or a quiet rule matches: every key given must match (none given: everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub kind: Option<DeviceKind>,
    pub site: Option<String>,
    pub check: Option<String>,
    pub device: Option<String>,
    pub severity: Option<String>,
}

impl Match {
    pub fn matches(&self, kind: DeviceKind, site: &str, check: &str, device: &str, severity: &str) -> bool {
        self.kind.is_none_or(|k| k == kind)
            && self.site.as_deref().is_none_or(|s| s == site)
            && self.check.as_deref().is_none_or(|c| c == check)
            && self.device.as_deref().is_none_or(|d| d == device)
            && self.severity.as_deref().is_none_or(|s| s == severity)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub when: Match,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quiet {
    pub when: Match,
    /// Quiet only between these times of day (agent time zone; may wrap past midnight).
    pub hours: Option<(TimeOfDay, TimeOfDay)>,
}

impl Quiet {
    /// Whether the rule is in force at `minute_of_day` (0..1440, agent time zone).
    pub fn in_force(&self, minute_of_day: u32) -> bool {
        match self.hours {
            None => true,
            Some((from, to)) => {
                let (from, to) = (from.hour * 60 + from.minute, to.hour * 60 + to.minute);
                if from <= to {
                    (from..to).contains(&minute_of_day)
                } else {
                    minute_of_day >= from || minute_of_day < to
                }
            }
        }
    }
}

/// A mail address as written in the config: `name@domain`, optionally `Name <name@domain>`.
pub fn valid_address(text: &str) -> bool {
    text.parse::<lettre::message::Mailbox>().is_ok()
}

impl Resolver {
    pub(super) fn email(&mut self, raw: Spanned<RawEmail>) -> EmailSettings {
        let span = raw.span();
        let raw = raw.into_inner();
        let security = raw.security.as_ref().map_or(EmailSecurity::Starttls, |s| *s.get_ref());
        let port = raw.port.as_ref().map_or(
            match security {
                EmailSecurity::Starttls => 587,
                EmailSecurity::Tls => 465,
                EmailSecurity::None => 25,
            },
            |p| *p.get_ref(),
        );
        if raw.server.get_ref().trim().is_empty() {
            self.error(
                Some(raw.server.span()),
                "the SMTP server is empty",
                "write the mail server's host name, e.g. server = \"smtp.example.com\"",
            );
        }
        let from = self
            .addresses(std::slice::from_ref(&raw.from), "from")
            .pop()
            .unwrap_or_default();
        let to = self.addresses(&raw.to, "to");
        let escalate_to = self.addresses(&raw.escalate_to, "escalate_to");
        let mut routes = Vec::new();
        for r in &raw.route {
            let route = r.get_ref();
            let to = self.addresses(&route.to, "route recipient");
            if route.to.is_empty() {
                self.error(
                    Some(r.span()),
                    "this [[email.route]] sends to nobody",
                    "add to = [\"team@example.com\"]",
                );
            }
            let check = self.email_check(&route.check);
            routes.push(Route {
                when: Match {
                    kind: route.kind.as_ref().map(|k| *k.get_ref()),
                    site: route.site.clone(),
                    check,
                    device: route.device.as_ref().map(|d| d.get_ref().clone()),
                    severity: None,
                },
                to,
            });
        }
        if raw.to.is_empty() && raw.route.is_empty() {
            self.error(
                Some(span.clone()),
                "[email] has no recipients",
                "add to = [\"maintenance@example.com\"] (and [[email.route]] tables for teams)",
            );
        }
        let mut quiet = Vec::new();
        for q in &raw.quiet {
            let rule = q.get_ref();
            let check = self.email_check(&rule.check);
            if let Some(s) = &rule.severity
                && !crate::vocab::Severity::NAMES.contains(&s.get_ref().as_str())
            {
                self.error(
                    Some(s.span()),
                    format!("unknown severity {:?}", s.get_ref()),
                    format!("use one of {:?}", crate::vocab::Severity::NAMES),
                );
            }
            let hours = rule.hours.as_ref().and_then(|h| {
                let parsed = h
                    .get_ref()
                    .split_once('-')
                    .and_then(|(a, b)| Some((TimeOfDay::parse(a.trim())?, TimeOfDay::parse(b.trim())?)));
                if parsed.is_none() {
                    self.error(
                        Some(h.span()),
                        format!("quiet hours {:?} are not a time range", h.get_ref()),
                        "write them as \"HH:MM-HH:MM\" in the agent's time zone, e.g. \"22:00-06:00\"",
                    );
                }
                parsed
            });
            quiet.push(Quiet {
                when: Match {
                    kind: rule.kind.as_ref().map(|k| *k.get_ref()),
                    site: rule.site.clone(),
                    check,
                    device: None,
                    severity: rule.severity.as_ref().map(|s| s.get_ref().clone()),
                },
                hours,
            });
        }
        let password = self.secret(&raw.password_env, &raw.password_file, "[email]", "password");
        if password.is_some() && raw.username.is_none() {
            self.error(
                raw.password_env
                    .as_ref()
                    .map(Spanned::span)
                    .or(raw.password_file.as_ref().map(Spanned::span)),
                "[email] has a password but no username",
                "add username = \"...\" (the SMTP login)",
            );
        }
        if raw.username.is_some() && password.is_none() {
            self.error(
                raw.username.as_ref().map(Spanned::span),
                "[email] has a username but no password",
                "add password_env = \"VARIABLE\" or password_file = \"/path/to/file\"",
            );
        }
        if !escalate_to.is_empty() && raw.escalate_after.is_none() {
            self.error(
                raw.escalate_to.first().map(Spanned::span),
                "escalate_to is set but escalate_after is not",
                "add escalate_after = \"2h\" (how long a fault may stay unacknowledged)",
            );
        }
        let url = |u: &Option<Spanned<String>>, this: &mut Self| {
            u.as_ref().map(|u| {
                let text = u.get_ref().trim_end_matches('/').to_owned();
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    this.error(
                        Some(u.span()),
                        format!("{:?} is not an http(s) URL", u.get_ref()),
                        "write it like \"http://camwatch.example.com:9810\"",
                    );
                }
                text
            })
        };
        let base_url = url(&raw.base_url, self);
        let dashboard_url = url(&raw.dashboard_url, self);
        let duration = |d: &Option<Spanned<super::raw::HumanDuration>>, default: u64| {
            d.as_ref().map_or(Duration::from_secs(default), |d| d.get_ref().0)
        };
        let procedures = match &raw.procedures {
            None => super::Procedure::ALL.to_vec(),
            Some(list) => list
                .iter()
                .filter_map(|p| {
                    let found = super::Procedure::parse(p.get_ref());
                    if found.is_none() {
                        self.error(
                            Some(p.span()),
                            format!("[email] procedures: {:?} is not a procedure", p.get_ref()),
                            "list \"handover\" and/or \"inventory\", or [] to mail neither",
                        );
                    }
                    found
                })
                .collect(),
        };
        let reports = match &raw.reports {
            None => vec![ReportMail::Monthly, ReportMail::Weekly],
            Some(list) => list
                .iter()
                .filter_map(|r| match r.get_ref().as_str() {
                    "monthly" => Some(ReportMail::Monthly),
                    "weekly" => Some(ReportMail::Weekly),
                    other => {
                        self.error(
                            Some(r.span()),
                            format!("[email] reports: {other:?} is not a report schedule"),
                            "list \"monthly\" (the month before, on the 1st) and/or \"weekly\" (the week before, on Mondays), or []",
                        );
                        None
                    }
                })
                .collect(),
        };
        let report_time = match &raw.report_time {
            None => super::TimeOfDay::new(6, 0),
            Some(t) => super::TimeOfDay::parse(t.get_ref()).unwrap_or_else(|| {
                self.error(
                    Some(t.span()),
                    format!("[email] report_time {:?} is not a time of day", t.get_ref()),
                    "write \"HH:MM\" on a 24-hour clock in the agent's time zone, e.g. \"06:00\"",
                );
                super::TimeOfDay::new(6, 0)
            }),
        };
        let settings = EmailSettings {
            server: raw.server.get_ref().trim().to_owned(),
            port,
            security,
            ca_file: raw.ca_file.map(Spanned::into_inner),
            username: raw.username.map(Spanned::into_inner),
            password,
            from,
            to,
            routes,
            escalate_to,
            escalate_after: duration(&raw.escalate_after, 2 * 3600),
            remind_every: duration(&raw.remind_every, 4 * 3600),
            group_window: duration(&raw.group_window, 60),
            retry_after: duration(&raw.retry_after, 30),
            send_timeout: duration(&raw.send_timeout, 60),
            quiet,
            base_url,
            dashboard_url,
            procedures,
            reports,
            report_time,
        };
        for (value, key) in [
            (&raw.remind_every, "remind_every"),
            (&raw.retry_after, "retry_after"),
            (&raw.send_timeout, "send_timeout"),
        ] {
            if let Some(v) = value
                && v.get_ref().0.is_zero()
            {
                self.error(Some(v.span()), format!("{key} is 0"), "give a duration such as \"4h\"");
            }
        }
        settings
    }

    fn addresses(&mut self, list: &[Spanned<String>], what: &str) -> Vec<String> {
        list.iter()
            .filter_map(|a| {
                if valid_address(a.get_ref()) {
                    Some(a.get_ref().clone())
                } else {
                    self.error(
                        Some(a.span()),
                        format!("{what} {:?} is not a mail address", a.get_ref()),
                        "write it like \"maintenance@example.com\" or \"Maintenance <maintenance@example.com>\"",
                    );
                    None
                }
            })
            .collect()
    }

    fn email_check(&mut self, check: &Option<Spanned<String>>) -> Option<String> {
        let check = check.as_ref()?;
        if CheckKind::parse(check.get_ref()).is_none() {
            self.error(
                Some(check.span()),
                format!("unknown check {:?}", check.get_ref()),
                format!(
                    "use one of {}",
                    CheckKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        Some(check.get_ref().clone())
    }
}
