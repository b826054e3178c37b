//! What goes on tape for one inode: its TS_INODE header, TS_ADDR
//! continuation headers, data blocks, and EXT_XATTR records, laid out the
//! way dump 0.4b47 lays them out (traverse.c: dumpino, dumpdirino, blksout,
//! dump_xattr), with the fixes listed in docs/FORMAT.md:
//!
//! - times carry microseconds in tv_usec; full nanoseconds, high epoch bits,
//!   crtime, inode flags and (major, minor) go in rdump's header extension;
//! - inline-data files are written as ordinary data blocks, and their
//!   `system.data` attribute is not written (restore cannot parse it);
//! - unwritten extents are holes (dump copies whatever is on disk there);
//! - device numbers that do not fit the old 8:8 encoding still restore right
//!   (di_rdev holds the glibc dev_t encoding, which equals the old one for
//!   small numbers).
//!
//! The functions here are pure given the filesystem: the pipeline calls them
//! from several threads and packs their output in order.

use dump_format::dirent::dt_from_ext2_ft;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use dump_format::dirent::{empty_chunk, DirectoryEncoder};
use dump_format::ext::{InodeExtension, Timestamp as TapeTime};
use dump_format::header::{
    ext_kind, flags as hflags, BsdTime, DumpInode, Header, RecordType, TP_BSIZE, TP_NINDIR,
};
use dump_format::xattr::{
    acl_disk_to_xattr, encode_xattr_blob, Xattr as TapeXattr, REFERENCE_MAX_BLOB,
};
use dump_format::ByteOrder;
use fsimage::{FileType, Filesystem, Inode, Run, RunKind};

use crate::error::DumpError;
use crate::report::Reporter;

/// The reference restore refuses EXT_XATTR records larger than this
/// (XATTR_MAXSIZE), so attributes are split over several records when
/// they do not fit one.
const RESTORE_XATTR_LIMIT: usize = REFERENCE_MAX_BLOB;

/// c_extattributes of a record holding one attribute too large for the
/// reference restore (same blob format as EXT_XATTR). See docs/FORMAT.md.
pub use dump_format::header::ext_kind::EXT_XATTR_OVERSIZE;

/// One element of the tape stream, in order.
#[derive(Debug)]
pub enum Piece {
    /// A header; the packer fills in c_tapea and the checksum.
    Header(Box<Header>),
    /// Data following the last header: whole 1 KiB tape blocks (a short
    /// last block is zero padded by the packer).
    Data(Vec<u8>),
    /// Content held in memory (a directory, a symlink target, inline data),
    /// written as `first` and then TS_ADDR headers, each followed by up to
    /// `per_header` blocks of `data` (1..=TP_NINDIR).
    Literal {
        first: Box<Header>,
        data: Vec<u8>,
        per_header: usize,
    },
    /// A `-v` message, printed when the packer reaches this point.
    Note(String),
}

/// Where data blocks come from: the device through pread(2) in production
/// ([`DeviceBlocks`]); tests wrap a source to inject read errors.
pub trait BlockSource: Sync {
    fn read_blocks(&self, byte_offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// File data read with pread(2) from the device or image. fsimage maps the
/// device for metadata; reading the bulk of the data through that mapping
/// would count every page of every file in the process's resident set, so
/// data goes through plain reads (kept out of RSS, same speed).
pub struct DeviceBlocks {
    file: File,
}

impl DeviceBlocks {
    pub fn open(path: &Path) -> io::Result<DeviceBlocks> {
        Ok(DeviceBlocks {
            file: File::open(path)?,
        })
    }
}

impl BlockSource for DeviceBlocks {
    fn read_blocks(&self, byte_offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, byte_offset)
    }
}

impl BlockSource for Filesystem {
    fn read_blocks(&self, byte_offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.read_at(byte_offset, buf).map_err(io::Error::other)
    }
}

/// Everything the per-inode functions need; shared by all threads.
pub struct Context<'a> {
    pub fs: &'a Filesystem,
    pub blocks: &'a dyn BlockSource,
    /// Fields common to every header (date, level, label, names, flags, ntrec).
    pub template: Header,
    /// Inodes left out of the dump: directory entries naming them are dropped.
    pub excluded: &'a [u32],
    pub reporter: &'a Reporter,
    /// The device name, for read error messages.
    pub device: String,
    pub verbose: bool,
}

impl Context<'_> {
    fn block_size(&self) -> u64 {
        u64::from(self.fs.block_size())
    }
}

