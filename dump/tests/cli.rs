//! The command line, the man page, and how rdump fails: refused levels and
//! features, unusable arguments, a full disk, a closed pipe.

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{dump_to, rdump, rdump_bin, require_root, run, tool, Mount};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small image made by mke2fs -d from a few files (no mount needed).
fn small_image(dir: &Path, extra_mkfs: &[&str]) -> std::path::PathBuf {
    let src = dir.join("tree");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("a"), b"alpha\n").unwrap();
    std::fs::write(src.join("d/b"), vec![7u8; 70_000]).unwrap();
    let image = dir.join("small.img");
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4"])
        .args(extra_mkfs)
        .arg("-d")
        .arg(&src)
        .arg(&image)
        .arg("8M"));
    image
}

#[test]
fn help_and_man_page_describe_every_option() {
    let o = rdump(&[os("--help")], &[]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    let man = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rdump.8"))
        .expect("dump/rdump.8 exists");
    for opt in [
        "-b",
        "-f",
        "-j",
        "-z",
        "--zstd",
        "-L",
        "-q",
        "-S",
        "-T",
        "-v",
        "--threads",
        "--help",
        "-u",
        "-D",
        "-y",
        "-a",
        "-B",
        "-c",
        "-d",
        "-s",
        "-h",
        "-I",
        "-n",
        "-e",
        "-E",
        "-W",
        "-w",
        "-M",
        "-F",
    ] {
        assert!(help.contains(opt), "--help does not mention {opt}");
        let roff = opt.replace('-', "\\-");
        assert!(
            man.contains(&roff) || man.contains(opt),
            "rdump.8 does not mention {opt}"
        );
    }
    assert!(man.contains("SOURCE_DATE_EPOCH") && help.contains("SOURCE_DATE_EPOCH"));
    let v = rdump(&[os("--version")], &[]);
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("rdump "));
}

/// Amanda drives dump as `dump 0usf 1048576 - DEVICE`: the same line works
/// with rdump (plus D, the dumpdates file, so the test need not touch
/// /etc), the dump goes to standard output and reads with the reference
/// restore, and the dumpdates file gets dump's line for the filesystem,
/// replaced (not repeated) by the next level 0 dump, other lines kept.
#[test]
fn amanda_command_line_and_dumpdates() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let dumpdates = work.path().join("dumpdates");
    let args = [
        os("0usfD"),
        os("1048576"),
        os("-"),
        dumpdates.as_os_str(),
        image.as_os_str(),
    ];
    let o = rdump(&args, &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let err = stderr_of(&o);
    assert!(err.contains("making an empty one"), "{err}");
    // With -f -, dump reports the estimate without tapes.
    assert!(
        err.lines()
            .any(|l| l.starts_with("  DUMP: estimated ") && l.ends_with(" blocks.")),
        "{err}"
    );
    let out = work.path().join("amanda.dump");
    std::fs::write(&out, &o.stdout).unwrap();
    let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
    assert!(String::from_utf8_lossy(&listing.stdout).contains("./d/b\n"));

    let text = std::fs::read_to_string(&dumpdates).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(words[0], image.display().to_string(), "{text}");
    assert_eq!(words[1], "0", "{text}");
    assert_eq!(
        words.len(),
        8,
        "device, level, asctime (5 words), offset: {text}"
    );

    // Another filesystem's line survives; ours is replaced, not repeated.
    let other = "/dev/other 0 Thu Jan  1 00:00:00 1970 +0000\n";
    std::fs::write(&dumpdates, format!("{other}{text}")).unwrap();
    let o = rdump(&args, &[]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(!stderr_of(&o).contains("making an empty one"));
    let again = std::fs::read_to_string(&dumpdates).unwrap();
    assert!(again.starts_with(other), "{again}");
    assert_eq!(again.lines().count(), 2, "{again}");
}

/// The reference dump reads the dumpdates line rdump writes: after
/// `rdump -0u`, `dump -1` finds the level 0 date there ("Date of last level
/// 0 dump"), which is what a level 1 dump by dump would be based on.
#[test]
fn reference_dump_reads_our_dumpdates() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let dev = run(Command::new(tool("losetup"))
        .args(["-f", "--show", "-r"])
        .arg(&image));
    let dev = String::from_utf8_lossy(&dev.stdout).trim().to_string();
    let dumpdates = work.path().join("dumpdates");
    let dd = dumpdates.as_os_str();
    let o = rdump(
        &[os("-0u"), os("-D"), dd, os("-f"), os("/dev/null"), os(&dev)],
        &[("SOURCE_DATE_EPOCH", "1700000000"), ("TZ", "UTC")],
    );
    let s = Command::new(tool("dump"))
        .args([os("-1"), os("-D"), dd, os("-f"), os("/dev/null"), os(&dev)])
        .env("TZ", "UTC")
        .output()
        .unwrap();
    run(Command::new(tool("losetup")).args(["-d", &dev]));
    assert!(o.status.success(), "{}", stderr_of(&o));
    let err = stderr_of(&s);
    assert!(s.status.success(), "{err}");
    assert!(
        err.contains("Date of last level 0 dump: Tue Nov 14 22:13:20 2023"),
        "dump -1 did not take rdump's level 0 date (1700000000): {err}"
    );
}

