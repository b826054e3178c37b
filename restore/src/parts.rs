//! The parts `split -b SIZE - PREFIX` made of a dump, read as one seekable
//! stream. Named by the prefix: `-f /mnt/share/sda1.dump.` reads
//! `sda1.dump.aa`, `sda1.dump.ab`, ... (or `.00`, `.01`, ... from `split -d`)
//! when no file of that exact name exists.
//!
//! The set is checked before anything is read: the suffixes must follow one
//! another as split makes them (GNU split's widening from `yz` to `zaaa`
//! included), and every part but the last must have the size of the first.
//! A gap or a short part is an error naming the part.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why a set of split parts cannot be read as one dump.
#[derive(Debug, Error)]
pub enum PartsError {
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error(
        "split parts {prefix}*: {missing} is missing (the parts found go from {first} to {last})"
    )]
    Missing {
        prefix: String,
        missing: String,
        first: String,
        last: String,
    },
    #[error("split part {part} is {size} bytes, but the parts before it are {expected}: it is truncated (or not of this set)")]
    Truncated {
        part: String,
        size: u64,
        expected: u64,
    },
}

/// One part: its path, where it starts in the whole stream, and its length.
#[derive(Debug, Clone)]
struct Part {
    path: PathBuf,
    start: u64,
    len: u64,
}

/// The parts of a split dump as one `Read + Seek` stream.
pub struct SplitParts {
    parts: Vec<Part>,
    /// Index of the part `file` is open on.
    current: usize,
    file: Option<File>,
    /// Position in the whole stream.
    pos: u64,
}

/// The suffix after `s` in split's sequence: the next in the same alphabet
/// and length, and the widened form GNU split switches to when the first
/// character reaches the last letter (`yz` -> `zaaa`).
fn successors(s: &[u8]) -> Vec<Vec<u8>> {
    let (min, max) = if s[0].is_ascii_digit() {
        (b'0', b'9')
    } else {
        (b'a', b'z')
    };
    let mut next = s.to_vec();
    let mut i = next.len();
    while i > 0 {
        i -= 1;
        if next[i] < max {
            next[i] += 1;
            let mut wide = next.clone();
            wide.extend([min, min]);
            return vec![next, wide];
        }
        next[i] = min;
    }
    Vec::new()
}

fn is_suffix(s: &[u8]) -> bool {
    s.len() >= 2 && (s.iter().all(u8::is_ascii_lowercase) || s.iter().all(u8::is_ascii_digit))
}

impl SplitParts {
    /// The parts named by `prefix`, or `None` when there is no first part
    /// (`PREFIXaa`, `PREFIXaaa`, `PREFIX00`, ...).
    pub fn open(prefix: &Path) -> Result<Option<SplitParts>, PartsError> {
        let dir = match prefix.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(stem) = prefix.file_name().map(|s| s.as_bytes().to_vec()) else {
            return Ok(None);
        };
        let shown = |p: &Path| p.display().to_string();
        let mut suffixes: Vec<Vec<u8>> = Vec::new();
        let list = fs::read_dir(&dir).map_err(|e| PartsError::Io(shown(&dir), e))?;
        for entry in list {
            let entry = entry.map_err(|e| PartsError::Io(shown(&dir), e))?;
            let name = entry.file_name().as_bytes().to_vec();
            if let Some(rest) = name.strip_prefix(stem.as_slice()) {
                if is_suffix(rest) {
                    suffixes.push(rest.to_vec());
                }
            }
        }
        // Lexical order is split's order, widened suffixes included.
        suffixes.sort();
        let Some(first) = suffixes.first() else {
            return Ok(None);
        };
        let path_of = |suffix: &[u8]| {
            let mut name = stem.clone();
            name.extend_from_slice(suffix);
            dir.join(OsStr::from_bytes(&name))
        };
        let min = if first[0].is_ascii_digit() {
            b'0'
        } else {
            b'a'
        };
        if first.iter().any(|&c| c != min) {
            return Err(PartsError::Missing {
                prefix: shown(prefix),
                missing: shown(&path_of(&vec![min; first.len()])),
                first: shown(&path_of(first)),
                last: shown(&path_of(&suffixes[suffixes.len() - 1])),
            });
        }
        check_sequence(&suffixes, &|s| shown(&path_of(s)), &shown(prefix))?;
        let mut parts = Vec::new();
        let mut start = 0;
        for s in &suffixes {
            let path = path_of(s);
            let len = fs::metadata(&path)
                .map_err(|e| PartsError::Io(shown(&path), e))?
                .len();
            parts.push(Part { path, start, len });
            start += len;
        }
        check_sizes(&parts)?;
        Ok(Some(SplitParts {
            parts,
            current: 0,
            file: None,
            pos: 0,
        }))
    }

