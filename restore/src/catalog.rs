//! Opening a dump and reading everything that precedes the file data: the
//! volume header, the inode maps and the directories (restore's `setup()`
//! and `extractdirs()`). The result is a [`Catalog`] (the symbol table plus
//! what is known about each directory) and a [`Tape`] positioned at the
//! first non-directory record, ready for one pass over the file data.
//!
//! `-t` stops here: it never reads past the last directory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};

use dump_format::header::mode;
use dump_format::rmt::{Launcher, RemoteName, RemoteReader};
use dump_format::{ByteOrder, Header, InodeMap, Item, ReadError, RecordType, Segment, TapeReader};
use thiserror::Error;

use crate::cli::Input;
use crate::meta::{self, InodeAttrs};
use crate::tree::{DirTree, DirTreeBuilder, TreeError, TreeWarning, ROOT_INO};

/// Largest extended-attribute record accepted (the reference stops at 4 KiB;
/// rdump may write up to one ext4 block plus in-inode attributes).
pub const MAX_XATTR_RECORD: u64 = 1 << 20;

/// Why the dump could not be opened or its directories read.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("Tape is not a dump tape ({0})")]
    NotADump(ReadError),
    #[error("Cannot find file dump list")]
    NoDumpList,
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("{0}")]
    Tree(#[from] TreeError),
    #[error("{0}")]
    Parts(#[from] crate::parts::PartsError),
}

/// What the dump records about a directory, applied after its contents.
#[derive(Debug, Clone)]
pub struct DirInfo {
    pub attrs: InodeAttrs,
    /// Times have nanoseconds (rdump's extension), not microseconds.
    pub precise_times: bool,
}

/// Everything known before the file data: see the module documentation.
pub struct Catalog {
    /// The volume (TS_TAPE) header.
    pub volume: Header,
    pub tree: DirTree,
    /// Inodes on this dump (TS_BITS).
    pub dumped: InodeMap,
    /// Directory inode -> its attributes.
    pub dirs: HashMap<u32, DirInfo>,
    /// Problems found in the directory records.
    pub tree_warnings: Vec<TreeWarning>,
    /// Set when the stream broke off while the directories were read.
    pub damaged: Option<String>,
}

impl Catalog {
    /// True when `ino` is on the dump (restore's `TSTINO(ino, dumpmap)`).
    /// An inode beyond the end of the map counts as dumped: real dumps
    /// always map every inode of the filesystem, and synthetic archives
    /// with an empty map (the corpus's long-name dumps) are then still
    /// readable.
    pub fn is_dumped(&self, ino: u32) -> bool {
        self.dumped.contains(ino) || ino > self.dumped.capacity()
    }
}

/// The dump stream after the directories, with the record that ended them.
pub struct Tape {
    pub reader: TapeReader<Box<dyn Read>>,
    /// The first record after the directories, already read.
    pub pending: Option<Item>,
    /// Seek past the inodes not selected, when the input can seek (-x and
    /// -i's extract set it; -r and -C read everything anyway).
    pub seek: bool,
}

/// Messages produced while reading; printed by the caller as they come.
pub trait Notes {
    fn warn(&mut self, msg: &str);
    fn verbose(&mut self, msg: &str);
}

/// The remote file `-f` names, if it names one: `[user@]host:file`, by
/// restore's rule (a ':' with no '/' before it; `./a:b` is local).
fn remote_name(input: &Input) -> Result<Option<RemoteName>, OpenError> {
    let Input::Path(p) = input else {
        return Ok(None);
    };
    let Some(text) = p.to_str() else {
        return Ok(None);
    };
    RemoteName::parse(text).map_err(|e| OpenError::Open {
        path: text.to_string(),
        source: e.into_io(),
    })
}

/// True when the input is read through rmt (restore's "remote" wording).
pub fn is_remote(input: &Input) -> bool {
    remote_host(input).is_some()
}

/// The host a remote input is read from.
pub fn remote_host(input: &Input) -> Option<String> {
    match remote_name(input) {
        Ok(Some(name)) => Some(name.host),
        _ => None,
    }
}

/// Opens the input named on the command line.
pub fn open_input(input: &Input) -> Result<Box<dyn Read>, OpenError> {
    if let Some(name) = remote_name(input)? {
        let remote =
            RemoteReader::open(&name, &Launcher::from_env()).map_err(|e| OpenError::Open {
                path: name.display(),
                source: e.into_io(),
            })?;
        // Each read is one R request and its round trip: ask for a lot.
        // On a remote tape drive one R returns one tape block and cuts
        // what does not fit: 2 MiB holds the largest record (1 MiB,
        // `-b 1024`, plus a compression header) with room to spare.
        return Ok(Box::new(io::BufReader::with_capacity(2 << 20, remote)));
    }
    match input {
        Input::Stdin => Ok(Box::new(io::stdin().lock())),
        Input::Path(p) => {
            let f = File::open(p).map_err(|source| OpenError::Open {
                path: p.display().to_string(),
                source,
            })?;
            // Large reads: the reader asks for 1 KiB at a time.
            Ok(Box::new(io::BufReader::with_capacity(256 * 1024, f)))
        }
        Input::Volumes(set) => {
            let chain = crate::volumes::VolumeChain::open(set.clone()).map_err(|source| {
                OpenError::Open {
                    path: set.name(1).unwrap_or_default().display().to_string(),
                    source,
                }
            })?;
            Ok(Box::new(chain))
        }
    }
}

/// Opens the input and checks the volume header, with random access when
/// the input has it: a regular file, or the parts of `split` named by their
/// prefix (see [`crate::parts`]) when no file has that exact name.
/// Standard input, pipes, tapes and other devices are read as streams.
pub fn open_reader(input: &Input) -> Result<TapeReader<Box<dyn Read>>, OpenError> {
    let Input::Path(p) = input else {
        return start(open_input(input)?);
    };
    if remote_name(input)?.is_some() {
        // host:file through rmt: streamed (rmt could seek, but each
        // request is a round trip).
        return start(open_input(input)?);
    }
    let opened = |source| OpenError::Open {
        path: p.display().to_string(),
        source,
    };
    let (read, seek) = match std::fs::metadata(p) {
        Ok(m) if m.is_file() => dump_format::reader::share(File::open(p).map_err(opened)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match crate::parts::SplitParts::open(p)? {
            Some(parts) => dump_format::reader::share(parts),
            None => return Err(opened(e)),
        },
        _ => return start(open_input(input)?),
    }
    .map_err(opened)?;
    let mut reader = start(read)?;
    reader.set_reposition(seek);
    Ok(reader)
}

/// Starts reading a dump: checks the volume header.
pub fn start(input: Box<dyn Read>) -> Result<TapeReader<Box<dyn Read>>, OpenError> {
    let reader = TapeReader::new(input).map_err(|e| match e {
        ReadError::Io { .. } => OpenError::Read(e),
        other => OpenError::NotADump(other),
    })?;
    Ok(reader)
}

fn drain_reader_warnings(reader: &mut TapeReader<Box<dyn Read>>, notes: &mut dyn Notes) {
    for w in reader.take_warnings() {
        notes.warn(&w);
    }
}

/// Extended attributes as (full name, value) pairs.
pub type XattrList = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads the extended attributes record of the current item.
pub fn read_xattr_record(
    reader: &mut TapeReader<Box<dyn Read>>,
    header: &Header,
    notes: &mut dyn Notes,
) -> Result<XattrList, ReadError> {
    let ino = header.inumber;
    match reader.read_all(MAX_XATTR_RECORD)? {
        None => {
            notes.warn(&format!(
                "inode {ino}: EA size too big ({}), skipped",
                header.inode.size
            ));
            Ok(Vec::new())
        }
        Some(blob) => match dump_format::decode_xattr_blob(&blob) {
            Ok(list) => Ok(list.into_iter().map(|x| (x.name, x.value)).collect()),
            Err(e) => {
                notes.warn(&format!("inode {ino}: bad extended attribute record: {e}"));
                Ok(Vec::new())
            }
        },
    }
}

/// One directory's entries, names in one buffer: a directory of 200 000
/// entries costs 12 bytes per entry plus its names, not an allocation each.
#[derive(Default)]
struct DirList {
    names: Vec<u8>,
    /// Inode, `d_type`, name offset and length in `names`.
    items: Vec<(u32, u8, u32, u8)>,
}

impl DirList {
    fn item(&mut self, ino: u32, file_type: u8, name: &[u8]) -> (u32, u8, u32, u8) {
        // Names are at most 255 bytes (dirent decoding), and a directory's
        // data is bounded by the reader, so the offsets fit.
        let off = self.names.len() as u32;
        self.names.extend_from_slice(name);
        (ino, file_type, off, name.len().min(255) as u8)
    }

    fn push(&mut self, ino: u32, file_type: u8, name: &[u8]) {
        let item = self.item(ino, file_type, name);
        self.items.push(item);
    }

    /// Puts each `(position, ino, type, name)` before the readable entry
    /// at `position` (positions ascending), in one pass.
    fn insert_all(&mut self, extra: Vec<(usize, u32, u8, Vec<u8>)>) {
        let old = std::mem::take(&mut self.items);
        let mut items = Vec::with_capacity(old.len() + extra.len());
        let mut extra = extra.into_iter().peekable();
        for (k, it) in old.into_iter().enumerate() {
            while let Some((_, ino, ty, name)) = extra.next_if(|e| e.0 <= k) {
                items.push(self.item(ino, ty, &name));
            }
            items.push(it);
        }
        for (_, ino, ty, name) in extra {
            items.push(self.item(ino, ty, &name));
        }
        self.items = items;
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u8, &[u8])> + '_ {
        self.items.iter().map(|&(ino, ty, off, len)| {
            let off = off as usize;
            (ino, ty, &self.names[off..off + len as usize])
        })
    }
}

/// Decodes one directory's data chunk by chunk, so a damaged 512-byte chunk
/// loses only the entries after the bad record in it (restore's putdir skips
/// to the next chunk). An entry whose name could not be read (dump 0.4b47's
/// 255-byte names, see [`dump_format::MangledEntry`]) is kept under the name
/// `#INODE`, so its file is restored, and reported.
fn read_directory(
    reader: &mut TapeReader<Box<dyn Read>>,
    ino: u32,
    order: ByteOrder,
    notes: &mut dyn Notes,
) -> Result<DirList, ReadError> {
    const CHUNK: usize = dump_format::dirent::DIRBLKSIZ;
    let mut entries = DirList::default();
    let mut mangled = Vec::new();
    let mut problems = Vec::new();
    while let Some(seg) = reader.next_segment()? {
        let Segment::Data { offset, bytes } = seg else {
            continue;
        };
        for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
            let at = offset + (i * CHUNK) as u64;
            let d = dump_format::decode_directory_lenient(chunk, order);
            let base = entries.items.len();
            for e in &d.entries {
                entries.push(e.ino, e.file_type, &e.name);
            }
            mangled.extend(d.mangled.into_iter().map(|m| (at, base + m.position, m)));
            if let Some(e) = d.error {
                problems.push(format!(
                    "directory inode {ino}: damaged directory block at offset {at}: {e}; entries after it in that block are lost"
                ));
            }
        }
    }
    if !mangled.is_empty() {
        let mut taken: HashSet<Vec<u8>> = entries.iter().map(|(_, _, n)| n.to_vec()).collect();
        let mut named = Vec::with_capacity(mangled.len());
        let mut tries: HashMap<u32, usize> = HashMap::new();
        for (at, position, m) in mangled {
            let name = substitute_name(&taken, m.ino, tries.entry(m.ino).or_default());
            taken.insert(name.clone());
            problems.push(mangled_note(ino, at, &m, &name));
            named.push((position, m.ino, m.file_type, name));
        }
        // Each goes back where it stood on tape (listings keep restore's order).
        entries.insert_all(named);
    }
    for p in problems {
        notes.warn(&p);
    }
    Ok(entries)
}

