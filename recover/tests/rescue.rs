//! `rrecover mkrescue` for real: Debian's kernel (apt-get download), the static binaries,
//! the initramfs unpacked by GNU cpio and run in a chroot, and the stick booted in qemu
//! from USB storage, where its static rrestore restores a dump from a second disk.

mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vm::{debian_kernel, sh, static_bin_dir};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

/// rrecover mkrescue with the Debian kernel and the static binaries, plus `extra`.
fn mkrescue(extra: &[&str]) -> Output {
    let k = debian_kernel();
    Command::new(env!("CARGO_BIN_EXE_rrecover"))
        .arg("mkrescue")
        .arg("--kernel")
        .arg(&k.vmlinuz)
        .arg("--modules")
        .arg(&k.modules)
        .arg("--bin-dir")
        .arg(static_bin_dir())
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "mkrescue failed: {err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The check the stick and the host both run on a restored tree: a sorted list of
/// `sha256  path` of every regular file.
const SUMS: &str = "find . -type f ! -name restoresymtable | LC_ALL=C sort | \
                    while read -r f; do echo \"SUM $(sha256sum \"$f\")\"; done";

#[test]
fn stick_boots_from_usb_and_its_static_rrestore_restores_a_dump_from_a_second_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let stick = tmp.path().join("stick.img");
    ok(&mkrescue(&[
        "--out",
        s(&stick),
        "--append",
        "rrecover.share=/dev/vda rrecover.run=check.sh panic=1",
    ]));
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::copy(testdata("ext4-4k.dump"), share.join("ext4-4k.dump")).unwrap();
    let check = format!(
        "mkdir /r && cd /r && rrestore -rf /share/ext4-4k.dump && echo RESTORED-OK\n{SUMS}\necho CHECK-END\n"
    );
    std::fs::write(share.join("check.sh"), check).unwrap();
    let share_img = tmp.path().join("share.img");
    sh(Command::new("mke2fs")
        .args(["-q", "-t", "ext4", "-d"])
        .arg(&share)
        .arg(&share_img)
        .arg("16M"));

    let mut args = vm::usb_stick(&stick);
    args.extend(vm::virtio_disk(&share_img));
    let console = vm::qemu("rescue-stick", &args, Duration::from_secs(300));
    assert!(
        console.contains("rrecover-rescue: loading kernel modules"),
        "{console}"
    );
    assert!(console.contains("RESTORED-OK"), "{console}");
    assert!(console.contains("CHECK-END"), "{console}");
    assert!(
        console.contains("rrecover-rescue: powering off"),
        "{console}"
    );

    // The same tree restored here by the reference restore 0.4b47.
    let reference = tmp.path().join("reference");
    std::fs::create_dir(&reference).unwrap();
    sh(Command::new("restore")
        .arg("-rf")
        .arg(testdata("ext4-4k.dump"))
        .current_dir(&reference));
    let host = sh(Command::new("sh")
        .args(["-c", SUMS])
        .current_dir(&reference));
    let mut expected = vm::tagged(&host, "SUM ");
    let mut got = vm::tagged(&console, "SUM ");
    expected.sort();
    got.sort();
    assert!(expected.len() > 10, "{host}");
    // The reference restore loses the 255-byte name (testdata/README.md, losses);
    // rrestore on the stick keeps it.
    let long = format!("./names/n{}", "x".repeat(254));
    let before = got.len();
    got.retain(|l| !l.ends_with(&long));
    assert_eq!(
        got.len() + 1,
        before,
        "the 255-byte name is missing on the stick"
    );
    assert_eq!(
        got, expected,
        "the stick's restore differs from the reference's"
    );
}

