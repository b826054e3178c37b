//! Subtree dumps (dump's "files and directories" mode): `rdump -0 -f out
//! /mnt/point/some/dir [more paths]` against the reference dump 0.4b47 on
//! the same mounted image: the same header, maps, estimate and size, the
//! same names listed by the reference restore -t, rebuilt by restore -r and
//! rrestore -r; dump's refusals (level above 0, -u, another filesystem,
//! more paths after a whole filesystem).

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{rdump, require_root, rrestore_bin, run, tool, Mount};

/// An image with a tree to take parts of, hard links across the parts.
fn image(work: &Path) -> PathBuf {
    let src = work.join("tree");
    fs::create_dir_all(src.join("top/sub/deeper")).unwrap();
    fs::create_dir_all(src.join("other/inner")).unwrap();
    fs::create_dir_all(src.join("left-out/dir")).unwrap();
    fs::write(src.join("top/a"), b"alpha\n").unwrap();
    fs::write(src.join("top/sub/b"), vec![3u8; 50_000]).unwrap();
    fs::write(src.join("top/sub/deeper/c"), b"c\n").unwrap();
    fs::write(src.join("other/inner/x"), vec![9u8; 9_000]).unwrap();
    fs::write(src.join("left-out/dir/y"), b"y\n").unwrap();
    fs::write(src.join("at-root"), b"root file\n").unwrap();
    fs::hard_link(src.join("top/a"), src.join("left-out/link-to-a")).unwrap();
    fs::hard_link(src.join("top/a"), src.join("link-to-a")).unwrap();
    let image = work.join("subtree.img");
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4", "-L", "subtree"])
        .arg("-d")
        .arg(&src)
        .arg(&image)
        .arg("16M"));
    image
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The reference restore's listing, without its date lines.
fn listing(dump: &Path) -> String {
    let o = run(Command::new(tool("restore")).arg("-tf").arg(dump));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.contains("date:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The lines of dump's messages that must agree, dates left out.
fn summary(messages: &str) -> Vec<String> {
    messages
        .lines()
        .filter(|l| l.contains("Dumping ") || l.contains("estimated") || l.contains("blocks ("))
        .map(|l| l.split(" to /").next().unwrap_or(l).to_string())
        .collect()
}

/// The TS_CLRI and TS_BITS maps: the two headers after the volume header
/// and the map blocks after each (c_count at byte 160).
fn maps(dump: &Path) -> Vec<u8> {
    let bytes = fs::read(dump).unwrap();
    let mut off = 1024;
    let mut out = Vec::new();
    for _ in 0..2 {
        let count = i32::from_le_bytes(bytes[off + 160..off + 164].try_into().unwrap()) as usize;
        out.extend_from_slice(&bytes[off..off + 4]);
        out.extend_from_slice(&bytes[off + 1024..off + 1024 + count * 1024]);
        off += 1024 + count * 1024;
    }
    out
}

fn paths_under(root: &Path) -> Vec<String> {
    let mut all = Vec::new();
    common::walk(root, &mut all);
    let mut names: Vec<String> = all
        .iter()
        .map(|p| p.display().to_string())
        .filter(|p| p != "restoresymtable")
        .collect();
    names.sort();
    names
}

#[test]
fn subtree_dumps_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let img = image(w);
    let mnt = Mount::new(&img, &w.join("mnt"), true);
    let m = &mnt.dir;
    let sub = m.join("top/sub");
    let inner = m.join("other/inner/");
    let file = m.join("top/a");
    let args = |out: &Path| -> Vec<PathBuf> {
        // The label is given: the reference dump takes it from blkid's
        // cache, which says "none" while other tests change loop devices.
        vec![
            "-0".into(),
            "-L".into(),
            "subtree".into(),
            "-f".into(),
            out.to_path_buf(),
            sub.clone(),
            inner.clone(),
            file.clone(),
        ]
    };
    let theirs = w.join("theirs.dump");
    let ours = w.join("ours.dump");
    let t = run(Command::new(tool("dump")).args(args(&theirs)));
    let owned = args(&ours);
    let o = rdump(
        &owned.iter().map(|p| p.as_os_str()).collect::<Vec<_>>(),
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mount_dir = fs::canonicalize(m).unwrap();
    let header = format!("{} (dir /top/sub)", mount_dir.display());
    assert!(stderr(&o).contains(&header), "{}", stderr(&o));
    assert_eq!(summary(&stderr(&o)), summary(&stderr(&t)));
    assert_eq!(maps(&ours), maps(&theirs), "TS_CLRI/TS_BITS maps differ");
    let list = listing(&ours);
    assert_eq!(list, listing(&theirs));
    for name in [
        "./top/sub/deeper/c",
        "./other/inner/x",
        "./top/a",
        "./link-to-a",
    ] {
        assert!(
            list.contains(&format!("\t{name}\n")),
            "{name} not listed:\n{list}"
        );
    }
    assert!(
        !list.contains("at-root") && !list.contains("left-out"),
        "{list}"
    );
    // -S gives dump's estimate.
    let est = |program: &Path| {
        let o = run(Command::new(program).args(["-0", "-S"]).arg(&sub));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(est(&common::rdump_bin()), est(&tool("dump")));

    // Both restores rebuild the same subtree from rdump's dump, and rrestore
    // rebuilds it from dump's: the paths and their contents.
    let rebuilt = |program: PathBuf, dump: &Path, name: &str| {
        let dir = w.join(name);
        fs::create_dir_all(&dir).unwrap();
        run(Command::new(program).arg("-rf").arg(dump).current_dir(&dir));
        dir
    };
    let by_restore = rebuilt(tool("restore"), &ours, "by-restore");
    let by_rrestore = rebuilt(rrestore_bin(), &ours, "by-rrestore");
    let from_theirs = rebuilt(rrestore_bin(), &theirs, "from-theirs");
    let expected = paths_under(&by_restore);
    assert!(
        expected.contains(&"top/sub/deeper/c".to_string()),
        "{expected:?}"
    );
    assert_eq!(paths_under(&by_rrestore), expected);
    assert_eq!(paths_under(&from_theirs), expected);
    for rel in ["top/sub/b", "other/inner/x", "top/a", "link-to-a"] {
        let want = fs::read(m.join(rel)).unwrap();
        assert_eq!(fs::read(by_rrestore.join(rel)).unwrap(), want, "{rel}");
        assert_eq!(fs::read(by_restore.join(rel)).unwrap(), want, "{rel}");
    }
    // rrestore -x of one path of it.
    let x = w.join("x");
    fs::create_dir_all(&x).unwrap();
    run(Command::new(rrestore_bin())
        .args(["-xf"])
        .arg(&ours)
        .arg("./other/inner")
        .current_dir(&x));
    assert_eq!(fs::read(x.join("other/inner/x")).unwrap(), vec![9u8; 9_000]);
    assert!(!x.join("top").exists());
}

#[test]
fn subtree_refusals_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let img = image(w);
    let mnt = Mount::new(&img, &w.join("mnt"), true);
    let sub = mnt.dir.join("top/sub");
    let out = w.join("out.dump");
    let dd = w.join("dumpdates");
    let cases: Vec<(Vec<&OsStr>, &str)> = vec![
        (
            vec![
                "-1".as_ref(),
                "-f".as_ref(),
                out.as_os_str(),
                sub.as_os_str(),
            ],
            "Only level 0 dumps are allowed on a subdirectory",
        ),
        (
            vec![
                "-0u".as_ref(),
                "-D".as_ref(),
                dd.as_os_str(),
                "-f".as_ref(),
                out.as_os_str(),
                sub.as_os_str(),
            ],
            "You can't update the dumpdates file when dumping a subdirectory",
        ),
        (
            vec![
                "-0".as_ref(),
                "-f".as_ref(),
                out.as_os_str(),
                sub.as_os_str(),
                w.as_os_str(),
            ],
            "Files are not on same file system",
        ),
        (
            vec![
                "-0".as_ref(),
                "-f".as_ref(),
                out.as_os_str(),
                mnt.dir.as_os_str(),
                sub.as_os_str(),
            ],
            "Unknown arguments to dump:",
        ),
    ];
    for (args, needle) in cases {
        let theirs = Command::new(tool("dump")).args(&args).output().unwrap();
        let ours = rdump(&args, &[]);
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_ne!(ours.status.code(), Some(0), "{args:?}");
        assert!(
            stderr(&ours).contains(needle),
            "{args:?}: {}",
            stderr(&ours)
        );
        assert!(
            stderr(&theirs).contains(needle),
            "{args:?}: {}",
            stderr(&theirs)
        );
    }
    assert!(!dd.exists(), "the refused -u dump made a dumpdates file");
    // A path below a mount of another filesystem type is refused by name.
    let o = rdump(
        &[
            "-0".as_ref(),
            "-f".as_ref(),
            out.as_os_str(),
            "/proc/self".as_ref(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not as ext2/ext3/ext4"),
        "{}",
        stderr(&o)
    );
}
