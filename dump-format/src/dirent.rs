//! Directory contents as dump writes them: BSD `struct direct` records packed into
//! 512-byte chunks (`DIRBLKSIZ`, which Linux dump defines as `DEV_BSIZE`).
//!
//! Each record is `d_ino` (u32), `d_reclen` (u16), `d_type` (u8), `d_namlen` (u8), then
//! the name and a NUL, padded to a multiple of 4. A record never crosses a chunk
//! boundary: the last record of a chunk has its `d_reclen` stretched to the end of the
//! chunk, which is how dump 0.4b47's `convert_dir` lays them out.

use crate::header::ByteOrder;

/// Directories are written in chunks of this size; a directory's size on tape is a
/// multiple of it.
pub const DIRBLKSIZ: usize = 512;
/// Longest name a record can hold.
pub const MAXNAMLEN: usize = 255;
/// Fixed part of a record before the name.
const DIRECT_HEADER: usize = 8;

/// BSD `d_type` values.
pub mod dt {
    pub const DT_UNKNOWN: u8 = 0;
    pub const DT_FIFO: u8 = 1;
    pub const DT_CHR: u8 = 2;
    pub const DT_DIR: u8 = 4;
    pub const DT_BLK: u8 = 6;
    pub const DT_REG: u8 = 8;
    pub const DT_LNK: u8 = 10;
    pub const DT_SOCK: u8 = 12;
}

/// Maps an ext2 directory file type (`EXT2_FT_*`) to the BSD `d_type` dump writes.
pub fn dt_from_ext2_ft(ft: u8) -> u8 {
    match ft {
        1 => dt::DT_REG,
        2 => dt::DT_DIR,
        3 => dt::DT_CHR,
        4 => dt::DT_BLK,
        5 => dt::DT_FIFO,
        6 => dt::DT_SOCK,
        7 => dt::DT_LNK,
        _ => dt::DT_UNKNOWN,
    }
}

/// Maps a file mode's type bits to a BSD `d_type`.
pub fn dt_from_mode(mode: u16) -> u8 {
    use crate::header::mode::*;
    match mode & S_IFMT {
        S_IFREG => dt::DT_REG,
        S_IFDIR => dt::DT_DIR,
        S_IFCHR => dt::DT_CHR,
        S_IFBLK => dt::DT_BLK,
        S_IFIFO => dt::DT_FIFO,
        S_IFSOCK => dt::DT_SOCK,
        S_IFLNK => dt::DT_LNK,
        _ => dt::DT_UNKNOWN,
    }
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DirEntry {
    pub ino: u32,
    /// BSD `d_type` (see [`dt`]).
    pub file_type: u8,
    pub name: Vec<u8>,
}

/// Why directory data could not be decoded. Offsets are bytes from the start of the
/// directory's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirError {
    #[error("directory record at offset {offset} has record length 0")]
    ZeroRecLen { offset: usize },
    #[error("directory record at offset {offset} has record length {reclen}, which runs past its {DIRBLKSIZ}-byte chunk")]
    RecLenPastChunk { offset: usize, reclen: usize },
    #[error("directory record at offset {offset} has record length {reclen}, too short for a {namlen}-byte name")]
    NameTooLong {
        offset: usize,
        reclen: usize,
        namlen: usize,
    },
    #[error("directory record at offset {offset} has record length {reclen}, not a multiple of 4")]
    UnalignedRecLen { offset: usize, reclen: usize },
    #[error("directory record at offset {offset} is truncated")]
    Truncated { offset: usize },
}

/// Space a record with a name of `namlen` bytes needs (name, NUL, padding to 4).
pub fn record_len(namlen: usize) -> usize {
    (DIRECT_HEADER + namlen + 1 + 3) & !3
}

/// Encodes entries in little-endian byte order. See [`encode_directory_in`].
pub fn encode_directory(entries: &[DirEntry]) -> Vec<u8> {
    encode_directory_in(entries, ByteOrder::Little)
}

/// Encodes entries as dump does; the result is a whole number of chunks.
///
/// Names longer than [`MAXNAMLEN`] are cut to that length (ext2/3/4 cannot hold longer
/// names, so this only guards against misuse).
pub fn encode_directory_in(entries: &[DirEntry], order: ByteOrder) -> Vec<u8> {
    let mut enc = DirectoryEncoder::new(order);
    for e in entries {
        enc.push(e.ino, e.file_type, &e.name);
    }
    enc.finish()
}

