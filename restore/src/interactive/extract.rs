//! `extract` and `setmodes`, on top of the extraction code shared with
//! `-x`/`-r` ([`crate::extract`]): the same three steps as `-x` (create
//! the selected directories, one pass over the file records, directory
//! attributes last), driven by the shell's selection.

use std::path::Path;

use crate::catalog::{Catalog, Tape};
use crate::extract::{self, DirHandles, ExtractOptions};
use crate::fsops;
use crate::tree::Selection;
use crate::ui::Ui;

/// How the shell's extraction behaves (from the command line).
#[derive(Debug, Clone, Copy)]
pub struct ShellExtractOptions {
    /// -N.
    pub no_write: bool,
    /// -u.
    pub unlink_first: bool,
    /// -m cleared: leaves are named by inode number.
    pub by_name: bool,
}

fn target_root() -> Result<DirHandles, String> {
    fsops::open_target_root(Path::new("."))
        .map(DirHandles::new)
        .map_err(|e| format!("cannot open the current directory: {e}"))
}

/// Reads the file records of `tape` once and writes every selected inode
/// under every selected name below the current directory, then the
/// directories' attributes (those of `.` only with `set_root_modes`).
/// Returns the problems, one line each (empty when all went well).
pub fn extract_selection(
    catalog: &Catalog,
    mut tape: Tape,
    selection: &Selection,
    opts: ShellExtractOptions,
    set_root_modes: bool,
    ui: &mut Ui,
) -> Result<Vec<String>, String> {
    let mut dirs = target_root()?;
    let xopts = ExtractOptions {
        no_write: opts.no_write,
        unlink_first: opts.unlink_first,
        by_name: opts.by_name,
        set_root_attrs: set_root_modes,
        // restore's setdirmodes sets every directory on the extraction
        // list, existing or not: a directory made by an earlier `extract`
        // and filled by this one gets its dumped times back.
        force_dir_attrs: true,
        held: None,
    };
    let (existed, mut problems) =
        extract::make_directories(catalog, selection, &mut dirs, &xopts, ui);
    ui.verbose("Extract requested files");
    let outcome = extract::extract_files(catalog, selection, &mut tape, &mut dirs, &xopts, ui);
    problems.extend(outcome.failed);
    match outcome.stopped {
        Some(why) => problems.push(format!(
            "extraction stopped: {why}; directory attributes were not set"
        )),
        None => {
            extract::set_directory_attributes(catalog, selection, &mut dirs, &existed, &xopts, ui)
        }
    }
    Ok(problems)
}

/// `setmodes`: sets the attributes of the selected directories that exist
/// below the current directory, `.` included, without reading the tape
/// (restore's `setdirmodes(FORCE)`).
pub fn set_modes(
    catalog: &Catalog,
    selection: &Selection,
    opts: ShellExtractOptions,
    ui: &mut Ui,
) -> Result<(), String> {
    let mut dirs = target_root()?;
    let xopts = ExtractOptions {
        no_write: opts.no_write,
        unlink_first: opts.unlink_first,
        by_name: opts.by_name,
        set_root_attrs: true,
        force_dir_attrs: true,
        held: None,
    };
    extract::set_directory_attributes(
        catalog,
        selection,
        &mut dirs,
        &Default::default(),
        &xopts,
        ui,
    );
    Ok(())
}
