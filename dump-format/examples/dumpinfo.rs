//! Prints the items of a dump stream, one line each: a debugging aid for the format.
//!
//! Usage: `cargo run -p dump-format --example dumpinfo -- FILE|-`

use std::io::Read;

use dump_format::{Item, Segment, TapeReader};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "-".into());
    let input: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&path) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
    };
    let mut r = match TapeReader::new(input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let v = r.volume().clone();
    println!(
        "volume: order {:?} compressed {} ntrec {} flags {:#x} level {} date {} label {:?} filesys {:?} dev {:?} host {:?}",
        r.byte_order(),
        r.is_compressed(),
        v.ntrec,
        v.flags,
        v.level,
        v.date,
        v.label_str(),
        v.filesys_str(),
        v.dev_str(),
        v.host_str()
    );
    loop {
        let item = match r.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        };
        match item {
            Item::Inode(h) => {
                let mut data = 0u64;
                let mut holes = 0u64;
                loop {
                    match r.next_segment() {
                        Ok(Some(Segment::Data { bytes, .. })) => data += bytes.len() as u64,
                        Ok(Some(Segment::Hole { len, .. })) => holes += len,
                        Ok(None) => break,
                        Err(e) => {
                            eprintln!("{path}: inode {}: {e}", h.inumber);
                            std::process::exit(2);
                        }
                    }
                }
                println!(
                    "inode {} tapea {} mode {:o} size {} nlink {} uid {} gid {} mtime {}.{:06} xattr {} ext {} data {} holes {}",
                    h.inumber,
                    h.tapea,
                    h.inode.mode,
                    h.inode.size,
                    h.inode.nlink,
                    h.inode.uid,
                    h.inode.gid,
                    h.inode.mtime.sec,
                    h.inode.mtime.usec,
                    h.is_xattr(),
                    h.extension().is_some(),
                    data,
                    holes
                );
            }
            Item::Bitmap { kind, header, map } => {
                println!(
                    "{} tapea {} count {} inodes {}",
                    kind.name(),
                    header.tapea,
                    header.count,
                    map.len()
                )
            }
            Item::End(h) => println!("end tapea {}", h.tapea),
            Item::Resync {
                skipped_blocks,
                at_block,
            } => {
                println!("resync: skipped {skipped_blocks} blocks at block {at_block}")
            }
            Item::Volume(h) => println!("volume header {}", h.volume),
        }
        for w in r.take_warnings() {
            println!("warning: {w}");
        }
    }
    println!("blocks read {}", r.blocks_read());
}
