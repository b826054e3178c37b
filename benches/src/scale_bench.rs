//! `scale`: one large inode count (issue 13). An ext4 image of about N
//! inodes, 200 000 of them small files in one directory, dumped and restored
//! once by each side. Each tool runs once under a time limit: the reference
//! restore -r takes minutes on such an image, and a run that hits the limit
//! is reported as such instead of a time.
//!
//! The image is filled through a loop mount by this process (mke2fs -d
//! walks a 200k-entry directory in quadratic time: over 14 minutes).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext};
use crate::measure::{self, Invocation, Sample};
use crate::prng::Prng;
use crate::settings::{show, Settings};

/// Entries of the one big directory.
const BIG_DIR_ENTRIES: u64 = 200_000;
/// The rest go into directories of this many files.
const PER_SMALL_DIR: u64 = 1_000;
/// Largest file: a few KiB.
const MAX_FILE: u64 = 4_096;
/// Each tool's run is stopped after this long unless told otherwise.
pub const DEFAULT_LIMIT_S: u64 = 120;

/// Loop device attached to an image and mounted; undone on drop.
struct LoopMount {
    dev: String,
    dir: tempfile::TempDir,
    mounted: bool,
}

impl LoopMount {
    fn new(img: &Path, settings: &Settings) -> Result<LoopMount, Error> {
        let dev = measure::capture("losetup", &["-f", "--show", &show(img)])?
            .trim()
            .to_string();
        let mut m = LoopMount {
            dev,
            dir: settings.scratch_dir("scale-mnt.")?,
            mounted: false,
        };
        measure::run_quiet(&Invocation::new(
            "mount",
            [m.dev.clone(), show(m.dir.path())],
        ))?;
        m.mounted = true;
        Ok(m)
    }
}

impl LoopMount {
    /// Unmounts, keeping the loop device for the dumps (dump 0.4b47 takes
    /// a path that is not a device as a directory to dump).
    fn unmount(&mut self) -> Result<(), Error> {
        measure::run_quiet(&Invocation::new("umount", [show(self.dir.path())]))?;
        self.mounted = false;
        Ok(())
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = measure::run_quiet(&Invocation::new("umount", [show(self.dir.path())]));
        }
        let _ = measure::run_quiet(&Invocation::new("losetup", ["-d", self.dev.as_str()]));
    }
}

/// Makes `out`: mke2fs of an empty image, then `inodes` files and
/// directories written through a loop mount. Returns the files made and
/// the image, unmounted, still on its loop device.
fn make_image(settings: &Settings, inodes: u64, out: &Path) -> Result<(u64, LoopMount), Error> {
    let big = inodes.min(BIG_DIR_ENTRIES);
    let rest = inodes.saturating_sub(big);
    let small_dirs = rest.div_ceil(PER_SMALL_DIR + 1);
    // One 4 KiB block per file (none is over MAX_FILE) plus directories,
    // inode tables (256 bytes each) and the journal, with room to spare.
    let mib = inodes * (4096 + 256) * 3 / 2 / 1_048_576 + 256;
    let _ = std::fs::remove_file(out);
    let f = std::fs::File::create(out).ctx(|| format!("creating {}", out.display()))?;
    f.set_len(mib * 1_048_576)
        .ctx(|| format!("sizing {}", out.display()))?;
    drop(f);
    let inode_count = (inodes + inodes / 10 + 1_000).to_string();
    measure::run_quiet(&Invocation::new(
        "mke2fs",
        ["-q", "-F", "-t", "ext4", "-N", &inode_count, &show(out)],
    ))?;
    let mut mount = LoopMount::new(out, settings)?;
    let root = mount.dir.path();
    let mut rng = Prng::new(0x5ca1e);
    let mut made = fill_dir(&root.join("big"), big, &mut rng)?;
    let mut left = rest.saturating_sub(small_dirs);
    for d in 0..small_dirs {
        let n = left.min(PER_SMALL_DIR);
        made += fill_dir(&root.join(format!("d{d:04}")), n, &mut rng)?;
        left -= n;
    }
    mount.unmount()?;
    Ok((made, mount))
}

/// `n` files of 1..=MAX_FILE bytes in a new directory `dir`.
fn fill_dir(dir: &Path, n: u64, rng: &mut Prng) -> Result<u64, Error> {
    std::fs::create_dir(dir).ctx(|| format!("creating {}", dir.display()))?;
    let data = vec![b'x'; MAX_FILE as usize];
    for i in 0..n {
        let len = 1 + (rng.next_u64() % MAX_FILE) as usize;
        let path = dir.join(format!("f{i:06}"));
        let mut f = std::fs::File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        f.write_all(&data[..len])
            .ctx(|| format!("writing {}", path.display()))?;
    }
    Ok(n)
}

/// One timed run: a sample, or the limit it hit.
enum Run {
    Done(Sample),
    TimedOut,
}

struct Row {
    case: &'static str,
    tool: String,
    command: String,
    run: Run,
}

