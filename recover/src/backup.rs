//! `rrecover backup`: record each disk (partition table, filesystem
//! parameters, swap, mount table, bootloader) in DIR/plan and dump every
//! ext2/3/4 filesystem on it through rdump's pipeline into DIR, in parts with
//! their SHA-256 in DIR/SHA256SUMS.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fsparams::{kind_of, FsParams};
use crate::fstab::{self, Known};
use crate::layout::{self, LayoutError};
use crate::parts::{self, PartError};
use crate::plan::{
    Bootloader, Disk, DumpFile, Filesystem, Manual, Place, Plan, PlanError, Swap, PLAN_VERSION,
};
use crate::probe;
use crate::sys::{self, Loop, SysError};

/// The options of `rrecover backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compress each record with zlib, at LEVEL 1..9 (default 2): -z or -z6 (the
    /// level attached, as with rdump).
    #[arg(short = 'z', value_name = "LEVEL", num_args = 0..=1, require_equals = false,
          default_missing_value = "2", value_parser = clap::value_parser!(u32).range(1..=9))]
    pub zlib: Option<u32>,
    /// Compress each record with zstd, at LEVEL 1..22 (default 3): --zstd or --zstd=19.
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, require_equals = true,
          default_missing_value = "3", value_parser = clap::value_parser!(u32).range(1..=22),
          conflicts_with = "zlib")]
    pub zstd: Option<u32>,
    /// Split each dump into parts of SIZE bytes (suffixes K, M, G: 1000M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split: Option<u64>,
    /// Dump level: 0 (full, writes a new plan) or 1..9 (what changed since the
    /// last lower level recorded in DIR/plan).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,
    /// The backup directory (made if missing).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Whole disks: block devices or disk image files.
    #[arg(required = true, value_name = "DISK")]
    pub disks: Vec<PathBuf>,
}

/// "1000M" -> bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix {c:?} in {s:?} (K, M, G, T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 1000M)"))?;
    match n.checked_mul(mult) {
        Some(0) | None => Err(format!("size {s:?} is out of range")),
        Some(v) => Ok(v),
    }
}

#[derive(Debug, Error)]
pub enum BackupError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Part(#[from] PartError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot read {what} on {node}: {source}")]
    Probe {
        what: &'static str,
        node: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("rdump of {node} failed (exit status {status}); its messages are above")]
    Dump { node: String, status: i32 },
    #[error("cannot make {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--level {level} needs the level 0 plan in {dir}: {source}")]
    NoBase {
        level: u32,
        dir: PathBuf,
        source: PlanError,
    },
    #[error("filesystem UUID {uuid} on {node} is not in the plan of {dir}: make a level 0 first")]
    NotInPlan {
        uuid: String,
        node: String,
        dir: PathBuf,
    },
}

/// A disk being backed up: its device (a loop over an image file) and record.
struct Source {
    dev: PathBuf,
    _loop: Option<Loop>,
    disk: Disk,
}

fn open_source(path: &Path) -> Result<Source, BackupError> {
    let lo = if sys::is_block(path) {
        None
    } else {
        Some(Loop::attach(path, true)?)
    };
    let dev = lo
        .as_ref()
        .map_or_else(|| path.to_path_buf(), |l| l.dev.clone());
    let size = sys::size_of(&dev)?;
    let (mut disk, dump) = layout::read(&dev, size)?;
    if let Some(l) = &lo {
        let numbers: Vec<u32> = disk.partitions.iter().map(|p| p.number).collect();
        l.partitions_ready(&numbers);
        for p in &mut disk.partitions {
            p.node = sys::part_node(&l.dev, p.number).display().to_string();
        }
    }
    disk.source = path.display().to_string();
    disk.sfdisk_dump = dump;
    Ok(Source {
        dev,
        _loop: lo,
        disk,
    })
}

fn probe_err<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
    node: &str,
) -> impl FnOnce(E) -> BackupError {
    let node = node.to_string();
    move |e| BackupError::Probe {
        what,
        node,
        source: Box::new(e),
    }
}

