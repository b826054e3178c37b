//! Command-line parsing: dump 0.4b47's options, its historic key-letter form
//! (`rdump 0bf 64 out.dump /dev/sdb2`) and rdump's long options.
//!
//! dump parses with getopt(3); this parser keeps getopt's behaviour where
//! scripts rely on it: clustered flags (`-0uv`), arguments glued or separate
//! (`-b64`, `-b 64`), optional glued arguments (`-z6`, `-j`), repeated digits
//! forming the level, options after the filesystem (GNU getopt permutes), and
//! `--` ending the options.

use std::ffi::OsString;
use std::path::PathBuf;

use thiserror::Error;

use crate::volumes::CutRule;

/// Where the dump goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-f -`
    Stdout,
    /// A file, device or fifo.
    Path(PathBuf),
}

/// The compression the user asked for (levels are validated here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionChoice {
    None,
    /// `-z[level]`, level 1..=9 (dump's default is 2).
    Zlib(u32),
    /// `-j[level]`, level 1..=9 (dump's default is 2).
    Bzip2(u32),
    /// `--zstd[=level]`, level 1..=22.
    Zstd(i32),
    /// `-y`: LZO.
    Lzo,
}

/// dump's default dumpdates file (the Debian build's _PATH_DUMPDATES: its
/// dump 0.4b47 opens /var/lib/dumpdates, not the BSD /etc/dumpdates).
pub const DEFAULT_DUMPDATES: &str = "/var/lib/dumpdates";

/// What the tape-length options (`-a`, `-B`, `-c`, `-d`, `-s`) said: where
/// volumes end, and how the estimate is reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// `-B blocks`: 1 KiB blocks per volume.
    pub blocks_per_volume: Option<u64>,
    /// `-c`: cartridge tape.
    pub cartridge: bool,
    /// `-d density`: bits per inch.
    pub density: Option<u64>,
    /// `-s feet`: tape length.
    pub feet: Option<u64>,
    /// `-a`: write to the end of the medium (dump's default).
    pub auto_size: bool,
}

impl Media {
    /// How many volumes of the given size `blocks` 1 KiB blocks written in
    /// records of `ntrec` blocks fill, by dump's formulas: blocks per file
    /// with `-B`; otherwise tape length and density with record gaps
    /// (9-track: 1600 bpi and 2300 feet unless given, 0.7" gaps, 0.3" at
    /// 6250 bpi; cartridge: 8000 bpi, 1700 feet, 1.548" per streaming stop).
    pub fn volumes(&self, blocks: u64, ntrec: usize) -> f64 {
        let blocks = blocks as f64;
        if let Some(per) = self.blocks_per_volume {
            return blocks / per as f64;
        }
        // dump's units: density in bytes per 0.1", length in 0.1".
        let density = self
            .density
            .map_or(if self.cartridge { 100.0 } else { 160.0 }, |d| {
                (d / 10) as f64
            });
        let tsize = self
            .feet
            .map_or(if self.cartridge { 1700.0 } else { 2300.0 } * 120.0, |f| {
                f as f64 * 120.0
            });
        let gap = if self.cartridge {
            15.48
        } else if density == 625.0 {
            3.0
        } else {
            7.0
        };
        (blocks * 1024.0 / density + blocks / ntrec as f64 * gap) / tsize
    }

    /// Where volumes end (dump's flushtape()), `None` for one volume: by
    /// `-B` (whole records, at least one; bytes when compressing), else by
    /// a tape length and density.
    pub fn cut_rule(&self, ntrec: usize, compressed: bool) -> Option<CutRule> {
        if let Some(b) = self.blocks_per_volume {
            return Some(if compressed {
                CutRule::Bytes {
                    limit: b.saturating_mul(1024),
                }
            } else {
                CutRule::Records((b / ntrec as u64).max(1))
            });
        }
        if self.unlimited() {
            return None;
        }
        // After each record asize grows by the record's length on tape
        // plus a gap, in integer tenths of an inch (density in bytes per
        // 0.1"; alloctape()'s gaps: 0.8", 0.5" at 6250 bpi, 1.6" on
        // cartridges), and the volume ends once it passes the tape length.
        let density = self
            .density
            .map_or(if self.cartridge { 100 } else { 160 }, |d| d / 10)
            .max(1);
        let length = self
            .feet
            .map_or(if self.cartridge { 1700 } else { 2300 }, |f| f)
            .saturating_mul(120);
        let gap = if self.cartridge {
            16
        } else if density == 625 {
            5
        } else {
            8
        };
        if compressed {
            return Some(CutRule::Tape {
                length,
                gap,
                density,
            });
        }
        let per_record = (ntrec as u64 * 1024) / density + gap;
        Some(CutRule::Records(length / per_record + 1))
    }

