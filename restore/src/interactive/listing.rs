//! `ls` output, laid out as restore's `printlist()`/`formatf()` do: names
//! sorted bytewise, arranged in columns down then across for an 81-column
//! line, with a prefix (`*` marked for extraction, `^` not on the dump in
//! debug mode), a suffix by type (`/` directory, `@` symlink, `=` FIFO or
//! socket, `#` device) and, in verbose mode, inode numbers.

use dump_format::dirent::dt;

use crate::tree::ROOT_INO;

/// One name to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub ino: u32,
    pub name: Vec<u8>,
    /// `b' '`, `b'*'` or `b'^'`.
    pub prefix: u8,
    /// `b' '`, `b'/'`, `b'@'`, `b'='` or `b'#'`.
    pub suffix: u8,
}

/// The suffix for a directory entry of type `file_type` (a `DT_*` value);
/// `is_dir` says whether the inode is a directory on the dump (restore
/// trusts that over the entry type for DT_DIR and DT_UNKNOWN). `None` for
/// a type restore does not know (it warns and shows no suffix).
pub fn suffix_for(file_type: u8, is_dir: bool) -> Option<u8> {
    match file_type {
        dt::DT_REG => Some(b' '),
        dt::DT_LNK => Some(b'@'),
        dt::DT_FIFO | dt::DT_SOCK => Some(b'='),
        dt::DT_CHR | dt::DT_BLK => Some(b'#'),
        dt::DT_UNKNOWN | dt::DT_DIR => Some(if is_dir { b'/' } else { b' ' }),
        _ => None,
    }
}

/// Replaces control and non-ASCII bytes by `?`, as restore does outside
/// verbose mode (so a hostile name cannot drive the terminal).
pub fn printable(name: &[u8]) -> Vec<u8> {
    name.iter()
        .map(|&b| if !(b' '..0o177).contains(&b) { b'?' } else { b })
        .collect()
}

/// Lays out `entries` (already sorted) as restore's `formatf()`.
pub fn format_columns(entries: &[ListEntry], verbose: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if entries.is_empty() {
        return out;
    }
    let mut width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let big_ino = entries
        .iter()
        .map(|e| e.ino)
        .max()
        .unwrap_or(0)
        .max(ROOT_INO);
    let have_prefix = entries.iter().any(|e| e.prefix != b' ');
    let have_suffix = entries.iter().any(|e| e.suffix != b' ');
    width += usize::from(have_prefix) + usize::from(have_suffix);
    let precision = big_ino.to_string().len();
    if verbose {
        width += precision + 1;
    }
    width += 1;
    let columns = (81 / width).max(1);
    let lines = entries.len().div_ceil(columns);
    for i in 0..lines {
        for j in 0..columns {
            let idx = j * lines + i;
            let Some(e) = entries.get(idx) else {
                break;
            };
            let start = out.len();
            if verbose {
                out.extend_from_slice(format!("{:>precision$} ", e.ino).as_bytes());
            }
            if have_prefix {
                out.push(e.prefix);
            }
            out.extend_from_slice(&e.name);
            if have_suffix {
                out.push(e.suffix);
            }
            if idx + lines >= entries.len() {
                out.push(b'\n');
                break;
            }
            let used = out.len() - start;
            out.extend(std::iter::repeat_n(b' ', width.saturating_sub(used)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ino: u32, name: &str, prefix: u8, suffix: u8) -> ListEntry {
        ListEntry {
            ino,
            name: name.as_bytes().to_vec(),
            prefix,
            suffix,
        }
    }

    #[test]
    fn matches_restore_layout() {
        // restore 0.4b47, `ls` of ./links in verbose mode with hl-a added:
        // "18  ./     2  ../   19 *hl-a  19  hl-b \n"
        let list = [
            e(18, ".", b' ', b'/'),
            e(2, "..", b' ', b'/'),
            e(19, "hl-a", b'*', b' '),
            e(19, "hl-b", b' ', b' '),
        ];
        assert_eq!(
            String::from_utf8(format_columns(&list, true)).unwrap(),
            "18  ./     2  ../   19 *hl-a  19  hl-b \n"
        );
        let plain = [e(19, "hl-a", b' ', b' '), e(19, "hl-b", b' ', b' ')];
        assert_eq!(format_columns(&plain, false), b"hl-a hl-b\n");
    }

    #[test]
    fn columns_go_down_then_across() {
        let names = ["a", "b", "c", "d", "e"];
        let list: Vec<_> = names
            .iter()
            .map(|n| e(3, &n.repeat(30), b' ', b' '))
            .collect();
        // width 31: two columns, three lines.
        let text = String::from_utf8(format_columns(&list, false)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(&"a".repeat(30)) && lines[0].ends_with(&"d".repeat(30)));
        assert_eq!(lines[2], "c".repeat(30));
    }

    #[test]
    fn hostile_names_are_masked() {
        assert_eq!(printable(b"a\x1b[2Jb\xc3\xa9"), b"a?[2Jb??");
    }
}
