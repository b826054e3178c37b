//! What a filesystem holds, by path: used to sanity-check every tool's
//! output (dump listings, restored trees) against the image itself, read
//! through fsimage.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::hash::Hasher;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use fsimage::{FileType, Filesystem};

use crate::error::{Error, IoContext};

const ROOT_INO: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// Size and a hash of the contents.
    File {
        size: u64,
        hash: u64,
    },
    Symlink(Vec<u8>),
    Other,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// Inode number in the image (or in the restored filesystem).
    pub ino: u64,
    pub kind: Kind,
}

/// Paths as `restore -t` prints them ("." and "./a/b") to entries.
#[derive(Debug, Default)]
pub struct Manifest {
    pub entries: BTreeMap<Vec<u8>, Entry>,
}

impl Manifest {
    /// Walk the image from the root directory; with `hash_contents`, read
    /// every regular file's data (holes as zeros) and hash it.
    pub fn of_image(path: &Path, hash_contents: bool) -> Result<Manifest, Error> {
        let fs = Filesystem::open(path).map_err(|e| Error::fs(path, e))?;
        let mut m = Manifest::default();
        let mut seen_dirs = HashSet::new();
        let mut stack = vec![(b".".to_vec(), ROOT_INO)];
        let mut hashes: HashMap<u32, Kind> = HashMap::new();
        while let Some((p, ino)) = stack.pop() {
            let inode = fs.inode(ino).map_err(|e| Error::fs(path, e))?;
            let kind = match inode.file_type() {
                FileType::Directory => {
                    if !seen_dirs.insert(ino) {
                        return Err(Error::check(
                            path.display().to_string(),
                            format!("directory inode {ino} reached twice"),
                        ));
                    }
                    for de in fs.read_dir(&inode).map_err(|e| Error::fs(path, e))? {
                        if de.name == b"." || de.name == b".." {
                            continue;
                        }
                        let mut child = p.clone();
                        child.push(b'/');
                        child.extend_from_slice(&de.name);
                        stack.push((child, de.ino));
                    }
                    Kind::Dir
                }
                FileType::Regular => match hashes.get(&ino) {
                    Some(k) => k.clone(),
                    None => {
                        let hash = if hash_contents {
                            hash_image_file(&fs, &inode).map_err(|e| Error::fs(path, e))?
                        } else {
                            0
                        };
                        let k = Kind::File {
                            size: inode.size,
                            hash,
                        };
                        hashes.insert(ino, k.clone());
                        k
                    }
                },
                FileType::Symlink => {
                    Kind::Symlink(fs.symlink_target(&inode).map_err(|e| Error::fs(path, e))?)
                }
                _ => Kind::Other,
            };
            m.entries.insert(
                p,
                Entry {
                    ino: u64::from(ino),
                    kind,
                },
            );
        }
        Ok(m)
    }