/// dump's time fields: seconds (truncated to 32 bits) and microseconds.
fn bsd_time(t: fsimage::Timestamp) -> BsdTime {
    BsdTime {
        sec: t.sec as i32,
        usec: (t.nsec / 1000) as i32,
    }
}

fn tape_time(t: fsimage::Timestamp) -> TapeTime {
    TapeTime {
        sec: t.sec,
        nsec: t.nsec,
    }
}

/// glibc's dev_t encoding (what the reference restore passes to mknod):
/// equal to the old 8:8 encoding for small numbers and to the kernel's
/// new encoding for majors below 4096.
pub fn glibc_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

/// di_flags as dump copies them (restore -C compares them with what
/// FS_IOC_GETFLAGS says), except for symlinks: the flags of a symlink
/// cannot be read or set through the kernel, so the reference restore -C
/// sees 0 there. The full flags are in the extension either way.
fn tape_flags(inode: &Inode) -> u32 {
    if inode.file_type() == FileType::Symlink {
        0
    } else {
        inode.flags
    }
}

/// The TS_INODE header of an inode whose data is `size` bytes on tape.
pub fn inode_header(template: &Header, inode: &Inode, size: u64) -> Header {
    let mut h = template.clone();
    h.c_type = RecordType::Inode as i32;
    h.inumber = inode.ino;
    let mut db = [0u32; 12];
    db.copy_from_slice(&inode.block[..12]);
    let mut ib = [0u32; 3];
    ib.copy_from_slice(&inode.block[12..]);
    if let Some((major, minor)) = inode.rdev {
        // di_rdev is di_db[0] for the reference restore, which passes it to
        // mknod(2). ext2 stores large numbers in i_block[1] with i_block[0]
        // zero; dump copies that and loses them. The glibc encoding equals
        // the old one for small numbers, so those stay as dump writes them.
        db[0] = glibc_dev(major, minor);
    }
    // i_blocks as dump copies it: the low 32 bits of the on-disk field.
    let blocks_lo = inode
        .raw
        .get(0x1c..0x20)
        .map_or(0, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    h.inode = DumpInode {
        mode: inode.mode,
        nlink: inode.links as i16,
        old_ids: [inode.uid as u16, inode.gid as u16],
        size,
        atime: bsd_time(inode.atime),
        mtime: bsd_time(inode.mtime),
        ctime: bsd_time(inode.ctime),
        db,
        ib,
        flags: tape_flags(inode),
        blocks: blocks_lo,
        gen: inode.generation as i32,
        uid: inode.uid,
        gid: inode.gid,
        spare: [0; 2],
    };
    h.count = 0;
    h.addr = [0; TP_NINDIR];
    h.set_extension(&InodeExtension {
        atime: tape_time(inode.atime),
        mtime: tape_time(inode.mtime),
        ctime: tape_time(inode.ctime),
        crtime: inode.crtime.map(tape_time),
        flags: inode.flags,
        rdev: inode.rdev,
    });
    h
}

/// Sets the header's block map to `count` present blocks.
fn set_all_present(h: &mut Header, count: usize) {
    h.count = count as i32;
    h.addr = [0; TP_NINDIR];
    h.addr[..count].fill(1);
}

/// Headers and data for content held in memory (directories, fast symlink
/// targets, inline data): a TS_INODE header then TS_ADDR headers, each for
/// up to `per_header` blocks, every block present. dump writes directories
/// with one block per header (dumpdirino()); rdump does the same so that
/// its streams have dump's layout. The headers are made by the packer
/// ([`Piece::Literal`]): one per 1 KiB block would double a directory's
/// memory while it waits to be packed.
fn literal_pieces(first: Header, data: Vec<u8>, per_header: usize, out: &mut Vec<Piece>) {
    if data.is_empty() {
        out.push(Piece::Header(Box::new(first)));
        return;
    }
    out.push(Piece::Literal {
        first: Box::new(first),
        data,
        per_header: per_header.clamp(1, TP_NINDIR),
    });
}

/// The header of one chunk of a [`Piece::Literal`]: `template` (TS_INODE
/// for the first chunk, TS_ADDR after) with a block map of `len` bytes, every
/// block present.
pub fn literal_header(template: &Header, len: usize) -> Header {
    let mut h = template.clone();
    set_all_present(&mut h, len.div_ceil(TP_BSIZE));
    h
}

/// One contiguous stretch of a file's blocks on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First file block (in filesystem blocks).
    pub logical: u64,
    /// First disk block.
    pub physical: u64,
    /// Length in filesystem blocks.
    pub blocks: u64,
}

