//! `dump`: rdump against dump 0.4b47 (uncompressed and -z6) and against
//! fsarchiver (zstd level 3), all reading the same read-only loop device.
//!
//! dump 0.4b47 takes a path that is not a block device for a directory of a
//! mounted filesystem, so the image is attached to a loop device and every
//! tool, ours included, reads that device.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::compare::{compare, Case, Comparison, Measured, Target};
use crate::error::{Error, IoContext};
use crate::manifest::{Kind, Manifest};
use crate::measure::{self, Invocation};
use crate::report::size_ratio;
use crate::settings::{show, Settings};
use crate::system::{require_root, settle_writeback, LoopDevice};

const RSS_LIMIT_MIB: f64 = 200.0;

pub fn run(settings: &Settings, image: &Path) -> Result<Vec<Comparison>, Error> {
    require_root("dump 0.4b47 and fsarchiver read the image through a loop device")?;
    let manifest = Manifest::of_image(image, false)?;
    let dev = LoopDevice::attach_read_only(image)?;
    let scratch = settings.scratch_dir("bench-dump-")?;
    let dir = scratch.path();
    let devs = show(&dev.path);
    let listing = dir.join("listing.txt");
    let mut out = Vec::new();

    // Listing a dump with the reference restore checks both the tool's
    // exit status and that the dump holds exactly the image's tree.
    let restore_lists = |prog: &Path, label: &'static str| {
        let listing = listing.clone();
        let manifest = &manifest;
        let prog = prog.to_path_buf();
        move |file: &Path, _messages: &str| -> Result<(), Error> {
            measure::run_quiet(
                &Invocation::new(&prog, ["-tf".into(), show(file)]).stdout_to(&listing),
            )?;
            let text = std::fs::read(&listing).ctx(|| format!("reading {}", listing.display()))?;
            manifest.check_listing(&format!("{label} -tf {}", file.display()), &text)?;
            Ok(())
        }
    };

    for (case, flags, size_tolerance) in [
        ("uncompressed", vec![], None),
        ("-z6", vec!["-z6"], Some(0.05)),
    ] {
        let file = dir.join("out.dump");
        let mut args: Vec<String> = vec!["-0".into()];
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(["-f".into(), show(&file), devs.clone()]);
        let mut targets = vec![Target::new("wall <= 0.5x dump", |o, r| {
            o.wall() <= 0.5 * r.wall()
        })];
        if let Some(tol) = size_tolerance {
            targets.push(Target::new(
                format!("size within {:.0}% of dump", tol * 100.0),
                move |o, r| size_ratio(o, r).is_some_and(|x| (x - 1.0).abs() <= tol),
            ));
        }
        targets.push(Target::new(
            format!("rdump peak RSS < {RSS_LIMIT_MIB:.0} MiB"),
            |o, _| o.rss_mib() < RSS_LIMIT_MIB,
        ));
        out.push(compare(
            case,
            file_case(
                "dump 0.4b47",
                &settings.dump,
                &args,
                &file,
                restore_lists(&settings.restore, "restore"),
            ),
            file_case(
                "rdump",
                &settings.rdump,
                &args,
                &file,
                restore_lists(&settings.restore, "restore"),
            ),
            settings.runs,
            targets,
        )?);
    }

    // Multiple volumes: rdump cutting the same dump into four volumes
    // (-B, -M) against rdump writing it as one; both listed whole by the
    // reference restore (-M for the set).
    let single = dir.join("one.dump");
    let blocks = std::fs::metadata(image)
        .ctx(|| format!("stat {}", image.display()))?
        .len()
        / 1024;
    let per_volume = (blocks / 4).max(100).to_string();
    let base = dir.join("vol");
    let one_args = vec!["-0".to_string(), "-f".into(), show(&single), devs.clone()];
    let set_args = vec![
        "-0".to_string(),
        "-B".into(),
        per_volume,
        "-M".into(),
        "-f".into(),
        show(&base),
        devs.clone(),
    ];
    let restore = settings.restore.clone();
    let manifest_ref = &manifest;
    let listing_set = listing.clone();
    let set_lists = move |base: &Path| -> Result<(), Error> {
        measure::run_quiet(
            &Invocation::new(
                &restore,
                ["-t".into(), "-M".into(), "-f".into(), show(base)],
            )
            .stdout_to(&listing_set),
        )?;
        let text =
            std::fs::read(&listing_set).ctx(|| format!("reading {}", listing_set.display()))?;
        manifest_ref.check_listing(&format!("restore -t -M -f {}", base.display()), &text)?;
        Ok(())
    };
    out.push(compare(
        "four volumes (-B, -M) vs one",
        file_case(
            "rdump, one volume",
            &settings.rdump,
            &one_args,
            &single,
            restore_lists(&settings.restore, "restore"),
        ),
        volumes_case("rdump -B -M", &settings.rdump, &set_args, &base, &set_lists),
        settings.runs,
        vec![Target::new("wall <= 1.05x one volume", |o, r| {
            o.wall() <= 1.05 * r.wall()
        })],
    )?);

    // The same with compression: cutting a compressed dump depends on the
    // compressed sizes, which the packer learns from the compressors.
    let single_z = dir.join("one-z.dump");
    let base_z = dir.join("volz");
    // The bench image's dump compresses to about half: four volumes or so.
    let per_volume_z = (blocks / 8).max(100).to_string();
    let one_z_args = vec![
        "-0".to_string(),
        "-z6".into(),
        "-f".into(),
        show(&single_z),
        devs.clone(),
    ];
    let set_z_args = vec![
        "-0".to_string(),
        "-z6".into(),
        "-B".into(),
        per_volume_z,
        "-M".into(),
        "-f".into(),
        show(&base_z),
        devs.clone(),
    ];
    out.push(compare(
        "four compressed volumes (-z6 -B -M) vs one",
        file_case(
            "rdump -z6, one volume",
            &settings.rdump,
            &one_z_args,
            &single_z,
            restore_lists(&settings.restore, "restore"),
        ),
        volumes_case(
            "rdump -z6 -B -M",
            &settings.rdump,
            &set_z_args,
            &base_z,
            &set_lists,
        ),
        settings.runs,
        vec![Target::new("wall <= 1.05x one volume", |o, r| {
            o.wall() <= 1.05 * r.wall()
        })],
    )?);

    // zstd: fsarchiver's archive checked with its own archinfo, rdump's
    // zstd dump (which restore 0.4b47 cannot read) with rrestore -t.
    let fsa = dir.join("out.fsa");
    let fsa_args = vec![
        "savefs".to_string(),
        "-Z3".into(),
        "-j2".into(),
        show(&fsa),
        devs.clone(),
    ];
    let zfile = dir.join("out-zstd.dump");
    let zargs = vec![
        "-0".to_string(),
        "--zstd=3".into(),
        "-f".into(),
        show(&zfile),
        devs.clone(),
    ];
    let fsarchiver = settings.fsarchiver.clone();
    let manifest_ref = &manifest;
    let fsa_check = move |file: &Path, messages: &str| {
        check_fsarchiver(&fsarchiver, file, messages, manifest_ref)
    };
    out.push(compare(
        "zstd level 3",
        file_case(
            "fsarchiver -Z3 -j2",
            &settings.fsarchiver,
            &fsa_args,
            &fsa,
            fsa_check,
        ),
        file_case(
            "rdump --zstd=3",
            &settings.rdump,
            &zargs,
            &zfile,
            restore_lists(&settings.rrestore, "rrestore"),
        ),
        settings.runs,
        vec![
            Target::new("wall <= 0.5x fsarchiver", |o, r| o.wall() <= 0.5 * r.wall()),
            Target::new("size <= fsarchiver", |o, r| {
                size_ratio(o, r).is_some_and(|x| x <= 1.0)
            }),
            Target::new(
                format!("rdump peak RSS < {RSS_LIMIT_MIB:.0} MiB"),
                |o, _| o.rss_mib() < RSS_LIMIT_MIB,
            ),
        ],
    )?);
    drop(dev);
    Ok(out)
}

