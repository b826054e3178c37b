//! The symbol table: the dumped directory tree, built from the directory
//! records (which come first on the tape) before any file data is read.
//!
//! This module knows nothing about tapes or the filesystem; it is shared by
//! `-t`, `-x`, `-r`, `-C` and the interactive shell (`-i`). It offers:
//! - building: [`DirTreeBuilder`] takes each directory's entries, rejects
//!   unsafe names, and [`DirTreeBuilder::finish`] links directories into a
//!   spanning tree from the root, so that loops and directories named twice
//!   in a hostile dump are reported and never walked twice;
//! - lookup by path ([`DirTree::lookup`]), children listing
//!   ([`DirTree::children`]), names back from inodes ([`DirTree::path_of_dir`],
//!   [`DirTree::path_of_entry`]);
//! - walking a subtree in tape order ([`DirTree::walk`]), with restore's
//!   `./a/b` path spelling;
//! - [`Selection`]: the set of inodes to extract with every name each one
//!   must get, so extraction can be done in one pass over the file records.
//!
//! Memory: names live in one byte arena and entries are 16 bytes each, so
//! the table costs about (16 + name length) bytes per directory entry.

use std::collections::{HashMap, HashSet};

use thiserror::Error;

/// The inode number of the root directory of an ext2/3/4 filesystem.
pub const ROOT_INO: u32 = 2;

/// Index of one directory entry in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(u32);

#[derive(Debug, Clone, Copy)]
struct RawEntry {
    ino: u32,
    parent: u32,
    name_off: u32,
    name_len: u16,
    file_type: u8,
}

/// One directory entry, borrowed from the table.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub id: EntryId,
    /// The inode the entry names.
    pub ino: u32,
    /// The directory holding the entry.
    pub parent: u32,
    pub name: &'a [u8],
    /// `DT_*` type from the directory record (0 when unknown).
    pub file_type: u8,
}

/// Something wrong in the directory records; the tree is still usable,
/// without the offending entry (or without descending into it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeWarning {
    #[error("directory inode {dir}: entry {name:?} (inode {ino}) rejected: {reason}")]
    BadName {
        dir: u32,
        ino: u32,
        name: String,
        reason: &'static str,
    },
    #[error("directory inode {dir}: duplicate entry {name:?} (inode {ino}) ignored")]
    DuplicateName { dir: u32, ino: u32, name: String },
    #[error("directory inode {ino} appears twice on the dump; the second copy is ignored")]
    DuplicateDirectory { ino: u32 },
    #[error("{path}: directory inode {ino} is already reachable as {first}; not descending (directory loop or hard-linked directory)")]
    DirectoryLoop {
        path: String,
        ino: u32,
        first: String,
    },
}

/// Fatal problems building or using the table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeError {
    #[error("Root directory is not on tape")]
    NoRoot,
    #[error("directory table too large: more than 4 GiB of names or entries")]
    TooLarge,
}

/// Why a path could not be found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LookupError {
    #[error("{0} is not on the tape")]
    NotFound(String),
}

/// Spells a path the way restore prints it (bytes are shown as they are).
pub fn display_path(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Why a directory-entry name cannot be used as a file name, if it cannot.
/// (`.` and `..` in their first two slots are dropped before this check.)
pub fn name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty name")
    } else if name == b"." || name == b".." {
        Some("'.' or '..' outside its slot")
    } else if name.contains(&b'/') {
        Some("name contains '/'")
    } else if name.contains(&0) {
        Some("name contains NUL")
    } else {
        None
    }
}

/// Canonicalises a user-supplied name the way restore's `canon()` does:
/// always `./`-relative, no repeated or trailing `/`, `.` and `..`
/// components removed lexically (`..` never climbs above `.`).
pub fn canon(raw: &[u8]) -> Vec<u8> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let mut path = b".".to_vec();
    for c in out {
        path.push(b'/');
        path.extend_from_slice(c);
    }
    path
}

/// Accumulates directory records and produces a [`DirTree`].
#[derive(Debug, Default)]
pub struct DirTreeBuilder {
    tree: DirTree,
    warnings: Vec<TreeWarning>,
}

