//! `rrecover apply`: make new disks like the plan (partition table,
//! filesystems with their recorded parameters, swap), mount them under the
//! target in mount order and restore every filesystem from its dumps.
//!
//! Everything that can refuse does so before the first write: the plan, every
//! dump part against SHA256SUMS, the tools, the disk sizes, and whether a
//! disk already holds something.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fstab;
use crate::layout;
use crate::parts::{self, PartError};
use crate::plan::{Disk, Filesystem, Partition, Plan, PlanError};
use crate::probe;
use crate::sys::{self, Loop, SysError};

/// The options of `rrecover apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print every step (as the equivalent commands) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not refuse a disk that already holds a partition table or filesystem.
    #[arg(long)]
    pub yes: bool,
    /// On a larger disk, grow the last partition (and its filesystem) to the end.
    #[arg(long)]
    pub grow: bool,
    /// On a smaller disk, shrink the last partition and its filesystem, if its
    /// used blocks fit.
    #[arg(long)]
    pub fit: bool,
    /// The backup directory (the plan, the dumps, SHA256SUMS).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Where the restored system is mounted (made if missing).
    #[arg(long, value_name = "MNT")]
    pub target: PathBuf,
    /// The new disks, in the plan's order: block devices or image files.
    #[arg(required = true, value_name = "DISK")]
    pub disks: Vec<PathBuf>,
}

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}; nothing was written")]
    Part(#[from] PartError),
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("the plan has {plan} disk(s) but {given} were given; nothing was written")]
    DiskCount { plan: usize, given: usize },
    #[error("missing tools: {0}; nothing was written")]
    Tools(String),
    #[error("{disk} is {have} bytes, smaller than the plan's disk {index} ({need} bytes): use --fit to shrink its last partition; nothing was written")]
    TooSmall {
        disk: String,
        index: usize,
        have: u64,
        need: u64,
    },
    #[error("{disk}: --fit cannot shrink partition {part}: its filesystem uses {used} blocks of {block} bytes, the disk leaves room for {room}; nothing was written")]
    NoFit {
        disk: String,
        part: u32,
        used: u64,
        block: u32,
        room: u64,
    },
    #[error("{disk}: --fit can only shrink an ext2/3/4 filesystem, and the last partition ({part}) holds {holds}; nothing was written")]
    FitOther {
        disk: String,
        part: u32,
        holds: String,
    },
    #[error("{disk} already holds {what}: pass --yes to overwrite it; nothing was written")]
    NotBlank { disk: String, what: String },
    #[error("{disk} (or a partition on it) is mounted on {at}; nothing was written")]
    Mounted { disk: String, at: String },
    #[error("restoring {fs} from {dump}: {why}")]
    Restore {
        fs: String,
        dump: String,
        why: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("partition {part} of {disk} holds {need} bytes of {holds}, more than the new partition's {have}; nothing was written")]
    RawTooBig {
        disk: String,
        part: u32,
        holds: String,
        need: u64,
        have: u64,
    },
    #[error("cannot make {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A new disk: what was given, the device used (a loop over an image file).
struct Target {
    given: String,
    dev: PathBuf,
    lo: Option<Loop>,
    size: u64,
}

/// One step of the work, printed by --dry-run and run otherwise.
enum Step {
    Run {
        tool: &'static str,
        args: Vec<String>,
        stdin: Option<String>,
    },
    /// Wait for the partition nodes of a disk after sfdisk.
    Nodes {
        disk: usize,
        numbers: Vec<u32>,
    },
    Mkdir(PathBuf),
    Mount {
        node: String,
        kind: String,
        at: PathBuf,
    },
    Restore {
        fs: usize,
        at: PathBuf,
    },
    RemoveSymtab(PathBuf),
    Unmount(PathBuf),
    /// The boot code (and MBR gap) back onto a disk.
    BootArea {
        disk: usize,
        file: String,
    },
    /// A partition image back onto its partition.
    Raw {
        copy: usize,
        node: String,
    },
}

