//! Writing restored inodes on worker threads.
//!
//! The tape must be read in order, on one thread; what the kernel does
//! with the data (creating files, copying data into the page cache,
//! setting owners, modes, times…) dominates a restore, and can overlap
//! with reading. So the reading thread ([`crate::extract`]) describes each
//! inode as a short sequence of [`Job`]s — [`Begin`] (create it and its
//! hard links; a regular file may come already created by the reading
//! thread, which does that when the writer is behind), [`Job::Data`] (one
//! piece of its contents, in a buffer the reading thread hands over
//! without copying), [`Job::End`] (its attributes, then close) — and
//! [`Writers`] hands all the jobs of one
//! inode to the same worker, over a bounded channel, so they run in order
//! and memory in flight stays bounded. Jobs travel in batches (most files
//! are small: one job each would mean a thread wake-up per few hundred
//! bytes).
//!
//! With no worker threads the jobs run on the calling thread, and each
//! report is handed back before the next job: output comes in exactly the
//! order of a sequential restore (used for `-v`).
//!
//! Errors: a write error that makes going on pointless (no space, I/O
//! error, read-only filesystem, quota) is recorded once as the [`Fatal`]
//! error and raises a stop flag the reader polls; workers then skip the
//! inodes that come after the failed one on the tape and are not begun
//! yet, and report them [`Report::Abandoned`] — as a sequential restore,
//! everything before the failure is still written. Other failures and
//! attribute warnings come back as [`Report`]s.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use rustix::fs::FileType;

use crate::fsops::{self, Attrs, Node, RESTORABLE_FLAGS};

/// A batch is sent to its worker when it holds this many jobs…
const BATCH_JOBS: usize = 32;
/// …or this much data (a data job holds at most one 64 KiB tape segment).
const BATCH_BYTES: usize = 1 << 20;
/// Batches queued to all workers together. With the batch being filled
/// and the one being written per worker, this bounds the data in flight
/// to (8 + 2 × workers) MiB, and the jobs (which may hold directory
/// handles) to (8 + 2 × workers) × 32.
const BATCHES_IN_FLIGHT: usize = 8;

/// Most worker threads `RRESTORE_WRITERS` may ask for.
const MAX_WRITERS: usize = 4;

/// What to create for an inode.
pub enum Kind {
    File,
    /// A regular file the reading thread already created (and linked),
    /// because the writer was behind: see [`Writers::next_is_behind`].
    Created(File),
    Symlink(Vec<u8>),
    Node {
        kind: FileType,
        rdev: (u32, u32),
    },
    /// An inode dumped as metadata only (dump -m): its file is the one an
    /// earlier level restored, taken from `held` (the holding directory of
    /// an incremental -r, and its name there) when it is there, else found
    /// at the name; only its attributes are set.
    Existing {
        held: Option<(Arc<OwnedFd>, Vec<u8>)>,
        is_symlink: bool,
        is_file: bool,
    },
}

/// Another name of the inode (a hard link to its first name).
pub struct Link {
    pub parent: Arc<OwnedFd>,
    pub name: Vec<u8>,
    /// `./a/b` spelling for messages.
    pub path: String,
}

/// Creates an inode under its first name, then its other names.
pub struct Begin {
    pub ino: u32,
    /// `./a/b` spelling for messages.
    pub path: String,
    pub parent: Arc<OwnedFd>,
    pub name: Vec<u8>,
    pub kind: Kind,
    pub unlink_first: bool,
    pub links: Vec<Link>,
}

/// One step of writing an inode.
pub enum Job {
    /// `seq`: the inode's position in the order of the tape.
    Begin { seq: u64, begin: Box<Begin> },
    /// Contents at `offset` of the inode begun last on this worker.
    Data { offset: u64, bytes: Vec<u8> },
    /// Sets the attributes of the inode begun last (and its size, when the
    /// data written stops short of it: a trailing hole), then closes it.
    End { attrs: Box<Attrs>, size: u64 },
}