/// Tape-length options: with a file as output the estimate is given in
/// tapes, as dump gives it, and a length too short for the dump cuts it
/// into volumes (compressed too); options rdump does not implement are
/// refused by name.
#[test]
fn tape_length_and_unsupported_options() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let out = work.path().join("t.dump");
    // A tape length too short for the dump, compressed: several volumes.
    let err = dump_to(&image, &out, &["-z", "-s", "1", "-M"]);
    let line = err
        .lines()
        .find(|l| l.contains("estimated"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.ends_with("tape(s)."), "{line}");
    assert!(err.contains("Dumping volume 2 on"), "{err}");
    assert!(work.path().join("t.dump002").is_file(), "{err}");
    let err = dump_to(&image, &out, &["-s", "2300"]);
    assert!(err.contains("on 0.00 tape(s)."), "{err}");
    assert!(!err.contains("will not fit"), "{err}");
    // -y: LZO, which the reference restore reads.
    dump_to(&image, &out, &["-y"]);
    let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
    assert!(String::from_utf8_lossy(&listing.stdout).contains("./d/b\n"));

    for (args, needle) in [
        (
            vec!["-0", "-k", "-f", "x", "fs"],
            "option -k (Kerberos remote tape) is not supported",
        ),
        (
            vec!["-0", "-a", "-s", "100", "fs"],
            "You cannot use the a and s flags together.",
        ),
        (
            vec!["-0", "-u", "-T", "x", "fs"],
            "You cannot use the T and u flags together.",
        ),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|s| os(s)).collect();
        let o = rdump(&a, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr_of(&o).contains(needle),
            "{args:?}: {}",
            stderr_of(&o)
        );
    }
    // dump's inode-number checks for -e.
    for bad in ["2", "x", "12,"] {
        let o = rdump(&[os("-0"), os("-e"), os(bad), image.as_os_str()], &[]);
        assert_eq!(o.status.code(), Some(1), "-e {bad}");
        assert!(
            stderr_of(&o).contains("Invalid inode argument"),
            "-e {bad}: {}",
            stderr_of(&o)
        );
    }
}

