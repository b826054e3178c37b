//! Generators for file contents that compress like real data: prose, source
//! code, logs and CSV (text, 3-5x with zlib), structured binary records
//! (about 2x) and uniformly random bytes (incompressible, like media files).

use crate::prng::Prng;

/// How a file's bytes are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Prose,
    Code,
    Log,
    Csv,
    /// Fixed-size records with counters, small integers, random fields and
    /// words: databases, object files, archives of mixed content.
    Records,
    /// Uniform random bytes: already-compressed media.
    Random,
}

impl Style {
    pub fn is_text(self) -> bool {
        matches!(self, Style::Prose | Style::Code | Style::Log | Style::Csv)
    }
}

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be",
    "by", "this", "are", "or", "from", "at", "which", "an", "but", "not", "have", "has", "had",
    "were", "can", "all", "their", "when", "there", "been", "one", "would", "will", "more", "if",
    "no", "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "only",
    "other", "new", "some", "could", "time", "these", "two", "may", "then", "first", "any", "like",
    "now", "such", "make", "over", "our", "even", "most", "after", "also", "did", "many", "before",
    "must", "through", "years", "where", "much", "your", "way", "well", "down", "should",
    "because", "each", "just", "those", "people", "how", "too", "little", "state", "good", "very",
    "world", "still", "own", "see", "men", "work", "long", "here", "between", "both", "life",
    "being", "under", "never", "day", "same", "another", "know", "while", "last", "might", "great",
    "old", "year", "off", "come", "since", "against", "go", "came", "right", "used", "take",
    "three", "system", "file", "data", "block", "inode", "buffer", "device", "kernel", "memory",
    "network", "server", "client", "request", "response", "error", "value", "table", "record",
    "index", "query", "cache", "thread", "process", "signal", "stream",
];

const SYLLABLES: &[&str] = &[
    "ba", "ker", "tor", "li", "mon", "set", "val", "ra", "dex", "po", "qu", "zin", "fer", "gal",
    "hu", "mi", "no", "pre", "sta", "tri", "ul", "vec", "wor", "xo", "yel", "zu", "con", "ob",
    "ent", "ing", "ize", "er", "ly", "ma", "ne", "ge", "to", "sch", "ed", "al",
];

const HOSTS: &[&str] = &[
    "web01",
    "web02",
    "db-primary",
    "cache3",
    "worker-7",
    "gateway",
];
const SERVICES: &[&str] = &[
    "nginx", "sshd", "postgres", "cron", "kernel", "systemd", "app",
];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];

/// A seeded vocabulary (English words plus made-up identifiers) shared by
/// all text files of an image.
pub struct Vocabulary {
    words: Vec<String>,
    idents: Vec<String>,
}

impl Vocabulary {
    pub fn new(prng: &mut Prng) -> Vocabulary {
        let mut idents = Vec::with_capacity(3000);
        for _ in 0..3000 {
            let parts = prng.range(2, 4);
            let mut id = String::new();
            for p in 0..parts {
                if p > 0 && prng.chance(40) {
                    id.push('_');
                }
                id.push_str(prng.pick::<&str>(SYLLABLES));
            }
            idents.push(id);
        }
        Vocabulary {
            words: WORDS.iter().map(|w| w.to_string()).collect(),
            idents,
        }
    }

    /// A made-up name, for file and directory names.
    pub fn ident<'a>(&'a self, prng: &mut Prng) -> &'a str {
        prng.pick::<String>(&self.idents)
    }

    fn word<'a>(&'a self, prng: &mut Prng) -> &'a str {
        // Zipf-ish: the first words of the list are the most frequent.
        let n = self.words.len() as u64;
        let i = prng.below(n).min(prng.below(n));
        if prng.chance(15) {
            prng.pick::<String>(&self.idents)
        } else {
            &self.words[i as usize]
        }
    }
}

