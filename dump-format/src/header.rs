//! The 1 KiB tape header (`union u_spcl` / `struct s_spcl` of dump 0.4b47) and the
//! BSD inode inside it (`struct new_bsd_inode`).
//!
//! On tape the header is a flat run of 32-bit words written in the byte order of the
//! machine that made the dump. [`RawHeader`] is the zero-copy view of those bytes in a
//! given byte order; [`Header`] is the decoded, native-endian value that the rest of the
//! project works with. Decoding checks the magic number and the checksum, trying both
//! byte orders, so dumps written on big-endian machines read as well.

use zerocopy::byteorder::{
    BigEndian, ByteOrder as ZByteOrder, LittleEndian, I16, I32, U16, U32, U64,
};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ext::InodeExtension;

/// Size of one tape block; every header and every data block is this long.
pub const TP_BSIZE: usize = 1024;
/// Number of `c_addr` entries in a header: how many data blocks one header can describe.
pub const TP_NINDIR: usize = TP_BSIZE / 2;
/// Length of `c_label`.
pub const LBLSIZE: usize = 16;
/// Length of `c_filesys`, `c_dev` and `c_host`.
pub const NAMELEN: usize = 64;
/// Magic number of the 4.4BSD "new" format that Linux dump writes.
pub const NFS_MAGIC: i32 = 60012;
/// Magic number of the old (pre-4.4BSD) format; recognised only to name it in errors.
pub const OFS_MAGIC: i32 = 60011;
/// Magic number of FreeBSD UFS2 dumps; recognised only to name it in errors.
pub const FS_UFS2_MAGIC: i32 = 0x1954_0119;
/// The 256 words of a valid header add up to this value (wrapping).
pub const CHECKSUM: i32 = 84446;

/// `c_flags` bits.
pub mod flags {
    /// New format tape header (set on TS_TAPE).
    pub const DR_NEWHEADER: i32 = 0x0001;
    /// New format inodes on tape (set on TS_TAPE).
    pub const DR_NEWINODEFMT: i32 = 0x0002;
    /// On TS_END: the header's `c_inos` holds the first inode of each volume.
    pub const DR_INODEINFO: i32 = 0x0002;
    /// Tape records after the first are compressed.
    pub const DR_COMPRESSED: i32 = 0x0080;
    /// Only the metadata of this inode was dumped.
    pub const DR_METAONLY: i32 = 0x0100;
    /// This TS_INODE/TS_ADDR record carries extended attributes, not file data.
    pub const DR_EXTATTRIBUTES: i32 = 0x8000;
}

/// `c_extattributes` kinds.
pub mod ext_kind {
    pub const EXT_REGULAR: i32 = 0;
    pub const EXT_MACOSFNDRINFO: i32 = 1;
    pub const EXT_MACOSRESFORK: i32 = 2;
    /// Linux extended attributes in ext2 xattr block format (see [`crate::xattr`]).
    pub const EXT_XATTR: i32 = 3;
    /// rdump's extension: the same blob as [`EXT_XATTR`], for attributes too large for
    /// the reference restore's 4096-byte buffer. restore 0.4b47 skips a record of a kind
    /// it does not know cleanly, whereas an oversized EXT_XATTR record makes it lose the
    /// next file on tape.
    pub const EXT_XATTR_OVERSIZE: i32 = 4;
}

/// File type bits of `di_mode`.
pub mod mode {
    pub const S_IFMT: u16 = 0o170000;
    pub const S_IFSOCK: u16 = 0o140000;
    pub const S_IFLNK: u16 = 0o120000;
    pub const S_IFREG: u16 = 0o100000;
    pub const S_IFBLK: u16 = 0o060000;
    pub const S_IFDIR: u16 = 0o040000;
    pub const S_IFCHR: u16 = 0o020000;
    pub const S_IFIFO: u16 = 0o010000;
}

/// Byte order of a dump stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    Little,
    Big,
}

