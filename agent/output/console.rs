//! What `camwatch once` and `camwatch probe` print: an aligned table for people, or one JSON
//! object per line for scripts (shift-handover checks, cron jobs).

use std::io::{self, Write};

use serde::Serialize;

use crate::config::Device;
use crate::model::Status;
use crate::schedule::CheckRun;

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
    let rows: Vec<[String; 5]> = runs
        .iter()
        .map(|(device, run)| {
            [
                device.name.clone(),
                run.verdict.check.as_str().to_owned(),
                run.verdict.status.as_str().to_uppercase(),
                format!("{:.3}s", run.duration.as_secs_f64()),
                run.verdict.summary.clone(),
            ]
        })
        .collect();
    let header = ["DEVICE", "CHECK", "STATUS", "TIME", "SUMMARY"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let write_row = |out: &mut dyn Write, row: &[String; 5]| -> io::Result<()> {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    write_row(out, &header)?;
    for (row, (_, run)) in rows.iter().zip(runs) {
        write_row(out, row)?;
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
