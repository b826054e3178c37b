//! Partition tables: read with `sfdisk --json` (and `--dump`, kept for a person
//! to replay), written back with an sfdisk script made from the plan.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use thiserror::Error;

use crate::plan::{Disk, Partition};

#[derive(Debug, Error)]
pub enum LayoutError {
    #[error("cannot run sfdisk on {disk}: {source} (is util-linux installed?)")]
    Spawn {
        disk: String,
        source: std::io::Error,
    },
    #[error("sfdisk could not read the partition table of {disk}: {stderr}")]
    Sfdisk { disk: String, stderr: String },
    #[error("sfdisk --json output for {disk} is not what rrecover expects: {source}")]
    Json {
        disk: String,
        source: serde_json::Error,
    },
    #[error("partition node {node} on {disk} has no partition number at its end")]
    Number { disk: String, node: String },
}

#[derive(Deserialize)]
struct Json {
    partitiontable: Table,
}

#[derive(Deserialize)]
struct Table {
    label: String,
    id: Option<String>,
    firstlba: Option<u64>,
    lastlba: Option<u64>,
    sectorsize: Option<u64>,
    #[serde(default)]
    partitions: Vec<JsonPart>,
}

#[derive(Deserialize)]
struct JsonPart {
    node: String,
    start: u64,
    size: u64,
    #[serde(rename = "type")]
    type_: String,
    uuid: Option<String>,
    name: Option<String>,
    attrs: Option<String>,
    #[serde(default)]
    bootable: bool,
}

fn sfdisk(disk: &str, arg: &str) -> Result<String, LayoutError> {
    let out = Command::new("sfdisk")
        .args([arg, disk])
        .output()
        .map_err(|source| LayoutError::Spawn {
            disk: disk.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(LayoutError::Sfdisk {
            disk: disk.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The trailing number of a partition node (`/dev/sda3` -> 3, `loop0p12` -> 12).
pub fn node_number(node: &str) -> Option<u32> {
    let digits: String = node
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

/// Reads the partition table of `disk` (a block device). Returns the disk
/// (partition contents still "unknown") and the `sfdisk --dump` text.
pub fn read(disk: &Path, size_bytes: u64) -> Result<(Disk, String), LayoutError> {
    let name = disk.display().to_string();
    let json: Json =
        serde_json::from_str(&sfdisk(&name, "--json")?).map_err(|source| LayoutError::Json {
            disk: name.clone(),
            source,
        })?;
    let dump = sfdisk(&name, "--dump")?;
    let t = json.partitiontable;
    let mut partitions = Vec::new();
    for p in t.partitions {
        let number = node_number(&p.node).ok_or_else(|| LayoutError::Number {
            disk: name.clone(),
            node: p.node.clone(),
        })?;
        partitions.push(Partition {
            number,
            start: p.start,
            size: p.size,
            type_: p.type_,
            uuid: p.uuid,
            name: p.name,
            attrs: p.attrs,
            bootable: p.bootable,
            node: p.node,
            content: "unknown".into(),
        });
    }
    Ok((
        Disk {
            source: name,
            size_bytes,
            sector_size: t.sectorsize.unwrap_or(512),
            label: t.label,
            label_id: t.id.unwrap_or_default(),
            first_lba: t.firstlba,
            last_lba: t.lastlba,
            sfdisk_dump: String::new(),
            partitions,
            mbr_boot_code: false,
            boot_area: None,
        },
        dump,
    ))
}

/// The sfdisk script that writes `disk`'s table onto a disk of
/// `target_bytes`, with partition sizes from `sizes` (number -> sectors).
/// The last LBA is left to sfdisk unless the disks are the same size, so a
/// larger disk gets its GPT backup header at its own end.
pub fn script(disk: &Disk, target_bytes: u64, sizes: &dyn Fn(&Partition) -> u64) -> String {
    let mut s = format!("label: {}\n", disk.label);
    if !disk.label_id.is_empty() {
        s += &format!("label-id: {}\n", disk.label_id);
    }
    s += "unit: sectors\n";
    if let (Some(first), "gpt") = (disk.first_lba, disk.label.as_str()) {
        s += &format!("first-lba: {first}\n");
    }
    if let (Some(last), "gpt", true) = (
        disk.last_lba,
        disk.label.as_str(),
        target_bytes == disk.size_bytes,
    ) {
        s += &format!("last-lba: {last}\n");
    }
    s += &format!("sector-size: {}\n\n", disk.sector_size);
    for p in &disk.partitions {
        s += &format!(
            "part{} : start={}, size={}, type={}",
            p.number,
            p.start,
            sizes(p),
            p.type_
        );
        if let Some(u) = &p.uuid {
            s += &format!(", uuid={u}");
        }
        if let Some(n) = &p.name {
            s += &format!(", name=\"{}\"", n.replace('"', ""));
        }
        if let Some(a) = &p.attrs {
            s += &format!(", attrs=\"{a}\"");
        }
        if p.bootable {
            s += ", bootable";
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_numbers() {
        assert_eq!(node_number("/dev/sda3"), Some(3));
        assert_eq!(node_number("/dev/loop0p12"), Some(12));
        assert_eq!(node_number("/dev/sda"), None);
    }
}
