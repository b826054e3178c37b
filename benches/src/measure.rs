//! Run one child process and measure it: wall time around spawn..reap, the
//! child's own CPU time and peak RSS from wait4(2), and its peak anonymous
//! RSS by sampling /proc.
//!
//! wait4 returns the rusage of the reaped child including the children it
//! waited for itself, so dump's forked writer processes are counted too
//! (dump's master waits for them before exiting).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// Standard input from this file (otherwise closed: /dev/null).
    pub stdin_from: Option<PathBuf>,
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
            stdin_from: None,
        }
    }

    /// Answers for a tool that asks questions (restore -x's volume number).
    pub fn stdin_from(mut self, path: &Path) -> Invocation {
        self.stdin_from = Some(path.to_path_buf());
        self
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
    /// Largest anonymous RSS (heap, stacks; no file pages) of the direct
    /// child seen by sampling /proc/PID/status every few milliseconds.
    pub peak_anon_kib: u64,
    /// Bytes the child read with read(2) and the like (`rchar` of
    /// /proc/PID/io, read when it has exited and before it is reaped).
    pub read_bytes: Option<u64>,
}

impl Sample {
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

/// Argument that makes this binary act as the measuring runner.
pub const RUNNER_ARG: &str = "__measure";
const SAMPLE_EVERY: Duration = Duration::from_millis(4);

/// Run `inv` and measure it. The measuring is done by a fresh copy of this
/// binary (a few MiB): Linux starts a new program's `ru_maxrss` at the peak
/// RSS of the process it was spawned from, and this harness maps whole
/// images while it checks outputs, so spawning tools from here would
/// inflate every RSS number. A non-zero exit or a signal is an error.
pub fn run(inv: &Invocation) -> Result<Sample, Error> {
    let exe = std::env::current_exe().ctx(|| "finding this program's path".into())?;
    let result = tempfile::NamedTempFile::new().ctx(|| "creating a scratch file".into())?;
    let mut args: Vec<OsString> = vec![RUNNER_ARG.into(), result.path().into(), "--".into()];
    args.push(inv.program.clone().into());
    args.extend(inv.args.iter().cloned());
    let runner = Invocation {
        program: exe,
        args,
        ..inv.clone()
    };
    let (status, log) = spawn_and_wait(&runner, inv)?;
    let text = std::fs::read_to_string(result.path()).unwrap_or_default();
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    let (Some(raw), Some(wall), Some(user), Some(sys), Some(rss), Some(anon)) = (
        field("status"),
        field("wall_ns"),
        field("user_us"),
        field("sys_us"),
        field("maxrss_kib"),
        field("anon_kib"),
    ) else {
        return Err(Error::check(
            format!("measuring `{}`", inv.display()),
            format!("runner exited with {status} and result {text:?}"),
        ));
    };
    let status = ExitStatus::from_raw(raw as i32);
    if !status.success() {
        return Err(Error::ToolFailed {
            command: inv.display(),
            status: status.to_string(),
            stderr: log.tail(),
        });
    }
    Ok(Sample {
        wall: Duration::from_nanos(wall),
        user: Duration::from_micros(user),
        sys: Duration::from_micros(sys),
        max_rss_kib: rss,
        peak_anon_kib: anon,
        read_bytes: field("rchar"),
    })
}

/// Run a setup or check command (not measured); fail with its stderr.
pub fn run_quiet(inv: &Invocation) -> Result<(), Error> {
    let (status, log) = spawn_and_wait(inv, inv)?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::ToolFailed {
            command: inv.display(),
            status: status.to_string(),
            stderr: log.tail(),
        })
    }
}

/// Where a command's standard error went: the file asked for, or a
/// scratch file kept until the error (if any) has been reported.
enum StderrLog {
    Given(PathBuf),
    Scratch(tempfile::NamedTempFile),
}

impl StderrLog {
    fn tail(&self) -> String {
        let path = match self {
            StderrLog::Given(p) => p.as_path(),
            StderrLog::Scratch(f) => f.path(),
        };
        match File::open(path) {
            Ok(mut f) => tail(&mut f, 12),
            Err(_) => "(stderr unavailable)".into(),
        }
    }
}

