//! Block group descriptors: where they live (plain, resize-reserved or
//! meta_bg layouts), how 32- and 64-bit descriptors decode, and their
//! metadata_csum check.

use crate::bytes::{le16, le32};
use crate::csum::ext4_crc32c;
use crate::device::Device;
use crate::error::Error;
use crate::superblock::{incompat, Superblock};

/// `bg_flags`: the inode table and bitmap were never initialised.
pub const BG_INODE_UNINIT: u16 = 0x1;
/// `bg_flags`: the block bitmap was never initialised.
pub const BG_BLOCK_UNINIT: u16 = 0x2;
/// `bg_flags`: the inode table is zeroed.
pub const BG_INODE_ZEROED: u16 = 0x4;

/// Offset of `bg_checksum` inside a descriptor.
const BG_CHECKSUM_OFFSET: usize = 0x1E;

/// One decoded group descriptor.
#[derive(Clone, Debug)]
pub struct GroupDesc {
    /// Block bitmap location.
    pub block_bitmap: u64,
    /// Inode bitmap location.
    pub inode_bitmap: u64,
    /// First block of the inode table.
    pub inode_table: u64,
    /// Free blocks in the group.
    pub free_blocks: u32,
    /// Free inodes in the group.
    pub free_inodes: u32,
    /// Directories in the group.
    pub used_dirs: u32,
    /// `BG_*` flags.
    pub flags: u16,
    /// Inodes at the end of the table never used (trusted only with group checksums).
    pub itable_unused: u32,
    /// Stored checksum.
    pub checksum: u16,
}

/// Block number holding descriptor block `index` (0-based) of the GDT.
fn descriptor_block(sb: &Superblock, index: u64) -> u64 {
    let descs_per_block = u64::from(sb.block_size / u32::from(sb.desc_size));
    // With 1 KiB blocks and first_data_block 0 (bigalloc) the superblock
    // still occupies block 1, so the table starts one block later.
    let sb_block = u64::from(sb.first_data_block)
        + u64::from(sb.first_data_block == 0 && sb.block_size == 1024);
    let meta_bg = sb.has_incompat(incompat::META_BG);
    if !meta_bg || index < u64::from(sb.first_meta_bg) {
        return sb_block + 1 + index;
    }
    // meta_bg: descriptor block `index` lives in the first group of meta
    // group `index`, right after that group's superblock backup if any.
    let group = index * descs_per_block;
    let group_first = u64::from(sb.first_data_block) + group * u64::from(sb.blocks_per_group);
    let has_super = u32::try_from(group).is_ok_and(|g| sb.group_has_super(g));
    group_first + u64::from(has_super)
}

/// Read and decode every group descriptor, verifying checksums if asked.
pub(crate) fn read_groups(
    dev: &Device,
    sb: &Superblock,
    csum_seed: u32,
    verify: bool,
) -> Result<Vec<GroupDesc>, Error> {
    let count = sb.group_count();
    let desc_size = usize::from(sb.desc_size);
    let bs = u64::from(sb.block_size);
    let descs_per_block = sb.block_size as usize / desc_size;
    // Bound the table by the device before allocating for it.
    let table_bytes = u64::from(count) * desc_size as u64;
    if table_bytes > dev.len() {
        return Err(Error::BadSuperblock(format!(
            "{count} group descriptors do not fit on the device"
        )));
    }
    let mut groups = Vec::with_capacity(count as usize);
    let mut block_buf = vec![0u8; sb.block_size as usize];
    let mut loaded_block = None;
    for group in 0..count {
        let index = u64::from(group) / descs_per_block as u64;
        let within = group as usize % descs_per_block;
        let blk = descriptor_block(sb, index);
        if blk >= sb.blocks_count {
            return Err(Error::BadGroup {
                group,
                reason: format!("descriptor block {blk} is past the end of the filesystem"),
            });
        }
        if loaded_block != Some(blk) {
            dev.read_at(blk * bs, &mut block_buf)?;
            loaded_block = Some(blk);
        }
        let raw = &block_buf[within * desc_size..(within + 1) * desc_size];
        let desc = decode(raw, sb.has_incompat(incompat::BIT64) && desc_size >= 64);
        if verify && sb.has_metadata_csum() {
            let computed = checksum(csum_seed, group, raw);
            if computed != desc.checksum {
                return Err(Error::Checksum {
                    what: format!("group descriptor {group}"),
                    ino: None,
                    stored: u32::from(desc.checksum),
                    computed: u32::from(computed),
                });
            }
        }
        check_locations(sb, group, &desc)?;
        groups.push(desc);
    }
    Ok(groups)
}

fn decode(raw: &[u8], wide: bool) -> GroupDesc {
    let hi32 = |off: usize| {
        if wide {
            u64::from(le32(raw, off)) << 32
        } else {
            0
        }
    };
    let hi16 = |off: usize| {
        if wide {
            u32::from(le16(raw, off)) << 16
        } else {
            0
        }
    };
    GroupDesc {
        block_bitmap: u64::from(le32(raw, 0x00)) | hi32(0x20),
        inode_bitmap: u64::from(le32(raw, 0x04)) | hi32(0x24),
        inode_table: u64::from(le32(raw, 0x08)) | hi32(0x28),
        free_blocks: u32::from(le16(raw, 0x0C)) | hi16(0x2C),
        free_inodes: u32::from(le16(raw, 0x0E)) | hi16(0x2E),
        used_dirs: u32::from(le16(raw, 0x10)) | hi16(0x30),
        flags: le16(raw, 0x12),
        itable_unused: u32::from(le16(raw, 0x1C)) | hi16(0x32),
        checksum: le16(raw, BG_CHECKSUM_OFFSET),
    }
}

/// metadata_csum descriptor checksum: crc32c over the group number and the
/// descriptor with its checksum field taken as zero, low 16 bits kept.
fn checksum(seed: u32, group: u32, raw: &[u8]) -> u16 {
    let mut c = ext4_crc32c(seed, &group.to_le_bytes());
    c = ext4_crc32c(c, &raw[..BG_CHECKSUM_OFFSET]);
    c = ext4_crc32c(c, &[0, 0]);
    c = ext4_crc32c(c, &raw[BG_CHECKSUM_OFFSET + 2..]);
    (c & 0xFFFF) as u16
}

/// The inode bitmap and the inode table must lie inside the filesystem;
/// uninitialised groups are exempt because nothing will be read from them.
fn check_locations(sb: &Superblock, group: u32, d: &GroupDesc) -> Result<(), Error> {
    if sb.has_group_csum() && d.flags & BG_INODE_UNINIT != 0 {
        return Ok(());
    }
    let table_blocks = (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size))
        .div_ceil(u64::from(sb.block_size));
    let bad = |reason: String| Error::BadGroup { group, reason };
    if d.inode_bitmap == 0 || d.inode_bitmap >= sb.blocks_count {
        return Err(bad(format!(
            "inode bitmap block {} is outside the filesystem",
            d.inode_bitmap
        )));
    }
    if d.inode_table == 0 || d.inode_table.saturating_add(table_blocks) > sb.blocks_count {
        return Err(bad(format!(
            "inode table at block {} ({table_blocks} blocks) is outside the filesystem",
            d.inode_table
        )));
    }
    Ok(())
}
