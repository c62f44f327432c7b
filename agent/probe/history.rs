//! The history "probe": what the state store remembers of a device (its ping states, reboots,
//! recording stops), for the checks judged on a device's record rather than on one answer. It
//! reads the agent's own database, never the device, with a read-only connection of its own so
//! the store's writer is never waited on.

use std::path::Path;

use super::{ProbeContext, ProbeError, ProbeErrorKind};
use crate::availability::History;
use crate::config::AvailabilitySpec;
use crate::maintenance::Rule;

/// The longest availability window: a month.
pub const LONGEST_WINDOW_SECONDS: f64 = 30.0 * 86_400.0;

/// Reads a device's history from the store file at `path`, for (name, site), with the
/// maintenance `rules` that cover it, over `[from, to]`. The state store provides it (the probes
/// sit below the store and do not know its schema); it is handed in by whoever builds the probes.
pub type ReadHistory =
    fn(path: &Path, device: (&str, &str), rules: &[Rule], from: f64, to: f64) -> Result<History, String>;

/// The store reader the probes were given, if any (none: no availability check can run).
#[derive(Debug, Default)]
pub struct HistoryReader {
    read: Option<ReadHistory>,
}

impl HistoryReader {
    pub fn new(read: ReadHistory) -> Self {
        Self { read: Some(read) }
    }

    pub async fn probe(&self, spec: &AvailabilitySpec, ctx: &mut ProbeContext<'_>) -> Result<History, ProbeError> {
        let read = self.read.ok_or_else(|| {
            ProbeError::new(
                ProbeErrorKind::Agent,
                "this agent was built without a state store to read history from",
            )
        })?;
        read_history(read, spec, ctx).await
    }
}

async fn read_history(
    read: ReadHistory,
    spec: &AvailabilitySpec,
    ctx: &mut ProbeContext<'_>,
) -> Result<History, ProbeError> {
    let (device, now, transcript) = (ctx.device, ctx.now, &mut *ctx.transcript);
    let store: &Path = &spec.store;
    if !store.exists() {
        return Err(ProbeError::new(
            ProbeErrorKind::Agent,
            format!(
                "no state history yet ({} does not exist): availability is judged by `camwatch run` from what it records",
                store.display()
            ),
        ));
    }
    let (path, name, site, rules) = (
        store.to_path_buf(),
        device.name.clone(),
        device.site.clone(),
        spec.maintenance.clone(),
    );
    let history =
        tokio::task::spawn_blocking(move || read(&path, (&name, &site), &rules, now - LONGEST_WINDOW_SECONDS, now))
            .await
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("reading the state history failed: {e}")))?
            .map_err(|e| {
                ProbeError::new(
                    ProbeErrorKind::Agent,
                    format!("cannot read the state history in {}: {e}", store.display()),
                )
            })?;
    transcript.note(|| {
        format!(
            "{}: {} ping state changes, {} reboots, {} recording stops and resumes, {} maintenance windows in the last 30 days",
            store.display(),
            history.reachability.len(),
            history.reboots.len(),
            history.recording.len(),
            history.maintenance.len()
        )
    });
    Ok(history)
}