#[test]
fn the_initramfs_unpacks_with_gnu_cpio_and_its_programs_run_in_a_chroot() {
    let tmp = tempfile::tempdir().unwrap();
    let backup = tmp.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    std::fs::write(backup.join("plan"), "# a plan\n").unwrap();
    std::fs::write(backup.join("SHA256SUMS"), "0  part\n").unwrap();
    std::fs::write(backup.join("root.dump.000"), vec![7u8; 1 << 20]).unwrap();
    let initrd = tmp.path().join("initrd.img");
    let log = ok(&mkrescue(&[
        "--initramfs",
        s(&initrd),
        "--plan",
        s(&backup),
    ]));
    assert!(log.contains("each ran in a chroot"), "{log}");

    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    sh(Command::new("sh")
        .arg("-c")
        .arg(format!("zcat {} | cpio -idm --quiet", s(&initrd)))
        .current_dir(&root));
    let init = std::fs::metadata(root.join("init")).unwrap();
    assert!(std::os::unix::fs::PermissionsExt::mode(&init.permissions()) & 0o111 != 0);
    assert_eq!(
        std::fs::read_to_string(root.join("plan/plan")).unwrap(),
        "# a plan\n"
    );
    assert!(root.join("plan/SHA256SUMS").is_file());
    assert!(
        !root.join("plan/root.dump.000").exists(),
        "dump parts stay on the share"
    );

    // Load order: every module after what modules.dep says it needs.
    let order = std::fs::read_to_string(root.join("etc/rrecover/modules")).unwrap();
    let pos = |name: &str| {
        order
            .lines()
            .position(|l| l.ends_with(&format!("/{name}.ko")))
            .unwrap_or_else(|| panic!("{name} not in {order}"))
    };
    assert!(pos("jbd2") < pos("ext4") && pos("mbcache") < pos("ext4"));
    assert!(pos("usbcore") < pos("usb-storage") && pos("scsi_mod") < pos("usb-storage"));
    assert!(pos("virtio") < pos("virtio_blk") && pos("fat") < pos("vfat"));
    let k = debian_kernel();
    for m in order.lines() {
        assert!(
            root.join("lib/modules").join(&k.version).join(m).is_file(),
            "{m}"
        );
    }

    // The tools run from the unpacked archive alone, libraries included.
    std::fs::copy(testdata("ext4-4k.dump"), root.join("x.dump")).unwrap();
    let listing =
        sh(Command::new("chroot")
            .arg(&root)
            .args(["/usr/bin/rrestore", "-tf", "/x.dump"]));
    assert!(
        listing.contains("./deep/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/bottom.txt"),
        "{listing}"
    );
    sh(Command::new("chroot")
        .arg(&root)
        .args(["/usr/sbin/mke2fs", "-V"]));
    sh(Command::new("chroot")
        .arg(&root)
        .args(["/usr/sbin/sfdisk", "--version"]));
    // As at boot, with /proc mounted (in a mount namespace that ends with the command).
    let made = sh(Command::new("unshare")
        .args(["-m", "--propagation", "private", "chroot"])
        .arg(&root)
        .args([
            "/bin/sh",
            "-c",
            "mount -t proc proc /proc && truncate -s 8M /t.img && mke2fs -q -F /t.img >/dev/null && \
             tune2fs -L ok /t.img >/dev/null && mkswap /t.img >/dev/null && echo MADE",
        ]));
    assert_eq!(made.trim(), "MADE");
}

