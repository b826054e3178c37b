//! Turns the filesystem argument into the device or image to read and the
//! names dump records in the volume header (c_dev, c_filesys).
//!
//! Accepted: a block device, an image file, the mount point of an ext2/3/4
//! filesystem, `LABEL=name` or `UUID=uuid`. Mount points are looked up in
//! /proc/mounts (dump reads /etc/fstab first; /proc/mounts is what is really
//! mounted), labels and UUIDs through udev's /dev/disk/by-label and by-uuid.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// dump's c_filesys for a device that is not mounted.
pub const UNLISTED: &str = "an unlisted file system";

/// The result of resolving the filesystem argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What to open and read.
    pub device: PathBuf,
    /// c_dev: the device name as dump records it.
    pub dev_name: String,
    /// c_filesys: the mount point, or [`UNLISTED`]; for a subtree dump,
    /// the mount point and `(dir /first/path)`, as dump writes it.
    pub filesys: String,
    /// A subtree dump ("files and directories" mode): the paths to dump
    /// relative to the mount point, as dump cuts them (the mount point's
    /// characters taken off: "/deep" under /mnt, "dev/x" under /). Empty for
    /// a whole filesystem.
    pub subtree: Vec<String>,
}

#[derive(Debug, Error)]
pub enum ResolveError {
    #[error("Cannot find a filesystem with {kind}={value} (no {path})")]
    UnknownTag {
        kind: &'static str,
        value: String,
        path: PathBuf,
    },
    #[error("Cannot open {path}: {source}")]
    Inaccessible { path: String, source: io::Error },
    #[error("{path} is not on a mounted filesystem (no mount point above it in the mount table)")]
    NotAMountPoint { path: String },
    #[error("{path} is not on {device} mounted at {dir} (a filesystem mounted below it?)")]
    OtherFilesystem {
        path: String,
        device: String,
        dir: String,
    },
    #[error("Files are not on same file system ({path}).")]
    NotSameFilesystem { path: String },
    #[error("{path} is mounted from {device} as {fstype}, not as ext2/ext3/ext4")]
    NotExt {
        path: String,
        device: String,
        fstype: String,
    },
    #[error("{path} is neither a block device, an image file nor a mount point")]
    Unsupported { path: String },
    #[error("Cannot read {path}: {source}")]
    MountTable { path: PathBuf, source: io::Error },
}

/// One line of /proc/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub source: String,
    pub dir: String,
    pub fstype: String,
}

/// Where the lookups happen; tests point these at temporary files.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub mounts: PathBuf,
    pub disk_dir: PathBuf,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            mounts: PathBuf::from("/proc/mounts"),
            disk_dir: PathBuf::from("/dev/disk"),
        }
    }
}

impl Resolver {
    pub fn resolve(&self, arg: &str) -> Result<Resolved, ResolveError> {
        let arg = trim_trailing_slash(arg);
        if let Some(label) = arg.strip_prefix("LABEL=") {
            let dev = self.by_tag("LABEL", "by-label", label)?;
            return self.device(&dev.to_string_lossy(), &dev);
        }
        if let Some(uuid) = arg.strip_prefix("UUID=") {
            let dev = self.by_tag("UUID", "by-uuid", uuid)?;
            return self.device(&dev.to_string_lossy(), &dev);
        }
        let path = Path::new(arg);
        let meta = fs::metadata(path).map_err(|source| ResolveError::Inaccessible {
            path: arg.to_string(),
            source,
        })?;
        let ft = meta.file_type();
        if ft.is_dir() {
            match self.mount_point(arg, path) {
                Err(ResolveError::NotAMountPoint { .. }) => self.subtree(arg, path),
                other => other,
            }
        } else if ft.is_block_device() || ft.is_file() {
            self.device(arg, path)
        } else {
            Err(ResolveError::Unsupported {
                path: arg.to_string(),
            })
        }
    }

    /// A device or image: record it as given; c_filesys is its mount point
    /// when it is mounted.
    fn device(&self, name: &str, path: &Path) -> Result<Resolved, ResolveError> {
        let canonical = fs::canonicalize(path).ok();
        let filesys = if path
            .metadata()
            .is_ok_and(|m| m.file_type().is_block_device())
        {
            self.mount_table()?
                .into_iter()
                .rev()
                .find(|m| {
                    m.source.starts_with('/')
                        && fs::canonicalize(&m.source)
                            .ok()
                            .is_some_and(|c| Some(c) == canonical)
                })
                .map(|m| m.dir)
        } else {
            None
        };
        Ok(Resolved {
            device: path.to_path_buf(),
            dev_name: name.to_string(),
            filesys: filesys.unwrap_or_else(|| UNLISTED.to_string()),
            subtree: Vec::new(),
        })
    }