    /// dump's `unlimited`: true unless a tape length was given.
    pub fn unlimited(&self) -> bool {
        self.blocks_per_volume.is_none()
            && !self.cartridge
            && self.density.is_none()
            && self.feet.is_none()
    }
}

/// dump's default compression level for `-z` and `-j` without a level.
pub const DEFAULT_ZLIB_BZIP2_LEVEL: u32 = 2;
/// Default level for `--zstd` without a level (zstd's own default).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// dump's records at 6250 bpi and above without `-b` (HIGHDENSITYTREC).
pub const HIGH_DENSITY_NTREC: usize = 32;
/// dump's default number of 1 KiB blocks per tape record (NTREC).
pub const DEFAULT_NTREC: usize = 10;
/// Default record size with `--zstd`: only rrestore reads zstd dumps, so nothing ties
/// them to dump's 10 KiB records, and zstd compresses 1 MiB records about 15% smaller
/// than 10 KiB ones (each record is compressed on its own), and faster.
pub const ZSTD_DEFAULT_NTREC: usize = 1024;
/// dump refuses records larger than 1 MiB (maxbsize).
pub const MAX_NTREC: usize = 1024;
/// Labels are 16 bytes on tape, NUL terminated.
pub const LABEL_MAX: usize = 15;

/// Everything a dump run needs from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The dump level as typed (digits).
    pub level: String,
    /// Tape record size in 1 KiB blocks (`-b`).
    pub ntrec: usize,
    /// The first (or only) output of `-f`.
    pub target: Target,
    /// The outputs after it in a comma list (`-f a,b,c`): volume 2, 3, ...
    pub more_targets: Vec<Target>,
    /// `-M`: the outputs are `target` with 001, 002, ... appended.
    pub multi_volume: bool,
    /// `-F script`: run at the end of each volume but the last.
    pub eot_script: Option<String>,
    pub compression: CompressionChoice,
    /// `-L`, already truncated to [`LABEL_MAX`] bytes.
    pub label: Option<String>,
    /// Set when `-L` had to be truncated (dump warns about it).
    pub label_truncated_from: Option<String>,
    /// `-q`: no progress bar (and no questions; rdump never asks).
    pub quiet: bool,
    /// `-v`: one line per inode dumped.
    pub verbose: bool,
    /// `-S`: print the size estimate in bytes and exit.
    pub estimate_only: bool,
    /// `-m`: in an incremental dump, an inode whose data has not changed
    /// since the base dump (mtime before it, ctime after) is written as its
    /// header and attributes only (DR_METAONLY), as dump 0.4b47 does.
    pub metadata_only: bool,
    /// `-T date`: dump what changed since this date (ctime format).
    pub since: Option<String>,
    /// `--threads N`; `None` means the number of cores.
    pub threads: Option<usize>,
    /// `-u`: record the dump in the dumpdates file once it is complete.
    pub update_dumpdates: bool,
    /// `-D file`: the dumpdates file.
    pub dumpdates: PathBuf,
    /// `-h level`: honour the nodump flag from this level up (dump's
    /// default 1, so a level 0 dump includes nodump files).
    pub honor_level: u32,
    /// Tape length options.
    pub media: Media,
    /// `-e`: inode numbers to leave out.
    pub exclude_inodes: Vec<u32>,
    /// `-E`: files listing inode numbers to leave out, one per line.
    pub exclude_files: Vec<PathBuf>,
    /// The filesystem argument as given.
    pub filesystem: String,
    /// `-A file`: also write the table of contents (headers, maps,
    /// directories, trailer) there, for `restore -t/-i -A file`.
    pub archive: Option<PathBuf>,
    /// `-Q file`: write the inodes' tape positions there (dump's QFA file).
    pub qfa: Option<PathBuf>,
    /// More paths after it (a subtree dump of several paths; refused with
    /// dump's "Unknown arguments to dump" unless the first is a subtree).
    pub more_paths: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Dump(Box<Options>),
    /// `-W` (`'W'`) or `-w` (`'w'`): the dumpdates report, from the
    /// dumpdates file named before the option (dump acts on it at once).
    LastDump {
        which: char,
        dumpdates: PathBuf,
    },
    Help,
    Version,
}

