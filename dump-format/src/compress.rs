//! Compression of tape records, as `dump -z`, `-j` and `-y` write them, plus zstd.
//!
//! When a dump is compressed, the first record of the volume is written as is. Every
//! later record is written as a 4-byte prefix followed by its payload:
//!
//! ```text
//! bit 0      compressed: 1 = payload is compressed, 0 = payload is the raw record
//! bits 1..4  algorithm: 0 zlib, 1 bzip2, 2 lzo, 3 zstd (our extension)
//! bits 4..32 payload length in bytes
//! ```
//!
//! The prefix is the C bitfield `struct tapebuf` stored as one 32-bit word in the byte
//! order of the dump. A record that does not shrink by at least 16 bytes is stored raw
//! with the compressed bit clear, as dump does.

use std::cell::RefCell;
use std::io::{Read, Write};

use crate::header::ByteOrder;
use crate::incompressible::looks_incompressible;

/// Length of the prefix before each compressed record.
pub const PREFIX_LEN: usize = 4;
/// Largest payload length the 28-bit field can express.
pub const MAX_PAYLOAD: usize = (1 << 28) - 1;

/// Compression algorithm and level of a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    /// zlib (`dump -z`), level 1..=9.
    Zlib(u32),
    /// bzip2 (`dump -j`), level 1..=9.
    Bzip2(u32),
    /// LZO (`dump -y`).
    Lzo,
    /// zstd, level 1..=22; an extension of rdump (algorithm value 3).
    Zstd(i32),
}

/// Algorithm numbers of the `flags` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Zlib = 0,
    Bzip2 = 1,
    Lzo = 2,
    Zstd = 3,
}

impl Algorithm {
    pub fn from_raw(v: u32) -> Option<Algorithm> {
        Some(match v {
            0 => Algorithm::Zlib,
            1 => Algorithm::Bzip2,
            2 => Algorithm::Lzo,
            3 => Algorithm::Zstd,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Zlib => "zlib",
            Algorithm::Bzip2 => "bzip2",
            Algorithm::Lzo => "lzo",
            Algorithm::Zstd => "zstd",
        }
    }
}

impl Compression {
    pub fn algorithm(self) -> Option<Algorithm> {
        match self {
            Compression::None => None,
            Compression::Zlib(_) => Some(Algorithm::Zlib),
            Compression::Bzip2(_) => Some(Algorithm::Bzip2),
            Compression::Lzo => Some(Algorithm::Lzo),
            Compression::Zstd(_) => Some(Algorithm::Zstd),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error("unknown compression algorithm {0} in record prefix")]
    UnknownAlgorithm(u32),
    #[error("{algorithm} decompression failed: {reason}")]
    Decompress {
        algorithm: &'static str,
        reason: String,
    },
    #[error("record decompressed to {got} bytes, more than the {max} a record may hold")]
    TooLarge { got: usize, max: usize },
    #[error("compression failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The decoded 4-byte record prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub compressed: bool,
    pub algorithm: u32,
    pub length: usize,
}

impl Prefix {
    pub fn encode(self, order: ByteOrder) -> [u8; PREFIX_LEN] {
        let word =
            (self.compressed as u32) | ((self.algorithm & 7) << 1) | ((self.length as u32) << 4);
        match order {
            ByteOrder::Little => word.to_le_bytes(),
            ByteOrder::Big => {
                // On big-endian machines gcc allocates bitfields from the most
                // significant bit: compressed is bit 31, flags bits 28..31, length 0..28.
                let w = ((self.compressed as u32) << 31)
                    | ((self.algorithm & 7) << 28)
                    | (self.length as u32 & MAX_PAYLOAD as u32);
                w.to_be_bytes()
            }
        }
    }

