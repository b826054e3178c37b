//! One filesystem's dump: rdump's own pipeline (its library, with its
//! options and messages) writing into a FIFO, read by a thread that cuts the
//! stream into parts and hashes them.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{mknodat, FileType, Mode, CWD};

use crate::backup::{record, since, Args, BackupError};
use crate::parts;
use crate::plan::{DumpFile, Filesystem};
use crate::sys::SysError;

/// rdump's command line for this dump (its parser fills in the defaults).
fn rdump_args(args: &Args, fifo: &Path, node: &str, since_date: Option<i64>) -> Vec<String> {
    let mut a = vec![
        format!("-{}", args.level),
        "-f".into(),
        fifo.display().to_string(),
    ];
    if let Some(z) = args.zlib {
        a.push(format!("-z{z}"));
    }
    if let Some(z) = args.zstd {
        a.push(format!("--zstd={z}"));
    }
    if let Some(t) = since_date {
        a.push("-T".into());
        a.push(rdump::report::dump_date(t));
    }
    a.push(node.into());
    a
}

/// Dumps `node` (filesystem number `index` of the plan) into DIR.
pub fn dump(
    args: &Args,
    node: &str,
    index: usize,
    fs: &Filesystem,
) -> Result<DumpFile, BackupError> {
    let since_date = if args.level > 0 {
        let base = since(fs, args.level).ok_or_else(|| {
            SysError::Other(format!(
                "--level {} of {node}: the plan has no lower-level dump of it",
                args.level
            ))
        })?;
        Some(base.date)
    } else {
        None
    };
    let tmp = tempfile::Builder::new()
        .prefix(".rrecover-")
        .tempdir_in(&args.to)
        .map_err(|source| BackupError::Dir {
            path: args.to.clone(),
            source,
        })?;
    let fifo = tmp.path().join("dump.fifo");
    mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).map_err(|e| {
        BackupError::Dir {
            path: fifo.clone(),
            source: e.into(),
        }
    })?;
    let opts = match rdump::cli::parse(
        rdump_args(args, &fifo, node, since_date)
            .into_iter()
            .map(std::ffi::OsString::from),
    ) {
        Ok(rdump::cli::Command::Dump(o)) => o,
        Ok(_) => unreachable!("rrecover never asks rdump for --help or --version"),
        Err(e) => return Err(SysError::Other(format!("rdump options for {node}: {e}")).into()),
    };
    // The dump starts a little after this: an incremental against it takes
    // a few seconds too much, never too little.
    let date = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let base = format!("fs{index}-level{}-{date}.dump", args.level);
    let dir = args.to.clone();
    let split = args.split;
    let fifo_r = fifo.clone();
    let reader = std::thread::spawn(move || -> Result<parts::Written, BackupError> {
        let mut f = File::open(&fifo_r).map_err(|source| BackupError::Dir {
            path: fifo_r.clone(),
            source,
        })?;
        Ok(parts::write_parts(&mut f, &dir, &base, split)?)
    });
    let status = rdump::dumper::run(*opts);
    if status != rdump::dumper::X_FINOK {
        // Unblock the reader if rdump never opened the FIFO.
        // Non-blocking: if rdump did open and close it, nobody reads and
        // the open fails at once instead of waiting.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(0o4000)
            .open(&fifo);
        let _ = reader.join();
        return Err(BackupError::Dump {
            node: node.into(),
            status,
        });
    }
    let written = reader
        .join()
        .map_err(|_| SysError::Other("the part writer thread panicked".into()))??;
    record(&args.to, args.level, date, written)
}
