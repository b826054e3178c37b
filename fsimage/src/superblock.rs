//! The ext2/3/4 superblock: decoding, sanity checks and feature gating.

use crate::bytes::{c_string, le16, le32, u8_at};
use crate::csum::ext4_crc32c;
use crate::error::Error;

/// Byte offset of the primary superblock on the device.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// Size of the on-disk superblock.
pub const SUPERBLOCK_SIZE: usize = 1024;
const EXT2_MAGIC: u16 = 0xEF53;

/// `s_feature_compat` bits.
pub mod compat {
    /// Pre-allocate directory blocks.
    pub const DIR_PREALLOC: u32 = 0x1;
    /// AFS server inodes.
    pub const IMAGIC_INODES: u32 = 0x2;
    /// Has a journal (ext3/ext4).
    pub const HAS_JOURNAL: u32 = 0x4;
    /// Extended attributes.
    pub const EXT_ATTR: u32 = 0x8;
    /// Reserved GDT blocks held by the resize inode (7).
    pub const RESIZE_INODE: u32 = 0x10;
    /// Hashed (htree) directories.
    pub const DIR_INDEX: u32 = 0x20;
    /// Backup superblocks only in the groups named by `s_backup_bgs`.
    pub const SPARSE_SUPER2: u32 = 0x200;
}

/// `s_feature_incompat` bits.
pub mod incompat {
    /// Compression (never finished; refused).
    pub const COMPRESSION: u32 = 0x1;
    /// Directory entries carry a file type byte.
    pub const FILETYPE: u32 = 0x2;
    /// The journal needs recovery.
    pub const RECOVER: u32 = 0x4;
    /// This is an external journal device (refused).
    pub const JOURNAL_DEV: u32 = 0x8;
    /// Meta block groups.
    pub const META_BG: u32 = 0x10;
    /// Extent-mapped files.
    pub const EXTENTS: u32 = 0x40;
    /// More than 2^32 blocks; 64-bit group descriptors.
    pub const BIT64: u32 = 0x80;
    /// Multiple mount protection.
    pub const MMP: u32 = 0x100;
    /// Flexible block groups.
    pub const FLEX_BG: u32 = 0x200;
    /// Large xattr values stored in inodes.
    pub const EA_INODE: u32 = 0x400;
    /// Data in directory entries (refused).
    pub const DIRDATA: u32 = 0x1000;
    /// Checksum seed stored in the superblock.
    pub const CSUM_SEED: u32 = 0x2000;
    /// Directories larger than 2 GiB / 3-level htree.
    pub const LARGEDIR: u32 = 0x4000;
    /// Small files and directories stored inside the inode.
    pub const INLINE_DATA: u32 = 0x8000;
    /// Encrypted inodes (refused).
    pub const ENCRYPT: u32 = 0x10000;
    /// Case-insensitive directories.
    pub const CASEFOLD: u32 = 0x20000;

    /// Every incompat feature this reader handles.
    pub const SUPPORTED: u32 = FILETYPE
        | RECOVER
        | META_BG
        | EXTENTS
        | BIT64
        | MMP
        | FLEX_BG
        | EA_INODE
        | CSUM_SEED
        | LARGEDIR
        | INLINE_DATA
        | CASEFOLD;

    pub(crate) const NAMES: &[(u32, &str)] = &[
        (COMPRESSION, "compression"),
        (FILETYPE, "filetype"),
        (RECOVER, "needs_recovery"),
        (JOURNAL_DEV, "journal_dev"),
        (META_BG, "meta_bg"),
        (EXTENTS, "extent"),
        (BIT64, "64bit"),
        (MMP, "mmp"),
        (FLEX_BG, "flex_bg"),
        (EA_INODE, "ea_inode"),
        (DIRDATA, "dirdata"),
        (CSUM_SEED, "metadata_csum_seed"),
        (LARGEDIR, "large_dir"),
        (INLINE_DATA, "inline_data"),
        (ENCRYPT, "encrypt"),
        (CASEFOLD, "casefold"),
    ];
}