/// `-h 0` (honour the nodump flag at level 0) and `-e`/`-E` (inode
/// numbers) leave out the same inodes as the reference dump with the same
/// options, a nodump or excluded directory with everything under it (a
/// file there is left out even where another directory links it), and
/// estimate the same size; without `-h 0` nodump files are dumped.
#[test]
fn nodump_and_excluded_inodes_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("tree");
    for d in ["d/sub", "e", "g"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for f in ["a", "keep", "d/x", "d/sub/y", "e/z", "f", "g/w", "listed"] {
        std::fs::write(src.join(f), format!("{f}\n").repeat(300)).unwrap();
    }
    std::fs::hard_link(src.join("d/x"), src.join("e/hl")).unwrap();
    let image = work.path().join("n.img");
    // ext2: inode flags are 0 but for the ones set here.
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-d"])
        .arg(&src)
        .arg(&image)
        .arg("4M"));
    for cmd in ["sif /a flags 0x40", "sif /d flags 0x40"] {
        run(Command::new(tool("debugfs"))
            .args(["-w", "-R", cmd])
            .arg(&image));
    }
    let fs = fsimage::Filesystem::open(&image).unwrap();
    let root = fs.read_dir(&fs.inode(2).unwrap()).unwrap();
    let ino = |name: &[u8]| root.iter().find(|e| e.name == name).unwrap().ino;
    let (f, g, listed) = (ino(b"f"), ino(b"g"), ino(b"listed"));
    drop(fs);
    let list_file = work.path().join("exclude.txt");
    std::fs::write(&list_file, format!("{listed}\n\n")).unwrap();
    let dev = run(Command::new(tool("losetup"))
        .args(["-f", "--show", "-r"])
        .arg(&image));
    let dev = String::from_utf8_lossy(&dev.stdout).trim().to_string();

    let listing_and_estimate = |prog: &Path, opts: &[String], name: &str| {
        let out = work.path().join(name);
        let o = Command::new(prog)
            .args(opts)
            .arg("-f")
            .arg(&out)
            .arg(&dev)
            .output()
            .unwrap();
        let err = stderr_of(&o);
        assert!(o.status.success(), "{prog:?} {opts:?}: {err}");
        let estimate = err
            .lines()
            .find(|l| l.contains("estimated"))
            .unwrap_or_else(|| panic!("{err}"))
            .to_string();
        let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
        let mut names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect();
        names.sort();
        (names, estimate)
    };
    let cases: Vec<Vec<String>> = vec![
        vec!["-0".into(), "-h".into(), "0".into()],
        vec![
            "-0".into(),
            "-h".into(),
            "0".into(),
            "-e".into(),
            format!("{f},{g}"),
            "-E".into(),
            list_file.display().to_string(),
        ],
        vec!["-0".into()],
    ];
    let mut results = Vec::new();
    for (i, opts) in cases.iter().enumerate() {
        let ours = listing_and_estimate(&rdump_bin(), opts, &format!("ours{i}.dump"));
        let reference = listing_and_estimate(&tool("dump"), opts, &format!("ref{i}.dump"));
        results.push((opts.clone(), ours, reference));
    }
    run(Command::new(tool("losetup")).args(["-d", &dev]));
    for (opts, ours, reference) in &results {
        assert_eq!(ours.0, reference.0, "{opts:?}: what is on tape");
        assert_eq!(ours.1, reference.1, "{opts:?}: the estimate");
    }
    let honoured = &results[0].1 .0;
    for gone in ["./a", "./d", "./d/x", "./d/sub/y", "./e/hl"] {
        assert!(
            !honoured.iter().any(|n| n == gone),
            "{gone} in {honoured:?}"
        );
    }
    for kept in ["./keep", "./e/z", "./f", "./g/w"] {
        assert!(
            honoured.iter().any(|n| n == kept),
            "{kept} not in {honoured:?}"
        );
    }
    let excluded = &results[1].1 .0;
    for gone in ["./f", "./g", "./g/w", "./listed"] {
        assert!(
            !excluded.iter().any(|n| n == gone),
            "{gone} in {excluded:?}"
        );
    }
    let all = &results[2].1 .0;
    for kept in ["./a", "./d/x", "./d/sub/y", "./e/hl"] {
        assert!(all.iter().any(|n| n == kept), "{kept} not in {all:?}");
    }
    // The -h 0 dump rebuilds with the reference restore and with rrestore:
    // names of what was left out stay in the directories, as in dump's
    // dumps, and both restores pass over them.
    let rrestore = common::rrestore_bin();
    for (name, prog) in [("by-restore", tool("restore")), ("by-rrestore", rrestore)] {
        let target = work.path().join(name);
        std::fs::create_dir(&target).unwrap();
        let o = Command::new(&prog)
            .arg("-rf")
            .arg(work.path().join("ours0.dump"))
            .current_dir(&target)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{prog:?}: {}", stderr_of(&o));
        assert!(target.join("keep").is_file() && target.join("e/z").is_file());
        assert!(
            !target.join("a").exists() && !target.join("d").exists(),
            "{prog:?}"
        );
    }
}

