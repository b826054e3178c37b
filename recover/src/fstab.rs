//! /etc/fstab read straight out of an unmounted root filesystem (through
//! fsimage), its lines resolved to the plan's partitions, and the mount order.

use fsimage::{FileType, Filesystem};

use crate::plan::{Mount, Place};

/// The most of /etc/fstab read: a real one is a few KiB.
const MAX_FSTAB: u64 = 1 << 20;

/// Looks `path` (absolute, no symlinks followed) up from the root inode.
fn lookup(fs: &Filesystem, path: &str) -> Result<Option<u32>, fsimage::Error> {
    let mut ino = 2;
    for name in path.split('/').filter(|n| !n.is_empty()) {
        let inode = fs.inode(ino)?;
        if inode.file_type() != FileType::Directory {
            return Ok(None);
        }
        match fs
            .read_dir(&inode)?
            .into_iter()
            .find(|e| e.name == name.as_bytes())
        {
            Some(e) => ino = e.ino,
            None => return Ok(None),
        }
    }
    Ok(Some(ino))
}

/// True if `path` exists in the filesystem (used to recognise extlinux).
pub fn exists(fs: &Filesystem, path: &str) -> bool {
    matches!(lookup(fs, path), Ok(Some(_)))
}

/// The contents of a regular file, or `None` when it is not there.
pub fn read_file(fs: &Filesystem, path: &str) -> Result<Option<Vec<u8>>, fsimage::Error> {
    let Some(ino) = lookup(fs, path)? else {
        return Ok(None);
    };
    let inode = fs.inode(ino)?;
    if inode.file_type() != FileType::Regular {
        return Ok(None);
    }
    if let Some(data) = fs.inline_data(&inode)? {
        return Ok(Some(data));
    }
    let size = inode.size.min(MAX_FSTAB);
    let bs = u64::from(fs.block_size());
    let mut out = Vec::with_capacity(size as usize);
    for run in fs.data_runs(&inode)? {
        let want = (size - out.len() as u64).min(run.len * bs);
        if want == 0 {
            break;
        }
        let mut buf = vec![0; want as usize];
        fs.read_file_blocks(&inode, &run, &mut buf)?;
        out.extend_from_slice(&buf);
    }
    out.truncate(size as usize);
    Ok(Some(out))
}

/// fstab's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines of an fstab: (spec, mount point, type, options).
pub fn parse(text: &str) -> Vec<(String, String, String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| {
                (
                    unescape(f[0]),
                    unescape(f[1]),
                    f[2].to_string(),
                    f.get(3).unwrap_or(&"defaults").to_string(),
                )
            })
        })
        .collect()
}

/// What a spec can be matched against: a place with its names.
pub struct Known {
    pub place: Place,
    pub uuid: String,
    pub label: String,
    pub partuuid: Option<String>,
    pub node: String,
}

/// Resolves UUID=, LABEL=, PARTUUID= and device names to a place.
pub fn resolve(spec: &str, known: &[Known]) -> Option<Place> {
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let hit = |k: &&Known| {
        if let Some(u) = spec.strip_prefix("UUID=") {
            eq(u, &k.uuid)
        } else if let Some(l) = spec.strip_prefix("LABEL=") {
            !k.label.is_empty() && l == k.label
        } else if let Some(p) = spec.strip_prefix("PARTUUID=") {
            k.partuuid.as_deref().is_some_and(|q| eq(p, q))
        } else if let Some(u) = spec.strip_prefix("/dev/disk/by-uuid/") {
            eq(u, &k.uuid)
        } else if let Some(l) = spec.strip_prefix("/dev/disk/by-label/") {
            l == k.label
        } else {
            spec == k.node
        }
    };
    known.iter().find(hit).map(|k| k.place)
}

/// The mount table in mount order: `/` first, then by depth of the mount
/// point, so a parent is mounted before what is mounted below it.
pub fn mounts(text: &str, known: &[Known]) -> Vec<Mount> {
    let mut m: Vec<Mount> = parse(text)
        .into_iter()
        .map(|(spec, mountpoint, fstype, options)| Mount {
            place: resolve(&spec, known),
            spec,
            mountpoint,
            fstype,
            options,
        })
        .collect();
    m.sort_by_key(|x| depth(&x.mountpoint));
    m
}

/// The number of components of a mount point ("/" is 0, "none"/swap last).
pub fn depth(mountpoint: &str) -> usize {
    if !mountpoint.starts_with('/') {
        return usize::MAX;
    }
    mountpoint.split('/').filter(|c| !c.is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_lines_and_order() {
        let known = [Known {
            place: Place {
                disk: 0,
                partition: 2,
            },
            uuid: "AB-CD".into(),
            label: "root".into(),
            partuuid: Some("11-22".into()),
            node: "/dev/sda2".into(),
        }];
        let t = "# c\n/dev/sda2 /srv/a\\040b ext4 defaults 0 2\nLABEL=root / ext4 rw 0 1\nPARTUUID=11-22 /x ext4\nUUID=ab-cd none swap sw\nUUID=ff /y ext4\n";
        let m = mounts(t, &known);
        assert_eq!(m[0].mountpoint, "/");
        assert_eq!(m[0].place, Some(known[0].place));
        assert_eq!(m[1].mountpoint, "/x");
        assert_eq!((m[2].mountpoint.as_str(), m[2].place), ("/y", None));
        assert_eq!(m[3].mountpoint, "/srv/a b");
        assert_eq!(m[4].fstype, "swap");
        assert_eq!(m[4].place, Some(known[0].place));
    }
}
