//! Every dump in ../shared/corpus/commons-compress (real dumps no one here wrote, and
//! hostile ones) is read to its end: the good ones give the expected items, the bad ones
//! typed errors, and none panics or hangs.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use dump_format::dirent::decode_directory;
use dump_format::{Item, ReadError, Segment, TapeReader};

fn corpus_dir() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/commons-compress");
    assert!(
        dir.is_dir(),
        "corpus directory {} is missing (it is shipped beside the repository as shared/corpus)",
        dir.display()
    );
    dir
}

/// What reading a whole stream produced.
#[derive(Debug, Default)]
struct Summary {
    inodes: Vec<(u32, u16, u64, Vec<u8>)>,
    directories: Vec<(u32, Vec<Vec<u8>>)>,
    ended: bool,
    resyncs: u64,
    warnings: Vec<String>,
    error: Option<String>,
}

fn read_all(name: &str) -> Summary {
    let path = corpus_dir().join(name);
    let mut s = Summary::default();
    let mut r = match TapeReader::new(BufReader::new(File::open(&path).unwrap())) {
        Ok(r) => r,
        Err(e) => {
            s.error = Some(e.to_string());
            return s;
        }
    };
    // A bound on items proves termination even if the reader misbehaved.
    for _ in 0..100_000 {
        match r.next_item() {
            Ok(Some(Item::Inode(h))) => {
                let mut data = vec![];
                let res = r.read_all(1 << 20);
                match res {
                    Ok(Some(d)) => data = d,
                    Ok(None) => {}
                    Err(e) => {
                        s.error = Some(format!("inode {}: {e}", h.inumber));
                        break;
                    }
                }
                if h.inode.file_type() == dump_format::header::mode::S_IFDIR {
                    let names = decode_directory(&data)
                        .map(|v| v.into_iter().map(|e| e.name).collect())
                        .unwrap_or_default();
                    s.directories.push((h.inumber, names));
                }
                s.inodes.push((h.inumber, h.inode.mode, h.inode.size, data));
            }
            Ok(Some(Item::End(_))) => s.ended = true,
            Ok(Some(Item::Resync { skipped_blocks, .. })) => s.resyncs += skipped_blocks,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                s.error = Some(e.to_string());
                break;
            }
        }
        s.warnings.extend(r.take_warnings());
    }
    s
}

#[test]
fn bla_dump_lists_and_extracts() {
    let s = read_all("bla.dump");
    assert!(s.ended && s.error.is_none(), "{s:?}");
    let inos: Vec<u32> = s.inodes.iter().map(|i| i.0).collect();
    assert_eq!(inos, vec![2, 11, 12, 13]);
    let root = &s.directories[0];
    assert_eq!(root.0, 2);
    let names: Vec<&[u8]> = root.1.iter().map(|n| n.as_slice()).collect();
    assert_eq!(
        names,
        vec![&b"."[..], b"..", b"lost+found", b"test1.xml", b"test2.xml"]
    );
    let test1 = &s.inodes[2];
    assert_eq!(test1.2, 610);
    assert!(
        test1.3.starts_with(b"<?xml"),
        "{:?}",
        String::from_utf8_lossy(&test1.3[..20])
    );
}

#[test]
fn zlib_dump_reads_the_same_as_uncompressed() {
    let plain = read_all("bla.dump");
    let z = read_all("bla.z.dump");
    assert!(
        z.ended && z.error.is_none() && z.warnings.is_empty(),
        "{z:?}"
    );
    assert_eq!(plain.inodes, z.inodes);
}

#[test]
fn trailer_after_the_end_is_ignored() {
    let s = read_all("archive_with_trailer.dump");
    assert!(s.ended && s.error.is_none(), "{s:?}");
    assert_eq!(s.inodes, read_all("bla.dump").inodes);
}

#[test]
fn long_names_are_listed() {
    for name in ["long-name.dump", "long-name-reversed.dump"] {
        let s = read_all(name);
        assert!(s.ended && s.error.is_none(), "{name}: {s:?}");
        let longest = s
            .directories
            .iter()
            .flat_map(|d| d.1.iter())
            .map(|n| n.len())
            .max()
            .unwrap();
        assert_eq!(longest, 255, "{name}");
    }
}

#[test]
fn max_segment_length_reads() {
    let s = read_all("max-segment-length.dump");
    assert!(s.ended && s.error.is_none(), "{s:?}");
}

#[test]
fn hostile_dumps_end_in_typed_errors() {
    for name in [
        "directory_null_bytes-fail.dump",
        "looping_inodes-fail.dump",
        "reclen_zero-fail.dump",
    ] {
        let s = read_all(name);
        // These streams are cut short: the reader must say so, naming the byte offset.
        let e = s.error.unwrap_or_else(|| panic!("{name}: no error"));
        assert!(e.contains("byte"), "{name}: {e}");
    }
    let s = read_all("invalid_compression_type-fail.dump");
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("unknown compression algorithm 7")),
        "{:?}",
        s.warnings
    );
    assert!(s.error.is_some());
}

#[test]
fn reclen_zero_directory_is_a_decode_error() {
    let path = corpus_dir().join("reclen_zero-fail.dump");
    let mut r = TapeReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    loop {
        match r.next_item().unwrap() {
            Some(Item::Inode(h)) if h.inumber == 2 => {
                let data = r.read_all(1 << 20).unwrap().unwrap();
                assert!(matches!(
                    decode_directory(&data),
                    Err(dump_format::dirent::DirError::ZeroRecLen { .. })
                ));
                return;
            }
            Some(_) => {}
            None => panic!("no root directory"),
        }
    }
}

#[test]
fn not_a_dump_is_refused() {
    let e = TapeReader::new(&b"hello"[..]).err().unwrap();
    assert!(matches!(e, ReadError::Truncated { .. }), "{e}");
    let e = TapeReader::new(&[0u8; 4096][..]).err().unwrap();
    assert!(matches!(e, ReadError::NotADump(_)), "{e}");
    let e = TapeReader::new(&[][..]).err().unwrap();
    assert!(matches!(e, ReadError::Empty), "{e}");
}

#[test]
fn segments_of_bla_are_ordered() {
    let path = corpus_dir().join("bla.dump");
    let mut r = TapeReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    while let Some(item) = r.next_item().unwrap() {
        if let Item::Inode(h) = item {
            let mut next = 0u64;
            while let Some(seg) = r.next_segment().unwrap() {
                let (off, len) = match seg {
                    Segment::Data { offset, bytes } => (offset, bytes.len() as u64),
                    Segment::Hole { offset, len } => (offset, len),
                };
                assert_eq!(off, next);
                next += len;
            }
            assert_eq!(next, h.inode.size);
        }
    }
}
