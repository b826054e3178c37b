//! `-r` of an incremental dump: bring a tree rebuilt by earlier `-r` passes
//! (recorded in `restoresymtable`) to the state of the new dump.
//!
//! An incremental dump holds the inodes changed since the dump it builds on
//! and every directory on the way to one; an unchanged directory keeps the
//! entries it had. So the new tree is: for a directory on this dump, its
//! entries on the tape; for any other, its entries in the old table.
//!
//! The target is changed by inode, through a holding directory at its root,
//! so that renames in cycles, names reused by other inodes and directories
//! moved into new ones all work:
//! 1. names that go away or change hands: a changed or deleted inode's name
//!    is removed; an unchanged inode left with none of its old names is
//!    moved into the holding directory;
//! 2. directories that move or go away, deepest first, into the holding
//!    directory (their subtrees travel with them);
//! 3. the new tree top-down: held directories are put in place, new ones
//!    made; unchanged inodes get their new names (from a kept name or the
//!    holding directory);
//! 4. what is left in the holding directory was deleted, and is removed
//!    ([`finish`], after the inodes on the tape are written).
//!
//! The inodes on the tape are then written by the usual `-r` pass over the
//! new tree, which [`prepare`] puts into the catalog. A changed inode's old
//! file is held (as `m<ino>`) rather than removed: if the tape has it as
//! metadata only (dump -m: its data did not change), that pass puts the held
//! file back under its new names with the new attributes; otherwise it
//! removes the held file before writing the new one, so the space is free.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs as rfs;

use crate::catalog::Catalog;
use crate::extract::DirHandles;
use crate::fsops;
use crate::tree::{display_path, DirTree, DirTreeBuilder, ROOT_INO};
use crate::ui::Ui;

/// The holding directory, at the root of the target.
pub const HOLD_DIR: &str = ".rrestore-incremental";

/// Size of restore's `struct entry` on LP64 Linux (see [`crate::symtab`]).
const ENTRY_SIZE: usize = 64;
const HEADER_SIZE: usize = 48;
const NODE: u8 = 2;

/// What an earlier `-r` left in `restoresymtable`.
#[derive(Debug, Default)]
pub struct OldTable {
    /// c_date of the last dump restored (the new dump's c_ddate must match).
    pub dumpdate: i64,
    /// Directory inode -> its entries (inode, name).
    pub dirs: HashMap<u32, Vec<(u32, Vec<u8>)>>,
}

