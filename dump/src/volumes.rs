//! Multi-volume output: where each volume goes and what happens between
//! two volumes, as dump 0.4b47 does it.
//!
//! A volume holds a whole number of records (`-B` rounded down to records).
//! The packer starts each volume after the first with its TS_TAPE header
//! (see [`tape_header`]); the writer here counts records, and after the
//! last record of a volume closes its output and opens the next one:
//! - `-M`: the base name with 001, 002, ... appended;
//! - `-f a,b,c`: the next name of the list;
//! - else (or the list used up) dump asks on /dev/tty whether the next
//!   volume is mounted, and writes it to the same output; without a
//!   terminal the dump is aborted, as dump does.
//!
//! `-F script` runs between two volumes with the output just written and
//! the number of that volume; its exit status 0 goes on, 1 goes on after
//! asking, anything else aborts ("Dump aborted by the end of tape script").
//!
//! A new kind of destination is added in [`Output::open`]; this module only
//! decides which target comes next.

use std::io::{BufRead, BufReader, Write};
use std::process::Command;

use dump_format::header::{flags, Header, RecordType};

use crate::cli::Target;
use crate::output::{Output, OutputError};
use crate::report::{self, Reporter};

/// How the dump is cut into volumes and where they go.
#[derive(Debug, Clone)]
pub struct VolumePolicy {
    /// Records per volume; `None`: one volume however long.
    pub records_per_volume: Option<u64>,
    /// `-f` (its first name) and the rest of a comma list.
    pub targets: Vec<Target>,
    /// `-M`: names are the first target with the volume number appended.
    pub numbered: bool,
    /// `-F`.
    pub eot_script: Option<String>,
}

impl VolumePolicy {
    /// The target of volume `n` (from 1), if the command line names one.
    pub fn target(&self, n: usize) -> Option<Target> {
        if self.numbered {
            return match self.targets.first()? {
                Target::Path(p) => {
                    let mut name = p.clone().into_os_string();
                    name.push(format!("{n:03}"));
                    Some(Target::Path(name.into()))
                }
                Target::Stdout => Some(Target::Stdout),
            };
        }
        self.targets.get(n - 1).cloned()
    }

    /// dump names each volume ("Dumping volume N on X") when there can be
    /// several outputs.
    pub fn names_volumes(&self) -> bool {
        self.numbered || self.targets.len() > 1
    }
}

/// The TS_TAPE header that starts volume `volume`: dump's copy of the
/// header being written (its inode, its c_addr) with the volume's type,
/// number, first record, and in `c_count` the data blocks of that header
/// still to come, which follow it on the new volume.
pub fn tape_header(current: &Header, volume: i32, firstrec: u64, remaining: u64) -> Header {
    let mut h = current.clone();
    h.c_type = RecordType::Tape as i32;
    h.volume = volume;
    h.count = remaining as i32;
    h.flags |= flags::DR_NEWHEADER;
    h.firstrec = firstrec as i32;
    h
}

/// Why a volume change ended the dump.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("fopen on /dev/tty fails: {0}")]
    NoTerminal(String),
    #[error("Dump aborted by the end of tape script")]
    Script,
    #[error("cannot run the end of tape script {script}: {reason}")]
    ScriptFailed { script: String, reason: String },
    #[error("The operator asked to abort the dump")]
    Refused,
}

/// What one volume held, for dump's closing messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct VolumeStats {
    pub number: usize,
    pub blocks: u64,
    pub bytes: u64,
    pub started: i64,
}

/// The outputs of a dump, switched from volume to volume.
pub struct Volumes<'a> {
    policy: VolumePolicy,
    reporter: &'a Reporter,
    out: Option<Output>,
    /// The target the current volume went to (the next goes there too when
    /// nothing else is named).
    current_target: Target,
    records_in_volume: u64,
    stats: VolumeStats,
}

impl<'a> Volumes<'a> {
    /// Opens volume 1.
    pub fn open(
        policy: VolumePolicy,
        reporter: &'a Reporter,
        started: i64,
    ) -> Result<Self, OutputError> {
        let target = policy.target(1).unwrap_or(Target::Stdout);
        let out = Output::open(&target)?;
        Ok(Volumes {
            policy,
            reporter,
            out: Some(out),
            current_target: target,
            records_in_volume: 0,
            stats: VolumeStats {
                number: 1,
                started,
                ..VolumeStats::default()
            },
        })
    }

    /// Records per volume (`None`: one volume).
    pub fn records_per_volume(&self) -> Option<u64> {
        self.policy.records_per_volume
    }

    /// The open output (for its name and kind).
    pub fn output(&self) -> &Output {
        self.out
            .as_ref()
            .expect("an output is open between volumes")
    }

    /// Writes one record holding `blocks` tape blocks, changing volumes
    /// first when the current one is full.
    /// The volume being written (from 1) and the bytes written to it.
    pub fn position(&self) -> (usize, u64) {
        (self.stats.number, self.stats.bytes)
    }

