//! Command-line words of the interactive shell: splitting a line into words
//! the way restore's `copynext()` does (blanks separate words, `\` escapes
//! one character, '…' and "…" quote), turning a word into a canonical
//! `./a/b` path relative to the current directory, and expanding glob
//! patterns (`*`, `?`, `[…]`) against the directory tree of the dump.

use crate::catalog::Catalog;
use crate::tree::{canon, ROOT_INO};

/// A line split into words, with the complaints restore prints about it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Words {
    pub words: Vec<Vec<u8>>,
    /// "missing '", "command lines cannot be continued".
    pub problems: Vec<String>,
}

/// Splits a command line into words (restore's `copynext`, applied until
/// the line is used up).
pub fn split_words(line: &[u8]) -> Words {
    let mut out = Words::default();
    let mut i = 0;
    let blank = |b: u8| b == b' ' || b == b'\t' || b == b'\n' || b == b'\r';
    loop {
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return out;
        }
        let mut word = Vec::new();
        while i < line.len() && !blank(line[i]) {
            match line[i] {
                b'\\' => {
                    if i + 1 >= line.len() {
                        out.problems
                            .push("command lines cannot be continued".to_string());
                        i += 1;
                    } else {
                        word.push(line[i + 1]);
                        i += 2;
                    }
                }
                q @ (b'\'' | b'"') => {
                    i += 1;
                    while i < line.len() && line[i] != q {
                        word.push(line[i]);
                        i += 1;
                    }
                    if i >= line.len() {
                        out.problems.push(format!("missing {}", q as char));
                    } else {
                        i += 1;
                    }
                }
                b => {
                    word.push(b);
                    i += 1;
                }
            }
        }
        out.words.push(word);
    }
}

/// The canonical path (`./a/b`) a word names from directory `curdir`
/// (itself canonical): absolute words start at the root of the dump.
pub fn resolve(curdir: &[u8], word: &[u8]) -> Vec<u8> {
    if word.first() == Some(&b'/') {
        canon(word)
    } else {
        let mut joined = curdir.to_vec();
        joined.push(b'/');
        joined.extend_from_slice(word);
        canon(&joined)
    }
}

/// True when `pattern` has glob metacharacters.
pub fn has_magic(pattern: &[u8]) -> bool {
    pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// fnmatch(3) without flags beyond "a leading '.' must be matched
/// explicitly": `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\` escapes.
pub fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    match_from(pattern, name)
}