/// Append about `len` bytes of `style` to `out` (then truncated by caller).
pub fn generate(style: Style, vocab: &Vocabulary, prng: &mut Prng, len: usize, out: &mut Vec<u8>) {
    let target = out.len() + len;
    match style {
        Style::Random => {
            let start = out.len();
            out.resize(target, 0);
            prng.fill(&mut out[start..]);
        }
        Style::Records => {
            let mut counter = prng.below(1 << 20);
            while out.len() < target {
                counter += 1;
                out.extend_from_slice(&counter.to_le_bytes());
                out.extend_from_slice(&(prng.below(1000) as u32).to_le_bytes());
                out.extend_from_slice(&(prng.below(16) as u32).to_le_bytes());
                let mut rnd = [0u8; 12];
                prng.fill(&mut rnd);
                out.extend_from_slice(&rnd);
                let mut name = [0u8; 36];
                let w = vocab.ident(prng).as_bytes();
                let n = w.len().min(name.len());
                name[..n].copy_from_slice(&w[..n]);
                out.extend_from_slice(&name);
            }
        }
        Style::Prose | Style::Code | Style::Log | Style::Csv => {
            let mut line = String::with_capacity(160);
            let mut state = LineState::default();
            while out.len() < target {
                line.clear();
                text_line(style, vocab, prng, &mut state, &mut line);
                out.extend_from_slice(line.as_bytes());
            }
        }
    }
    out.truncate(target);
}

#[derive(Default)]
struct LineState {
    indent: usize,
    seconds: u64,
    row: u64,
}

fn text_line(
    style: Style,
    vocab: &Vocabulary,
    prng: &mut Prng,
    st: &mut LineState,
    line: &mut String,
) {
    use std::fmt::Write;
    match style {
        Style::Prose => {
            let words = prng.range(6, 16);
            for i in 0..words {
                let w = vocab.word(prng);
                if i == 0 {
                    let mut c = w.chars();
                    if let Some(f) = c.next() {
                        line.extend(f.to_uppercase());
                        line.push_str(c.as_str());
                    }
                } else {
                    line.push(' ');
                    line.push_str(w);
                }
            }
            line.push_str(if prng.chance(10) { ".\n\n" } else { ".\n" });
        }
        Style::Code => {
            let pad = " ".repeat(st.indent * 4);
            let a = vocab.ident(prng);
            let b = vocab.ident(prng);
            match prng.below(8) {
                0 if st.indent < 4 => {
                    let _ = writeln!(
                        line,
                        "{pad}fn {a}({b}: &mut {}) -> Result<u32, Error> {{",
                        vocab.ident(prng)
                    );
                    st.indent += 1;
                }
                1 if st.indent < 5 => {
                    let _ = writeln!(line, "{pad}if {a}.len() > {} {{", prng.below(4096));
                    st.indent += 1;
                }
                2 | 3 if st.indent > 0 => {
                    st.indent -= 1;
                    let _ = writeln!(line, "{}}}", " ".repeat(st.indent * 4));
                }
                4 => {
                    let _ = write!(line, "{pad}// ");
                    for _ in 0..prng.range(3, 9) {
                        let _ = write!(line, "{} ", vocab.word(prng));
                    }
                    line.push('\n');
                }
                _ => {
                    let _ = writeln!(
                        line,
                        "{pad}let {a} = {b}.{}({}, {});",
                        vocab.ident(prng),
                        prng.below(256),
                        vocab.ident(prng)
                    );
                }
            }
        }
        Style::Log => {
            st.seconds += prng.below(5);
            let s = st.seconds;
            let _ = write!(
                line,
                "2024-03-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {}[{}]: {} ",
                1 + (s / 86400) % 28,
                (s / 3600) % 24,
                (s / 60) % 60,
                s % 60,
                prng.below(1000),
                prng.pick(HOSTS),
                prng.pick(SERVICES),
                1000 + prng.below(300),
                prng.pick(LEVELS),
            );
            for _ in 0..prng.range(3, 10) {
                let _ = write!(line, "{} ", vocab.word(prng));
            }
            let _ = writeln!(line, "id={:08x}", prng.next_u64() as u32);
        }
        Style::Csv => {
            st.row += 1;
            let _ = writeln!(
                line,
                "{},{},{}.{:02},{},2023-{:02}-{:02}",
                st.row,
                vocab.ident(prng),
                prng.below(10000),
                prng.below(100),
                vocab.word(prng),
                1 + prng.below(12),
                1 + prng.below(28)
            );
        }
        Style::Records | Style::Random => {}
    }
}