/// Runs `inv` under `timeout -s KILL`. ru_maxrss from wait4 covers the
/// tool too (timeout waits for it), so the peak RSS is the tool's.
fn timed(inv: &Invocation, limit: Duration) -> Result<Run, Error> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "-s".into(),
        "KILL".into(),
        limit.as_secs().to_string().into(),
        inv.program.clone().into(),
    ];
    args.extend(inv.args.iter().cloned());
    let wrapped = Invocation {
        program: "timeout".into(),
        args,
        ..inv.clone()
    };
    let start = Instant::now();
    match measure::run(&wrapped) {
        Ok(s) => Ok(Run::Done(s)),
        Err(e) if start.elapsed() >= limit => {
            eprintln!("[scale] stopped after {} s: {e}", limit.as_secs());
            Ok(Run::TimedOut)
        }
        Err(e) => Err(e),
    }
}

/// Counts the entries of `dir` (the restored big directory).
fn count_entries(dir: &Path) -> Result<u64, Error> {
    let rd = std::fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))?;
    Ok(rd.count() as u64)
}

fn check_count(what: &str, got: u64, want: u64) -> Result<(), Error> {
    if got >= want {
        Ok(())
    } else {
        Err(Error::check(
            what,
            format!("{got} entries, expected {want}"),
        ))
    }
}

/// Dump, -t and -r of both sides, each once.
pub fn run(settings: &Settings, inodes: u64, limit_s: u64) -> Result<String, Error> {
    let limit = Duration::from_secs(limit_s);
    let work = settings.scratch_dir("scale.")?;
    let img = work.path().join("scale.img");
    let t = Instant::now();
    let (files, dev) = make_image(settings, inodes, &img)?;
    eprintln!(
        "[scale] image of {files} files in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let mut dumps: Vec<PathBuf> = Vec::new();
    for (tool, program) in [("dump", &settings.dump), ("rdump", &settings.rdump)] {
        let file = work.path().join(format!("{tool}.dump"));
        let inv = Invocation::new(
            program,
            ["-0".into(), "-f".into(), show(&file), dev.dev.clone()],
        );
        eprintln!("[scale] {}", inv.display());
        rows.push(Row {
            case: "dump -0",
            tool: tool.into(),
            command: inv.display(),
            run: timed(&inv, limit)?,
        });
        dumps.push(file);
    }
    let big = BIG_DIR_ENTRIES.min(inodes);
    for (tool, program, dumpfile) in [
        ("restore", &settings.restore, &dumps[0]),
        ("rrestore", &settings.rrestore, &dumps[1]),
    ] {
        let listing = work.path().join(format!("{tool}.list"));
        let inv = Invocation::new(program, ["-tf".into(), show(dumpfile)]).stdout_to(&listing);
        eprintln!("[scale] {}", inv.display());
        let run = timed(&inv, limit)?;
        if let Run::Done(_) = run {
            let text = std::fs::read_to_string(&listing)
                .ctx(|| format!("reading {}", listing.display()))?;
            check_count(
                &format!("{tool} -t listing"),
                text.lines().count() as u64,
                files,
            )?;
        }
        rows.push(Row {
            case: "-t",
            tool: tool.into(),
            command: inv.display(),
            run,
        });
        let target = work.path().join(format!("{tool}-r"));
        std::fs::create_dir(&target).ctx(|| format!("creating {}", target.display()))?;
        let inv = Invocation::new(program, ["-rf".into(), show(dumpfile)]).in_dir(&target);
        eprintln!("[scale] {}", inv.display());
        let run = timed(&inv, limit)?;
        if let Run::Done(_) = run {
            check_count(
                &format!("{tool} -r big/"),
                count_entries(&target.join("big"))?,
                big,
            )?;
        }
        rows.push(Row {
            case: "-r",
            tool: tool.into(),
            command: inv.display(),
            run,
        });
        let _ = std::fs::remove_dir_all(&target);
    }
    // Side by side: reference then ours, case by case.
    rows.sort_by_key(|r| ["dump -0", "-t", "-r"].iter().position(|c| *c == r.case));
    Ok(table(inodes, files, limit, &rows))
}

fn table(inodes: u64, files: u64, limit: Duration, rows: &[Row]) -> String {
    let mut s = format!(
        "### scale ({inodes} inodes asked, {files} files; {} in one directory)\n\n",
        BIG_DIR_ENTRIES.min(inodes)
    );
    s.push_str("| case | tool | wall s | CPU s | peak RSS MiB | peak RSS bytes per file |\n|---|---|---|---|---|---|\n");
    for r in rows {
        match &r.run {
            Run::Done(x) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.2} | {:.2} | {:.1} | {:.0} |",
                    r.case,
                    r.tool,
                    x.wall.as_secs_f64(),
                    x.cpu().as_secs_f64(),
                    x.max_rss_kib as f64 / 1024.0,
                    x.max_rss_kib as f64 * 1024.0 / files as f64
                );
            }
            Run::TimedOut => {
                let _ = writeln!(
                    s,
                    "| {} | {} | did not finish within {} s | | | |",
                    r.case,
                    r.tool,
                    limit.as_secs()
                );
            }
        }
    }
    s.push_str("\nEach tool ran once under `timeout -s KILL`; peak RSS is ru_maxrss from wait4.\n\nCommands:\n\n");
    for r in rows {
        let _ = writeln!(s, "- {} / {}: `{}`", r.case, r.tool, r.command);
    }
    s.push('\n');
    s
}