/// `#INODE` (fsck's lost+found spelling), or `#INODE.N` when that name
/// is taken; `tries` (per inode) keeps a hostile directory of many such
/// entries for one inode from trying the same names again and again.
fn substitute_name(taken: &HashSet<Vec<u8>>, ino: u32, tries: &mut usize) -> Vec<u8> {
    loop {
        let name = match *tries {
            0 => format!("#{ino}"),
            n => format!("#{ino}.{n}"),
        }
        .into_bytes();
        *tries += 1;
        if !taken.contains(&name) {
            return name;
        }
    }
}

/// The warning for an entry whose name could not be read.
fn mangled_note(dir: u32, chunk_at: u64, m: &dump_format::MangledEntry, name: &[u8]) -> String {
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut msg = format!(
        "directory inode {dir}: the name of inode {} (directory record at offset {}, record length {}, {}-byte name) cannot be read",
        m.ino,
        chunk_at + m.offset as u64,
        m.reclen,
        m.namlen
    );
    if m.reclen == 8 && m.namlen == 255 {
        msg.push_str(" (dump 0.4b47 writes 255-byte names this way and overwrites them with the entries after them)");
    }
    if !m.known_prefix.is_empty() {
        msg.push_str(&format!("; it starts {:?}", show(&m.known_prefix)));
    }
    if !m.known_suffix.is_empty() {
        msg.push_str(&format!("; it ends {:?}", show(&m.known_suffix)));
    }
    msg.push_str(&format!("; restored as {:?}", show(name)));
    msg
}

