//! `scan`: how fast fsimage walks an image, against `cat IMG > /dev/null`.
//!
//! The walk runs in a child process (`dump-benches scan-once`) so that its
//! CPU time and peak RSS are measured like any other tool's. It reads every
//! allocated inode (inode-scan rate), then every data run of every regular
//! file, directory and slow symlink, single-threaded like cat.

use std::path::Path;
use std::time::Instant;

use fsimage::{FileType, Filesystem, Run, RunKind};

use crate::compare::{compare, Case, Comparison, Measured, Target};
use crate::error::{Error, IoContext};
use crate::measure::{self, Invocation};
use crate::settings::{show, Settings};

const RSS_LIMIT_MIB: f64 = 200.0;
/// Largest single read, so memory stays flat whatever the file sizes.
const CHUNK: usize = 1 << 20;

/// What one walk found and how long each phase took.
pub struct ScanResult {
    pub inodes: u64,
    pub inode_secs: f64,
    pub data_bytes: u64,
    pub data_secs: f64,
    /// Sum of all bytes read, so no read can be optimised away.
    pub checksum: u64,
}

/// The worker: walk the image once and print one line of results.
pub fn scan_once(image: &Path) -> Result<ScanResult, Error> {
    let fs = Filesystem::open(image).map_err(|e| Error::fs(image, e))?;
    let sb = fs.superblock();
    let expected = u64::from(sb.inodes_count - sb.free_inodes_count.min(sb.inodes_count));

    let start = Instant::now();
    let inos = fs.allocated_inodes().map_err(|e| Error::fs(image, e))?;
    let mut inodes = Vec::with_capacity(inos.len());
    for &ino in &inos {
        inodes.push(fs.inode(ino).map_err(|e| Error::fs(image, e))?);
    }
    let inode_secs = start.elapsed().as_secs_f64();
    if inodes.len() as u64 != expected {
        return Err(Error::check(
            format!("fsimage scan of {}", image.display()),
            format!(
                "{} allocated inodes found, superblock says {expected}",
                inodes.len()
            ),
        ));
    }

    let start = Instant::now();
    let bs = u64::from(fs.block_size());
    let mut buf = vec![0u8; CHUNK];
    let (mut data_bytes, mut checksum) = (0u64, 0u64);
    for inode in &inodes {
        if inode.links == 0
            || !matches!(
                inode.file_type(),
                FileType::Regular | FileType::Directory | FileType::Symlink
            )
        {
            continue;
        }
        for run in fs.data_runs(inode).map_err(|e| Error::fs(image, e))? {
            if run.kind != RunKind::Data {
                continue;
            }
            let mut done = 0;
            while done < run.len {
                let blocks = (run.len - done).min(CHUNK as u64 / bs);
                let part = Run {
                    logical: run.logical + done,
                    physical: run.physical + done,
                    len: blocks,
                    kind: RunKind::Data,
                };
                let bytes = (blocks * bs) as usize;
                fs.read_file_blocks(inode, &part, &mut buf[..bytes])
                    .map_err(|e| Error::fs(image, e))?;
                checksum = buf[..bytes].chunks_exact(8).fold(checksum, |acc, w| {
                    acc.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
                });
                data_bytes += bytes as u64;
                done += blocks;
            }
        }
    }
    Ok(ScanResult {
        inodes: inodes.len() as u64,
        inode_secs,
        data_bytes,
        data_secs: start.elapsed().as_secs_f64(),
        checksum,
    })
}

impl ScanResult {
    pub fn to_line(&self) -> String {
        format!(
            "inodes={} inode_secs={:.6} data_bytes={} data_secs={:.6} checksum={:016x}",
            self.inodes, self.inode_secs, self.data_bytes, self.data_secs, self.checksum
        )
    }

    fn parse(line: &str) -> Option<ScanResult> {
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")).map(str::to_string))
        };
        Some(ScanResult {
            inodes: field("inodes")?.parse().ok()?,
            inode_secs: field("inode_secs")?.parse().ok()?,
            data_bytes: field("data_bytes")?.parse().ok()?,
            data_secs: field("data_secs")?.parse().ok()?,
            checksum: u64::from_str_radix(&field("checksum")?, 16).ok()?,
        })
    }
}

