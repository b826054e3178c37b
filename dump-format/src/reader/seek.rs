//! Finding an inode's records by seeking, when the input is a file (or a set of
//! split parts) rather than a pipe or a tape.
//!
//! Inodes are on the tape in increasing order and every header is checksummed
//! and dated, so the first valid header after any byte offset tells which inode
//! the stream has reached there. [`TapeReader::seek_to_inode`] bisects over
//! byte offsets with such probes until the target lies within a small window,
//! and reads on from there as usual. Compressed records are found
//! from an arbitrary offset by their 4-byte prefix: a plausible length and
//! algorithm, a payload that decompresses to exactly one record, and a plausible
//! prefix right after it.
//!
//! The seek capability travels beside the `Read` the reader was built on
//! ([`share`] makes both from one file), so the reader's type does not change.

use std::cell::{Cell, RefCell};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::rc::Rc;

use super::{Item, ReadError, TapeReader};
use crate::compress::{decompress, Prefix, PREFIX_LEN};
use crate::header::{Header, RecordType, TP_BSIZE};
use crate::writer::MAX_NTREC;

/// Probes stop looking for a header after this many blocks (a header comes at
/// least every 512 data blocks).
const PROBE_BLOCKS: usize = 1100;
/// An uncompressed probe looks forward and backward in turn, this many blocks
/// at a time (one buffer of the shared input).
const PROBE_STEP: usize = 8;
/// Bisection stops when the target lies within this many bytes (or records,
/// see [`TapeReader::window`]); the rest is read as a stream. About the
/// distance between two headers in a large file (512 blocks), which is what
/// a probe landing in one reads.
const WINDOW: u64 = 256 * 1024;
/// Read buffer of a shared input: small, since every probe refills it.
const SHARED_BUFFER: usize = 8 * 1024;

/// Random access to the input a [`TapeReader`] reads, sharing its file.
pub trait Reposition {
    /// Makes the next read of the reader's input return the byte at `pos`.
    fn seek_to(&mut self, pos: u64) -> io::Result<()>;
    /// Length of the input in bytes.
    fn len(&self) -> u64;
    /// True for an empty input.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes read from the underlying input so far, seeks and probes included.
    fn bytes_read(&self) -> u64;
}

/// Where a block is: for an uncompressed dump its byte offset (`block` 0); for
/// a compressed one the offset of the record holding it and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub byte: u64,
    pub block: usize,
}

/// Counts the bytes read through it.
struct Counted<S> {
    inner: S,
    count: Rc<Cell<u64>>,
}

impl<S: Read> Read for Counted<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<S: Seek> Seek for Counted<S> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

type Shared<S> = Rc<RefCell<BufReader<Counted<S>>>>;

struct SharedRead<S>(Shared<S>);

impl<S: Read> Read for SharedRead<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

struct SharedSeek<S> {
    shared: Shared<S>,
    len: u64,
    count: Rc<Cell<u64>>,
}

impl<S: Read + Seek> Reposition for SharedSeek<S> {
    fn seek_to(&mut self, pos: u64) -> io::Result<()> {
        self.shared
            .borrow_mut()
            .seek(SeekFrom::Start(pos))
            .map(|_| ())
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn bytes_read(&self) -> u64 {
        self.count.get()
    }
}

/// Makes a buffered `Read` for [`TapeReader::new`] and a [`Reposition`] for
/// [`TapeReader::set_reposition`] out of one seekable input, positioned at its
/// start. The two are not `Send`: they belong to one reader.
pub fn share<S: Read + Seek + 'static>(
    mut input: S,
) -> io::Result<(Box<dyn Read>, Box<dyn Reposition>)> {
    let len = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(0))?;
    let count = Rc::new(Cell::new(0));
    let counted = Counted {
        inner: input,
        count: count.clone(),
    };
    let shared = Rc::new(RefCell::new(BufReader::with_capacity(
        SHARED_BUFFER,
        counted,
    )));
    let seek = SharedSeek {
        shared: shared.clone(),
        len,
        count,
    };
    Ok((Box::new(SharedRead(shared)), Box::new(seek)))
}

/// What a probe found at an offset, relative to the inode sought.
enum Probe {
    /// A header of an inode before it: the stream may resume there.
    Before(Pos),
    /// The inode's own header.
    Target(Pos),
    /// A later inode, the end, or nothing recognisable: the inode sought
    /// starts before this offset, if it is on the dump.
    After(u64),
}

