//! The parallel dump pipeline.
//!
//! ```text
//! scanner ──jobs──▶ N readers ──┐ (results in per-job one-shot channels)
//!    └──────── ordered slots ───┴─▶ packer ──records──▶ M compressors ──┐
//!                                      └──── ordered record slots ─────┴─▶ writer
//! ```
//!
//! - The scanner walks the inodes in dump's order (directories, then the
//!   rest, by inode number) and cuts the work into jobs: a run of small
//!   inodes (up to 256 KiB of data or 64 inodes together), or one header
//!   group (up to 512 KiB) of a big file.
//! - Readers turn jobs into tape pieces (headers, data, messages).
//! - The packer takes the results strictly in scanner order and packs them
//!   into tape records with [`RecordPacker`], which numbers the blocks.
//! - Compressors frame each record ([`frame_record`]); the first record of
//!   each volume is never compressed.
//! - The writer writes records strictly in packer order.
//!
//! Order is kept without reorder buffers: for each job the scanner queues a
//! one-shot receiver in a bounded FIFO that the packer drains in order (the
//! same for records between packer and writer). The bounded FIFOs limit the
//! work in flight, so memory stays bounded whatever the filesystem size.
//! Since the bytes depend only on the scanner's order, the output is the same
//! for any number of threads.

use std::collections::VecDeque;
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};
use dump_format::compress::{frame_record, Compression};
use dump_format::header::{ByteOrder, Header, RecordType, TP_BSIZE};
use dump_format::writer::RecordPacker;
use fsimage::{FileType, Inode};

use crate::content::{self, Context, Group, Piece};
use crate::error::DumpError;
use crate::layout;
use crate::output::Output;
use crate::plan::Plan;
use crate::qfa::QfaFile;
use crate::toc::TocTap;
use crate::volumes::{tape_header, CutRule, Verdict, VolumeMeter, Volumes};

/// Upper bound of jobs in flight (each at most 512 KiB of data, or a run of
/// small inodes).
const MAX_JOBS_IN_FLIGHT: usize = 64;
/// Small inodes travel to the readers in runs of up to this many bytes of
/// data or [`MAX_INODES_PER_JOB`] inodes. One job per small file would cost a
/// thread hand-off per file, and while the compressors keep every core busy
/// each hand-off can wait for a time slice: the packer then starves, and the
/// compressors with it (measured: 0.8 s of a 3.9 s `-z6` dump).
const SMALL_JOB_BYTES: u64 = 256 << 10;
const MAX_INODES_PER_JOB: usize = 64;
/// Upper bound of memory held by records in flight.
const RECORD_BYTES_IN_FLIGHT: usize = 64 << 20;
/// Records travel between packer, compressors and writer in batches of about
/// this size: one channel round trip per 10 KiB record would cost more than
/// compressing it.
const BATCH_BYTES: usize = 256 << 10;

/// The root directory, the first inode on volume 1.
const ROOT_INO: u32 = 2;

/// How to run the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Reader threads, and compressor threads when compressing.
    pub threads: usize,
    /// Tape blocks per record.
    pub ntrec: usize,
    pub compression: Compression,
    /// Where volumes end; the packer starts each further volume with its
    /// TS_TAPE header. `None`: one volume.
    pub cut: Option<CutRule>,
}

/// Where the writer puts records: an [`Output`], or the [`Volumes`] of a
/// multi-volume dump.
pub trait RecordOutput {
    /// `starts_volume`: the record begins the next volume (its first block
    /// is the TS_TAPE header).
    fn write_record(
        &mut self,
        bytes: &[u8],
        blocks: u64,
        starts_volume: bool,
    ) -> Result<(), DumpError>;
    /// The volume being written (from 1) and the bytes written to it.
    fn position(&self) -> (usize, u64);
}

impl RecordOutput for Output {
    fn write_record(&mut self, bytes: &[u8], blocks: u64, _: bool) -> Result<(), DumpError> {
        Ok(Output::write_record(self, bytes, blocks)?)
    }
    fn position(&self) -> (usize, u64) {
        (1, self.bytes())
    }
}

impl RecordOutput for Volumes<'_> {
    fn write_record(
        &mut self,
        bytes: &[u8],
        blocks: u64,
        starts_volume: bool,
    ) -> Result<(), DumpError> {
        Ok(Volumes::write_record(self, bytes, blocks, starts_volume)?)
    }
    fn position(&self) -> (usize, u64) {
        Volumes::position(self)
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// 1 KiB tape blocks, trailer included (dump's final c_tapea).
    pub blocks: u64,
    /// Bytes written to the output (after compression).
    pub bytes: u64,
}

/// Work for a reader thread.
enum Job {
    /// Everything of some inodes, in order (directories, small files, links,
    /// devices...).
    Inodes(Vec<Inode>),
    /// One header group of a big regular file.
    Group {
        ino: u32,
        header: Box<Header>,
        group: Group,
    },
    /// A big directory, streamed ([`content::stream_directory`]).
    Directory(Box<Inode>),
    /// The EXT_XATTR records of a big regular file, after its data.
    Xattrs {
        inode: Box<Inode>,
        header: Box<Header>,
    },
}

