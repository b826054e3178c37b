//! Passes I and II of dump: decide which inodes go on tape and estimate the
//! size of the dump.
//!
//! Every live inode is "used" (the TS_CLRI map), and every used inode except
//! the journal, the resize inode and other reserved metadata inodes is dumped
//! (the TS_BITS map) if it changed since the previous dump (always, at level
//! 0; see [`plan`] for the directories an incremental dump adds), unless the
//! user excluded it: dump's `-e`/`-E` inode
//! numbers, or the nodump flag when `-h 0` makes a level 0 dump honour it.
//! An excluded directory takes its whole subtree with it, as in dump's
//! mapdirs(). The estimate follows dump's blockest() so that the
//! "estimated N blocks" line matches dump's.

use std::collections::{BTreeSet, HashMap};

use dump_format::bitmap::InodeMap;
use fsimage::{compat, FileType, Filesystem, Inode};

use crate::error::DumpError;
use crate::report::Reporter;

/// The root directory's inode number.
pub const ROOT_INO: u32 = 2;
/// ext2's resize inode, never dumped (dump excludes it too).
pub const RESIZE_INO: u32 = 7;
/// Direct block pointers in an ext2 inode (dump's NDADDR).
const NDADDR: u64 = 12;
/// Most blocks an ext2/3/4 file can have (32-bit logical block numbers).
pub const MAX_FILE_BLOCKS: u64 = 1 << 32;
/// c_addr entries per header (TP_NINDIR).
const TP_NINDIR: i64 = 512;

/// Inodes the user asked to leave out.
#[derive(Debug, Default, Clone)]
pub struct Exclusions {
    /// `-e`/`-E`: inode numbers (3 and up).
    pub inodes: BTreeSet<u32>,
    /// The dump level is at or above `-h`: inodes flagged nodump stay out.
    pub honor_nodump: bool,
    /// A subtree dump: only these inodes are used and dumped (the paths
    /// given, everything under them and the directories above them).
    pub only: Option<BTreeSet<u32>>,
}

/// What passes I and II decided.
pub struct Plan {
    /// s_inodes_count.
    pub inodes_count: u32,
    /// Live inodes (TS_CLRI map).
    pub used: InodeMap,
    /// Inodes on tape (TS_BITS map).
    pub dumped: InodeMap,
    /// Directories among `dumped` (dumped in pass III, before the rest).
    pub dirs: InodeMap,
    /// Inodes among `dumped` written as metadata only (`-m`): not
    /// directories, data unchanged since the base dump (mtime before it).
    pub meta_only: InodeMap,
    /// Live inodes left out because they are metadata or cannot be dumped
    /// (damaged); directory entries naming them are dropped. Inodes the user
    /// leaves out (`-e`, `-E`, nodump) keep their names, as with dump.
    pub excluded: Vec<u32>,
    /// dump's tapesize before the final trailer blocks are added.
    pub estimate: u64,
}

impl Plan {
    /// The estimate as dump prints it ("estimated N blocks"): one more
    /// header and a record's worth of trailer blocks.
    pub fn estimated_blocks(&self, ntrec: usize) -> u64 {
        self.estimate + 1 + ntrec as u64
    }
}

/// Size in bytes of an inode map as dump writes it: one bit per inode
/// number up to s_inodes_count + 1, rounded up to whole tape blocks.
pub fn map_bytes(inodes_count: u32) -> u64 {
    (u64::from(inodes_count) + 1).div_ceil(8).div_ceil(1024) * 1024
}

