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
//!   not judge) leaves it open: nobody has seen it repaired;
//! - a joined incident leaves its root when the root resolves, or when it fails for a reason of
//!   its own (`failed` with its parent up): from then on it is a fault of its own, announced
//!   then, so it is mailed, reminded and escalated like any other (its group window still passes
//!   first, so a child that only lags its parent by a poll is never mailed). A child still
//!   unreachable behind a parent that now fails on its own joins that parent's incident.

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

/// The devices that cannot be reached behind `root`, each named once, in name order: a camera
/// whose ping, ONVIF and picture are all unreachable is one device behind a dead switch, not
/// three. The root's own device is not "behind" it.
pub fn devices_behind(root: &Incident, members: &[&Incident]) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = members
        .iter()
        .map(|m| m.device.as_str())
        .filter(|d| *d != root.device)
        .collect();
    names.into_iter().map(str::to_owned).collect()
}

/// The root device's own checks that cannot answer because of `root` (the clock, baseline and
/// picture of a camera whose ONVIF port refuses), in name order.
pub fn checks_through(root: &Incident, members: &[&Incident]) -> Vec<String> {
    let checks: std::collections::BTreeSet<&str> = members
        .iter()
        .filter(|m| m.device == root.device)
        .map(|m| m.check.as_str())
        .collect();
    checks.into_iter().map(str::to_owned).collect()
}

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened,
    /// Became part of its parent's incident.
    Joined,
    /// Left the incident it had joined: a fault of its own from now.
    Left,
    Resolved,
}