type JobResult = Result<Vec<Piece>, DumpError>;

/// What a reader sends back for its job: most jobs send `Last` once; a
/// streamed directory sends `More` as it goes. The reply channel holds one,
/// so a streaming reader waits for the packer: its memory stays one piece.
enum Reply {
    More(Vec<Piece>),
    Last(JobResult),
}

/// A place in the output order for pieces: ready now, or sent by a reader.
enum PieceSlot {
    Ready(Vec<Piece>),
    Pending(Receiver<Reply>),
}
/// Consecutive tape records, in order.
type Batch = Vec<Vec<u8>>;
/// Records to compress: the number of the first, the records, whether the
/// first stays raw (it starts a volume), where the framed records go.
type CompressJob = (u64, Batch, bool, Sender<Result<Batch, DumpError>>);

/// A place in the output order: ready now, or filled in later by a thread.
enum Slot<T> {
    Ready(T),
    Pending(Receiver<Result<T, DumpError>>),
}

impl<T> Slot<T> {
    fn wait(self) -> Result<T, DumpError> {
        match self {
            Slot::Ready(v) => Ok(v),
            // A dropped sender means the thread died; its own error is reported.
            Slot::Pending(rx) => rx.recv().map_err(|_| DumpError::Cancelled)?,
        }
    }
}

/// Runs the dump; returns what was written. `out` is flushed on success.
pub fn run(
    ctx: &Context<'_>,
    plan: &Plan,
    settings: Settings,
    out: &mut (impl RecordOutput + Send),
    toc: Option<&mut TocTap>,
    qfa: Option<&mut QfaFile>,
) -> Result<Written, DumpError> {
    let threads = settings.threads.max(1);
    // Readers mostly wait for the disk: more of them than cores keeps
    // several reads queued, which is what makes reading fast.
    let readers = (2 * threads).max(4);
    let jobs_in_flight = (2 * readers).clamp(4, MAX_JOBS_IN_FLIGHT);
    let record_bytes = settings.ntrec * TP_BSIZE;
    let records_per_batch = (BATCH_BYTES / record_bytes).max(1);
    let batch_bytes = records_per_batch * record_bytes;
    // Compression time varies from batch to batch (text, binaries, zeros);
    // the writer waits for the oldest batch, so a deep window keeps every
    // compressor busy meanwhile.
    let batches_in_flight = (8 * threads).clamp(8, (RECORD_BYTES_IN_FLIGHT / batch_bytes).max(8));
    let compressing = settings.compression != Compression::None;

    let (job_tx, job_rx) = bounded::<(Job, Sender<Reply>)>(jobs_in_flight);
    let (slot_tx, slot_rx) = bounded::<PieceSlot>(jobs_in_flight);
    let (comp_tx, comp_rx) = bounded::<CompressJob>(batches_in_flight);
    let (rec_tx, rec_rx) = bounded::<Slot<Batch>>(batches_in_flight);
    // -Q: (record number, inode) from the packer to the writer, which knows
    // where each record lands. At most one per record in flight.
    let (mark_tx, mark_rx) = crossbeam_channel::unbounded::<(u64, u32)>();
    let marks = qfa.is_some().then(|| QfaMarks {
        tx: mark_tx,
        last: None,
    });
    // The records that start volumes, from the packer to the writer; sent
    // before the record is made, one per volume.
    let (start_tx, start_rx) = crossbeam_channel::unbounded::<u64>();

    thread::scope(|s| {
        let scanner = s.spawn(move || scan(ctx, plan, slot_tx, job_tx));
        let readers: Vec<_> = (0..readers)
            .map(|_| {
                let job_rx = job_rx.clone();
                s.spawn(move || {
                    for (job, tx) in job_rx {
                        let last = run_job(ctx, job, &tx);
                        // The packer may be gone after an error; nothing to do then.
                        let _ = tx.send(Reply::Last(last));
                    }
                })
            })
            .collect();
        drop(job_rx);
        let compressors: Vec<_> = (0..if compressing { threads } else { 0 })
            .map(|_| {
                let comp_rx = comp_rx.clone();
                let c = settings.compression;
                s.spawn(move || {
                    for (first, batch, raw, tx) in comp_rx {
                        let _ = tx.send(compress_batch(first, batch, raw, c));
                    }
                })
            })
            .collect();
        drop(comp_rx);
        let end = layout::end_template(&ctx.template, plan.inodes_count);
        let packer = s.spawn(move || {
            pack(
                ctx,
                settings,
                (records_per_batch, batches_in_flight),
                &end,
                (toc, marks),
                slot_rx,
                (comp_tx, rec_tx, start_tx),
            )
        });

        let written = write(
            ctx,
            settings.ntrec,
            (rec_rx, start_rx),
            out,
            qfa.map(|q| (q, mark_rx)),
        );

        // Collect every thread's outcome; report the error that came first in
        // causality (anything but a cancellation), preferring the writer's.
        let mut first_error: Option<DumpError> = None;
        let mut note = |r: Result<(), DumpError>| {
            if let Err(e) = r {
                let replace = match &first_error {
                    None => true,
                    Some(DumpError::Cancelled) => !matches!(e, DumpError::Cancelled),
                    Some(_) => false,
                };
                if replace {
                    first_error = Some(e);
                }
            }
        };
        let bytes = match written {
            Ok(b) => Some(b),
            Err(e) => {
                note(Err(e));
                None
            }
        };
        let blocks = match packer.join() {
            Ok(Ok(b)) => Some(b),
            Ok(Err(e)) => {
                note(Err(e));
                None
            }
            Err(_) => {
                note(Err(DumpError::ThreadPanicked("packer")));
                None
            }
        };
        note(
            scanner
                .join()
                .unwrap_or(Err(DumpError::ThreadPanicked("scanner"))),
        );
        for r in readers {
            note(r.join().map_err(|_| DumpError::ThreadPanicked("reader")));
        }
        for c in compressors {
            note(
                c.join()
                    .map_err(|_| DumpError::ThreadPanicked("compressor")),
            );
        }
        match (first_error, blocks, bytes) {
            (None, Some(blocks), Some(bytes)) => Ok(Written { blocks, bytes }),
            (Some(e), _, _) => Err(e),
            _ => Err(DumpError::Cancelled),
        }
    })
}