/// Runs `rrecover apply`.
pub fn run(args: Args) -> Result<(), ApplyError> {
    let plan = Plan::load(&args.from)?;
    if plan.disks.len() != args.disks.len() {
        return Err(ApplyError::DiskCount {
            plan: plan.disks.len(),
            given: args.disks.len(),
        });
    }
    check_tools(&plan)?;
    let mut targets = open_targets(&args)?;
    let mut sizes = Vec::new();
    for (i, (d, t)) in plan.disks.iter().zip(&targets).enumerate() {
        sizes.push(partition_sizes(&plan, i, d, t, &args)?);
        check_blank(t, args.yes)?;
    }
    check_raw_sizes(&plan, &targets, &sizes)?;
    // Last of the checks: hashing every part takes longest.
    verify_parts(&plan, &args.from)?;
    let steps = steps(&plan, &args, &targets, &sizes);
    if args.dry_run {
        for s in &steps {
            println!("{}", describe(s, &plan, &args, &targets));
        }
        return Ok(());
    }
    execute(&plan, &args, &mut targets, &steps)
}

/// Every partition image must fit its (maybe shrunk) partition.
fn check_raw_sizes(plan: &Plan, targets: &[Target], sizes: &[Sizes]) -> Result<(), ApplyError> {
    for r in &plan.raw_copies {
        let sectors = sizes[r.place.disk]
            .sectors
            .iter()
            .find(|s| s.0 == r.place.partition)
            .map_or(0, |s| s.1);
        let have = sectors * plan.disks[r.place.disk].sector_size;
        if have < r.size_bytes {
            return Err(ApplyError::RawTooBig {
                disk: targets[r.place.disk].given.clone(),
                part: r.place.partition,
                holds: r.holds.clone(),
                need: r.size_bytes,
                have,
            });
        }
    }
    Ok(())
}

/// Every part of every dump, against SHA256SUMS.
fn verify_parts(plan: &Plan, dir: &Path) -> Result<(), ApplyError> {
    let sums = parts::read_sums(dir)?;
    for fs in &plan.filesystems {
        for d in &fs.dumps {
            for p in &d.parts {
                parts::verify(dir, p, &sums)?;
            }
        }
    }
    for r in &plan.raw_copies {
        for p in &r.parts {
            parts::verify(dir, p, &sums)?;
        }
    }
    for d in &plan.disks {
        if let Some(b) = &d.boot_area {
            parts::verify(dir, b, &sums)?;
        }
    }
    Ok(())
}

/// True if `tool` is an executable in $PATH.
fn in_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

fn check_tools(plan: &Plan) -> Result<(), ApplyError> {
    let mut need = vec!["sfdisk", "mount", "umount"];
    if !plan.filesystems.is_empty() {
        need.extend(["mke2fs", "tune2fs"]);
    }
    if !plan.swaps.is_empty() {
        need.push("mkswap");
    }
    if !plan.volume_groups.is_empty() {
        need.push("lvm");
    }
    if !extlinux_dirs(plan, Path::new("/")).is_empty() {
        need.push("extlinux");
    }
    let missing: Vec<String> = need
        .into_iter()
        .filter(|t| !in_path(t))
        .map(|t| format!("{t} (Debian package {})", sys::package_of(t)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Tools(missing.join(", ")))
    }
}

fn open_targets(args: &Args) -> Result<Vec<Target>, ApplyError> {
    args.disks
        .iter()
        .map(|d| {
            let size = sys::size_of(d)?;
            let (dev, lo) = if sys::is_block(d) || args.dry_run {
                (d.clone(), None)
            } else {
                let l = Loop::attach(d, false)?;
                (l.dev.clone(), Some(l))
            };
            Ok(Target {
                given: d.display().to_string(),
                dev,
                lo,
                size,
            })
        })
        .collect()
}

