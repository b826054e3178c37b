//! The initramfs tree, staged in a directory first so every binary can be run in a
//! chroot of it (the check that its libraries are all there) before it is archived.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::kmod::{ModuleIndex, Resolved};
use super::{elf, RescueError};

/// Tools `rrecover apply` runs; the first ones are required, the others go on the
/// stick when this machine has them.
pub const REQUIRED_TOOLS: &[&str] = &["mke2fs", "tune2fs", "mkswap", "sfdisk", "lvm"];
pub const OPTIONAL_TOOLS: &[&str] = &[
    "e2fsck",
    "resize2fs",
    "dumpe2fs",
    "blkid",
    "wipefs",
    "extlinux",
    "mkfs.vfat",
    "mcopy",
];
/// lvm's commands are one binary called by these names.
const LVM_NAMES: &[&str] = &[
    "pvcreate",
    "pvs",
    "vgcfgrestore",
    "vgchange",
    "vgscan",
    "vgs",
    "lvs",
];
const TOOL_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
/// Files the tools read when present: mke2fs's defaults, the MBR boot code extlinux needs.
const DATA_FILES: &[&str] = &[
    "/etc/mke2fs.conf",
    "/usr/lib/EXTLINUX/mbr.bin",
    "/usr/lib/EXTLINUX/gptmbr.bin",
];

/// What goes into the tree, found on this machine.
pub struct Inputs<'a> {
    pub busybox: &'a Path,
    /// rdump, rrestore, rrecover (static ones: the musl build).
    pub our_binaries: Vec<PathBuf>,
    pub modules_dir: &'a Path,
    pub version: &'a str,
    pub index: &'a ModuleIndex,
    pub modules: &'a Resolved,
    pub plan: Option<&'a Path>,
    pub keymap: Option<&'a Path>,
}

/// Finds a tool in the usual directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    TOOL_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The tools of apply found here; a missing required one is an error naming all missing.
pub fn tools() -> Result<Vec<PathBuf>, RescueError> {
    let missing: Vec<_> = REQUIRED_TOOLS
        .iter()
        .filter(|t| find_tool(t).is_none())
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(RescueError::MissingTools(missing.join(", ")));
    }
    Ok(REQUIRED_TOOLS
        .iter()
        .chain(OPTIONAL_TOOLS)
        .filter_map(|t| find_tool(t))
        .collect())
}

/// Builds the whole tree under `root` (an empty directory).
pub fn build(root: &Path, inp: &Inputs) -> Result<Vec<PathBuf>, RescueError> {
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc/rrecover",
        "proc",
        "sys",
        "dev",
        "tmp",
        "mnt",
        "share",
        "plan",
        "root",
        "run",
        "var/tmp",
    ] {
        mkdir(&root.join(d))?;
    }
    let tools = tools()?;
    let mut elves = vec![copy_in(root, inp.busybox, Path::new("/bin/busybox"))?];
    for b in &inp.our_binaries {
        let name = b.file_name().unwrap_or_default();
        let at = copy_in(root, b, &Path::new("/usr/bin").join(name))?;
        strip_debug(&root.join(at.strip_prefix("/").unwrap_or(&at)));
        elves.push(at);
    }
    for t in &tools {
        let name = t.file_name().unwrap_or_default();
        elves.push(copy_in(root, t, &Path::new("/usr/sbin").join(name))?);
    }
    for n in LVM_NAMES {
        link(root, "lvm", &format!("/usr/sbin/{n}"))?;
    }
    let sources: Vec<PathBuf> = std::iter::once(inp.busybox.to_owned())
        .chain(inp.our_binaries.iter().cloned())
        .chain(tools.iter().cloned())
        .collect();
    for lib in elf::closure(&sources)? {
        copy_in(root, &lib, &lib)?;
    }
    busybox_applets(root, inp.busybox)?;
    for f in DATA_FILES {
        if Path::new(f).is_file() {
            copy_in(root, Path::new(f), Path::new(f))?;
        }
    }
    modules(root, inp)?;
    write(root, "/init", include_str!("init.sh"), 0o755)?;
    write(root, "/etc/rrecover/menu", include_str!("menu.sh"), 0o755)?;
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    write(root, "/etc/group", "root:x:0:\n", 0o644)?;
    // e2fsprogs refuse to work without a mount table ("missing mtab file").
    link(root, "../proc/mounts", "/etc/mtab")?;
    if let Some(k) = inp.keymap {
        copy_in(root, k, Path::new("/etc/rrecover/keymap.bmap"))?;
    }
    if let Some(p) = inp.plan {
        plan(root, p)?;
    }
    Ok(elves)
}

/// The plan and the checksums of its parts, not the dump parts themselves (they stay
/// on the share: the stick must fit in memory).
fn plan(root: &Path, dir: &Path) -> Result<(), RescueError> {
    let plan = dir.join("plan");
    if !plan.is_file() {
        return Err(RescueError::Plan(dir.to_owned()));
    }
    copy_in(root, &plan, Path::new("/plan/plan"))?;
    let sums = dir.join("SHA256SUMS");
    if sums.is_file() {
        copy_in(root, &sums, Path::new("/plan/SHA256SUMS"))?;
    }
    Ok(())
}