/// Sends one unit of output, ready or to be computed by a reader.
struct Scanner {
    slots: Sender<PieceSlot>,
    jobs: Sender<(Job, Sender<Reply>)>,
    /// Small inodes gathered into the next job, and their data bytes.
    run: Vec<Inode>,
    run_bytes: u64,
}

impl Scanner {
    fn ready(&mut self, pieces: Vec<Piece>) -> Result<(), DumpError> {
        self.flush_run()?;
        self.slots
            .send(PieceSlot::Ready(pieces))
            .map_err(|_| DumpError::Cancelled)
    }

    /// Adds an inode dumped whole to the current run of small inodes.
    fn whole(&mut self, inode: Inode) -> Result<(), DumpError> {
        self.run_bytes += inode.size.min(SMALL_JOB_BYTES);
        self.run.push(inode);
        if self.run_bytes >= SMALL_JOB_BYTES || self.run.len() >= MAX_INODES_PER_JOB {
            self.flush_run()?;
        }
        Ok(())
    }

    fn flush_run(&mut self) -> Result<(), DumpError> {
        if self.run.is_empty() {
            return Ok(());
        }
        self.run_bytes = 0;
        let run = std::mem::take(&mut self.run);
        self.send_job(Job::Inodes(run))
    }

    fn job(&mut self, job: Job) -> Result<(), DumpError> {
        self.flush_run()?;
        self.send_job(job)
    }

    fn send_job(&self, job: Job) -> Result<(), DumpError> {
        let (tx, rx) = bounded(1);
        // Slot first: the packer waits on it while a reader does the job.
        self.slots
            .send(PieceSlot::Pending(rx))
            .map_err(|_| DumpError::Cancelled)?;
        self.jobs.send((job, tx)).map_err(|_| DumpError::Cancelled)
    }
}

/// The scanner thread: dump's passes III and IV, in order.
fn scan(
    ctx: &Context<'_>,
    plan: &Plan,
    slots: Sender<PieceSlot>,
    jobs: Sender<(Job, Sender<Reply>)>,
) -> Result<(), DumpError> {
    let mut out = Scanner {
        slots,
        jobs,
        run: Vec::new(),
        run_bytes: 0,
    };
    let template = &ctx.template;
    out.ready(vec![layout::volume_header(template)])?;
    out.ready(layout::map_pieces(
        template,
        RecordType::Clri,
        &plan.used,
        plan.inodes_count,
    ))?;
    out.ready(vec![Piece::Note("dumping (Pass III) [directories]".into())])?;
    // dump writes the TS_BITS map just before the first inode, naming it.
    let first = plan.dumped.iter().next().unwrap_or(crate::plan::ROOT_INO);
    out.ready(layout::map_pieces(
        template,
        RecordType::Bits,
        &plan.dumped,
        first,
    ))?;

    for ino in plan.dirs.iter().filter(|i| plan.dumped.contains(*i)) {
        let Some(inode) = read_inode(ctx, ino) else {
            continue;
        };
        // The filesystem may be live: skip inodes freed or reused since pass I.
        if inode.file_type() != FileType::Directory || inode.links == 0 || inode.dtime != 0 {
            continue;
        }
        if content::is_big_directory(&inode) {
            out.job(Job::Directory(Box::new(inode)))?;
        } else {
            out.whole(inode)?;
        }
    }

    out.ready(vec![Piece::Note(
        "dumping (Pass IV) [regular files]".into(),
    )])?;
    let bs = u64::from(ctx.fs.block_size());
    for ino in plan.dumped.iter().filter(|i| !plan.dirs.contains(*i)) {
        let Some(inode) = read_inode(ctx, ino) else {
            continue;
        };
        if inode.mode & 0o170000 == 0
            || inode.links == 0
            || inode.dtime != 0
            || matches!(
                inode.file_type(),
                FileType::Directory | FileType::Unknown(_)
            )
        {
            continue;
        }
        if plan.meta_only.contains(ino) {
            out.ready(content::metadata_only(ctx, &inode))?;
            continue;
        }
        if !content::is_big_file(&inode, bs) {
            out.whole(inode)?;
            continue;
        }
        // A big file: one job per header group, so that readers work on it in
        // parallel and no one holds all of it.
        let runs = match ctx.fs.data_runs(&inode) {
            Ok(r) => r,
            Err(e) => {
                skip_inode(ctx, ino, &e);
                continue;
            }
        };
        let header = content::file_header(ctx, &inode);
        if ctx.verbose {
            out.ready(vec![Piece::Note(format!("dumping regular inode {ino}"))])?;
        }
        for group in content::Groups::new(&runs, inode.size, bs) {
            if group.reads.is_empty() {
                // Only holes: nothing to read, no need for a reader.
                out.ready(vec![Piece::Header(Box::new(content::group_header(
                    &header, &group,
                )))])?;
            } else {
                out.job(Job::Group {
                    ino,
                    header: Box::new(header.clone()),
                    group,
                })?;
            }
        }
        out.job(Job::Xattrs {
            inode: Box::new(inode),
            header: Box::new(header),
        })?;
    }
    out.flush_run()
}

