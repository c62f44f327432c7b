//! SNMP values the configuration names (a thermometer, a PDU).

use serde::Serialize;

use crate::config::SnmpValueSpec;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadValue {
    pub name: String,
    pub oid: String,
    /// Raw number times the configured scale; `None` when the agent had no number there.
    pub value: Option<f64>,
    pub unit: String,
    /// The configured thresholds, for the judge.
    #[serde(skip)]
    pub spec: SnmpValueSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnmpValuesObservation {
    pub values: Vec<ReadValue>,
    pub notes: Vec<String>,
}
