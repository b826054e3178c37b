//! `TapeReader::seek_to_inode` over synthetic dumps written by `TapeWriter`:
//! plain and zlib, several record sizes, small files and files long enough to
//! need TS_ADDR continuations. After a seek the reader yields the target's
//! header and its data exactly as a stream read does, and reads far less.

use std::io::Cursor;

use dump_format::header::{flags, mode};
use dump_format::reader::share;
use dump_format::{Compression, Header, Item, RecordType, Segment, TapeReader, TapeWriter};

const DATE: i32 = 1_700_000_000;
const INODES: std::ops::Range<u32> = 11..1500;

/// Blocks of inode `ino`: mostly small, every 97th one long (1300 blocks,
/// three headers).
fn blocks_of(ino: u32) -> usize {
    if ino % 97 == 0 {
        1300
    } else {
        1 + (ino as usize * 7) % 12
    }
}

/// Incompressible contents (so compressed dumps are as large as plain ones)
/// that name their inode and block.
fn block_of(ino: u32, i: usize) -> Vec<u8> {
    let mut x = (u64::from(ino) << 32 | i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut b: Vec<u8> = (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    b[..4].copy_from_slice(&ino.to_le_bytes());
    b[4..8].copy_from_slice(&(i as u32).to_le_bytes());
    b
}

fn header(kind: RecordType, ino: u32) -> Header {
    let mut h = Header::new(kind);
    h.date = DATE;
    h.inumber = ino;
    h
}

fn make_dump(ntrec: usize, compression: Compression) -> Vec<u8> {
    let mut w = TapeWriter::new(Vec::new(), ntrec, compression);
    let mut vol = header(RecordType::Tape, 0);
    vol.ntrec = ntrec as i32;
    vol.flags = flags::DR_NEWHEADER | flags::DR_NEWINODEFMT;
    if !matches!(compression, Compression::None) {
        vol.flags |= flags::DR_COMPRESSED;
    }
    w.write_header(&mut vol).unwrap();
    for ino in INODES {
        let n = blocks_of(ino);
        for (k, chunk) in (0..n).collect::<Vec<_>>().chunks(512).enumerate() {
            let kind = if k == 0 {
                RecordType::Inode
            } else {
                RecordType::Addr
            };
            let mut h = header(kind, ino);
            h.inode.mode = mode::S_IFREG | 0o644;
            h.inode.size = (n * 1024) as u64;
            h.count = chunk.len() as i32;
            for a in h.addr.iter_mut().take(chunk.len()) {
                *a = 1;
            }
            w.write_header(&mut h).unwrap();
            for &i in chunk {
                w.write_block(&block_of(ino, i)).unwrap();
            }
        }
    }
    w.write_end(&header(RecordType::End, 0)).unwrap();
    w.finish().unwrap().0
}

/// The data of the next item, which must be `ino`'s header.
fn read_inode(r: &mut TapeReader<Box<dyn std::io::Read>>, ino: u32) -> Vec<u8> {
    match r.next_item().unwrap() {
        Some(Item::Inode(h)) => assert_eq!(h.inumber, ino),
        other => panic!("expected inode {ino}, got {other:?}"),
    }
    let mut data = Vec::new();
    while let Some(seg) = r.next_segment().unwrap() {
        match seg {
            Segment::Data { bytes, .. } => data.extend_from_slice(bytes),
            Segment::Hole { .. } => panic!("no holes were written"),
        }
    }
    data
}

fn expected(ino: u32) -> Vec<u8> {
    (0..blocks_of(ino)).flat_map(|i| block_of(ino, i)).collect()
}

#[test]
fn seeking_finds_each_inode_and_reads_little() {
    for (ntrec, compression) in [
        (10, Compression::None),
        (10, Compression::Zlib(6)),
        (32, Compression::Zlib(1)),
        (1, Compression::None),
    ] {
        let dump = make_dump(ntrec, compression);
        let len = dump.len() as u64;
        for targets in [&[1499u32][..], &[12, 500, 970, 1000, 1455], &[14, 15, 16]] {
            let (read, seek) = share(Cursor::new(dump.clone())).unwrap();
            let mut r = TapeReader::new(read).unwrap();
            r.set_reposition(seek);
            // The first inode: the reader is past the first record after it.
            assert_eq!(read_inode(&mut r, INODES.start), expected(INODES.start));
            let mut data_bytes = 0;
            for &t in targets {
                assert!(r.seek_to_inode(t).unwrap(), "{compression:?}: seek to {t}");
                let got = read_inode(&mut r, t);
                assert!(
                    got == expected(t),
                    "{compression:?} ntrec {ntrec}: inode {t} differs"
                );
                data_bytes += got.len() as u64;
            }
            let read = r.input_bytes_read().unwrap();
            assert!(
                read < data_bytes + len / 4,
                "{compression:?} ntrec {ntrec} {targets:?}: read {read} of {len}"
            );
        }
    }
}

#[test]
fn seeking_past_the_last_inode_finds_the_end() {
    let dump = make_dump(10, Compression::None);
    let (read, seek) = share(Cursor::new(dump)).unwrap();
    let mut r = TapeReader::new(read).unwrap();
    r.set_reposition(seek);
    read_inode(&mut r, INODES.start);
    assert!(r.seek_to_inode(INODES.end + 10).unwrap());
    assert!(matches!(r.next_item().unwrap(), Some(Item::End(_))));
    assert!(r.next_item().unwrap().is_none());
}

#[test]
fn a_stream_does_not_seek() {
    let dump = make_dump(10, Compression::None);
    let mut r = TapeReader::new(Cursor::new(dump)).unwrap();
    read_inode_plain(&mut r, INODES.start);
    assert!(!r.seek_to_inode(900).unwrap());
    assert!(!r.can_seek());
}

fn read_inode_plain(r: &mut TapeReader<Cursor<Vec<u8>>>, ino: u32) {
    match r.next_item().unwrap() {
        Some(Item::Inode(h)) => assert_eq!(h.inumber, ino),
        other => panic!("expected inode {ino}, got {other:?}"),
    }
}