/// What a worker tells the reading thread.
#[derive(Debug)]
pub enum Report {
    /// A `-v` progress line.
    Verbose(String),
    /// A warning (an attribute that could not be set).
    Warn(String),
    /// The inode could not be created or written.
    NotRestored { warning: String, failed: String },
    /// One of its other names could not be made (the inode is restored).
    NameFailed { warning: String, failed: String },
    /// Skipped after a fatal error: the inode was not written.
    Abandoned { ino: u32 },
}

/// What the writers did, once all is written.
pub struct Finished {
    /// The reports not yet taken.
    pub reports: Vec<Report>,
    /// The error that stopped the run, if one did.
    pub fatal: Option<Fatal>,
    /// Inodes written in full, hard links not counted.
    pub restored: u64,
}

/// The error that stopped the run.
#[derive(Debug)]
pub struct Fatal {
    pub ino: u32,
    pub path: String,
    pub error: io::Error,
    /// Its position on the tape: the earliest fatal failure is the one
    /// that stops the run, as in a sequential restore.
    seq: u64,
    /// How to report it if an earlier one turns up.
    otherwise: Report,
}

/// Errors after which writing more is pointless: report and stop.
pub fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(errno::ENOSPC) | Some(errno::EIO) | Some(errno::EDQUOT) | Some(errno::EROFS)
    )
}

/// The errno values `is_fatal` looks for (Linux numbering).
mod errno {
    pub const EIO: i32 = 5;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
    pub const EDQUOT: i32 = 122;
}