    /// The paths of the parts, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.parts.iter().map(|p| p.path.as_path())
    }

    fn total(&self) -> u64 {
        self.parts.last().map_or(0, |p| p.start + p.len)
    }

    /// Opens the part holding `self.pos`, positioned there.
    fn open_current(&mut self) -> io::Result<()> {
        let i = self
            .parts
            .partition_point(|p| p.start + p.len <= self.pos)
            .min(self.parts.len() - 1);
        let part = &self.parts[i];
        let mut f = File::open(&part.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", part.path.display())))?;
        f.seek(SeekFrom::Start(self.pos - part.start))?;
        self.current = i;
        self.file = Some(f);
        Ok(())
    }
}

fn check_sequence(
    suffixes: &[Vec<u8>],
    path_of: &dyn Fn(&[u8]) -> String,
    prefix: &str,
) -> Result<(), PartsError> {
    for pair in suffixes.windows(2) {
        let next = successors(&pair[0]);
        if !next.contains(&pair[1]) {
            let missing = next.first().cloned().unwrap_or_else(|| pair[1].clone());
            return Err(PartsError::Missing {
                prefix: prefix.to_string(),
                missing: path_of(&missing),
                first: path_of(&suffixes[0]),
                last: path_of(&suffixes[suffixes.len() - 1]),
            });
        }
    }
    Ok(())
}

fn check_sizes(parts: &[Part]) -> Result<(), PartsError> {
    let expected = parts[0].len;
    for (i, p) in parts.iter().enumerate().skip(1) {
        let last = i + 1 == parts.len();
        if (!last && p.len != expected) || p.len > expected {
            return Err(PartsError::Truncated {
                part: p.path.display().to_string(),
                size: p.len,
                expected,
            });
        }
    }
    if parts.len() > 1 && expected == 0 {
        return Err(PartsError::Truncated {
            part: parts[0].path.display().to_string(),
            size: 0,
            expected: parts[1].len,
        });
    }
    Ok(())
}

impl Read for SplitParts {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.total() || buf.is_empty() {
            return Ok(0);
        }
        if self.file.is_none() {
            self.open_current()?;
        }
        let part = &self.parts[self.current];
        let left = part.start + part.len - self.pos;
        let want = buf.len().min(left as usize);
        let f = self.file.as_mut().expect("opened above");
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            // The part is shorter than it was when the set was opened.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: shorter than its {} bytes (changed while being read?)",
                    part.path.display(),
                    part.len
                ),
            ));
        }
        self.pos += n as u64;
        if n as u64 == left {
            self.file = None;
        }
        Ok(n)
    }
}

impl Seek for SplitParts {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.total().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if target != self.pos {
            self.pos = target;
            self.file = None;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_follow_split() {
        assert!(successors(b"aa").contains(&b"ab".to_vec()));
        assert!(successors(b"az").contains(&b"ba".to_vec()));
        assert!(successors(b"yz").contains(&b"zaaa".to_vec()));
        assert!(successors(b"09").contains(&b"10".to_vec()));
        assert!(successors(b"zz").is_empty());
    }

    fn set(dir: &Path, parts: &[(&str, usize)]) {
        for (name, len) in parts {
            fs::write(dir.join(name), vec![7u8; *len]).unwrap();
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rrestore-parts-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_and_seeks_across_parts() {
        let d = scratch("ok");
        fs::write(d.join("x.aa"), b"0123").unwrap();
        fs::write(d.join("x.ab"), b"4567").unwrap();
        fs::write(d.join("x.ac"), b"89").unwrap();
        let mut p = SplitParts::open(&d.join("x.")).unwrap().unwrap();
        let mut all = Vec::new();
        p.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"0123456789");
        p.seek(SeekFrom::Start(3)).unwrap();
        let mut b = [0u8; 4];
        p.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"3456");
        assert_eq!(p.seek(SeekFrom::End(0)).unwrap(), 10);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_part_is_named() {
        let d = scratch("gap");
        set(&d, &[("x.aa", 4), ("x.ab", 4), ("x.ad", 2)]);
        let e = SplitParts::open(&d.join("x.")).err().unwrap().to_string();
        assert!(e.contains("x.ac is missing"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_short_part_is_named() {
        let d = scratch("short");
        set(&d, &[("x.aa", 4), ("x.ab", 3), ("x.ac", 2)]);
        let e = SplitParts::open(&d.join("x.")).err().unwrap().to_string();
        assert!(e.contains("x.ab is 3 bytes"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_first_part_is_named() {
        let d = scratch("first");
        set(&d, &[("x.ab", 4)]);
        let e = SplitParts::open(&d.join("x.")).err().unwrap().to_string();
        assert!(e.contains("x.aa is missing"), "{e}");
        assert!(SplitParts::open(&d.join("y.")).unwrap().is_none());
        fs::remove_dir_all(&d).unwrap();
    }
}
