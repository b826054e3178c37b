//! `rrecover mkrescue`: the bootable recovery stick. A kernel with the modules needed
//! to reach disks and shares ([`kmod`]), an initramfs ([`stage`], packed by [`cpio`])
//! holding busybox, the static rdump/rrestore/rrecover and the tools apply runs with
//! every library they need ([`elf`]), and a FAT stick image that syslinux boots ([`stick`]).

pub mod cpio;
pub mod elf;
pub mod kmod;
pub mod stage;
pub mod stick;

use std::path::{Path, PathBuf};

/// What went wrong while building the stick, naming the file, module or tool.
#[derive(Debug, thiserror::Error)]
pub enum RescueError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kernel modules in {dir}: {why}")]
    Modules { dir: PathBuf, why: String },
    #[error("the kernel's modules in {dir} lack what the stick needs: {names} (neither a module in modules.dep nor built in); use a kernel that has them")]
    MissingModules { dir: PathBuf, names: String },
    #[error("{path}: not a usable ELF file: {why}")]
    Elf { path: PathBuf, why: String },
    #[error("{binary} needs {library}, which is not on this machine")]
    Library { binary: PathBuf, library: String },
    #[error("not found on this machine (install it first): {0}")]
    MissingTools(String),
    #[error("{binary} does not run in a chroot of the stick's tree: {why}")]
    Verify { binary: PathBuf, why: String },
    #[error("{0}: no plan file in this backup directory (made by `rrecover backup --to DIR`)")]
    Plan(PathBuf),
    #[error("{tool}: {why}")]
    Tool { tool: String, why: String },
    #[error("{0}")]
    Usage(String),
}

impl RescueError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        RescueError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The options of `rrecover mkrescue`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example (a stick for this machine, with its plan, unattended from \
the kernel command line):\n  rrecover mkrescue --plan /mnt/share/backup --out stick.img\n  \
dd if=stick.img of=/dev/sdX bs=4M  # then at the stick's boot: prompt:\n  \
rescue rrecover.auto=1 rrecover.share=/dev/sdb1 rrecover.target=/dev/sda"
)]
pub struct Args {
    /// Kernel to boot [default: /boot/vmlinuz-VERSION of the running kernel]
    #[arg(long, value_name = "VMLINUZ")]
    pub kernel: Option<PathBuf>,
    /// The kernel's module directory, with depmod's modules.dep [default:
    /// /lib/modules/VERSION, VERSION from the kernel's file name or the running kernel]
    #[arg(long, value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// Backup directory (`rrecover backup --to DIR`) whose plan goes on the stick
    #[arg(long, value_name = "DIR")]
    pub plan: Option<PathBuf>,
    /// Write the bootable stick image here (a file, or a whole disk with --yes)
    #[arg(long, value_name = "STICK.img")]
    pub out: Option<PathBuf>,
    /// Write a bootable ISO image here too (isolinux; hybrid, so it also boots from USB)
    #[arg(long, value_name = "FILE.iso")]
    pub iso: Option<PathBuf>,
    /// Write the initramfs (gzip'd newc cpio) here
    #[arg(long, value_name = "FILE")]
    pub initramfs: Option<PathBuf>,
    /// Extra kernel command-line words for the stick's boot entry, e.g.
    /// "rrecover.auto=1 rrecover.share=/dev/sdb1 rrecover.target=/dev/sda"
    #[arg(long, value_name = "WORDS", default_value = "")]
    pub append: String,
    /// What goes on the stick besides the kernel (boxed: the options are many).
    #[command(flatten)]
    pub contents: Box<Contents>,
    /// Check and stage everything, print what would go on the stick, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Allow --out to be a block device (it is overwritten without asking)
    #[arg(long)]
    pub yes: bool,
}

/// The options that choose the stick's programs and files.
#[derive(Debug, clap::Args)]
pub struct Contents {
    /// Static busybox for the stick's shell and commands
    #[arg(long, value_name = "FILE", default_value = "/bin/busybox")]
    pub busybox: PathBuf,
    /// Directory holding rdump, rrestore, rrecover (the static musl build)
    /// [default: the directory of this rrecover]
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Keyboard layout for the console: a busybox binary keymap (`busybox dumpkmap > FILE`)
    #[arg(long, value_name = "FILE")]
    pub keymap: Option<PathBuf>,
    /// Another module to load at boot (by name, with its dependencies); repeatable
    #[arg(long = "module", value_name = "NAME")]
    pub extra_modules: Vec<String>,
}

/// Runs `rrecover mkrescue`.
pub fn run(args: Args) -> Result<(), String> {
    mkrescue(&args).map_err(|e| e.to_string())
}

/// The kernel image, its version and its module directory.
fn kernel_and_modules(args: &Args) -> Result<(PathBuf, String, PathBuf), RescueError> {
    let running = || {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .map_err(|e| RescueError::io(Path::new("/proc/sys/kernel/osrelease"), e))
    };
    let from_name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("vmlinuz-"))
            .map(str::to_owned)
    };
    let version = match (&args.modules, &args.kernel) {
        (Some(m), _) => m
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| RescueError::Usage(format!("--modules {}: no version", m.display())))?,
        (None, Some(k)) => from_name(k).ok_or_else(|| {
            RescueError::Usage(format!(
                "--kernel {}: the version is not in its name (vmlinuz-VERSION); give --modules",
                k.display()
            ))
        })?,
        (None, None) => running()?,
    };
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/boot/vmlinuz-{version}")));
    let modules = args
        .modules
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/lib/modules/{version}")));
    if !kernel.is_file() {
        return Err(RescueError::Usage(format!(
            "{}: no such kernel (give --kernel)",
            kernel.display()
        )));
    }
    Ok((kernel, version, modules))
}

