//! How long a device has been up (SNMP sysUpTime/hrSystemUptime, ISAPI), the reference for reboots.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UptimeObservation {
    /// When the answer came (Unix seconds), the reference for computing the boot time.
    pub polled_at: f64,
    /// sysUpTime, hundredths of a second.
    pub agent_ticks: Option<u32>,
    /// hrSystemUptime, hundredths of a second.
    pub host_ticks: Option<u32>,
    /// The device's own uptime in whole seconds, from a counter that does not wrap (ISAPI
    /// `deviceUpTime`); when present it is the one judged.
    pub device_seconds: Option<u64>,
    /// snmpEngineBoots: how often the SNMP engine has (re)started.
    pub engine_boots: Option<i64>,
    pub description: Option<String>,
    pub name: Option<String>,
}
