//! `restore`: rrestore against restore 0.4b47 on one dump made by the
//! reference dump: full restores (-r) into a fresh ext4 filesystem and into
//! a fresh tmpfs, listings (-t), and an incremental -r (a level 1 dump of a
//! changed copy of the image applied over the level 0). Needs root for loop
//! devices and mounts.

use std::path::Path;

use crate::compare::{compare, Case, Comparison, Measured, Target};
use crate::error::{Error, IoContext};
use crate::manifest::Manifest;
use crate::measure::{self, Invocation};
use crate::settings::{show, Settings};
use crate::system::{require_root, settle_writeback, LoopDevice, Mount};

const RSS_LIMIT_MIB: f64 = 200.0;

/// Files restore -r leaves in the target on purpose.
const LEFT_BY_RESTORE: &[&str] = &["restoresymtable"];

#[derive(Clone, Copy)]
enum Place {
    Ext4,
    Tmpfs,
}

pub fn run(settings: &Settings, image: &Path) -> Result<Vec<Comparison>, Error> {
    require_root("restore targets are loop-mounted ext4 and tmpfs filesystems")?;
    eprintln!("[restore] reading the image's tree and contents for the checks");
    let manifest = Manifest::of_image(image, true)?;
    let image_mb = std::fs::metadata(image)
        .ctx(|| format!("stat {}", image.display()))?
        .len()
        >> 20;
    let scratch = settings.scratch_dir("bench-restore-")?;
    let dir = scratch.path();

    // One dump by the reference tool, checked before anything is timed.
    let dumpfile = dir.join("ref.dump");
    {
        let dev = LoopDevice::attach_read_only(image)?;
        measure::run_quiet(&Invocation::new(
            &settings.dump,
            ["-0".into(), "-f".into(), show(&dumpfile), show(&dev.path)],
        ))?;
    }
    let listing = dir.join("listing.txt");
    measure::run_quiet(
        &Invocation::new(&settings.restore, ["-tf".into(), show(&dumpfile)]).stdout_to(&listing),
    )?;
    let entries = manifest.check_listing(
        "restore -tf of the reference dump",
        &std::fs::read(&listing).ctx(|| format!("reading {}", listing.display()))?,
    )?;
    eprintln!("[restore] reference dump lists {entries} entries, as the image has");

    let mut out = Vec::new();
    for (name, target) in [
        ("-r into ext4", Place::Ext4),
        ("-r into tmpfs", Place::Tmpfs),
    ] {
        out.push(compare(
            name,
            restore_case(
                "restore 0.4b47",
                &settings.restore,
                &dumpfile,
                target,
                dir,
                image_mb,
                &manifest,
            ),
            restore_case(
                "rrestore",
                &settings.rrestore,
                &dumpfile,
                target,
                dir,
                image_mb,
                &manifest,
            ),
            settings.runs,
            vec![
                Target::new("wall <= 0.6x restore", |o, r| o.wall() <= 0.6 * r.wall()),
                Target::new(
                    format!("rrestore peak RSS < {RSS_LIMIT_MIB:.0} MiB"),
                    |o, _| o.rss_mib() < RSS_LIMIT_MIB,
                ),
            ],
        )?);
    }
    // Multiple volumes: the same dump by the reference dump cut into four
    // volumes (-B, -M), rebuilt by rrestore -r -M, against rrestore -r of
    // the one-volume dump.
    let base = dir.join("vol");
    {
        let dev = LoopDevice::attach_read_only(image)?;
        let per_volume = (image_mb * 1024 / 4).max(100).to_string();
        measure::run_quiet(&Invocation::new(
            &settings.dump,
            [
                "-0".into(),
                "-B".into(),
                per_volume,
                "-M".into(),
                "-f".into(),
                show(&base),
                show(&dev.path),
            ],
        ))?;
    }
    out.push(compare(
        "-r of four volumes (-M) vs one, into tmpfs",
        restore_case(
            "rrestore, one volume",
            &settings.rrestore,
            &dumpfile,
            Place::Tmpfs,
            dir,
            image_mb,
            &manifest,
        ),
        restore_args_case(
            "rrestore -M",
            &settings.rrestore,
            vec!["-r".into(), "-M".into(), "-f".into(), show(&base)],
            Place::Tmpfs,
            dir,
            image_mb,
            &manifest,
        ),
        settings.runs,
        vec![Target::new("wall <= 1.05x one volume", |o, r| {
            o.wall() <= 1.05 * r.wall()
        })],
    )?);
    // Incremental: a copy of the image changed after the level 0 date, its
    // level 1 by the reference dump, applied by each tool over its own -r
    // of the level 0 (untimed).
    let (level1, changed) = make_level1(settings, image, &dumpfile, dir)?;
    out.push(compare(
        "-r of a level 1 into ext4",
        incremental_case(
            "restore 0.4b47",
            &settings.restore,
            [&dumpfile, &level1],
            dir,
            image_mb,
            &changed,
        ),
        incremental_case(
            "rrestore",
            &settings.rrestore,
            [&dumpfile, &level1],
            dir,
            image_mb,
            &changed,
        ),
        settings.runs,
        vec![Target::new(
            format!("rrestore peak RSS < {RSS_LIMIT_MIB:.0} MiB"),
            |o, _| o.rss_mib() < RSS_LIMIT_MIB,
        )],
    )?);
    out.push(compare(
        "-t (list)",
        list_case(
            "restore 0.4b47",
            &settings.restore,
            &dumpfile,
            &listing,
            &manifest,
        ),
        list_case(
            "rrestore",
            &settings.rrestore,
            &dumpfile,
            &listing,
            &manifest,
        ),
        settings.runs,
        vec![
            Target::new("wall <= 1.0x restore", |o, r| o.wall() <= r.wall()),
            Target::new(
                format!("rrestore peak RSS < {RSS_LIMIT_MIB:.0} MiB"),
                |o, _| o.rss_mib() < RSS_LIMIT_MIB,
            ),
        ],
    )?);
    Ok(out)
}