/// A tool writing one output file: removed before the run, measured,
/// checked (given the output and the tool's messages), removed again.
fn file_case<'a>(
    tool: &str,
    program: &Path,
    args: &[String],
    file: &Path,
    check: impl Fn(&Path, &str) -> Result<(), Error> + 'a,
) -> Case<'a> {
    let stdout: PathBuf = file.with_extension("stdout");
    let stderr: PathBuf = file.with_extension("stderr");
    let command = Invocation::new(program, args.iter().cloned()).display();
    let inv = Invocation::new(program, args.iter().cloned())
        .stdout_to(&stdout)
        .stderr_to(&stderr);
    let file: PathBuf = file.to_path_buf();
    Case::new(tool, command, move || {
        let _ = std::fs::remove_file(&file);
        // Start every run with no dirty pages: otherwise the writeback of the
        // previous tool's output (hundreds of MiB) lands in this run's time.
        settle_writeback();
        let sample = measure::run(&inv)?;
        let size = std::fs::metadata(&file)
            .ctx(|| format!("{} exited 0 but wrote no {}", inv.display(), file.display()))?
            .len();
        // Tools print their summaries on either stream.
        let mut messages = std::fs::read_to_string(&stdout).unwrap_or_default();
        messages.push_str(&std::fs::read_to_string(&stderr).unwrap_or_default());
        let checked = check(&file, &messages);
        let _ = std::fs::remove_file(&file);
        checked?;
        Ok(Measured::new(sample, Some(size)))
    })
}

