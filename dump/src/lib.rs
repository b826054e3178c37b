//! rdump as a library (the `rdump` binary and `rrecover` use it): full and incremental dumps of ext2/ext3/ext4 filesystems in the format of
//! dump 0.4b47, through a parallel read/compress pipeline.
//!
//! Modules, in the order a dump runs through them:
//! - [`cli`]: the command line (getopt and key-letter forms);
//! - [`resolve`]: the filesystem argument to a device and dump's names;
//! - [`plan`]: passes I and II, which inodes go on tape, the estimate;
//! - [`pipeline`]: passes III and IV, threads and ordering;
//! - [`content`]: what goes on tape for each inode;
//! - [`layout`]: the volume header, inode maps and trailer;
//! - [`output`]: the destination; [`toc`]: the `-A` table of contents; [`report`]: messages and progress;
//! - [`dumpdates`]: the record of dumps made (`-u`); [`lastdump`]: its report (`-W`, `-w`);
//! - [`dumper`]: the whole run, with dump's messages and exit statuses.

pub mod cli;
pub mod content;
pub mod dumpdates;
pub mod dumper;
pub mod error;
pub mod lastdump;
pub mod layout;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod qfa;
pub mod report;
pub mod resolve;
pub mod toc;
pub mod volumes;
