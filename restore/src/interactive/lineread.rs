//! Where the shell's command lines come from.
//!
//! On a terminal we use `rustyline`: a maintained, pure-Rust line editor
//! (no C readline to link, no `unsafe` here) with emacs/vi editing,
//! in-memory history and a `Completer` trait, which is all restore's
//! readline integration offered. Anything else (a pipe, a file, a
//! terminal that rustyline cannot drive) is read line by line with no
//! prompt and no terminal control bytes, so scripted sessions produce
//! clean output.

use std::io::{self, BufRead, Write};
use std::rc::Rc;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::args::escape_word;
use crate::catalog::Catalog;
use crate::tree::canon;

/// What reading a line gave.
pub enum Line {
    Text(Vec<u8>),
    /// Ctrl-C at the prompt: forget the line, prompt again.
    Interrupted,
    /// End of input: the shell quits.
    Eof,
}

/// A source of command lines.
pub enum LineSource {
    /// A terminal driven by rustyline, with completion over the dump.
    Editor(Box<Editor<DumpCompleter, DefaultHistory>>),
    /// Plain lines; `prompt_to` is where prompts go (a terminal that is not
    /// standard input, e.g. /dev/tty when the dump is on standard input),
    /// or `None` for no prompts at all.
    Plain {
        input: Box<dyn BufRead>,
        prompt_to: Option<Box<dyn Write>>,
    },
}

impl LineSource {
    /// rustyline on the terminal, with path completion over `catalog`.
    pub fn editor(catalog: Rc<Catalog>) -> Result<Self, ReadlineError> {
        let config = rustyline::Config::builder()
            .auto_add_history(false)
            .completion_type(rustyline::CompletionType::List)
            .build();
        let mut editor = Editor::with_config(config)?;
        editor.set_helper(Some(DumpCompleter {
            catalog,
            curdir: b".".to_vec(),
        }));
        Ok(LineSource::Editor(Box::new(editor)))
    }

    /// Reads the next non-empty line. `curdir` is the shell's current
    /// directory, for completion.
    pub fn read(&mut self, prompt: &str, curdir: &[u8]) -> io::Result<Line> {
        match self {
            LineSource::Editor(ed) => {
                if let Some(h) = ed.helper_mut() {
                    h.curdir = curdir.to_vec();
                }
                loop {
                    match ed.readline(prompt) {
                        Ok(line) if line.trim().is_empty() => continue,
                        Ok(line) => {
                            let _ = ed.add_history_entry(line.as_str());
                            return Ok(Line::Text(line.into_bytes()));
                        }
                        Err(ReadlineError::Interrupted) => return Ok(Line::Interrupted),
                        Err(ReadlineError::Eof) => return Ok(Line::Eof),
                        Err(ReadlineError::Io(e)) => return Err(e),
                        Err(e) => return Err(io::Error::other(e.to_string())),
                    }
                }
            }
            LineSource::Plain { input, prompt_to } => loop {
                if let Some(out) = prompt_to {
                    let _ = out.write_all(prompt.as_bytes());
                    let _ = out.flush();
                }
                let mut line = Vec::new();
                if input.read_until(b'\n', &mut line)? == 0 {
                    return Ok(Line::Eof);
                }
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                    line.pop();
                }
                return Ok(Line::Text(line));
            },
        }
    }
}

/// The commands completed in first position (restore's list).
pub const COMMANDS: &[&str] = &[
    "add", "cd", "delete", "extract", "help", "?", "ls", "pwd", "prompt", "quit", "xit", "verbose",
    "setmodes", "what", "Debug",
];

/// TAB completion: command names first, then paths inside the dump,
/// relative to the shell's current directory (or absolute). Directories
/// complete with a trailing `/`, other names with a space, as restore's
/// readline completion does.
pub struct DumpCompleter {
    catalog: Rc<Catalog>,
    curdir: Vec<u8>,
}

impl DumpCompleter {
    /// Candidates for the word `word` (already unescaped).
    pub fn candidates(&self, word: &str, first: bool) -> Vec<Pair> {
        if first {
            return COMMANDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| Pair {
                    display: c.to_string(),
                    replacement: format!("{c} "),
                })
                .collect();
        }
        let (dir_part, stem) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word),
        };
        let dir_path = if dir_part.starts_with('/') {
            canon(dir_part.as_bytes())
        } else {
            let mut p = self.curdir.clone();
            p.push(b'/');
            p.extend_from_slice(dir_part.as_bytes());
            canon(&p)
        };
        let tree = &self.catalog.tree;
        let Ok(dir) = tree.lookup(&dir_path) else {
            return Vec::new();
        };
        let Some(children) = tree.children(dir) else {
            return Vec::new();
        };
        let mut out: Vec<Pair> = children
            .filter(|e| self.catalog.is_dumped(e.ino))
            .filter_map(|e| {
                let name = std::str::from_utf8(e.name).ok()?;
                if !name.starts_with(stem) {
                    return None;
                }
                let is_dir = tree.is_dir(e.ino);
                let full = format!("{dir_part}{name}");
                Some(Pair {
                    display: format!("{name}{}", if is_dir { "/" } else { "" }),
                    replacement: format!(
                        "{}{}",
                        escape_word(&full),
                        if is_dir { "/" } else { " " }
                    ),
                })
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out
    }
}

/// Finds the word being completed in `line[..pos]`: its start (a byte
/// offset into `line`), its unescaped text, and whether it is the first
/// word of the line.
pub fn current_word(line: &str, pos: usize) -> (usize, String, bool) {
    let head = &line[..pos];
    let bytes = head.as_bytes();
    let mut start = 0;
    let mut words_before = 0;
    let mut in_word = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => {
                if in_word {
                    words_before += 1;
                    in_word = false;
                }
                start = i + 1;
            }
            b'\\' => {
                in_word = true;
                i += 1;
            }
            _ => in_word = true,
        }
        i += 1;
    }
    let start = start.min(head.len());
    let mut text = String::new();
    let mut chars = head[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    text.push(n);
                }
            }
            '\'' | '"' => {}
            c => text.push(c),
        }
    }
    (start, text, words_before == 0)
}

impl Completer for DumpCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, word, first) = current_word(line, pos);
        Ok((start, self.candidates(&word, first)))
    }
}

impl Hinter for DumpCompleter {
    type Hint = String;
}
impl Highlighter for DumpCompleter {}
impl Validator for DumpCompleter {}
impl Helper for DumpCompleter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_word_under_the_cursor() {
        assert_eq!(current_word("ad", 2), (0, "ad".into(), true));
        assert_eq!(current_word("add li", 6), (4, "li".into(), false));
        assert_eq!(current_word("  add", 5), (2, "add".into(), true));
        assert_eq!(
            current_word("add names/with\\ sp", 18),
            (4, "names/with sp".into(), false)
        );
        assert_eq!(current_word("ls ", 3), (3, String::new(), false));
    }
}