/// Spawn `cmd_inv` with stdin closed and the redirections of `io`, wait.
fn spawn_and_wait(cmd_inv: &Invocation, io: &Invocation) -> Result<(ExitStatus, StderrLog), Error> {
    let (stderr_file, log) = match &io.stderr_to {
        Some(path) => (
            File::create(path).ctx(|| format!("creating {}", path.display()))?,
            StderrLog::Given(path.clone()),
        ),
        None => {
            let f = tempfile::NamedTempFile::new()
                .ctx(|| "creating a scratch file for stderr".into())?;
            let handle = f
                .reopen()
                .ctx(|| "reopening the stderr scratch file".into())?;
            (handle, StderrLog::Scratch(f))
        }
    };
    let stdout = match &io.stdout_to {
        Some(path) => {
            Stdio::from(File::create(path).ctx(|| format!("creating {}", path.display()))?)
        }
        None => Stdio::null(),
    };
    let stdin = match &io.stdin_from {
        Some(path) => Stdio::from(File::open(path).ctx(|| format!("opening {}", path.display()))?),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(&cmd_inv.program);
    cmd.args(&cmd_inv.args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::from(stderr_file));
    if let Some(dir) = &io.cwd {
        cmd.current_dir(dir);
    }
    cmd.envs(io.env.iter().map(|(k, v)| (k, v)));
    let status = cmd.status().ctx(|| format!("running `{}`", io.display()))?;
    Ok((status, log))
}

/// Entry point of the runner: `__measure RESULT -- PROGRAM ARGS...`.
/// Spawns the program with the runner's own stdio and directory, waits for
/// it with wait4 while a thread samples its anonymous RSS, and writes one
/// line of numbers to RESULT. Exits 0 whenever it could measure, whatever
/// the program's status (which is in RESULT).
pub fn runner_main(args: &[OsString]) -> ! {
    let code = match runner(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dump-benches runner: {e}");
            120
        }
    };
    std::process::exit(code)
}

fn runner(args: &[OsString]) -> Result<(), Error> {
    let (Some(result), Some(sep), Some(program)) = (args.first(), args.get(1), args.get(2)) else {
        return Err(Error::Usage(format!(
            "{RUNNER_ARG} RESULT -- PROGRAM [ARGS...]"
        )));
    };
    if sep != "--" {
        return Err(Error::Usage(format!(
            "{RUNNER_ARG} RESULT -- PROGRAM [ARGS...]"
        )));
    }
    let mut cmd = Command::new(program);
    cmd.args(&args[3..]);
    let shown = format!("{}", Path::new(program).display());
    let start = Instant::now();
    let child = cmd.spawn().ctx(|| format!("starting `{shown}`"))?;
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0u64;
            let path = format!("/proc/{pid}/status");
            while !done.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    if let Some(kib) = text.lines().find_map(|l| {
                        l.strip_prefix("RssAnon:")?
                            .trim()
                            .strip_suffix("kB")?
                            .trim()
                            .parse::<u64>()
                            .ok()
                    }) {
                        peak = peak.max(kib);
                    }
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            peak
        })
    };
    let rchar = rchar_at_exit(pid);
    let waited = wait4(pid);
    let wall = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let anon = sampler.join().unwrap_or(0);
    // The child is reaped; dropping `Child` does not wait again.
    drop(child);
    let (status, (user, sys, rss)) = waited.ctx(|| format!("waiting for `{shown}`"))?;
    let rchar = rchar.map(|r| format!(" rchar={r}")).unwrap_or_default();
    let line = format!(
        "status={} wall_ns={} user_us={} sys_us={} maxrss_kib={rss} anon_kib={anon}{rchar}\n",
        status.into_raw(),
        wall.as_nanos(),
        user.as_micros(),
        sys.as_micros(),
    );
    std::fs::write(Path::new(result), line)
        .ctx(|| format!("writing {}", Path::new(result).display()))
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

/// The peak RSS a do-nothing child (`true`) reports when measured here:
/// the floor under every RSS number of this harness.
pub fn rss_floor_kib() -> Result<u64, Error> {
    Ok(run(&Invocation::new("true", Vec::<String>::new()))?.max_rss_kib)
}

/// Waits for `pid` to exit without reaping it, then reads how many bytes
/// it read (`rchar` of /proc/PID/io, still there while it is a zombie).
fn rchar_at_exit(pid: u32) -> Option<u64> {
    let id = libc::id_t::try_from(pid).ok()?;
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: `info` is a valid, writable siginfo_t for the call;
        // WNOWAIT leaves the child to be reaped by wait4 below. std cannot
        // wait without reaping, and a reaped child's /proc entry is gone.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                id,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            break;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return None;
        }
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:")?.trim().parse().ok())
}

type Usage = (Duration, Duration, u64);

fn wait4(pid: u32) -> std::io::Result<(ExitStatus, Usage)> {
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

/// The last `n` lines of a file.
fn tail(file: &mut File, n: usize) -> String {
    let mut text = String::new();
    if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_string(&mut text).is_err() {
        return "(stderr unreadable)".into();
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
