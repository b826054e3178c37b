//! Writing a dump stream: packing 1 KiB blocks into tape records and writing them,
//! compressed or not.
//!
//! [`RecordPacker`] and [`crate::compress::frame_record`] are separate so that rdump can
//! pack in one thread and compress records in many; [`TapeWriter`] combines them for
//! single-threaded use and tests.

use std::io::{self, Write};

use crate::compress::{frame_record, Compression};
use crate::header::{ByteOrder, Header, RecordType, TP_BSIZE};

/// Largest record dump accepts (`-b 1024`).
pub const MAX_NTREC: usize = 1024;

/// Packs headers and data blocks into records of `ntrec` blocks and numbers the blocks
/// (`c_tapea`) as they go.
#[derive(Debug)]
pub struct RecordPacker {
    ntrec: usize,
    order: ByteOrder,
    record: Vec<u8>,
    blocks: u64,
}

impl RecordPacker {
    /// A packer for records of `ntrec` blocks (clamped to 1..=[`MAX_NTREC`]), writing
    /// headers little-endian as Linux dump on x86 does.
    pub fn new(ntrec: usize) -> RecordPacker {
        Self::with_order(ntrec, ByteOrder::Little)
    }

    /// A packer writing headers in `order`.
    pub fn with_order(ntrec: usize, order: ByteOrder) -> RecordPacker {
        let ntrec = ntrec.clamp(1, MAX_NTREC);
        RecordPacker {
            ntrec,
            order,
            record: Vec::with_capacity(ntrec * TP_BSIZE),
            blocks: 0,
        }
    }

    pub fn ntrec(&self) -> usize {
        self.ntrec
    }

    pub fn order(&self) -> ByteOrder {
        self.order
    }

    /// Blocks packed so far; also the `c_tapea` the next header gets.
    pub fn blocks_written(&self) -> u64 {
        self.blocks
    }

    /// Sets `h.tapea` to the header's block number, encodes it and packs it. Returns a
    /// record when this block completes one.
    pub fn push_header(&mut self, h: &mut Header) -> Option<Vec<u8>> {
        h.tapea = self.blocks as u32;
        let bytes = h.encode(self.order);
        self.push_block(&bytes)
    }

    /// Packs one data block (at most 1 KiB; shorter blocks are zero padded). Returns a
    /// record when this block completes one.
    pub fn push_block(&mut self, b: &[u8]) -> Option<Vec<u8>> {
        let b = &b[..b.len().min(TP_BSIZE)];
        self.record.extend_from_slice(b);
        self.record
            .resize(self.record.len() + (TP_BSIZE - b.len()), 0);
        self.blocks += 1;
        if self.record.len() == self.ntrec * TP_BSIZE {
            let full =
                std::mem::replace(&mut self.record, Vec::with_capacity(self.ntrec * TP_BSIZE));
            Some(full)
        } else {
            None
        }
    }

    /// How many TS_END blocks finish the stream: enough to fill the current record, and
    /// at least one (dump's `ntrec - c_tapea % ntrec`).
    pub fn end_blocks(&self) -> usize {
        self.ntrec - (self.blocks % self.ntrec as u64) as usize
    }

    /// Pushes the TS_END trailer built from `template` and returns the records it
    /// completes.
    pub fn push_end(&mut self, template: &Header) -> Vec<Vec<u8>> {
        let mut h = template.clone();
        h.c_type = RecordType::End as i32;
        h.count = 0;
        let mut out = Vec::new();
        for _ in 0..self.end_blocks() {
            if let Some(r) = self.push_header(&mut h) {
                out.push(r);
            }
        }
        out
    }

    /// The last, partial record padded with zeros, if any blocks are pending.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        if self.record.is_empty() {
            return None;
        }
        self.record.resize(self.ntrec * TP_BSIZE, 0);
        Some(self.record)
    }
}

/// Statistics of a written stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// 1 KiB blocks written, headers included (dump's "N blocks").
    pub blocks: u64,
    /// Bytes written to the output, after compression.
    pub bytes_out: u64,
    /// Records written.
    pub records: u64,
}

/// Writes records to the output, compressing all but the first when asked to.
#[derive(Debug)]
pub struct RecordSink<W: Write> {
    out: W,
    compression: Compression,
    order: ByteOrder,
    stats: WriteStats,
}

impl<W: Write> RecordSink<W> {
    pub fn new(out: W, compression: Compression, order: ByteOrder) -> Self {
        RecordSink {
            out,
            compression,
            order,
            stats: WriteStats::default(),
        }
    }

    /// Writes the next record as it is (the first record, or any record of an
    /// uncompressed dump) or framed (already compressed by [`frame_record`]).
    pub fn write_prepared(&mut self, bytes: &[u8], blocks: u64) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.stats.records += 1;
        self.stats.blocks += blocks;
        self.stats.bytes_out += bytes.len() as u64;
        Ok(())
    }

    /// Prepares and writes the next record.
    pub fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        let blocks = (record.len() / TP_BSIZE) as u64;
        if self.stats.records == 0 || self.compression == Compression::None {
            self.write_prepared(record, blocks)
        } else {
            let framed =
                frame_record(record, self.compression, self.order).map_err(io::Error::other)?;
            self.write_prepared(&framed, blocks)
        }
    }

    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Single-threaded dump writer: headers and blocks in, tape records out.
#[derive(Debug)]
pub struct TapeWriter<W: Write> {
    packer: RecordPacker,
    sink: RecordSink<W>,
}

impl<W: Write> TapeWriter<W> {
    pub fn new(out: W, ntrec: usize, compression: Compression) -> Self {
        Self::with_order(out, ntrec, compression, ByteOrder::Little)
    }

    /// A writer producing a dump in byte order `order` (big-endian dumps are for tests).
    pub fn with_order(out: W, ntrec: usize, compression: Compression, order: ByteOrder) -> Self {
        TapeWriter {
            packer: RecordPacker::with_order(ntrec, order),
            sink: RecordSink::new(out, compression, order),
        }
    }

    pub fn blocks_written(&self) -> u64 {
        self.packer.blocks_written()
    }

    /// Writes a header; `h.tapea` is set to its block number and its checksum computed.
    pub fn write_header(&mut self, h: &mut Header) -> io::Result<()> {
        if let Some(r) = self.packer.push_header(h) {
            self.sink.write_record(&r)?;
        }
        Ok(())
    }

    /// Writes one data block (zero padded to 1 KiB).
    pub fn write_block(&mut self, b: &[u8]) -> io::Result<()> {
        if let Some(r) = self.packer.push_block(b) {
            self.sink.write_record(&r)?;
        }
        Ok(())
    }

    /// Writes data as consecutive blocks, the last one zero padded.
    pub fn write_data(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(TP_BSIZE) {
            self.write_block(chunk)?;
        }
        Ok(())
    }

    /// Writes the TS_END trailer that fills the last record.
    pub fn write_end(&mut self, template: &Header) -> io::Result<()> {
        for r in self.packer.push_end(template) {
            self.sink.write_record(&r)?;
        }
        Ok(())
    }

    /// Flushes the last partial record (zero padded) and returns the output.
    pub fn finish(self) -> io::Result<(W, WriteStats)> {
        let TapeWriter { packer, mut sink } = self;
        if let Some(r) = packer.finish() {
            sink.write_record(&r)?;
        }
        sink.flush()?;
        let stats = sink.stats();
        Ok((sink.into_inner(), stats))
    }
}