/// Walks the allocated inodes and builds the maps.
///
/// `since` is dump's c_ddate: 0 for a level 0 dump, else the date of the
/// dump this incremental one builds on. Then only inodes changed since
/// (ctime at or after it, as dump compares) are dumped, plus every directory
/// on the way to one of them (dump's pass II), so that restore can place it.
/// With `metadata_only` (`-m`), a changed inode other than a directory whose
/// mtime is before `since` goes into [`Plan::meta_only`] (dump's rule: its
/// data is taken to be unchanged; the estimate still counts it whole, as
/// dump's does).
pub fn plan(
    fs: &Filesystem,
    reporter: &Reporter,
    exclusions: &Exclusions,
    since: i64,
    metadata_only: bool,
) -> Result<Plan, DumpError> {
    let sb = fs.superblock();
    let inodes_count = fs.inode_count();
    let bs = u64::from(fs.block_size());
    // dump sizes its maps for inode numbers 1..=s_inodes_count+1.
    let mut used = InodeMap::new(inodes_count.saturating_add(1));
    let mut dumped = InodeMap::new(inodes_count.saturating_add(1));
    let mut dirs = InodeMap::new(inodes_count.saturating_add(1));
    let mut meta_only = InodeMap::new(inodes_count.saturating_add(1));
    let mut excluded = Vec::new();
    let journal = (sb.feature_compat & compat::HAS_JOURNAL != 0 && sb.journal_inum != 0)
        .then_some(sb.journal_inum);
    let first_ino = sb.first_ino.max(11);
    let mut estimate = 2 * (map_bytes(inodes_count) / 1024 + 1);
    // Directories left out by the user, whose subtrees follow them.
    let mut pruned_dirs = Vec::new();
    // Directories unchanged since the previous dump (incremental dumps).
    let mut unchanged_dirs = Vec::new();

    let scan = fs.inode_scan().map_err(DumpError::Scan)?;
    for damaged in &scan.damaged {
        reporter.warning(format_args!(
            "{damaged}; every inode of that group is examined instead"
        ));
    }
    for ino in scan.inodes {
        let inode = match fs.inode(ino) {
            Ok(i) => i,
            Err(e) => {
                reporter.warning(format_args!("inode {ino} cannot be read, not dumped: {e}"));
                excluded.push(ino);
                continue;
            }
        };
        if inode.mode & 0o170000 == 0 || inode.links == 0 || inode.dtime != 0 {
            continue;
        }
        if exclusions
            .only
            .as_ref()
            .is_some_and(|only| !only.contains(&ino))
        {
            // Outside a subtree dump: neither used nor dumped (dump's maps
            // are then the same), but its names stay in the directories.
            continue;
        }
        used.set(ino);
        if inode.size.div_ceil(bs) > MAX_FILE_BLOCKS {
            // No ext2/3/4 file has more than 2^32 blocks: a damaged inode,
            // which would otherwise mean billions of tape headers.
            reporter.warning(format_args!(
                "inode {ino}: impossible size {} bytes, not dumped",
                inode.size
            ));
            excluded.push(ino);
            continue;
        }
        if let FileType::Unknown(kind) = inode.file_type() {
            reporter.warning(format_args!(
                "inode {ino}: undefined file type 0{kind:o}, not dumped"
            ));
            excluded.push(ino);
            continue;
        }
        let metadata_inode = Some(ino) == journal
            || ino == RESIZE_INO
            || (ino < first_ino && ino != ROOT_INO)
            || inode.is_ea_inode();
        if metadata_inode {
            excluded.push(ino);
            continue;
        }
        if (exclusions.honor_nodump && inode.is_nodump()) || exclusions.inodes.contains(&ino) {
            // Not dumped, but not in `excluded`: as in dump, the directories
            // keep their names (restore -r of an incremental dump then keeps
            // the file from the earlier dump instead of deleting it).
            if inode.file_type() == FileType::Directory {
                // dump takes excluded directories out of the used map too.
                used.clear(ino);
                pruned_dirs.push(ino);
            }
            continue;
        }
        if since != 0 && inode.ctime.sec < since {
            if inode.file_type() == FileType::Directory {
                unchanged_dirs.push(ino);
            }
            continue;
        }
        dumped.set(ino);
        if metadata_only
            && since != 0
            && inode.mtime.sec < since
            && inode.file_type() != FileType::Directory
        {
            meta_only.set(ino);
        }
        match inode.file_type() {
            FileType::Directory => {
                dirs.set(ino);
                estimate += blockest(&inode, bs);
            }
            FileType::Regular | FileType::Symlink => estimate += blockest(&inode, bs),
            _ => estimate += 1,
        }
    }
    estimate = estimate.saturating_sub(prune_subtrees(
        fs,
        reporter,
        pruned_dirs,
        &mut used,
        &mut dumped,
        &mut dirs,
    ));
    estimate += add_parent_dirs(fs, reporter, &unchanged_dirs, &mut dumped, &mut dirs);
    if !dumped.contains(ROOT_INO) {
        // dump always dumps the root; restore cannot work without it.
        let root = fs.inode(ROOT_INO).map_err(DumpError::Scan)?;
        if root.file_type() != FileType::Directory {
            return Err(DumpError::RootNotDirectory { mode: root.mode });
        }
        used.set(ROOT_INO);
        dumped.set(ROOT_INO);
        dirs.set(ROOT_INO);
        estimate += blockest(&root, bs);
    }
    excluded.sort_unstable();
    excluded.dedup();
    Ok(Plan {
        inodes_count,
        used,
        dumped,
        dirs,
        meta_only,
        excluded,
        estimate,
    })
}