    pub fn write_record(&mut self, bytes: &[u8], blocks: u64) -> Result<(), VolumeError> {
        if self
            .policy
            .records_per_volume
            .is_some_and(|r| self.records_in_volume == r)
        {
            self.next_volume(bytes)?;
        }
        let out = self.out.as_mut().expect("an output is open");
        out.write_record(bytes, blocks)?;
        self.records_in_volume += 1;
        self.stats.blocks += blocks;
        self.stats.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Closes the last volume; returns it and its statistics.
    pub fn finish(mut self) -> Result<(Output, VolumeStats), OutputError> {
        let out = self.out.take().expect("an output is open");
        Ok((out, self.stats))
    }

    /// Ends the current volume and starts the next, whose first record
    /// (starting with its TS_TAPE header) is `first_record`.
    fn next_volume(&mut self, first_record: &[u8]) -> Result<(), VolumeError> {
        let r = self.reporter;
        let out = self.out.take().expect("an output is open");
        let name = out.name().to_string();
        let is_stdout = out.is_stdout();
        out.finish()?;
        if !is_stdout {
            r.msg(format_args!("Closing {name}"));
        }
        let n = self.stats.number;
        r.msg(format_args!(
            "Volume {n} completed at: {}",
            report::ctime(now())
        ));
        r.msg(format_args!(
            "Volume {n} {} blocks ({})",
            self.stats.blocks,
            report::megabytes(self.stats.blocks)
        ));
        let mut ask = true;
        if let Some(script) = &self.policy.eot_script {
            ask = run_script(r, script, &name, n)?;
        }
        let next = n + 1;
        let target = match self.policy.target(next) {
            Some(t) => t,
            None => {
                r.msg(format_args!("Change Volumes: Mount volume #{next}"));
                if ask {
                    query(r, "Is the new volume mounted and ready to go?")?;
                }
                self.current_target.clone()
            }
        };
        if self.policy.names_volumes() {
            let shown = match &target {
                Target::Stdout => "standard output".to_string(),
                Target::Path(p) => p.display().to_string(),
            };
            r.msg(format_args!("Dumping volume {next} on {shown}"));
        }
        self.out = Some(Output::open(&target)?);
        self.current_target = target;
        self.records_in_volume = 0;
        self.stats = VolumeStats {
            number: next,
            started: now(),
            ..VolumeStats::default()
        };
        let (tapea, ino) = header_position(first_record);
        r.msg(format_args!(
            "Volume {next} started with block {} at: {}",
            tapea + 1,
            report::ctime(self.stats.started)
        ));
        r.msg(format_args!(
            "Volume {next} begins with blocks from inode {ino}"
        ));
        Ok(())
    }
}

/// c_tapea and c_inumber of the header at the start of a record (the
/// TS_TAPE header of a volume; records that start a volume are written
/// uncompressed).
fn header_position(record: &[u8]) -> (u32, u32) {
    let word = |at: usize| {
        record
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    (word(16), word(20))
}

/// An error as strerror(3) words it (without Rust's "(os error N)").
fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error")
        .next()
        .unwrap_or_default()
        .to_string()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Runs `-F script file volume`; `Ok(true)` when the operator must still
/// be asked (exit status 1), `Ok(false)` to go on at once (0).
fn run_script(r: &Reporter, script: &str, file: &str, volume: usize) -> Result<bool, VolumeError> {
    r.msg(format_args!("Launching {script}"));
    // dump runs it through the shell with the two arguments appended.
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{script} \"$1\" \"$2\""))
        .arg("sh")
        .arg(file)
        .arg(volume.to_string())
        .status()
        .map_err(|e| VolumeError::ScriptFailed {
            script: script.to_string(),
            reason: e.to_string(),
        })?;
    match status.code() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(VolumeError::Script),
    }
}

/// dump's query(): the question on the terminal until "yes" or "no".
fn query(r: &Reporter, question: &str) -> Result<(), VolumeError> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| VolumeError::NoTerminal(os_error(&e)))?;
    let mut reader = BufReader::new(&tty);
    loop {
        eprint!("  DUMP: {question}: (\"yes\" or \"no\") ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Err(VolumeError::Refused);
        }
        match line.trim_start().chars().next() {
            Some('y' | 'Y') => return Ok(()),
            Some('n' | 'N') => {
                r.msg("Do you want to abort?: (\"yes\" or \"no\") ");
                return Err(VolumeError::Refused);
            }
            _ => eprintln!("  DUMP: \"Yes\" or \"No\"?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_volumes() {
        let p = VolumePolicy {
            records_per_volume: Some(10),
            targets: vec![Target::Path("/d/base".into())],
            numbered: true,
            eot_script: None,
        };
        assert_eq!(p.target(1), Some(Target::Path("/d/base001".into())));
        assert_eq!(p.target(12), Some(Target::Path("/d/base012".into())));
        let l = VolumePolicy {
            targets: vec![Target::Path("a".into()), Target::Path("b".into())],
            numbered: false,
            ..p
        };
        assert_eq!(l.target(2), Some(Target::Path("b".into())));
        assert_eq!(l.target(3), None);
        assert!(l.names_volumes());
    }
}