/// The blocks under one header: `addr` has one entry per tape block (true
/// when the block is on tape), `reads` the disk extents to read, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub first: bool,
    pub addr: Vec<bool>,
    pub reads: Vec<Extent>,
}

/// Filesystem blocks described by one header. dump collects a file's block
/// numbers in batches of NINDIR (block_size / 4) and writes each batch with
/// blksout(), which starts a new header every 512 tape blocks: so 256
/// blocks per header on 1 KiB-block filesystems, 512 tape blocks' worth on
/// the others.
pub fn blocks_per_header(block_size: u64) -> u64 {
    let tb_per_fsb = (block_size / TP_BSIZE as u64).max(1);
    (TP_NINDIR as u64 / tb_per_fsb).min(block_size / 4).max(1)
}

/// Splits a file's block map into header groups like dump's blksout():
/// the file is `ceil(size / block_size)` filesystem blocks, each worth
/// `block_size / 1024` tape blocks, 512 tape blocks per header; holes and
/// unwritten extents are absent blocks.
pub struct Groups<'r> {
    runs: &'r [Run],
    run: usize,
    pos: u64,
    total: u64,
    per_group: u64,
    tb_per_fsb: usize,
    first: bool,
}

impl<'r> Groups<'r> {
    pub fn new(runs: &'r [Run], size: u64, block_size: u64) -> Self {
        let tb_per_fsb = (block_size / TP_BSIZE as u64).max(1);
        Groups {
            runs,
            run: 0,
            pos: 0,
            total: size.div_ceil(block_size),
            per_group: blocks_per_header(block_size),
            tb_per_fsb: tb_per_fsb as usize,
            first: true,
        }
    }

    /// The run covering file block `lblk`, if any (runs are in order).
    fn run_at(&mut self, lblk: u64) -> Option<&'r Run> {
        while let Some(r) = self.runs.get(self.run) {
            if lblk < r.logical {
                return None;
            }
            if lblk < r.logical + r.len {
                return Some(r);
            }
            self.run += 1;
        }
        None
    }
}

impl Iterator for Groups<'_> {
    type Item = Group;

    fn next(&mut self) -> Option<Group> {
        if self.pos >= self.total {
            return None;
        }
        let end = (self.pos + self.per_group).min(self.total);
        let mut addr = Vec::with_capacity(((end - self.pos) as usize) * self.tb_per_fsb);
        let mut reads: Vec<Extent> = Vec::new();
        let mut lblk = self.pos;
        while lblk < end {
            let (present, len, physical) = match self.run_at(lblk) {
                Some(r) => {
                    let len = (r.logical + r.len - lblk).min(end - lblk);
                    let present = r.kind == RunKind::Data && r.physical != 0;
                    (present, len, r.physical + (lblk - r.logical))
                }
                None => {
                    // Not covered by any run: a hole up to the next run.
                    let next = self
                        .runs
                        .get(self.run)
                        .map_or(end, |r| r.logical.clamp(lblk + 1, end));
                    (false, next - lblk, 0)
                }
            };
            addr.extend(std::iter::repeat_n(present, len as usize * self.tb_per_fsb));
            if present {
                match reads.last_mut() {
                    Some(e)
                        if e.physical + e.blocks == physical && e.logical + e.blocks == lblk =>
                    {
                        e.blocks += len
                    }
                    _ => reads.push(Extent {
                        logical: lblk,
                        physical,
                        blocks: len,
                    }),
                }
            }
            lblk += len;
        }
        self.pos = end;
        let first = std::mem::replace(&mut self.first, false);
        Some(Group { first, addr, reads })
    }
}

/// The header for a group: TS_INODE for the first, TS_ADDR after.
pub fn group_header(file_header: &Header, group: &Group) -> Header {
    let mut h = file_header.clone();
    h.c_type = if group.first {
        RecordType::Inode
    } else {
        RecordType::Addr
    } as i32;
    h.count = group.addr.len() as i32;
    h.addr = [0; TP_NINDIR];
    for (slot, present) in h.addr.iter_mut().zip(&group.addr) {
        *slot = u8::from(*present);
    }
    h
}

