//! The on-tape format of Linux dump/restore 0.4b47: the 4.4BSD "new" dump format
//! (magic 60012, 1 KiB tape blocks), read and written byte for byte.
//!
//! - [`header`]: the 1 KiB header and the BSD inode inside it, checksums, both byte orders;
//! - [`ext`]: rdump's extension fields in `c_spare` (nanoseconds, crtime, flags, devices);
//! - [`dirent`]: directories as BSD `struct direct` records in 1 KiB chunks;
//! - [`xattr`]: the extended attribute blobs of EXT_XATTR records, ACL conversion;
//! - [`bitmap`]: the inode maps of TS_CLRI and TS_BITS;
//! - [`compress`]: per-record compression framing (zlib, bzip2, LZO, zstd);
//! - [`writer`]: packing blocks into tape records and writing them;
//! - [`reader`]: reading a stream back as typed items, with resynchronisation;
//! - [`rmt`]: remote tapes (`host:file`) through the rmt protocol.
//!
//! docs/FORMAT.md describes the format in prose.

pub mod bitmap;
pub mod compress;
pub mod dirent;
pub mod ext;
pub mod header;
pub mod incompressible;
pub mod reader;
pub mod rmt;
pub mod writer;
pub mod xattr;

pub use bitmap::InodeMap;
pub use compress::Compression;
pub use dirent::{
    decode_directory, decode_directory_in, decode_directory_lenient, encode_directory,
    encode_directory_in, DirEntry, DirectoryEncoder, LenientDirectory, MangledEntry,
};
pub use ext::{InodeExtension, Timestamp};
pub use header::{
    BsdTime, ByteOrder, DumpInode, Header, HeaderError, RecordType, TP_BSIZE, TP_NINDIR,
};
pub use reader::{Item, ReadError, Segment, TapeReader};
pub use writer::{RecordPacker, TapeWriter, WriteStats};
pub use xattr::{decode_xattr_blob, encode_xattr_blob, Xattr, XattrError};