/// `c_type`: what a header introduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum RecordType {
    /// Volume (tape) header.
    Tape = 1,
    /// Start of an inode: its attributes and first data blocks.
    Inode = 2,
    /// Map of the inodes on this dump.
    Bits = 3,
    /// Continuation of an inode's data blocks.
    Addr = 4,
    /// End of volume.
    End = 5,
    /// Map of the inodes in use on the filesystem (deleted since the last dump, for restore -r).
    Clri = 6,
}

impl RecordType {
    pub fn from_raw(v: i32) -> Option<RecordType> {
        Some(match v {
            1 => RecordType::Tape,
            2 => RecordType::Inode,
            3 => RecordType::Bits,
            4 => RecordType::Addr,
            5 => RecordType::End,
            6 => RecordType::Clri,
            _ => return None,
        })
    }

    /// The name restore and dump use for this record type.
    pub fn name(self) -> &'static str {
        match self {
            RecordType::Tape => "TS_TAPE",
            RecordType::Inode => "TS_INODE",
            RecordType::Bits => "TS_BITS",
            RecordType::Addr => "TS_ADDR",
            RecordType::End => "TS_END",
            RecordType::Clri => "TS_CLRI",
        }
    }
}

/// Why a 1 KiB block is not a valid header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header block is {0} bytes, not {TP_BSIZE}")]
    WrongLength(usize),
    #[error("no dump magic number (found {0:#x}); this is not a dump header")]
    BadMagic(u32),
    #[error("old-format (pre-4.4BSD, magic 60011) dumps are not supported")]
    OldFormat,
    #[error("FreeBSD UFS2 dumps (magic 0x19540119) are not supported")]
    Ufs2Format,
    #[error("header checksum mismatch: words sum to {sum}, expected {CHECKSUM}")]
    BadChecksum { sum: i32 },
}

/// `struct bsdtimeval` as it appears in the tape inode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BsdTime {
    pub sec: i32,
    pub usec: i32,
}

/// `struct new_bsd_inode`: the inode attributes dump copies from ext2/3/4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DumpInode {
    pub mode: u16,
    pub nlink: i16,
    /// 16-bit uid and gid (`di_ouid`, `di_ogid`); dump fills them with the low halves.
    pub old_ids: [u16; 2],
    pub size: u64,
    pub atime: BsdTime,
    pub mtime: BsdTime,
    pub ctime: BsdTime,
    /// ext2 `i_block[0..12]`. For device inodes `db[0]` holds the old-encoding device
    /// number and `db[1]` the new encoding, exactly as ext2 stores them.
    pub db: [u32; 12],
    /// ext2 `i_block[12..15]`.
    pub ib: [u32; 3],
    /// ext2 inode flags (chattr bits).
    pub flags: u32,
    pub blocks: i32,
    pub gen: i32,
    pub uid: u32,
    pub gid: u32,
    pub spare: [i32; 2],
}

impl DumpInode {
    /// `di_mode & S_IFMT`.
    pub fn file_type(&self) -> u16 {
        self.mode & mode::S_IFMT
    }

    /// The device number as restore 0.4b47 reads it (`di_rdev`, an alias of `di_db[0]`).
    pub fn rdev_old(&self) -> u32 {
        self.db[0]
    }

    /// The device number as `(major, minor)`: from `di_db[0]` when it is non-zero,
    /// otherwise from `di_db[1]`, where ext2 keeps the encoding of numbers too large for
    /// the old 8:8 form (dump 0.4b47 copies both words). Both words are decoded as the
    /// kernel's 12:20 encoding, which reads an old 8:8 value the same way and also reads
    /// the glibc encoding rdump puts in `di_db[0]` for large numbers.
    pub fn rdev(&self) -> (u32, u32) {
        let v = if self.db[0] != 0 {
            self.db[0]
        } else {
            self.db[1]
        };
        ((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00))
    }
}