impl<R: Read> TapeReader<R> {
    /// Gives the reader random access to its input (see [`share`]);
    /// [`seek_to_inode`](Self::seek_to_inode) then seeks instead of reading.
    pub fn set_reposition(&mut self, seeker: Box<dyn Reposition>) {
        self.seeker = Some(seeker);
    }

    /// Tells the reader where inodes start: (inode, byte offset of the
    /// record holding its header), as a QFA file lists them. With them
    /// [`seek_to_inode`](Self::seek_to_inode) goes straight to the record
    /// instead of searching, after checking that the record holds the
    /// inode or one before it; if it does not, the positions are dropped
    /// with a warning and the search is used.
    pub fn set_positions(&mut self, mut positions: Vec<(u32, u64)>) {
        positions.sort_unstable();
        self.positions = positions;
    }

    /// The positions given by [`set_positions`](Self::set_positions), as far
    /// as they are still trusted.
    pub fn positions(&self) -> &[(u32, u64)] {
        &self.positions
    }

    /// The byte offset of the record holding the header returned last, as
    /// dump's QFA file gives it: for a plain dump the start of its record of
    /// `c_ntrec` blocks, for a compressed one the start of its framed record.
    pub fn record_of_last_header(&self) -> Option<u64> {
        let pos = self.last_header?;
        if self.src.compressed {
            return Some(pos.byte);
        }
        let ntrec = u64::try_from(self.volume.ntrec)
            .ok()
            .filter(|n| (1..=MAX_NTREC as u64).contains(n))
            .unwrap_or(1);
        let record = ntrec * TP_BSIZE as u64;
        Some(pos.byte / record * record)
    }

    /// Whether [`seek_to_inode`](Self::seek_to_inode) can seek.
    pub fn can_seek(&self) -> bool {
        self.seeker.is_some()
    }

    /// Bytes read from a seekable input so far (`None` for a stream).
    pub fn input_bytes_read(&self) -> Option<u64> {
        self.seeker.as_ref().map(|s| s.bytes_read())
    }

    /// Length of a seekable input (`None` for a stream).
    pub fn input_len(&self) -> Option<u64> {
        self.seeker.as_ref().map(|s| s.len())
    }

    /// Where the block handed out last is.
    pub(super) fn block_pos(&self) -> Pos {
        let src = &self.src;
        if src.compressed {
            let index = src.record_blocks.saturating_sub(src.pending.len() + 1);
            Pos {
                byte: src.record_start,
                block: index,
            }
        } else {
            Pos {
                byte: src.offset.saturating_sub(TP_BSIZE as u64),
                block: 0,
            }
        }
    }

    /// Bisection stops within this many bytes.
    fn window(&self) -> u64 {
        let record = (self.src.ntrec * TP_BSIZE + PREFIX_LEN) as u64;
        WINDOW.max(4 * record)
    }