/// A subtree dump's inodes: each path's inode, every directory above it
/// up to the root, and everything below it. `paths` are relative to the
/// filesystem's root; `Err` names the first path that cannot be found.
pub fn subtree_inodes(
    fs: &Filesystem,
    reporter: &Reporter,
    paths: &[String],
) -> Result<BTreeSet<u32>, usize> {
    let mut set = BTreeSet::from([ROOT_INO]);
    let mut pending = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let mut ino = ROOT_INO;
        for name in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            ino = lookup(fs, ino, name.as_bytes()).ok_or(n)?;
            set.insert(ino);
        }
        pending.push(ino);
    }
    // Everything below the paths; `set` also keeps a directory linked twice
    // (a damaged filesystem) from being walked again.
    let mut walked = BTreeSet::new();
    while let Some(dir) = pending.pop() {
        if !walked.insert(dir)
            || !fs
                .inode(dir)
                .is_ok_and(|i| i.file_type() == FileType::Directory)
        {
            continue;
        }
        let Some(children) = children_of(fs, reporter, dir, "so what is under it is not dumped")
        else {
            continue;
        };
        for child in children {
            set.insert(child);
            pending.push(child);
        }
    }
    Ok(set)
}

/// The inode `name` names in directory `dir`.
fn lookup(fs: &Filesystem, dir: u32, name: &[u8]) -> Option<u32> {
    let inode = fs.inode(dir).ok()?;
    if inode.file_type() != FileType::Directory {
        return None;
    }
    fs.read_dir(&inode)
        .ok()?
        .into_iter()
        .find(|e| e.name == name && e.ino != 0)
        .map(|e| e.ino)
}

/// dump's pass II for incremental dumps: an unchanged directory is dumped
/// all the same when something in it is, and so on up to the root, so that
/// restore can place every inode on the tape. Each unchanged directory is
/// read once. Returns the estimate of the directories added.
fn add_parent_dirs(
    fs: &Filesystem,
    reporter: &Reporter,
    unchanged: &[u32],
    dumped: &mut InodeMap,
    dirs: &mut InodeMap,
) -> u64 {
    let bs = u64::from(fs.block_size());
    let candidates: BTreeSet<u32> = unchanged.iter().copied().collect();
    // For each unchanged directory, the unchanged directories holding it.
    let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut needed = Vec::new();
    for &dir in unchanged {
        let Some(children) = children_of(
            fs,
            reporter,
            dir,
            "so changes under it may not be reachable on this dump",
        ) else {
            continue;
        };
        let mut holds_dumped = false;
        for child in children {
            holds_dumped |= dumped.contains(child);
            if candidates.contains(&child) {
                parents.entry(child).or_default().push(dir);
            }
        }
        if holds_dumped {
            needed.push(dir);
        }
    }
    let mut added = 0;
    while let Some(dir) = needed.pop() {
        if dumped.contains(dir) {
            continue;
        }
        dumped.set(dir);
        dirs.set(dir);
        if let Ok(i) = fs.inode(dir) {
            added += blockest(&i, bs);
        }
        needed.extend(parents.get(&dir).into_iter().flatten().copied());
    }
    added
}

