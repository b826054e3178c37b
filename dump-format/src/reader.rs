//! Reading a dump stream as typed items.
//!
//! [`TapeReader`] works over any [`Read`]: a file, a pipe, standard input. It reads the
//! volume header first, which tells it the byte order, whether records are compressed
//! and, for compressed dumps, the record size. It then yields [`Item`]s; the data of an
//! inode is read with [`TapeReader::next_segment`], or skipped by asking for the next
//! item.
//!
//! A damaged stream is handled the way restore handles it: a block that should be a
//! header but is not (bad magic or checksum) starts a scan for the next valid header of
//! the same dump, and the number of blocks passed over is reported as
//! [`Item::Resync`]. A compressed record that cannot be decompressed is replaced by zero
//! blocks (reported through [`TapeReader::take_warnings`]) so the scan can go on past it.
//! Nothing a stream says can make the reader allocate more than a few records' worth of
//! memory, apart from inode maps, which are bounded by [`MAX_MAP_BLOCKS`].

use std::collections::VecDeque;
use std::io::{self, Read};

use crate::bitmap::InodeMap;
use crate::compress::{decompress, Prefix, PREFIX_LEN};
use crate::header::{flags, ByteOrder, Header, HeaderError, RecordType, TP_BSIZE};
use crate::writer::MAX_NTREC;

mod seek;
pub use seek::{share, Pos, Reposition};

/// Largest inode map accepted: 64 Ki blocks (64 MiB) holds 512 Mi inodes.
pub const MAX_MAP_BLOCKS: u64 = 1 << 16;
/// Most consecutive data blocks returned in one [`Segment::Data`].
const SEGMENT_BLOCKS: usize = 64;
/// Most warnings kept between two calls of [`TapeReader::take_warnings`].
const MAX_WARNINGS: usize = 1000;

/// Why a dump stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("read error at byte {offset}: {source}")]
    Io { offset: u64, source: io::Error },
    #[error("not a dump: {0}")]
    NotADump(HeaderError),
    #[error("the input is empty")]
    Empty,
    #[error("the first header is of type {0}, not a volume header (TS_TAPE)")]
    NoVolumeHeader(i32),
    #[error("the volume header gives a record size of {0} blocks; it must be 1 to {MAX_NTREC}")]
    BadNtrec(i32),
    #[error("the dump ends at byte {offset} in the middle of {what}")]
    Truncated { offset: u64, what: &'static str },
    #[error("the dump ends at byte {offset} (block {block}) without its end record (TS_END)")]
    MissingEnd { offset: u64, block: u64 },
    #[error(
        "{kind} map at block {block} claims {count} blocks, more than the {MAX_MAP_BLOCKS} allowed"
    )]
    MapTooLarge {
        kind: &'static str,
        block: u64,
        count: i32,
    },
    #[error("next_segment called with no inode item current")]
    NoCurrentInode,
}

/// One piece of a dump stream.
#[derive(Debug, Clone)]
pub enum Item {
    /// An inode map: TS_CLRI (inodes in use on the filesystem) or TS_BITS (inodes on
    /// this dump).
    Bitmap {
        kind: RecordType,
        header: Header,
        map: InodeMap,
    },
    /// A TS_INODE header: a file, directory, symlink, device, ... or, when
    /// `header.is_xattr()`, the extended attributes of the inode before it. Its data is
    /// read with [`TapeReader::next_segment`].
    Inode(Header),
    /// The end of the dump (TS_END).
    End(Header),
    /// Blocks that were not valid where a header was expected were skipped.
    Resync { skipped_blocks: u64, at_block: u64 },
    /// A TS_TAPE header in the middle of the stream (the next volume of a multi-volume
    /// dump read as one stream).
    Volume(Header),
}

/// A piece of an inode's data. Segments come in order and cover `[0, size)`.
#[derive(Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Data { offset: u64, bytes: &'a [u8] },
    Hole { offset: u64, len: u64 },
}

/// Produces the 1 KiB blocks of the stream, undoing record compression.
struct BlockSource<R: Read> {
    input: R,
    order: ByteOrder,
    compressed: bool,
    ntrec: usize,
    /// Decompressed blocks not yet handed out.
    pending: VecDeque<[u8; TP_BSIZE]>,
    /// Bytes consumed from the input.
    offset: u64,
    /// Blocks handed out.
    blocks: u64,
    warnings: Vec<String>,
    eof: bool,
    /// Byte offset of the compressed record `pending` came from, and how many
    /// blocks it held: where the last block handed out is, for seeking.
    record_start: u64,
    record_blocks: usize,
    /// Algorithm of the last compressed record (a seek looks for another).
    algorithm: Option<u32>,
}