/// `s_feature_ro_compat` bits.
pub mod ro_compat {
    /// Backup superblocks only in groups 0, 1 and powers of 3, 5, 7.
    pub const SPARSE_SUPER: u32 = 0x1;
    /// Files larger than 2 GiB.
    pub const LARGE_FILE: u32 = 0x2;
    /// `i_blocks` may be in filesystem blocks and 48 bits wide.
    pub const HUGE_FILE: u32 = 0x8;
    /// Group descriptors carry a CRC16.
    pub const GDT_CSUM: u32 = 0x10;
    /// Directory link counts may overflow to 1.
    pub const DIR_NLINK: u32 = 0x20;
    /// Inodes have extra space for nanosecond timestamps.
    pub const EXTRA_ISIZE: u32 = 0x40;
    /// Clustered allocation.
    pub const BIGALLOC: u32 = 0x200;
    /// CRC32C checksums on all metadata.
    pub const METADATA_CSUM: u32 = 0x400;
}

/// The decoded superblock. Only fields a dump program or a reader needs are
/// decoded; `raw` keeps the rest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Superblock {
    /// Bytes per block (1024 << s_log_block_size).
    pub block_size: u32,
    /// `s_inodes_count`: the highest inode number.
    pub inodes_count: u32,
    /// Total blocks (64-bit when the 64bit feature is on).
    pub blocks_count: u64,
    /// Free blocks as last recorded.
    pub free_blocks_count: u64,
    /// Free inodes as last recorded.
    pub free_inodes_count: u32,
    /// Bytes per on-disk inode.
    pub inode_size: u16,
    /// First block of group 0 (1 for 1 KiB blocks, else 0).
    pub first_data_block: u32,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Revision level (0 = original, 1 = dynamic).
    pub rev_level: u32,
    /// Minor revision level.
    pub minor_rev_level: u16,
    /// Creator OS (0 = Linux).
    pub creator_os: u32,
    /// Filesystem state bits (1 = cleanly unmounted).
    pub state: u16,
    /// Volume label.
    pub volume_name: String,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Directory where it was last mounted.
    pub last_mounted: String,
    /// `s_feature_compat`.
    pub feature_compat: u32,
    /// `s_feature_incompat`.
    pub feature_incompat: u32,
    /// `s_feature_ro_compat`.
    pub feature_ro_compat: u32,
    /// First non-reserved inode number.
    pub first_ino: u32,
    /// Size of a group descriptor in bytes (32 or `s_desc_size`).
    pub desc_size: u16,
    /// First meta block group (meta_bg).
    pub first_meta_bg: u32,
    /// log2 of groups per flex group.
    pub log_groups_per_flex: u8,
    /// GDT blocks reserved for online growth.
    pub reserved_gdt_blocks: u16,
    /// Journal inode number (0 if none).
    pub journal_inum: u32,
    /// Last mount time (seconds since the epoch).
    pub mtime: u32,
    /// Last write time.
    pub wtime: u32,
    /// Creation time.
    pub mkfs_time: u32,
    /// The two backup groups of sparse_super2.
    pub backup_bgs: [u32; 2],
    /// `s_checksum_seed` (meaningful with metadata_csum_seed).
    pub checksum_seed: u32,
    /// `s_checksum` (meaningful with metadata_csum).
    pub checksum: u32,
    /// The 1024 on-disk bytes.
    pub raw: Vec<u8>,
}

