//! Multi-volume output: where each volume goes and what happens between
//! two volumes, as dump 0.4b47 does it.
//!
//! Where a volume ends is dump's flushtape() rule ([`CutRule`], applied by
//! the packer with a [`VolumeMeter`]): uncompressed, a whole number of
//! records (`-B` rounded down to records, or the records a tape length
//! holds); compressed, once the bytes written pass the size given. The
//! packer starts each volume after the first with its TS_TAPE header (see
//! [`tape_header`]) and tells the writer which record that is; the writer
//! here then closes the output of the volume before and opens the next:
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

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::Command;

use dump_format::header::{flags, Header, RecordType, TP_BSIZE};

use crate::cli::Target;
use crate::output::{Output, OutputError};
use crate::report::{self, Reporter};

/// dump's slaves: three records are being written or compressed at any
/// time, so dump's count of compressed bytes is two records behind, and it
/// allows for three whole records more.
const SLAVES: u64 = 3;
/// sizeof(struct tapebuf): the prefix of a compressed record.
const TAPEBUF: u64 = 4;

/// Where dump 0.4b47 ends a volume (its flushtape(), after each record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutRule {
    /// Uncompressed: this many records per volume.
    Records(u64),
    /// Compressed, `-B`: once the bytes of the volume's records known so
    /// far (all but the last two) and three records of slack reach
    /// `limit` (the 1 KiB blocks given, in bytes).
    Bytes { limit: u64 },
    /// Compressed, a tape length: each record adds `gap` and the bytes of
    /// the record two before it over `density` (a whole record for the
    /// first two), in 0.1"; the volume ends once that passes `length`.
    Tape { length: u64, gap: u64, density: u64 },
}

impl CutRule {
    /// Whether the rule needs the bytes each record takes once compressed.
    pub fn needs_sizes(self) -> bool {
        !matches!(self, CutRule::Records(_))
    }
}

/// Whether the volume is full after the record just written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Full,
    NotFull,
    /// It depends on compressed sizes not known yet: call
    /// [`VolumeMeter::add_size`] with more of them and ask again.
    Unknown,
}

/// [`CutRule`] applied to the records of one volume, as they are packed.
///
/// dump decides after each record from the sizes of the records before it;
/// the packer here may be ahead of the compressors, so the meter bounds
/// what it does not know yet (a compressed record takes between nothing and
/// a whole record plus its prefix) and asks for sizes only when the bounds
/// disagree, near the end of a volume. Far from it the compressors run
/// ahead as on a single volume.
#[derive(Debug, Clone)]
pub struct VolumeMeter {
    rule: CutRule,
    /// Bytes of a record before compression.
    record_bytes: u64,
    /// Records packed into the volume.
    records: u64,
    /// dump's measure (bytes_written - tapea_bytes, or asize) summed over
    /// the first `exact` records.
    measure: u64,
    exact: u64,
    /// Sizes on the medium of the volume's records from record `exact - 2`
    /// on, as far as known.
    sizes: VecDeque<u64>,
}

impl VolumeMeter {
    pub fn new(rule: CutRule, ntrec: usize) -> Self {
        VolumeMeter {
            rule,
            record_bytes: (ntrec * TP_BSIZE) as u64,
            records: 0,
            measure: 0,
            exact: 0,
            sizes: VecDeque::new(),
        }
    }

    /// What record `i` adds to the measure, given the size of record
    /// `i - 2` (none for the first two).
    fn contribution(&self, lagged: Option<u64>) -> u64 {
        match self.rule {
            CutRule::Records(_) => 0,
            CutRule::Bytes { .. } => lagged.unwrap_or(0),
            CutRule::Tape { gap, density, .. } => {
                gap + lagged.unwrap_or(self.record_bytes) / density.max(1)
            }
        }
    }

    fn full(&self, measure: u64) -> bool {
        match self.rule {
            CutRule::Records(n) => self.records >= n,
            CutRule::Bytes { limit } => measure + SLAVES * (self.record_bytes + TAPEBUF) >= limit,
            CutRule::Tape { length, .. } => measure > length,
        }
    }

    /// Adds to the measure every record whose contribution is known.
    fn advance(&mut self) {
        while self.exact < self.records {
            let lagged = if self.exact < 2 {
                None
            } else {
                match self.sizes.pop_front() {
                    Some(s) => Some(s),
                    None => break,
                }
            };
            self.measure += self.contribution(lagged);
            self.exact += 1;
        }
    }

    /// One more record packed into the volume.
    pub fn record_packed(&mut self) {
        self.records += 1;
        self.advance();
    }

    /// The size on the medium of the volume's next record whose size was
    /// not given yet (they come in order, from the volume's first).
    pub fn add_size(&mut self, size: u64) {
        self.sizes.push_back(size);
        self.advance();
    }