/// Refuses a disk that is mounted, or holds a table or filesystem without --yes.
fn check_blank(t: &Target, yes: bool) -> Result<(), ApplyError> {
    let dev = t.dev.display().to_string();
    let mut mounted = sys::mounted(&t.dev);
    for n in 1..=128 {
        mounted.extend(sys::mounted(&sys::part_node(&t.dev, n)));
    }
    if let Some((at, _)) = mounted.first() {
        return Err(ApplyError::Mounted {
            disk: t.given.clone(),
            at: at.clone(),
        });
    }
    if yes {
        return Ok(());
    }
    let io = |source| SysError::Io {
        path: t.dev.clone(),
        source,
    };
    let mut head = vec![0u8; 1024];
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&t.dev).map_err(io)?;
        let n = f.read_at(&mut head, 0).map_err(io)?;
        head.truncate(n);
    }
    let what = if head.get(512..520) == Some(b"EFI PART") {
        Some("a GPT partition table".to_string())
    } else if head.get(510..512) == Some(&[0x55, 0xAA]) {
        Some("an MBR partition table or boot sector".to_string())
    } else {
        match probe::content(&t.dev).map_err(io)?.as_str() {
            "unknown" => None,
            other => Some(format!("a filesystem or volume ({other})")),
        }
    };
    match what {
        Some(what) => Err(ApplyError::NotBlank { disk: dev, what }),
        None => Ok(()),
    }
}

/// The partition sizes on the new disk (number -> sectors, and for a grown
/// or fitted last partition its filesystem's new size in blocks).
struct Sizes {
    sectors: Vec<(u32, u64)>,
    /// (partition number, new filesystem size in its blocks).
    fs_blocks: Option<(u32, u64)>,
}

/// Sectors GPT keeps at the end of the disk (backup table and header).
const GPT_TAIL: u64 = 33;

fn partition_sizes(
    plan: &Plan,
    index: usize,
    d: &Disk,
    t: &Target,
    args: &Args,
) -> Result<Sizes, ApplyError> {
    let mut s = Sizes {
        sectors: d.partitions.iter().map(|p| (p.number, p.size)).collect(),
        fs_blocks: None,
    };
    let smaller = t.size < d.size_bytes;
    if smaller && !args.fit {
        return Err(ApplyError::TooSmall {
            disk: t.given.clone(),
            index,
            have: t.size,
            need: d.size_bytes,
        });
    }
    let resize = (smaller && args.fit) || (t.size > d.size_bytes && args.grow);
    let Some(last) = d.partitions.iter().max_by_key(|p| p.start + p.size) else {
        return Ok(s);
    };
    if !resize {
        return Ok(s);
    }
    let tail = if d.label == "gpt" { GPT_TAIL } else { 0 };
    let end = (t.size / d.sector_size).saturating_sub(tail);
    if smaller && last.start + last.size <= end {
        // Everything still fits: nothing to shrink.
        return Ok(s);
    }
    let new = end.saturating_sub(last.start);
    let fs = plan
        .filesystems
        .iter()
        .find(|f| f.place.disk == index && f.place.partition == last.number);
    if let Some(fs) = fs {
        let bs = u64::from(fs.mkfs.block_size);
        let blocks = new * d.sector_size / bs;
        // Room for the used blocks plus the metadata a new mke2fs lays out,
        // and for the inodes in use once the inode count is scaled down.
        let inodes = u64::from(fs.mkfs.inode_count) * blocks / fs.mkfs.blocks_count.max(1);
        if blocks < fs.mkfs.used_blocks + fs.mkfs.used_blocks / 10
            || inodes < u64::from(fs.mkfs.used_inodes) + 16
        {
            return Err(ApplyError::NoFit {
                disk: t.given.clone(),
                part: last.number,
                used: fs.mkfs.used_blocks,
                block: fs.mkfs.block_size,
                room: blocks,
            });
        }
        s.fs_blocks = Some((last.number, blocks));
    } else if smaller {
        return Err(ApplyError::FitOther {
            disk: t.given.clone(),
            part: last.number,
            holds: last.content.clone(),
        });
    }
    for e in &mut s.sectors {
        if e.0 == last.number {
            e.1 = new;
        }
    }
    Ok(s)
}

fn node_of(targets: &[Target], disk: usize, n: u32) -> String {
    sys::part_node(&targets[disk].dev, n).display().to_string()
}