/// A decoded tape header (`struct s_spcl`) in native byte order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub c_type: i32,
    pub date: i32,
    pub ddate: i32,
    pub volume: i32,
    pub tapea: u32,
    pub inumber: u32,
    pub magic: i32,
    pub checksum: i32,
    pub inode: DumpInode,
    pub count: i32,
    /// One byte per data block described by this header: non-zero means the block is on
    /// tape, zero means a hole. For TS_CLRI/TS_BITS maps, and on TS_TAPE/TS_END, the same
    /// bytes hold other data (the volume inode table).
    pub addr: [u8; TP_NINDIR],
    pub label: [u8; LBLSIZE],
    pub level: i32,
    pub filesys: [u8; NAMELEN],
    pub dev: [u8; NAMELEN],
    pub host: [u8; NAMELEN],
    pub flags: i32,
    pub firstrec: i32,
    pub ntrec: i32,
    pub extattributes: i32,
    pub spare: [i32; 30],
}

/// The on-tape layout of `struct new_bsd_inode` in byte order `O` (128 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
#[repr(C)]
pub struct RawInode<O: ZByteOrder> {
    pub di_mode: U16<O>,
    pub di_nlink: I16<O>,
    pub di_oldids: [U16<O>; 2],
    pub di_size: U64<O>,
    pub di_atime: [I32<O>; 2],
    pub di_mtime: [I32<O>; 2],
    pub di_ctime: [I32<O>; 2],
    pub di_db: [U32<O>; 12],
    pub di_ib: [U32<O>; 3],
    pub di_flags: U32<O>,
    pub di_blocks: I32<O>,
    pub di_gen: I32<O>,
    pub di_uid: U32<O>,
    pub di_gid: U32<O>,
    pub di_spare: [I32<O>; 2],
}

/// The on-tape layout of `struct s_spcl` in byte order `O` (exactly [`TP_BSIZE`] bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
#[repr(C)]
pub struct RawHeader<O: ZByteOrder> {
    pub c_type: I32<O>,
    pub c_date: I32<O>,
    pub c_ddate: I32<O>,
    pub c_volume: I32<O>,
    pub c_tapea: U32<O>,
    pub c_inumber: U32<O>,
    pub c_magic: I32<O>,
    pub c_checksum: I32<O>,
    pub c_dinode: RawInode<O>,
    pub c_count: I32<O>,
    pub c_addr: [u8; TP_NINDIR],
    pub c_label: [u8; LBLSIZE],
    pub c_level: I32<O>,
    pub c_filesys: [u8; NAMELEN],
    pub c_dev: [u8; NAMELEN],
    pub c_host: [u8; NAMELEN],
    pub c_flags: I32<O>,
    pub c_firstrec: I32<O>,
    pub c_ntrec: I32<O>,
    pub c_extattributes: I32<O>,
    pub c_spare: [I32<O>; 30],
}

const _: () = assert!(core::mem::size_of::<RawInode<LittleEndian>>() == 128);
const _: () = assert!(core::mem::size_of::<RawHeader<LittleEndian>>() == TP_BSIZE);

fn time_from_raw<O: ZByteOrder>(t: &[I32<O>; 2]) -> BsdTime {
    BsdTime {
        sec: t[0].get(),
        usec: t[1].get(),
    }
}

fn time_to_raw<O: ZByteOrder>(t: BsdTime) -> [I32<O>; 2] {
    [I32::new(t.sec), I32::new(t.usec)]
}

impl<O: ZByteOrder> RawHeader<O> {
    fn decode(&self) -> Header {
        let d = &self.c_dinode;
        Header {
            c_type: self.c_type.get(),
            date: self.c_date.get(),
            ddate: self.c_ddate.get(),
            volume: self.c_volume.get(),
            tapea: self.c_tapea.get(),
            inumber: self.c_inumber.get(),
            magic: self.c_magic.get(),
            checksum: self.c_checksum.get(),
            inode: DumpInode {
                mode: d.di_mode.get(),
                nlink: d.di_nlink.get(),
                old_ids: d.di_oldids.map(|v| v.get()),
                size: d.di_size.get(),
                atime: time_from_raw(&d.di_atime),
                mtime: time_from_raw(&d.di_mtime),
                ctime: time_from_raw(&d.di_ctime),
                db: d.di_db.map(|v| v.get()),
                ib: d.di_ib.map(|v| v.get()),
                flags: d.di_flags.get(),
                blocks: d.di_blocks.get(),
                gen: d.di_gen.get(),
                uid: d.di_uid.get(),
                gid: d.di_gid.get(),
                spare: d.di_spare.map(|v| v.get()),
            },
            count: self.c_count.get(),
            addr: self.c_addr,
            label: self.c_label,
            level: self.c_level.get(),
            filesys: self.c_filesys,
            dev: self.c_dev,
            host: self.c_host,
            flags: self.c_flags.get(),
            firstrec: self.c_firstrec.get(),
            ntrec: self.c_ntrec.get(),
            extattributes: self.c_extattributes.get(),
            spare: self.c_spare.map(|v| v.get()),
        }
    }

