//! Dump files split into parts of a given size, each part's SHA-256 in
//! DIR/SHA256SUMS (the format `sha256sum -c` checks), and reading them back
//! as one stream once every part is verified.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::plan::SUMS_FILE;

#[derive(Debug, Error)]
pub enum PartError {
    #[error("cannot write dump part {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read the dump stream for {name}: {source}")]
    Stream { name: String, source: io::Error },
    #[error("dump part {path} is missing: {source}")]
    Missing { path: PathBuf, source: io::Error },
    #[error("dump part {path} is damaged: its SHA-256 is {actual}, SHA256SUMS says {expected}")]
    Damaged {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("dump part {path} has no line in SHA256SUMS, so it cannot be verified")]
    Unlisted { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Sums { path: PathBuf, source: io::Error },
}

/// What one dump became: its parts (names in DIR), their hashes, its size.
pub struct Written {
    pub parts: Vec<(String, String)>,
    pub bytes: u64,
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `input` into DIR/`base`.000, .001, ... of at most `split` bytes
/// each (one part, `base` itself, without --split), hashing as it goes.
pub fn write_parts(
    input: &mut dyn Read,
    dir: &Path,
    base: &str,
    split: Option<u64>,
) -> Result<Written, PartError> {
    let limit = split.unwrap_or(u64::MAX).max(1);
    let mut parts = Vec::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut pending = 0usize;
    let mut pending_at = 0usize;
    loop {
        let name = match split {
            Some(_) => format!("{base}.{:03}", parts.len()),
            None => base.to_string(),
        };
        let path = dir.join(&name);
        let werr = |source| PartError::Write {
            path: path.clone(),
            source,
        };
        let mut out = BufWriter::new(File::create(&path).map_err(werr)?);
        let mut hash = Sha256::new();
        let mut in_part = 0u64;
        let mut ended = false;
        while in_part < limit {
            if pending == 0 {
                pending = input.read(&mut buf).map_err(|source| PartError::Stream {
                    name: base.into(),
                    source,
                })?;
                pending_at = 0;
                if pending == 0 {
                    ended = true;
                    break;
                }
            }
            let n = (pending as u64).min(limit - in_part) as usize;
            let chunk = &buf[pending_at..pending_at + n];
            out.write_all(chunk).map_err(werr)?;
            hash.update(chunk);
            in_part += n as u64;
            pending -= n;
            pending_at += n;
        }
        out.into_inner()
            .map_err(|e| werr(e.into_error()))?
            .sync_all()
            .map_err(werr)?;
        total += in_part;
        if ended && in_part == 0 && !parts.is_empty() {
            // The stream ended exactly on a part boundary.
            std::fs::remove_file(&path).map_err(werr)?;
            break;
        }
        parts.push((name, hex(&hash.finalize())));
        if ended {
            break;
        }
    }
    Ok(Written {
        parts,
        bytes: total,
    })
}

/// Reads DIR/SHA256SUMS (name -> hash); an absent file is empty.
pub fn read_sums(dir: &Path) -> Result<BTreeMap<String, String>, PartError> {
    let path = dir.join(SUMS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(PartError::Sums { path, source }),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let (h, n) = l.split_once(' ')?;
            Some((
                n.trim_start_matches([' ', '*']).to_string(),
                h.to_lowercase(),
            ))
        })
        .collect())
}

/// Adds `parts` to DIR/SHA256SUMS (replacing lines of the same names).
pub fn add_sums(dir: &Path, parts: &[(String, String)]) -> Result<(), PartError> {
    let mut sums = read_sums(dir)?;
    for (n, h) in parts {
        sums.insert(n.clone(), h.clone());
    }
    let text: String = sums.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let path = dir.join(SUMS_FILE);
    std::fs::write(&path, text).map_err(|source| PartError::Write { path, source })
}

/// The SHA-256 of a file, in hex.
pub fn hash_file(path: &Path) -> Result<String, PartError> {
    let mut f = File::open(path).map_err(|source| PartError::Missing {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hash = Sha256::new();
    io::copy(&mut f, &mut hash).map_err(|source| PartError::Sums {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex(&hash.finalize()))
}

/// Hashes one part and checks it against SHA256SUMS.
pub fn verify(dir: &Path, name: &str, sums: &BTreeMap<String, String>) -> Result<(), PartError> {
    let path = dir.join(name);
    let Some(expected) = sums.get(name) else {
        return Err(PartError::Unlisted { path });
    };
    let mut f = File::open(&path).map_err(|source| PartError::Missing {
        path: path.clone(),
        source,
    })?;
    let mut hash = Sha256::new();
    io::copy(&mut f, &mut hash).map_err(|source| PartError::Sums {
        path: path.clone(),
        source,
    })?;
    let actual = hex(&hash.finalize());
    if &actual != expected {
        return Err(PartError::Damaged {
            path,
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// The parts of one dump, read one after the other as one stream.
pub fn reader(dir: &Path, parts: &[String]) -> Result<Box<dyn Read + Send>, PartError> {
    let mut chain: Box<dyn Read + Send> = Box::new(io::empty());
    for name in parts {
        let path = dir.join(name);
        let f = File::open(&path).map_err(|source| PartError::Missing { path, source })?;
        chain = Box::new(chain.chain(io::BufReader::with_capacity(1 << 20, f)));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_verify_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let w = write_parts(&mut &data[..], dir.path(), "fs0", Some(4096)).unwrap();
        assert_eq!(w.bytes, 10_000);
        assert_eq!(w.parts.len(), 3);
        add_sums(dir.path(), &w.parts).unwrap();
        let sums = read_sums(dir.path()).unwrap();
        let names: Vec<String> = w.parts.iter().map(|p| p.0.clone()).collect();
        for n in &names {
            verify(dir.path(), n, &sums).unwrap();
        }
        let mut back = Vec::new();
        reader(dir.path(), &names)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // Exactly two parts' worth: no empty third part.
        let w = write_parts(&mut &data[..8192], dir.path(), "fs1", Some(4096)).unwrap();
        assert_eq!(w.parts.len(), 2);
        std::fs::write(dir.path().join("fs0.001"), b"changed").unwrap();
        let e = verify(dir.path(), "fs0.001", &sums).unwrap_err();
        assert!(e.to_string().contains("fs0.001 is damaged"), "{e}");
    }
}
