//! dump-benches: side-by-side benchmarks of rdump/rrestore against dump and
//! restore 0.4b47, fsarchiver and cat, reporting ratios measured in one run
//! (the machines are shared and noisy, so absolute times mean little).
//!
//! ```text
//! dump-benches image   [--size-mb 700] [--out /var/tmp/bench.img] [--seed N]
//! dump-benches dump    --image IMG [--runs 3]
//! dump-benches restore --image IMG [--runs 3]      (root)
//! dump-benches partial --image IMG [--runs 3]      (root)
//! dump-benches scan    --image IMG [--runs 3]
//! dump-benches scale   [--inodes 300000] [--limit-s 120]   (root; makes its own image)
//! dump-benches recover --image IMG [--runs 3]      (root; needs rrecover built)
//! dump-benches all     [--image /var/tmp/bench.img] [--size-mb 700] [--runs 3] [--report FILE]
//! common: --scratch DIR (default /var/tmp), --rdump PATH, --rrestore PATH
//! ```

mod compare;
mod content;
mod dump_bench;
mod error;
mod image;
mod manifest;
mod measure;
mod partial_bench;
mod prng;
mod recover_bench;
mod report;
mod restore_bench;
mod scale_bench;
mod scan_bench;
mod settings;
mod system;

use std::path::{Path, PathBuf};

use error::{Error, IoContext};
use settings::Settings;

const USAGE: &str = "usage: dump-benches <image|dump|restore|recover|partial|scan|scale|all> [options]
  image   --size-mb N (default 700) --out IMG (default /var/tmp/bench.img) [--seed N]
  dump    --image IMG      rdump vs dump 0.4b47 (plain, -z6), rdump --zstd=3 vs fsarchiver -Z3
  restore --image IMG      rrestore vs restore 0.4b47 (-r into ext4 and tmpfs, -t); needs root
  recover --image IMG      rrecover backup vs rdump, apply vs its --dry-run commands; root
  partial --image IMG      rrestore -x vs restore -x of one small file near the end; needs root
  scan    --image IMG      fsimage inode scan and data read vs cat IMG > /dev/null
  scale   [--inodes N] [--limit-s S]  (defaults 300000, 120; root) makes an image, 200k files in one directory;
                           rdump -0 vs dump -0, rrestore -r/-t vs restore -r/-t, once each under the limit
  all     [--image IMG] [--size-mb N]   all of the above (makes IMG if missing), Markdown report
options: --runs N (default 3) --scratch DIR (default /var/tmp) --rdump PATH --rrestore PATH
         --report FILE (also write the Markdown report there)
         --label TEXT (a note for the report header, e.g. how rdump was built)";

struct Args {
    command: String,
    image: Option<PathBuf>,
    out: Option<PathBuf>,
    size_mb: u64,
    inodes: u64,
    limit_s: u64,
    seed: u64,
    report: Option<PathBuf>,
    /// Free text for the report header (how the binaries were built).
    label: Option<String>,
    settings: Settings,
}

fn parse_args() -> Result<Args, Error> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or_else(|| Error::Usage(USAGE.into()))?;
    let mut a = Args {
        command,
        image: None,
        out: None,
        size_mb: 700,
        inodes: 300_000,
        limit_s: scale_bench::DEFAULT_LIMIT_S,
        seed: image::DEFAULT_SEED,
        report: None,
        label: None,
        settings: Settings::defaults(),
    };
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| Error::Usage(format!("{name} needs a value\n{USAGE}")))
        };
        let number = |v: String| {
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.map_err(|_| Error::Usage(format!("{name}: not a number: {v}")))
        };
        match name.as_str() {
            "--image" => a.image = Some(value()?.into()),
            "--out" => a.out = Some(value()?.into()),
            "--size-mb" => a.size_mb = number(value()?)?,
            "--inodes" => a.inodes = number(value()?)?,
            "--limit-s" => a.limit_s = number(value()?)?.max(1),
            "--seed" => a.seed = number(value()?)?,
            "--runs" => a.settings.runs = number(value()?)?.max(1) as usize,
            "--scratch" => a.settings.scratch = value()?.into(),
            "--rdump" => a.settings.rdump = value()?.into(),
            "--rrestore" => a.settings.rrestore = value()?.into(),
            "--report" => a.report = Some(value()?.into()),
            "--label" => a.label = Some(value()?),
            "-h" | "--help" => return Err(Error::Usage(USAGE.into())),
            _ => return Err(Error::Usage(format!("unknown option {flag}\n{USAGE}"))),
        }
    }
    Ok(a)
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if argv.first().is_some_and(|a| a == measure::RUNNER_ARG) {
        measure::runner_main(&argv[1..]);
    }
    let result = parse_args().and_then(|args| run(&args));
    if let Err(e) = result {
        eprintln!("dump-benches: {e}");
        std::process::exit(1);
    }
}

fn need_image(a: &Args) -> Result<&Path, Error> {
    let img = a
        .image
        .as_deref()
        .ok_or_else(|| Error::Usage(format!("{} needs --image IMG\n{USAGE}", a.command)))?;
    std::fs::metadata(img).ctx(|| format!("image {}", img.display()))?;
    Ok(img)
}