/// Reads a group's blocks. An unreadable block is reported (inode, file
/// block, disk block) and written as zeros; the dump goes on, like dump -I.
pub fn read_group(ctx: &Context<'_>, ino: u32, reads: &[Extent]) -> Vec<u8> {
    let bs = ctx.block_size();
    let total: u64 = reads.iter().map(|e| e.blocks * bs).sum();
    let mut buf = vec![0u8; total as usize];
    let mut pos = 0usize;
    for e in reads {
        let len = (e.blocks * bs) as usize;
        let slice = &mut buf[pos..pos + len];
        if ctx.blocks.read_blocks(e.physical * bs, slice).is_err() {
            // Retry block by block to lose as little as possible.
            for (i, block) in slice.chunks_mut(bs as usize).enumerate() {
                let i = i as u64;
                if let Err(err) = ctx.blocks.read_blocks((e.physical + i) * bs, block) {
                    block.fill(0);
                    ctx.reporter.read_error(format_args!(
                        "read error from {}: {err}: [inode {ino}, file block {}, ext2blk {}]: count={bs}",
                        ctx.device,
                        e.logical + i,
                        e.physical + i
                    ));
                }
            }
        }
        pos += len;
    }
    buf
}

/// The header of a regular file written from its block map.
pub fn file_header(ctx: &Context<'_>, inode: &Inode) -> Header {
    inode_header(&ctx.template, inode, inode.size)
}

/// Everything for one inode, for inodes small enough to be handled in one
/// piece (all but big regular files, see [`is_big_file`]).
pub fn whole_inode(ctx: &Context<'_>, inode: &Inode) -> Result<Vec<Piece>, DumpError> {
    let ino = inode.ino;
    let mut out = Vec::new();
    let fs_err = |source| DumpError::Inode { ino, source };
    let header = match inode.file_type() {
        FileType::Directory => {
            if ctx.verbose {
                out.push(Piece::Note(format!("dumping directory inode {ino}")));
            }
            let data = directory_data(ctx, inode)?;
            let h = inode_header(&ctx.template, inode, data.len() as u64);
            literal_pieces(h.clone(), data, 1, &mut out);
            h
        }
        FileType::Regular if inode.has_inline_data() => {
            verbose_regular(ctx, ino, &mut out);
            let data = ctx
                .fs
                .inline_data(inode)
                .map_err(fs_err)?
                .unwrap_or_default();
            if data.len() as u64 != inode.size {
                // fsimage returns `size` bytes; anything else is a damaged
                // inode. Dump what is there rather than invent bytes.
                ctx.reporter.warning(format_args!(
                    "inode {ino}: inline data holds {} bytes but the size is {}; dumped {} bytes",
                    data.len(),
                    inode.size,
                    data.len()
                ));
            }
            let h = inode_header(&ctx.template, inode, data.len() as u64);
            literal_pieces(h.clone(), data, TP_NINDIR, &mut out);
            h
        }
        FileType::Regular => {
            verbose_regular(ctx, ino, &mut out);
            let h = file_header(ctx, inode);
            if inode.size == 0 {
                out.push(Piece::Header(Box::new(h.clone())));
            } else {
                let runs = ctx.fs.data_runs(inode).map_err(fs_err)?;
                mapped_pieces(ctx, inode, &h, &runs, &mut out);
            }
            h
        }
        FileType::Symlink => {
            verbose_regular(ctx, ino, &mut out);
            let runs = if inode.size == 0 {
                Vec::new()
            } else {
                ctx.fs.data_runs(inode).map_err(fs_err)?
            };
            if runs.is_empty() {
                // Fast (or inline) symlink: the target in one block, as dump does.
                let target = if inode.size == 0 {
                    Vec::new()
                } else {
                    ctx.fs.symlink_target(inode).map_err(fs_err)?
                };
                let h = inode_header(&ctx.template, inode, target.len() as u64);
                literal_pieces(h.clone(), target, TP_NINDIR, &mut out);
                h
            } else {
                // Slow symlink: its blocks, like a regular file's.
                let h = file_header(ctx, inode);
                mapped_pieces(ctx, inode, &h, &runs, &mut out);
                h
            }
        }
        FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => {
            verbose_regular(ctx, ino, &mut out);
            let h = inode_header(&ctx.template, inode, inode.size);
            out.push(Piece::Header(Box::new(h.clone())));
            h
        }
        FileType::Unknown(mode) => {
            // The planner leaves these out; never reached in a normal run.
            ctx.reporter.msg(format_args!(
                "Warning: undefined file type 0{mode:o} (inode {ino})"
            ));
            return Ok(out);
        }
    };
    out.extend(xattr_pieces(ctx, inode, &header));
    Ok(out)
}

