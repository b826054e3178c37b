//! The recovery plan: what the machine's disks were, as `DIR/plan` (TOML).
//!
//! The plan is written by `rrecover backup`, read by `rrecover apply`, and meant
//! to be read (and edited) by a person: every field is named as mke2fs, mkswap
//! or sfdisk name it. docs/RECOVERY.md describes each field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fsparams::FsParams;

/// The plan format version this rrecover writes and reads.
pub const PLAN_VERSION: u32 = 1;
/// The plan's file name inside the backup directory.
pub const PLAN_FILE: &str = "plan";
/// The checksums' file name inside the backup directory.
pub const SUMS_FILE: &str = "SHA256SUMS";

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("cannot read the plan {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the plan {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("the plan {path} has version {found}; this rrecover reads version {PLAN_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write the plan {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the plan {path} names {what} on disk {disk} partition {partition}, which its [[disk]] tables do not have")]
    NoSuchPartition {
        path: PathBuf,
        what: String,
        disk: usize,
        partition: u32,
    },
    #[error("cannot encode the plan: {0}")]
    Encode(#[from] toml::ser::Error),
}

/// The whole plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub version: u32,
    /// When the level 0 backup was made (seconds since the epoch).
    pub created: i64,
    /// The machine's name when it was backed up (for people).
    #[serde(default)]
    pub hostname: String,
    #[serde(default, rename = "disk")]
    pub disks: Vec<Disk>,
    #[serde(default, rename = "filesystem")]
    pub filesystems: Vec<Filesystem>,
    #[serde(default, rename = "swap")]
    pub swaps: Vec<Swap>,
    /// The mount table from the root filesystem's /etc/fstab, in mount order.
    #[serde(default, rename = "mount")]
    pub mounts: Vec<Mount>,
    /// Things rrecover does not rebuild: what they are and what to do by hand.
    #[serde(default, rename = "manual")]
    pub manual: Vec<Manual>,
    #[serde(default)]
    pub bootloader: Vec<Bootloader>,
    /// Partitions kept byte for byte (EFI system, BIOS boot).
    #[serde(default, rename = "raw")]
    pub raw_copies: Vec<crate::raw::RawCopy>,
    /// LVM volume groups on the plan's partitions.
    #[serde(default, rename = "lvm")]
    pub volume_groups: Vec<crate::lvm::VolumeGroup>,
}

/// One whole disk and its partition table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Disk {
    /// The disk as given to backup (a device or an image file).
    pub source: String,
    pub size_bytes: u64,
    pub sector_size: u64,
    /// "gpt" or "dos".
    pub label: String,
    /// GPT disk GUID or MBR disk identifier (`label-id:` for sfdisk).
    pub label_id: String,
    pub first_lba: Option<u64>,
    pub last_lba: Option<u64>,
    /// `sfdisk --dump` of the source, kept in DIR to replay by hand
    /// (`sfdisk /dev/sdX < DIR/disk0.sfdisk`).
    pub sfdisk_dump: String,
    #[serde(default, rename = "partition")]
    pub partitions: Vec<Partition>,
    /// The first 440 bytes of the disk (boot code) were non-zero.
    #[serde(default)]
    pub mbr_boot_code: bool,
    /// Then its boot code (and, on MBR disks, the gap before the first
    /// partition) is kept in this file in DIR.
    #[serde(default)]
    pub boot_area: Option<String>,
}

/// One partition, in sfdisk's terms (sectors).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Partition {
    pub number: u32,
    pub start: u64,
    pub size: u64,
    #[serde(rename = "type")]
    pub type_: String,
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub attrs: Option<String>,
    #[serde(default)]
    pub bootable: bool,
    /// Its device node when backed up (fstab may name it).
    pub node: String,
    /// What it holds: ext2, ext3, ext4, swap, vfat, xfs, btrfs, LVM2_member,
    /// linux_raid_member, crypto_LUKS, bios_boot, or "unknown"/"empty".
    pub content: String,
}

/// Where a filesystem or swap lives: disk index and partition number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Place {
    pub disk: usize,
    pub partition: u32,
}

/// An ext2/3/4 filesystem, how to make it again, and its dumps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Filesystem {
    #[serde(flatten)]
    pub place: Place,
    /// ext2, ext3 or ext4.
    pub kind: String,
    /// Where the mount table mounts it ("" when it names it nowhere).
    #[serde(default)]
    pub mountpoint: String,
    /// The mke2fs/tune2fs parameters.
    pub mkfs: FsParams,
    /// The dump files, level 0 first.
    #[serde(default, rename = "dump")]
    pub dumps: Vec<DumpFile>,
}

/// One dump of a filesystem, maybe split into parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DumpFile {
    pub level: u32,
    /// When it was started (an incremental takes what changed since).
    pub date: i64,
    pub bytes: u64,
    /// Part files in DIR, in order; their SHA-256 is in SHA256SUMS.
    pub parts: Vec<String>,
}

