//! Build real ext2/ext3/ext4 images with mke2fs and debugfs and check that
//! fsimage reads every file like ext4-view (an independent reader), like
//! the source tree it was built from, and like `debugfs stat`.

mod common;

use std::path::Path;

use common::{
    build_image, check_against_debugfs, check_against_ext4_view, check_against_source, pattern,
    populate, walk, TempDir,
};
use fsimage::{flags, FileType, Filesystem, RunKind};

/// debugfs script adding what mke2fs -d cannot: device nodes (old and new
/// encodings), a fifo, xattrs, owners, timestamps past 2038 with
/// nanoseconds, the nodump flag, and an unwritten extent when `extents`.
fn debugfs_script(extents: bool, inline: bool) -> String {
    // Keep the flags that say how one.txt's data is stored.
    let base = if inline {
        flags::INLINE_DATA
    } else if extents {
        flags::EXTENTS
    } else {
        0
    };
    let mut s = String::new();
    s += "mknod fifo p\n";
    s += "mknod cdev c 4 5\n";
    s += "mknod bdev b 8 1\n";
    // New encoding: major 837, minor 4711.
    s += "set_inode_field /bdev block[0] 0\n";
    s += "set_inode_field /bdev block[1] 0x1234567\n";
    s += "ea_set /hello.txt user.comment hello\n";
    s += "ea_set /hello.txt trusted.t 12345\n";
    s += "ea_set -f xattr.bin /hello.txt user.binary\n";
    s += "ea_set -f acl.bin /hello.txt system.posix_acl_access\n";
    s += "ea_set -f acl.bin /dir system.posix_acl_default\n";
    s += "ea_set /one.txt security.selinux system_u:object_r:etc_t:s0\n";
    s += "set_inode_field /one.txt uid 100000\n";
    s += "set_inode_field /one.txt gid 70000\n";
    // 0x7fffffff + epoch 1 => 2^32 + 2^31 - 1 seconds; 123456789 ns.
    s += "set_inode_field /one.txt mtime 0x7fffffff\n";
    s += &format!(
        "set_inode_field /one.txt mtime_extra {:#x}\n",
        (123_456_789u32 << 2) | 1
    );
    s += &format!(
        "set_inode_field /one.txt flags {:#x}\n",
        flags::NODUMP | base
    );
    if extents {
        s += "fallocate /prealloc.bin 0 2\n";
    }
    s
}

/// A POSIX ACL in the xattr (user-visible) format; debugfs stores it in
/// ext4's compact on-disk format.
fn write_inputs(work: &Path) {
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm) in [(1u16, 6u16), (4, 4), (0x20, 4)] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&u32::MAX.to_le_bytes());
    }
    std::fs::write(work.join("acl.bin"), acl).unwrap();
    std::fs::write(work.join("xattr.bin"), pattern(300, 9)).unwrap();
}

struct Flavour<'a> {
    name: &'a str,
    mkfs: &'a [&'a str],
    size: &'a str,
    extents: bool,
    big_sparse: bool,
    ext4_view: bool,
}

fn check_flavour(f: Flavour<'_>) {
    let work = TempDir::new(f.name);
    let src = work.path().join("src");
    populate(&src, f.big_sparse);
    write_inputs(work.path());
    let img = build_image(
        work.path(),
        &src,
        f.mkfs,
        f.size,
        &debugfs_script(f.extents, f.mkfs.iter().any(|a| a.contains(",inline_data"))),
    );
    let fs = Filesystem::open(&img).unwrap();
    let paths = walk(&fs);
    check_against_source(&fs, &src, &paths);
    if f.ext4_view {
        check_against_ext4_view(&fs, &img, &paths);
    }
    check_against_debugfs(&fs, &img);
    check_debugfs_edits(&fs, &paths, f.extents);

    // The big directory must have been indexed by e2fsck -D, so the htree
    // path is exercised, and must list all its entries.
    let many = fs.inode(paths[Path::new("many")]).unwrap();
    assert!(
        many.flags & flags::INDEX != 0,
        "{}: /many is not an htree directory",
        f.name
    );
    assert_eq!(fs.read_dir(&many).unwrap().len(), 402);

    // allocated_inodes agrees with the tree: every reachable inode is in
    // use, and it is sorted; every inode bitmap passes its checksum, and
    // the count is the superblock's.
    let scan = fs.inode_scan().unwrap();
    assert!(scan.damaged.is_empty(), "{}: {:?}", f.name, scan.damaged);
    let sb = fs.superblock();
    assert_eq!(
        scan.inodes.len() as u64,
        u64::from(sb.inodes_count - sb.free_inodes_count),
        "{}: inodes in use",
        f.name
    );
    let alloc = scan.inodes;
    assert!(alloc.windows(2).all(|w| w[0] < w[1]));
    for (p, ino) in &paths {
        assert!(
            alloc.binary_search(ino).is_ok(),
            "{p:?} (inode {ino}) not in allocated_inodes"
        );
    }
}