/// True for an inode record (not an attribute record) of a directory.
fn is_directory_record(h: &Header) -> bool {
    !h.is_extattr() && h.inode.file_type() == mode::S_IFDIR
}

/// Reads the maps and then the directories. With `verbose_steps`, prints
/// restore's -v progress lines.
pub fn read_catalog(
    mut reader: TapeReader<Box<dyn Read>>,
    notes: &mut dyn Notes,
) -> Result<(Catalog, Tape), OpenError> {
    let volume = reader.volume().clone();
    let order = reader.byte_order();
    let mut dumped = None;
    // Maps: TS_CLRI then TS_BITS.
    let first_after_maps = loop {
        match reader.next_item()? {
            None => return Err(OpenError::NoDumpList),
            Some(Item::Bitmap { kind, map, .. }) => match kind {
                // TS_CLRI (inodes in use) only matters to incremental
                // restores, which rrestore does not do yet.
                RecordType::Clri => {}
                _ => dumped = Some(map),
            },
            Some(Item::Resync {
                skipped_blocks,
                at_block,
            }) => notes.warn(&format!(
                "resync restore, skipped {skipped_blocks} blocks (at block {at_block})"
            )),
            Some(Item::Volume(_)) => {}
            Some(other) => break other,
        }
        drain_reader_warnings(&mut reader, notes);
    };
    drain_reader_warnings(&mut reader, notes);
    let Some(dumped) = dumped else {
        if matches!(first_after_maps, Item::End(_)) {
            notes.warn("Cannot find file dump list, assuming empty tape");
        }
        return Err(OpenError::NoDumpList);
    };

    notes.verbose("Extract directories from tape");
    let mut builder = DirTreeBuilder::new();
    let mut dirs: HashMap<u32, DirInfo> = HashMap::new();
    let mut current_dir: Option<u32> = None;
    let mut item = Some(first_after_maps);
    let mut damage = None;
    let mut skipped_early = false;
    let pending = loop {
        let Some(it) = item.take() else {
            break None;
        };
        // A read error here (a truncated or damaged stream) ends the
        // directories: what was read is kept, the error is reported.
        let step = || -> Result<Option<Item>, OpenError> {
            match &it {
                Item::Inode(h) if h.is_extattr() => {
                    let h = h.clone();
                    match current_dir {
                        Some(d) if h.is_xattr() && h.inumber == d => {
                            let x = read_xattr_record(&mut reader, &h, notes)?;
                            if let Some(info) = dirs.get_mut(&d) {
                                info.attrs.xattrs.extend(x);
                            }
                        }
                        Some(_) if !h.is_xattr() => {
                            notes.warn(&format!(
                                "unexpected inode extension {}, skipping",
                                h.extattributes
                            ));
                        }
                        // Attributes of a file that is not a directory: the
                        // directories are over.
                        _ => return Ok(Some(it)),
                    }
                }
                Item::Inode(h) if is_directory_record(h) => {
                    let h = h.clone();
                    let ino = h.inumber;
                    let entries = read_directory(&mut reader, ino, order, notes)?;
                    builder.add_directory(ino, entries.iter())?;
                    dirs.entry(ino).or_insert(DirInfo {
                        attrs: meta::attrs_from_header(&h),
                        precise_times: h.extension().is_some(),
                    });
                    current_dir = Some(ino);
                }
                Item::Resync {
                    skipped_blocks,
                    at_block,
                } => notes.warn(&format!(
                    "resync restore, skipped {skipped_blocks} blocks (at block {at_block})"
                )),
                Item::Volume(_) | Item::Bitmap { .. } => {}
                Item::Inode(h) if !builder.has_directory(ROOT_INO) => {
                    // Directories come first on a real dump. Files before the
                    // root directory (synthetic or damaged archives) cannot be
                    // named yet: skip them and look on for the directories.
                    if !skipped_early {
                        notes.warn(&format!(
                        "inode {}: file record before the root directory; skipping files until the directories are found",
                        h.inumber
                    ));
                        skipped_early = true;
                    }
                }
                Item::Inode(_) | Item::End(_) => return Ok(Some(it)),
            }
            Ok(None)
        };
        match step() {
            Ok(Some(stop)) => break Some(stop),
            Ok(None) => {}
            Err(e) => {
                damage = Some(e.to_string());
                break None;
            }
        }
        drain_reader_warnings(&mut reader, notes);
        match reader.next_item() {
            Ok(next) => item = next,
            Err(e) => {
                damage = Some(e.to_string());
                break None;
            }
        }
    };
    if let Some(d) = &damage {
        notes.warn(&format!("error while reading the directories: {d}"));
    }
    drain_reader_warnings(&mut reader, notes);
    let (tree, tree_warnings) = builder.finish()?;
    Ok((
        Catalog {
            volume,
            tree,
            dumped,
            dirs,
            tree_warnings,
            damaged: damage,
        },
        Tape {
            reader,
            pending,
            seek: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(d: &DirList) -> Vec<String> {
        d.iter()
            .map(|(i, _, n)| format!("{i}:{}", String::from_utf8_lossy(n)))
            .collect()
    }

    #[test]
    fn substitutes_go_back_in_place() {
        let mut d = DirList::default();
        for (i, n) in [(5, "a"), (6, "b"), (7, "c")] {
            d.push(i, 8, n.as_bytes());
        }
        d.insert_all(vec![
            (0, 9, 8, b"#9".to_vec()),
            (2, 10, 8, b"#10".to_vec()),
            (3, 11, 8, b"#11".to_vec()),
        ]);
        assert_eq!(names(&d), ["9:#9", "5:a", "6:b", "10:#10", "7:c", "11:#11"]);
    }

    #[test]
    fn substitute_names_avoid_taken_ones() {
        let taken: HashSet<Vec<u8>> = [b"#18".to_vec(), b"#18.1".to_vec()].into();
        let mut tries = 0;
        assert_eq!(substitute_name(&taken, 18, &mut tries), b"#18.2");
        assert_eq!(substitute_name(&taken, 18, &mut tries), b"#18.3");
        assert_eq!(substitute_name(&taken, 19, &mut 0), b"#19");
    }
}
