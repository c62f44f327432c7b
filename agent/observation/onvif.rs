//! What an ONVIF device said: clock, identity, services, media profiles.

use serde::Serialize;

/// What one ONVIF poll saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnvifObservation {
    /// The device service URL.
    pub url: String,
    pub time: DeviceTime,
    /// Device clock minus ours, seconds (positive: the device is ahead).
    pub clock_offset_seconds: Option<f64>,
    /// Present when the poll went beyond the clock.
    pub identity: Option<Identity>,
    pub mac: Option<String>,
    pub services: Option<Services>,
    pub profiles: Vec<Profile>,
    /// The profile whose stream and snapshot are used.
    pub profile: Option<String>,
    /// Stream and snapshot URIs, without credentials.
    pub stream_uri: Option<String>,
    pub snapshot_uri: Option<String>,
    pub notes: Vec<String>,
}

impl OnvifObservation {
    /// The encoder of the chosen profile.
    pub fn encoder(&self) -> Option<&Encoder> {
        let chosen = self.profile.as_deref()?;
        self.profiles.iter().find(|p| p.token == chosen)?.encoder.as_ref()
    }
}

/// What a device says its clock reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceTime {
    /// The device's UTC time, Unix seconds; `None` when it gave only local time or none.
    pub utc_seconds: Option<i64>,
    /// The clock was never set (a year before 2000: 1970 after a power cut, 0000 on some firmware).
    pub unset: bool,
    /// `NTP` or `Manual`.
    pub date_time_type: Option<String>,
    /// The device's time zone setting, for people (never used to compute drift).
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
pub struct Identity {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub hardware_id: Option<String>,
}

impl Identity {
    /// Whether it says who the device is: a manufacturer, model, firmware or serial (a hardware id
    /// alone names no unit).
    pub fn says_who(&self) -> bool {
        [&self.manufacturer, &self.model, &self.firmware, &self.serial]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
    }
}

/// Service addresses from GetCapabilities (or GetServices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Services {
    pub media: Option<String>,
    pub recording: Option<String>,
    pub search: Option<String>,
    pub replay: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Encoder {
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
    pub bitrate_kbps: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub token: String,
    pub name: Option<String>,
    pub encoder: Option<Encoder>,
}