impl<R: Read> BlockSource<R> {
    /// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of input (nothing
    /// read), an error for a partial read.
    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<bool, ReadError> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ReadError::Io {
                        offset: self.offset + got as u64,
                        source: e,
                    })
                }
            }
        }
        self.offset += got as u64;
        if got == 0 {
            return Ok(false);
        }
        if got < buf.len() {
            return Err(ReadError::Truncated {
                offset: self.offset,
                what,
            });
        }
        Ok(true)
    }

    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        }
    }

    /// Reads the next compressed record into `pending`. `Ok(false)` at the end of input.
    fn read_compressed_record(&mut self) -> Result<bool, ReadError> {
        let record_offset = self.offset;
        let mut prefix = [0u8; PREFIX_LEN];
        if !self.fill(&mut prefix, "a record prefix")? {
            return Ok(false);
        }
        let p = Prefix::decode(prefix, self.order);
        self.record_start = record_offset;
        if p.compressed {
            self.algorithm = Some(p.algorithm);
        }
        let max = self.ntrec * TP_BSIZE;
        // A payload longer than a raw record cannot be right; reading it would let a
        // hostile prefix make us allocate up to 256 MiB.
        if p.length > max {
            self.warn(format!(
                "record at byte {record_offset}: prefix claims {} bytes, more than a record of {max}; treating the rest of the input as damaged",
                p.length
            ));
            // Without a trustworthy length there is no way to find the next record in
            // a byte stream: give up on the rest of the input, as restore does.
            self.eof = true;
            return Ok(false);
        }
        let mut payload = vec![0u8; p.length];
        if !self.fill(&mut payload, "a compressed record")? && p.length > 0 {
            return Err(ReadError::Truncated {
                offset: self.offset,
                what: "a compressed record",
            });
        }
        let data = if p.compressed {
            match decompress(p.algorithm, &payload, max) {
                Ok(d) => d,
                Err(e) => {
                    self.warn(format!(
                        "record at byte {record_offset}: {e}; its {} blocks are lost",
                        self.ntrec
                    ));
                    vec![0u8; max]
                }
            }
        } else {
            payload
        };
        if data.len() % TP_BSIZE != 0 {
            self.warn(format!(
                "record at byte {record_offset}: decompressed length {} is not a multiple of {TP_BSIZE}; the partial block is dropped",
                data.len()
            ));
        }
        for chunk in data.chunks_exact(TP_BSIZE) {
            let mut b = [0u8; TP_BSIZE];
            b.copy_from_slice(chunk);
            self.pending.push_back(b);
        }
        self.record_blocks = self.pending.len();
        Ok(true)
    }

    /// Appends the next `n` blocks to `out`; `Ok(false)` if the input ends first.
    /// Blocks of an uncompressed stream go straight from the input into `out`,
    /// without passing through a block buffer (file data is most of a dump).
    fn append_blocks(&mut self, n: usize, out: &mut Vec<u8>) -> Result<bool, ReadError> {
        let mut left = n;
        while left > 0 {
            if let Some(b) = self.pending.pop_front() {
                self.blocks += 1;
                out.extend_from_slice(&b);
                left -= 1;
            } else if self.eof {
                return Ok(false);
            } else if self.compressed {
                if !self.read_compressed_record()? {
                    self.eof = true;
                }
            } else {
                let start = out.len();
                out.resize(start + left * TP_BSIZE, 0);
                if !self.fill(&mut out[start..], "file data")? {
                    out.truncate(start);
                    self.eof = true;
                    return Ok(false);
                }
                self.blocks += left as u64;
                left = 0;
            }
        }
        Ok(true)
    }

    /// The next block, or `None` at the end of the input.
    fn next_block(&mut self) -> Result<Option<[u8; TP_BSIZE]>, ReadError> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                self.blocks += 1;
                return Ok(Some(b));
            }
            if self.eof {
                return Ok(None);
            }
            if self.compressed {
                if !self.read_compressed_record()? {
                    self.eof = true;
                }
            } else {
                let mut b = [0u8; TP_BSIZE];
                if self.fill(&mut b, "a tape block")? {
                    self.blocks += 1;
                    return Ok(Some(b));
                }
                self.eof = true;
            }
        }
    }
}