/// Reads an inode again for passes III and IV; `None` (reported) if it
/// cannot be read any more.
fn read_inode(ctx: &Context<'_>, ino: u32) -> Option<Inode> {
    match ctx.fs.inode(ino) {
        Ok(i) => Some(i),
        Err(e) => {
            skip_inode(ctx, ino, &e);
            None
        }
    }
}

/// An inode whose metadata (block map, directory blocks, ...) cannot be
/// read is left out and reported; the dump goes on, as dump does. (On a
/// live filesystem this also covers files changed while being dumped.)
/// restore will say that the inode is not on the tape.
fn skip_inode(ctx: &Context<'_>, ino: u32, e: &fsimage::Error) {
    ctx.reporter
        .warning(format_args!("inode {ino} cannot be read, not dumped: {e}"));
}

/// A reader thread's work on one job.
/// Does one job; what it returns is the job's last reply (`reply` carries
/// the pieces of a streamed directory before it).
fn run_job(ctx: &Context<'_>, job: Job, reply: &Sender<Reply>) -> JobResult {
    match job {
        Job::Inodes(inodes) => {
            let mut pieces = Vec::new();
            for inode in &inodes {
                match content::whole_inode(ctx, inode) {
                    Ok(p) => pieces.extend(p),
                    Err(DumpError::Inode { ino, source }) => skip_inode(ctx, ino, &source),
                    Err(e) => return Err(e),
                }
            }
            Ok(pieces)
        }
        Job::Group { ino, header, group } => {
            let h = content::group_header(&header, &group);
            let data = content::read_group(ctx, ino, &group.reads);
            Ok(vec![Piece::Header(Box::new(h)), Piece::Data(data)])
        }
        Job::Directory(inode) => {
            let mut emit = |pieces| reply.send(Reply::More(pieces)).is_ok();
            match content::stream_directory(ctx, &inode, &mut emit) {
                Err(DumpError::Inode { ino, source }) => {
                    skip_inode(ctx, ino, &source);
                    Ok(Vec::new())
                }
                other => other,
            }
        }
        Job::Xattrs { inode, header } => Ok(content::xattr_pieces(ctx, &inode, &header)),
    }
}

