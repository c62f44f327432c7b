//! What probes saw, as typed facts in base units: the one vocabulary between probes and judges.
//! One file per kind of observation, whichever protocol produced it (a recorder's drives come
//! from SNMP or ISAPI, footage from folders, Profile G or ISAPI), so a new protocol that yields an
//! existing observation touches no other protocol's files, and judges never import a prober.

pub mod backup;
pub mod filesystem;
pub mod footage;
pub mod image;
pub mod onvif;
pub mod ping;
pub mod recorder;
pub mod storage;
pub mod stream;
pub mod ups;
pub mod uptime;
pub mod values;

use std::fmt;

use serde::Serialize;

/// What a probe saw, in base units.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Observation {
    Ping(ping::PingObservation),
    Filesystem(filesystem::FilesystemObservation),
    Ups(ups::UpsObservation),
    Uptime(uptime::UptimeObservation),
    Storage(storage::StorageObservation),
    Recorder(recorder::RecorderObservation),
    SnmpValues(values::SnmpValuesObservation),
    Onvif(Box<onvif::OnvifObservation>),
    Stream(stream::StreamObservation),
    Image(image::ImageObservation),
    Backup(backup::BackupObservation),
    Footage(footage::FootageObservation),
    History(crate::availability::History),
}

/// Why a probe could not see anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeError {
    pub kind: ProbeErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeErrorKind {
    /// The device did not answer within the check's timeout.
    Timeout,
    /// The device's name does not resolve.
    Resolve,
    /// The device answered something we cannot use, or a resource it should have is missing.
    Device,
    /// The agent itself could not run the probe (its own resources, permissions, bugs).
    Agent,
    /// The device answers, but lacks what the check reads (a MIB, a table): the check tells
    /// nothing about it, so its status is unknown, never failed.
    Unsupported,
}

impl ProbeError {
    pub fn new(kind: ProbeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The device lacks what the check reads: `missing` names it ("no hrStorageTable").
    pub fn unsupported(missing: impl std::fmt::Display) -> Self {
        Self::new(
            ProbeErrorKind::Unsupported,
            format!("not supported by this device: {missing}"),
        )
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
