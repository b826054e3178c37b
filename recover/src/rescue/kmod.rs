//! Kernel modules: which the stick needs, resolved with their dependencies from the
//! kernel's own modules.dep (as depmod wrote it), in the order they must be loaded.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::RescueError;

/// The modules the stick loads at boot, by module name: disk controllers (virtio, SATA,
/// SCSI disks, NVMe, USB storage and its host controllers), the filesystems of the
/// share and the target (ext4, vfat with its code pages, 9p for a VM's host share),
/// device-mapper for LVM, and USB keyboards. Each one is loaded with what it depends
/// on; a module built into the kernel counts as present.
pub const NEEDED: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "ahci",
    "ata_piix",
    "sd_mod",
    "nvme",
    "ehci_pci",
    "xhci_pci",
    "ohci_pci",
    "uhci_hcd",
    "usb_storage",
    "uas",
    "usbhid",
    "hid_generic",
    "crc32c_generic",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
    "nls_iso8859_1",
    "9p",
    "9pnet_virtio",
    "dm_mod",
];

/// A module's name as the kernel knows it: file name without `.ko[.xz|.zst|.gz]`,
/// dashes as underscores (`usb-storage.ko` is `usb_storage`).
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// What depmod knows about one kernel's modules.
#[derive(Debug)]
pub struct ModuleIndex {
    dir: PathBuf,
    /// Module path (relative to `dir`) to the paths it depends on.
    deps: HashMap<String, Vec<String>>,
    /// Module name to its path.
    by_name: HashMap<String, String>,
    builtin: HashSet<String>,
}

/// The modules to put on the stick, in load order, and the needed ones that are built in.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Paths relative to the module directory; each after everything it depends on.
    pub load_order: Vec<String>,
    pub builtin: Vec<String>,
}

impl ModuleIndex {
    /// Reads `DIR/modules.dep` and `DIR/modules.builtin`.
    pub fn load(dir: &Path) -> Result<ModuleIndex, RescueError> {
        let dep_path = dir.join("modules.dep");
        let dep = std::fs::read_to_string(&dep_path).map_err(|e| RescueError::Modules {
            dir: dir.to_owned(),
            why: format!(
                "cannot read {}: {e} (run `depmod -b ROOT VERSION` for a kernel unpacked under ROOT)",
                dep_path.display()
            ),
        })?;
        let builtin_path = dir.join("modules.builtin");
        let builtin = std::fs::read_to_string(&builtin_path).map_err(|e| RescueError::Modules {
            dir: dir.to_owned(),
            why: format!("cannot read {}: {e}", builtin_path.display()),
        })?;
        Self::parse(dir, &dep, &builtin)
    }