/// The mke2fs and tune2fs lines of one filesystem.
fn mkfs_steps(fs: &Filesystem, node: &str, blocks: Option<u64>) -> [Step; 2] {
    let mut params = fs.mkfs.clone();
    let size = blocks.unwrap_or(params.blocks_count);
    if size != params.blocks_count {
        // Fewer or more blocks: keep the bytes-per-inode ratio, not the count.
        params.inode_count = (u128::from(params.inode_count) * u128::from(size)
            / u128::from(params.blocks_count)) as u32;
    }
    [
        Step::Run {
            tool: "mke2fs",
            args: params.mke2fs_args(&fs.kind, node, size),
            stdin: None,
        },
        Step::Run {
            tool: "tune2fs",
            args: params.tune2fs_args(node),
            stdin: None,
        },
    ]
}

fn steps(plan: &Plan, args: &Args, targets: &[Target], sizes: &[Sizes]) -> Vec<Step> {
    let mut v = Vec::new();
    for (i, d) in plan.disks.iter().enumerate() {
        let size_of = |p: &Partition| {
            sizes[i]
                .sectors
                .iter()
                .find(|s| s.0 == p.number)
                .map_or(p.size, |s| s.1)
        };
        v.push(Step::Run {
            tool: "sfdisk",
            args: vec![
                "-q".into(),
                "--wipe".into(),
                "always".into(),
                targets[i].dev.display().to_string(),
            ],
            stdin: Some(layout::script(d, targets[i].size, &size_of)),
        });
        v.push(Step::Nodes {
            disk: i,
            numbers: d.partitions.iter().map(|p| p.number).collect(),
        });
        if let Some(file) = &d.boot_area {
            v.push(Step::BootArea {
                disk: i,
                file: file.clone(),
            });
        }
    }
    for (copy, r) in plan.raw_copies.iter().enumerate() {
        v.push(Step::Raw {
            copy,
            node: node_of(targets, r.place.disk, r.place.partition),
        });
    }
    for vg in &plan.volume_groups {
        let node = |p: crate::plan::Place| node_of(targets, p.disk, p.partition);
        for a in crate::lvm::recreate(vg, &args.from, &node) {
            v.push(Step::Run {
                tool: "lvm",
                args: a,
                stdin: None,
            });
        }
    }
    for fs in &plan.filesystems {
        let node = node_of(targets, fs.place.disk, fs.place.partition);
        let blocks = sizes[fs.place.disk]
            .fs_blocks
            .filter(|b| b.0 == fs.place.partition)
            .map(|b| b.1);
        v.extend(mkfs_steps(fs, &node, blocks));
    }
    for s in &plan.swaps {
        let node = node_of(targets, s.place.disk, s.place.partition);
        let mut a = vec!["-U".to_string(), s.uuid.clone()];
        if !s.label.is_empty() {
            a.extend(["-L".into(), s.label.clone()]);
        }
        a.extend(["-p".into(), s.page_size.to_string(), node]);
        a.push((s.pages * u64::from(s.page_size) / 1024).to_string());
        v.push(Step::Run {
            tool: "mkswap",
            args: a,
            stdin: None,
        });
    }
    for i in mount_order(plan) {
        let fs = &plan.filesystems[i];
        let at = mount_dir(&args.target, fs, i);
        v.push(Step::Mkdir(at.clone()));
        v.push(Step::Mount {
            node: node_of(targets, fs.place.disk, fs.place.partition),
            kind: fs.kind.clone(),
            at: at.clone(),
        });
        v.push(Step::Restore { fs: i, at });
    }
    for i in mount_order(plan) {
        v.push(Step::RemoveSymtab(
            mount_dir(&args.target, &plan.filesystems[i], i).join("restoresymtable"),
        ));
    }
    for dir in extlinux_dirs(plan, &args.target) {
        v.push(Step::Run {
            tool: "extlinux",
            args: vec!["--install".into(), dir.display().to_string()],
            stdin: None,
        });
    }
    for i in mount_order(plan).into_iter().rev() {
        v.push(Step::Unmount(mount_dir(
            &args.target,
            &plan.filesystems[i],
            i,
        )));
    }
    v
}

