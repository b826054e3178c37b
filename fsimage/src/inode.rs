//! On-disk inode decoding: mode, owners, sizes, timestamps with nanoseconds
//! and epoch bits, flags, device numbers, and the inode checksum.

use crate::bytes::{le16, le32};
use crate::csum::{ext4_crc32c, inode_seed};
use crate::error::{corrupt, Error};
use crate::superblock::{ro_compat, Superblock};

/// Size of the original ext2 inode; extra fields follow it.
pub const GOOD_OLD_INODE_SIZE: usize = 128;

/// `i_flags` bits (the chattr flags and ext4 internal flags).
pub mod flags {
    /// Secure deletion (`s`).
    pub const SECRM: u32 = 0x1;
    /// Undelete (`u`).
    pub const UNRM: u32 = 0x2;
    /// Compress (`c`).
    pub const COMPR: u32 = 0x4;
    /// Synchronous updates (`S`).
    pub const SYNC: u32 = 0x8;
    /// Immutable (`i`).
    pub const IMMUTABLE: u32 = 0x10;
    /// Append only (`a`).
    pub const APPEND: u32 = 0x20;
    /// Do not dump (`d`).
    pub const NODUMP: u32 = 0x40;
    /// No atime updates (`A`).
    pub const NOATIME: u32 = 0x80;
    /// Hash-indexed directory.
    pub const INDEX: u32 = 0x1000;
    /// Journalled data (`j`).
    pub const JOURNAL_DATA: u32 = 0x4000;
    /// No tail merging (`t`).
    pub const NOTAIL: u32 = 0x8000;
    /// Synchronous directory updates (`D`).
    pub const DIRSYNC: u32 = 0x10000;
    /// Top of directory hierarchy (`T`).
    pub const TOPDIR: u32 = 0x20000;
    /// `i_blocks` counts filesystem blocks, not 512-byte sectors.
    pub const HUGE_FILE: u32 = 0x40000;
    /// The inode uses an extent tree.
    pub const EXTENTS: u32 = 0x80000;
    /// The inode holds a large xattr value.
    pub const EA_INODE: u32 = 0x200000;
    /// The inode keeps its data inline.
    pub const INLINE_DATA: u32 = 0x10000000;
    /// Project id inheritance (`P`).
    pub const PROJINHERIT: u32 = 0x20000000;
    /// Casefolded directory (`F`).
    pub const CASEFOLD: u32 = 0x40000000;
}

/// A timestamp: seconds since the epoch (may be negative or past 2038)
/// and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01 UTC.
    pub sec: i64,
    /// Nanoseconds (0 when the inode has no extra timestamp field).
    pub nsec: u32,
}

impl Timestamp {
    /// Decode a 32-bit base time and its optional `_extra` word: the low two
    /// bits of `extra` extend the signed 32-bit seconds to 34 bits, the rest
    /// are nanoseconds.
    fn decode(base: u32, extra: Option<u32>) -> Timestamp {
        let mut sec = i64::from(base as i32);
        let mut nsec = 0;
        if let Some(extra) = extra {
            sec += i64::from(extra & 3) << 32;
            nsec = extra >> 2;
        }
        Timestamp { sec, nsec }
    }
}

/// The kind of object an inode is, from the top bits of its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
    /// Anything else (the raw `mode & 0xF000`).
    Unknown(u16),
}

impl FileType {
    /// Classify a mode.
    pub fn from_mode(mode: u16) -> FileType {
        match mode & 0xF000 {
            0x8000 => FileType::Regular,
            0x4000 => FileType::Directory,
            0xA000 => FileType::Symlink,
            0x2000 => FileType::CharDevice,
            0x6000 => FileType::BlockDevice,
            0x1000 => FileType::Fifo,
            0xC000 => FileType::Socket,
            other => FileType::Unknown(other),
        }
    }
}

/// A decoded inode. `raw` keeps the on-disk bytes for anything not decoded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Inode {
    /// Inode number.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u16,
    /// Owner (32 bits).
    pub uid: u32,
    /// Group (32 bits).
    pub gid: u32,
    /// Size in bytes (64 bits).
    pub size: u64,
    /// Hard link count.
    pub links: u16,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification.
    pub mtime: Timestamp,
    /// Last inode change.
    pub ctime: Timestamp,
    /// Creation time, when the inode is large enough to hold it.
    pub crtime: Option<Timestamp>,
    /// Deletion time (0 for live inodes; orphan list link otherwise).
    pub dtime: u32,
    /// `i_flags` (see [`flags`]).
    pub flags: u32,
    /// NFS generation number.
    pub generation: u32,
    /// Space used, in 512-byte units (huge_file decoded).
    pub blocks_512: u64,
    /// Block of the external xattr block (0 if none).
    pub file_acl: u64,
    /// Bytes used beyond the first 128 (0 for 128-byte inodes).
    pub extra_isize: u16,
    /// The 15 raw `i_block` words.
    pub block: [u32; 15],
    /// `(major, minor)` for character and block devices.
    pub rdev: Option<(u32, u32)>,
    /// Project id, if the inode has room for it.
    pub projid: Option<u32>,
    /// The whole on-disk inode (`inode_size` bytes).
    pub raw: Vec<u8>,
}

