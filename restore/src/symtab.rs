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

/// One name of the symbol table; the name is borrowed from the tree.
/// Positions are `u32` (the tree holds fewer than 2^32 entries).
struct SymEntry<'t> {
    name: &'t [u8],
    ino: u32,
    is_dir: bool,
    /// Position in `entries` of the parent directory's entry.
    parent: u32,
    /// A directory's entries, in order, as a list through `next_child`
    /// (positions; 0, the root's, means none: the root is nobody's child).
    /// Three `u32`s instead of a `Vec` per directory: 16 bytes less per name.
    first_child: u32,
    last_child: u32,
    /// The next entry of the same directory.
    next_child: u32,
}

/// restore's `allocsize`: a name, its NUL, rounded up to 8 bytes.
fn alloc_size(namlen: usize) -> usize {
    (namlen + 1 + 7) & !7
}

/// Writes the symbol table of `catalog` to `path`, streaming it (the table
/// of a large filesystem is tens of megabytes).
pub fn write(catalog: &Catalog, path: &Path) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut out = BufWriter::new(f);
    encode_to(catalog, &mut out)?;
    out.flush()
}

/// The bytes of the symbol table.
#[cfg(test)]
pub(crate) fn encode(catalog: &Catalog) -> Vec<u8> {
    let mut out = Vec::new();
    encode_to(catalog, &mut out).expect("writing to memory");
    out
}

/// The tree's names, parents before children.
fn collect(catalog: &Catalog) -> Vec<SymEntry<'_>> {
    // Sized once: growing by doubling would hold old and new at once.
    let mut entries: Vec<SymEntry> = Vec::with_capacity(catalog.tree.entry_count() + 1);
    let mut dir_entry: HashMap<u32, u32> = HashMap::new();
    let tree = &catalog.tree;
    tree.walk(b".", ROOT_INO, |item| {
        let (name, parent): (&[u8], u32) = match item.entry {
            None => (b".", 0),
            Some(id) => {
                let e = tree.entry(id);
                match dir_entry.get(&e.parent) {
                    Some(&p) => (e.name, p),
                    None => return true,
                }
            }
        };
        let me = entries.len() as u32;
        entries.push(SymEntry {
            name,
            ino: item.ino,
            is_dir: item.is_dir,
            parent,
            first_child: 0,
            last_child: 0,
            next_child: 0,
        });
        if me != parent {
            let last = entries[parent as usize].last_child;
            if last == 0 {
                entries[parent as usize].first_child = me;
            } else {
                entries[last as usize].next_child = me;
            }
            entries[parent as usize].last_child = me;
        }
        if item.is_dir {
            dir_entry.entry(item.ino).or_insert(me);
        }
        true
    });
    entries
}

/// Writes the symbol table. Per name it holds the entry (40 bytes) and six
/// 4-byte tables.
fn encode_to(catalog: &Catalog, out: &mut impl Write) -> io::Result<()> {
    let entries = collect(catalog);
    // restore's numbering: by inode, each inode's names together.
    let maxino = u32::try_from(catalog.dumped.as_bytes().len().saturating_mul(8))
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1);
    let mut by_ino: Vec<u32> = (0..entries.len() as u32)
        .filter(|&i| entries[i as usize].ino >= 1 && entries[i as usize].ino < maxino)
        .collect();
    by_ino.sort_by_key(|&i| (entries[i as usize].ino, i));
    let mut index = vec![0u32; entries.len()];
    for (n, &i) in by_ino.iter().enumerate() {
        index[i as usize] = n as u32 + 1;
    }
    let idx = |i: u32| u64::from(index[i as usize]);
    let e = |i: u32| &entries[i as usize];

    // Names.
    let mut written = 0usize;
    let mut name_off = vec![0u32; entries.len()];
    const PAD: [u8; 8] = [0; 8];
    for &i in &by_ino {
        name_off[i as usize] = written as u32;
        let name = &e(i).name[..e(i).name.len().min(255)];
        out.write_all(name)?;
        out.write_all(&PAD[..alloc_size(name.len()) - name.len()])?;
        written += alloc_size(name.len());
    }
    let string_size = written;

    // Hash tables: one bucket per directory, holding its first child; the
    // others follow through e_sibling.
    let mut hash_off = vec![0u32; entries.len()];
    let mut next_sibling = vec![0u32; entries.len()];
    for &i in &by_ino {
        if !e(i).is_dir {
            continue;
        }
        hash_off[i as usize] = (written - string_size) as u32;
        let mut kids = std::iter::successors(Some(e(i).first_child).filter(|&c| c != 0), |&c| {
            Some(e(c).next_child).filter(|&n| n != 0)
        })
        .filter(|&c| idx(c) != 0);
        let first = kids.next();
        let mut prev = first;
        for c in kids {
            if let Some(p) = prev {
                next_sibling[p as usize] = idx(c) as u32;
            }
            prev = Some(c);
        }
        out.write_all(&first.map_or(0, idx).to_le_bytes())?;
        written += 8;
    }
    let hash_size = written - string_size;

    // Inode chains: the first name of each inode is on the e_next chain of
    // its bucket; its other names hang off it through e_links. `by_ino` is
    // sorted by inode, so an inode's names are next to each other.
    let table_size = (maxino / HASHFACTOR).max(1);
    let mut links = vec![0u32; entries.len()];
    let mut bucket_head = vec![0u64; table_size as usize];
    let mut next = vec![0u32; entries.len()];
    for (n, &i) in by_ino.iter().enumerate() {
        match n.checked_sub(1).map(|p| by_ino[p]) {
            Some(prev) if e(prev).ino == e(i).ino => links[prev as usize] = idx(i) as u32,
            _ => {
                let b = (e(i).ino % table_size) as usize;
                next[i as usize] = bucket_head[b] as u32;
                bucket_head[b] = idx(i);
            }
        }
    }

    // Entries.
    for &i in &by_ino {
        let en = e(i);
        let u = i as usize;
        let mut rec = [0u8; ENTRY_SIZE];
        rec[0..8].copy_from_slice(&u64::from(name_off[u]).to_le_bytes());
        rec[8] = en.name.len().min(255) as u8;
        rec[9] = if en.is_dir { NODE } else { LEAF };
        rec[12..16].copy_from_slice(&en.ino.to_le_bytes());
        rec[16..24].copy_from_slice(&idx(i).to_le_bytes());
        rec[24..32].copy_from_slice(&idx(en.parent).to_le_bytes());
        rec[32..40].copy_from_slice(&u64::from(next_sibling[u]).to_le_bytes());
        rec[40..48].copy_from_slice(&u64::from(links[u]).to_le_bytes());
        if en.is_dir {
            rec[48..56].copy_from_slice(&u64::from(hash_off[u]).to_le_bytes());
        }
        rec[56..64].copy_from_slice(&u64::from(next[u]).to_le_bytes());
        out.write_all(&rec)?;
    }
    for head in &bucket_head {
        out.write_all(&head.to_le_bytes())?;
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
    out.write_all(&hdr)
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
