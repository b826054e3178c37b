//! Directory entries: linear and htree directories (whose index blocks look
//! like empty entries to a linear reader, so all blocks are read in order)
//! and inline directories.

use crate::bytes::{le16, le32, u8_at};
use crate::csum::{ext4_crc32c, inode_seed};
use crate::error::{corrupt, Error};
use crate::inode::{flags, Inode};
use crate::runs::RunKind;
use crate::superblock::incompat;
use crate::Filesystem;

/// `EXT2_FT_*` file type of a directory entry.
pub mod file_type {
    /// Unknown (also used when the filetype feature is off).
    pub const UNKNOWN: u8 = 0;
    /// Regular file.
    pub const REG_FILE: u8 = 1;
    /// Directory.
    pub const DIR: u8 = 2;
    /// Character device.
    pub const CHRDEV: u8 = 3;
    /// Block device.
    pub const BLKDEV: u8 = 4;
    /// Named pipe.
    pub const FIFO: u8 = 5;
    /// Socket.
    pub const SOCK: u8 = 6;
    /// Symbolic link.
    pub const SYMLINK: u8 = 7;
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DirEntry {
    /// Inode the entry points to.
    pub ino: u32,
    /// Name bytes (not NUL terminated, not necessarily UTF-8).
    pub name: Vec<u8>,
    /// `EXT2_FT_*` type; [`file_type::UNKNOWN`] without the filetype feature.
    pub file_type: u8,
}

/// Largest directory this reader accepts. Even with large_dir a real
/// directory stays far below this; beyond it the size is taken as corrupt
/// rather than read into memory.
pub const MAX_DIR_SIZE: u64 = 1 << 32;

/// Size of the fake entry at the end of a metadata_csum leaf block.
const DIRENT_TAIL_SIZE: usize = 12;
const DIRENT_TAIL_FT: u8 = 0xDE;
/// Offset of `dx_countlimit` in an htree root block.
const DX_ROOT_COUNT_OFFSET: usize = 0x20;
/// Offset of `dx_countlimit` in an htree interior node.
const DX_NODE_COUNT_OFFSET: usize = 0x08;

/// One directory entry as [`for_each_entry`] hands it out, borrowing its
/// name from the block being parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntryRef<'a> {
    /// Inode the entry points to.
    pub ino: u32,
    /// Name bytes (not NUL terminated, not necessarily UTF-8).
    pub name: &'a [u8],
    /// `EXT2_FT_*` type; [`file_type::UNKNOWN`] without the filetype feature.
    pub file_type: u8,
}

/// Read all entries of directory `inode`; see [`Filesystem::read_dir`].
pub(crate) fn read_dir(fs: &Filesystem, inode: &Inode) -> Result<Vec<DirEntry>, Error> {
    let mut out = Vec::new();
    for_each_entry(fs, inode, &mut |e| {
        out.push(DirEntry {
            ino: e.ino,
            name: e.name.to_vec(),
            file_type: e.file_type,
        })
    })?;
    Ok(out)
}

