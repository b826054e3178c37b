//! Damaged images: every kind of corruption gives an error naming the
//! inode, never a panic, a hang or a huge allocation.

mod common;

use std::path::Path;

use common::{build_image, pattern, TempDir};
use fsimage::{Error, Filesystem, OpenOptions};

const NO_VERIFY: OpenOptions = OpenOptions {
    verify_checksums: false,
};

/// A small image with a few files; returns its bytes.
fn small_image(mkfs: &[&str]) -> Vec<u8> {
    let work = TempDir::new("corrupt");
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("f"), pattern(20_000, 1)).unwrap();
    std::fs::write(src.join("d/g"), b"g").unwrap();
    let img = build_image(work.path(), &src, mkfs, "4M", "");
    std::fs::read(img).unwrap()
}

const EXT4: &[&str] = &[
    "-t",
    "ext4",
    "-b",
    "1024",
    "-O",
    "metadata_csum,^inline_data",
];
const EXT2: &[&str] = &["-t", "ext2", "-b", "1024"];

fn inode_offset(fs: &Filesystem, ino: u32) -> usize {
    let sb = fs.superblock();
    let g = (ino - 1) / sb.inodes_per_group;
    let i = (ino - 1) % sb.inodes_per_group;
    (fs.groups()[g as usize].inode_table * u64::from(sb.block_size)
        + u64::from(i) * u64::from(sb.inode_size)) as usize
}

fn lookup(fs: &Filesystem, name: &[u8]) -> u32 {
    let root = fs.inode(2).unwrap();
    fs.read_dir(&root)
        .unwrap()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap()
        .ino
}

