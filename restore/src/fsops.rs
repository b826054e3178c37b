//! Path-safe filesystem operations for writing restored files.
//!
//! A dump is untrusted input, and so may be the directory we restore into.
//! Everything here works relative to open directory handles: a name handed
//! to these functions is a single component (checked by
//! [`check_component`]), directories are entered with
//! `O_DIRECTORY|O_NOFOLLOW`, files are opened with `O_NOFOLLOW`, and
//! attributes are set through file descriptors or `*at(…, NOFOLLOW)` calls.
//! So neither a symbolic link restored from the dump nor one already in the
//! target can redirect a write outside the target directory.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, CWD};
use thiserror::Error;

/// A name that must not be used as a file name (see [`check_component`]).
#[derive(Debug, Error)]
#[error("unsafe file name {name:?}: {reason}")]
pub struct UnsafeName {
    pub name: String,
    pub reason: &'static str,
}

/// Refuses names that are not a single, ordinary path component.
pub fn check_component(name: &[u8]) -> Result<&OsStr, UnsafeName> {
    match crate::tree::name_problem(name) {
        None => Ok(OsStr::from_bytes(name)),
        Some(reason) => Err(UnsafeName {
            name: String::from_utf8_lossy(name).into_owned(),
            reason,
        }),
    }
}

fn unsafe_name_error(e: UnsafeName) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Opens the directory restored into (the only path that is followed as
/// given; the user chose it).
pub fn open_target_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens subdirectory `name` of `parent`, refusing symbolic links.
pub fn open_dir_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    let name = check_component(name).map_err(unsafe_name_error)?;
    Ok(rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Creates directory `name` in `parent` (mode 0700 until its attributes are
/// set at the end). Returns false if a directory of that name existed.
pub fn make_dir_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
    let name = check_component(name).map_err(unsafe_name_error)?;
    match rfs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::EXIST) => {
            let st = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                Ok(false)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                ))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// What is at `name` in `parent`, without following a symbolic link.
pub fn kind_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<FileType>> {
    let name = check_component(name).map_err(unsafe_name_error)?;
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes a non-directory `name` from `parent` if it exists.
pub fn remove_leaf_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let name = check_component(name).map_err(unsafe_name_error)?;
    match rfs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes room for a new non-directory `name`: with `unlink_first`, or when
/// what is there is not a regular file (a symbolic link, device, FIFO…),
/// it is removed, so that creating the new file can never write through
/// it. A directory in the way is an error.
fn clear_for_leaf(parent: BorrowedFd<'_>, name: &[u8], unlink_first: bool) -> io::Result<()> {
    match kind_at(parent, name)? {
        None => Ok(()),
        Some(FileType::Directory) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a directory is in the way",
        )),
        Some(FileType::RegularFile) if !unlink_first => Ok(()),
        Some(_) => remove_leaf_at(parent, name),
    }
}