    pub fn decode(bytes: [u8; PREFIX_LEN], order: ByteOrder) -> Prefix {
        match order {
            ByteOrder::Little => {
                let w = u32::from_le_bytes(bytes);
                Prefix {
                    compressed: w & 1 != 0,
                    algorithm: (w >> 1) & 7,
                    length: (w >> 4) as usize,
                }
            }
            ByteOrder::Big => {
                let w = u32::from_be_bytes(bytes);
                Prefix {
                    compressed: w >> 31 != 0,
                    algorithm: (w >> 28) & 7,
                    length: (w & MAX_PAYLOAD as u32) as usize,
                }
            }
        }
    }
}

/// Compressor state kept per thread: setting up a zlib or zstd context costs more than
/// compressing a 10 KiB record, and rdump compresses hundreds of thousands of them.
#[derive(Default)]
struct Compressors {
    zlib: Option<(u32, libdeflater::Compressor)>,
    zstd: Option<(i32, zstd::bulk::Compressor<'static>)>,
}

thread_local! {
    static COMPRESSORS: RefCell<Compressors> = RefCell::new(Compressors::default());
}

/// Compresses `data` with `c`. Returns `None` for [`Compression::None`].
///
/// zlib goes through libdeflate, which writes standard zlib streams (restore's
/// `uncompress()` reads them) about twice as fast as zlib at the same level; that speed
/// is what lets `rdump -z` finish well ahead of `dump -z`.
pub fn compress(data: &[u8], c: Compression) -> Result<Option<Vec<u8>>, CompressError> {
    Ok(Some(match c {
        Compression::None => return Ok(None),
        Compression::Zlib(level) => COMPRESSORS.with(|cell| {
            let mut state = cell.borrow_mut();
            let level = level.clamp(1, 9);
            if state.zlib.as_ref().map(|z| z.0) != Some(level) {
                let lvl = libdeflater::CompressionLvl::new(level as i32).unwrap_or_default();
                state.zlib = Some((level, libdeflater::Compressor::new(lvl)));
            }
            let (_, z) = state.zlib.as_mut().expect("set above");
            let mut out = vec![0u8; z.zlib_compress_bound(data.len())];
            let n = z
                .zlib_compress(data, &mut out)
                .map_err(|e| std::io::Error::other(format!("zlib: {e:?}")))?;
            out.truncate(n);
            Ok::<_, CompressError>(out)
        })?,
        Compression::Bzip2(level) => {
            let mut e = bzip2::write::BzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                bzip2::Compression::new(level.clamp(1, 9)),
            );
            e.write_all(data)?;
            e.finish()?
        }
        Compression::Zstd(level) => COMPRESSORS.with(|cell| {
            let mut state = cell.borrow_mut();
            if state.zstd.as_ref().map(|z| z.0) != Some(level) {
                state.zstd = Some((level, zstd::bulk::Compressor::new(level)?));
            }
            let (_, z) = state.zstd.as_mut().expect("set above");
            Ok::<_, CompressError>(z.compress(data)?)
        })?,
        Compression::Lzo => lzo1x::compress(data, lzo1x::CompressLevel::default()),
    }))
}

/// Frames one tape record for a compressed dump: the prefix and the compressed payload,
/// or the raw record when compression does not gain at least 16 bytes.
///
/// For zlib and bzip2, a record that [`looks_incompressible`] is stored raw without
/// trying: those coders take as long to fail on already-compressed data as to
/// compress text. (LZO and zstd notice such data by themselves, quickly.)
pub fn frame_record(
    record: &[u8],
    c: Compression,
    order: ByteOrder,
) -> Result<Vec<u8>, CompressError> {
    let algorithm = c.algorithm().map(|a| a as u32).unwrap_or(0);
    let slow_on_random = matches!(c, Compression::Zlib(_) | Compression::Bzip2(_));
    let attempt = if slow_on_random && looks_incompressible(record) {
        None
    } else {
        compress(record, c)?
    };
    let (compressed, payload) = match attempt {
        Some(z) if z.len() + 16 <= record.len() => (true, z),
        _ => (false, record.to_vec()),
    };
    let prefix = Prefix {
        compressed,
        algorithm,
        length: payload.len(),
    };
    let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
    out.extend_from_slice(&prefix.encode(order));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decompresses a payload of algorithm `algorithm`, producing at most `max` bytes: the
/// output buffer never grows past `max`, so a hostile record cannot make us allocate
/// more than one record's worth.
pub fn decompress(algorithm: u32, payload: &[u8], max: usize) -> Result<Vec<u8>, CompressError> {
    let alg = Algorithm::from_raw(algorithm).ok_or(CompressError::UnknownAlgorithm(algorithm))?;
    let err = |reason: String| CompressError::Decompress {
        algorithm: alg.name(),
        reason,
    };
    let out = match alg {
        Algorithm::Zlib => {
            let mut out = vec![0u8; max];
            let n = libdeflater::Decompressor::new()
                .zlib_decompress(payload, &mut out)
                .map_err(|e| match e {
                    libdeflater::DecompressionError::InsufficientSpace => {
                        err(format!("decompresses to more than {max} bytes"))
                    }
                    libdeflater::DecompressionError::BadData => err("corrupt zlib stream".into()),
                })?;
            out.truncate(n);
            out
        }
        Algorithm::Bzip2 => read_bounded(bzip2::read::BzDecoder::new(payload), max)
            .map_err(|e| err(e.to_string()))?,
        Algorithm::Zstd => zstd::bulk::Decompressor::new()
            .and_then(|mut d| d.decompress(payload, max))
            .map_err(|e| err(e.to_string()))?,
        Algorithm::Lzo => {
            // LZO needs the exact output length; dump's records always decompress to
            // a whole record.
            let mut out = vec![0u8; max];
            lzo1x::decompress(payload, &mut out).map_err(|e| err(format!("{e:?}")))?;
            out
        }
    };
    Ok(out)
}

/// Reads a decoder to its end, refusing to produce more than `max` bytes so that a
/// hostile record cannot make us allocate without bound.
fn read_bounded<R: Read>(r: R, max: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(max.min(1 << 20));
    let n = r.take(max as u64 + 1).read_to_end(&mut out)?;
    if n > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("decompresses to more than {max} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trip() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            for p in [
                Prefix {
                    compressed: true,
                    algorithm: 3,
                    length: 12345,
                },
                Prefix {
                    compressed: false,
                    algorithm: 1,
                    length: MAX_PAYLOAD,
                },
            ] {
                assert_eq!(Prefix::decode(p.encode(order), order), p);
            }
        }
        // dump on x86: compressed=1, zlib, length 100 -> 0x641
        assert_eq!(
            Prefix {
                compressed: true,
                algorithm: 0,
                length: 100
            }
            .encode(ByteOrder::Little),
            0x641u32.to_le_bytes()
        );
    }

