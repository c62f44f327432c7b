//! Incidents: a fault from the check entering `failed` to its recovery, with who acknowledged it.
//!
//! The procedure says a fault is reported at once and its repair recorded; an incident is that
//! record. Pure bookkeeping over transitions (the hub feeds them in, the store keeps the rows),
//! so every rule is unit-tested without a database:
//! - a check entering `failed` opens an incident, dated from the first failed result of the
//!   streak (the fault began then, not when the hysteresis was satisfied);
//! - a check entering `unreachable` joins the incident of the parent it cannot be seen through
//!   (the root of the chain: the dead switch, not the camera behind the unreachable recorder), so
//!   a switch with 40 cameras behind it is one incident with 40 members; with no such incident
//!   (the parent went down before camwatch started), it opens its own;
//! - leaving `failed`/`unreachable` for `ok` or `warning` resolves it; `unknown` (camwatch could
//!   not judge) leaves it open: nobody has seen it repaired.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Refused, Transition};
use crate::model::{CheckKind, State};
use crate::vocab::Severity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    pub device: String,
    pub check: String,
    /// First failed result of the streak that opened it (Unix seconds).
    pub opened_at: f64,
    /// When the check entered `failed` (or `unreachable`): when it was announced.
    pub failed_at: f64,
    pub resolved_at: Option<f64>,
    /// The incident of the parent this one is part of (an unreachable child).
    pub joined: Option<u64>,
    /// The verdict's summary when it opened (quotes the clause the fault breaks).
    pub summary: String,
    /// The verdict's figures when it opened: the evidence.
    pub values: serde_json::Value,
    pub acknowledged: Option<Acknowledgement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub at: f64,
    pub by: String,
    pub note: String,
}

/// How bad a fault of `check` is for the procedure (see [`Severity`]).
pub fn severity(check: &str) -> &'static str {
    Severity::of_check(check).as_str()
}

impl Incident {
    pub fn severity(&self) -> &'static str {
        severity(&self.check)
    }

    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// Seconds from the first failure to the repair (None while open).
    pub fn repair_seconds(&self) -> Option<f64> {
        Some(self.resolved_at? - self.opened_at)
    }

    pub fn acknowledge_seconds(&self) -> Option<f64> {
        Some(self.acknowledged.as_ref()?.at - self.failed_at)
    }
}

/// The open incidents, by (device, check), and the next id to give.
#[derive(Debug, Default)]
pub struct Book {
    open: BTreeMap<(String, String), Incident>,
    next_id: u64,
}

impl Book {
    /// Resumes from the store: the incidents still open and the highest id ever given.
    pub fn new(open: Vec<Incident>, max_id: u64) -> Self {
        Self {
            open: open
                .into_iter()
                .map(|i| ((i.device.clone(), i.check.clone()), i))
                .collect(),
            next_id: max_id + 1,
        }
    }

    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    pub fn find(&self, id: u64) -> Option<&Incident> {
        self.open.values().find(|i| i.id == id)
    }

    /// Applies one transition. `first_failure` is when the failing streak began; `parent` the
    /// device's parent, if it has one. Returns the incident as it now is, when it changed.
    pub fn apply(
        &mut self,
        t: &Transition,
        first_failure: Option<f64>,
        parent: Option<&str>,
        values: &serde_json::Value,
    ) -> Option<Incident> {
        let key = (t.device.clone(), t.check.as_str().to_owned());
        match t.to {
            State::Failed | State::Unreachable if !self.open.contains_key(&key) => {
                let joined = match t.to {
                    State::Unreachable => parent.and_then(|p| self.root_of(p)),
                    _ => None,
                };
                let incident = Incident {
                    id: self.next_id,
                    device: t.device.clone(),
                    check: key.1.clone(),
                    opened_at: first_failure.unwrap_or(t.at).min(t.at),
                    failed_at: t.at,
                    resolved_at: None,
                    joined,
                    summary: t.summary.clone(),
                    values: values.clone(),
                    acknowledged: None,
                };
                self.next_id += 1;
                self.open.insert(key, incident.clone());
                Some(incident)
            }
            State::Ok | State::Warning => {
                let mut incident = self.open.remove(&key)?;
                incident.resolved_at = Some(t.at);
                Some(incident)
            }
            // A child often fails a moment before its parent does (both stop answering at once):
            // when it turns out unreachable, its incident joins the parent's. Once joined it stays
            // so (a child still failing for a poll after its parent is back would otherwise be
            // announced on its own, and mailed, for a moment).
            State::Unreachable => {
                let root = parent.and_then(|p| self.root_of(p))?;
                let incident = self.open.get_mut(&key)?;
                (incident.joined.is_none() && incident.id != root).then(|| {
                    incident.joined = Some(root);
                    incident.clone()
                })
            }
            // unknown leaves it open.
            _ => None,
        }
    }

    /// The incident an unreachable child of `parent` belongs to: the parent's own (ping)
    /// incident, or the one that incident joined.
    fn root_of(&self, parent: &str) -> Option<u64> {
        let incident = self
            .open
            .get(&(parent.to_owned(), CheckKind::Ping.as_str().to_owned()))?;
        Some(incident.joined.unwrap_or(incident.id))
    }