fn put32(img: &mut [u8], off: usize, v: u32) {
    img[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put16(img: &mut [u8], off: usize, v: u16) {
    img[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn expect_corrupt(err: Error, ino: u32, needle: &str) {
    let msg = err.to_string();
    match err {
        Error::Corrupt { ino: got, .. } => assert_eq!(got, ino, "wrong inode in {msg}"),
        other => panic!("expected Corrupt for inode {ino}, got {other:?}"),
    }
    assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
}

#[test]
fn inode_checksum_mismatch_names_the_inode() {
    let mut img = small_image(EXT4);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let ino = lookup(&fs, b"f");
    let off = inode_offset(&fs, ino);
    img[off + 0x10] ^= 1; // mtime
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let err = fs.inode(ino).unwrap_err();
    assert!(err.to_string().contains(&format!("inode {ino}")), "{err}");
    assert!(matches!(err, Error::Checksum { ino: Some(i), .. } if i == ino));
    // Without verification the inode is readable.
    let fs = Filesystem::from_bytes_with(img, &NO_VERIFY).unwrap();
    assert!(fs.inode(ino).is_ok());
}

#[test]
fn metadata_checksums_are_verified() {
    let img = small_image(EXT4);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let bs = fs.block_size() as usize;
    // Superblock.
    let mut bad = img.clone();
    bad[1024 + 0x78] ^= 0xFF; // volume name
    assert!(matches!(
        Filesystem::from_bytes(bad),
        Err(Error::Checksum { .. })
    ));
    // Group descriptor (first descriptor block follows the superblock):
    // reported by the inode scan, which then reads the whole group.
    let mut bad = img.clone();
    bad[2 * bs + 0x0C] ^= 0xFF; // free blocks count of group 0
    expect_damaged_descriptor_0(bad, &fs.allocated_inodes().unwrap());
    // Directory leaf block.
    let root = fs.inode(2).unwrap();
    let run = fs.data_runs(&root).unwrap()[0];
    let mut bad = img.clone();
    bad[run.physical as usize * bs + 12 + 8] ^= 0x20; // ".." name byte
    let fs2 = Filesystem::from_bytes(bad).unwrap();
    let err = fs2.read_dir(&fs2.inode(2).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Checksum { ino: Some(2), .. }), "{err}");
}

/// gdt_csum (uninit_bg) without metadata_csum: descriptors carry a CRC16.
#[test]
fn crc16_group_descriptor_checksum_is_verified() {
    for mkfs in [
        &["-t", "ext4", "-b", "1024", "-O", "^metadata_csum,uninit_bg"][..],
        &[
            "-t",
            "ext4",
            "-b",
            "1024",
            "-O",
            "^metadata_csum,uninit_bg,64bit",
        ][..],
    ] {
        let img = small_image(mkfs);
        let fs = Filesystem::from_bytes(img.clone()).unwrap();
        assert!(!fs.superblock().has_metadata_csum());
        let bs = fs.block_size() as usize;
        let mut bad = img.clone();
        bad[2 * bs + 0x0C] ^= 0x01; // free blocks count of group 0
        expect_damaged_descriptor_0(bad.clone(), &fs.allocated_inodes().unwrap());
        // Without verification nothing is reported.
        let fs = Filesystem::from_bytes_with(bad, &NO_VERIFY).unwrap();
        assert!(fs.inode_scan().unwrap().damaged.is_empty());
    }
}

/// Group descriptor 0 of `img` fails its checksum: the image still opens
/// (as the kernel mounts it read-only), the scan reports the descriptor and
/// lists every inode of group 0 (its UNINIT flag, `itable_unused` and
/// bitmap are not believed), the ones in use among them.
fn expect_damaged_descriptor_0(img: Vec<u8>, in_use: &[u32]) {
    let fs = Filesystem::from_bytes(img).unwrap();
    assert!(!fs.groups()[0].checksum_ok());
    let scan = fs.inode_scan().unwrap();
    assert_eq!(scan.damaged.len(), 1, "{:?}", scan.damaged);
    let msg = scan.damaged[0].to_string();
    assert!(
        matches!(scan.damaged[0], Error::Checksum { .. }) && msg.contains("group descriptor 0"),
        "{msg}"
    );
    let ipg = fs.superblock().inodes_per_group;
    let group0: Vec<u32> = scan.inodes.iter().copied().filter(|&i| i <= ipg).collect();
    assert_eq!(group0, (1..=ipg).collect::<Vec<u32>>(), "all of group 0");
    for ino in in_use {
        assert!(scan.inodes.contains(ino), "inode {ino} lost");
    }
}

/// A damaged inode bitmap is reported, and no in-use inode goes missing:
/// the whole group is examined instead.
#[test]
fn damaged_inode_bitmap_loses_no_inode() {
    // 64-byte descriptors hold a 32-bit bitmap checksum, 32-byte ones 16 bits.
    damaged_inode_bitmap_case(EXT4);
    damaged_inode_bitmap_case(&["-t", "ext4", "-b", "1024", "-O", "metadata_csum,^64bit"]);
}

fn damaged_inode_bitmap_case(mkfs: &[&str]) {
    let img = small_image(mkfs);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let good = fs.inode_scan().unwrap();
    assert!(good.damaged.is_empty(), "{:?}", good.damaged);
    let f = lookup(&fs, b"f");
    assert!(good.inodes.contains(&f));
    let bs = u64::from(fs.block_size());
    let ipg = fs.superblock().inodes_per_group;
    let group = (f - 1) / ipg;
    let bit = (f - 1) % ipg;
    let at = (fs.groups()[group as usize].inode_bitmap * bs) as usize + (bit / 8) as usize;
    let mut bad = img.clone();
    bad[at] &= !(1 << (bit % 8)); // "f" marked free

    let fs = Filesystem::from_bytes(bad.clone()).unwrap();
    let scan = fs.inode_scan().unwrap();
    assert_eq!(scan.damaged.len(), 1, "{:?}", scan.damaged);
    let msg = scan.damaged[0].to_string();
    assert!(
        msg.contains(&format!("inode bitmap of group {group}")),
        "{msg}"
    );
    assert!(
        scan.inodes.contains(&f),
        "inode {f} lost with its bitmap bit"
    );
    for ino in &good.inodes {
        assert!(scan.inodes.contains(ino), "inode {ino} lost");
    }
    // The extra inodes listed are free ones, which read as such.
    for ino in scan.inodes.iter().filter(|i| !good.inodes.contains(i)) {
        let inode = fs.inode(*ino).unwrap();
        assert!(
            inode.mode == 0 || inode.links == 0 || inode.dtime != 0,
            "inode {ino} is listed only now but looks in use"
        );
    }
    // Without verification the bitmap is believed, and "f" is gone: what
    // the check is for.
    let fs = Filesystem::from_bytes_with(bad, &NO_VERIFY).unwrap();
    let scan = fs.inode_scan().unwrap();
    assert!(scan.damaged.is_empty());
    assert!(!scan.inodes.contains(&f));
}

#[test]
fn htree_index_checksum_is_verified() {
    let work = TempDir::new("htree");
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("big")).unwrap();
    for i in 0..300 {
        std::fs::write(
            src.join("big")
                .join(format!("a-rather-long-file-name-{i:04}")),
            b"",
        )
        .unwrap();
    }
    let img = build_image(work.path(), &src, EXT4, "4M", "");
    let mut img = std::fs::read(img).unwrap();
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let ino = lookup(&fs, b"big");
    let dir = fs.inode(ino).unwrap();
    assert!(
        dir.flags & fsimage::flags::INDEX != 0,
        "e2fsck -D did not index /big"
    );
    assert_eq!(fs.read_dir(&dir).unwrap().len(), 302);
    // Damage the hash of the second dx entry in the root block.
    let root = fs.data_runs(&dir).unwrap()[0].physical as usize * fs.block_size() as usize;
    img[root + 0x28] ^= 0x55;
    let fs = Filesystem::from_bytes(img).unwrap();
    let err = fs.read_dir(&fs.inode(ino).unwrap()).unwrap_err();
    assert!(
        matches!(err, Error::Checksum { ino: Some(i), .. } if i == ino),
        "{err}"
    );
}

#[test]
fn unknown_incompat_features_are_named() {
    let mut img = small_image(EXT2);
    let incompat = u32::from_le_bytes(img[1024 + 0x60..1024 + 0x64].try_into().unwrap());
    put32(&mut img, 1024 + 0x60, incompat | 0x8000_0000 | 0x10000);
    let err = Filesystem::from_bytes(img).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("encrypt") && msg.contains("unknown(0x80000000)"),
        "{msg}"
    );
}

#[test]
fn extent_tree_loop_is_detected() {
    let mut img = small_image(EXT4);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let bs = fs.block_size() as usize;
    let ino = lookup(&fs, b"f");
    let off = inode_offset(&fs, ino) + 0x28;
    // A block near the end of the filesystem, unused by the tiny tree.
    let b = fs.superblock().blocks_count as usize - 10;
    // Root: index node, depth 2, one entry pointing to block b.
    for (i, v) in [0xF30Au16, 1, 4, 2].iter().enumerate() {
        put16(&mut img, off + 2 * i, *v);
    }
    put32(&mut img, off + 12, 0);
    put32(&mut img, off + 16, b as u32);
    put16(&mut img, off + 20, 0);
    // Block b: index node, depth 1, pointing to itself.
    let bo = b * bs;
    for (i, v) in [0xF30Au16, 1, ((bs - 12) / 12) as u16, 1]
        .iter()
        .enumerate()
    {
        put16(&mut img, bo + 2 * i, *v);
    }
    put32(&mut img, bo + 12, 0);
    put32(&mut img, bo + 16, b as u32);
    let fs = Filesystem::from_bytes_with(img.clone(), &NO_VERIFY).unwrap();
    let inode = fs.inode(ino).unwrap();
    expect_corrupt(fs.data_runs(&inode).unwrap_err(), ino, "loop");

    // Depth that does not decrease by one.
    put16(&mut img, bo + 6, 3);
    let fs = Filesystem::from_bytes_with(img.clone(), &NO_VERIFY).unwrap();
    expect_corrupt(
        fs.data_runs(&fs.inode(ino).unwrap()).unwrap_err(),
        ino,
        "depth",
    );

    // A leaf pointing past the end of the filesystem.
    for (i, v) in [0xF30Au16, 1, 4, 0].iter().enumerate() {
        put16(&mut img, off + 2 * i, *v);
    }
    put32(&mut img, off + 12, 0);
    put16(&mut img, off + 16, 8);
    put16(&mut img, off + 18, 0);
    put32(&mut img, off + 20, fs.superblock().blocks_count as u32 - 2);
    let fs = Filesystem::from_bytes_with(img, &NO_VERIFY).unwrap();
    expect_corrupt(
        fs.data_runs(&fs.inode(ino).unwrap()).unwrap_err(),
        ino,
        "outside the filesystem",
    );
}

#[test]
fn block_map_loop_and_bad_pointers_are_detected() {
    let mut img = small_image(EXT2);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let bs = fs.block_size() as usize;
    let ino = lookup(&fs, b"f");
    let off = inode_offset(&fs, ino);
    // Make the file big enough to reach the double indirect block.
    put32(&mut img, off + 4, 0x0100_0000);
    let b = fs.superblock().blocks_count as usize - 10;
    put32(&mut img, off + 0x28 + 13 * 4, b as u32);
    for i in 0..bs / 4 {
        put32(&mut img, b * bs + 4 * i, b as u32);
    }
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    expect_corrupt(
        fs.data_runs(&fs.inode(ino).unwrap()).unwrap_err(),
        ino,
        "loop",
    );

    // A direct pointer past the end.
    put32(&mut img, off + 0x28, 0xFFFF_FF00);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    expect_corrupt(
        fs.data_runs(&fs.inode(ino).unwrap()).unwrap_err(),
        ino,
        "past the end",
    );

    // An absurd size.
    put32(&mut img, off + 0x6C, 0xFFFF_FFFF);
    let fs = Filesystem::from_bytes(img).unwrap();
    expect_corrupt(
        fs.data_runs(&fs.inode(ino).unwrap()).unwrap_err(),
        ino,
        "size",
    );
}

#[test]
fn bad_directory_records_are_detected() {
    let img = small_image(EXT2);
    let fs = Filesystem::from_bytes(img.clone()).unwrap();
    let bs = fs.block_size() as usize;
    let dino = lookup(&fs, b"d");
    let d = fs.inode(dino).unwrap();
    let blk = fs.data_runs(&d).unwrap()[0].physical as usize;
    for (rec_off, value, needle) in [
        (4usize, 3u16, "record length"),
        (4, 0, "record length"),
        (16, 2000, "record length"),
    ] {
        let mut bad = img.clone();
        put16(&mut bad, blk * bs + rec_off, value);
        let fs = Filesystem::from_bytes(bad).unwrap();
        expect_corrupt(
            fs.read_dir(&fs.inode(dino).unwrap()).unwrap_err(),
            dino,
            needle,
        );
    }
    // An entry pointing beyond the last inode.
    let mut bad = img.clone();
    put32(&mut bad, blk * bs + 24, 0x7FFF_FFFF);
    let fs = Filesystem::from_bytes(bad).unwrap();
    expect_corrupt(
        fs.read_dir(&fs.inode(dino).unwrap()).unwrap_err(),
        dino,
        "beyond the last inode",
    );
}

#[test]
fn out_of_range_inode_numbers_are_errors() {
    let fs = Filesystem::from_bytes(small_image(EXT2)).unwrap();
    assert!(matches!(fs.inode(0), Err(Error::InodeOutOfRange { .. })));
    let max = fs.inode_count();
    assert!(fs.inode(max).is_ok());
    assert!(matches!(
        fs.inode(max + 1),
        Err(Error::InodeOutOfRange { .. })
    ));
}

#[test]
fn truncated_device_is_refused() {
    let img = small_image(EXT2);
    let err = Filesystem::from_bytes(img[..img.len() / 2].to_vec())
        .err()
        .unwrap();
    assert!(matches!(err, Error::BadSuperblock(_)), "{err}");
}

/// Random byte damage in the metadata area: whatever happens, every call
/// returns (an error or a value) without panicking.
#[test]
fn random_damage_never_panics() {
    for (mkfs, seed0) in [(EXT2, 1u64), (EXT4, 1000)] {
        let img = small_image(mkfs);
        let meta_end = 300 * 1024;
        for round in 0..150u64 {
            let mut bad = img.clone();
            let noise = pattern(64, seed0 + round);
            for pair in noise.chunks(4) {
                let pos = (u32::from_le_bytes([pair[0], pair[1], pair[2], 0]) as usize) % meta_end;
                bad[pos] = pair[3];
            }
            exercise(bad);
        }
    }
}

fn exercise(img: Vec<u8>) {
    let Ok(fs) = Filesystem::from_bytes_with(img, &NO_VERIFY) else {
        return;
    };
    let Ok(inos) = fs.allocated_inodes() else {
        return;
    };
    for ino in inos {
        let Ok(inode) = fs.inode(ino) else { continue };
        let _ = fs.read_dir(&inode);
        let _ = fs.xattrs(&inode);
        let _ = fs.symlink_target(&inode);
        let _ = fs.inline_data(&inode);
        if let Ok(runs) = fs.data_runs(&inode) {
            let mut buf = vec![0u8; fs.block_size() as usize];
            for run in runs.iter().take(64) {
                let _ = fs.read_file_blocks(&inode, run, &mut buf);
            }
        }
    }
}

#[test]
fn concurrent_readers_agree() {
    let img = small_image(EXT4);
    let work = TempDir::new("threads");
    let path = work.path().join("img");
    std::fs::write(&path, &img).unwrap();
    let fs = Filesystem::open(Path::new(&path)).unwrap();
    let inos = fs.allocated_inodes().unwrap();
    let read_all = |fs: &Filesystem| -> Vec<(u32, Vec<u8>)> {
        inos.iter()
            .map(|&i| {
                let inode = fs.inode(i).unwrap();
                let data = match inode.file_type() {
                    fsimage::FileType::Regular => common::read_file(fs, &inode),
                    _ => Vec::new(),
                };
                (i, data)
            })
            .collect()
    };
    let expected = read_all(&fs);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| read_all(&fs))).collect();
        for h in handles {
            assert!(h.join().unwrap() == expected);
        }
    });
}
