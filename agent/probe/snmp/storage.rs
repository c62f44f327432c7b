//! Disks and volumes of a remote host or NAS from HOST-RESOURCES-MIB: hrStorageTable for space,
//! hrDeviceTable for the health of each disk device, where the agent has them.

use std::collections::BTreeMap;

use super::client::{Oid, SnmpClient, SnmpValue};
use crate::observation::ProbeError;
use crate::observation::storage::{DeviceStatus, DiskDevice, StorageObservation, Volume};

const HR_STORAGE_ENTRY: &str = "1.3.6.1.2.1.25.2.3.1";
const HR_STORAGE_TYPES: &str = "1.3.6.1.2.1.25.2.1";
const HR_DEVICE_ENTRY: &str = "1.3.6.1.2.1.25.3.2.1";
const HR_DEVICE_DISK_STORAGE: &str = "1.3.6.1.2.1.25.3.1.6";
const HR_FS_ENTRY: &str = "1.3.6.1.2.1.25.3.8.1";
/// hrFSEntry columns: hrFSMountPoint and hrFSStorageIndex (the hrStorageTable row it is).
const HR_FS_MOUNT_POINT: u64 = 2;
const HR_FS_STORAGE_INDEX: u64 = 7;

/// hrStorageType OIDs (under hrStorageTypes) of what can hold footage.
fn storage_kind(type_oid: &Oid) -> Option<&'static str> {
    let types = Oid::parse(HR_STORAGE_TYPES).expect("valid");
    match type_oid.suffix_after(&types)? {
        [4] => Some("fixed_disk"),
        [5] => Some("removable_disk"),
        [9] => Some("flash_memory"),
        [10] => Some("network_disk"),
        _ => None, // RAM, virtual memory, floppies, CDs, "other"
    }
}

/// Mounts that are never disks, whatever type the agent gives them (net-snmp calls tmpfs a
/// fixed disk).
fn is_pseudo(name: &str) -> bool {
    ["/dev", "/proc", "/sys", "/run"]
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}/")))
}

/// Rows of a walked table as column -> index -> value.
fn columns(rows: Vec<(Oid, SnmpValue)>, entry: &Oid) -> BTreeMap<u64, BTreeMap<Vec<u64>, SnmpValue>> {
    let mut table: BTreeMap<u64, BTreeMap<Vec<u64>, SnmpValue>> = BTreeMap::new();
    for (oid, value) in rows {
        if let Some([column, index @ ..]) = oid.suffix_after(entry)
            && !index.is_empty()
        {
            table.entry(*column).or_default().insert(index.to_vec(), value);
        }
    }
    table
}

/// Reads an Integer32 size or used count; agents overflow it on big volumes (negative numbers),
/// which are the same bits read as unsigned.
fn count(value: Option<&SnmpValue>, notes: &mut Vec<String>, name: &str) -> Option<u64> {
    match value?.as_i64()? {
        n if n >= 0 => Some(n as u64),
        n if n >= i64::from(i32::MIN) => {
            notes.push(format!(
                "{name}: the agent's 32-bit counter overflowed; read as unsigned"
            ));
            Some(u64::from(n as i32 as u32))
        }
        _ => None,
    }
}

/// Agents that name storage rows by device (AIX `/dev/hd4`, some NAS firmware) give the mount
/// points in hrFSTable: hrFSStorageIndex -> hrFSMountPoint.
fn mount_points(rows: Vec<(Oid, SnmpValue)>, entry: &Oid) -> BTreeMap<Vec<u64>, String> {
    let table = columns(rows, entry);
    let (Some(mounts), Some(storage)) = (table.get(&HR_FS_MOUNT_POINT), table.get(&HR_FS_STORAGE_INDEX)) else {
        return BTreeMap::new();
    };
    storage
        .iter()
        .filter_map(|(fs, index)| {
            let index = u64::try_from(index.as_i64()?).ok().filter(|i| *i > 0)?;
            let mount = mounts.get(fs)?.as_text().filter(|m| !m.is_empty())?;
            Some((vec![index], mount))
        })
        .collect()
}

/// A description that is a device node rather than a mount point.
fn is_device_path(name: &str) -> bool {
    name.starts_with("/dev/")
}

