//! `-x` and `-r`: create the selected directories, then make one pass over
//! the file records writing every selected inode under all its names, then
//! set the directories' attributes (after their contents, so restoring a
//! file does not disturb its directory's times, and a read-only directory
//! can still be filled).
//!
//! Every write goes through [`crate::fsops`], relative to directory handles
//! opened from the target root without following symbolic links. The
//! writes themselves run on writer threads ([`crate::writer`]) while this
//! thread reads on; they are all done before the directory pass.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use dump_format::header::{flags, mode};
use dump_format::{Header, Item, Segment, TapeReader};
use rustix::fs::FileType;

use crate::catalog::{self, Catalog, Tape};
use crate::fsops::{self, Attrs, Node};
use crate::meta;
use crate::tree::{display_path, DirTree, Name, Selection, ROOT_INO};
use crate::ui::Ui;
use crate::writer::{self, Begin, Kind, Link, Report, Writers};

/// Longest symbolic link target accepted (Linux's PATH_MAX).
const MAX_SYMLINK: u64 = 4096;
/// Directory handles kept open at once.
const MAX_OPEN_DIRS: usize = 256;

/// Opens directories of the dump's tree inside the target, caching the
/// handles. Each directory is reached from the root one component at a
/// time with `O_NOFOLLOW`, so a symlink in the target cannot redirect it.
/// Handles are shared (`Arc`), not duplicated: handing one out costs no
/// system call, and writer threads can hold it.
pub struct DirHandles {
    root: Arc<OwnedFd>,
    open: HashMap<u32, Arc<OwnedFd>>,
}

impl DirHandles {
    pub fn new(root: OwnedFd) -> Self {
        DirHandles {
            root: Arc::new(root),
            open: HashMap::new(),
        }
    }

