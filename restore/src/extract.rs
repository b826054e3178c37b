//! `-x` and `-r`: create the selected directories, then make one pass over
//! the file records writing every selected inode under all its names, then
//! set the directories' attributes (after their contents, so restoring a
//! file does not disturb its directory's times, and a read-only directory
//! can still be filled).
//!
//! Every write goes through [`crate::fsops`], relative to directory handles
//! opened from the target root without following symbolic links.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;

use dump_format::header::{flags, mode};
use dump_format::{Header, Item, Segment, TapeReader};
use rustix::fs::FileType;

use crate::catalog::{self, Catalog, Tape};
use crate::fsops::{self, Attrs, Node};
use crate::meta;
use crate::tree::{display_path, DirTree, Name, Selection, ROOT_INO};
use crate::ui::Ui;

/// Longest symbolic link target accepted (Linux's PATH_MAX).
const MAX_SYMLINK: u64 = 4096;
/// Directory handles kept open at once.
const MAX_OPEN_DIRS: usize = 256;

/// Opens directories of the dump's tree inside the target, caching the
/// handles. Each directory is reached from the root one component at a
/// time with `O_NOFOLLOW`, so a symlink in the target cannot redirect it.
pub struct DirHandles {
    root: OwnedFd,
    open: HashMap<u32, OwnedFd>,
}

impl DirHandles {
    pub fn new(root: OwnedFd) -> Self {
        DirHandles {
            root,
            open: HashMap::new(),
        }
    }

    /// A handle (a duplicate, owned by the caller) on directory `dir`.
    pub fn get(&mut self, tree: &DirTree, dir: u32) -> io::Result<OwnedFd> {
        if dir == ROOT_INO {
            return self.root.try_clone();
        }
        if let Some(fd) = self.open.get(&dir) {
            return fd.try_clone();
        }
        let path = tree.entries_to_dir(dir).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("directory inode {dir} is not reachable from the root"),
            )
        })?;
        if self.open.len() >= MAX_OPEN_DIRS {
            self.open.clear();
        }
        // Start from the deepest directory already open.
        let mut start = 0;
        let mut cur = self.root.try_clone()?;
        for (i, id) in path.iter().enumerate().rev() {
            if let Some(fd) = self.open.get(&tree.entry(*id).ino) {
                cur = fd.try_clone()?;
                start = i + 1;
                break;
            }
        }
        for id in &path[start..] {
            let e = tree.entry(*id);
            let next = fsops::open_dir_at(cur.as_fd(), e.name)?;
            self.open.insert(e.ino, next.try_clone()?);
            cur = next;
        }
        Ok(cur)
    }
}

/// How a run is to behave (from the command line).
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    /// -N: read everything, write nothing.
    pub no_write: bool,
    /// -u: remove existing files first.
    pub unlink_first: bool,
    /// -m cleared: name leaves `./<inode number>` in the target root.
    pub by_name: bool,
    /// Set the attributes of `.` (the target directory itself).
    pub set_root_attrs: bool,
    /// Set the attributes of directories that existed before (-r, -o).
    pub force_dir_attrs: bool,
}

/// What a run did, for the summary and the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Inodes written (files, links, devices…), hard links not counted.
    pub restored: u64,
    /// Names that could not be created, with why.
    pub failed: Vec<String>,
    /// Selected inodes that were not on the tape.
    pub missing: u64,
    /// Set when the run had to stop (no space, I/O error, broken stream).
    pub stopped: Option<String>,
    /// After a stop: the selected names never reached (at most 1000).
    pub not_reached: Vec<String>,
}

/// A file whose attributes wait for its extended-attribute records.
struct Pending {
    ino: u32,
    path: String,
    node: PendingNode,
    attrs: Attrs,
}

enum PendingNode {
    File(OwnedFd),
    At {
        parent: OwnedFd,
        name: Vec<u8>,
        is_symlink: bool,
    },
    /// -N: nothing was created.
    Nothing,
}

/// Errors after which writing more is pointless: report and stop.
fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_codes::ENOSPC)
            | Some(libc_codes::EIO)
            | Some(libc_codes::EDQUOT)
            | Some(libc_codes::EROFS)
    )
}

/// The errno values `is_fatal` looks for (Linux numbering).
mod libc_codes {
    pub const EIO: i32 = 5;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
    pub const EDQUOT: i32 = 122;
}

/// Where a name of a selected inode goes: its directory's inode and its
/// file name there.
fn place(tree: &DirTree, name: Name, ino: u32, opts: &ExtractOptions) -> (u32, Vec<u8>, String) {
    if !opts.by_name {
        let n = ino.to_string();
        return (ROOT_INO, n.clone().into_bytes(), format!("./{n}"));
    }
    match name {
        Name::Root => (ROOT_INO, b".".to_vec(), ".".into()),
        Name::Entry(id) => {
            let e = tree.entry(id);
            (
                e.parent,
                e.name.to_vec(),
                display_path(&tree.path_of_entry(id)),
            )
        }
    }
}