/// Everything found on the disks, before any dump.
struct Found {
    plan: Plan,
    /// Per filesystem in `plan.filesystems`: its node now.
    nodes: Vec<String>,
    known: Vec<Known>,
    /// LVM physical volumes: place and node.
    pvs: Vec<(Place, String)>,
    /// Partitions to copy whole: place, node, what they hold.
    raws: Vec<(Place, String, String)>,
    /// Each disk's device (a loop device for an image file).
    sources: Vec<PathBuf>,
}

/// Fills the plan from the partitions: filesystems, swap, what is manual.
fn survey(sources: &mut [Source]) -> Result<Found, BackupError> {
    let mut f = Found {
        plan: Plan {
            version: PLAN_VERSION,
            created: now(),
            hostname: hostname(),
            disks: Vec::new(),
            filesystems: Vec::new(),
            swaps: Vec::new(),
            mounts: Vec::new(),
            manual: Vec::new(),
            bootloader: Vec::new(),
            volume_groups: Vec::new(),
            raw_copies: Vec::new(),
        },
        nodes: Vec::new(),
        known: Vec::new(),
        pvs: Vec::new(),
        raws: Vec::new(),
        sources: sources.iter().map(|s| s.dev.clone()).collect(),
    };
    for (d, src) in sources.iter_mut().enumerate() {
        let (code, grub) =
            probe::mbr_boot_code(&src.dev).map_err(probe_err("the MBR", &src.disk.source))?;
        src.disk.mbr_boot_code = code;
        if grub {
            f.plan.bootloader.push(Bootloader {
                kind: "grub-bios".into(),
                disk: d,
                partition: None,
                evidence: "GRUB boot code in the MBR".into(),
                dir: None,
            });
        }
        for p in &mut src.disk.partitions {
            let place = Place {
                disk: d,
                partition: p.number,
            };
            survey_partition(&mut f, place, p)?;
        }
        f.plan.disks.push(src.disk.clone());
    }
    Ok(f)
}

fn survey_partition(
    f: &mut Found,
    place: Place,
    p: &mut crate::plan::Partition,
) -> Result<(), BackupError> {
    let node = p.node.clone();
    let node_path = Path::new(&node);
    // Blocks cached for the device before a filesystem on it was last
    // written through a mount are stale: drop them (BLKFLSBUF) so the
    // superblock, fstab and dump see what is on the disk.
    if sys::is_block(node_path) {
        let _ = sys::run("blockdev", &["--flushbufs".into(), node.clone()], None);
    }
    p.content = probe::content(node_path).map_err(probe_err("the partition's signature", &node))?;
    let known = |uuid: String, label: String| Known {
        place,
        uuid,
        label,
        partuuid: p.uuid.clone(),
        node: node.clone(),
    };
    if p.type_.eq_ignore_ascii_case(probe::BIOS_BOOT_GUID) {
        p.content = "bios_boot".into();
        f.plan.bootloader.push(Bootloader {
            kind: "grub-bios".into(),
            disk: place.disk,
            partition: Some(p.number),
            evidence: "a BIOS boot partition (GRUB's core.img)".into(),
            dir: None,
        });
        f.raws.push((place, node.clone(), p.content.clone()));
        return Ok(());
    }
    match p.content.as_str() {
        "ext" => {
            let fs = fsimage::Filesystem::open(node_path)
                .map_err(probe_err("the ext2/3/4 superblock", &node))?;
            let params =
                FsParams::from_fs(&fs).map_err(probe_err("the ext2/3/4 superblock", &node))?;
            p.content = kind_of(&params).into();
            f.known
                .push(known(params.uuid.clone(), params.label.clone()));
            if let Some(dir) = ["/boot/extlinux", "/extlinux", "/boot/syslinux"]
                .into_iter()
                .find(|d| fstab::exists(&fs, d))
            {
                f.plan.bootloader.push(Bootloader {
                    kind: "extlinux".into(),
                    disk: place.disk,
                    partition: Some(p.number),
                    evidence: "an extlinux/syslinux directory".into(),
                    dir: Some(dir.into()),
                });
            }
            f.plan.filesystems.push(Filesystem {
                place,
                kind: p.content.clone(),
                mountpoint: String::new(),
                mkfs: params,
                dumps: Vec::new(),
            });
            f.nodes.push(node.clone());
        }
        "swap" => {
            if let Some(s) =
                probe::swap_info(node_path).map_err(probe_err("the swap header", &node))?
            {
                f.known.push(known(s.uuid.clone(), s.label.clone()));
                f.plan.swaps.push(Swap {
                    place,
                    uuid: s.uuid,
                    label: s.label,
                    page_size: s.page_size,
                    pages: s.pages,
                });
            }
        }
        "LVM2_member" => f.pvs.push((place, node.clone())),
        "vfat" if p.size * 512 <= crate::raw::MAX_RAW_BYTES => {
            f.raws.push((place, node.clone(), p.content.clone()))
        }
        other => f.plan.manual.push(manual_step(&node, other, &p.type_)),
    }
    Ok(())
}

