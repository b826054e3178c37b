//! `-m` (metadata only) in incremental dumps, both ways with dump 0.4b47:
//! rdump marks the inodes dump marks, and rdump's and dump's level 1 -m
//! dumps, applied with `rrestore -r` and `restore -r` over a level 0, give
//! the changed source back (the data of metadata-only inodes comes from the
//! level 0).

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{
    build_image, differences_after_rebuild, raw_records, require_root, restore_ok, run, tool,
    ImageSpec, LoopDevice, Mount,
};
use dump_format::header::flags::DR_METAONLY;
use dump_format::RecordType;

/// Inode numbers written as metadata only (their TS_INODE header, not
/// their EXT_XATTR records, which never carry the flag).
fn metadata_only_inodes(dump: &Path) -> Vec<u32> {
    let bytes = std::fs::read(dump).unwrap();
    let mut inos: Vec<u32> = raw_records(&bytes)
        .iter()
        .filter(|r| r.header.c_type == RecordType::Inode as i32)
        .filter(|r| r.header.flags & DR_METAONLY != 0)
        .map(|r| {
            assert_eq!(r.header.count, 0, "a metadata-only inode has no blocks");
            r.header.inumber
        })
        .collect();
    inos.sort_unstable();
    inos.dedup();
    inos
}

/// "x: mtime differs: source 1501475263.493827, restored 1501475263.000000"
/// with the same whole second.
fn same_second(diff: &str) -> bool {
    let second = |tag: &str| {
        diff.split(tag)
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .map(str::to_string)
    };
    diff.contains("time differs")
        && second("source ").is_some()
        && second("source ") == second("restored ")
}

fn rrestore_r(dir: &Path, dump: &Path) {
    run(Command::new(common::rrestore_bin())
        .arg("-rf")
        .arg(dump)
        .current_dir(dir));
}

#[test]
fn metadata_only_dumps_both_ways() {
    require_root();
    let work = tempfile::tempdir().expect("temp dir");
    let w = work.path();
    let image = build_image(ImageSpec::new("ext4", 4096), w);
    // dump compares whole seconds: the files' mtimes must be before the
    // level 0 date for their inodes to count as metadata only.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let dumpdates = w.join("dumpdates");
    let level0 = w.join("l0.dump");
    common::dump_level(&image, 0, &dumpdates, &level0);
    let line = std::fs::read_to_string(&dumpdates).unwrap();
    let since = common::dumpdates_date(line.lines().last().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let mut expect_meta = Vec::new();
    {
        let m = Mount::new(&image, &w.join("change"), false);
        let p = |rel: &str| m.dir.join(rel);
        let ino = |rel: &str| std::fs::symlink_metadata(p(rel)).unwrap().ino() as u32;
        std::fs::set_permissions(p("small"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::lchown(p("empty"), Some(12), Some(34)).unwrap();
        std::fs::rename(p("k1023"), p("k1023-renamed")).unwrap();
        std::fs::hard_link(p("small"), p("many/small-link")).unwrap();
        xattr::set(p("one"), "user.added", b"after level 0").unwrap();
        for f in ["small", "empty", "k1023-renamed", "one"] {
            expect_meta.push(ino(f));
        }
        std::fs::write(p("new-file"), b"new data\n").unwrap();
    }
    expect_meta.sort_unstable();

    let ours = w.join("r1.dump");
    let o = run(Command::new(common::rdump_bin())
        .args(["-1", "-m", "-T", &since, "-f"])
        .arg(&ours)
        .arg(&image));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DUMP IS DONE"));
    let theirs = w.join("d1.dump");
    {
        let dev = LoopDevice::new(&image);
        run(Command::new(tool("dump"))
            .env("BLKID_FILE", "/dev/null")
            .args(["-1", "-m", "-T", &since, "-f"])
            .arg(&theirs)
            .arg(&dev.0));
    }
    let marked = metadata_only_inodes(&ours);
    assert_eq!(
        marked,
        metadata_only_inodes(&theirs),
        "dump marks other inodes"
    );
    for ino in &expect_meta {
        assert!(
            marked.contains(ino),
            "inode {ino} not metadata only: {marked:?}"
        );
    }

    let source = Mount::new(&image, &w.join("src"), true);
    let chains: [(&str, &Path, bool); 3] = [
        ("rrestore-rdump", &ours, true),
        ("rrestore-dump", &theirs, true),
        ("restore-rdump", &ours, false),
    ];
    for (name, level1, ours_restores) in chains {
        let target = w.join(name);
        std::fs::create_dir(&target).unwrap();
        if ours_restores {
            rrestore_r(&target, &level0);
            rrestore_r(&target, level1);
        } else {
            restore_ok(&target, &[OsStr::new("-rf"), level0.as_os_str()], "");
            restore_ok(&target, &[OsStr::new("-rf"), level1.as_os_str()], "");
        }
        let mut diffs = differences_after_rebuild(&source.dir, &target);
        if name == "rrestore-dump" {
            // dump 0.4b47 reads whole seconds from ext4 (its loss, known):
            // the times its level 1 carries have no fraction.
            diffs.retain(|d| !same_second(d));
        }
        assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
        assert!(!target.join(".rrestore-incremental").exists(), "{name}");
    }

    // Alone, a metadata-only file cannot be restored: said, not faked.
    let alone = w.join("alone");
    std::fs::create_dir(&alone).unwrap();
    let o = Command::new(common::rrestore_bin())
        .args(["-xf"])
        .arg(&ours)
        .arg("./small")
        .current_dir(&alone)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("metadata only on this dump"), "{err}");
    assert!(!alone.join("small").exists());
}
