//! `-t`: list the names on the dump, byte for byte as restore 0.4b47 does
//! (`%10lu\t%s`, with `dir `/`leaf` in front under -v). Only the directory
//! records are read.

use crate::catalog::Catalog;
use crate::tree::{canon, display_path};
use crate::ui::Ui;

/// restore builds names in a MAXPATHLEN + 1 buffer and skips longer ones.
const MAXPATHLEN: usize = 4096;

/// Lists each requested name (default "."). Returns the number of names
/// that were not on the dump.
pub fn list(catalog: &Catalog, names: &[Vec<u8>], descend: bool, ui: &mut Ui) -> usize {
    let mut missing = 0;
    let mut line = Vec::with_capacity(256);
    for raw in names {
        let name = canon(raw);
        let ino = match catalog.tree.lookup(&name) {
            Ok(ino) => ino,
            Err(e) => {
                ui.err(&e.to_string());
                missing += 1;
                continue;
            }
        };
        if !catalog.is_dumped(ino) {
            ui.err(&format!("{} is not on the tape", display_path(&name)));
            missing += 1;
        }
        catalog.tree.walk(&name, ino, |item| {
            if item.path.len() > MAXPATHLEN {
                ui.err(&format!(
                    "{}: name exceeds {MAXPATHLEN} char",
                    display_path(item.path)
                ));
                return false;
            }
            if catalog.is_dumped(item.ino) {
                line.clear();
                if ui.verbose {
                    line.extend_from_slice(if item.is_dir { b"dir " } else { b"leaf" });
                }
                line.extend_from_slice(format!("{:10}\t", item.ino).as_bytes());
                line.extend_from_slice(item.path);
                line.push(b'\n');
                ui.out_bytes(&line);
            }
            descend
        });
    }
    missing
}
