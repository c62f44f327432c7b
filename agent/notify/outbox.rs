//! The outbox seen from the notifier: queue, claim, mark, through the store's writer thread (the
//! only code touching SQLite), each call returning once its transaction is committed.
//!
//! Delivery guarantee: a message is committed `queued` before any attempt and `claimed` before
//! each attempt. A run that dies with rows `claimed` does not know whether the server took them;
//! the next run queues them again and sends them with the same Message-ID. So delivery is
//! at-least-once at the SMTP boundary, and exactly once everywhere else: a kill before or after
//! a send never sends twice, a kill during the one send in flight may send that one message a
//! second time, recognisably the same (same Message-ID, same Date).

use std::time::Duration;

use crate::state::outbox::{IncidentMail, NewMessage, Op, OutboxRow, Reply};
use crate::state::store::{Store, StoreError};

pub async fn enqueue(store: &Store, message: NewMessage) -> Result<bool, StoreError> {
    match store.outbox(Op::Enqueue(Box::new(message))).await? {
        Reply::Queued(new) => Ok(new),
        other => Err(StoreError(format!("unexpected outbox reply {other:?}"))),
    }
}

/// Commits `finished` (how the last attempt ended), then claims the next due row, in one
/// transaction: one commit a message while a backlog drains, and still claim, send, outcome,
/// each durable before the next step. Rows are claimed one at a time, right before their send:
/// a row left `claimed` by a crash is then the one message whose fate is unknown, nothing else.
pub async fn finish_and_claim(store: &Store, finished: Vec<Op>, now: f64) -> Result<Option<OutboxRow>, StoreError> {
    let mut ops = finished;
    ops.push(Op::Claim { now, limit: 1 });
    let last = match store.outbox(Op::Together(ops)).await? {
        Reply::Together(mut replies) => replies.pop(),
        other => Some(other),
    };
    match last {
        Some(Reply::Claimed(rows)) => Ok(rows.into_iter().next()),
        other => Err(StoreError(format!("unexpected outbox reply {other:?}"))),
    }
}

/// The incidents to compose mail for (see [`Op::Plan`]).
pub async fn plan(store: &Store, unmailed_since: f64) -> Result<Vec<IncidentMail>, StoreError> {
    match store.outbox(Op::Plan { unmailed_since }).await? {
        Reply::Plan(rows) => Ok(rows),
        other => Err(StoreError(format!("unexpected outbox reply {other:?}"))),
    }
}

/// When to try again after `attempts` failed attempts: doubling from `first`, at most `max`,
/// with ±20 % jitter so messages queued together do not hit a recovering server together.
pub fn backoff(attempts: u32, first: Duration, max: Duration) -> Duration {
    let doubled = first.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(20)));
    let capped = doubled.min(max);
    capped.mul_f64(0.8 + 0.4 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let first = Duration::from_secs(10);
        let max = Duration::from_secs(3600);
        for _ in 0..100 {
            let one = backoff(1, first, max).as_secs_f64();
            assert!((8.0..=12.0).contains(&one), "{one}");
            let three = backoff(3, first, max).as_secs_f64();
            assert!((32.0..=48.0).contains(&three), "{three}");
            let many = backoff(40, first, max).as_secs_f64();
            assert!((2880.0..=4320.0).contains(&many), "{many}");
        }
    }
}