pub fn run(settings: &Settings, image: &Path) -> Result<Vec<Comparison>, Error> {
    let image_bytes = std::fs::metadata(image)
        .ctx(|| format!("stat {}", image.display()))?
        .len();
    let scratch = settings.scratch_dir("bench-scan-")?;
    let result_file = scratch.path().join("scan.txt");
    let exe = std::env::current_exe().ctx(|| "finding this program's path".into())?;

    let cat = Invocation::new("cat", [show(image)]);
    let cat_case = Case::new("cat", format!("{} > /dev/null", cat.display()), move || {
        let sample = measure::run(&cat)?;
        let mut m = Measured::new(sample, None);
        m.extra.push((
            "MiB/s",
            image_bytes as f64 / 1_048_576.0 / sample.wall.as_secs_f64(),
        ));
        Ok(m)
    });

    let worker = Invocation::new(exe, ["scan-once".into(), "--image".into(), show(image)])
        .stdout_to(&result_file);
    let mut first: Option<(u64, u64, u64)> = None;
    let scan_case = Case::new("fsimage walk", worker.display(), move || {
        let sample = measure::run(&worker)?;
        let text = std::fs::read_to_string(&result_file)
            .ctx(|| format!("reading {}", result_file.display()))?;
        let r = ScanResult::parse(text.trim())
            .ok_or_else(|| Error::check("scan-once output", format!("unparsable: {text:?}")))?;
        // Every walk must read the same inodes and the same bytes.
        let key = (r.inodes, r.data_bytes, r.checksum);
        if *first.get_or_insert(key) != key {
            return Err(Error::check(
                "fsimage walk",
                "two walks of the same image read different data",
            ));
        }
        if r.data_bytes == 0 {
            return Err(Error::check("fsimage walk", "no file data read"));
        }
        let mut m = Measured::new(sample, None);
        m.extra.push(("inodes", r.inodes as f64));
        m.extra.push(("inodes/s", r.inodes as f64 / r.inode_secs));
        m.extra
            .push(("data MiB", r.data_bytes as f64 / 1_048_576.0));
        m.extra
            .push(("MiB/s", r.data_bytes as f64 / 1_048_576.0 / r.data_secs));
        Ok(m)
    });
    Ok(vec![compare(
        "scan",
        cat_case,
        scan_case,
        settings.runs,
        vec![
            Target::new(
                "data MiB/s >= 0.5x cat MiB/s",
                |o, r| matches!((o.extra("MiB/s"), r.extra("MiB/s")), (Some(a), Some(b)) if a >= 0.5 * b),
            ),
            // The walk maps the image file, and ru_maxrss counts every mapped
            // page it reads; what it allocates itself is the anonymous RSS.
            Target::new(
                format!("walk peak anon RSS < {RSS_LIMIT_MIB:.0} MiB"),
                |o, _| o.anon_mib() < RSS_LIMIT_MIB,
            ),
        ],
    )?])
}

/// The scan section's own table: rates rather than times.
pub fn rates_table(c: &Comparison, image_bytes: u64) -> String {
    let mut s =
        String::from("| measure | fsimage walk | cat | ratio walk / cat |\n|---|---|---|---|\n");
    let (Some(o), Some(r)) = (c.ours.stats(), c.reference.stats()) else {
        s.push_str("| (not measured) | | | |\n");
        return s;
    };
    let f = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
    s.push_str(&format!(
        "| inodes read, rate | {} inodes at {} inodes/s | | |\n",
        f(o.extra("inodes")),
        f(o.extra("inodes/s"))
    ));
    let ratio = match (o.extra("MiB/s"), r.extra("MiB/s")) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "-".into(),
    };
    s.push_str(&format!(
        "| bytes read, throughput (median) | {} MiB of file data at {} MiB/s | {:.0} MiB image at {} MiB/s | {ratio} |\n",
        f(o.extra("data MiB")),
        f(o.extra("MiB/s")),
        image_bytes as f64 / 1_048_576.0,
        f(r.extra("MiB/s")),
    ));
    s
}
