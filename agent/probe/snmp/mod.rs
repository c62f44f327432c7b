//! Everything camwatch reads over SNMP. `client` speaks the protocol; each other file reads one
//! kind of thing (UPS, uptime, storage, recorder disks, user-defined values) into an observation.
//!
//! Real agents lie: `-1` for unknown, numbers in tenths where the MIB says units, Gauge32 where it
//! says INTEGER, empty strings, missing objects. The `Reading` helpers turn each answer into a
//! believable figure, or an absent one with a note saying why.

pub mod ber;
pub mod client;
pub mod recorder;
pub mod storage;
pub mod ups;
pub mod uptime;
pub mod values;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Mutex;

use client::{Oid, SnmpClient, SnmpValue};

use super::{Observation, ProbeContext, ProbeError, Transcript};
use crate::config::{Device, RecorderVendor, SnmpSpec, SnmpValueSpec, UpsMib};

/// What a GET answered, by OID.
pub struct Reading {
    values: HashMap<Oid, SnmpValue>,
}

impl Reading {
    pub fn new(pairs: Vec<(Oid, SnmpValue)>) -> Self {
        Self {
            values: pairs.into_iter().collect(),
        }
    }

    /// The value at `oid`, if the agent has one.
    pub fn value(&self, oid: &str) -> Option<&SnmpValue> {
        let oid = Oid::parse(oid).expect("OIDs in the code are valid");
        self.values.get(&oid).filter(|v| v.is_present())
    }

    pub fn has_any(&self) -> bool {
        self.values.values().any(SnmpValue::is_present)
    }

    pub fn text(&self, oid: &str) -> Option<String> {
        self.value(oid)?.as_text()
    }

    pub fn integer(&self, oid: &str) -> Option<i64> {
        self.value(oid)?.as_i64()
    }

    /// A number times `scale`, believed only inside `plausible` (after scaling); a `-1`, a value
    /// outside the range, or a non-number is left out with a note naming `what`.
    pub fn figure(
        &self,
        oid: &str,
        scale: f64,
        plausible: RangeInclusive<f64>,
        what: &str,
        notes: &mut Vec<String>,
    ) -> Option<f64> {
        let value = self.value(oid)?;
        let Some(raw) = value.as_f64() else {
            notes.push(format!("{what}: the agent sent {value}, not a number; left out"));
            return None;
        };
        // -1, or the all-ones of an unsigned 32-bit field, or INTEGER's maximum: "unknown".
        if raw == -1.0 || raw == f64::from(u32::MAX) || raw == f64::from(i32::MAX) {
            notes.push(format!("{what}: the agent reports {raw} (unknown); left out"));
            return None;
        }
        let scaled = raw * scale;
        if plausible.contains(&scaled) {
            Some(scaled)
        } else {
            notes.push(format!("{what}: {scaled} is not plausible; left out"));
            None
        }
    }
}

/// Voltages as the agent meant them: some agents (Delta, some Eaton cards) answer tenths of a
/// volt in UPS-MIB objects defined in whole volts. A mains voltage over 1,000 V that makes sense
/// divided by ten is read that way, and said so.
pub fn mains_voltage(reading: &Reading, oid: &str, what: &str, notes: &mut Vec<String>) -> Option<f64> {
    let volts = reading.figure(oid, 1.0, 0.0..=10_000.0, what, notes)?;
    if volts > 1000.0 && (80.0..=500.0).contains(&(volts / 10.0)) {
        notes.push(format!("{what}: {volts} read as tenths of a volt ({} V)", volts / 10.0));
        Some(volts / 10.0)
    } else if volts > 1000.0 {
        notes.push(format!("{what}: {volts} V is not plausible; left out"));
        None
    } else {
        Some(volts)
    }
}

/// Shared SNMP state: which UPS MIB each device answered last time, so the next poll asks the
/// right one first instead of probing all three.
#[derive(Debug, Default)]
pub struct SnmpProber {
    ups_mib: Mutex<HashMap<String, UpsMib>>,
}