/// Builds directory data one entry at a time, so that a caller reading a
/// huge directory never holds its entries, only the encoded bytes (what goes
/// on tape anyway). [`encode_directory_in`] is this over a slice.
#[derive(Debug)]
pub struct DirectoryEncoder {
    out: Vec<u8>,
    /// Start of the last record written, which absorbs a chunk's tail.
    prev: Option<usize>,
    order: ByteOrder,
}

impl DirectoryEncoder {
    pub fn new(order: ByteOrder) -> Self {
        Self::with_capacity(order, 0)
    }

    /// An encoder whose buffer starts at `bytes`: a caller that knows about
    /// how big the directory will be (its size on disk) saves the copies, and
    /// the moments of holding old and new buffer, of growing by doubling.
    pub fn with_capacity(order: ByteOrder, bytes: usize) -> Self {
        DirectoryEncoder {
            out: Vec::with_capacity(bytes),
            prev: None,
            order,
        }
    }

    /// Appends one entry (`file_type` is a BSD `d_type`); names longer than
    /// [`MAXNAMLEN`] are cut to that length.
    pub fn push(&mut self, ino: u32, file_type: u8, name: &[u8]) {
        let name = &name[..name.len().min(MAXNAMLEN)];
        let reclen = record_len(name.len());
        let mut offset = self.out.len();
        // Start a new chunk when the record would cross into the next one; the
        // previous record absorbs the rest of its chunk.
        if offset % DIRBLKSIZ + reclen > DIRBLKSIZ {
            offset = self.pad_chunk();
        }
        self.out.resize(offset + reclen, 0);
        write_record(
            &mut self.out[offset..offset + reclen],
            ino,
            reclen,
            file_type,
            name,
            self.order,
        );
        self.prev = Some(offset);
    }

    /// Takes the chunks no later entry can change (all but the one being
    /// filled), so that a huge directory can be written as it is read.
    /// [`finish`](Self::finish) then returns the rest.
    pub fn take_complete(&mut self) -> Vec<u8> {
        let done = self.out.len() - self.out.len() % DIRBLKSIZ;
        let rest = self.out.split_off(done);
        self.prev = self.prev.and_then(|p| p.checked_sub(done));
        std::mem::replace(&mut self.out, rest)
    }

    /// Bytes held and not yet taken.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// The encoded directory (after [`take_complete`](Self::take_complete):
    /// what was not taken): a whole number of chunks.
    pub fn finish(mut self) -> Vec<u8> {
        if self.out.len() % DIRBLKSIZ != 0 {
            self.pad_chunk();
        }
        // A buffer sized from a guess may be larger than what was written.
        self.out.shrink_to_fit();
        self.out
    }

    /// Fills the current chunk (stretching its last record over the rest)
    /// and returns where the next one starts.
    fn pad_chunk(&mut self) -> usize {
        let offset = self.out.len();
        let pad = DIRBLKSIZ - offset % DIRBLKSIZ;
        if let Some(p) = self.prev {
            stretch(&mut self.out, p, pad, self.order);
        }
        self.out.resize(offset + pad, 0);
        offset + pad
    }
}

/// One chunk holding no entry (a single free record spanning it): what
/// fills a directory that came out shorter than its header announced.
pub fn empty_chunk(order: ByteOrder) -> Vec<u8> {
    let mut chunk = vec![0u8; DIRBLKSIZ];
    write_record(&mut chunk, 0, DIRBLKSIZ, 0, b"", order);
    chunk
}

fn put_u32(b: &mut [u8], v: u32, order: ByteOrder) {
    b.copy_from_slice(&match order {
        ByteOrder::Little => v.to_le_bytes(),
        ByteOrder::Big => v.to_be_bytes(),
    });
}

fn put_u16(b: &mut [u8], v: u16, order: ByteOrder) {
    b.copy_from_slice(&match order {
        ByteOrder::Little => v.to_le_bytes(),
        ByteOrder::Big => v.to_be_bytes(),
    });
}

fn get_u32(b: &[u8], order: ByteOrder) -> u32 {
    let w = [b[0], b[1], b[2], b[3]];
    match order {
        ByteOrder::Little => u32::from_le_bytes(w),
        ByteOrder::Big => u32::from_be_bytes(w),
    }
}

fn get_u16(b: &[u8], order: ByteOrder) -> u16 {
    let w = [b[0], b[1]];
    match order {
        ByteOrder::Little => u16::from_le_bytes(w),
        ByteOrder::Big => u16::from_be_bytes(w),
    }
}

fn write_record(rec: &mut [u8], ino: u32, reclen: usize, ty: u8, name: &[u8], order: ByteOrder) {
    put_u32(&mut rec[0..4], ino, order);
    put_u16(&mut rec[4..6], reclen as u16, order);
    rec[6] = ty;
    rec[7] = name.len() as u8;
    rec[8..8 + name.len()].copy_from_slice(name);
}

