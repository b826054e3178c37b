//! `-C`: compare the dump with a directory tree (restore's compare mode).
//!
//! Every difference is reported on standard error, in restore's words where
//! restore has them: type, mode, owner, size, contents, mtime, xattrs,
//! symbolic link target, device number, inode flags (where the filesystem
//! has them) and hard links. The compared tree is only read, through
//! directory handles opened without following symbolic links.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

use dump_format::header::mode;
use dump_format::{Header, Item, Segment, TapeReader};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};

use crate::catalog::{self, Catalog, Tape};
use crate::extract::DirHandles;
use crate::fsops::{self, Attrs};
use crate::meta;
use crate::tree::{display_path, Name, Selection, ROOT_INO};
use crate::ui::Ui;

/// Counts differences and stops the run at the -L limit.
pub struct Differences {
    pub count: u64,
    limit: u64,
}

/// The -L limit was reached.
pub struct LimitReached;

impl Differences {
    pub fn new(limit: u64) -> Self {
        Differences { count: 0, limit }
    }

    fn report(&mut self, ui: &mut Ui, msg: String) -> Result<(), LimitReached> {
        ui.warn(&msg);
        self.count += 1;
        if self.limit != 0 && self.count >= self.limit {
            return Err(LimitReached);
        }
        Ok(())
    }
}

fn type_name(t: u32) -> &'static str {
    match t & 0o170000 {
        0o100000 => "regular file",
        0o040000 => "directory",
        0o120000 => "symbolic link",
        0o020000 => "character device",
        0o060000 => "block device",
        0o010000 => "fifo",
        0o140000 => "socket",
        _ => "unknown type",
    }
}

/// Compares what both a directory and a leaf have: type, mode, owner,
/// mtime, flags and xattrs.
#[allow(clippy::too_many_arguments)]
fn compare_common(
    path: &str,
    st: &Stat,
    want: &Attrs,
    precise_times: bool,
    xattrs: Option<&[(Vec<u8>, Vec<u8>)]>,
    parent: BorrowedFd<'_>,
    name: &[u8],
    ui: &mut Ui,
    diffs: &mut Differences,
) -> Result<bool, LimitReached> {
    let have_mode = st.st_mode;
    if have_mode & 0o170000 != want.mode & 0o170000 {
        diffs.report(
            ui,
            format!(
                "{path}: type changed from {} to {}.",
                type_name(want.mode),
                type_name(have_mode)
            ),
        )?;
        return Ok(false);
    }
    if have_mode != want.mode {
        diffs.report(
            ui,
            format!(
                "{path}: mode changed from 0{:o} to 0{:o}.",
                want.mode & 0o7777,
                have_mode & 0o7777
            ),
        )?;
    }
    if st.st_uid != want.uid {
        diffs.report(
            ui,
            format!("{path}: uid changed from {} to {}.", want.uid, st.st_uid),
        )?;
    }
    if st.st_gid != want.gid {
        diffs.report(
            ui,
            format!("{path}: gid changed from {} to {}.", want.gid, st.st_gid),
        )?;
    }
    let (have_sec, have_nsec) = (st.st_mtime, st.st_mtime_nsec as u32);
    let same_time = if precise_times {
        have_sec == want.mtime.sec && have_nsec == want.mtime.nsec
    } else {
        // dump 0.4b47 keeps microseconds.
        have_sec == want.mtime.sec && have_nsec / 1000 == want.mtime.nsec / 1000
    };
    if !same_time {
        diffs.report(
            ui,
            format!(
                "{path}: mtime changed from {}.{:09} to {}.{:09}.",
                want.mtime.sec, want.mtime.nsec, have_sec, have_nsec
            ),
        )?;
    }
    let kind = FileType::from_raw_mode(have_mode);
    if matches!(kind, FileType::RegularFile | FileType::Directory) {
        if let Ok(fd) = rfs::openat(
            parent,
            OsStr::from_bytes(name),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            if let Ok(have) = rfs::ioctl_getflags(&fd) {
                let have = have.bits() & fsops::RESTORABLE_FLAGS;
                let wanted = want.flags & fsops::RESTORABLE_FLAGS;
                if have != wanted {
                    diffs.report(
                        ui,
                        format!("{path}: flags changed from 0x{wanted:08x} to 0x{have:08x}."),
                    )?;
                }
            }
        }
    }
    if let Some(x) = xattrs {
        compare_xattrs(path, x, parent, name, ui, diffs)?;
    }
    Ok(true)
}

