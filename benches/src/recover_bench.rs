//! `recover`: rrecover against the tools it stands for, on a GPT disk image
//! holding the bench image as its one partition:
//! - `rrecover backup` of the disk against rdump -0 of the partition alone
//!   (the plan, the superblock and fstab reads must cost next to nothing);
//! - `rrecover apply` onto a blank disk against the commands its --dry-run
//!   prints (sfdisk, mke2fs, tune2fs, mount, rrestore -rf), run by sh.
//!
//! Both restored trees are checked against the image. Needs root.

use std::path::{Path, PathBuf};

use crate::compare::{compare, Case, Comparison, Measured, Target};
use crate::error::{Error, IoContext};
use crate::manifest::Manifest;
use crate::measure::{self, Invocation};
use crate::settings::{show, Settings};
use crate::system::{require_root, settle_writeback};

/// A loop device with partition nodes, detached when dropped.
struct Disk {
    dev: String,
}

impl Disk {
    fn attach(image: &Path, has_table: bool) -> Result<Disk, Error> {
        let dev = measure::capture("losetup", &["-f", "--show", "-P", &show(image)])?;
        let d = Disk {
            dev: dev.trim().to_string(),
        };
        if has_table && !Path::new(&d.part1()).exists() {
            measure::run_quiet(&Invocation::new("partx", ["-a", d.dev.as_str()]))?;
        }
        Ok(d)
    }
    fn part1(&self) -> String {
        format!("{}p1", self.dev)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = measure::capture("losetup", &["-d", &self.dev]);
    }
}

/// The disk image: GPT, the bench image copied into partition 1.
fn make_disk(image: &Path, dir: &Path) -> Result<(PathBuf, u64), Error> {
    let bytes = std::fs::metadata(image)
        .ctx(|| format!("stat {}", image.display()))?
        .len();
    let sectors = bytes.div_ceil(512);
    let disk_bytes = (2048 + sectors + 2048) * 512;
    let disk = dir.join("disk.img");
    let f = std::fs::File::create(&disk).ctx(|| format!("creating {}", disk.display()))?;
    f.set_len(disk_bytes)
        .ctx(|| format!("sizing {}", disk.display()))?;
    let script = format!("label: gpt\nstart=2048, size={sectors}, type=L\n");
    let script_file = dir.join("table.sfdisk");
    std::fs::write(&script_file, script).ctx(|| "writing the sfdisk script".into())?;
    measure::run_quiet(&Invocation::new(
        "sh",
        [
            "-c".to_string(),
            format!("sfdisk -q {} < {}", show(&disk), show(&script_file)),
        ],
    ))?;
    measure::run_quiet(&Invocation::new(
        "dd",
        [
            format!("if={}", show(image)),
            format!("of={}", show(&disk)),
            "bs=1M".into(),
            "seek=1".into(),
            "conv=notrunc,sparse".into(),
            "status=none".into(),
        ],
    ))?;
    Ok((disk, disk_bytes))
}

fn blank(path: &Path, bytes: u64) -> Result<(), Error> {
    let f = std::fs::File::create(path).ctx(|| format!("creating {}", path.display()))?;
    f.set_len(bytes)
        .ctx(|| format!("sizing {}", path.display()))
}

/// Mounts `dev` read-only, reads its tree and checks it against `manifest`.
fn check_tree(what: &str, dev: &str, dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    let mnt = dir.join("check");
    std::fs::create_dir_all(&mnt).ctx(|| format!("creating {}", mnt.display()))?;
    measure::run_quiet(&Invocation::new("mount", ["-o", "ro", dev, &show(&mnt)]))?;
    let restored = Manifest::of_dir(&mnt, &["restoresymtable"]);
    let _ = measure::capture("umount", &[&show(&mnt)]);
    manifest.check_restored(what, &restored?)
}

