//! `restoresymtable`: what `-r` leaves behind for later incremental passes,
//! in the format restore 0.4b47 reads, so that the next incremental dump can be
//! applied with `restore -r` (or, later, with rrestore).
//!
//! restore writes an image of its in-memory symbol table with the pointers
//! replaced by indexes; the layout is that of its C structures on the machine
//! that runs it. rrestore writes the layout of Linux on 64-bit little-endian
//! machines (x86_64, aarch64), where `long` and pointers are 8 bytes:
//!
//! ```text
//! names        each name NUL-terminated, padded to a multiple of 8 bytes
//! hash tables  one 8-byte entry index per directory (restore's default of one
//!              hash bucket per directory): its first child
//! entries      64 bytes each, numbered from 1 in the order written:
//!              e_name (offset of the name), e_namlen (u8), e_type (1 leaf,
//!              2 directory), e_flags (i16, 0), e_ino (u32), e_index (i64),
//!              e_parent, e_sibling, e_links, e_entries (offset of the
//!              directory's hash table), e_next (indexes, 0 for none)
//! entry table  entrytblsize 8-byte indexes: the first entry of each inode
//!              chain, bucket inode % entrytblsize, chained by e_next
//! header       48 bytes: volno, stringsize, hashsize, entrytblsize (i32),
//!              dumptime, dumpdate (i64), maxino (u32), ntrec, zflag (i32),
//!              4 bytes of padding
//! ```
//!
//! Entries are written inode by inode from 1 up, each inode's first name and
//! then its other hard links (e_links), as restore writes them. The names of
//! the root are "." with itself as parent. All flags are 0, as restore leaves
//! them after a complete `-r`.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use dump_format::header::flags::DR_COMPRESSED;

use crate::catalog::Catalog;
use crate::tree::ROOT_INO;

/// restore's `HASHFACTOR`: one inode hash bucket per five inodes.
const HASHFACTOR: u32 = 5;
/// Size of restore's `struct entry` on LP64 Linux.
const ENTRY_SIZE: usize = 64;
/// restore's `e_type` values.
const LEAF: u8 = 1;
const NODE: u8 = 2;

/// One name of the symbol table.
struct SymEntry {
    name: Vec<u8>,
    ino: u32,
    is_dir: bool,
    /// Position in `entries` of the parent directory's entry.
    parent: usize,
    /// Positions of the entries of a directory.
    children: Vec<usize>,
}

/// restore's `allocsize`: a name, its NUL, rounded up to 8 bytes.
fn alloc_size(namlen: usize) -> usize {
    (namlen + 1 + 7) & !7
}

/// Writes the symbol table of `catalog` to `path`.
pub fn write(catalog: &Catalog, path: &Path) -> io::Result<()> {
    let bytes = encode(catalog);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut out = BufWriter::new(f);
    out.write_all(&bytes)?;
    out.flush()
}