    /// Whether the volume ends after the record packed last.
    pub fn verdict(&self) -> Verdict {
        // A volume of one 1 KiB record would hold only its volume header.
        if self.records < 2 && self.record_bytes <= TP_BSIZE as u64 {
            return Verdict::NotFull;
        }
        let unknown = self.records - self.exact;
        let least = self.measure + unknown * self.contribution(Some(0));
        let most = self.measure + unknown * self.contribution(Some(self.record_bytes + TAPEBUF));
        if self.full(least) {
            Verdict::Full
        } else if !self.full(most) {
            Verdict::NotFull
        } else {
            Verdict::Unknown
        }
    }

    /// Starts counting the next volume.
    pub fn next_volume(&mut self) {
        self.records = 0;
        self.measure = 0;
        self.exact = 0;
        self.sizes.clear();
    }
}

/// How the dump is cut into volumes and where they go.
#[derive(Debug, Clone)]
pub struct VolumePolicy {
    /// Where volumes end; `None`: one volume however long.
    pub cut: Option<CutRule>,
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
    /// The transfer rates (kB/s) of the volumes before it, summed (dump's
    /// xferrate, averaged over the volumes at the end).
    pub rates: u64,
}

/// dump's do_stats(): the lines that close a volume. Returns its transfer
/// rate in kB/s (0 when it took less than a second).
pub fn volume_completed(r: &Reporter, v: &VolumeStats, compressed: bool, now: i64) -> u64 {
    let n = v.number;
    r.msg(format_args!(
        "Volume {n} completed at: {}",
        report::ctime(now)
    ));
    if !compressed {
        r.msg(format_args!(
            "Volume {n} {} blocks ({})",
            v.blocks,
            report::megabytes(v.blocks)
        ));
    }
    let taken = (now - v.started).max(0) as u64;
    let kb = v.bytes / 1024;
    let Some(rate) = kb.checked_div(taken) else {
        return 0;
    };
    r.msg(format_args!("Volume {n} took {}", report::hms(taken)));
    r.msg(format_args!("Volume {n} transfer rate: {rate} kB/s"));
    if compressed {
        r.msg(format_args!(
            "Volume {n} {}kB uncompressed, {kb}kB compressed, {}",
            v.blocks,
            report::compression_ratio(v.blocks, kb)
        ));
    }
    rate
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

    /// Where volumes end (`None`: one volume).
    pub fn cut(&self) -> Option<CutRule> {
        self.policy.cut
    }

    /// The open output (for its name and kind).
    pub fn output(&self) -> &Output {
        self.out
            .as_ref()
            .expect("an output is open between volumes")
    }

    /// The volume being written (from 1) and the bytes written to it.
    pub fn position(&self) -> (usize, u64) {
        (self.stats.number, self.stats.bytes)
    }

    /// Writes one record holding `blocks` tape blocks; `starts_volume`: it
    /// is the first of the next volume (it begins with the TS_TAPE header),
    /// so the current volume is ended first.
    pub fn write_record(
        &mut self,
        bytes: &[u8],
        blocks: u64,
        starts_volume: bool,
    ) -> Result<(), VolumeError> {
        if starts_volume && self.records_in_volume > 0 {
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
        let compressed = self.policy.cut.is_some_and(CutRule::needs_sizes);
        let rate = volume_completed(r, &self.stats, compressed, now());
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
            rates: self.stats.rates + rate,
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

    /// dump's rule evaluated record by record with every size known.
    fn exact_cuts(rule: CutRule, sizes: &[u64]) -> Vec<usize> {
        let mut meter = VolumeMeter::new(rule, 10);
        let mut cuts = Vec::new();
        for (j, &size) in sizes.iter().enumerate() {
            meter.record_packed();
            meter.add_size(size);
            assert_ne!(meter.verdict(), Verdict::Unknown);
            if meter.verdict() == Verdict::Full {
                cuts.push(j);
                meter.next_volume();
            }
        }
        cuts
    }

    #[test]
    fn meter_decides_as_dump_with_sizes_learned_late() {
        let mut x = 12345u64;
        let mut sizes = Vec::new();
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sizes.push(4 + x % 10240);
        }
        for rule in [
            CutRule::Bytes { limit: 200 * 1024 },
            CutRule::Bytes { limit: 40 * 1024 },
            CutRule::Tape {
                length: 480,
                gap: 8,
                density: 160,
            },
        ] {
            let expected = exact_cuts(rule, &sizes);
            assert!(expected.len() > 5, "{rule:?}");
            // Sizes given only when asked for, as the packer learns them.
            let mut meter = VolumeMeter::new(rule, 10);
            let (mut given, mut cuts) = (0, Vec::new());
            for j in 0..sizes.len() {
                meter.record_packed();
                let verdict = loop {
                    match meter.verdict() {
                        Verdict::Unknown => {
                            assert!(given <= j, "asked beyond the records packed");
                            meter.add_size(sizes[given]);
                            given += 1;
                        }
                        v => break v,
                    }
                };
                if verdict == Verdict::Full {
                    cuts.push(j);
                    meter.next_volume();
                    // The sizes of the volume before are of no more use.
                    given = j + 1;
                }
            }
            assert_eq!(cuts, expected, "{rule:?}");
        }
    }

    #[test]
    fn names_of_volumes() {
        let p = VolumePolicy {
            cut: Some(CutRule::Records(10)),
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