/// Creates (or truncates) regular file `name` in `parent` for writing.
pub fn create_file_at(
    parent: BorrowedFd<'_>,
    name: &[u8],
    unlink_first: bool,
) -> io::Result<OwnedFd> {
    let os = check_component(name).map_err(unsafe_name_error)?;
    // Fast path, the usual case in a fresh target: nothing is there.
    // O_CREAT|O_EXCL creates a new regular file or fails with EEXIST; it
    // never follows a symbolic link (not even a dangling one) nor opens
    // what was already there, so no probe before and no fstat after are
    // needed.
    match rfs::openat(
        parent,
        os,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    // Something is there: replace it, or truncate a regular file in place.
    clear_for_leaf(parent, name, unlink_first)?;
    // NOFOLLOW: a symlink planted after the check makes open fail (ELOOP)
    // instead of redirecting the write; NONBLOCK: a FIFO planted there
    // makes it fail (ENXIO) instead of hanging. The fstat below refuses
    // anything that is not a regular file.
    let fd = rfs::openat(
        parent,
        os,
        OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::TRUNC
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let st = rfs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(fd)
}

/// Runs `create` (a mknodat, symlinkat or linkat of `name` in `parent`);
/// if the name is taken, removes what is there (unless it is a directory)
/// and runs it once more. Trying first spares a probe per name in a fresh
/// target; what ends up there is the same as removing first.
fn create_replacing(
    parent: BorrowedFd<'_>,
    name: &[u8],
    mut create: impl FnMut() -> rustix::io::Result<()>,
) -> io::Result<()> {
    match create() {
        Err(rustix::io::Errno::EXIST) => {
            clear_for_leaf(parent, name, true)?;
            Ok(create()?)
        }
        other => Ok(other?),
    }
}

/// Creates a FIFO, socket or device node. An old node in the way (e.g.
/// -x over an earlier restore) is replaced, as `restore -u` would.
pub fn make_node_at(
    parent: BorrowedFd<'_>,
    name: &[u8],
    kind: FileType,
    rdev: (u32, u32),
    unlink_first: bool,
) -> io::Result<()> {
    let os = check_component(name).map_err(unsafe_name_error)?;
    if unlink_first {
        clear_for_leaf(parent, name, true)?;
    }
    let dev = match kind {
        FileType::CharacterDevice | FileType::BlockDevice => rfs::makedev(rdev.0, rdev.1),
        _ => 0,
    };
    create_replacing(parent, name, || {
        rfs::mknodat(parent, os, kind, Mode::from_raw_mode(0o600), dev)
    })
}

/// The file of an inode dumped as metadata only (dump -m), whose data an
/// earlier level restored: moved back from `held` (a changed inode's old
/// file in the holding directory of an incremental -r) when it is there,
/// else found at `name`. It must be of the dumped kind. A regular file is
/// opened (read-only) so that its attributes, flags included, are set
/// through the descriptor.
pub fn take_existing(
    parent: BorrowedFd<'_>,
    name: &[u8],
    held: Option<&(std::sync::Arc<OwnedFd>, Vec<u8>)>,
    is_symlink: bool,
    is_file: bool,
) -> io::Result<Option<OwnedFd>> {
    let os = check_component(name).map_err(unsafe_name_error)?;
    if let Some((dir, held_name)) = held {
        let from = check_component(held_name).map_err(unsafe_name_error)?;
        // NOREPLACE: never put it over whatever is at the name.
        match rfs::renameat_with(dir, from, parent, os, rfs::RenameFlags::NOREPLACE) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let wrong = |what: &str| {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("metadata only on this dump (its data is on an earlier level) and {what}"),
        ))
    };
    match kind_at(parent, name)? {
        None => wrong("no file of an earlier restore is here"),
        Some(FileType::Symlink) if is_symlink => Ok(None),
        Some(FileType::RegularFile) if is_file => rfs::openat(
            parent,
            os,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(Some)
        .map_err(Into::into),
        Some(FileType::Directory) => wrong("a directory is here"),
        Some(_) if is_symlink || is_file => wrong("what is here is of another kind"),
        Some(_) => Ok(None),
    }
}

/// Creates symbolic link `name` -> `target` (the target is stored as is and
/// never followed by rrestore).
pub fn make_symlink_at(
    parent: BorrowedFd<'_>,
    name: &[u8],
    target: &[u8],
    unlink_first: bool,
) -> io::Result<()> {
    let os = check_component(name).map_err(unsafe_name_error)?;
    if unlink_first {
        clear_for_leaf(parent, name, true)?;
    }
    create_replacing(parent, name, || {
        rfs::symlinkat(OsStr::from_bytes(target), parent, os)
    })
}

/// Makes `new_name` in `new_parent` another name of `old_name` in
/// `old_parent` (the link itself, never what a symlink points to).
pub fn hard_link_at(
    old_parent: BorrowedFd<'_>,
    old_name: &[u8],
    new_parent: BorrowedFd<'_>,
    new_name: &[u8],
    unlink_first: bool,
) -> io::Result<()> {
    let old = check_component(old_name).map_err(unsafe_name_error)?;
    let new = check_component(new_name).map_err(unsafe_name_error)?;
    if unlink_first {
        clear_for_leaf(new_parent, new_name, true)?;
    }
    create_replacing(new_parent, new_name, || {
        rfs::linkat(old_parent, old, new_parent, new, AtFlags::empty())
    })
}

/// A nanosecond timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// Inode flags (`chattr`) rrestore sets: those a user may change on ext4
/// and that mean the same on other filesystems. Flags describing on-disk
/// layout (extents, inline data, htree index, huge file…) are left alone.
pub const RESTORABLE_FLAGS: u32 = 0x0000_00FF // secrm unrm compr sync immutable append nodump noatime
    | 0x0000_4000 // journal data
    | 0x0000_8000 // notail
    | 0x0001_0000 // dirsync
    | 0x0002_0000 // topdir
    | 0x0080_0000 // nocow
    | 0x2000_0000; // project inherit

/// Attributes restored on a file after its contents.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    /// Full mode including the file type bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: Time,
    pub mtime: Time,
    /// ext2 inode flags as dumped (masked with [`RESTORABLE_FLAGS`]).
    pub flags: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// How to reach a just-created file to set its attributes.
pub enum Node<'a> {
    /// An open regular file or directory.
    Fd(BorrowedFd<'a>),
    /// A symlink, FIFO, socket or device: reached as `name` in `parent`
    /// without following links (never opened: opening a device or FIFO
    /// has side effects).
    At {
        parent: BorrowedFd<'a>,
        name: &'a [u8],
        is_symlink: bool,
    },
}

/// One attribute that could not be set (restore warns and goes on).
#[derive(Debug)]
pub struct AttrFailure {
    pub what: String,
    pub error: io::Error,
}

fn timestamps(a: &Attrs) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: a.atime.sec,
            tv_nsec: a.atime.nsec.min(999_999_999) as _,
        },
        last_modification: Timespec {
            tv_sec: a.mtime.sec,
            tv_nsec: a.mtime.nsec.min(999_999_999) as _,
        },
    }
}

