//! A 255-byte name in the middle of a directory, dumped by the reference dump
//! 0.4b47: dump gives its record a length of 8 (an 8-bit overflow) and writes
//! the next records over the name. The reference restore reads past it and
//! rebuilds every other entry; rrestore must recover at least those, keep the
//! file (as `#INODE`) and say whose name it could not read.
//!
//! Images are built with debugfs (entries in a known order, no mount), dumped
//! by /usr/sbin/dump through a read-only loop device, and read by both
//! restores with -t, -x, -r and -i. Needs root, e2fsprogs, util-linux and the
//! reference dump/restore; a missing tool fails the test.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const LONG_CONTENT: &[u8] = b"the file with the 255-byte name\n";
const SHORT: [&str; 9] = ["a0", "a1", "a2", "a3", "a4", "b5", "b6", "b7", "b8"];

fn long_name() -> String {
    (0..255).map(|i| (b'A' + (i % 26) as u8) as char).collect()
}

/// A read-only loop device, detached when dropped.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// An image holding `/d` with a0..a4, the long name, b5..b8 in that order.
fn make_image(dir: &Path, fs_type: &str, block: u32) -> PathBuf {
    for t in [
        "mke2fs",
        "debugfs",
        "losetup",
        "/usr/sbin/dump",
        "/usr/sbin/restore",
    ] {
        require_tool(t);
    }
    let img = dir.join(format!("{fs_type}-{block}.img"));
    let out = run({
        let mut c = Command::new("mke2fs");
        c.args(["-q", "-F", "-t", fs_type, "-b", &block.to_string()])
            .arg(&img)
            .arg("8M");
        c
    });
    assert!(out.status.success(), "mke2fs: {out:?}");
    let mut script = String::from("mkdir d\ncd d\n");
    for (i, name) in SHORT.iter().enumerate() {
        let src = dir.join(name);
        fs::write(&src, format!("content of {name}\n")).unwrap();
        script.push_str(&format!("write {} {name}\n", src.display()));
        if i == 4 {
            let src = dir.join("long-content");
            fs::write(&src, LONG_CONTENT).unwrap();
            script.push_str(&format!("write {} {}\n", src.display(), long_name()));
        }
    }
    let cmds = dir.join("debugfs.cmds");
    fs::write(&cmds, script).unwrap();
    let out = run({
        let mut c = Command::new("debugfs");
        c.arg("-w").arg("-f").arg(&cmds).arg(&img);
        c
    });
    assert!(out.status.success(), "debugfs: {out:?}");
    img
}

fn reference_dump(img: &Path, dump: &Path) {
    let out = run({
        let mut c = Command::new("losetup");
        c.args(["-f", "--show", "-r"]).arg(img);
        c
    });
    assert!(out.status.success(), "losetup: {out:?}");
    let dev = Loop(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let out = run({
        let mut c = Command::new("/usr/sbin/dump");
        c.args(["-0", "-f"]).arg(dump).arg(&dev.0);
        c
    });
    assert!(out.status.success(), "dump: {out:?}");
}

/// `restore -t` lines as inode -> path.
fn listing(out: &[u8]) -> BTreeMap<u32, Vec<u8>> {
    let mut m = BTreeMap::new();
    for line in out.split(|&b| b == b'\n') {
        let Some(tab) = line.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let ino = String::from_utf8_lossy(&line[..tab])
            .trim()
            .parse()
            .unwrap();
        m.insert(ino, line[tab + 1..].to_vec());
    }
    m
}

/// Every regular file under `dir`, relative name -> contents.
fn files(dir: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let mut m = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            m.insert(
                e.file_name().as_bytes().to_vec(),
                fs::read(e.path()).unwrap(),
            );
        }
    }
    m
}