/// Creates the selected directories, parents first. Returns the set of
/// directories that already existed (their attributes are left alone
/// unless forced).
pub fn make_directories(
    catalog: &Catalog,
    selection: &Selection,
    dirs: &mut DirHandles,
    opts: &ExtractOptions,
    ui: &mut Ui,
) -> (HashSet<u32>, Vec<String>) {
    let mut existed = HashSet::new();
    let mut failed = Vec::new();
    if !opts.by_name {
        return (existed, failed);
    }
    let tree = &catalog.tree;
    for dir in tree.reachable_dirs() {
        if dir == ROOT_INO || !selection.contains(dir) {
            continue;
        }
        let Some(id) = selection.names_of(dir).iter().find_map(|n| match n {
            Name::Entry(id) if tree.is_tree_edge(*id) => Some(*id),
            _ => None,
        }) else {
            continue;
        };
        let e = tree.entry(id);
        let path = display_path(&tree.path_of_entry(id));
        if opts.no_write {
            continue;
        }
        let made = dirs
            .get(tree, e.parent)
            .and_then(|parent| fsops::make_dir_at(parent.as_fd(), e.name));
        match made {
            Ok(true) => ui.verbose(&format!("Make node {path}")),
            Ok(false) => {
                existed.insert(dir);
                if !opts.unlink_first {
                    ui.warn(&format!("{path}: File exists"));
                }
            }
            Err(err) => {
                ui.warn(&format!("{path}: cannot create directory: {err}"));
                failed.push(format!("{path} (directory inode {dir}): {err}"));
            }
        }
    }
    (existed, failed)
}

fn warn_attr_failures(ui: &mut Ui, path: &str, failures: Vec<fsops::AttrFailure>) {
    for f in failures {
        ui.warn(&format!("{path}: {}: {}", f.what, f.error));
    }
}

fn finish_pending(p: Pending, ui: &mut Ui) {
    let failures = match &p.node {
        PendingNode::File(fd) => fsops::apply_attrs(&Node::Fd(fd.as_fd()), &p.attrs, true),
        PendingNode::At {
            parent,
            name,
            is_symlink,
        } => fsops::apply_attrs(
            &Node::At {
                parent: parent.as_fd(),
                name,
                is_symlink: *is_symlink,
            },
            &p.attrs,
            false,
        ),
        PendingNode::Nothing => Vec::new(),
    };
    let _ = p.ino;
    warn_attr_failures(ui, &p.path, failures);
}

/// Writes the data of the current record to `file`, keeping holes as holes.
fn write_data(
    reader: &mut TapeReader<Box<dyn Read>>,
    file: &File,
    size: u64,
) -> Result<(), ExtractError> {
    while let Some(seg) = reader.next_segment().map_err(ExtractError::Tape)? {
        if let Segment::Data { offset, bytes } = seg {
            file.write_all_at(bytes, offset)
                .map_err(ExtractError::Write)?;
        }
    }
    // Trailing holes: give the file its size without allocating blocks.
    file.set_len(size).map_err(ExtractError::Write)?;
    Ok(())
}

enum ExtractError {
    /// Creating or writing the file failed.
    Write(io::Error),
    /// The stream broke.
    Tape(dump_format::ReadError),
    /// Anything else about this one file (message).
    Other(String),
}

