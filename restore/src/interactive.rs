//! `-i`: restore's interactive shell for browsing a dump and pulling back
//! single files (restore 0.4b47's `runcmdshell`).
//!
//! The shell starts as soon as the directory records are read (they come
//! first on the dump), from the [`Catalog`] that `-t`/`-x` use too; no
//! file data has been read then. `add`/`delete` edit a [`Selection`]
//! (every inode to extract with every name it gets), and `extract` reads
//! the rest of the dump once through the extraction code shared with `-x`
//! (see [`extract`]) and writes only what was selected.
//!
//! Commands and their output follow restore: `ls` lists in columns with a
//! trailing `/` on directories and a leading `*` on names marked for
//! extraction (inode numbers in verbose mode), arguments are globbed over
//! the dump's tree, a command may be abbreviated to any prefix. Unlike
//! restore, listings and other answers go to standard output (restore
//! writes everything to standard error) and errors to standard error, and
//! when commands do not come from a terminal no prompt is printed, so a
//! piped session gives clean, scriptable output.

pub mod args;
pub mod extract;
pub mod lineread;
pub mod listing;

use std::io::{self, IsTerminal, Write};
use std::rc::Rc;

use thiserror::Error;

use crate::catalog::{self, Catalog, Notes, Tape};
use crate::cli::{Input, Options};
use crate::tree::{display_path, Name, Selection, ROOT_INO};
use crate::ui::{self, Ui};
use args::{expand, split_words};
use extract::ShellExtractOptions;
use lineread::{Line, LineSource};
use listing::{format_columns, printable, suffix_for, ListEntry};

/// Why the shell had to stop.
#[derive(Debug, Error)]
pub enum ShellError {
    #[error("cannot read commands: {0}")]
    Input(#[source] io::Error),
    #[error("the dump is read from standard input and there is no terminal to read commands from (/dev/tty: {0})")]
    NoTerminal(#[source] io::Error),
}

/// restore's `help` text (sent to standard output).
pub const HELP: &str = "Available commands are:\n\
\tls [arg] - list directory\n\
\tcd arg - change directory\n\
\tpwd - print current directory\n\
\tadd [arg] - add `arg' to list of files to be extracted\n\
\tdelete [arg] - delete `arg' from list of files to be extracted\n\
\textract - extract requested files\n\
\tsetmodes - set modes of requested directories\n\
\tquit - immediately exit program\n\
\twhat - list dump header information\n\
\tverbose - toggle verbose flag (useful with ``ls'')\n\
\tprompt - toggle the prompt display\n\
\thelp or `?' - print this list\n\
If no `arg' is supplied, the current directory is used\n";

/// Whether the shell goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Discards messages (used when the dump is read again for a second
/// `extract`: the directories were already reported the first time).
struct Quiet;
impl Notes for Quiet {
    fn warn(&mut self, _msg: &str) {}
    fn verbose(&mut self, _msg: &str) {}
}

/// The shell's state.
pub struct Shell<'a> {
    catalog: Rc<Catalog>,
    /// The dump positioned after the directories; taken by `extract`.
    tape: Option<Tape>,
    /// The dump file or set of volumes, to read again for a later
    /// `extract`, with the QFA positions given for it.
    reopen: Option<Input>,
    positions: Vec<(u32, u64)>,
    /// The dump is a set of volumes (read from volume 1 on).
    volume_set: bool,
    selection: Selection,
    /// Canonical current directory (`.` or `./a/b`).
    curdir: Vec<u8>,
    verbose: bool,
    debug: bool,
    /// restore's `prompt` mode: the prompt shows file system and directory.
    long_prompt: bool,
    /// Without -h, `add`/`delete` of a directory take its whole subtree.
    descend: bool,
    /// -o: set the owner/mode of `.` without asking.
    force_dot: bool,
    /// -y: never ask, take the default answers.
    yes: bool,
    /// Commands come from a terminal: questions may be asked.
    terminal: bool,
    progname: String,
    extract_opts: ShellExtractOptions,
    ui: &'a mut Ui,
}

impl<'a> Shell<'a> {
    pub fn new(
        opts: &Options,
        catalog: Rc<Catalog>,
        tape: Tape,
        terminal: bool,
        progname: &str,
        ui: &'a mut Ui,
    ) -> Self {
        let positions = tape.reader.positions().to_vec();
        Shell {
            catalog,
            tape: Some(tape),
            positions,
            volume_set: matches!(opts.input, Input::Volumes(_)),
            reopen: match &opts.input {
                // A pipe is read once.
                Input::Stdin => None,
                other => Some(other.clone()),
            },
            selection: Selection::new(),
            curdir: b".".to_vec(),
            verbose: opts.verbose,
            debug: opts.debug,
            long_prompt: false,
            descend: opts.descend,
            force_dot: opts.force_dot_mode,
            yes: opts.yes,
            terminal,
            progname: progname.to_string(),
            extract_opts: ShellExtractOptions {
                no_write: opts.no_write,
                unlink_first: opts.unlink_first,
                by_name: opts.by_name,
            },
            ui,
        }
    }

