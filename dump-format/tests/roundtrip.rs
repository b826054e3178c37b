//! Property tests: whatever TapeWriter writes, TapeReader reads back identically, for
//! every record kind, record size, compression and byte order; headers round-trip byte
//! for byte and carry checksums that verify.

use dump_format::header::{flags, mode, word_sum, CHECKSUM};
use dump_format::{
    ByteOrder, Compression, Header, InodeExtension, Item, ReadError, RecordType, Segment,
    TapeReader, TapeWriter, Timestamp, TP_BSIZE, TP_NINDIR,
};
use proptest::prelude::*;

fn arb_order() -> impl Strategy<Value = ByteOrder> {
    prop_oneof![Just(ByteOrder::Little), Just(ByteOrder::Big)]
}

fn arb_header() -> impl Strategy<Value = Header> {
    (
        1i32..=6,
        any::<[i32; 4]>(),
        any::<u32>(),
        any::<(u16, i16, u64, [i32; 6])>(),
        any::<[u32; 15]>(),
        any::<(u32, i32, i32, u32, u32)>(),
        prop::collection::vec(any::<u8>(), TP_NINDIR),
        any::<(i32, i32, i32, i32, i32, i32)>(),
        prop::collection::vec(any::<i32>(), 30),
        prop::collection::vec(any::<u8>(), 16 + 64 * 3),
    )
        .prop_map(
            |(
                t,
                d,
                ino,
                (m, nl, size, times),
                blocks,
                (fl, bl, gen, uid, gid),
                addr,
                (count, level, cflags, firstrec, ntrec, ext),
                spare,
                strings,
            )| {
                let mut h = Header::new(RecordType::from_raw(t).unwrap());
                h.date = d[0];
                h.ddate = d[1];
                h.volume = d[2];
                h.tapea = d[3] as u32;
                h.inumber = ino;
                h.inode.mode = m;
                h.inode.nlink = nl;
                h.inode.size = size;
                h.inode.atime.sec = times[0];
                h.inode.atime.usec = times[1];
                h.inode.mtime.sec = times[2];
                h.inode.mtime.usec = times[3];
                h.inode.ctime.sec = times[4];
                h.inode.ctime.usec = times[5];
                h.inode.db.copy_from_slice(&blocks[..12]);
                h.inode.ib.copy_from_slice(&blocks[12..]);
                h.inode.flags = fl;
                h.inode.blocks = bl;
                h.inode.gen = gen;
                h.inode.uid = uid;
                h.inode.gid = gid;
                h.count = count;
                h.addr.copy_from_slice(&addr);
                h.level = level;
                h.flags = cflags;
                h.firstrec = firstrec;
                h.ntrec = ntrec;
                h.extattributes = ext;
                h.spare.copy_from_slice(&spare);
                h.label.copy_from_slice(&strings[..16]);
                h.filesys.copy_from_slice(&strings[16..80]);
                h.dev.copy_from_slice(&strings[80..144]);
                h.host.copy_from_slice(&strings[144..]);
                h
            },
        )
}

