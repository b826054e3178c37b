//! The disaster-recovery drill (issue 11), in qemu (TCG). Phases:
//! 1. a source machine disk: MBR, an ext4 root holding a small bootable system (Debian's
//!    kernel, a busybox initramfs and init, the check script, data of every inode kind),
//!    extlinux as its bootloader, swap; booted once through its own bootloader, it writes
//!    a marker and the manifest of its root;
//! 2. `rrecover backup -z --split SIZE --to DIR DISK` onto a share disk;
//! 3. the rescue stick boots with a blank disk and the share, recovers unattended
//!    (`rrecover apply --yes --from DIR --target MNT DISK`), powers off;
//! 4. the recovered disk boots through its own bootloader and its check compares the
//!    system with the manifest; the host reads the result from the serial console.
//!
//! CI runs every drill (same-size disk, larger disk, damaged part);
//! `recover/drill/run` runs them by hand with each phase's time.

mod vm;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rrecover::rescue::{cpio, kmod};
use vm::{debian_kernel, sh, static_bin_dir, Kernel};

const ROOT_UUID: &str = "5c0ffee0-d811-4e57-9a3b-000000000001";
const SWAP_UUID: &str = "5c0ffee0-d811-4e57-9a3b-000000000002";
const MIB: u64 = 1 << 20;
/// 1 MiB gap, 100 MiB root, 16 MiB swap.
const DISK_SIZE: u64 = 117 * MIB;
const BOOT_LIMIT: Duration = Duration::from_secs(240);

fn drill_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("drill")
        .join(name)
}

/// Detaches the loop device when dropped, also on failure.
struct Loop(String);

impl Loop {
    fn attach(img: &Path) -> Loop {
        let dev = sh(Command::new("losetup")
            .args(["-f", "--show", "-P"])
            .arg(img));
        let l = Loop(dev.trim().to_owned());
        // Partition nodes appear with -P on most kernels; partx makes them where not.
        if !Path::new(&l.part(1)).exists() {
            let _ = Command::new("partx").args(["-a", &l.0]).status();
        }
        for n in [1, 2] {
            let mut waited = 0;
            while !Path::new(&l.part(n)).exists() && waited < 50 {
                std::thread::sleep(Duration::from_millis(100));
                waited += 1;
            }
            assert!(
                Path::new(&l.part(n)).exists(),
                "{} did not appear",
                l.part(n)
            );
        }
        l
    }

    fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.0)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// Unmounts when dropped, also on failure.
struct Mounted(PathBuf);