    fn prompt(&self) -> String {
        if self.long_prompt {
            let dir = if self.curdir.len() > 1 {
                display_path(&self.curdir[1..])
            } else {
                "/".to_string()
            };
            format!(
                "{}:{}:{} > ",
                self.progname,
                self.catalog.volume.filesys_str(),
                dir
            )
        } else {
            format!("{} > ", self.progname)
        }
    }

    /// Reads and runs commands until `quit`, `xit` or end of input.
    pub fn run(&mut self, mut input: LineSource) -> Result<(), ShellError> {
        loop {
            self.ui.flush();
            let line = input
                .read(&self.prompt(), &self.curdir)
                .map_err(ShellError::Input)?;
            match line {
                Line::Text(text) => {
                    if self.execute(&text) == Flow::Quit {
                        break;
                    }
                }
                Line::Interrupted => continue,
                Line::Eof => {
                    if self.terminal {
                        self.ui.out("");
                    }
                    break;
                }
            }
        }
        self.ui.flush();
        Ok(())
    }

    /// Runs one command line.
    pub fn execute(&mut self, line: &[u8]) -> Flow {
        let words = split_words(line);
        for p in &words.problems {
            self.ui.err(p);
        }
        let Some((cmd, rest)) = words.words.split_first() else {
            return Flow::Continue;
        };
        let is = |full: &str| full.as_bytes().starts_with(cmd);
        let flow = match cmd.first() {
            Some(b'a') if is("add") => self.for_each_arg(rest, Self::add),
            Some(b'c') if is("cd") => self.for_each_arg(rest, Self::cd),
            Some(b'd') if is("delete") => self.for_each_arg(rest, Self::delete),
            Some(b'e') if is("extract") => self.extract(),
            Some(b'h') if is("help") => self.help(),
            Some(b'?') => self.help(),
            Some(b'l') if is("ls") => self.for_each_arg(rest, Self::ls),
            Some(b'p') if is("pwd") => {
                let dir = if self.curdir.len() > 1 {
                    self.curdir[1..].to_vec()
                } else {
                    b"/".to_vec()
                };
                self.ui.out_bytes(&dir);
                self.ui.out_bytes(b"\n");
                Flow::Continue
            }
            Some(b'p') if is("prompt") => {
                self.long_prompt = !self.long_prompt;
                self.ui.out(if self.long_prompt {
                    "prompt mode on"
                } else {
                    "prompt mode off"
                });
                Flow::Continue
            }
            Some(b'q') if is("quit") => Flow::Quit,
            Some(b'x') if is("xit") => Flow::Quit,
            Some(b'v') if is("verbose") => {
                self.verbose = !self.verbose;
                self.ui.verbose = self.verbose;
                self.ui.out(if self.verbose {
                    "verbose mode on"
                } else {
                    "verbose mode off"
                });
                Flow::Continue
            }
            Some(b's') if is("setmodes") => self.setmodes(),
            Some(b'w') if is("what") => {
                for l in ui::dump_info(&self.catalog.volume) {
                    self.ui.out(&l);
                }
                Flow::Continue
            }
            Some(b'D') if is("Debug") => {
                self.debug = !self.debug;
                self.ui.out(if self.debug {
                    "debugging mode on"
                } else {
                    "debugging mode off"
                });
                Flow::Continue
            }
            _ => {
                self.ui.err(&format!(
                    "{}: unknown command; type ? for help",
                    String::from_utf8_lossy(cmd)
                ));
                Flow::Continue
            }
        };
        self.ui.flush();
        flow
    }

    /// Runs `f` on each name the arguments expand to (the current
    /// directory when there are none), as restore's `getcmd` hands them out.
    fn for_each_arg(&mut self, args: &[Vec<u8>], f: fn(&mut Self, &[u8])) -> Flow {
        if args.is_empty() {
            let cur = self.curdir.clone();
            f(self, &cur);
        }
        for word in args {
            for name in expand(&self.catalog, &self.curdir, word, self.debug) {
                f(self, &name);
            }
        }
        Flow::Continue
    }

    fn not_on_tape(&mut self, name: &[u8]) {
        self.ui
            .err(&format!("{} is not on the tape", display_path(name)));
    }

    fn cd(&mut self, name: &[u8]) {
        match self.catalog.tree.lookup(name) {
            Err(_) => self.not_on_tape(name),
            Ok(ino) if !self.catalog.tree.is_dir(ino) => self
                .ui
                .err(&format!("{}: not a directory", display_path(name))),
            Ok(_) => self.curdir = name.to_vec(),
        }
    }

