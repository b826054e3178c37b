//! `-A file`: the archive table of contents dump 0.4b47 writes beside the
//! dump. It is the dump's own tape blocks from the start up to the first
//! inode that is not a directory (volume header, inode maps, every directory
//! with its data), followed by the dump's TS_END trailer blocks, exactly as
//! they are on tape (same c_tapea). `restore -t/-i -A file` lists and
//! browses it without the dump.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use dump_format::header::{flags, mode, ByteOrder, Header, RecordType, TP_BSIZE};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("archive file {}: {source}", path.display())]
pub struct TocError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Copies the blocks of the table of contents to the archive file as the
/// packer numbers them.
pub struct TocTap {
    path: PathBuf,
    out: BufWriter<File>,
    /// Still in the directory part of the dump.
    open: bool,
}

impl TocTap {
    /// Creates (truncates) the archive file.
    pub fn create(path: &Path) -> Result<TocTap, TocError> {
        let file = File::create(path).map_err(|source| TocError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(TocTap {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            open: true,
        })
    }

    /// A header as it goes into the file: the file is never compressed, so
    /// dump clears DR_COMPRESSED in every header it copies there.
    fn put_header(&mut self, h: &Header, order: ByteOrder) -> Result<(), TocError> {
        let mut h = h.clone();
        h.flags &= !flags::DR_COMPRESSED;
        self.put(&h.encode(order))
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), TocError> {
        let mut block = [0u8; TP_BSIZE];
        let n = bytes.len().min(TP_BSIZE);
        block[..n].copy_from_slice(&bytes[..n]);
        self.out
            .write_all(&block)
            .map_err(|source| self.error(source))
    }

    fn error(&self, source: std::io::Error) -> TocError {
        TocError {
            path: self.path.clone(),
            source,
        }
    }

    /// Called before a header is packed: the first inode that is not a
    /// directory ends the table of contents.
    pub fn before_header(&mut self, h: &Header) {
        let is_inode = h.record_type() == Some(RecordType::Inode);
        if is_inode && h.inode.mode & mode::S_IFMT != mode::S_IFDIR {
            self.open = false;
        }
    }

    /// A header as packed (its c_tapea set).
    pub fn header(&mut self, h: &Header, order: ByteOrder) -> Result<(), TocError> {
        if self.open {
            self.put_header(h, order)?;
        }
        Ok(())
    }

    /// A data block as packed.
    pub fn block(&mut self, b: &[u8]) -> Result<(), TocError> {
        if self.open {
            self.put(b)?;
        }
        Ok(())
    }

    /// A TS_END trailer block: always part of the table of contents.
    pub fn end(&mut self, h: &Header, order: ByteOrder) -> Result<(), TocError> {
        self.put_header(h, order)
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> Result<(), TocError> {
        self.out.flush().map_err(|e| self.error(e))?;
        self.out.get_ref().sync_all().map_err(|e| self.error(e))
    }
}