/// A command-line mistake; printed as `rdump: <message>` followed by a hint.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CliError {
    #[error("invalid option -- '{0}'")]
    UnknownOption(String),
    #[error("option requires an argument -- '{0}'")]
    MissingArgument(String),
    #[error("illegal {meaning} -- {value}")]
    NotANumber {
        meaning: &'static str,
        value: String,
    },
    #[error("{meaning} must be between {min} and {max}")]
    OutOfRange {
        meaning: &'static str,
        min: i64,
        max: i64,
    },
    #[error("Please choose a blocksize <= {MAX_NTREC}kB")]
    BlocksizeTooLarge,
    #[error("only one compression method may be chosen ({0} and {1} given)")]
    TwoCompressions(&'static str, &'static str),
    #[error("Must specify disk or filesystem")]
    NoFilesystem,
    #[error("Unknown arguments to dump: {0}")]
    ExtraArguments(String),
    #[error("argument is not valid UTF-8: {0:?}")]
    NotUtf8(OsString),
    #[error("You cannot use the {0} and {1} flags together.")]
    Incompatible(char, char),
    #[error("Invalid inode argument {0}")]
    BadInode(String),
    #[error("option -{0} ({1}) is not supported by rdump")]
    NotSupported(char, &'static str),
    /// `-f user@host:file` with a bad user or no host (checked at start,
    /// as dump does, not after the mapping passes).
    #[error("{0}")]
    RemoteName(String),
}

/// dump 0.4b47 options rdump does not implement, with what they do: refused
/// by name rather than as unknown.
const UNSUPPORTED: &[(char, &str)] = &[('k', "Kerberos remote tape")];

/// Options of the key-letter form that take the next word as argument
/// (dump's obsolete(): A B b d D e E f F h L Q s T). rdump rejects the ones it
/// does not implement later, with getopt's message.
const KEY_LETTERS_WITH_ARG: &[char] = &[
    'A', 'B', 'b', 'd', 'D', 'e', 'E', 'f', 'F', 'h', 'L', 'Q', 's', 'T',
];