/// How many writer threads to use besides the reading thread: none for
/// `-v` (ordered output) or on one CPU; else one. (The load average is not
/// consulted: it mostly reflects work that has already finished, such as
/// the dump that preceded the restore, and a restore should not run slower
/// because of it.) One writer overlaps the
/// writing with the reading (with files created by the reader, each takes
/// about half the time), and keeps the writes in the order of the tape:
/// when space runs out, what was written is what came first, as with a
/// sequential restore. With more writers, a later file can take the space
/// an earlier one needed. `RRESTORE_WRITERS=n` overrides (for measuring;
/// at most [`MAX_WRITERS`]).
pub fn writer_threads(verbose: bool) -> usize {
    if verbose {
        return 0;
    }
    if let Some(n) = std::env::var("RRESTORE_WRITERS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return n.min(MAX_WRITERS);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    usize::from(cpus >= 2)
}

/// State shared by the workers and the reading thread.
struct Shared {
    /// The tape position (Begin `seq`) of the earliest inode that failed
    /// fatally; `u64::MAX` while none has.
    stop_at: AtomicU64,
    fatal: Mutex<Option<Fatal>>,
    /// Inodes whose End was reached with everything written.
    restored: AtomicU64,
}

impl Shared {
    fn new() -> Self {
        Shared {
            stop_at: AtomicU64::new(u64::MAX),
            fatal: Mutex::new(None),
            restored: AtomicU64::new(0),
        }
    }
}

/// The inode a worker is writing.
struct Current {
    seq: u64,
    ino: u32,
    path: String,
    parent: Arc<OwnedFd>,
    name: Vec<u8>,
    /// Open for a regular file; symlinks and nodes are reached by name.
    file: Option<File>,
    is_symlink: bool,
    /// End of the data written so far.
    written: u64,
    /// False once something failed: the rest of its jobs are skipped.
    ok: bool,
}

/// Data buffers kept for reuse: written buffers go back to the reading
/// thread instead of being freed, so fresh memory is not faulted in (and
/// zeroed by the kernel) for every segment.
const SPARE_BUFFERS: usize = 64;

/// Runs jobs, in order, for the inodes routed to it.
struct Worker {
    shared: Arc<Shared>,
    reports: Sender<Report>,
    /// Where written data buffers go back for reuse (none inline).
    spare: Option<Sender<Vec<u8>>>,
    current: Option<Current>,
}

impl Worker {
    fn report(&self, r: Report) {
        // The receiver lives as long as the pool; nothing to do if gone.
        let _ = self.reports.send(r);
    }

    /// Records a failure of an inode or one of its names: the first fatal
    /// one stops the run, the others are reported as `what`.
    fn fail(&self, seq: u64, ino: u32, path: &str, error: io::Error, what: Report) {
        if !is_fatal(&error) {
            self.report(what);
            return;
        }
        let mut fatal = self.shared.fatal.lock().unwrap_or_else(|p| p.into_inner());
        self.shared.stop_at.fetch_min(seq, Ordering::AcqRel);
        if fatal.as_ref().is_some_and(|f| f.seq < seq) {
            drop(fatal);
            self.report(what);
            return;
        }
        let earlier = fatal.replace(Fatal {
            ino,
            path: path.to_string(),
            error,
            seq,
            otherwise: what,
        });
        drop(fatal);
        if let Some(later) = earlier {
            self.report(later.otherwise);
        }
    }

    fn run(&mut self, job: Job) {
        match job {
            Job::Begin { seq, begin } => self.begin(seq, *begin),
            Job::Data { offset, bytes } => {
                self.write(offset, &bytes);
                if let Some(spare) = &self.spare {
                    // Full: the buffer is simply freed.
                    let _ = spare.try_send(bytes);
                }
            }
            Job::End { attrs, size } => {
                let Some(c) = self.current.take().filter(|c| c.ok) else {
                    return;
                };
                self.end(c, &attrs, size);
            }
        }
    }

    /// Writes data of the current inode (unless it already failed).
    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let Some(c) = self.current.as_mut().filter(|c| c.ok) else {
            return;
        };
        let Some(file) = &c.file else { return };
        match file.write_all_at(bytes, offset) {
            Ok(()) => c.written = c.written.max(offset + bytes.len() as u64),
            Err(e) => {
                c.ok = false;
                let (seq, ino, path) = (c.seq, c.ino, c.path.clone());
                self.fail(
                    seq,
                    ino,
                    &path,
                    clone_error(&e),
                    not_restored(ino, &path, e),
                );
            }
        }
    }

    fn begin(&mut self, seq: u64, b: Begin) {
        // An inode left without its End (the reader stopped) is dropped,
        // which closes it.
        self.current = None;
        if seq > self.shared.stop_at.load(Ordering::Acquire) {
            self.report(Report::Abandoned { ino: b.ino });
            return;
        }
        let parent = b.parent.as_fd();
        let made = match &b.kind {
            Kind::File => fsops::create_file_at(parent, &b.name, b.unlink_first).map(Some),
            Kind::Created(_) => Ok(None),
            Kind::Symlink(target) => {
                fsops::make_symlink_at(parent, &b.name, target, b.unlink_first).map(|()| None)
            }
            Kind::Node { kind, rdev } => {
                fsops::make_node_at(parent, &b.name, *kind, *rdev, b.unlink_first).map(|()| None)
            }
            Kind::Existing {
                held,
                is_symlink,
                is_file,
            } => fsops::take_existing(parent, &b.name, held.as_ref(), *is_symlink, *is_file),
        };
        let is_symlink = matches!(
            b.kind,
            Kind::Symlink(_)
                | Kind::Existing {
                    is_symlink: true,
                    ..
                }
        );
        let file = match made {
            Ok(fd) => match b.kind {
                Kind::Created(file) => Some(file),
                _ => fd.map(File::from),
            },
            Err(e) => {
                self.fail(
                    seq,
                    b.ino,
                    &b.path,
                    clone_error(&e),
                    not_restored(b.ino, &b.path, e),
                );
                return;
            }
        };
        let mut c = Current {
            seq,
            ino: b.ino,
            path: b.path,
            parent: b.parent,
            name: b.name,
            file,
            is_symlink,
            written: 0,
            ok: true,
        };
        for l in b.links {
            match fsops::hard_link_at(
                c.parent.as_fd(),
                &c.name,
                l.parent.as_fd(),
                &l.name,
                b.unlink_first,
            ) {
                Ok(()) => self.report(Report::Verbose(format!(
                    "Create hard link {}->{}",
                    l.path, c.path
                ))),
                Err(e) if is_fatal(&e) => {
                    // As a sequential restore: stop, the attributes are
                    // not set.
                    c.ok = false;
                    let what = Report::NameFailed {
                        warning: format!(
                            "warning: cannot create hard link {}->{}: {e}",
                            l.path, c.path
                        ),
                        failed: format!("{} (inode {}): {e}", l.path, c.ino),
                    };
                    self.fail(c.seq, c.ino, &c.path, e, what);
                    break;
                }
                Err(e) => self.report(Report::NameFailed {
                    warning: format!(
                        "warning: cannot create hard link {}->{}: {e}",
                        l.path, c.path
                    ),
                    failed: format!("{} (inode {}): {e}", l.path, c.ino),
                }),
            }
        }
        self.current = Some(c);
    }

    fn end(&mut self, c: Current, attrs: &Attrs, size: u64) {
        let failures = match &c.file {
            Some(file) => {
                // Only a trailing hole needs the size set: data written up
                // to the end already gave the file its size.
                if size > c.written {
                    if let Err(e) = file.set_len(size) {
                        self.fail(
                            c.seq,
                            c.ino,
                            &c.path,
                            clone_error(&e),
                            not_restored(c.ino, &c.path, e),
                        );
                        return;
                    }
                }
                // Like restore, inode flags are only set when there are
                // some to set.
                let set_flags = attrs.flags & RESTORABLE_FLAGS != 0;
                fsops::apply_attrs(&Node::Fd(file.as_fd()), attrs, set_flags)
            }
            None => fsops::apply_attrs(
                &Node::At {
                    parent: c.parent.as_fd(),
                    name: &c.name,
                    is_symlink: c.is_symlink,
                },
                attrs,
                false,
            ),
        };
        // Restored, even if an attribute could not be set (a warning).
        self.shared.restored.fetch_add(1, Ordering::Relaxed);
        for f in failures {
            self.report(Report::Warn(format!("{}: {}: {}", c.path, f.what, f.error)));
        }
    }
}

