//! Command-line parsing, compatible with restore 0.4b47.
//!
//! Hand-rolled rather than built on an argument-parsing crate because
//! restore accepts the old "key letter" form (`rrestore tvf backup.dump`,
//! `rrestore rf -`), where option letters come bundled in the first word
//! without a dash and their arguments follow as separate words, in the
//! order of the letters. We first rewrite that form into ordinary
//! getopt-style words (as restore's `obsolete()` does) and then parse
//! those with GNU getopt rules: bundled flags (`-tvf x`), attached
//! arguments (`-fx`), options after operands, and `--`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use thiserror::Error;

/// What rrestore was asked to do (the mutually exclusive mode letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-C`: compare the dump with the filesystem at `-D`.
    Compare,
    /// `-i`: interactive shell.
    Interactive,
    /// `-r`: rebuild a whole filesystem into the current directory.
    Rebuild,
    /// `-t`: list the names on the dump.
    List,
    /// `-x`: extract the named files (default: everything).
    Extract,
    /// `-P file`: write a QFA file of the named files' positions.
    Positions,
}

impl Mode {
    fn letter(self) -> char {
        match self {
            Mode::Compare => 'C',
            Mode::Interactive => 'i',
            Mode::Rebuild => 'r',
            Mode::List => 't',
            Mode::Extract => 'x',
            Mode::Positions => 'P',
        }
    }
}

/// Where the dump comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
    /// The volumes of a multi-volume dump (`-M -f base`, `-f a,b,c`).
    Volumes(crate::volumes::VolumeSet),
}

/// Where the `-X` list of file names comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileList {
    Stdin,
    Path(PathBuf),
}

/// Everything the command line said, with restore's defaults applied.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub input: Input,
    /// `-b`: record size in KiB; `None` means detect it from the dump.
    pub block_size: Option<usize>,
    /// `-y`: never ask, always go on after errors.
    pub yes: bool,
    /// `-N`: read and check everything, write nothing.
    pub no_write: bool,
    /// `-h` clears this: extract a directory itself, not its contents.
    pub descend: bool,
    /// `-m` clears this: name extracted files by inode number.
    pub by_name: bool,
    /// `-o`: set owner/mode of `.` without asking (with `-x`/`-i`).
    pub force_dot_mode: bool,
    /// `-u`: remove existing files before creating them.
    pub unlink_first: bool,
    /// `-v`: say what is done.
    pub verbose: bool,
    /// `-d`: debugging output.
    pub debug: bool,
    /// `-D`: the filesystem to compare with (`-C`); `None` = the dumped one.
    pub compare_dir: Option<PathBuf>,
    /// `-T` (or `$TMPDIR`, or `/tmp`): where temporary files go.
    pub tmpdir: PathBuf,
    /// `-X`: read file names from this list as well.
    pub file_list: Option<FileList>,
    /// `-L`: stop `-C` after this many differences (0 = no limit).
    pub compare_limit: u64,
    /// File operands (for `-t`, `-x`); empty means ".".
    pub files: Vec<OsString>,
    /// `-A file`: the archive table of contents dump -A wrote; -t and -i
    /// read it instead of the dump.
    pub archive: Option<PathBuf>,
    /// `-Q file`: dump's QFA positions, for -x and -i's extract to seek by.
    pub qfa: Option<PathBuf>,
    /// `-P file`: where -P writes the positions.
    pub positions_out: Option<PathBuf>,
}

/// What `parse` found: run, or print help/version and stop.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Options>),
    Help,
    Version,
}

/// A command line rrestore cannot run. The message matches restore's where
/// restore has one; `usage` says whether the usage text should follow.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub usage: bool,
}

impl CliError {
    fn plain(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            usage: false,
        }
    }
    fn with_usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            usage: true,
        }
    }
}

/// Option letters that take an argument, in restore's getopt string.
const WITH_ARGUMENT: &[u8] = b"AbDfFHLPQsTX";
/// Letters restore accepts that rrestore deliberately does not implement.
const UNSUPPORTED: &[(u8, &str)] = &[
    (b'F', "running a script at the start of each tape (-F)"),
    (b'R', "resuming an interrupted -r (-R)"),
    (b's', "multi-file tapes (-s)"),
    (b'c', "converting old (4.1BSD) file system dumps (-c)"),
];

