//! Byte-for-byte copies of what mke2fs cannot remake: small vfat partitions
//! (the EFI system partition with its bootloader files), BIOS boot
//! partitions (GRUB's core.img), and the boot code of the disk's first
//! sectors (GRUB's boot.img, and on MBR disks the gap before the first
//! partition where GRUB embeds its core). Partition copies are zstd
//! streams cut into parts like the dumps, hashed in SHA256SUMS.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::parts::{self, PartError};
use crate::plan::Place;

/// Largest partition copied whole (an EFI system partition is 100-1024 MiB).
pub const MAX_RAW_BYTES: u64 = 2 << 30;
/// zstd level of the copies: mostly empty space, which any level squeezes.
const ZSTD_LEVEL: i32 = 3;

/// A partition kept as an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RawCopy {
    #[serde(flatten)]
    pub place: Place,
    /// What it holds (vfat, bios_boot).
    pub holds: String,
    pub size_bytes: u64,
    /// zstd-compressed image, in parts in DIR.
    pub parts: Vec<String>,
}

/// Copies the partition at `node` into DIR as `base` parts.
pub fn save(
    node: &Path,
    dir: &Path,
    base: &str,
    split: Option<u64>,
) -> Result<(u64, Vec<(String, String)>), PartError> {
    let stream = |source| PartError::Stream {
        name: node.display().to_string(),
        source,
    };
    let f = File::open(node).map_err(stream)?;
    let size = f.metadata().map_err(stream)?.len();
    let size = if size == 0 {
        crate::sys::size_of(node).map_err(|e| stream(io::Error::other(e.to_string())))?
    } else {
        size
    };
    let mut enc = zstd::stream::read::Encoder::new(f, ZSTD_LEVEL).map_err(stream)?;
    let w = parts::write_parts(&mut enc, dir, base, split)?;
    Ok((size, w.parts))
}

/// Writes a saved partition image back onto `node` and flushes it.
pub fn restore(copy: &RawCopy, dir: &Path, node: &Path) -> io::Result<u64> {
    let input = parts::reader(dir, &copy.parts).map_err(|e| io::Error::other(e.to_string()))?;
    let mut dec = zstd::stream::read::Decoder::new(input)?;
    let mut out = OpenOptions::new().write(true).open(node)?;
    let n = io::copy(&mut dec, &mut out)?;
    out.sync_all()?;
    Ok(n)
}

/// The disk's boot code: bytes 0..440 and, on an MBR disk, the sectors
/// between the table and the first partition (at most 1 MiB).
pub fn read_boot_area(disk: &Path, dos_gap_end: Option<u64>) -> io::Result<Vec<u8>> {
    let f = File::open(disk)?;
    let len = dos_gap_end.unwrap_or(512).clamp(512, 1 << 20);
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0)?;
    // The table itself (440..512) is sfdisk's to write.
    buf[440..512].fill(0);
    Ok(buf)
}

/// Writes the boot area back around the partition table sfdisk wrote.
pub fn write_boot_area(disk: &Path, file: &Path) -> io::Result<()> {
    let mut area = Vec::new();
    File::open(file)?.read_to_end(&mut area)?;
    let f = OpenOptions::new().write(true).open(disk)?;
    f.write_all_at(&area[..440.min(area.len())], 0)?;
    if area.len() > 512 {
        f.write_all_at(&area[512..], 512)?;
    }
    f.sync_all()?;
    let _ = (&f).flush();
    Ok(())
}