fn run(a: &Args) -> Result<(), Error> {
    match a.command.as_str() {
        "image" => {
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("/var/tmp/bench.img"));
            let summary = image::generate(a.size_mb, a.seed, &out)?;
            print!("{}", summary.markdown(a.size_mb, a.seed));
            println!("Written to {}", out.display());
            Ok(())
        }
        "scan-once" => {
            let r = scan_bench::scan_once(need_image(a)?)?;
            println!("{}", r.to_line());
            Ok(())
        }
        "dump" => emit(
            a,
            &report::section("dump", &dump_bench::run(&a.settings, need_image(a)?)?),
        ),
        "restore" => emit(
            a,
            &report::section("restore", &restore_bench::run(&a.settings, need_image(a)?)?),
        ),
        "recover" => emit(
            a,
            &report::section("recover", &recover_bench::run(&a.settings, need_image(a)?)?),
        ),
        "partial" => {
            let c = partial_bench::run(&a.settings, need_image(a)?)?;
            let mut md = report::section("partial (-x of one file)", &c);
            md.push_str(&partial_bench::bytes_table(&c));
            emit(a, &md)
        }
        "scan" => {
            let img = need_image(a)?;
            emit(a, &scan_section(&a.settings, img)?)
        }
        "scale" => emit(a, &scale_bench::run(&a.settings, a.inodes, a.limit_s)?),
        "all" => all(a),
        other => Err(Error::Usage(format!("unknown subcommand {other}\n{USAGE}"))),
    }
}

fn scan_section(settings: &Settings, img: &Path) -> Result<String, Error> {
    let comparisons = scan_bench::run(settings, img)?;
    let bytes = std::fs::metadata(img)
        .ctx(|| format!("stat {}", img.display()))?
        .len();
    let mut s = report::section("scan (fsimage vs cat)", &comparisons);
    for c in &comparisons {
        s.push_str(&scan_bench::rates_table(c, bytes));
    }
    s.push('\n');
    Ok(s)
}

fn emit(a: &Args, markdown: &str) -> Result<(), Error> {
    print!("{markdown}");
    if let Some(path) = &a.report {
        std::fs::write(path, markdown).ctx(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Every section in turn; a section that fails is reported as such and the
/// others still run.
fn all(a: &Args) -> Result<(), Error> {
    let img = a
        .image
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/tmp/bench.img"));
    let mut md = header(a, &img);
    if img.exists() {
        md.push_str(&format!(
            "Image: existing `{}` (reused).\n\n",
            img.display()
        ));
    } else {
        eprintln!("[image] generating {} MiB at {}", a.size_mb, img.display());
        let summary = image::generate(a.size_mb, a.seed, &img)?;
        md.push_str(&summary.markdown(a.size_mb, a.seed));
        md.push('\n');
    }
    let s = &a.settings;
    type SectionFn<'a> = Box<dyn Fn() -> Result<String, Error> + 'a>;
    let sections: [(&str, SectionFn); 3] = [
        (
            "dump",
            Box::new(|| Ok(report::section("dump", &dump_bench::run(s, &img)?))),
        ),
        (
            "restore",
            Box::new(|| Ok(report::section("restore", &restore_bench::run(s, &img)?))),
        ),
        ("scan", Box::new(|| scan_section(s, &img))),
    ];
    for (name, section) in sections {
        match section() {
            Ok(text) => md.push_str(&text),
            Err(e) => md.push_str(&format!(
                "### {name}\n\nSection failed: {}\n\n",
                report::one_line(&e.to_string())
            )),
        }
        // Partial results survive an interrupted run.
        if let Some(path) = &a.report {
            std::fs::write(path, &md).ctx(|| format!("writing {}", path.display()))?;
        }
    }
    emit(a, &md)
}

fn header(a: &Args, img: &Path) -> String {
    let sh = |cmd: &str, args: &[&str]| {
        measure::capture(cmd, args)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("({cmd} failed: {e})"))
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut s = format!(
        "## Benchmark run\n\n- command: `cargo run --release -p dump-benches -- {}`\n- date: {}\n- git commit: {}\n\
         - machine: nproc {}, {}\n- image: {}\n- runs per tool: {} measured (median reported) after 1 warm-up\n\
         - rdump: {}\n- rrestore: {}\n- RSS floor (peak RSS reported for `true` spawned by the harness): {}\n\n\
         ```\n$ free -g\n{}\n```\n\n",
        argv.join(" "),
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        // Built from `git archive`, the harness has no repository to ask.
        measure::capture(
            "git",
            &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"],
        )
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown: not built from a git checkout (see the note)".into()),
        sh("nproc", &[]),
        sh("uname", &["-srm"]),
        img.display(),
        a.settings.runs,
        a.settings.rdump.display(),
        a.settings.rrestore.display(),
        measure::rss_floor_kib()
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|e| format!("unknown ({e})")),
        sh("free", &["-g"]),
    );
    if let Some(label) = &a.label {
        s.push_str(&format!("Note: {label}\n\n"));
    }
    s
}
