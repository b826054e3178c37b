//! `-Q file`: dump 0.4b47's Quick File Access file, the tape position of
//! the inodes, for a restore that can seek a tape (`restore -Q`).
//!
//! Its layout, as dump writes it: a magic number, a version and the dump's
//! date on three lines, an empty line, a header line, then one line per
//! position: inode, volume and byte offset in that volume of the record
//! holding the inode's first header, tab-separated. Only inodes written in
//! pass IV (not directories) are listed, and only the first to start in each
//! record: the position is a record's, what a tape drive can seek to.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// dump's QFA_MAGIC and QFA_VERSION.
const MAGIC: &str = "495115637697";
const VERSION: &str = "1.0";

pub struct QfaFile {
    out: BufWriter<File>,
    path: PathBuf,
}

impl QfaFile {
    /// Creates (or truncates) the file and writes its heading; `date` is
    /// the dump's c_date.
    pub fn create(path: &Path, date: i64) -> Result<Self, String> {
        let fail = |e: io::Error| format!("cannot write the QFA file {}: {e}", path.display());
        let file = File::create(path).map_err(fail)?;
        let mut q = QfaFile {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
        };
        write!(
            q.out,
            "{MAGIC}\n{VERSION}\n{date}\n\nino\ttapeno\ttapepos\n"
        )
        .map_err(fail)?;
        Ok(q)
    }

    /// One position: `ino` starts in the record at byte `offset` of
    /// `volume` (numbered from 1).
    pub fn entry(&mut self, ino: u32, volume: usize, offset: u64) -> io::Result<()> {
        writeln!(self.out, "{ino}\t{volume}\t{offset}")
    }

    /// Flushes the file; the positions are complete when this succeeds.
    pub fn finish(mut self) -> Result<(), String> {
        self.out
            .flush()
            .map_err(|e| format!("cannot write the QFA file {}: {e}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