    fn encode(h: &Header) -> Self {
        let d = &h.inode;
        RawHeader {
            c_type: I32::new(h.c_type),
            c_date: I32::new(h.date),
            c_ddate: I32::new(h.ddate),
            c_volume: I32::new(h.volume),
            c_tapea: U32::new(h.tapea),
            c_inumber: U32::new(h.inumber),
            c_magic: I32::new(h.magic),
            c_checksum: I32::new(h.checksum),
            c_dinode: RawInode {
                di_mode: U16::new(d.mode),
                di_nlink: I16::new(d.nlink),
                di_oldids: d.old_ids.map(U16::new),
                di_size: U64::new(d.size),
                di_atime: time_to_raw(d.atime),
                di_mtime: time_to_raw(d.mtime),
                di_ctime: time_to_raw(d.ctime),
                di_db: d.db.map(U32::new),
                di_ib: d.ib.map(U32::new),
                di_flags: U32::new(d.flags),
                di_blocks: I32::new(d.blocks),
                di_gen: I32::new(d.gen),
                di_uid: U32::new(d.uid),
                di_gid: U32::new(d.gid),
                di_spare: d.spare.map(I32::new),
            },
            c_count: I32::new(h.count),
            c_addr: h.addr,
            c_label: h.label,
            c_level: I32::new(h.level),
            c_filesys: h.filesys,
            c_dev: h.dev,
            c_host: h.host,
            c_flags: I32::new(h.flags),
            c_firstrec: I32::new(h.firstrec),
            c_ntrec: I32::new(h.ntrec),
            c_extattributes: I32::new(h.extattributes),
            c_spare: h.spare.map(I32::new),
        }
    }
}

/// Sum of the 256 words of a header block read in `order` (wrapping, as C's int does).
pub fn word_sum(block: &[u8], order: ByteOrder) -> i32 {
    block.chunks_exact(4).fold(0i32, |acc, w| {
        let w = [w[0], w[1], w[2], w[3]];
        acc.wrapping_add(match order {
            ByteOrder::Little => i32::from_le_bytes(w),
            ByteOrder::Big => i32::from_be_bytes(w),
        })
    })
}

/// Reads the magic field (bytes 24..28) in one byte order.
fn magic_in(block: &[u8], order: ByteOrder) -> i32 {
    let w = [block[24], block[25], block[26], block[27]];
    match order {
        ByteOrder::Little => i32::from_le_bytes(w),
        ByteOrder::Big => i32::from_be_bytes(w),
    }
}

/// Detects the byte order of a header block from its magic number, without checking
/// anything else.
pub fn detect_order(block: &[u8]) -> Result<ByteOrder, HeaderError> {
    if block.len() != TP_BSIZE {
        return Err(HeaderError::WrongLength(block.len()));
    }
    for order in [ByteOrder::Little, ByteOrder::Big] {
        match magic_in(block, order) {
            NFS_MAGIC => return Ok(order),
            OFS_MAGIC => return Err(HeaderError::OldFormat),
            FS_UFS2_MAGIC => return Err(HeaderError::Ufs2Format),
            _ => {}
        }
    }
    Err(HeaderError::BadMagic(
        magic_in(block, ByteOrder::Little) as u32
    ))
}

impl Header {
    /// `c_date` in seconds since the epoch. The field has 32 bits and dump
    /// 0.4b47 stores the time truncated to them; read unsigned, dates up to
    /// 2106 come out right (the reference restore shows 1901-1902 past 2038).
    pub fn date_secs(&self) -> i64 {
        i64::from(self.date as u32)
    }