impl Superblock {
    /// Decode and sanity-check a superblock read from `SUPERBLOCK_OFFSET`.
    /// `device_size` bounds every count so that later allocations and
    /// reads stay within the device.
    pub(crate) fn parse(raw: &[u8], device_size: u64) -> Result<Superblock, Error> {
        let bad = |msg: String| Error::BadSuperblock(msg);
        if raw.len() < SUPERBLOCK_SIZE {
            return Err(bad("device too small to hold a superblock".into()));
        }
        let magic = le16(raw, 0x38);
        if magic != EXT2_MAGIC {
            return Err(bad(format!(
                "magic {magic:#06x}, expected {EXT2_MAGIC:#06x}"
            )));
        }
        let log_block_size = le32(raw, 0x18);
        if log_block_size > 6 {
            return Err(bad(format!(
                "s_log_block_size {log_block_size} out of range 0..=6"
            )));
        }
        let block_size = 1024u32 << log_block_size;
        let rev_level = le32(raw, 0x4C);
        let feature_compat = if rev_level >= 1 { le32(raw, 0x5C) } else { 0 };
        let feature_incompat = if rev_level >= 1 { le32(raw, 0x60) } else { 0 };
        let feature_ro_compat = if rev_level >= 1 { le32(raw, 0x64) } else { 0 };

        let unknown = feature_incompat & !incompat::SUPPORTED;
        if unknown != 0 {
            let mut names: Vec<String> = Vec::new();
            for bit in 0..32 {
                let mask = 1u32 << bit;
                if unknown & mask == 0 {
                    continue;
                }
                match incompat::NAMES.iter().find(|(m, _)| *m == mask) {
                    Some((_, name)) => names.push((*name).to_string()),
                    None => names.push(format!("unknown({mask:#x})")),
                }
            }
            return Err(Error::UnsupportedFeatures {
                names: names.join(", "),
                bits: unknown,
            });
        }
        let is64 = feature_incompat & incompat::BIT64 != 0;

        let (inode_size, first_ino) = if rev_level == 0 {
            (128u16, 11u32)
        } else {
            (le16(raw, 0x58), le32(raw, 0x54))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || u32::from(inode_size) > block_size {
            return Err(bad(format!(
                "inode size {inode_size} is not a power of two in 128..=block size"
            )));
        }
        let desc_size = if is64 { le16(raw, 0xFE) } else { 32 };
        if desc_size < 32 || !desc_size.is_power_of_two() || u32::from(desc_size) > block_size {
            return Err(bad(format!("group descriptor size {desc_size} is invalid")));
        }

        let mut blocks_count = u64::from(le32(raw, 0x04));
        let mut free_blocks_count = u64::from(le32(raw, 0x0C));
        if is64 {
            blocks_count |= u64::from(le32(raw, 0x150)) << 32;
            free_blocks_count |= u64::from(le32(raw, 0x158)) << 32;
        }
        let first_data_block = le32(raw, 0x14);
        let blocks_per_group = le32(raw, 0x20);
        let inodes_per_group = le32(raw, 0x28);
        let inodes_count = le32(raw, 0x00);

        // One bitmap block describes a group, which bounds both per-group
        // counts; with bigalloc the block bitmap counts clusters.
        let bits_per_block = block_size * 8;
        let log_cluster = le32(raw, 0x1C);
        let cluster_shift = if feature_ro_compat & ro_compat::BIGALLOC != 0 {
            if log_cluster < log_block_size || log_cluster - log_block_size > 16 {
                return Err(bad(format!("cluster size log {log_cluster} is invalid")));
            }
            log_cluster - log_block_size
        } else {
            0
        };
        let max_blocks_per_group = u64::from(bits_per_block) << cluster_shift;
        if blocks_per_group == 0 || u64::from(blocks_per_group) > max_blocks_per_group {
            return Err(bad(format!(
                "blocks per group {blocks_per_group} out of range 1..={max_blocks_per_group}"
            )));
        }
        if inodes_per_group == 0 || inodes_per_group > bits_per_block {
            return Err(bad(format!(
                "inodes per group {inodes_per_group} out of range 1..={bits_per_block}"
            )));
        }
        if first_data_block > 1 || (first_data_block == 1 && block_size != 1024) {
            return Err(bad(format!(
                "first data block {first_data_block} with {block_size}-byte blocks"
            )));
        }
        if blocks_count <= u64::from(first_data_block) {
            return Err(bad(format!(
                "block count {blocks_count} leaves no block groups"
            )));
        }
        let device_blocks = device_size / u64::from(block_size);
        if blocks_count > device_blocks {
            return Err(bad(format!(
                "filesystem has {blocks_count} blocks of {block_size} bytes but the device holds only {device_blocks}"
            )));
        }
        let groups =
            (blocks_count - u64::from(first_data_block)).div_ceil(u64::from(blocks_per_group));
        if inodes_count == 0 || u64::from(inodes_count) > groups * u64::from(inodes_per_group) {
            return Err(bad(format!(
                "inode count {inodes_count} exceeds {groups} groups of {inodes_per_group} inodes"
            )));
        }
        if rev_level >= 1 && (first_ino < 11 || first_ino > inodes_count) {
            return Err(bad(format!("first inode {first_ino} out of range")));
        }

        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&raw[0x68..0x78]);
        Ok(Superblock {
            block_size,
            inodes_count,
            blocks_count,
            free_blocks_count,
            free_inodes_count: le32(raw, 0x10),
            inode_size,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            rev_level,
            minor_rev_level: le16(raw, 0x3E),
            creator_os: le32(raw, 0x48),
            state: le16(raw, 0x3A),
            volume_name: c_string(&raw[0x78..0x88]),
            uuid,
            last_mounted: c_string(&raw[0x88..0xC8]),
            feature_compat,
            feature_incompat,
            feature_ro_compat,
            first_ino,
            desc_size,
            first_meta_bg: le32(raw, 0x104),
            log_groups_per_flex: u8_at(raw, 0x174),
            reserved_gdt_blocks: le16(raw, 0xCE),
            journal_inum: le32(raw, 0xE0),
            mtime: le32(raw, 0x2C),
            wtime: le32(raw, 0x30),
            mkfs_time: le32(raw, 0x108),
            backup_bgs: [le32(raw, 0x24C), le32(raw, 0x250)],
            checksum_seed: le32(raw, 0x270),
            checksum: le32(raw, 0x3FC),
            raw: raw[..SUPERBLOCK_SIZE].to_vec(),
        })
    }

