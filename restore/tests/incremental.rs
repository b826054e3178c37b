//! `rrestore -r` leaves a `restoresymtable` that restore 0.4b47 accepts: after a
//! full rebuild with rrestore from a level-0 dump, the reference `restore -r`
//! applies the next level-1 dump on top, deleting, changing and adding files.
//!
//! Needs root (loop devices and mounts), mke2fs, losetup, date and the reference
//! dump/restore; a missing tool fails the test with its name.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A loop mount, unmounted when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount(image: &Path, dir: &Path) -> Mounted {
    fs::create_dir_all(dir).unwrap();
    run({
        let mut c = Command::new("mount");
        c.args(["-o", "loop"]).arg(image).arg(dir);
        c
    });
    Mounted(dir.to_path_buf())
}

/// Dumps `image` with the reference dump through a read-only loop device
/// (dump takes other paths for directories of mounted filesystems).
fn reference_dump(image: &Path, out: &Path, args: &[&str]) {
    let dev = run({
        let mut c = Command::new("losetup");
        c.args(["-f", "--show", "-r"]).arg(image);
        c
    });
    let dev = String::from_utf8_lossy(&dev.stdout).trim().to_string();
    let res = Command::new("/usr/sbin/dump")
        .args(args)
        .arg("-f")
        .arg(out)
        .arg(&dev)
        .env("TZ", "UTC")
        .output()
        .expect("run dump");
    let _ = Command::new("losetup").arg("-d").arg(&dev).status();
    assert!(
        res.status.success(),
        "dump {args:?} failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// The dump date of a dump, as `dump -T` takes it (ctime format, UTC; the C
/// locale, since dump parses English names whatever LANG says).
fn dump_date(dump: &Path) -> String {
    let r = dump_format::TapeReader::new(fs::File::open(dump).unwrap()).unwrap();
    let secs = r.volume().date;
    let out = run({
        let mut c = Command::new("date");
        c.env("TZ", "UTC")
            .env("LC_ALL", "C")
            .arg("-d")
            .arg(format!("@{secs}"))
            .arg("+%a %b %e %H:%M:%S %Y");
        c
    });
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn reference_restore_applies_an_incremental_after_rrestore() {
    incremental_after_rrestore(Path::new("/usr/sbin/restore"));
}

/// The same with rrestore applying the reference dump's level 1 itself.
#[test]
fn rrestore_applies_the_reference_incremental() {
    incremental_after_rrestore(&PathBuf::from(env!("CARGO_BIN_EXE_rrestore")));
}

/// Level 0 of the reference dump rebuilt by rrestore, then its level 1
/// applied by `level1_by` in the same place.
fn incremental_after_rrestore(level1_by: &Path) {
    assert_eq!(
        fs::metadata("/proc/self").map(|m| m.uid()).unwrap(),
        0,
        "this test loop-mounts images: run the tests as root"
    );
    for t in [
        "mke2fs",
        "mount",
        "losetup",
        "date",
        "/usr/sbin/dump",
        "/usr/sbin/restore",
    ] {
        require_tool(t);
    }
    let tag = format!(
        "incremental-{}",
        level1_by.file_name().unwrap_or_default().to_string_lossy()
    );
    let work = scratch(&tag);
    let src_img = work.join("src.img");
    let dst_img = work.join("dst.img");
    for img in [&src_img, &dst_img] {
        run({
            let mut c = Command::new("mke2fs");
            c.args(["-q", "-F", "-t", "ext4"]).arg(img).arg("32M");
            c
        });
    }

    // Level 0 of the first state, rebuilt by rrestore.
    {
        let m = mount(&src_img, &work.join("src"));
        fs::write(m.0.join("changes"), b"first version\n").unwrap();
        fs::write(m.0.join("goes-away"), b"deleted before level 1\n").unwrap();
        fs::create_dir(m.0.join("dir")).unwrap();
        fs::write(m.0.join("dir/stays"), b"unchanged\n").unwrap();
        fs::hard_link(m.0.join("changes"), m.0.join("dir/link-to-changes")).unwrap();
    }
    let level0 = work.join("level0.dump");
    reference_dump(&src_img, &level0, &["-0"]);
    let dst = mount(&dst_img, &work.join("dst"));
    run({
        let mut c = rrestore();
        c.arg("-rf").arg(&level0).current_dir(&dst.0);
        c
    });
    assert!(dst.0.join("restoresymtable").is_file());

    // Change the source a second later than the level-0 date, dump level 1.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    {
        let m = mount(&src_img, &work.join("src"));
        fs::write(m.0.join("changes"), b"second version\n").unwrap();
        fs::remove_file(m.0.join("goes-away")).unwrap();
        fs::write(m.0.join("dir/new"), b"added at level 1\n").unwrap();
        fs::create_dir(m.0.join("newdir")).unwrap();
        fs::write(m.0.join("newdir/file"), b"in a new directory\n").unwrap();
    }
    let level1 = work.join("level1.dump");
    let since = dump_date(&level0);
    reference_dump(&src_img, &level1, &["-1", "-T", &since]);

    // restore (or rrestore) reads rrestore's symbol table and applies level 1.
    let out = Command::new(level1_by)
        .arg("-rf")
        .arg(&level1)
        .current_dir(&dst.0)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run restore");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "restore -r of level 1 failed: {stderr}"
    );
    assert!(
        !stderr.contains("incomplete operations") && !stderr.contains("bad name"),
        "{stderr}"
    );

    let d = &dst.0;
    assert_eq!(fs::read(d.join("changes")).unwrap(), b"second version\n");
    assert!(
        !d.join("goes-away").exists(),
        "a file deleted before level 1 is still there"
    );
    assert_eq!(fs::read(d.join("dir/stays")).unwrap(), b"unchanged\n");
    assert_eq!(fs::read(d.join("dir/new")).unwrap(), b"added at level 1\n");
    assert_eq!(
        fs::read(d.join("newdir/file")).unwrap(),
        b"in a new directory\n"
    );
    assert_eq!(
        fs::metadata(d.join("changes")).unwrap().ino(),
        fs::metadata(d.join("dir/link-to-changes")).unwrap().ino(),
        "the hard link survives the incremental"
    );
}