/// What to tell the operator about a partition rrecover does not rebuild.
fn manual_step(node: &str, content: &str, ptype: &str) -> Manual {
    let steps = match content {
        "vfat" if ptype.eq_ignore_ascii_case(probe::ESP_GUID) => {
            "EFI system partition: mkfs.vfat it and copy its files back (e.g. with mtools' mcopy), then grub-install --target=x86_64-efi in a chroot"
        }
        "linux_raid_member" => "md RAID member: recreate the array with mdadm --create (same level, members, metadata version), then restore onto it by hand",
        "crypto_LUKS" => "LUKS container: cryptsetup luksFormat (or luksHeaderRestore from a header backup), open it, then restore onto it by hand",
        "LVM2_member" => "LVM physical volume: record it with vgcfgbackup and restore with pvcreate --restorefile / vgcfgrestore, then restore its logical volumes by hand",
        "unknown" => "no filesystem signature recognised: nothing was backed up from it",
        _ => "not ext2/3/4: back its files up with its own tools; it is not dumped",
    };
    Manual {
        what: node.into(),
        holds: content.into(),
        steps: steps.into(),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Reads /etc/fstab out of the first filesystem that has one (the root).
fn mount_table(f: &mut Found) -> Result<(), BackupError> {
    for node in &f.nodes {
        let fs = fsimage::Filesystem::open(Path::new(node))
            .map_err(probe_err("the filesystem", node))?;
        let Some(text) =
            fstab::read_file(&fs, "/etc/fstab").map_err(probe_err("/etc/fstab", node))?
        else {
            continue;
        };
        f.plan.mounts = fstab::mounts(&String::from_utf8_lossy(&text), &f.known);
        break;
    }
    for fs in &mut f.plan.filesystems {
        if let Some(m) = f.plan.mounts.iter().find(|m| m.place == Some(fs.place)) {
            fs.mountpoint = m.mountpoint.clone();
        }
    }
    Ok(())
}

/// Warns about filesystems mounted read-write: their dump is a moving target.
fn warn_mounted(nodes: &[String]) {
    for node in nodes {
        for (at, rw) in sys::mounted(Path::new(node)) {
            if rw {
                eprintln!(
                    "rrecover: WARNING: {node} is mounted read-write on {at}: its dump is a moving target. \
                     For a consistent one dump an LVM snapshot, run fsfreeze -f {at} during the dump, \
                     or boot the rescue stick."
                );
            }
        }
    }
}

/// Runs `rrecover backup`.
pub fn run(args: Args) -> Result<(), BackupError> {
    let mut sources = args
        .disks
        .iter()
        .map(|d| open_source(d))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(&args.to).map_err(|source| BackupError::Dir {
        path: args.to.clone(),
        source,
    })?;
    let mut found = survey(&mut sources)?;
    mount_table(&mut found)?;
    warn_mounted(&found.nodes);
    for (i, d) in found.plan.disks.iter().enumerate() {
        let path = args.to.join(format!("disk{i}.sfdisk"));
        std::fs::write(&path, &d.sfdisk_dump)
            .map_err(|source| BackupError::Dir { path, source })?;
    }
    found.plan.volume_groups = crate::lvm::record(&args.to, &found.pvs)?;
    for vg in &found.plan.volume_groups {
        if !vg.lvs.is_empty() {
            found.plan.manual.push(Manual {
                what: format!("volume group {}", vg.name),
                holds: format!("logical volumes {}", vg.lvs.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")),
                steps: format!("apply recreates the volume group and its logical volumes (inactive); their filesystems are not dumped by rrecover yet: dump each with rdump -0 -f FILE /dev/{}/LV and after apply run lvm vgchange -ay {}, mke2fs and rrestore -rf FILE", vg.name, vg.name),
            });
        }
    }
    let uuids: Vec<String> = found
        .plan
        .filesystems
        .iter()
        .map(|f| f.mkfs.uuid.clone())
        .collect();
    let mut plan = if args.level == 0 {
        found.plan.clone()
    } else {
        base_plan(&args, &found)?
    };
    for (fs_index, node) in found.nodes.iter().enumerate() {
        let uuid = uuids[fs_index].clone();
        let target = plan
            .filesystems
            .iter_mut()
            .position(|f| f.mkfs.uuid == uuid)
            .ok_or_else(|| BackupError::NotInPlan {
                uuid: uuid.clone(),
                node: node.clone(),
                dir: args.to.clone(),
            })?;
        let dump = crate::dump::dump(&args, node, target, &plan.filesystems[target])?;
        plan.filesystems[target].dumps.push(dump);
    }
    if args.level == 0 {
        save_raw(&args, &found, &mut plan)?;
    }
    plan.save(&args.to)?;
    eprintln!(
        "rrecover: backup of {} disk(s), {} filesystem(s) in {}; plan in {}",
        plan.disks.len(),
        found.nodes.len(),
        args.to.display(),
        args.to.join(crate::plan::PLAN_FILE).display()
    );
    for m in &plan.manual {
        eprintln!(
            "rrecover: manual step for {} ({}): {}",
            m.what, m.holds, m.steps
        );
    }
    Ok(())
}

/// Copies the EFI/BIOS boot partitions and each disk's boot code into DIR.
fn save_raw(args: &Args, found: &Found, plan: &mut Plan) -> Result<(), BackupError> {
    for (place, node, holds) in &found.raws {
        let base = format!("disk{}-part{}.{holds}.zst", place.disk, place.partition);
        let (size, parts) = crate::raw::save(Path::new(node), &args.to, &base, args.split)?;
        parts::add_sums(&args.to, &parts)?;
        plan.raw_copies.push(crate::raw::RawCopy {
            place: *place,
            holds: holds.clone(),
            size_bytes: size,
            parts: parts.into_iter().map(|p| p.0).collect(),
        });
    }
    for (i, disk) in plan.disks.iter_mut().enumerate() {
        if !disk.mbr_boot_code {
            continue;
        }
        let gap = (disk.label == "dos")
            .then(|| disk.partitions.iter().map(|p| p.start).min().unwrap_or(1) * disk.sector_size);
        let src = &found.sources[i];
        let area = crate::raw::read_boot_area(src, gap)
            .map_err(probe_err("the boot code", &disk.source))?;
        let name = format!("disk{i}.bootarea");
        let path = args.to.join(&name);
        std::fs::write(&path, &area).map_err(|source| BackupError::Dir { path, source })?;
        let sum = parts::hash_file(&args.to.join(&name))?;
        parts::add_sums(&args.to, &[(name.clone(), sum)])?;
        disk.boot_area = Some(name);
    }
    Ok(())
}

/// The plan an incremental adds to (the level 0's).
fn base_plan(args: &Args, _found: &Found) -> Result<Plan, BackupError> {
    Plan::load(&args.to).map_err(|source| BackupError::NoBase {
        level: args.level,
        dir: args.to.clone(),
        source,
    })
}

/// The dump a new one of `level` is taken against: the latest of a lower level.
pub fn since(fs: &Filesystem, level: u32) -> Option<&DumpFile> {
    fs.dumps
        .iter()
        .filter(|d| d.level < level)
        .max_by_key(|d| d.date)
}

/// `parts` written for a dump, into the plan's record and SHA256SUMS.
pub fn record(
    dir: &Path,
    level: u32,
    date: i64,
    w: parts::Written,
) -> Result<DumpFile, BackupError> {
    parts::add_sums(dir, &w.parts)?;
    Ok(DumpFile {
        level,
        date,
        bytes: w.bytes,
        parts: w.parts.into_iter().map(|p| p.0).collect(),
    })
}