/// The open incidents, by (device, check), and the next id to give.
#[derive(Debug, Default)]
pub struct Book {
    open: BTreeMap<(String, String), Incident>,
    /// Open incidents whose check is `unreachable` now, with what they depend on (see
    /// `config::upstream`): the ones to join an upstream check that turns out to be a fault of
    /// its own.
    unreachable: BTreeMap<(String, String), (String, String)>,
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
            unreachable: BTreeMap::new(),
            next_id: max_id + 1,
        }
    }

    /// Incidents joined to a root that is not open (a store from before joined incidents left
    /// their root, or a crash between the two writes): faults of their own from now. Returns
    /// the ones it changed, to be saved.
    pub fn detach_orphans(&mut self) -> Vec<Incident> {
        let roots: std::collections::BTreeSet<u64> = self.open.values().map(|i| i.id).collect();
        self.open
            .values_mut()
            .filter(|i| i.joined.is_some_and(|root| !roots.contains(&root)))
            .map(|i| {
                i.joined = None;
                i.clone()
            })
            .collect()
    }

    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    pub fn find(&self, id: u64) -> Option<&Incident> {
        self.open.values().find(|i| i.id == id)
    }

    /// Applies one transition. `first_failure` is when the failing streak began; `upstream`
    /// the `(device, check)` the check depends on (its parent's ping, its own ping, its
    /// session's first check). Returns every incident it changed, as it now is: the
    /// transition's own first, then incidents that left or joined a root because of it.
    pub fn apply(
        &mut self,
        t: &Transition,
        first_failure: Option<f64>,
        upstream: Option<(&str, CheckKind)>,
        values: &serde_json::Value,
    ) -> Vec<(Change, Incident)> {
        let key = (t.device.clone(), t.check.as_str().to_owned());
        let upstream = upstream.map(|(d, c)| (d.to_owned(), c.as_str().to_owned()));
        match (t.to, &upstream) {
            (State::Unreachable, Some(up)) => {
                self.unreachable.insert(key.clone(), up.clone());
            }
            _ => {
                self.unreachable.remove(&key);
            }
        }
        let mut changed = Vec::new();
        match t.to {
            State::Failed | State::Unreachable if !self.open.contains_key(&key) => {
                let joined = match t.to {
                    State::Unreachable => upstream.as_ref().and_then(|u| self.root_of(u)),
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
                self.open.insert(key.clone(), incident.clone());
                changed.push((Change::Opened, incident));
            }
            State::Ok | State::Warning => {
                let Some(mut incident) = self.open.remove(&key) else {
                    return changed;
                };
                incident.resolved_at = Some(t.at);
                let root = incident.id;
                changed.push((Change::Resolved, incident));
                // Its members are faults of their own now (or repaired, which their next
                // result says): never held behind a closed incident.
                for member in self.open.values_mut().filter(|i| i.joined == Some(root)) {
                    member.joined = None;
                    member.failed_at = t.at;
                    changed.push((Change::Left, member.clone()));
                }
            }
            // A child often fails a moment before its parent does (both stop answering at once):
            // when it turns out unreachable, its incident joins the parent's.
            State::Unreachable => {
                let Some(root) = upstream.as_ref().and_then(|u| self.root_of(u)) else {
                    return changed;
                };
                if let Some(incident) = self.open.get_mut(&key)
                    && incident.joined.is_none()
                    && incident.id != root
                {
                    incident.joined = Some(root);
                    changed.push((Change::Joined, incident.clone()));
                }
            }
            // Failed with its parent up: a reason of its own. It leaves the root it had joined,
            // announced now with what it says now.
            State::Failed => {
                if let Some(incident) = self.open.get_mut(&key)
                    && incident.joined.is_some()
                {
                    incident.joined = None;
                    incident.failed_at = t.at;
                    incident.summary = t.summary.clone();
                    incident.values = values.clone();
                    changed.push((Change::Left, incident.clone()));
                }
            }
            // unknown leaves it open.
            _ => {}
        }
        if t.to == State::Failed {
            changed.extend(self.join_behind(key));
        }
        changed
    }

    /// Opens an incident of the agent itself, `(AGENT_DEVICE, check)`, unless one is open: its
    /// fault began at `opened_at` and is announced at `failed_at`. Returns it when opened.
    pub fn open_own(
        &mut self,
        check: &str,
        opened_at: f64,
        failed_at: f64,
        summary: String,
        values: serde_json::Value,
    ) -> Option<Incident> {
        let key = (crate::model::AGENT_DEVICE.to_owned(), check.to_owned());
        if self.open.contains_key(&key) {
            return None;
        }
        let incident = Incident {
            id: self.next_id,
            device: key.0.clone(),
            check: key.1.clone(),
            opened_at: opened_at.min(failed_at),
            failed_at,
            resolved_at: None,
            joined: None,
            summary,
            values,
            acknowledged: None,
        };
        self.next_id += 1;
        self.open.insert(key, incident.clone());
        Some(incident)
    }

    /// Resolves the agent's own incident of `check`, if one is open, as repaired at `at`.
    pub fn resolve_own(&mut self, check: &str, at: f64) -> Option<Incident> {
        let mut incident = self
            .open
            .remove(&(crate::model::AGENT_DEVICE.to_owned(), check.to_owned()))?;
        incident.resolved_at = Some(at.max(incident.opened_at));
        Some(incident)
    }

    /// `upstream` is a fault of its own now: the incidents still unreachable behind it (through
    /// any depth of dependence) that are on their own join its incident.
    fn join_behind(&mut self, upstream: (String, String)) -> Vec<(Change, Incident)> {
        let mut changed = Vec::new();
        let mut ups = vec![upstream];
        while let Some(up) = ups.pop() {
            let Some(root) = self.root_of(&up) else {
                continue;
            };
            let behind: Vec<(String, String)> = self
                .unreachable
                .iter()
                .filter(|(_, u)| **u == up)
                .map(|(k, _)| k.clone())
                .collect();
            for key in behind {
                ups.push(key.clone());
                if let Some(incident) = self.open.get_mut(&key)
                    && incident.joined.is_none()
                    && incident.id != root
                {
                    incident.joined = Some(root);
                    changed.push((Change::Joined, incident.clone()));
                }
            }
        }
        changed
    }

    /// The incident an unreachable check behind `upstream` belongs to: the upstream check's
    /// own incident, or the one that incident joined.
    fn root_of(&self, upstream: &(String, String)) -> Option<u64> {
        let incident = self.open.get(upstream)?;
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

    /// The transition's own incident, when it is the only change.
    fn one(changed: Vec<(Change, Incident)>) -> Incident {
        assert_eq!(changed.len(), 1, "{changed:?}");
        changed.into_iter().next().unwrap().1
    }

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
        let opened = one(book.apply(
            &t("switch", State::Failed, 130.0),
            Some(100.0),
            None,
            &serde_json::json!({"loss": 1}),
        ));
        assert_eq!((opened.id, opened.opened_at, opened.failed_at), (42, 100.0, 130.0));
        assert_eq!(opened.values["loss"], 1);
        // Still failing, then unknown: nothing new, still open.
        assert!(
            book.apply(&t("switch", State::Failed, 140.0), None, None, &serde_json::Value::Null)
                .is_empty()
        );
        assert!(
            book.apply(
                &t("switch", State::Unknown, 150.0),
                None,
                None,
                &serde_json::Value::Null
            )
            .is_empty()
        );
        assert_eq!(book.open().count(), 1);
        let resolved = one(book.apply(&t("switch", State::Ok, 400.0), None, None, &serde_json::Value::Null));
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
            .is_empty()
        );
    }

    #[test]
    fn unreachable_children_join_the_root_incident() {
        let mut book = Book::new(vec![], 0);
        let switch = one(book.apply(&t("switch", State::Failed, 10.0), None, None, &serde_json::Value::Null));
        let nvr = one(book.apply(
            &t("nvr", State::Unreachable, 11.0),
            None,
            Some(("switch", CheckKind::Ping)),
            &serde_json::Value::Null,
        ));
        assert_eq!(nvr.joined, Some(switch.id));
        // A camera behind the recorder joins the switch's incident, not the recorder's.
        let cam = one(book.apply(
            &t("cam", State::Unreachable, 12.0),
            None,
            Some(("nvr", CheckKind::Ping)),
            &serde_json::Value::Null,
        ));
        assert_eq!(cam.joined, Some(switch.id));
        // A child that failed a moment before its parent joins once it is seen unreachable.
        let door = one(book.apply(&t("door", State::Failed, 14.0), None, None, &serde_json::Value::Null));
        assert_eq!(door.joined, None);
        let joined = one(book.apply(
            &t("door", State::Unreachable, 15.0),
            None,
            Some(("switch", CheckKind::Ping)),
            &serde_json::Value::Null,
        ));
        assert_eq!((joined.id, joined.joined), (door.id, Some(switch.id)));
        // Unreachable with no parent incident known: its own.
        let lone = one(book.apply(
            &t("far", State::Unreachable, 13.0),
            None,
            Some(("gone", CheckKind::Ping)),
            &serde_json::Value::Null,
        ));
        assert_eq!(lone.joined, None);
    }

    #[test]
    fn a_joined_incident_leaves_its_root_when_the_root_resolves_or_it_fails_on_its_own() {
        let null = serde_json::Value::Null;
        let mut book = Book::new(vec![], 0);
        let switch = one(book.apply(&t("switch", State::Failed, 10.0), None, None, &null));
        let cam = one(book.apply(
            &t("cam", State::Unreachable, 11.0),
            None,
            Some(("switch", CheckKind::Ping)),
            &null,
        ));
        let door = one(book.apply(
            &t("door", State::Unreachable, 11.0),
            None,
            Some(("switch", CheckKind::Ping)),
            &null,
        ));
        assert_eq!((cam.joined, door.joined), (Some(switch.id), Some(switch.id)));
        // The switch is back: the camera and the door are faults of their own, announced now.
        let changed = book.apply(&t("switch", State::Ok, 20.0), None, None, &null);
        let kinds: Vec<(Change, &str, Option<u64>, f64)> = changed
            .iter()
            .map(|(c, i)| (*c, i.device.as_str(), i.joined, i.failed_at))
            .collect();
        assert_eq!(
            kinds,
            [
                (Change::Resolved, "switch", None, 10.0),
                (Change::Left, "cam", None, 20.0),
                (Change::Left, "door", None, 20.0)
            ]
        );
        // The camera now fails for a reason of its own: it says so, and stays its own.
        let mut black = t("cam", State::Failed, 21.0);
        black.summary = "black picture".into();
        assert!(
            book.apply(&black, None, Some(("switch", CheckKind::Ping)), &null)
                .is_empty(),
            "already its own"
        );
        // While a root is open, a member failing with its parent up leaves it, with its reason.
        let mut book = Book::new(vec![], 0);
        let nvr = one(book.apply(&t("nvr", State::Failed, 10.0), None, None, &null));
        one(book.apply(
            &t("cam", State::Unreachable, 11.0),
            None,
            Some(("nvr", CheckKind::Ping)),
            &null,
        ));
        let left = book.apply(&black, None, Some(("nvr", CheckKind::Ping)), &null);
        assert_eq!(left.len(), 1, "{left:?}");
        let (change, cam) = &left[0];
        assert_eq!(
            (*change, cam.joined, cam.failed_at, cam.summary.as_str()),
            (Change::Left, None, 21.0, "black picture")
        );
        assert_ne!(cam.id, nvr.id);
    }

    #[test]
    fn what_stays_unreachable_behind_a_parent_that_fails_on_its_own_joins_that_parent() {
        let null = serde_json::Value::Null;
        let mut book = Book::new(vec![], 0);
        // core switch -> access switch -> camera: all down, all joined to the core's incident.
        let core = one(book.apply(&t("core", State::Failed, 10.0), None, None, &null));
        one(book.apply(
            &t("access", State::Unreachable, 11.0),
            None,
            Some(("core", CheckKind::Ping)),
            &null,
        ));
        one(book.apply(
            &t("cam", State::Unreachable, 11.0),
            None,
            Some(("access", CheckKind::Ping)),
            &null,
        ));
        assert_eq!(book.open().filter(|i| i.joined == Some(core.id)).count(), 2);
        // The core comes back; the access switch turns out dead on its own; the camera, still
        // unreachable behind it, joins the access switch's incident instead of being its own.
        book.apply(&t("core", State::Ok, 20.0), None, None, &null);
        let changed = book.apply(
            &t("access", State::Failed, 21.0),
            None,
            Some(("core", CheckKind::Ping)),
            &null,
        );
        let access = book.open().find(|i| i.device == "access").unwrap().clone();
        assert_eq!(access.joined, None);
        assert!(
            changed
                .iter()
                .any(|(c, i)| *c == Change::Joined && i.device == "cam" && i.joined == Some(access.id)),
            "{changed:?}"
        );
    }

    #[test]
    fn incidents_joined_to_a_closed_root_are_detached_at_resume() {
        let mut book = Book::new(vec![], 0);
        let null = serde_json::Value::Null;
        let switch = one(book.apply(&t("switch", State::Failed, 10.0), None, None, &null));
        let cam = one(book.apply(
            &t("cam", State::Unreachable, 11.0),
            None,
            Some(("switch", CheckKind::Ping)),
            &null,
        ));
        assert_eq!(cam.joined, Some(switch.id));
        // A store whose switch incident is closed but whose camera is still joined to it.
        let mut book = Book::new(vec![cam.clone()], 5);
        let detached = book.detach_orphans();
        assert_eq!(detached.len(), 1);
        assert_eq!((detached[0].id, detached[0].joined), (cam.id, None));
        assert!(book.detach_orphans().is_empty());
    }

    #[test]
    fn an_incident_is_acknowledged_once() {
        let mut book = Book::new(vec![], 0);
        let i = one(book.apply(&t("ups", State::Failed, 10.0), None, None, &serde_json::Value::Null));
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
