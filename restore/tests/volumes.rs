//! Multi-volume dumps read by rrestore: dump 0.4b47's sets and rdump's, by
//! `-M -f base` and by a comma list; -r, -x, -t and -C across volumes, a
//! file that spans two volumes restored whole; a volume out of order or
//! from another dump refused with the reason, and a missing volume named,
//! when no terminal can be asked.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{manifest, noise, require_tool, run, scratch};

/// Detaches the loop device when the test ends, however it ends.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

fn rdump() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_rrestore")).with_file_name("rdump");
    assert!(
        p.is_file(),
        "{} is missing: build the workspace (cargo test --workspace)",
        p.display()
    );
    p
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A source tree with a file big enough to span volumes of 100 blocks, an
/// image of it on a loop device (dump reads devices only).
fn device(work: &Path) -> (Loop, PathBuf) {
    for t in ["mke2fs", "losetup", "dump", "restore", "setsid"] {
        require_tool(t);
    }
    let src = work.join("tree");
    fs::create_dir_all(src.join("d/e")).unwrap();
    for i in 0..20u32 {
        let len = (i as usize * 3_331) % 30_000;
        fs::write(src.join(format!("d/f{i}")), vec![(i % 250) as u8 + 1; len]).unwrap();
    }
    let big: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(src.join("d/e/big"), big).unwrap();
    // Bytes that do not compress: a compressed set spans volumes too.
    fs::write(src.join("d/noise"), noise(400_000)).unwrap();
    fs::write(src.join("zz-last"), b"in the last volume\n").unwrap();
    let image = work.join("img");
    ok(
        run({
            let mut c = Command::new("mke2fs");
            c.args(["-q", "-F", "-t", "ext4", "-d"])
                .arg(&src)
                .arg(&image)
                .arg("16M");
            c
        }),
        "mke2fs",
    );
    let out = ok(
        run({
            let mut c = Command::new("losetup");
            c.args(["-f", "--show"]).arg(&image);
            c
        }),
        "losetup",
    );
    (
        Loop(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        src,
    )
}

/// A dump set of `dev` in `dir`, volumes of 100 blocks named base001...
fn set(program: &Path, dir: &Path, dev: &str, env: &[(&str, &str)]) -> PathBuf {
    set_with(program, dir, dev, env, &[])
}

/// [`set`] with more options (`-z`).
fn set_with(
    program: &Path,
    dir: &Path,
    dev: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let base = dir.join("v");
    let mut c = Command::new(program);
    c.args(["-0", "-L", "vols", "-B", "100", "-M"])
        .args(extra)
        .arg("-f")
        .arg(&base)
        .arg(dev)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    ok(run(c), "the dump");
    assert!(
        dir.join("v003").exists(),
        "the set has fewer than 3 volumes"
    );
    base
}

fn volume(base: &Path, n: usize) -> String {
    format!("{}{n:03}", base.display())
}

/// rrestore in `dir` with no terminal (setsid), so it cannot ask.
fn rrestore_in(dir: &Path, args: &[&str]) -> Output {
    fs::create_dir_all(dir).unwrap();
    let mut c = Command::new("setsid");
    c.arg("-w")
        .arg(env!("CARGO_BIN_EXE_rrestore"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null());
    run(c)
}

fn rebuild_manifest(dir: &Path) -> String {
    let _ = fs::remove_file(dir.join("restoresymtable"));
    manifest(dir)
        .lines()
        .filter(|l| !l.starts_with(".\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sets_of_dump_and_rdump_read_across_volumes() {
    read_across_volumes("volumes", &[]);
}

/// A compressed volume starts with a raw record, unlike the rest.
#[test]
fn compressed_sets_of_dump_and_rdump_read_across_volumes() {
    read_across_volumes("volumes-z", &["-z6"]);
}

fn read_across_volumes(name: &str, extra: &[&str]) {
    let work = scratch(name);
    let (dev, src) = device(&work);
    let theirs = set_with(
        Path::new("/usr/sbin/dump"),
        &work.join("theirs"),
        &dev.0,
        &[],
        extra,
    );
    let ours = set_with(&rdump(), &work.join("ours"), &dev.0, &[], extra);
    // The reference restore's tree from dump's own set is what -r must give.
    let expected_dir = work.join("expected");
    fs::create_dir_all(&expected_dir).unwrap();
    ok(
        run({
            let mut c = Command::new("restore");
            c.args(["-r", "-M", "-f"])
                .arg(&theirs)
                .current_dir(&expected_dir)
                .stdin(Stdio::null());
            c
        }),
        "restore -r -M",
    );
    let expected = rebuild_manifest(&expected_dir);
    assert!(expected.contains("d/e/big"), "{expected}");
    let count = fs::read_dir(work.join("ours")).unwrap().count();
    let list: Vec<String> = (1..=count).map(|n| volume(&ours, n)).collect();
    let list = list.join(",");
    for (name, args) in [
        ("theirs-M", vec!["-r", "-M", "-f", theirs.to_str().unwrap()]),
        ("ours-M", vec!["-r", "-M", "-f", ours.to_str().unwrap()]),
        ("ours-list", vec!["-r", "-f", &list]),
    ] {
        let dir = work.join(name);
        ok(rrestore_in(&dir, &args), name);
        assert_eq!(rebuild_manifest(&dir), expected, "{name}");
    }
    // -x of the file that spans volumes, and of one in the last volume.
    let x = work.join("x");
    ok(
        rrestore_in(
            &x,
            &[
                "-x",
                "-M",
                "-f",
                theirs.to_str().unwrap(),
                "./d/e/big",
                "./d/noise",
                "./zz-last",
            ],
        ),
        "rrestore -x",
    );
    assert_eq!(
        fs::read(x.join("d/noise")).unwrap(),
        fs::read(src.join("d/noise")).unwrap()
    );
    assert_eq!(
        fs::read(x.join("d/e/big")).unwrap(),
        fs::read(src.join("d/e/big")).unwrap()
    );
    assert_eq!(
        fs::read(x.join("zz-last")).unwrap(),
        b"in the last volume\n"
    );
    // -i: a second extract reads the set again from volume 1.
    let i = work.join("i");
    fs::create_dir_all(&i).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_rrestore"));
    c.args(["-i", "-M", "-f"])
        .arg(&theirs)
        .current_dir(&i)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"add d/noise\nextract\nadd zz-last\nextract\nquit\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{said}");
    assert_eq!(
        fs::read(i.join("d/noise")).unwrap(),
        fs::read(src.join("d/noise")).unwrap(),
        "{said}"
    );
    assert_eq!(
        fs::read(i.join("zz-last")).unwrap(),
        b"in the last volume\n",
        "{said}"
    );
    // -t lists what restore -t lists; -C against the rebuilt tree finds it the same.
    let t = |program: &str, extra: &[&str]| {
        let mut c = Command::new(program);
        c.args(["-t", "-M", "-f"]).arg(&theirs).args(extra);
        String::from_utf8_lossy(&ok(run(c), program).stdout).into_owned()
    };
    assert_eq!(t(env!("CARGO_BIN_EXE_rrestore"), &[]), t("restore", &[]));
    let c = rrestore_in(
        &work,
        &[
            "-C",
            "-M",
            "-f",
            ours.to_str().unwrap(),
            "-D",
            work.join("ours-M").to_str().unwrap(),
        ],
    );
    // Only the top directory differs (its symbol table was removed above):
    // every file across the volumes compares the same.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    );
    assert!(
        said.lines()
            .all(|l| !l.starts_with("./") && !l.contains("/d/")),
        "{said}"
    );
    assert!(said.contains(".: mtime"), "{said}");
}

#[test]
fn wrong_foreign_and_missing_volumes_are_refused() {
    let work = scratch("volumes-refused");
    let (dev, _src) = device(&work);
    let a = set(
        &rdump(),
        &work.join("a"),
        &dev.0,
        &[("SOURCE_DATE_EPOCH", "1000000000")],
    );
    let b = set(
        &rdump(),
        &work.join("b"),
        &dev.0,
        &[("SOURCE_DATE_EPOCH", "1000000100")],
    );
    let cases = [
        (
            "order",
            format!("{},{},{}", volume(&a, 1), volume(&a, 3), volume(&a, 2)),
            "Wrong volume (3)",
        ),
        (
            "foreign",
            format!("{},{},{}", volume(&a, 1), volume(&b, 2), volume(&a, 3)),
            "Wrong dump date",
        ),
        (
            "missing",
            format!("{},{}", volume(&a, 1), volume(&a, 2)),
            "continues on volume 3",
        ),
    ];
    for (name, list, reason) in cases {
        let dir = work.join(name);
        let o = rrestore_in(&dir, &["-r", "-f", &list]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
        // The file of the last volume was not written from a wrong volume.
        assert!(!dir.join("zz-last").exists(), "{name}");
    }
}

/// On a terminal, the volume not named is asked for in restore's words,
/// and the name typed is read on (the terminal is script(1)'s pty, fed
/// the answer).
#[test]
fn next_volume_is_asked_on_a_terminal() {
    require_tool("script");
    let work = scratch("volumes-prompt");
    let (dev, src) = device(&work);
    let base = set(&rdump(), &work.join("set"), &dev.0, &[]);
    let count = fs::read_dir(work.join("set")).unwrap().count();
    let named: Vec<String> = (1..count).map(|n| volume(&base, n)).collect();
    let out = work.join("out");
    fs::create_dir_all(&out).unwrap();
    let command = format!(
        "{} -x -f {} ./zz-last ./d/e/big",
        env!("CARGO_BIN_EXE_rrestore"),
        named.join(",")
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    use std::io::Write as _;
    let answer = format!("{}\nn\n", volume(&base, count));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    let wanted = format!(
        "Mount tape volume {count}\nEnter ``none'' if there are no more tapes\notherwise enter tape name (default: {})",
        volume(&base, count - 1)
    );
    assert!(said.replace('\r', "").contains(&wanted), "{said}");
    assert_eq!(
        fs::read(out.join("zz-last")).unwrap(),
        b"in the last volume\n"
    );
    assert_eq!(
        fs::read(out.join("d/e/big")).unwrap(),
        fs::read(src.join("d/e/big")).unwrap()
    );
}