fn not_restored(ino: u32, path: &str, e: io::Error) -> Report {
    Report::NotRestored {
        warning: format!("{path}: cannot create file: {e}"),
        failed: format!("{path} (inode {ino}): {e}"),
    }
}

/// io::Error is not Clone; the errors here are OS errors or simple ones.
fn clone_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// The pool of writer threads (or the inline writer), seen from the
/// reading thread.
pub struct Writers {
    shared: Arc<Shared>,
    senders: Vec<Sender<Vec<Job>>>,
    /// The batch being filled for each worker, and its data bytes.
    batches: Vec<(Vec<Job>, usize)>,
    threads: Vec<JoinHandle<()>>,
    /// Runs the jobs on the calling thread when there are no threads.
    inline: Option<Worker>,
    reports: Receiver<Report>,
    /// Written data buffers coming back for reuse.
    spare: Receiver<Vec<u8>>,
    /// The worker of the inode begun last, and the next one to use.
    current: usize,
    next: usize,
    /// Inodes begun so far (the next Begin's `seq`).
    begun: u64,
}

impl Writers {
    /// Starts `threads` writer threads (0: write on the calling thread).
    pub fn new(threads: usize) -> io::Result<Self> {
        let shared = Arc::new(Shared::new());
        let (report_tx, reports) = unbounded();
        let (spare_tx, spare) = bounded(SPARE_BUFFERS);
        let mut w = Writers {
            shared: Arc::clone(&shared),
            senders: Vec::new(),
            batches: Vec::new(),
            threads: Vec::new(),
            inline: None,
            reports,
            spare,
            current: 0,
            next: 0,
            begun: 0,
        };
        if threads == 0 {
            w.inline = Some(Worker {
                shared,
                reports: report_tx,
                spare: None,
                current: None,
            });
            return Ok(w);
        }
        let capacity = (BATCHES_IN_FLIGHT / threads).max(1);
        for i in 0..threads {
            let (tx, rx) = bounded::<Vec<Job>>(capacity);
            let mut worker = Worker {
                shared: Arc::clone(&shared),
                reports: report_tx.clone(),
                spare: Some(spare_tx.clone()),
                current: None,
            };
            let handle = std::thread::Builder::new()
                .name(format!("writer-{i}"))
                .spawn(move || {
                    for batch in rx {
                        for job in batch {
                            worker.run(job);
                        }
                    }
                })?;
            w.senders.push(tx);
            w.batches.push((Vec::with_capacity(BATCH_JOBS), 0));
            w.threads.push(handle);
        }
        Ok(w)
    }