impl DirTreeBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds directory `dir` with its entries in on-tape order. `.` in the
    /// first slot and `..` in the first two are dropped; other unusable
    /// names and repeated names are rejected with a warning.
    pub fn add_directory<'n, I>(&mut self, dir: u32, entries: I) -> Result<(), TreeError>
    where
        I: IntoIterator<Item = (u32, u8, &'n [u8])>,
    {
        if self.tree.dirs.contains_key(&dir) {
            self.warnings
                .push(TreeWarning::DuplicateDirectory { ino: dir });
            return Ok(());
        }
        let start = self.tree.entries.len();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for (slot, (ino, file_type, name)) in entries.into_iter().enumerate() {
            if ino == 0 {
                continue;
            }
            if (slot == 0 && name == b".") || (slot <= 1 && name == b"..") {
                continue;
            }
            if let Some(reason) = name_problem(name) {
                self.warnings.push(TreeWarning::BadName {
                    dir,
                    ino,
                    name: display_path(name),
                    reason,
                });
                continue;
            }
            if !seen.insert(name) {
                self.warnings.push(TreeWarning::DuplicateName {
                    dir,
                    ino,
                    name: display_path(name),
                });
                continue;
            }
            let name_off = u32::try_from(self.tree.names.len()).map_err(|_| TreeError::TooLarge)?;
            if self.tree.names.len() + name.len() > u32::MAX as usize
                || self.tree.entries.len() >= u32::MAX as usize
            {
                return Err(TreeError::TooLarge);
            }
            self.tree.names.extend_from_slice(name);
            self.tree.entries.push(RawEntry {
                ino,
                parent: dir,
                name_off,
                // name_problem + dirent decoding bound names to 255 bytes;
                // saturate rather than trust that here.
                name_len: u16::try_from(name.len()).unwrap_or(u16::MAX),
                file_type,
            });
        }
        self.tree
            .dirs
            .insert(dir, (start as u32, self.tree.entries.len() as u32));
        Ok(())
    }

    /// True once directory `ino` has been added.
    pub fn has_directory(&self, ino: u32) -> bool {
        self.tree.dirs.contains_key(&ino)
    }

    /// Links directories into a spanning tree from the root. Returns the
    /// tree and every warning (including loops found now).
    pub fn finish(mut self) -> Result<(DirTree, Vec<TreeWarning>), TreeError> {
        if !self.tree.dirs.contains_key(&ROOT_INO) {
            return Err(TreeError::NoRoot);
        }
        // Breadth-first from the root: the first entry reaching a directory
        // becomes its name; any later one is a loop or a second name.
        let mut queue = std::collections::VecDeque::from([ROOT_INO]);
        let mut reached: HashSet<u32> = HashSet::from([ROOT_INO]);
        let mut loops = Vec::new();
        while let Some(dir) = queue.pop_front() {
            let (start, end) = self.tree.dirs[&dir];
            for idx in start..end {
                let child = self.tree.entries[idx as usize].ino;
                if !self.tree.dirs.contains_key(&child) {
                    continue;
                }
                if reached.insert(child) {
                    self.tree.parent.insert(child, EntryId(idx));
                    queue.push_back(child);
                } else {
                    loops.push((EntryId(idx), child));
                }
            }
        }
        for (id, ino) in loops {
            let path = self.tree.path_of_entry(id);
            let first = self.tree.path_of_dir(ino).unwrap_or_else(|| b"?".to_vec());
            self.warnings.push(TreeWarning::DirectoryLoop {
                path: display_path(&path),
                ino,
                first: display_path(&first),
            });
        }
        // The vectors grew by doubling; what they hold now stays for the
        // whole restore, beside the selection and the symbol table.
        self.tree.entries.shrink_to_fit();
        self.tree.names.shrink_to_fit();
        self.tree.dirs.shrink_to_fit();
        self.tree.parent.shrink_to_fit();
        Ok((self.tree, self.warnings))
    }
}

/// The dumped directory tree.
#[derive(Debug, Default)]
pub struct DirTree {
    /// Directory inode -> range of its entries in `entries`.
    dirs: HashMap<u32, (u32, u32)>,
    entries: Vec<RawEntry>,
    names: Vec<u8>,
    /// Directory inode -> the entry that names it in the spanning tree
    /// (every reachable directory except the root).
    parent: HashMap<u32, EntryId>,
}

/// What a [`DirTree::walk`] visitor is shown.
#[derive(Debug, Clone, Copy)]
pub struct WalkItem<'a> {
    /// `./a/b` spelling, as restore prints it.
    pub path: &'a [u8],
    pub ino: u32,
    /// The entry naming it (`None` for the starting point).
    pub entry: Option<EntryId>,
    /// A directory on the dump (restore's NODE); false for leaves.
    pub is_dir: bool,
}

