//! The landing page: every device, its checks and their states, as plain server-rendered HTML
//! that works without JavaScript (control-room PCs are often locked down).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::config::Config;
use crate::model::State;
use crate::state::CheckStatus;
use crate::state::snapshots::{Kept, Which, segment};
use crate::state::store_health::StoreCondition;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn when(timestamp: Option<f64>, tz: chrono_tz::Tz) -> String {
    timestamp
        .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

/// `pictures`: the kept snapshots of each camera (see `state::snapshots`); `dead`: notifications
/// refused for good, which someone must read (the faults they were about were never announced);
/// `store`: whether the state store writes (a banner says so when it cannot).
pub fn render(
    config: &Config,
    checks: &[CheckStatus],
    pictures: &BTreeMap<String, Kept>,
    dead: &[crate::state::outbox::OutboxRow],
    store: Option<&StoreCondition>,
) -> String {
    let tz = config.agent.timezone;
    let count = |s: State| checks.iter().filter(|c| c.state() == s).count();
    let title = if config.agent.site.is_empty() {
        "camwatch".to_owned()
    } else {
        format!("camwatch: {}", config.agent.site)
    };
    let mut html = String::with_capacity(8 * 1024);
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}}
th{{background:#f4f4f4}}.state{{font-weight:600;text-transform:uppercase;font-size:.85em}}
.pictures{{display:flex;flex-wrap:wrap;gap:1rem}}figure{{margin:0}}img{{width:320px;height:auto;border:1px solid #ccc}}
.ok{{color:#17692c}}.warning{{color:#8a5a00}}.failed{{color:#b00020}}.unreachable{{color:#6a3d9a}}.unknown{{color:#666}}
</style></head><body>
<h1>{title}</h1>
<p>{ok} ok · {warning} warning · {failed} failed · {unreachable} unreachable · {unknown} unknown
 — <a href="/metrics">metrics</a></p>
{store}{dead}<table><thead><tr><th>Device</th><th>Kind</th><th>Site / room</th><th>Check</th><th>State</th><th>Since</th><th>Last run</th><th>Summary</th></tr></thead><tbody>
"#,
        title = escape(&title),
        ok = count(State::Ok),
        warning = count(State::Warning),
        failed = count(State::Failed),
        unreachable = count(State::Unreachable),
        unknown = count(State::Unknown),
        dead = dead_letters(dead, tz),
        store = store.map(|s| store_banner(s, tz)).unwrap_or_default(),
    );
    for device in &config.devices {
        let place = [device.site.as_str(), device.room.as_str(), device.location.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        for (n, check) in checks.iter().filter(|c| c.device == device.name).enumerate() {
            let state = check.state();
            // The first row of a device is its anchor: mail links to `/#device-NAME`.
            let anchor = if n == 0 {
                format!(r#" id="device-{}""#, escape(&segment(&device.name)))
            } else {
                String::new()
            };
            let _ = writeln!(
                html,
                r#"<tr{anchor}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="state {state}">{state}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&device.name),
                device.kind.as_str(),
                escape(&place),
                check.check,
                when(Some(check.since), tz),
                when(check.last_run, tz),
                escape(check.verdict.as_ref().map_or("not run yet", |v| v.summary.as_str())),
            );
        }
    }
    html.push_str("</tbody></table>\n");
    pictures_section(&mut html, config, pictures, tz);
    html.push_str("</body></html>\n");
    html
}

/// What a person must know of the store: that it cannot write (since when, why, what waits),
/// or that rows were given up since the agent started.
fn store_banner(store: &StoreCondition, tz: chrono_tz::Tz) -> String {
    if let (Some(since), Some(text)) = (store.cannot_write_since, store.describe()) {
        return format!(
            "<h2 class=\"failed\" id=\"state-store\">The state store cannot write (since {})</h2>\n<p>{}</p>\n",
            when(Some(since), tz),
            escape(&text)
        );
    }
    if store.shed_rows > 0 {
        return format!(
            "<p class=\"warning\" id=\"state-store\">The state store could not write for a while: {} rows were given up since camwatch started.</p>\n",
            store.shed_rows
        );
    }
    String::new()
}

fn dead_letters(dead: &[crate::state::outbox::OutboxRow], tz: chrono_tz::Tz) -> String {
    if dead.is_empty() {
        return String::new();
    }
    let mut html = format!(
        "<h2 class=\"failed\">Undelivered notifications ({})</h2>\n<p>The mail server refused these for good (see <code>camwatch outbox</code>).</p>\n<table><thead><tr><th>Queued</th><th>To</th><th>Subject</th><th>Error</th></tr></thead><tbody>\n",
        dead.len()
    );
    for d in dead {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(Some(d.created_at), tz),
            escape(&d.undelivered_to()),
            escape(&d.subject),
            escape(&d.why_undelivered())
        );
    }
    html.push_str("</tbody></table>\n");
    html
}

/// The latest good and failing picture of each configured camera that has one. The `?t=` makes
/// the page's 30 s refresh load a new picture when there is one, and only then.
fn pictures_section(html: &mut String, config: &Config, pictures: &BTreeMap<String, Kept>, tz: chrono_tz::Tz) {
    let shown: Vec<(&str, Kept)> = config
        .devices
        .iter()
        .filter_map(|d| Some((d.name.as_str(), *pictures.get(&d.name)?)))
        .collect();
    if shown.is_empty() {
        return;
    }
    html.push_str("<h2>Pictures</h2>\n<div class=\"pictures\">\n");
    for (device, kept) in shown {
        for (which, at, what) in [
            (Which::Ok, kept.ok, "last good picture"),
            (Which::Failed, kept.failed, "last picture with a problem"),
        ] {
            let Some(at) = at else { continue };
            let src = format!("/snapshots/{}/{}?t={}", segment(device), which.file_name(), at as i64);
            let _ = writeln!(
                html,
                r#"<figure><a href="{src}"><img src="{src}" alt="{what} of {name}" loading="lazy"></a><figcaption>{name}: {what}, {when}</figcaption></figure>"#,
                name = escape(device),
                when = when(Some(at), tz),
            );
        }
    }
    html.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        let config = crate::config::parse(
            "t.toml",
            "[[device]]\nname = \"<script>x</script>\"\nkind = \"camera\"\naddress = \"192.0.2.1\"\n",
        )
        .unwrap();
        let hub = crate::state::Hub::new(None, Default::default());
        hub.sync(&config, 0.0);
        let html = render(&config, &hub.snapshot(), &BTreeMap::new(), &[], None);
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("not run yet"));
        assert!(!html.contains("<img"), "no pictures kept, none shown");
    }

    #[test]
    fn kept_pictures_are_shown_with_safe_links() {
        let config = crate::config::parse(
            "t.toml",
            "[[device]]\nname = \"gate/\\\"1\\\"\"\nkind = \"camera\"\naddress = \"192.0.2.1\"\n",
        )
        .unwrap();
        let name = config.devices[0].name.clone();
        let pictures = BTreeMap::from([
            (
                name,
                Kept {
                    ok: Some(1_800_000_000.0),
                    failed: None,
                },
            ),
            ("not configured".to_owned(), Kept::default()),
        ]);
        let html = render(&config, &[], &pictures, &[], None);
        assert!(
            html.contains(r#"<img src="/snapshots/gate%2F%221%22/latest-ok.jpg?t=1800000000" alt="last good picture of gate/&quot;1&quot;""#),
            "{html}"
        );
        assert!(!html.contains("latest-failed.jpg"));
        assert!(!html.contains("not configured"));
    }

    #[test]
    fn a_store_that_cannot_write_is_a_banner_with_its_reason() {
        let config = crate::config::parse("t.toml", "").unwrap();
        let full = StoreCondition {
            cannot_write_since: Some(1_800_000_000.0),
            reason: Some("the filesystem holding /var/lib/camwatch is full".into()),
            backlog_rows: 42,
            ..StoreCondition::default()
        };
        let html = render(&config, &[], &BTreeMap::new(), &[], Some(&full));
        assert!(
            html.contains("The state store cannot write (since 2027-01-15 08:00:00 UTC)"),
            "{html}"
        );
        assert!(html.contains("the filesystem holding /var/lib/camwatch is full. 42 rows waiting in memory"));
        let writes = StoreCondition::default();
        assert!(!render(&config, &[], &BTreeMap::new(), &[], Some(&writes)).contains("state-store"));
    }
}