    /// Restarts reading at `pos`, forgetting everything read ahead.
    fn reposition(&mut self, pos: Pos) -> Result<(), ReadError> {
        let Some(seeker) = self.seeker.as_mut() else {
            return Err(ReadError::NoCurrentInode);
        };
        seeker.seek_to(pos.byte).map_err(|source| ReadError::Io {
            offset: pos.byte,
            source,
        })?;
        let src = &mut self.src;
        src.pending.clear();
        src.eof = false;
        src.offset = pos.byte;
        src.record_start = pos.byte;
        src.record_blocks = 0;
        if !src.compressed {
            src.blocks = pos.byte / TP_BSIZE as u64;
        } else if pos.byte == 0 {
            // The first record is stored raw, without a prefix.
            for _ in 0..src.ntrec {
                let mut b = [0u8; TP_BSIZE];
                if !src.fill(&mut b, "the first record")? {
                    break;
                }
                src.pending.push_back(b);
            }
            src.record_blocks = src.pending.len();
        }
        self.lookahead = None;
        self.pending_resync = None;
        self.file = None;
        self.ended = false;
        for _ in 0..pos.block {
            if self.src.next_block()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// True when a record prefix could start a record of this dump.
    fn plausible(&self, p: &Prefix) -> bool {
        let max = self.src.ntrec * TP_BSIZE;
        if p.length == 0 || p.length > max {
            return false;
        }
        if !p.compressed {
            return p.length == max;
        }
        match self.src.algorithm {
            Some(a) => a == p.algorithm,
            None => p.algorithm < 4,
        }
    }

    /// The offset of the first compressed record starting at or after `at`.
    fn find_record(&mut self, at: u64) -> Result<Option<u64>, ReadError> {
        let max = self.src.ntrec * TP_BSIZE;
        // The first record (raw, no prefix) is not searched.
        let at = at.max(max as u64);
        let Some(seeker) = self.seeker.as_mut() else {
            return Ok(None);
        };
        let io_err = |source| ReadError::Io { offset: at, source };
        seeker.seek_to(at).map_err(io_err)?;
        let len = seeker.len();
        let mut buf = Vec::new();
        let want = 2 * (max + PREFIX_LEN) + PREFIX_LEN;
        (&mut self.src.input)
            .take(want as u64)
            .read_to_end(&mut buf)
            .map_err(io_err)?;
        let prefix_at = |j: usize| -> Option<Prefix> {
            let b = buf.get(j..j + PREFIX_LEN)?;
            Some(Prefix::decode([b[0], b[1], b[2], b[3]], self.src.order))
        };
        for j in 0..(max + PREFIX_LEN).min(buf.len()) {
            let Some(p) = prefix_at(j).filter(|p| self.plausible(p)) else {
                continue;
            };
            let end = j + PREFIX_LEN + p.length;
            let Some(payload) = buf.get(j + PREFIX_LEN..end) else {
                continue;
            };
            if p.compressed
                && !matches!(decompress(p.algorithm, payload, max), Ok(d) if d.len() == max)
            {
                continue;
            }
            let at_end = at + end as u64 == len;
            if at_end || prefix_at(end).is_some_and(|q| self.plausible(&q)) {
                return Ok(Some(at + j as u64));
            }
        }
        Ok(None)
    }

    /// Finds a header near byte `at` (after `lo`, a header before the
    /// target) and compares its inode with `target`.
    fn probe(&mut self, at: u64, lo: Pos, target: u32) -> Result<Probe, ReadError> {
        if !self.src.compressed {
            return self.probe_plain(at, lo.byte + TP_BSIZE as u64, target);
        }
        let Some(start) = self.find_record(at)? else {
            return Ok(Probe::After(at));
        };
        Ok(match self.scan(start, PROBE_BLOCKS, false)? {
            Some((pos, h)) => classify(&h, pos, target, at),
            None => Probe::After(at),
        })
    }

    /// An uncompressed probe: the header nearest `at`, looked for forward
    /// and backward (not below `floor`) in turn, so that a probe landing in
    /// a large file reads half as much on average.
    fn probe_plain(&mut self, at: u64, floor: u64, target: u32) -> Result<Probe, ReadError> {
        let b = TP_BSIZE as u64;
        let step = PROBE_STEP as u64 * b;
        let len = self.input_len().unwrap_or(0);
        let (mut fwd, mut back) = (at.div_ceil(b) * b, at.div_ceil(b) * b);
        let mut scanned = 0;
        while scanned < PROBE_BLOCKS && (fwd < len || back > floor) {
            if fwd < len {
                if let Some((pos, h)) = self.scan(fwd, PROBE_STEP, false)? {
                    return Ok(classify(&h, pos, target, at));
                }
                fwd += step;
            }
            if back > floor {
                let from = back.saturating_sub(step).max(floor);
                let n = ((back - from) / b) as usize;
                if let Some((pos, h)) = self.scan(from, n, true)? {
                    return Ok(classify(&h, pos, target, pos.byte));
                }
                back = from;
            }
            scanned += 2 * PROBE_STEP;
        }
        Ok(Probe::After(at))
    }

    /// The first (or, with `last`, the last) header of this dump among `n`
    /// blocks from byte `from` (a record start when compressed).
    fn scan(
        &mut self,
        from: u64,
        n: usize,
        last: bool,
    ) -> Result<Option<(Pos, Header)>, ReadError> {
        self.reposition(Pos {
            byte: from,
            block: 0,
        })?;
        let mut found = None;
        for _ in 0..n {
            let Some(block) = self.src.next_block()? else {
                break;
            };
            if let Some(h) = self.header_of_this_dump(&block) {
                found = Some((self.block_pos(), h));
                if !last {
                    break;
                }
            }
        }
        Ok(found)
    }

    fn header_of_this_dump(&self, block: &[u8; TP_BSIZE]) -> Option<Header> {
        Header::parse_in(block, self.src.order)
            .ok()
            .filter(|h| h.date == self.volume.date && h.record_type().is_some())
    }

    /// Positions the reader so that its next item is the first header of an
    /// inode numbered `target` or more (or the end), reading as little as it
    /// can: a bisection over byte offsets from the header
    /// returned last, then a plain read of the last window. Returns false,
    /// having changed nothing, when the input cannot seek. Use it right after an
    /// [`Item::Inode`] of an inode before `target`.
    pub fn seek_to_inode(&mut self, target: u32) -> Result<bool, ReadError> {
        let (Some(start), Some(len)) = (self.last_header, self.input_len()) else {
            return Ok(false);
        };
        let warnings = self.src.warnings.len();
        if let Some(found) = self.jump(start, target) {
            self.src.warnings.truncate(warnings);
            self.reposition(found)?;
            self.read_up_to(target)?;
            return Ok(true);
        }
        let window = self.window();
        let (mut lo, mut hi) = (start, len);
        let mut found = false;
        // A first probe one window on, so a target close by costs one probe;
        // then a bisection of the rest.
        let mut at = lo.byte + window;
        while !found && at < hi {
            match self.probe(at, lo, target)? {
                Probe::Before(p) => lo = p,
                Probe::Target(p) => (lo, found) = (p, true),
                Probe::After(bound) => hi = bound,
            }
            if hi.saturating_sub(lo.byte) <= window {
                break;
            }
            at = lo.byte + (hi - lo.byte) / 2;
        }
        self.reposition(lo)?;
        // Probes may have passed over damage that is not on the way.
        self.src.warnings.truncate(warnings);
        if let Some(w) = self.doubt.take() {
            self.src.warn(w);
        }
        self.read_up_to(target)?;
        Ok(true)
    }

    /// With a known position for `target` (that of the last inode listed
    /// at or before it, which shares its record when the list is dump's),
    /// ahead of `start`: the header found there, checked to be of `target`
    /// or an inode before it. A position that fails the check drops them
    /// all, with a warning (`doubt`) for the caller to pass on.
    fn jump(&mut self, start: Pos, target: u32) -> Option<Pos> {
        let i = self.positions.partition_point(|&(ino, _)| ino <= target);
        let &(ino, at) = i.checked_sub(1).and_then(|i| self.positions.get(i))?;
        if at <= start.byte {
            return None;
        }
        // A plain dump is read block by block: its record size is the
        // volume header's (at most MAX_NTREC), and the inode's header is in
        // that record.
        let blocks = if self.src.compressed {
            self.src.ntrec
        } else {
            usize::try_from(self.volume.ntrec)
                .ok()
                .filter(|n| (1..=MAX_NTREC).contains(n))
                .unwrap_or(MAX_NTREC)
        };
        // A position past the end, or one that reads as a cut-off record,
        // is as wrong as one without the header: the search takes over.
        let len = self.input_len().unwrap_or(0);
        if at < len {
            if let Ok(Some((pos, h))) = self.scan(at, blocks, false) {
                if let Probe::Before(p) | Probe::Target(p) = classify(&h, pos, target, at) {
                    return Some(p);
                }
            }
        }
        self.positions.clear();
        self.doubt = Some(format!(
            "the QFA position of inode {ino} (byte {at}) does not hold inode {target} or one before it; \
             the positions are not used further"
        ));
        None
    }

    /// Reads on until the next item is a header of `target` or later.
    fn read_up_to(&mut self, target: u32) -> Result<(), ReadError> {
        loop {
            match self.next_item()? {
                Some(Item::Inode(h)) if h.inumber >= target => {
                    self.file = None;
                    self.lookahead = Some(h);
                    return Ok(());
                }
                Some(Item::End(h)) => {
                    self.ended = false;
                    self.lookahead = Some(h);
                    return Ok(());
                }
                None => return Ok(()),
                Some(_) => {}
            }
        }
    }
}

/// What a header at `pos` says about `target`; `bound` is where a later
/// header puts the upper limit (the probe's offset, or the header itself
/// when it was found before that offset).
fn classify(h: &Header, pos: Pos, target: u32, bound: u64) -> Probe {
    match h.record_type() {
        Some(RecordType::Inode) if h.inumber == target && !h.is_extattr() => Probe::Target(pos),
        Some(RecordType::Inode) | Some(RecordType::Addr) if h.inumber < target => {
            Probe::Before(pos)
        }
        _ => Probe::After(bound),
    }
}
