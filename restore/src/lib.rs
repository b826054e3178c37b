//! rrestore as a library: the `rrestore` binary and `rrecover` use it.
//! See rrestore(8) (restore/rrestore.8) for the command line.

pub mod catalog;
pub mod cli;
pub mod compare;
pub mod extract;
pub mod fsops;
pub mod incremental;
pub mod interactive;
pub mod list;
pub mod meta;
pub mod parts;
pub mod qfa;
pub mod rebuild;
pub mod symtab;
pub mod toc;
pub mod tree;
pub mod ui;
pub mod volumes;
pub mod writer;
