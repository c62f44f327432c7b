//! What `camwatch once` and `camwatch probe` print: an aligned table for people, or one JSON
//! object per line for scripts (shift-handover checks, cron jobs).

use std::io::{self, Write};

use serde::Serialize;

use crate::config::Device;
use crate::model::Status;
use crate::schedule::CheckRun;
use crate::state::incidents::Incident;
use crate::vocab::local_time;

#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    device: &'a str,
    check: &'a str,
    status: Status,
    summary: &'a str,
    values: &'a serde_json::Value,
    duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exchange: Option<&'a [String]>,
}

pub fn print_json(out: &mut impl Write, runs: &[(&Device, CheckRun)], with_exchange: bool) -> io::Result<()> {
    for (device, run) in runs {
        let line = JsonLine {
            device: &device.name,
            check: run.verdict.check.as_str(),
            status: run.verdict.status,
            summary: &run.verdict.summary,
            values: &run.verdict.values,
            duration_seconds: run.duration.as_secs_f64(),
            exchange: with_exchange.then_some(run.transcript.as_slice()),
        };
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}

pub fn print_table(out: &mut impl Write, runs: &[(&Device, CheckRun)], with_exchange: bool) -> io::Result<()> {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(device, run)| {
            vec![
                device.name.clone(),
                run.verdict.check.as_str().to_owned(),
                run.verdict.status.as_str().to_uppercase(),
                format!("{:.3}s", run.duration.as_secs_f64()),
                run.verdict.summary.clone(),
            ]
        })
        .collect();
    let table = Table::new(&["DEVICE", "CHECK", "STATUS", "TIME", "SUMMARY"], &rows, &[3]);
    writeln!(out, "{}", table.header)?;
    for (row, (_, run)) in rows.iter().zip(runs) {
        writeln!(out, "{}", table.row(row))?;
        if with_exchange {
            for line in &run.transcript {
                writeln!(out, "    {line}")?;
            }
        }
    }
    let count = |s: Status| runs.iter().filter(|(_, r)| r.verdict.status == s).count();
    writeln!(
        out,
        "\n{} checks: {} ok, {} warning, {} failed, {} unknown",
        runs.len(),
        count(Status::Ok),
        count(Status::Warning),
        count(Status::Failed),
        count(Status::Unknown)
    )
}

/// Columns aligned to their widest cell; the last column is left as it is (summaries are long).
struct Table {
    widths: Vec<usize>,
    right: Vec<usize>,
    header: String,
}

impl Table {
    /// `right`: the columns aligned right (figures).
    fn new(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> Table {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut table = Table {
            widths,
            right: right.to_vec(),
            header: String::new(),
        };
        table.header = table.row(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
        table
    }

    /// The header and every row, a line each.
    fn render(&self, rows: &[Vec<String>]) -> String {
        let mut out = format!("{}\n", self.header);
        for row in rows {
            out.push_str(&self.row(row));
            out.push('\n');
        }
        out
    }

    fn row(&self, row: &[String]) -> String {
        let last = row.len().saturating_sub(1);
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| match (i == last, self.right.contains(&i)) {
                (true, _) => cell.clone(),
                (false, true) => format!("{cell:>w$}", w = self.widths[i]),
                (false, false) => format!("{cell:<w$}", w = self.widths[i]),
            })
            .collect();
        cells.join("  ")
    }
}

/// `camwatch incidents`: one line per incident, times in the agent's timezone.
pub fn incidents_table(incidents: &[Incident], timezone: chrono_tz::Tz, now: f64) -> String {
    if incidents.is_empty() {
        return "no incidents\n".to_owned();
    }
    let when = |t: f64| local_time(t, timezone);
    let rows: Vec<Vec<String>> = incidents
        .iter()
        .map(|i| {
            let state = match (&i.resolved_at, &i.acknowledged) {
                (Some(_), _) => "resolved".to_owned(),
                (None, Some(a)) => format!("ack {}", a.by),
                (None, None) => "OPEN".to_owned(),
            };
            let summary = match i.joined {
                Some(root) => format!("(part of incident {root}) {}", i.summary),
                None => i.summary.clone(),
            };
            vec![
                i.id.to_string(),
                state,
                i.device.clone(),
                i.check.clone(),
                when(i.opened_at),
                crate::judge::retention::span((i.resolved_at.unwrap_or(now) - i.opened_at) as i64),
                summary,
            ]
        })
        .collect();
    Table::new(
        &["ID", "STATE", "DEVICE", "CHECK", "OPENED", "FOR", "SUMMARY"],
        &rows,
        &[0, 5],
    )
    .render(&rows)
}

/// `camwatch maintenance list`: one line per window, as `GET /api/v1/maintenance` lists them.
pub fn maintenance_table(windows: &[serde_json::Value], timezone: chrono_tz::Tz) -> String {
    if windows.is_empty() {
        return "no maintenance windows now or in the next 7 days\n".to_owned();
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let rows: Vec<Vec<String>> = windows
        .iter()
        .map(|w| {
            let target = match (w["target"].get("device"), w["target"].get("site")) {
                (Some(d), _) => text(d),
                (_, Some(s)) => format!("site {}", text(s)),
                _ => String::new(),
            };
            vec![
                w["id"].as_u64().map_or_else(|| "-".to_owned(), |i| i.to_string()),
                if w["active"] == true { "NOW" } else { "later" }.to_owned(),
                target,
                local_time(w["start"].as_f64().unwrap_or_default(), timezone),
                local_time(w["end"].as_f64().unwrap_or_default(), timezone),
                w["by"]
                    .as_str()
                    .map_or_else(|| format!("({})", text(&w["source"])), str::to_owned),
                text(&w["reason"]),
            ]
        })
        .collect();
    Table::new(&["ID", "WHEN", "TARGET", "FROM", "UNTIL", "BY", "REASON"], &rows, &[0]).render(&rows)
}

/// `camwatch outbox`: messages waiting (with their attempts and last error), then dead letters.
pub fn outbox_table(
    pending: &[crate::state::outbox::OutboxRow],
    dead: &[crate::state::outbox::OutboxRow],
    timezone: chrono_tz::Tz,
) -> String {
    let when = |t: f64| {
        chrono::DateTime::from_timestamp(t as i64, 0)
            .map(|d| d.with_timezone(&timezone).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    let mut out = String::new();
    for (title, rows, next) in [("pending", pending, true), ("dead letters", dead, false)] {
        if rows.is_empty() {
            out.push_str(&format!("{title}: none\n"));
            continue;
        }
        out.push_str(&format!("{title}: {}\n", rows.len()));
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.state.clone(),
                    when(r.created_at),
                    if next { when(r.next_attempt_at) } else { "-".to_owned() },
                    r.attempts.to_string(),
                    if next {
                        r.recipients.join(", ")
                    } else {
                        r.undelivered_to()
                    },
                    r.subject.clone(),
                    if next {
                        r.last_error.clone().unwrap_or_default()
                    } else {
                        r.why_undelivered()
                    },
                ]
            })
            .collect();
        let table = Table::new(
            &["STATE", "QUEUED", "NEXT TRY", "TRIES", "TO", "SUBJECT", "LAST ERROR"],
            &cells,
            &[3],
        );
        out.push_str(&format!("{}\n", table.header));
        for row in &cells {
            out.push_str(&table.row(row));
            out.push('\n');
        }
    }
    out
}
