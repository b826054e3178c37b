//! Reading a multi-volume dump as one stream.
//!
//! Each volume after the first starts with its TS_TAPE header (volume
//! number, the dump's dates) and goes on with the rest of the inode that
//! was being written (dump 0.4b47's layout; rdump writes the same). The
//! chain checks that header before giving out any byte of the volume, so a
//! volume out of order or from another dump is refused with the reason and
//! nothing is written from it, then drops it: what follows continues the
//! previous volume's stream.
//!
//! The volumes come from `-M -f base` (base001, base002, ... as dump names
//! them), from a comma list (`-f a,b,c`), or, when none is named, from the
//! operator on the terminal, asked in restore's words; without a terminal
//! the error names the volume needed.
//!
//! A compressed dump stores the first record of every volume raw, without
//! the 4-byte prefix the other records carry (dump's slaves compress every
//! record but the first each writes to a tape). The chain hands the reader
//! the blocks after the volume header as one framed, uncompressed record, so
//! the stream it reads is framed throughout, as if the dump had no cuts.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use dump_format::compress::{Prefix, PREFIX_LEN};
use dump_format::header::{flags, ByteOrder, Header, RecordType, TP_BSIZE};
use dump_format::writer::MAX_NTREC;

/// The volumes the command line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSet {
    /// `-M`: the base name; volume N is the base with N as three digits.
    pub numbered: Option<PathBuf>,
    /// A comma list: volume N is its N-th name.
    pub list: Vec<PathBuf>,
}

impl VolumeSet {
    /// The file of volume `n` (from 1), if named.
    pub fn name(&self, n: usize) -> Option<PathBuf> {
        if let Some(base) = &self.numbered {
            let mut name = base.clone().into_os_string();
            name.push(format!("{n:03}"));
            return Some(name.into());
        }
        self.list.get(n - 1).cloned()
    }
}

/// The volumes of one dump read in turn as one stream.
pub struct VolumeChain {
    set: VolumeSet,
    current: Box<dyn Read>,
    current_name: PathBuf,
    volume: usize,
    /// c_date and c_ddate of volume 1, which every volume repeats.
    dates: Option<(i32, i32)>,
    /// Bytes handed out before the rest of the current volume: volume 1's
    /// header, or a later compressed volume's first record, framed.
    prefix: Vec<u8>,
    at: usize,
}

fn error(text: String) -> io::Error {
    io::Error::other(text)
}

/// Opens one volume: a local file, or `[user@]host:file` through rmt (a
/// connection of its own for each volume, as dump's restore makes).
fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    crate::catalog::open_input(&crate::cli::Input::Path(path.to_path_buf()))
        .map_err(|e| io::Error::other(e.to_string()))
}

impl VolumeChain {
    /// Opens volume 1 and reads its header.
    pub fn open(set: VolumeSet) -> io::Result<VolumeChain> {
        let name = set.name(1).ok_or_else(|| error("no volume named".into()))?;
        let mut current = open(&name)?;
        let mut prefix = vec![0u8; TP_BSIZE];
        current.read_exact(&mut prefix).map_err(|e| {
            error(format!(
                "{}: cannot read its volume header: {e}",
                name.display()
            ))
        })?;
        let dates = Header::parse(&prefix).ok().map(|(h, _)| (h.date, h.ddate));
        Ok(VolumeChain {
            set,
            current,
            current_name: name,
            volume: 1,
            dates,
            prefix,
            at: 0,
        })
    }

