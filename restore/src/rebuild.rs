//! `rrestore -r` as one call, for programs (rrecover) that hold the dump as a
//! stream and know the target directory: the same steps and messages as the
//! `-r` of the command line, with the target given instead of the current
//! directory.

use std::io::Read;
use std::path::Path;

use crate::{catalog, extract, fsops, incremental, symtab, tree, ui::Ui};

/// What a rebuild restored.
#[derive(Debug)]
pub struct Rebuilt {
    /// The dump's level (0, or the incremental's).
    pub level: u32,
    /// Inodes written.
    pub restored: u64,
}

/// Restores the dump read from `input` into `target` like `rrestore -r`: a
/// level 0 into an empty filesystem, an incremental where an earlier rebuild
/// left its `restoresymtable`. Any file not restored is an error.
pub fn rebuild(input: Box<dyn Read>, target: &Path, ui: &mut Ui) -> Result<Rebuilt, String> {
    let reader = catalog::start(input).map_err(|e| e.to_string())?;
    let (mut catalog, mut tape) = catalog::read_catalog(reader, ui).map_err(|e| e.to_string())?;
    let incremental = catalog.volume.ddate != 0;
    let held = if incremental {
        Some(std::sync::Arc::new(incremental::prepare(
            &mut catalog,
            target,
            ui,
        )?))
    } else {
        None
    };
    let catalog = &catalog;
    let mut selection = tree::Selection::new();
    let dumped = |ino: u32| catalog.is_dumped(ino);
    selection
        .add_path(&catalog.tree, b".", true, &dumped)
        .map_err(|e| e.to_string())?;
    let root = fsops::open_target_root(target)
        .map_err(|e| format!("cannot open {}: {e}", target.display()))?;
    let mut dirs = extract::DirHandles::new(root);
    let mut xopts = extract::ExtractOptions {
        no_write: false,
        unlink_first: incremental,
        by_name: true,
        set_root_attrs: false,
        force_dir_attrs: true,
        held,
    };
    let (existed, mut failed) =
        extract::make_directories(catalog, &selection, &mut dirs, &xopts, ui);
    let mut outcome = extract::extract_files(catalog, &selection, &mut tape, &mut dirs, &xopts, ui);
    failed.append(&mut outcome.failed);
    if let Some(why) = &outcome.stopped {
        return Err(format!(
            "restore into {} stopped: {why} ({} files restored)",
            target.display(),
            outcome.restored
        ));
    }
    if incremental {
        xopts.held = None;
        incremental::finish(target)?;
    }
    symtab::write(catalog, &target.join("restoresymtable"))
        .map_err(|e| format!("cannot write restoresymtable: {e}"))?;
    // -r sets the attributes of `.` too (the dump's root is the target's).
    xopts.set_root_attrs = selection.contains(tree::ROOT_INO);
    extract::set_directory_attributes(catalog, &selection, &mut dirs, &existed, &xopts, ui);
    if !failed.is_empty() || outcome.missing > 0 || catalog.damaged.is_some() {
        return Err(format!(
            "restore into {} incomplete: {} names not restored ({}), {} files not on the dump{}",
            target.display(),
            failed.len(),
            failed
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            outcome.missing,
            if catalog.damaged.is_some() {
                ", the dump is damaged"
            } else {
                ""
            }
        ));
    }
    Ok(Rebuilt {
        level: u32::try_from(catalog.volume.level).unwrap_or(0),
        restored: outcome.restored,
    })
}
