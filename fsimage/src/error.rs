//! The one error type of the crate. Every variant carries enough context
//! (inode number, block number, byte offset) to find the damaged structure.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while reading a filesystem image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image or device could not be opened or sized.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path that was given to [`crate::Filesystem::open`].
        path: PathBuf,
        /// The underlying OS error.
        source: io::Error,
    },
    /// A read from the device failed at the OS level.
    #[error("read of {len} bytes at byte offset {offset} failed: {source}")]
    Io {
        /// Byte offset of the read.
        offset: u64,
        /// Length of the read.
        len: usize,
        /// The underlying OS error.
        source: io::Error,
    },
    /// A read would go past the end of the device.
    #[error("read of {len} bytes at byte offset {offset} is past the end of the device ({device_size} bytes)")]
    OutOfBounds {
        /// Byte offset of the read.
        offset: u64,
        /// Length of the read.
        len: u64,
        /// Size of the device or image in bytes.
        device_size: u64,
    },
    /// The superblock is missing, damaged or describes an impossible layout.
    #[error("bad superblock: {0}")]
    BadSuperblock(String),
    /// The filesystem uses incompatible features this reader does not know.
    #[error("unsupported incompatible filesystem features: {names} (bits {bits:#x})")]
    UnsupportedFeatures {
        /// Human-readable names of the refused features, comma separated.
        names: String,
        /// The refused `s_feature_incompat` bits.
        bits: u32,
    },
    /// A block group descriptor is damaged.
    #[error("group descriptor {group}: {reason}")]
    BadGroup {
        /// Block group number.
        group: u32,
        /// What is wrong.
        reason: String,
    },
    /// An inode number outside `1..=s_inodes_count` was asked for or found.
    #[error("inode number {ino} is out of range 1..={max}")]
    InodeOutOfRange {
        /// The offending inode number.
        ino: u32,
        /// `s_inodes_count`.
        max: u32,
    },
    /// An inode or something it points to (block map, extent tree,
    /// directory block, xattr) is damaged.
    #[error("inode {ino}: {reason}")]
    Corrupt {
        /// The inode whose data is damaged.
        ino: u32,
        /// What is wrong, naming the block where there is one.
        reason: String,
    },
    /// A checksum does not match (metadata_csum's crc32c, or the CRC16 of a
    /// gdt_csum group descriptor).
    #[error("{what}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// What was checked, e.g. "inode 12" or "extent block 345 of inode 12".
        what: String,
        /// The inode concerned, if any.
        ino: Option<u32>,
        /// Checksum stored on disk.
        stored: u32,
        /// Checksum computed from the data.
        computed: u32,
    },
    /// The caller passed a buffer that does not fit the request.
    #[error("inode {ino}: buffer of {got} bytes does not fit a run of {max} bytes")]
    BufferSize {
        /// The inode being read.
        ino: u32,
        /// Length of the caller's buffer.
        got: usize,
        /// Largest length the run allows.
        max: u64,
    },
    /// The operation does not apply to this kind of inode.
    #[error("inode {ino}: {reason}")]
    WrongType {
        /// The inode concerned.
        ino: u32,
        /// Why the operation does not apply.
        reason: &'static str,
    },
}

/// Shorthand for building [`Error::Corrupt`].
pub(crate) fn corrupt(ino: u32, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        ino,
        reason: reason.into(),
    }
}
