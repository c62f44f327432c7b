//! The outbox's rows in the state store: a message is written (`queued`) before any attempt to
//! send it, `claimed` (committed) before the attempt, then `sent`, back to `queued` with a later
//! `next_attempt_at` after a transient failure, or `dead` after a permanent one.
//!
//! `incident_mail` records which mail each incident got (`opened`, `resolved`, `reminder` N,
//! `escalation`), written in the same transaction as the outbox row, so "did this change get its
//! mail queued?" is answered by the store after any crash. Message-IDs are derived from what the
//! mail is about (`INSERT OR IGNORE` on a unique column), so queueing the same mail twice is a
//! no-op.
//!
//! Only the store's writer thread calls the writing functions here (inside its transaction); the
//! HTTP handlers read through their own read-only connection.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::incidents::Incident;

pub const MIGRATION: &str = r#"
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipients_json TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    attachment_name TEXT,
    attachment BLOB,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    claimed_at REAL,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX outbox_state_due ON outbox(state, next_attempt_at);
CREATE TABLE incident_mail (
    incident_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (incident_id, kind, seq)
);
"#;

/// Delivery per recipient: the addresses the server took (`delivered_json`, a list) and the ones
/// it refused for good (`refused_json`, `[address, answer]` pairs), so one refused owner address
/// neither kills the message for the team nor sends it twice to those who already have it.
pub const MIGRATION_RECIPIENTS: &str = r#"
ALTER TABLE outbox ADD COLUMN delivered_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE outbox ADD COLUMN refused_json TEXT NOT NULL DEFAULT '[]';
"#;

/// A message to queue, with the incident mail it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub message_id: String,
    pub channel: String,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `(file name, JPEG bytes)`: the latest failing snapshot of an image fault.
    pub attachment: Option<(String, Vec<u8>)>,
    /// `(incident id, mail kind, sequence number)` this message covers.
    pub covers: Vec<(u64, String, u32)>,
    pub at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub channel: String,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    #[serde(skip)]
    pub text: String,
    #[serde(skip)]
    pub html: String,
    #[serde(skip)]
    pub attachment: Option<(String, Vec<u8>)>,
    pub state: String,
    pub attempts: u32,
    pub created_at: f64,
    pub next_attempt_at: f64,
    pub sent_at: Option<f64>,
    pub last_error: Option<String>,
    /// Recipients the server accepted the message for (on this or an earlier attempt).
    pub delivered: Vec<String>,
    /// Recipients the server refused for good, with its answer.
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub address: String,
    pub error: String,
}

