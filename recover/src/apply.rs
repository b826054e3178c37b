//! `rrecover apply` (being written).

/// The options of `rrecover apply`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rrecover apply`.
pub fn run(_args: Args) -> Result<(), String> {
    Err("apply is not built yet".into())
}