/// Reads a symbol table in the layout [`crate::symtab`] writes (restore
/// 0.4b47's on 64-bit Linux). Every offset and index is checked.
pub fn read_symtab(bytes: &[u8]) -> Result<OldTable, String> {
    let bad = |what: &str| format!("restoresymtable is damaged: {what}");
    if bytes.len() < HEADER_SIZE {
        return Err(bad("shorter than its header"));
    }
    let hdr = &bytes[bytes.len() - HEADER_SIZE..];
    let i32_at = |o: usize| i32::from_le_bytes(hdr[o..o + 4].try_into().expect("4 bytes"));
    let i64_at = |o: usize| i64::from_le_bytes(hdr[o..o + 8].try_into().expect("8 bytes"));
    let size = |v: i32, what: &str| usize::try_from(v).map_err(|_| bad(what));
    let string_size = size(i32_at(4), "string size")?;
    let hash_size = size(i32_at(8), "hash size")?;
    let table_size = size(i32_at(12), "entry table size")?;
    let dumpdate = i64_at(24);
    let body = bytes.len() - HEADER_SIZE;
    let entries_start = string_size
        .checked_add(hash_size)
        .filter(|&s| s <= body)
        .ok_or_else(|| bad("sizes larger than the file"))?;
    let entries_end = table_size
        .checked_mul(8)
        .and_then(|t| body.checked_sub(t))
        .filter(|&e| e >= entries_start)
        .ok_or_else(|| bad("entry table larger than the file"))?;
    if (entries_end - entries_start) % ENTRY_SIZE != 0 {
        return Err(bad("entries are not whole"));
    }
    let names = &bytes[..string_size];
    let raw: Vec<&[u8]> = bytes[entries_start..entries_end]
        .chunks_exact(ENTRY_SIZE)
        .collect();
    let u64_at = |e: &[u8], o: usize| u64::from_le_bytes(e[o..o + 8].try_into().expect("8 bytes"));
    // (name, ino, is_dir, parent index)
    let mut entries = Vec::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let off = usize::try_from(u64_at(e, 0)).map_err(|_| bad("name offset"))?;
        let len = usize::from(e[8]);
        let name = off
            .checked_add(len)
            .and_then(|end| names.get(off..end))
            .ok_or_else(|| bad(&format!("name of entry {}", i + 1)))?;
        let ino = u32::from_le_bytes(e[12..16].try_into().expect("4 bytes"));
        let parent = usize::try_from(u64_at(e, 24)).map_err(|_| bad("parent index"))?;
        if parent == 0 || parent > raw.len() {
            return Err(bad(&format!("parent of entry {}", i + 1)));
        }
        entries.push((name.to_vec(), ino, e[9] == NODE, parent - 1));
    }
    let mut table = OldTable {
        dumpdate,
        dirs: HashMap::new(),
    };
    for (_, ino, is_dir, _) in &entries {
        if *is_dir {
            table.dirs.entry(*ino).or_default();
        }
    }
    for (i, (name, ino, _, parent)) in entries.iter().enumerate() {
        if *parent == i {
            continue; // the root
        }
        let (_, parent_ino, parent_is_dir, _) = &entries[*parent];
        if !parent_is_dir {
            return Err(bad(&format!("entry {} has a file as its parent", i + 1)));
        }
        if let Some(list) = table.dirs.get_mut(parent_ino) {
            list.push((*ino, name.clone()));
        }
    }
    if !table.dirs.contains_key(&ROOT_INO) {
        return Err(bad("no root directory"));
    }
    Ok(table)
}

/// The old tree as a [`DirTree`], to reach its directories.
fn old_tree(old: &OldTable) -> Result<DirTree, String> {
    let mut b = DirTreeBuilder::new();
    for (dir, list) in &old.dirs {
        b.add_directory(*dir, list.iter().map(|(i, n)| (*i, 0, n.as_slice())))
            .map_err(|e| e.to_string())?;
    }
    b.finish().map(|(t, _)| t).map_err(|e| e.to_string())
}

/// The new tree: a directory on the dump has its entries from the tape,
/// any other one its entries from the old table.
fn merged_tree(old: &OldTable, catalog: &Catalog) -> Result<DirTree, String> {
    let on_tape = |d: u32| catalog.dirs.contains_key(&d) && catalog.tree.children(d).is_some();
    let unchanged = |d: u32| old.dirs.contains_key(&d) && !catalog.is_dumped(d);
    let mut b = DirTreeBuilder::new();
    let mut queue = vec![ROOT_INO];
    let mut seen = HashSet::from([ROOT_INO]);
    while let Some(d) = queue.pop() {
        let list: Vec<(u32, u8, Vec<u8>)> = if on_tape(d) {
            catalog
                .tree
                .children(d)
                .into_iter()
                .flatten()
                .map(|e| (e.ino, e.file_type, e.name.to_vec()))
                .collect()
        } else if unchanged(d) {
            old.dirs[&d]
                .iter()
                .map(|(i, n)| (*i, 0, n.clone()))
                .collect()
        } else {
            continue;
        };
        for (ino, _, _) in &list {
            if (on_tape(*ino) || unchanged(*ino)) && seen.insert(*ino) {
                queue.push(*ino);
            }
        }
        b.add_directory(d, list.iter().map(|(i, t, n)| (*i, *t, n.as_slice())))
            .map_err(|e| e.to_string())?;
    }
    b.finish().map(|(t, _)| t).map_err(|e| e.to_string())
}