impl SnmpProber {
    pub async fn ups(
        &self,
        spec: &SnmpSpec,
        mib: UpsMib,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<crate::observation::ups::UpsObservation, ProbeError> {
        let (device, transcript) = (ctx.device, &mut *ctx.transcript);
        let mut client = connect(spec, device, transcript).await?;
        let remembered = self
            .ups_mib
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&device.name)
            .copied();
        let (found, observation) = ups::read(&mut client, mib, remembered).await?;
        self.ups_mib
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(device.name.clone(), found);
        Ok(observation)
    }

    /// Every SNMP read but the UPS one, which remembers the MIB a device answered.
    pub async fn probe(
        &self,
        spec: &SnmpSpec,
        what: SnmpRead<'_>,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<Observation, ProbeError> {
        let mut client = connect(spec, ctx.device, ctx.transcript).await?;
        match what {
            SnmpRead::Uptime => uptime::read(&mut client).await.map(Observation::Uptime),
            SnmpRead::Storage => storage::read(&mut client).await.map(Observation::Storage),
            SnmpRead::Recorder(vendor) => recorder::read(&mut client, vendor).await.map(Observation::Recorder),
            SnmpRead::Values(specs) => values::read(&mut client, specs).await.map(Observation::SnmpValues),
        }
    }
}

pub enum SnmpRead<'a> {
    Uptime,
    Storage,
    Recorder(RecorderVendor),
    Values(&'a [SnmpValueSpec]),
}

async fn connect<'t>(
    spec: &SnmpSpec,
    device: &Device,
    transcript: &'t mut Transcript,
) -> Result<SnmpClient<'t>, ProbeError> {
    let address = device
        .address
        .as_deref()
        .ok_or_else(|| ProbeError::new(super::ProbeErrorKind::Agent, "device has no address"))?;
    SnmpClient::connect(spec, address, device.policy.timeout, transcript).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(pairs: &[(&str, SnmpValue)]) -> Reading {
        Reading::new(pairs.iter().map(|(o, v)| (Oid::parse(o).unwrap(), v.clone())).collect())
    }

    #[test]
    fn figures_are_scaled_checked_and_explained() {
        let r = reading(&[
            ("1.3.1", SnmpValue::Integer(98)),
            ("1.3.2", SnmpValue::Integer(-1)),
            ("1.3.3", SnmpValue::Integer(250)),
            ("1.3.4", SnmpValue::Bytes(b"n/a".to_vec())),
            ("1.3.5", SnmpValue::NoSuchInstance),
        ]);
        let mut notes = Vec::new();
        assert_eq!(r.figure("1.3.1", 0.01, 0.0..=1.5, "charge", &mut notes), Some(0.98));
        assert_eq!(r.figure("1.3.2", 1.0, 0.0..=100.0, "temperature", &mut notes), None);
        assert_eq!(r.figure("1.3.3", 0.01, 0.0..=1.5, "load", &mut notes), None);
        assert_eq!(r.figure("1.3.4", 1.0, 0.0..=100.0, "runtime", &mut notes), None);
        assert_eq!(r.figure("1.3.5", 1.0, 0.0..=100.0, "absent", &mut notes), None);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].contains("-1 (unknown)"));
        let r = reading(&[("1.4", SnmpValue::Timeticks(u32::MAX))]);
        assert_eq!(r.figure("1.4", 0.01, 0.0..=1e8, "time on battery", &mut notes), None);
        assert!(notes.last().unwrap().contains("4294967295 (unknown)"));
    }

    #[test]
    fn tenths_of_a_volt_are_recognised() {
        let r = reading(&[
            ("1.1", SnmpValue::Integer(2360)),
            ("1.2", SnmpValue::Integer(231)),
            ("1.3", SnmpValue::Integer(9000)),
        ]);
        let mut notes = Vec::new();
        assert_eq!(mains_voltage(&r, "1.1", "input voltage", &mut notes), Some(236.0));
        assert_eq!(mains_voltage(&r, "1.2", "input voltage", &mut notes), Some(231.0));
        assert_eq!(mains_voltage(&r, "1.3", "input voltage", &mut notes), None);
        assert_eq!(notes.len(), 2);
    }
}