#[test]
fn a_missing_module_is_named_and_nothing_is_written() {
    let k = debian_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let modules = tmp.path().join(&k.version);
    std::fs::create_dir(&modules).unwrap();
    let dep = std::fs::read_to_string(k.modules.join("modules.dep")).unwrap();
    let without: String = dep
        .lines()
        .filter(|l| !l.starts_with("kernel/fs/ext4/ext4.ko:") && !l.contains("/nvme.ko:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(modules.join("modules.dep"), without).unwrap();
    std::fs::copy(
        k.modules.join("modules.builtin"),
        modules.join("modules.builtin"),
    )
    .unwrap();
    let stick = tmp.path().join("stick.img");
    let out = Command::new(env!("CARGO_BIN_EXE_rrecover"))
        .arg("mkrescue")
        .arg("--kernel")
        .arg(&k.vmlinuz)
        .arg("--modules")
        .arg(&modules)
        .arg("--bin-dir")
        .arg(static_bin_dir())
        .arg("--out")
        .arg(&stick)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("nvme, ext4") || err.contains("ext4, nvme"),
        "{err}"
    );
    assert!(!stick.exists());
}

#[test]
fn dry_run_lists_the_stick_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stick = tmp.path().join("stick.img");
    let initrd = tmp.path().join("initrd.img");
    let log = ok(&mkrescue(&[
        "--dry-run",
        "--out",
        s(&stick),
        "--initramfs",
        s(&initrd),
    ]));
    assert!(log.contains("modules, loaded in this order"), "{log}");
    assert!(
        log.contains("/usr/sbin/lvm") && log.contains("/usr/bin/rrestore"),
        "{log}"
    );
    assert!(!stick.exists() && !initrd.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_plan_directory_without_a_plan_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let initrd = tmp.path().join("initrd.img");
    let out = mkrescue(&["--initramfs", s(&initrd), "--plan", s(tmp.path())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no plan file"), "{err}");
    assert!(!initrd.exists());
}

#[test]
fn unattended_from_the_kernel_command_line_it_runs_apply_on_the_named_disk_with_the_share() {
    let tmp = tempfile::tempdir().unwrap();
    let backup = tmp.path().join("share/backup");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::write(backup.join("plan"), "# the plan on the share\n").unwrap();
    let share_img = tmp.path().join("share.img");
    sh(Command::new("mke2fs")
        .args(["-q", "-t", "ext4", "-d"])
        .arg(tmp.path().join("share"))
        .arg(&share_img)
        .arg("8M"));
    let blank = tmp.path().join("blank.img");
    std::fs::File::create(&blank)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let stick = tmp.path().join("stick.img");
    ok(&mkrescue(&[
        "--out",
        s(&stick),
        "--plan",
        s(&backup),
        "--append",
        "rrecover.auto=1 rrecover.share=/dev/vdb rrecover.from=backup rrecover.target=/dev/vda panic=1",
    ]));
    let mut args = vm::usb_stick(&stick);
    args.extend(vm::virtio_disk(&blank));
    args.extend(vm::virtio_disk(&share_img));
    let console = vm::qemu("rescue-auto", &args, Duration::from_secs(300));
    let expected =
        "rrecover-rescue: unattended recovery: rrecover apply --yes --from /share/backup \
                    --target /mnt /dev/vda";
    assert!(console.contains(expected), "{console}");
    // Whatever apply says, the outcome is reported and the machine powers off.
    assert!(
        console.contains("rrecover-rescue: recovery finished: ok")
            || console.contains("rrecover-rescue: recovery failed: status"),
        "{console}"
    );
    assert!(
        console.contains("rrecover-rescue: powering off"),
        "{console}"
    );
}

#[test]
fn the_iso_boots_as_a_cdrom() {
    let tmp = tempfile::tempdir().unwrap();
    let iso = tmp.path().join("rescue.iso");
    ok(&mkrescue(&[
        "--iso",
        s(&iso),
        "--append",
        "rrecover.auto=1 rrecover.end=poweroff panic=1",
    ]));
    let file = sh(Command::new("file").arg(&iso));
    assert!(
        file.contains("ISO 9660") && file.contains("bootable"),
        "{file}"
    );
    let args: Vec<String> = ["-cdrom", s(&iso), "-boot", "d"].map(String::from).to_vec();
    let console = vm::qemu("rescue-iso", &args, Duration::from_secs(300));
    assert!(console.contains("Loading /initrd.img"), "{console}");
    assert!(
        console.contains("rrecover-rescue: loading kernel modules"),
        "{console}"
    );
    assert!(
        console.contains("rrecover-rescue: powering off"),
        "{console}"
    );
}
