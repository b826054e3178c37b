//! Multi-volume dumps against the reference dump 0.4b47: `-B` cuts volumes
//! where dump cuts them, `-M` and `-f a,b,c` name them as dump does, `-F`
//! runs with dump's arguments and exit-status meaning, a volume change with
//! nothing named and no terminal ends the dump as dump's does, and every
//! volume after the first starts with its TS_TAPE header followed by the
//! rest of the inode being written, by the same rule in rdump's and dump's
//! sets. The reference restore -r of rdump's set gives the same tree as of
//! rdump's single-volume dump.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{differences_after_rebuild, noise, rdump_bin, require_root, rrestore_bin, run, tool};
use dump_format::compress::{decompress, Prefix};
use dump_format::header::ByteOrder;

/// Detaches the loop device when the test ends, however it ends.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new(tool("losetup")).args(["-d", &self.0]).status();
    }
}

/// An image with files of every size class (one big file spans volumes)
/// on a loop device (the reference dump reads devices only).
fn device(work: &Path) -> (Loop, PathBuf) {
    device_of(work, &tree(work))
}

/// The files of [`device`].
fn tree(work: &Path) -> PathBuf {
    let src = work.join("tree");
    fs::create_dir_all(src.join("d/e")).unwrap();
    for i in 0..30u32 {
        let len = (i as usize * 2_777) % 20_000;
        fs::write(src.join(format!("d/f{i}")), vec![(i % 251) as u8 + 1; len]).unwrap();
    }
    let big: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(src.join("d/e/big"), big).unwrap();
    fs::write(src.join("small"), b"small\n").unwrap();
    src
}

/// An image of the tree `src` on a loop device.
fn device_of(work: &Path, src: &Path) -> (Loop, PathBuf) {
    let image = work.join("volumes.img");
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4", "-L", "volumes"])
        .arg("-d")
        .arg(src)
        .arg(&image)
        .arg("16M"));
    let out = run(Command::new(tool("losetup"))
        .args(["-f", "--show"])
        .arg(&image));
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (Loop(dev), src.to_path_buf())
}