impl DirTree {
    fn entry_at(&self, idx: u32) -> Entry<'_> {
        let raw = &self.entries[idx as usize];
        let off = raw.name_off as usize;
        Entry {
            id: EntryId(idx),
            ino: raw.ino,
            parent: raw.parent,
            name: &self.names[off..off + raw.name_len as usize],
            file_type: raw.file_type,
        }
    }

    /// The entry with this id.
    pub fn entry(&self, id: EntryId) -> Entry<'_> {
        self.entry_at(id.0)
    }

    /// True when `ino` is a directory on the dump.
    /// The number of directory entries held (every name of every directory).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    pub fn is_dir(&self, ino: u32) -> bool {
        self.dirs.contains_key(&ino)
    }

    /// Directory inodes reachable from the root, parents before children.
    pub fn reachable_dirs(&self) -> Vec<u32> {
        let mut out = vec![ROOT_INO];
        let mut i = 0;
        while i < out.len() {
            let dir = out[i];
            i += 1;
            if let Some(children) = self.children(dir) {
                for e in children {
                    if self.parent.get(&e.ino) == Some(&e.id) {
                        out.push(e.ino);
                    }
                }
            }
        }
        out
    }

    /// The entries of directory `dir` in tape order (without `.`/`..`),
    /// or `None` when `dir` is not a directory on the dump.
    pub fn children(&self, dir: u32) -> Option<impl Iterator<Item = Entry<'_>> + '_> {
        let &(start, end) = self.dirs.get(&dir)?;
        Some((start..end).map(move |i| self.entry_at(i)))
    }

    /// Looks `name` up in directory `dir`.
    pub fn child(&self, dir: u32, name: &[u8]) -> Option<Entry<'_>> {
        self.children(dir)?.find(|e| e.name == name)
    }

    /// True when entry `id` is the name through which its directory is
    /// walked (false for a second name of a directory: a loop).
    pub fn is_tree_edge(&self, id: EntryId) -> bool {
        let e = self.entry(id);
        self.parent.get(&e.ino) == Some(&id)
    }

    /// Resolves a path (any spelling; it is canonicalised like restore's
    /// `canon()`) to an inode, starting at the root.
    pub fn lookup(&self, path: &[u8]) -> Result<u32, LookupError> {
        let canonical = canon(path);
        let mut ino = ROOT_INO;
        for comp in canonical.split(|&b| b == b'/').skip(1) {
            match self.child(ino, comp) {
                Some(e) => ino = e.ino,
                None => return Err(LookupError::NotFound(display_path(&canonical))),
            }
        }
        Ok(ino)
    }

    /// The entries from the root down to `path` (empty for the root).
    pub fn lookup_entries(&self, path: &[u8]) -> Result<Vec<EntryId>, LookupError> {
        let canonical = canon(path);
        let mut ino = ROOT_INO;
        let mut out = Vec::new();
        for comp in canonical.split(|&b| b == b'/').skip(1) {
            match self.child(ino, comp) {
                Some(e) => {
                    ino = e.ino;
                    out.push(e.id);
                }
                None => return Err(LookupError::NotFound(display_path(&canonical))),
            }
        }
        Ok(out)
    }

    /// The tree path (`./a/b`) of directory `dir`, or `None` when it is not
    /// reachable from the root.
    pub fn path_of_dir(&self, dir: u32) -> Option<Vec<u8>> {
        let mut comps: Vec<&[u8]> = Vec::new();
        let mut cur = dir;
        while cur != ROOT_INO {
            let id = *self.parent.get(&cur)?;
            let e = self.entry(id);
            comps.push(e.name);
            cur = e.parent;
            // The parent map is a spanning tree, so this terminates within
            // dirs.len() steps; guard anyway against a logic error.
            if comps.len() > self.dirs.len() {
                return None;
            }
        }
        let mut path = b".".to_vec();
        for c in comps.iter().rev() {
            path.push(b'/');
            path.extend_from_slice(c);
        }
        Some(path)
    }

    /// The path of entry `id` (`./a/b/name`); `?/name` if its directory is
    /// unreachable.
    pub fn path_of_entry(&self, id: EntryId) -> Vec<u8> {
        let e = self.entry(id);
        let mut path = self.path_of_dir(e.parent).unwrap_or_else(|| b"?".to_vec());
        path.push(b'/');
        path.extend_from_slice(e.name);
        path
    }

    /// The entry ids from the root down to directory `dir` (empty for the
    /// root), or `None` when it is unreachable.
    pub fn entries_to_dir(&self, dir: u32) -> Option<Vec<EntryId>> {
        let mut ids = Vec::new();
        let mut cur = dir;
        while cur != ROOT_INO {
            let id = *self.parent.get(&cur)?;
            ids.push(id);
            cur = self.entry(id).parent;
            if ids.len() > self.dirs.len() {
                return None;
            }
        }
        ids.reverse();
        Some(ids)
    }

    /// Visits `start` and, when `visit` returns true for a directory, its
    /// contents, depth first in tape order (restore's `treescan`). Each
    /// directory is entered only through its spanning-tree name, so a
    /// hostile dump with loops is walked in finite time. Iterative: deep
    /// trees do not exhaust the stack.
    pub fn walk<F>(&self, start_path: &[u8], start_ino: u32, mut visit: F)
    where
        F: FnMut(&WalkItem<'_>) -> bool,
    {
        let mut path = start_path.to_vec();
        let item = WalkItem {
            path: &path,
            ino: start_ino,
            entry: None,
            is_dir: self.is_dir(start_ino),
        };
        if !visit(&item) || !item.is_dir {
            return;
        }
        // Stack of (directory range cursor, end, path length to restore).
        let (s, e) = self.dirs[&start_ino];
        let mut stack: Vec<(u32, u32, usize)> = vec![(s, e, path.len())];
        while let Some(top) = stack.last_mut() {
            if top.0 >= top.1 {
                let (_, _, len) = stack.pop().expect("non-empty stack");
                path.truncate(len);
                continue;
            }
            let idx = top.0;
            top.0 += 1;
            let base = top.2;
            path.truncate(base);
            let entry = self.entry_at(idx);
            path.push(b'/');
            path.extend_from_slice(entry.name);
            let is_dir = self.is_dir(entry.ino);
            let item = WalkItem {
                path: &path,
                ino: entry.ino,
                entry: Some(entry.id),
                is_dir,
            };
            let descend = visit(&item);
            if descend && is_dir && self.is_tree_edge(entry.id) {
                let (s, e) = self.dirs[&entry.ino];
                stack.push((s, e, path.len()));
            }
        }
        path.truncate(start_path.len());
    }
}

