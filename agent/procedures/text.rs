//! The handover and inventory records as a guard at the desk reads them: a heading per part, one
//! line per item, times on the agent's wall clock.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::procedures::{Handover, Inventory};

fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

fn when(at: f64, tz: Tz) -> String {
    DateTime::<Utc>::from_timestamp(at.floor() as i64, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `rows` as columns padded to their widest cell; the last column is left as it is.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            line.push(' ');
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$} ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn heading(out: &mut String, title: &str, count: usize) {
    let _ = writeln!(out, "\n{title} ({count})");
    if count == 0 {
        out.push_str("  none\n");
    }
}

pub fn handover_text(h: &Handover) -> String {
    let tz = zone(&h.timezone);
    let mut out = String::new();
    let site = if h.site.is_empty() {
        String::new()
    } else {
        format!("  {}", h.site)
    };
    let _ = writeln!(out, "SHIFT HANDOVER{site}  {}", when(h.at, tz));
    let since = match h.shift.previous_handover {
        Some(_) => "since the previous handover",
        None => "no earlier handover: the last 12 hours",
    };
    let _ = writeln!(
        out,
        "Shift: {} to {} ({since})",
        when(h.shift.from, tz),
        when(h.shift.to, tz)
    );
    let _ = writeln!(
        out,
        "Checks run now: {} of {} finished",
        h.checks.finished, h.checks.asked
    );

    heading(&mut out, "FAILING NOW", h.failing.len());
    let rows: Vec<Vec<String>> = h
        .failing
        .iter()
        .map(|f| {
            vec![
                f.state.as_str().to_uppercase(),
                f.device.clone(),
                f.check.clone(),
                format!("since {}", when(f.since, tz)),
                f.summary.clone(),
            ]
        })
        .collect();
    table(&mut out, &rows);

    heading(&mut out, "FAILED AND RECOVERED DURING THE SHIFT", h.recovered.len());
    let rows: Vec<Vec<String>> = h
        .recovered
        .iter()
        .map(|r| {
            let from = r.failed_at.map_or("before the shift".to_owned(), |at| when(at, tz));
            vec![
                r.device.clone(),
                r.check.clone(),
                format!("{} {from}, recovered {}", r.state, when(r.recovered_at, tz)),
                r.summary.clone(),
            ]
        })
        .collect();
    table(&mut out, &rows);

    heading(&mut out, "CHANGES", h.changes.len());
    let rows: Vec<Vec<String>> = h
        .changes
        .iter()
        .map(|c| vec![when(c.at, tz), c.device.clone(), c.kind.clone(), c.summary.clone()])
        .collect();
    table(&mut out, &rows);

    heading(&mut out, "RETENTION", h.retention.len());
    let rows: Vec<Vec<String>> = h
        .retention
        .iter()
        .map(|r| {
            let cameras = if r.cameras.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = r
                    .cameras
                    .iter()
                    .map(|c| format!("{} {}", c.camera, if c.compliant { "ok" } else { "NOT COMPLIANT" }))
                    .collect();
                format!(" [{}]", list.join(", "))
            };
            vec![
                r.state.as_str().to_uppercase(),
                r.device.clone(),
                format!("{}{cameras}", r.summary.as_deref().unwrap_or("not checked yet")),
            ]
        })
        .collect();
    table(&mut out, &rows);
    out
}

pub fn inventory_text(i: &Inventory) -> String {
    let tz = zone(&i.timezone);
    let mut out = String::new();
    let site = if i.site.is_empty() {
        String::new()
    } else {
        format!("  {}", i.site)
    };
    let _ = writeln!(out, "END-OF-DAY INVENTORY{site}  {} (at {})", i.day, when(i.at, tz));
    let _ = writeln!(out, "Devices: {} expected, {} seen today\n", i.expected, i.seen);
    let mut rows = vec![
        ["KIND", "EXPECTED", "SEEN", "OK", "WARNING", "FAILED", "UNKNOWN"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(i.kinds.iter().map(|k| {
        vec![
            k.kind.as_str().to_owned(),
            k.expected.to_string(),
            k.seen.to_string(),
            k.ok.to_string(),
            k.warning.to_string(),
            k.failed.to_string(),
            k.unknown.to_string(),
        ]
    }));
    table(&mut out, &rows);
    heading(&mut out, "NOT SEEN TODAY", i.not_seen.len());
    let rows: Vec<Vec<String>> = i
        .not_seen
        .iter()
        .map(|n| {
            vec![
                n.device.clone(),
                n.kind.as_str().to_owned(),
                n.state.as_str().to_owned(),
                n.last_seen
                    .map_or("never seen".to_owned(), |at| format!("last seen {}", when(at, tz))),
            ]
        })
        .collect();
    table(&mut out, &rows);
    out
}