/// Extracts inode `h` (already known to be selected) under its first name,
/// and links its other names to it.
#[allow(clippy::too_many_arguments)]
fn extract_one(
    h: &Header,
    catalog: &Catalog,
    selection: &Selection,
    reader: &mut TapeReader<Box<dyn Read>>,
    dirs: &mut DirHandles,
    opts: &ExtractOptions,
    ui: &mut Ui,
    outcome: &mut Outcome,
) -> Result<Option<Pending>, ExtractError> {
    let ino = h.inumber;
    let tree = &catalog.tree;
    let names = selection.names_of(ino);
    let Some(&first) = names.first() else {
        return Ok(None);
    };
    let (dir, name, path) = place(tree, first, ino, opts);
    let attrs = meta::attrs_from_header(h);
    let kind = h.inode.file_type();
    if h.flags & flags::DR_METAONLY != 0 {
        ui.verbose(&format!("file {path} is metadata only"));
    }
    let parent =
        if opts.no_write {
            None
        } else {
            Some(dirs.get(tree, dir).map_err(|e| {
                ExtractError::Other(format!("{path}: cannot open its directory: {e}"))
            })?)
        };
    let node = match kind {
        mode::S_IFREG => {
            ui.verbose(&format!("extract file {path}"));
            match &parent {
                None => {
                    // -N: read the data anyway, to check it.
                    while reader.next_segment().map_err(ExtractError::Tape)?.is_some() {}
                    PendingNode::Nothing
                }
                Some(p) => {
                    let fd = fsops::create_file_at(p.as_fd(), &name, opts.unlink_first)
                        .map_err(ExtractError::Write)?;
                    let file = File::from(fd);
                    write_data(reader, &file, h.inode.size)?;
                    PendingNode::File(file.into())
                }
            }
        }
        mode::S_IFLNK => {
            let target = reader
                .read_all(MAX_SYMLINK)
                .map_err(ExtractError::Tape)?
                .ok_or_else(|| {
                    ExtractError::Other(format!(
                        "{path}: symbolic link target too long ({} bytes)",
                        h.inode.size
                    ))
                })?;
            if target.is_empty() {
                ui.verbose(&format!("{path}: zero length symbolic link (ignored)"));
                return Ok(None);
            }
            ui.verbose(&format!(
                "Create symbolic link {path}->{}",
                String::from_utf8_lossy(&target)
            ));
            match &parent {
                None => PendingNode::Nothing,
                Some(p) => {
                    fsops::make_symlink_at(p.as_fd(), &name, &target, opts.unlink_first)
                        .map_err(ExtractError::Write)?;
                    PendingNode::At {
                        parent: p.try_clone().map_err(ExtractError::Write)?,
                        name: name.clone(),
                        is_symlink: true,
                    }
                }
            }
        }
        mode::S_IFCHR | mode::S_IFBLK | mode::S_IFIFO | mode::S_IFSOCK => {
            let (ft, what) = match kind {
                mode::S_IFCHR => (FileType::CharacterDevice, "special file"),
                mode::S_IFBLK => (FileType::BlockDevice, "special file"),
                mode::S_IFIFO => (FileType::Fifo, "fifo"),
                _ => (FileType::Socket, "socket"),
            };
            ui.verbose(&format!("extract {what} {path}"));
            match &parent {
                None => PendingNode::Nothing,
                Some(p) => {
                    fsops::make_node_at(p.as_fd(), &name, ft, meta::rdev(h), opts.unlink_first)
                        .map_err(ExtractError::Write)?;
                    PendingNode::At {
                        parent: p.try_clone().map_err(ExtractError::Write)?,
                        name: name.clone(),
                        is_symlink: false,
                    }
                }
            }
        }
        mode::S_IFDIR => {
            // Directories were all read before; one here is out of place.
            return Err(ExtractError::Other(format!(
                "{path}: directory record (inode {ino}) after the file records; ignored"
            )));
        }
        other => {
            return Err(ExtractError::Other(format!(
                "{path}: unknown file mode 0{:o}",
                other | (h.inode.mode & 0o7777)
            )));
        }
    };
    outcome.restored += 1;
    // The other names: hard links to the first.
    if opts.by_name && !opts.no_write {
        for &other in &names[1..] {
            let (odir, oname, opath) = place(tree, other, ino, opts);
            let linked = dirs.get(tree, odir).and_then(|op| {
                let p = parent.as_ref().expect("parent exists when writing");
                fsops::hard_link_at(p.as_fd(), &name, op.as_fd(), &oname, opts.unlink_first)
            });
            match linked {
                Ok(()) => ui.verbose(&format!("Create hard link {opath}->{path}")),
                Err(e) if is_fatal(&e) => return Err(ExtractError::Write(e)),
                Err(e) => {
                    ui.warn(&format!(
                        "warning: cannot create hard link {opath}->{path}: {e}"
                    ));
                    outcome.failed.push(format!("{opath} (inode {ino}): {e}"));
                }
            }
        }
    }
    Ok(Some(Pending {
        ino,
        path,
        node,
        attrs,
    }))
}