/// An inode written as metadata only (`-m`): as dump 0.4b47 writes one, its
/// TS_INODE header with DR_METAONLY, a size of 0 and no blocks, then its
/// extended attributes.
pub fn metadata_only(ctx: &Context<'_>, inode: &Inode) -> Vec<Piece> {
    let mut out = Vec::new();
    verbose_regular(ctx, inode.ino, &mut out);
    let h = inode_header(&ctx.template, inode, 0);
    let mut meta = h.clone();
    meta.flags |= hflags::DR_METAONLY;
    out.push(Piece::Header(Box::new(meta)));
    // dump's EXT_XATTR records after it do not carry the flag.
    out.extend(xattr_pieces(ctx, inode, &h));
    out
}

/// Headers and data of content mapped by `runs` (regular files, slow symlinks).
fn mapped_pieces(ctx: &Context<'_>, inode: &Inode, h: &Header, runs: &[Run], out: &mut Vec<Piece>) {
    for g in Groups::new(runs, inode.size, ctx.block_size()) {
        out.push(Piece::Header(Box::new(group_header(h, &g))));
        let data = read_group(ctx, inode.ino, &g.reads);
        if !data.is_empty() {
            out.push(Piece::Data(data));
        }
    }
}

fn verbose_regular(ctx: &Context<'_>, ino: u32, out: &mut Vec<Piece>) {
    if ctx.verbose {
        out.push(Piece::Note(format!("dumping regular inode {ino}")));
    }
}

/// Regular files bigger than one header group are split into one job per
/// group by the pipeline, so that no thread holds a whole big file.
pub fn is_big_file(inode: &Inode, block_size: u64) -> bool {
    inode.file_type() == FileType::Regular
        && !inode.has_inline_data()
        && inode.size.div_ceil(block_size) > blocks_per_header(block_size)
}

/// Directories bigger than this on disk are written as they are read
/// ([`stream_directory`]), not encoded whole in memory first.
pub const BIG_DIRECTORY_BYTES: u64 = 1 << 20;

/// How much of a streamed directory's encoding goes into one piece.
const DIRECTORY_PIECE_BYTES: usize = 64 << 10;

/// Whether the pipeline streams this directory ([`stream_directory`]).
pub fn is_big_directory(inode: &Inode) -> bool {
    inode.file_type() == FileType::Directory
        && !inode.has_inline_data()
        && inode.size > BIG_DIRECTORY_BYTES
}

/// A big directory in dump's BSD format, handed to `emit` in pieces of about
/// 64 KiB as its blocks are read, so that its memory is that of a piece
/// whatever the number of its entries. The TS_INODE header carries the
/// encoded size, so the directory is read twice: once to measure, once to
/// write. `emit` returns false when nobody takes the pieces any more (the
/// dump is cancelled). Returns the pieces that end the inode (its xattrs).
///
/// On a live filesystem the directory may change between the two readings:
/// the second then is cut or padded (with empty chunks) to the size already
/// announced, and a warning says so; restore reads such a directory as it
/// reads any other.
pub fn stream_directory(
    ctx: &Context<'_>,
    inode: &Inode,
    emit: &mut dyn FnMut(Vec<Piece>) -> bool,
) -> Result<Vec<Piece>, DumpError> {
    let ino = inode.ino;
    let order = ByteOrder::Little;
    let mut measure = DirectoryEncoder::new(order);
    let mut measured = 0usize;
    encode_entries(ctx, inode, &mut measure, |m| {
        measured += m.take_complete().len()
    })
    .map_err(|source| DumpError::Inode { ino, source })?;
    let size = measured + measure.finish().len();

    let header = inode_header(&ctx.template, inode, size as u64);
    let mut stream = DirectoryStream {
        next: header.clone(),
        size,
        written: 0,
        live: true,
    };
    if ctx.verbose {
        stream.live = emit(vec![Piece::Note(format!("dumping directory inode {ino}"))]);
    }
    let mut enc = DirectoryEncoder::new(order);
    let second = encode_entries(ctx, inode, &mut enc, |e| {
        if e.pending() >= DIRECTORY_PIECE_BYTES {
            stream.send(e.take_complete(), emit);
        }
    });
    let cut = stream.written + enc.pending() > size;
    stream.send(enc.finish(), emit);
    let short = stream.written < size;
    while stream.written < size {
        stream.send(empty_chunk(order), emit);
    }
    if let Err(e) = second {
        ctx.reporter.warning(format_args!(
            "directory inode {ino} could not be read again: {e}; its entries after the failure are missing from the dump"
        ));
    } else if cut || short {
        ctx.reporter.warning(format_args!(
            "directory inode {ino} changed while it was dumped; its dumped entries may be incomplete"
        ));
    }
    Ok(xattr_pieces(ctx, inode, &header))
}