pub async fn read(client: &mut SnmpClient<'_>) -> Result<StorageObservation, ProbeError> {
    let entry = Oid::parse(HR_STORAGE_ENTRY).expect("valid");
    let table = columns(client.walk(&entry).await?, &entry);
    let mut notes = Vec::new();
    if table.is_empty() {
        return Err(ProbeError::unsupported(
            "no HOST-RESOURCES-MIB storage table (hrStorageTable)",
        ));
    }
    let empty = BTreeMap::new();
    let column = |c: u64| table.get(&c).unwrap_or(&empty);
    // hrFSTable only when some row needs it (one walk more, on those agents alone).
    let named_by_device = column(3)
        .values()
        .any(|d| d.as_text().is_some_and(|d| is_device_path(&d)));
    let mounts = if named_by_device {
        let fs_entry = Oid::parse(HR_FS_ENTRY).expect("valid");
        mount_points(client.walk(&fs_entry).await?, &fs_entry)
    } else {
        BTreeMap::new()
    };
    let mut volumes = Vec::new();
    for (index, type_value) in column(2) {
        let SnmpValue::Oid(type_oid) = type_value else {
            continue;
        };
        let Some(kind) = storage_kind(type_oid) else {
            continue;
        };
        let name = column(3).get(index).and_then(SnmpValue::as_text).unwrap_or_else(|| {
            format!(
                "storage {}",
                index.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
            )
        });
        let name = match mounts.get(index) {
            Some(mount) if is_device_path(&name) => mount.clone(),
            _ => name,
        };
        if is_pseudo(&name) {
            continue;
        }
        let unit = column(4).get(index).and_then(SnmpValue::as_i64).filter(|u| *u > 0);
        let size = count(column(5).get(index), &mut notes, &name);
        let used = count(column(6).get(index), &mut notes, &name);
        match (unit, size, used) {
            // More used than there is: hrStorageSize wrapped past 2^32 units on a volume that
            // big (used had not yet). How often it wrapped cannot be told: not believed, and
            // never taken for a full disk.
            (Some(_), Some(size), Some(used)) if used > size => notes.push(format!(
                "{name}: {used} units used of {size}: the agent's hrStorageSize wrapped past 2^32 \
                 units; left out"
            )),
            (Some(unit), Some(size), Some(used)) if size > 0 => volumes.push(Volume {
                name,
                kind,
                size_bytes: size.saturating_mul(unit as u64),
                used_bytes: used.saturating_mul(unit as u64),
            }),
            (_, Some(0), _) => {} // an empty slot or unmounted volume
            _ => notes.push(format!("{name}: size, used space or allocation unit missing; left out")),
        }
    }
    let device_entry = Oid::parse(HR_DEVICE_ENTRY).expect("valid");
    let devices = columns(client.walk(&device_entry).await?, &device_entry);
    let disk_type = Oid::parse(HR_DEVICE_DISK_STORAGE).expect("valid");
    let mut disks = Vec::new();
    if let Some(types) = devices.get(&2) {
        for (index, kind) in types {
            if *kind != SnmpValue::Oid(disk_type.clone()) {
                continue;
            }
            let name = devices
                .get(&3)
                .and_then(|c| c.get(index))
                .and_then(SnmpValue::as_text)
                .unwrap_or_else(|| format!("disk {index:?}"));
            let status = match devices.get(&5).and_then(|c| c.get(index)).and_then(SnmpValue::as_i64) {
                Some(2) => DeviceStatus::Running,
                Some(3) => DeviceStatus::Warning,
                Some(4) => DeviceStatus::Testing,
                Some(5) => DeviceStatus::Down,
                _ => DeviceStatus::Unknown,
            };
            disks.push(DiskDevice { name, status });
        }
    }
    Ok(StorageObservation { volumes, disks, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footage_capable_storage_types_only() {
        let t = |s: &str| storage_kind(&Oid::parse(&format!("{HR_STORAGE_TYPES}.{s}")).unwrap());
        assert_eq!(t("4"), Some("fixed_disk"));
        assert_eq!(t("10"), Some("network_disk"));
        assert_eq!(t("2"), None, "RAM");
        assert_eq!(t("3"), None, "virtual memory");
        assert!(is_pseudo("/run/user/0"));
        assert!(!is_pseudo("/volume1"));
    }

    #[test]
    fn overflowed_sizes_read_as_unsigned() {
        let mut notes = Vec::new();
        assert_eq!(
            count(Some(&SnmpValue::Integer(-1_000_000)), &mut notes, "/big"),
            Some(4_293_967_296)
        );
        assert_eq!(notes.len(), 1);
        assert_eq!(count(Some(&SnmpValue::Integer(5)), &mut notes, "/"), Some(5));
    }
}
