//! The small pieces of system plumbing backup and apply share: loop devices
//! for image files (detached in Drop), device sizes, running tools with
//! their errors named, and the mount table.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SysError {
    #[error(
        "{tool} is needed but could not be run ({source}); install it (Debian package {package})"
    )]
    Missing {
        tool: String,
        package: String,
        source: io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Other(String),
}

/// The Debian package a tool comes from, for the "missing" message.
pub fn package_of(tool: &str) -> &'static str {
    match tool {
        "mke2fs" | "tune2fs" | "dumpe2fs" => "e2fsprogs",
        "lvm" => "lvm2",
        "grub-install" => "grub2-common",
        _ => "util-linux",
    }
}

/// Runs `tool args`, with `stdin` fed in; returns its standard output.
pub fn run(tool: &str, args: &[String], stdin: Option<&str>) -> Result<String, SysError> {
    use std::io::Write;
    let mut cmd = Command::new(tool);
    // lvm warns about every inherited descriptor (ours are not leaks).
    cmd.args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
    let mut child = cmd.spawn().map_err(|source| SysError::Missing {
        tool: tool.into(),
        package: package_of(tool).into(),
        source,
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that exits early closes its end; its status says why.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|source| SysError::Io {
        path: tool.into(),
        source,
    })?;
    if !out.status.success() {
        return Err(SysError::Failed {
            command: shell_line(tool, args),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A command as a shell line (for --dry-run and messages).
pub fn shell_line(tool: &str, args: &[String]) -> String {
    let quote = |a: &String| {
        if !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=.,/:^+@%".contains(&b))
        {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::iter::once(tool.to_string())
        .chain(args.iter().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Size in bytes of a block device or file.
pub fn size_of(path: &Path) -> Result<u64, SysError> {
    let io = |source| SysError::Io {
        path: path.into(),
        source,
    };
    File::open(path)
        .and_then(|mut f| f.seek(SeekFrom::End(0)))
        .map_err(io)
}

/// True if `path` is a block device.
pub fn is_block(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// A loop device over an image file, detached when dropped.
pub struct Loop {
    pub dev: PathBuf,
}

impl Loop {
    /// Attaches `image` with partition scanning (`read_only` for backup).
    pub fn attach(image: &Path, read_only: bool) -> Result<Loop, SysError> {
        let mut args = vec!["-f".to_string(), "--show".into(), "-P".into()];
        if read_only {
            args.push("-r".into());
        }
        args.push(image.display().to_string());
        let out = run("losetup", &args, None)?;
        Ok(Loop {
            dev: PathBuf::from(out.trim()),
        })
    }

    /// Makes sure partition nodes exist (`partx -a` when -P made none yet).
    pub fn partitions_ready(&self, numbers: &[u32]) {
        let missing = numbers.iter().any(|n| !part_node(&self.dev, *n).exists());
        if missing {
            let _ = run(
                "partx",
                &["-a".into(), self.dev.display().to_string()],
                None,
            );
        }
        // udev may create them a moment later.
        for _ in 0..50 {
            if numbers.iter().all(|n| part_node(&self.dev, *n).exists()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup")
            .arg("-d")
            .arg(&self.dev)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The node of partition `n` on `disk` (`/dev/sda` -> `/dev/sda1`,
/// `/dev/loop0` or `/dev/nvme0n1` -> `...p1`).
pub fn part_node(disk: &Path, n: u32) -> PathBuf {
    let d = disk.display().to_string();
    if d.ends_with(|c: char| c.is_ascii_digit()) {
        PathBuf::from(format!("{d}p{n}"))
    } else {
        PathBuf::from(format!("{d}{n}"))
    }
}

/// Mount points of a block device in /proc/self/mounts with whether any of
/// them is read-write.
pub fn mounted(dev: &Path) -> Vec<(String, bool)> {
    let Ok(rdev) = std::fs::metadata(dev).map(|m| m.rdev()) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let src = std::fs::metadata(f.first()?).ok()?;
            (src.file_type().is_block_device() && src.rdev() == rdev).then(|| {
                let rw = f.get(3).is_some_and(|o| o.split(',').any(|x| x == "rw"));
                (f[1].replace("\\040", " "), rw)
            })
        })
        .collect()
}
