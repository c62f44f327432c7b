//! Notifications: incident changes become outbox rows, and a sender delivers them.
//!
//! The notifier does not trust a channel for what to mail: the hub only wakes it, and each pass
//! asks the store which incidents still lack their mail (`incident_mail`), so a crash anywhere
//! leaves nothing unmailed and nothing mailed twice (see `outbox` for the SMTP boundary).
//! While the state store cannot write, nothing is queued or sent (what went out could not be
//! recorded); what an attempt left to record is kept and committed with the next claim before
//! anything else is sent, so the outbox never sends twice, and a claim that did not commit did
//! not happen, so no row stays claimed until a restart.

pub mod alertmanager;
pub mod compose;
pub mod email;
pub mod outbox;
pub mod reports;
pub mod smtp_stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::email::EmailSettings;
use crate::shared::{ChannelStatus, DEAD_SHOWN, Shared};
use crate::state::outbox::{Op, OutboxRow, Refusal, Reply};
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

/// How far back a fault repaired before its mail was queued is still mailed (failed, then
/// recovered): far enough for any backlog or slow pass, not so far that turning `[email]` on
/// mails last month's history.
const UNMAILED_HORIZON: f64 = 24.0 * 3600.0;

/// Queues and sends fault mail while `[email]` is configured (it follows reloads). Queueing and
/// sending run side by side: a slow server or a long backlog never delays the queueing of a new
/// fault (or its recovery), and the sender is woken as soon as something is queued.
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
    let queued = tokio::sync::Notify::new();
    tokio::join!(
        queue_forever(&shared, store, &wake, &queued),
        send_forever(&shared, store, &queued)
    );
}