    /// Opens volume `n`, checks its header, and makes it the current one.
    fn next_volume(&mut self) -> io::Result<()> {
        let n = self.volume + 1;
        let name = match self.set.name(n) {
            Some(name) => name,
            None => ask(n, &self.current_name)?,
        };
        let mut reader = open(&name).map_err(|e| error(format!("{e} (volume {n} of the dump)")))?;
        let mut block = vec![0u8; TP_BSIZE];
        reader.read_exact(&mut block).map_err(|e| {
            error(format!(
                "{}: cannot read the volume header of volume {n}: {e}",
                name.display()
            ))
        })?;
        let (h, order) = Header::parse(&block).map_err(|e| {
            error(format!(
                "{}: not a dump volume (no valid volume header: {e}); volume {n} is needed",
                name.display()
            ))
        })?;
        if h.record_type() != Some(RecordType::Tape) {
            return Err(error(format!(
                "{}: does not start with a volume header; volume {n} is needed",
                name.display()
            )));
        }
        if h.volume != n as i32 {
            return Err(error(format!(
                "{}: Wrong volume ({}): this is volume {} of the dump, volume {n} is needed next",
                name.display(),
                h.volume,
                h.volume
            )));
        }
        if let Some((date, ddate)) = self.dates {
            if h.date != date || h.ddate != ddate {
                return Err(error(format!(
                    "{}: Wrong dump date: this volume is of the dump of {}, not of the dump of {}",
                    name.display(),
                    ctime(h.date),
                    ctime(date)
                )));
            }
        }
        self.prefix = if h.flags & flags::DR_COMPRESSED != 0 {
            raw_record_framed(&mut reader, (&h, order), &name, n)?
        } else {
            Vec::new()
        };
        self.at = 0;
        self.current = reader;
        self.current_name = name;
        self.volume = n;
        Ok(())
    }
}

/// The rest of a compressed volume's first record (stored raw, `c_ntrec`
/// blocks with the volume header) behind the prefix of an uncompressed
/// record of that length. A volume shorter than a record gives what it has.
fn raw_record_framed(
    reader: &mut dyn Read,
    (h, order): (&Header, ByteOrder),
    name: &Path,
    n: usize,
) -> io::Result<Vec<u8>> {
    let ntrec = usize::try_from(h.ntrec).unwrap_or(0);
    if ntrec == 0 || ntrec > MAX_NTREC {
        return Err(error(format!(
            "{}: the volume header of volume {n} gives {} blocks per record, which cannot be right",
            name.display(),
            h.ntrec
        )));
    }
    let mut rest = Vec::with_capacity((ntrec - 1) * TP_BSIZE);
    (&mut *reader)
        .take(((ntrec - 1) * TP_BSIZE) as u64)
        .read_to_end(&mut rest)
        .map_err(|e| error(format!("{}: volume {n}: {e}", name.display())))?;
    rest.truncate(rest.len() / TP_BSIZE * TP_BSIZE);
    if rest.is_empty() {
        return Ok(rest);
    }
    let prefix = Prefix {
        compressed: false,
        algorithm: 0,
        length: rest.len(),
    }
    .encode(order);
    let mut framed = Vec::with_capacity(PREFIX_LEN + rest.len());
    framed.extend_from_slice(&prefix);
    framed.extend_from_slice(&rest);
    Ok(framed)
}

impl Read for VolumeChain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.prefix.len() {
                let n = buf.len().min(self.prefix.len() - self.at);
                buf[..n].copy_from_slice(&self.prefix[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The reader stops asking once it has seen the end of the dump,
            // so an end of file here means the dump goes on.
            self.next_volume()?;
        }
    }
}

fn ctime(t: i32) -> String {
    crate::ui::ctime(i64::from(t))
}

/// restore's question for the next volume, on the terminal; the name typed
/// (or the previous one by default). Without a terminal, an error naming
/// the volume needed.
fn ask(n: usize, previous: &std::path::Path) -> io::Result<PathBuf> {
    let needed = || {
        error(format!(
            "the dump continues on volume {n}, and no terminal to ask for it: give the volumes \
             with -M -f base (base001, base002, ...) or -f vol1,vol2,..."
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| needed())?;
    let mut out = &tty;
    write!(
        out,
        "Mount tape volume {n}\nEnter ``none'' if there are no more tapes\notherwise enter tape name (default: {}) ",
        previous.display()
    )?;
    out.flush()?;
    let mut line = String::new();
    BufReader::new(&tty).read_line(&mut line)?;
    let answer = line.trim();
    if answer == "none" {
        return Err(error(format!(
            "no volume {n} given: the dump is incomplete without it"
        )));
    }
    Ok(if answer.is_empty() {
        previous.to_path_buf()
    } else {
        PathBuf::from(answer)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let s = VolumeSet {
            numbered: Some("/b/vol".into()),
            list: vec![],
        };
        assert_eq!(s.name(2), Some(PathBuf::from("/b/vol002")));
        let l = VolumeSet {
            numbered: None,
            list: vec!["a".into(), "b".into()],
        };
        assert_eq!(l.name(2), Some(PathBuf::from("b")));
        assert_eq!(l.name(3), None);
    }
}