/// Rewrites dump's historic key-letter form into getopt form:
/// `0bf 64 out /dev/x` becomes `-0b64`… precisely `-0`, `-b64`, `-fout`, `/dev/x`.
/// Arguments that do not use the form are returned unchanged.
pub fn expand_key_letters(args: Vec<String>) -> Result<Vec<String>, CliError> {
    let Some(first) = args.first() else {
        return Ok(args);
    };
    if first.starts_with('-') {
        return Ok(args);
    }
    let mut rest = args[1..].iter();
    let mut flags = String::new();
    let mut out = Vec::with_capacity(args.len() + 1);
    for c in first.chars() {
        if KEY_LETTERS_WITH_ARG.contains(&c) {
            let value = rest
                .next()
                .ok_or_else(|| CliError::MissingArgument(c.to_string()))?;
            out.push(format!("-{c}{value}"));
        } else {
            flags.push(c);
        }
    }
    if !flags.is_empty() {
        out.insert(0, format!("-{flags}"));
    }
    out.extend(rest.cloned());
    Ok(out)
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = OsString>,
{
    let args = args
        .into_iter()
        .map(|a| a.into_string().map_err(CliError::NotUtf8))
        .collect::<Result<Vec<_>, _>>()?;
    let args = expand_key_letters(args)?;
    Parser::default().run(args)
}

#[derive(Default)]
struct Parser {
    level: String,
    /// The previous short option was a level digit (dump: digits in a row
    /// build one multi-digit level, a new run replaces it).
    last_was_digit: bool,
    ntrec: Option<usize>,
    target: Option<Target>,
    more_targets: Vec<Target>,
    multi_volume: bool,
    eot_script: Option<String>,
    compression: Option<(CompressionChoice, &'static str)>,
    label: Option<String>,
    label_truncated_from: Option<String>,
    quiet: bool,
    verbose: bool,
    estimate_only: bool,
    metadata_only: bool,
    since: Option<String>,
    threads: Option<usize>,
    update_dumpdates: bool,
    dumpdates: Option<PathBuf>,
    honor_level: Option<u32>,
    media: Media,
    exclude_inodes: Vec<u32>,
    exclude_files: Vec<PathBuf>,
    positional: Vec<String>,
    archive: Option<PathBuf>,
    qfa: Option<PathBuf>,
    /// `-W` or `-w` was met: dump reports at once and ignores the rest.
    last_dump: Option<char>,
}

impl Parser {
    fn run(mut self, args: Vec<String>) -> Result<Command, CliError> {
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                self.positional.extend(it.by_ref());
                break;
            }
            if let Some(long) = arg.strip_prefix("--") {
                if let Some(cmd) = self.long_option(long, &mut it)? {
                    return Ok(cmd);
                }
            } else if arg.len() > 1 && arg.starts_with('-') {
                self.short_cluster(&arg[1..], &mut it)?;
                if let Some(which) = self.last_dump {
                    return Ok(Command::LastDump {
                        which,
                        dumpdates: self
                            .dumpdates
                            .unwrap_or_else(|| PathBuf::from(DEFAULT_DUMPDATES)),
                    });
                }
            } else {
                self.positional.push(arg);
            }
        }
        self.finish()
    }

    fn long_option(
        &mut self,
        long: &str,
        it: &mut impl Iterator<Item = String>,
    ) -> Result<Option<Command>, CliError> {
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        self.last_was_digit = false;
        match name {
            "help" => return Ok(Some(Command::Help)),
            "version" => return Ok(Some(Command::Version)),
            "zstd" => {
                let level = match inline {
                    Some(v) => numarg("compress level", &v, 1, 22)? as i32,
                    None => DEFAULT_ZSTD_LEVEL,
                };
                self.set_compression(CompressionChoice::Zstd(level), "--zstd")?;
            }
            "threads" => {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| CliError::MissingArgument("--threads".into()))?,
                };
                self.threads = Some(numarg("number of threads", &v, 1, 1024)? as usize);
            }
            _ => return Err(CliError::UnknownOption(format!("--{name}"))),
        }
        Ok(None)
    }

    fn short_cluster(
        &mut self,
        cluster: &str,
        it: &mut impl Iterator<Item = String>,
    ) -> Result<(), CliError> {
        for (i, c) in cluster.char_indices() {
            let rest = &cluster[i + c.len_utf8()..];
            if c.is_ascii_digit() {
                if self.last_was_digit {
                    self.level.push(c);
                } else {
                    self.level = c.to_string();
                }
                self.last_was_digit = true;
                continue;
            }
            self.last_was_digit = false;
            match c {
                'q' => self.quiet = true,
                'v' => self.verbose = true,
                'S' => self.estimate_only = true,
                'm' => self.metadata_only = true,
                'u' => self.update_dumpdates = true,
                'a' => self.media.auto_size = true,
                'c' => self.media.cartridge = true,
                // Notifying the operator group: rdump never waits for an
                // operator, so there is nothing to notify about.
                'n' => {}
                'M' => self.multi_volume = true,
                'W' | 'w' => {
                    self.last_dump = Some(c);
                    return Ok(());
                }
                'y' => self.set_compression(CompressionChoice::Lzo, "-y")?,
                'A' | 'b' | 'f' | 'F' | 'L' | 'T' | 'B' | 'd' | 'D' | 'e' | 'E' | 'h' | 'I'
                | 'Q' | 's' => {
                    let value = if rest.is_empty() {
                        it.next()
                            .ok_or_else(|| CliError::MissingArgument(c.to_string()))?
                    } else {
                        rest.to_string()
                    };
                    self.with_argument(c, value)?;
                    return Ok(());
                }
                'z' | 'j' => {
                    // getopt "z::": the level may only be glued to the option.
                    let level = if rest.is_empty() {
                        DEFAULT_ZLIB_BZIP2_LEVEL
                    } else {
                        numarg("compress level", rest, 1, 9)? as u32
                    };
                    if c == 'z' {
                        self.set_compression(CompressionChoice::Zlib(level), "-z")?;
                    } else {
                        self.set_compression(CompressionChoice::Bzip2(level), "-j")?;
                    }
                    return Ok(());
                }
                other => {
                    return Err(match UNSUPPORTED.iter().find(|(o, _)| *o == other) {
                        Some(&(o, what)) => CliError::NotSupported(o, what),
                        None => CliError::UnknownOption(other.to_string()),
                    })
                }
            }
        }
        Ok(())
    }

    fn with_argument(&mut self, option: char, value: String) -> Result<(), CliError> {
        match option {
            'b' => {
                let n = numarg("number of blocks per write", &value, 1, 1_048_576)? as usize;
                if n > MAX_NTREC {
                    return Err(CliError::BlocksizeTooLarge);
                }
                self.ntrec = Some(n);
            }
            'f' => {
                // dump's -f takes a comma list: one output per volume; each
                // may be a remote [user@]host:file.
                let mut names = Vec::new();
                for v in value.split(',') {
                    dump_format::rmt::RemoteName::parse(v)
                        .map_err(|e| CliError::RemoteName(e.to_string()))?;
                    names.push(if v == "-" {
                        Target::Stdout
                    } else {
                        Target::Path(PathBuf::from(v))
                    });
                }
                let mut names = names.into_iter();
                self.target = names.next();
                self.more_targets = names.collect();
            }
            'F' => self.eot_script = Some(value),
            'A' => self.archive = Some(PathBuf::from(value)),
            'Q' => self.qfa = Some(PathBuf::from(value)),
            'L' => {
                if value.len() > LABEL_MAX {
                    let mut end = LABEL_MAX;
                    while !value.is_char_boundary(end) {
                        end -= 1;
                    }
                    self.label = Some(value[..end].to_string());
                    self.label_truncated_from = Some(value);
                } else {
                    self.label = Some(value);
                    self.label_truncated_from = None;
                }
            }
            'T' => self.since = Some(value),
            'B' => {
                self.media.blocks_per_volume =
                    Some(numarg("number of blocks per file", &value, 1, i64::MAX)? as u64)
            }
            'd' => self.media.density = Some(numarg("density", &value, 10, 327_670)? as u64),
            's' => self.media.feet = Some(numarg("tape size", &value, 1, i64::MAX)? as u64),
            'D' => self.dumpdates = Some(PathBuf::from(value)),
            'e' => {
                for n in value.split(',') {
                    self.exclude_inodes.push(exclude_number(n)?);
                }
            }
            'E' => self.exclude_files.push(PathBuf::from(value)),
            'h' => self.honor_level = Some(numarg("honor level", &value, 0, 10)? as u32),
            // The number of read errors after which dump asks whether to
            // go on: rdump always goes on (each error is reported).
            'I' => {
                numarg("number of errors to ignore", &value, 0, i64::MAX)?;
            }
            _ => unreachable!("with_argument called for option {option}"),
        }
        Ok(())
    }

    fn set_compression(
        &mut self,
        choice: CompressionChoice,
        name: &'static str,
    ) -> Result<(), CliError> {
        if let Some((_, previous)) = self.compression {
            if previous != name {
                return Err(CliError::TwoCompressions(previous, name));
            }
        }
        self.compression = Some((choice, name));
        Ok(())
    }

    fn finish(self) -> Result<Command, CliError> {
        // dump's incompat_flags(), in its order.
        let m = &self.media;
        for (clash, a, b) in [
            (self.since.is_some() && self.update_dumpdates, 'T', 'u'),
            (m.auto_size && m.blocks_per_volume.is_some(), 'a', 'B'),
            (m.auto_size && m.cartridge, 'a', 'c'),
            (m.auto_size && m.density.is_some(), 'a', 'd'),
            (m.auto_size && m.feet.is_some(), 'a', 's'),
        ] {
            if clash {
                return Err(CliError::Incompatible(a, b));
            }
        }
        let mut positional = self.positional.into_iter();
        let filesystem = positional.next().ok_or(CliError::NoFilesystem)?;
        let more_paths: Vec<String> = positional.collect();
        let target = match self.target {
            Some(t) => t,
            None => default_target(std::env::var("TAPE").ok()),
        };
        Ok(Command::Dump(Box::new(Options {
            level: if self.level.is_empty() {
                "0".into()
            } else {
                self.level
            },
            ntrec: self.ntrec.unwrap_or(match self.compression {
                Some((CompressionChoice::Zstd(_), _)) => ZSTD_DEFAULT_NTREC,
                // dump: 32 KiB records at 6250 bpi and denser (HIGHDENSITYTREC).
                _ if self.media.density.is_some_and(|d| d / 10 >= 625) => HIGH_DENSITY_NTREC,
                _ => DEFAULT_NTREC,
            }),
            target,
            more_targets: self.more_targets,
            multi_volume: self.multi_volume,
            eot_script: self.eot_script,
            compression: self.compression.map_or(CompressionChoice::None, |(c, _)| c),
            label: self.label,
            label_truncated_from: self.label_truncated_from,
            quiet: self.quiet,
            verbose: self.verbose,
            estimate_only: self.estimate_only,
            metadata_only: self.metadata_only,
            since: self.since,
            threads: self.threads,
            update_dumpdates: self.update_dumpdates,
            dumpdates: self
                .dumpdates
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DUMPDATES)),
            honor_level: self.honor_level.unwrap_or(1),
            media: self.media,
            exclude_inodes: self.exclude_inodes,
            exclude_files: self.exclude_files,
            filesystem,
            more_paths,
            archive: self.archive,
            qfa: self.qfa,
        })))
    }
}

