//! rdump: the command-line entry point; everything else is in the library (src/lib.rs).

use rdump::{cli, cli::Command, dumper};

fn main() {
    let status = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::help_text());
            dumper::X_FINOK
        }
        Ok(Command::Version) => {
            println!("rdump {}", env!("CARGO_PKG_VERSION"));
            dumper::X_FINOK
        }
        Ok(Command::Dump(opts)) => dumper::run(*opts),
        Ok(Command::LastDump { which, dumpdates }) => dumper::last_dump(which, &dumpdates),
        Err(e) => {
            eprintln!("rdump: {e}");
            eprintln!("Try 'rdump --help' for more information.");
            dumper::X_STARTUP
        }
    };
    std::process::exit(status)
}