/// The extlinux directories of the plan's bootloaders, under `target` as
/// apply mounts them. extlinux is installed again in each after the restore:
/// its boot sector holds the block addresses of ldlinux.sys, which a restore
/// puts elsewhere (the MBR code itself comes back with the boot area).
fn extlinux_dirs(plan: &Plan, target: &Path) -> Vec<PathBuf> {
    plan.bootloader
        .iter()
        .filter(|b| b.kind == "extlinux")
        .filter_map(|b| {
            let dir = b.dir.as_deref()?;
            let i = plan
                .filesystems
                .iter()
                .position(|f| f.place.disk == b.disk && Some(f.place.partition) == b.partition)?;
            Some(mount_dir(target, &plan.filesystems[i], i).join(dir.trim_start_matches('/')))
        })
        .collect()
}

/// Filesystems in mount order: by the depth of their mount point, those the
/// mount table does not name last.
fn mount_order(plan: &Plan) -> Vec<usize> {
    let mut order: Vec<usize> = (0..plan.filesystems.len()).collect();
    order.sort_by_key(|&i| fstab::depth(&plan.filesystems[i].mountpoint));
    order
}

/// Where a filesystem is mounted: its mount point under MNT, or (when the
/// mount table names it nowhere) MNT/.rrecover/fsN.
fn mount_dir(target: &Path, fs: &Filesystem, i: usize) -> PathBuf {
    if fs.mountpoint.starts_with('/') {
        target.join(fs.mountpoint.trim_start_matches('/'))
    } else {
        target.join(format!(".rrecover-unmounted/fs{i}"))
    }
}