/// dump's default output: `$TAPE`, else the Debian build's `/dev/tape`.
pub fn default_target(tape_env: Option<String>) -> Target {
    match tape_env {
        Some(t) if t == "-" => Target::Stdout,
        Some(t) if !t.is_empty() => Target::Path(PathBuf::from(t)),
        _ => Target::Path(PathBuf::from("/dev/tape")),
    }
}

/// dump's do_exclude_ino_str(): an inode number above the root's, which
/// may be followed by white space.
pub fn exclude_number(text: &str) -> Result<u32, CliError> {
    let digits = text.trim_end();
    match digits.parse::<u32>() {
        Ok(n) if n > 2 && !digits.starts_with('+') => Ok(n),
        _ => Err(CliError::BadInode(text.to_string())),
    }
}

/// dump's numarg(): a decimal number within `[min, max]`.
fn numarg(meaning: &'static str, value: &str, min: i64, max: i64) -> Result<i64, CliError> {
    let n: i64 = value.parse().map_err(|_| CliError::NotANumber {
        meaning,
        value: value.to_string(),
    })?;
    if n < min || n > max {
        return Err(CliError::OutOfRange { meaning, min, max });
    }
    Ok(n)
}

/// `--help` text. Kept next to the parser so that every option is listed.
pub fn help_text() -> String {
    format!(
        "\
rdump {version} - dump an ext2/ext3/ext4 filesystem in the format of dump 0.4b47

usage: rdump [-level#] [-acmMnqSuvy] [-b blocksize] [-B records] [-d density]
             [-D file] [-e inodes] [-E file] [-f file[,file...]] [-F script]
             [-h level]
             [-I nr errors] [-j[level]] [-L label] [-Q file] [-s feet] [-T date]
             [-z[level]] [--zstd[=level]] [--threads N] filesystem
       rdump -0 [options] /mnt/point/dir [more paths on that filesystem]
       rdump [-D file] -W | -w
       rdump 0usf 1048576 - /dev/sda1       (historic key-letter form)

  -0 .. -9      dump level (default 0); level N dumps what changed since the
                latest dump of a lower level in the dumpdates file
  -b blocksize  kilobytes per tape record, 1..{max_ntrec} (default {ntrec};
                {zstd_ntrec} with --zstd)
  -f file       write the dump to file, device or fifo; '-' is standard output
                (default: $TAPE, else /dev/tape); a comma list a,b,c names
                the outputs of volumes 1, 2, 3; [user@]host:file writes it
                on host through rmt, started as `$RSH host -l user $RMT`
                ($RSH default ssh, $RMT default /etc/rmt); a name with a '/'
                before its ':' is a local file
  -A file       also write the archive table of contents to file: the
                headers, inode maps and directories of the dump and its
                trailer, for `rrestore -t/-i -A file` without the dump
  -Q file       also write dump's QFA file of tape positions (volume and
                byte offset of the record where each file starts), which
                `restore -Q` seeks with
  -M            multi-volume files: -f base writes base001, base002, ...
  -F script     run 'script FILE VOLUME' after each volume but the last;
                exit 0: go on, 1: ask the operator, other: abort
  -j[level]     compress each record with bzip2, level 1..9 (default 2)
  -y            compress each record with LZO
  -z[level]     compress each record with zlib, level 1..9 (default 2)
  --zstd[=lvl]  compress each record with zstd, level 1..22 (default 3);
                only rrestore reads zstd dumps
  -L label      label written into the dump header (at most {label} characters;
                default: the filesystem's volume label, else \"none\")
  -q            no progress bar on a terminal
  -S            print the estimated size of the dump in bytes and exit
  -T date       dump what changed since date (\"Thu Nov 26 13:22:03 2026\")
  -u            once the dump is complete, record it in the dumpdates file
  -D file       the dumpdates file (default {dumpdates})
  -v            verbose: report every inode dumped
  -m            in an incremental dump, write files whose data did not change
                (mtime before the base dump, ctime after) as metadata only,
                as dump -m does
  -W            print the latest dump of each filesystem of /etc/mtab and
                /etc/fstab and of the dumpdates file ('>': needs a dump, by
                fstab's dump frequency) and exit; -D must come before it
  -w            print only the filesystems that need a dump, and exit
  -B records    1 KiB blocks per volume: the dump is cut into volumes
                there, as dump cuts them (not when compressing, yet)
  -c, -d density, -s feet
                tape length (cartridge, bpi, feet): volumes end where dump's
                tape arithmetic ends them; the estimate is given in tapes
  -a            write each volume to the end of the medium (dump's default)
  -e inodes     leave out these inodes (comma-separated numbers); a
                directory takes what is under it along
  -E file       leave out the inodes listed in file, one number per line
  -h level      honour the nodump flag (chattr +d) from this level up
                (default 1: a level 0 dump includes nodump files)
  -I nr         accepted: rdump never stops for read errors, it reports each
                one and dumps the block as zeros
  -n            accepted: rdump never waits for an operator to notify
  --threads N   compress with N threads and read with 2N (at least 4; reads
                wait for the disk); default N: the number of cores. The
                output is byte-identical for any N
  --help        print this help
  --version     print the version

dump's -k (Kerberos) is not supported (refused by name).

The filesystem is a block device, an image file, a mount point, or LABEL=name
or UUID=uuid. A directory inside a mounted filesystem, with any more paths
of the same filesystem after it, makes a level 0 subtree dump of just those
paths (dump's files-and-directories mode; no -u). With SOURCE_DATE_EPOCH set, the dump date is taken from it, so
the same filesystem always gives the same bytes. See rdump(8).
",
        version = env!("CARGO_PKG_VERSION"),
        max_ntrec = MAX_NTREC,
        ntrec = DEFAULT_NTREC,
        zstd_ntrec = ZSTD_DEFAULT_NTREC,
        label = LABEL_MAX,
        dumpdates = DEFAULT_DUMPDATES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn zstd_defaults_to_large_records_unless_b_is_given() {
        assert_eq!(
            opts(&["-0", "--zstd", "-f", "x", "img"]).ntrec,
            ZSTD_DEFAULT_NTREC
        );
        assert_eq!(
            opts(&["-0", "--zstd=5", "-b", "32", "-f", "x", "img"]).ntrec,
            32
        );
        assert_eq!(opts(&["-0", "-z", "-f", "x", "img"]).ntrec, DEFAULT_NTREC);
    }

    fn opts(a: &[&str]) -> Options {
        match parse(args(a)).expect("parses") {
            Command::Dump(o) => *o,
            other => panic!("expected a dump command, got {other:?}"),
        }
    }

    /// Amanda's line, and the tape-length arithmetic behind dump's
    /// "estimated N blocks on X tape(s)".
    #[test]
    fn amanda_line_and_tape_lengths() {
        let o = opts(&["0usf", "1048576", "-", "/dev/sda1"]);
        assert!(o.update_dumpdates);
        assert_eq!(o.media.feet, Some(1_048_576));
        assert!(!o.media.unlimited());
        assert_eq!(o.target, Target::Stdout);
        assert_eq!(o.filesystem, "/dev/sda1");
        assert_eq!(o.dumpdates, PathBuf::from(DEFAULT_DUMPDATES));
        assert_eq!(o.honor_level, 1);
        let o = opts(&["-0", "-D", "/tmp/dd", "-y", "-n", "-I", "5", "img"]);
        assert_eq!(o.dumpdates, PathBuf::from("/tmp/dd"));
        assert_eq!(o.compression, CompressionChoice::Lzo);
        assert!(opts(&["-0", "-a", "img"]).media.unlimited());
        // -B: blocks per volume.
        let b = Media {
            blocks_per_volume: Some(1000),
            ..Media::default()
        };
        assert!((b.volumes(2500, 10) - 2.5).abs() < 1e-9);
        // 9-track at 1600 bpi, 2300 feet: 160 bytes per 0.1", 0.7" gaps
        // between 10 KiB records, so 71 tenths per record, 276,000 tenths.
        let t = Media {
            feet: Some(2300),
            ..Media::default()
        };
        let records = 276_000 / 71;
        assert!((t.volumes(records * 10, 10) - 1.0).abs() < 0.001);
    }

    #[test]
    fn getopt_form() {
        let o = opts(&[
            "-0", "-b", "64", "-f", "out.dump", "-z6", "-L", "lbl", "-q", "/dev/x",
        ]);
        assert_eq!(o.level, "0");
        assert_eq!(o.ntrec, 64);
        assert_eq!(o.target, Target::Path("out.dump".into()));
        assert_eq!(o.compression, CompressionChoice::Zlib(6));
        assert_eq!(o.label.as_deref(), Some("lbl"));
        assert!(o.quiet && !o.verbose && !o.estimate_only);
        assert_eq!(o.filesystem, "/dev/x");
    }

    #[test]
    fn glued_arguments_and_clusters() {
        let o = opts(&["-0vSb32", "-f-", "img"]);
        assert!(o.verbose && o.estimate_only);
        assert_eq!(o.ntrec, 32);
        assert_eq!(o.target, Target::Stdout);
    }

    #[test]
    fn optional_levels() {
        assert_eq!(opts(&["-z", "i"]).compression, CompressionChoice::Zlib(2));
        assert_eq!(opts(&["-j", "i"]).compression, CompressionChoice::Bzip2(2));
        assert_eq!(opts(&["-j9", "i"]).compression, CompressionChoice::Bzip2(9));
        assert_eq!(
            opts(&["--zstd", "i"]).compression,
            CompressionChoice::Zstd(3)
        );
        assert_eq!(
            opts(&["--zstd=19", "i"]).compression,
            CompressionChoice::Zstd(19)
        );
        assert!(matches!(
            parse(args(&["-z0", "i"])),
            Err(CliError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse(args(&["-zx", "i"])),
            Err(CliError::NotANumber { .. })
        ));
        assert!(matches!(
            parse(args(&["-z", "--zstd", "i"])),
            Err(CliError::TwoCompressions("-z", "--zstd"))
        ));
    }

    #[test]
    fn key_letter_form() {
        let o = opts(&["0f", "-", "/dev/sda1"]);
        assert_eq!(o.level, "0");
        assert_eq!(o.target, Target::Stdout);
        assert_eq!(o.filesystem, "/dev/sda1");

        let o = opts(&["0bf", "64", "out.dump", "/dev/sdb2"]);
        assert_eq!(o.ntrec, 64);
        assert_eq!(o.target, Target::Path("out.dump".into()));
        assert_eq!(o.filesystem, "/dev/sdb2");

        let o = opts(&["0z6f", "x", "fs"]);
        assert_eq!(o.compression, CompressionChoice::Zlib(6));
        assert_eq!(
            expand_key_letters(vec!["0uLf".into(), "l".into(), "o".into(), "fs".into()]).unwrap(),
            vec!["-0u", "-Ll", "-fo", "fs"]
        );
        assert_eq!(
            parse(args(&["0f"])),
            Err(CliError::MissingArgument("f".into()))
        );
    }

    #[test]
    fn levels_accumulate_like_dump() {
        assert_eq!(opts(&["-12", "fs"]).level, "12");
        assert_eq!(opts(&["-1", "-2", "fs"]).level, "12");
        assert_eq!(opts(&["-1", "-q", "-2", "fs"]).level, "2");
        assert_eq!(opts(&["-q", "fs"]).level, "0");
    }

    #[test]
    fn options_after_filesystem_and_double_dash() {
        let o = opts(&["-0", "fs", "-f", "out", "--threads", "3"]);
        assert_eq!(o.filesystem, "fs");
        assert_eq!(o.threads, Some(3));
        let o = opts(&["-f", "out", "--", "-weird"]);
        assert_eq!(o.filesystem, "-weird");
        assert_eq!(opts(&["--threads=7", "fs"]).threads, Some(7));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(args(&[])), Err(CliError::NoFilesystem));
        assert_eq!(
            parse(args(&["-x", "fs"])),
            Err(CliError::UnknownOption("x".into()))
        );
        assert_eq!(
            parse(args(&["--bogus", "fs"])),
            Err(CliError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            parse(args(&["-b", "2048", "fs"])),
            Err(CliError::BlocksizeTooLarge)
        );
        assert!(matches!(
            parse(args(&["-b", "0", "fs"])),
            Err(CliError::OutOfRange { .. })
        ));
        assert_eq!(
            parse(args(&["-f"])),
            Err(CliError::MissingArgument("f".into()))
        );
        assert_eq!(opts(&["-0", "a", "b", "c"]).more_paths, ["b", "c"]);
        // Like dump, a first word without a dash is a set of key letters.
        assert_eq!(
            parse(args(&["/dev/sda1"])),
            Err(CliError::MissingArgument("d".into()))
        );
        assert_eq!(
            parse(args(&["--threads", "0", "fs"])),
            Err(CliError::OutOfRange {
                meaning: "number of threads",
                min: 1,
                max: 1024
            })
        );
        assert_eq!(parse(args(&["--help"])), Ok(Command::Help));
    }

    #[test]
    fn label_is_truncated_like_dump() {
        let o = opts(&["-L", "a-very-long-label-indeed", "fs"]);
        assert_eq!(o.label.as_deref(), Some("a-very-long-lab"));
        assert_eq!(
            o.label_truncated_from.as_deref(),
            Some("a-very-long-label-indeed")
        );
    }

    #[test]
    fn default_target_follows_tape_variable() {
        assert_eq!(default_target(None), Target::Path("/dev/tape".into()));
        assert_eq!(
            default_target(Some("/dev/nst0".into())),
            Target::Path("/dev/nst0".into())
        );
        assert_eq!(default_target(Some("-".into())), Target::Stdout);
    }

    #[test]
    fn help_mentions_every_option() {
        let h = help_text();
        for opt in [
            "-0",
            "-b ",
            "-f ",
            "-j[",
            "-z[",
            "--zstd",
            "-L ",
            "-q",
            "-S",
            "-T ",
            "-v",
            "--threads",
            "--help",
            "--version",
        ] {
            assert!(h.contains(opt), "help does not mention {opt}");
        }
    }
}