    /// `c_ddate` in seconds since the epoch, read as [`Header::date_secs`].
    pub fn ddate_secs(&self) -> i64 {
        i64::from(self.ddate as u32)
    }

    /// A zeroed header of type `t` with the magic number set.
    pub fn new(t: RecordType) -> Header {
        Header {
            c_type: t as i32,
            date: 0,
            ddate: 0,
            volume: 0,
            tapea: 0,
            inumber: 0,
            magic: NFS_MAGIC,
            checksum: 0,
            inode: DumpInode::default(),
            count: 0,
            addr: [0; TP_NINDIR],
            label: [0; LBLSIZE],
            level: 0,
            filesys: [0; NAMELEN],
            dev: [0; NAMELEN],
            host: [0; NAMELEN],
            flags: 0,
            firstrec: 0,
            ntrec: 0,
            extattributes: 0,
            spare: [0; 30],
        }
    }

    pub fn record_type(&self) -> Option<RecordType> {
        RecordType::from_raw(self.c_type)
    }

    /// Decodes a header block, checking the magic number and the checksum in whichever
    /// byte order the magic number says.
    pub fn parse(block: &[u8]) -> Result<(Header, ByteOrder), HeaderError> {
        let order = detect_order(block)?;
        Ok((Self::parse_in(block, order)?, order))
    }

    /// Decodes a header block known to be in `order`.
    pub fn parse_in(block: &[u8], order: ByteOrder) -> Result<Header, HeaderError> {
        if block.len() != TP_BSIZE {
            return Err(HeaderError::WrongLength(block.len()));
        }
        let magic = magic_in(block, order);
        if magic != NFS_MAGIC {
            return Err(match magic {
                OFS_MAGIC => HeaderError::OldFormat,
                FS_UFS2_MAGIC => HeaderError::Ufs2Format,
                m => HeaderError::BadMagic(m as u32),
            });
        }
        let sum = word_sum(block, order);
        if sum != CHECKSUM {
            return Err(HeaderError::BadChecksum { sum });
        }
        // The length was checked above, so these conversions cannot fail.
        Ok(match order {
            ByteOrder::Little => RawHeader::<LittleEndian>::ref_from_bytes(block)
                .map(|r| r.decode())
                .map_err(|_| HeaderError::WrongLength(block.len()))?,
            ByteOrder::Big => RawHeader::<BigEndian>::ref_from_bytes(block)
                .map(|r| r.decode())
                .map_err(|_| HeaderError::WrongLength(block.len()))?,
        })
    }

    /// Encodes the header in `order` with a freshly computed `c_checksum`.
    pub fn encode(&self, order: ByteOrder) -> [u8; TP_BSIZE] {
        let mut h = self.clone();
        h.checksum = 0;
        let mut out = [0u8; TP_BSIZE];
        match order {
            ByteOrder::Little => {
                out.copy_from_slice(RawHeader::<LittleEndian>::encode(&h).as_bytes())
            }
            ByteOrder::Big => out.copy_from_slice(RawHeader::<BigEndian>::encode(&h).as_bytes()),
        }
        let checksum = CHECKSUM.wrapping_sub(word_sum(&out, order));
        let bytes = match order {
            ByteOrder::Little => checksum.to_le_bytes(),
            ByteOrder::Big => checksum.to_be_bytes(),
        };
        out[28..32].copy_from_slice(&bytes);
        out
    }

    /// `c_count` clamped to what a header can describe; hostile headers may say anything.
    pub fn addr_count(&self) -> usize {
        self.count.clamp(0, TP_NINDIR as i32) as usize
    }

