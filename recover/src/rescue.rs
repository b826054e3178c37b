//! `rrecover rescue` (being written).

/// The options of `rrecover rescue`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rrecover rescue`.
pub fn run(_args: Args) -> Result<(), String> {
    Err("rescue is not built yet".into())
}