#[test]
fn usage_errors_exit_1() {
    for args in [
        vec!["-x", "fs"],
        vec!["-0"],
        vec!["-b", "2048", "fs"],
        vec!["-z0", "fs"],
    ] {
        let a: Vec<&OsStr> = args.iter().map(|s| os(s)).collect();
        let o = rdump(&a, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr_of(&o));
        assert!(stderr_of(&o).starts_with("rdump: "), "{args:?}");
    }
}

#[test]
fn key_letter_form_equals_getopt_form() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let a = work.path().join("a.dump");
    dump_to(&image, &a, &["-b", "64"]);
    // rdump 0bf 64 FILE IMAGE
    let b = work.path().join("b.dump");
    let o = rdump(
        &[os("0bf"), os("64"), b.as_os_str(), image.as_os_str()],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    // rdump 0f - IMAGE writes to standard output.
    let o = rdump(
        &[os("0f"), os("-"), image.as_os_str()],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    let c = work.path().join("c.dump");
    dump_to(&image, &c, &[]);
    assert!(
        o.stdout == std::fs::read(&c).unwrap(),
        "-f - differs from -f file"
    );
    let err = stderr_of(&o);
    assert!(err.contains("to standard output"), "{err}");
    assert!(!err.contains("Closing"), "{err}");
}

/// An incremental level with no dumpdates file (or no lower level in it)
/// falls back to level 0 with dump's warnings; a -T date that cannot be
/// read is refused.
#[test]
fn incremental_without_a_lower_level_is_a_full_dump() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let out = work.path().join("x.dump");
    let dd = work.path().join("none");
    let o = rdump(
        &[
            os("-1"),
            os("-D"),
            dd.as_os_str(),
            os("-f"),
            out.as_os_str(),
            image.as_os_str(),
        ],
        &[],
    );
    let err = stderr_of(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("There is no inferior level dump on this filesystem"),
        "{err}"
    );
    assert!(err.contains("Date of this level 0 dump"), "{err}");
    let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
    assert!(String::from_utf8_lossy(&listing.stdout).contains("./d/b\n"));

    std::fs::remove_file(&out).unwrap();
    let o = rdump(
        &[
            os("-0"),
            os("-T"),
            os("yesterday"),
            os("-f"),
            out.as_os_str(),
            image.as_os_str(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr_of(&o).contains("bad time \"yesterday\""),
        "{}",
        stderr_of(&o)
    );
    assert!(!out.exists(), "nothing may be written");
}

#[test]
fn size_estimate_matches_the_dump() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let o = rdump(&[os("-S"), image.as_os_str()], &[]);
    assert!(o.status.success());
    assert!(
        o.stderr.is_empty(),
        "-S prints nothing else: {}",
        stderr_of(&o)
    );
    let bytes: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    let err = dump_to(&image, &work.path().join("d.dump"), &[]);
    assert!(
        err.contains(&format!("estimated {} blocks.", bytes / 1024)),
        "{err}"
    );
}

#[test]
fn unknown_features_are_refused_by_name() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &["-O", "encrypt"]);
    let o = rdump(
        &[
            os("-0"),
            os("-f"),
            work.path().join("x").as_os_str(),
            image.as_os_str(),
        ],
        &[],
    );
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("encrypt"), "{err}");
    assert!(err.contains("The ENTIRE dump is aborted."), "{err}");
}

