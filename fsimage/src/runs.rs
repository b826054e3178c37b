//! File data maps: turn an inode's block map (direct/indirect/double/triple)
//! or extent tree into ordered runs with holes explicit.
//!
//! Both walkers treat the tree as hostile: every block number is checked
//! against the filesystem size, every tree block may be visited only once
//! (which defeats loops and shared subtrees), extent depth is capped and
//! extents must come in increasing logical order. Work and memory are thus
//! bounded by the number of blocks on the device.

use std::collections::HashSet;

use crate::bytes::{le16, le32};
use crate::csum::{ext4_crc32c, inode_seed};
use crate::error::{corrupt, Error};
use crate::inode::Inode;
use crate::Filesystem;

/// What a run of blocks holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// Allocated, initialised data.
    Data,
    /// Not allocated; reads as zeros.
    Hole,
    /// Allocated but uninitialised (unwritten extent); reads as zeros.
    Unwritten,
}

/// A run of consecutive logical blocks of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Run {
    /// First logical block (in filesystem blocks).
    pub logical: u64,
    /// First physical block; 0 for holes.
    pub physical: u64,
    /// Length in blocks.
    pub len: u64,
    /// What the blocks hold.
    pub kind: RunKind,
}

/// Deepest extent tree the kernel builds is 5 levels (ext4 `EXT4_MAX_EXTENT_DEPTH`).
const MAX_EXTENT_DEPTH: u16 = 5;
const EXTENT_MAGIC: u16 = 0xF30A;
/// Extents longer than this are uninitialised; their length is `len - 32768`.
const EXT_INIT_MAX_LEN: u16 = 32768;

/// Collects runs in logical order, merging neighbours and filling holes.
struct RunBuilder {
    runs: Vec<Run>,
    /// First logical block not yet covered.
    next: u64,
    /// Logical blocks the file covers: ceil(size / block size).
    end: u64,
}

impl RunBuilder {
    fn new(end: u64) -> RunBuilder {
        RunBuilder {
            runs: Vec::new(),
            next: 0,
            end,
        }
    }

    /// Add a mapped stretch; the part past the end of the file is dropped.
    fn push(&mut self, logical: u64, physical: u64, len: u64, kind: RunKind) {
        if logical >= self.end || len == 0 {
            return;
        }
        let len = len.min(self.end - logical);
        if logical > self.next {
            self.append(Run {
                logical: self.next,
                physical: 0,
                len: logical - self.next,
                kind: RunKind::Hole,
            });
        }
        self.append(Run {
            logical,
            physical,
            len,
            kind,
        });
        self.next = logical + len;
    }

    fn append(&mut self, run: Run) {
        if let Some(last) = self.runs.last_mut() {
            let contiguous_phys = match run.kind {
                RunKind::Hole => true,
                _ => last.physical + last.len == run.physical,
            };
            if last.kind == run.kind && last.logical + last.len == run.logical && contiguous_phys {
                last.len += run.len;
                return;
            }
        }
        self.runs.push(run);
    }

    fn finish(mut self) -> Vec<Run> {
        if self.next < self.end {
            let next = self.next;
            self.append(Run {
                logical: next,
                physical: 0,
                len: self.end - next,
                kind: RunKind::Hole,
            });
        }
        self.runs
    }
}

/// Compute the data runs of `inode`; see [`Filesystem::data_runs`].
pub(crate) fn data_runs(fs: &Filesystem, inode: &Inode) -> Result<Vec<Run>, Error> {
    let bs = u64::from(fs.block_size());
    let end = inode.size.div_ceil(bs);
    let max_blocks = if inode.uses_extents() {
        1u64 << 32
    } else {
        let n = bs / 4;
        12 + n + n * n + n * n * n
    };
    if end > max_blocks {
        return Err(corrupt(
            inode.ino,
            format!(
                "size {} exceeds the largest file this block map can describe",
                inode.size
            ),
        ));
    }
    let mut builder = RunBuilder::new(end);
    if end > 0 {
        if inode.uses_extents() {
            ExtentWalker::new(fs, inode).walk_root(&mut builder)?;
        } else {
            BlockMapWalker::new(fs, inode).walk(&mut builder)?;
        }
    }
    Ok(builder.finish())
}