/// A swap partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Swap {
    #[serde(flatten)]
    pub place: Place,
    pub uuid: String,
    #[serde(default)]
    pub label: String,
    pub page_size: u32,
    /// Usable pages (the header's last_page + 1).
    pub pages: u64,
}

/// One line of /etc/fstab and what it names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    pub spec: String,
    pub mountpoint: String,
    pub fstype: String,
    pub options: String,
    /// The partition it resolves to, when it is on the recorded disks.
    pub place: Option<Place>,
}

/// Something the plan names but rrecover does not rebuild.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manual {
    /// The partition or device.
    pub what: String,
    /// What it holds (md RAID, LUKS, xfs, ...).
    pub holds: String,
    /// What to do by hand after apply.
    pub steps: String,
}

/// A bootloader found on the disks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bootloader {
    /// "grub-bios", "grub-efi" or "extlinux".
    pub kind: String,
    /// Where: the disk index, and the partition for EFI/extlinux.
    pub disk: usize,
    pub partition: Option<u32>,
    /// How it was recognised.
    pub evidence: String,
    /// extlinux: its directory inside the filesystem ("/boot/extlinux"),
    /// where apply installs it again (its boot sector points at blocks of
    /// ldlinux.sys, which a restore moves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

impl Plan {
    /// Reads `DIR/plan`.
    pub fn load(dir: &Path) -> Result<Plan, PlanError> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| PlanError::Read {
            path: path.clone(),
            source,
        })?;
        let plan: Plan = toml::from_str(&text).map_err(|source| PlanError::Parse {
            path: path.clone(),
            source: Box::new(source),
        })?;
        if plan.version != PLAN_VERSION {
            return Err(PlanError::Version {
                path,
                found: plan.version,
            });
        }
        plan.check_places(&path)?;
        Ok(plan)
    }

    /// Writes `DIR/plan` (through a temporary file, so a failed write leaves
    /// the old plan).
    pub fn save(&self, dir: &Path) -> Result<(), PlanError> {
        let path = dir.join(PLAN_FILE);
        let text = format!(
            "# rrecover recovery plan: see docs/RECOVERY.md. Edit with care.\n{}",
            toml::to_string(self)?
        );
        let tmp = dir.join(".plan.tmp");
        let write = |p: &Path| std::fs::write(p, &text);
        write(&tmp)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| PlanError::Write { path, source })
    }

    /// Every place the plan names must be a partition of its disks (the
    /// file may have been edited by hand).
    fn check_places(&self, path: &Path) -> Result<(), PlanError> {
        let mut named: Vec<(String, Place)> = Vec::new();
        named.extend(
            self.filesystems
                .iter()
                .map(|f| (format!("filesystem {}", f.mkfs.uuid), f.place)),
        );
        named.extend(
            self.swaps
                .iter()
                .map(|s| (format!("swap {}", s.uuid), s.place)),
        );
        named.extend(
            self.raw_copies
                .iter()
                .map(|r| (format!("a copy of {}", r.holds), r.place)),
        );
        for vg in &self.volume_groups {
            named.extend(
                vg.pvs
                    .iter()
                    .map(|p| (format!("a PV of volume group {}", vg.name), p.place)),
            );
        }
        match named
            .into_iter()
            .find(|(_, p)| self.partition(*p).is_none())
        {
            Some((what, p)) => Err(PlanError::NoSuchPartition {
                path: path.to_path_buf(),
                what,
                disk: p.disk,
                partition: p.partition,
            }),
            None => Ok(()),
        }
    }

    /// The partition at `place`.
    pub fn partition(&self, place: Place) -> Option<&Partition> {
        self.disks
            .get(place.disk)?
            .partitions
            .iter()
            .find(|p| p.number == place.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_edited_plan_naming_a_missing_partition_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
version = 1
created = 0
[[disk]]
source = "/dev/sda"
size_bytes = 1048576
sector_size = 512
label = "gpt"
label_id = ""
sfdisk_dump = ""
[[disk.partition]]
number = 1
start = 2048
size = 100
type = "L"
node = "/dev/sda1"
content = "swap"
[[swap]]
disk = 0
partition = 2
uuid = "u"
page_size = 4096
pages = 10
"#;
        std::fs::write(dir.path().join(PLAN_FILE), text).unwrap();
        let e = Plan::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("swap u on disk 0 partition 2"), "{e}");
        std::fs::write(
            dir.path().join(PLAN_FILE),
            text.replace("partition = 2", "partition = 1"),
        )
        .unwrap();
        let plan = Plan::load(dir.path()).unwrap();
        assert_eq!(plan.swaps[0].pages, 10);
        plan.save(dir.path()).unwrap();
        assert_eq!(Plan::load(dir.path()).unwrap(), plan);
    }
}
