//! Notifications: incident changes become outbox rows, and a sender delivers them.
//!
//! The notifier does not trust a channel for what to mail: the hub only wakes it, and each pass
//! asks the store which incidents still lack their mail (`incident_mail`), so a crash anywhere
//! leaves nothing unmailed and nothing mailed twice (see `outbox` for the SMTP boundary).

pub mod alertmanager;
pub mod compose;
pub mod email;
pub mod outbox;
pub mod reports;

use std::sync::Arc;
use std::time::Duration;

use crate::config::email::EmailSettings;
use crate::shared::{ChannelStatus, DEAD_SHOWN, Shared};
use crate::state::outbox::{Op, Reply};
use crate::state::snapshots::Which;
use crate::vocab::unix_now;

/// How often the notifier looks for due work when nothing wakes it (reminders, retries,
/// grouping windows ending).
const TICK: Duration = Duration::from_secs(1);

struct KeptSnapshots<'a>(Option<&'a crate::state::snapshots::Snapshots>);

impl compose::Snapshots for KeptSnapshots<'_> {
    fn failing_jpeg(&self, device: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0?.path(device, Which::Failed)).ok()
    }
}

/// Queues and sends fault mail while `[email]` is configured (it follows reloads).
pub async fn email_forever(shared: Arc<Shared>, wake: Arc<tokio::sync::Notify>) {
    let Some(store) = shared.hub.store() else {
        return;
    };
    match store.outbox(Op::Unclaim { now: unix_now() }).await {
        Ok(Reply::Done(n)) if n > 0 => {
            tracing::warn!(
                messages = n,
                "camwatch stopped while sending; sending those messages again with their Message-ID"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!("cannot read the outbox: {e}"),
    }
    let mut mailer: Option<(EmailSettings, Result<email::Mailer, email::SendError>)> = None;
    loop {
        let config = shared.config();
        if let Some(settings) = &config.email {
            if let Err(e) = queue_due(&shared, &config).await {
                tracing::error!("cannot queue notifications: {e}");
            }
            // Rebuilt after a failed build too: a password file or CA file fixed in place counts.
            if mailer.as_ref().is_none_or(|(s, m)| s != settings || m.is_err()) {
                mailer = Some((settings.clone(), email::Mailer::new(settings)));
            }
            if let Some((settings, mailer)) = &mailer
                && let Err(e) = send_due(store, settings, mailer).await
            {
                tracing::error!("cannot send from the outbox: {e}");
            }
            match refresh(store).await {
                Ok(status) => shared.notify.set("email", status),
                Err(e) => tracing::warn!("cannot read the outbox figures: {e}"),
            }
        } else {
            // [email] removed by a reload: its series go with it.
            shared.notify.clear("email");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn queue_due(shared: &Shared, config: &crate::config::Config) -> Result<(), String> {
    let Some(store) = shared.hub.store() else {
        return Ok(());
    };
    let incidents = outbox::plan(store).await?;
    let now = unix_now();
    let windows = shared.hub.maintenance_windows();
    let messages = compose::plan(
        &incidents,
        config,
        &windows,
        now,
        &KeptSnapshots(shared.hub.snapshots()),
    );
    for message in messages {
        let (id, kind, subject) = (
            message.message_id.clone(),
            message.kind.clone(),
            message.subject.clone(),
        );
        if outbox::enqueue(store, message).await? {
            tracing::info!(message_id = %id, kind = %kind, "mail queued: {subject}");
        }
    }
    Ok(())
}

async fn send_due(
    store: &crate::state::store::Store,
    settings: &EmailSettings,
    mailer: &Result<email::Mailer, email::SendError>,
) -> Result<(), String> {
    loop {
        let rows = outbox::claim(store, unix_now()).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let sent = match mailer {
                Ok(mailer) => mailer.send(&row).await,
                Err(e) => Err(e.clone()),
            };
            let now = unix_now();
            let op = match sent {
                Ok(()) => {
                    tracing::info!(message_id = %row.message_id, to = %row.recipients.join(", "), "mail sent: {}", row.subject);
                    Op::Sent { id: row.id, now }
                }
                Err(e) if e.permanent => {
                    tracing::error!(message_id = %row.message_id, error = %e, "mail refused for good, kept as a dead letter: {}", row.subject);
                    Op::Dead {
                        id: row.id,
                        now,
                        error: e.message,
                    }
                }
                Err(e) => {
                    let wait = outbox::backoff(row.attempts, settings.retry_after, crate::config::email::MAX_RETRY);
                    tracing::warn!(message_id = %row.message_id, error = %e, attempt = row.attempts, "mail not sent, trying again in {}", humantime::format_duration(Duration::from_secs(wait.as_secs())));
                    Op::Retry {
                        id: row.id,
                        at: now + wait.as_secs_f64(),
                        error: e.message,
                    }
                }
            };
            outbox::done(store, op).await?;
        }
    }
}

async fn refresh(store: &crate::state::store::Store) -> Result<ChannelStatus, String> {
    match store
        .outbox(Op::Status {
            channel: "email",
            dead: DEAD_SHOWN,
        })
        .await?
    {
        Reply::Status(counts, dead) => Ok(ChannelStatus { counts, dead }),
        other => Err(format!("unexpected outbox reply {other:?}")),
    }
}