/// Runs a dump tool without a controlling terminal (setsid), in `dir`.
fn dump_in(program: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(tool("setsid"));
    // The label is given: the reference dump takes it from blkid's cache,
    // which says "none" while other tests change loop devices.
    cmd.arg("-w")
        .arg(program)
        .args(["-L", "volumes"])
        .args(args)
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the dump")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// dump's messages without dates, the estimate and the inode a volume
/// begins with (those depend on the directory sizes, which differ:
/// rdump writes directories in dump's format from the entries, dump copies
/// the blocks).
fn messages(o: &Output) -> Vec<String> {
    text(o)
        .lines()
        .filter(|l| !l.contains(" at: ") && !l.contains("Date") && !l.contains("estimated"))
        .filter(|l| !l.contains("begins with blocks from inode"))
        .filter(|l| !l.contains("blocks (") && !l.contains("transfer rate") && !l.contains("took"))
        .filter(|l| !l.contains("finished in"))
        .map(str::to_string)
        .collect()
}

const BSIZE: usize = 1024;

fn word(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn is_header(b: &[u8]) -> bool {
    let sum = b.chunks(4).fold(0i32, |s, w| {
        s.wrapping_add(i32::from_le_bytes(w.try_into().unwrap()))
    });
    word(b, 24) == 60012 && sum == 84446
}

/// Checks dump's rule for the volumes of a set and returns their sizes in
/// blocks: volume N > 1 starts with TS_TAPE, volume N, c_tapea and
/// c_firstrec the blocks before it, the inode and c_addr of the last header
/// of volume N-1 and in c_count its data blocks not yet written, which
/// follow; later headers carry the volume number and first record.
fn check_volume_rule(volumes: &[Vec<u8>]) -> Vec<usize> {
    let mut before = 0usize;
    let mut last_header: Option<(Vec<u8>, usize)> = None;
    for (n, v) in volumes.iter().enumerate() {
        let blocks: Vec<&[u8]> = v.chunks(BSIZE).collect();
        let tape = blocks[0];
        assert!(
            is_header(tape),
            "volume {} does not start with a header",
            n + 1
        );
        assert_eq!(word(tape, 0), 1, "volume {}: not TS_TAPE", n + 1);
        assert_eq!(word(tape, 12), n as i32 + 1, "c_volume of volume {}", n + 1);
        if n > 0 {
            let (prev, left) = last_header
                .clone()
                .expect("a header on the previous volume");
            assert_eq!(
                word(tape, 16) as usize,
                before,
                "c_tapea of volume {}",
                n + 1
            );
            assert_eq!(
                word(tape, 892) as usize,
                before,
                "c_firstrec of volume {}",
                n + 1
            );
            assert_eq!(
                word(tape, 20),
                word(&prev, 20),
                "c_inumber of volume {}",
                n + 1
            );
            assert_eq!(
                word(tape, 160) as usize,
                left,
                "c_count of volume {}",
                n + 1
            );
            // The rest is the previous header's (type, volume, tapea,
            // checksum, count, flags and firstrec aside).
            for (i, (a, b)) in tape.iter().zip(&prev).enumerate() {
                let skipped = [0..4, 12..20, 28..32, 160..164, 888..896];
                if !skipped.iter().any(|r| r.contains(&i)) {
                    assert_eq!(a, b, "volume {} header byte {i}", n + 1);
                }
            }
            assert_eq!(
                word(tape, 888),
                word(&prev, 888) | 1,
                "c_flags of volume {}",
                n + 1
            );
        }
        // Walk the volume: headers and the data blocks they announce.
        // The blocks the volume header announces may run past this volume
        // too (a header describes up to 512 blocks).
        let announced = if n > 0 { word(tape, 160) as usize } else { 0 };
        let on_this = announced.min(blocks.len() - 1);
        let mut i = 1 + on_this;
        last_header = Some((tape.to_vec(), announced - on_this));
        while i < blocks.len() {
            let b = blocks[i];
            assert!(is_header(b), "volume {} block {i}: header expected", n + 1);
            assert_eq!(
                word(b, 12),
                n as i32 + 1,
                "c_volume inside volume {}",
                n + 1
            );
            let kind = word(b, 0);
            let count = word(b, 160).max(0) as usize;
            let data = match kind {
                2 | 4 => b[164..164 + count.min(512)]
                    .iter()
                    .filter(|&&a| a != 0)
                    .count(),
                3 | 6 => count,
                _ => 0,
            };
            let on_this = data.min(blocks.len() - i - 1);
            let announced = if matches!(kind, 2 | 4) { data } else { 0 };
            last_header = Some((b.to_vec(), announced - on_this.min(announced)));
            i += 1 + on_this;
        }
        before += blocks.len();
    }
    volumes.iter().map(|v| v.len() / BSIZE).collect()
}

fn read_set(dir: &Path, names: &[String]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| fs::read(dir.join(n)).unwrap())
        .collect()
}

#[test]
fn volumes_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (dev, _src) = device(w);
    let d = dev.0.as_str();
    let ours = w.join("ours");
    let theirs = w.join("theirs");
    // -B 95 with 10 KiB records: dump rounds down to 90 blocks a volume.
    let args = ["-0", "-B", "95", "-M", "-f", "vol", d];
    let o = dump_in(&rdump_bin(), &ours, &args, &[]);
    let t = dump_in(&tool("dump"), &theirs, &args, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(t.status.success(), "{}", text(&t));
    assert_eq!(messages(&o), messages(&t));
    let count = |dir: &Path| fs::read_dir(dir).unwrap().count();
    let names: Vec<String> = (1..=count(&ours)).map(|n| format!("vol{n:03}")).collect();
    assert!(names.len() >= 3, "{names:?}");
    let our_sizes = check_volume_rule(&read_set(&ours, &names));
    let their_names: Vec<String> = (1..=count(&theirs)).map(|n| format!("vol{n:03}")).collect();
    let their_sizes = check_volume_rule(&read_set(&theirs, &their_names));
    for sizes in [&our_sizes, &their_sizes] {
        assert!(
            sizes[..sizes.len() - 1].iter().all(|&s| s == 90),
            "{sizes:?}"
        );
    }
    // The reference restore reads rdump's set, and rrestore... is tested on
    // its side; the tree is the one of rdump's single-volume dump.
    let single = dump_in(
        &rdump_bin(),
        &w.join("single"),
        &["-0", "-f", "one", d],
        &[],
    );
    assert!(single.status.success(), "{}", text(&single));
    let rebuild = |name: &str, args: &[&str]| {
        let dir = w.join(name);
        fs::create_dir_all(&dir).unwrap();
        run(Command::new(tool("restore"))
            .args(args)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null()));
        dir
    };
    let from_set = rebuild(
        "from-set",
        &["-r", "-M", "-f", ours.join("vol").to_str().unwrap()],
    );
    let from_one = rebuild(
        "from-one",
        &["-r", "-f", w.join("single/one").to_str().unwrap()],
    );
    // Each restore's own table differs (it names its dump); not the tree.
    fs::remove_file(from_one.join("restoresymtable")).unwrap();
    fs::remove_file(from_set.join("restoresymtable")).unwrap();
    let diffs = differences_after_rebuild(&from_one, &from_set);
    assert!(diffs.is_empty(), "{diffs:?}");
    assert!(from_set.join("d/e/big").is_file());
}

