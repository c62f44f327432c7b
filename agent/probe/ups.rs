//! One UPS model for every way of asking a UPS (UPS-MIB, APC PowerNet, Eaton XUPS, NUT), so the
//! rules and metrics are written once. Every figure is optional: real UPS agents leave out what
//! they do not measure, and an absent figure is reported as absent (with a note), never as 0.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::observation::ups::{OutputSource, UpsObservation};

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
