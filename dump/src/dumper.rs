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
use crate::output::Output;
use crate::pipeline::{self, Settings};
use crate::plan::{self, Exclusions};
use crate::report::{self, ProgressMode, Reporter};
use crate::resolve::Resolver;

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
    })
}

/// Prints the abort line and returns the status to exit with.
fn abort(reporter: &Reporter, status: i32, why: impl std::fmt::Display) -> i32 {
    reporter.finish_progress();
    reporter.msg(why);
    reporter.msg("The ENTIRE dump is aborted.");
    status
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
    let resolved = match Resolver::default().resolve(&opts.filesystem) {
        Ok(x) => x,
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
    let tape_name = match &opts.target {
        Target::Stdout => "standard output".to_string(),
        Target::Path(p) => crate::output::target_description(p),
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
    let plan = match plan::plan(&fs, r, &exclusions, since) {
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
        if volumes > 1.0 {
            r.warning(
                "the dump will not fit one volume of the size given (-B, -c, -d, -s); rdump writes a single volume (multi-volume dumps are not supported), so the medium must hold all of it",
            );
        }
    }

    let mut out = match Output::open(&opts.target) {
        Ok(o) => o,
        Err(e) => return abort(r, X_ABORT, e),
    };
    if let Some(host) = out.remote_host() {
        // dump's rmtlib prints it (at start-up; rdump connects here).
        r.msg(format_args!("Connection to {host} established."));
    }
    let compressed = opts.compression != CompressionChoice::None;
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
    };

    let start = now_secs();
    r.msg(format_args!(
        "Volume 1 started with block 1 at: {}",
        report::ctime(start)
    ));
    r.start_progress(estimate);
    let written = match pipeline::run(&ctx, &plan, settings, &mut out) {
        Ok(w) => w,
        Err(e) => return abort(r, X_ABORT, e),
    };
    let end_writing = now_secs();
    let is_pipe = out.is_stdout() || out.is_pipe();
    let is_stdout = out.is_stdout();
    let name = out.name().to_string();
    if let Err(e) = out.finish() {
        return abort(r, X_ABORT, e);
    }
    r.finish_progress();
    if opts.update_dumpdates {
        if let Err(e) = dumpdates::record(&opts.dumpdates, &disk, level, date) {
            return abort(r, X_ABORT, e);
        }
    }
    closing_messages(
        r,
        &opts,
        &name,
        is_stdout,
        is_pipe,
        date,
        start,
        end_writing,
        written,
    );
    X_FINOK
}

/// dump's closing lines (tape.c do_stats() and the end of main()).
#[allow(clippy::too_many_arguments)]
fn closing_messages(
    r: &Reporter,
    opts: &Options,
    name: &str,
    is_stdout: bool,
    is_pipe: bool,
    date: i64,
    start: i64,
    end_writing: i64,
    written: pipeline::Written,
) {
    let compressed = opts.compression != CompressionChoice::None;
    let blocks = written.blocks;
    if !is_stdout {
        r.msg(format_args!("Closing {name}"));
    }
    let now = now_secs();
    r.msg(format_args!(
        "Volume 1 completed at: {}",
        report::ctime(now)
    ));
    if !compressed {
        r.msg(format_args!(
            "Volume 1 {blocks} blocks ({})",
            report::megabytes(blocks)
        ));
    }
    let taken = (now - start).max(0) as u64;
    let kb_out = written.bytes / 1024;
    let mut xferrate = 0;
    if let Some(rate) = kb_out.checked_div(taken) {
        r.msg(format_args!("Volume 1 took {}", report::hms(taken)));
        r.msg(format_args!("Volume 1 transfer rate: {rate} kB/s"));
        xferrate = rate;
        if compressed {
            r.msg(format_args!(
                "Volume 1 {blocks}kB uncompressed, {kb_out}kB compressed, {}",
                report::compression_ratio(blocks, kb_out)
            ));
        }
    }
    if is_pipe {
        r.msg(format_args!(
            "{blocks} blocks ({})",
            report::megabytes(blocks)
        ));
    } else {
        r.msg(format_args!(
            "{blocks} blocks ({}) on 1 volume(s)",
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
