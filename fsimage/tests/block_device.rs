//! A block device is read with positional reads (not a memory map, where a bad sector
//! would be a SIGBUS): opening the same filesystem through a read-only loop device gives
//! exactly what the image file gives. Needs root for losetup (CI runs as root).

mod common;

use std::process::Command;

use common::{build_image, populate, read_file, require_tool, walk, TempDir};
use fsimage::Filesystem;

/// Detaches the loop device when the test ends, pass or fail.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

#[test]
fn loop_device_reads_like_the_image() {
    require_tool("losetup");
    let work = TempDir::new("blockdev");
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    populate(&src, false);
    let img = build_image(work.path(), &src, &["-t", "ext4", "-b", "1024"], "8M", "");
    let out = Command::new("losetup")
        .args(["-f", "--show", "-r"])
        .arg(&img)
        .output()
        .expect("run losetup");
    assert!(
        out.status.success(),
        "losetup failed (root and loop devices are needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = Loop(String::from_utf8_lossy(&out.stdout).trim().to_string());
    assert!(dev.0.starts_with("/dev/loop"), "{}", dev.0);

    let from_image = Filesystem::open(&img).unwrap();
    let from_device = Filesystem::open(std::path::Path::new(&dev.0)).unwrap();
    assert_eq!(
        from_image.allocated_inodes().unwrap(),
        from_device.allocated_inodes().unwrap()
    );
    let paths = walk(&from_image);
    assert_eq!(paths, walk(&from_device));
    assert!(paths.len() > 5, "{paths:?}");
    for ino in paths.values() {
        let a = from_image.inode(*ino).unwrap();
        let b = from_device.inode(*ino).unwrap();
        assert_eq!(a.raw, b.raw, "inode {ino}");
        if a.file_type() == fsimage::FileType::Regular {
            assert_eq!(
                read_file(&from_image, &a),
                read_file(&from_device, &b),
                "inode {ino}"
            );
        }
    }
}
