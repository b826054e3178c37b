//! The records that frame a dump, as dump 0.4b47 writes them: the TS_TAPE
//! volume header, the TS_CLRI and TS_BITS inode maps, and the TS_END
//! trailer. Every header repeats the volume fields (date, level, label,
//! names, flags, ntrec), because dump keeps them in one global header that
//! it rewrites for each record.

use dump_format::bitmap::InodeMap;
use dump_format::header::{flags, Header, RecordType};

use crate::content::Piece;

/// The volume fields every header carries.
#[derive(Debug, Clone)]
pub struct VolumeInfo {
    /// c_date: the dump date.
    pub date: i64,
    pub level: i32,
    /// c_ddate: the date this dump is relative to (0 for a full dump).
    pub ddate: i64,
    pub label: String,
    pub filesys: String,
    pub dev: String,
    pub host: String,
    pub ntrec: usize,
    pub compressed: bool,
}

/// The header all others are cloned from.
pub fn template(v: &VolumeInfo) -> Header {
    let mut h = Header::new(RecordType::Tape);
    // c_date is 32 bits on tape; dates past 2038 wrap like dump's.
    h.date = v.date as i32;
    h.ddate = v.ddate as i32;
    h.volume = 1;
    h.level = v.level;
    Header::set_c_string(&mut h.label, &v.label);
    Header::set_c_string(&mut h.filesys, &v.filesys);
    Header::set_c_string(&mut h.dev, &v.dev);
    Header::set_c_string(&mut h.host, &v.host);
    h.flags = flags::DR_NEWINODEFMT;
    if v.compressed {
        h.flags |= flags::DR_COMPRESSED;
    }
    h.ntrec = v.ntrec as i32;
    h.firstrec = 0;
    h
}

/// The TS_TAPE volume header (dump's startnewtape()).
pub fn volume_header(template: &Header) -> Piece {
    let mut h = template.clone();
    h.c_type = RecordType::Tape as i32;
    h.flags |= flags::DR_NEWHEADER;
    h.inumber = 0;
    // dump leaves c_count = 1 with c_addr[0] = 0: no data follows.
    h.count = 1;
    Piece::Header(Box::new(h))
}

/// A TS_CLRI or TS_BITS map record (dump's dumpmap()): the header, then
/// the whole map.
pub fn map_pieces(template: &Header, kind: RecordType, map: &InodeMap, ino: u32) -> Vec<Piece> {
    let bytes = map.as_bytes().to_vec();
    let mut h = template.clone();
    h.c_type = kind as i32;
    h.inumber = ino;
    h.count = bytes.len().div_ceil(dump_format::TP_BSIZE) as i32;
    h.inode.size = bytes.len() as u64;
    vec![Piece::Header(Box::new(h)), Piece::Data(bytes)]
}

/// The template of the TS_END trailer headers.
pub fn end_template(template: &Header, inodes_count: u32) -> Header {
    let mut h = template.clone();
    h.c_type = RecordType::End as i32;
    h.inumber = inodes_count;
    h
}