impl Mounted {
    fn new(dev: &str, at: &Path) -> Mounted {
        std::fs::create_dir_all(at).unwrap();
        sh(Command::new("mount").arg(dev).arg(at));
        Mounted(at.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The source machine's initramfs: busybox, the disk and ext4 modules in load order.
fn source_initramfs(k: &Kernel, out: &Path) {
    let tree = tempfile::tempdir().unwrap();
    let t = tree.path();
    for d in ["bin", "dev", "proc", "sys"] {
        std::fs::create_dir(t.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", t.join("bin/busybox")).unwrap();
    let index = kmod::ModuleIndex::load(&k.modules).unwrap();
    let mods = index
        .resolve(&["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"])
        .unwrap();
    let mut list = String::new();
    for m in &mods.load_order {
        std::fs::create_dir_all(t.join(m).parent().unwrap()).unwrap();
        std::fs::copy(k.modules.join(m), t.join(m)).unwrap();
        list.push_str(&format!("{m}\n"));
    }
    std::fs::write(t.join("modules"), list).unwrap();
    write_exec(
        &t.join("init"),
        &std::fs::read_to_string(drill_file("source-init.sh")).unwrap(),
    );
    let archive = cpio::pack_tree(t, &[("dev/console", 5, 1)]).unwrap();
    let raw = out.with_extension("cpio");
    std::fs::write(&raw, archive).unwrap();
    sh(Command::new("gzip").args(["-n", "-f"]).arg(&raw));
    std::fs::rename(raw.with_extension("cpio.gz"), out).unwrap();
}

/// The source root's files: the system, and data of every inode kind.
fn source_tree(root: &Path) {
    for d in [
        "bin",
        "sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "var",
        "boot/extlinux",
        "data",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let applets = sh(Command::new("/bin/busybox").arg("--list"));
    for a in applets.lines().filter(|a| *a != "busybox" && *a != "init") {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    write_exec(
        &root.join("sbin/init"),
        &std::fs::read_to_string(drill_file("root-init.sh")).unwrap(),
    );
    write_exec(
        &root.join("check.sh"),
        &std::fs::read_to_string(drill_file("check.sh")).unwrap(),
    );
    std::fs::write(
        root.join("boot/extlinux/extlinux.conf"),
        format!(
            "SERIAL 0 115200\nDEFAULT linux\nTIMEOUT 1\nLABEL linux\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.img\n  \
             APPEND root=UUID={ROOT_UUID} console=ttyS0,115200 panic=1\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/fstab"),
        format!("UUID={ROOT_UUID} / ext4 defaults 0 1\nUUID={SWAP_UUID} none swap sw 0 0\n"),
    )
    .unwrap();
    let data = root.join("data");
    let script = "set -e
echo hello >small; head -c 300000 /dev/urandom >random
truncate -s 5M sparse; echo middle | dd of=sparse bs=1 seek=2000000 conv=notrunc 2>/dev/null
ln small hardlink; ln -s small fast-symlink; ln -s $(printf 'x%.0s' $(seq 200))/far slow-symlink
mkfifo fifo; mknod chardev c 1 7; mknod blockdev b 7 200
mkdir -p deep/a/b/c; echo bottom >deep/a/b/c/file; touch empty
chmod 4755 small; chmod 1777 deep; chown 1000:100 random; touch -d '2001-02-03 04:05:06' random
python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"socket\")'
setfattr -n user.drill -v yes small";
    sh(Command::new("sh").args(["-c", script]).current_dir(&data));
}

/// Phase 1's disk: MBR with extlinux's boot code, ext4 root (extlinux in /boot), swap.
fn source_disk(k: &Kernel, dir: &Path) -> PathBuf {
    let root = dir.join("source-root");
    source_tree(&root);
    let disk = dir.join("source.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(DISK_SIZE)
        .unwrap();
    let table = "label: dos\nstart=2048, size=100MiB, type=83, bootable\ntype=82\n";
    sh(Command::new("sh")
        .arg("-c")
        .arg(format!("printf '{table}' | sfdisk -q {}", disk.display())));
    let l = Loop::attach(&disk);
    // 64bit off: extlinux 6.04 reads ext4 without it.
    sh(Command::new("mke2fs")
        .args([
            "-q",
            "-t",
            "ext4",
            "-b",
            "4096",
            "-O",
            "^64bit",
            "-L",
            "drillroot",
            "-U",
            ROOT_UUID,
            "-d",
        ])
        .arg(&root)
        .arg(l.part(1)));
    sh(Command::new("mkswap").args(["-U", SWAP_UUID, "-L", "drillswap", &l.part(2)]));
    {
        // The kernel and initramfs are copied in through the mount, not by mke2fs -d:
        // -d leaves holes where blocks are zero, and extlinux cannot read holes.
        let m = Mounted::new(&l.part(1), &dir.join("mnt"));
        std::fs::copy(&k.vmlinuz, m.0.join("boot/vmlinuz")).unwrap();
        source_initramfs(k, &m.0.join("boot/initrd.img"));
        sh(Command::new("extlinux")
            .arg("--install")
            .arg(m.0.join("boot/extlinux")));
    }
    let mbr =
        std::fs::read("/usr/lib/EXTLINUX/mbr.bin").expect("extlinux's mbr.bin (Debian: extlinux)");
    let mut f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    std::io::Write::write_all(&mut f, &mbr[..440.min(mbr.len())]).unwrap();
    disk
}

/// Boots a disk through its own bootloader (SeaBIOS, MBR, extlinux: no -kernel).
fn boot_disk(name: &str, disk: &Path) -> String {
    vm::qemu(name, &vm::virtio_disk(disk), BOOT_LIMIT)
}

fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    eprintln!("drill phase {name}: {:.1} s", t.elapsed().as_secs_f64());
    r
}

fn assert_tag(console: &str, tag: &str) -> String {
    console
        .lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("no {tag} on the console:\n{console}"))
        .to_owned()
}

#[test]
fn the_source_machine_boots_through_its_own_bootloader_and_its_check_passes() {
    let k = debian_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let disk = phase("1 source disk", || source_disk(&k, tmp.path()));
    let first = phase("1 first boot", || boot_disk("drill-source-first", &disk));
    assert!(
        first.contains("SYSLINUX") || first.contains("EXTLINUX"),
        "{first}"
    );
    assert_tag(&first, "DRILL-SWAP: 1 swap area(s) on");
    assert_tag(&first, "DRILL-FIRST-BOOT: manifest of");
    // The check of phase 4, on the source itself: the same system must pass it.
    let again = phase("4 check on the source", || {
        boot_disk("drill-source-again", &disk)
    });
    let verdict = assert_tag(&again, "DRILL-CHECK:");
    assert!(verdict.starts_with("DRILL-CHECK: OK"), "{again}");
    // And the check notices a difference.
    let l = Loop::attach(&disk);
    {
        let m = Mounted::new(&l.part(1), &tmp.path().join("mnt"));
        std::fs::write(m.0.join("data/small"), "changed\n").unwrap();
    }
    drop(l);
    let changed = boot_disk("drill-source-changed", &disk);
    assert_tag(&changed, "DRILL-CHECK: DIFFERENT");
    assert_tag(&changed, "DRILL-DIFF: ");
}

/// A disk image holding an ext4 filesystem with `dir`'s files (the share).
fn share_disk(dir: &Path, img: &Path) {
    sh(Command::new("mke2fs")
        .args(["-q", "-t", "ext4", "-d"])
        .arg(dir)
        .arg(img)
        .arg("256M"));
}

/// The variants: the blank disk's size, and whether a dump part is damaged on the share.
struct Variant {
    name: &'static str,
    blank_size: u64,
    corrupt_a_part: bool,
}

#[test]
fn drill_onto_a_blank_disk_of_the_same_size() {
    drill(Variant {
        name: "same-size",
        blank_size: DISK_SIZE,
        corrupt_a_part: false,
    });
}

#[test]
fn drill_onto_a_larger_blank_disk() {
    drill(Variant {
        name: "larger",
        blank_size: 2 * DISK_SIZE,
        corrupt_a_part: false,
    });
}

#[test]
fn drill_with_a_damaged_part_stops_before_writing_and_names_it() {
    drill(Variant {
        name: "damaged-part",
        blank_size: DISK_SIZE,
        corrupt_a_part: true,
    });
}

/// Flips a byte in the middle of the biggest dump part; returns its file name.
fn damage_a_part(backup: &Path) -> String {
    let part = std::fs::read_dir(backup)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| !["plan", "SHA256SUMS"].contains(&p.file_name().unwrap().to_str().unwrap()))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("no dump part in the backup");
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&part, bytes).unwrap();
    part.file_name().unwrap().to_string_lossy().into_owned()
}

fn drill(v: Variant) {
    let k = debian_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let disk = phase("1 source disk", || source_disk(&k, t));
    let first_name = format!("drill-{}-first", v.name);
    let first = phase("1 first boot", || boot_disk(&first_name, &disk));
    assert_tag(&first, "DRILL-FIRST-BOOT: manifest of");

    let share = t.join("share");
    std::fs::create_dir(&share).unwrap();
    phase("2 rrecover backup", || {
        sh(Command::new(env!("CARGO_BIN_EXE_rrecover"))
            .args(["backup", "-z", "--split", "4M", "--to"])
            .arg(share.join("backup"))
            .arg(&disk));
    });
    let damaged = v
        .corrupt_a_part
        .then(|| damage_a_part(&share.join("backup")));
    let share_img = t.join("share.img");
    share_disk(&share, &share_img);

    let stick = t.join("stick.img");
    phase("3 mkrescue", || {
        sh(Command::new(env!("CARGO_BIN_EXE_rrecover"))
            .arg("mkrescue")
            .arg("--kernel")
            .arg(&k.vmlinuz)
            .arg("--modules")
            .arg(&k.modules)
            .arg("--bin-dir")
            .arg(static_bin_dir())
            .arg("--plan")
            .arg(share.join("backup"))
            .arg("--out")
            .arg(&stick)
            .args([
                "--append",
                "rrecover.auto=1 rrecover.share=/dev/vdb rrecover.from=backup rrecover.target=/dev/vda panic=1",
            ]));
    });
    let blank = t.join("blank.img");
    std::fs::File::create(&blank)
        .unwrap()
        .set_len(v.blank_size)
        .unwrap();
    let mut args = vm::usb_stick(&stick);
    args.extend(vm::virtio_disk(&blank));
    args.extend(vm::virtio_disk(&share_img));
    let name = format!("drill-{}-recovery", v.name);
    let recovery = phase("3 unattended recovery", || {
        vm::qemu(&name, &args, BOOT_LIMIT)
    });
    assert_tag(
        &recovery,
        "rrecover-rescue: unattended recovery: rrecover apply --yes --from /share/backup --target /mnt /dev/vda",
    );
    if let Some(part) = damaged {
        assert_tag(&recovery, "rrecover-rescue: recovery failed");
        assert!(
            recovery.contains(&part),
            "the damaged part {part} is not named:\n{recovery}"
        );
        let written = std::fs::read(&blank).unwrap();
        assert!(
            written.iter().all(|b| *b == 0),
            "the blank disk was written to"
        );
        return;
    }
    assert_tag(&recovery, "rrecover-rescue: recovery finished: ok");

    let name = format!("drill-{}-recovered", v.name);
    let check = phase("4 recovered disk boots", || boot_disk(&name, &blank));
    // fstab names the swap by UUID: apply must have made it with the same one.
    assert_tag(&check, "DRILL-SWAP: 1 swap area(s) on");
    let verdict = assert_tag(&check, "DRILL-CHECK:");
    assert!(verdict.starts_with("DRILL-CHECK: OK"), "{check}");
}