/// Where the reader is inside the current inode's data.
#[derive(Debug)]
struct FileState {
    header: Header,
    /// Next `c_addr` index of `header` to look at.
    index: usize,
    /// Byte offset in the file of that entry.
    offset: u64,
    /// File size (`di_size`).
    size: u64,
    /// All entries are present blocks (maps, xattr records).
    all_present: bool,
    done: bool,
}

/// Reads a dump stream. See the module documentation.
pub struct TapeReader<R: Read> {
    src: BlockSource<R>,
    volume: Header,
    /// A header read ahead (after a file's last block, or found by a resync scan).
    lookahead: Option<Header>,
    /// A resync to report before the look-ahead header.
    pending_resync: Option<Item>,
    file: Option<FileState>,
    buf: Vec<u8>,
    ended: bool,
    /// Random access to the input, when it has it (see [`seek`]).
    seeker: Option<Box<dyn seek::Reposition>>,
    /// Where the header returned last by `read_header` starts.
    last_header: Option<seek::Pos>,
    /// Known record positions of inodes (a QFA file), sorted by inode.
    positions: Vec<(u32, u64)>,
    /// Why the positions were dropped, to be reported once.
    doubt: Option<String>,
}

impl<R: Read> TapeReader<R> {
    /// Reads the volume header: byte order, compression and record size.
    pub fn new(input: R) -> Result<Self, ReadError> {
        let mut src = BlockSource {
            input,
            order: ByteOrder::Little,
            compressed: false,
            ntrec: 1,
            pending: VecDeque::new(),
            offset: 0,
            blocks: 0,
            warnings: Vec::new(),
            eof: false,
            record_start: 0,
            record_blocks: 0,
            algorithm: None,
        };
        let mut first = [0u8; TP_BSIZE];
        if !src.fill(&mut first, "the volume header")? {
            return Err(ReadError::Empty);
        }
        let (mut volume, order) = Header::parse(&first).map_err(ReadError::NotADump)?;
        // Some writers (Apache Commons Compress) leave c_type 0 in the volume header;
        // as the first block of the stream it can only be the volume header.
        if volume.c_type == 0 {
            volume.c_type = RecordType::Tape as i32;
        }
        if volume.record_type() != Some(RecordType::Tape) {
            return Err(ReadError::NoVolumeHeader(volume.c_type));
        }
        src.order = order;
        src.blocks = 1;
        if volume.flags & flags::DR_COMPRESSED != 0 {
            if volume.ntrec < 1 || volume.ntrec as usize > MAX_NTREC {
                return Err(ReadError::BadNtrec(volume.ntrec));
            }
            src.ntrec = volume.ntrec as usize;
            // The rest of the first record is stored uncompressed, without a prefix.
            for _ in 1..src.ntrec {
                let mut b = [0u8; TP_BSIZE];
                if !src.fill(&mut b, "the first record")? {
                    return Err(ReadError::Truncated {
                        offset: src.offset,
                        what: "the first record",
                    });
                }
                src.pending.push_back(b);
            }
            src.compressed = true;
            src.record_blocks = src.ntrec;
        }
        Ok(TapeReader {
            src,
            volume,
            lookahead: None,
            pending_resync: None,
            file: None,
            buf: Vec::with_capacity(SEGMENT_BLOCKS * TP_BSIZE),
            ended: false,
            seeker: None,
            last_header: None,
            positions: Vec::new(),
            doubt: None,
        })
    }

    /// The volume header (TS_TAPE) at the start of the stream.
    pub fn volume(&self) -> &Header {
        &self.volume
    }

    pub fn byte_order(&self) -> ByteOrder {
        self.src.order
    }

    /// Whether records after the first are compressed.
    pub fn is_compressed(&self) -> bool {
        self.src.compressed
    }

    /// Blocks read so far, the volume header included.
    pub fn blocks_read(&self) -> u64 {
        self.src.blocks
    }

