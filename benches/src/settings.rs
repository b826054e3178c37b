//! Where the tools are and how the benchmark runs.

use std::path::{Path, PathBuf};

pub struct Settings {
    /// Measured runs per tool (after one warm-up run each).
    pub runs: usize,
    /// Directory for outputs, restore targets and scratch images (same disk
    /// as the image).
    pub scratch: PathBuf,
    pub dump: PathBuf,
    pub restore: PathBuf,
    pub fsarchiver: PathBuf,
    pub rdump: PathBuf,
    pub rrestore: PathBuf,
}

impl Settings {
    /// Reference tools from /usr/sbin; rdump and rrestore default to the
    /// binaries next to this one (same cargo target directory and profile).
    pub fn defaults() -> Settings {
        let sibling = |name: &str| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|d| d.join(name)))
                .unwrap_or_else(|| PathBuf::from(name))
        };
        Settings {
            runs: 3,
            scratch: PathBuf::from("/var/tmp"),
            dump: PathBuf::from("/usr/sbin/dump"),
            restore: PathBuf::from("/usr/sbin/restore"),
            fsarchiver: PathBuf::from("/usr/sbin/fsarchiver"),
            rdump: sibling("rdump"),
            rrestore: sibling("rrestore"),
        }
    }
}

impl Settings {
    /// A fresh scratch directory named `prefix…` under [`Settings::scratch`],
    /// removed when dropped.
    pub fn scratch_dir(&self, prefix: &str) -> Result<tempfile::TempDir, crate::error::Error> {
        use crate::error::IoContext;
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.scratch)
            .ctx(|| format!("creating a scratch directory in {}", self.scratch.display()))
    }
}

pub fn show(p: &Path) -> String {
    p.display().to_string()
}