/// One pass over the file records: extracts every selected leaf.
pub fn extract_files(
    catalog: &Catalog,
    selection: &Selection,
    tape: &mut Tape,
    dirs: &mut DirHandles,
    opts: &ExtractOptions,
    ui: &mut Ui,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut pending: Option<Pending> = None;
    let mut next = tape.pending.take();
    let wanted_leaves = selection
        .inodes()
        .filter(|&i| !catalog.tree.is_dir(i))
        .count();
    loop {
        // Nothing selected is left: stop reading (restore does the same).
        if seen.len() >= wanted_leaves && pending.is_none() {
            break;
        }
        let item = match next.take() {
            Some(i) => i,
            None => match tape.reader.next_item() {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(e) => {
                    outcome.stopped = Some(format!("error reading the dump: {e}"));
                    break;
                }
            },
        };
        for w in tape.reader.take_warnings() {
            ui.warn(&w);
        }
        match item {
            Item::Inode(h) if h.is_extattr() => {
                if let Some(p) = pending.as_mut().filter(|p| p.ino == h.inumber) {
                    if h.is_xattr() {
                        match catalog::read_xattr_record(&mut tape.reader, &h, ui) {
                            Ok(x) => p.attrs.xattrs.extend(x),
                            Err(e) => {
                                outcome.stopped = Some(format!("error reading the dump: {e}"));
                                break;
                            }
                        }
                    } else {
                        ui.warn(&format!(
                            "unexpected inode extension {}, skipping",
                            h.extattributes
                        ));
                    }
                }
            }
            Item::Inode(h) => {
                if let Some(p) = pending.take() {
                    finish_pending(p, ui);
                }
                let ino = h.inumber;
                if !selection.contains(ino) || catalog.tree.is_dir(ino) || !seen.insert(ino) {
                    continue;
                }
                match extract_one(
                    &h,
                    catalog,
                    selection,
                    &mut tape.reader,
                    dirs,
                    opts,
                    ui,
                    &mut outcome,
                ) {
                    Ok(p) => pending = p,
                    Err(ExtractError::Tape(e)) => {
                        outcome.stopped = Some(format!("error reading the dump: {e}"));
                        break;
                    }
                    Err(ExtractError::Write(e)) => {
                        let path = display_name(catalog, selection, ino, opts);
                        if is_fatal(&e) {
                            outcome.stopped = Some(format!(
                                "write error extracting inode {ino}, name {path}: {e}"
                            ));
                            outcome.failed.push(format!("{path} (inode {ino}): {e}"));
                            break;
                        }
                        ui.warn(&format!("{path}: cannot create file: {e}"));
                        outcome.failed.push(format!("{path} (inode {ino}): {e}"));
                    }
                    Err(ExtractError::Other(msg)) => {
                        ui.warn(&msg);
                        outcome.failed.push(msg);
                    }
                }
            }
            Item::End(_) => break,
            Item::Resync {
                skipped_blocks,
                at_block,
            } => ui.warn(&format!(
                "resync restore, skipped {skipped_blocks} blocks (at block {at_block})"
            )),
            Item::Bitmap { .. } | Item::Volume(_) => {}
        }
    }
    if let Some(p) = pending.take() {
        finish_pending(p, ui);
    }
    // Selected leaves never seen.
    for ino in selection.inodes() {
        if catalog.tree.is_dir(ino) || seen.contains(&ino) {
            continue;
        }
        outcome.missing += 1;
        let path = display_name(catalog, selection, ino, opts);
        if outcome.stopped.is_none() {
            ui.warn(&format!("{path}: (inode {ino}) not found on tape"));
        } else if outcome.not_reached.len() < 1000 {
            outcome.not_reached.push(format!("{path} (inode {ino})"));
        }
    }
    outcome
}

fn display_name(
    catalog: &Catalog,
    selection: &Selection,
    ino: u32,
    opts: &ExtractOptions,
) -> String {
    match selection.names_of(ino).first() {
        Some(&n) => place(&catalog.tree, n, ino, opts).2,
        None => format!("inode {ino}"),
    }
}

/// Sets mode, owner, times, xattrs and flags of the selected directories,
/// deepest first (restore's "Set directory mode, owner, and times").
pub fn set_directory_attributes(
    catalog: &Catalog,
    selection: &Selection,
    dirs: &mut DirHandles,
    existed: &HashSet<u32>,
    opts: &ExtractOptions,
    ui: &mut Ui,
) {
    if opts.no_write || !opts.by_name {
        return;
    }
    ui.verbose("Set directory mode, owner, and times.");
    let tree = &catalog.tree;
    let mut order = tree.reachable_dirs();
    order.reverse();
    for dir in order {
        if !selection.contains(dir) {
            continue;
        }
        if dir == ROOT_INO && !opts.set_root_attrs {
            continue;
        }
        if existed.contains(&dir) && !opts.force_dir_attrs {
            continue;
        }
        let Some(info) = catalog.dirs.get(&dir) else {
            continue;
        };
        let path = tree
            .path_of_dir(dir)
            .map(|p| display_path(&p))
            .unwrap_or_else(|| format!("directory inode {dir}"));
        match dirs.get(tree, dir) {
            Ok(fd) => {
                let failures = fsops::apply_attrs(&Node::Fd(fd.as_fd()), &info.attrs, true);
                warn_attr_failures(ui, &path, failures);
            }
            Err(e) => ui.warn(&format!("{path}: cannot set attributes: {e}")),
        }
    }
}