/// How an inode selected for extraction is named in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Name {
    /// The root of the dump (`.`), i.e. the target directory itself.
    Root,
    /// A directory entry.
    Entry(EntryId),
}

/// The inodes to extract, each with every name it must get; built from the
/// tree before the file records are read, so one pass over the tape
/// suffices. Used by `-x`, `-r`, `-C` and the interactive `add`/`delete`.
///
/// Memory: two parallel vectors sorted by inode, 12 bytes per name (a map
/// cost about 40). [`add_path`](Self::add_path) appends, then sorts once;
/// names of one inode keep the order they were selected in.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    inos: Vec<u32>,
    names: Vec<Name>,
}

impl Selection {
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects `path` (and, with `descend`, everything below it) if the
    /// inodes are on the dump (`dumped`). Directories above it are
    /// selected too, so they are created and get their attributes.
    pub fn add_path(
        &mut self,
        tree: &DirTree,
        path: &[u8],
        descend: bool,
        dumped: &dyn Fn(u32) -> bool,
    ) -> Result<(), LookupError> {
        let ids = tree.lookup_entries(path)?;
        let ino = ids.last().map_or(ROOT_INO, |&id| tree.entry(id).ino);
        let start = canon(path);
        // Counted first, so the vectors grow once, to their size.
        let mut count = ids.len() + 1;
        if descend {
            tree.walk(&start, ino, |_| {
                count += 1;
                true
            });
        }
        self.inos.reserve_exact(count);
        self.names.reserve_exact(count);
        // Ancestors (restore's pathcheck()).
        self.push(ROOT_INO, Name::Root);
        for &id in ids.iter().take(ids.len().saturating_sub(1)) {
            self.push(tree.entry(id).ino, Name::Entry(id));
        }
        let mut first = true;
        tree.walk(&start, ino, |item| {
            let name = match item.entry {
                Some(id) => Name::Entry(id),
                None if first => match ids.last() {
                    Some(&id) => Name::Entry(id),
                    None => Name::Root,
                },
                None => return false,
            };
            first = false;
            if dumped(item.ino) {
                self.push(item.ino, name);
            }
            descend
        });
        self.normalize();
        Ok(())
    }

