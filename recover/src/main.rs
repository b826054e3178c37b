//! rrecover: back up a whole machine with its recovery plan, rebuild its disks from it,
//! make the rescue stick. The work is in the library (src/lib.rs).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rrecover::{apply, backup, rescue};

#[derive(Parser)]
#[command(
    name = "rrecover",
    version,
    about = "Bare-metal recovery with rdump/rrestore"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record the disks (the plan) and dump every filesystem on them.
    Backup(backup::Args),
    /// Make new disks like the plan and restore every filesystem into them.
    Apply(apply::Args),
    /// Build the bootable recovery stick.
    Mkrescue(rescue::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Backup(a) => backup::run(a).map_err(|e| e.to_string()),
        Command::Apply(a) => apply::run(a).map_err(|e| e.to_string()),
        Command::Mkrescue(a) => rescue::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rrecover: {e}");
            ExitCode::FAILURE
        }
    }
}