fn match_from(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with one backtracking point for the last '*'
    // (linear in practice, never exponential).
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => Some(p + 1),
                b'[' => match match_class(&pattern[p..], name[n]) {
                    Some((true, len)) => Some(p + len),
                    Some((false, _)) => None,
                    // An unterminated '[' is an ordinary character.
                    None => (name[n] == b'[').then_some(p + 1),
                },
                b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == name[n]).then_some(p + 2),
                c => (c == name[n]).then_some(p + 1),
            }
        } else {
            None
        };
        match step {
            Some(np) => {
                p = np;
                n += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket expression at the start of `pat`:
/// `Some((matched, length of the expression))`, `None` if unterminated.
fn match_class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pat.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let (lo, mut next) = if lo == b'\\' {
            (*pat.get(i + 1)?, i + 2)
        } else {
            (lo, i + 1)
        };
        let mut hi = lo;
        if pat.get(next) == Some(&b'-') && pat.get(next + 1).is_some_and(|&b| b != b']') {
            hi = pat[next + 1];
            next += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
        i = next;
    }
}

/// Expands a canonical path containing glob patterns against the dump's
/// tree: every existing path it matches, sorted bytewise like glob(3).
/// Entries not on the dump are invisible (restore's `glob_readdir`),
/// unless `show_all` (debug mode).
pub fn glob(catalog: &Catalog, pattern: &[u8], show_all: bool) -> Vec<Vec<u8>> {
    let visible = |ino: u32| show_all || catalog.is_dumped(ino);
    let mut current: Vec<(Vec<u8>, u32)> = vec![(b".".to_vec(), ROOT_INO)];
    for comp in pattern.split(|&b| b == b'/').skip(1) {
        let mut next = Vec::new();
        for (path, ino) in &current {
            let Some(children) = catalog.tree.children(*ino) else {
                continue;
            };
            if has_magic(comp) {
                for e in children {
                    if visible(e.ino) && fnmatch(comp, e.name) {
                        next.push((join(path, e.name), e.ino));
                    }
                }
            } else if let Some(e) = catalog.tree.child(*ino, comp) {
                if visible(e.ino) {
                    next.push((join(path, e.name), e.ino));
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    let mut out: Vec<Vec<u8>> = current.into_iter().map(|(p, _)| p).collect();
    out.sort();
    out.dedup();
    out
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// Expands one argument word the way restore's `getcmd` does: the word is
/// made canonical from `curdir`; if it is a pattern matching something, the
/// matches replace it, else it is used as it stands.
pub fn expand(catalog: &Catalog, curdir: &[u8], word: &[u8], show_all: bool) -> Vec<Vec<u8>> {
    let name = resolve(curdir, word);
    if has_magic(&name) {
        let matches = glob(catalog, &name, show_all);
        if !matches.is_empty() {
            return matches;
        }
    }
    vec![name]
}

/// Escapes a name so that [`split_words`] reads it back as one word
/// (used by TAB completion).
pub fn escape_word(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, ' ' | '\t' | '\\' | '\'' | '"') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(line: &str) -> Vec<String> {
        split_words(line.as_bytes())
            .words
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn words_like_copynext() {
        assert_eq!(w("  add\tfoo  bar "), ["add", "foo", "bar"]);
        assert_eq!(w(r"add with\ space 'a b'c "), ["add", "with space", "a bc"]);
        assert_eq!(w(r#"ls "x'y""#), ["ls", "x'y"]);
        let p = split_words(b"ls 'open");
        assert_eq!(p.words, [b"ls".to_vec(), b"open".to_vec()]);
        assert_eq!(p.problems, ["missing '"]);
        let p = split_words(b"ls x\\");
        assert_eq!(p.problems, ["command lines cannot be continued"]);
        assert!(w("").is_empty());
    }

    #[test]
    fn resolve_relative_and_absolute() {
        assert_eq!(resolve(b".", b"a/b"), b"./a/b");
        assert_eq!(resolve(b"./links", b"../x"), b"./x");
        assert_eq!(resolve(b"./links", b"/etc//passwd"), b"./etc/passwd");
        assert_eq!(resolve(b"./links", b".."), b".");
        assert_eq!(resolve(b"./a", b"../../.."), b".");
    }

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch(b"*.txt", b"small.txt"));
        assert!(!fnmatch(b"*.txt", b".hidden.txt"));
        assert!(fnmatch(b".*", b".hidden"));
        assert!(fnmatch(b"hl-?", b"hl-a"));
        assert!(!fnmatch(b"hl-?", b"hl-ab"));
        assert!(fnmatch(b"hl-[ab]", b"hl-b"));
        assert!(!fnmatch(b"hl-[!ab]", b"hl-b"));
        assert!(fnmatch(b"hl-[^ab]", b"hl-c"));
        assert!(fnmatch(b"[a-c]*[0-9]", b"b-x9"));
        assert!(fnmatch(b"[]]", b"]"));
        assert!(fnmatch(b"a\\*", b"a*"));
        assert!(!fnmatch(b"a\\*", b"ab"));
        assert!(fnmatch(b"[x", b"[x"));
        assert!(fnmatch(b"*a*b*c", b"xxaybzzc"));
        assert!(!fnmatch(b"*a*b*c", b"xxaybzz"));
        assert!(fnmatch(b"*", b""));
    }

    #[test]
    fn escaping_round_trips() {
        let name = "with space 'q' \"d\" back\\slash";
        let line = format!("add {}", escape_word(name));
        assert_eq!(w(&line), ["add", name]);
    }
}