/// A compressed volume as dump writes it: its first record raw (no
/// prefix), then each record behind its 4-byte prefix. Returns the
/// volume's blocks, decompressed, and the bytes each record takes.
fn unframe(v: &[u8], record: usize) -> (Vec<u8>, Vec<u64>) {
    let mut blocks = v[..record].to_vec();
    let mut sizes = vec![record as u64];
    let mut at = record;
    while at < v.len() {
        let p = Prefix::decode(v[at..at + 4].try_into().unwrap(), ByteOrder::Little);
        let payload = &v[at + 4..at + 4 + p.length];
        if p.compressed {
            blocks.extend(decompress(p.algorithm, payload, record).unwrap());
        } else {
            blocks.extend_from_slice(payload);
        }
        sizes.push(4 + p.length as u64);
        at += 4 + p.length;
    }
    (blocks, sizes)
}

/// How dump 0.4b47 measures a compressed volume after each record, from
/// its flushtape(): it learns the size of a record two records later
/// (three slaves in a ring), so `-B` compares the bytes known plus three
/// records of slack with the size given, and a tape length adds a gap and
/// the known record's bytes over the density (a whole record while none is
/// known). Returns the first record after which the volume is full.
enum Rule {
    Bytes(u64),
    Tape { length: u64, gap: u64, density: u64 },
}

fn first_full(sizes: &[u64], rule: &Rule, record: u64) -> Option<usize> {
    let mut measure = 0;
    (0..sizes.len()).find(|&j| {
        let lagged = j.checked_sub(2).map(|i| sizes[i]);
        match rule {
            Rule::Bytes(limit) => {
                measure += lagged.unwrap_or(0);
                measure + 3 * (record + 4) >= *limit
            }
            Rule::Tape {
                length,
                gap,
                density,
            } => {
                measure += gap + lagged.unwrap_or(record) / density;
                measure > *length
            }
        }
    })
}

/// Reads a compressed set: checks that each volume ends after the record
/// dump's rule makes it end (the last one no earlier), and returns the
/// volumes decompressed.
fn check_compressed_cuts(set: &[Vec<u8>], rule: &Rule, what: &str) -> Vec<Vec<u8>> {
    let record = 10 * BSIZE;
    set.iter()
        .enumerate()
        .map(|(n, v)| {
            let (blocks, sizes) = unframe(v, record);
            let full = first_full(&sizes, rule, record as u64);
            if n + 1 < set.len() {
                assert_eq!(
                    full,
                    Some(sizes.len() - 1),
                    "{what}: volume {} ends after record {} of {}",
                    n + 1,
                    sizes.len() - 1,
                    sizes.len()
                );
            } else {
                assert!(
                    full.is_none_or(|j| j == sizes.len() - 1),
                    "{what}: the last volume goes on past its end ({full:?})"
                );
            }
            blocks
        })
        .collect()
}