    /// Number of block groups.
    pub fn group_count(&self) -> u32 {
        let n = (self.blocks_count - u64::from(self.first_data_block))
            .div_ceil(u64::from(self.blocks_per_group));
        // parse() bounded inodes_count (a u32) by groups * inodes_per_group
        // only from above, so the group count itself may exceed u32 on a
        // damaged image; clamp rather than wrap.
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// True if metadata_csum is enabled.
    pub fn has_metadata_csum(&self) -> bool {
        self.feature_ro_compat & ro_compat::METADATA_CSUM != 0
    }

    /// True if group descriptors carry checksums (gdt_csum or
    /// metadata_csum), which is when the UNINIT flags and `itable_unused`
    /// can be trusted.
    pub fn has_group_csum(&self) -> bool {
        self.feature_ro_compat & (ro_compat::GDT_CSUM | ro_compat::METADATA_CSUM) != 0
    }

    /// True if the given incompat bit is set.
    pub fn has_incompat(&self, bit: u32) -> bool {
        self.feature_incompat & bit != 0
    }

    /// True if the given ro_compat bit is set.
    pub fn has_ro_compat(&self, bit: u32) -> bool {
        self.feature_ro_compat & bit != 0
    }

    /// The seed every metadata_csum checksum starts from.
    pub(crate) fn csum_seed(&self) -> u32 {
        if self.has_incompat(incompat::CSUM_SEED) {
            self.checksum_seed
        } else {
            ext4_crc32c(!0, &self.uuid)
        }
    }

    /// Verify `s_checksum` (metadata_csum only).
    pub(crate) fn verify_checksum(&self) -> Result<(), Error> {
        if !self.has_metadata_csum() {
            return Ok(());
        }
        let computed = ext4_crc32c(!0, &self.raw[..0x3FC]);
        if computed != self.checksum {
            return Err(Error::Checksum {
                what: "superblock".into(),
                ino: None,
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }

    /// Does group `group` hold a superblock backup (and so a GDT copy)?
    pub(crate) fn group_has_super(&self, group: u32) -> bool {
        if group == 0 {
            return true;
        }
        if self.feature_compat & compat::SPARSE_SUPER2 != 0 {
            return group == self.backup_bgs[0] || group == self.backup_bgs[1];
        }
        if group == 1 || !self.has_ro_compat(ro_compat::SPARSE_SUPER) {
            return true;
        }
        if group % 2 == 0 {
            return false;
        }
        [3u32, 5, 7].iter().any(|&base| is_power_of(group, base))
    }
}

fn is_power_of(mut n: u32, base: u32) -> bool {
    while n > 1 && n % base == 0 {
        n /= base;
    }
    n == 1
}
