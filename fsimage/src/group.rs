//! Block group descriptors: where they live (plain, resize-reserved or
//! meta_bg layouts), how 32- and 64-bit descriptors decode, their checksum
//! (crc32c with metadata_csum, CRC16 with gdt_csum), and the checksum of
//! the inode bitmap they point to.

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
    /// The checksum computed when it differs from the stored one: the
    /// descriptor is damaged, so its flags and `itable_unused` (which say
    /// what not to read) are not trusted.
    pub checksum_mismatch: Option<u16>,
    /// Stored crc32c of the inode bitmap (metadata_csum; only its low 16
    /// bits are stored in 32-byte descriptors).
    pub inode_bitmap_csum: u32,
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

/// Read and decode every group descriptor, verifying checksums if asked. A
/// descriptor that fails its checksum is kept, marked
/// ([`GroupDesc::checksum_mismatch`]): the kernel too mounts such a
/// filesystem read-only, and a backup should get what can be read.
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
        let mut desc = decode(raw, sb.has_incompat(incompat::BIT64) && desc_size >= 64);
        if verify && sb.has_group_csum() {
            let computed = if sb.has_metadata_csum() {
                checksum(csum_seed, group, raw)
            } else {
                crc16_checksum(&sb.uuid, group, raw)
            };
            if computed != desc.checksum {
                desc.checksum_mismatch = Some(computed);
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
        inode_bitmap_csum: u32::from(le16(raw, 0x1A)) | hi16(0x3A),
        checksum_mismatch: None,
    }
}

impl GroupDesc {
    /// Whether the descriptor's own checksum matched (or was not checked).
    pub fn checksum_ok(&self) -> bool {
        self.checksum_mismatch.is_none()
    }

    /// Whether the INODE_UNINIT flag and `itable_unused` can be believed:
    /// group checksums are on and this descriptor passed its own.
    pub(crate) fn trust_uninit(&self, sb: &Superblock) -> bool {
        sb.has_group_csum() && self.checksum_ok()
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

/// gdt_csum (uninit_bg) descriptor checksum: CRC16 (the kernel's crc16:
/// polynomial 0x8005 bit-reversed, started at 0xFFFF, no final inversion,
/// i.e. CRC-16/MODBUS) over the filesystem UUID, the group number and the
/// descriptor without its checksum field.
fn crc16_checksum(uuid: &[u8; 16], group: u32, raw: &[u8]) -> u16 {
    const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_MODBUS);
    let mut d = CRC16.digest();
    d.update(uuid);
    d.update(&group.to_le_bytes());
    d.update(&raw[..BG_CHECKSUM_OFFSET]);
    d.update(&raw[BG_CHECKSUM_OFFSET + 2..]);
    d.finalize()
}

/// The crc32c of an inode bitmap as its descriptor stores it (metadata_csum):
/// over the first `inodes_per_group / 8` bytes, all 32 bits with 64-byte
/// descriptors, else the low 16 (the only ones stored).
pub(crate) fn inode_bitmap_checksum(sb: &Superblock, csum_seed: u32, bitmap: &[u8]) -> u32 {
    let len = (sb.inodes_per_group as usize / 8).min(bitmap.len());
    let c = ext4_crc32c(csum_seed, &bitmap[..len]);
    if sb.has_incompat(incompat::BIT64) && sb.desc_size >= 64 {
        c
    } else {
        c & 0xFFFF
    }
}

/// The inode bitmap and the inode table must lie inside the filesystem;
/// uninitialised groups are exempt because nothing will be read from them.
fn check_locations(sb: &Superblock, group: u32, d: &GroupDesc) -> Result<(), Error> {
    if d.trust_uninit(sb) && d.flags & BG_INODE_UNINIT != 0 {
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