fn restore_case<'a>(
    tool: &str,
    program: &Path,
    dumpfile: &Path,
    target: Place,
    scratch: &'a Path,
    image_mb: u64,
    manifest: &'a Manifest,
) -> Case<'a> {
    let args = vec!["-rf".to_string(), show(dumpfile)];
    restore_args_case(tool, program, args, target, scratch, image_mb, manifest)
}

/// [`restore_case`] with the restore's arguments given (`-r -M -f base`).
fn restore_args_case<'a>(
    tool: &str,
    program: &Path,
    args: Vec<String>,
    target: Place,
    scratch: &'a Path,
    image_mb: u64,
    manifest: &'a Manifest,
) -> Case<'a> {
    let (kind, size_mb) = match target {
        Place::Ext4 => ("fresh ext4", image_mb * 3 / 2 + 64),
        Place::Tmpfs => ("fresh tmpfs", image_mb * 2 + 64),
    };
    let inv = Invocation::new(program, args);
    let command = format!("cd <{kind} of {size_mb} MiB> && {}", inv.display());
    let tool_name = tool.to_string();
    Case::new(tool, command, move || {
        let mount = match target {
            Place::Ext4 => Mount::fresh_ext4(scratch, size_mb)?,
            Place::Tmpfs => Mount::fresh_tmpfs(scratch, size_mb)?,
        };
        // mke2fs has just written the inode tables and journal.
        settle_writeback();
        let sample = measure::run(&inv.clone().in_dir(&mount.dir))?;
        let restored = Manifest::of_dir(&mount.dir, LEFT_BY_RESTORE)?;
        manifest.check_restored(
            &format!("tree restored by {tool_name} into a {kind}"),
            &restored,
        )?;
        Ok(Measured::new(sample, None))
    })
}