/// Frames a batch of records for a compressed dump; record 0, the first
/// of the dump, stays as it is (restore reads it before it knows the dump
/// is compressed), and so does the first record of every volume (`raw`:
/// the batch's first), as dump writes them.
fn compress_batch(first: u64, batch: Batch, raw: bool, c: Compression) -> Result<Batch, DumpError> {
    batch
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let n = first + i as u64;
            if n == 0 || (raw && i == 0) {
                return Ok(record);
            }
            frame_record(&record, c, ByteOrder::Little).map_err(|e| DumpError::Compress {
                record: n,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Hands records on in batches: straight to the writer, or through the
/// compressors.
struct RecordOut {
    compressing: bool,
    per_batch: usize,
    batch: Batch,
    first: u64,
    next: u64,
    /// The next record pushed starts a volume.
    raw_next: bool,
    /// Whether the first record of `batch` starts a volume.
    batch_raw: bool,
    /// Compressed volumes: the packer learns the size of each record.
    sizes: Option<Sizes>,
    compress: Sender<CompressJob>,
    records: Sender<Slot<Batch>>,
    starts: Sender<u64>,
}

/// Compressed batches that pass through the packer on their way to the
/// writer, so that it learns the size of each record (a volume of a
/// compressed dump ends by its compressed size).
struct Sizes {
    /// Batches being compressed, oldest first, with their first record.
    queue: VecDeque<(u64, Receiver<Result<Batch, DumpError>>)>,
    /// At most this many wait in `queue` (the window of batches in flight).
    cap: usize,
    /// (record, size on the medium) learned and not yet taken.
    learned: VecDeque<(u64, u64)>,
}

impl RecordOut {
    /// The next record pushed is the first of a volume: the writer is told,
    /// and it is not compressed.
    fn start_volume(&mut self) -> Result<(), DumpError> {
        self.flush()?;
        self.raw_next = true;
        self.starts
            .send(self.next)
            .map_err(|_| DumpError::Cancelled)
    }

    fn push(&mut self, record: Vec<u8>) -> Result<(), DumpError> {
        if self.batch.is_empty() {
            self.first = self.next;
            self.batch_raw = std::mem::take(&mut self.raw_next);
        }
        self.batch.push(record);
        self.next += 1;
        if self.batch.len() == self.per_batch {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DumpError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        if !self.compressing {
            return self
                .records
                .send(Slot::Ready(batch))
                .map_err(|_| DumpError::Cancelled);
        }
        let (tx, rx) = bounded(1);
        let first = self.first;
        self.compress
            .send((first, batch, self.batch_raw, tx))
            .map_err(|_| DumpError::Cancelled)?;
        if self.sizes.is_none() {
            return self
                .records
                .send(Slot::Pending(rx))
                .map_err(|_| DumpError::Cancelled);
        }
        self.sizes_queue().push_back((first, rx));
        // Pass on what is done, and wait for the oldest when the window is full.
        while self.take_oldest(false)? {}
        while self.sizes_queue().len() > self.sizes.as_ref().map_or(0, |s| s.cap) {
            self.take_oldest(true)?;
        }
        Ok(())
    }

    fn sizes_queue(&mut self) -> &mut VecDeque<(u64, Receiver<Result<Batch, DumpError>>)> {
        &mut self.sizes.as_mut().expect("sizes are kept").queue
    }

    /// Takes the oldest batch being compressed (waiting for it with
    /// `wait`), notes its sizes and hands it to the writer. False when
    /// there is none, or it is not done and `wait` is false.
    fn take_oldest(&mut self, wait: bool) -> Result<bool, DumpError> {
        let Some(sizes) = self.sizes.as_mut() else {
            return Ok(false);
        };
        let Some((first, rx)) = sizes.queue.front() else {
            return Ok(false);
        };
        let first = *first;
        let result = if wait {
            rx.recv().map_err(|_| DumpError::Cancelled)?
        } else {
            match rx.try_recv() {
                Ok(r) => r,
                Err(crossbeam_channel::TryRecvError::Empty) => return Ok(false),
                Err(_) => return Err(DumpError::Cancelled),
            }
        };
        sizes.queue.pop_front();
        let batch = result?;
        for (i, r) in batch.iter().enumerate() {
            sizes.learned.push_back((first + i as u64, r.len() as u64));
        }
        self.records
            .send(Slot::Ready(batch))
            .map_err(|_| DumpError::Cancelled)?;
        Ok(true)
    }

    /// Learns the size of at least one more record: sends the batch being
    /// filled, if need be, and waits for the oldest batch being compressed.
    fn learn_more(&mut self) -> Result<(), DumpError> {
        let known = |o: &Self| o.sizes.as_ref().map_or(0, |s| s.learned.len());
        let before = known(self);
        if self.sizes.as_ref().is_some_and(|s| s.queue.is_empty()) {
            // flush() may pass the batch on at once, its sizes learned.
            self.flush()?;
        }
        if known(self) > before || self.take_oldest(true)? {
            Ok(())
        } else {
            // Every record packed is in a batch; none left means no record
            // without a size, which the meter would not have asked for.
            Err(DumpError::Internal(
                "a volume's size depends on a record that is in no batch",
            ))
        }
    }

    /// The sizes learned since the last call: (record, bytes), in order.
    fn learned(&mut self) -> Vec<(u64, u64)> {
        self.sizes
            .as_mut()
            .map_or_else(Vec::new, |s| s.learned.drain(..).collect())
    }

    /// Sends the last batch and every batch still held to the writer.
    fn finish(&mut self) -> Result<(), DumpError> {
        self.flush()?;
        if let Some(sizes) = self.sizes.take() {
            for (_, rx) in sizes.queue {
                self.records
                    .send(Slot::Pending(rx))
                    .map_err(|_| DumpError::Cancelled)?;
            }
        }
        Ok(())
    }
}

/// Where the packer cuts volumes: when the [`VolumeMeter`] says a volume is
/// full it starts the next volume with a TS_TAPE header made from the
/// header being written (dump's startnewtape()), and stamps the volume
/// number and first record into every later header.
struct VolumeCut {
    meter: Option<VolumeMeter>,
    records: u64,
    /// The number of the current volume's first record.
    volume_first: u64,
    volume: i32,
    firstrec: u64,
    /// The last header packed, and how many of its data blocks are still
    /// to come (dump's slp->count).
    current: Option<Header>,
    remaining: u64,
    due: bool,
    /// The inode each volume starts in, from volume 1 (dump's c_inos).
    starts: Vec<u32>,
}

impl VolumeCut {
    fn new(cut: Option<CutRule>, ntrec: usize) -> Self {
        VolumeCut {
            meter: cut.map(|c| VolumeMeter::new(c, ntrec)),
            records: 0,
            volume_first: 0,
            volume: 1,
            firstrec: 0,
            current: None,
            remaining: 0,
            due: false,
            starts: vec![ROOT_INO],
        }
    }

    fn emit(&mut self, record: Vec<u8>, out: &mut RecordOut) -> Result<(), DumpError> {
        out.push(record)?;
        self.records += 1;
        let Some(meter) = self.meter.as_mut() else {
            return Ok(());
        };
        meter.record_packed();
        loop {
            for (n, size) in out.learned() {
                // Sizes of the volume before are of no more use.
                if n >= self.volume_first {
                    meter.add_size(size);
                }
            }
            match meter.verdict() {
                Verdict::Full => {
                    self.due = true;
                    return Ok(());
                }
                Verdict::NotFull => return Ok(()),
                Verdict::Unknown => out.learn_more()?,
            }
        }
    }

    fn stamp(&self, h: &mut Header) {
        h.volume = self.volume;
        h.firstrec = self.firstrec as i32;
    }

    /// Writes the first inode of each volume into the TS_END header's
    /// c_inos (int32 words over c_addr, index = volume number), which
    /// restore -t -A lists as "Starting inode numbers by volume".
    fn volume_inodes(&self, end: &mut Header, order: ByteOrder) {
        for (i, ino) in self.starts.iter().enumerate() {
            let Some(word) = end.addr.get_mut(4 * (i + 1)..4 * (i + 2)) else {
                break;
            };
            word.copy_from_slice(&match order {
                ByteOrder::Little => ino.to_le_bytes(),
                ByteOrder::Big => ino.to_be_bytes(),
            });
        }
    }

    /// Stamps a header and remembers it as the one being written.
    fn header(&mut self, h: &mut Header) {
        self.stamp(h);
        self.remaining = if matches!(h.record_type(), Some(RecordType::Inode | RecordType::Addr)) {
            let n = (h.count.max(0) as usize).min(h.addr.len());
            h.addr[..n].iter().filter(|&&a| a != 0).count() as u64
        } else {
            0
        };
        self.current = Some(h.clone());
    }

    fn start_volume_if_due(
        &mut self,
        packer: &mut RecordPacker,
        out: &mut RecordOut,
    ) -> Result<(), DumpError> {
        if !self.due {
            return Ok(());
        }
        self.due = false;
        let Some(current) = &self.current else {
            return Ok(());
        };
        self.volume += 1;
        self.starts.push(current.inumber);
        self.firstrec = packer.blocks_written();
        self.volume_first = self.records;
        if let Some(meter) = self.meter.as_mut() {
            meter.next_volume();
        }
        out.start_volume()?;
        let mut tape = tape_header(current, self.volume, self.firstrec, self.remaining);
        if let Some(r) = packer.push_header(&mut tape) {
            self.emit(r, out)?;
        }
        Ok(())
    }
}

/// Where the packer thread puts each piece: volume cuts, the table of
/// contents and the records, in tape order.
struct PieceSink<'a> {
    packer: &'a mut RecordPacker,
    cut: &'a mut VolumeCut,
    toc: Option<&'a mut TocTap>,
    marks: Option<&'a mut QfaMarks>,
    out: &'a mut RecordOut,
}

/// `-Q`: the records where pass IV inodes start, for the writer.
struct QfaMarks {
    tx: Sender<(u64, u32)>,
    /// The record of the last mark: dump lists a record once.
    last: Option<u64>,
}

impl QfaMarks {
    /// dump's rule: the TS_INODE header of an inode of pass IV (not a
    /// directory, not an attribute record), once per record. dump lists no
    /// socket (the next inode in the record is listed instead).
    fn header(&mut self, h: &Header, record: u64) {
        use dump_format::header::mode::{S_IFDIR, S_IFMT, S_IFSOCK};
        let kind = h.inode.mode & S_IFMT;
        if h.c_type == RecordType::Inode as i32
            && h.flags & dump_format::header::flags::DR_EXTATTRIBUTES == 0
            && kind != S_IFDIR
            && kind != S_IFSOCK
            && self.last != Some(record)
        {
            self.last = Some(record);
            // The writer may be gone after an error; nothing to do then.
            let _ = self.tx.send((record, h.inumber));
        }
    }
}

impl PieceSink<'_> {
    fn pieces(&mut self, ctx: &Context<'_>, pieces: Vec<Piece>) -> Result<(), DumpError> {
        for piece in pieces {
            match piece {
                Piece::Header(mut h) => self.header(&mut h)?,
                Piece::Data(data) => self.data(&data)?,
                Piece::Literal {
                    first,
                    data,
                    per_header,
                } => self.literal(*first, &data, per_header)?,
                Piece::Note(text) => ctx.reporter.msg(text),
            }
        }
        Ok(())
    }

    fn header(&mut self, h: &mut Header) -> Result<(), DumpError> {
        self.cut.start_volume_if_due(self.packer, self.out)?;
        self.cut.header(h);
        if let Some(m) = self.marks.as_deref_mut() {
            m.header(h, self.packer.blocks_written() / self.packer.ntrec() as u64);
        }
        let record = self.packer.push_header(h);
        if let Some(t) = self.toc.as_deref_mut() {
            t.before_header(h);
            t.header(h, self.packer.order())?;
        }
        if let Some(r) = record {
            self.cut.emit(r, self.out)?;
        }
        Ok(())
    }

    /// Whole tape blocks after the last header (a short last one is padded).
    fn data(&mut self, data: &[u8]) -> Result<(), DumpError> {
        for block in data.chunks(TP_BSIZE) {
            self.cut.start_volume_if_due(self.packer, self.out)?;
            self.cut.remaining = self.cut.remaining.saturating_sub(1);
            if let Some(t) = self.toc.as_deref_mut() {
                t.block(block)?;
            }
            if let Some(r) = self.packer.push_block(block) {
                self.cut.emit(r, self.out)?;
            }
        }
        Ok(())
    }

    /// [`Piece::Literal`]: its headers are made here, one chunk at a time,
    /// so a big directory waits in the queue as its bytes alone.
    fn literal(&mut self, first: Header, data: &[u8], per_header: usize) -> Result<(), DumpError> {
        let mut header = first;
        for chunk in data.chunks(per_header * TP_BSIZE) {
            let mut h = content::literal_header(&header, chunk.len());
            self.header(&mut h)?;
            self.data(chunk)?;
            header.c_type = RecordType::Addr as i32;
        }
        Ok(())
    }
}

/// The packer thread: pieces in order → numbered tape records.
fn pack(
    ctx: &Context<'_>,
    settings: Settings,
    (records_per_batch, batches_in_flight): (usize, usize),
    end: &Header,
    (mut toc, mut marks): (Option<&mut TocTap>, Option<QfaMarks>),
    slots: Receiver<PieceSlot>,
    (compress, records, starts): (Sender<CompressJob>, Sender<Slot<Batch>>, Sender<u64>),
) -> Result<u64, DumpError> {
    let mut packer = RecordPacker::new(settings.ntrec);
    let mut cut = VolumeCut::new(settings.cut, settings.ntrec);
    let compressing = settings.compression != Compression::None;
    let measured = compressing && settings.cut.is_some_and(CutRule::needs_sizes);
    let mut out = RecordOut {
        compressing,
        per_batch: records_per_batch,
        batch: Vec::with_capacity(records_per_batch),
        first: 0,
        next: 0,
        raw_next: false,
        batch_raw: false,
        sizes: measured.then(|| Sizes {
            queue: VecDeque::new(),
            // Half the window: the records channel holds the other half.
            cap: (batches_in_flight / 2).max(1),
            learned: VecDeque::new(),
        }),
        compress,
        records,
        starts,
    };
    for slot in slots {
        let mut sink = PieceSink {
            packer: &mut packer,
            cut: &mut cut,
            toc: toc.as_deref_mut(),
            marks: marks.as_mut(),
            out: &mut out,
        };
        match slot {
            PieceSlot::Ready(pieces) => sink.pieces(ctx, pieces)?,
            PieceSlot::Pending(rx) => loop {
                // A dropped sender means the thread died; its own error is reported.
                match rx.recv().map_err(|_| DumpError::Cancelled)? {
                    Reply::More(pieces) => sink.pieces(ctx, pieces)?,
                    Reply::Last(last) => break sink.pieces(ctx, last?)?,
                }
            },
        }
    }
    cut.start_volume_if_due(&mut packer, &mut out)?;
    let mut end = end.clone();
    cut.stamp(&mut end);
    end.c_type = RecordType::End as i32;
    end.count = 0;
    cut.volume_inodes(&mut end, packer.order());
    // dump's trailer: TS_END blocks up to the end of the record, at least
    // one; the table of contents ends with the same blocks.
    for _ in 0..packer.end_blocks() {
        let record = packer.push_header(&mut end);
        if let Some(t) = toc.as_deref_mut() {
            t.end(&end, packer.order())?;
        }
        if let Some(r) = record {
            cut.emit(r, &mut out)?;
        }
    }
    let blocks = packer.blocks_written();
    if let Some(r) = packer.finish() {
        out.push(r)?;
    }
    out.finish()?;
    Ok(blocks)
}

/// The writer: records in order to the output. Returns the bytes written.
fn write(
    ctx: &Context<'_>,
    ntrec: usize,
    (batches, starts): (Receiver<Slot<Batch>>, Receiver<u64>),
    out: &mut impl RecordOutput,
    mut qfa: Option<(&mut QfaFile, Receiver<(u64, u32)>)>,
) -> Result<u64, DumpError> {
    let mut bytes = 0u64;
    let mut blocks = 0u64;
    let mut waiting: Option<(u64, u32)> = None;
    // The next record that starts a volume; it was sent before the record
    // was made, so it is in the channel by the time the record comes.
    let mut next_start: Option<u64> = None;
    for slot in batches {
        for record in slot.wait()? {
            let number = blocks / ntrec as u64;
            blocks += ntrec as u64;
            if next_start.is_none_or(|n| n < number) {
                next_start = starts.try_recv().ok();
            }
            let starts_volume = next_start == Some(number);
            out.write_record(&record, ntrec as u64, starts_volume)?;
            bytes += record.len() as u64;
            if let Some((file, marks)) = qfa.as_mut() {
                // Every mark of this record was sent before the record was
                // made, so it is in the channel by now.
                let (volume, end) = out.position();
                let start = end - record.len() as u64;
                while let Some((n, ino)) = waiting.take().or_else(|| marks.try_recv().ok()) {
                    if n > number {
                        waiting = Some((n, ino));
                        break;
                    }
                    file.entry(ino, volume, start)
                        .map_err(|source| DumpError::Qfa {
                            path: file.path().display().to_string(),
                            source,
                        })?;
                }
            }
        }
        ctx.reporter.progress(blocks);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Target;
    use crate::layout::VolumeInfo;
    use crate::report::{ProgressMode, Reporter};
    use dump_format::{Item, Segment, TapeReader};
    use fsimage::Filesystem;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Reads like the filesystem, but fails on one disk block.
    struct FailingBlock<'a> {
        fs: &'a Filesystem,
        bad_offset: u64,
    }

    impl content::BlockSource for FailingBlock<'_> {
        fn read_blocks(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            if (offset..offset + buf.len() as u64).contains(&self.bad_offset) {
                return Err(std::io::Error::other("injected media error"));
            }
            content::BlockSource::read_blocks(self.fs, offset, buf)
        }
    }

    fn mke2fs() -> PathBuf {
        ["/usr/sbin/mke2fs", "/sbin/mke2fs", "/usr/bin/mke2fs"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("mke2fs (e2fsprogs) is required by this test")
    }

    fn image_with_file(dir: &Path, contents: &[u8]) -> PathBuf {
        let tree = dir.join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f"), contents).unwrap();
        let image = dir.join("img");
        let st = Command::new(mke2fs())
            .args(["-q", "-F", "-t", "ext4", "-b", "1024", "-d"])
            .arg(&tree)
            .arg(&image)
            .arg("4M")
            .status()
            .unwrap();
        assert!(st.success(), "mke2fs failed");
        image
    }

    /// An unreadable block is reported and dumped as zeros; the rest of the
    /// file and the dump are intact.
    #[test]
    fn unreadable_block_is_zeroed_and_the_dump_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let contents: Vec<u8> = (0..3 * 1024).map(|i| (i % 251) as u8 + 1).collect();
        let image = image_with_file(dir.path(), &contents);
        let fs = Filesystem::open(&image).unwrap();
        let reporter = Reporter::new(ProgressMode::Lines);
        let plan = crate::plan::plan(&fs, &reporter, &Default::default(), 0, false).unwrap();
        let ino = fs
            .read_dir(&fs.inode(2).unwrap())
            .unwrap()
            .into_iter()
            .find(|e| e.name == b"f")
            .unwrap()
            .ino;
        let runs = fs.data_runs(&fs.inode(ino).unwrap()).unwrap();
        let second = runs
            .iter()
            .find(|r| r.logical <= 1 && 1 < r.logical + r.len)
            .unwrap();
        let bad_offset = (second.physical + 1 - second.logical) * 1024;
        let source = FailingBlock {
            fs: &fs,
            bad_offset,
        };
        let volume = VolumeInfo {
            date: 1_700_000_000,
            level: 0,
            ddate: 0,
            label: "t".into(),
            filesys: "f".into(),
            dev: "d".into(),
            host: "h".into(),
            ntrec: 10,
            compressed: false,
        };
        let ctx = Context {
            fs: &fs,
            blocks: &source,
            template: layout::template(&volume),
            excluded: &plan.excluded,
            reporter: &reporter,
            device: "img".into(),
            verbose: false,
        };
        let out_path = dir.path().join("out.dump");
        let mut out = Output::open(&Target::Path(out_path.clone())).unwrap();
        let settings = Settings {
            threads: 2,
            ntrec: 10,
            compression: Compression::None,
            cut: None,
        };
        let written = run(&ctx, &plan, settings, &mut out, None, None).unwrap();
        out.finish().unwrap();
        assert_eq!(reporter.read_errors(), 1);
        assert_eq!(written.blocks % 10, 0);

        let mut r = TapeReader::new(std::fs::File::open(&out_path).unwrap()).unwrap();
        let mut data = None;
        while let Some(item) = r.next_item().unwrap() {
            if let Item::Inode(h) = item {
                if h.inumber == ino && !h.is_extattr() {
                    let mut buf = vec![0xAAu8; h.inode.size as usize];
                    while let Some(seg) = r.next_segment().unwrap() {
                        if let Segment::Data { offset, bytes } = seg {
                            let o = offset as usize;
                            buf[o..o + bytes.len()].copy_from_slice(bytes);
                        }
                    }
                    data = Some(buf);
                }
            }
        }
        let data = data.expect("the file is on tape");
        assert_eq!(data[..1024], contents[..1024]);
        assert!(
            data[1024..2048].iter().all(|b| *b == 0),
            "bad block as zeros"
        );
        assert_eq!(data[2048..], contents[2048..]);
    }
}
