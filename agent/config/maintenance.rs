//! `[[maintenance]]`: planned work windows, one-off or recurring, on a device or a site.

use toml::Spanned;

use super::raw::RawMaintenance;
use super::{Device, Resolver};
use crate::maintenance::{Rule, Target, When, parse_cron, parse_start};

impl Resolver {
    pub(super) fn maintenance(
        &mut self,
        raw: &[Spanned<RawMaintenance>],
        devices: &[std::sync::Arc<Device>],
        tz: chrono_tz::Tz,
    ) -> Vec<Rule> {
        let mut rules = Vec::new();
        for (n, table) in raw.iter().enumerate() {
            let t = table.get_ref();
            let what = format!("[[maintenance]] #{}", n + 1);
            let target = match (&t.device, &t.site) {
                (Some(d), None) => {
                    if !devices.iter().any(|x| &x.name == d.get_ref()) {
                        self.error(
                            Some(d.span()),
                            format!("{what}: device {:?} is not a configured device", d.get_ref()),
                            "name one of the [[device]] names, or use site = \"...\"",
                        );
                    }
                    Target::Device(d.get_ref().clone())
                }
                (None, Some(s)) => {
                    if !devices.iter().any(|x| &x.site == s.get_ref()) {
                        self.error(
                            Some(s.span()),
                            format!("{what}: no device is at site {:?}", s.get_ref()),
                            "use a site as the devices (or [agent] site) name it",
                        );
                    }
                    Target::Site(s.get_ref().clone())
                }
                _ => {
                    self.error(
                        Some(table.span()),
                        format!("{what} needs either device or site"),
                        "write device = \"NAME\" for one device, or site = \"NAME\" for every device of a site",
                    );
                    continue;
                }
            };
            let when = match (&t.start, &t.cron) {
                (Some(start), None) => match parse_start(start.get_ref(), tz) {
                    Some(at) => When::Once(at.timestamp() as f64),
                    None => {
                        self.error(
                            Some(start.span()),
                            format!("{what}: start {:?} is not a date and time", start.get_ref()),
                            "write \"2026-12-01 22:00\" (the agent's time zone) or RFC 3339 such as \"2026-12-01T22:00:00+01:00\"",
                        );
                        continue;
                    }
                },
                (None, Some(cron)) => match parse_cron(cron.get_ref()) {
                    Ok(c) => When::Cron(Box::new(c), tz),
                    Err(e) => {
                        self.error(
                            Some(cron.span()),
                            format!("{what}: cron {:?} is not a cron pattern: {e}", cron.get_ref()),
                            "write minute hour day-of-month month day-of-week, e.g. \"0 3 * * SUN\" for Sundays at 03:00",
                        );
                        continue;
                    }
                },
                _ => {
                    self.error(
                        Some(table.span()),
                        format!("{what} needs either start (once) or cron (recurring)"),
                        "write start = \"2026-12-01 22:00\", or cron = \"0 3 * * SUN\" for a window that recurs",
                    );
                    continue;
                }
            };
            let seconds = t.duration.get_ref().0.as_secs_f64();
            if seconds <= 0.0 || seconds > 31.0 * 86_400.0 {
                self.error(
                    Some(t.duration.span()),
                    format!("{what}: duration must be more than zero and at most 31 days"),
                    "write how long the work takes, e.g. \"2h\"",
                );
            }
            if t.reason.get_ref().trim().is_empty() {
                self.error(
                    Some(t.reason.span()),
                    format!("{what}: reason is empty"),
                    "say what the work is (it is shown while the window is open)",
                );
            }
            rules.push(Rule {
                target,
                when,
                seconds,
                reason: t.reason.get_ref().clone(),
            });
        }
        rules
    }
}
