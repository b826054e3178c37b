//! xattr values too large for the inode or an xattr block live in EA
//! inodes (ea_inode feature); also checks an external xattr block.
//! (debugfs `ea_set -f` stores at most one block of value, so 4 KiB is the
//! largest value these tests can create.)

mod common;

use common::{build_image, debugfs_stats, pattern, TempDir};
use fsimage::Filesystem;

#[test]
fn values_in_ea_inodes_and_external_blocks() {
    let work = TempDir::new("ea-inode");
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"data").unwrap();
    std::fs::write(src.join("g"), b"more").unwrap();
    std::fs::write(work.path().join("big.val"), pattern(4096, 7)).unwrap();
    std::fs::write(work.path().join("mid.val"), pattern(1500, 8)).unwrap();
    let script = "ea_set -f big.val /f user.big\n\
                  ea_set -f mid.val /g user.mid\n\
                  ea_set /g trusted.small yes\n";
    let img = build_image(
        work.path(),
        &src,
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-I",
            "256",
            "-O",
            "ea_inode,metadata_csum",
        ],
        "16M",
        script,
    );
    let fs = Filesystem::open(&img).unwrap();
    let root = fs.inode(2).unwrap();
    let entries = fs.read_dir(&root).unwrap();
    let ino_of = |n: &[u8]| entries.iter().find(|e| e.name == n).unwrap().ino;
    let (f, g) = (ino_of(b"f"), ino_of(b"g"));

    let f_inode = fs.inode(f).unwrap();
    let attrs = fs.xattrs(&f_inode).unwrap();
    let big = attrs
        .iter()
        .find(|a| a.full_name() == b"user.big")
        .expect("user.big");
    let want = pattern(4096, 7);
    assert_eq!(big.value.len(), want.len());
    // A 4096-byte value fits neither the inode nor a 4 KiB xattr block, so it
    // must be in an EA inode.
    let ea_inodes: Vec<u32> = fs
        .allocated_inodes()
        .unwrap()
        .into_iter()
        .filter(|&i| fs.inode(i).unwrap().is_ea_inode())
        .collect();
    assert_eq!(ea_inodes.len(), 1, "expected one EA inode");
    let first_diff = big.value.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "user.big differs from what was set");

    // 1500 bytes do not fit in a 256-byte inode: they go to an external block.
    let g_inode = fs.inode(g).unwrap();
    assert_ne!(g_inode.file_acl, 0, "expected an external xattr block");
    let attrs = fs.xattrs(&g_inode).unwrap();
    let names: Vec<Vec<u8>> = attrs.iter().map(|a| a.full_name()).collect();
    assert!(names.contains(&b"user.mid".to_vec()) && names.contains(&b"trusted.small".to_vec()));
    assert!(
        attrs.iter().find(|a| a.name == b"mid").unwrap().value == pattern(1500, 8),
        "user.mid differs"
    );

    // Names and lengths agree with debugfs.
    let stats = debugfs_stats(&img, &[f, g]);
    for ino in [f, g] {
        let ours: Vec<(String, usize)> = fs
            .xattrs(&fs.inode(ino).unwrap())
            .unwrap()
            .iter()
            .map(|x| (String::from_utf8(x.full_name()).unwrap(), x.value.len()))
            .collect();
        assert_eq!(ours, stats[&ino].xattrs, "xattrs of inode {ino}");
    }
}