    /// Records who took an open incident on, once: a second acknowledgement is refused so the
    /// first answer (the one the procedure measures) stands.
    pub fn acknowledge(&mut self, id: u64, ack: Acknowledgement) -> Result<Incident, Refused> {
        let incident = self
            .open
            .values_mut()
            .find(|i| i.id == id)
            .ok_or_else(|| Refused::NotFound(format!("no open incident {id}")))?;
        if let Some(before) = &incident.acknowledged {
            return Err(Refused::Conflict(format!(
                "incident {id} was already acknowledged by {}",
                before.by
            )));
        }
        incident.acknowledged = Some(ack);
        Ok(incident.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(device: &str, to: State, at: f64) -> Transition {
        Transition {
            device: device.into(),
            check: CheckKind::Ping,
            at,
            from: State::Ok,
            to,
            summary: format!("{device} {to}"),
        }
    }

    #[test]
    fn failed_opens_dated_from_the_first_failure_and_recovery_resolves() {
        let mut book = Book::new(vec![], 41);
        let opened = book
            .apply(
                &t("switch", State::Failed, 130.0),
                Some(100.0),
                None,
                &serde_json::json!({"loss": 1}),
            )
            .unwrap();
        assert_eq!((opened.id, opened.opened_at, opened.failed_at), (42, 100.0, 130.0));
        assert_eq!(opened.values["loss"], 1);
        // Still failing, then unknown: nothing new, still open.
        assert!(
            book.apply(&t("switch", State::Failed, 140.0), None, None, &serde_json::Value::Null)
                .is_none()
        );
        assert!(
            book.apply(
                &t("switch", State::Unknown, 150.0),
                None,
                None,
                &serde_json::Value::Null
            )
            .is_none()
        );
        assert_eq!(book.open().count(), 1);
        let resolved = book
            .apply(&t("switch", State::Ok, 400.0), None, None, &serde_json::Value::Null)
            .unwrap();
        assert_eq!(resolved.repair_seconds(), Some(300.0));
        assert_eq!(book.open().count(), 0);
        // A warning is no fault: nothing opens.
        assert!(
            book.apply(
                &t("switch", State::Warning, 500.0),
                None,
                None,
                &serde_json::Value::Null
            )
            .is_none()
        );
    }

    #[test]
    fn unreachable_children_join_the_root_incident() {
        let mut book = Book::new(vec![], 0);
        let switch = book
            .apply(&t("switch", State::Failed, 10.0), None, None, &serde_json::Value::Null)
            .unwrap();
        let nvr = book
            .apply(
                &t("nvr", State::Unreachable, 11.0),
                None,
                Some("switch"),
                &serde_json::Value::Null,
            )
            .unwrap();
        assert_eq!(nvr.joined, Some(switch.id));
        // A camera behind the recorder joins the switch's incident, not the recorder's.
        let cam = book
            .apply(
                &t("cam", State::Unreachable, 12.0),
                None,
                Some("nvr"),
                &serde_json::Value::Null,
            )
            .unwrap();
        assert_eq!(cam.joined, Some(switch.id));
        // A child that failed a moment before its parent joins once it is seen unreachable, and
        // stays joined when it fails for a poll after the parent is back.
        let door = book
            .apply(&t("door", State::Failed, 14.0), None, None, &serde_json::Value::Null)
            .unwrap();
        assert_eq!(door.joined, None);
        let joined = book
            .apply(
                &t("door", State::Unreachable, 15.0),
                None,
                Some("switch"),
                &serde_json::Value::Null,
            )
            .unwrap();
        assert_eq!((joined.id, joined.joined), (door.id, Some(switch.id)));
        assert!(
            book.apply(
                &t("door", State::Failed, 16.0),
                None,
                Some("switch"),
                &serde_json::Value::Null
            )
            .is_none()
        );
        // Unreachable with no parent incident known: its own.
        let lone = book
            .apply(
                &t("far", State::Unreachable, 13.0),
                None,
                Some("gone"),
                &serde_json::Value::Null,
            )
            .unwrap();
        assert_eq!(lone.joined, None);
    }

    #[test]
    fn an_incident_is_acknowledged_once() {
        let mut book = Book::new(vec![], 0);
        let i = book
            .apply(&t("ups", State::Failed, 10.0), None, None, &serde_json::Value::Null)
            .unwrap();
        let ack = |by: &str| Acknowledgement {
            at: 70.0,
            by: by.into(),
            note: "on my way".into(),
        };
        let acked = book.acknowledge(i.id, ack("ana")).unwrap();
        assert_eq!(acked.acknowledge_seconds(), Some(60.0));
        assert_eq!(
            book.acknowledge(i.id, ack("bo")).unwrap_err(),
            Refused::Conflict("incident 1 was already acknowledged by ana".into())
        );
        assert_eq!(
            book.acknowledge(99, ack("bo")).unwrap_err(),
            Refused::NotFound("no open incident 99".into())
        );
    }
}