    /// How many 1 KiB data blocks follow this header on tape.
    ///
    /// Map records (TS_BITS, TS_CLRI) are followed by all `c_count` blocks regardless of
    /// `c_addr` (restore ignores `c_addr` there), and may span more than [`TP_NINDIR`]
    /// blocks. Inode records are followed by one block per non-zero `c_addr` entry.
    /// Extended attribute records are read whole, like restore's `readmapflag` hack for
    /// old dumps that left `c_addr` unset.
    pub fn data_block_count(&self) -> u64 {
        match self.record_type() {
            Some(RecordType::Bits) | Some(RecordType::Clri) => self.count.max(0) as u64,
            Some(RecordType::Inode) | Some(RecordType::Addr) => {
                let n = self.addr_count();
                if self.is_xattr() {
                    n as u64
                } else {
                    self.addr[..n].iter().filter(|&&a| a != 0).count() as u64
                }
            }
            _ => 0,
        }
    }

    /// True for TS_INODE/TS_ADDR records that carry Linux extended attributes
    /// (`EXT_XATTR`, or rdump's `EXT_XATTR_OVERSIZE`).
    pub fn is_xattr(&self) -> bool {
        self.flags & flags::DR_EXTATTRIBUTES != 0
            && matches!(
                self.extattributes,
                ext_kind::EXT_XATTR | ext_kind::EXT_XATTR_OVERSIZE
            )
    }

    /// True for records with DR_EXTATTRIBUTES set, whatever their kind (MacOS finder
    /// info and resource forks from BSD dumps included).
    pub fn is_extattr(&self) -> bool {
        self.flags & flags::DR_EXTATTRIBUTES != 0
    }

    pub fn label_str(&self) -> String {
        c_string(&self.label)
    }
    pub fn filesys_str(&self) -> String {
        c_string(&self.filesys)
    }
    pub fn dev_str(&self) -> String {
        c_string(&self.dev)
    }
    pub fn host_str(&self) -> String {
        c_string(&self.host)
    }

    /// Sets a fixed-size C string field, truncating to leave room for the NUL.
    pub fn set_c_string(field: &mut [u8], value: &str) {
        field.fill(0);
        let bytes = value.as_bytes();
        let n = bytes.len().min(field.len().saturating_sub(1));
        field[..n].copy_from_slice(&bytes[..n]);
    }

    /// rdump's extension fields, when this header carries them.
    pub fn extension(&self) -> Option<InodeExtension> {
        InodeExtension::from_spare(&self.spare)
    }

    /// Stores rdump's extension fields in `c_spare`.
    pub fn set_extension(&mut self, ext: &InodeExtension) {
        ext.to_spare(&mut self.spare);
    }
}

/// A NUL-terminated (or full-length) C string field, lossily as UTF-8.
pub fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_round_trip_both_orders() {
        let mut h = Header::new(RecordType::Inode);
        h.inumber = 1234;
        h.inode.mode = mode::S_IFREG | 0o644;
        h.inode.size = 0x1_0000_0001;
        h.count = 3;
        h.addr[0] = 1;
        h.addr[2] = 1;
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let bytes = h.encode(order);
            let (back, got) = Header::parse(&bytes).unwrap();
            assert_eq!(got, order);
            assert_eq!(back.inumber, 1234);
            assert_eq!(back.inode.size, 0x1_0000_0001);
            assert_eq!(back.data_block_count(), 2);
            assert_eq!(word_sum(&bytes, order), CHECKSUM);
        }
    }

    #[test]
    fn corrupted_byte_fails_checksum() {
        let h = Header::new(RecordType::Tape);
        let mut bytes = h.encode(ByteOrder::Little);
        bytes[700] ^= 0x40;
        assert!(matches!(
            Header::parse(&bytes),
            Err(HeaderError::BadChecksum { .. })
        ));
    }

    #[test]
    fn rdev_decoding() {
        let mut d = DumpInode::default();
        d.db[0] = (8 << 8) | 1;
        assert_eq!(d.rdev(), (8, 1));
        // rdump: glibc's encoding of 300:70000 in db[0]
        d.db[0] = (70000 & 0xff) | (300 << 8) | ((70000 & !0xff) << 12);
        assert_eq!(d.rdev(), (300, 70000));
        d.db[0] = 0;
        // new encoding of major 300, minor 70000
        let (ma, mi) = (300u32, 70000u32);
        d.db[1] = (mi & 0xff) | (ma << 8) | ((mi & !0xff) << 12);
        assert_eq!(d.rdev(), (ma, mi));
    }
}