struct ExtentWalker<'a> {
    fs: &'a Filesystem,
    inode: &'a Inode,
    visited: HashSet<u64>,
    csum_seed: Option<u32>,
}

impl<'a> ExtentWalker<'a> {
    fn new(fs: &'a Filesystem, inode: &'a Inode) -> Self {
        let csum_seed = (fs.verify_checksums() && fs.superblock().has_metadata_csum())
            .then(|| inode_seed(fs.csum_seed(), inode.ino, inode.generation));
        ExtentWalker {
            fs,
            inode,
            visited: HashSet::new(),
            csum_seed,
        }
    }

    fn err(&self, reason: String) -> Error {
        corrupt(self.inode.ino, reason)
    }

    fn walk_root(&mut self, out: &mut RunBuilder) -> Result<(), Error> {
        let root = self.inode.block_bytes().to_vec();
        self.walk_node(&root, None, "the inode", out)
    }

    /// Walk one node; `expect_depth` is the depth the parent implies.
    fn walk_node(
        &mut self,
        node: &[u8],
        expect_depth: Option<u16>,
        place: &str,
        out: &mut RunBuilder,
    ) -> Result<(), Error> {
        let magic = le16(node, 0);
        let entries = le16(node, 2);
        let max = le16(node, 4);
        let depth = le16(node, 6);
        if magic != EXTENT_MAGIC {
            return Err(self.err(format!("extent header in {place} has magic {magic:#06x}")));
        }
        if 12 + usize::from(max) * 12 > node.len() || entries > max {
            return Err(self.err(format!(
                "extent header in {place} claims {entries} of {max} entries, more than fit"
            )));
        }
        if depth > MAX_EXTENT_DEPTH || expect_depth.is_some_and(|d| d != depth) {
            return Err(self.err(format!("extent node in {place} has bad depth {depth}")));
        }
        for i in 0..usize::from(entries) {
            let e = &node[12 + i * 12..24 + i * 12];
            let first = u64::from(le32(e, 0));
            if first >= out.end {
                // Sorted entries: nothing further can be inside the file.
                break;
            }
            if depth == 0 {
                let raw_len = le16(e, 4);
                let (len, kind) = if raw_len > EXT_INIT_MAX_LEN {
                    (raw_len - EXT_INIT_MAX_LEN, RunKind::Unwritten)
                } else {
                    (raw_len, RunKind::Data)
                };
                let phys = (u64::from(le16(e, 6)) << 32) | u64::from(le32(e, 8));
                let len = u64::from(len);
                if len == 0 {
                    continue;
                }
                if first < out.next {
                    return Err(self.err(format!(
                        "extent at logical block {first} in {place} overlaps or is out of order"
                    )));
                }
                self.check_range(phys, len, place)?;
                out.push(first, phys, len, kind);
            } else {
                if i > 0 && first < out.next {
                    return Err(self.err(format!(
                        "extent index at logical block {first} in {place} is out of order"
                    )));
                }
                let child = u64::from(le32(e, 4)) | (u64::from(le16(e, 8)) << 32);
                self.check_range(child, 1, place)?;
                if !self.visited.insert(child) {
                    return Err(self.err(format!(
                        "extent tree block {child} is referenced twice (loop)"
                    )));
                }
                let bs = u64::from(self.fs.block_size());
                let buf = self.fs.device().read_vec(child * bs, bs as usize)?;
                let place = format!("extent block {child}");
                self.verify_block(&buf, &place)?;
                self.walk_node(&buf, Some(depth - 1), &place, out)?;
            }
        }
        Ok(())
    }

