//! `-W` and `-w`: which filesystems need a dump, from the mount tables and
//! the dumpdates file, printed byte for byte as dump 0.4b47 prints them.
//!
//! What dump 0.4b47 does (established by running it on crafted files):
//! - the table is /etc/mtab, then /etc/fstab: ext2/ext3/ext4 (and
//!   InterMezzo) entries whose device (LABEL= and UUID= resolved) is a block
//!   device; a device already listed (same device number) keeps its first
//!   name and mount point, and takes the later dump frequency only while its
//!   own is 0; a frequency above 3659 days aborts;
//! - each listed filesystem shows the newest dumpdates line with the same
//!   device name (the first such line on equal dates), or "never"; it needs a
//!   dump (`>`) when its frequency is not 0 and the last dump is more than
//!   that many days old, or it was never dumped;
//! - then every other device of the dumpdates file, sorted by name, with an
//!   empty mount point (never marked);
//! - `-w` prints only the filesystems that need a dump, unmarked.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use chrono::{Local, TimeZone};

use crate::dumpdates;
use crate::resolve::Resolver;

/// The tables dump reads, in its order.
pub const TABLES: [&str; 2] = ["/etc/mtab", "/etc/fstab"];
/// dump's limit on the fifth fstab field (days).
const MAX_FREQ: u64 = 3659;

/// One filesystem of the mount tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub device: String,
    pub dir: String,
    /// Days between dumps (fstab's fifth field); 0: never due.
    pub freq: u64,
    rdev: u64,
}

/// Why the report could not be made (dump aborts with status 3).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LastDumpError {
    #[error("Dump frequency in fstab/mtab for {dir} {device} is too big: {freq} > {MAX_FREQ}")]
    FrequencyTooBig {
        dir: String,
        device: String,
        freq: u64,
    },
}

/// What the report says, and the warnings dump prints on stderr before it.
#[derive(Debug, Default)]
pub struct Report {
    pub stdout: String,
    pub warnings: Vec<String>,
}

/// Builds the report for `which` (`'W'` or `'w'`) from the given tables and
/// dumpdates file, as of `now` (seconds since the epoch).
pub fn report(
    which: char,
    tables: &[&Path],
    dumpdates_path: &Path,
    now: i64,
) -> Result<Report, LastDumpError> {
    let mut warnings = Vec::new();
    let mut listed: Vec<Listed> = Vec::new();
    for table in tables {
        match fs::read_to_string(table) {
            Ok(text) => add_table(&mut listed, &text)?,
            Err(e) => warnings.push(format!(
                "Can't open {} for dump table information: {}",
                table.display(),
                os_error_text(&e)
            )),
        }
    }
    let dates = match read_dates(dumpdates_path, &mut warnings) {
        Some(d) => d,
        None if listed.is_empty() => {
            let stdout = format!(
                "No {} or {} file found\n",
                tables.last().map_or(Path::new(""), |p| p).display(),
                dumpdates_path.display()
            );
            return Ok(Report { stdout, warnings });
        }
        None => Vec::new(),
    };
    let stdout = render(which, &listed, &dates, now);
    Ok(Report { stdout, warnings })
}

/// The dumpdates lines dump reads: up to the first it cannot parse (dump
/// warns with the 0-based line number); `None` without a file.
fn read_dates(path: &Path, warnings: &mut Vec<String>) -> Option<Vec<dumpdates::Entry>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => {
            warnings.push(format!("WARNING: no file `{}'", path.display()));
            return None;
        }
    };
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match dumpdates::parse_line(line) {
            Some(e) => entries.push(e),
            None => {
                warnings.push(format!("Unknown format in {}, line {n}", path.display()));
                break;
            }
        }
    }
    Some(entries)
}

fn os_error_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => rustix::io::Errno::from_raw_os_error(code).to_string(),
        None => e.to_string(),
    }
    .split(" (os error")
    .next()
    .unwrap_or_default()
    .to_string()
}

/// Adds the ext2/3/4 block devices of one mount table to `listed`.
fn add_table(listed: &mut Vec<Listed>, text: &str) -> Result<(), LastDumpError> {
    for entry in parse_table(text) {
        if !matches!(
            entry.fstype.as_str(),
            "ext2" | "ext3" | "ext4" | "InterMezzo"
        ) {
            continue;
        }
        if entry.freq > MAX_FREQ {
            return Err(LastDumpError::FrequencyTooBig {
                dir: entry.dir,
                device: entry.device,
                freq: entry.freq,
            });
        }
        let Some(device) = device_name(&entry.device) else {
            continue;
        };
        let Some(rdev) = fs::metadata(&device)
            .ok()
            .filter(|m| m.file_type().is_block_device())
            .map(|m| m.rdev())
        else {
            continue;
        };
        match listed.iter_mut().find(|l| l.rdev == rdev) {
            Some(known) if known.freq == 0 => known.freq = entry.freq,
            Some(_) => {}
            None => listed.push(Listed {
                device,
                dir: entry.dir,
                freq: entry.freq,
                rdev,
            }),
        }
    }
    Ok(())
}

/// The device a table names: LABEL= and UUID= looked up as the resolver
/// does; `None` when nothing has that label.
fn device_name(spec: &str) -> Option<String> {
    let tag = |kind, dir, value: &str| {
        Resolver::default()
            .by_tag(kind, dir, value)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    };
    if let Some(label) = spec.strip_prefix("LABEL=") {
        return tag("LABEL", "by-label", label);
    }
    if let Some(uuid) = spec.strip_prefix("UUID=") {
        return tag("UUID", "by-uuid", uuid);
    }
    Some(spec.to_string())
}