/// The writing half of [`stream_directory`]: the header for the next piece
/// (TS_INODE for the first, TS_ADDR after) and how much of the announced
/// size has gone.
struct DirectoryStream {
    next: Header,
    size: usize,
    written: usize,
    live: bool,
}

impl DirectoryStream {
    /// Sends whole chunks, never beyond the announced size.
    fn send(&mut self, mut data: Vec<u8>, emit: &mut dyn FnMut(Vec<Piece>) -> bool) {
        data.truncate(self.size.saturating_sub(self.written));
        if !self.live {
            // Cancelled: nothing more to send, nor to pad.
            self.written = self.size;
            return;
        }
        if data.is_empty() {
            return;
        }
        self.written += data.len();
        let mut pieces = Vec::with_capacity(1);
        literal_pieces(self.next.clone(), data, 1, &mut pieces);
        self.next.c_type = RecordType::Addr as i32;
        self.live = emit(pieces);
    }
}

/// A directory (at most [`BIG_DIRECTORY_BYTES`] on disk: bigger ones are
/// streamed) in dump's BSD format.
fn directory_data(ctx: &Context<'_>, inode: &Inode) -> Result<Vec<u8>, DumpError> {
    let ino = inode.ino;
    // dump's records are about as long as ext4's: the size on disk is a fair
    // guess of the encoding's, and bounded like that.
    let guess = inode.size.min(BIG_DIRECTORY_BYTES) as usize;
    let mut enc = DirectoryEncoder::with_capacity(ByteOrder::Little, guess);
    encode_entries(ctx, inode, &mut enc, |_| {})
        .map_err(|source| DumpError::Inode { ino, source })?;
    Ok(enc.finish())
}

/// Feeds `enc` the entries of directory `inode` that go on tape (not free
/// slots, not inodes left out of the dump), calling `after` after each.
fn encode_entries(
    ctx: &Context<'_>,
    inode: &Inode,
    enc: &mut DirectoryEncoder,
    mut after: impl FnMut(&mut DirectoryEncoder),
) -> Result<(), fsimage::Error> {
    ctx.fs.for_each_dir_entry(inode, |e| {
        if e.ino != 0 && ctx.excluded.binary_search(&e.ino).is_err() {
            enc.push(e.ino, dt_from_ext2_ft(e.file_type), e.name);
            after(enc);
        }
    })
}

/// Name indexes the reference restore understands (user, ACLs, trusted,
/// lustre, security); anything else would make it fail.
fn restorable_index(index: u8) -> bool {
    matches!(index, 1..=4 | 6)
}

/// The EXT_XATTR records of an inode (none if it has no attributes).
/// Attributes that cannot be read are reported and left out.
pub fn xattr_pieces(ctx: &Context<'_>, inode: &Inode, file_header: &Header) -> Vec<Piece> {
    let ino = inode.ino;
    let attrs = match ctx.fs.xattrs(inode) {
        Ok(a) => a,
        Err(e) => {
            ctx.reporter.warning(format_args!(
                "inode {ino}: extended attributes not dumped: {e}"
            ));
            return Vec::new();
        }
    };
    let mut tape_attrs = Vec::with_capacity(attrs.len());
    for a in attrs {
        if a.name_index == 7 && a.name == b"data" {
            // Inline data: already written as the file's data blocks.
            continue;
        }
        let name = a.full_name();
        if !restorable_index(a.name_index) {
            ctx.reporter.warning(format_args!(
                "inode {ino}: extended attribute {} (name index {}) cannot be represented on tape, not dumped",
                String::from_utf8_lossy(&name),
                a.name_index
            ));
            continue;
        }
        let value = if matches!(a.name_index, 2 | 3) {
            match acl_disk_to_xattr(&a.value) {
                Ok(v) => v,
                Err(e) => {
                    ctx.reporter.warning(format_args!(
                        "inode {ino}: damaged ACL {} not dumped: {e}",
                        String::from_utf8_lossy(&name)
                    ));
                    continue;
                }
            }
        } else {
            a.value
        };
        tape_attrs.push(TapeXattr { name, value });
    }
    if tape_attrs.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if ctx.verbose {
        out.push(Piece::Note(format!("dumping EA in inode #{ino}")));
    }
    for (blob, kind) in split_blobs(ctx, ino, &tape_attrs) {
        let mut h = file_header.clone();
        h.c_type = RecordType::Inode as i32;
        h.flags |= hflags::DR_EXTATTRIBUTES;
        h.extattributes = kind;
        h.inode.size = blob.len() as u64;
        set_all_present(&mut h, blob.len().div_ceil(TP_BSIZE));
        out.push(Piece::Header(Box::new(h)));
        out.push(Piece::Data(blob));
    }
    out
}

