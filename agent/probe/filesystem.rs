//! Filesystems of the machine camwatch runs on (often the recording server itself).
//!
//! Network filesystems are included on purpose: footage on an NFS or SMB share is common. Their
//! `statvfs` can hang on a dead server (hard mounts), so the read runs on the blocking pool under
//! the check's timeout, and a read still stuck from a previous run is reported instead of
//! stacking another blocked thread behind it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sysinfo::Disks;

use super::{ProbeContext, ProbeError, ProbeErrorKind};
use crate::config::FilesystemSpec;
use crate::observation::filesystem::{FilesystemObservation, Mount};

/// Filesystem types that never hold footage, after node_exporter's defaults; sysinfo already
/// leaves out proc, sysfs, tmpfs, cgroup and the like.
const PSEUDO_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "configfs",
    "debugfs",
    "efivarfs",
    "fusectl",
    "nsfs",
    "overlay",
    "ramfs",
    "securityfs",
    "selinuxfs",
    "tracefs",
    "erofs",
];
const PSEUDO_MOUNT_PREFIXES: &[&str] = &["/dev", "/proc", "/sys", "/run", "/var/lib/docker/", "/snap/"];

#[derive(Debug, Default)]
pub struct FilesystemReader {
    busy: Arc<AtomicBool>,
}

impl FilesystemReader {
    pub async fn probe(
        &self,
        spec: &FilesystemSpec,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<FilesystemObservation, ProbeError> {
        let transcript = &mut *ctx.transcript;
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                "the previous filesystem read is still blocked (a network filesystem is not answering)",
            ));
        }
        let busy = Arc::clone(&self.busy);
        let all = tokio::task::spawn_blocking(move || {
            let disks = Disks::new_with_refreshed_list();
            busy.store(false, Ordering::Release);
            disks
        })
        .await
        .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("filesystem read failed: {e}")))?
        .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("cannot list filesystems: {e}")))?;

        // The same mount point can be listed twice (bind mounts, stacked mounts): the last one
        // mounted is the one in effect.
        let mut by_mountpoint: BTreeMap<String, Mount> = BTreeMap::new();
        for disk in &all {
            let mount = Mount {
                mountpoint: disk.mount_point().to_string_lossy().into_owned(),
                fs_type: disk.file_system().to_string_lossy().into_owned(),
                device: disk.name().to_string_lossy().into_owned(),
                size_bytes: disk.total_space(),
                avail_bytes: disk.available_space(),
                readonly: disk.is_read_only(),
            };
            transcript.note(|| {
                format!(
                    "{} ({} on {}): {} bytes, {} available{}",
                    mount.mountpoint,
                    mount.fs_type,
                    mount.device,
                    mount.size_bytes,
                    mount.avail_bytes,
                    if mount.readonly { ", read-only" } else { "" }
                )
            });
            by_mountpoint.insert(mount.mountpoint.clone(), mount);
        }
        let explicit = !spec.mountpoints.is_empty();
        let (mounts, missing) = if explicit {
            let mut mounts = Vec::new();
            let mut missing = Vec::new();
            for wanted in &spec.mountpoints {
                let key = match wanted.trim_end_matches('/') {
                    "" => "/",
                    trimmed => trimmed,
                };
                match by_mountpoint.remove(key) {
                    Some(m) => mounts.push(m),
                    None => missing.push(wanted.clone()),
                }
            }
            (mounts, missing)
        } else {
            let mounts = by_mountpoint
                .into_values()
                .filter(|m| is_real_filesystem(&m.fs_type, &m.mountpoint) && m.size_bytes > 0)
                .collect();
            (mounts, Vec::new())
        };
        Ok(FilesystemObservation {
            mounts,
            missing,
            explicit,
        })
    }
}

fn is_real_filesystem(fs_type: &str, mountpoint: &str) -> bool {
    !PSEUDO_TYPES.contains(&fs_type)
        && !fs_type.starts_with("fuse.")
        && !PSEUDO_MOUNT_PREFIXES.iter().any(|prefix| {
            mountpoint == prefix.trim_end_matches('/')
                || mountpoint.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_filesystems_are_left_out() {
        assert!(is_real_filesystem("ext4", "/"));
        assert!(is_real_filesystem("nfs4", "/srv/footage"));
        assert!(is_real_filesystem("ext4", "/devices"));
        assert!(!is_real_filesystem("ext4", "/run/netns"));
        assert!(!is_real_filesystem("overlay", "/var/lib/docker/overlay2/x/merged"));
        assert!(!is_real_filesystem("squashfs-like", "/snap/core/1"));
        assert!(!is_real_filesystem("fuse.lxcfs", "/var/lib/lxcfs"));
    }
}