    #[test]
    fn each_algorithm_round_trips() {
        let record: Vec<u8> = (0..10240u32).map(|i| (i % 7) as u8).collect();
        for c in [
            Compression::Zlib(6),
            Compression::Bzip2(9),
            Compression::Zstd(3),
            Compression::Lzo,
        ] {
            let framed = frame_record(&record, c, ByteOrder::Little).unwrap();
            let p = Prefix::decode(framed[..4].try_into().unwrap(), ByteOrder::Little);
            assert!(p.compressed);
            assert_eq!(p.length, framed.len() - 4);
            assert_eq!(
                decompress(p.algorithm, &framed[4..], record.len()).unwrap(),
                record
            );
        }
    }

    #[test]
    fn incompressible_record_is_stored_raw() {
        let mut x = 0x1234_5678u32;
        let record: Vec<u8> = (0..1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let framed = frame_record(&record, Compression::Zlib(9), ByteOrder::Little).unwrap();
        let p = Prefix::decode(framed[..4].try_into().unwrap(), ByteOrder::Little);
        assert!(!p.compressed);
        assert_eq!(&framed[4..], &record[..]);
    }

    #[test]
    fn bomb_is_bounded() {
        let zeros = vec![0u8; 1 << 20];
        let z = compress(&zeros, Compression::Zlib(9)).unwrap().unwrap();
        assert!(decompress(0, &z, 10240).is_err());
    }
}