/// Where a directory sits: its parent and name, `None` for the root or one
/// not reached.
fn position(tree: &DirTree, dir: u32) -> Option<(u32, Vec<u8>)> {
    let path = tree.entries_to_dir(dir)?;
    let e = tree.entry(*path.last()?);
    Some((e.parent, e.name.to_vec()))
}

/// The (parent, name) of every non-directory entry, by inode.
fn leaf_names(tree: &DirTree, dirs: &HashSet<u32>) -> HashMap<u32, Vec<(u32, Vec<u8>)>> {
    let mut out: HashMap<u32, Vec<(u32, Vec<u8>)>> = HashMap::new();
    for dir in tree.reachable_dirs() {
        for e in tree.children(dir).into_iter().flatten() {
            if !dirs.contains(&e.ino) {
                out.entry(e.ino).or_default().push((dir, e.name.to_vec()));
            }
        }
    }
    out
}

/// The name in the holding directory of a changed inode's old file.
pub fn held_data_name(ino: u32) -> Vec<u8> {
    held_name('m', ino)
}

fn held_name(kind: char, ino: u32) -> Vec<u8> {
    format!("{kind}{ino}").into_bytes()
}

/// Checks the table against the dump, brings the target's tree to the new
/// state (see the module documentation) and puts the new tree into
/// `catalog`, for the `-r` pass that writes the inodes on the tape. Returns
/// the holding directory, which that pass takes changed inodes' old files
/// from (see [`held_data_name`]); [`finish`] removes it.
pub fn prepare(catalog: &mut Catalog, root: &Path, ui: &mut Ui) -> Result<OwnedFd, String> {
    let bytes = std::fs::read(root.join("restoresymtable")).map_err(|e| {
        format!(
            "cannot read restoresymtable ({e}): an incremental dump is applied with -r where an earlier -r left it"
        )
    })?;
    let old = read_symtab(&bytes)?;
    let ddate = i64::from(catalog.volume.ddate);
    if old.dumpdate != ddate {
        return Err(if ddate < old.dumpdate {
            "Incremental dump too low".to_string()
        } else {
            "Incremental dump too high".to_string()
        });
    }
    let old_tree = old_tree(&old)?;
    let new_tree = merged_tree(&old, catalog)?;
    let old_dirs: HashSet<u32> = old_tree.reachable_dirs().into_iter().collect();
    let new_dirs: HashSet<u32> = new_tree.reachable_dirs().into_iter().collect();
    let old_leaves = leaf_names(&old_tree, &old_dirs);
    let new_leaves = leaf_names(&new_tree, &new_dirs);
    let changed = |ino: u32| catalog.is_dumped(ino);

    let root_fd = fsops::open_target_root(root).map_err(|e| e.to_string())?;
    match fsops::make_dir_at(root_fd.as_fd(), HOLD_DIR.as_bytes()) {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "{HOLD_DIR} exists: an earlier incremental restore stopped half way; look at it, remove it, and start again from the level 0"
            ))
        }
        Err(e) => return Err(format!("cannot make {HOLD_DIR}: {e}")),
    }
    let hold =
        fsops::open_dir_at(root_fd.as_fd(), HOLD_DIR.as_bytes()).map_err(|e| e.to_string())?;
    let io_err = |what: &str, e: io::Error| format!("{what}: {e}");
    let mut old_handles = DirHandles::new(root_fd.try_clone().map_err(|e| e.to_string())?);

    // 1. Names of non-directories. Decided per inode, carried out directory
    // by directory (so each directory is opened once).
    // (dir, name, ino, held as: 'f' unchanged, 'm' changed, None removed)
    let mut ops: Vec<(u32, Vec<u8>, u32, Option<char>)> = Vec::new();
    let mut held_leaves = HashSet::new();
    for (&ino, names) in &old_leaves {
        let new_names = new_leaves.get(&ino);
        let keeps = |n: &(u32, Vec<u8>)| new_names.is_some_and(|v| v.contains(n));
        let alive_leaf = new_names.is_some() && !new_dirs.contains(&ino);
        let unchanged_alive = !changed(ino) && alive_leaf;
        let any_kept = unchanged_alive && names.iter().any(keeps);
        for (i, n) in names.iter().enumerate() {
            if unchanged_alive && keeps(n) {
                continue;
            }
            let hold_as = if unchanged_alive && !any_kept && i == 0 {
                held_leaves.insert(ino);
                Some('f')
            } else if changed(ino) && alive_leaf && i == 0 {
                Some('m')
            } else {
                None
            };
            ops.push((n.0, n.1.clone(), ino, hold_as));
        }
    }
    ops.sort_unstable();
    for (dir, name, ino, hold_as) in &ops {
        let parent = old_handles
            .get(&old_tree, *dir)
            .map_err(|e| io_err(&format!("directory inode {dir}"), e))?;
        let path = || {
            let mut full = old_tree.path_of_dir(*dir).unwrap_or_default();
            full.push(b'/');
            full.extend_from_slice(name);
            display_path(&full)
        };
        if let Some(kind) = *hold_as {
            rfs::renameat(
                parent.as_fd(),
                name.as_slice(),
                hold.as_fd(),
                held_name(kind, *ino),
            )
            .map_err(|e| io_err(&path(), e.into()))?;
        } else {
            fsops::remove_leaf_at(parent.as_fd(), name).map_err(|e| io_err(&path(), e))?;
        }
    }

    // 2. Directories that move or go away, deepest first.
    let mut moving: Vec<(usize, u32)> = old_dirs
        .iter()
        .filter(|&&d| d != ROOT_INO)
        .filter(|&&d| !new_dirs.contains(&d) || position(&old_tree, d) != position(&new_tree, d))
        .map(|&d| (old_tree.entries_to_dir(d).map_or(0, |p| p.len()), d))
        .collect();
    moving.sort_unstable_by(|a, b| b.cmp(a));
    let mut held_dirs = HashSet::new();
    for &(_, d) in &moving {
        let Some((parent, name)) = position(&old_tree, d) else {
            continue;
        };
        let pfd = old_handles
            .get(&old_tree, parent)
            .map_err(|e| io_err(&format!("directory inode {parent}"), e))?;
        rfs::renameat(
            pfd.as_fd(),
            name.as_slice(),
            hold.as_fd(),
            held_name('d', d),
        )
        .map_err(|e| io_err(&format!("moving directory inode {d} aside"), e.into()))?;
        held_dirs.insert(d);
    }
    drop(old_handles);

    // 3. The new tree, top-down.
    let mut new_handles = DirHandles::new(root_fd.try_clone().map_err(|e| e.to_string())?);
    let mut order: Vec<(usize, u32)> = new_dirs
        .iter()
        .filter(|&&d| d != ROOT_INO)
        .map(|&d| (new_tree.entries_to_dir(d).map_or(0, |p| p.len()), d))
        .collect();
    order.sort_unstable();
    for &(_, d) in &order {
        let Some((parent, name)) = position(&new_tree, d) else {
            continue;
        };
        let in_place = old_dirs.contains(&d) && !held_dirs.contains(&d);
        if in_place {
            continue;
        }
        let pfd = new_handles
            .get(&new_tree, parent)
            .map_err(|e| io_err(&format!("directory inode {parent}"), e))?;
        if held_dirs.contains(&d) {
            rfs::renameat(
                hold.as_fd(),
                held_name('d', d),
                pfd.as_fd(),
                name.as_slice(),
            )
            .map_err(|e| io_err(&format!("placing directory inode {d}"), e.into()))?;
            ui.verbose(&format!(
                "Rename directory inode {d} to {}",
                display_path(&new_tree.path_of_dir(d).unwrap_or_default())
            ));
        } else {
            fsops::make_dir_at(pfd.as_fd(), &name)
                .map_err(|e| io_err(&format!("making directory inode {d}"), e))?;
        }
    }
    // Unchanged non-directories: their new names, directory by directory.
    let mut links: Vec<(u32, Vec<u8>, u32)> = Vec::new(); // (dir, name, ino)
    let mut sources: HashMap<u32, (u32, Vec<u8>)> = HashMap::new();
    for (&ino, names) in &new_leaves {
        if changed(ino) {
            continue;
        }
        let old_names = old_leaves.get(&ino);
        let is_old = |n: &(u32, Vec<u8>)| old_names.is_some_and(|v| v.contains(n));
        if !held_leaves.contains(&ino) {
            match names.iter().find(|n| is_old(n)) {
                Some(n) => {
                    sources.insert(ino, n.clone());
                }
                None => {
                    ui.warn(&format!(
                        "inode {ino} is not on the dump and not in restoresymtable; its names are left out"
                    ));
                    continue;
                }
            }
        }
        for n in names {
            if held_leaves.contains(&ino) || !is_old(n) {
                links.push((n.0, n.1.clone(), ino));
            }
        }
    }
    links.sort_unstable();
    for (dir, name, ino) in &links {
        let pfd = new_handles
            .get(&new_tree, *dir)
            .map_err(|e| io_err(&format!("directory inode {dir}"), e))?;
        let made = match sources.get(ino) {
            Some((sdir, sname)) => {
                let sfd = new_handles
                    .get(&new_tree, *sdir)
                    .map_err(|e| io_err(&format!("directory inode {sdir}"), e))?;
                fsops::hard_link_at(sfd.as_fd(), sname, pfd.as_fd(), name, false)
            }
            None => fsops::hard_link_at(
                hold.as_fd(),
                &held_name('f', *ino),
                pfd.as_fd(),
                name,
                false,
            ),
        };
        made.map_err(|e| io_err(&format!("linking inode {ino}"), e))?;
    }
    drop(new_handles);

    catalog.tree = new_tree;
    Ok(hold)
}