    /// Unselects `path` (and, with `descend`, everything below it).
    pub fn remove_path(
        &mut self,
        tree: &DirTree,
        path: &[u8],
        descend: bool,
    ) -> Result<(), LookupError> {
        let ids = tree.lookup_entries(path)?;
        let ino = ids.last().map_or(ROOT_INO, |&id| tree.entry(id).ino);
        let start_name = match ids.last() {
            Some(&id) => Name::Entry(id),
            None => Name::Root,
        };
        let start = canon(path);
        let mut gone: HashSet<(u32, Name)> = HashSet::new();
        tree.walk(&start, ino, |item| {
            gone.insert((item.ino, item.entry.map_or(start_name, Name::Entry)));
            descend
        });
        (self.inos, self.names) = self
            .inos
            .iter()
            .zip(&self.names)
            .map(|(&ino, &name)| (ino, name))
            .filter(|pair| !gone.contains(pair))
            .unzip();
        Ok(())
    }

    /// Selects inode `ino` under `name`.
    pub fn insert(&mut self, ino: u32, name: Name) {
        self.push(ino, name);
        self.normalize();
    }

    fn push(&mut self, ino: u32, name: Name) {
        self.inos.push(ino);
        self.names.push(name);
    }

    /// Sorts by inode (stable: the names of an inode stay in the order
    /// they were selected) and drops a name given twice to one inode.
    fn normalize(&mut self) {
        if self.inos.windows(2).all(|w| w[0] < w[1]) {
            return;
        }
        let mut order: Vec<u32> = (0..self.inos.len() as u32).collect();
        order.sort_by_key(|&i| self.inos[i as usize]);
        let mut inos = Vec::with_capacity(order.len());
        let mut names: Vec<Name> = Vec::with_capacity(order.len());
        let mut run = 0;
        for i in order {
            let (ino, name) = (self.inos[i as usize], self.names[i as usize]);
            if inos.last() != Some(&ino) {
                run = names.len();
            } else if names[run..].contains(&name) {
                continue;
            }
            inos.push(ino);
            names.push(name);
        }
        inos.shrink_to_fit();
        names.shrink_to_fit();
        self.inos = inos;
        self.names = names;
    }

    /// The positions of `ino`'s names.
    fn range(&self, ino: u32) -> std::ops::Range<usize> {
        let start = self.inos.partition_point(|&i| i < ino);
        let end = start + self.inos[start..].partition_point(|&i| i == ino);
        start..end
    }

    pub fn contains(&self, ino: u32) -> bool {
        self.inos.binary_search(&ino).is_ok()
    }

    /// The names `ino` must get, in the order they were selected.
    pub fn names_of(&self, ino: u32) -> &[Name] {
        &self.names[self.range(ino)]
    }