fn our_binaries(args: &Args) -> Result<Vec<PathBuf>, RescueError> {
    let dir = match &args.contents.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .map_err(|e| RescueError::io(Path::new("/proc/self/exe"), e))?
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default(),
    };
    let bins: Vec<PathBuf> = ["rdump", "rrestore", "rrecover"]
        .iter()
        .map(|b| dir.join(b))
        .collect();
    let missing: Vec<String> = bins
        .iter()
        .filter(|b| !b.is_file())
        .map(|b| b.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(RescueError::MissingTools(format!(
            "{} (build them static: see README, or give --bin-dir)",
            missing.join(", ")
        )));
    }
    Ok(bins)
}

fn mkrescue(args: &Args) -> Result<(), RescueError> {
    if args.out.is_none() && args.initramfs.is_none() && args.iso.is_none() && !args.dry_run {
        return Err(RescueError::Usage(
            "nothing to write: give --out STICK.img, --iso FILE.iso and/or --initramfs FILE \
             (or --dry-run)"
                .into(),
        ));
    }
    if let Some(out) = &args.out {
        refuse_device(out, args.yes)?;
    }
    let (kernel, version, modules_dir) = kernel_and_modules(args)?;
    let index = kmod::ModuleIndex::load(&modules_dir)?;
    let mut wanted: Vec<&str> = kmod::NEEDED.to_vec();
    wanted.extend(args.contents.extra_modules.iter().map(String::as_str));
    let modules = index.resolve(&wanted)?;
    let bins = our_binaries(args)?;
    for b in &bins {
        if !elf::is_static(b)? {
            eprintln!(
                "rrecover: warning: {} is not static; its libraries go on the stick too",
                b.display()
            );
        }
    }
    let tree = tempfile::Builder::new()
        .prefix("rrecover-stick.")
        .tempdir()
        .map_err(|e| RescueError::io(&std::env::temp_dir(), e))?;
    let inputs = stage::Inputs {
        busybox: &args.contents.busybox,
        our_binaries: bins,
        modules_dir: &modules_dir,
        version: &version,
        index: &index,
        modules: &modules,
        plan: args.plan.as_deref(),
        keymap: args.contents.keymap.as_deref(),
    };
    let elves = stage::build(tree.path(), &inputs)?;
    stage::verify(tree.path(), &elves)?;
    report(&kernel, &modules, &elves);
    if args.dry_run {
        return Ok(());
    }
    let cpio = cpio::pack_tree(tree.path(), &[("dev/console", 5, 1), ("dev/null", 1, 3)])
        .map_err(|e| RescueError::io(tree.path(), e))?;
    let gz = gzip(&cpio)?;
    let initrd_tmp = tree.path().join("initrd.img");
    if let Some(out) = &args.initramfs {
        std::fs::write(out, &gz).map_err(|e| RescueError::io(out, e))?;
        eprintln!("rrecover: initramfs {} ({} bytes)", out.display(), gz.len());
    }
    if args.out.is_some() || args.iso.is_some() {
        std::fs::write(&initrd_tmp, &gz).map_err(|e| RescueError::io(&initrd_tmp, e))?;
    }
    if let Some(iso) = &args.iso {
        stick::write_iso(iso, &kernel, &initrd_tmp, &args.append)?;
        eprintln!("rrecover: ISO image {}", iso.display());
    }
    if let Some(out) = &args.out {
        if is_block_device(out) {
            // Made as a file first, then copied over the disk: never a half-made stick.
            let img = tree.path().join("stick.img");
            stick::write(&img, &kernel, &initrd_tmp, &args.append)?;
            copy_to_device(&img, out)?;
        } else {
            stick::write(out, &kernel, &initrd_tmp, &args.append)?;
        }
        eprintln!(
            "rrecover: stick {} (write it with dd or cp to the whole USB disk)",
            out.display()
        );
    }
    Ok(())
}

fn is_block_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device())
}

fn copy_to_device(img: &Path, dev: &Path) -> Result<(), RescueError> {
    let mut from = std::fs::File::open(img).map_err(|e| RescueError::io(img, e))?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .open(dev)
        .map_err(|e| RescueError::io(dev, e))?;
    std::io::copy(&mut from, &mut to)
        .and_then(|_| to.sync_all())
        .map_err(|e| RescueError::io(dev, e))
}

/// A stick written straight to a disk replaces what is on it: only with --yes.
fn refuse_device(out: &Path, yes: bool) -> Result<(), RescueError> {
    if is_block_device(out) && !yes {
        return Err(RescueError::Usage(format!(
            "{} is a disk: everything on it would be erased; add --yes to write it",
            out.display()
        )));
    }
    Ok(())
}

fn report(kernel: &Path, modules: &kmod::Resolved, elves: &[PathBuf]) {
    eprintln!("rrecover: kernel {}", kernel.display());
    eprintln!(
        "rrecover: {} modules, loaded in this order: {}",
        modules.load_order.len(),
        modules
            .load_order
            .iter()
            .map(|m| kmod::module_name(m))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if !modules.builtin.is_empty() {
        eprintln!(
            "rrecover: built into the kernel: {}",
            modules.builtin.join(" ")
        );
    }
    let names: Vec<String> = elves.iter().map(|e| e.display().to_string()).collect();
    eprintln!(
        "rrecover: programs (each ran in a chroot of the stick): {}",
        names.join(" ")
    );
}

/// gzip: every kernel with an initramfs unpacks it (Debian's has RD_GZIP=y).
fn gzip(data: &[u8]) -> Result<Vec<u8>, RescueError> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let n = c
        .gzip_compress(data, &mut out)
        .map_err(|e| RescueError::Tool {
            tool: "gzip".into(),
            why: e.to_string(),
        })?;
    out.truncate(n);
    Ok(out)
}
