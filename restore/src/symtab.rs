//! `restoresymtable`: what `-r` leaves behind for later incremental passes.
//!
//! restore 0.4b47 writes a binary image of its in-memory symbol table; its
//! layout depends on pointer sizes and is not portable, so rrestore writes
//! its own, documented format instead (see rrestore(8)):
//!
//! ```text
//! rrestore-symtab 1\n
//! date <c_date of the dump>\n
//! ddate <c_ddate>\n
//! level <c_level>\n
//! \n
//! then one record per name on the dump, in tree order:
//! <inode> <d|l> <path>\0
//! ```
//!
//! Paths are `./`-relative as `restore -t` prints them; they cannot contain
//! NUL, so NUL ends each record. The file is created with mode 0600.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::catalog::Catalog;
use crate::tree::ROOT_INO;

/// Writes the symbol table of `catalog` to `path`.
pub fn write(catalog: &Catalog, path: &Path) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut out = BufWriter::new(f);
    let v = &catalog.volume;
    write!(
        out,
        "rrestore-symtab 1\ndate {}\nddate {}\nlevel {}\n\n",
        v.date, v.ddate, v.level
    )?;
    let mut result = Ok(());
    catalog.tree.walk(b".", ROOT_INO, |item| {
        if result.is_ok() {
            let kind = if item.is_dir { "d" } else { "l" };
            result = write!(out, "{} {kind} ", item.ino)
                .and_then(|_| out.write_all(item.path))
                .and_then(|_| out.write_all(b"\0"));
        }
        true
    });
    result?;
    out.flush()
}