/// A tool writing the volumes `base001`, `base002`, ...: removed before the
/// run, measured (the size is the set's), checked, removed again.
fn volumes_case<'a>(
    tool: &str,
    program: &Path,
    args: &[String],
    base: &Path,
    check: impl Fn(&Path) -> Result<(), Error> + 'a,
) -> Case<'a> {
    let inv = Invocation::new(program, args.iter().cloned())
        .stdout_to(&base.with_extension("stdout"))
        .stderr_to(&base.with_extension("stderr"));
    let command = Invocation::new(program, args.iter().cloned()).display();
    let base = base.to_path_buf();
    let volumes = move |base: &Path| -> Vec<PathBuf> {
        (1..1000)
            .map(|n| PathBuf::from(format!("{}{n:03}", base.display())))
            .take_while(|p| p.exists())
            .collect()
    };
    Case::new(tool, command, move || {
        for v in volumes(&base) {
            let _ = std::fs::remove_file(v);
        }
        settle_writeback();
        let sample = measure::run(&inv)?;
        let set = volumes(&base);
        if set.len() < 2 {
            return Err(Error::check(
                inv.display(),
                format!("wrote {} volume(s), not a set", set.len()),
            ));
        }
        let size = set
            .iter()
            .map(|v| std::fs::metadata(v).map_or(0, |m| m.len()))
            .sum();
        let checked = check(&base);
        for v in set {
            let _ = std::fs::remove_file(v);
        }
        checked?;
        Ok(Measured::new(sample, Some(size)))
    })
}

/// `fsarchiver savefs` must report no file errors and the image's counts
/// of directories, symlinks and regular-file names, and `fsarchiver
/// archinfo` must read the archive back.
fn check_fsarchiver(
    fsarchiver: &Path,
    file: &Path,
    text: &str,
    manifest: &Manifest,
) -> Result<(), Error> {
    let what = format!("fsarchiver archive {}", file.display());
    let out = Command::new(fsarchiver)
        .args(["archinfo".as_ref(), file.as_os_str()])
        .stdin(Stdio::null())
        .output()
        .ctx(|| format!("starting {what}"))?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(Error::check(
            &what,
            format!("archinfo: {}: {}", out.status, text.trim()),
        ));
    }
    if let Some(errors) = text.lines().find(|l| l.contains("files with errors")) {
        if errors
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| !n.is_empty() && n != "0")
        {
            return Err(Error::check(
                &what,
                format!("savefs reported {}", errors.trim()),
            ));
        }
    }
    let line = text
        .lines()
        .find(|l| l.contains("files successfully processed"))
        .ok_or_else(|| Error::check(&what, "no statistics line in its output"))?;
    let field = |name: &str| -> Option<u64> {
        let at = line.find(&format!("{name}="))? + name.len() + 1;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let count =
        |f: fn(&Kind) -> bool| manifest.entries.values().filter(|e| f(&e.kind)).count() as u64;
    let want_files = count(|k| matches!(k, Kind::File { .. }));
    let want_dirs = count(|k| matches!(k, Kind::Dir));
    let want_links = count(|k| matches!(k, Kind::Symlink(_)));
    let got_files = field("regfiles").unwrap_or(0) + field("hardlinks").unwrap_or(0);
    let (got_dirs, got_links) = (
        field("directories").unwrap_or(0),
        field("symlinks").unwrap_or(0),
    );
    if (got_files, got_dirs, got_links) != (want_files, want_dirs, want_links) {
        return Err(Error::check(
            &what,
            format!(
                "archive has {got_files} file names, {got_dirs} directories, {got_links} symlinks; \
                 image has {want_files}, {want_dirs}, {want_links}"
            ),
        ));
    }
    Ok(())
}