#[test]
fn unusable_filesystem_arguments() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("missing.img");
    let o = rdump(
        &[os("-0"), os("-f"), os("/dev/null"), missing.as_os_str()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_of(&o).contains("missing.img"), "{}", stderr_of(&o));
    // A directory of a filesystem that is not ext2/3/4 (a subtree dump of
    // a directory is refused there).
    let shm = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm (tmpfs)");
    let o = rdump(
        &[os("-0"), os("-f"), os("/dev/null"), shm.path().as_os_str()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr_of(&o).contains("not as ext2/ext3/ext4"),
        "{}",
        stderr_of(&o)
    );
    // Not a filesystem at all.
    let junk = work.path().join("junk");
    std::fs::write(&junk, vec![0u8; 1 << 20]).unwrap();
    let o = rdump(
        &[os("-0"), os("-f"), os("/dev/null"), junk.as_os_str()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_of(&o).contains("superblock"), "{}", stderr_of(&o));
}

#[test]
fn mount_point_argument() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let m = Mount::new(&image, &work.path().join("mnt"), true);
    let out = work.path().join("m.dump");
    let err = dump_to(&m.dir, &out, &[]);
    let bytes = std::fs::read(&out).unwrap();
    let (h, _) = dump_format::Header::parse(&bytes[..1024]).unwrap();
    let canonical = std::fs::canonicalize(&m.dir).unwrap();
    assert_eq!(h.filesys_str(), canonical.display().to_string());
    assert!(h.dev_str().starts_with("/dev/loop"), "{}", h.dev_str());
    assert!(err.contains(&format!("({})", canonical.display())), "{err}");
}

#[test]
fn full_disk_ends_the_dump() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let o = rdump(
        &[os("-0"), os("-f"), os("/dev/full"), image.as_os_str()],
        &[],
    );
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("The ENTIRE dump is aborted."), "{err}");
    assert!(!err.contains("DUMP IS DONE"), "{err}");
}

#[test]
fn closed_pipe_ends_the_dump() {
    let work = tempfile::tempdir().unwrap();
    // Big enough not to fit in a pipe buffer.
    let src = work.path().join("tree");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = common::Rng::new(5);
    std::fs::write(src.join("big"), rng.bytes(4 << 20)).unwrap();
    let image = work.path().join("p.img");
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&src)
        .arg(&image)
        .arg("16M"));
    let mut child = Command::new(rdump_bin())
        .args([os("-0"), os("-f"), os("-"), image.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("Broken pipe"), "{err}");
}

#[test]
fn file_recognises_the_dump() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    for opts in [vec![], vec!["-z9"], vec!["-j"]] {
        let out = work.path().join("f.dump");
        dump_to(&image, &out, &opts);
        let f = run(Command::new(tool("file")).arg(&out));
        let text = String::from_utf8_lossy(&f.stdout);
        assert!(text.contains("new-fs dump file"), "{opts:?}: {text}");
        assert!(text.contains("Level zero"), "{opts:?}: {text}");
    }
}

#[test]
fn verbose_lists_inodes_in_order() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    let err = dump_to(
        &image,
        &work.path().join("v.dump"),
        &["-v", "--threads", "4"],
    );
    let dirs = err.find("dumping directory inode 2").expect("root listed");
    let pass4 = err.find("dumping (Pass IV)").expect("pass IV");
    let reg = err.find("dumping regular inode").expect("a file listed");
    assert!(dirs < pass4 && pass4 < reg, "{err}");
}

/// Damaged inodes (an impossible size, an undefined type) are reported and
/// left out, with their directory entries; the rest is dumped.
#[test]
fn damaged_inodes_are_reported_and_left_out() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &[]);
    for cmd in ["sif /a size 0x7fffffffffff0000", "sif /d/b mode 0170644"] {
        run(Command::new(tool("debugfs"))
            .args(["-w", "-R", cmd])
            .arg(&image));
    }
    let out = work.path().join("d.dump");
    let err = dump_to(&image, &out, &[]);
    assert!(err.contains("impossible size"), "{err}");
    assert!(err.contains("undefined file type 0170000"), "{err}");
    assert!(err.contains("2 warning(s)"), "{err}");
    let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("./d\n"), "{text}");
    assert!(!text.contains("./a\n") && !text.contains("./d/b"), "{text}");
}

