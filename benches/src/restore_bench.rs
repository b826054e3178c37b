//! `restore`: rrestore against restore 0.4b47 on one dump made by the
//! reference dump: full restores (-r) into a fresh ext4 filesystem and into
//! a fresh tmpfs, and listings (-t). Needs root for loop devices and mounts.

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
    let (kind, size_mb) = match target {
        Place::Ext4 => ("fresh ext4", image_mb * 3 / 2 + 64),
        Place::Tmpfs => ("fresh tmpfs", image_mb * 2 + 64),
    };
    let inv = Invocation::new(program, ["-rf".into(), show(dumpfile)]);
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