    /// Selected inodes in ascending order (the order of the tape).
    pub fn inodes(&self) -> impl Iterator<Item = u32> + '_ {
        let mut prev = None;
        self.inos.iter().copied().filter(move |&i| {
            let new = prev != Some(i);
            prev = Some(i);
            new
        })
    }

    pub fn is_empty(&self) -> bool {
        self.inos.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir<'a>(entries: &'a [(u32, &'a str)]) -> impl Iterator<Item = (u32, u8, &'a [u8])> + 'a {
        entries.iter().map(|(i, n)| (*i, 0u8, n.as_bytes()))
    }

    fn sample() -> DirTree {
        let mut b = DirTreeBuilder::new();
        b.add_directory(
            2,
            dir(&[
                (2, "."),
                (2, ".."),
                (11, "lost+found"),
                (12, "a"),
                (15, "d"),
            ]),
        )
        .unwrap();
        b.add_directory(11, dir(&[(11, "."), (2, "..")])).unwrap();
        b.add_directory(15, dir(&[(15, "."), (2, ".."), (12, "hard"), (16, "sub")]))
            .unwrap();
        b.add_directory(16, dir(&[(16, "."), (15, ".."), (17, "f")]))
            .unwrap();
        let (t, w) = b.finish().unwrap();
        assert!(w.is_empty(), "{w:?}");
        t
    }

    fn listing(t: &DirTree, start: &[u8]) -> Vec<String> {
        let ino = t.lookup(start).unwrap();
        let mut out = Vec::new();
        t.walk(&canon(start), ino, |it| {
            out.push(format!("{} {}", it.ino, display_path(it.path)));
            true
        });
        out
    }

    #[test]
    fn walk_lists_in_tape_order_with_restore_paths() {
        let t = sample();
        assert_eq!(
            listing(&t, b"."),
            [
                "2 .",
                "11 ./lost+found",
                "12 ./a",
                "15 ./d",
                "12 ./d/hard",
                "16 ./d/sub",
                "17 ./d/sub/f"
            ]
        );
        assert_eq!(listing(&t, b"/d//sub/"), ["16 ./d/sub", "17 ./d/sub/f"]);
    }

    #[test]
    fn lookup_and_names() {
        let t = sample();
        assert_eq!(t.lookup(b"d/sub/f"), Ok(17));
        assert_eq!(t.lookup(b"./d/../a"), Ok(12));
        assert_eq!(t.lookup(b"/"), Ok(2));
        assert_eq!(
            t.lookup(b"nope/x"),
            Err(LookupError::NotFound("./nope/x".into()))
        );
        assert_eq!(t.path_of_dir(16).unwrap(), b"./d/sub");
        let f = t.child(16, b"f").unwrap();
        assert_eq!(t.path_of_entry(f.id), b"./d/sub/f");
        let names: Vec<_> = t.children(15).unwrap().map(|e| e.name.to_vec()).collect();
        assert_eq!(names, [b"hard".to_vec(), b"sub".to_vec()]);
        assert!(t.children(12).is_none());
        assert_eq!(t.reachable_dirs(), [2, 11, 15, 16]);
    }

    #[test]
    fn canon_matches_restore() {
        assert_eq!(canon(b"."), b".");
        assert_eq!(canon(b"./"), b".");
        assert_eq!(canon(b"a//b/"), b"./a/b");
        assert_eq!(canon(b"/a/./b/../c"), b"./a/c");
        assert_eq!(canon(b"../../x"), b"./x");
    }

    #[test]
    fn hostile_names_are_rejected() {
        let mut b = DirTreeBuilder::new();
        b.add_directory(
            2,
            dir(&[
                (2, "."),
                (2, ".."),
                (20, ".."),
                (21, "."),
                (22, "a/b"),
                (24, "ok"),
                (25, "ok"),
            ]),
        )
        .unwrap();
        b.add_directory(3, [(23u32, 0u8, &b"nul\0x"[..]), (26, 0, b"")])
            .unwrap();
        let (t, w) = b.finish().unwrap();
        let names: Vec<_> = t.children(2).unwrap().map(|e| e.ino).collect();
        assert_eq!(names, [24]);
        assert_eq!(w.len(), 6, "{w:?}");
        assert!(matches!(w[4], TreeWarning::BadName { ino: 23, .. }));
        assert!(matches!(w[3], TreeWarning::DuplicateName { ino: 25, .. }));
    }

    #[test]
    fn loops_terminate_and_are_reported() {
        // 2 -> 11 -> fo(2) -> ..., like looping_inodes-fail.dump.
        let mut b = DirTreeBuilder::new();
        b.add_directory(2, dir(&[(2, "."), (2, ".."), (11, "lost+found")]))
            .unwrap();
        b.add_directory(11, dir(&[(11, "."), (2, "fo"), (11, "self")]))
            .unwrap();
        let (t, w) = b.finish().unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            listing(&t, b"."),
            [
                "2 .",
                "11 ./lost+found",
                "2 ./lost+found/fo",
                "11 ./lost+found/self"
            ]
        );
    }

    #[test]
    fn missing_root_is_an_error() {
        let mut b = DirTreeBuilder::new();
        b.add_directory(5, dir(&[(5, ".")])).unwrap();
        assert_eq!(b.finish().unwrap_err(), TreeError::NoRoot);
    }

    #[test]
    fn selection_collects_all_names_and_ancestors() {
        let t = sample();
        let mut s = Selection::new();
        s.add_path(&t, b"d/sub", true, &|_| true).unwrap();
        assert_eq!(s.inodes().collect::<Vec<_>>(), [2, 15, 16, 17]);
        let mut s = Selection::new();
        s.add_path(&t, b".", true, &|ino| ino != 17).unwrap();
        assert_eq!(s.inodes().collect::<Vec<_>>(), [2, 11, 12, 15, 16]);
        assert_eq!(s.names_of(12).len(), 2);
        s.remove_path(&t, b"d", true).unwrap();
        assert_eq!(s.names_of(12).len(), 1);
        assert!(!s.contains(16));
        let mut s = Selection::new();
        s.add_path(&t, b"d", false, &|_| true).unwrap();
        assert_eq!(s.inodes().collect::<Vec<_>>(), [2, 15]);
    }
}
