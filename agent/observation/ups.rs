//! A UPS, as NUT or an SNMP UPS MIB reports it.

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
    /// How long the UPS has been on battery, as the UPS itself says (0 on mains); `None` when it
    /// does not say (NUT, XUPS-MIB): the UPS judge then counts from the outage's start it
    /// remembers, and its verdict's `seconds_on_battery` is the figure to show.
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