fn stretch(out: &mut [u8], at: usize, by: usize, order: ByteOrder) {
    let reclen = get_u16(&out[at + 4..at + 6], order) as usize + by;
    put_u16(&mut out[at + 4..at + 6], reclen as u16, order);
}

/// Decodes little-endian directory data. See [`decode_directory_in`].
pub fn decode_directory(data: &[u8]) -> Result<Vec<DirEntry>, DirError> {
    decode_directory_in(data, ByteOrder::Little)
}

/// Decodes directory data, validating every record. Entries with inode 0 (free slots)
/// are skipped. A trailing partial chunk is read as far as it goes.
///
/// Name contents are returned as stored: whether a name is safe to create on disk is
/// for the caller to decide (see [`check_name`]).
pub fn decode_directory_in(data: &[u8], order: ByteOrder) -> Result<Vec<DirEntry>, DirError> {
    let d = decode_directory_lenient(data, order);
    if let Some(m) = d.mangled.first() {
        return Err(DirError::NameTooLong {
            offset: m.offset,
            reclen: m.reclen,
            namlen: m.namlen,
        });
    }
    match d.error {
        Some(e) => Err(e),
        None => Ok(d.entries),
    }
}

/// A record whose name does not fit in its record length: its inode is known, its name
/// is not.
///
/// dump 0.4b47 writes a 255-byte name this way: it computes the record length in 8 bits
/// (8 + 256 wraps to 8), copies the whole name after the 8-byte record and puts the next
/// record 8 bytes further on, over the start of the name. The record lengths still
/// chain correctly, so the records after it are intact; the name is lost except for
/// the bytes no later record overwrote (`known_prefix`, `known_suffix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MangledEntry {
    /// Byte offset of the record in the directory data.
    pub offset: usize,
    pub ino: u32,
    /// BSD `d_type`.
    pub file_type: u8,
    pub reclen: usize,
    pub namlen: usize,
    /// Where it stood among the readable entries: before `entries[position]`.
    pub position: usize,
    /// The start of the name, as far as it lies inside the record (empty for dump
    /// 0.4b47's 8-byte records).
    pub known_prefix: Vec<u8>,
    /// The end of the name, as far as it lies in the same chunk after every later
    /// record (empty when nothing of it survives).
    pub known_suffix: Vec<u8>,
}

/// The result of [`decode_directory_lenient`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LenientDirectory {
    /// Every readable entry, in on-tape order.
    pub entries: Vec<DirEntry>,
    /// Entries whose names could not be read (see [`MangledEntry`]).
    pub mangled: Vec<MangledEntry>,
    /// The record that stopped decoding, if any: nothing after it was read.
    pub error: Option<DirError>,
}

/// Decodes directory data like [`decode_directory_in`], but goes on past a record whose
/// name runs beyond its record length (reported in `mangled`, its neighbours decoded),
/// and keeps the entries before a record that cannot be walked past.
pub fn decode_directory_lenient(data: &[u8], order: ByteOrder) -> LenientDirectory {
    let mut out = LenientDirectory::default();
    let mut offset = 0usize;
    // End of the bytes the last record wrote (header, name, NUL), for `known_suffix`.
    let mut written_end = 0usize;
    while offset + DIRECT_HEADER <= data.len() {
        let rec = &data[offset..];
        let ino = get_u32(&rec[0..4], order);
        let reclen = get_u16(&rec[4..6], order) as usize;
        let ty = rec[6];
        let namlen = rec[7] as usize;
        if let Err(e) = check_reclen(data.len(), offset, reclen) {
            out.error = Some(e);
            break;
        }
        if offset % DIRBLKSIZ == 0 {
            finish_chunk(&mut out.mangled, data, written_end);
        }
        let mangled = ino != 0 && DIRECT_HEADER + namlen > reclen;
        if mangled {
            let inside = &rec[DIRECT_HEADER..reclen];
            out.mangled.push(MangledEntry {
                offset,
                ino,
                file_type: ty,
                reclen,
                namlen,
                position: out.entries.len(),
                known_prefix: inside.to_vec(),
                known_suffix: Vec::new(),
            });
        } else if ino != 0 {
            out.entries.push(DirEntry {
                ino,
                file_type: ty,
                name: rec[DIRECT_HEADER..DIRECT_HEADER + namlen].to_vec(),
            });
        }
        written_end = offset
            + if mangled {
                reclen
            } else {
                (DIRECT_HEADER + namlen + 1).min(reclen)
            };
        offset += reclen;
    }
    finish_chunk(&mut out.mangled, data, written_end);
    out
}