pub fn run(settings: &Settings, image: &Path) -> Result<Vec<Comparison>, Error> {
    require_root("rrecover works on loop devices")?;
    let rrecover = settings.rdump.with_file_name("rrecover");
    eprintln!("[recover] reading the image's tree and contents for the checks");
    let manifest = Manifest::of_image(image, true)?;
    let scratch = settings.scratch_dir("bench-recover-")?;
    let dir = scratch.path();
    let (disk_img, disk_bytes) = make_disk(image, dir)?;
    let src = Disk::attach(&disk_img, true)?;
    let mut out = Vec::new();

    let dumpfile = dir.join("alone.dump");
    let rdump = Invocation::new(
        &settings.rdump,
        ["-0".into(), "-f".into(), show(&dumpfile), src.part1()],
    );
    let bk = dir.join("bk");
    let backup = Invocation::new(
        &rrecover,
        ["backup".into(), "--to".into(), show(&bk), src.dev.clone()],
    );
    let backup_cmd = backup.display();
    out.push(compare(
        "backup of a one-partition disk",
        Case::new("rdump -0 of the partition", rdump.display(), || {
            settle_writeback();
            let s = measure::run(&rdump)?;
            let size = std::fs::metadata(&dumpfile).map(|m| m.len()).ok();
            Ok(Measured::new(s, size))
        }),
        Case::new("rrecover backup", backup_cmd, || {
            let _ = std::fs::remove_dir_all(&bk);
            settle_writeback();
            let s = measure::run(&backup)?;
            if !bk.join("plan").is_file() {
                return Err(Error::check("rrecover backup", "no plan written"));
            }
            Ok(Measured::new(s, None))
        }),
        settings.runs,
        vec![Target::new("wall <= rdump + 2 s", |o, r| {
            o.wall() <= r.wall() + 2.0
        })],
    )?);
    drop(src);

    // The reference side runs apply's own --dry-run script.
    let target_img = dir.join("target.img");
    blank(&target_img, disk_bytes)?;
    let dst = Disk::attach(&target_img, false)?;
    let mnt = dir.join("mnt");
    let dry = measure::capture(
        &show(&rrecover),
        &[
            "apply",
            "--dry-run",
            "--yes",
            "--from",
            &show(&bk),
            "--target",
            &show(&mnt),
            &dst.dev,
        ],
    )?;
    let script = dir.join("by-hand.sh");
    let path = format!(
        "{}:{}",
        show(settings.rrestore.parent().unwrap_or(Path::new("."))),
        std::env::var("PATH").unwrap_or_default()
    );
    std::fs::write(&script, format!("set -e\nexport PATH={path}\n{dry}"))
        .ctx(|| "writing the by-hand script".into())?;
    let by_hand = Invocation::new("sh", [show(&script)]);
    let apply = Invocation::new(
        &rrecover,
        [
            "apply".into(),
            "--yes".into(),
            "--from".into(),
            show(&bk),
            "--target".into(),
            show(&mnt),
            dst.dev.clone(),
        ],
    );
    let part = dst.part1();
    out.push(compare(
        "apply onto a blank disk",
        Case::new(
            "sfdisk + mke2fs + tune2fs + rrestore -r (apply --dry-run's script)",
            format!("sh {}", show(&script)),
            || {
                settle_writeback();
                let s = measure::run(&by_hand);
                // A failed script leaves its mounts: clear them so the disk detaches.
                let _ = measure::capture("umount", &["-R", &show(&mnt)]);
                let s = s?;
                check_tree("tree restored by the by-hand script", &part, dir, &manifest)?;
                Ok(Measured::new(s, None))
            },
        ),
        Case::new("rrecover apply", apply.display(), || {
            settle_writeback();
            let s = measure::run(&apply);
            let _ = measure::capture("umount", &["-R", &show(&mnt)]);
            let s = s?;
            check_tree("tree restored by rrecover apply", &part, dir, &manifest)?;
            Ok(Measured::new(s, None))
        }),
        settings.runs,
        vec![Target::new("wall <= 1.1x the by-hand commands", |o, r| {
            o.wall() <= 1.1 * r.wall()
        })],
    )?);
    Ok(out)
}