    /// Walk a restored tree on disk. `skip` names top-level entries that the
    /// restore tool leaves behind on purpose (restore's `restoresymtable`).
    pub fn of_dir(root: &Path, skip: &[&str]) -> Result<Manifest, Error> {
        let mut m = Manifest::default();
        let mut stack = vec![(b".".to_vec(), root.to_path_buf())];
        while let Some((p, real)) = stack.pop() {
            let md = std::fs::symlink_metadata(&real).ctx(|| format!("stat {}", real.display()))?;
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                for de in std::fs::read_dir(&real).ctx(|| format!("reading {}", real.display()))? {
                    let de = de.ctx(|| format!("reading {}", real.display()))?;
                    let name = de.file_name();
                    if p == b"." && skip.iter().any(|s| name.as_bytes() == s.as_bytes()) {
                        continue;
                    }
                    let mut child = p.clone();
                    child.push(b'/');
                    child.extend_from_slice(name.as_bytes());
                    stack.push((child, de.path()));
                }
                Kind::Dir
            } else if ft.is_file() {
                Kind::File {
                    size: md.len(),
                    hash: hash_disk_file(&real)?,
                }
            } else if ft.is_symlink() {
                let t = std::fs::read_link(&real).ctx(|| format!("readlink {}", real.display()))?;
                Kind::Symlink(t.as_os_str().as_bytes().to_vec())
            } else {
                Kind::Other
            };
            m.entries.insert(
                p,
                Entry {
                    ino: md.ino(),
                    kind,
                },
            );
        }
        Ok(m)
    }

    /// Compare a `restore -t` style listing (inode number, tab, path) with
    /// this manifest: the same paths with the same inode numbers.
    pub fn check_listing(&self, what: &str, listing: &[u8]) -> Result<usize, Error> {
        let mut listed: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for line in listing.split(|&b| b == b'\n') {
            let Some(tab) = line.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let num = String::from_utf8_lossy(&line[..tab]);
            let Ok(ino) = num.trim().parse::<u64>() else {
                continue;
            };
            let mut path = line[tab + 1..].to_vec();
            // restore -t marks directories with a trailing '/' in some modes.
            if path.len() > 1 && path.ends_with(b"/") {
                path.pop();
            }
            listed.insert(path, ino);
        }
        let mut problems = Vec::new();
        for (p, e) in &self.entries {
            match listed.get(p) {
                None => problems.push(format!("missing {}", String::from_utf8_lossy(p))),
                Some(&ino) if ino != e.ino => problems.push(format!(
                    "{} listed as inode {ino}, image has {}",
                    String::from_utf8_lossy(p),
                    e.ino
                )),
                Some(_) => {}
            }
        }
        for p in listed.keys() {
            if !self.entries.contains_key(p) {
                problems.push(format!("unexpected {}", String::from_utf8_lossy(p)));
            }
        }
        if problems.is_empty() {
            Ok(listed.len())
        } else {
            let n = problems.len();
            problems.truncate(5);
            Err(Error::check(
                what,
                format!(
                    "{n} differences from the image, e.g. {}",
                    problems.join("; ")
                ),
            ))
        }
    }

    /// Compare a restored tree with the image: same paths, types, sizes,
    /// contents, symlink targets, and hard links still shared.
    pub fn check_restored(&self, what: &str, restored: &Manifest) -> Result<(), Error> {
        let mut problems = Vec::new();
        let mut link_map: HashMap<u64, u64> = HashMap::new();
        for (p, e) in &self.entries {
            let shown = String::from_utf8_lossy(p);
            match restored.entries.get(p) {
                None => problems.push(format!("missing {shown}")),
                Some(r) if r.kind != e.kind => problems.push(format!(
                    "{shown} differs ({:?} vs {:?})",
                    short(&r.kind),
                    short(&e.kind)
                )),
                Some(r) => {
                    if matches!(e.kind, Kind::File { .. }) {
                        let first = *link_map.entry(e.ino).or_insert(r.ino);
                        if first != r.ino {
                            problems.push(format!("{shown} is no longer a hard link"));
                        }
                    }
                }
            }
        }
        for p in restored.entries.keys() {
            if !self.entries.contains_key(p) {
                problems.push(format!("unexpected {}", String::from_utf8_lossy(p)));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let n = problems.len();
            problems.truncate(5);
            Err(Error::check(
                what,
                format!(
                    "{n} differences from the image, e.g. {}",
                    problems.join("; ")
                ),
            ))
        }
    }
}

fn short(k: &Kind) -> String {
    match k {
        Kind::Dir => "dir".into(),
        Kind::File { size, .. } => format!("file of {size} bytes"),
        Kind::Symlink(t) => format!("symlink to {}", String::from_utf8_lossy(t)),
        Kind::Other => "special".into(),
    }
}

fn hash_image_file(fs: &Filesystem, inode: &fsimage::Inode) -> Result<u64, fsimage::Error> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(data) = fs.inline_data(inode)? {
        h.write(&data);
        return Ok(h.finish());
    }
    let bs = u64::from(fs.block_size());
    let mut buf = vec![0u8; 1 << 20];
    let mut left = inode.size;
    for run in fs.data_runs(inode)? {
        let mut r = run;
        while r.len > 0 && left > 0 {
            let blocks = r.len.min(buf.len() as u64 / bs);
            let bytes = (blocks * bs).min(left) as usize;
            let part = fsimage::Run { len: blocks, ..r };
            fs.read_file_blocks(inode, &part, &mut buf[..bytes])?;
            h.write(&buf[..bytes]);
            left -= bytes as u64;
            r.len -= blocks;
            r.logical += blocks;
            if r.kind == fsimage::RunKind::Data {
                r.physical += blocks;
            }
        }
    }
    Ok(h.finish())
}

fn hash_disk_file(path: &Path) -> Result<u64, Error> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .ctx(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.write(&buf[..n]);
    }
    Ok(h.finish())
}
