//! One run of rdump from parsed options to exit status, with dump's
//! messages at each step (main.c's sequence).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use dump_format::compress::Compression;
use fsimage::Filesystem;

use crate::cli::{CompressionChoice, Options, Target};
use crate::content::{Context, DeviceBlocks};
use crate::dumpdates;
use crate::layout::{self, VolumeInfo};
use crate::pipeline::{self, Settings};
use crate::plan::{self, Exclusions};
use crate::qfa::QfaFile;
use crate::report::{self, ProgressMode, Reporter};
use crate::resolve::Resolver;
use crate::toc::TocTap;
use crate::volumes::{self, CutRule, VolumePolicy, VolumeStats, Volumes};

/// dump's exit statuses.
pub const X_FINOK: i32 = 0;
pub const X_STARTUP: i32 = 1;
pub const X_ABORT: i32 = 3;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The dump date: SOURCE_DATE_EPOCH when set (reproducible dumps), else now.
pub fn dump_date(source_date_epoch: Option<&str>) -> Result<i64, String> {
    match source_date_epoch {
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("SOURCE_DATE_EPOCH is not a number of seconds: {v:?}")),
        None => Ok(now_secs()),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

fn compression(choice: CompressionChoice) -> Compression {
    match choice {
        CompressionChoice::None => Compression::None,
        CompressionChoice::Zlib(l) => Compression::Zlib(l),
        CompressionChoice::Bzip2(l) => Compression::Bzip2(l),
        CompressionChoice::Zstd(l) => Compression::Zstd(l),
        CompressionChoice::Lzo => Compression::Lzo,
    }
}

/// dump's "Compressing output at transformation level N (name)" line.
fn compression_line(choice: CompressionChoice) -> Option<String> {
    let (level, name) = match choice {
        CompressionChoice::None => return None,
        CompressionChoice::Lzo => return Some("Compressing output (lzo)".into()),
        CompressionChoice::Zlib(l) => (i64::from(l), "zlib"),
        CompressionChoice::Bzip2(l) => (i64::from(l), "bzlib"),
        CompressionChoice::Zstd(l) => (i64::from(l), "zstd"),
    };
    Some(format!(
        "Compressing output at transformation level {level} ({name})"
    ))
}

/// dump's getdumptime(): the date this dump is relative to (c_ddate) and
/// the level of that dump, as "Date of last level L dump" names it: from
/// `-T` (level "?"), else the latest lower-level dump of `disk` in the
/// dumpdates file; `(0, "")` when there is none (or at level 0).
fn previous_dump(
    opts: &Options,
    level: u32,
    disk: &str,
    r: &Reporter,
) -> Result<(i64, String), String> {
    if let Some(t) = &opts.since {
        return dumpdates::parse_date(t)
            .map(|d| (d, "?".to_string()))
            .ok_or_else(|| format!("bad time \"{t}\""));
    }
    if level == 0 {
        return Ok((0, String::new()));
    }
    let path = opts.dumpdates.display();
    match dumpdates::read(&opts.dumpdates).map_err(|e| e.to_string())? {
        Some(contents) => {
            for n in contents.bad_lines {
                r.msg(format_args!("Unknown format in {path}, line {n}"));
            }
            Ok(dumpdates::last_lower(&contents.entries, disk, level)
                .map_or((0, String::new()), |(d, l)| (d, l.to_string())))
        }
        None => {
            r.msg(format_args!("WARNING: no file `{path}'"));
            Ok((0, String::new()))
        }
    }
}

/// What `-e`, `-E` and `-h` leave out of a dump at `level`.
fn exclusions(opts: &Options, level: u32) -> Result<Exclusions, String> {
    let mut inodes: BTreeSet<u32> = opts.exclude_inodes.iter().copied().collect();
    for file in &opts.exclude_files {
        let text = std::fs::read_to_string(file)
            .map_err(|_| format!("Cannot open file for reading: {}", file.display()))?;
        for line in text.lines().filter(|l| !l.is_empty()) {
            inodes.insert(crate::cli::exclude_number(line).map_err(|e| e.to_string())?);
        }
    }
    Ok(Exclusions {
        inodes,
        // dump's nonodump = level < honorlevel.
        honor_nodump: level >= opts.honor_level,
        only: None,
    })
}

/// Prints the abort line and returns the status to exit with.
fn abort(reporter: &Reporter, status: i32, why: impl std::fmt::Display) -> i32 {
    reporter.finish_progress();
    reporter.msg(why);
    reporter.msg("The ENTIRE dump is aborted.");
    status
}

/// `-W`/`-w`: prints the dumpdates report of the system's mount tables;
/// returns the exit status.
pub fn last_dump(which: char, dumpdates: &std::path::Path) -> i32 {
    let reporter = Reporter::new(ProgressMode::Lines);
    let tables = crate::lastdump::default_tables();
    let tables: Vec<&std::path::Path> = tables.iter().map(|p| p.as_path()).collect();
    let now = chrono::Utc::now().timestamp();
    match crate::lastdump::report(which, &tables, dumpdates, now) {
        Ok(report) => {
            for w in &report.warnings {
                reporter.msg(w);
            }
            print!("{}", report.stdout);
            X_FINOK
        }
        Err(e) => abort(&reporter, X_ABORT, e),
    }
}

/// The filesystem argument and any more paths (a subtree dump), with
/// dump's refusals: more paths after a whole filesystem, a subtree dump at
/// a level above 0 or with -u, paths on different filesystems. `Err` is the
/// exit status, the message printed.
fn resolve_paths(opts: &Options, level: u32) -> Result<crate::resolve::Resolved, i32> {
    let r = Reporter::new(ProgressMode::Lines);
    let resolver = Resolver::default();
    let mut resolved = resolver
        .resolve(&opts.filesystem)
        .map_err(|e| abort(&r, X_STARTUP, e))?;
    if resolved.subtree.is_empty() && !opts.more_paths.is_empty() {
        // dump prints this one without its "  DUMP: " prefix.
        eprintln!("Unknown arguments to dump: {}", opts.more_paths.join(" "));
        r.msg("The ENTIRE dump is aborted.");
        return Err(X_STARTUP);
    }
    if !resolved.subtree.is_empty() {
        if opts.update_dumpdates {
            let why = "You can't update the dumpdates file when dumping a subdirectory";
            return Err(abort(&r, X_STARTUP, why));
        }
        if level > 0 {
            let why = "Only level 0 dumps are allowed on a subdirectory";
            return Err(abort(&r, X_STARTUP, why));
        }
    }
    for path in &opts.more_paths {
        resolver
            .add_path(&mut resolved, path)
            .map_err(|e| abort(&r, X_STARTUP, e))?;
    }
    Ok(resolved)
}

/// Where the volumes go and how long they are: cut by `-B` or a tape
/// length as dump cuts them, uncompressed or compressed; not on standard
/// output (dump's pipeout).
fn volume_policy(opts: &Options, compressed: bool) -> VolumePolicy {
    let mut targets = vec![opts.target.clone()];
    targets.extend(opts.more_targets.iter().cloned());
    let mut cut = opts.media.cut_rule(opts.ntrec, compressed);
    if opts.target == Target::Stdout {
        cut = None;
    }
    if opts.ntrec == 1 && cut == Some(CutRule::Records(1)) {
        // A volume of one 1 KiB record would hold only its volume header.
        cut = Some(CutRule::Records(2));
    }
    VolumePolicy {
        cut,
        targets,
        numbered: opts.multi_volume,
        eot_script: opts.eot_script.clone(),
    }
}

/// Runs a dump; returns the exit status.
pub fn run(mut opts: Options) -> i32 {
    let mode = if !opts.quiet && !opts.estimate_only && std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    };
    let reporter = Reporter::new(mode);
    let r = &reporter;

    if let Some(long) = &opts.label_truncated_from {
        r.msg(format_args!(
            "WARNING Label `{long}' is larger than limit of {} characters.",
            crate::cli::LABEL_MAX
        ));
        r.msg(format_args!(
            "WARNING: Using truncated label `{}'.",
            opts.label.as_deref().unwrap_or_default()
        ));
    }
    let Ok(mut level) = opts.level.parse::<u32>() else {
        return abort(r, X_STARTUP, format_args!("bad dump level {}", opts.level));
    };
    let resolved = match resolve_paths(&opts, level) {
        Ok(x) => x,
        Err(status) => return status,
    };
    if opts.update_dumpdates && !opts.estimate_only {
        match dumpdates::ensure_exists(&opts.dumpdates) {
            Ok(true) => r.msg(format_args!(
                "WARNING: no file `{}', making an empty one",
                opts.dumpdates.display()
            )),
            Ok(false) => {}
            Err(e) => return abort(r, X_STARTUP, e),
        }
    }
    let date = match dump_date(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref()) {
        Ok(d) => d,
        Err(e) => return abort(r, X_STARTUP, e),
    };
    let disk = resolved.device.display().to_string();
    let (since, last_level) = match previous_dump(&opts, level, &disk, r) {
        Ok(x) => x,
        Err(e) => return abort(r, X_STARTUP, e),
    };
    if since == 0 && level > 0 {
        r.msg("WARNING: There is no inferior level dump on this filesystem");
        r.msg("WARNING: Assuming a level 0 dump by default");
        level = 0;
        opts.level = "0".into();
    }
    let exclusions = match exclusions(&opts, level) {
        Ok(x) => x,
        Err(e) => return abort(r, X_STARTUP, e),
    };
    // With -M the first volume's name (base001), else -f as given (a
    // comma list whole), as dump says.
    let shown = |t: &Target| match t {
        Target::Stdout => "standard output".to_string(),
        Target::Path(p) => crate::output::target_description(p),
    };
    let tape_name = if opts.multi_volume {
        volume_policy(&opts, false)
            .target(1)
            .map_or_else(|| shown(&opts.target), |t| shown(&t))
    } else {
        std::iter::once(&opts.target)
            .chain(&opts.more_targets)
            .map(|t| match t {
                Target::Stdout => "-".to_string(),
                t => shown(t),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let tape_name = if opts.more_targets.is_empty() && opts.target == Target::Stdout {
        "standard output".to_string()
    } else {
        tape_name
    };
    if !opts.estimate_only {
        r.msg(format_args!(
            "Date of this level {} dump: {}",
            opts.level,
            report::dump_date(date)
        ));
        if since != 0 {
            r.msg(format_args!(
                "Date of last level {last_level} dump: {}",
                report::dump_date(since)
            ));
        }
        r.msg(format_args!(
            "Dumping {} ({}) to {tape_name}",
            resolved.device.display(),
            resolved.filesys
        ));
    }
    let fs = match Filesystem::open(&resolved.device) {
        Ok(fs) => fs,
        Err(e) => {
            return abort(
                r,
                X_STARTUP,
                format_args!("Cannot open filesystem {}: {e}", resolved.device.display()),
            )
        }
    };
    let label = opts
        .label
        .clone()
        .or_else(|| Some(fs.superblock().volume_name.clone()).filter(|l| !l.is_empty()))
        .unwrap_or_else(|| "none".to_string());
    if !opts.estimate_only {
        r.msg(format_args!("Label: {label}"));
        r.msg(format_args!("Writing {} Kilobyte records", opts.ntrec));
        if let Some(line) = compression_line(opts.compression) {
            r.msg(line);
        }
        r.msg("mapping (Pass I) [regular files]");
    }
    let mut exclusions = exclusions;
    if !resolved.subtree.is_empty() {
        match plan::subtree_inodes(&fs, r, &resolved.subtree) {
            Ok(set) => exclusions.only = Some(set),
            Err(n) => {
                let given = std::iter::once(&opts.filesystem).chain(&opts.more_paths);
                let path = given.clone().nth(n).map_or("", |p| p.as_str());
                return abort(
                    r,
                    X_STARTUP,
                    format_args!("File cannot be accessed ({path})."),
                );
            }
        }
    }
    let plan = match plan::plan(&fs, r, &exclusions, since, opts.metadata_only) {
        Ok(p) => p,
        Err(e) => return abort(r, X_ABORT, e),
    };
    if opts.estimate_only {
        println!("{}", plan.estimated_blocks(opts.ntrec) * 1024);
        return X_FINOK;
    }
    r.msg("mapping (Pass II) [directories]");
    let estimate = plan.estimated_blocks(opts.ntrec);
    if opts.target == Target::Stdout || opts.media.unlimited() {
        r.msg(format_args!("estimated {estimate} blocks."));
    } else {
        // A tape length was given: dump reports the estimate in tapes.
        let volumes = opts.media.volumes(estimate, opts.ntrec);
        r.msg(format_args!(
            "estimated {estimate} blocks on {volumes:.2} tape(s)."
        ));
    }

    let compressed = opts.compression != CompressionChoice::None;
    let policy = volume_policy(&opts, compressed);
    let names_volumes = policy.names_volumes();
    let mut out = match Volumes::open(policy, r, now_secs()) {
        Ok(o) => o,
        Err(e) => return abort(r, X_ABORT, e),
    };
    if let Some(host) = out.output().remote_host() {
        // dump's rmtlib prints it (at start-up; rdump connects here).
        r.msg(format_args!("Connection to {host} established."));
    }
    let volume = VolumeInfo {
        date,
        level: level as i32,
        ddate: since,
        label,
        filesys: resolved.filesys.clone(),
        dev: resolved.dev_name.clone(),
        host: hostname(),
        ntrec: opts.ntrec,
        compressed,
    };
    let blocks = match DeviceBlocks::open(&resolved.device) {
        Ok(b) => b,
        Err(e) => {
            return abort(
                r,
                X_STARTUP,
                format_args!("Cannot open {}: {e}", resolved.device.display()),
            )
        }
    };
    let ctx = Context {
        fs: &fs,
        blocks: &blocks,
        template: layout::template(&volume),
        excluded: &plan.excluded,
        reporter: r,
        device: resolved.device.display().to_string(),
        verbose: opts.verbose,
    };
    let threads = opts.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let settings = Settings {
        threads,
        ntrec: opts.ntrec,
        compression: compression(opts.compression),
        cut: out.cut(),
    };

    let mut toc = match opts.archive.as_deref().map(TocTap::create).transpose() {
        Ok(t) => t,
        Err(e) => return abort(r, X_STARTUP, e),
    };
    let mut qfa = match opts
        .qfa
        .as_deref()
        .map(|p| QfaFile::create(p, date))
        .transpose()
    {
        Ok(q) => q,
        Err(e) => return abort(r, X_STARTUP, e),
    };
    let start = now_secs();
    if names_volumes {
        r.msg(format_args!("Dumping volume 1 on {}", out.output().name()));
    }
    r.msg(format_args!(
        "Volume 1 started with block 1 at: {}",
        report::ctime(start)
    ));
    r.start_progress(estimate);
    let written = match pipeline::run(&ctx, &plan, settings, &mut out, toc.as_mut(), qfa.as_mut()) {
        Ok(w) => w,
        Err(e) => return abort(r, X_ABORT, e),
    };
    let end_writing = now_secs();
    let (out, last) = match out.finish() {
        Ok(x) => x,
        Err(e) => return abort(r, X_ABORT, e),
    };
    let is_pipe = out.is_stdout() || out.is_pipe();
    let is_stdout = out.is_stdout();
    let name = out.name().to_string();
    if let Err(e) = out.finish() {
        return abort(r, X_ABORT, e);
    }
    r.finish_progress();
    if let Some(t) = toc {
        if let Err(e) = t.finish() {
            return abort(r, X_ABORT, e);
        }
    }
    if let Some(q) = qfa {
        if let Err(e) = q.finish() {
            return abort(r, X_ABORT, e);
        }
    }
    if opts.update_dumpdates {
        if let Err(e) = dumpdates::record(&opts.dumpdates, &disk, level, date) {
            return abort(r, X_ABORT, e);
        }
    }
    closing_messages(
        r,
        &opts,
        &name,
        (is_stdout, is_pipe),
        date,
        (start, end_writing),
        written,
        last,
    );
    X_FINOK
}

/// dump's closing lines (tape.c do_stats() and the end of main()).
#[allow(clippy::too_many_arguments)]
fn closing_messages(
    r: &Reporter,
    opts: &Options,
    name: &str,
    (is_stdout, is_pipe): (bool, bool),
    date: i64,
    (start, end_writing): (i64, i64),
    written: pipeline::Written,
    last: VolumeStats,
) {
    let compressed = opts.compression != CompressionChoice::None;
    let blocks = written.blocks;
    let n = last.number;
    if !is_stdout {
        r.msg(format_args!("Closing {name}"));
    }
    let now = now_secs();
    let last = VolumeStats {
        started: last.started.max(start),
        ..last
    };
    let rate = volumes::volume_completed(r, &last, compressed, now);
    let xferrate = (last.rates + rate) / n.max(1) as u64;
    let kb_out = written.bytes / 1024;
    if is_pipe {
        r.msg(format_args!(
            "{blocks} blocks ({})",
            report::megabytes(blocks)
        ));
    } else {
        r.msg(format_args!(
            "{blocks} blocks ({}) on {n} volume(s)",
            report::megabytes(blocks)
        ));
    }
    let writing = (end_writing - start).max(0) as u64;
    match blocks.checked_div(writing) {
        None => r.msg("finished in less than a second"),
        Some(throughput) => r.msg(format_args!(
            "finished in {writing} seconds, throughput {throughput} kBytes/sec"
        )),
    }
    r.msg(format_args!(
        "Date of this level {} dump: {}",
        opts.level,
        report::dump_date(date)
    ));
    r.msg(format_args!(
        "Date this dump completed:  {}",
        report::ctime(now)
    ));
    r.msg(format_args!("Average transfer rate: {xferrate} kB/s"));
    if compressed {
        r.msg(format_args!(
            "Wrote {blocks}kB uncompressed, {kb_out}kB compressed, {}",
            report::compression_ratio(blocks, kb_out)
        ));
    }
    if let Some(archive) = &opts.archive {
        // dump 0.4b47 prints "(null)" here (a bug); the name is more use.
        r.msg(format_args!("Archiving dump to {}", archive.display()));
    }
    let read_errors = r.read_errors();
    if read_errors > 0 {
        r.msg(format_args!(
            "{read_errors} unreadable block(s) were dumped as zeros (see the read errors above)"
        ));
    }
    let warnings = r.warnings();
    if warnings > 0 {
        r.msg(format_args!(
            "{warnings} warning(s): something was left out of the dump (see the warnings above)"
        ));
    }
    r.msg("DUMP IS DONE");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch() {
        assert_eq!(dump_date(Some("1700000000")), Ok(1_700_000_000));
        assert!(dump_date(Some("yesterday")).is_err());
        assert!(dump_date(None).unwrap() > 1_600_000_000);
    }

    #[test]
    fn compression_lines_like_dump() {
        assert_eq!(
            compression_line(CompressionChoice::Zlib(6)).unwrap(),
            "Compressing output at transformation level 6 (zlib)"
        );
        assert_eq!(
            compression_line(CompressionChoice::Bzip2(2)).unwrap(),
            "Compressing output at transformation level 2 (bzlib)"
        );
        assert_eq!(compression_line(CompressionChoice::None), None);
    }
}
