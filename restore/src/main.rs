//! rrestore: restores files from dumps written by rdump or dump 0.4b47.
//! See rrestore(8) (restore/rrestore.8) for the command line.

use rrestore::{
    catalog, cli, compare, extract, fsops, incremental, interactive, list, symtab, tree, ui,
};
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

use cli::{FileList, Input, Mode, Options};
use ui::Ui;

fn progname() -> String {
    std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "rrestore".into())
}

/// A failure that ends the run: printed as `rrestore: message`.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

/// The names to work on: operands, then the -X list (restore's NEXTFILE).
fn requested_names(opts: &Options) -> Result<Vec<Vec<u8>>, Fatal> {
    let mut names: Vec<Vec<u8>> = opts.files.iter().cloned().map(|f| f.into_vec()).collect();
    if let Some(list) = &opts.file_list {
        let reader: Box<dyn BufRead> = match list {
            FileList::Stdin => Box::new(std::io::stdin().lock()),
            FileList::Path(p) => Box::new(std::io::BufReader::new(
                std::fs::File::open(p).map_err(|e| {
                    Fatal(format!(
                        "can't open file for reading -- {}: {e}",
                        p.display()
                    ))
                })?,
            )),
        };
        for line in reader.split(b'\n') {
            let line = line?;
            if !line.is_empty() {
                names.push(line);
            }
        }
    }
    if names.is_empty() {
        names.push(b".".to_vec());
    }
    Ok(names)
}

/// `-Q file`: the QFA positions of this dump, for the seeks of -x and -i's
/// extract. A file of another dump is refused; on an input that cannot
/// seek (a pipe, a set of volumes) they are of no use and said so.
fn use_positions(
    path: &std::path::Path,
    tape: &mut catalog::Tape,
    ui: &mut Ui,
) -> Result<(), Fatal> {
    ui.err(&format!("reading QFA positions from {}", path.display()));
    let positions = rrestore::qfa::Positions::read(path).map_err(Fatal)?;
    let date = i64::from(tape.reader.volume().date);
    if positions.date != date {
        return Err(Fatal(format!(
            "{}: the QFA file is of the dump of {}, not of this one ({})",
            path.display(),
            rrestore::ui::ctime(positions.date).trim_end(),
            rrestore::ui::ctime(date).trim_end()
        )));
    }
    if !tape.reader.can_seek() {
        ui.verbose("The input cannot seek: the QFA positions are not used");
        return Ok(());
    }
    tape.reader.set_positions(positions.in_volume(1));
    Ok(())
}