    fn send(&mut self, job: Job) {
        if let Some(worker) = &mut self.inline {
            worker.run(job);
            return;
        }
        let (batch, bytes) = &mut self.batches[self.current];
        if let Job::Data { bytes: data, .. } = &job {
            *bytes += data.len();
        }
        batch.push(job);
        if batch.len() >= BATCH_JOBS || *bytes >= BATCH_BYTES {
            self.flush(self.current);
        }
    }

    /// Sends worker `i` its batch (blocks while its queue is full).
    fn flush(&mut self, i: usize) {
        let (batch, bytes) = &mut self.batches[i];
        if batch.is_empty() {
            return;
        }
        let full = std::mem::replace(batch, Vec::with_capacity(BATCH_JOBS));
        *bytes = 0;
        // A worker only goes away by panicking; `finish` reports it.
        let _ = self.senders[i].send(full);
    }

    /// Starts an inode; its Data and End jobs go to the same worker.
    pub fn begin(&mut self, b: Begin) {
        if !self.senders.is_empty() {
            self.current = self.next;
            self.next = (self.next + 1) % self.senders.len();
        }
        self.begun += 1;
        self.send(Job::Begin {
            seq: self.begun,
            begin: Box::new(b),
        });
    }

    /// Contents of the inode begun last.
    pub fn data(&mut self, offset: u64, bytes: &[u8]) {
        if let Some(worker) = &mut self.inline {
            // No copy when writing on this thread.
            worker.write(offset, bytes);
            return;
        }
        let mut buf = self.spare_buffer();
        buf.extend_from_slice(bytes);
        self.send(Job::Data { offset, bytes: buf });
    }

    /// True when data goes to worker threads, so that handing it over as an
    /// owned buffer ([`Writers::data_owned`]) saves a copy.
    pub fn takes_owned_data(&self) -> bool {
        self.inline.is_none()
    }

    /// An empty buffer, one the workers have written and given back if
    /// there is one (so fresh memory is not faulted in for every segment).
    pub fn spare_buffer(&self) -> Vec<u8> {
        let mut buf = self.spare.try_recv().unwrap_or_default();
        buf.clear();
        buf
    }

    /// Contents of the inode begun last, in a buffer of the caller's.
    pub fn data_owned(&mut self, offset: u64, bytes: Vec<u8>) {
        match &mut self.inline {
            Some(worker) => worker.write(offset, &bytes),
            None => self.send(Job::Data { offset, bytes }),
        }
    }

    /// Attributes of the inode begun last; closes it.
    pub fn end(&mut self, attrs: Attrs, size: u64) {
        self.send(Job::End {
            attrs: Box::new(attrs),
            size,
        });
    }

    /// True when the worker that the next inode will go to has at least
    /// half of its queue filled: the reading thread then has time to spare,
    /// and does the next inode's creation itself. (Always true without
    /// worker threads: everything runs on the reading thread anyway.)
    pub fn next_is_behind(&self) -> bool {
        match self.senders.get(self.next) {
            None => true,
            Some(tx) => tx.capacity().is_none_or(|cap| 2 * tx.len() >= cap),
        }
    }

    /// True once a fatal error was met: reading on is pointless.
    pub fn stopped(&self) -> bool {
        self.shared.stop_at.load(Ordering::Acquire) != u64::MAX
    }

    /// The reports so far (never blocks).
    pub fn reports(&self) -> impl Iterator<Item = Report> + '_ {
        self.reports.try_iter()
    }

    /// Waits for every job to be done.
    pub fn finish(mut self) -> Finished {
        for i in 0..self.senders.len() {
            self.flush(i);
        }
        self.senders.clear();
        let mut panicked = false;
        for t in self.threads.drain(..) {
            panicked |= t.join().is_err();
        }
        self.inline = None;
        let reports: Vec<Report> = self.reports.try_iter().collect();
        let mut fatal = self
            .shared
            .fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if panicked && fatal.is_none() {
            fatal = Some(Fatal {
                ino: 0,
                path: "(writer thread)".into(),
                error: io::Error::other("a writer thread failed"),
                seq: 0,
                otherwise: Report::Warn("a writer thread failed".into()),
            });
        }
        Finished {
            reports,
            fatal,
            restored: self.shared.restored.load(Ordering::Relaxed),
        }
    }
}
