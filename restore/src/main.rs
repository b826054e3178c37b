//! rrestore: restores files from dumps written by rdump or dump 0.4b47.
//! See rrestore(8) (restore/rrestore.8) for the command line.

mod cli;
mod fsops;
mod tree;

use std::process::ExitCode;

fn progname() -> String {
    std::env::args_os()
        .next()
        .map(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rrestore".into())
        })
        .unwrap_or_else(|| "rrestore".into())
}

fn main() -> ExitCode {
    let prog = progname();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match cli::parse(args) {
        Ok(cli::Parsed::Help) => {
            print!("{}", cli::usage_text(&prog));
            ExitCode::SUCCESS
        }
        Ok(cli::Parsed::Version) => {
            println!("{prog} {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(cli::Parsed::Run(_opts)) => {
            eprintln!("{prog}: not yet implemented");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{prog}: {e}");
            if e.usage {
                eprint!("{}", cli::usage_text(&prog));
            }
            ExitCode::FAILURE
        }
    }
}