    fn add(&mut self, name: &[u8]) {
        let catalog = Rc::clone(&self.catalog);
        let dumped = |ino: u32| catalog.is_dumped(ino);
        if self
            .selection
            .add_path(&catalog.tree, name, self.descend, &dumped)
            .is_err()
        {
            self.not_on_tape(name);
        }
    }

    /// The name by which `path` is selected (its last entry, or the root).
    fn name_of(&self, path: &[u8]) -> Option<(u32, Name)> {
        let ids = self.catalog.tree.lookup_entries(path).ok()?;
        Some(match ids.last() {
            Some(&id) => (self.catalog.tree.entry(id).ino, Name::Entry(id)),
            None => (ROOT_INO, Name::Root),
        })
    }

    fn delete(&mut self, name: &[u8]) {
        let marked = self
            .name_of(name)
            .is_some_and(|(ino, n)| self.selection.names_of(ino).contains(&n));
        if !marked {
            self.ui
                .err(&format!("{}: not on extraction list", display_path(name)));
            return;
        }
        let catalog = Rc::clone(&self.catalog);
        let _ = self
            .selection
            .remove_path(&catalog.tree, name, self.descend);
    }

    /// restore's `printlist`: a directory's contents, or a single name.
    fn ls(&mut self, name: &[u8]) {
        let catalog = Rc::clone(&self.catalog);
        let tree = &catalog.tree;
        let Some((ino, sel_name)) = self.name_of(name) else {
            self.not_on_tape(name);
            return;
        };
        if !self.debug && !catalog.is_dumped(ino) {
            self.not_on_tape(name);
            return;
        }
        let mark = |ino: u32, n: Name| -> u8 {
            if !catalog.is_dumped(ino) {
                b'^'
            } else if self.selection.names_of(ino).contains(&n) {
                b'*'
            } else {
                b' '
            }
        };
        let shown = |raw: &[u8]| {
            if self.verbose {
                raw.to_vec()
            } else {
                printable(raw)
            }
        };
        let mut warnings = Vec::new();
        let mut suffix = |file_type: u8, ino: u32| {
            suffix_for(file_type, tree.is_dir(ino)).unwrap_or_else(|| {
                warnings.push(format!("Warning: undefined file type {file_type}"));
                b' '
            })
        };
        let mut out = Vec::new();
        if let Some(children) = tree.children(ino) {
            out.extend_from_slice(name);
            out.extend_from_slice(b":\n");
            let mut list = Vec::new();
            if self.verbose {
                let parent = tree
                    .entries_to_dir(ino)
                    .and_then(|ids| ids.last().map(|&id| tree.entry(id).parent))
                    .unwrap_or(ROOT_INO);
                for (n, i) in [(&b"."[..], ino), (&b".."[..], parent)] {
                    list.push(ListEntry {
                        ino: i,
                        name: n.to_vec(),
                        prefix: b' ',
                        suffix: b'/',
                    });
                }
            }
            for e in children {
                if !self.debug && !catalog.is_dumped(e.ino) {
                    continue;
                }
                list.push(ListEntry {
                    ino: e.ino,
                    name: shown(e.name),
                    prefix: mark(e.ino, Name::Entry(e.id)),
                    suffix: suffix(e.file_type, e.ino),
                });
            }
            list.sort_by(|a, b| a.name.cmp(&b.name));
            out.extend_from_slice(&format_columns(&list, self.verbose));
            out.push(b'\n');
        } else {
            // A single name: shown relative to the current directory when
            // it lies below it (restore's "len" adjustment), else by its
            // own name.
            let (base, file_type) = match sel_name {
                Name::Entry(id) => {
                    let e = tree.entry(id);
                    (e.name.to_vec(), e.file_type)
                }
                Name::Root => (b".".to_vec(), dump_format::dirent::dt::DT_DIR),
            };
            let mut prefix = self.curdir.clone();
            prefix.push(b'/');
            let label = match name.strip_prefix(prefix.as_slice()) {
                Some(rel) if rel.len() > base.len() => rel.to_vec(),
                _ => base,
            };
            let entry = ListEntry {
                ino,
                name: shown(&label),
                prefix: mark(ino, sel_name),
                suffix: suffix(file_type, ino),
            };
            out.extend_from_slice(&format_columns(&[entry], self.verbose));
        }
        for w in warnings {
            self.ui.err(&w);
        }
        self.ui.out_bytes(&out);
    }

    fn help(&mut self) -> Flow {
        self.ui.out_bytes(HELP.as_bytes());
        Flow::Continue
    }

    /// Asks a yes/no question when commands come from a terminal;
    /// otherwise (and under -y) takes `default` without reading anything,
    /// so a piped command stream is never consumed as an answer.
    fn ask(&mut self, question: &str, default: bool) -> bool {
        if !self.terminal || self.yes {
            return default;
        }
        self.ui.flush();
        ui::ask(question)
    }