/// Checks rrestore's copy of /d against the reference's: every file the
/// reference restored under a readable name has the same name and contents,
/// and the long-named file is there as `#INODE`.
fn check_tree(ours: &Path, reference: &Path, long_ino: u32) {
    let (ours, theirs) = (files(ours), files(reference));
    for name in SHORT {
        let n = name.as_bytes().to_vec();
        assert_eq!(ours.get(&n), theirs.get(&n), "{name}");
        assert!(ours.contains_key(&n), "{name} missing");
    }
    let sub = format!("#{long_ino}").into_bytes();
    assert_eq!(ours.get(&sub).map(Vec::as_slice), Some(LONG_CONTENT));
    assert_eq!(ours.len(), SHORT.len() + 1, "{:?}", ours.keys());
}

fn restore_in(dir: &Path, program: Command, args: &[&str], stdin: &str) -> Vec<u8> {
    let mut cmd = program;
    // restore names its temporary files after the dump date, which the two
    // cases' dumps may share: each gets its own TMPDIR.
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run restore");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{cmd:?}: {stderr}");
    out.stderr
}

fn case(fs_type: &str, block: u32) {
    let dir = scratch(&format!("longname-{fs_type}-{block}"));
    let img = make_image(&dir, fs_type, block);
    let dump = dir.join("ref.dump");
    reference_dump(&img, &dump);
    let dump_s = dump.to_str().unwrap();

    // -t: every entry the reference lists, under the same path, except the
    // mangled one, which rrestore lists as ./d/#INODE and reports.
    let theirs = run({
        let mut c = Command::new("/usr/sbin/restore");
        c.args(["-tf", dump_s]).env("TMPDIR", &dir);
        c
    });
    let ours = run({
        let mut c = rrestore();
        c.args(["-tf", dump_s]);
        c
    });
    assert!(ours.status.success(), "{ours:?}");
    let (theirs_l, ours_l) = (listing(&theirs.stdout), listing(&ours.stdout));
    let readable = |p: &Vec<u8>| SHORT.iter().any(|n| p == format!("./d/{n}").as_bytes());
    let long_ino = *theirs_l
        .iter()
        .find(|(_, p)| p.starts_with(b"./d/") && !readable(p))
        .expect("the reference lists the long name's inode under ./d")
        .0;
    assert_eq!(theirs_l.len(), ours_l.len(), "{ours_l:?}");
    for (ino, path) in &theirs_l {
        if *ino == long_ino {
            assert_eq!(ours_l[ino], format!("./d/#{ino}").into_bytes());
        } else {
            assert_eq!(ours_l.get(ino), Some(path), "inode {ino}");
        }
    }
    let stderr = String::from_utf8_lossy(&ours.stderr);
    assert!(
        stderr.contains(&format!(
            "the name of inode {long_ino} (directory record at offset"
        )) && stderr.contains("record length 8, 255-byte name")
            && stderr.contains(&format!("restored as \"#{long_ino}\"")),
        "{stderr}"
    );
    // The end of the name survives the records written over its start.
    assert!(stderr.contains(&long_name()[200..]), "{stderr}");

    // -r with both, then -x and -i with rrestore, compared with the reference's -r.
    let reference = dir.join("reference");
    fs::create_dir(&reference).unwrap();
    let mut c = Command::new("/usr/sbin/restore");
    c.args(["-r", "-f", dump_s]);
    restore_in(&reference, c, &[], "");
    for (mode, args, stdin) in [
        ("r", vec!["-r", "-f", dump_s], ""),
        ("x", vec!["-x", "-f", dump_s, "./d"], ""),
        ("i", vec!["-i", "-f", dump_s], "add d\nextract\nquit\n"),
    ] {
        let target = dir.join(mode);
        fs::create_dir(&target).unwrap();
        let err = restore_in(&target, rrestore(), &args, stdin);
        let err = String::from_utf8_lossy(&err);
        assert!(err.contains(&format!("inode {long_ino}")), "-{mode}: {err}");
        check_tree(&target.join("d"), &reference.join("d"), long_ino);
    }
    remove_tree(&dir);
}

#[test]
fn long_name_in_a_1k_ext2_directory() {
    case("ext2", 1024);
}

#[test]
fn long_name_in_a_4k_ext4_directory() {
    case("ext4", 4096);
}