/// The bytes of the symbol table.
pub(crate) fn encode(catalog: &Catalog) -> Vec<u8> {
    // Collect the tree, parents before children.
    let mut entries: Vec<SymEntry> = Vec::new();
    let mut dir_entry: HashMap<u32, usize> = HashMap::new();
    let tree = &catalog.tree;
    tree.walk(b".", ROOT_INO, |item| {
        let (name, parent) = match item.entry {
            None => (b".".to_vec(), 0),
            Some(id) => {
                let e = tree.entry(id);
                match dir_entry.get(&e.parent) {
                    Some(&p) => (e.name.to_vec(), p),
                    None => return true,
                }
            }
        };
        let me = entries.len();
        entries.push(SymEntry {
            name,
            ino: item.ino,
            is_dir: item.is_dir,
            parent,
            children: Vec::new(),
        });
        if me != parent {
            entries[parent].children.push(me);
        }
        if item.is_dir {
            dir_entry.entry(item.ino).or_insert(me);
        }
        true
    });

    // restore's numbering: by inode, each inode's names together.
    let maxino = u32::try_from(catalog.dumped.as_bytes().len().saturating_mul(8))
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1);
    let mut by_ino: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].ino >= 1 && entries[i].ino < maxino)
        .collect();
    by_ino.sort_by_key(|&i| (entries[i].ino, i));
    let mut index = vec![0u64; entries.len()];
    for (n, &i) in by_ino.iter().enumerate() {
        index[i] = n as u64 + 1;
    }
    let idx = |i: usize| index[i];

    // Names.
    let mut out = Vec::new();
    let mut name_off = vec![0u64; entries.len()];
    for &i in &by_ino {
        name_off[i] = out.len() as u64;
        let name = &entries[i].name[..entries[i].name.len().min(255)];
        out.extend_from_slice(name);
        out.resize(name_off[i] as usize + alloc_size(name.len()), 0);
    }
    let string_size = out.len();

    // Hash tables: one bucket per directory, holding its first child; the
    // others follow through e_sibling.
    let mut hash_off = vec![0u64; entries.len()];
    let mut next_sibling = vec![0u64; entries.len()];
    for &i in &by_ino {
        if !entries[i].is_dir {
            continue;
        }
        hash_off[i] = (out.len() - string_size) as u64;
        let kids: Vec<usize> = entries[i]
            .children
            .iter()
            .copied()
            .filter(|&c| idx(c) != 0)
            .collect();
        for pair in kids.windows(2) {
            next_sibling[pair[0]] = idx(pair[1]);
        }
        out.extend_from_slice(&kids.first().map_or(0, |&c| idx(c)).to_le_bytes());
    }
    let hash_size = out.len() - string_size;

    // Inode chains: the first name of each inode is on the e_next chain of
    // its bucket; its other names hang off it through e_links.
    let table_size = (maxino / HASHFACTOR).max(1);
    let mut first_of: HashMap<u32, usize> = HashMap::new();
    let mut links = vec![0u64; entries.len()];
    let mut last_link: HashMap<u32, usize> = HashMap::new();
    for &i in &by_ino {
        let ino = entries[i].ino;
        match last_link.get(&ino) {
            None => {
                first_of.insert(ino, i);
            }
            Some(&prev) => links[prev] = idx(i),
        }
        last_link.insert(ino, i);
    }
    let mut bucket_head = vec![0u64; table_size as usize];
    let mut next = vec![0u64; entries.len()];
    let mut heads: Vec<usize> = first_of.values().copied().collect();
    heads.sort_by_key(|&i| entries[i].ino);
    for &i in &heads {
        let b = (entries[i].ino % table_size) as usize;
        next[i] = bucket_head[b];
        bucket_head[b] = idx(i);
    }

    // Entries.
    for &i in &by_ino {
        let e = &entries[i];
        let mut rec = [0u8; ENTRY_SIZE];
        rec[0..8].copy_from_slice(&name_off[i].to_le_bytes());
        rec[8] = e.name.len().min(255) as u8;
        rec[9] = if e.is_dir { NODE } else { LEAF };
        rec[12..16].copy_from_slice(&e.ino.to_le_bytes());
        rec[16..24].copy_from_slice(&idx(i).to_le_bytes());
        rec[24..32].copy_from_slice(&idx(e.parent).to_le_bytes());
        rec[32..40].copy_from_slice(&next_sibling[i].to_le_bytes());
        rec[40..48].copy_from_slice(&links[i].to_le_bytes());
        if e.is_dir {
            rec[48..56].copy_from_slice(&hash_off[i].to_le_bytes());
        }
        rec[56..64].copy_from_slice(&next[i].to_le_bytes());
        out.extend_from_slice(&rec);
    }
    for head in &bucket_head {
        out.extend_from_slice(&head.to_le_bytes());
    }

    // Header.
    let v = &catalog.volume;
    let mut hdr = [0u8; 48];
    hdr[0..4].copy_from_slice(&1i32.to_le_bytes());
    hdr[4..8].copy_from_slice(&(string_size as i32).to_le_bytes());
    hdr[8..12].copy_from_slice(&(hash_size as i32).to_le_bytes());
    hdr[12..16].copy_from_slice(&(table_size as i32).to_le_bytes());
    hdr[16..24].copy_from_slice(&i64::from(v.ddate).to_le_bytes());
    hdr[24..32].copy_from_slice(&i64::from(v.date).to_le_bytes());
    hdr[32..36].copy_from_slice(&maxino.to_le_bytes());
    hdr[36..40].copy_from_slice(&v.ntrec.to_le_bytes());
    let zflag = i32::from(v.flags & DR_COMPRESSED != 0);
    hdr[40..44].copy_from_slice(&zflag.to_le_bytes());
    out.extend_from_slice(&hdr);
    out
}

#[cfg(test)]
mod tests {
    use super::alloc_size;

    #[test]
    fn names_are_padded_like_restore() {
        assert_eq!(alloc_size(1), 8);
        assert_eq!(alloc_size(7), 8);
        assert_eq!(alloc_size(8), 16);
        assert_eq!(alloc_size(255), 256);
    }
}