/// Checks that a record of `reclen` bytes at `offset` can be walked past.
fn check_reclen(len: usize, offset: usize, reclen: usize) -> Result<(), DirError> {
    if reclen == 0 {
        return Err(DirError::ZeroRecLen { offset });
    }
    if reclen % 4 != 0 {
        return Err(DirError::UnalignedRecLen { offset, reclen });
    }
    if reclen > DIRBLKSIZ - offset % DIRBLKSIZ {
        return Err(DirError::RecLenPastChunk { offset, reclen });
    }
    if offset + reclen > len {
        return Err(DirError::Truncated { offset });
    }
    Ok(())
}

/// Fills in `known_suffix` of the mangled entries of the chunk that `written_end`
/// ends in: the part of each name after the last byte a later record wrote.
fn finish_chunk(mangled: &mut [MangledEntry], data: &[u8], written_end: usize) {
    if written_end == 0 {
        return;
    }
    let chunk_start = (written_end - 1) / DIRBLKSIZ * DIRBLKSIZ;
    let chunk_end = (chunk_start + DIRBLKSIZ).min(data.len());
    for m in mangled.iter_mut().rev() {
        if m.offset < chunk_start {
            break;
        }
        let name_start = m.offset + DIRECT_HEADER;
        let name_end = (name_start + m.namlen).min(chunk_end);
        let from = written_end.max(name_start + m.known_prefix.len());
        if from < name_end {
            m.known_suffix = data[from..name_end].to_vec();
        }
    }
}

/// Why a name from a dump must not be created in a directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name \".\" or \"..\" outside its slot")]
    Dot,
    #[error("name contains '/'")]
    Slash,
    #[error("name contains a NUL byte")]
    Nul,
}