impl Inode {
    /// What kind of object this is.
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }

    /// True if the data lives in the inode (inline_data feature).
    pub fn has_inline_data(&self) -> bool {
        self.flags & flags::INLINE_DATA != 0
    }

    /// True if the data is mapped by an extent tree.
    pub fn uses_extents(&self) -> bool {
        self.flags & flags::EXTENTS != 0
    }

    /// True if `chattr +d` is set.
    pub fn is_nodump(&self) -> bool {
        self.flags & flags::NODUMP != 0
    }

    /// True if this inode stores an xattr value (ea_inode feature).
    pub fn is_ea_inode(&self) -> bool {
        self.flags & flags::EA_INODE != 0
    }

    /// The 60 bytes of `i_block` as stored on disk.
    pub fn block_bytes(&self) -> &[u8] {
        self.raw.get(0x28..0x64).unwrap_or(&[])
    }

    /// The in-inode space after the extra fields, where in-inode xattrs live.
    pub(crate) fn xattr_area(&self) -> &[u8] {
        let start = GOOD_OLD_INODE_SIZE + usize::from(self.extra_isize);
        self.raw.get(start..).unwrap_or(&[])
    }

    /// Decode an inode from its on-disk bytes.
    pub(crate) fn parse(sb: &Superblock, ino: u32, raw: Vec<u8>) -> Result<Inode, Error> {
        let r = &raw;
        let inode_size = raw.len();
        let extra_isize = if inode_size > GOOD_OLD_INODE_SIZE {
            le16(r, 0x80)
        } else {
            0
        };
        if GOOD_OLD_INODE_SIZE + usize::from(extra_isize) > inode_size || extra_isize % 4 != 0 {
            return Err(corrupt(
                ino,
                format!("bad i_extra_isize {extra_isize} for {inode_size}-byte inodes"),
            ));
        }
        // An extra field exists only if i_extra_isize covers it entirely.
        let extra_end = GOOD_OLD_INODE_SIZE + usize::from(extra_isize);
        let field = |off: usize| (off + 4 <= extra_end).then(|| le32(r, off));

        let mode = le16(r, 0x00);
        let flags_word = le32(r, 0x20);
        let size = u64::from(le32(r, 0x04)) | (u64::from(le32(r, 0x6C)) << 32);
        let mut blocks = u64::from(le32(r, 0x1C));
        if sb.has_ro_compat(ro_compat::HUGE_FILE) {
            blocks |= u64::from(le16(r, 0x74)) << 32;
            if flags_word & flags::HUGE_FILE != 0 {
                blocks = blocks.saturating_mul(u64::from(sb.block_size / 512));
            }
        }
        let mut block = [0u32; 15];
        for (i, w) in block.iter_mut().enumerate() {
            *w = le32(r, 0x28 + 4 * i);
        }
        let rdev = match FileType::from_mode(mode) {
            FileType::CharDevice | FileType::BlockDevice => Some(decode_rdev(block[0], block[1])),
            _ => None,
        };
        Ok(Inode {
            ino,
            mode,
            uid: u32::from(le16(r, 0x02)) | (u32::from(le16(r, 0x78)) << 16),
            gid: u32::from(le16(r, 0x18)) | (u32::from(le16(r, 0x7A)) << 16),
            size,
            links: le16(r, 0x1A),
            atime: Timestamp::decode(le32(r, 0x08), field(0x8C)),
            ctime: Timestamp::decode(le32(r, 0x0C), field(0x84)),
            mtime: Timestamp::decode(le32(r, 0x10), field(0x88)),
            crtime: field(0x90).map(|base| Timestamp::decode(base, field(0x94))),
            dtime: le32(r, 0x14),
            flags: flags_word,
            generation: le32(r, 0x64),
            blocks_512: blocks,
            file_acl: u64::from(le32(r, 0x68)) | (u64::from(le16(r, 0x76)) << 32),
            extra_isize,
            block,
            rdev,
            projid: field(0x9C),
            raw,
        })
    }
}

/// Device numbers: the old 16-bit encoding lives in `i_block[0]`, the new
/// 32-bit one (12-bit major, 20-bit minor) in `i_block[1]`.
fn decode_rdev(b0: u32, b1: u32) -> (u32, u32) {
    if b0 != 0 {
        ((b0 >> 8) & 0xFF, b0 & 0xFF)
    } else {
        ((b1 & 0xFFF00) >> 8, (b1 & 0xFF) | ((b1 >> 12) & 0xFFF00))
    }
}

/// Check the metadata_csum checksum of raw inode bytes. All-zero inodes
/// (never written) are accepted, as e2fsprogs does.
pub(crate) fn verify_checksum(fs_seed: u32, ino: u32, raw: &[u8]) -> Result<(), Error> {
    let size = raw.len();
    let extra = if size > GOOD_OLD_INODE_SIZE {
        usize::from(le16(raw, 0x80))
    } else {
        0
    };
    let has_hi = size > GOOD_OLD_INODE_SIZE && extra >= 4;
    let mut stored = u32::from(le16(raw, 0x7C));
    if has_hi {
        stored |= u32::from(le16(raw, 0x82)) << 16;
    }
    let generation = le32(raw, 0x64);
    let mut c = inode_seed(fs_seed, ino, generation);
    c = ext4_crc32c(c, &raw[..0x7C]);
    c = ext4_crc32c(c, &[0, 0]);
    if has_hi {
        c = ext4_crc32c(c, &raw[0x7E..0x82]);
        c = ext4_crc32c(c, &[0, 0]);
        c = ext4_crc32c(c, &raw[0x84..]);
    } else {
        c = ext4_crc32c(c, &raw[0x7E..]);
    }
    let computed = if has_hi { c } else { c & 0xFFFF };
    if computed == stored || raw.iter().all(|&b| b == 0) {
        return Ok(());
    }
    Err(Error::Checksum {
        what: format!("inode {ino}"),
        ino: Some(ino),
        stored,
        computed,
    })
}
