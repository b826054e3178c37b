//! The errors that end a dump. Each names what failed (inode, file, device).
//! Problems a dump survives (an unreadable data block, unreadable xattrs)
//! are reported as messages instead; [`DumpError::Inode`] from the work on
//! one inode is turned into such a message by the pipeline, which leaves
//! the inode out and goes on.

use thiserror::Error;

use crate::output::OutputError;

#[derive(Debug, Error)]
pub enum DumpError {
    /// Scanning the inode tables failed (pass I).
    #[error("while scanning inodes: {0}")]
    Scan(#[source] fsimage::Error),
    /// The root inode is not a directory: nothing restore could use.
    #[error("the root inode (2) is not a directory (mode {mode:o})")]
    RootNotDirectory { mode: u16 },
    /// An inode's metadata (block map, directory) could not be read.
    #[error("inode {ino}: {source}")]
    Inode {
        ino: u32,
        #[source]
        source: fsimage::Error,
    },
    /// Compressing a record failed.
    #[error("while compressing record {record}: {reason}")]
    Compress { record: u64, reason: String },
    /// Writing the dump failed (full disk, closed pipe, ...).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A volume change ended the dump (no next volume, the -F script).
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    /// Writing the `-A` table of contents failed.
    #[error(transparent)]
    Toc(#[from] crate::toc::TocError),
    /// Writing the `-Q` positions failed.
    #[error("cannot write the QFA file {path}: {source}")]
    Qfa {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A pipeline thread stopped because another one failed first.
    #[error("cancelled")]
    Cancelled,
    /// The packer's bookkeeping of compressed sizes went wrong (a bug).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A pipeline thread panicked (a bug).
    #[error("internal error: the {0} thread panicked")]
    ThreadPanicked(&'static str),
}