#[test]
fn compressed_volumes_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = tree(w);
    fs::write(src.join("noise"), noise(700_000)).unwrap();
    let (dev, _src) = device_of(w, &src);
    let d = dev.0.as_str();
    let cases = [
        // -B 200: about 200 KiB of compressed records a volume.
        (
            "B",
            vec!["-0", "-z", "-B", "200", "-M", "-f", "vol", d],
            Rule::Bytes(200 * 1024),
        ),
        // 4 feet of 9-track tape at 1600 bpi (0.8" a gap).
        (
            "feet",
            vec!["-0", "-z6", "-s", "4", "-M", "-f", "vol", d],
            Rule::Tape {
                length: 4 * 120,
                gap: 8,
                density: 160,
            },
        ),
    ];
    for (name, args, rule) in cases {
        let ours = w.join(format!("ours-{name}"));
        let theirs = w.join(format!("theirs-{name}"));
        let o = dump_in(&rdump_bin(), &ours, &args, &[]);
        let t = dump_in(&tool("dump"), &theirs, &args, &[]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(t.status.success(), "{}", text(&t));
        // The inode a volume starts with and the compressed sizes depend on
        // the directories' bytes (see messages()), so the count of volumes
        // may differ by one.
        let only_volumes = |o: &Output| -> Vec<String> {
            messages(o)
                .into_iter()
                .filter(|l| !l.contains("olume") && !l.contains("Closing"))
                .filter(|l| !l.contains("kB") && !l.contains("volume(s)"))
                .collect()
        };
        assert_eq!(only_volumes(&o), only_volumes(&t), "{name}");
        let mut sets = Vec::new();
        for (who, dir) in [("rdump", &ours), ("dump", &theirs)] {
            let count = fs::read_dir(dir).unwrap().count();
            assert!(count >= 3, "{who} {name}: {count} volumes");
            let names: Vec<String> = (1..=count).map(|n| format!("vol{n:03}")).collect();
            let set = read_set(dir, &names);
            let plain = check_compressed_cuts(&set, &rule, &format!("{who} {name}"));
            check_volume_rule(&plain);
            sets.push(count);
        }
        assert!(sets[0].abs_diff(sets[1]) <= 1, "{name}: {sets:?}");
    }
    // The cuts do not depend on how many compressors race ahead.
    let sets: Vec<Vec<Vec<u8>>> = ["1", "3"]
        .iter()
        .map(|threads| {
            let dir = w.join(format!("threads-{threads}"));
            let o = dump_in(
                &rdump_bin(),
                &dir,
                &[
                    "-0",
                    "-z",
                    "--threads",
                    threads,
                    "-B",
                    "200",
                    "-M",
                    "-f",
                    "vol",
                    d,
                ],
                &[("SOURCE_DATE_EPOCH", "1700000000")],
            );
            assert!(o.status.success(), "{}", text(&o));
            let count = fs::read_dir(&dir).unwrap().count();
            let names: Vec<String> = (1..=count).map(|n| format!("vol{n:03}")).collect();
            read_set(&dir, &names)
        })
        .collect();
    assert!(sets[0] == sets[1], "the sets differ with 1 and 3 threads");
    // The reference restore reads rdump's compressed set: the tree of
    // rdump's single-volume dump.
    let single = dump_in(
        &rdump_bin(),
        &w.join("single"),
        &["-0", "-f", "one", d],
        &[],
    );
    assert!(single.status.success(), "{}", text(&single));
    let rebuild = |name: &str, file: PathBuf, multi: bool| {
        let dir = w.join(name);
        fs::create_dir_all(&dir).unwrap();
        let mut c = Command::new(tool("restore"));
        c.arg("-r");
        if multi {
            c.arg("-M");
        }
        run(c
            .arg("-f")
            .arg(file)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null()));
        fs::remove_file(dir.join("restoresymtable")).unwrap();
        dir
    };
    let from_set = rebuild("from-set", w.join("ours-B/vol"), true);
    let from_one = rebuild("from-one", w.join("single/one"), false);
    let diffs = differences_after_rebuild(&from_one, &from_set);
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(fs::read(from_set.join("noise")).unwrap(), noise(700_000));
}