    /// A handle on directory `dir`.
    pub fn get(&mut self, tree: &DirTree, dir: u32) -> io::Result<Arc<OwnedFd>> {
        if dir == ROOT_INO {
            return Ok(Arc::clone(&self.root));
        }
        if let Some(fd) = self.open.get(&dir) {
            return Ok(Arc::clone(fd));
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
        let mut cur = Arc::clone(&self.root);
        for (i, id) in path.iter().enumerate().rev() {
            if let Some(fd) = self.open.get(&tree.entry(*id).ino) {
                cur = Arc::clone(fd);
                start = i + 1;
                break;
            }
        }
        for id in &path[start..] {
            let e = tree.entry(*id);
            let next = Arc::new(fsops::open_dir_at(cur.as_fd(), e.name)?);
            self.open.insert(e.ino, Arc::clone(&next));
            cur = next;
        }
        Ok(cur)
    }
}

/// How a run is to behave (from the command line).
#[derive(Debug, Clone)]
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
    /// -r of an incremental dump: the holding directory with the old files
    /// of changed inodes ([`crate::incremental::held_data_name`]).
    pub held: Option<Arc<OwnedFd>>,
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

/// An inode whose attributes wait for its extended-attribute records.
struct Pending {
    ino: u32,
    attrs: Attrs,
    size: u64,
    /// Its Begin went to the writers (false with -N).
    begun: bool,
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

/// Sends the attributes of `p` to its writer: the inode is complete.
fn finish_pending(p: Pending, writers: &mut Writers) {
    if p.begun {
        writers.end(p.attrs, p.size);
    }
}

/// Hands the data of the current record to the writers, keeping holes as
/// holes (the file's size is set at its End when it ends in a hole).
fn send_data(
    reader: &mut TapeReader<Box<dyn Read>>,
    writers: &mut Writers,
) -> Result<(), ExtractError> {
    let owned = writers.takes_owned_data();
    while let Some(seg) = reader.next_segment().map_err(ExtractError::Tape)? {
        match seg {
            Segment::Data { offset, .. } if owned => {
                // The reader's buffer goes to the writer as it is, a spare
                // one takes its place: no copy of the file's data here.
                let bytes = reader.take_data(writers.spare_buffer());
                writers.data_owned(offset, bytes);
            }
            Segment::Data { offset, bytes } => writers.data(offset, bytes),
            Segment::Hole { .. } => {}
        }
        if writers.stopped() {
            break;
        }
    }
    Ok(())
}

enum ExtractError {
    /// Creating the file or one of its names failed.
    Write(io::Error),
    /// The stream broke.
    Tape(dump_format::ReadError),
    /// Anything else about this one file (message).
    Other(String),
}

/// Extracts inode `h` (already known to be selected): hands the writers
/// its creation under its first name with hard links for the others, then
/// its data. Its attributes follow when its last record has been read.
#[allow(clippy::too_many_arguments)]
fn extract_one(
    h: &Header,
    catalog: &Catalog,
    selection: &Selection,
    reader: &mut TapeReader<Box<dyn Read>>,
    dirs: &mut DirHandles,
    writers: &mut Writers,
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
    let meta_only = h.flags & flags::DR_METAONLY != 0;
    if meta_only {
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
    if let (Some(held), false) = (&opts.held, meta_only) {
        // The old file of a changed inode, kept in case it came back as
        // metadata only: it did not, so its space is freed before the new
        // one is written.
        fsops::remove_leaf_at(held.as_fd(), &crate::incremental::held_data_name(ino))
            .map_err(ExtractError::Write)?;
    }
    let kind = match kind {
        // dump -m: the data is on an earlier level; the file there (held
        // by an incremental -r, or at its name) gets the new attributes.
        _ if meta_only => Kind::Existing {
            held: opts
                .held
                .as_ref()
                .map(|d| (d.clone(), crate::incremental::held_data_name(ino))),
            is_symlink: kind == mode::S_IFLNK,
            is_file: kind == mode::S_IFREG,
        },
        mode::S_IFREG => {
            ui.verbose(&format!("extract file {path}"));
            Kind::File
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
            Kind::Symlink(target)
        }
        mode::S_IFCHR | mode::S_IFBLK | mode::S_IFIFO | mode::S_IFSOCK => {
            let (ft, what) = match kind {
                mode::S_IFCHR => (FileType::CharacterDevice, "special file"),
                mode::S_IFBLK => (FileType::BlockDevice, "special file"),
                mode::S_IFIFO => (FileType::Fifo, "fifo"),
                _ => (FileType::Socket, "socket"),
            };
            ui.verbose(&format!("extract {what} {path}"));
            Kind::Node {
                kind: ft,
                rdev: meta::rdev(h),
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
    let Some(parent) = parent else {
        // -N: read the data anyway, to check it.
        if matches!(kind, Kind::File) {
            while reader.next_segment().map_err(ExtractError::Tape)?.is_some() {}
        }
        outcome.restored += 1;
        return Ok(Some(Pending {
            ino,
            attrs,
            size: h.inode.size,
            begun: false,
        }));
    };
    let kind = match kind {
        // Creating a file costs about as much as writing a small one. It is
        // done here, with the file's hard links, when the writer is behind;
        // otherwise by the writer, so the work splits evenly between the
        // two threads whatever the mix of files.
        Kind::File if writers.next_is_behind() => {
            let fd = fsops::create_file_at(parent.as_fd(), &name, opts.unlink_first)
                .map_err(ExtractError::Write)?;
            if opts.by_name {
                for &other in &names[1..] {
                    let (odir, oname, opath) = place(tree, other, ino, opts);
                    let linked = dirs.get(tree, odir).and_then(|op| {
                        fsops::hard_link_at(
                            parent.as_fd(),
                            &name,
                            op.as_fd(),
                            &oname,
                            opts.unlink_first,
                        )
                    });
                    match linked {
                        Ok(()) => ui.verbose(&format!("Create hard link {opath}->{path}")),
                        Err(e) if writer::is_fatal(&e) => return Err(ExtractError::Write(e)),
                        Err(e) => {
                            ui.warn(&format!(
                                "warning: cannot create hard link {opath}->{path}: {e}"
                            ));
                            outcome.failed.push(format!("{opath} (inode {ino}): {e}"));
                        }
                    }
                }
            }
            Kind::Created(fd.into())
        }
        other => other,
    };
    // The other names of other kinds: hard links made by the writer right
    // after it creates the first.
    let mut links = Vec::new();
    if opts.by_name && !matches!(kind, Kind::Created(_)) {
        for &other in &names[1..] {
            let (odir, oname, opath) = place(tree, other, ino, opts);
            match dirs.get(tree, odir) {
                Ok(op) => links.push(Link {
                    parent: op,
                    name: oname,
                    path: opath,
                }),
                Err(e) => {
                    ui.warn(&format!(
                        "warning: cannot create hard link {opath}->{path}: {e}"
                    ));
                    outcome.failed.push(format!("{opath} (inode {ino}): {e}"));
                }
            }
        }
    }
    let is_file = matches!(kind, Kind::Created(_) | Kind::File);
    writers.begin(Begin {
        ino,
        path,
        parent,
        name,
        kind,
        unlink_first: opts.unlink_first,
        links,
    });
    if is_file {
        send_data(reader, writers)?;
    }
    Ok(Some(Pending {
        ino,
        attrs,
        size: h.inode.size,
        begun: true,
    }))
}

/// Takes in what the writers reported: warnings, failures, progress.
fn take_reports(
    reports: impl IntoIterator<Item = Report>,
    abandoned: &mut Vec<u32>,
    ui: &mut Ui,
    outcome: &mut Outcome,
) {
    for r in reports {
        match r {
            Report::Verbose(line) => ui.verbose(&line),
            Report::Warn(w) => ui.warn(&w),
            Report::NotRestored { warning, failed } => {
                ui.warn(&warning);
                outcome.failed.push(failed);
            }
            Report::NameFailed { warning, failed } => {
                ui.warn(&warning);
                outcome.failed.push(failed);
            }
            Report::Abandoned { ino } => abandoned.push(ino),
        }
    }
}

/// The inodes met on the tape so far: a bit each up to the dump's highest
/// inode (the dumped map's size), a set beyond it (only a damaged dump has
/// any there). A hash set cost 8 to 16 bytes per inode.
pub struct SeenInodes {
    map: dump_format::bitmap::InodeMap,
    beyond: HashSet<u32>,
    len: usize,
}

impl SeenInodes {
    pub fn new(catalog: &Catalog) -> Self {
        SeenInodes {
            map: dump_format::bitmap::InodeMap::new(catalog.dumped.capacity()),
            beyond: HashSet::new(),
            len: 0,
        }
    }

    /// Adds `ino`; false when it was there already.
    pub fn insert(&mut self, ino: u32) -> bool {
        let new = if ino == 0 || ino > self.map.capacity() {
            self.beyond.insert(ino)
        } else if self.map.contains(ino) {
            false
        } else {
            self.map.set(ino);
            true
        };
        self.len += usize::from(new);
        new
    }

    pub fn remove(&mut self, ino: u32) {
        let was = if ino == 0 || ino > self.map.capacity() {
            self.beyond.remove(&ino)
        } else {
            let was = self.map.contains(ino);
            self.map.clear(ino);
            was
        };
        self.len -= usize::from(was);
    }

    pub fn contains(&self, ino: u32) -> bool {
        if ino == 0 || ino > self.map.capacity() {
            self.beyond.contains(&ino)
        } else {
            self.map.contains(ino)
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Seeks from the header of `ino`, which is not wanted, to the next wanted
/// inode after it (`wanted` is sorted). False when none is left.
fn skip_to_next_wanted(
    reader: &mut TapeReader<Box<dyn Read>>,
    wanted: &[u32],
    ino: u32,
) -> Result<bool, dump_format::ReadError> {
    let Some(&next) = wanted.get(wanted.partition_point(|&w| w <= ino)) else {
        return Ok(false);
    };
    reader.seek_to_inode(next)?;
    Ok(true)
}

/// One pass over the file records: extracts every selected leaf; with
/// `tape.seek`, seeks past what is not selected.
pub fn extract_files(
    catalog: &Catalog,
    selection: &Selection,
    tape: &mut Tape,
    dirs: &mut DirHandles,
    opts: &ExtractOptions,
    ui: &mut Ui,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut seen = SeenInodes::new(catalog);
    let mut pending: Option<Pending> = None;
    let mut next = tape.pending.take();
    let mut wanted: Vec<u32> = selection
        .inodes()
        .filter(|&i| !catalog.tree.is_dir(i))
        .collect();
    wanted.sort_unstable();
    let wanted_leaves = wanted.len();
    let threads = if opts.no_write {
        0
    } else {
        writer::writer_threads(ui.verbose)
    };
    let mut writers = Writers::new(threads).unwrap_or_else(|e| {
        ui.warn(&format!(
            "cannot start writer threads ({e}); writing on one thread"
        ));
        Writers::new(0).expect("no thread to start")
    });
    // Inodes begun but skipped by the writers after a fatal error.
    let mut abandoned = Vec::new();
    loop {
        take_reports(writers.reports(), &mut abandoned, ui, &mut outcome);
        // Nothing selected is left: stop reading (restore does the same).
        if seen.len() >= wanted_leaves && pending.is_none() {
            break;
        }
        // A write failed for good (no space…): reading on is pointless.
        if writers.stopped() {
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
                    finish_pending(p, &mut writers);
                    take_reports(writers.reports(), &mut abandoned, ui, &mut outcome);
                }
                let ino = h.inumber;
                if !selection.contains(ino) || catalog.tree.is_dir(ino) || !seen.insert(ino) {
                    if tape.seek {
                        match skip_to_next_wanted(&mut tape.reader, &wanted, ino) {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(e) => {
                                outcome.stopped = Some(format!("error reading the dump: {e}"));
                                break;
                            }
                        }
                    }
                    continue;
                }
                match extract_one(
                    &h,
                    catalog,
                    selection,
                    &mut tape.reader,
                    dirs,
                    &mut writers,
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
                        if writer::is_fatal(&e) {
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
        finish_pending(p, &mut writers);
    }
    if let (true, Some(read), Some(len)) = (
        tape.seek,
        tape.reader.input_bytes_read(),
        tape.reader.input_len(),
    ) {
        ui.verbose(&format!(
            "Read {read} of the dump's {len} bytes ({:.3}%)",
            read as f64 * 100.0 / len.max(1) as f64
        ));
    }
    // Every file is written before the directory pass.
    let done = writers.finish();
    take_reports(done.reports, &mut abandoned, ui, &mut outcome);
    // (-N counted its inodes as it read them.)
    outcome.restored += done.restored;
    // A writer's fatal error is on an inode before any the reader failed
    // on (the reader runs ahead): it is the one that stopped the run.
    if let Some(f) = done.fatal {
        let (ino, path, e) = (f.ino, f.path, f.error);
        outcome.stopped = Some(format!(
            "write error extracting inode {ino}, name {path}: {e}"
        ));
        outcome.failed.push(format!("{path} (inode {ino}): {e}"));
    }
    // Begun but never written: counted with those never reached.
    for ino in abandoned {
        seen.remove(ino);
    }
    // Selected leaves never seen.
    for ino in selection.inodes() {
        if catalog.tree.is_dir(ino) || seen.contains(ino) {
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
