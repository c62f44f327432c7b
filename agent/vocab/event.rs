//! Every kind of event the state store keeps, written and read through one enum, so a name
//! written in one place cannot be matched misspelt in another. The names are stored in the
//! `events` table and shown in reports, so they never change once released.

use serde::{Serialize, Serializer};

super::named_enum! {
    /// Something that happened to a device, as opposed to a state it is in.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum EventKind {
        /// The device's uptime counter went back (SNMP, ISAPI).
        Reboot => "reboot",
        /// A recorder stopped being available (down, not recording, rebooted), as counted.
        Interruption => "interruption",
        /// No camera of a footage source records any more.
        RecordingStopped => "recording_stopped",
        /// A footage source records again.
        RecordingResumed => "recording_resumed",
        /// A camera's identity and settings were recorded as its approved baseline.
        BaselineRecorded => "baseline_recorded",
        /// Someone accepted what a camera is now as its new baseline.
        BaselineAccepted => "baseline_accepted",
        /// A camera is not the unit approved (its identity changed).
        Replaced => "replaced",
        /// A camera's settings differ from the approved ones.
        SettingsChanged => "settings_changed",
    }
}

impl EventKind {
    /// A change to what a device is or how it is set up: the report's "changes".
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Self::BaselineRecorded | Self::BaselineAccepted | Self::Replaced | Self::SettingsChanged | Self::Reboot
        )
    }

    /// Counted per device since the store began (the reboot and interruption counters).
    pub fn is_counted(self) -> bool {
        matches!(self, Self::Reboot | Self::Interruption)
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_stored_name() {
        for &kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        let names: std::collections::BTreeSet<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len());
        assert_eq!(EventKind::parse("baseline_replaced"), None);
    }
}