/// The inode numbers a directory's entries name, "." and ".." aside; `None`
/// (with a warning ending in `consequence`) if it cannot be read.
fn children_of(
    fs: &Filesystem,
    reporter: &Reporter,
    dir: u32,
    consequence: &str,
) -> Option<Vec<u32>> {
    match fs.inode(dir).and_then(|d| fs.read_dir(&d)) {
        Ok(entries) => Some(
            entries
                .into_iter()
                .filter(|e| e.name != b"." && e.name != b".." && e.ino != 0)
                .map(|e| e.ino)
                .collect(),
        ),
        Err(e) => {
            reporter.warning(format_args!(
                "directory inode {dir} cannot be read, {consequence}: {e}"
            ));
            None
        }
    }
}

/// Leaves out everything below the directories in `pruned`, as dump's
/// mapdirs() does with a directory that is excluded or flagged nodump: its
/// entries leave the dump, its subdirectories inherit the exclusion (and
/// leave the used map). Returns the estimate of what was taken out.
fn prune_subtrees(
    fs: &Filesystem,
    reporter: &Reporter,
    mut pruned: Vec<u32>,
    used: &mut InodeMap,
    dumped: &mut InodeMap,
    dirs: &mut InodeMap,
) -> u64 {
    let bs = u64::from(fs.block_size());
    let mut seen: BTreeSet<u32> = pruned.iter().copied().collect();
    let mut removed = 0;
    while let Some(dir) = pruned.pop() {
        let Some(children) =
            children_of(fs, reporter, dir, "so what is under it cannot be excluded")
        else {
            continue;
        };
        for child in children {
            let is_dir = dirs.contains(child)
                || fs
                    .inode(child)
                    .is_ok_and(|i| i.file_type() == FileType::Directory);
            if dumped.contains(child) {
                dumped.clear(child);
                dirs.clear(child);
                if let Ok(i) = fs.inode(child) {
                    removed += blockest(&i, bs);
                }
            }
            if is_dir && seen.insert(child) {
                used.clear(child);
                pruned.push(child);
            }
        }
    }
    removed
}

/// dump's blockest(): the tape blocks an inode will take, header included.
/// Directories count half their disk space (their entries shrink when
/// converted); indirect tape headers are counted for big files.
pub fn blockest(inode: &Inode, block_size: u64) -> u64 {
    let tb_per_fsb = (block_size / 1024) as i64;
    let bs = block_size as i64;
    let disk_bytes = inode.blocks_512.saturating_mul(512);
    let mut blkest = (disk_bytes.div_ceil(block_size) as i64).saturating_mul(tb_per_fsb);
    let mut sizeest = (inode.size.div_ceil(block_size) as i64).saturating_mul(tb_per_fsb);
    if blkest > sizeest {
        blkest = sizeest;
    }
    if inode.file_type() == FileType::Directory {
        blkest /= 2;
        sizeest /= 2;
    }
    if inode.size > block_size * NDADDR {
        // C's howmany() on a signed long: truncating division.
        let rest = sizeest - NDADDR as i64 * bs / 1024;
        blkest += (rest + TP_NINDIR - 1) / TP_NINDIR;
    }
    (blkest + 1).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_size_matches_dump() {
        assert_eq!(map_bytes(2048), 1024);
        // 8192 inodes: dump's map covers 8193 bits, so two tape blocks.
        assert_eq!(map_bytes(8192), 2048);
        assert_eq!(map_bytes(8191), 1024);
    }
}