impl Refusal {
    /// "address: the server's answer; ..." as a dead letter shows it.
    pub fn describe(refused: &[Refusal]) -> String {
        refused
            .iter()
            .map(|r| format!("{}: {}", r.address, r.error))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl OutboxRow {
    /// Who did not get a dead letter: the refused addresses, or every recipient when the
    /// message itself was refused (or could not be built).
    pub fn undelivered_to(&self) -> String {
        if self.refused.is_empty() {
            self.recipients.join(", ")
        } else {
            self.refused
                .iter()
                .map(|r| r.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Why a dead letter was not delivered: the server's answer per refused address.
    pub fn why_undelivered(&self) -> String {
        if self.refused.is_empty() {
            self.last_error.clone().unwrap_or_default()
        } else {
            Refusal::describe(&self.refused)
        }
    }

    /// Recipients still to try: neither delivered nor refused.
    pub fn undelivered(&self) -> Vec<&str> {
        self.recipients
            .iter()
            .map(String::as_str)
            .filter(|a| !self.delivered.iter().any(|d| d == a) && !self.refused.iter().any(|r| r.address == *a))
            .collect()
    }
}

/// One operation on the outbox, done by the writer thread in its transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Queues a message (no-op when its Message-ID is already there): replies `Queued(new?)`.
    Enqueue(Box<NewMessage>),
    /// Claims up to `limit` queued rows due at `now`: replies `Claimed`. A row about an
    /// incident waits while an earlier row about the same incident is not sent yet, so a
    /// recovery never arrives before its failure (retries reorder due times).
    Claim {
        now: f64,
        limit: u32,
    },
    /// What the server said of each recipient on an attempt: the ones that took the message
    /// and the ones refused for good. Committed with the attempt's outcome (see `Together`),
    /// so no run sends to them again.
    Recipients {
        id: i64,
        delivered: Vec<String>,
        refused: Vec<Refusal>,
    },
    Sent {
        id: i64,
        now: f64,
    },
    /// A transient failure: queued again for `at`.
    Retry {
        id: i64,
        at: f64,
        error: String,
    },
    /// A permanent failure: a dead letter.
    Dead {
        id: i64,
        now: f64,
        error: String,
    },
    /// At start: rows claimed by a run that died, whose outcome is unknown, are queued again.
    Unclaim {
        now: f64,
    },
    /// The incidents the notifier must look at: replies `Plan`. Incidents resolved since
    /// `unmailed_since` that got no mail at all are in it too: a fault repaired before its mail
    /// was queued (a slow pass) still gets its failure and recovery mailed, if it outlasted the
    /// grouping window (the composer decides).
    Plan {
        unmailed_since: f64,
    },
    /// A channel's figures and newest dead letters: replies `Status`.
    Status {
        channel: &'static str,
        dead: u32,
    },
    /// Several operations in order, in one transaction: replies `Together` with each one's
    /// reply. The first that fails is the answer; the ones before it are done, as if each had
    /// been sent on its own. The notifier ends an attempt and claims the next row this way: one
    /// commit a message, and the outcome is durable before the next send begins.
    Together(Vec<Op>),
}

#[derive(Debug)]
pub enum Reply {
    Done(usize),
    Queued(bool),
    Claimed(Vec<OutboxRow>),
    Plan(Vec<IncidentMail>),
    Status(Counts, Vec<OutboxRow>),
    Together(Vec<Reply>),
}

/// An incident with the mail it already got.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentMail {
    pub incident: Incident,
    /// `(kind, seq, at)` of each mail queued for it.
    pub mail: Vec<(String, u32, f64)>,
}

impl IncidentMail {
    pub fn got(&self, kind: &str) -> bool {
        self.mail.iter().any(|(k, _, _)| k == kind)
    }
}

pub fn apply(tx: &Transaction, op: Op) -> rusqlite::Result<Reply> {
    match op {
        Op::Enqueue(m) => {
            let added = tx.execute(
                "INSERT OR IGNORE INTO outbox (message_id, channel, kind, recipients_json, subject, text_body, html_body,
                    attachment_name, attachment, state, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', ?10, ?10)",
                params![
                    m.message_id,
                    m.channel,
                    m.kind,
                    serde_json::to_string(&m.recipients).unwrap_or_default(),
                    m.subject,
                    m.text,
                    m.html,
                    m.attachment.as_ref().map(|a| a.0.as_str()),
                    m.attachment.as_ref().map(|a| a.1.as_slice()),
                    m.at,
                ],
            )?;
            for (incident, kind, seq) in &m.covers {
                tx.execute(
                    "INSERT OR IGNORE INTO incident_mail (incident_id, kind, seq, message_id, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![*incident as i64, kind, seq, m.message_id, m.at],
                )?;
            }
            Ok(Reply::Queued(added == 1))
        }
        Op::Claim { now, limit } => {
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT o.id FROM outbox o
                     WHERE o.state = 'queued' AND o.next_attempt_at <= ?1
                       AND NOT EXISTS (
                         SELECT 1 FROM incident_mail mine
                         JOIN incident_mail theirs ON theirs.incident_id = mine.incident_id
                         JOIN outbox earlier ON earlier.message_id = theirs.message_id
                         WHERE mine.message_id = o.message_id AND earlier.id < o.id
                           AND earlier.state IN ('queued', 'claimed'))
                     ORDER BY o.next_attempt_at, o.id LIMIT ?2",
                )?
                .query_map(params![now, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                tx.execute(
                    "UPDATE outbox SET state = 'claimed', claimed_at = ?2, attempts = attempts + 1 WHERE id = ?1",
                    params![id, now],
                )?;
                rows.extend(row_by_id(tx, id)?);
            }
            Ok(Reply::Claimed(rows))
        }
        Op::Recipients { id, delivered, refused } => {
            let mut changed = 0;
            for address in delivered {
                changed += tx.execute(
                    "UPDATE outbox SET delivered_json = json_insert(delivered_json, '$[#]', ?2) WHERE id = ?1",
                    params![id, address],
                )?;
            }
            for r in refused {
                changed += tx.execute(
                    "UPDATE outbox SET refused_json = json_insert(refused_json, '$[#]', json_object('address', ?2, 'error', ?3))
                     WHERE id = ?1",
                    params![id, r.address, r.error],
                )?;
            }
            Ok(Reply::Done(changed))
        }
        Op::Sent { id, now } => Ok(Reply::Done(tx.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL, attachment = NULL WHERE id = ?1",
            params![id, now],
        )?)),
        Op::Retry { id, at, error } => Ok(Reply::Done(tx.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3, failures = failures + 1 WHERE id = ?1",
            params![id, at, error],
        )?)),
        Op::Dead { id, now, error } => Ok(Reply::Done(tx.execute(
            "UPDATE outbox SET state = 'dead', next_attempt_at = ?2, last_error = ?3, failures = failures + 1 WHERE id = ?1",
            params![id, now, error],
        )?)),
        Op::Unclaim { now } => Ok(Reply::Done(tx.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?1,
                last_error = 'camwatch stopped during the send; sent again with the same Message-ID'
             WHERE state = 'claimed'",
            params![now],
        )?)),
        Op::Plan { unmailed_since } => plan(tx, unmailed_since).map(Reply::Plan),
        Op::Status { channel, dead } => Ok(Reply::Status(counts(tx, channel)?, dead_letters(tx, channel, dead)?)),
        Op::Together(ops) => ops
            .into_iter()
            .map(|op| apply(tx, op))
            .collect::<rusqlite::Result<_>>()
            .map(Reply::Together),
    }
}