    fn mount_point(&self, arg: &str, path: &Path) -> Result<Resolved, ResolveError> {
        let canonical = fs::canonicalize(path).map_err(|source| ResolveError::Inaccessible {
            path: arg.to_string(),
            source,
        })?;
        let canonical = canonical.to_string_lossy().into_owned();
        // The last entry for a directory is the one on top.
        let entry = self
            .mount_table()?
            .into_iter()
            .rev()
            .find(|m| m.dir == canonical)
            .ok_or_else(|| ResolveError::NotAMountPoint {
                path: arg.to_string(),
            })?;
        if !matches!(entry.fstype.as_str(), "ext2" | "ext3" | "ext4") {
            return Err(ResolveError::NotExt {
                path: arg.to_string(),
                device: entry.source,
                fstype: entry.fstype,
            });
        }
        Ok(Resolved {
            device: PathBuf::from(&entry.source),
            dev_name: entry.source.clone(),
            filesys: entry.dir,
            subtree: Vec::new(),
        })
    }

    /// A directory or file inside a mounted ext2/3/4 filesystem: a subtree
    /// dump of it, recorded as dump does ("/mnt (dir /some/dir)").
    fn subtree(&self, arg: &str, path: &Path) -> Result<Resolved, ResolveError> {
        let (entry, rel) = self.containing(arg, path)?;
        if !matches!(entry.fstype.as_str(), "ext2" | "ext3" | "ext4") {
            return Err(ResolveError::NotExt {
                path: arg.to_string(),
                device: entry.source,
                fstype: entry.fstype,
            });
        }
        Ok(Resolved {
            device: PathBuf::from(&entry.source),
            dev_name: entry.source.clone(),
            filesys: format!("{} (dir {rel})", entry.dir),
            subtree: vec![rel],
        })
    }

    /// Adds one more path (a directory or a file) to a subtree dump: it
    /// must be on the same mounted filesystem (dump: "Files are not on same
    /// file system"). A file as the first argument is an image instead.
    pub fn add_path(&self, resolved: &mut Resolved, arg: &str) -> Result<(), ResolveError> {
        let arg = trim_trailing_slash(arg);
        let (entry, rel) = self.containing(arg, Path::new(arg))?;
        if resolved.subtree.is_empty() || Path::new(&entry.source) != resolved.device {
            return Err(ResolveError::NotSameFilesystem {
                path: arg.to_string(),
            });
        }
        resolved.subtree.push(rel);
        Ok(())
    }

    /// The mount holding `path` (the deepest mount point above it, the one
    /// mounted last among equals) and the path with the mount point's
    /// characters taken off, after checking that the path really is on
    /// that mount's device.
    fn containing(&self, arg: &str, path: &Path) -> Result<(MountEntry, String), ResolveError> {
        let inaccessible = |source| ResolveError::Inaccessible {
            path: arg.to_string(),
            source,
        };
        let canonical = fs::canonicalize(path).map_err(inaccessible)?;
        let canonical = canonical.to_string_lossy().into_owned();
        let entry = self
            .mount_table()?
            .into_iter()
            .rev()
            .filter(|m| is_under(&canonical, &m.dir))
            .fold(None, |best: Option<MountEntry>, m| match best {
                Some(b) if b.dir.len() >= m.dir.len() => Some(b),
                _ => Some(m),
            })
            .ok_or_else(|| ResolveError::NotAMountPoint {
                path: arg.to_string(),
            })?;
        let path_dev = fs::metadata(&canonical).map_err(inaccessible)?.dev();
        if let Ok(dev) = fs::metadata(&entry.source) {
            if dev.file_type().is_block_device() && dev.rdev() != path_dev {
                return Err(ResolveError::OtherFilesystem {
                    path: arg.to_string(),
                    device: entry.source,
                    dir: entry.dir,
                });
            }
        }
        let rel = canonical[entry.dir.len()..].to_string();
        Ok((entry, rel))
    }

    pub(crate) fn by_tag(
        &self,
        kind: &'static str,
        dir: &str,
        value: &str,
    ) -> Result<PathBuf, ResolveError> {
        let base = self.disk_dir.join(dir);
        let mut candidates = vec![base.join(udev_escape(value))];
        if kind == "UUID" {
            candidates.push(base.join(value.to_ascii_lowercase()));
        }
        for c in &candidates {
            if let Ok(dev) = fs::canonicalize(c) {
                return Ok(dev);
            }
        }
        Err(ResolveError::UnknownTag {
            kind,
            value: value.to_string(),
            path: candidates.swap_remove(0),
        })
    }

    fn mount_table(&self) -> Result<Vec<MountEntry>, ResolveError> {
        let text = fs::read_to_string(&self.mounts).map_err(|source| ResolveError::MountTable {
            path: self.mounts.clone(),
            source,
        })?;
        Ok(parse_mounts(&text))
    }
}

/// Whether `path` (canonical) is `dir` or below it.
fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// dump strips one trailing slash ("/mnt/" is "/mnt"), but keeps "/" and "LABEL=/".
fn trim_trailing_slash(arg: &str) -> &str {
    if arg.len() > 1 && arg.ends_with('/') && arg != "LABEL=/" {
        &arg[..arg.len() - 1]
    } else {
        arg
    }
}