proptest! {
    #[test]
    fn header_round_trips_byte_for_byte(h in arb_header(), order in arb_order()) {
        let bytes = h.encode(order);
        prop_assert_eq!(word_sum(&bytes, order), CHECKSUM);
        let (back, got) = Header::parse(&bytes).unwrap();
        prop_assert_eq!(got, order);
        let mut expected = h.clone();
        expected.checksum = back.checksum;
        prop_assert_eq!(&back, &expected);
        prop_assert_eq!(back.encode(order), bytes);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..8192)) {
        if let Ok(mut r) = TapeReader::new(&bytes[..]) {
            for _ in 0..10_000 {
                match r.next_item() {
                    Ok(Some(Item::Inode(_))) => while let Ok(Some(_)) = r.next_segment() {},
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
}

/// A file to write: its size and which 1 KiB blocks are holes.
#[derive(Debug, Clone)]
struct TestFile {
    ino: u32,
    data: Vec<u8>,
    holes: Vec<bool>,
    ext: Option<InodeExtension>,
}

fn arb_file(ino: u32) -> impl Strategy<Value = TestFile> {
    (0usize..4000, any::<u64>(), any::<bool>()).prop_map(move |(size_k, seed, with_ext)| {
        let size = size_k * 613; // sizes not aligned to blocks, past 512 blocks
        let nblocks = size.div_ceil(TP_BSIZE);
        let mut x = seed | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let holes: Vec<bool> = (0..nblocks).map(|_| next() % 4 == 0).collect();
        let mut data = vec![0u8; size];
        for (i, b) in data.iter_mut().enumerate() {
            if !holes[i / TP_BSIZE] {
                *b = (next() % 3) as u8 + (i % 7) as u8;
            }
        }
        let ext = with_ext.then(|| InodeExtension {
            atime: Timestamp {
                sec: seed as i64 >> 20,
                nsec: (seed % 1_000_000_000) as u32,
            },
            mtime: Timestamp {
                sec: 5_000_000_000,
                nsec: 1,
            },
            ctime: Timestamp::default(),
            crtime: Some(Timestamp { sec: 1, nsec: 2 }),
            flags: 0x80000,
            rdev: None,
        });
        TestFile {
            ino,
            data,
            holes,
            ext,
        }
    })
}

fn arb_compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Zlib(6)),
        Just(Compression::Bzip2(1)),
        Just(Compression::Zstd(3)),
        Just(Compression::Lzo)
    ]
}

