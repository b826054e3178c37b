//! Read-only ext2/ext3/ext4 at inode level, straight from a block device or
//! an image file, without mounting and without libext2fs.
//!
//! [`Filesystem`] is `Send + Sync`: open it once and read inodes, data runs,
//! directories and xattrs from many threads at once.
//!
//! ```no_run
//! use fsimage::{Filesystem, RunKind};
//! # fn main() -> Result<(), fsimage::Error> {
//! let fs = Filesystem::open(std::path::Path::new("/dev/sdb1"))?;
//! for ino in fs.allocated_inodes()? {
//!     let inode = fs.inode(ino)?;
//!     if let Some(data) = fs.inline_data(&inode)? {
//!         println!("{ino}: {} inline bytes", data.len());
//!         continue;
//!     }
//!     for run in fs.data_runs(&inode)? {
//!         let mut buf = vec![0; (run.len * u64::from(fs.block_size())) as usize];
//!         fs.read_file_blocks(&inode, &run, &mut buf)?; // zeros for holes
//!         let _ = run.kind == RunKind::Hole;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! What is read:
//! - superblocks of every revision, 32- and 64-bit group descriptors,
//!   meta_bg, flex_bg, sparse_super(2); unknown incompat features are
//!   refused with [`Error::UnsupportedFeatures`] naming them;
//! - metadata_csum checksums of the superblock, group descriptors, inodes,
//!   extent blocks, directory leaf blocks, htree index nodes and xattr
//!   blocks (on by default, see [`OpenOptions`]); a mismatch is
//!   [`Error::Checksum`]. Group descriptors (crc32c, or CRC16 on gdt_csum
//!   filesystems) and inode bitmaps too, where a mismatch is reported and
//!   the group's inodes are all examined instead (see
//!   [`Filesystem::inode_scan`]). Not verified: block bitmaps (nothing
//!   here reads them) and the journal (never replayed);
//! - inodes, with all timestamps (nanoseconds, epoch bits, crtime), flags,
//!   32-bit owners, 64-bit sizes, device numbers, inline data;
//! - data maps from block maps and extent trees as [`Run`]s with holes and
//!   unwritten extents explicit;
//! - directories (linear, htree, inline) and xattrs (in-inode, external
//!   block, EA inodes).
//!
//! Damaged images give an [`Error`] naming the inode and block; tree walks
//! are bounded by the device size, so no input makes this crate panic,
//! hang or allocate without bound.

mod bytes;
mod csum;
mod device;
mod dir;
mod error;
mod group;
mod inline;
mod inode;
mod runs;
mod superblock;
mod xattr;

use std::path::Path;

pub use dir::{file_type, DirEntry, DirEntryRef, MAX_DIR_SIZE};
pub use error::Error;
pub use group::{GroupDesc, BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_INODE_ZEROED};
pub use inode::{flags, FileType, Inode, Timestamp};
pub use runs::{Run, RunKind};
pub use superblock::{compat, incompat, ro_compat, Superblock};
pub use xattr::Xattr;

use device::Device;
use error::corrupt;

/// Settings for opening a filesystem.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Verify metadata_csum checksums (default: true). Turn off to salvage
    /// what can be read from a filesystem with damaged checksums.
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            verify_checksums: true,
        }
    }
}

/// The inodes to read, as [`Filesystem::inode_scan`] found them.
#[derive(Debug)]
pub struct InodeScan {
    /// Inode numbers in ascending order: those the bitmaps mark in use,
    /// and every initialised inode of a group whose bitmap or descriptor is
    /// damaged (every inode of the group, if the descriptor is).
    pub inodes: Vec<u32>,
    /// One [`Error::Checksum`] per group descriptor or inode bitmap that
    /// failed its checksum.
    pub damaged: Vec<Error>,
}

/// An open, read-only ext2/3/4 filesystem.
pub struct Filesystem {
    dev: Device,
    sb: Superblock,
    groups: Vec<GroupDesc>,
    csum_seed: u32,
    verify: bool,
}

