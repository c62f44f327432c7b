//! User-defined OIDs: a room temperature sensor, a PDU's load, anything with a number.

use super::Reading;
use super::client::{Oid, SnmpClient};
use crate::config::SnmpValueSpec;
use crate::observation::ProbeError;
use crate::observation::values::{ReadValue, SnmpValuesObservation};

pub async fn read(client: &mut SnmpClient<'_>, specs: &[SnmpValueSpec]) -> Result<SnmpValuesObservation, ProbeError> {
    let oids: Vec<Oid> = specs.iter().map(|s| Oid(s.oid.clone())).collect();
    let reading = Reading::new(client.get(&oids).await?);
    let mut notes = Vec::new();
    let values = specs
        .iter()
        .map(|s| {
            let oid = Oid(s.oid.clone()).to_string();
            // No sentinel rules here: -1 is a fine temperature.
            let value = match reading.value(&oid) {
                Some(v) => match v.as_f64() {
                    Some(n) => Some(n * s.scale),
                    None => {
                        notes.push(format!("{}: the agent sent {v} at {oid}, not a number", s.name));
                        None
                    }
                },
                None => {
                    notes.push(format!("{}: nothing at {oid}", s.name));
                    None
                }
            };
            ReadValue {
                name: s.name.clone(),
                oid,
                value,
                unit: s.unit.clone(),
                spec: s.clone(),
            }
        })
        .collect();
    Ok(SnmpValuesObservation { values, notes })
}
