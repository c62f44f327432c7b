//! One UPS model for every way of asking a UPS (UPS-MIB, APC PowerNet, Eaton XUPS, NUT), so the
//! rules and metrics are written once. Every figure is optional: real UPS agents leave out what
//! they do not measure, and an absent figure is reported as absent (with a note), never as 0.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// Where the output power comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputSource {
    Online,
    Battery,
    Bypass,
    /// Online, boosting a low input voltage.
    Boost,
    /// Online, reducing (trimming) a high input voltage.
    Reduce,
    Off,
    Other,
    Unknown,
}

impl OutputSource {
    pub const ALL: [OutputSource; 8] = [
        Self::Online,
        Self::Battery,
        Self::Bypass,
        Self::Boost,
        Self::Reduce,
        Self::Off,
        Self::Other,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Battery => "battery",
            Self::Bypass => "bypass",
            Self::Boost => "boost",
            Self::Reduce => "reduce",
            Self::Off => "off",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatteryStatus {
    Normal,
    Low,
    Depleted,
    Unknown,
}

impl BatteryStatus {
    pub const ALL: [BatteryStatus; 4] = [Self::Normal, Self::Low, Self::Depleted, Self::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Low => "low",
            Self::Depleted => "depleted",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpsObservation {
    /// Which MIB or protocol the figures came from: `rfc1628`, `apc`, `eaton` or `nut`.
    pub source_protocol: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub output_source: OutputSource,
    pub battery_status: BatteryStatus,
    /// 0..=1.
    pub charge_ratio: Option<f64>,
    pub runtime_seconds: Option<f64>,
    /// How long the UPS has been on battery; 0 when on mains.
    pub seconds_on_battery: Option<f64>,
    pub input_voltage_volts: Option<f64>,
    pub output_voltage_volts: Option<f64>,
    /// 0..=1 (may exceed 1 when overloaded).
    pub load_ratio: Option<f64>,
    pub battery_temperature_celsius: Option<f64>,
    /// Number of alarms the UPS reports as present.
    pub alarms: Option<u32>,
    pub replace_battery: Option<bool>,
    /// The UPS reports an overload.
    pub overload: bool,
    /// Why a figure is missing or was not believed, in words.
    pub notes: Vec<String>,
}

impl UpsObservation {
    pub fn new(source_protocol: &str) -> Self {
        Self {
            source_protocol: source_protocol.to_owned(),
            manufacturer: None,
            model: None,
            output_source: OutputSource::Unknown,
            battery_status: BatteryStatus::Unknown,
            charge_ratio: None,
            runtime_seconds: None,
            seconds_on_battery: None,
            input_voltage_volts: None,
            output_voltage_volts: None,
            load_ratio: None,
            battery_temperature_celsius: None,
            alarms: None,
            replace_battery: None,
            overload: false,
            notes: Vec::new(),
        }
    }
}

/// Remembers when each UPS was first seen on battery, for sources that do not say how long
/// (NUT, and SNMP agents without upsSecondsOnBattery). Lives as long as the agent.
#[derive(Debug, Default)]
pub struct OnBatteryClock {
    since: Mutex<HashMap<String, Instant>>,
}

impl OnBatteryClock {
    /// Fills `seconds_on_battery` from the first time `device` was seen on battery, when the
    /// UPS did not report it itself; forgets the device once it is back on mains.
    pub fn fill(&self, device: &str, ups: &mut UpsObservation) {
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if ups.output_source == OutputSource::Battery {
            let started = *since.entry(device.to_owned()).or_insert_with(Instant::now);
            if ups.seconds_on_battery.is_none() {
                ups.seconds_on_battery = Some(started.elapsed().as_secs_f64());
            }
        } else {
            since.remove(device);
            if ups.seconds_on_battery.is_none() && ups.output_source != OutputSource::Unknown {
                ups.seconds_on_battery = Some(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_from_the_first_battery_sighting_and_resets_on_mains() {
        let clock = OnBatteryClock::default();
        let mut ups = UpsObservation::new("nut");
        ups.output_source = OutputSource::Battery;
        clock.fill("ups-1", &mut ups);
        assert!(ups.seconds_on_battery.unwrap() < 1.0);
        let mut reported = UpsObservation::new("rfc1628");
        reported.output_source = OutputSource::Battery;
        reported.seconds_on_battery = Some(120.0);
        clock.fill("ups-2", &mut reported);
        assert_eq!(reported.seconds_on_battery, Some(120.0), "a reported figure is kept");
        let mut mains = UpsObservation::new("nut");
        mains.output_source = OutputSource::Online;
        clock.fill("ups-1", &mut mains);
        assert_eq!(mains.seconds_on_battery, Some(0.0));
        assert!(clock.since.lock().unwrap().get("ups-1").is_none());
    }
}