/// Hand every entry of directory `inode` to `visit`, in on-disk order, one
/// block in memory at a time; see [`Filesystem::for_each_dir_entry`].
pub(crate) fn for_each_entry(
    fs: &Filesystem,
    inode: &Inode,
    visit: &mut dyn FnMut(DirEntryRef<'_>),
) -> Result<(), Error> {
    let ino = inode.ino;
    if inode.file_type() != crate::FileType::Directory {
        return Err(Error::WrongType {
            ino,
            reason: "not a directory",
        });
    }
    if inode.size > MAX_DIR_SIZE {
        return Err(corrupt(
            ino,
            format!("directory size {} is absurd", inode.size),
        ));
    }
    let parser = EntryParser {
        ino,
        has_filetype: fs.superblock().has_incompat(incompat::FILETYPE),
        inodes_count: fs.inode_count(),
        block_size: fs.block_size(),
    };
    if inode.has_inline_data() {
        let data = crate::inline::inline_bytes(fs, inode)?;
        // Inline layout: parent inode number, then entries filling the rest
        // of i_block, then entries in the system.data xattr value.
        if data.len() < 4 {
            return Err(corrupt(
                ino,
                "inline directory shorter than its parent pointer",
            ));
        }
        let parent = le32(&data, 0);
        visit(DirEntryRef {
            ino,
            name: b".",
            file_type: file_type::DIR,
        });
        visit(DirEntryRef {
            ino: parent,
            name: b"..",
            file_type: file_type::DIR,
        });
        let first = data.len().min(60);
        parser.parse(&data[4..first], "inline data", visit)?;
        if data.len() > 60 {
            parser.parse(&data[60..], "inline data xattr", visit)?;
        }
        return Ok(());
    }

    let bs = u64::from(fs.block_size());
    let csum_seed = (fs.verify_checksums() && fs.superblock().has_metadata_csum())
        .then(|| inode_seed(fs.csum_seed(), ino, inode.generation));
    let indexed = inode.flags & flags::INDEX != 0;
    let mut block = vec![0u8; bs as usize];
    for run in fs.data_runs(inode)? {
        // Holes and unwritten extents hold no entries.
        if run.kind != RunKind::Data {
            continue;
        }
        for i in 0..run.len {
            let phys = run.physical + i;
            fs.device().read_at(phys * bs, &mut block)?;
            let place = format!("directory block {phys}");
            let logical = run.logical + i;
            // htree index nodes: the root (block 0, after "." and ".." and
            // the 8-byte dx_root_info) and interior nodes (one empty entry
            // spanning the block; a leaf's empty entry stops short of the
            // checksum tail, so cannot span it).
            let index_node = if !indexed {
                None
            } else if logical == 0 {
                Some(DX_ROOT_COUNT_OFFSET)
            } else if le32(&block, 0) == 0 && rec_len(&block, 4, parser.block_size) == bs as usize {
                Some(DX_NODE_COUNT_OFFSET)
            } else {
                None
            };
            if let Some(seed) = csum_seed {
                verify_block(seed, ino, &block, &place, index_node)?;
            }
            parser.parse(&block, &place, visit)?;
        }
    }
    Ok(())
}

fn rec_len(buf: &[u8], off: usize, block_size: u32) -> usize {
    let raw = le16(buf, off);
    if block_size < 65536 {
        return usize::from(raw);
    }
    // 64 KiB blocks cannot express 65536 in 16 bits: 0 and 65535 mean a full block.
    if raw == 65535 || raw == 0 {
        65536
    } else {
        usize::from(raw & 65532) | (usize::from(raw & 3) << 16)
    }
}

/// Verify a directory block's checksum: htree index nodes carry a
/// `dx_tail` after their `limit` entries, leaf blocks a fake entry at the end.
/// Blocks without either (leaves written before metadata_csum was enabled)
/// are not checked, as the kernel only warns about those.
fn verify_block(
    seed: u32,
    ino: u32,
    block: &[u8],
    place: &str,
    index_node: Option<usize>,
) -> Result<(), Error> {
    let (computed, stored) = match index_node {
        Some(count_offset) => {
            // dx_countlimit: limit u16, count u16; entries are 8 bytes.
            let limit = usize::from(le16(block, count_offset));
            let count = usize::from(le16(block, count_offset + 2));
            let tail = count_offset + limit * 8;
            if count > limit || tail + 8 > block.len() {
                return Ok(());
            }
            let c = ext4_crc32c(seed, &block[..count_offset + count * 8]);
            // dx_tail: reserved word, then the checksum taken as zero.
            let c = ext4_crc32c(c, &block[tail..tail + 4]);
            (ext4_crc32c(c, &[0; 4]), le32(block, tail + 4))
        }
        None => {
            let t = block.len() - DIRENT_TAIL_SIZE;
            let is_tail = le32(block, t) == 0
                && le16(block, t + 4) == DIRENT_TAIL_SIZE as u16
                && u8_at(block, t + 6) == 0
                && u8_at(block, t + 7) == DIRENT_TAIL_FT;
            if !is_tail {
                return Ok(());
            }
            (ext4_crc32c(seed, &block[..t]), le32(block, t + 8))
        }
    };
    if computed != stored {
        return Err(Error::Checksum {
            what: format!("{place} of inode {ino}"),
            ino: Some(ino),
            stored,
            computed,
        });
    }
    Ok(())
}

struct EntryParser {
    ino: u32,
    has_filetype: bool,
    inodes_count: u32,
    block_size: u32,
}

impl EntryParser {
    /// Parse a self-contained region of entries (a block, or an inline area).
    fn parse(
        &self,
        buf: &[u8],
        place: &str,
        visit: &mut dyn FnMut(DirEntryRef<'_>),
    ) -> Result<(), Error> {
        let mut off = 0usize;
        while off < buf.len() {
            if off + 8 > buf.len() {
                return Err(corrupt(
                    self.ino,
                    format!("{place}: truncated entry at offset {off}"),
                ));
            }
            let ino = le32(buf, off);
            let rec = rec_len(buf, off + 4, self.block_size);
            let (name_len, ft) = if self.has_filetype {
                (usize::from(u8_at(buf, off + 6)), u8_at(buf, off + 7))
            } else {
                (usize::from(le16(buf, off + 6)), file_type::UNKNOWN)
            };
            if rec < 8 || rec % 4 != 0 || off + rec > buf.len() {
                return Err(corrupt(
                    self.ino,
                    format!("{place}: bad record length {rec} at offset {off}"),
                ));
            }
            if ino != 0 {
                if 8 + name_len > rec || name_len == 0 {
                    return Err(corrupt(
                        self.ino,
                        format!("{place}: name length {name_len} does not fit record of {rec} bytes at offset {off}"),
                    ));
                }
                if ino > self.inodes_count {
                    return Err(corrupt(
                        self.ino,
                        format!("{place}: entry at offset {off} points to inode {ino}, beyond the last inode"),
                    ));
                }
                visit(DirEntryRef {
                    ino,
                    name: &buf[off + 8..off + 8 + name_len],
                    file_type: ft,
                });
            }
            off += rec;
        }
        Ok(())
    }
}