/// Checks that a name from a dump is a single, harmless path component.
pub fn check_name(name: &[u8]) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name == b"." || name == b".." {
        return Err(NameError::Dot);
    }
    if name.contains(&b'/') {
        return Err(NameError::Slash);
    }
    if name.contains(&0) {
        return Err(NameError::Nul);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ino: u32, name: &[u8]) -> DirEntry {
        DirEntry {
            ino,
            file_type: dt::DT_REG,
            name: name.to_vec(),
        }
    }

    #[test]
    fn round_trip_across_chunks() {
        let mut entries = vec![
            DirEntry {
                ino: 2,
                file_type: dt::DT_DIR,
                name: b".".to_vec(),
            },
            DirEntry {
                ino: 2,
                file_type: dt::DT_DIR,
                name: b"..".to_vec(),
            },
        ];
        for i in 0..100u32 {
            entries.push(entry(
                100 + i,
                format!("file-with-a-longish-name-{i}").as_bytes(),
            ));
        }
        entries.push(entry(7, &[b'x'; 255]));
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let data = encode_directory_in(&entries, order);
            assert_eq!(data.len() % DIRBLKSIZ, 0);
            assert_eq!(decode_directory_in(&data, order).unwrap(), entries);
        }
    }

    #[test]
    fn taking_complete_chunks_gives_the_same_bytes() {
        // Names of every length class, so records end at every offset of a chunk.
        let entries: Vec<DirEntry> = (0..2000u32)
            .map(|i| {
                entry(
                    10 + i,
                    &vec![b'a' + (i % 26) as u8; 1 + (i as usize * 7) % 255],
                )
            })
            .collect();
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let whole = encode_directory_in(&entries, order);
            for every in [1usize, 3, 17] {
                let mut enc = DirectoryEncoder::new(order);
                let mut streamed = Vec::new();
                for (i, e) in entries.iter().enumerate() {
                    enc.push(e.ino, e.file_type, &e.name);
                    if i % every == 0 {
                        let taken = enc.take_complete();
                        assert_eq!(taken.len() % DIRBLKSIZ, 0);
                        streamed.extend(taken);
                    }
                }
                streamed.extend(enc.finish());
                assert_eq!(streamed, whole, "taking after every {every} entries");
            }
        }
    }

    #[test]
    fn an_empty_chunk_holds_no_entry() {
        let mut data = encode_directory(&[entry(5, b"a")]);
        data.extend(empty_chunk(ByteOrder::Little));
        assert_eq!(decode_directory(&data).unwrap(), vec![entry(5, b"a")]);
    }

    #[test]
    fn zero_reclen_is_an_error() {
        let mut data = encode_directory(&[entry(5, b"a")]);
        data[4] = 0;
        data[5] = 0;
        assert_eq!(
            decode_directory(&data),
            Err(DirError::ZeroRecLen { offset: 0 })
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name(b"ok").is_ok());
        assert!(check_name(b"..").is_err());
        assert!(check_name(b"a/b").is_err());
        assert!(check_name(b"a\0").is_err());
        assert!(check_name(b"").is_err());
    }

    /// Lays entries out the way dump 0.4b47's `convert_dir` does, 8-bit record
    /// length computation included (a 255-byte name gets a record length of 8).
    fn dump047_layout(entries: &[DirEntry]) -> Vec<u8> {
        let mut out = vec![0u8; 4 * DIRBLKSIZ];
        let (mut offset, mut prev) = (0usize, 0usize);
        for e in entries {
            let reclen = (((e.name.len() + 1) as u8 as usize) + 8 + 3) & !3;
            if (offset + reclen - 1) / DIRBLKSIZ != offset / DIRBLKSIZ {
                let pad = DIRBLKSIZ - offset % DIRBLKSIZ;
                stretch(&mut out, prev, pad, ByteOrder::Little);
                offset += pad;
            }
            let n = e.name.len();
            put_u32(&mut out[offset..offset + 4], e.ino, ByteOrder::Little);
            put_u16(
                &mut out[offset + 4..offset + 6],
                reclen as u16,
                ByteOrder::Little,
            );
            out[offset + 6] = e.file_type;
            out[offset + 7] = n as u8;
            out[offset + 8..offset + 8 + n].copy_from_slice(&e.name);
            out[offset + 8 + n] = 0;
            prev = offset;
            offset += reclen;
        }
        let pad = DIRBLKSIZ - offset % DIRBLKSIZ;
        stretch(&mut out, prev, pad, ByteOrder::Little);
        out.truncate(offset + pad);
        out
    }

    #[test]
    fn dump047_long_name_keeps_its_neighbours() {
        let long: Vec<u8> = (0..255u32).map(|i| b'A' + (i % 26) as u8).collect();
        let mut entries: Vec<DirEntry> = (0..5).map(|i| entry(13 + i, b"a0")).collect();
        entries.push(entry(18, &long));
        entries.extend((0..4).map(|i| entry(19 + i, b"b5")));
        let data = dump047_layout(&entries);
        assert_eq!(data.len(), DIRBLKSIZ);
        let d = decode_directory_lenient(&data, ByteOrder::Little);
        assert_eq!(d.error, None);
        let mut expected = entries.clone();
        expected.remove(5);
        assert_eq!(d.entries, expected);
        assert_eq!(d.mangled.len(), 1);
        let m = &d.mangled[0];
        assert_eq!((m.offset, m.ino, m.reclen, m.namlen), (60, 18, 8, 255));
        assert!(m.known_prefix.is_empty());
        // The four 12-byte records after it overwrote the first 47 bytes of the name
        // (the last one's NUL included); the rest survives.
        assert_eq!(m.known_suffix, long[47..].to_vec());
        // The strict decoder still refuses it.
        assert!(matches!(
            decode_directory(&data),
            Err(DirError::NameTooLong { offset: 60, .. })
        ));
    }

    #[test]
    fn long_name_at_the_end_of_a_chunk_keeps_its_prefix() {
        let long = vec![b'z'; 255];
        let mut entries: Vec<DirEntry> = (0..38).map(|i| entry(100 + i, b"f0")).collect();
        entries.push(entry(7, &long));
        entries.push(entry(8, b"next"));
        let data = dump047_layout(&entries);
        let d = decode_directory_lenient(&data, ByteOrder::Little);
        assert_eq!(d.error, None);
        assert_eq!(d.entries.len(), 39);
        let m = &d.mangled[0];
        assert_eq!(m.ino, 7);
        assert_eq!(m.known_prefix, vec![b'z'; m.reclen - 8]);
        assert_eq!(
            d.entries.last().map(|e| e.name.clone()),
            Some(b"next".to_vec())
        );
    }

    #[test]
    fn entries_before_a_broken_record_are_kept() {
        let mut data = encode_directory(&[entry(5, b"a"), entry(6, b"b"), entry(7, b"c")]);
        data[16] = 3; // record length of the second entry: not a multiple of 4
        let d = decode_directory_lenient(&data, ByteOrder::Little);
        assert_eq!(d.entries, vec![entry(5, b"a")]);
        assert_eq!(
            d.error,
            Some(DirError::UnalignedRecLen {
                offset: 12,
                reclen: 3
            })
        );
    }
}