/// `/proc/self/fd/N/name`: reaches `name` inside the exact directory `fd`
/// refers to (the kernel resolves the magic link to that directory, not by
/// path), for calls that have no `*at` form (lsetxattr).
fn proc_path(parent: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    p
}

/// Sets owner, mode, xattrs, times and flags, in that order: chown clears
/// set-id bits so chmod follows it; the immutable/append-only flags would
/// forbid everything else so they come last. Returns what failed.
pub fn apply_attrs(node: &Node<'_>, a: &Attrs, set_flags: bool) -> Vec<AttrFailure> {
    let mut failures = Vec::new();
    let mut fail = |what: &str, e: io::Error| {
        failures.push(AttrFailure {
            what: what.to_string(),
            error: e,
        })
    };
    let uid = Some(rfs::Uid::from_raw(a.uid));
    let gid = Some(rfs::Gid::from_raw(a.gid));
    let perm = Mode::from_raw_mode(a.mode & 0o7777);
    let times = timestamps(a);
    match node {
        Node::Fd(fd) => {
            if let Err(e) = rfs::fchown(fd, uid, gid) {
                fail("chown", e.into());
            }
            if let Err(e) = rfs::fchmod(fd, perm) {
                fail("chmod", e.into());
            }
            for (name, value) in &a.xattrs {
                if let Err(e) =
                    rfs::fsetxattr(fd, OsStr::from_bytes(name), value, rfs::XattrFlags::empty())
                {
                    fail(
                        &format!("EA set {}", String::from_utf8_lossy(name)),
                        e.into(),
                    );
                }
            }
            if let Err(e) = rfs::futimens(fd, &times) {
                fail("utimes", e.into());
            }
            if set_flags {
                if let Err(e) = set_inode_flags(*fd, a.flags) {
                    fail("set flags", e);
                }
            }
        }
        Node::At {
            parent,
            name,
            is_symlink,
        } => {
            let os = match check_component(name) {
                Ok(os) => os,
                Err(e) => {
                    fail("name", unsafe_name_error(e));
                    return failures;
                }
            };
            if let Err(e) = rfs::chownat(parent, os, uid, gid, AtFlags::SYMLINK_NOFOLLOW) {
                fail("chown", e.into());
            }
            if !is_symlink {
                // No fchmodat(NOFOLLOW) on Linux: go through an O_PATH
                // descriptor opened without following, and verify it is
                // not a symlink before chmod-ing via /proc.
                match rfs::openat(
                    parent,
                    os,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => match rfs::fstat(&fd) {
                        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Symlink => {
                            use std::os::fd::AsRawFd;
                            let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
                            if let Err(e) = rfs::chmodat(CWD, p.as_str(), perm, AtFlags::empty()) {
                                fail("chmod", e.into());
                            }
                        }
                        Ok(_) => fail(
                            "chmod",
                            io::Error::new(io::ErrorKind::InvalidInput, "became a symlink"),
                        ),
                        Err(e) => fail("chmod", e.into()),
                    },
                    Err(e) => fail("chmod", e.into()),
                }
            }
            if !a.xattrs.is_empty() {
                let p = proc_path(*parent, name);
                for (xname, value) in &a.xattrs {
                    if let Err(e) = rfs::lsetxattr(
                        OsStr::from_bytes(&p),
                        OsStr::from_bytes(xname),
                        value,
                        rfs::XattrFlags::empty(),
                    ) {
                        fail(
                            &format!("EA set {}", String::from_utf8_lossy(xname)),
                            e.into(),
                        );
                    }
                }
            }
            if let Err(e) = rfs::utimensat(parent, os, &times, AtFlags::SYMLINK_NOFOLLOW) {
                fail("utimes", e.into());
            }
        }
    }
    failures
}