/// Check the values the debugfs script set.
fn check_debugfs_edits(
    fs: &Filesystem,
    paths: &std::collections::BTreeMap<std::path::PathBuf, u32>,
    extents: bool,
) {
    let get = |p: &str| fs.inode(paths[Path::new(p)]).unwrap();
    let one = get("one.txt");
    assert_eq!((one.uid, one.gid), (100_000, 70_000));
    assert!(one.is_nodump());
    if one.extra_isize >= 8 {
        assert_eq!(one.mtime.sec, (1i64 << 32) + 0x7fff_ffff, "mtime past 2038");
        assert_eq!(one.mtime.nsec, 123_456_789);
    } else {
        // 128-byte inodes have no epoch bits.
        assert_eq!(one.mtime.sec, 0x7fff_ffff);
    }
    let cdev = get("cdev");
    assert_eq!(cdev.file_type(), FileType::CharDevice);
    assert_eq!(cdev.rdev, Some((4, 5)));
    let bdev = get("bdev");
    assert_eq!(bdev.file_type(), FileType::BlockDevice);
    assert_eq!(bdev.rdev, Some((837, 4711)));
    assert_eq!(get("fifo").file_type(), FileType::Fifo);
    assert!(fs.data_runs(&cdev).unwrap().is_empty());

    let hello = get("hello.txt");
    let attrs = fs.xattrs(&hello).unwrap();
    let find = |name: &[u8]| {
        attrs
            .iter()
            .find(|a| a.full_name() == name)
            .unwrap_or_else(|| panic!("xattr {} missing", String::from_utf8_lossy(name)))
            .value
            .clone()
    };
    assert_eq!(find(b"user.comment"), b"hello");
    assert_eq!(find(b"trusted.t"), b"12345");
    assert_eq!(find(b"user.binary"), pattern(300, 9));
    // ext4 on-disk ACL: version 1, then short entries for the *_OBJ tags.
    assert_eq!(
        find(b"system.posix_acl_access"),
        [1, 0, 0, 0, 1, 0, 6, 0, 4, 0, 4, 0, 0x20, 0, 4, 0]
    );
    let dir_attrs = fs.xattrs(&get("dir")).unwrap();
    assert!(dir_attrs
        .iter()
        .any(|a| a.full_name() == b"system.posix_acl_default"));
    let one_attrs = fs.xattrs(&one).unwrap();
    assert!(one_attrs
        .iter()
        .any(|a| a.full_name() == b"security.selinux"));

    if extents {
        let runs = fs.data_runs(&get("prealloc.bin")).unwrap();
        assert!(
            runs.iter().any(|r| r.kind == RunKind::Unwritten),
            "no unwritten run in {runs:?}"
        );
    }
    // Holes are explicit.
    let sparse = fs.data_runs(&get("sparse.bin")).unwrap();
    assert!(sparse.iter().filter(|r| r.kind == RunKind::Hole).count() >= 2);
}

#[test]
fn ext2_1k_blocks_128_byte_inodes() {
    check_flavour(Flavour {
        name: "ext2",
        mkfs: &["-t", "ext2", "-b", "1024", "-I", "128"],
        size: "16M",
        extents: false,
        big_sparse: true,
        ext4_view: true,
    });
}

#[test]
fn ext3_4k_blocks() {
    check_flavour(Flavour {
        name: "ext3",
        mkfs: &["-t", "ext3", "-b", "4096"],
        size: "32M",
        extents: false,
        big_sparse: false,
        ext4_view: true,
    });
}

#[test]
fn ext4_1k_64bit_metadata_csum_huge_file() {
    check_flavour(Flavour {
        name: "ext4-1k",
        mkfs: &[
            "-t",
            "ext4",
            "-b",
            "1024",
            "-O",
            "64bit,metadata_csum,huge_file,^inline_data",
        ],
        size: "16M",
        extents: true,
        big_sparse: true,
        ext4_view: true,
    });
}

#[test]
fn ext4_4k_64bit_metadata_csum_inline_data() {
    // ext4-view does not read inline_data; the source tree and debugfs
    // remain the oracles.
    check_flavour(Flavour {
        name: "ext4-inline",
        mkfs: &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-O",
            "64bit,metadata_csum,huge_file,inline_data",
        ],
        size: "32M",
        extents: true,
        big_sparse: false,
        ext4_view: false,
    });
}

#[test]
fn ext4_uninit_bg_crc16_descriptors_64bit() {
    // gdt_csum without metadata_csum: descriptors carry a CRC16, which
    // opening verifies.
    check_flavour(Flavour {
        name: "ext4-uninit-bg",
        mkfs: &[
            "-t",
            "ext4",
            "-b",
            "1024",
            "-O",
            "64bit,^metadata_csum,uninit_bg,^inline_data",
        ],
        size: "32M",
        extents: true,
        big_sparse: false,
        ext4_view: true,
    });
}

#[test]
fn ext4_meta_bg_flex_bg_many_groups() {
    // 1 KiB blocks and 64 MiB give 8 groups; meta_bg moves descriptors.
    check_flavour(Flavour {
        name: "ext4-metabg",
        mkfs: &[
            "-t",
            "ext4",
            "-b",
            "1024",
            "-O",
            "meta_bg,^resize_inode,flex_bg",
            "-G",
            "4",
        ],
        size: "64M",
        extents: true,
        big_sparse: false,
        ext4_view: false,
    });
}
