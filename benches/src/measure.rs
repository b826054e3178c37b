//! Run one child process and measure it: wall time around spawn..reap, and
//! the child's own CPU time and peak RSS from wait4(2).
//!
//! wait4 returns the rusage of the reaped child including the children it
//! waited for itself, so dump's forked writer processes are counted too.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext};

/// One command line to run and where its standard output goes.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    /// `None` discards standard output.
    pub stdout_to: Option<PathBuf>,
    /// Keep standard error in this file (otherwise a scratch file).
    pub stderr_to: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Invocation {
    pub fn new<I, S>(program: impl Into<PathBuf>, args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Invocation {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: None,
            stdout_to: None,
            stderr_to: None,
            env: Vec::new(),
        }
    }

    pub fn in_dir(mut self, dir: &Path) -> Invocation {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Invocation {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stderr_to(mut self, path: &Path) -> Invocation {
        self.stderr_to = Some(path.to_path_buf());
        self
    }

    pub fn stdout_to(mut self, path: &Path) -> Invocation {
        self.stdout_to = Some(path.to_path_buf());
        self
    }

    /// Shell-like rendering for reports and error messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        if let Some(out) = &self.stdout_to {
            s.push_str(&format!(" > {}", out.display()));
        }
        if let Some(dir) = &self.cwd {
            s = format!("(cd {} && {s})", dir.display());
        }
        s
    }
}

/// What one run of a child cost.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set size in KiB (`ru_maxrss`). File pages the child
    /// mapped and touched (mmap of the image) count here too.
    pub max_rss_kib: u64,
}

impl Sample {
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

/// Run `inv` to completion with stdin closed, stderr kept in a scratch file
/// (shown on failure). A non-zero exit or a signal is an error.
pub fn run(inv: &Invocation) -> Result<Sample, Error> {
    let mut stderr_file = match &inv.stderr_to {
        Some(path) => File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .ctx(|| format!("creating {}", path.display()))?,
        None => tempfile::tempfile().ctx(|| "creating a scratch file for stderr".into())?,
    };
    let stderr_clone = stderr_file
        .try_clone()
        .ctx(|| "duplicating the stderr scratch file".into())?;
    let stdout = match &inv.stdout_to {
        Some(path) => {
            Stdio::from(File::create(path).ctx(|| format!("creating {}", path.display()))?)
        }
        None => Stdio::null(),
    };
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(stderr_clone));
    if let Some(dir) = &inv.cwd {
        cmd.current_dir(dir);
    }
    cmd.envs(inv.env.iter().map(|(k, v)| (k, v)));
    reset_peak_rss();
    let start = Instant::now();
    let child = cmd
        .spawn()
        .ctx(|| format!("starting `{}`", inv.display()))?;
    let (status, usage) = wait4(child.id()).ctx(|| format!("waiting for `{}`", inv.display()))?;
    let wall = start.elapsed();
    // The child is reaped; dropping `Child` does not wait again.
    drop(child);
    if !status.success() {
        return Err(Error::ToolFailed {
            command: inv.display(),
            status: status.to_string(),
            stderr: tail(&mut stderr_file, 12),
        });
    }
    Ok(Sample {
        wall,
        user: usage.0,
        sys: usage.1,
        max_rss_kib: usage.2,
    })
}

/// Run a setup or check command (not measured); fail with its stderr.
pub fn run_quiet(inv: &Invocation) -> Result<(), Error> {
    run(inv).map(|_| ())
}

/// Run a command and capture its standard output (for small outputs).
pub fn capture(program: &str, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ctx(|| format!("starting `{program} {}`", args.join(" ")))?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Linux starts a new program's `ru_maxrss` at the *peak* RSS of the
/// process it was spawned from (exec records the old memory map's high-water
/// mark). This harness maps whole images while it checks outputs, so
/// without this every tool would inherit that peak. Writing 5 to
/// clear_refs resets our high-water mark to the current RSS (Linux >= 4.0);
/// `rss_floor` shows what remains.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak RSS a do-nothing child (`true`) reports when spawned from here:
/// the floor under every RSS number of this harness.
pub fn rss_floor_kib() -> Result<u64, Error> {
    Ok(run(&Invocation::new("true", Vec::<String>::new()))?.max_rss_kib)
}

fn wait4(pid: u32) -> std::io::Result<(ExitStatus, (Duration, Duration, u64))> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    loop {
        // SAFETY: `status` and `usage` are valid, writable and live for the
        // call; wait4 writes at most one c_int and one rusage into them.
        // std offers no way to get a single child's rusage, which is the
        // whole point of this harness (per-tool CPU time and peak RSS).
        let r = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: wait4 succeeded, so it filled `usage` (and it was zeroed
    // before, which is a valid rusage anyway: it is plain integers).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok((
        ExitStatus::from_raw(status),
        (
            tv(usage.ru_utime),
            tv(usage.ru_stime),
            usage.ru_maxrss.max(0) as u64,
        ),
    ))
}

/// The last `n` lines of a scratch file.
fn tail(file: &mut File, n: usize) -> String {
    let mut text = String::new();
    if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_string(&mut text).is_err() {
        return "(stderr unreadable)".into();
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