    /// Whether to give `.` the dump root's owner and mode. Default when no
    /// one can be asked: no (restore's answer at end of input), so the
    /// directory the user restores into keeps its attributes.
    fn root_modes_wanted(&mut self) -> bool {
        if !self.selection.names_of(ROOT_INO).contains(&Name::Root) {
            return false;
        }
        self.force_dot || self.ask("set owner/mode for '.'", false)
    }

    /// restore asks which volume to start with; a single-file dump has one
    /// volume, so without a terminal the answer is 1.
    fn volume_wanted(&mut self) -> bool {
        if !self.terminal || self.yes {
            return true;
        }
        loop {
            self.ui.flush();
            eprint!("Specify next volume # (none if no more volumes): ");
            let _ = io::stderr().flush();
            let mut answer = String::new();
            match io::stdin().read_line(&mut answer) {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
            match answer.trim() {
                "" | "1" => return true,
                "none" => return false,
                a if a.parse::<u32>().is_ok() && self.volume_set => self.ui.err(&format!(
                    "rrestore reads a set of volumes from volume 1 on; start with 1, not {a}"
                )),
                a if a.parse::<u32>().is_ok() => self.ui.err(&format!(
                    "this dump has a single volume; volume {a} is not available"
                )),
                _ => self.ui.err("Volume numbers are positive numerics"),
            }
        }
    }

    /// The dump positioned at the file records: the copy read at start-up,
    /// or the dump file read again up to the same point.
    fn take_tape(&mut self) -> Result<Tape, String> {
        if let Some(mut t) = self.tape.take() {
            t.seek = true;
            return Ok(t);
        }
        let Some(input) = &self.reopen else {
            return Err(
                "the dump came from standard input and has already been read; it cannot be read again"
                    .to_string(),
            );
        };
        // A set of volumes is read again from volume 1 (its first volume
        // names it again, or the operator gives them in turn).
        let mut reader = catalog::open_reader(input).map_err(|e| e.to_string())?;
        reader.set_positions(self.positions.clone());
        let (_, mut tape) = catalog::read_catalog(reader, &mut Quiet).map_err(|e| e.to_string())?;
        tape.seek = true;
        Ok(tape)
    }

    fn extract(&mut self) -> Flow {
        if self.selection.is_empty() {
            self.ui.err("no files are marked for extraction (use add)");
            return Flow::Continue;
        }
        if !self.volume_wanted() {
            return Flow::Continue;
        }
        let set_root = self.root_modes_wanted();
        let tape = match self.take_tape() {
            Ok(t) => t,
            Err(e) => {
                self.ui.err(&e);
                return Flow::Continue;
            }
        };
        let catalog = Rc::clone(&self.catalog);
        match extract::extract_selection(
            &catalog,
            tape,
            &self.selection,
            self.extract_opts,
            set_root,
            self.ui,
        ) {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => {
                self.ui
                    .err(&format!("{} names were not restored:", problems.len()));
                for p in &problems {
                    self.ui.err(&format!("  {p}"));
                }
            }
            Err(e) => self.ui.err(&format!("extract: {e}")),
        }
        Flow::Continue
    }

    fn setmodes(&mut self) -> Flow {
        // restore's setdirmodes(FORCE): no question about '.'.
        let catalog = Rc::clone(&self.catalog);
        if let Err(e) = extract::set_modes(&catalog, &self.selection, self.extract_opts, self.ui) {
            self.ui.err(&format!("setmodes: {e}"));
        }
        Flow::Continue
    }
}

/// Runs the shell over an opened dump: commands from standard input
/// (or from /dev/tty when the dump itself is on standard input).
pub fn run(
    opts: &Options,
    catalog: Catalog,
    tape: Tape,
    progname: &str,
    ui: &mut Ui,
) -> Result<(), ShellError> {
    let catalog = Rc::new(catalog);
    let (source, terminal) = if opts.input == Input::Stdin {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(ShellError::NoTerminal)?;
        let out = tty.try_clone().map_err(ShellError::NoTerminal)?;
        let source = LineSource::Plain {
            input: Box::new(io::BufReader::new(tty)),
            prompt_to: Some(Box::new(out)),
        };
        // Answers to questions would have to come from /dev/tty too;
        // take the defaults instead.
        (source, false)
    } else if io::stdin().is_terminal() && io::stdout().is_terminal() {
        let source = LineSource::editor(Rc::clone(&catalog))
            .map_err(|e| ShellError::Input(io::Error::other(e.to_string())))?;
        (source, true)
    } else {
        let source = LineSource::Plain {
            input: Box::new(io::stdin().lock()),
            prompt_to: None,
        };
        (source, false)
    };
    Shell::new(opts, catalog, tape, terminal, progname, ui).run(source)
}