/// Copies the image, changes the copy (every 20th regular file rewritten,
/// every 25th deleted, every 10th directory renamed, in sorted walk order,
/// so the same image always changes the same way) and dumps level 1 of it
/// with the reference dump relative to `level0`'s date. Returns the dump
/// and the manifest of the changed copy.
fn make_level1(
    settings: &Settings,
    image: &Path,
    level0: &Path,
    dir: &Path,
) -> Result<(std::path::PathBuf, Manifest), Error> {
    let copy = dir.join("changed.img");
    std::fs::copy(image, &copy)
        .ctx(|| format!("copying {} to {}", image.display(), copy.display()))?;
    // restore -r checks that level 1 follows level 0 exactly: -T is level
    // 0's own date, read back from its header.
    let header = measure::capture(&show(&settings.restore), &["-tf", &show(level0)])?;
    let date = header
        .lines()
        .find_map(|l| l.strip_prefix("Dump   date: "))
        .ok_or_else(|| Error::Usage("restore -tf printed no dump date".into()))?
        .trim()
        .to_string();
    // Changes must have a ctime after that date (whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mnt = dir.join("mnt-change");
    std::fs::create_dir_all(&mnt).ctx(|| format!("creating {}", mnt.display()))?;
    measure::run_quiet(&Invocation::new(
        "mount",
        ["-o".into(), "loop".into(), show(&copy), show(&mnt)],
    ))?;
    let changed = change_tree(&mnt);
    measure::run_quiet(&Invocation::new("umount", [show(&mnt)]))?;
    changed.ctx(|| format!("changing the tree in {}", copy.display()))?;
    let level1 = dir.join("ref-level1.dump");
    {
        let dev = LoopDevice::attach_read_only(&copy)?;
        measure::run_quiet(&Invocation::new(
            &settings.dump,
            [
                "-1".into(),
                "-T".into(),
                date,
                "-f".into(),
                show(&level1),
                show(&dev.path),
            ],
        ))?;
    }
    eprintln!("[restore] level 1 of a changed copy made");
    Ok((level1, Manifest::of_image(&copy, true)?))
}

fn change_tree(root: &Path) -> std::io::Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.file_name().is_some_and(|n| n == "lost+found") {
                continue;
            }
            let t = std::fs::symlink_metadata(&p)?.file_type();
            if t.is_dir() {
                dirs.push(p.clone());
                stack.push(p);
            } else if t.is_file() {
                files.push(p);
            }
        }
    }
    for (i, f) in files.iter().enumerate() {
        if i % 25 == 0 {
            std::fs::remove_file(f)?;
        } else if i % 20 == 0 {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(f)?
                .write_all(b"changed after the level 0 dump\n")?;
        }
    }
    // Deepest first, so a renamed directory's path is still valid.
    let mut picked: Vec<&std::path::PathBuf> = dirs.iter().step_by(10).collect();
    picked.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for d in picked {
        let mut to = d.as_os_str().to_owned();
        to.push("-moved");
        std::fs::rename(d, to)?;
    }
    Ok(())
}

/// Restores `dumps[0]` untimed into a fresh ext4, then times `-r` of
/// `dumps[1]` there, and checks the tree against `changed`.
fn incremental_case<'a>(
    tool: &str,
    program: &Path,
    dumps: [&Path; 2],
    scratch: &'a Path,
    image_mb: u64,
    changed: &'a Manifest,
) -> Case<'a> {
    let size_mb = image_mb * 3 / 2 + 64;
    let level0 = Invocation::new(program, ["-rf".into(), show(dumps[0])]);
    let level1 = Invocation::new(program, ["-rf".into(), show(dumps[1])]);
    let command = format!(
        "cd <fresh ext4 of {size_mb} MiB> && {} (untimed) && {}",
        level0.display(),
        level1.display()
    );
    let tool_name = tool.to_string();
    Case::new(tool, command, move || {
        let mount = Mount::fresh_ext4(scratch, size_mb)?;
        measure::run_quiet(&level0.clone().in_dir(&mount.dir))?;
        settle_writeback();
        let sample = measure::run(&level1.clone().in_dir(&mount.dir))?;
        let restored = Manifest::of_dir(&mount.dir, LEFT_BY_RESTORE)?;
        changed.check_restored(
            &format!("tree after {tool_name} -r of level 0 and level 1"),
            &restored,
        )?;
        Ok(Measured::new(sample, None))
    })
}

fn list_case<'a>(
    tool: &str,
    program: &Path,
    dumpfile: &Path,
    listing: &Path,
    manifest: &'a Manifest,
) -> Case<'a> {
    let inv = Invocation::new(program, ["-tf".into(), show(dumpfile)]).stdout_to(listing);
    let listing = listing.to_path_buf();
    let tool_name = tool.to_string();
    Case::new(tool, inv.display(), move || {
        let _ = std::fs::remove_file(&listing);
        let sample = measure::run(&inv)?;
        let text = std::fs::read(&listing).ctx(|| format!("reading {}", listing.display()))?;
        manifest.check_listing(&format!("listing by {tool_name}"), &text)?;
        Ok(Measured::new(sample, Some(text.len() as u64)))
    })
}