/// Encodes attributes into as few EXT_XATTR blobs as possible, each within
/// the reference restore's limit. An attribute too big to fit that limit
/// on its own goes into a record of kind [`EXT_XATTR_OVERSIZE`]: the
/// reference restore mishandles oversized EXT_XATTR records (it skips the
/// record, then the next file as well), but skips records of an unknown
/// kind cleanly; rrestore reads both kinds.
fn split_blobs(ctx: &Context<'_>, ino: u32, attrs: &[TapeXattr]) -> Vec<(Vec<u8>, i32)> {
    let encode = |set: &[TapeXattr]| match encode_xattr_blob(set) {
        Ok(b) => Some(b),
        Err(e) => {
            ctx.reporter.warning(format_args!(
                "inode {ino}: extended attributes not dumped: {e}"
            ));
            None
        }
    };
    if let Some(all) = encode(attrs) {
        if all.len() <= RESTORE_XATTR_LIMIT {
            return vec![(all, ext_kind::EXT_XATTR)];
        }
    }
    let mut blobs = Vec::new();
    let mut start = 0;
    while start < attrs.len() {
        // Grow the set while it fits; a lone oversized attribute goes alone.
        let mut end = start + 1;
        let mut best = encode(&attrs[start..end]);
        while end < attrs.len() {
            match encode(&attrs[start..=end]) {
                Some(b) if b.len() <= RESTORE_XATTR_LIMIT => {
                    best = Some(b);
                    end += 1;
                }
                _ => break,
            }
        }
        if let Some(b) = best {
            if b.len() > RESTORE_XATTR_LIMIT {
                ctx.reporter.msg(format_args!(
                    "inode {ino}: extended attribute {} needs a {}-byte record, more than the reference restore reads ({RESTORE_XATTR_LIMIT}); only rrestore restores it",
                    String::from_utf8_lossy(&attrs[start].name),
                    b.len()
                ));
                blobs.push((b, EXT_XATTR_OVERSIZE));
            } else {
                blobs.push((b, ext_kind::EXT_XATTR));
            }
        }
        start = end;
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(logical: u64, physical: u64, len: u64, kind: RunKind) -> Run {
        Run {
            logical,
            physical,
            len,
            kind,
        }
    }

    /// The kernel's new_encode_dev() (what ext4 stores for large numbers).
    fn kernel_new_dev(major: u32, minor: u32) -> u32 {
        (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
    }

    /// What a [`DirectoryStream`] emitted: data bytes and header types.
    fn streamed(sends: &[Vec<u8>], size: usize, cancel_after: usize) -> (Vec<u8>, Vec<i32>) {
        let mut stream = DirectoryStream {
            next: Header::new(RecordType::Inode),
            size,
            written: 0,
            live: true,
        };
        let mut pieces = Vec::new();
        let mut emit = |p: Vec<Piece>| {
            pieces.extend(p);
            pieces.len() < cancel_after
        };
        for data in sends {
            stream.send(data.clone(), &mut emit);
        }
        while stream.written < stream.size {
            stream.send(empty_chunk(ByteOrder::Little), &mut emit);
        }
        let (mut data, mut types) = (Vec::new(), Vec::new());
        for p in pieces {
            let Piece::Literal { first, data: d, .. } = p else {
                panic!("a directory stream sends literal pieces only");
            };
            types.push(first.c_type);
            data.extend(d);
        }
        (data, types)
    }

    #[test]
    fn a_directory_stream_keeps_to_the_announced_size() {
        let (inode, addr) = (RecordType::Inode as i32, RecordType::Addr as i32);
        // As measured: everything sent, the first piece under TS_INODE.
        let (data, types) = streamed(&[vec![1; 1024], vec![2; 512]], 1536, usize::MAX);
        assert_eq!(data.len(), 1536);
        assert_eq!(types, [inode, addr]);
        // Grown since it was measured: cut at the size announced.
        let (data, types) = streamed(&[vec![1; 1024], vec![2; 1024]], 1536, usize::MAX);
        assert_eq!((data.len(), &data[1024..]), (1536, &[2u8; 512][..]));
        assert_eq!(types, [inode, addr]);
        // Shrunk: padded with chunks that hold no entry.
        let (data, types) = streamed(&[vec![1; 512]], 1536, usize::MAX);
        assert_eq!(data.len(), 1536);
        assert_eq!(&data[512..1024], &empty_chunk(ByteOrder::Little)[..]);
        assert_eq!(types, [inode, addr, addr]);
        // Cancelled after the first piece: nothing more is sent, and the
        // padding ends.
        let (data, _) = streamed(&[vec![1; 512], vec![2; 512]], 4096, 1);
        assert_eq!(data.len(), 512);
    }

    #[test]
    fn device_encodings() {
        assert_eq!(glibc_dev(8, 1), 0x801);
        assert_eq!(kernel_new_dev(8, 1), 0x801);
        assert_eq!(glibc_dev(259, 70000), kernel_new_dev(259, 70000));
        assert_eq!(glibc_dev(300, 5), (300 << 8) | 5);
    }

    #[test]
    fn groups_of_a_sparse_file() {
        // 4 KiB blocks: 128 file blocks per header. 300 blocks, data at 0..2
        // and 200..201, unwritten at 250, the rest holes.
        let runs = vec![
            run(0, 1000, 2, RunKind::Data),
            run(2, 0, 198, RunKind::Hole),
            run(200, 5000, 1, RunKind::Data),
            run(201, 0, 49, RunKind::Hole),
            run(250, 7000, 1, RunKind::Unwritten),
            run(251, 0, 49, RunKind::Hole),
        ];
        let groups: Vec<Group> = Groups::new(&runs, 300 * 4096 - 100, 4096).collect();
        assert_eq!(groups.len(), 3);
        assert!(groups[0].first && !groups[1].first && !groups[2].first);
        assert_eq!(groups[0].addr.len(), 512);
        assert_eq!(groups[1].addr.len(), 512);
        assert_eq!(groups[2].addr.len(), (300 - 256) * 4);
        assert_eq!(groups[0].addr.iter().filter(|p| **p).count(), 8);
        assert_eq!(
            groups[0].reads,
            vec![Extent {
                logical: 0,
                physical: 1000,
                blocks: 2
            }]
        );
        assert_eq!(
            groups[1].reads,
            vec![Extent {
                logical: 200,
                physical: 5000,
                blocks: 1
            }]
        );
        assert!(groups[1].addr[(200 - 128) * 4]);
        assert!(groups[2].reads.is_empty(), "unwritten extents are holes");
    }

    #[test]
    fn headers_like_dump() {
        assert_eq!(blocks_per_header(1024), 256);
        assert_eq!(blocks_per_header(2048), 256);
        assert_eq!(blocks_per_header(4096), 128);
        assert_eq!(blocks_per_header(65536), 8);
        let runs = vec![run(0, 100, 600, RunKind::Data)];
        let sizes: Vec<usize> = Groups::new(&runs, 600 * 1024, 1024)
            .map(|g| g.addr.len())
            .collect();
        assert_eq!(sizes, vec![256, 256, 88]);
    }

    #[test]
    fn groups_merge_contiguous_runs_and_fill_gaps() {
        // Two adjacent runs, then nothing (a trailing hole not in the map).
        let runs = vec![run(0, 10, 3, RunKind::Data), run(3, 13, 2, RunKind::Data)];
        let groups: Vec<Group> = Groups::new(&runs, 8 * 1024, 1024).collect();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].reads,
            vec![Extent {
                logical: 0,
                physical: 10,
                blocks: 5
            }]
        );
        assert_eq!(
            groups[0].addr,
            vec![true, true, true, true, true, false, false, false]
        );
    }

    #[test]
    fn groups_of_an_empty_file() {
        assert_eq!(Groups::new(&[], 0, 4096).next(), None);
        // A 5 GiB hole with 4 KiB blocks: 10240 headers, no reads.
        let groups: Vec<Group> = Groups::new(&[], 5 << 30, 4096).collect();
        assert_eq!(groups.len(), 10240);
        assert!(groups.iter().all(|g| g.reads.is_empty()));
    }
}
