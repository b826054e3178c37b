//! The dumpdates file (`-u`, `-D`): the date of the last dump of each
//! filesystem at each level, which incremental dumps (and backup systems such
//! as Amanda) read. One line per filesystem and level, as dump 0.4b47 writes
//! it: the device, the level, asctime(3) in local time and the UTC offset:
//!
//! ```text
//! /dev/sda1 0 Thu Nov 26 13:22:03 2026 +0000
//! ```
//!
//! Recording a dump replaces the line with the same device and level, or
//! appends one; every other line is kept byte for byte. The file is locked
//! (flock) while it is rewritten, so two rdumps finishing at once do not
//! lose a line.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DumpdatesError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot rewrite {path}: {source}")]
    Rewrite { path: PathBuf, source: io::Error },
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub disk: String,
    pub level: u32,
    pub date: i64,
}

/// What the file holds.
#[derive(Debug, Default)]
pub struct Contents {
    pub entries: Vec<Entry>,
    /// Numbers of the lines that could not be read (dump stops at the first
    /// such line; rdump reads on and reports them).
    pub bad_lines: Vec<usize>,
}

/// The file's contents, `None` if there is no file.
pub fn read(path: &Path) -> Result<Option<Contents>, DumpdatesError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DumpdatesError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (n, l) in text.lines().enumerate() {
        match parse_line(l) {
            Some(e) => entries.push(e),
            None => bad.push(n + 1),
        }
    }
    Ok(Some(Contents {
        entries,
        bad_lines: bad,
    }))
}

/// The most recent dump of `disk` at a level below `level`, as dump's
/// getdumptime() picks it: (date, level).
pub fn last_lower(entries: &[Entry], disk: &str, level: u32) -> Option<(i64, u32)> {
    entries
        .iter()
        .filter(|e| e.disk == disk && e.level < level)
        .fold(None, |best: Option<(i64, u32)>, e| match best {
            Some((d, _)) if d >= e.date => best,
            _ => Some((e.date, e.level)),
        })
}

pub fn parse_line(l: &str) -> Option<Entry> {
    let (disk, rest) = l.split_once(' ')?;
    let rest = rest.trim_start_matches(' ');
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let level = rest[..digits].parse().ok()?;
    let date = parse_date(rest[digits..].trim_start_matches(' '))?;
    Some(Entry {
        disk: disk.to_string(),
        level,
        date,
    })
}