/// Parses /proc/mounts (fields are octal-escaped: `\040` for a space).
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let source = unescape_mount_field(f.next()?);
            let dir = unescape_mount_field(f.next()?);
            let fstype = unescape_mount_field(f.next()?);
            Some(MountEntry {
                source,
                dir,
                fstype,
            })
        })
        .collect()
}

fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                // Values above 0o377 are not produced by the kernel; keep the low byte.
                out.push((v & 0xff) as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// udev's encoding of a label in /dev/disk/by-label: characters other than
/// ASCII alphanumerics, "#+-.:=@_" and UTF-8 sequences become `\xNN`.
pub fn udev_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn mounts_are_unescaped() {
        let m = parse_mounts("/dev/sda1 /mnt/my\\040disk ext4 rw 0 0\nproc /proc proc rw 0 0\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].dir, "/mnt/my disk");
        assert_eq!(m[0].fstype, "ext4");
        assert_eq!(m[1].source, "proc");
        assert_eq!(unescape_mount_field("a\\134b\\"), "a\\b\\");
    }

    #[test]
    fn udev_escaping() {
        assert_eq!(udev_escape("my disk/1"), "my\\x20disk\\x2f1");
        assert_eq!(udev_escape("Root_FS-2.0"), "Root_FS-2.0");
    }

    #[test]
    fn trailing_slash() {
        assert_eq!(trim_trailing_slash("/mnt/"), "/mnt");
        assert_eq!(trim_trailing_slash("/"), "/");
        assert_eq!(trim_trailing_slash("LABEL=/"), "LABEL=/");
    }

    fn fixture() -> (tempfile::TempDir, Resolver) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("disk/by-label")).unwrap();
        fs::create_dir_all(root.join("disk/by-uuid")).unwrap();
        fs::create_dir_all(root.join("mnt/data")).unwrap();
        fs::create_dir_all(root.join("mnt/plain")).unwrap();
        fs::create_dir_all(root.join("mnt/tmp")).unwrap();
        fs::write(root.join("image.ext4"), b"").unwrap();
        symlink(
            root.join("image.ext4"),
            root.join("disk/by-label/my\\x20label"),
        )
        .unwrap();
        symlink(root.join("image.ext4"), root.join("disk/by-uuid/0123-abcd")).unwrap();
        let data = fs::canonicalize(root.join("mnt/data")).unwrap();
        let tmp = fs::canonicalize(root.join("mnt/tmp")).unwrap();
        fs::write(
            root.join("mounts"),
            format!(
                "/dev/sdz1 {} ext4 rw 0 0\ntmpfs {} tmpfs rw 0 0\n",
                data.display(),
                tmp.display()
            ),
        )
        .unwrap();
        let r = Resolver {
            mounts: root.join("mounts"),
            disk_dir: root.join("disk"),
        };
        (dir, r)
    }

    #[test]
    fn image_file() {
        let (dir, r) = fixture();
        let img = dir.path().join("image.ext4");
        let got = r.resolve(img.to_str().unwrap()).unwrap();
        assert_eq!(got.device, img);
        assert_eq!(got.dev_name, img.to_str().unwrap());
        assert_eq!(got.filesys, UNLISTED);
    }

    #[test]
    fn labels_and_uuids() {
        let (dir, r) = fixture();
        let img = fs::canonicalize(dir.path().join("image.ext4")).unwrap();
        assert_eq!(r.resolve("LABEL=my label").unwrap().device, img);
        assert_eq!(r.resolve("UUID=0123-ABCD").unwrap().device, img);
        let err = r.resolve("LABEL=nope").unwrap_err();
        assert!(err.to_string().contains("LABEL=nope"), "{err}");
    }

    #[test]
    fn mount_points() {
        let (dir, r) = fixture();
        let data = dir.path().join("mnt/data/");
        let got = r.resolve(data.to_str().unwrap()).unwrap();
        assert_eq!(got.device, PathBuf::from("/dev/sdz1"));
        assert_eq!(got.dev_name, "/dev/sdz1");
        assert_eq!(
            got.filesys,
            fs::canonicalize(dir.path().join("mnt/data"))
                .unwrap()
                .to_str()
                .unwrap()
        );
        let plain = r.resolve(dir.path().join("mnt/plain").to_str().unwrap());
        assert!(matches!(plain, Err(ResolveError::NotAMountPoint { .. })));
        let tmp = r.resolve(dir.path().join("mnt/tmp").to_str().unwrap());
        assert!(matches!(tmp, Err(ResolveError::NotExt { .. })));
    }

    #[test]
    fn missing_path() {
        let (dir, r) = fixture();
        let err = r
            .resolve(dir.path().join("nothing").to_str().unwrap())
            .unwrap_err();
        assert!(err.to_string().starts_with("Cannot open"), "{err}");
    }
}