/// Open incidents, resolved ones whose opening was mailed but whose recovery was not yet, and
/// ones resolved since `unmailed_since` that got no mail.
fn plan(conn: &Connection, unmailed_since: f64) -> rusqlite::Result<Vec<IncidentMail>> {
    let mut incidents = super::store::incidents(conn, true, u32::MAX)?;
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT m.incident_id FROM incident_mail m JOIN incidents i ON i.id = m.incident_id
             WHERE m.kind = 'opened' AND i.resolved_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM incident_mail r WHERE r.incident_id = m.incident_id AND r.kind = 'resolved')
             UNION
             SELECT i.id FROM incidents i
             WHERE i.resolved_at >= ?1 AND NOT EXISTS (SELECT 1 FROM incident_mail m WHERE m.incident_id = i.id)",
        )?
        .query_map([unmailed_since], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        incidents.extend(super::store::incident(conn, id as u64)?);
    }
    // Children resolved with their root: the root's recovery mail lists them.
    let mut out = Vec::with_capacity(incidents.len());
    let mut stmt = conn.prepare_cached("SELECT kind, seq, at FROM incident_mail WHERE incident_id = ?1 ORDER BY at")?;
    for incident in incidents {
        let mail = stmt
            .query_map([incident.id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        out.push(IncidentMail { incident, mail });
    }
    out.sort_by_key(|m| m.incident.id);
    Ok(out)
}

const COLUMNS: &str =
    "id, message_id, channel, kind, recipients_json, subject, text_body, html_body, attachment_name, attachment,
    state, attempts, created_at, next_attempt_at, sent_at, last_error, delivered_json, refused_json";

fn row(r: &rusqlite::Row) -> rusqlite::Result<OutboxRow> {
    let name: Option<String> = r.get(8)?;
    let bytes: Option<Vec<u8>> = r.get(9)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        message_id: r.get(1)?,
        channel: r.get(2)?,
        kind: r.get(3)?,
        recipients: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        subject: r.get(5)?,
        text: r.get(6)?,
        html: r.get(7)?,
        attachment: name.zip(bytes),
        state: r.get(10)?,
        attempts: r.get(11)?,
        created_at: r.get(12)?,
        next_attempt_at: r.get(13)?,
        sent_at: r.get(14)?,
        last_error: r.get(15)?,
        delivered: serde_json::from_str(&r.get::<_, String>(16)?).unwrap_or_default(),
        refused: serde_json::from_str(&r.get::<_, String>(17)?).unwrap_or_default(),
    })
}

