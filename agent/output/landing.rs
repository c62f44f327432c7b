//! The landing page: every device, its checks and their states, as plain server-rendered HTML
//! that works without JavaScript (control-room PCs are often locked down).

use std::fmt::Write;

use crate::config::Config;
use crate::model::State;
use crate::state::CheckStatus;

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

fn when(timestamp: Option<f64>, tz: chrono_tz::Tz) -> String {
    timestamp
        .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

pub fn render(config: &Config, checks: &[CheckStatus]) -> String {
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
.ok{{color:#17692c}}.warning{{color:#8a5a00}}.failed{{color:#b00020}}.unreachable{{color:#6a3d9a}}.unknown{{color:#666}}
</style></head><body>
<h1>{title}</h1>
<p>{ok} ok · {warning} warning · {failed} failed · {unreachable} unreachable · {unknown} unknown
 — <a href="/metrics">metrics</a></p>
<table><thead><tr><th>Device</th><th>Kind</th><th>Site / room</th><th>Check</th><th>State</th><th>Since</th><th>Last run</th><th>Summary</th></tr></thead><tbody>
"#,
        title = escape(&title),
        ok = count(State::Ok),
        warning = count(State::Warning),
        failed = count(State::Failed),
        unreachable = count(State::Unreachable),
        unknown = count(State::Unknown),
    );
    for device in &config.devices {
        let place = [device.site.as_str(), device.room.as_str(), device.location.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        for check in checks.iter().filter(|c| c.device == device.name) {
            let state = check.state();
            let _ = writeln!(
                html,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="state {state}">{state}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
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
    html.push_str("</tbody></table>\n</body></html>\n");
    html
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
        let html = render(&config, &hub.snapshot());
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("not run yet"));
    }
}