/// Step 4, once the inodes on the tape are written: what is left in the
/// holding directory was deleted (or replaced), and is removed.
pub fn finish(root: &Path) -> Result<(), String> {
    std::fs::remove_dir_all(root.join(HOLD_DIR)).map_err(|e| format!("{HOLD_DIR}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{self, Notes};
    use dump_format::TapeReader;

    struct Quiet;
    impl Notes for Quiet {
        fn warn(&mut self, _: &str) {}
        fn verbose(&mut self, _: &str) {}
    }

    fn fixture_catalog() -> Catalog {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/ext4-4k.dump");
        let input: Box<dyn std::io::Read> = Box::new(std::fs::File::open(path).unwrap());
        let reader = TapeReader::new(input).unwrap();
        catalog::read_catalog(reader, &mut Quiet).unwrap().0
    }

    /// What rrestore -r writes reads back as the tree it was made from.
    #[test]
    fn symbol_table_round_trips() {
        let catalog = fixture_catalog();
        let bytes = crate::symtab::encode(&catalog);
        let table = read_symtab(&bytes).unwrap();
        assert_eq!(table.dumpdate, i64::from(catalog.volume.date));
        let tree = old_tree(&table).unwrap();
        let mut a = catalog.tree.reachable_dirs();
        let mut b = tree.reachable_dirs();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        for d in a {
            let names = |t: &DirTree| {
                let mut v: Vec<(u32, Vec<u8>)> = t
                    .children(d)
                    .into_iter()
                    .flatten()
                    .map(|e| (e.ino, e.name.to_vec()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(names(&catalog.tree), names(&tree), "directory inode {d}");
        }
    }

    /// Damaged tables give errors, never a panic.
    #[test]
    fn damaged_tables_are_errors() {
        let bytes = crate::symtab::encode(&fixture_catalog());
        for cut in [0, 10, 47, 48, bytes.len() / 2, bytes.len() - 1] {
            let _ = read_symtab(&bytes[..cut]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut b = bytes.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x % b.len() as u64) as usize;
                b[at] = (x >> 32) as u8;
            }
            if let Ok(t) = read_symtab(&b) {
                let _ = old_tree(&t);
            }
        }
        assert!(read_symtab(&[0u8; 48]).is_err(), "no root");
    }
}