    fn check_range(&self, phys: u64, len: u64, place: &str) -> Result<(), Error> {
        let total = self.fs.superblock().blocks_count;
        if phys == 0 || phys.checked_add(len).is_none_or(|e| e > total) {
            return Err(self.err(format!(
                "{place} points to blocks {phys}..+{len}, outside the filesystem ({total} blocks)"
            )));
        }
        Ok(())
    }

    /// Extent blocks end in a 4-byte crc32c tail right after `eh_max` entries.
    fn verify_block(&self, buf: &[u8], place: &str) -> Result<(), Error> {
        let Some(seed) = self.csum_seed else {
            return Ok(());
        };
        let max = usize::from(le16(buf, 4));
        let tail = 12 + max * 12;
        if tail + 4 > buf.len() {
            return Err(self.err(format!("{place} has no room for its checksum")));
        }
        let computed = ext4_crc32c(seed, &buf[..tail]);
        let stored = le32(buf, tail);
        if computed != stored {
            return Err(Error::Checksum {
                what: format!("{place} of inode {}", self.inode.ino),
                ino: Some(self.inode.ino),
                stored,
                computed,
            });
        }
        Ok(())
    }
}

struct BlockMapWalker<'a> {
    fs: &'a Filesystem,
    inode: &'a Inode,
    visited: HashSet<u64>,
    per_block: u64,
}

impl<'a> BlockMapWalker<'a> {
    fn new(fs: &'a Filesystem, inode: &'a Inode) -> Self {
        BlockMapWalker {
            fs,
            inode,
            visited: HashSet::new(),
            per_block: u64::from(fs.block_size() / 4),
        }
    }

    fn walk(&mut self, out: &mut RunBuilder) -> Result<(), Error> {
        let n = self.per_block;
        for (i, &b) in self.inode.block[..12].iter().enumerate() {
            self.data_block(i as u64, u64::from(b), out)?;
        }
        let mut base = 12u64;
        for (level, span) in [(1u32, n), (2, n * n), (3, n * n * n)] {
            let ptr = u64::from(self.inode.block[11 + level as usize]);
            if base >= out.end {
                break;
            }
            if ptr != 0 {
                self.indirect(ptr, level, base, out)?;
            }
            base += span;
        }
        Ok(())
    }

    fn data_block(&self, logical: u64, phys: u64, out: &mut RunBuilder) -> Result<(), Error> {
        if phys == 0 || logical >= out.end {
            return Ok(());
        }
        if phys >= self.fs.superblock().blocks_count {
            return Err(corrupt(
                self.inode.ino,
                format!(
                    "logical block {logical} maps to block {phys}, past the end of the filesystem"
                ),
            ));
        }
        out.push(logical, phys, 1, RunKind::Data);
        Ok(())
    }

    /// Walk an indirect block of the given level (1 = single indirect)
    /// whose first entry maps logical block `base`.
    fn indirect(
        &mut self,
        ptr: u64,
        level: u32,
        base: u64,
        out: &mut RunBuilder,
    ) -> Result<(), Error> {
        let ino = self.inode.ino;
        if ptr >= self.fs.superblock().blocks_count {
            return Err(corrupt(
                ino,
                format!("indirect block {ptr} is past the end of the filesystem"),
            ));
        }
        if !self.visited.insert(ptr) {
            return Err(corrupt(
                ino,
                format!("indirect block {ptr} is referenced twice (loop)"),
            ));
        }
        let bs = u64::from(self.fs.block_size());
        let buf = self.fs.device().read_vec(ptr * bs, bs as usize)?;
        let span = self.per_block.pow(level - 1);
        for i in 0..self.per_block {
            let logical = base + i * span;
            if logical >= out.end {
                break;
            }
            let entry = u64::from(le32(&buf, (i * 4) as usize));
            if level == 1 {
                self.data_block(logical, entry, out)?;
            } else if entry != 0 {
                self.indirect(entry, level - 1, logical, out)?;
            }
        }
        Ok(())
    }
}