fn modules(root: &Path, inp: &Inputs) -> Result<(), RescueError> {
    let base = PathBuf::from(format!("/lib/modules/{}", inp.version));
    for m in &inp.modules.load_order {
        module_in(root, &inp.modules_dir.join(m), &base.join(staged_name(m)))?;
    }
    let dep = inp.index.dep_lines(&inp.modules.load_order);
    let dep: String = dep
        .split_inclusive(char::is_whitespace)
        .map(|w| {
            let t = w.trim_end().trim_end_matches(':');
            w.replacen(t, &staged_name(t), 1)
        })
        .collect();
    write(
        root,
        &format!("{}/modules.dep", base.display()),
        &dep,
        0o644,
    )?;
    let builtin = inp.modules_dir.join("modules.builtin");
    copy_in(root, &builtin, &base.join("modules.builtin"))?;
    let list: String = inp
        .modules
        .load_order
        .iter()
        .map(|m| format!("{}\n", staged_name(m)))
        .collect();
    write(root, "/etc/rrecover/modules", &list, 0o644)
}

/// Release builds carry debug info (the workspace's profile has `debug = 1`): 90% of
/// their size, RAM the stick's initramfs would hold for nothing. binutils' strip takes it
/// out when this machine has it (Rust builds need a linker, so it usually does).
fn strip_debug(file: &Path) {
    let Some(strip) = find_tool("strip") else {
        eprintln!(
            "rrecover: warning: no strip (binutils): {} keeps its debug info",
            file.display()
        );
        return;
    };
    let ok = Command::new(strip)
        .arg("--strip-debug")
        .arg(file)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "rrecover: warning: strip failed on {}; it keeps its debug info",
            file.display()
        );
    }
}

/// Compressed modules (`.ko.xz`, `.ko.zst`, `.ko.gz`) go on the stick uncompressed:
/// busybox insmod loads plain ELF objects.
pub fn staged_name(module: &str) -> String {
    for ext in [".xz", ".zst", ".gz"] {
        if let Some(plain) = module.strip_suffix(ext) {
            return plain.to_owned();
        }
    }
    module.to_owned()
}

fn module_in(root: &Path, src: &Path, dest: &Path) -> Result<(), RescueError> {
    let tool = match src.extension().and_then(|e| e.to_str()) {
        Some("xz") => "xz",
        Some("zst") => "zstd",
        Some("gz") => "gzip",
        _ => return copy_in(root, src, dest).map(drop),
    };
    let to = root.join(dest.strip_prefix("/").unwrap_or(dest));
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    let out = Command::new(tool)
        .arg("-dc")
        .arg(src)
        .output()
        .map_err(|e| RescueError::io(Path::new(tool), e))?;
    if !out.status.success() {
        return Err(RescueError::Verify {
            binary: src.to_owned(),
            why: format!(
                "{tool} -dc: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    std::fs::write(&to, out.stdout).map_err(|e| RescueError::io(&to, e))
}

/// A symlink in /bin for each busybox applet, unless a real tool has that name.
fn busybox_applets(root: &Path, busybox: &Path) -> Result<(), RescueError> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| RescueError::io(busybox, e))?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let taken = ["/usr/sbin", "/usr/bin"]
            .iter()
            .any(|d| root.join(&d[1..]).join(applet).exists());
        if !taken && applet != "busybox" && !applet.contains('/') {
            link(root, "busybox", &format!("/bin/{applet}"))?;
        }
    }
    link(root, "../bin/busybox", "/sbin/modprobe")?;
    link(root, "../bin/busybox", "/sbin/init")
}

/// Runs each binary in a chroot of the tree: a library or loader left out makes it fail
/// to start (status 127 or the loader's message), which is an error naming the binary.
pub fn verify(root: &Path, binaries: &[PathBuf]) -> Result<(), RescueError> {
    for b in binaries {
        let name = b.file_name().unwrap_or_default().to_string_lossy();
        let arg = match name.as_ref() {
            "lvm" => "version",
            "busybox" => "true",
            "mke2fs" | "e2fsck" | "blkid" | "dumpe2fs" => "-V",
            _ => "--version",
        };
        let out = Command::new("chroot")
            .arg(root)
            .arg(b)
            .arg(arg)
            .output()
            .map_err(|e| RescueError::io(Path::new("chroot"), e))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code().is_none_or(|c| c == 127)
            || stderr.contains("error while loading shared libraries")
        {
            return Err(RescueError::Verify {
                binary: b.clone(),
                why: format!("{} {}", out.status, stderr.trim()),
            });
        }
    }
    // What the runs left behind (lvm makes /dev/mapper/control, locks in /run) must
    // not go on the stick: devtmpfs and a fresh /run are mounted at boot.
    for d in ["dev", "run", "tmp"] {
        let p = root.join(d);
        std::fs::remove_dir_all(&p).map_err(|e| RescueError::io(&p, e))?;
        mkdir(&p)?;
    }
    Ok(())
}

fn mkdir(p: &Path) -> Result<(), RescueError> {
    std::fs::create_dir_all(p).map_err(|e| RescueError::io(p, e))
}

/// Copies `src` (following symlinks) to `dest` (absolute, inside the tree), keeping its mode.
fn copy_in(root: &Path, src: &Path, dest: &Path) -> Result<PathBuf, RescueError> {
    let to = root.join(dest.strip_prefix("/").unwrap_or(dest));
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    std::fs::copy(src, &to).map_err(|e| RescueError::io(src, e))?;
    Ok(dest.to_owned())
}

fn link(root: &Path, target: &str, at: &str) -> Result<(), RescueError> {
    let at = root.join(&at[1..]);
    symlink(target, &at).map_err(|e| RescueError::io(&at, e))
}

fn write(root: &Path, at: &str, text: &str, mode: u32) -> Result<(), RescueError> {
    let at = root.join(&at[1..]);
    if let Some(parent) = at.parent() {
        mkdir(parent)?;
    }
    std::fs::write(&at, text).map_err(|e| RescueError::io(&at, e))?;
    std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode))
        .map_err(|e| RescueError::io(&at, e))
}
