//! What a partition holds, from the signatures at the start of it (the same
//! magic numbers blkid looks for), and the swap header's UUID, label and size.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// GPT type of a BIOS boot partition (GRUB's core.img lives there).
pub const BIOS_BOOT_GUID: &str = "21686148-6449-6E6F-744E-656564454649";
/// GPT type of an EFI system partition.
pub const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

fn read_at(f: &File, at: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    match f.read_exact_at(&mut buf, at) {
        Ok(()) => Ok(buf),
        // A partition too small for the signature does not hold it.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The content type in blkid's words: ext2/ext3/ext4 are reported as "ext"
/// (the features say which), then swap, vfat, xfs, btrfs, LVM2_member,
/// linux_raid_member, crypto_LUKS, or "unknown".
pub fn content(dev: &Path) -> io::Result<String> {
    let f = File::open(dev)?;
    let head = read_at(&f, 0, 8192)?;
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    let kind = if at(1024 + 0x38, &[0x53, 0xEF]) {
        "ext"
    } else if swap_page_size(&head).is_some() {
        "swap"
    } else if at(0, b"LUKS\xba\xbe") {
        "crypto_LUKS"
    } else if at(0, b"XFSB") {
        "xfs"
    } else if at(512 + 24, b"LVM2 001") || at(0x218, b"LVM2 001") {
        "LVM2_member"
    } else if at(4096, &0xa92b_4efcu32.to_le_bytes()) || at(0, &0xa92b_4efcu32.to_le_bytes()) {
        "linux_raid_member"
    } else if read_at(&f, 0x10040, 8)? == b"_BHRfS_M" {
        "btrfs"
    } else if at(510, &[0x55, 0xAA]) && (at(0x36, b"FAT") || at(0x52, b"FAT32")) {
        "vfat"
    } else {
        "unknown"
    };
    Ok(kind.to_string())
}

/// The page size of a swap area: its signature ends the first page.
fn swap_page_size(head: &[u8]) -> Option<u32> {
    [4096u32, 8192]
        .into_iter()
        .find(|&p| head.get(p as usize - 10..p as usize) == Some(b"SWAPSPACE2"))
}

/// A swap header's UUID, label, page size and usable pages.
pub struct SwapInfo {
    pub uuid: String,
    pub label: String,
    pub page_size: u32,
    pub pages: u64,
}

/// Reads the swap header (version 1, as mkswap writes it). Page sizes
/// above 8 KiB are looked for further in.
pub fn swap_info(dev: &Path) -> io::Result<Option<SwapInfo>> {
    let f = File::open(dev)?;
    let head = read_at(&f, 0, 65536)?;
    let page = swap_page_size(&head).or_else(|| {
        [16384u32, 65536]
            .into_iter()
            .find(|&p| head.get(p as usize - 10..p as usize) == Some(b"SWAPSPACE2"))
    });
    let Some(page_size) = page else {
        return Ok(None);
    };
    let last_page = u32::from_le_bytes(head[1028..1032].try_into().expect("4 bytes"));
    let label_bytes = &head[1052..1068];
    let end = label_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    Ok(Some(SwapInfo {
        uuid: crate::fsparams::uuid_string(&head[1036..1052]),
        label: String::from_utf8_lossy(&label_bytes[..end]).into_owned(),
        page_size,
        pages: u64::from(last_page) + 1,
    }))
}

/// True if the first 440 bytes of the disk (MBR boot code) are not all zero;
/// `grub` when they carry GRUB's boot.img (its "GRUB " message).
pub fn mbr_boot_code(disk: &Path) -> io::Result<(bool, bool)> {
    let f = File::open(disk)?;
    let mbr = read_at(&f, 0, 512)?;
    let code = mbr.get(..440).unwrap_or(&[]);
    let any = code.iter().any(|&b| b != 0);
    let grub = code.windows(5).any(|w| w == b"GRUB ");
    Ok((any, grub))
}
