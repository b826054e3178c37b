//! `partial`: pulling one small file back from near the end of a dump,
//! `rrestore -x` (which seeks in a dump file) against `restore -x` 0.4b47
//! (which reads the dump as a stream), on the reference dump of the image,
//! plain and -z6. Besides time and memory it reports the bytes each tool read
//! (`rchar` of the process at exit, so reads of anything else count too) and
//! the dump's size. The extracted file must equal the image's. Every run
//! starts with the page cache dropped: the dump is read from the disk, as a
//! dump far larger than memory is. Needs root (dump reads the image through
//! a loop device; dropping the cache).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::compare::{compare, Case, Comparison, Measured, Target};
use crate::error::{Error, IoContext};
use crate::manifest::{Entry, Kind, Manifest};
use crate::measure::{self, Invocation};
use crate::settings::{show, Settings};
use crate::system::{drop_page_cache, require_root, LoopDevice};

/// "Small": at most this many bytes.
const SMALL: u64 = 64 * 1024;

pub fn run(settings: &Settings, image: &Path) -> Result<Vec<Comparison>, Error> {
    require_root("dump reads the image through a read-only loop device")?;
    eprintln!("[partial] reading the image's tree and contents");
    let manifest = Manifest::of_image(image, true)?;
    let (path, entry) = pick_target(&manifest)?;
    eprintln!(
        "[partial] target {} (inode {})",
        String::from_utf8_lossy(&path),
        entry.ino
    );
    let scratch = settings.scratch_dir("bench-partial-")?;
    let dir = scratch.path();
    // restore -x asks for the volume number, then whether to set the
    // owner and mode of ".".
    let answers = dir.join("answers");
    std::fs::write(&answers, "1\nn\n").ctx(|| format!("writing {}", answers.display()))?;
    let mut out = Vec::new();
    for (name, args) in [("plain", vec![]), ("-z6", vec!["-z6".to_string()])] {
        let dumpfile = dir.join(format!("ref-{}.dump", name.trim_start_matches('-')));
        {
            let dev = LoopDevice::attach_read_only(image)?;
            let mut a = vec!["-0".to_string()];
            a.extend(args);
            a.extend(["-f".into(), show(&dumpfile), show(&dev.path)]);
            measure::run_quiet(&Invocation::new(&settings.dump, a))?;
        }
        let size = std::fs::metadata(&dumpfile)
            .ctx(|| format!("stat {}", dumpfile.display()))?
            .len();
        let job = Job {
            dumpfile: &dumpfile,
            member: &path,
            entry: &entry,
            dir,
            answers: &answers,
            dump_bytes: size,
        };
        out.push(compare(
            &format!("-x of one small file near the end ({name} dump)"),
            job.case("restore 0.4b47", &settings.restore),
            job.case("rrestore", &settings.rrestore),
            settings.runs,
            vec![
                Target::new("reads < 1% of the dump", move |o, _| {
                    o.extra("bytes read")
                        .is_some_and(|b| b < 0.01 * size as f64)
                }),
                Target::new("wall < 0.02x restore -x", |o, r| o.wall() < 0.02 * r.wall()),
            ],
        )?);
    }
    Ok(out)
}

/// The small regular file with the highest inode number and one name: the
/// last small file on the tape.
fn pick_target(m: &Manifest) -> Result<(Vec<u8>, Entry), Error> {
    let mut names: std::collections::HashMap<u64, usize> = Default::default();
    for e in m.entries.values() {
        *names.entry(e.ino).or_default() += 1;
    }
    m.entries
        .iter()
        .filter(|(_, e)| names[&e.ino] == 1)
        .filter(|(_, e)| matches!(e.kind, Kind::File { size, .. } if size > 0 && size <= SMALL))
        .max_by_key(|(_, e)| e.ino)
        .map(|(p, e)| (p.clone(), e.clone()))
        .ok_or_else(|| Error::check("the image", "no small regular file".to_string()))
}

struct Job<'a> {
    dumpfile: &'a Path,
    /// As `restore -t` prints it ("./a/b").
    member: &'a [u8],
    entry: &'a Entry,
    dir: &'a Path,
    answers: &'a Path,
    dump_bytes: u64,
}

impl<'a> Job<'a> {
    fn case(&self, tool: &str, program: &Path) -> Case<'a> {
        let member = String::from_utf8_lossy(self.member).into_owned();
        let target: PathBuf = self.dir.join(format!("x-{}", tool.replace(' ', "-")));
        let inv = Invocation::new(program, ["-xf".into(), show(self.dumpfile), member.clone()])
            .stdin_from(self.answers)
            .in_dir(&target);
        let command = format!("{} < answers (1, n), in an empty directory", inv.display());
        let (entry, dump_bytes) = (self.entry.clone(), self.dump_bytes);
        Case::new(tool, command, move || {
            let _ = std::fs::remove_dir_all(&target);
            std::fs::create_dir_all(&target).ctx(|| format!("creating {}", target.display()))?;
            drop_page_cache()?;
            let sample = measure::run(&inv)?;
            check_extracted(&target, &member, &entry)?;
            let read = sample.read_bytes;
            let mut m = Measured::new(sample, None);
            if let Some(r) = read {
                m.extra.push(("bytes read", r as f64));
            }
            m.extra.push(("dump bytes", dump_bytes as f64));
            Ok(m)
        })
    }
}

/// The extracted file has the image's size and contents.
fn check_extracted(target: &Path, member: &str, entry: &Entry) -> Result<(), Error> {
    let restored = Manifest::of_dir(target, &[])?;
    match restored.entries.get(member.as_bytes()) {
        Some(e) if e.kind == entry.kind => Ok(()),
        other => Err(Error::check(
            format!("{member} extracted into {}", target.display()),
            format!("differs from the image's: {other:?}"),
        )),
    }
}

/// Bytes read by each side, against the dump's size.
pub fn bytes_table(comparisons: &[Comparison]) -> String {
    let mut s = String::from(
        "| case | tool | bytes read (rchar), median | dump bytes | share of the dump |\n|---|---|---|---|---|\n",
    );
    for c in comparisons {
        for side in [&c.reference, &c.ours] {
            let Some(st) = side.stats() else { continue };
            let (Some(read), Some(len)) = (st.extra("bytes read"), st.extra("dump bytes")) else {
                continue;
            };
            let _ = writeln!(
                s,
                "| {} | {} | {read:.0} | {len:.0} | {:.3}% |",
                c.name,
                side.tool,
                100.0 * read / len
            );
        }
    }
    s.push('\n');
    s
}
