//! `GET /ISAPI/ContentMgmt/Storage`: the recorder's drives (`hddList/hdd`) and network storage
//! (`nasList/nas`), with status, capacity and free space in MiB, mapped onto the recorder-disk
//! observation the SNMP MIBs fill, so one judge rules on both.

use super::{Client, number};
use crate::config::IsapiSpec;
use crate::observation::ProbeError;
use crate::observation::recorder::{DiskState, RecorderDisk, RecorderObservation};
use crate::probe::ProbeContext;
use crate::probe::http::HttpClients;
use crate::probe::xml::Element;

const MIB: u64 = 1 << 20;

/// Hikvision's status words (their spellings: "reparing", "formating"), case-insensitively.
pub fn state(status: &str) -> DiskState {
    match status.trim().to_ascii_lowercase().as_str() {
        "ok" | "normal" => DiskState::Normal,
        "idle" | "sleeping" => DiskState::Idle,
        // A bay the recorder lists without a disk in it.
        "notexist" | "none" | "absent" => DiskState::Empty,
        "unformatted" | "uninitialized" | "unrecordhostformatted" => DiskState::Unformatted,
        "reparing" | "repairing" | "formating" | "formatting" => DiskState::Repairing,
        "error" | "abnormal" | "mismatch" | "exception" => DiskState::Abnormal,
        "smartfailed" => DiskState::SmartFailed,
        "offline" => DiskState::NotOnline,
        _ => DiskState::Unknown,
    }
}

fn disk(element: &Element, prefix: &str, notes: &mut Vec<String>) -> RecorderDisk {
    let id = format!("{prefix}{}", element.text_at(&["id"]).unwrap_or_default());
    let reported = element.text_at(&["status"]).unwrap_or_default();
    let state = state(&reported);
    if state == DiskState::Unknown {
        notes.push(format!("disk {id}: unknown status {reported:?}"));
    }
    if element.text_at(&["property"]).as_deref() == Some("RO") && state != DiskState::Empty {
        notes.push(format!("disk {id} is read-only: no new footage is written to it"));
    }
    let megabytes = |name: &str| number::<u64>(element, &[name]).map(|mb| mb.saturating_mul(MIB));
    RecorderDisk {
        name: element
            .text_at(&["hddName"])
            .or_else(|| element.text_at(&["path"]))
            .or_else(|| element.text_at(&["ipAddress"])),
        id,
        state,
        reported,
        capacity_bytes: megabytes("capacity"),
        free_bytes: megabytes("freeSpace"),
    }
}

/// The drives of a `<storage>` answer.
pub fn parse(doc: &Element) -> RecorderObservation {
    let mut notes = Vec::new();
    let list = |name: &str| {
        doc.child(name)
            .map(|l| l.children.iter().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut disks: Vec<RecorderDisk> = list("hddList")
        .into_iter()
        .filter(|e| e.name == "hdd")
        .map(|e| disk(e, "", &mut notes))
        .collect();
    disks.extend(
        list("nasList")
            .into_iter()
            .filter(|e| e.name == "nas")
            .map(|e| disk(e, "nas", &mut notes)),
    );
    RecorderObservation {
        vendor: "hikvision",
        disks,
        notes,
    }
}

pub async fn probe(
    http: &HttpClients,
    spec: &IsapiSpec,
    ctx: &mut ProbeContext<'_>,
) -> Result<RecorderObservation, ProbeError> {
    super::with_client(http, spec, ctx, read).await
}

pub(super) async fn read(client: &mut Client<'_>) -> Result<RecorderObservation, ProbeError> {
    let doc = client.get("/ISAPI/ContentMgmt/Storage", "storage").await?;
    Ok(parse(&doc))
}

/// Size and free space of the drives that hold footage (empty bays left out), in bytes.
/// Saturating: a recorder can claim any size, and a sum that wrapped would read as a small disk.
pub fn totals(seen: &RecorderObservation) -> (u64, u64) {
    seen.disks
        .iter()
        .filter(|d| d.state != DiskState::Empty)
        .fold((0u64, 0u64), |(size, free), d| {
            (
                size.saturating_add(d.capacity_bytes.unwrap_or(0)),
                free.saturating_add(d.free_bytes.unwrap_or(0)),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hikvision_words_and_an_empty_bay() {
        let doc = Element::parse(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<storage version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<hddList size="3">
<hdd version="2.0"><id>1</id><hddName>hdd1</hddName><hddType>SATA</hddType><status>ok</status><capacity>3815447</capacity><freeSpace>1024</freeSpace><property>RW</property></hdd>
<hdd version="2.0"><id>2</id><hddName>hdd2</hddName><status>smartFailed</status><capacity>3815447</capacity><freeSpace>0</freeSpace><property>RW</property></hdd>
<hdd version="2.0"><id>3</id><hddName>hdd3</hddName><status>notexist</status><capacity>0</capacity><freeSpace>0</freeSpace></hdd>
</hddList><nasList size="8"></nasList></storage>"#,
        )
        .unwrap();
        let seen = parse(&doc);
        let states: Vec<DiskState> = seen.disks.iter().map(|d| d.state).collect();
        assert_eq!(states, [DiskState::Normal, DiskState::SmartFailed, DiskState::Empty]);
        assert_eq!(seen.disks[0].capacity_bytes, Some(3_815_447 * MIB));
        assert_eq!(totals(&seen), (2 * 3_815_447 * MIB, 1024 * MIB));
        assert_eq!(state("Reparing"), DiskState::Repairing);
        assert_eq!(state("whatever"), DiskState::Unknown);
    }

    /// Found by the isapi fuzz target: two drives claiming 2^64-1 MB each overflowed the sum.
    #[test]
    fn absurd_sizes_saturate_instead_of_wrapping() {
        let doc = Element::parse(
            b"<storage><hddList><hdd><id>1</id><status>ok</status><capacity>18446744073709551615</capacity>\
              <freeSpace>18446744073709551615</freeSpace></hdd><hdd><id>2</id><status>ok</status>\
              <capacity>18446744073709551615</capacity><freeSpace>1</freeSpace></hdd></hddList></storage>",
        )
        .unwrap();
        assert_eq!(totals(&parse(&doc)), (u64::MAX, u64::MAX));
    }
}