    /// Bytes consumed from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.src.offset
    }

    /// Problems the reader recovered from since the last call (damaged compressed
    /// records, missing blocks at the end of a file).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.src.warnings)
    }

    fn read_block(&mut self) -> Result<Option<[u8; TP_BSIZE]>, ReadError> {
        self.src.next_block()
    }

    /// Reads the next header, scanning past damaged blocks. Returns the header and the
    /// number of blocks skipped to find it, or `None` at the end of the input.
    fn read_header(&mut self) -> Result<Option<(Header, u64)>, ReadError> {
        let mut skipped = 0u64;
        loop {
            let Some(block) = self.read_block()? else {
                return Ok(None);
            };
            match Header::parse_in(&block, self.src.order) {
                // Like restore, accept only headers of this dump: a block of file data
                // that happens to hold an old header must not derail us.
                Ok(h) if h.date == self.volume.date && h.record_type().is_some() => {
                    self.last_header = Some(self.block_pos());
                    return Ok(Some((h, skipped)));
                }
                _ => skipped += 1,
            }
        }
    }

    /// Skips whatever is left of the current inode's data.
    fn finish_file(&mut self) -> Result<(), ReadError> {
        while self.file.is_some() {
            if self.next_segment()?.is_none() {
                break;
            }
        }
        self.file = None;
        Ok(())
    }

    /// The next item, or `None` after the end record. Unread data of the previous item
    /// is skipped.
    pub fn next_item(&mut self) -> Result<Option<Item>, ReadError> {
        self.finish_file()?;
        if self.ended {
            return Ok(None);
        }
        if let Some(r) = self.pending_resync.take() {
            return Ok(Some(r));
        }
        let header = match self.lookahead.take() {
            Some(h) => h,
            None => {
                let at_block = self.src.blocks;
                match self.read_header()? {
                    Some((h, 0)) => h,
                    Some((h, skipped)) => {
                        self.lookahead = Some(h);
                        return Ok(Some(Item::Resync {
                            skipped_blocks: skipped,
                            at_block,
                        }));
                    }
                    None => {
                        return Err(ReadError::MissingEnd {
                            offset: self.src.offset,
                            block: self.src.blocks,
                        });
                    }
                }
            }
        };
        match header.record_type() {
            Some(RecordType::Bits) | Some(RecordType::Clri) => {
                let kind = header.record_type().unwrap_or(RecordType::Bits);
                let count = header.count;
                if count < 0 || count as u64 > MAX_MAP_BLOCKS {
                    return Err(ReadError::MapTooLarge {
                        kind: kind.name(),
                        block: self.src.blocks,
                        count,
                    });
                }
                let mut bytes = Vec::with_capacity(count as usize * TP_BSIZE);
                for _ in 0..count {
                    match self.read_block()? {
                        Some(b) => bytes.extend_from_slice(&b),
                        None => {
                            return Err(ReadError::Truncated {
                                offset: self.src.offset,
                                what: "an inode map",
                            })
                        }
                    }
                }
                Ok(Some(Item::Bitmap {
                    kind,
                    header,
                    map: InodeMap::from_bytes(bytes),
                }))
            }
            Some(RecordType::Inode) => {
                let all_present = header.is_extattr() || self.directory_blocks_unmarked(&header)?;
                self.file = Some(FileState {
                    all_present,
                    size: header.inode.size,
                    header: header.clone(),
                    index: 0,
                    offset: 0,
                    done: false,
                });
                Ok(Some(Item::Inode(header)))
            }
            Some(RecordType::End) => {
                self.ended = true;
                Ok(Some(Item::End(header)))
            }
            Some(RecordType::Tape) => Ok(Some(Item::Volume(header))),
            Some(RecordType::Addr) | None => {
                // A continuation with no file before it (its start was damaged): skip
                // its blocks and report them as skipped.
                let at_block = self.src.blocks;
                let n = header.data_block_count();
                for _ in 0..n {
                    if self.read_block()?.is_none() {
                        break;
                    }
                }
                Ok(Some(Item::Resync {
                    skipped_blocks: n + 1,
                    at_block,
                }))
            }
        }
    }

    /// True when a directory header marks none of its blocks present although the
    /// directory has data and the block after the header is not a header: some writers
    /// (Apache Commons Compress) leave `c_addr` unset for directory blocks. Reading the
    /// blocks anyway is the same accommodation restore makes for xattr records of old
    /// dumps (its `readmapflag`).
    fn directory_blocks_unmarked(&mut self, h: &Header) -> Result<bool, ReadError> {
        use crate::header::mode::S_IFDIR;
        if h.inode.file_type() != S_IFDIR
            || h.inode.size == 0
            || h.addr_count() == 0
            || h.data_block_count() != 0
        {
            return Ok(false);
        }
        let Some(next) = self.src.next_block()? else {
            return Ok(false);
        };
        let is_header = Header::parse_in(&next, self.src.order).is_ok();
        // Put the block back: it is read again as data or as the next header.
        self.src.pending.push_front(next);
        self.src.blocks -= 1;
        Ok(!is_header)
    }

    /// The bytes of the [`Segment::Data`] that [`next_segment`](Self::next_segment)
    /// returned last (empty after any other segment), without a copy; `spare`, a
    /// buffer of any contents, takes their place for the next segments. For a
    /// caller that hands the data on to another thread.
    pub fn take_data(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        std::mem::replace(&mut self.buf, spare)
    }

    /// The next piece of the current inode's data, or `None` when it is all read.
    pub fn next_segment(&mut self) -> Result<Option<Segment<'_>>, ReadError> {
        // Holds the bytes of the Data segment returned last (see `take_data`).
        self.buf.clear();
        loop {
            let Some(f) = self.file.as_mut() else {
                return Ok(None);
            };
            if f.done {
                self.file = None;
                return Ok(None);
            }
            let count = f.header.addr_count();
            if f.offset >= f.size {
                // The file is complete; blocks this header still lists (dump writes
                // whole filesystem blocks) are read and dropped.
                let rest = f.header.addr[f.index.min(count)..count]
                    .iter()
                    .filter(|&&a| f.all_present || a != 0)
                    .count();
                f.done = true;
                for _ in 0..rest {
                    if self.read_block()?.is_none() {
                        return Err(ReadError::Truncated {
                            offset: self.src.offset,
                            what: "file data",
                        });
                    }
                }
                continue;
            }
            if f.index >= count {
                // This header is used up: the file goes on in a TS_ADDR header.
                let ino = f.header.inumber;
                match self.read_header()? {
                    Some((h, skipped))
                        if h.record_type() == Some(RecordType::Addr) && h.inumber == ino =>
                    {
                        if skipped > 0 {
                            let at_block = self.src.blocks;
                            self.src.warn(format!(
                                "inode {ino}: skipped {skipped} damaged blocks before block {at_block}; the data there is lost"
                            ));
                        }
                        let f = self.file.as_mut().ok_or(ReadError::NoCurrentInode)?;
                        f.header = h;
                        f.index = 0;
                        continue;
                    }
                    other => {
                        let f = self.file.as_mut().ok_or(ReadError::NoCurrentInode)?;
                        let (offset, size) = (f.offset, f.size);
                        f.done = true;
                        if let Some((h, skipped)) = other {
                            if skipped > 0 {
                                self.pending_resync = Some(Item::Resync {
                                    skipped_blocks: skipped,
                                    at_block: self.src.blocks.saturating_sub(1),
                                });
                            }
                            self.lookahead = Some(h);
                        }
                        self.src.warn(format!(
                            "inode {ino}: missing blocks from offset {offset} to its size {size}, assuming a hole"
                        ));
                        return Ok(Some(Segment::Hole {
                            offset,
                            len: size - offset,
                        }));
                    }
                }
            }
            // Gather a run of present blocks, or a run of holes, within this header.
            let present = |f: &FileState, i: usize| f.all_present || f.header.addr[i] != 0;
            let first_present = present(f, f.index);
            let mut n = 0usize;
            while f.index + n < count
                && present(f, f.index + n) == first_present
                && f.offset + (n as u64) * (TP_BSIZE as u64) < f.size
                && (!first_present || n < SEGMENT_BLOCKS)
            {
                n += 1;
            }
            let offset = f.offset;
            let len = ((n * TP_BSIZE) as u64).min(f.size - offset);
            f.index += n;
            f.offset += (n * TP_BSIZE) as u64;
            if !first_present {
                return Ok(Some(Segment::Hole { offset, len }));
            }
            if !self.src.append_blocks(n, &mut self.buf)? {
                return Err(ReadError::Truncated {
                    offset: self.src.offset,
                    what: "file data",
                });
            }
            self.buf.truncate(len as usize);
            return Ok(Some(Segment::Data {
                offset,
                bytes: &self.buf,
            }));
        }
    }

    /// Reads all remaining data of the current inode into memory, refusing more than
    /// `limit` bytes (directories, symlink targets and xattr blobs are small; a hostile
    /// size must not make us allocate without bound).
    pub fn read_all(&mut self, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
        let size = match &self.file {
            Some(f) => f.size,
            None => return Err(ReadError::NoCurrentInode),
        };
        if size > limit {
            return Ok(None);
        }
        let mut out = vec![0u8; size as usize];
        while let Some(seg) = self.next_segment()? {
            if let Segment::Data { offset, bytes } = seg {
                let start = offset as usize;
                out[start..start + bytes.len()].copy_from_slice(bytes);
            }
        }
        Ok(Some(out))
    }
}