/// `-M -f base` and `-f a,b,c` (a name with commas that is not an existing
/// file) read several volumes in turn.
fn volumes(input: Input, multi_volume: bool) -> Input {
    use crate::volumes::VolumeSet;
    match input {
        Input::Path(p) if multi_volume => Input::Volumes(VolumeSet {
            numbered: Some(p),
            list: Vec::new(),
        }),
        Input::Path(p) if !p.exists() && p.to_string_lossy().contains(',') => {
            Input::Volumes(VolumeSet {
                numbered: None,
                list: p.to_string_lossy().split(',').map(PathBuf::from).collect(),
            })
        }
        other => other,
    }
}

/// The usage text, modelled on restore's, with rrestore's options.
pub fn usage_text(progname: &str) -> String {
    let pad = " ".repeat(progname.len());
    format!(
        "usage:\t{p} -C [-dlvVy] [-b blocksize] [-D filesystem]\n\
         \t{w}    [-f file] [-L limit] [-T directory]\n\
         \t{p} -i [-dhlmouvVy] [-A file] [-b blocksize] [-f file] [-Q file]\n\
         \t{w}    [-T directory]\n\
         \t{p} -P file [-dhvy] [-b blocksize] [-f file] [-X filelist] [file ...]\n\
         \t{p} -r [-dlNuvVy] [-b blocksize] [-f file] [-T directory]\n\
         \t{p} -t [-dhlvVy] [-A file] [-b blocksize] [-f file] [-X filelist] [file ...]\n\
         \t{p} -x [-dhlmNouvVy] [-b blocksize] [-f file] [-Q file] [-T directory]\n\
         \t{w}    [-X filelist] [file ...]\n\
         \t{p} --help | --version\n\
         \n\
         The key-letter form is accepted too: `{p} tvf dump.file`, `{p} rf -`.\n\
         Modes: -C compare, -i interactive, -r rebuild into the current\n\
         directory (a level 0 dump, then each incremental one in turn), -t list,\n\
         -x extract. -M -f base reads the volumes base001, base002, ...;\n\
         -f a,b,c reads volumes a, b, c in turn. -f [user@]host:file reads the\n\
         dump from host through rmt, started as `$RSH host -l user $RMT`\n\
         ($RSH default ssh, $RMT default /etc/rmt).\n\
         -f PREFIX reads the parts `split -b SIZE - PREFIX` made (PREFIXaa,\n\
         PREFIXab, ...) as one dump when no file is named PREFIX. From a file\n\
         or split parts, -x and -i's extract seek to what they extract; -Q file\n\
         (dump -Q's positions) takes them straight to each file's record;\n\
         -P file writes that file from the dump.\n\
         -A file (with -t, -i) lists and browses the table of contents dump -A\n\
         wrote, without the dump.\n\
         See rrestore(8).\n",
        p = progname,
        w = pad
    )
}

/// Rewrites restore's key-letter form (`tvf file`) into getopt words
/// (`-tv -ffile`), exactly as restore's `obsolete()`: letters that take an
/// argument consume the following words in order.
fn expand_key_letters(args: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    let Some(first) = args.first() else {
        return Ok(args);
    };
    let first_bytes = first.as_bytes();
    if first_bytes.is_empty() || first_bytes[0] == b'-' {
        return Ok(args);
    }
    let mut rest = args[1..].iter().cloned();
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut flags = vec![b'-'];
    for &letter in first_bytes {
        if WITH_ARGUMENT.contains(&letter) {
            let Some(value) = rest.next() else {
                return Err(CliError::with_usage(format!(
                    "option requires an argument -- {}",
                    letter as char
                )));
            };
            let mut word = vec![b'-', letter];
            word.extend_from_slice(value.as_bytes());
            out.push(OsString::from_vec(word));
        } else {
            flags.push(letter);
        }
    }
    if flags.len() > 1 {
        out.push(OsString::from_vec(flags));
    }
    out.extend(rest);
    Ok(out)
}

