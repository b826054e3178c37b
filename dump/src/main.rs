//! rdump: level-0 dumps of ext2/ext3/ext4 filesystems in the format of
//! dump 0.4b47, through a parallel read/compress pipeline.

mod cli;
mod output;
mod report;
mod resolve;

fn main() {
    let _ = cli::parse(std::env::args_os().skip(1));
    eprintln!("rdump: not yet implemented");
    std::process::exit(1)
}
