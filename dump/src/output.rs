//! The dump's destination: a file, device, fifo, standard output, or a
//! remote file or tape (`[user@]host:file`, through rmt).
//!
//! Writes go through a large buffer (records can be small once compressed).
//! Errors keep their cause so that a full disk or a closed pipe ends the dump
//! with a message that says so.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use dump_format::rmt::{Launcher, RemoteName, RemoteWriter, RmtError};
use thiserror::Error;

use crate::cli::Target;

const BUFFER_BYTES: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("Cannot open output \"{path}\": {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("Cannot open output \"{name}\": {source}")]
    Remote { name: String, source: RmtError },
    #[error("write error on {name} after {blocks} blocks: {}", describe(.source))]
    Write {
        name: String,
        blocks: u64,
        source: io::Error,
    },
}

/// Names the common fatal write errors in the words operators search for.
fn describe(e: &io::Error) -> String {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::BrokenPipe, _) => "Broken pipe (the reader closed its end)".into(),
        (_, Some(28)) => "No space left on device".into(),
        (_, Some(122)) => "Disk quota exceeded".into(),
        _ => e.to_string(),
    }
}

/// The remote file `-f` names, if it names one (dump's rule: a ':' with
/// no '/' before it).
pub fn remote_target(path: &Path) -> Result<Option<RemoteName>, RmtError> {
    match path.to_str() {
        Some(text) => RemoteName::parse(text),
        None => Ok(None),
    }
}

/// How dump names the output in "Dumping ... to": `file on host host`
/// for a remote one.
pub fn target_description(path: &Path) -> String {
    match remote_target(path) {
        Ok(Some(name)) => format!("{} on host {}", name.file, name.host),
        _ => path.display().to_string(),
    }
}

enum Sink {
    Local(BufWriter<File>),
    /// One rmt write per record, as dump does (a remote tape drive
    /// writes each as one tape block).
    Remote(RemoteWriter),
}

/// An open destination.
pub struct Output {
    writer: Sink,
    /// "standard output" or the path, for messages.
    name: String,
    /// A pipe or fifo: dump words its closing messages differently.
    is_pipe: bool,
    /// Standard output is not closed by us; files are closed and reported.
    is_stdout: bool,
    blocks: u64,
    bytes: u64,
    /// The host of a remote output.
    remote_host: Option<String>,
}

impl Output {
    /// Opens the target like dump: files are created or truncated (mode 0666
    /// less umask); devices and fifos are opened for writing.
    pub fn open(target: &Target) -> Result<Output, OutputError> {
        let (file, name, is_stdout) = match target {
            Target::Stdout => {
                // A File on a duplicate of fd 1 avoids std's line-buffered
                // Stdout, which scans every byte for newlines.
                let fd = io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|source| OutputError::Open {
                        path: "standard output".into(),
                        source,
                    })?;
                (File::from(fd), "standard output".to_string(), true)
            }
            Target::Path(path) => {
                if let Some(out) = Self::open_remote(path)? {
                    return Ok(out);
                }
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o666)
                    .open(path)
                    .map_err(|source| OutputError::Open {
                        path: path.clone(),
                        source,
                    })?;
                (file, path.display().to_string(), false)
            }
        };
        let file_type = file.metadata().map(|m| m.file_type()).ok();
        let is_pipe = file_type.is_some_and(|t| t.is_fifo() || t.is_socket());
        // On a tape drive every write(2) is one tape block: records must be
        // written one by one, as dump does, for restore -b to read them back.
        // Elsewhere (files, pipes) records are coalesced into large writes.
        let capacity = if file_type.is_some_and(|t| t.is_char_device()) {
            0
        } else {
            BUFFER_BYTES
        };
        Ok(Output {
            writer: Sink::Local(BufWriter::with_capacity(capacity, file)),
            name,
            is_pipe,
            is_stdout,
            blocks: 0,
            bytes: 0,
            remote_host: None,
        })
    }

    /// `host:file` through `$RSH` and `$RMT`, created as dump creates it.
    fn open_remote(path: &Path) -> Result<Option<Output>, OutputError> {
        let name = path.display().to_string();
        let remote = |source| OutputError::Remote {
            name: name.clone(),
            source,
        };
        let Some(target) = remote_target(path).map_err(remote)? else {
            return Ok(None);
        };
        let writer = RemoteWriter::create(&target, &Launcher::from_env()).map_err(remote)?;
        Ok(Some(Output {
            writer: Sink::Remote(writer),
            // dump's "Closing /path" names the remote file without its
            // host; errors from the server name the host themselves.
            name: target.file,
            is_pipe: false,
            is_stdout: false,
            blocks: 0,
            bytes: 0,
            remote_host: Some(target.host),
        }))
    }

    /// The host of a remote output (`host:file`).
    pub fn remote_host(&self) -> Option<&str> {
        self.remote_host.as_deref()
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_stdout(&self) -> bool {
        self.is_stdout
    }

    /// True for pipes and fifos (dump's pipeout/fifoout wording).
    pub fn is_pipe(&self) -> bool {
        self.is_pipe
    }

    /// Writes one (possibly compressed) record holding `blocks` tape blocks.
    pub fn write_record(&mut self, bytes: &[u8], blocks: u64) -> Result<(), OutputError> {
        let written = match &mut self.writer {
            Sink::Local(w) => w.write_all(bytes),
            Sink::Remote(w) => w.write_block(bytes).map_err(RmtError::into_io),
        };
        written.map_err(|source| self.write_error(source))?;
        self.blocks += blocks;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Flushes everything; the dump is only complete when this succeeds.
    pub fn finish(self) -> Result<(), OutputError> {
        let Output {
            writer,
            name,
            blocks,
            ..
        } = self;
        let done = match writer {
            Sink::Local(mut w) => w.flush(),
            Sink::Remote(w) => w.finish().map_err(RmtError::into_io),
        };
        done.map_err(|source| OutputError::Write {
            name,
            blocks,
            source,
        })
    }

    fn write_error(&self, source: io::Error) -> OutputError {
        OutputError::Write {
            name: self.name.clone(),
            blocks: self.blocks,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_is_named() {
        let mut out = Output::open(&Target::Path("/dev/full".into())).expect("open /dev/full");
        let rec = vec![0u8; 10 * 1024];
        // The buffer absorbs the first writes; the error shows at the latest on flush.
        let mut result = Ok(());
        for _ in 0..200 {
            result = out.write_record(&rec, 10);
            if result.is_err() {
                break;
            }
        }
        let err = match result {
            Err(e) => e,
            Ok(()) => out.finish().expect_err("writing to /dev/full must fail"),
        };
        let text = err.to_string();
        assert!(text.contains("No space left on device"), "{text}");
        assert!(text.contains("/dev/full"), "{text}");
    }

    #[test]
    fn open_error_names_path() {
        let err = match Output::open(&Target::Path("/nonexistent-dir/x".into())) {
            Err(e) => e,
            Ok(_) => panic!("opening in a missing directory must fail"),
        };
        assert!(err.to_string().contains("/nonexistent-dir/x"));
    }
}