fn describe(s: &Step, plan: &Plan, args: &Args, targets: &[Target]) -> String {
    match s {
        Step::Run {
            tool,
            args: a,
            stdin,
        } => match stdin {
            Some(text) => format!("{} <<'EOF'\n{text}EOF", sys::shell_line(tool, a)),
            None => sys::shell_line(tool, a),
        },
        Step::Nodes { disk, .. } => format!(
            "partx -a {} 2>/dev/null || true   # only where partition nodes do not appear by themselves",
            targets[*disk].dev.display()
        ),
        Step::Mkdir(p) => format!("mkdir -p {}", p.display()),
        Step::Mount { node, kind, at } => format!("mount -t {kind} {node} {}", at.display()),
        Step::Restore { fs, at } => plan.filesystems[*fs]
            .dumps
            .iter()
            .map(|d| {
                let files: Vec<String> = d
                    .parts
                    .iter()
                    .map(|p| args.from.join(p).display().to_string())
                    .collect();
                format!(
                    "cat {} | (cd {} && rrestore -rf -)",
                    files.join(" "),
                    at.display()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Step::RemoveSymtab(p) => format!("rm {}", p.display()),
        Step::Unmount(p) => format!("umount {}", p.display()),
        Step::BootArea { disk, file } => {
            let (d, f) = (targets[*disk].dev.display(), args.from.join(file));
            format!(
                "dd if={} of={d} bs=440 count=1 conv=notrunc && dd if={} of={d} bs=512 skip=1 seek=1 conv=notrunc   # boot code",
                f.display(),
                f.display()
            )
        }
        Step::Raw { copy, node } => {
            let files: Vec<String> = plan.raw_copies[*copy]
                .parts
                .iter()
                .map(|p| args.from.join(p).display().to_string())
                .collect();
            format!("cat {} | zstd -dc | dd of={node} bs=1M conv=fsync", files.join(" "))
        }
    }
}

/// Mounts made so far, unmounted in reverse order when dropped (also when
/// apply stops on an error).
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        while let Some(at) = self.0.pop() {
            if let Err(e) = sys::run("umount", &[at.display().to_string()], None) {
                eprintln!("rrecover: {e}");
            }
        }
    }
}

fn execute(
    plan: &Plan,
    args: &Args,
    targets: &mut [Target],
    steps: &[Step],
) -> Result<(), ApplyError> {
    let mut mounts = Mounts(Vec::new());
    for s in steps {
        // Each command line; sfdisk's script (after its first line) left out.
        let text = describe(s, plan, args, targets);
        let lines: Vec<&str> = match s {
            Step::Run { stdin: Some(_), .. } => text.lines().take(1).collect(),
            _ => text.lines().collect(),
        };
        for line in lines {
            eprintln!("rrecover: {line}");
        }
        match s {
            Step::Run {
                tool,
                args: a,
                stdin,
            } => {
                sys::run(tool, a, stdin.as_deref())?;
            }
            Step::Nodes { disk, numbers } => wait_nodes(&targets[*disk], numbers),
            Step::Mkdir(p) => std::fs::create_dir_all(p).map_err(|source| ApplyError::Dir {
                path: p.clone(),
                source,
            })?,
            Step::Mount { node, kind, at } => {
                sys::run(
                    "mount",
                    &[
                        "-t".into(),
                        kind.clone(),
                        node.clone(),
                        at.display().to_string(),
                    ],
                    None,
                )?;
                mounts.0.push(at.clone());
            }
            Step::Restore { fs, at } => restore(plan, args, *fs, at)?,
            Step::RemoveSymtab(p) => remove_symtab(p)?,
            Step::BootArea { disk, file } => {
                crate::raw::write_boot_area(&targets[*disk].dev, &args.from.join(file)).map_err(
                    |source| ApplyError::Write {
                        path: targets[*disk].dev.clone(),
                        source,
                    },
                )?
            }
            Step::Raw { copy, node } => {
                crate::raw::restore(&plan.raw_copies[*copy], &args.from, Path::new(node)).map_err(
                    |source| ApplyError::Write {
                        path: node.into(),
                        source,
                    },
                )?;
            }
            Step::Unmount(at) => {
                sys::run("umount", &[at.display().to_string()], None)?;
                mounts.0.retain(|m| m != at);
            }
        }
    }
    drop(mounts);
    for t in targets.iter_mut() {
        t.lo.take();
    }
    for m in &plan.manual {
        eprintln!(
            "rrecover: manual step for {} ({}): {}",
            m.what, m.holds, m.steps
        );
    }
    Ok(())
}

/// Removes the restoresymtable rrestore -r left (as restore(8) says to
/// after the last level), keeping the restored times of its directory.
fn remove_symtab(p: &Path) -> Result<(), ApplyError> {
    let dir = p.parent().unwrap_or(Path::new("/"));
    let io = |source| ApplyError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(io)?;
    match std::fs::remove_file(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    }
    let times = std::fs::FileTimes::new()
        .set_accessed(meta.accessed().map_err(io)?)
        .set_modified(meta.modified().map_err(io)?);
    std::fs::File::open(dir)
        .and_then(|f| f.set_times(times))
        .map_err(io)
}

/// After sfdisk: the partition nodes, made by the kernel (devtmpfs) or, where
/// /dev is static, by partx.
fn wait_nodes(t: &Target, numbers: &[u32]) {
    let ready = || numbers.iter().all(|n| sys::part_node(&t.dev, *n).exists());
    // Poll every 20 ms; after 200 ms without them, ask partx (static /dev).
    for attempt in 0..250 {
        if ready() {
            return;
        }
        if attempt == 10 && in_path("partx") {
            let _ = sys::run("partx", &["-a".into(), t.dev.display().to_string()], None);
            let _ = sys::run("partx", &["-u".into(), t.dev.display().to_string()], None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// rrestore -r of each dump of a filesystem, level 0 first.
fn restore(plan: &Plan, args: &Args, i: usize, at: &Path) -> Result<(), ApplyError> {
    let fs = &plan.filesystems[i];
    let name = format!(
        "filesystem {} (disk {} partition {})",
        fs.mkfs.uuid, fs.place.disk, fs.place.partition
    );
    let mut dumps: Vec<_> = fs.dumps.iter().collect();
    dumps.sort_by_key(|d| (d.date, d.level));
    let mut ui = rrestore::ui::Ui::new(false, false);
    for d in dumps {
        let first = d.parts.first().cloned().unwrap_or_default();
        let input = parts::reader(&args.from, &d.parts)?;
        rrestore::rebuild::rebuild(input, at, &mut ui).map_err(|why| ApplyError::Restore {
            fs: name.clone(),
            dump: first,
            why,
        })?;
    }
    Ok(())
}