fn run(opts: &Options, ui: &mut Ui) -> Result<ExitCode, Fatal> {
    let names = requested_names(opts)?;
    ui.verbose("Verify tape and initialize maps");
    let reader = catalog::open_reader(&opts.input)?;
    if let Some(host) = catalog::remote_host(&opts.input) {
        // restore's rmtlib says so once the server answered.
        ui.err(&format!("Connection to {host} established."));
    }
    ui.verbose(if catalog::is_remote(&opts.input) {
        "Input is from a remote file/pipe"
    } else {
        "Input is from a local file/pipe"
    });
    if reader.byte_order() == dump_format::ByteOrder::Big {
        ui.verbose("Note: Doing Byte swapping");
    }
    let block_size = if reader.is_compressed() {
        reader.volume().ntrec as usize
    } else {
        opts.block_size.unwrap_or(32)
    };
    ui.verbose(&format!("Input block size is {block_size}"));
    if reader.is_compressed() {
        ui.err("Dump tape is compressed.");
    }
    if opts.verbose || matches!(opts.mode, Mode::List | Mode::Compare) {
        for line in ui::dump_info(reader.volume()) {
            ui.out(&line);
        }
        if let Some(toc) = &opts.archive {
            let lines = rrestore::toc::volume_lines(toc)
                .map_err(|e| Fatal(format!("{}: {e}", toc.display())))?;
            for line in lines {
                ui.out(&line);
            }
        }
    }
    if reader.volume().volume != 1 {
        // restore refuses; the synthetic archives of the corpus say volume
        // 0 and are otherwise readable, so read on.
        ui.warn(&format!(
            "warning: the dump says it is volume {}, not volume 1; reading it anyway",
            reader.volume().volume
        ));
    }
    let (mut catalog, mut tape) = catalog::read_catalog(reader, ui)?;
    // -x reads only the records of what it extracts when the input can seek.
    tape.seek = opts.mode == Mode::Extract;
    if let Some(path) = &opts.qfa {
        use_positions(path, &mut tape, ui)?;
    }
    for w in &catalog.tree_warnings {
        ui.warn(&w.to_string());
    }
    if ui.debug {
        ui.out(&format!(
            "maxino = {}",
            catalog.dumped.capacity() as u64 + 1
        ));
    }
    ui.verbose("Initialize symbol table.");
    match opts.mode {
        Mode::List => {
            list::list(&catalog, &names, opts.descend, ui);
            drop(tape);
            Ok(if catalog.damaged.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Mode::Extract | Mode::Rebuild => {
            let result = restore_files(opts, &names, &mut catalog, tape, ui);
            // Not after a fatal error: the input may not be a dump at all.
            if result.is_ok() && opts.mode == Mode::Extract && opts.input == Input::Stdin {
                drain_stdin(ui);
            }
            result
        }
        Mode::Interactive => {
            interactive::run(opts, catalog, tape, &progname(), ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Mode::Compare => compare_tree(opts, &catalog, tape, ui),
        Mode::Positions => write_positions(opts, &names, &catalog, tape, ui),
    }
}

/// The selection of the names asked for (-x, -P); names not on the dump are
/// reported and counted.
fn select_names(
    names: &[Vec<u8>],
    descend: bool,
    catalog: &catalog::Catalog,
    ui: &mut Ui,
) -> Result<(tree::Selection, usize), Fatal> {
    let mut selection = tree::Selection::new();
    let dumped = |ino: u32| catalog.is_dumped(ino);
    let mut missing = 0;
    for raw in names {
        let name = tree::canon(raw);
        match catalog.tree.lookup(&name) {
            Ok(ino) if catalog.is_dumped(ino) => selection
                .add_path(&catalog.tree, &name, descend, &dumped)
                .map_err(|e| Fatal(e.to_string()))?,
            Ok(_) => {
                ui.err(&format!("{} is not on the tape", tree::display_path(&name)));
                missing += 1;
            }
            Err(e) => {
                ui.err(&e.to_string());
                missing += 1;
            }
        }
    }
    Ok((selection, missing))
}

/// -P file: reads the dump through and writes the QFA positions of the
/// named files (all by default) as dump -Q writes them: the record where
/// each file's header starts, the first file of each record. restore
/// 0.4b47's -P gives the offsets of its own 32 KiB reads instead, which
/// only it can use; these serve rrestore -Q and restore -Q alike.
fn write_positions(
    opts: &Options,
    names: &[Vec<u8>],
    catalog: &catalog::Catalog,
    mut tape: catalog::Tape,
    ui: &mut Ui,
) -> Result<ExitCode, Fatal> {
    use dump_format::header::mode::{S_IFDIR, S_IFMT, S_IFSOCK};
    use dump_format::Item;
    if matches!(opts.input, Input::Volumes(_)) {
        return Err(Fatal(
            "-P reads one dump file; the positions of a set of volumes come from dump -Q".into(),
        ));
    }
    let path = opts.positions_out.clone().unwrap_or_default();
    let (selection, missing) = select_names(names, opts.descend, catalog, ui)?;
    ui.err(&format!("writing QFA positions to {}", path.display()));
    let date = i64::from(catalog.volume.date);
    let mut out = rrestore::qfa::Writer::create(&path, date).map_err(Fatal)?;
    let mut last_record = None;
    let mut next = tape.pending.take();
    loop {
        let item = match next.take() {
            Some(i) => i,
            None => match tape.reader.next_item() {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(e) => return Err(Fatal(format!("error reading the dump: {e}"))),
            },
        };
        for w in tape.reader.take_warnings() {
            ui.warn(&w);
        }
        match item {
            Item::Inode(h) if !h.is_extattr() => {
                let kind = h.inode.mode & S_IFMT;
                let Some(record) = tape.reader.record_of_last_header() else {
                    continue;
                };
                if kind != S_IFDIR
                    && kind != S_IFSOCK
                    && selection.contains(h.inumber)
                    && last_record != Some(record)
                {
                    last_record = Some(record);
                    out.entry(h.inumber, 1, record).map_err(Fatal)?;
                }
            }
            Item::End(_) => break,
            _ => {}
        }
    }
    out.finish().map_err(Fatal)?;
    Ok(if missing > 0 || catalog.damaged.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads the rest of a dump piped to -x and throws it away. restore 0.4b47
/// exits as soon as it has the files asked for, and the writer of the pipe
/// gets EPIPE: amrecover 3.5.1 (which pipes the dump into `restore xbf 2 -`)
/// then dies of a segmentation fault. Reading to the end costs the time to
/// read the dump, in constant memory.
fn drain_stdin(ui: &mut Ui) {
    if let Err(e) = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink()) {
        ui.warn(&format!(
            "warning: reading the rest of the dump on standard input: {e}"
        ));
    }
}

/// -C: compare with the tree at -D (default: the dumped filesystem).
fn compare_tree(
    opts: &Options,
    catalog: &catalog::Catalog,
    mut tape: catalog::Tape,
    ui: &mut Ui,
) -> Result<ExitCode, Fatal> {
    let base = match &opts.compare_dir {
        Some(d) => d.clone(),
        None => {
            let fs = catalog.volume.filesys_str();
            let fs = fs.split(" (dir").next().unwrap_or("").to_string();
            std::path::PathBuf::from(fs)
        }
    };
    ui.out(&format!("filesys = {}", base.display()));
    let root = fsops::open_target_root(&base)
        .map_err(|e| Fatal(format!("cannot stat directory {}: {e}", base.display())))?;
    let mut dirs = extract::DirHandles::new(root);
    let mut diffs = compare::Differences::new(opts.compare_limit);
    let result = compare::compare(catalog, &mut tape, &mut dirs, ui, &mut diffs);
    if result.is_err() {
        ui.out("Compare errors limit reached, exiting...");
        return Ok(ExitCode::from(2));
    }
    if let Ok(Some(e)) = &result {
        ui.err(&format!("rrestore: error reading the dump: {e}"));
    }
    if diffs.count > 0 {
        ui.out(&format!(
            "Some files were modified!  {} compare errors",
            diffs.count
        ));
        return Ok(ExitCode::from(2));
    }
    if matches!(result, Ok(Some(_))) || catalog.damaged.is_some() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Decides whether the attributes of `.` are set in -x mode: -o says yes;
/// otherwise ask on a terminal (restore's question); without one, no.
fn set_dot_attrs(opts: &Options, ui: &mut Ui) -> bool {
    if opts.force_dot_mode || opts.mode == Mode::Rebuild {
        return true;
    }
    if ui::can_prompt(opts.input == Input::Stdin) {
        ui.flush();
        return ui::ask("set owner/mode for '.'");
    }
    ui.warn(
        "standard input is not a terminal: not asking whether to set owner/mode for '.' (not set; use -o to set them)",
    );
    false
}

/// -x and -r.
fn restore_files(
    opts: &Options,
    names: &[Vec<u8>],
    catalog: &mut catalog::Catalog,
    mut tape: catalog::Tape,
    ui: &mut Ui,
) -> Result<ExitCode, Fatal> {
    let incremental = opts.mode == Mode::Rebuild && catalog.volume.ddate != 0;
    let mut held = None;
    if incremental {
        if opts.no_write {
            return Err(Fatal(
                "-N with -r of an incremental dump is not supported".to_string(),
            ));
        }
        ui.verbose(&format!(
            "Begin incremental restore (level {})",
            catalog.volume.level
        ));
        held = Some(std::sync::Arc::new(
            incremental::prepare(catalog, std::path::Path::new("."), ui).map_err(Fatal)?,
        ));
    }
    let catalog = &*catalog;
    let mut selection = tree::Selection::new();
    let dumped = |ino: u32| catalog.is_dumped(ino);
    let mut missing_names = 0;
    if opts.mode == Mode::Rebuild {
        if !incremental {
            ui.verbose("Begin level 0 restore");
        }
        ui.verbose("Calculate extraction list.");
        selection
            .add_path(&catalog.tree, b".", true, &dumped)
            .map_err(|e| Fatal(e.to_string()))?;
    } else {
        (selection, missing_names) = select_names(names, opts.descend, catalog, ui)?;
    }
    let root = fsops::open_target_root(std::path::Path::new("."))
        .map_err(|e| Fatal(format!("cannot open the current directory: {e}")))?;
    let mut dirs = extract::DirHandles::new(root);
    let mut xopts = extract::ExtractOptions {
        no_write: opts.no_write,
        // An incremental pass replaces what changed; the names it needs
        // were cleared by `incremental::prepare`, and directories exist.
        unlink_first: opts.unlink_first || incremental,
        by_name: opts.by_name,
        set_root_attrs: false,
        force_dir_attrs: opts.mode == Mode::Rebuild || opts.force_dot_mode,
        held,
    };
    let (existed, mut failed) =
        extract::make_directories(catalog, &selection, &mut dirs, &xopts, ui);
    ui.verbose(if opts.mode == Mode::Rebuild {
        "Extract new leaves."
    } else {
        "Extract requested files"
    });
    let mut outcome = extract::extract_files(catalog, &selection, &mut tape, &mut dirs, &xopts, ui);
    failed.append(&mut outcome.failed);
    if outcome.stopped.is_none() {
        if selection.contains(tree::ROOT_INO) && opts.by_name && !opts.no_write {
            xopts.set_root_attrs = set_dot_attrs(opts, ui);
        }
        if xopts.held.take().is_some() {
            incremental::finish(std::path::Path::new(".")).map_err(Fatal)?;
        }
        // Before the directory attributes, so writing it does not change
        // the restored mtime of `.`.
        if opts.mode == Mode::Rebuild && !opts.no_write {
            symtab::write(catalog, std::path::Path::new("restoresymtable"))
                .map_err(|e| Fatal(format!("cannot write restoresymtable: {e}")))?;
        }
        extract::set_directory_attributes(catalog, &selection, &mut dirs, &existed, &xopts, ui);
    }
    let leaves = selection
        .inodes()
        .filter(|&i| !catalog.tree.is_dir(i))
        .count();
    if let Some(why) = &outcome.stopped {
        ui.err(&format!("rrestore: restore stopped: {why}"));
        ui.err(&format!(
            "rrestore: {} of {} selected files were restored; directory attributes were not set",
            outcome.restored, leaves
        ));
        if !outcome.not_reached.is_empty() {
            ui.err(&format!(
                "rrestore: {} files were not reached:",
                outcome.missing
            ));
            for n in outcome.not_reached.iter().take(50) {
                ui.err(&format!("  {n}"));
            }
            if outcome.missing > 50 {
                ui.err(&format!("  ... and {} more", outcome.missing - 50));
            }
        }
    }
    if !failed.is_empty() {
        ui.err(&format!(
            "rrestore: {} names were not restored:",
            failed.len()
        ));
        for f in failed.iter().take(50) {
            ui.err(&format!("  {f}"));
        }
        if failed.len() > 50 {
            ui.err(&format!("  ... and {} more", failed.len() - 50));
        }
    }
    let bad = outcome.stopped.is_some()
        || !failed.is_empty()
        || outcome.missing > 0
        || missing_names > 0
        || catalog.damaged.is_some();
    Ok(if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let prog = progname();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let opts = match cli::parse(args) {
        Ok(cli::Parsed::Help) => {
            print!("{}", cli::usage_text(&prog));
            return ExitCode::SUCCESS;
        }
        Ok(cli::Parsed::Version) => {
            println!("{prog} {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(cli::Parsed::Run(opts)) => opts,
        Err(e) => {
            eprintln!("{prog}: {e}");
            if e.usage {
                eprint!("{}", cli::usage_text(&prog));
            }
            return ExitCode::FAILURE;
        }
    };
    let mut ui = Ui::new(opts.verbose, opts.debug);
    let _ = Input::Stdin;
    match run(&opts, &mut ui) {
        Ok(code) => code,
        Err(Fatal(msg)) => {
            ui.err(&format!("{prog}: {msg}"));
            ExitCode::FAILURE
        }
    }
}
