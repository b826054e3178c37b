//! Loop devices, mounts and scratch filesystems, each released by `Drop` so
//! that an error in the middle of a benchmark leaves nothing attached.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext};
use crate::measure::{self, capture, Invocation};

/// Fail loudly unless running as root (loop devices and mounts).
pub fn require_root(why: &str) -> Result<(), Error> {
    let uid = capture("id", &["-u"])?;
    if uid.trim() == "0" {
        Ok(())
    } else {
        Err(Error::NotRoot(why.into()))
    }
}

/// A read-only loop device over an image file.
pub struct LoopDevice {
    pub path: PathBuf,
}

impl LoopDevice {
    pub fn attach_read_only(image: &Path) -> Result<LoopDevice, Error> {
        let image = image.display().to_string();
        let dev = capture("losetup", &["-f", "--show", "-r", &image])?;
        let dev = dev.trim();
        if !dev.starts_with("/dev/") {
            return Err(Error::check(
                "losetup",
                format!("unexpected output {dev:?}"),
            ));
        }
        Ok(LoopDevice {
            path: PathBuf::from(dev),
        })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let dev = self.path.display().to_string();
        if let Err(e) = capture("losetup", &["-d", &dev]) {
            eprintln!("warning: could not detach {dev}: {e}");
        }
    }
}

/// A mounted filesystem, unmounted (which also flushes it) on drop.
pub struct Mount {
    pub dir: PathBuf,
    /// Keeps the backing image file of an ext4 mount alive until unmount.
    _backing: Option<tempfile::NamedTempFile>,
}

impl Mount {
    /// A fresh, empty ext4 filesystem of `size_mb` in an image file under
    /// `scratch`, loop-mounted at a new directory there. Inode tables and
    /// the journal are initialised by mke2fs (not lazily by the kernel
    /// while a benchmark runs).
    pub fn fresh_ext4(scratch: &Path, size_mb: u64) -> Result<Mount, Error> {
        let img = tempfile::Builder::new()
            .prefix("target-")
            .suffix(".ext4")
            .tempfile_in(scratch)
            .ctx(|| format!("creating an image file in {}", scratch.display()))?;
        measure::run_quiet(&Invocation::new(
            "mke2fs",
            [
                "-q".to_string(),
                "-F".into(),
                "-t".into(),
                "ext4".into(),
                "-E".into(),
                "lazy_itable_init=0,lazy_journal_init=0,nodiscard".into(),
                img.path().display().to_string(),
                format!("{size_mb}M"),
            ],
        ))?;
        let dir = mount_dir(scratch, "ext4")?;
        let src = img.path().display().to_string();
        measure::run_quiet(&Invocation::new(
            "mount",
            ["-o", "loop", &src, &dir.display().to_string()],
        ))?;
        Ok(Mount {
            dir,
            _backing: Some(img),
        })
    }

    /// A fresh tmpfs of `size_mb` at a new directory under `scratch`.
    pub fn fresh_tmpfs(scratch: &Path, size_mb: u64) -> Result<Mount, Error> {
        let dir = mount_dir(scratch, "tmpfs")?;
        measure::run_quiet(&Invocation::new(
            "mount",
            [
                "-t".to_string(),
                "tmpfs".into(),
                "-o".into(),
                format!("size={size_mb}m"),
                "bench-tmpfs".into(),
                dir.display().to_string(),
            ],
        ))?;
        Ok(Mount {
            dir,
            _backing: None,
        })
    }
}

fn mount_dir(scratch: &Path, what: &str) -> Result<PathBuf, Error> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("mnt-{what}-"))
        .tempdir_in(scratch)
        .ctx(|| format!("creating a mount point in {}", scratch.display()))?;
    // Kept: removed explicitly after unmount in Drop.
    Ok(dir.keep())
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        match capture("umount", &[&dir]) {
            Ok(_) => {
                let _ = std::fs::remove_dir(&self.dir);
            }
            Err(e) => eprintln!("warning: could not unmount {dir}: {e}"),
        }
    }
}

/// Writes back every dirty page (sync(1)); called outside the measured time,
/// so that the writeback of what the previous run or the set-up wrote
/// (hundreds of MiB) does not land in the next measured run.
pub fn settle_writeback() {
    let _ = std::process::Command::new("sync").status();
}

/// Writes back dirty pages and drops the page cache, so the next run reads
/// the dump from the disk: a dump of 100 GB is never in memory, and a
/// reader that reads it all must pay for that. Outside the measured time.
pub fn drop_page_cache() -> Result<(), Error> {
    settle_writeback();
    std::fs::write("/proc/sys/vm/drop_caches", "1")
        .ctx(|| "dropping the page cache (/proc/sys/vm/drop_caches, needs root)".to_string())
}
