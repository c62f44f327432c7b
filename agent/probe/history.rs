//! The history "probe": what the state store remembers of a device (its ping states, reboots,
//! recording stops), for the checks judged on a device's record rather than on one answer. It
//! reads the agent's own database, never the device, with a read-only connection of its own so
//! the store's writer is never waited on.

use std::path::Path;

use super::{ProbeError, ProbeErrorKind, Transcript};
use crate::availability::History;

/// The longest availability window: a month.
pub const LONGEST_WINDOW_SECONDS: f64 = 30.0 * 86_400.0;

pub async fn probe(
    spec: &crate::config::AvailabilitySpec,
    device: &crate::config::Device,
    now: f64,
    transcript: &mut Transcript,
) -> Result<History, ProbeError> {
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
    let history = tokio::task::spawn_blocking(move || -> rusqlite::Result<History> {
        let conn = crate::state::store::open_reader(&path)?;
        crate::state::store::history(&conn, (&name, &site), &rules, now - LONGEST_WINDOW_SECONDS, now)
    })
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
