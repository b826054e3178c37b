//! rrecover backup then apply, on loop devices: a GPT disk with an ext4 root
//! made with non-default parameters, an ext2 /boot and swap, named in fstab
//! by UUID, LABEL and device name; the rebuilt disk must have the same
//! table, the same filesystem parameters, the same swap and the same files.
//! Also: damaged and missing parts, --dry-run, a non-blank disk, a mounted
//! source, a larger disk with --grow.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{compare_trees, populate, require_root, run, tool, ImageSpec};

const ROOT_UUID: &str = "3f2b1d0e-1111-4a5b-9c8d-0123456789ab";
const HASH_SEED: &str = "0badc0de-2222-4333-8444-555566667777";
const SWAP_UUID: &str = "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e";

/// A block device mounted (directly, not through another loop device),
/// unmounted when dropped.
struct Mount {
    dir: PathBuf,
}

impl Mount {
    fn new(dev: &Path, dir: &Path, read_only: bool) -> Mount {
        fs::create_dir_all(dir).unwrap();
        let mut c = Command::new(tool("mount"));
        if read_only {
            c.args(["-o", "ro"]);
        }
        run(c.arg(dev).arg(dir));
        Mount {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new(tool("umount")).arg(&self.dir).status();
    }
}

/// A loop device over an image, detached when dropped (also on failure).
struct Loop(PathBuf);

impl Loop {
    fn new(image: &Path, read_only: bool) -> Loop {
        let mut c = Command::new(tool("losetup"));
        c.args(["-f", "--show", "-P"]);
        if read_only {
            c.arg("-r");
        }
        let out = run(c.arg(image));
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let l = Loop(dev);
        // Without udev the kernel's partitions get no nodes until partx adds them.
        if !l.part(1).exists() {
            let _ = Command::new(tool("partx")).arg("-a").arg(&l.0).status();
        }
        l
    }
    fn part(&self, n: u32) -> PathBuf {
        PathBuf::from(format!("{}p{n}", self.0.display()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new(tool("losetup"))
            .arg("-d")
            .arg(&self.0)
            .status();
    }
}

/// The LV the test puts in its volume group. lvcreate needs device-mapper
/// (absent on some test machines); LVM's own restore of a metadata file
/// holding the LV does not, and makes the same on-disk metadata.
const LV_TEXT: &str = r#"
logical_volumes {
data {
id = "AbCdEf-1234-5678-9abc-def0-1234-567890"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
creation_time = 1700000000
creation_host = "rrecover-test"
segment_count = 1
segment1 {
start_extent = 0
extent_count = 3
type = "striped"
stripe_count = 1
stripes = [
"pv0", 0
]
}
}
}
"#;

fn lvm(args: &[&str]) -> String {
    text(
        Command::new(tool("lvm"))
            .args(args)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1"),
    )
}

/// A volume group made on one PV, removed (from that PV only) when dropped.
struct Vg {
    name: String,
    pv: String,
}

impl Vg {
    fn new(name: &str, pv: &Path, work: &Path) -> Vg {
        let pv = pv.display().to_string();
        let vg = Vg {
            name: name.into(),
            pv: pv.clone(),
        };
        lvm(&["pvcreate", "-q", "--devices", &pv, &pv]);
        lvm(&["vgcreate", "-q", "-A", "n", "--devices", &pv, name, &pv]);
        let meta = work.join("vg-meta");
        let m = meta.display().to_string();
        lvm(&["vgcfgbackup", "-q", "--devices", &pv, "-f", &m, name]);
        let s = fs::read_to_string(&meta).unwrap();
        let end = s.trim_end().rfind('}').unwrap();
        fs::write(&meta, format!("{}{LV_TEXT}{}", &s[..end], &s[end..])).unwrap();
        lvm(&["vgcfgrestore", "-q", "--devices", &pv, "-f", &m, name]);
        vg
    }

    /// Also remove the copy on another PV (the rebuilt disk's).
    fn also_on(&self, pv: &Path) -> Vg {
        Vg {
            name: self.name.clone(),
            pv: pv.display().to_string(),
        }
    }
}

impl Drop for Vg {
    fn drop(&mut self) {
        let _ = Command::new(tool("lvm"))
            .args([
                "vgremove",
                "-q",
                "-f",
                "-y",
                "--devices",
                &self.pv,
                &self.name,
            ])
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .status();
    }
}

/// Names, UUIDs and sizes of the volume group, PV and LVs on `pv`.
fn lvm_layout(pv: &Path) -> String {
    let pv = pv.display().to_string();
    let pvs = lvm(&[
        "pvs",
        "--devices",
        &pv,
        "--noheadings",
        "-o",
        "pv_uuid,vg_name,vg_uuid,vg_extent_size,vg_extent_count",
        "--units",
        "b",
    ]);
    let lvs = lvm(&[
        "lvs",
        "--devices",
        &pv,
        "--noheadings",
        "-o",
        "lv_name,lv_uuid,lv_size",
        "--units",
        "b",
    ]);
    format!("{pvs}{lvs}")
}

fn rrecover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rrecover"))
        .args(args)
        .output()
        .expect("run rrecover")
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "rrecover failed: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn text(c: &mut Command) -> String {
    String::from_utf8_lossy(&run(c).stdout).into_owned()
}

fn blank(path: &Path, mib: u64) {
    let f = fs::File::create(path).unwrap();
    f.set_len(mib << 20).unwrap();
}

/// Builds the source disk on `lo`: table, filesystems, files, fstab.
fn build_source(lo: &Loop, work: &Path) {
    let table = "label: gpt\n\
        start=2048, size=16384, type=L, name=\"boot\"\n\
        start=18432, size=8192, type=S, name=\"swap\"\n\
        start=26624, size=184320, type=L, name=\"root\"\n\
        start=210944, type=V, name=\"pv\"\n";
    let mut sf = Command::new(tool("sfdisk"));
    sf.arg("-q").arg(&lo.0).stdin(std::process::Stdio::piped());
    let mut child = sf.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(table.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let _ = Command::new(tool("partx")).arg("-a").arg(&lo.0).status();
    for n in 1..=4 {
        assert!(
            lo.part(n).exists(),
            "{} did not appear",
            lo.part(n).display()
        );
    }
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext2", "-L", "BOOT"])
        .arg(lo.part(1)));
    run(Command::new(tool("mkswap"))
        .args(["-L", "SWAPPY", "-U", SWAP_UUID])
        .arg(lo.part(2)));
    // Non-default: 2 KiB blocks, 512-byte inodes, one inode per 6 KiB, label,
    // fixed UUID and hash seed, dir_nlink off; tune2fs: counts and errors.
    run(Command::new(tool("mke2fs"))
        .args([
            "-q", "-F", "-t", "ext4", "-b", "2048", "-I", "512", "-i", "6144",
        ])
        .args([
            "-L",
            "ROOTFS",
            "-U",
            ROOT_UUID,
            "-O",
            "^dir_nlink",
            "-J",
            "size=4",
        ])
        .arg("-E")
        .arg(format!("hash_seed={HASH_SEED}"))
        .arg(lo.part(3)));
    run(Command::new(tool("tune2fs"))
        .args([
            "-c",
            "25",
            "-i",
            "2w",
            "-e",
            "remount-ro",
            "-r",
            "1234",
            "-o",
            "journal_data",
        ])
        .arg(lo.part(3)));
    let root = Mount::new(&lo.part(3), &work.join("src-root"), false);
    populate(&root.dir, ImageSpec::new("ext4", 2048));
    fs::create_dir_all(root.dir.join("etc")).unwrap();
    fs::create_dir_all(root.dir.join("boot")).unwrap();
    let boot = Mount::new(&lo.part(1), &root.dir.join("boot"), false);
    fs::write(boot.dir.join("vmlinuz"), vec![7u8; 300_000]).unwrap();
    fs::create_dir_all(boot.dir.join("grub")).unwrap();
    fs::write(boot.dir.join("grub/grub.cfg"), "set root=(hd0,gpt3)\n").unwrap();
    drop(boot);
    fs::write(
        root.dir.join("etc/fstab"),
        format!(
            "# made by the test\nUUID={ROOT_UUID} / ext4 errors=remount-ro 0 1\n\
             LABEL=BOOT /boot ext2 defaults 0 2\n{} none swap sw 0 0\n",
            lo.part(2).display()
        ),
    )
    .unwrap();
}

/// `sfdisk --dump` without the device names.
fn table(dev: &Path) -> String {
    let dump = text(Command::new(tool("sfdisk")).arg("--dump").arg(dev));
    dump.lines()
        .filter(|l| !l.starts_with("device:"))
        .map(|l| match l.split_once(" : ") {
            Some((_, rest)) => rest.to_string(),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `dumpe2fs -h` fields that mke2fs and tune2fs set (times, mount
/// state and checksums left out).
fn fs_fields(dev: &Path) -> Vec<String> {
    const SKIP: &[&str] = &[
        "Last mounted on",
        "Filesystem created",
        "Last mount time",
        "Last write time",
        "Mount count",
        "Last checked",
        "Next check after",
        "Lifetime writes",
        "Checksum",
        "Journal sequence",
        "Journal start",
        "Free blocks",
        "Free inodes",
        "Filesystem state",
        "Journal checksum",
    ];
    text(Command::new(tool("dumpe2fs")).arg("-h").arg(dev))
        .lines()
        .filter(|l| l.contains(':') && !SKIP.iter().any(|s| l.starts_with(s)))
        .map(str::to_string)
        .collect()
}

fn blkid(dev: &Path) -> String {
    text(Command::new(tool("blkid")).args(["-o", "export"]).arg(dev))
        .lines()
        .filter(|l| !l.starts_with("DEVNAME="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn all_zero(path: &Path) -> bool {
    let bytes = fs::read(path).unwrap();
    bytes.iter().all(|&b| b == 0)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn backup_then_apply_rebuilds_the_disk() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src_img = w.join("source.img");
    blank(&src_img, 128);
    let src = Loop::new(&src_img, false);
    build_source(&src, w);
    let vg_name = format!("rrtest{}", std::process::id());
    let src_vg = Vg::new(&vg_name, &src.part(4), w);
    let s = |p: &Path| p.display().to_string();

    // A read-write mounted source is warned about.
    {
        let _m = Mount::new(&src.part(3), &w.join("live"), false);
        let o = ok(rrecover(&[
            "backup",
            "--to",
            &s(&w.join("live-bk")),
            &s(&src.0),
        ]));
        let e = stderr(&o);
        assert!(
            e.contains("is mounted read-write") && e.contains("fsfreeze"),
            "{e}"
        );
    }

    let bk = w.join("bk");
    let o = ok(rrecover(&[
        "backup",
        "--zstd",
        "--split",
        "256K",
        "--to",
        &s(&bk),
        &s(&src.0),
    ]));
    let e = stderr(&o);
    assert!(e.contains("DUMP: DUMP IS DONE"), "rdump's messages: {e}");
    assert!(!e.contains("mounted read-write"), "{e}");
    let plan = fs::read_to_string(bk.join("plan")).unwrap();
    for want in [
        ROOT_UUID,
        HASH_SEED,
        SWAP_UUID,
        "ROOTFS",
        "SWAPPY",
        "mountpoint = \"/boot\"",
    ] {
        assert!(plan.contains(want), "plan lacks {want}:\n{plan}");
    }
    let parts: Vec<String> = fs::read_dir(&bk)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".dump."))
        .collect();
    assert!(parts.len() > 4, "split into parts: {parts:?}");
    let sums = fs::read_to_string(bk.join("SHA256SUMS")).unwrap();
    for p in &parts {
        assert!(sums.contains(p.as_str()), "{p} not in SHA256SUMS");
    }

    // A level 1 on top: a new file, a removed one, a renamed directory.
    {
        let m = Mount::new(&src.part(3), &w.join("change"), false);
        fs::write(m.dir.join("after-level-0"), b"new in level 1\n").unwrap();
        fs::remove_file(m.dir.join("small")).unwrap();
        fs::rename(m.dir.join("sub"), m.dir.join("sub-renamed")).unwrap();
    }
    let o = ok(rrecover(&[
        "backup",
        "--level",
        "1",
        "--to",
        &s(&bk),
        &s(&src.0),
    ]));
    assert!(stderr(&o).contains("level 1 dump"), "{}", stderr(&o));
    let plan = fs::read_to_string(bk.join("plan")).unwrap();
    assert_eq!(plan.matches("level = 1").count(), 2, "{plan}");

    let dst_img = w.join("target.img");
    blank(&dst_img, 128);
    let mnt = w.join("mnt");

    // --dry-run prints the commands and writes nothing.
    let o = ok(rrecover(&[
        "apply",
        "--dry-run",
        "--from",
        &s(&bk),
        "--target",
        &s(&mnt),
        &s(&dst_img),
    ]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("-U {ROOT_UUID}")) && out.contains("rrestore -rf -"),
        "{out}"
    );
    assert!(all_zero(&dst_img), "--dry-run wrote to the disk");

    // A missing tool is named before anything is written.
    let bin = w.join("no-mkswap");
    fs::create_dir_all(&bin).unwrap();
    for t in [
        "sfdisk", "mke2fs", "tune2fs", "mount", "umount", "lvm", "losetup", "partx",
    ] {
        std::os::unix::fs::symlink(tool(t), bin.join(t)).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_rrecover"))
        .args([
            "apply",
            "--from",
            &s(&bk),
            "--target",
            &s(&mnt),
            &s(&dst_img),
        ])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("missing tools: mkswap (Debian package util-linux)"),
        "{}",
        stderr(&o)
    );
    assert!(
        all_zero(&dst_img),
        "an apply missing a tool wrote to the disk"
    );

    // A damaged part, then a missing one: refused, naming it, nothing written.
    let victim = parts.iter().max().unwrap().clone();
    let good = fs::read(bk.join(&victim)).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    fs::write(bk.join(&victim), &bad).unwrap();
    let o = rrecover(&[
        "apply",
        "--from",
        &s(&bk),
        "--target",
        &s(&mnt),
        &s(&dst_img),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("{victim} is damaged")),
        "{}",
        stderr(&o)
    );
    fs::remove_file(bk.join(&victim)).unwrap();
    let o = rrecover(&[
        "apply",
        "--from",
        &s(&bk),
        "--target",
        &s(&mnt),
        &s(&dst_img),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("{victim} is missing")),
        "{}",
        stderr(&o)
    );
    assert!(all_zero(&dst_img), "a refused apply wrote to the disk");
    fs::write(bk.join(&victim), &good).unwrap();

    // The real thing, onto a blank disk of the same size.
    let dst = Loop::new(&dst_img, false);
    let o = ok(rrecover(&[
        "apply",
        "--from",
        &s(&bk),
        "--target",
        &s(&mnt),
        &s(&dst.0),
    ]));
    let e = stderr(&o);
    assert!(e.contains("mke2fs") && e.contains("mkswap"), "{e}");
    assert_eq!(table(&src.0), table(&dst.0));
    for n in [1, 3] {
        assert_eq!(
            fs_fields(&src.part(n)),
            fs_fields(&dst.part(n)),
            "partition {n}"
        );
    }
    assert_eq!(blkid(&src.part(2)), blkid(&dst.part(2)));
    let dst_vg = src_vg.also_on(&dst.part(4));
    let layout = lvm_layout(&src.part(4));
    assert!(
        layout.contains(&vg_name) && layout.contains("AbCdEf-1234"),
        "{layout}"
    );
    assert_eq!(layout, lvm_layout(&dst.part(4)));
    {
        let a = Mount::new(&src.part(3), &w.join("cmp-src"), true);
        let b = Mount::new(&dst.part(3), &w.join("cmp-dst"), true);
        let diffs = compare_trees(&a.dir, &b.dir, &[]);
        assert!(diffs.is_empty(), "root differs: {diffs:#?}");
        let ab = Mount::new(&src.part(1), &a.dir.join("boot"), true);
        let bb = Mount::new(&dst.part(1), &b.dir.join("boot"), true);
        let diffs = compare_trees(&ab.dir, &bb.dir, &[]);
        assert!(diffs.is_empty(), "/boot differs: {diffs:#?}");
        // The restored fstab still names the new disk's filesystems.
        let fstab = fs::read_to_string(b.dir.join("etc/fstab")).unwrap();
        assert!(fstab.contains(ROOT_UUID));
        assert!(blkid(&dst.part(3)).contains(&format!("UUID={ROOT_UUID}")));
        assert!(blkid(&dst.part(1)).contains("LABEL=BOOT"));
    }

    // The disk now holds a table: refused without --yes.
    let o = rrecover(&["apply", "--from", &s(&bk), "--target", &s(&mnt), &s(&dst.0)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("pass --yes"), "{}", stderr(&o));
    drop(dst_vg);
    drop(dst);

    // A larger disk: the last partition and its filesystem grow with --grow.
    let big_img = w.join("big.img");
    blank(&big_img, 192);
    let big = Loop::new(&big_img, false);
    ok(rrecover(&[
        "apply",
        "--grow",
        "--from",
        &s(&bk),
        "--target",
        &s(&mnt),
        &s(&big.0),
    ]));
    let _big_vg = src_vg.also_on(&big.part(4));
    assert_eq!(lvm_layout(&src.part(4)), lvm_layout(&big.part(4)));
    let grown = text(
        Command::new(tool("blockdev"))
            .arg("--getsize64")
            .arg(big.part(4)),
    );
    let old = text(
        Command::new(tool("blockdev"))
            .arg("--getsize64")
            .arg(src.part(4)),
    );
    let (grown, old): (u64, u64) = (grown.trim().parse().unwrap(), old.trim().parse().unwrap());
    assert!(grown > old + (60 << 20), "last partition {old} -> {grown}");
    let a = Mount::new(&src.part(3), &w.join("cmp-src"), true);
    let b = Mount::new(&big.part(3), &w.join("cmp-big"), true);
    let diffs = compare_trees(&a.dir, &b.dir, &[]);
    assert!(
        diffs.is_empty(),
        "root on the larger disk differs: {diffs:#?}"
    );
}

#[test]
fn mbr_disk_onto_a_smaller_disk_with_fit() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let s = |p: &Path| p.display().to_string();
    let src_img = w.join("mbr.img");
    blank(&src_img, 64);
    let src = Loop::new(&src_img, false);
    let mut sf = Command::new(tool("sfdisk"));
    sf.arg("-q").arg(&src.0).stdin(std::process::Stdio::piped());
    let mut child = sf.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=16384, type=ef\nstart=18432, type=83, bootable\n",
        )
        .unwrap();
    assert!(child.wait().unwrap().success());
    let _ = Command::new(tool("partx")).arg("-a").arg(&src.0).status();
    // Boot code in the MBR and GRUB-style data in the gap before partition 1.
    {
        use std::os::unix::fs::FileExt;
        let f = fs::OpenOptions::new().write(true).open(&src.0).unwrap();
        let code: Vec<u8> = (0..440u32).map(|i| (i * 13 % 251) as u8 | 1).collect();
        f.write_all_at(&code, 0).unwrap();
        let gap: Vec<u8> = (0..(2047 * 512u32)).map(|i| (i % 253) as u8).collect();
        f.write_all_at(&gap, 512).unwrap();
    }
    // An EFI system partition (vfat) with a bootloader file.
    run(Command::new(tool("mkfs.vfat"))
        .args(["-i", "1234ABCD", "-n", "ESP"])
        .arg(src.part(1)));
    // (mtools: the kernel here may have no vfat driver.)
    let efi = w.join("BOOTX64.EFI");
    fs::write(&efi, vec![0x4d; 70_000]).unwrap();
    let esp = s(&src.part(1));
    run(Command::new(tool("mmd")).args(["-i", &esp, "::/EFI", "::/EFI/BOOT"]));
    run(Command::new(tool("mcopy"))
        .args(["-i", &esp])
        .arg(&efi)
        .arg("::/EFI/BOOT/BOOTX64.EFI"));
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4", "-b", "1024", "-L", "small"])
        .arg(src.part(2)));
    {
        let m = Mount::new(&src.part(2), &w.join("src"), false);
        populate(&m.dir, ImageSpec::new("ext4", 1024));
    }
    let bk = w.join("bk");
    ok(rrecover(&["backup", "-z6", "--to", &s(&bk), &s(&src.0)]));

    let small = w.join("small.img");
    blank(&small, 40);
    let mnt = w.join("mnt");
    let o = rrecover(&["apply", "--from", &s(&bk), "--target", &s(&mnt), &s(&small)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("use --fit"), "{}", stderr(&o));
    assert!(all_zero(&small), "a refused apply wrote to the disk");

    let dst = Loop::new(&small, false);
    ok(rrecover(&[
        "apply",
        "--fit",
        "--from",
        &s(&bk),
        "--target",
        &s(&mnt),
        &s(&dst.0),
    ]));
    let t = table(&dst.0);
    assert!(
        t.contains("label: dos") && t.contains("label-id: 0x1234abcd"),
        "{t}"
    );
    assert!(
        t.contains("type=83, bootable") && t.contains("type=ef"),
        "{t}"
    );
    // The EFI partition and the boot code came back byte for byte.
    let bytes = |p: &Path, n: usize| {
        let mut b = vec![0u8; n];
        use std::io::Read;
        fs::File::open(p).unwrap().read_exact(&mut b).unwrap();
        b
    };
    assert!(
        bytes(&src.part(1), 8 << 20) == bytes(&dst.part(1), 8 << 20),
        "ESP differs"
    );
    let (a, b) = (bytes(&src.0, 1 << 20), bytes(&dst.0, 1 << 20));
    assert!(a[..440] == b[..440], "MBR boot code differs");
    assert!(a[512..] == b[512..], "the gap before partition 1 differs");
    assert!(
        blkid(&dst.part(1)).contains("UUID=1234-ABCD"),
        "{}",
        blkid(&dst.part(1))
    );
    let fields = |dev: &Path, name: &str| {
        fs_fields(dev)
            .into_iter()
            .find(|l| l.starts_with(name))
            .unwrap()
    };
    assert_eq!(
        fields(&src.part(2), "Filesystem UUID"),
        fields(&dst.part(2), "Filesystem UUID")
    );
    assert_ne!(
        fields(&src.part(2), "Block count"),
        fields(&dst.part(2), "Block count")
    );
    let a = Mount::new(&src.part(2), &w.join("cmp-src"), true);
    let b = Mount::new(&dst.part(2), &w.join("cmp-dst"), true);
    let diffs = compare_trees(&a.dir, &b.dir, &[]);
    assert!(diffs.is_empty(), "files differ after --fit: {diffs:#?}");
}