/// Reads all xattrs of `name` in `parent` without following a symlink.
fn read_xattrs(parent: BorrowedFd<'_>, name: &[u8]) -> std::io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut p = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    let path = OsStr::from_bytes(&p);
    // rustix fills a Vec up to its length: size it first, trim after.
    let mut list = vec![0u8; rfs::llistxattr_query(path)?];
    let n = if list.is_empty() {
        0
    } else {
        rfs::llistxattr(path, &mut list)?
    };
    list.truncate(n);
    let mut out = BTreeMap::new();
    for xname in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let xname_os = OsStr::from_bytes(xname);
        let mut value = vec![0u8; rfs::lgetxattr_query(path, xname_os)?];
        if !value.is_empty() {
            let n = rfs::lgetxattr(path, xname_os, &mut value)?;
            value.truncate(n);
        }
        out.insert(xname.to_vec(), value);
    }
    Ok(out)
}

fn compare_xattrs(
    path: &str,
    want: &[(Vec<u8>, Vec<u8>)],
    parent: BorrowedFd<'_>,
    name: &[u8],
    ui: &mut Ui,
    diffs: &mut Differences,
) -> Result<(), LimitReached> {
    let have = match read_xattrs(parent, name) {
        Ok(h) => h,
        Err(e) => {
            if !want.is_empty() {
                diffs.report(ui, format!("{path}: llistxattr failed: {e}"))?;
            }
            return Ok(());
        }
    };
    if have.len() != want.len() {
        diffs.report(
            ui,
            format!(
                "{path}: EA count changed from {} to {}",
                want.len(),
                have.len()
            ),
        )?;
    }
    for (xname, value) in want {
        let n = String::from_utf8_lossy(xname);
        match have.get(xname) {
            None => diffs.report(ui, format!("{path}: EA {n} is missing"))?,
            Some(v) if v != value => diffs.report(
                ui,
                format!(
                    "{path}: EA {n}:{} value changed to {}",
                    String::from_utf8_lossy(value),
                    String::from_utf8_lossy(v)
                ),
            )?,
            Some(_) => {}
        }
    }
    let wanted: HashSet<&[u8]> = want.iter().map(|(n, _)| n.as_slice()).collect();
    for xname in have.keys() {
        if !wanted.contains(xname.as_slice()) {
            diffs.report(
                ui,
                format!("{path}: EA {} was added", String::from_utf8_lossy(xname)),
            )?;
        }
    }
    Ok(())
}

/// Compares the data of the current record with `file`, hole by hole.
fn compare_contents(
    reader: &mut TapeReader<Box<dyn Read>>,
    file: &File,
) -> Result<bool, dump_format::ReadError> {
    let mut same = true;
    let mut buf = Vec::new();
    while let Some(seg) = reader.next_segment()? {
        if !same {
            continue;
        }
        let (offset, len, data) = match seg {
            Segment::Data { offset, bytes } => (offset, bytes.len(), Some(bytes)),
            Segment::Hole { offset, len } => (offset, len as usize, None),
        };
        // Holes may be large: compare them a piece at a time.
        let mut done = 0usize;
        while done < len && same {
            let n = (len - done).min(1 << 20);
            buf.resize(n, 0);
            if file.read_exact_at(&mut buf, offset + done as u64).is_err() {
                same = false;
                break;
            }
            same = match data {
                Some(d) => d[done..done + n] == buf[..],
                None => buf.iter().all(|&b| b == 0),
            };
            done += n;
        }
    }
    Ok(same)
}

