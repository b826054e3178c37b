//! `-Q file`: dump's QFA file of tape positions (written by `dump -Q` and
//! `rdump -Q`), which lets `-x` and `-i`'s extract go straight to the record
//! of each file instead of searching the dump for it.
//!
//! The file is text: a magic number, a version and the dump's date on three
//! lines, an empty line, a heading, then `inode<TAB>volume<TAB>offset` per
//! line, the offset being the byte in that volume where the record holding
//! the inode's first header starts. The date must be the dump's: positions
//! of another dump would point anywhere. A position is still checked before
//! use (the reader looks for the inode's header there).

use std::fs;
use std::path::Path;

/// dump's QFA_MAGIC and QFA_VERSION.
const MAGIC: &str = "495115637697";
const VERSION: &str = "1.0";
/// A QFA file larger than this is not one (a line per record of a dump of
/// several TB is far less).
const MAX_BYTES: u64 = 1 << 30;

/// What a QFA file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    /// The dump's c_date.
    pub date: i64,
    /// (inode, volume, byte offset in the volume), as listed.
    pub entries: Vec<(u32, u32, u64)>,
}

impl Positions {
    /// Reads and checks a QFA file.
    pub fn read(path: &Path) -> Result<Positions, String> {
        let fail = |what: String| format!("{}: {what}", path.display());
        let size = fs::metadata(path)
            .map_err(|e| fail(format!("cannot read the QFA file: {e}")))?
            .len();
        if size > MAX_BYTES {
            return Err(fail(format!("{size} bytes is too large for a QFA file")));
        }
        let text = fs::read(path).map_err(|e| fail(format!("cannot read the QFA file: {e}")))?;
        Self::parse(&String::from_utf8_lossy(&text)).map_err(fail)
    }

    /// Parses the text of a QFA file; the error names the line.
    pub fn parse(text: &str) -> Result<Positions, String> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let mut next = |what: &str| {
            lines
                .next()
                .ok_or_else(|| format!("not a QFA file: it ends before its {what}"))
        };
        let (_, magic) = next("magic number")?;
        if magic != MAGIC {
            return Err(format!(
                "not a QFA file: line 1 is {magic:?}, not dump's magic number {MAGIC}"
            ));
        }
        let (_, version) = next("version")?;
        if version != VERSION {
            return Err(format!(
                "QFA file of version {version:?}; only version {VERSION} is known"
            ));
        }
        let (_, date) = next("date")?;
        let date: i64 = date
            .trim()
            .parse()
            .map_err(|_| format!("line 3: {date:?} is not the dump's date"))?;
        next("empty line")?;
        next("heading")?;
        let mut entries = Vec::new();
        for (n, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t').map(str::trim);
            let mut field = || fields.next().and_then(|f| f.parse::<u64>().ok());
            match (field(), field(), field()) {
                (Some(ino), Some(vol), Some(at))
                    if ino <= u32::MAX as u64 && vol <= u32::MAX as u64 =>
                {
                    entries.push((ino as u32, vol as u32, at))
                }
                _ => {
                    return Err(format!(
                        "line {n}: {line:?} is not \"inode<TAB>volume<TAB>offset\""
                    ))
                }
            }
        }
        Ok(Positions { date, entries })
    }

    /// The positions in volume `volume`: (inode, byte offset).
    pub fn in_volume(&self, volume: u32) -> Vec<(u32, u64)> {
        self.entries
            .iter()
            .filter(|e| e.1 == volume)
            .map(|&(ino, _, at)| (ino, at))
            .collect()
    }
}

/// Writes a QFA file in dump's layout (`-P`).
pub struct Writer {
    out: std::io::BufWriter<fs::File>,
    path: std::path::PathBuf,
}

impl Writer {
    /// Creates (or truncates) the file and writes its heading; `date` is
    /// the dump's c_date.
    pub fn create(path: &Path, date: i64) -> Result<Writer, String> {
        use std::io::Write;
        let file = fs::File::create(path).map_err(|e| Self::failed(path, e))?;
        let mut w = Writer {
            out: std::io::BufWriter::new(file),
            path: path.to_path_buf(),
        };
        write!(
            w.out,
            "{MAGIC}\n{VERSION}\n{date}\n\nino\ttapeno\ttapepos\n"
        )
        .map_err(|e| Self::failed(path, e))?;
        Ok(w)
    }

    fn failed(path: &Path, e: std::io::Error) -> String {
        format!("cannot write the QFA file {}: {e}", path.display())
    }

    /// One position: `ino` starts in the record at byte `offset` of `volume`.
    pub fn entry(&mut self, ino: u32, volume: u32, offset: u64) -> Result<(), String> {
        use std::io::Write;
        writeln!(self.out, "{ino}\t{volume}\t{offset}").map_err(|e| Self::failed(&self.path, e))
    }

    /// Flushes the file; the positions are complete when this succeeds.
    pub fn finish(mut self) -> Result<(), String> {
        use std::io::Write;
        self.out.flush().map_err(|e| Self::failed(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "495115637697\n1.0\n1700000000\n\nino\ttapeno\ttapepos\n12\t1\t10240\n15\t1\t20480\n20\t2\t1024\n";

    #[test]
    fn reads_dumps_layout() {
        let p = Positions::parse(GOOD).unwrap();
        assert_eq!(p.date, 1_700_000_000);
        assert_eq!(p.entries.len(), 3);
        assert_eq!(p.in_volume(1), vec![(12, 10240), (15, 20480)]);
        assert_eq!(p.in_volume(2), vec![(20, 1024)]);
    }

    #[test]
    fn refuses_what_is_not_one() {
        assert!(Positions::parse("").unwrap_err().contains("magic number"));
        assert!(Positions::parse("hello\n").unwrap_err().contains("line 1"));
        let v2 = GOOD.replacen("1.0", "2.0", 1);
        assert!(Positions::parse(&v2).unwrap_err().contains("version"));
        let bad = format!("{GOOD}12\tone\t5\n");
        assert!(Positions::parse(&bad).unwrap_err().contains("line 9"));
        let big = format!("{GOOD}99999999999\t1\t5\n");
        assert!(Positions::parse(&big).is_err());
    }
}