/// A dump whose last record fills its volume: dump 0.4b47 then opens one
/// more volume, reports a block on it and leaves it empty (0 bytes); rdump
/// ends with the full volume. Both sets read back whole.
#[test]
fn dump_ending_on_a_volume_boundary() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (dev, _src) = device(w);
    let d = dev.0.as_str();
    let mut trees = Vec::new();
    for (who, program) in [("rdump", rdump_bin()), ("dump", tool("dump"))] {
        let dir = w.join(who);
        let one = dump_in(&program, &dir, &["-0", "-f", "one", d], &[]);
        assert!(one.status.success(), "{}", text(&one));
        let blocks = fs::metadata(dir.join("one")).unwrap().len() / 1024;
        assert_eq!(blocks % 10, 0);
        let b = blocks.to_string();
        let set = dump_in(&program, &dir, &["-0", "-B", &b, "-M", "-f", "v", d], &[]);
        assert!(set.status.success(), "{}", text(&set));
        let full = fs::read(dir.join("v001")).unwrap();
        assert_eq!(full.len() as u64, blocks * 1024, "{who}");
        let said = text(&set);
        if who == "dump" {
            assert_eq!(fs::metadata(dir.join("v002")).unwrap().len(), 0);
            assert!(said.contains("on 2 volume(s)"), "{said}");
        } else {
            assert!(!dir.join("v002").exists(), "{said}");
            assert!(said.contains(&format!("{b} blocks")), "{said}");
            assert!(said.contains("on 1 volume(s)"), "{said}");
        }
        // rrestore reads either set; with dump's it never needs the empty one.
        let out = w.join(format!("{who}-tree"));
        fs::create_dir_all(&out).unwrap();
        run(Command::new(rrestore_bin())
            .args(["-r", "-M", "-f"])
            .arg(dir.join("v"))
            .current_dir(&out)
            .stdin(std::process::Stdio::null()));
        fs::remove_file(out.join("restoresymtable")).unwrap();
        trees.push(out);
    }
    let diffs = differences_after_rebuild(&trees[1], &trees[0]);
    assert!(diffs.is_empty(), "{diffs:?}");
}

#[test]
fn volume_lists_scripts_and_no_terminal_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (dev, _src) = device(w);
    let d = dev.0.as_str();
    let script = w.join("eot.sh");
    fs::write(
        &script,
        "#!/bin/sh\necho \"$*\" >> eot.log\nexit ${EOT_CODE:-0}\n",
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&script));
    let s = script.to_str().unwrap();
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        // A list long enough, then one too short without a terminal.
        (
            "list",
            vec!["-0", "-B", "200", "-f", "a,b,c,d,e,f", d],
            vec![],
        ),
        ("short", vec!["-0", "-B", "200", "-f", "a,b", d], vec![]),
        ("single", vec!["-0", "-B", "300", "-f", "one", d], vec![]),
        // Tape lengths end volumes where dump's tape arithmetic does (9-track,
        // cartridge, 6250 bpi with its 32 KiB records).
        ("feet", vec!["-0", "-s", "3", "-M", "-f", "v", d], vec![]),
        (
            "cartridge",
            vec!["-0", "-c", "-s", "2", "-M", "-f", "v", d],
            vec![],
        ),
        (
            "6250bpi",
            vec!["-0", "-d", "6250", "-s", "2", "-M", "-f", "v", d],
            vec![],
        ),
        // -F: 0 goes on, 1 asks (no terminal: abort), 2 aborts.
        (
            "eot0",
            vec!["-0", "-B", "300", "-M", "-F", s, "-f", "v", d],
            vec![],
        ),
        (
            "eot1",
            vec!["-0", "-B", "300", "-F", s, "-f", "v", d],
            vec![("EOT_CODE", "1")],
        ),
        (
            "eot2",
            vec!["-0", "-B", "300", "-M", "-F", s, "-f", "v", d],
            vec![("EOT_CODE", "2")],
        ),
    ];
    for (name, args, env) in cases {
        let ours = w.join(format!("ours-{name}"));
        let theirs = w.join(format!("theirs-{name}"));
        let o = dump_in(&rdump_bin(), &ours, &args, &env);
        let t = dump_in(&tool("dump"), &theirs, &args, &env);
        assert_eq!(
            o.status.code(),
            t.status.code(),
            "{name}: {}\n{}",
            text(&o),
            text(&t)
        );
        assert_eq!(messages(&o), messages(&t), "{name}");
        let listing = |dir: &Path| {
            let mut v: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let len = e.metadata().unwrap().len();
                    format!("{} {len}", e.file_name().to_string_lossy())
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            listing(&ours),
            listing(&theirs),
            "{name}: files written and sizes"
        );
        let log = |dir: &Path| fs::read_to_string(dir.join("eot.log")).unwrap_or_default();
        assert_eq!(log(&ours), log(&theirs), "{name}: script arguments");
    }
}