    /// Parses the text of modules.dep (`path: dep dep...` per line) and modules.builtin.
    pub fn parse(dir: &Path, dep: &str, builtin: &str) -> Result<ModuleIndex, RescueError> {
        let mut deps = HashMap::new();
        let mut by_name = HashMap::new();
        for (n, line) in dep.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (module, rest) = line.split_once(':').ok_or_else(|| RescueError::Modules {
                dir: dir.to_owned(),
                why: format!("modules.dep line {}: no ':' in {line:?}", n + 1),
            })?;
            let module = module.trim().to_owned();
            by_name.insert(module_name(&module), module.clone());
            deps.insert(module, rest.split_whitespace().map(str::to_owned).collect());
        }
        let builtin = builtin.lines().map(module_name).collect();
        Ok(ModuleIndex {
            dir: dir.to_owned(),
            deps,
            by_name,
            builtin,
        })
    }

    /// Every wanted module with its dependencies, each after what it needs; all the
    /// wanted names that are neither a module nor built in are named in the error.
    pub fn resolve(&self, wanted: &[&str]) -> Result<Resolved, RescueError> {
        let mut order = Vec::new();
        let mut done = HashSet::new();
        let mut builtin = Vec::new();
        let mut missing = Vec::new();
        for name in wanted {
            let name = module_name(name);
            if let Some(path) = self.by_name.get(&name) {
                self.visit(path, &mut done, &mut Vec::new(), &mut order)?;
            } else if self.builtin.contains(&name) {
                builtin.push(name);
            } else {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(RescueError::MissingModules {
                dir: self.dir.clone(),
                names: missing.join(", "),
            });
        }
        Ok(Resolved {
            load_order: order,
            builtin,
        })
    }

    /// Depth-first, dependencies first; `path` guards against a cycle in a damaged file.
    fn visit(
        &self,
        module: &str,
        done: &mut HashSet<String>,
        path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), RescueError> {
        if done.contains(module) {
            return Ok(());
        }
        if path.iter().any(|m| m == module) {
            return Err(RescueError::Modules {
                dir: self.dir.clone(),
                why: format!("dependency cycle: {} -> {module}", path.join(" -> ")),
            });
        }
        let deps = self.deps.get(module).ok_or_else(|| RescueError::Modules {
            dir: self.dir.clone(),
            why: format!("{module} is a dependency in modules.dep but has no line of its own"),
        })?;
        path.push(module.to_owned());
        for dep in deps {
            self.visit(dep, done, path, order)?;
        }
        path.pop();
        done.insert(module.to_owned());
        order.push(module.to_owned());
        Ok(())
    }

    /// The modules.dep lines of just these modules, for busybox modprobe on the stick.
    pub fn dep_lines(&self, modules: &[String]) -> String {
        let mut out = String::new();
        for m in modules {
            let deps = self.deps.get(m).map(|d| d.join(" ")).unwrap_or_default();
            out.push_str(&format!("{m}: {deps}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str =
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
kernel/lib/crc16.ko:\n\
kernel/fs/mbcache.ko:\n\
kernel/fs/jbd2/jbd2.ko: kernel/lib/crc32c.ko\n\
kernel/lib/crc32c.ko:\n\
kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/scsi/scsi_mod.ko\n\
kernel/drivers/scsi/scsi_mod.ko:\n";

    fn index() -> ModuleIndex {
        ModuleIndex::parse(Path::new("/m"), DEP, "kernel/drivers/tty/serial.ko\n").unwrap()
    }

    #[test]
    fn names_drop_suffixes_and_dashes() {
        assert_eq!(module_name("kernel/a/usb-storage.ko"), "usb_storage");
        assert_eq!(module_name("kernel/a/ext4.ko.xz"), "ext4");
        assert_eq!(module_name("9pnet_virtio.ko.zst"), "9pnet_virtio");
    }

    #[test]
    fn dependencies_come_first_once_each() {
        let r = index()
            .resolve(&["ext4", "usb-storage", "jbd2", "serial"])
            .unwrap();
        assert_eq!(
            r.load_order,
            [
                "kernel/lib/crc16.ko",
                "kernel/fs/mbcache.ko",
                "kernel/lib/crc32c.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/drivers/scsi/scsi_mod.ko",
                "kernel/drivers/usb/storage/usb-storage.ko",
            ]
        );
        assert_eq!(r.builtin, ["serial"]);
    }

    #[test]
    fn every_missing_module_is_named() {
        let e = index().resolve(&["ext4", "nvme", "vfat"]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("nvme, vfat"), "{msg}");
        assert!(msg.contains("/m"), "{msg}");
    }

    #[test]
    fn a_cycle_or_a_dangling_dependency_is_an_error() {
        let cyc = ModuleIndex::parse(Path::new("/m"), "a.ko: b.ko\nb.ko: a.ko\n", "").unwrap();
        assert!(cyc
            .resolve(&["a"])
            .unwrap_err()
            .to_string()
            .contains("cycle"));
        let dangling = ModuleIndex::parse(Path::new("/m"), "a.ko: b.ko\n", "").unwrap();
        let msg = dangling.resolve(&["a"]).unwrap_err().to_string();
        assert!(msg.contains("b.ko"), "{msg}");
        let bad = ModuleIndex::parse(Path::new("/m"), "no colon here\n", "");
        assert!(bad.unwrap_err().to_string().contains("line 1"));
    }
}