/// Compares one leaf record with the file at its first name.
#[allow(clippy::too_many_arguments)]
fn compare_leaf(
    h: &Header,
    path: &str,
    parent: BorrowedFd<'_>,
    name: &[u8],
    reader: &mut TapeReader<Box<dyn Read>>,
    ui: &mut Ui,
    diffs: &mut Differences,
) -> Result<Result<(), dump_format::ReadError>, LimitReached> {
    let want = meta::attrs_from_header(h);
    let precise = h.extension().is_some();
    let kind = h.inode.file_type();
    let st = match rfs::statat(parent, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(e) => {
            diffs.report(ui, format!("unable to stat {path}: {e}"))?;
            return Ok(Ok(()));
        }
    };
    ui.verbose(&format!(
        "comparing {path} (size: {}, mode: 0{:o})",
        st.st_size, want.mode
    ));
    // Xattrs are compared once their records (after the data) are read.
    if !compare_common(path, &st, &want, precise, None, parent, name, ui, diffs)? {
        return Ok(Ok(()));
    }
    match kind {
        mode::S_IFREG => {
            if st.st_size as u64 != h.inode.size {
                diffs.report(
                    ui,
                    format!(
                        "{path}: size changed from {} to {}.",
                        h.inode.size, st.st_size
                    ),
                )?;
                return Ok(Ok(()));
            }
            let file = match rfs::openat(
                parent,
                OsStr::from_bytes(name),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => File::from(fd),
                Err(e) => {
                    diffs.report(ui, format!("can't open {path}: {e}"))?;
                    return Ok(Ok(()));
                }
            };
            match compare_contents(reader, &file) {
                Ok(true) => {}
                Ok(false) => {
                    diffs.report(ui, format!("{path}: tape and disk copies are different"))?
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        mode::S_IFLNK => {
            let target = match reader.read_all(4096) {
                Ok(t) => t.unwrap_or_default(),
                Err(e) => return Ok(Err(e)),
            };
            match rfs::readlinkat(parent, OsStr::from_bytes(name), Vec::new()) {
                Ok(have) if have.as_bytes() == target.as_slice() => {}
                Ok(have) => diffs.report(
                    ui,
                    format!(
                        "{path}: symbolic link changed from {} to {}.",
                        String::from_utf8_lossy(&target),
                        String::from_utf8_lossy(have.as_bytes())
                    ),
                )?,
                Err(e) => diffs.report(ui, format!("{path}: readlink failed: {e}"))?,
            }
        }
        mode::S_IFCHR | mode::S_IFBLK => {
            let (maj, min) = meta::rdev(h);
            let (hmaj, hmin) = (rfs::major(st.st_rdev), rfs::minor(st.st_rdev));
            if (maj, min) != (hmaj, hmin) {
                diffs.report(
                    ui,
                    format!("{path}: device changed from {maj},{min} to {hmaj},{hmin}."),
                )?;
            }
        }
        _ => {}
    }
    Ok(Ok(()))
}

/// A leaf whose xattr records have not been read yet.
struct Waiting {
    header: Header,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Runs the comparison; returns the number of differences, or
/// `Err(LimitReached)` when -L stopped it.
pub fn compare(
    catalog: &Catalog,
    tape: &mut Tape,
    dirs: &mut DirHandles,
    ui: &mut Ui,
    diffs: &mut Differences,
) -> Result<Option<String>, LimitReached> {
    let tree = &catalog.tree;
    let mut selection = Selection::new();
    let dumped = |ino: u32| catalog.is_dumped(ino);
    let _ = selection.add_path(tree, b".", true, &dumped);

    // Directories first: everything about them is in the catalog.
    ui.verbose("Compare directories modes, owner, attributes.");
    for dir in tree.reachable_dirs() {
        if !selection.contains(dir) {
            continue;
        }
        let Some(info) = catalog.dirs.get(&dir) else {
            continue;
        };
        let path = tree
            .path_of_dir(dir)
            .map(|p| display_path(&p))
            .unwrap_or_default();
        let (parent_dir, name) = match tree.entries_to_dir(dir).and_then(|v| v.last().copied()) {
            Some(id) => (tree.entry(id).parent, tree.entry(id).name.to_vec()),
            None => (ROOT_INO, b".".to_vec()),
        };
        let parent = match dirs.get(tree, parent_dir) {
            Ok(p) => p,
            Err(e) => {
                diffs.report(ui, format!("unable to stat {path}: {e}"))?;
                continue;
            }
        };
        let name_os = OsStr::from_bytes(&name);
        match rfs::statat(parent.as_fd(), name_os, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                ui.verbose(&format!("comparing directory {path}"));
                compare_common(
                    &path,
                    &st,
                    &info.attrs,
                    info.precise_times,
                    Some(&info.attrs.xattrs),
                    parent.as_fd(),
                    &name,
                    ui,
                    diffs,
                )?;
            }
            Err(e) => diffs.report(ui, format!("unable to stat {path}: {e}"))?,
        }
    }

    // Then the leaves, in one pass over the tape.
    let mut seen = crate::extract::SeenInodes::new(catalog);
    let mut waiting: Option<Waiting> = None;
    let mut next = tape.pending.take();
    let mut stream_error = None;
    loop {
        let item = match next.take() {
            Some(i) => Some(i),
            None => match tape.reader.next_item() {
                Ok(i) => i,
                Err(e) => {
                    stream_error = Some(e.to_string());
                    None
                }
            },
        };
        for w in tape.reader.take_warnings() {
            ui.warn(&w);
        }
        // Attribute records belong to the leaf before them.
        if let Some(Item::Inode(h)) = &item {
            if h.is_extattr() {
                if let Some(w) = waiting.as_mut().filter(|w| w.header.inumber == h.inumber) {
                    if h.is_xattr() {
                        match catalog::read_xattr_record(&mut tape.reader, h, ui) {
                            Ok(x) => w.xattrs.extend(x),
                            Err(e) => stream_error = Some(e.to_string()),
                        }
                    }
                }
                if stream_error.is_none() {
                    continue;
                }
            }
        }
        // The leaf before has all its xattr records now.
        if let Some(w) = waiting.take() {
            compare_waiting_xattrs(catalog, &selection, w, dirs, ui, diffs)?;
        }
        let Some(item) = item else { break };
        match item {
            Item::Inode(h) => {
                let ino = h.inumber;
                if !selection.contains(ino) || tree.is_dir(ino) || !seen.insert(ino) {
                    continue;
                }
                let Some(&first) = selection.names_of(ino).first() else {
                    continue;
                };
                let Name::Entry(id) = first else { continue };
                let e = tree.entry(id);
                let path = display_path(&tree.path_of_entry(id));
                if h.inode.file_type() == mode::S_IFSOCK {
                    ui.verbose(&format!("skipped socket {path}"));
                }
                match dirs.get(tree, e.parent) {
                    Ok(parent) => {
                        // Contents now, as they stream by.
                        match compare_leaf(
                            &h,
                            &path,
                            parent.as_fd(),
                            e.name,
                            &mut tape.reader,
                            ui,
                            diffs,
                        )? {
                            Ok(()) => {}
                            Err(err) => {
                                stream_error = Some(err.to_string());
                                break;
                            }
                        }
                        check_links(
                            catalog,
                            &selection,
                            ino,
                            &path,
                            parent.as_fd(),
                            e.name,
                            dirs,
                            ui,
                            diffs,
                        )?;
                    }
                    Err(err) => diffs.report(ui, format!("unable to stat {path}: {err}"))?,
                }
                waiting = Some(Waiting {
                    header: h,
                    xattrs: Vec::new(),
                });
            }
            Item::End(_) => break,
            Item::Resync {
                skipped_blocks,
                at_block,
            } => ui.warn(&format!(
                "resync restore, skipped {skipped_blocks} blocks (at block {at_block})"
            )),
            _ => {}
        }
    }
    if let Some(w) = waiting.take() {
        compare_waiting_xattrs(catalog, &selection, w, dirs, ui, diffs)?;
    }
    for ino in selection.inodes() {
        if tree.is_dir(ino) || seen.contains(ino) {
            continue;
        }
        if let Some(Name::Entry(id)) = selection.names_of(ino).first() {
            let path = display_path(&tree.path_of_entry(*id));
            diffs.report(ui, format!("{path}: (inode {ino}) not found on tape"))?;
        }
    }
    Ok(stream_error)
}

fn compare_waiting_xattrs(
    catalog: &Catalog,
    selection: &Selection,
    w: Waiting,
    dirs: &mut DirHandles,
    ui: &mut Ui,
    diffs: &mut Differences,
) -> Result<(), LimitReached> {
    let tree = &catalog.tree;
    let Some(Name::Entry(id)) = selection.names_of(w.header.inumber).first().copied() else {
        return Ok(());
    };
    if w.header.inode.file_type() == mode::S_IFSOCK {
        return Ok(());
    }
    let e = tree.entry(id);
    let path = display_path(&tree.path_of_entry(id));
    if let Ok(parent) = dirs.get(tree, e.parent) {
        if rfs::statat(
            parent.as_fd(),
            OsStr::from_bytes(e.name),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .is_ok()
        {
            compare_xattrs(&path, &w.xattrs, parent.as_fd(), e.name, ui, diffs)?;
        }
    }
    Ok(())
}

/// The other names of a hard-linked leaf must be the same inode.
#[allow(clippy::too_many_arguments)]
fn check_links(
    catalog: &Catalog,
    selection: &Selection,
    ino: u32,
    path: &str,
    parent: BorrowedFd<'_>,
    name: &[u8],
    dirs: &mut DirHandles,
    ui: &mut Ui,
    diffs: &mut Differences,
) -> Result<(), LimitReached> {
    let names = selection.names_of(ino);
    if names.len() < 2 {
        return Ok(());
    }
    let Ok(first) = rfs::statat(parent, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) else {
        return Ok(());
    };
    let tree = &catalog.tree;
    for n in &names[1..] {
        let Name::Entry(id) = n else { continue };
        let e = tree.entry(*id);
        let opath = display_path(&tree.path_of_entry(*id));
        let st = dirs.get(tree, e.parent).ok().and_then(|p| {
            rfs::statat(
                p.as_fd(),
                OsStr::from_bytes(e.name),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .ok()
        });
        match st {
            None => diffs.report(ui, format!("unable to stat {opath}"))?,
            Some(st) if (st.st_dev, st.st_ino) != (first.st_dev, first.st_ino) => {
                diffs.report(ui, format!("{opath}: is no longer a hard link to {path}"))?
            }
            Some(_) => {}
        }
    }
    Ok(())
}