async fn queue_forever(
    shared: &Shared,
    store: &crate::state::store::Store,
    wake: &tokio::sync::Notify,
    queued: &tokio::sync::Notify,
) {
    loop {
        let config = shared.config();
        if config.email.is_some() {
            // While the store cannot write nothing can be queued; the store's log says why.
            if store.health().writable() {
                match queue_due(shared, &config).await {
                    Ok(0) => {}
                    Ok(_) => queued.notify_one(),
                    Err(e) => tracing::error!("cannot queue notifications: {e}"),
                }
                publish(shared, store).await;
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

/// What the sender did that the store has not taken yet: kept while the store cannot write, so a
/// message that went out is recorded before anything else is sent (never sent twice).
#[derive(Debug, Default)]
struct Unrecorded {
    /// Outcomes of attempts, in order (a delivery's recipients before its outcome).
    ops: std::collections::VecDeque<Op>,
}

impl Unrecorded {
    /// Hands the kept outcomes to the store with the claim of the next row, in one commit: an
    /// outcome is durable before the next send begins. A claim that did not commit did not
    /// happen, so nothing is left claimed while the store cannot write.
    async fn finish_and_claim(
        &mut self,
        store: &crate::state::store::Store,
    ) -> Result<Option<OutboxRow>, crate::state::store::StoreError> {
        let finished = self.ops.iter().cloned().collect();
        match outbox::finish_and_claim(store, finished, unix_now()).await {
            Ok(next) => {
                self.ops.clear();
                Ok(next)
            }
            // The store writes, yet refused one of them: it would refuse it every time. The ones
            // before it are done (see `Op::Together`).
            Err(e) if store.health().writable() => {
                tracing::error!("the outbox did not take {:?}: {e}", self.ops);
                self.ops.clear();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

async fn send_forever(shared: &Shared, store: &crate::state::store::Store, queued: &tokio::sync::Notify) {
    let mut mailer: Option<(EmailSettings, Result<email::Mailer, email::SendError>)> = None;
    let mut unrecorded = Unrecorded::default();
    loop {
        let config = shared.config();
        if let Some(settings) = &config.email {
            // Rebuilt after a failed build too: a password file or CA file fixed in place counts.
            if mailer.as_ref().is_none_or(|(s, m)| s != settings || m.is_err()) {
                mailer = Some((settings.clone(), email::Mailer::new(settings)));
            }
            // While the store cannot write nothing is sent: what went out could not be recorded.
            // The store's log says why, once.
            if let Some((settings, mailer)) = &mailer
                && store.health().writable()
                && let Err(e) = send_due(shared, store, settings, mailer, &mut unrecorded).await
            {
                tracing::error!("cannot send from the outbox: {e}");
            }
        }
        tokio::select! {
            _ = queued.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn queue_due(shared: &Shared, config: &crate::config::Config) -> Result<usize, String> {
    let Some(store) = shared.hub.store() else {
        return Ok(0);
    };
    let now = unix_now();
    let incidents = outbox::plan(store, now - UNMAILED_HORIZON).await?;
    let windows = shared.hub.maintenance_windows();
    let messages = compose::plan(
        &incidents,
        config,
        &windows,
        now,
        &KeptSnapshots(shared.hub.snapshots()),
    );
    let mut new = 0;
    for message in messages {
        let (id, kind, subject) = (
            message.message_id.clone(),
            message.kind.clone(),
            message.subject.clone(),
        );
        if outbox::enqueue(store, message).await? {
            tracing::info!(message_id = %id, kind = %kind, "mail queued: {subject}");
            new += 1;
        }
    }
    Ok(new)
}

async fn send_due(
    shared: &Shared,
    store: &crate::state::store::Store,
    settings: &EmailSettings,
    mailer: &Result<email::Mailer, email::SendError>,
    unrecorded: &mut Unrecorded,
) -> Result<(), String> {
    let mut published = Instant::now();
    loop {
        let attempted = !unrecorded.ops.is_empty();
        let next = unrecorded.finish_and_claim(store).await?;
        // The figures are counted over the whole outbox: once a message would make a backlog's
        // drain quadratic in the outbox's size.
        if attempted && (next.is_none() || published.elapsed() >= TICK) {
            publish(shared, store).await;
            published = Instant::now();
        }
        let Some(row) = next else {
            return Ok(());
        };
        match mailer {
            Ok(mailer) => unrecorded.ops.extend(deliver(mailer, settings, &row).await),
            Err(e) => unrecorded.ops.push_back(failed(&row, e, settings)),
        }
    }
}

/// Sends `row` to the recipients not served yet (one SMTP transaction) and returns what to
/// commit: what the server said of each recipient, then what becomes of the row.
async fn deliver(mailer: &email::Mailer, settings: &EmailSettings, row: &OutboxRow) -> Vec<Op> {
    let message = match mailer.format(row) {
        Ok(message) => message,
        Err(e) => return vec![failed(row, &e, settings)],
    };
    let delivery = match mailer.send(&message, &row.undelivered()).await {
        Ok(delivery) => delivery,
        Err(e) => return vec![failed(row, &e, settings)],
    };
    let refused = delivery.refused;
    for r in &refused {
        tracing::error!(message_id = %row.message_id, to = %r.address, error = %r.error, "recipient refused for good: {}", row.subject);
    }
    let mut ops = Vec::with_capacity(2);
    if !delivery.delivered.is_empty() || !refused.is_empty() {
        ops.push(Op::Recipients {
            id: row.id,
            delivered: delivery.delivered.clone(),
            refused: refused.clone(),
        });
    }
    let now = unix_now();
    let delivered: Vec<&String> = row.delivered.iter().chain(&delivery.delivered).collect();
    ops.push(match delivery.deferred {
        Some(e) => failed(row, &e, settings),
        None if delivered.is_empty() => {
            let error = Refusal::describe(&[row.refused.as_slice(), &refused].concat());
            tracing::error!(message_id = %row.message_id, error = %error, "mail refused for good, kept as a dead letter: {}", row.subject);
            Op::Dead { id: row.id, now, error }
        }
        None => {
            tracing::info!(message_id = %row.message_id, to = %delivery.delivered.join(", "), "mail sent: {}", row.subject);
            Op::Sent { id: row.id, now }
        }
    });
    ops
}

/// What becomes of `row` after `e`: a dead letter when permanent, else another try later.
fn failed(row: &OutboxRow, e: &email::SendError, settings: &EmailSettings) -> Op {
    let now = unix_now();
    if e.permanent {
        tracing::error!(message_id = %row.message_id, error = %e, "mail refused for good, kept as a dead letter: {}", row.subject);
        return Op::Dead {
            id: row.id,
            now,
            error: e.message.clone(),
        };
    }
    let wait = outbox::backoff(row.attempts, settings.retry_after, crate::config::email::MAX_RETRY);
    tracing::warn!(message_id = %row.message_id, error = %e, attempt = row.attempts, "mail not sent, trying again in {}", humantime::format_duration(Duration::from_secs(wait.as_secs())));
    Op::Retry {
        id: row.id,
        at: now + wait.as_secs_f64(),
        error: e.message.clone(),
    }
}

/// The outbox's figures, for the metrics and the status page.
async fn publish(shared: &Shared, store: &crate::state::store::Store) {
    match refresh(store).await {
        Ok(status) => shared.notify.set("email", status),
        Err(e) => tracing::warn!("cannot read the outbox figures: {e}"),
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
