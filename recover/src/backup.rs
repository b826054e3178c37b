//! `rrecover backup` (being written).

/// The options of `rrecover backup`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rrecover backup`.
pub fn run(_args: Args) -> Result<(), String> {
    Err("backup is not built yet".into())
}