impl Filesystem {
    /// Open a block device or image file read-only, verifying checksums.
    pub fn open(path: &Path) -> Result<Filesystem, Error> {
        Filesystem::open_with(path, &OpenOptions::default())
    }

    /// Open a block device or image file read-only with explicit options.
    pub fn open_with(path: &Path, options: &OpenOptions) -> Result<Filesystem, Error> {
        Filesystem::from_device(Device::open(path)?, options)
    }

    /// Use an image held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Filesystem, Error> {
        Filesystem::from_bytes_with(bytes, &OpenOptions::default())
    }

    /// Use an image held in memory with explicit options.
    pub fn from_bytes_with(bytes: Vec<u8>, options: &OpenOptions) -> Result<Filesystem, Error> {
        Filesystem::from_device(Device::from_bytes(bytes), options)
    }

    fn from_device(dev: Device, options: &OpenOptions) -> Result<Filesystem, Error> {
        let mut raw = vec![0u8; superblock::SUPERBLOCK_SIZE];
        dev.read_at(superblock::SUPERBLOCK_OFFSET, &mut raw)
            .map_err(|e| match e {
                Error::OutOfBounds { .. } => {
                    Error::BadSuperblock("device too small to hold a superblock".into())
                }
                other => other,
            })?;
        let sb = Superblock::parse(&raw, dev.len())?;
        let verify = options.verify_checksums;
        if verify {
            sb.verify_checksum()?;
        }
        let csum_seed = sb.csum_seed();
        let groups = group::read_groups(&dev, &sb, csum_seed, verify)?;
        Ok(Filesystem {
            dev,
            sb,
            groups,
            csum_seed,
            verify,
        })
    }

    /// The decoded superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Bytes per block.
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// `s_inodes_count`: the highest valid inode number.
    pub fn inode_count(&self) -> u32 {
        self.sb.inodes_count
    }

    /// The block group descriptors.
    pub fn groups(&self) -> &[GroupDesc] {
        &self.groups
    }

    /// Size of the device or image in bytes.
    pub fn device_size(&self) -> u64 {
        self.dev.len()
    }

    pub(crate) fn device(&self) -> &Device {
        &self.dev
    }

    pub(crate) fn csum_seed(&self) -> u32 {
        self.csum_seed
    }

    pub(crate) fn verify_checksums(&self) -> bool {
        self.verify
    }

    /// In-use inode numbers in ascending order: [`Filesystem::inode_scan`]
    /// without its report of damaged bitmaps.
    pub fn allocated_inodes(&self) -> Result<Vec<u32>, Error> {
        self.inode_scan().map(|scan| scan.inodes)
    }

    /// In-use inode numbers in ascending order, from the inode bitmaps.
    /// Groups flagged INODE_UNINIT and the `itable_unused` tail of each
    /// table are skipped when group checksums make those fields trustworthy.
    /// Reserved inodes (1 to `first_ino - 1`) are included when marked.
    ///
    /// On metadata_csum filesystems each inode bitmap is checked against
    /// its checksum. A bitmap that fails cannot say which inodes are in
    /// use, so every initialised inode of its group is listed (the caller
    /// reads each and skips the free ones: mode 0, no links or a deletion
    /// time) and the group is reported in [`InodeScan::damaged`]: a damaged
    /// bitmap must not make in-use inodes disappear from a backup. The same
    /// goes for a group whose descriptor failed its checksum, and there the
    /// UNINIT flag and `itable_unused` are not believed either.
    pub fn inode_scan(&self) -> Result<InodeScan, Error> {
        let ipg = self.sb.inodes_per_group;
        let bs = u64::from(self.sb.block_size);
        let check_bitmaps = self.verify && self.sb.has_metadata_csum();
        let mut bitmap = vec![0u8; bs as usize];
        let mut out = Vec::new();
        let mut damaged = Vec::new();
        for (g, desc) in self.groups.iter().enumerate() {
            let g = g as u32;
            let first = u64::from(g) * u64::from(ipg) + 1;
            if first > u64::from(self.sb.inodes_count) {
                break;
            }
            if let Some(computed) = desc.checksum_mismatch {
                damaged.push(Error::Checksum {
                    what: format!("group descriptor {g}"),
                    ino: None,
                    stored: u32::from(desc.checksum),
                    computed: u32::from(computed),
                });
            }
            let mut used = ipg;
            if desc.trust_uninit(&self.sb) {
                if desc.flags & BG_INODE_UNINIT != 0 {
                    continue;
                }
                used = ipg.saturating_sub(desc.itable_unused);
            }
            self.dev.read_at(desc.inode_bitmap * bs, &mut bitmap)?;
            // A damaged descriptor may point at the right bitmap, but its
            // checksum of it cannot be believed.
            let mut trust_bitmap = desc.checksum_ok();
            if check_bitmaps && trust_bitmap {
                let computed = group::inode_bitmap_checksum(&self.sb, self.csum_seed, &bitmap);
                if computed != desc.inode_bitmap_csum {
                    trust_bitmap = false;
                    damaged.push(Error::Checksum {
                        what: format!("inode bitmap of group {g} (block {})", desc.inode_bitmap),
                        ino: None,
                        stored: desc.inode_bitmap_csum,
                        computed,
                    });
                }
            }
            for i in 0..used {
                if !trust_bitmap || bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0 {
                    let ino = first + u64::from(i);
                    if ino > u64::from(self.sb.inodes_count) {
                        break;
                    }
                    out.push(ino as u32);
                }
            }
        }
        Ok(InodeScan {
            inodes: out,
            damaged,
        })
    }

    /// Byte offset of inode `ino` in its group's inode table.
    fn inode_offset(&self, ino: u32) -> Result<u64, Error> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(Error::InodeOutOfRange {
                ino,
                max: self.sb.inodes_count,
            });
        }
        let index = ino - 1;
        let group = index / self.sb.inodes_per_group;
        let within = index % self.sb.inodes_per_group;
        let desc = self
            .groups
            .get(group as usize)
            .ok_or(Error::InodeOutOfRange {
                ino,
                max: self.sb.inodes_count,
            })?;
        if desc.inode_table == 0 {
            return Err(corrupt(ino, format!("group {group} has no inode table")));
        }
        Ok(desc.inode_table * u64::from(self.sb.block_size)
            + u64::from(within) * u64::from(self.sb.inode_size))
    }

    /// True if inode `ino` lies where the group descriptor says the inode
    /// table was never initialised (INODE_UNINIT group or the
    /// `itable_unused` tail), so its bytes on disk may be stale garbage.
    fn inode_never_initialised(&self, ino: u32) -> bool {
        let index = ino - 1;
        let group = (index / self.sb.inodes_per_group) as usize;
        let within = index % self.sb.inodes_per_group;
        match self.groups.get(group) {
            Some(desc) if desc.trust_uninit(&self.sb) => {
                desc.flags & BG_INODE_UNINIT != 0
                    || within >= self.sb.inodes_per_group.saturating_sub(desc.itable_unused)
            }
            _ => false,
        }
    }

    /// Read and decode inode `ino`, verifying its checksum on metadata_csum
    /// filesystems. Inodes in never-initialised parts of an inode table
    /// (INODE_UNINIT groups, the `itable_unused` tail) read as all zeros,
    /// as the kernel and e2fsprogs treat them.
    pub fn inode(&self, ino: u32) -> Result<Inode, Error> {
        let inode_size = usize::from(self.sb.inode_size);
        if ino != 0 && ino <= self.sb.inodes_count && self.inode_never_initialised(ino) {
            return Inode::parse(&self.sb, ino, vec![0; inode_size]);
        }
        let offset = self.inode_offset(ino)?;
        let raw = self.dev.read_vec(offset, inode_size)?;
        if self.verify && self.sb.has_metadata_csum() {
            inode::verify_checksum(self.csum_seed, ino, &raw)?;
        }
        Inode::parse(&self.sb, ino, raw)
    }

    /// The data map of a regular file, directory, slow symlink or EA inode:
    /// runs in logical order covering `[0, ceil(size / block_size))`, holes
    /// explicit. Blocks mapped past the end of the file are left out.
    /// Inline-data inodes, fast symlinks and device/fifo/socket inodes have
    /// no blocks and give an empty list.
    pub fn data_runs(&self, inode: &Inode) -> Result<Vec<Run>, Error> {
        if inode.has_inline_data() {
            return Ok(Vec::new());
        }
        match inode.file_type() {
            FileType::Regular | FileType::Directory => runs::data_runs(self, inode),
            FileType::Symlink if inline::is_fast_symlink(self, inode) => Ok(Vec::new()),
            FileType::Symlink => runs::data_runs(self, inode),
            _ => Ok(Vec::new()),
        }
    }

    /// Raw read from the device at a byte offset (bounds-checked).
    pub fn read_at(&self, byte_offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.dev.read_at(byte_offset, buf)
    }

    /// Read the first `buf.len()` bytes of `run` (at most `run.len` blocks).
    /// Holes and unwritten runs read as zeros. To read part of a run, pass
    /// a narrowed copy of it.
    pub fn read_file_blocks(&self, inode: &Inode, run: &Run, buf: &mut [u8]) -> Result<(), Error> {
        let bs = u64::from(self.sb.block_size);
        let max = run.len.saturating_mul(bs);
        if buf.len() as u64 > max {
            return Err(Error::BufferSize {
                ino: inode.ino,
                got: buf.len(),
                max,
            });
        }
        match run.kind {
            RunKind::Hole | RunKind::Unwritten => {
                buf.fill(0);
                Ok(())
            }
            RunKind::Data => {
                let blocks = (buf.len() as u64).div_ceil(bs);
                if run
                    .physical
                    .checked_add(blocks)
                    .is_none_or(|e| e > self.sb.blocks_count)
                {
                    return Err(corrupt(
                        inode.ino,
                        format!(
                            "run at block {} of {} blocks is past the end of the filesystem",
                            run.physical, run.len
                        ),
                    ));
                }
                self.dev.read_at(run.physical * bs, buf)
            }
        }
    }

    /// Contents of an inline-data inode (`i_block` plus `system.data`),
    /// `size` bytes long; `None` if the inode does not use inline data.
    pub fn inline_data(&self, inode: &Inode) -> Result<Option<Vec<u8>>, Error> {
        inline::inline_data(self, inode)
    }

    /// Target of a fast, slow or inline symlink.
    pub fn symlink_target(&self, inode: &Inode) -> Result<Vec<u8>, Error> {
        inline::symlink_target(self, inode)
    }

    /// All entries of a directory (linear, htree or inline), "." and ".."
    /// included, in on-disk order. Deleted (inode 0) entries and htree
    /// index blocks are skipped.
    pub fn read_dir(&self, inode: &Inode) -> Result<Vec<DirEntry>, Error> {
        dir::read_dir(self, inode)
    }

    /// Every entry of a directory handed to `visit` in on-disk order, with
    /// only one directory block in memory: for directories too big to hold
    /// as a `Vec` of entries (rdump of a 200 000-entry directory). Checks and
    /// errors are those of [`Filesystem::read_dir`]; on an error, the entries
    /// before it have already been visited.
    pub fn for_each_dir_entry(
        &self,
        inode: &Inode,
        mut visit: impl FnMut(DirEntryRef<'_>),
    ) -> Result<(), Error> {
        dir::for_each_entry(self, inode, &mut visit)
    }

    /// All extended attributes: in-inode first, then the external block;
    /// values kept in EA inodes are read in. The inline-data attribute
    /// `system.data` is included like any other.
    pub fn xattrs(&self, inode: &Inode) -> Result<Vec<Xattr>, Error> {
        xattr::xattrs(self, inode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn filesystem_is_send_and_sync() {
        assert_send_sync::<Filesystem>();
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            Filesystem::from_bytes(vec![0; 100]),
            Err(Error::BadSuperblock(_))
        ));
        assert!(matches!(
            Filesystem::from_bytes(vec![0; 4096]),
            Err(Error::BadSuperblock(_))
        ));
    }
}