/// Sets the restorable inode flags, keeping flags the target filesystem
/// manages itself. A filesystem without inode flags is not an error when
/// there is nothing to set.
pub fn set_inode_flags(fd: BorrowedFd<'_>, flags: u32) -> io::Result<()> {
    let wanted = flags & RESTORABLE_FLAGS;
    let current = match rfs::ioctl_getflags(fd) {
        Ok(f) => f.bits(),
        Err(e) if wanted == 0 => {
            let _ = e;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let new = (current & !RESTORABLE_FLAGS) | wanted;
    if new == current {
        return Ok(());
    }
    Ok(rfs::ioctl_setflags(fd, rfs::IFlags::from_bits_retain(new))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rrestore-fsops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn refuses_unsafe_components() {
        let d = tmpdir("names");
        let root = open_target_root(&d).unwrap();
        for bad in [&b""[..], b".", b"..", b"a/b", b"x\0y", b"../etc"] {
            assert!(create_file_at(root.as_fd(), bad, false).is_err(), "{bad:?}");
            assert!(make_dir_at(root.as_fd(), bad).is_err(), "{bad:?}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_writes_through_a_symlink() {
        let d = tmpdir("symlink");
        let outside = d.join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let inside = d.join("target");
        std::fs::create_dir(&inside).unwrap();
        std::os::unix::fs::symlink(&outside, inside.join("link")).unwrap();
        std::os::unix::fs::symlink(&d, inside.join("dirlink")).unwrap();
        let root = open_target_root(&inside).unwrap();

        // A symlinked directory is not entered.
        assert!(open_dir_at(root.as_fd(), b"dirlink").is_err());
        // Creating a file where a symlink is replaces the link itself.
        let fd = create_file_at(root.as_fd(), b"link", false).unwrap();
        rustix::io::write(&fd, b"new").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert_eq!(std::fs::read(inside.join("link")).unwrap(), b"new");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn creates_nodes_and_sets_attributes() {
        let d = tmpdir("attrs");
        let root = open_target_root(&d).unwrap();
        assert!(make_dir_at(root.as_fd(), b"sub").unwrap());
        assert!(!make_dir_at(root.as_fd(), b"sub").unwrap());
        let sub = open_dir_at(root.as_fd(), b"sub").unwrap();
        make_node_at(sub.as_fd(), b"fifo", FileType::Fifo, (0, 0), false).unwrap();
        make_symlink_at(sub.as_fd(), b"sym", b"../nowhere", false).unwrap();
        let f = create_file_at(sub.as_fd(), b"file", false).unwrap();
        hard_link_at(sub.as_fd(), b"file", root.as_fd(), b"hard", false).unwrap();
        let attrs = Attrs {
            mode: 0o100640,
            uid: 1234,
            gid: 5678,
            atime: Time {
                sec: 1_000_000_000,
                nsec: 123_456_789,
            },
            mtime: Time {
                sec: 1_100_000_000,
                nsec: 987_654_321,
            },
            flags: 0,
            xattrs: vec![(b"user.k".to_vec(), b"v".to_vec())],
        };
        let failures = apply_attrs(&Node::Fd(f.as_fd()), &attrs, true);
        let md = std::fs::metadata(d.join("hard")).unwrap();
        if rustix::process::geteuid().is_root() {
            assert!(
                failures.iter().all(|f| f.what.starts_with("EA")),
                "{failures:?}"
            );
            assert_eq!((md.uid(), md.gid()), (1234, 5678));
        }
        assert_eq!(md.mode() & 0o7777, 0o640);
        assert_eq!((md.mtime(), md.mtime_nsec()), (1_100_000_000, 987_654_321));
        let fifo_attrs = Attrs {
            mode: 0o010604,
            ..attrs.clone()
        };
        let failures = apply_attrs(
            &Node::At {
                parent: sub.as_fd(),
                name: b"fifo",
                is_symlink: false,
            },
            &fifo_attrs,
            false,
        );
        assert!(
            failures
                .iter()
                .all(|f| f.what != "chmod" && f.what != "utimes"),
            "{failures:?}"
        );
        let md = std::fs::symlink_metadata(d.join("sub/fifo")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o604);
        assert_eq!(md.atime(), 1_000_000_000);
        let link_attrs = Attrs {
            mode: 0o120777,
            xattrs: vec![],
            ..attrs
        };
        let failures = apply_attrs(
            &Node::At {
                parent: sub.as_fd(),
                name: b"sym",
                is_symlink: true,
            },
            &link_attrs,
            false,
        );
        assert!(failures.iter().all(|f| f.what != "utimes"), "{failures:?}");
        assert_eq!(
            std::fs::read_link(d.join("sub/sym")).unwrap(),
            Path::new("../nowhere")
        );
        assert_eq!(
            std::fs::symlink_metadata(d.join("sub/sym"))
                .unwrap()
                .mtime(),
            1_100_000_000
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
