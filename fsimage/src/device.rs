//! Random-access, read-only byte source: a memory map of an image file when
//! the kernel allows it, positional reads for block devices (and where mapping
//! fails), or a buffer held in memory (tests, fuzzing).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::Mmap;

use crate::error::Error;

enum Backing {
    Mapped(Mmap),
    File(File),
    Memory(Vec<u8>),
}

/// The bytes of the image or device. Shared by all threads; every access is
/// a bounds-checked copy or slice, so it is `Send + Sync` without locks.
pub(crate) struct Device {
    backing: Backing,
    len: u64,
}

impl Device {
    pub(crate) fn open(path: &Path) -> Result<Device, Error> {
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        // Block devices report a zero length in their metadata; seeking to
        // the end gives the real size for both devices and regular files.
        let len = file.seek(SeekFrom::End(0)).map_err(open_err)?;
        // Block devices are read with pread: a disk with a bad sector answers a read
        // with EIO, which we report and step over, whereas through a memory map the
        // same error is a SIGBUS that kills the dump. Reading a device also keeps the
        // page cache's pages out of our resident set. Image files are mapped.
        let is_block_device = file
            .metadata()
            .map(|m| std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()))
            .unwrap_or(false);
        if len == 0 || is_block_device {
            return Ok(Device {
                backing: Backing::File(file),
                len,
            });
        }
        let mapped = usize::try_from(len).ok().and_then(|map_len| {
            // SAFETY: the mapping is read-only and private to this process.
            // Another process could still change the file underneath us;
            // every byte read through the map is treated as untrusted input
            // and bounds-checked, so a concurrent change can give wrong data
            // but not out-of-bounds access. Mapping avoids a system call per
            // block, which is what keeps the data path close to `cat` speed.
            unsafe { memmap2::MmapOptions::new().len(map_len).map(&file) }.ok()
        });
        let backing = match mapped {
            Some(map) => {
                // Metadata is read scattered over the image: without this hint the
                // kernel maps read-around neighbours of every touched page, and the
                // resident set of a large image grows into hundreds of megabytes.
                // Failing to give the hint costs memory, not correctness.
                let _ = map.advise(memmap2::Advice::Random);
                Backing::Mapped(map)
            }
            None => Backing::File(file),
        };
        Ok(Device { backing, len })
    }

    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Device {
        let len = bytes.len() as u64;
        Device {
            backing: Backing::Memory(bytes),
            len,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), Error> {
        let end = offset.checked_add(len as u64);
        match end {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::OutOfBounds {
                offset,
                len: len as u64,
                device_size: self.len,
            }),
        }
    }

    /// Fill `buf` from byte `offset`; the whole range must exist.
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.check(offset, buf.len())?;
        match &self.backing {
            // `check` proved offset + len <= self.len, which fits in usize
            // for the in-memory kinds because their length came from a usize.
            Backing::Mapped(map) => {
                let start = offset as usize;
                buf.copy_from_slice(&map[start..start + buf.len()]);
            }
            Backing::Memory(bytes) => {
                let start = offset as usize;
                buf.copy_from_slice(&bytes[start..start + buf.len()]);
            }
            Backing::File(file) => file
                .read_exact_at(buf, offset)
                .map_err(|source| Error::Io {
                    offset,
                    len: buf.len(),
                    source,
                })?,
        }
        Ok(())
    }

    /// Read `len` bytes from `offset` into a new buffer.
    pub(crate) fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
        self.check(offset, len)?;
        let mut buf = vec![0u8; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }
}