/// An inode bitmap whose checksum fails (here: the bit of an in-use file
/// cleared on disk) is reported, and the file is dumped all the same.
#[test]
fn damaged_inode_bitmap_loses_no_file() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path(), &["-O", "metadata_csum"]);
    let fs = fsimage::Filesystem::open(&image).unwrap();
    let root = fs.inode(2).unwrap();
    let a = fs
        .read_dir(&root)
        .unwrap()
        .into_iter()
        .find(|e| e.name == b"a")
        .unwrap()
        .ino;
    let ipg = fs.superblock().inodes_per_group;
    let (group, bit) = ((a - 1) / ipg, (a - 1) % ipg);
    let at =
        fs.groups()[group as usize].inode_bitmap * u64::from(fs.block_size()) + u64::from(bit / 8);
    drop(fs);
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[at as usize] &= !(1u8 << (bit % 8));
    std::fs::write(&image, bytes).unwrap();

    let out = work.path().join("b.dump");
    let err = dump_to(&image, &out, &[]);
    assert!(
        err.contains(&format!("inode bitmap of group {group}"))
            && err.contains("every inode of that group is examined instead"),
        "{err}"
    );
    assert!(err.contains("1 warning(s)"), "only the bitmap: {err}");
    let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("./a\n") && text.contains("./d/b\n"), "{text}");
}

/// A group descriptor whose checksum fails (here the CRC16 of a gdt_csum
/// filesystem) is reported, and the group is dumped all the same: the
/// kernel mounts such a filesystem read-only, and a backup should not be
/// refused where a mount is not.
#[test]
fn damaged_group_descriptor_loses_no_file() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(
        work.path(),
        &["-b", "1024", "-O", "^metadata_csum,uninit_bg"],
    );
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[2 * 1024 + 0x0C] ^= 1; // free blocks count in descriptor 0
    std::fs::write(&image, bytes).unwrap();

    let out = work.path().join("g.dump");
    let err = dump_to(&image, &out, &[]);
    assert!(
        err.contains("group descriptor 0: checksum mismatch")
            && err.contains("every inode of that group is examined instead"),
        "{err}"
    );
    assert!(err.contains("1 warning(s)"), "only the descriptor: {err}");
    let listing = run(Command::new(tool("restore")).arg("-tf").arg(&out));
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("./a\n") && text.contains("./d/b\n"), "{text}");
}

/// An inode whose block map cannot be read (here: a directory and a big
/// file with a destroyed extent header) is reported and left out; the dump
/// goes on and everything else restores.
#[test]
fn unreadable_metadata_leaves_out_only_that_inode() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("tree");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::create_dir_all(src.join("ok")).unwrap();
    std::fs::write(src.join("d/b"), b"b").unwrap();
    std::fs::write(src.join("ok/c"), b"still here\n").unwrap();
    std::fs::write(src.join("big"), common::Rng::new(9).bytes(2 << 20)).unwrap();
    let image = work.path().join("m.img");
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&src)
        .arg(&image)
        .arg("16M"));
    for cmd in ["sif /d block[0] 0", "sif /big block[0] 0"] {
        run(Command::new(tool("debugfs"))
            .args(["-w", "-R", cmd])
            .arg(&image));
    }
    let out = work.path().join("m.dump");
    let err = dump_to(&image, &out, &["-z"]);
    assert_eq!(err.matches("not dumped").count(), 2, "{err}");
    assert!(err.contains("DUMP IS DONE"), "{err}");
    let target = work.path().join("x");
    std::fs::create_dir(&target).unwrap();
    let o = common::restore(
        &target,
        &[os("-x"), os("-f"), out.as_os_str(), os("./ok")],
        "1\nn\n",
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(std::fs::read(target.join("ok/c")).unwrap(), b"still here\n");
}