fn row_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<OutboxRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))?
        .query_row([id], row)
        .optional()
}

/// Rows not sent yet (queued or claimed), oldest first, at most `limit`.
pub fn pending(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<OutboxRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE state IN ('queued', 'claimed') ORDER BY id LIMIT ?1"
    ))?
    .query_map([limit], row)?
    .collect()
}

/// Which rows are dead letters: refused for every recipient, or sent with some recipient
/// refused for good (that address never got it).
const DEAD: &str = "(state = 'dead' OR (state = 'sent' AND refused_json != '[]'))";

/// Dead letters of a channel, newest first, at most `limit`.
pub fn dead_letters(conn: &Connection, channel: &str, limit: u32) -> rusqlite::Result<Vec<OutboxRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE {DEAD} AND channel = ?1 ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(params![channel, limit], row)?
    .collect()
}

/// Figures for the metrics: counters are counted from the rows, so they continue across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub pending: u64,
    pub dead: u64,
    pub sent: u64,
    /// Failed attempts, transient and permanent.
    pub failed: u64,
}

pub fn counts(conn: &Connection, channel: &str) -> rusqlite::Result<Counts> {
    conn.prepare_cached(&format!(
        "SELECT COALESCE(SUM(state IN ('queued', 'claimed')), 0), COALESCE(SUM({DEAD}), 0),
                COALESCE(SUM(state = 'sent'), 0), COALESCE(SUM(failures), 0)
         FROM outbox WHERE channel = ?1"
    ))?
    .query_row([channel], |r| {
        Ok(Counts {
            pending: r.get::<_, i64>(0)? as u64,
            dead: r.get::<_, i64>(1)? as u64,
            sent: r.get::<_, i64>(2)? as u64,
            failed: r.get::<_, i64>(3)? as u64,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::Store;

    fn message(id: &str, incident: u64, at: f64) -> NewMessage {
        NewMessage {
            message_id: id.into(),
            channel: "email".into(),
            kind: "opened".into(),
            recipients: vec!["a@example.com".into()],
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            attachment: Some(("x.jpg".into(), vec![1, 2, 3])),
            covers: vec![(incident, "opened".into(), 0)],
            at,
        }
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn queued_once_claimed_before_sending_and_a_claim_left_by_a_crash_is_queued_again() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let mut incident = crate::state::incidents::Incident {
            id: 7,
            device: "cam".into(),
            check: "ping".into(),
            opened_at: 90.0,
            failed_at: 100.0,
            resolved_at: None,
            joined: None,
            summary: "down".into(),
            values: serde_json::Value::Null,
            acknowledged: None,
        };
        store.incident(incident.clone());
        block(async {
            let queued = |r| matches!(r, Ok(Reply::Queued(true)));
            assert!(queued(
                store.outbox(Op::Enqueue(Box::new(message("<a>", 7, 100.0)))).await
            ));
            assert!(matches!(
                store.outbox(Op::Enqueue(Box::new(message("<a>", 7, 101.0)))).await,
                Ok(Reply::Queued(false))
            ));
            let Ok(Reply::Claimed(rows)) = store.outbox(Op::Claim { now: 100.0, limit: 5 }).await else {
                panic!("claim")
            };
            assert_eq!(rows.len(), 1);
            assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("claimed", 1));
            assert_eq!(rows[0].attachment.as_ref().unwrap().1, [1, 2, 3]);
            // Claimed rows are not claimed again.
            let Ok(Reply::Claimed(none)) = store.outbox(Op::Claim { now: 200.0, limit: 5 }).await else {
                panic!("claim")
            };
            assert!(none.is_empty());
            // The next run finds it claimed: queued again, same Message-ID.
            assert!(matches!(
                store.outbox(Op::Unclaim { now: 300.0 }).await,
                Ok(Reply::Done(1))
            ));
            let Ok(Reply::Claimed(again)) = store.outbox(Op::Claim { now: 300.0, limit: 5 }).await else {
                panic!("claim")
            };
            assert_eq!((again[0].message_id.as_str(), again[0].attempts), ("<a>", 2));
            store
                .outbox(Op::Sent {
                    id: again[0].id,
                    now: 301.0,
                })
                .await
                .unwrap();
            let Ok(Reply::Status(counts, dead)) = store
                .outbox(Op::Status {
                    channel: "email",
                    dead: 5,
                })
                .await
            else {
                panic!("status")
            };
            assert_eq!((counts.sent, counts.pending, counts.dead), (1, 0, 0));
            assert!(dead.is_empty());

            // Open, opening mailed: in the plan; resolved: still in it until its recovery is mailed.
            let Ok(Reply::Plan(plan)) = store.outbox(Op::Plan { unmailed_since: 0.0 }).await else {
                panic!("plan")
            };
            assert_eq!(plan.len(), 1);
            assert!(plan[0].got("opened"));
            incident.resolved_at = Some(400.0);
            store.incident(incident.clone());
            let Ok(Reply::Plan(plan)) = store.outbox(Op::Plan { unmailed_since: 0.0 }).await else {
                panic!("plan")
            };
            assert_eq!(plan.len(), 1, "the recovery is still to be mailed");
            let mut recovery = message("<b>", 7, 401.0);
            recovery.covers = vec![(7, "resolved".into(), 0)];
            store.outbox(Op::Enqueue(Box::new(recovery))).await.unwrap();
            let Ok(Reply::Plan(plan)) = store.outbox(Op::Plan { unmailed_since: 0.0 }).await else {
                panic!("plan")
            };
            assert!(plan.is_empty());
        });
    }

    fn claim(store: &Store, now: f64) -> Vec<OutboxRow> {
        let Ok(Reply::Claimed(rows)) = block(store.outbox(Op::Claim { now, limit: 5 })) else {
            panic!("claim")
        };
        rows
    }

    #[test]
    fn a_later_mail_about_an_incident_waits_for_its_earlier_one_and_each_recipient_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let mut opened = message("<opened>", 7, 100.0);
        opened.recipients = vec!["team@example.com".into(), "owner@example.com".into()];
        block(store.outbox(Op::Enqueue(Box::new(opened)))).unwrap();
        let first = claim(&store, 100.0);
        assert_eq!(first.len(), 1);
        // A 4xx: tried again at 160. Meanwhile the fault is repaired; its recovery is due at once.
        block(store.outbox(Op::Retry {
            id: first[0].id,
            at: 160.0,
            error: "451".into(),
        }))
        .unwrap();
        let mut resolved = message("<resolved>", 7, 120.0);
        resolved.kind = "resolved".into();
        resolved.covers = vec![(7, "resolved".into(), 0)];
        block(store.outbox(Op::Enqueue(Box::new(resolved)))).unwrap();
        // Another incident's mail is not held up.
        block(store.outbox(Op::Enqueue(Box::new(message("<other>", 8, 121.0))))).unwrap();
        let ids = |rows: Vec<OutboxRow>| rows.into_iter().map(|r| r.message_id).collect::<Vec<_>>();
        assert_eq!(
            ids(claim(&store, 130.0)),
            ["<other>"],
            "the recovery waits for its failure"
        );
        let again = claim(&store, 160.0);
        assert_eq!(ids(again.clone()), ["<opened>"]);
        // The team takes it, the owner's address is refused for good: sent, with a dead letter
        // for the owner only.
        block(store.outbox(Op::Recipients {
            id: again[0].id,
            delivered: vec!["team@example.com".into()],
            refused: vec![Refusal {
                address: "owner@example.com".into(),
                error: "550 5.1.1 no such user".into(),
            }],
        }))
        .unwrap();
        block(store.outbox(Op::Sent {
            id: again[0].id,
            now: 161.0,
        }))
        .unwrap();
        assert_eq!(ids(claim(&store, 162.0)), ["<resolved>"]);
        let Ok(Reply::Status(counts, dead)) = block(store.outbox(Op::Status {
            channel: "email",
            dead: 5,
        })) else {
            panic!("status")
        };
        assert_eq!((counts.sent, counts.dead), (1, 1));
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].delivered, ["team@example.com"]);
        assert_eq!(dead[0].undelivered_to(), "owner@example.com");
        assert_eq!(dead[0].why_undelivered(), "owner@example.com: 550 5.1.1 no such user");
        assert!(dead[0].undelivered().is_empty());
    }

    #[test]
    fn together_ends_an_attempt_and_claims_the_next_row_in_order_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        block(store.outbox(Op::Enqueue(Box::new(message("<opened>", 7, 100.0))))).unwrap();
        let mut resolved = message("<resolved>", 7, 101.0);
        resolved.covers = vec![(7, "resolved".into(), 0)];
        block(store.outbox(Op::Enqueue(Box::new(resolved)))).unwrap();
        let first = claim(&store, 110.0);
        assert_eq!(first.len(), 1);
        // The recovery waits for its failure mail: claimable only once that is sent, which the
        // claim sees because it comes after the outcome in the same transaction.
        let Ok(Reply::Together(replies)) = block(store.outbox(Op::Together(vec![
            Op::Recipients {
                id: first[0].id,
                delivered: vec!["a@example.com".into()],
                refused: Vec::new(),
            },
            Op::Sent {
                id: first[0].id,
                now: 111.0,
            },
            Op::Claim { now: 111.0, limit: 1 },
        ]))) else {
            panic!("together")
        };
        let [Reply::Done(1), Reply::Done(1), Reply::Claimed(next)] = replies.as_slice() else {
            panic!("{replies:?}")
        };
        assert_eq!(next[0].message_id, "<resolved>");
        let sent = state_and_delivered(&dir, "<opened>");
        assert_eq!(sent, ("sent".to_owned(), r#"["a@example.com"]"#.to_owned()));
    }

    /// The state and delivered addresses of a row, as another reader of the store sees them.
    fn state_and_delivered(dir: &tempfile::TempDir, message_id: &str) -> (String, String) {
        let conn = Connection::open(dir.path().join("camwatch.sqlite")).unwrap();
        conn.query_row(
            "SELECT state, delivered_json FROM outbox WHERE message_id = ?1",
            [message_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn the_plan_holds_incidents_repaired_before_any_mail_since_the_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        for (id, resolved_at) in [(1, 500.0), (2, 2000.0)] {
            store.incident(crate::state::incidents::Incident {
                id,
                device: "cam".into(),
                check: "ping".into(),
                opened_at: 90.0,
                failed_at: 100.0,
                resolved_at: Some(resolved_at),
                joined: None,
                summary: "down".into(),
                values: serde_json::Value::Null,
                acknowledged: None,
            });
        }
        let Ok(Reply::Plan(plan)) = block(store.outbox(Op::Plan { unmailed_since: 1000.0 })) else {
            panic!("plan")
        };
        assert_eq!(plan.iter().map(|m| m.incident.id).collect::<Vec<_>>(), [2]);
    }
}
