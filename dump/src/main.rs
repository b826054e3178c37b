//! rdump: full and incremental dumps of ext2/ext3/ext4 filesystems in the format of
//! dump 0.4b47, through a parallel read/compress pipeline.
//!
//! Modules, in the order a dump runs through them:
//! - [`cli`]: the command line (getopt and key-letter forms);
//! - [`resolve`]: the filesystem argument to a device and dump's names;
//! - [`plan`]: passes I and II, which inodes go on tape, the estimate;
//! - [`pipeline`]: passes III and IV, threads and ordering;
//! - [`content`]: what goes on tape for each inode;
//! - [`layout`]: the volume header, inode maps and trailer;
//! - [`output`]: the destination; [`report`]: messages and progress;
//! - [`dumpdates`]: the record of dumps made (`-u`);
//! - [`dumper`]: the whole run, with dump's messages and exit statuses.

mod cli;
mod content;
mod dumpdates;
mod dumper;
mod error;
mod layout;
mod output;
mod pipeline;
mod plan;
mod report;
mod resolve;

use cli::Command;

fn main() {
    let status = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::help_text());
            dumper::X_FINOK
        }
        Ok(Command::Version) => {
            println!("rdump {}", env!("CARGO_PKG_VERSION"));
            dumper::X_FINOK
        }
        Ok(Command::Dump(opts)) => dumper::run(*opts),
        Err(e) => {
            eprintln!("rdump: {e}");
            eprintln!("Try 'rdump --help' for more information.");
            dumper::X_STARTUP
        }
    };
    std::process::exit(status)
}
