//! Feed arbitrary bytes to fsimage as a filesystem image and read
//! everything reachable: superblock, groups, every allocated inode, its
//! data map and a bounded amount of data, directories, xattrs, symlinks and
//! inline data. Any panic, hang or runaway allocation is a bug.
#![no_main]

use fsimage::{Filesystem, OpenOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Checksums off so the fuzzer reaches the structure parsers instead of
    // stopping at the first crc mismatch.
    let options = OpenOptions {
        verify_checksums: false,
    };
    let Ok(fs) = Filesystem::from_bytes_with(data.to_vec(), &options) else {
        return;
    };
    let Ok(inos) = fs.allocated_inodes() else {
        return;
    };
    let mut buf = vec![0u8; fs.block_size() as usize];
    for ino in inos.into_iter().take(256) {
        let Ok(inode) = fs.inode(ino) else {
            continue;
        };
        let _ = fs.read_dir(&inode);
        let _ = fs.xattrs(&inode);
        let _ = fs.symlink_target(&inode);
        let _ = fs.inline_data(&inode);
        if let Ok(runs) = fs.data_runs(&inode) {
            for run in runs.iter().take(16) {
                let _ = fs.read_file_blocks(&inode, run, &mut buf);
            }
        }
    }
});