fn parse_number(value: &OsStr, what: &str) -> Result<i64, CliError> {
    value
        .to_str()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| CliError::plain(format!("illegal {what} -- {}", value.to_string_lossy())))
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Parsed, CliError> {
    if args.iter().any(|a| a == "--help") {
        return Ok(Parsed::Help);
    }
    if args.iter().any(|a| a == "--version") {
        return Ok(Parsed::Version);
    }
    if args.is_empty() {
        return Err(CliError::with_usage("no mode given"));
    }
    let args = expand_key_letters(args)?;

    let mut mode: Option<Mode> = None;
    let mut input = match std::env::var_os("TAPE") {
        Some(t) if t == "-" => Input::Stdin,
        Some(t) => Input::Path(PathBuf::from(t)),
        None => Input::Path(PathBuf::from("/dev/st0")),
    };
    let mut stdin_user: Option<&'static str> = None;
    let mut multi_volume = false;
    let mut opts = Options {
        mode: Mode::List,
        input: input.clone(),
        block_size: None,
        yes: false,
        no_write: false,
        descend: true,
        by_name: true,
        force_dot_mode: false,
        unlink_first: false,
        verbose: false,
        debug: false,
        compare_dir: None,
        tmpdir: std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp")),
        file_list: None,
        compare_limit: 0,
        files: Vec::new(),
        archive: None,
        qfa: None,
        positions_out: None,
    };

    let mut claim_stdin = |opt: &'static str| -> Result<(), CliError> {
        if let Some(previous) = stdin_user {
            return Err(CliError::plain(format!(
                "can't handle standard input for both {previous} and {opt}"
            )));
        }
        stdin_user = Some(opt);
        Ok(())
    };

    let mut i = 0;
    let mut operands_only = false;
    while i < args.len() {
        let word = args[i].as_bytes();
        i += 1;
        if operands_only || word.len() < 2 || word[0] != b'-' {
            opts.files.push(OsString::from_vec(word.to_vec()));
            continue;
        }
        if word == b"--" {
            operands_only = true;
            continue;
        }
        let mut pos = 1;
        while pos < word.len() {
            let letter = word[pos];
            pos += 1;
            let value: Option<OsString> = if WITH_ARGUMENT.contains(&letter) {
                if pos < word.len() {
                    let v = OsString::from_vec(word[pos..].to_vec());
                    pos = word.len();
                    Some(v)
                } else if i < args.len() {
                    i += 1;
                    Some(args[i - 1].clone())
                } else {
                    return Err(CliError::with_usage(format!(
                        "option requires an argument -- '{}'",
                        letter as char
                    )));
                }
            } else {
                None
            };
            if let Some((_, what)) = UNSUPPORTED.iter().find(|(l, _)| *l == letter) {
                return Err(CliError::plain(format!("rrestore does not support {what}")));
            }
            match letter {
                b'C' | b'i' | b'r' | b't' | b'x' | b'P' => {
                    let new = match letter {
                        b'C' => Mode::Compare,
                        b'i' => Mode::Interactive,
                        b'r' => Mode::Rebuild,
                        b't' => Mode::List,
                        b'P' => Mode::Positions,
                        _ => Mode::Extract,
                    };
                    if letter == b'P' {
                        opts.positions_out = Some(PathBuf::from(value.clone().unwrap_or_default()));
                    }
                    if let Some(old) = mode {
                        return Err(CliError::plain(format!(
                            "{} and {} options are mutually exclusive",
                            new.letter(),
                            old.letter()
                        )));
                    }
                    mode = Some(new);
                }
                b'a' | b'l' | b'V' => {} // tape-handling options; harmless no-ops here
                b'b' => {
                    let v = value.unwrap_or_default();
                    let n = parse_number(&v, "blocksize")?;
                    if n <= 0 {
                        return Err(CliError::plain("block size must be greater than 0"));
                    }
                    // Larger than any real tape record; keeps buffers bounded.
                    if n > 1024 * 1024 {
                        return Err(CliError::plain(format!("illegal blocksize -- {n}")));
                    }
                    opts.block_size = Some(n as usize);
                }
                b'A' => opts.archive = Some(PathBuf::from(value.unwrap_or_default())),
                b'Q' => opts.qfa = Some(PathBuf::from(value.unwrap_or_default())),
                b'd' => opts.debug = true,
                b'D' => opts.compare_dir = value.map(PathBuf::from),
                b'f' => {
                    let v = value.unwrap_or_default();
                    if v == "-" {
                        claim_stdin("-f")?;
                        input = Input::Stdin;
                    } else {
                        input = Input::Path(PathBuf::from(v));
                    }
                }
                b'h' => opts.descend = false,
                b'H' => {
                    let v = value.unwrap_or_default();
                    if parse_number(&v, "hash size")? < 1 {
                        return Err(CliError::plain("hash size must be greater than 0"));
                    }
                }
                b'L' => {
                    let v = value.unwrap_or_default();
                    let n = parse_number(&v, "limit")?;
                    if n < 0 {
                        return Err(CliError::plain("limit must be greater than 0"));
                    }
                    opts.compare_limit = n as u64;
                }
                b'm' => opts.by_name = false,
                b'N' => opts.no_write = true,
                b'M' => multi_volume = true,
                b'o' => opts.force_dot_mode = true,
                b'T' => opts.tmpdir = PathBuf::from(value.unwrap_or_default()),
                b'u' => opts.unlink_first = true,
                b'v' => opts.verbose = true,
                b'X' => {
                    let v = value.unwrap_or_default();
                    if v == "-" {
                        claim_stdin("-X")?;
                        opts.file_list = Some(FileList::Stdin);
                    } else {
                        opts.file_list = Some(FileList::Path(PathBuf::from(v)));
                    }
                }
                b'y' => opts.yes = true,
                other => {
                    return Err(CliError::with_usage(format!(
                        "invalid option -- '{}'",
                        String::from_utf8_lossy(&[other])
                    )))
                }
            }
        }
    }
    let Some(mode) = mode else {
        return Err(CliError::plain("none of C, i, r, t or x options specified"));
    };
    opts.mode = mode;
    opts.input = volumes(input, multi_volume);
    if let Some(toc) = &opts.archive {
        // The table of contents is itself a dump stream (headers, maps,
        // directories, trailer): listing and browsing read it as the dump.
        if !matches!(mode, Mode::List | Mode::Interactive) {
            return Err(CliError::plain(
                "rrestore reads an archive file (-A) only with -t and -i",
            ));
        }
        opts.input = Input::Path(toc.clone());
    }
    Ok(Parsed::Run(Box::new(opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> Result<Options, CliError> {
        match parse(words.iter().map(OsString::from).collect())? {
            Parsed::Run(o) => Ok(*o),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn key_letter_form_takes_arguments_in_order() {
        let o = run(&["tvf", "backup.dump"]).unwrap();
        assert_eq!(o.mode, Mode::List);
        assert!(o.verbose);
        assert_eq!(o.input, Input::Path("backup.dump".into()));

        let o = run(&["rbf", "64", "-"]).unwrap();
        assert_eq!(o.mode, Mode::Rebuild);
        assert_eq!(o.block_size, Some(64));
        assert_eq!(o.input, Input::Stdin);

        let o = run(&["xfD", "d.dump", "/mnt", "a", "b"]).unwrap();
        assert_eq!(o.compare_dir, Some("/mnt".into()));
        assert_eq!(o.files, vec![OsString::from("a"), OsString::from("b")]);
    }

    #[test]
    fn getopt_form_bundles_and_permutes() {
        let o = run(&["-tvfx.dump", "dir", "-h"]).unwrap();
        assert_eq!(o.input, Input::Path("x.dump".into()));
        assert!(!o.descend);
        assert_eq!(o.files, vec![OsString::from("dir")]);

        let o = run(&["-x", "-f", "-", "-m", "--", "-odd"]).unwrap();
        assert_eq!(o.mode, Mode::Extract);
        assert!(!o.by_name);
        assert_eq!(o.files, vec![OsString::from("-odd")]);
    }

    #[test]
    fn errors_match_restore() {
        let e = run(&["-t", "-x"]).unwrap_err();
        assert_eq!(e.message, "x and t options are mutually exclusive");
        let e = run(&["-v"]).unwrap_err();
        assert_eq!(e.message, "none of C, i, r, t or x options specified");
        let e = run(&["-t", "-b", "1x"]).unwrap_err();
        assert_eq!(e.message, "illegal blocksize -- 1x");
        let e = run(&["-t", "-b", "0"]).unwrap_err();
        assert_eq!(e.message, "block size must be greater than 0");
        let e = run(&["-t", "-f", "-", "-X", "-"]).unwrap_err();
        assert_eq!(e.message, "can't handle standard input for both -f and -X");
        let e = run(&["tf"]).unwrap_err();
        assert!(e.usage);
        let e = run(&["-t", "-k"]).unwrap_err();
        assert!(e.usage && e.message.contains("'k'"));
        let e = run(&["-R"]).unwrap_err();
        assert!(e.message.contains("-R"));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse(vec!["--help".into()]), Ok(Parsed::Help)));
        assert!(matches!(
            parse(vec!["-t".into(), "--version".into()]),
            Ok(Parsed::Version)
        ));
    }
}
