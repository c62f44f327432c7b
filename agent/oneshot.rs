//! `camwatch once` and `camwatch probe`: every check run right now, printed, and an exit code a
//! shift-handover script or cron job can act on. No state is read or written: the answer is
//! about this moment only, so hysteresis does not apply.

use std::io::Write;
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::config::{Config, Device};
use crate::exit;
use crate::model::Status;
use crate::output::console;
use crate::schedule::pools::DeviceTurns;
use crate::schedule::{CheckRun, Runner, Turn};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub json: bool,
    /// Record and print what was sent and received.
    pub exchange: bool,
}

/// Runs the checks of `devices` concurrently (bounded by `max_in_flight`), prints them in
/// configuration order, and returns the exit code.
pub async fn run(config: &Config, devices: &[Arc<Device>], options: Options, out: &mut impl Write) -> i32 {
    let runner = Arc::new(Runner::new(config.agent.max_in_flight));
    let mut tasks = JoinSet::new();
    for (d, device) in devices.iter().enumerate() {
        // The checks of one device share one poll: one ONVIF conversation, at most one refused login.
        // and its turns, so one device's checks queue behind each other rather than fill the pool.
        let poll = Arc::new(crate::probe::Poll::default());
        let turns = Arc::new(DeviceTurns::default());
        for (c, spec) in device.checks.iter().enumerate() {
            let (runner, device, spec, poll, turns) = (
                Arc::clone(&runner),
                Arc::clone(device),
                spec.clone(),
                Arc::clone(&poll),
                Arc::clone(&turns),
            );
            tasks.spawn(async move {
                let turn = Turn {
                    turns: &turns,
                    due: None,
                };
                (
                    (d, c),
                    runner.run(&device, &spec, options.exchange, None, &poll, turn).await,
                )
            });
        }
    }
    let mut runs: Vec<((usize, usize), CheckRun)> = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(run) => runs.push(run),
            Err(e) => {
                tracing::error!("a check task died: {e}");
                return exit::RUNTIME;
            }
        }
    }
    runs.sort_by_key(|(order, _)| *order);
    let runs: Vec<(&Device, CheckRun)> = runs
        .into_iter()
        .map(|((d, _), run)| (devices[d].as_ref(), run))
        .collect();
    let printed = if options.json {
        console::print_json(out, &runs, options.exchange)
    } else {
        console::print_table(out, &runs, options.exchange).and_then(|()| {
            if options.exchange {
                not_served(out, &runs)
            } else {
                Ok(())
            }
        })
    };
    if let Err(e) = printed.and_then(|()| out.flush()) {
        // A closed pipe (`camwatch once | head`) is the reader's choice, not our failure.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("cannot write the results: {e}");
            return exit::RUNTIME;
        }
    }
    if runs.iter().any(|(_, r)| r.verdict.status == Status::Failed) {
        exit::CHECK_FAILED
    } else {
        exit::OK
    }
}

/// After `probe`'s table: the checks a device cannot serve (it lacks the MIB or table they read), which
/// say unknown "not supported by this device" on every run, and how to stop asking.
fn not_served(out: &mut impl Write, runs: &[(&Device, CheckRun)]) -> std::io::Result<()> {
    for (device, run) in runs {
        if run.verdict.values["error"] == "unsupported" {
            writeln!(
                out,
                "{}: the {} check cannot be served by this device ({}); to stop asking, list the \
                 checks it serves in [device.snmp] checks",
                device.name, run.verdict.check, run.verdict.summary
            )?;
        }
    }
    Ok(())
}
