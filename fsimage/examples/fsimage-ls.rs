//! Walk a filesystem image and print every allocated inode with its data
//! map, directory entries and xattrs. A debugging aid for comparing with
//! `debugfs`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: fsimage-ls IMAGE")?
        .into();
    let fs = fsimage::Filesystem::open(&path)?;
    let sb = fs.superblock();
    println!(
        "block size {} blocks {} inodes {} groups {}",
        sb.block_size,
        sb.blocks_count,
        sb.inodes_count,
        fs.groups().len()
    );
    for ino in fs.allocated_inodes()? {
        let inode = match fs.inode(ino) {
            Ok(i) => i,
            Err(e) => {
                println!("{ino}: {e}");
                continue;
            }
        };
        println!(
            "{ino}: mode {:o} uid {} gid {} size {} links {} flags {:#x} mtime {}.{:09}",
            inode.mode,
            inode.uid,
            inode.gid,
            inode.size,
            inode.links,
            inode.flags,
            inode.mtime.sec,
            inode.mtime.nsec
        );
        match fs.data_runs(&inode) {
            Ok(runs) => {
                for r in runs {
                    println!("    run {:?}", r);
                }
            }
            Err(e) => println!("    runs: {e}"),
        }
        if inode.file_type() == fsimage::FileType::Directory {
            match fs.read_dir(&inode) {
                Ok(entries) => {
                    for e in entries {
                        println!(
                            "    entry {} {} type {}",
                            e.ino,
                            String::from_utf8_lossy(&e.name),
                            e.file_type
                        );
                    }
                }
                Err(e) => println!("    read_dir: {e}"),
            }
        }
        match fs.xattrs(&inode) {
            Ok(attrs) => {
                for a in attrs {
                    println!(
                        "    xattr {} = {} bytes",
                        String::from_utf8_lossy(&a.full_name()),
                        a.value.len()
                    );
                }
            }
            Err(e) => println!("    xattrs: {e}"),
        }
    }
    Ok(())
}