/// One line of fstab or mtab, as getmntent(3) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableEntry {
    device: String,
    dir: String,
    fstype: String,
    freq: u64,
}

fn parse_table(text: &str) -> Vec<TableEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            if line.starts_with('#') {
                return None;
            }
            let mut f = line.split_whitespace();
            let device = unescape(f.next()?);
            let mut dir = unescape(f.next()?);
            let fstype = unescape(f.next()?);
            let _options = f.next();
            let freq = f.next().map_or(0, leading_number);
            // dump strips one trailing slash from the mount point.
            if dir.len() > 1 && dir.ends_with('/') {
                dir.pop();
            }
            Some(TableEntry {
                device,
                dir,
                fstype,
                freq,
            })
        })
        .collect()
}

/// getmntent reads the frequency with sscanf("%d"): leading digits, else 0.
fn leading_number(v: &str) -> u64 {
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}

/// getmntent's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    crate::resolve::parse_mounts(&format!("{field} x x"))
        .pop()
        .map_or_else(|| field.to_string(), |m| m.source)
}

/// The report's text.
fn render(which: char, listed: &[Listed], dates: &[dumpdates::Entry], now: i64) -> String {
    let mut out = String::from(if which == 'w' {
        "Dump these file systems:\n"
    } else {
        "Last dump(s) done (Dump '>' file systems):\n"
    });
    for l in listed {
        let last = newest(dates, &l.device);
        let due = l.freq != 0 && last.is_none_or(|e| e.date < now - l.freq as i64 * 86_400);
        if which != 'w' || due {
            line(&mut out, due && which != 'w', &l.device, &l.dir, last);
        }
    }
    if which != 'w' {
        let mut others: Vec<&str> = dates
            .iter()
            .map(|e| e.disk.as_str())
            .filter(|d| !listed.iter().any(|l| l.device == *d))
            .collect();
        others.sort_unstable();
        others.dedup();
        for d in others {
            line(&mut out, false, d, "", newest(dates, d));
        }
    }
    out
}

/// The newest line for `disk`; the first of equal dates.
fn newest<'a>(dates: &'a [dumpdates::Entry], disk: &str) -> Option<&'a dumpdates::Entry> {
    dates
        .iter()
        .filter(|e| e.disk == disk)
        .fold(None, |best: Option<&dumpdates::Entry>, e| match best {
            Some(b) if b.date >= e.date => Some(b),
            _ => Some(e),
        })
}

fn line(out: &mut String, mark: bool, disk: &str, dir: &str, last: Option<&dumpdates::Entry>) {
    let mark = if mark { '>' } else { ' ' };
    let _ = write!(out, "{mark} {disk:>8}\t({dir:>6}) Last dump: ");
    match last {
        Some(e) => {
            let _ = writeln!(out, "Level {}, Date {}", e.level, ctime(e.date));
        }
        None => out.push_str("never\n"),
    }
}

/// ctime(3) without its newline, in local time.
fn ctime(t: i64) -> String {
    match Local.timestamp_opt(t, 0).single() {
        Some(d) => d.format("%a %b %e %H:%M:%S %Y").to_string(),
        None => t.to_string(),
    }
}

/// The default tables as paths.
pub fn default_tables() -> Vec<PathBuf> {
    TABLES.iter().map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(disk: &str, level: u32, date: i64) -> dumpdates::Entry {
        dumpdates::Entry {
            disk: disk.into(),
            level,
            date,
        }
    }

    #[test]
    fn table_lines_like_getmntent() {
        let t =
            parse_table("# c\n  /dev/a /mnt/x\\040y/ ext4 defaults 3 2\n/dev/b / ext2 rw\nshort\n");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].dir, "/mnt/x y");
        assert_eq!(t[0].freq, 3);
        assert_eq!(t[1].dir, "/");
        assert_eq!(t[1].freq, 0);
    }

    #[test]
    fn due_newest_and_orphans() {
        let listed = vec![
            Listed {
                device: "/dev/a".into(),
                dir: "/".into(),
                freq: 1,
                rdev: 1,
            },
            Listed {
                device: "/dev/b".into(),
                dir: "/very/long".into(),
                freq: 0,
                rdev: 2,
            },
        ];
        let now = 1_800_000_000;
        let dates = vec![
            entry("/dev/a", 0, now - 3 * 86_400),
            entry("/dev/a", 1, now - 2 * 86_400),
            entry("/zz", 2, now),
            entry("/aa", 2, now),
        ];
        let w = render('W', &listed, &dates, now);
        let lines: Vec<&str> = w.lines().collect();
        assert!(lines[1].starts_with(">   /dev/a\t(     /) Last dump: Level 1, Date "));
        assert_eq!(lines[2], "    /dev/b\t(/very/long) Last dump: never");
        assert!(lines[3].starts_with("       /aa\t(      ) Last dump: Level 2"));
        assert!(lines[4].starts_with("       /zz\t("));
        let w = render('w', &listed, &dates, now);
        assert_eq!(w.lines().count(), 2);
        assert!(w.lines().nth(1).unwrap().starts_with("    /dev/a\t("));
    }
}
