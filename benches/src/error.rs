//! Errors of the benchmark harness. Every failure names what was being done,
//! so that a broken tool or a failed sanity check is never mistaken for a
//! speed number.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}); last stderr lines:\n{stderr}")]
    ToolFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("sanity check of {what} failed: {detail}")]
    Check { what: String, detail: String },
    #[error("fsimage on {path}: {source}")]
    Fs {
        path: String,
        #[source]
        source: fsimage::Error,
    },
    #[error("usage: {0}")]
    Usage(String),
    #[error("this benchmark needs root ({0}); run it as root (CI does)")]
    NotRoot(String),
}

impl Error {
    pub fn check(what: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Check {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub fn fs(path: &Path, source: fsimage::Error) -> Error {
        Error::Fs {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Attach a description of the operation to an `io::Error`.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> IoContext<T> for Result<T, std::io::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