fn write_dump(files: &[TestFile], ntrec: usize, c: Compression, order: ByteOrder) -> Vec<u8> {
    let mut w = TapeWriter::with_order(Vec::new(), ntrec, c, order);
    let mut vol = Header::new(RecordType::Tape);
    vol.date = 1_700_000_000;
    vol.ntrec = ntrec as i32;
    vol.flags = flags::DR_NEWHEADER
        | flags::DR_NEWINODEFMT
        | if c == Compression::None {
            0
        } else {
            flags::DR_COMPRESSED
        };
    w.write_header(&mut vol).unwrap();
    for f in files {
        let mut h = Header::new(RecordType::Inode);
        h.date = vol.date;
        h.inumber = f.ino;
        h.inode.mode = mode::S_IFREG | 0o644;
        h.inode.size = f.data.len() as u64;
        if let Some(e) = &f.ext {
            h.set_extension(e);
        }
        let blocks: Vec<&[u8]> = f.data.chunks(TP_BSIZE).collect();
        let mut first = true;
        for (ci, chunk) in blocks.chunks(TP_NINDIR).enumerate() {
            h.c_type = if first {
                RecordType::Inode as i32
            } else {
                RecordType::Addr as i32
            };
            first = false;
            h.count = chunk.len() as i32;
            h.addr = [0; TP_NINDIR];
            for i in 0..chunk.len() {
                h.addr[i] = u8::from(!f.holes[ci * TP_NINDIR + i]);
            }
            w.write_header(&mut h).unwrap();
            for (i, b) in chunk.iter().enumerate() {
                if !f.holes[ci * TP_NINDIR + i] {
                    w.write_block(b).unwrap();
                }
            }
        }
        if first {
            h.count = 0;
            w.write_header(&mut h).unwrap();
        }
    }
    let mut end = Header::new(RecordType::End);
    end.date = vol.date;
    w.write_end(&end).unwrap();
    let (out, stats) = w.finish().unwrap();
    assert_eq!(stats.blocks % ntrec as u64, 0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn writer_and_reader_agree(
        files in (arb_file(12), arb_file(13), arb_file(14)),
        ntrec in prop_oneof![Just(1usize), Just(10), Just(64), 2usize..40],
        c in arb_compression(),
        order in arb_order(),
        take in any::<bool>(),
    ) {
        let files = vec![files.0, files.1, files.2];
        let bytes = write_dump(&files, ntrec, c, order);
        let mut r = TapeReader::new(&bytes[..]).unwrap();
        prop_assert_eq!(r.byte_order(), order);
        prop_assert_eq!(r.is_compressed(), c != Compression::None);
        let mut seen = 0;
        loop {
            match r.next_item().unwrap() {
                Some(Item::Inode(h)) => {
                    let f = &files[seen];
                    seen += 1;
                    prop_assert_eq!(h.inumber, f.ino);
                    prop_assert_eq!(h.extension(), f.ext);
                    let mut got = vec![0xAAu8; f.data.len()];
                    let mut covered = 0u64;
                    // Spare buffers handed to take_data: dirty, of various sizes.
                    let mut spare = vec![0x55u8; 3000];
                    while let Some(seg) = r.next_segment().unwrap() {
                        match seg {
                            Segment::Data { offset, .. } if take => {
                                let bytes = r.take_data(std::mem::take(&mut spare));
                                prop_assert_eq!(offset, covered);
                                got[offset as usize..offset as usize + bytes.len()].copy_from_slice(&bytes);
                                covered += bytes.len() as u64;
                                spare = bytes;
                            }
                            Segment::Data { offset, bytes } => {
                                prop_assert_eq!(offset, covered);
                                got[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
                                covered += bytes.len() as u64;
                            }
                            Segment::Hole { offset, len } => {
                                prop_assert_eq!(offset, covered);
                                got[offset as usize..(offset + len) as usize].fill(0);
                                covered += len;
                            }
                        }
                    }
                    prop_assert_eq!(covered, f.data.len() as u64);
                    prop_assert!(got == f.data, "data of inode {} differs", f.ino);
                }
                Some(Item::End(_)) => {}
                None => break,
                Some(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(seen, 3);
        prop_assert!(r.take_warnings().is_empty());
    }
}

#[test]
fn damaged_header_is_resynchronised() {
    let files: Vec<TestFile> = (0..3)
        .map(|i| TestFile {
            ino: 20 + i,
            data: vec![i as u8 + 1; 3000],
            holes: vec![false; 3],
            ext: None,
        })
        .collect();
    let mut bytes = write_dump(&files, 10, Compression::None, ByteOrder::Little);
    // Block 1 is the first file's header, blocks 2..5 its data, block 5 the second
    // header. Damage the second header.
    bytes[5 * TP_BSIZE + 100] ^= 0xff;
    let mut r = TapeReader::new(&bytes[..]).unwrap();
    let mut inos = vec![];
    let mut skipped = 0;
    while let Some(item) = r.next_item().unwrap() {
        match item {
            Item::Inode(h) => inos.push(h.inumber),
            Item::Resync { skipped_blocks, .. } => skipped += skipped_blocks,
            _ => {}
        }
    }
    assert_eq!(inos, vec![20, 22]);
    assert_eq!(
        skipped, 4,
        "the damaged header and the three data blocks after it"
    );
}

#[test]
fn truncated_stream_names_the_offset() {
    let files = vec![TestFile {
        ino: 30,
        data: vec![7; 10_000],
        holes: vec![false; 10],
        ext: None,
    }];
    let bytes = write_dump(&files, 10, Compression::Zlib(6), ByteOrder::Little);
    let cut = &bytes[..bytes.len() - 7];
    let mut r = TapeReader::new(cut).unwrap();
    let err = loop {
        match r.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("truncation not noticed"),
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("byte"), "{err}");
}

/// An uncompressed stream cut inside a run of data blocks (read straight into
/// the segment buffer) ends in a typed error, not in short data.
#[test]
fn stream_cut_inside_file_data_is_an_error() {
    let files = vec![TestFile {
        ino: 31,
        data: vec![9; 40_000],
        holes: vec![false; 40],
        ext: None,
    }];
    let bytes = write_dump(&files, 10, Compression::None, ByteOrder::Little);
    // Volume header, inode header, then 40 data blocks: cut after 20 of
    // them, and in the middle of the 21st.
    for cut in [22 * TP_BSIZE, 22 * TP_BSIZE + 100] {
        let mut r = TapeReader::new(&bytes[..cut]).unwrap();
        match r.next_item().unwrap() {
            Some(Item::Inode(h)) => assert_eq!(h.inumber, 31),
            other => panic!("cut at {cut}: {other:?}"),
        }
        let err = loop {
            match r.next_segment() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("cut at {cut}: the file reads as complete"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err,
                ReadError::Truncated {
                    what: "file data",
                    ..
                }
            ),
            "cut at {cut}: {err}"
        );
    }
}