/// dump's unctime(): a ctime(3) date ("Thu Nov 26 13:22:03 2026"), in
/// local time, or followed by a UTC offset ("... 2026 +0100"). Used for the
/// file and for `-T`.
pub fn parse_date(text: &str) -> Option<i64> {
    // unctime() skips the weekday without checking it ("Thu Nov 26 2022"
    // reads as Saturday the 26th), so chrono must not see it.
    let text = text.trim();
    let (weekday, text) = text.split_once(' ')?;
    if weekday.len() != 3 {
        return None;
    }
    let text = text.trim_start();
    if let Ok(t) = DateTime::parse_from_str(text, "%b %e %H:%M:%S %Y %z") {
        return Some(t.timestamp());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%b %e %H:%M:%S %Y").ok()?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp())
}

/// dump's start with `-u`: the file must exist; `Ok(true)` when it had to
/// be made (dump warns "no file `...', making an empty one").
pub fn ensure_exists(path: &Path) -> Result<bool, DumpdatesError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(DumpdatesError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Records a completed dump of `disk` at `level` made at `date`.
pub fn record(path: &Path, disk: &str, level: u32, date: i64) -> Result<(), DumpdatesError> {
    let err = |source| DumpdatesError::Rewrite {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(err)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| err(e.into()))?;
    let mut old = String::new();
    file.read_to_string(&mut old).map_err(err)?;
    let new = updated(&old, disk, level, &line(disk, level, date));
    rewrite(&mut file, new.as_bytes()).map_err(err)
}

fn rewrite(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
}

/// `old` with the line of (`disk`, `level`) replaced by `new_line`, or with
/// `new_line` appended.
fn updated(old: &str, disk: &str, level: u32, new_line: &str) -> String {
    let mut out = String::with_capacity(old.len() + new_line.len() + 1);
    let mut replaced = false;
    for l in old.lines() {
        let mut words = l.split_whitespace();
        let same = words.next() == Some(disk)
            && words.next().and_then(|w| w.parse::<u32>().ok()) == Some(level);
        if same && !replaced {
            out.push_str(new_line);
            replaced = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    if !replaced {
        out.push_str(new_line);
        out.push('\n');
    }
    out
}

/// One line, as dump's dumprecout() prints it (without the newline).
pub fn line(disk: &str, level: u32, date: i64) -> String {
    match Local.timestamp_opt(date, 0).single() {
        Some(t) => format!("{disk} {level} {}", t.format("%a %b %e %H:%M:%S %Y %z")),
        None => format!("{disk} {level} {date}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_same_disk_and_level_and_keeps_the_rest() {
        let old = "/dev/sda1 0 Thu Nov 26 13:22:03 2026 +0000\n\
                   /dev/sda1 1 Fri Nov 27 13:22:03 2026 +0000\n\
                   something odd\n\
                   /dev/sdb1 0 Thu Nov 26 13:22:03 2026 +0000\n";
        let new = updated(old, "/dev/sda1", 0, "/dev/sda1 0 NEW");
        assert_eq!(
            new,
            "/dev/sda1 0 NEW\n\
             /dev/sda1 1 Fri Nov 27 13:22:03 2026 +0000\n\
             something odd\n\
             /dev/sdb1 0 Thu Nov 26 13:22:03 2026 +0000\n"
        );
        let appended = updated(old, "/dev/sdc1", 0, "/dev/sdc1 0 NEW");
        assert_eq!(appended, format!("{old}/dev/sdc1 0 NEW\n"));
        assert_eq!(updated("", "/dev/x", 0, "/dev/x 0 D"), "/dev/x 0 D\n");
    }

    #[test]
    fn lines_read_back_and_the_lower_level_is_chosen() {
        let text = "/dev/sda1 0 Tue Nov 14 22:13:20 2023 +0000\n\
                    /dev/sda1 1 Wed Nov 15 22:13:20 2023 +0100\n\
                    /dev/sda1 2 Thu Nov 16 22:13:20 2023 +0000\n\
                    /dev/sdb1 0 Fri Nov 17 22:13:20 2023 +0000\n";
        let entries: Vec<Entry> = text.lines().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(entries[0].date, 1_700_000_000);
        assert_eq!(entries[1].date, 1_700_000_000 + 86_400 - 3_600);
        assert_eq!(
            last_lower(&entries, "/dev/sda1", 1),
            Some((1_700_000_000, 0))
        );
        assert_eq!(
            last_lower(&entries, "/dev/sda1", 2),
            Some((1_700_082_800, 1))
        );
        assert_eq!(last_lower(&entries, "/dev/sda1", 0), None);
        assert_eq!(last_lower(&entries, "/dev/sdc1", 5), None);
        // What rdump writes reads back to the same date.
        let l = line("/dev/x", 3, 1_234_567_890);
        assert_eq!(parse_line(&l).unwrap().date, 1_234_567_890);
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(
            parse_date("Thu Nov  5 00:00:00 2026 +0000"),
            Some(1_793_836_800)
        );
        // A wrong weekday is ignored, as unctime() does.
        assert_eq!(
            parse_date("Mon Nov  5 00:00:00 2026 +0000"),
            Some(1_793_836_800)
        );
    }

    #[test]
    fn line_is_asctime_with_the_utc_offset() {
        let l = line("/dev/sda1", 0, 1_700_000_000);
        let words: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(words[..2], ["/dev/sda1", "0"]);
        // Weekday, month, day, time, year, offset.
        assert_eq!(words.len(), 8, "{l}");
        assert!(words[6].parse::<i32>().is_ok_and(|y| y >= 2023), "{l}");
        let off = words[7];
        assert!(
            off.len() == 5 && (off.starts_with('+') || off.starts_with('-')),
            "{l}"
        );
    }
}
