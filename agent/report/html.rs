//! The report as one self-contained HTML file: inline CSS (with a print stylesheet, so a browser
//! prints it cleanly to PDF) and inline SVG charts, no script and nothing fetched. Every rule is
//! shown with its clause, so the report reads as evidence.

use std::fmt::Write;

use chrono_tz::Tz;

use super::{Report, Unreachable};
use crate::config::presets::percent;
use crate::judge::retention::span;

/// Text made safe inside HTML (element content and quoted attribute values).
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn when(t: f64, tz: Tz) -> String {
    crate::vocab::local_time(t, tz)
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;color:#1d1d1f;margin:2em auto;max-width:60em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f6}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1b7f3a}.bad{color:#b3261e;font-weight:600}.muted{color:#666}.clause{font-style:italic;color:#444}
svg{display:block}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-before:auto;break-after:avoid}table,svg{break-inside:avoid}
@page{margin:1.5cm;@top-center{content:\"camwatch report\"}@bottom-right{content:counter(page) \" / \" counter(pages)}}}
";

/// A horizontal bar: the share `value` of 0..1 filled, with a mark at `target`. (Attribute
/// values are quoted: unquoted, `fill=#eee/>` reads as the colour `#eee/`, which is black.)
fn bar(value: Option<f64>, target: f64) -> String {
    let Some(v) = value else {
        return "<span class=muted>no data</span>".to_owned();
    };
    let colour = if v >= target { "#1b7f3a" } else { "#b3261e" };
    // The scale starts ten error budgets below 100 % (99 % for a 99.9 % target), so the
    // difference between 99.4 % and the target shows; a target of 100 % is drawn from 0.
    let low = if target < 1.0 {
        (1.0 - 10.0 * (1.0 - target)).max(0.0)
    } else {
        0.0
    };
    let x = |r: f64| 160.0 * ((r - low) / (1.0 - low)).clamp(0.0, 1.0);
    format!(
        "<svg width=\"160\" height=\"12\" role=\"img\" aria-label=\"{p}\"><rect width=\"160\" height=\"12\" fill=\"#eee\"/><rect width=\"{w:.1}\" height=\"12\" fill=\"{colour}\"/><line x1=\"{t:.1}\" x2=\"{t:.1}\" y1=\"0\" y2=\"12\" stroke=\"#000\"/></svg>",
        p = percent(v),
        w = x(v),
        t = x(target)
    )
}

/// A recorder's interruptions on the period's time line.
fn timeline(report: &Report, spans: &[(f64, f64)]) -> String {
    let (from, to) = (report.period.from, report.period.to);
    let x = |t: f64| 600.0 * ((t - from) / (to - from)).clamp(0.0, 1.0);
    let mut svg = String::from(
        "<svg width=\"600\" height=\"16\" role=\"img\" aria-label=\"interruptions\"><rect width=\"600\" height=\"16\" fill=\"#dff0e3\"/>",
    );
    for &(s, e) in spans {
        // Short interruptions are drawn at least a pixel wide, or a reboot would not show.
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" width=\"{:.1}\" height=\"16\" fill=\"#b3261e\"/>",
            x(s),
            (x(e) - x(s)).max(1.0)
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(report: &Report) -> String {
    let tz: Tz = report.timezone.parse().unwrap_or(chrono_tz::UTC);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>camwatch report {p}: {s}</title><style>{STYLE}</style></head><body>",
        p = esc(&report.period.label),
        s = esc(&report.site)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p>Period <b>{}</b>: {} to {} ({}). Generated {}. Unreachable time (a device hidden behind a failed parent) counts {}; maintenance windows are left out.</p>",
        esc(&report.site),
        esc(&report.period.label),
        when(report.period.from, tz),
        when(report.period.to, tz),
        esc(&report.timezone),
        when(report.generated_at, tz),
        match report.unreachable {
            Unreachable::Down => "as down",
            Unreachable::Excluded => "not at all",
        }
    );

    h.push_str("<h2>Availability</h2><table><tr><th>Device</th><th>Kind</th><th>Site</th><th class=n>Available</th><th></th><th class=n>Down</th><th class=n>Observed</th><th class=n>Budget left</th></tr>");
    for d in &report.devices {
        let class = match d.met {
            Some(true) => "ok",
            Some(false) => "bad",
            None => "muted",
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n {class}\">{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&d.device),
            esc(&d.kind),
            esc(&d.site),
            d.availability.map_or_else(|| "-".to_owned(), percent),
            bar(d.availability, d.target),
            span(d.down_seconds as i64),
            // How much of the period was observed: a figure of a few days decides little.
            d.observed.map_or_else(|| "-".to_owned(), percent),
            if d.budget_remaining_seconds < 0.0 {
                format!("over by {}", span(-d.budget_remaining_seconds as i64))
            } else {
                span(d.budget_remaining_seconds as i64)
            }
        );
    }
    h.push_str("</table>");
    let mut clauses: Vec<&str> = report.devices.iter().map(|d| d.clause.as_str()).collect();
    clauses.sort_unstable();
    clauses.dedup();
    for clause in clauses {
        let _ = write!(h, "<p class=clause>Rule: {}</p>", esc(clause));
    }
    for (title, groups) in [("By kind", &report.kinds), ("By site", &report.sites)] {
        let _ = write!(
            h,
            "<h3>{title}</h3><table><tr><th>Name</th><th class=n>Devices</th><th class=n>Available</th><th class=n>Under target</th></tr>"
        );
        for g in groups {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                esc(&g.name),
                g.devices,
                g.availability.map_or_else(|| "-".to_owned(), percent),
                g.devices_under_target
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Recorder interruptions</h2>");
    if report.recorders.is_empty() {
        h.push_str("<p class=muted>No recorders with a 24-hour duty.</p>");
    }
    for r in &report.recorders {
        let spans: Vec<(f64, f64)> = r
            .interruptions
            .iter()
            .map(|i| (i.start, i.end.unwrap_or(report.period.to.min(report.generated_at))))
            .collect();
        let _ = write!(
            h,
            "<h3>{}</h3><p>{} interruption{}, {} in all, the longest {}.</p>{}",
            esc(&r.device),
            r.count,
            if r.count == 1 { "" } else { "s" },
            span(r.total_seconds as i64),
            span(r.longest_seconds as i64),
            timeline(report, &spans)
        );
        if !r.interruptions.is_empty() {
            h.push_str("<table><tr><th>From</th><th>To</th><th>Cause</th></tr>");
            for i in &r.interruptions {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    when(i.start, tz),
                    i.end.map_or_else(|| "going on".to_owned(), |e| when(e, tz)),
                    i.causes.iter().map(|c| c.words()).collect::<Vec<_>>().join(", ")
                );
            }
            h.push_str("</table>");
        }
    }

    let f = &report.incidents;
    let _ = write!(
        h,
        "<h2>Incidents</h2><p>{} opened, {} resolved, {} still open; {} acknowledged. Mean time to acknowledge: {}. Mean time to repair: {}.</p>",
        f.opened,
        f.resolved,
        f.still_open,
        f.acknowledged,
        f.mean_acknowledge_seconds
            .map_or_else(|| "-".to_owned(), |s| span(s as i64)),
        f.mean_repair_seconds.map_or_else(|| "-".to_owned(), |s| span(s as i64))
    );
    if !f.list.is_empty() {
        h.push_str("<table><tr><th>#</th><th>Device</th><th>Check</th><th>Opened</th><th>Resolved</th><th>Acknowledged</th><th>Fault</th></tr>");
        for i in &f.list {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.id,
                esc(&i.device),
                esc(&i.check),
                when(i.opened_at, tz),
                i.resolved_at.map_or_else(|| "open".to_owned(), |r| when(r, tz)),
                i.acknowledged
                    .as_ref()
                    .map_or_else(String::new, |a| format!("{} by {}", when(a.at, tz), esc(&a.by))),
                esc(&i.summary)
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Footage retention</h2>");
    if report.retention.is_empty() {
        h.push_str("<p class=muted>No retention measured in this period.</p>");
    } else {
        h.push_str("<table><tr><th>Recorder</th><th>Site</th><th>Camera</th><th class=n>Required</th><th class=n>Contiguous</th><th></th><th class=n>Gaps</th><th>Measured</th></tr>");
        for c in &report.retention {
            let share = (c.required_seconds > 0.0).then(|| (c.contiguous_seconds / c.required_seconds).min(1.0));
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=\"n {}\">{}</td><td>{}</td><td class=n>{} ({})</td><td>{}</td></tr>",
                esc(&c.device),
                esc(&c.site),
                esc(&c.camera),
                span(c.required_seconds as i64),
                if c.compliant { "ok" } else { "bad" },
                span(c.contiguous_seconds as i64),
                bar(share, 1.0),
                c.gaps,
                span(c.gap_seconds as i64),
                when(c.measured_at, tz)
            );
        }
        h.push_str("</table>");
        let mut clauses: Vec<&str> = report.retention.iter().map(|c| c.clause.as_str()).collect();
        clauses.sort_unstable();
        clauses.dedup();
        for clause in clauses {
            let _ = write!(h, "<p class=clause>Rule: {}</p>", esc(clause));
        }
    }

    h.push_str("<h2>Backups</h2>");
    if report.backups.is_empty() {
        h.push_str("<p class=muted>No backup checks in this period.</p>");
    }
    for b in &report.backups {
        let _ = write!(
            h,
            "<p><b>{}</b>: {} ({}, {}); failing for {} of the period.</p>",
            esc(&b.device),
            esc(&b.summary),
            esc(&b.status),
            when(b.measured_at, tz),
            span(b.failed_seconds as i64)
        );
    }

    h.push_str("<h2>Procedures</h2><table><tr><th>Procedure</th><th class=n>Records</th><th>Made at</th></tr>");
    for p in &report.procedures {
        let times: Vec<String> = p.times.iter().map(|t| when(*t, tz)).collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=n>{}</td><td>{}</td></tr>",
            esc(&p.procedure),
            p.count,
            if times.is_empty() {
                "-".to_owned()
            } else {
                times.join(", ")
            }
        );
    }
    h.push_str("</table><h2>Changes and replacements</h2>");
    if report.changes.is_empty() {
        h.push_str("<p class=muted>None.</p>");
    } else {
        h.push_str("<table><tr><th>When</th><th>Device</th><th>What</th></tr>");
        for c in &report.changes {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(c.at, tz),
                esc(&c.device),
                esc(&c.summary)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}
